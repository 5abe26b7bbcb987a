//! `/project/{short_name}/review`: the owner's review of doubtful results, least sure first.
//! Each shows its task in the project's presenter (read-only: nothing is answered there), its
//! answers, and the verdicts: accept the aggregate, pick an answer, write the right one, reopen
//! the task for more answers, or make a gold task from it. Also the charts the Quality page
//! shows: how sure results are, and a volunteer's confusion matrix.

use leptos::html::Iframe;
use leptos::prelude::*;
use leptos::task::spawn_local;
use serde_json::{Value, json};

use crate::api::{self, Project, ReviewItem};
use crate::components::presenter::{
    FrameEnv, PresenterFrame, frame_document, presenter_for, readonly_handler,
};
use crate::components::{Pager, loaded};
use crate::pages::quality::gold_text;

/// The value a result stands for: the reviewer's final answer, else its aggregate's value (an
/// object of the fields' values for object answers).
pub fn result_value(info: &Value) -> Option<Value> {
    if let Some(v) = info.pointer("/final/value") {
        return Some(v.clone());
    }
    let agg = info.get("aggregate")?;
    if let Some(fields) = agg.get("fields").and_then(Value::as_object) {
        let values: serde_json::Map<String, Value> = fields
            .iter()
            .map(|(k, f)| (k.clone(), f.get("value").cloned().unwrap_or(Value::Null)))
            .collect();
        return Some(Value::Object(values));
    }
    agg.get("value").cloned().filter(|v| !v.is_null())
}

/// Makes a gold task from a result: the task's `info` again, with the result's value as the
/// correct answer. Returns the new task's id.
pub async fn promote_to_gold(project_id: i64, task_id: i64, answer: Value) -> Result<i64, String> {
    let task = api::task(task_id).await.map_err(|e| e.to_string())?;
    let info = task.get("info").cloned().unwrap_or(Value::Null);
    let created = api::create_task(json!({
        "project_id": project_id, "info": info, "calibration": 1, "gold_answers": answer,
    }))
    .await
    .map_err(|e| e.to_string())?;
    created
        .get("id")
        .and_then(Value::as_i64)
        .ok_or_else(|| "the new task has no id".to_owned())
}

fn percent(c: Option<f64>) -> String {
    c.map_or("—".to_owned(), |c| format!("{:.0}%", c * 100.0))
}

#[component]
pub fn ReviewPage(project: Project) -> impl IntoView {
    let pid = project.id;
    let offset = RwSignal::new(0u64);
    let queue = LocalResource::new(move || api::review_queue(pid, offset.get()));
    // Counts verdicts, so the histogram's review count follows them.
    let verdicts = RwSignal::new(0u32);
    let info = project.info.clone();
    view! {
        <section class="editor-section" aria-labelledby="review-h">
            <h2 id="review-h">"Review"</h2>
            <p class="muted">
                "Results not reviewed yet, the least sure first. Accept the result, pick the right answer, "
                "write it yourself, or ask for more answers. Exports carry your verdict as "
                <code>"final"</code> " beside the aggregate."
            </p>
            <ConfidenceHistogram project_id=pid refresh=verdicts/>
            {loaded(queue, "the review queue", move |page| {
                if page.items.is_empty() {
                    return view! { <p class="muted">"Nothing waits for review."</p> }.into_any();
                }
                let more = page.has_more;
                let info = info.clone();
                view! {
                    <ol class="review-list">
                        {page.items.into_iter().map(|item| view! {
                            <li><ReviewCard project_id=pid info=info.clone() item=item on_done=move || { verdicts.update(|n| *n += 1); queue.refetch(); }/></li>
                        }).collect_view()}
                    </ol>
                    <Pager offset=offset step=10 more=more/>
                }
                .into_any()
            })}
        </section>
    }
}

