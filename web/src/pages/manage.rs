//! An owner's view of a project: tasks, results, statistics, exports, webhook; at PYBOSSA's
//! URLs (`/project/{short_name}/tasks/browse`, `/stats`, `/tasks/export`, `/webhook`).

use leptos::prelude::*;
use leptos::task::spawn_local;
use serde_json::Value;

use crate::api::{self, Project};
use crate::components::{Pager, format_date, loaded, route_project};
use crate::pages::content_editor::ContentEditor;
use crate::pages::quality::QualityPage;
use crate::pages::review::{ReviewPage, promote_to_gold, result_value};
use crate::session::use_session;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Tasks,
    Results,
    Stats,
    Export,
    Webhook,
    Content,
    Quality,
    Review,
    Settings,
}

impl Section {
    const ALL: [(Section, &'static str, &'static str); 9] = [
        (Section::Tasks, "Tasks", "tasks/browse"),
        (Section::Results, "Results", "results"),
        (Section::Stats, "Statistics", "stats"),
        (Section::Export, "Export", "tasks/export"),
        (Section::Webhook, "Webhook", "webhook"),
        (Section::Content, "Content", "content"),
        (Section::Quality, "Quality", "quality"),
        (Section::Review, "Review", "review"),
        (Section::Settings, "Settings", "settings"),
    ];
}

#[component]
pub fn Manage(section: Section) -> impl IntoView {
    let session = use_session();
    let page = move |p: Project| {
        let allowed = session.account.get().is_some_and(|a| p.managed_by(&a));
        if !allowed {
            return view! {
                <h1>{p.name.clone()}</h1>
                <p>"Only the project's owners can manage it. Sign in as one of them."</p>
                <a class="button" href="/account/signin">"Sign in"</a>
            }
            .into_any();
        }
        let title = Section::ALL
            .iter()
            .find(|(s, _, _)| *s == section)
            .map(|(_, t, _)| *t)
            .unwrap_or("");
        crate::set_title(Some(&format!("{title} · {}", p.name)));
        view! { <Dashboard project=p section=section/> }.into_any()
    };
    view! { <div class="container section">{route_project(page)}</div> }
}

#[component]
fn Dashboard(project: Project, section: Section) -> impl IntoView {
    let href = project.href();
    let published = RwSignal::new(project.published.unwrap_or(false));
    let (publish_error, set_publish_error) = signal(None::<String>);
    let pid = project.id;
    let publish = move |_| {
        spawn_local(async move {
            match api::publish(pid).await {
                Ok(_) => published.set(true),
                Err(e) => set_publish_error.set(Some(e.to_string())),
            }
        });
    };
    let body = match section {
        Section::Tasks => view! { <TaskList project_id=pid base=href.clone()/> }.into_any(),
        Section::Results => view! { <ResultList project_id=pid/> }.into_any(),
        Section::Stats => view! { <StatsCharts project_id=pid/> }.into_any(),
        Section::Export => {
            view! { <Exports project_id=pid short_name=project.short_name.clone()/> }.into_any()
        }
        Section::Webhook => view! { <Webhook project_id=pid/> }.into_any(),
        Section::Content => view! { <ContentEditor project=project.clone()/> }.into_any(),
        Section::Quality => view! { <QualityPage project=project.clone()/> }.into_any(),
        Section::Review => view! { <ReviewPage project=project.clone()/> }.into_any(),
        Section::Settings => view! {
            <Settings project_id=pid name=project.name.clone() short_name=project.short_name.clone() published=published/>
        }
        .into_any(),
    };
    view! {
        <nav class="breadcrumb" aria-label="Breadcrumb"><a href=href.clone()>"← " {project.name.clone()}</a></nav>
        <div class="manage-head">
            <h1>{project.name.clone()}</h1>
            <div class="manage-actions">
                <a class="button button-quiet" href=format!("{href}/update")>"Edit"</a>
                <a class="button button-quiet" href=format!("{href}/tasks/import")>"Import tasks"</a>
                {move || if published.get() {
                    view! { <span class="badge">"Published"</span> }.into_any()
                } else {
                    view! { <button type="button" class="button" on:click=publish>"Publish"</button> }.into_any()
                }}
            </div>
        </div>
        {move || publish_error.get().map(|e| view! { <p class="form-error" role="alert">{e}</p> })}
        <nav class="tabs" aria-label="Manage">
            {Section::ALL.iter().map(|(s, label, path)| {
                let current = (*s == section).then_some("page");
                view! { <a href=format!("{href}/{path}") aria-current=current>{*label}</a> }
            }).collect_view()}
        </nav>
        {body}
    }
}

