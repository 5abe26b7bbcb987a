//! `/project/{short_name}/quality`: the owner's quality control. The settings of
//! `info.quality` with what each does, how sure the results are, the project's gold (test)
//! tasks, and the volunteers with their gold counts, accuracy, skill, quiz standing and
//! confusion matrix, each of whom the owner may exclude. Tasks become gold on their own page,
//! results on the review page.

use leptos::prelude::*;
use leptos::task::spawn_local;
use serde_json::{Value, json};

use crate::api::{self, Project};
use crate::components::{Pager, format_date, loaded};
use crate::pages::review::{ConfidenceHistogram, ConfusionChart};

#[component]
pub fn QualityPage(project: Project) -> impl IntoView {
    let info = RwSignal::new(project.info.clone());
    let pid = project.id;
    let base = project.href();
    view! {
        <QualitySettings project_id=pid info=info/>
        <section class="editor-section" aria-labelledby="q-results">
            <h2 id="q-results">"Results"</h2>
            <ConfidenceHistogram project_id=pid/>
            <p><a href=format!("{base}/review")>"Review the least sure results"</a></p>
        </section>
        <GoldTasks project_id=pid base=base/>
        <Volunteers project_id=pid info=info/>
    }
}

/// A form's outcome: a quiet status when saved, an alert when not.
fn outcome(status: RwSignal<Option<(bool, String)>>) -> impl IntoView {
    move || {
        status.get().map(|(ok, m)| {
            if ok {
                view! { <p class="muted" role="status">{m}</p> }.into_any()
            } else {
                view! { <p class="form-error" role="alert">{m}</p> }.into_any()
            }
        })
    }
}

fn number_of(v: &Value, key: &str) -> Option<f64> {
    v.get(key).and_then(Value::as_f64)
}

/// A percentage typed by the owner as a ratio from 0 to 1.
fn ratio(text: &str, what: &str) -> Result<f64, String> {
    match text.trim().trim_end_matches('%').trim().parse::<f64>() {
        Ok(p) if (0.0..=100.0).contains(&p) => Ok(p / 100.0),
        _ => Err(format!("{what} is a percentage from 0 to 100.")),
    }
}

fn percent(r: f64) -> String {
    let p = (r * 1000.0).round() / 10.0;
    if p.fract() == 0.0 {
        format!("{p:.0}")
    } else {
        format!("{p}")
    }
}

