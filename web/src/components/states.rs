use leptos::prelude::*;

use crate::api::ApiError;

/// Placeholder cards while the project list loads.
#[component]
pub fn LoadingGrid(#[prop(default = 6)] count: usize) -> impl IntoView {
    view! {
        <div class="loading" role="status" aria-live="polite">
            <p class="result-count">"Loading projects…"</p>
            <ul class="card-grid" aria-hidden="true">
                {(0..count)
                    .map(|_| view! {
                        <li class="card card-skeleton">
                            <div class="thumb skeleton"></div>
                            <div class="card-body">
                                <div class="skeleton skeleton-line skeleton-title"></div>
                                <div class="skeleton skeleton-line"></div>
                                <div class="skeleton skeleton-line skeleton-short"></div>
                            </div>
                        </li>
                    })
                    .collect_view()}
            </ul>
        </div>
    }
}

/// A failed request, with the server's message and a way to try again.
#[component]
pub fn ErrorState(
    #[prop(into)] title: String,
    error: ApiError,
    on_retry: impl Fn() + 'static,
) -> impl IntoView {
    view! {
        <div class="state state-error" role="alert">
            <div class="state-icon" aria-hidden="true">"!"</div>
            <h2 class="state-title">{title}</h2>
            <p class="state-text">{error.to_string()}</p>
            <button type="button" class="button" on:click=move |_| on_retry()>"Try again"</button>
        </div>
    }
}

/// Nothing to show; `children` carry the next step.
#[component]
pub fn EmptyState(#[prop(into)] title: String, children: Children) -> impl IntoView {
    view! {
        <div class="state state-empty">
            <div class="state-icon" aria-hidden="true">
                <svg viewBox="0 0 24 24" width="22" height="22" fill="none" stroke="currentColor"
                    stroke-width="1.8" stroke-linejoin="round">
                    <rect x="3" y="3" width="7.5" height="7.5" rx="2"/>
                    <rect x="13.5" y="3" width="7.5" height="7.5" rx="2"/>
                    <rect x="3" y="13.5" width="7.5" height="7.5" rx="2"/>
                    <rect x="13.5" y="13.5" width="7.5" height="7.5" rx="2" stroke-dasharray="3 2.2"/>
                </svg>
            </div>
            <h2 class="state-title">{title}</h2>
            <div class="state-body">{children()}</div>
        </div>
    }
}

/// One resource's view: "Loading {what}…", the error with a retry, or `render` of the value.
pub fn loaded<T: Clone + 'static>(
    resource: LocalResource<Result<T, ApiError>>,
    what: &'static str,
    render: impl Fn(T) -> AnyView + Send + Sync + 'static,
) -> impl Fn() -> AnyView + Send + Sync {
    move || match resource.get() {
        None => view! { <p role="status">{format!("Loading {what}…")}</p> }.into_any(),
        Some(Err(error)) => view! {
            <ErrorState title=format!("Could not load {what}") error=error
                on_retry=move || resource.refetch()/>
        }
        .into_any(),
        Some(Ok(value)) => render(value),
    }
}

/// The project the route's `:short_name` names, loaded, then `render`ed (or "not found").
pub fn route_project(
    render: impl Fn(crate::api::Project) -> AnyView + Send + Sync + 'static,
) -> impl IntoView {
    let params = leptos_router::hooks::use_params_map();
    let project = LocalResource::new(move || {
        crate::api::project_by_short_name(params.read().get("short_name").unwrap_or_default())
    });
    loaded(project, "the project", move |found| match found {
        Some(p) => render(p),
        None => view! {
            <h1>"Project not found"</h1>
            <a class="button" href="/">"Browse all projects"</a>
        }
        .into_any(),
    })
}

/// Previous and Next for a list read `step` rows at a time from `offset`; Next while `more`.
#[component]
pub fn Pager(offset: RwSignal<u64>, step: u64, #[prop(into)] more: Signal<bool>) -> impl IntoView {
    view! {
        <div class="pager">
            <button type="button" class="button button-quiet" disabled=move || offset.get() == 0
                on:click=move |_| offset.update(|o| *o = o.saturating_sub(step))>"Previous"</button>
            <button type="button" class="button button-quiet" disabled=move || !more.get()
                on:click=move |_| offset.update(|o| *o += step)>"Next"</button>
        </div>
    }
}
