//! A project's blog at PYBOSSA's URLs (`/project/{short_name}/blog`, a post at
//! `/project/{short_name}/{id}`), its pages (`/project/{short_name}/page/{slug}`) and its
//! tutorial (`/project/{short_name}/tutorial`).

use leptos::html::Iframe;
use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

use crate::api::{self, Post, Project};
use crate::components::content::{Rendered, mark_tutorial_seen};
use crate::components::presenter::{
    FrameEnv, FrameMessage, PresenterFrame, frame_document, preview_handler,
};
use crate::components::{format_date, loaded, route_project};
use crate::pages::NotFound;

fn byline(post: &Post) -> String {
    let mut line = format_date(&post.created);
    if let Some(author) = post.author.as_deref() {
        line = format!("{line} · {author}");
    }
    if !post.published {
        line.push_str(" · draft");
    }
    line
}

fn breadcrumb(p: &Project) -> impl IntoView + use<> {
    view! {
        <nav class="breadcrumb" aria-label="Breadcrumb">
            <a href=p.href()>"← " {p.name.clone()}</a>
        </nav>
    }
}

/// A 404 is an answer here ("no such post"), not an error to retry.
async fn found<T>(
    request: impl std::future::Future<Output = Result<T, api::ApiError>>,
) -> Result<Option<T>, api::ApiError> {
    match request.await {
        Ok(value) => Ok(Some(value)),
        Err(api::ApiError::Status { status: 404, .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

fn missing(what: &'static str, back: String) -> AnyView {
    view! {
        <h1>{format!("This {what} does not exist")}</h1>
        <p class="muted">"It may have been removed, or the link is mistyped."</p>
        <a class="button" href=back>"Back to the project"</a>
    }
    .into_any()
}

/// The link feed readers find (`rel="alternate"`), for as long as the page shows.
fn feed_link(p: &Project) {
    let Some(document) = web_sys::window().and_then(|w| w.document()) else {
        return;
    };
    if let Some(old) = document.get_element_by_id("feed-link") {
        old.remove();
    }
    let Ok(link) = document.create_element("link") else {
        return;
    };
    link.set_id("feed-link");
    let _ = link.set_attribute("rel", "alternate");
    let _ = link.set_attribute("type", "application/atom+xml");
    let _ = link.set_attribute("title", &format!("{}: blog", p.name));
    let _ = link.set_attribute("href", &format!("/api/project/{}/blog.atom", p.id));
    if let Some(head) = document.head() {
        let _ = head.append_child(&link);
    }
    on_cleanup(|| {
        if let Some(link) = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.get_element_by_id("feed-link"))
        {
            link.remove();
        }
    });
}

#[component]
pub fn BlogPage() -> impl IntoView {
    view! {
        <div class="container section">
            {route_project(|p| view! { <Blog project=p/> }.into_any())}
        </div>
    }
}

#[component]
fn Blog(project: Project) -> impl IntoView {
    crate::set_title(Some(&format!("Blog · {}", project.name)));
    feed_link(&project);
    let pid = project.id;
    let offset = RwSignal::new(0u64);
    let page = LocalResource::new(move || api::blog(pid, offset.get()));
    let href = project.href();
    view! {
        {breadcrumb(&project)}
        <h1>"Blog"</h1>
        <p><a href=format!("/api/project/{pid}/blog.atom")>"Atom feed"</a></p>
        {loaded(page, "the blog", move |page| {
            let href = href.clone();
            if page.items.is_empty() {
                return view! { <p class="muted">"No posts yet."</p> }.into_any();
            }
            view! {
                <ol class="post-list">
                    {page.items.into_iter().map(|post| {
                        let link = format!("{href}/{}", post.id);
                        view! {
                            <li>
                                <article>
                                    <h2><a href=link>{post.title.clone()}</a></h2>
                                    <p class="post-meta">{byline(&post)}</p>
                                    <Rendered html=post.html.clone().unwrap_or_default()/>
                                </article>
                            </li>
                        }
                    }).collect_view()}
                </ol>
                <nav class="pager" aria-label="Blog pages">
                    {(offset.get_untracked() > 0).then(|| view! {
                        <button type="button" class="button button-quiet"
                            on:click=move |_| offset.update(|o| *o = o.saturating_sub(10))>"Newer posts"</button>
                    })}
                    {page.has_more.then(|| view! {
                        <button type="button" class="button button-quiet"
                            on:click=move |_| offset.update(|o| *o += 10)>"Older posts"</button>
                    })}
                </nav>
            }
            .into_any()
        })}
    }
}

/// `/project/{short_name}/{id}`: one post (any other second segment is not a page here).
#[component]
pub fn PostPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.with(|p| p.get("id").and_then(|id| id.parse::<i64>().ok()));
    view! {
        {move || match id() {
            None => view! { <NotFound/> }.into_any(),
            Some(post_id) => view! {
                <div class="container section">
                    {route_project(move |p| view! { <OnePost project=p post_id=post_id/> }.into_any())}
                </div>
            }
            .into_any(),
        }}
    }
}

#[component]
fn OnePost(project: Project, post_id: i64) -> impl IntoView {
    feed_link(&project);
    let pid = project.id;
    let post = LocalResource::new(move || found(api::blog_post(pid, post_id)));
    let blog = format!("{}/blog", project.href());
    let back = project.href();
    view! {
        {breadcrumb(&project)}
        {loaded(post, "this post", move |post| {
            let Some(post) = post else {
                return missing("post", back.clone());
            };
            crate::set_title(Some(&post.title));
            view! {
                <article class="post">
                    <h1>{post.title.clone()}</h1>
                    <p class="post-meta">{byline(&post)}</p>
                    <Rendered html=post.html.clone().unwrap_or_default()/>
                    <p><a href=blog.clone()>"All posts"</a></p>
                </article>
            }
            .into_any()
        })}
    }
}

/// `/project/{short_name}/page/{slug}`.
#[component]
pub fn ContentPage() -> impl IntoView {
    view! {
        <div class="container section">
            {route_project(|p| view! { <OnePage project=p/> }.into_any())}
        </div>
    }
}

#[component]
fn OnePage(project: Project) -> impl IntoView {
    let params = use_params_map();
    let pid = project.id;
    let slug = move || params.with(|p| p.get("slug").unwrap_or_default());
    let page = LocalResource::new(move || found(api::content_page(pid, slug())));
    let back = project.href();
    view! {
        {breadcrumb(&project)}
        {loaded(page, "this page", move |page| {
            let Some(page) = page else {
                return missing("page", back.clone());
            };
            crate::set_title(Some(&page.title));
            view! {
                <article>
                    <h1>{page.title.clone()}</h1>
                    <Rendered html=page.html.clone().unwrap_or_default()/>
                </article>
            }
            .into_any()
        })}
    }
}

/// `/project/{short_name}/tutorial`: the tutorial again, whenever a volunteer wants it.
#[component]
pub fn TutorialPage() -> impl IntoView {
    view! {
        <div class="container section">
            {route_project(|p| view! { <Tutorial project=p/> }.into_any())}
        </div>
    }
}

#[component]
fn Tutorial(project: Project) -> impl IntoView {
    crate::set_title(Some(&format!("Tutorial · {}", project.name)));
    let tutorial = project
        .info
        .get("tutorial")
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let contribute = format!("{}/newtask", project.href());
    if tutorial.trim().is_empty() {
        return view! {
            {breadcrumb(&project)}
            <h1>"Tutorial"</h1>
            <p>"This project has no tutorial."</p>
            <a class="button" href=contribute>"Start contributing"</a>
        }
        .into_any();
    }
    mark_tutorial_seen(project.id);
    let frame = NodeRef::<Iframe>::new();
    let document = frame_document(&tutorial, &FrameEnv::of(&project.info));
    let preview = preview_handler(frame, serde_json::Value::Null, |_| {});
    let navigate = leptos_router::hooks::use_navigate();
    let start = contribute.clone();
    let on_message = move |m: FrameMessage| match m {
        FrameMessage::Link(href) if href.contains("newtask") => {
            navigate(&start, Default::default());
        }
        other => preview(other),
    };
    view! {
        {breadcrumb(&project)}
        <h1>"Tutorial"</h1>
        <div class="presenter">
            <PresenterFrame document=document frame=frame on_message=on_message project=project.id/>
        </div>
        <p class="dialog-actions"><a class="button button-large" href=contribute>"Start contributing"</a></p>
    }
    .into_any()
}