#[component]
fn ReviewCard(
    project_id: i64,
    info: Value,
    item: ReviewItem,
    on_done: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let rid = item.result_id;
    let tid = item.task_id;
    let status = RwSignal::new(None::<(bool, String)>);
    let expert = RwSignal::new(String::new());
    let more = RwSignal::new("1".to_owned());
    let show = RwSignal::new(false);
    let agg = item.aggregate.clone().unwrap_or(Value::Null);
    let value = result_value(&json!({ "aggregate": agg }));
    let send = move |verdict: Value, done: &'static str| {
        spawn_local(async move {
            match api::review_result(project_id, rid, verdict).await {
                Ok(_) => {
                    status.set(Some((true, done.to_owned())));
                    on_done();
                }
                Err(e) => status.set(Some((false, e.to_string()))),
            }
        });
    };
    let promote = {
        let value = value.clone();
        move |_| {
            let Some(answer) = value.clone() else {
                status.set(Some((
                    false,
                    "This result has no value to make gold.".into(),
                )));
                return;
            };
            spawn_local(async move {
                match promote_to_gold(project_id, tid, answer).await {
                    Ok(id) => status.set(Some((
                        true,
                        format!("Gold task #{id} created from this result."),
                    ))),
                    Err(e) => status.set(Some((false, e))),
                }
            });
        }
    };
    let submit_expert = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let text = expert.get_untracked();
        let answer = match text.trim() {
            "" => {
                status.set(Some((false, "Write the right answer first.".into())));
                return;
            }
            t => serde_json::from_str::<Value>(t).unwrap_or_else(|_| Value::String(t.to_owned())),
        };
        send(
            json!({"action": "expert", "answer": answer}),
            "Saved your answer.",
        );
    };
    let reopen = move |_| match more.get_untracked().trim().parse::<i64>() {
        Ok(n) if (1..=100).contains(&n) => send(
            json!({"action": "reopen", "answers": n}),
            "Reopened: the task takes more answers.",
        ),
        _ => status.set(Some((false, "Ask for 1 to 100 more answers.".into()))),
    };
    let task = json!({"id": tid, "project_id": project_id, "info": item.task_info.clone().unwrap_or(Value::Null)});
    let frame = NodeRef::<Iframe>::new();
    let doc = frame_document(&presenter_for(&info), &FrameEnv::of(&info));
    view! {
        <article class="review-card" aria-label=format!("Result of task {tid}")>
            <header class="review-head">
                <h3>{format!("Task #{tid}")}</h3>
                <span class="badge">{format!("{} sure", percent(item.confidence))}</span>
                <span>"Result: " <strong>{value.as_ref().map(gold_text).unwrap_or_else(|| "none".into())}</strong></span>
            </header>
            <ul class="review-answers">
                {item.answers.iter().map(|a| {
                    let run = a.task_run_id;
                    let text = a.info.as_ref().map(gold_text).unwrap_or_default();
                    view! {
                        <li class:excluded=a.excluded>
                            <span class="cell-data">{text}</span>
                            <span class="post-meta">{a.volunteer.clone()}{a.excluded.then_some(" · excluded")}</span>
                            <button type="button" class="button button-quiet"
                                on:click=move |_| send(json!({"action": "pick", "task_run_id": run}), "Picked that answer.")>"Pick"</button>
                        </li>
                    }
                }).collect_view()}
            </ul>
            <p>
                <button type="button" class="button button-quiet" aria-expanded=move || show.get().to_string()
                    on:click=move |_| show.update(|s| *s = !*s)>
                    {move || if show.get() { "Hide the task" } else { "Show the task" }}
                </button>
            </p>
            <Show when=move || show.get()>
                <div class="presenter">
                    <PresenterFrame document=doc.clone() frame=frame
                        on_message=readonly_handler(frame, task.clone()) project=project_id/>
                </div>
            </Show>
            <div class="review-actions">
                <button type="button" class="button"
                    on:click=move |_| send(json!({"action": "accept"}), "Accepted.")>"Accept the result"</button>
                <form class="inline-form" on:submit=submit_expert>
                    <label class="field inline">
                        <span>"Right answer"</span>
                        <input type="text" prop:value=expert on:input=move |ev| expert.set(event_target_value(&ev))/>
                    </label>
                    <button type="submit" class="button button-quiet">"Save as final"</button>
                </form>
                <label class="field inline">
                    <span>"More answers"</span>
                    <input type="number" min="1" max="100" class="short" prop:value=more
                        on:input=move |ev| more.set(event_target_value(&ev))/>
                </label>
                <button type="button" class="button button-quiet" on:click=reopen>"Reopen"</button>
                <button type="button" class="button button-quiet" on:click=promote>"Make a gold task from it"</button>
            </div>
            {move || status.get().map(|(ok, m)| if ok {
                view! { <p class="muted" role="status">{m}</p> }.into_any()
            } else {
                view! { <p class="form-error" role="alert">{m}</p> }.into_any()
            })}
        </article>
    }
}