fn short_json(v: &Value) -> String {
    let text = match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if text.chars().count() > 120 {
        format!("{}…", text.chars().take(120).collect::<String>())
    } else {
        text
    }
}

/// A table with column headings; an empty heading is read as "Actions".
fn data_table(headings: &'static [&'static str], rows: impl IntoView + 'static) -> AnyView {
    view! {
        <div class="table-wrap">
            <table class="table">
                <thead>
                    <tr>
                        {headings.iter().map(|h| if h.is_empty() {
                            view! { <th scope="col"><span class="visually-hidden">"Actions"</span></th> }.into_any()
                        } else {
                            view! { <th scope="col">{*h}</th> }.into_any()
                        }).collect_view()}
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
    }
    .into_any()
}

#[component]
fn TaskList(project_id: i64, base: String) -> impl IntoView {
    let redundancy = RwSignal::new("3".to_owned());
    let (status, set_status) = signal(None::<String>);
    let state = RwSignal::new(String::new());
    let offset = RwSignal::new(0u64);
    let tasks = LocalResource::new(move || {
        let s = state.get();
        api::tasks(project_id, (!s.is_empty()).then_some(s), offset.get())
    });
    let count = Signal::derive(move || tasks.get().and_then(Result::ok).map_or(0, |t| t.len()));
    let priority = RwSignal::new("0".to_owned());
    // Every change goes to the server as one request over the tasks shown (all, ongoing or
    // completed), whatever their number.
    let filter = move || {
        let s = state.get_untracked();
        if s.is_empty() {
            serde_json::json!({})
        } else {
            serde_json::json!({ "state": s })
        }
    };
    let run = move |change: api::BulkChange, what: &'static str| {
        set_status.set(Some("Working…".into()));
        let shown = filter();
        spawn_local(async move {
            let done = api::bulk_tasks(project_id, shown, change).await;
            set_status.set(Some(match done {
                Ok(o) if o.status == "queued" => {
                    format!("{} tasks: the change runs in the background.", o.matched)
                }
                Ok(o) => match what {
                    "delete" => format!("Deleted {} tasks.", o.deleted),
                    _ => format!(
                        "Updated {} tasks ({} completed, {} reopened).",
                        o.updated, o.completed, o.reopened
                    ),
                },
                Err(e) => e.to_string(),
            }));
            tasks.refetch();
        });
    };
    let apply = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let Ok(n) = redundancy.get_untracked().trim().parse::<i64>() else {
            set_status.set(Some("Answers per task must be a whole number.".into()));
            return;
        };
        run(
            api::BulkChange::Set(serde_json::json!({ "n_answers": n })),
            "update",
        );
    };
    let apply_priority = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let Some(p) = priority
            .get_untracked()
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|p| (0.0..=1.0).contains(p))
        else {
            set_status.set(Some("Priority must be a number from 0 to 1.".into()));
            return;
        };
        run(
            api::BulkChange::Set(serde_json::json!({ "priority_0": p })),
            "update",
        );
    };
    let delete_shown = move |_| {
        let which = match state.get_untracked().as_str() {
            "ongoing" => "all ongoing tasks",
            "completed" => "all completed tasks",
            _ => "ALL tasks",
        };
        let confirmed = web_sys::window().is_some_and(|w| {
            w.confirm_with_message(&format!(
                "Delete {which} of this project, with their answers and results? This cannot be undone."
            ))
            .unwrap_or(false)
        });
        if confirmed {
            run(api::BulkChange::Delete, "delete");
        }
    };
    view! {
        <form class="inline-form" on:submit=apply>
            <label class="field inline">
                <span>"Answers per task"</span>
                <input type="number" min="1" max="1000" prop:value=redundancy
                    on:input=move |ev| redundancy.set(event_target_value(&ev))/>
            </label>
            <button type="submit" class="button button-quiet">"Apply to tasks shown"</button>
        </form>
        <form class="inline-form" on:submit=apply_priority>
            <label class="field inline">
                <span>"Priority (0–1)"</span>
                <input type="number" min="0" max="1" step="0.05" prop:value=priority
                    on:input=move |ev| priority.set(event_target_value(&ev))/>
            </label>
            <button type="submit" class="button button-quiet">"Set priority of tasks shown"</button>
            <button type="button" class="button button-danger" on:click=delete_shown>"Delete tasks shown"</button>
        </form>
        <p role="status" class="muted">{move || status.get()}</p>
        <label class="field inline">
            <span>"Show"</span>
            <select on:change=move |ev| { state.set(event_target_value(&ev)); offset.set(0); }>
                <option value="">"All tasks"</option>
                <option value="ongoing">"Ongoing"</option>
                <option value="completed">"Completed"</option>
            </select>
        </label>
        {loaded(tasks, "the tasks", move |list| if list.is_empty() {
            view! { <p class="muted">"No task here yet."</p> }.into_any()
        } else {
            data_table(&["Task", "State", "Answers", "Data"], view! {
                            {list.into_iter().map(|t| view! {
                                <tr>
                                    <td><a href=format!("{base}/task/{}", t.id)>{format!("#{}", t.id)}</a></td>
                                    <td><span class=format!("badge badge-{}", t.state)>{t.state.clone()}</span></td>
                                    <td>{format!("{} / {}", t.n_task_runs, t.n_answers)}</td>
                                    <td class="cell-data">{short_json(&t.info)}</td>
                                </tr>
                            }).collect_view()}
            })
        })}
        <Pager offset=offset step=50 more=Signal::derive(move || count.get() >= 50)/>
    }
}

