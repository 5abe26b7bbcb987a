use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

use crate::api;
use crate::components::{ErrorState, ProjectThumb, format_date};

/// `/project/{short_name}`: one project's details.
#[component]
pub fn ProjectPage() -> impl IntoView {
    let params = use_params_map();
    let short_name = move || params.read().get("short_name").unwrap_or_default();
    let project = LocalResource::new(move || api::project_by_short_name(short_name()));

    let body = move || match project.get() {
        None => {
            crate::set_title(Some("Loading"));
            view! {
                <div class="detail" role="status" aria-live="polite">
                    <span class="visually-hidden">"Loading project…"</span>
                    <div class="detail-head" aria-hidden="true">
                        <div class="thumb thumb-large skeleton"></div>
                        <div class="detail-text">
                            <div class="skeleton skeleton-line skeleton-heading"></div>
                            <div class="skeleton skeleton-line"></div>
                            <div class="skeleton skeleton-line skeleton-short"></div>
                        </div>
                    </div>
                </div>
            }
            .into_any()
        }
        Some(Err(error)) => {
            crate::set_title(Some("Error"));
            view! {
                <ErrorState
                    title="This project could not be loaded"
                    error=error
                    on_retry=move || project.refetch()
                />
            }
            .into_any()
        }
        Some(Ok(None)) => {
            crate::set_title(Some("Project not found"));
            view! {
                <div class="state state-empty">
                    <div class="state-icon" aria-hidden="true">"?"</div>
                    <h1 class="state-title">"Project not found"</h1>
                    <p class="state-text">
                        "There is no project called “" <code>{short_name()}</code> "”. "
                        "It may have been renamed or deleted."
                    </p>
                    <a class="button" href="/">"Browse all projects"</a>
                </div>
            }
            .into_any()
        }
        Some(Ok(Some(p))) => {
            crate::set_title(Some(&p.name));
            let description = match p.description() {
                "" => "This project has no description yet.".to_owned(),
                text => text.to_owned(),
            };
            let api_href = p.api_href();
            view! {
                <article class="detail">
                    <div class="detail-head">
                        <ProjectThumb project=p.clone() large=true/>
                        <div class="detail-text">
                            <h1 class="detail-title">{p.name.clone()}</h1>
                            <p class="detail-desc">{description}</p>
                        </div>
                    </div>
                    <dl class="facts">
                        <div class="fact">
                            <dt>"Short name"</dt>
                            <dd><code>{p.short_name.clone()}</code></dd>
                        </div>
                        <div class="fact">
                            <dt>"Project ID"</dt>
                            <dd>{p.id}</dd>
                        </div>
                        {p.created.as_deref().map(|created| view! {
                            <div class="fact">
                                <dt>"Created"</dt>
                                <dd>{format_date(created)}</dd>
                            </div>
                        })}
                        <div class="fact">
                            <dt>"Data"</dt>
                            <dd><a href=api_href rel="external">"View as JSON"</a></dd>
                        </div>
                    </dl>
                </article>
            }
            .into_any()
        }
    };

    view! {
        <div class="container section">
            <nav class="breadcrumb" aria-label="Breadcrumb">
                <a href="/">"← All projects"</a>
            </nav>
            {body}
        </div>
    }
}
