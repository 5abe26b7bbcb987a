use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

use crate::api;
use crate::components::content::Rendered;
use crate::components::{ErrorState, ProjectThumb, format_date};

/// `/project/{short_name}`: one project's details.
#[component]
pub fn ProjectPage() -> impl IntoView {
    let session = crate::session::use_session();
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
            let contribute = format!("{}/newtask", p.href());
            view! {
                <article class="detail">
                    <div class="detail-head">
                        <ProjectThumb project=p.clone() large=true/>
                        <div class="detail-text">
                            <h1 class="detail-title">{p.name.clone()}</h1>
                            <p class="detail-desc">{description}</p>
                            <p class="manage-actions">
                                <a class="button button-large" href=contribute>"Contribute"</a>
                                {
                                    let p = p.clone();
                                    move || session.account.get().filter(|a| p.managed_by(a)).map(|_| view! {
                                        <a class="button button-quiet" href=format!("{}/tasks/browse", p.href())>"Manage"</a>
                                    })
                                }
                            </p>
                        </div>
                    </div>
                    <ProjectContentView project=p.clone()/>
                    <ProjectNumbers project_id=p.id/>
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

/// The long description (Markdown, rendered and sanitised by the server), the tutorial, the
/// latest blog posts and the project's pages.
#[component]
fn ProjectContentView(project: api::Project) -> impl IntoView {
    let pid = project.id;
    let href = project.href();
    let content = LocalResource::new(move || api::project_content(pid));
    move || {
        let Some(Ok(c)) = content.get() else {
            return ().into_any();
        };
        let href = href.clone();
        view! {
            {(!c.description_html.trim().is_empty()).then(|| view! {
                <section class="long-description" aria-label="About this project">
                    <Rendered html=c.description_html.clone()/>
                </section>
            })}
            {c.tutorial.then(|| view! {
                <p><a class="button button-quiet" href=format!("{href}/tutorial")>"Tutorial"</a></p>
            })}
            {(!c.posts.is_empty()).then(|| {
                let blog = format!("{href}/blog");
                view! {
                    <section class="project-blog" aria-labelledby="news">
                        <h2 id="news" class="section-title">"News"</h2>
                        <ul class="post-list">
                            {c.posts.iter().map(|post| view! {
                                <li>
                                    <a href=format!("{href}/{}", post.id)>{post.title.clone()}</a>
                                    <span class="post-meta">" · " {format_date(&post.created)}</span>
                                    {post.excerpt.clone().map(|e| view! { <p class="muted">{e}</p> })}
                                </li>
                            }).collect_view()}
                        </ul>
                        <p>
                            <a href=blog>{if c.more_posts { "All posts" } else { "Blog" }}</a>
                            " · "
                            <a href=format!("/api/project/{pid}/blog.atom")>"Atom feed"</a>
                        </p>
                    </section>
                }
            })}
            {(!c.pages.is_empty()).then(|| view! {
                <nav class="project-pages" aria-label="Project pages">
                    <ul class="post-list">
                        {c.pages.iter().map(|page| view! {
                            <li><a href=format!("{href}/page/{}", api::encode(&page.slug))>{page.title.clone()}</a></li>
                        }).collect_view()}
                    </ul>
                </nav>
            })}
        }
        .into_any()
    }
}

/// Progress, numbers and the project's top volunteers; current to the last answer.
#[component]
fn ProjectNumbers(project_id: i64) -> impl IntoView {
    let stats = LocalResource::new(move || api::project_stats(project_id));
    let board = LocalResource::new(move || api::leaderboard(project_id));
    view! {
        {move || match stats.get() {
            Some(Ok(s)) => {
                let pct = s.overall_progress.clamp(0, 100);
                view! {
                    <section class="numbers" aria-label="Progress">
                        <div class="progress" role="progressbar" aria-valuemin="0" aria-valuemax="100"
                            aria-valuenow=pct aria-label="Tasks completed">
                            <div class="progress-bar" style=format!("width: {pct}%")></div>
                        </div>
                        <p class="progress-label">{format!("{pct}% complete")}</p>
                        <dl class="stat-grid">
                            <div><dt>"Tasks"</dt><dd>{s.n_tasks}</dd></div>
                            <div><dt>"Completed"</dt><dd>{s.n_completed_tasks}</dd></div>
                            <div><dt>"Answers"</dt><dd>{s.n_task_runs}</dd></div>
                            <div><dt>"Volunteers"</dt><dd>{s.n_volunteers}</dd></div>
                        </dl>
                    </section>
                }.into_any()
            }
            Some(Err(_)) => ().into_any(),
            None => view! { <div class="numbers skeleton skeleton-block" aria-hidden="true"></div> }.into_any(),
        }}
        {move || match board.get() {
            Some(Ok(top)) if !top.is_empty() => view! {
                <section class="leaderboard" aria-labelledby="leaders">
                    <h2 id="leaders" class="section-title">"Top volunteers"</h2>
                    <ol class="leaders">
                        {top.into_iter().take(10).map(|u| view! {
                            <li>
                                <span class="leader-rank">{u.rank}</span>
                                <span class="leader-name">{u.fullname.clone().filter(|f| !f.is_empty()).unwrap_or(u.name.clone())}</span>
                                <span class="leader-score">{format!("{} answers", u.score)}</span>
                            </li>
                        }).collect_view()}
                    </ol>
                </section>
            }.into_any(),
            _ => ().into_any(),
        }}
    }
}