#[component]
fn QualitySettings(project_id: i64, info: RwSignal<Value>) -> impl IntoView {
    let current = info
        .get_untracked()
        .get("quality")
        .cloned()
        .unwrap_or(json!({}));
    let gold_rate = RwSignal::new(percent(number_of(&current, "gold_rate").unwrap_or(0.1)));
    let quiz = current.get("quiz").filter(|q| q.is_object()).cloned();
    let quiz_on = RwSignal::new(quiz.is_some());
    let quiz_tasks = RwSignal::new(
        quiz.as_ref()
            .and_then(|q| number_of(q, "tasks"))
            .map_or("5".to_owned(), |n| format!("{n:.0}")),
    );
    let pass = RwSignal::new(percent(
        quiz.as_ref()
            .and_then(|q| number_of(q, "pass_ratio"))
            .unwrap_or(0.8),
    ));
    let feedback = RwSignal::new(current.get("feedback") == Some(&Value::Bool(true)));
    let aggregation = RwSignal::new(
        current
            .get("aggregation")
            .and_then(Value::as_str)
            .unwrap_or("majority")
            .to_owned(),
    );
    let retire = current.get("retire").filter(|r| r.is_object()).cloned();
    let retire_on = RwSignal::new(retire.is_some());
    let min_answers = RwSignal::new(
        retire
            .as_ref()
            .and_then(|r| number_of(r, "min_answers"))
            .map_or("3".to_owned(), |n| format!("{n:.0}")),
    );
    let sure = RwSignal::new(percent(
        retire
            .as_ref()
            .and_then(|r| number_of(r, "confidence"))
            .unwrap_or(0.95),
    ));
    let status = RwSignal::new(None::<(bool, String)>);
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let built = (|| -> Result<Value, String> {
            let mut merged = info.get_untracked();
            if !merged.is_object() {
                merged = json!({});
            }
            // The settings this form does not show (compare) are kept.
            let mut quality = merged
                .get("quality")
                .filter(|q| q.is_object())
                .cloned()
                .unwrap_or(json!({}));
            quality["gold_rate"] = json!(ratio(&gold_rate.get_untracked(), "The gold share")?);
            quality["feedback"] = json!(feedback.get_untracked());
            quality["aggregation"] = json!(aggregation.get_untracked());
            if retire_on.get_untracked() {
                let min = min_answers
                    .get_untracked()
                    .trim()
                    .parse::<u32>()
                    .ok()
                    .filter(|n| (1..=1000).contains(n))
                    .ok_or("A task needs from 1 to 1000 answers before it can retire.")?;
                let c = ratio(&sure.get_untracked(), "The confidence")?;
                if c <= 0.0 {
                    return Err("The confidence is above 0%.".into());
                }
                quality["retire"] = json!({ "min_answers": min, "confidence": c });
            } else if let Some(q) = quality.as_object_mut() {
                q.remove("retire");
            }
            if quiz_on.get_untracked() {
                let tasks = quiz_tasks
                    .get_untracked()
                    .trim()
                    .parse::<u32>()
                    .ok()
                    .filter(|n| (1..=1000).contains(n))
                    .ok_or("The quiz has from 1 to 1000 tasks.")?;
                quality["quiz"] = json!({
                    "tasks": tasks,
                    "pass_ratio": ratio(&pass.get_untracked(), "The pass mark")?,
                });
            } else if let Some(q) = quality.as_object_mut() {
                q.remove("quiz");
            }
            merged["quality"] = quality;
            Ok(merged)
        })();
        let merged = match built {
            Ok(m) => m,
            Err(e) => {
                status.set(Some((false, e)));
                return;
            }
        };
        spawn_local(async move {
            match api::save_project(Some(project_id), json!({ "info": merged })).await {
                Ok(p) => {
                    info.set(p.info);
                    status.set(Some((true, "Quality settings saved.".into())));
                }
                Err(e) => status.set(Some((false, format!("Not saved: {e}")))),
            }
        });
    };
    let text = move |label: &'static str, value: RwSignal<String>, hint: &'static str| {
        view! {
            <label class="field">
                <span>{label}</span>
                <input type="text" inputmode="decimal" prop:value=value
                    on:input=move |ev| value.set(event_target_value(&ev))/>
                <small class="muted">{hint}</small>
            </label>
        }
    };
    view! {
        <section class="editor-section" aria-labelledby="q-settings">
            <h2 id="q-settings">"Quality settings"</h2>
            <p class="muted">
                "Gold tasks are tasks whose answer you know. They are mixed into what volunteers get, "
                "never complete and never count as work; their answers tell how well each volunteer does."
            </p>
            <form class="form narrow" on:submit=save>
                {text("Share of gold tasks (%)", gold_rate,
                    "Of the tasks a volunteer gets after the quiz, this share are gold tasks they have not answered yet.")}
                <label class="check">
                    <input type="checkbox" prop:checked=quiz_on on:change=move |ev| quiz_on.set(event_target_checked(&ev))/>
                    " Start with a quiz"
                </label>
                <Show when=move || quiz_on.get()>
                    {text("Quiz tasks", quiz_tasks, "A volunteer's first tasks are this many gold tasks.")}
                    {text("Pass mark (%)", pass, "Below this share of right answers in the quiz, a volunteer gets no more tasks and is told why.")}
                </Show>
                <label class="check">
                    <input type="checkbox" prop:checked=feedback on:change=move |ev| feedback.set(event_target_checked(&ev))/>
                    " Tell volunteers the right answer after each gold task"
                </label>
                <label class="field">
                    <span>"How answers become a result"</span>
                    <select on:change=move |ev| aggregation.set(event_target_value(&ev))>
                        <option value="majority" selected=move || aggregation.get() == "majority">"Majority: the most given answer"</option>
                        <option value="weighted" selected=move || aggregation.get() == "weighted">"Weighted: votes count by each volunteer's gold accuracy"</option>
                        <option value="dawid_skene" selected=move || aggregation.get() == "dawid_skene">"Dawid–Skene: learns how each volunteer errs, from all answers"</option>
                    </select>
                    <small class="muted">
                        "Every result gets a confidence: how likely its answer is right. Dawid–Skene also "
                        "learns who confuses which answers and who answers at random, and revises earlier "
                        "results as answers come in."
                    </small>
                </label>
                <label class="check">
                    <input type="checkbox" prop:checked=retire_on on:change=move |ev| retire_on.set(event_target_checked(&ev))/>
                    " Finish a task early when its answers agree"
                </label>
                <Show when=move || retire_on.get()>
                    {text("Answers at least", min_answers, "A task never finishes with fewer answers than this. It is handed to this many volunteers at once, then to one more at a time while their answers disagree.")}
                    {text("Confidence (%)", sure, "Once this sure of its result, a task finishes; otherwise it takes answers up to its number of answers.")}
                </Show>
                <p><button type="submit" class="button">"Save quality settings"</button></p>
                {outcome(status)}
            </form>
        </section>
    }
}

