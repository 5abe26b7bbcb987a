use leptos::prelude::*;

use crate::api;
use crate::components::{EmptyState, ErrorState, LoadingGrid, ProjectCard};

/// Projects per page of the listing.
const PAGE: u64 = 24;

/// Landing page: what Tessera is, and every project to pick from, a page at a time.
#[component]
pub fn Home() -> impl IntoView {
    crate::set_title(None);
    let session = crate::session::use_session();
    let params = leptos_router::hooks::use_params_map();
    // `/project/category/{short_name}` shows one category.
    let category = move || params.read().get("category");
    let categories = LocalResource::new(api::categories);
    let site = LocalResource::new(api::global_stats);
    let (query, set_query) = signal(String::new());
    // What the server is asked for: the search as typed, settled for a moment.
    let (search, set_search) = signal(String::new());
    let offset = RwSignal::new(0u64);
    Effect::new(move |_| {
        let typed = query.get();
        leptos::task::spawn_local(async move {
            let promise = js_sys::Promise::new(&mut |resolve, _| {
                if let Some(w) = web_sys::window() {
                    let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, 250);
                }
            });
            let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
            if query.get_untracked() == typed && search.get_untracked() != typed {
                offset.set(0);
                set_search.set(typed);
            }
        });
    });
    // The category's id, once categories are known (`None` inside: no such category).
    let category_id = move || {
        category().map(|short| {
            categories
                .get()
                .and_then(Result::ok)
                .and_then(|list| list.into_iter().find(|c| c.short_name == short))
                .map(|c| c.id)
        })
    };
    let projects = LocalResource::new(move || {
        let wanted = category_id();
        let q = api::ProjectQuery {
            offset: offset.get(),
            // One more than shown, to know whether there is a next page.
            limit: PAGE + 1,
            category_id: wanted.flatten(),
            search: search.get(),
            featured: false,
        };
        async move {
            match wanted {
                // A category that does not exist (or is not loaded yet) lists nothing.
                Some(None) => Ok(Vec::new()),
                _ => api::project_page(q).await,
            }
        }
    });
    let featured = LocalResource::new(move || {
        let front = category().is_none() && search.get().trim().is_empty() && offset.get() == 0;
        async move {
            if front {
                api::project_page(api::ProjectQuery {
                    limit: 12,
                    featured: true,
                    ..api::ProjectQuery::default()
                })
                .await
                .unwrap_or_default()
            } else {
                Vec::new()
            }
        }
    });

    let list = move || {
        match projects.get() {
        None => view! { <LoadingGrid/> }.into_any(),
        Some(Err(error)) => view! {
            <ErrorState
                title="Projects could not be loaded"
                error=error
                on_retry=move || projects.refetch()
            />
        }
        .into_any(),
        Some(Ok(page)) if page.is_empty() && offset.get_untracked() == 0 && search.get().trim().is_empty() => view! {
            <EmptyState title="No projects yet">
                <p>
                    "Projects appear here as soon as someone creates one through the API, "
                    "for example with " <code>"pbs create-project"</code> "."
                </p>
            </EmptyState>
        }
        .into_any(),
        Some(Ok(page)) if page.is_empty() => view! {
            <p class="result-count" aria-live="polite">"No project matches"</p>
            <EmptyState title="No matching projects">
                <p>"Nothing matches “" {search.get()} "”. Try fewer or shorter words."</p>
                <button type="button" class="button button-quiet"
                    on:click=move |_| { set_query.set(String::new()); set_search.set(String::new()); offset.set(0); }>
                    "Clear search"
                </button>
            </EmptyState>
        }
        .into_any(),
        Some(Ok(mut page)) => {
            let more = page.len() as u64 > PAGE;
            page.truncate(usize::try_from(PAGE).unwrap_or(24));
            let from = offset.get_untracked() + 1;
            let to = offset.get_untracked() + page.len() as u64;
            let summary = if search.get().trim().is_empty() {
                format!("Projects {from}–{to}")
            } else {
                format!("Projects {from}–{to} matching “{}”", search.get().trim())
            };
            let front_featured = featured.get().unwrap_or_default();
            view! {
                {(!front_featured.is_empty()).then(|| view! {
                    <h3 class="subsection-title">"Featured"</h3>
                    <ul class="card-grid featured">
                        {front_featured.into_iter()
                            .map(|project| view! { <ProjectCard project=project/> })
                            .collect_view()}
                    </ul>
                    <h3 class="subsection-title">"All projects"</h3>
                })}
                <p class="result-count" aria-live="polite">{summary}</p>
                <ul class="card-grid">
                    {page.into_iter()
                        .map(|project| view! { <ProjectCard project=project/> })
                        .collect_view()}
                </ul>
                <nav class="pager" aria-label="Pages of projects">
                    <button type="button" class="button button-quiet" disabled=move || offset.get() == 0
                        on:click=move |_| offset.update(|o| *o = o.saturating_sub(PAGE))>"Previous"</button>
                    <button type="button" class="button button-quiet" disabled=!more
                        on:click=move |_| offset.update(|o| *o += PAGE)>"Next"</button>
                </nav>
            }
            .into_any()
        }
    }
    };

    view! {
        <section class="hero">
            <div class="container">
                <p class="eyebrow">"Citizen science & crowdsourcing"</p>
                <h1 class="hero-title">"Big questions, answered one small task at a time."</h1>
                <p class="hero-lead">
                    "Tessera splits research into small tasks that volunteers complete in the "
                    "browser — classifying images, transcribing records, checking data. "
                    "Pick a project below to see what it needs."
                </p>
                {move || site.get().and_then(Result::ok).map(|g| view! {
                    <dl class="site-numbers" aria-label="Site numbers">
                        <div><dt>"Projects"</dt><dd>{g.n_projects}</dd></div>
                        <div><dt>"Volunteers"</dt><dd>{g.n_users}</dd></div>
                        <div><dt>"Answers given"</dt><dd>{g.n_task_runs}</dd></div>
                        <div><dt>"Answers needed"</dt><dd>{g.n_pending_tasks}</dd></div>
                    </dl>
                })}
            </div>
        </section>
        <section class="container section" aria-labelledby="projects-heading">
            <div class="section-head">
                <h2 id="projects-heading" class="section-title">"Projects"</h2>
                <Show when=move || session.signed_in()>
                    <a class="button" href="/project/new">"New project"</a>
                </Show>
                <label class="search">
                    <span class="visually-hidden">"Search projects"</span>
                    <input
                        type="search"
                        placeholder="Search projects"
                        autocomplete="off"
                        prop:value=query
                        on:input=move |ev| set_query.set(event_target_value(&ev))
                    />
                </label>
            </div>
            <nav class="chips" aria-label="Categories">
                <a href="/" aria-current=move || category().is_none().then_some("page")>"All"</a>
                {move || categories.get().and_then(Result::ok).unwrap_or_default().into_iter().map(|c| {
                    let href = format!("/project/category/{}", c.short_name);
                    let short = c.short_name.clone();
                    let current = move || (category().as_deref() == Some(short.as_str())).then_some("page");
                    view! {
                        <a href=href aria-current=current>{c.name.clone()}</a>
                    }
                }).collect_view()}
            </nav>
            {list}
        </section>
    }
}
