use leptos::prelude::*;
use leptos_router::hooks::use_location;

/// Any path that no route matches.
#[component]
pub fn NotFound() -> impl IntoView {
    crate::set_title(Some("Page not found"));
    let path = use_location().pathname;
    view! {
        <div class="container section">
            <div class="state state-empty not-found">
                <p class="not-found-code" aria-hidden="true">"404"</p>
                <h1 class="state-title">"Page not found"</h1>
                <p class="state-text">
                    "Nothing lives at " <code>{move || path.get()}</code> ". "
                    "Check the address, or start again from the project list."
                </p>
                <a class="button" href="/">"Browse projects"</a>
            </div>
        </div>
    }
}