/// The built-in aggregate of a result: the majority answer and how much volunteers agreed.
fn aggregate_summary(info: &Value) -> (String, Option<f64>) {
    let Some(agg) = info.get("aggregate") else {
        return (short_json(info), None);
    };
    if let Some(value) = agg.get("value") {
        return (
            short_json(value),
            agg.get("agreement").and_then(Value::as_f64),
        );
    }
    if let Some(fields) = agg.get("fields").and_then(Value::as_object) {
        let text = fields
            .iter()
            .map(|(k, f)| {
                format!(
                    "{k}: {}",
                    short_json(f.get("value").unwrap_or(&Value::Null))
                )
            })
            .collect::<Vec<_>>()
            .join(" · ");
        let min = fields
            .values()
            .filter_map(|f| f.get("agreement").and_then(Value::as_f64))
            .fold(None, |m: Option<f64>, a| Some(m.map_or(a, |m| m.min(a))));
        return (text, min);
    }
    (short_json(agg), None)
}

#[component]
fn ResultList(project_id: i64) -> impl IntoView {
    let offset = RwSignal::new(0u64);
    let results = LocalResource::new(move || api::results(project_id, offset.get()));
    let count = Signal::derive(move || results.get().and_then(Result::ok).map_or(0, |t| t.len()));
    let status = RwSignal::new(None::<(bool, String)>);
    let promote = move |task_id: i64, answer: Value| {
        spawn_local(async move {
            match promote_to_gold(project_id, task_id, answer).await {
                Ok(id) => status.set(Some((
                    true,
                    format!("Gold task #{id} created from the result of task #{task_id}."),
                ))),
                Err(e) => status.set(Some((false, e))),
            }
        });
    };
    view! {
        {loaded(results, "the results", move |list| if list.is_empty() {
            view! { <p class="muted">"No task is completed yet."</p> }.into_any()
        } else {
            data_table(&["Task", "Answer", "Agreement", "Confidence", "Completed", ""], view! {
                            {list.into_iter().map(|r| {
                                let (answer, agreement) = aggregate_summary(&r.info);
                                let confidence = r.info.pointer("/aggregate/confidence").and_then(Value::as_f64);
                                let reviewed = r.info.pointer("/final/value").map(short_json);
                                let value = result_value(&r.info);
                                let tid = r.task_id;
                                view! {
                                    <tr>
                                        <td>{format!("#{}", r.task_id)}</td>
                                        <td class="cell-data">
                                            {answer}
                                            {reviewed.map(|f| view! { <span class="post-meta">{format!(" · final: {f}")}</span> })}
                                        </td>
                                        <td>{agreement.map(|a| format!("{:.0}%", a * 100.0)).unwrap_or_else(|| "—".into())}</td>
                                        <td>{confidence.map(|c| format!("{:.0}%", c * 100.0)).unwrap_or_else(|| "—".into())}</td>
                                        <td>{r.created.as_deref().map(format_date).unwrap_or_default()}</td>
                                        <td class="row-actions">
                                            {value.map(|v| view! {
                                                <button type="button" class="button button-quiet"
                                                    title="A new gold task: this task again, with this result as its correct answer"
                                                    on:click=move |_| promote(tid, v.clone())>"Make gold"</button>
                                            })}
                                        </td>
                                    </tr>
                                }
                            }).collect_view()}
            })
        })}
        {move || status.get().map(|(ok, m)| if ok {
            view! { <p class="muted" role="status">{m}</p> }.into_any()
        } else {
            view! { <p class="form-error" role="alert">{m}</p> }.into_any()
        })}
        <Pager offset=offset step=50 more=Signal::derive(move || count.get() >= 50)/>
    }
}