/// How sure the project's results are: a bar per tenth of confidence.
#[component]
pub fn ConfidenceHistogram(
    project_id: i64,
    /// Read again whenever this changes.
    #[prop(optional)]
    refresh: Option<RwSignal<u32>>,
) -> impl IntoView {
    let summary = LocalResource::new(move || {
        if let Some(r) = refresh {
            r.track();
        }
        api::quality_summary(project_id)
    });
    view! {
        {loaded(summary, "the confidence of results", |s| {
            if s.results == 0 {
                return view! { <p class="muted">"No results yet."</p> }.into_any();
            }
            let max = s.histogram.iter().copied().max().unwrap_or(0).max(1) as f64;
            let (w, h) = (400.0, 120.0);
            let bar = w / 10.0;
            let desc = s.histogram.iter().enumerate()
                .map(|(i, n)| format!("{}–{}%: {n}", i * 10, i * 10 + 10))
                .collect::<Vec<_>>()
                .join(", ");
            view! {
                <figure class="chart">
                    <figcaption>
                        "How sure results are"
                        <span class="muted">{format!(" · {} results ({}), {} reviewed", s.results, s.method.replace('_', "-"), s.reviewed)}</span>
                    </figcaption>
                    <svg viewBox=format!("0 0 {w} {}", h + 18.0) role="img" aria-label=format!("Results by confidence: {desc}")>
                        {s.histogram.iter().enumerate().map(|(i, n)| {
                            let bh = *n as f64 / max * h;
                            view! {
                                <rect class="bar" x=i as f64 * bar + 2.0 y=h - bh width=bar - 4.0 height=bh.max(0.5)>
                                    <title>{format!("{}–{}% sure: {n}", i * 10, i * 10 + 10)}</title>
                                </rect>
                                <text class="chart-label" x=i as f64 * bar + bar / 2.0 y=h + 14.0 text-anchor="middle">{format!("{}", i * 10)}</text>
                            }
                        }).collect_view()}
                        <line x1="0" y1=h x2=w y2=h class="axis"/>
                    </svg>
                </figure>
            }
            .into_any()
        })}
    }
}

/// One field's confusion matrix as a grid: rows are the true class, columns the answer given,
/// darker where more likely.
#[component]
pub fn ConfusionChart(field: String, classes: Vec<String>, matrix: Vec<Vec<f64>>) -> impl IntoView {
    let k = classes.len().max(1);
    let cell = 36.0;
    let label = 90.0;
    let size = label + cell * k as f64;
    let desc = format!(
        "Confusion matrix for {field}: {}",
        classes
            .iter()
            .zip(&matrix)
            .enumerate()
            .map(|(i, (c, row))| format!(
                "true {c}: {:.0}% right",
                row.get(i).copied().unwrap_or(0.0) * 100.0
            ))
            .collect::<Vec<_>>()
            .join(", ")
    );
    view! {
        <figure class="chart confusion">
            <figcaption>{format!("“{field}”: rows are the true answer, columns what they answered")}</figcaption>
            <svg viewBox=format!("0 0 {size} {size}") role="img" aria-label=desc width=size.min(480.0)>
                {classes.iter().enumerate().map(|(i, c)| view! {
                    <text class="chart-label" x=label - 6.0 y=label + cell * i as f64 + cell / 2.0 + 4.0 text-anchor="end">{c.clone()}</text>
                    <text class="chart-label" x=label + cell * i as f64 + cell / 2.0 y=label - 8.0 text-anchor="middle">{c.clone()}</text>
                }).collect_view()}
                {matrix.iter().enumerate().flat_map(|(r, row)| {
                    row.iter().enumerate().map(move |(c, p)| {
                        let p = p.clamp(0.0, 1.0);
                        view! {
                            <rect x=label + cell * c as f64 y=label + cell * r as f64 width=cell - 2.0 height=cell - 2.0
                                fill="currentColor" fill-opacity=format!("{:.3}", 0.08 + 0.92 * p) class="cell">
                                <title>{format!("{:.0}%", p * 100.0)}</title>
                            </rect>
                            <text class="chart-label cell-value" x=label + cell * c as f64 + cell / 2.0 - 1.0
                                y=label + cell * r as f64 + cell / 2.0 + 4.0 text-anchor="middle">{format!("{:.0}", p * 100.0)}</text>
                        }
                    }).collect::<Vec<_>>()
                }).collect_view()}
            </svg>
        </figure>
    }
}
