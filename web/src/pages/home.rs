use leptos::prelude::*;

use crate::api::{self, Project};
use crate::components::{EmptyState, ErrorState, LoadingGrid, ProjectCard};

/// Landing page: what Tessera is, and every project to pick from.
#[component]
pub fn Home() -> impl IntoView {
    crate::set_title(None);
    let session = crate::session::use_session();
    let params = leptos_router::hooks::use_params_map();
    // `/project/category/{short_name}` shows one category.
    let category = move || params.read().get("category");
    let categories = LocalResource::new(api::categories);
    let projects = LocalResource::new(api::list_projects);
    let site = LocalResource::new(api::global_stats);
    let (query, set_query) = signal(String::new());

    let list = move || match projects.get() {
        None => view! { <LoadingGrid/> }.into_any(),
        Some(Err(error)) => view! {
            <ErrorState
                title="Projects could not be loaded"
                error=error
                on_retry=move || projects.refetch()
            />
        }
        .into_any(),
        Some(Ok(all)) if all.is_empty() => view! {
            <EmptyState title="No projects yet">
                <p>
                    "Projects appear here as soon as someone creates one through the API, "
                    "for example with " <code>"pbs create-project"</code> "."
                </p>
            </EmptyState>
        }
        .into_any(),
        Some(Ok(all)) => {
            let wanted = category().map(|short| {
                categories
                    .get()
                    .and_then(Result::ok)
                    .and_then(|list| list.into_iter().find(|c| c.short_name == short))
                    .map(|c| c.id)
            });
            let all: Vec<Project> = match wanted {
                None => all,
                Some(id) => all
                    .into_iter()
                    .filter(|p| id.is_some() && p.category_id == id)
                    .collect(),
            };
            let total = all.len();
            let needle = query.get().trim().to_lowercase();
            let featured: Vec<Project> = if category().is_none() && needle.is_empty() {
                all.iter()
                    .filter(|p| p.featured == Some(true))
                    .cloned()
                    .collect()
            } else {
                Vec::new()
            };
            let shown: Vec<Project> = all
                .into_iter()
                .filter(|p| {
                    needle.is_empty()
                        || p.name.to_lowercase().contains(&needle)
                        || p.short_name.to_lowercase().contains(&needle)
                        || p.description().to_lowercase().contains(&needle)
                })
                .collect();
            let summary = match (needle.is_empty(), shown.len()) {
                (true, 1) => "1 project".to_owned(),
                (true, n) => format!("{n} projects"),
                (false, n) => format!("{n} of {total} match"),
            };
            if shown.is_empty() {
                view! {
                    <p class="result-count" aria-live="polite">{summary}</p>
                    <EmptyState title="No matching projects">
                        <p>"Nothing matches “" {query.get()} "”. Try a shorter search."</p>
                        <button type="button" class="button button-quiet"
                            on:click=move |_| set_query.set(String::new())>
                            "Clear search"
                        </button>
                    </EmptyState>
                }
                .into_any()
            } else {
                view! {
                    {(!featured.is_empty()).then(|| view! {
                        <h3 class="subsection-title">"Featured"</h3>
                        <ul class="card-grid featured">
                            {featured.into_iter()
                                .map(|project| view! { <ProjectCard project=project/> })
                                .collect_view()}
                        </ul>
                        <h3 class="subsection-title">"All projects"</h3>
                    })}
                    <p class="result-count" aria-live="polite">{summary}</p>
                    <ul class="card-grid">
                        {shown.into_iter()
                            .map(|project| view! { <ProjectCard project=project/> })
                            .collect_view()}
                    </ul>
                }
                .into_any()
            }
        }
    };

    let has_projects = move || {
        projects
            .get()
            .is_some_and(|r| r.is_ok_and(|all| !all.is_empty()))
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
                <Show when=has_projects>
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
                </Show>
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