/// `[[epoch_ms, n], …]` of one `dates_stats` series.
fn series(stats: &Value, label: &str) -> Vec<(i64, i64)> {
    stats
        .get("dates_stats")
        .and_then(Value::as_array)
        .and_then(|all| {
            all.iter()
                .find(|s| s.get("label").and_then(Value::as_str) == Some(label))
        })
        .and_then(|s| s.get("values"))
        .and_then(Value::as_array)
        .map(|values| {
            values
                .iter()
                .filter_map(|p| Some((p.get(0)?.as_i64()?, p.get(1)?.as_i64()?)))
                .collect()
        })
        .unwrap_or_default()
}

/// A bar chart drawn as SVG, with the numbers in its accessible description.
#[component]
fn BarChart(title: &'static str, points: Vec<(i64, i64)>) -> impl IntoView {
    let max = points.iter().map(|p| p.1).max().unwrap_or(0).max(1);
    let width = 640.0;
    let height = 160.0;
    let n = points.len().max(1) as f64;
    let bar = width / n;
    let total: i64 = points.iter().map(|p| p.1).sum();
    let desc = format!("{title}: {total} over the last {} days", points.len());
    view! {
        <figure class="chart">
            <figcaption>{title} <span class="muted">{format!(" · {total} in {} days", points.len())}</span></figcaption>
            <svg viewBox=format!("0 0 {width} {}", height + 20.0) role="img" aria-label=desc preserveAspectRatio="none">
                {points.iter().enumerate().map(|(i, (day, v))| {
                    let h = (*v as f64 / max as f64) * height;
                    let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(*day as f64));
                    let label = format!("{}: {v}", String::from(date.to_date_string()));
                    view! {
                        <rect class="bar" x=i as f64 * bar + 2.0 y=height - h width=(bar - 4.0).max(1.0) height=h.max(0.5)>
                            <title>{label}</title>
                        </rect>
                    }
                }).collect_view()}
                <line x1="0" y1=height x2=width y2=height class="axis"/>
            </svg>
        </figure>
    }
}