/// A gold answer as a short text: the value, or `field: value` pairs.
pub fn gold_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| {
                format!(
                    "{k}: {}",
                    v.as_str().map_or_else(|| v.to_string(), str::to_owned)
                )
            })
            .collect::<Vec<_>>()
            .join(", "),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[component]
fn GoldTasks(project_id: i64, base: String) -> impl IntoView {
    let gold = LocalResource::new(move || api::gold_tasks(project_id));
    view! {
        <section class="editor-section" aria-labelledby="q-gold">
            <h2 id="q-gold">"Gold tasks"</h2>
            <p class="muted">
                "Make a task gold from its page (open it from the task list): answer it in the preview, "
                "then keep that answer as the correct one. Imports take " <code>"calibration"</code>
                " and " <code>"gold_answers"</code> " columns."
            </p>
            {loaded(gold, "the gold tasks", move |tasks| {
                if tasks.is_empty() {
                    return view! { <p class="muted">"No gold tasks yet."</p> }.into_any();
                }
                let base = base.clone();
                view! {
                    <p>{format!("{} gold task{}", tasks.len(), if tasks.len() == 1 { "" } else { "s" })}</p>
                    <ul class="editor-rows">
                        {tasks.into_iter().map(|t| {
                            let id = t.get("id").and_then(Value::as_i64).unwrap_or_default();
                            let answers = t.get("n_task_runs").and_then(Value::as_i64).unwrap_or_default();
                            let expected = gold_text(t.get("gold_answers").unwrap_or(&Value::Null));
                            view! {
                                <li>
                                    <a href=format!("{base}/task/{id}")>{format!("Task #{id}")}</a>
                                    <span>"Correct answer: " <strong>{expected}</strong></span>
                                    <span class="post-meta">{format!("{answers} answer{}", if answers == 1 { "" } else { "s" })}</span>
                                </li>
                            }
                        }).collect_view()}
                    </ul>
                }
                .into_any()
            })}
        </section>
    }
}

