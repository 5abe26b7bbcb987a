//! Tessera's web front end: a client-side rendered Leptos app.
//!
//! It talks to the PYBOSSA-compatible API on the same origin (`/api/...`); the server serves
//! `index.html` for every non-API path so that deep links such as `/project/{short_name}` work.

mod api;
mod components;
mod pages;
mod session;

use leptos::prelude::*;
use leptos_router::components::{Route, Router, Routes};
use leptos_router::path;
use wasm_bindgen::prelude::wasm_bindgen;

use components::{AnnouncementBanner, SiteFooter, SiteHeader};
use pages::{
    About, AccountPage, Admin, BlogPage, ConfirmEmail, ContentPage, Contribute, ForgotPassword,
    Home, ImportTasks, Manage, NotFound, PostPage, ProjectEditorPage, ProjectPage, ResetPassword,
    Section, SignIn, SignUp, TaskPage, TutorialPage,
};

/// Entry point, run by the generated JS module's `init()`.
#[wasm_bindgen(start)]
pub fn main() {
    console_error_panic_hook::set_once();
    // index.html carries a static placeholder for browsers still loading (or without) wasm;
    // drop it before the app mounts beside it.
    if let Some(boot) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.get_element_by_id("boot"))
    {
        boot.remove();
    }
    leptos::mount::mount_to_body(App);
}

#[component]
fn App() -> impl IntoView {
    session::provide_session();
    view! {
        <Router>
            <a class="skip-link" href="#main">"Skip to content"</a>
            <SiteHeader/>
            <AnnouncementBanner/>
            <main id="main" class="main" tabindex="-1">
                <Routes fallback=|| view! { <NotFound/> }>
                    <Route path=path!("/") view=Home/>
                    <Route path=path!("/about") view=About/>
                    <Route path=path!("/admin") view=Admin/>
                    <Route path=path!("/project/new") view=ProjectEditorPage/>
                    <Route path=path!("/project/category/:category") view=Home/>
                    <Route path=path!("/project/:short_name") view=ProjectPage/>
                    <Route path=path!("/project/:short_name/newtask") view=Contribute/>
                    <Route path=path!("/project/:short_name/update") view=ProjectEditorPage/>
                    <Route path=path!("/project/:short_name/task/:id") view=TaskPage/>
                    <Route path=path!("/project/:short_name/tasks/import") view=ImportTasks/>
                    <Route path=path!("/project/:short_name/tasks/browse") view=|| view! { <Manage section=Section::Tasks/> }/>
                    <Route path=path!("/project/:short_name/results") view=|| view! { <Manage section=Section::Results/> }/>
                    <Route path=path!("/project/:short_name/stats") view=|| view! { <Manage section=Section::Stats/> }/>
                    <Route path=path!("/project/:short_name/tasks/export") view=|| view! { <Manage section=Section::Export/> }/>
                    <Route path=path!("/project/:short_name/webhook") view=|| view! { <Manage section=Section::Webhook/> }/>
                    <Route path=path!("/project/:short_name/settings") view=|| view! { <Manage section=Section::Settings/> }/>
                    <Route path=path!("/project/:short_name/quality") view=|| view! { <Manage section=Section::Quality/> }/>
                    <Route path=path!("/project/:short_name/review") view=|| view! { <Manage section=Section::Review/> }/>
                    <Route path=path!("/project/:short_name/content") view=|| view! { <Manage section=Section::Content/> }/>
                    <Route path=path!("/project/:short_name/new-blogpost") view=|| view! { <Manage section=Section::Content/> }/>
                    <Route path=path!("/project/:short_name/blog") view=BlogPage/>
                    <Route path=path!("/project/:short_name/tutorial") view=TutorialPage/>
                    <Route path=path!("/project/:short_name/page/:slug") view=ContentPage/>
                    <Route path=path!("/project/:short_name/:id") view=PostPage/>
                    <Route path=path!("/account/signin") view=SignIn/>
                    <Route path=path!("/account/forgot") view=ForgotPassword/>
                    <Route path=path!("/account/reset") view=ResetPassword/>
                    <Route path=path!("/account/confirm") view=ConfirmEmail/>
                    <Route path=path!("/account/register") view=SignUp/>
                    <Route path=path!("/account/:name") view=AccountPage/>
                </Routes>
            </main>
            <SiteFooter/>
        </Router>
    }
}

/// Sets the browser tab's title; `None` gives the bare product name.
pub(crate) fn set_title(page: Option<&str>) {
    if let Some(doc) = web_sys::window().and_then(|w| w.document()) {
        match page {
            Some(page) => doc.set_title(&format!("{page} · Tessera")),
            None => doc.set_title("Tessera"),
        }
    }
}