/// Share of tasks completed at the end of each day of the period, as an SVG line.
#[component]
fn ProgressChart(completed: Vec<(i64, i64)>, n_completed: i64, n_tasks: i64) -> impl IntoView {
    let in_period: i64 = completed.iter().map(|p| p.1).sum();
    let mut done = (n_completed - in_period).max(0);
    let total = n_tasks.max(1) as f64;
    let (width, height) = (640.0, 160.0);
    let step = width / (completed.len().max(2) - 1) as f64;
    let points: Vec<(f64, f64)> = completed
        .iter()
        .enumerate()
        .map(|(i, (_, n))| {
            done += n;
            (
                i as f64 * step,
                height - (done as f64 / total).min(1.0) * height,
            )
        })
        .collect();
    let line = points
        .iter()
        .map(|(x, y)| format!("{x:.1},{y:.1}"))
        .collect::<Vec<_>>()
        .join(" ");
    let area = format!("0,{height} {line} {width},{height}");
    let pct = (done as f64 / total * 100.0).round();
    let desc = format!(
        "Progress over the last {} days, now {pct}% of tasks completed",
        completed.len()
    );
    view! {
        <figure class="chart">
            <figcaption>"Progress over time" <span class="muted">{format!(" · {pct}% complete")}</span></figcaption>
            <svg viewBox=format!("0 0 {width} {}", height + 20.0) role="img" aria-label=desc preserveAspectRatio="none">
                <polygon class="area" points=area/>
                <polyline class="line" points=line/>
                <line x1="0" y1=height x2=width y2=height class="axis"/>
            </svg>
        </figure>
    }
}

#[component]
fn StatsCharts(project_id: i64) -> impl IntoView {
    let stats = LocalResource::new(move || api::project_stats_full(project_id));
    view! {
        {loaded(stats, "the statistics", |s| {
                let answers = series(&s.info, "Anon + Auth");
                let completed = series(&s.info, "Completed Tasks");
                let eta = s.info.get("estimated_completion").and_then(Value::as_str).map(format_date);
                view! {
                    <dl class="stat-grid">
                        <div><dt>"Progress"</dt><dd>{format!("{}%", s.overall_progress)}</dd></div>
                        <div><dt>"Answers"</dt><dd>{s.n_task_runs}</dd></div>
                        <div><dt>"Volunteers"</dt><dd>{s.n_volunteers}</dd></div>
                        <div><dt>"Seconds per answer"</dt><dd>{format!("{:.1}", s.average_time)}</dd></div>
                        <div><dt>"Estimated completion"</dt><dd>{eta.unwrap_or_else(|| "—".into())}</dd></div>
                    </dl>
                    <ProgressChart completed=completed.clone() n_completed=s.n_completed_tasks n_tasks=s.n_tasks/>
                    <BarChart title="Answers per day" points=answers/>
                    <BarChart title="Tasks completed per day" points=completed/>
                }.into_any()
        })}
    }
}