#[component]
fn Volunteers(project_id: i64, info: RwSignal<Value>) -> impl IntoView {
    let order = RwSignal::new("answers".to_owned());
    let offset = RwSignal::new(0u64);
    let page = LocalResource::new(move || {
        let (orderby, desc) = match order.get().as_str() {
            "accuracy-low" => ("accuracy", false),
            "accuracy" => ("accuracy", true),
            "last_answer" => ("last_answer", true),
            _ => ("answers", true),
        };
        api::volunteers(project_id, orderby, desc, offset.get())
    });
    let has_quiz = move || {
        info.get()
            .pointer("/quality/quiz")
            .is_some_and(Value::is_object)
    };
    let pct = |r: Option<f64>| r.map_or("—".to_owned(), |r| format!("{}%", percent(r)));
    let status = RwSignal::new(None::<(bool, String)>);
    // The volunteer whose confusion matrix is shown, with their matrices.
    let matrix = RwSignal::new(None::<(String, Value)>);
    let toggle = move |key: String, exclude: bool| {
        spawn_local(async move {
            match api::set_excluded(project_id, &key, exclude).await {
                Ok(_) => {
                    status.set(Some((
                        true,
                        if exclude {
                            "Excluded: their answers no longer count; results are being updated."
                        } else {
                            "Their answers count again; results are being updated."
                        }
                        .into(),
                    )));
                    page.refetch();
                }
                Err(e) => status.set(Some((false, e.to_string()))),
            }
        });
    };
    view! {
        <section class="editor-section" aria-labelledby="q-volunteers">
            <h2 id="q-volunteers">"Volunteers"</h2>
            <label class="field inline">
                <span>"Order by"</span>
                <select on:change=move |ev| { offset.set(0); order.set(event_target_value(&ev)); }>
                    <option value="answers">"Most answers"</option>
                    <option value="accuracy-low">"Lowest accuracy"</option>
                    <option value="accuracy">"Highest accuracy"</option>
                    <option value="last_answer">"Latest answer"</option>
                </select>
            </label>
            {loaded(page, "the volunteers", move |p| {
                if p.items.is_empty() && offset.get_untracked() == 0 {
                    return view! { <p class="muted">"Nobody has answered yet."</p> }.into_any();
                }
                let quiz = has_quiz();
                let more = p.has_more;
                view! {
                    <div class="table-wrap">
                        <table class="table volunteers-table">
                            <thead><tr>
                                <th scope="col">"Volunteer"</th>
                                <th scope="col">"Answers"</th>
                                <th scope="col">"Gold right"</th>
                                <th scope="col">"Accuracy"</th>
                                <th scope="col" title="The estimated chance that their answer is right">"Skill"</th>
                                {quiz.then(|| view! { <th scope="col">"Quiz"</th> })}
                                <th scope="col">"Last answer"</th>
                                <th scope="col"><span class="visually-hidden">"Actions"</span></th>
                            </tr></thead>
                            <tbody>
                                {p.items.into_iter().map(|v| {
                                    let who = v.name.clone()
                                        .or_else(|| v.external_uid.clone().map(|x| format!("{x} (external)")))
                                        .unwrap_or_else(|| "Anonymous".to_owned());
                                    let key = v.volunteer.clone();
                                    let excluded = v.excluded;
                                    let confusion = v.confusion.clone();
                                    let shown_as = who.clone();
                                    view! {
                                        <tr class:excluded=excluded>
                                            <td title=v.volunteer.clone()>{who}{excluded.then_some(" (excluded)")}</td>
                                            <td>{v.answers}</td>
                                            <td>{format!("{} of {}", v.gold_correct, v.gold_seen)}</td>
                                            <td>{pct(v.accuracy)}</td>
                                            <td>{pct(v.skill)}</td>
                                            {quiz.then(|| view! { <td>{v.quiz.clone().unwrap_or_default()}</td> })}
                                            <td>{v.last_answer.as_deref().map(format_date).unwrap_or_default()}</td>
                                            <td class="row-actions">
                                                {confusion.map(|c| view! {
                                                    <button type="button" class="button button-quiet"
                                                        on:click=move |_| matrix.set(Some((shown_as.clone(), c.clone())))>"Matrix"</button>
                                                })}
                                                <button type="button" class="button button-quiet"
                                                    on:click=move |_| toggle(key.clone(), !excluded)>
                                                    {if excluded { "Count again" } else { "Exclude" }}
                                                </button>
                                            </td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                    {outcome(status)}
                    {move || matrix.get().map(|(who, m)| {
                        let fields: Vec<(String, Vec<String>, Vec<Vec<f64>>)> = m.as_object().map(|o| o.iter().map(|(f, v)| {
                            let classes = v.get("classes").and_then(Value::as_array).map(|a| a.iter().map(|c| c.as_str().unwrap_or("").to_owned()).collect()).unwrap_or_default();
                            let rows = v.get("matrix").and_then(Value::as_array).map(|a| a.iter().map(|r| r.as_array().map(|r| r.iter().filter_map(Value::as_f64).collect()).unwrap_or_default()).collect()).unwrap_or_default();
                            (f.clone(), classes, rows)
                        }).collect()).unwrap_or_default();
                        view! {
                            <div class="matrix-panel">
                                <h3>{format!("How {who} answers")}</h3>
                                {fields.into_iter().map(|(f, c, r)| view! { <ConfusionChart field=f classes=c matrix=r/> }).collect_view()}
                                <button type="button" class="button button-quiet" on:click=move |_| matrix.set(None)>"Close"</button>
                            </div>
                        }
                    })}
                    <Pager offset=offset step=50 more=more/>
                }
                .into_any()
            })}
        </section>
    }
}

/// On a task's page, for its owners: whether it is a gold task and its correct answer, which
/// may be the answer just given in the preview.
#[component]
pub fn GoldPanel(task: Value, preview_answer: ReadSignal<Option<String>>) -> impl IntoView {
    let id = task.get("id").and_then(Value::as_i64).unwrap_or_default();
    let is_gold = RwSignal::new(task.get("calibration").and_then(Value::as_i64) == Some(1));
    let expected = RwSignal::new(match task.get("gold_answers") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    });
    let completed = task.get("state").and_then(Value::as_str) == Some("completed");
    let status = RwSignal::new(None::<(bool, String)>);
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let text = expected.get_untracked();
        let gold = is_gold.get_untracked();
        // JSON when it reads as JSON (a number, an object), else the text itself.
        let answer = match text.trim() {
            "" => Value::Null,
            t => serde_json::from_str::<Value>(t).unwrap_or_else(|_| Value::String(t.to_owned())),
        };
        if gold && answer.is_null() {
            status.set(Some((
                false,
                "A gold task needs its correct answer.".into(),
            )));
            return;
        }
        let body = json!({ "calibration": i32::from(gold), "gold_answers": answer });
        spawn_local(async move {
            match api::update_task(id, body).await {
                Ok(_) => status.set(Some((
                    true,
                    if gold {
                        "Saved: this is a gold task."
                    } else {
                        "Saved: an ordinary task."
                    }
                    .into(),
                ))),
                Err(e) => status.set(Some((false, e.to_string()))),
            }
        });
    };
    view! {
        <section class="editor-section gold-panel" aria-labelledby="gold-h">
            <h2 id="gold-h">"Gold task"</h2>
            {completed.then(|| view! {
                <p class="muted">"A completed task cannot become gold; its result is final."</p>
            })}
            <form class="form narrow" on:submit=save>
                <label class="check">
                    <input type="checkbox" prop:checked=is_gold disabled=completed && !is_gold.get_untracked()
                        on:change=move |ev| is_gold.set(event_target_checked(&ev))/>
                    " A gold (test) task: volunteers' answers to it are checked against the correct answer"
                </label>
                <label class="field">
                    <span>"Correct answer"</span>
                    <textarea rows=2 prop:value=expected on:input=move |ev| expected.set(event_target_value(&ev))></textarea>
                    <small class="muted">"Text, a number, or a JSON object of fields (each is checked on its own)."</small>
                </label>
                {move || preview_answer.get().map(|a| view! {
                    <p>
                        <button type="button" class="button button-quiet"
                            on:click=move |_| expected.set(match serde_json::from_str::<Value>(&a) {
                                Ok(Value::String(s)) => s,
                                _ => a.clone(),
                            })>"Use the answer given in the preview"</button>
                    </p>
                })}
                <p><button type="submit" class="button">"Save"</button></p>
                {outcome(status)}
            </form>
        </section>
    }
}