#[component]
fn Exports(project_id: i64, short_name: String) -> impl IntoView {
    let (error, set_error) = signal(None::<String>);
    let (busy, set_busy) = signal(false);
    let rows = [
        ("task", "Tasks"),
        ("task_run", "Answers (task runs)"),
        ("result", "Results"),
    ];
    view! {
        <p class="muted">"CSV flattens each task's data into columns, as PYBOSSA does. Files are streamed, whatever their size."</p>
        <table class="table">
            <tbody>
                {rows.into_iter().map(|(table, label)| {
                    let short_name = short_name.clone();
                    view! {
                        <tr>
                            <th scope="row">{label}</th>
                            {["csv", "json", "jsonl"].into_iter().map(|format| {
                                let file = format!("{short_name}_{table}.{format}.zip");
                                view! {
                                    <td>
                                        <button type="button" class="button button-quiet" disabled=busy
                                            on:click=move |_| {
                                                let file = file.clone();
                                                set_busy.set(true);
                                                set_error.set(None);
                                                spawn_local(async move {
                                                    if let Err(e) = api::download_export(project_id, table, format, true, file).await {
                                                        set_error.set(Some(e.to_string()));
                                                    }
                                                    set_busy.set(false);
                                                });
                                            }>
                                            {format.to_uppercase()}
                                        </button>
                                    </td>
                                }
                            }).collect_view()}
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
        {move || error.get().map(|e| view! { <p class="form-error" role="alert">{e}</p> })}
    }
}

const EVENTS: [(&str, &str); 3] = [
    ("task.completed", "A task is completed"),
    ("project.completed", "The whole project is completed"),
    ("taskrun.created", "Each answer"),
];

#[component]
fn Webhook(project_id: i64) -> impl IntoView {
    let settings = LocalResource::new(move || api::webhook(project_id));
    let log = LocalResource::new(move || api::deliveries(project_id));
    let url = RwSignal::new(String::new());
    let events = RwSignal::new(Vec::<String>::new());
    let (message, set_message) = signal(None::<Result<String, String>>);
    Effect::new(move |_| {
        if let Some(Ok(s)) = settings.get() {
            url.set(s.url.clone().unwrap_or_default());
            events.set(s.events.clone());
        }
    });
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        spawn_local(async move {
            match api::save_webhook(project_id, url.get_untracked(), events.get_untracked()).await {
                Ok(_) => set_message.set(Some(Ok("Saved.".into()))),
                Err(e) => set_message.set(Some(Err(e.to_string()))),
            }
        });
    };
    let ping = move |_| {
        spawn_local(async move {
            match api::ping_webhook(project_id).await {
                Ok(_) => {
                    set_message.set(Some(Ok("Ping queued: see the log below.".into())));
                    log.refetch();
                }
                Err(e) => set_message.set(Some(Err(e.to_string()))),
            }
        });
    };
    view! {
        <form class="form narrow" on:submit=save>
            <label class="field">
                <span>"URL called on events"</span>
                <input type="url" placeholder="https://example.org/hooks/tessera" prop:value=url
                    on:input=move |ev| url.set(event_target_value(&ev))/>
            </label>
            <fieldset class="field">
                <legend>"Events"</legend>
                {EVENTS.into_iter().map(|(event, label)| view! {
                    <label class="check">
                        <input type="checkbox" prop:checked=move || events.get().iter().any(|e| e == event)
                            on:change=move |ev| {
                                let on = event_target_checked(&ev);
                                events.update(|list| {
                                    list.retain(|e| e != event);
                                    if on { list.push(event.to_owned()); }
                                });
                            }/>
                        " " {label} " " <code>{event}</code>
                    </label>
                }).collect_view()}
            </fieldset>
            {move || settings.get().and_then(Result::ok).map(|s| view! {
                <p class="muted">"Signing secret (Standard Webhooks): " <code class="api-key">{s.secret}</code></p>
            })}
            <div class="manage-actions">
                <button type="submit" class="button">"Save"</button>
                <button type="button" class="button button-quiet" on:click=ping>"Send a ping"</button>
                <button type="button" class="button button-quiet" on:click=move |_| log.refetch()>"Refresh the log"</button>
            </div>
            {move || message.get().map(|m| match m {
                Ok(text) => view! { <p role="status">{text}</p> }.into_any(),
                Err(text) => view! { <p class="form-error" role="alert">{text}</p> }.into_any(),
            })}
        </form>
        <h2 class="section-title">"Deliveries"</h2>
        {loaded(log, "the delivery log", move |list| if list.is_empty() {
            view! { <p class="muted">"Nothing sent yet."</p> }.into_any()
        } else {
            data_table(&["Event", "Status", "Attempts", "Answer", "Sent", ""], view! {
                            {list.into_iter().map(|d| {
                                let id = d.id;
                                view! {
                                    <tr>
                                        <td><code>{d.event.clone()}</code></td>
                                        <td><span class=format!("badge badge-{}", d.status)>{d.status.clone()}</span></td>
                                        <td>{d.attempts}</td>
                                        <td class="cell-data">{d.response_status_code.map(|c| c.to_string()).unwrap_or_default()} " " {d.response.clone().unwrap_or_default()}</td>
                                        <td>{format_date(&d.created)}</td>
                                        <td>
                                            <button type="button" class="button button-quiet" on:click=move |_| {
                                                spawn_local(async move {
                                                    let _ = api::redeliver(project_id, id).await;
                                                    log.refetch();
                                                });
                                            }>"Redeliver"</button>
                                        </td>
                                    </tr>
                                }
                            }).collect_view()}
            })
        })}
    }
}

/// Publishing, the project secret, and deletion, each behind a clear confirmation.
#[component]
fn Settings(
    project_id: i64,
    name: String,
    short_name: String,
    published: RwSignal<bool>,
) -> impl IntoView {
    let (status, set_status) = signal(None::<String>);
    let secret = RwSignal::new(None::<String>);
    let confirm_text = RwSignal::new(String::new());
    let toggle = move |_| {
        spawn_local(async move {
            let outcome = if published.get_untracked() {
                api::unpublish(project_id).await
            } else {
                api::publish(project_id).await
            };
            match outcome {
                Ok(p) => {
                    let now = p.published.unwrap_or(false);
                    published.set(now);
                    set_status.set(Some(
                        if now {
                            "Published."
                        } else {
                            "Unpublished: the project is a draft again."
                        }
                        .into(),
                    ));
                }
                Err(e) => set_status.set(Some(e.to_string())),
            }
        });
    };
    let rotate = move |_| {
        let sure = web_sys::window().is_some_and(|w| {
            w.confirm_with_message(
                "Make a new project secret? Apps signing in external users with the old one stop working at once.",
            )
            .unwrap_or(false)
        });
        if !sure {
            return;
        }
        spawn_local(async move {
            match api::rotate_secret(project_id).await {
                Ok(p) => {
                    secret.set(
                        p.get("secret_key")
                            .and_then(Value::as_str)
                            .map(str::to_owned),
                    );
                    set_status.set(Some(
                        "A new secret is in place; the old one is refused from now on.".into(),
                    ));
                }
                Err(e) => set_status.set(Some(e.to_string())),
            }
        });
    };
    let expected = short_name.clone();
    let matches = move || confirm_text.get().trim() == expected;
    let delete = move |_| {
        spawn_local(async move {
            match api::delete_project(project_id).await {
                Ok(()) => {
                    if let Some(w) = web_sys::window() {
                        let _ = w.location().set_href("/");
                    }
                }
                Err(e) => set_status.set(Some(e.to_string())),
            }
        });
    };
    view! {
        <section class="settings" aria-label="Settings">
            <h2 class="section-title">"Visibility"</h2>
            <p class="muted">{move || if published.get() {
                "Published: listed on the site, and volunteers get its tasks."
            } else {
                "Draft: only its owners see it."
            }}</p>
            <button type="button" class="button button-quiet" on:click=toggle>
                {move || if published.get() { "Unpublish" } else { "Publish" }}
            </button>
            <h2 class="section-title">"Project secret"</h2>
            <p class="muted">"Apps that sign in their own users (external users) use it to get project tokens."</p>
            {move || secret.get().map(|s| view! { <p>"New secret: " <code class="api-key">{s}</code></p> })}
            <button type="button" class="button button-quiet" on:click=rotate>"Make a new secret"</button>
            <h2 class="section-title">"Delete this project"</h2>
            <p class="muted">{format!(
                "Deletes “{name}” with all its tasks, answers, results and files. This cannot be undone. Type its short name, {short_name}, to confirm."
            )}</p>
            <label class="field inline">
                <span>"Short name"</span>
                <input type="text" autocomplete="off" prop:value=confirm_text
                    on:input=move |ev| confirm_text.set(event_target_value(&ev))/>
            </label>
            <button type="button" class="button button-danger" disabled=move || !matches() on:click=delete>
                {format!("Delete {short_name}")}
            </button>
            <p role="status" class="muted">{move || status.get()}</p>
        </section>
    }
}
