//! Owners: create and edit a project (with a live presenter preview), import tasks.

use leptos::html::Iframe;
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::{use_navigate, use_params_map};
use serde_json::{Map, Value, json};

use crate::api::{self, Project};
use crate::components::presenter::{
    PresenterFrame, frame_document, presenter_for, preview_handler,
};
use crate::components::{ErrorState, route_project};
use crate::session::use_session;

/// A sample the preview shows: an image (no network needed) and a line of text.
fn sample_task() -> Value {
    let image = "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' width='320' height='180'%3E%3Crect width='320' height='180' fill='%230f766e'/%3E%3Ccircle cx='160' cy='90' r='50' fill='%23e0a526'/%3E%3C/svg%3E";
    json!({"id": 0, "info": {"url_m": image, "text": "An example task"}})
}

/// `/project/new` and `/project/{short_name}/update`.
#[component]
pub fn ProjectEditorPage() -> impl IntoView {
    let params = use_params_map();
    let short_name = move || params.read().get("short_name");
    let session = use_session();
    let project = LocalResource::new(move || {
        let sn = short_name();
        async move {
            match sn {
                Some(sn) => api::project_by_short_name(sn).await,
                None => Ok(None),
            }
        }
    });
    view! {
        <div class="container section">
            {move || {
                if !session.signed_in() {
                    return view! {
                        <h1>"Sign in to manage projects"</h1>
                        <a class="button" href="/account/signin">"Sign in"</a>
                    }.into_any();
                }
                match (short_name(), project.get()) {
                    (None, _) => view! { <ProjectEditor existing=None/> }.into_any(),
                    (Some(_), None) => view! { <p role="status">"Loading…"</p> }.into_any(),
                    (Some(_), Some(Err(e))) => view! {
                        <ErrorState title="The project could not be loaded" error=e on_retry=move || project.refetch()/>
                    }.into_any(),
                    (Some(_), Some(Ok(None))) => view! { <h1>"Project not found"</h1> }.into_any(),
                    (Some(_), Some(Ok(Some(p)))) => view! { <ProjectEditor existing=Some(p)/> }.into_any(),
                }
            }}
        </div>
    }
}

const SCHEDULERS: [(&str, &str); 7] = [
    ("default", "Depth first: finish tasks one by one"),
    (
        "breadth_first",
        "Breadth first: tasks with fewest answers first",
    ),
    ("depth_first_all", "Depth first, all tasks"),
    (
        "incremental",
        "Incremental: each volunteer sees the last answer",
    ),
    ("random", "Random"),
    ("priority", "By priority (priority_0)"),
    ("locked", "Locked: a task is reserved for its volunteer"),
];

#[component]
fn ProjectEditor(existing: Option<Project>) -> impl IntoView {
    crate::set_title(Some(if existing.is_some() {
        "Edit project"
    } else {
        "New project"
    }));
    let navigate = use_navigate();
    let categories = LocalResource::new(api::categories);
    let info = existing
        .as_ref()
        .map(|p| p.info.clone())
        .unwrap_or_else(|| json!({}));
    let text = |v: Option<&str>| RwSignal::new(v.unwrap_or_default().to_owned());
    let name = text(existing.as_ref().map(|p| p.name.as_str()));
    let short = text(existing.as_ref().map(|p| p.short_name.as_str()));
    let description = text(
        existing
            .as_ref()
            .map(super::super::api::Project::description),
    );
    let long_description = text(
        existing
            .as_ref()
            .and_then(|p| p.long_description.as_deref()),
    );
    let category = RwSignal::new(
        existing
            .as_ref()
            .and_then(|p| p.category_id)
            .map(|c| c.to_string())
            .unwrap_or_default(),
    );
    let thumbnail = text(info.get("thumbnail_url").and_then(Value::as_str));
    let sched = text(Some(
        info.get("sched")
            .and_then(Value::as_str)
            .unwrap_or("default"),
    ));
    let anonymous = RwSignal::new(
        existing
            .as_ref()
            .and_then(|p| p.allow_anonymous_contributors)
            .unwrap_or(true),
    );
    let own_presenter = info
        .get("task_presenter")
        .and_then(Value::as_str)
        .filter(|p| !p.trim().is_empty())
        .map(str::to_owned);
    let template = info.get("template").cloned().unwrap_or(Value::Null);
    let kind = RwSignal::new(if own_presenter.is_some() {
        "custom".to_owned()
    } else {
        template
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or("image")
            .to_owned()
    });
    let question = text(template.get("question").and_then(Value::as_str));
    let choices = RwSignal::new(
        template
            .get("choices")
            .and_then(Value::as_array)
            .map(|c| {
                c.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_else(|| "Yes, No, Not sure".to_owned()),
    );
    let custom = RwSignal::new(own_presenter.unwrap_or_default());
    let (error, set_error) = signal(None::<String>);
    let (busy, set_busy) = signal(false);

    // The presenter part of `info`, as the form stands.
    let presenter_info = move || {
        let mut map = Map::new();
        if kind.get() == "custom" {
            map.insert("task_presenter".into(), json!(custom.get()));
            map.insert("template".into(), Value::Null);
        } else {
            let list: Vec<String> = choices
                .get()
                .split(',')
                .map(|c| c.trim().to_owned())
                .filter(|c| !c.is_empty())
                .collect();
            let mut t = json!({"kind": kind.get(), "choices": list});
            if !question.get().trim().is_empty() {
                t["question"] = json!(question.get().trim());
            }
            map.insert("template".into(), t);
            map.insert("task_presenter".into(), json!(""));
        }
        Value::Object(map)
    };

    let existing_id = existing.as_ref().map(|p| p.id);
    let base_info = info.clone();
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let mut info = base_info.clone();
        if !info.is_object() {
            info = json!({});
        }
        if let (Some(map), Value::Object(p)) = (info.as_object_mut(), presenter_info()) {
            map.extend(p);
            map.insert("sched".into(), json!(sched.get_untracked()));
            let thumb = thumbnail.get_untracked();
            if thumb.trim().is_empty() {
                map.remove("thumbnail_url");
            } else {
                map.insert("thumbnail_url".into(), json!(thumb.trim()));
            }
        }
        let mut body = json!({
            "name": name.get_untracked().trim(),
            "short_name": short.get_untracked().trim(),
            "description": description.get_untracked().trim(),
            "long_description": long_description.get_untracked(),
            "allow_anonymous_contributors": anonymous.get_untracked(),
            "info": info,
        });
        if let Ok(c) = category.get_untracked().parse::<i64>() {
            body["category_id"] = json!(c);
        }
        set_busy.set(true);
        set_error.set(None);
        let navigate = navigate.clone();
        spawn_local(async move {
            match api::save_project(existing_id, body).await {
                Ok(saved) => {
                    let next = if existing_id.is_none() {
                        format!("{}/tasks/import", saved.href())
                    } else {
                        format!("{}/tasks/browse", saved.href())
                    };
                    navigate(&next, Default::default());
                }
                Err(e) => set_error.set(Some(e.to_string())),
            }
            set_busy.set(false);
        });
    };

    // Live preview of the presenter with a sample task; answers stay in the page.
    let frame = NodeRef::<Iframe>::new();
    let (previewed, set_previewed) = signal(None::<String>);
    let preview = move || {
        let doc = frame_document(&presenter_for(&presenter_info()));
        let on_message = preview_handler(frame, sample_task(), move |a| set_previewed.set(Some(a)));
        view! { <PresenterFrame document=doc frame=frame on_message=on_message/> }
    };

    let input = move |label: &'static str,
                      value: RwSignal<String>,
                      required: bool,
                      hint: &'static str| {
        let id = format!("f-{}", label.to_lowercase().replace(' ', "-"));
        let hint_id = format!("{id}-hint");
        let described = (!hint.is_empty()).then(|| hint_id.clone());
        view! {
            <div class="field">
                <label for=id.clone()>{label}</label>
                <input id=id type="text" required=required aria-describedby=described
                    prop:value=value on:input=move |ev| value.set(event_target_value(&ev))/>
                {(!hint.is_empty()).then(|| view! { <small id=hint_id class="muted">{hint}</small> })}
            </div>
        }
    };

    view! {
        <h1>{if existing_id.is_some() { "Edit project" } else { "New project" }}</h1>
        <form class="form editor" on:submit=on_submit>
            <div class="editor-fields">
                {input("Name", name, true, "")}
                {input("Short name", short, true, "Used in links: letters, digits, - _ .")}
                {input("Description", description, true, "One sentence shown on cards")}
                <label class="field">
                    <span>"Long description"</span>
                    <textarea rows="4" prop:value=long_description
                        on:input=move |ev| long_description.set(event_target_value(&ev))></textarea>
                </label>
                <label class="field">
                    <span>"Category"</span>
                    <select prop:value=category on:change=move |ev| category.set(event_target_value(&ev))>
                        <option value="">"Default"</option>
                        {move || categories.get().and_then(Result::ok).unwrap_or_default().into_iter().map(|c| {
                            let id = c.id.to_string();
                            let selected = category.get_untracked() == id;
                            view! { <option value=id selected=selected>{c.name}</option> }
                        }).collect_view()}
                    </select>
                </label>
                {input("Thumbnail URL", thumbnail, false, "An image for the project's card")}
                <label class="field">
                    <span>"How tasks are handed out"</span>
                    <select prop:value=sched on:change=move |ev| sched.set(event_target_value(&ev))>
                        {SCHEDULERS.iter().map(|(value, label)| view! {
                            <option value=*value selected=sched.get_untracked() == *value>{*label}</option>
                        }).collect_view()}
                    </select>
                </label>
                <label class="check">
                    <input type="checkbox" prop:checked=anonymous
                        on:change=move |ev| anonymous.set(event_target_checked(&ev))/>
                    " Anonymous volunteers may contribute"
                </label>
                <fieldset class="field">
                    <legend>"Task presenter"</legend>
                    {[("image", "Image classification"), ("transcription", "Transcription"), ("question", "Question and answer"), ("custom", "My own HTML")]
                        .into_iter()
                        .map(|(value, label)| view! {
                            <label class="check">
                                <input type="radio" name="kind" value=value
                                    prop:checked=move || kind.get() == value
                                    on:change=move |_| kind.set(value.to_owned())/>
                                " " {label}
                            </label>
                        })
                        .collect_view()}
                </fieldset>
                <Show when=move || kind.get() != "custom">
                    {input("Question", question, false, "What volunteers are asked")}
                </Show>
                <Show when=move || kind.get() == "image">
                    {input("Choices", choices, false, "Comma separated")}
                </Show>
                <Show when=move || kind.get() == "custom">
                    <label class="field">
                        <span>"Presenter HTML (pybossa.js API)"</span>
                        <textarea class="code" rows="12" prop:value=custom
                            on:input=move |ev| custom.set(event_target_value(&ev))></textarea>
                    </label>
                </Show>
                {move || error.get().map(|e| view! { <p class="form-error" role="alert">{e}</p> })}
                <button type="submit" class="button" disabled=busy>
                    {move || if busy.get() { "Saving…" } else if existing_id.is_some() { "Save changes" } else { "Create project" }}
                </button>
            </div>
            <section class="editor-preview" aria-label="Preview">
                <h2 class="section-title">"Preview"</h2>
                <div class="presenter">{preview}</div>
                <p class="muted" aria-live="polite">
                    {move || previewed.get().map(|a| format!("The answer would be saved as {a}"))}
                </p>
            </section>
        </form>
    }
}

// ---------------------------------------------------------------------------------------------
// Importing tasks

/// The rows of a CSV file (RFC 4180: quoted fields, doubled quotes, CRLF or LF line ends), read
/// by the `csv` crate; rows may differ in length (the importer names the ones that do).
pub fn parse_csv(text: &str) -> Result<Vec<Vec<String>>, String> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.trim_start_matches('\u{feff}').as_bytes());
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| format!("not a CSV file: {e}"))?;
        let row: Vec<String> = record.iter().map(str::to_owned).collect();
        if !(row.len() == 1 && row[0].trim().is_empty()) {
            rows.push(row);
        }
    }
    Ok(rows)
}

/// One task to create, or why a row cannot be one.
type Parsed = Result<(Value, Option<i64>), String>;

/// Task fields PYBOSSA reads from an import row; every other column goes into `info`.
const TASK_COLUMNS: [&str; 1] = ["n_answers"];

fn rows_from_csv(text: &str) -> Vec<Parsed> {
    let mut rows = match parse_csv(text) {
        Ok(rows) => rows.into_iter(),
        Err(why) => return vec![Err(why)],
    };
    let Some(header) = rows.next() else {
        return vec![Err("the file is empty".into())];
    };
    rows.enumerate()
        .map(|(i, row)| {
            if row.len() != header.len() {
                return Err(format!(
                    "row {}: {} fields, but the header has {}",
                    i + 2,
                    row.len(),
                    header.len()
                ));
            }
            let mut info = Map::new();
            let mut n_answers = None;
            for (key, value) in header.iter().zip(row) {
                if TASK_COLUMNS.contains(&key.as_str()) {
                    n_answers = Some(value.trim().parse::<i64>().map_err(|_| {
                        format!(
                            "row {}: n_answers must be a whole number, not {value:?}",
                            i + 2
                        )
                    })?);
                } else {
                    info.insert(key.trim().to_owned(), json!(value));
                }
            }
            Ok((Value::Object(info), n_answers))
        })
        .collect()
}

fn rows_from_json(text: &str) -> Vec<Parsed> {
    let items = match serde_json::from_str::<Value>(text) {
        Ok(Value::Array(items)) => items,
        Ok(_) => return vec![Err("the JSON file must hold an array of tasks".into())],
        Err(e) => return vec![Err(format!("not valid JSON: {e}"))],
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| match item {
            Value::Object(mut map) => {
                let n_answers = map.get("n_answers").and_then(Value::as_i64);
                let info = match map.remove("info") {
                    Some(info @ Value::Object(_)) => info,
                    _ => {
                        map.remove("n_answers");
                        Value::Object(map)
                    }
                };
                Ok((info, n_answers))
            }
            _ => Err(format!("item {}: a task must be a JSON object", i + 1)),
        })
        .collect()
}

/// `/project/{short_name}/tasks/import`.
#[component]
pub fn ImportTasks() -> impl IntoView {
    crate::set_title(Some("Import tasks"));
    let parsed = RwSignal::new(Vec::<Parsed>::new());
    let file_name = RwSignal::new(String::new());
    let redundancy = RwSignal::new("3".to_owned());
    let progress = RwSignal::new(None::<(usize, usize)>);
    let failures = RwSignal::new(Vec::<String>::new());
    let finished = RwSignal::new(false);

    let on_file = move |ev: leptos::ev::Event| {
        let input: web_sys::HtmlInputElement = event_target(&ev);
        let Some(file) = input.files().and_then(|f| f.get(0)) else {
            return;
        };
        let name = file.name();
        finished.set(false);
        failures.set(Vec::new());
        spawn_local(async move {
            let text = wasm_bindgen_futures::JsFuture::from(file.text())
                .await
                .ok()
                .and_then(|t| t.as_string())
                .unwrap_or_default();
            let rows = if name.to_lowercase().ends_with(".json") {
                rows_from_json(&text)
            } else {
                rows_from_csv(&text)
            };
            file_name.set(name);
            parsed.set(rows);
        });
    };

    let import = move |project_id: i64| {
        let default_n = redundancy
            .get_untracked()
            .trim()
            .parse::<i64>()
            .unwrap_or(3);
        let tasks: Vec<(Value, Option<i64>)> = parsed
            .get_untracked()
            .into_iter()
            .filter_map(Result::ok)
            .collect();
        let total = tasks.len();
        progress.set(Some((0, total)));
        failures.set(Vec::new());
        spawn_local(async move {
            for (i, (info, n)) in tasks.into_iter().enumerate() {
                if let Err(e) = api::create_task(project_id, info, n.unwrap_or(default_n)).await {
                    failures.update(|f| f.push(format!("task {}: {e}", i + 1)));
                }
                progress.set(Some((i + 1, total)));
            }
            finished.set(true);
        });
    };

    view! {
        <div class="container section">
            {route_project(move |p| {
                    let pid = p.id;
                    let browse = format!("{}/tasks/browse", p.href());
                    view! {
                        <nav class="breadcrumb" aria-label="Breadcrumb"><a href=p.href()>"← " {p.name.clone()}</a></nav>
                        <h1>"Import tasks"</h1>
                        <p class="muted">
                            "A CSV file with a header row (each column becomes a field of the task's "
                            <code>"info"</code> "; an " <code>"n_answers"</code> " column sets its redundancy), "
                            "or a JSON array of objects."
                        </p>
                        <div class="form">
                            <label class="field">
                                <span>"File (.csv or .json)"</span>
                                <input type="file" accept=".csv,.json,text/csv,application/json" on:change=on_file/>
                            </label>
                            <label class="field">
                                <span>"Answers per task"</span>
                                <input type="number" min="1" max="1000" prop:value=redundancy
                                    on:input=move |ev| redundancy.set(event_target_value(&ev))/>
                            </label>
                        </div>
                        {move || {
                            let rows = parsed.get();
                            if rows.is_empty() {
                                return ().into_any();
                            }
                            let good: Vec<Value> = rows.iter().filter_map(|r| r.as_ref().ok().map(|(i, _)| i.clone())).collect();
                            let bad: Vec<String> = rows.iter().filter_map(|r| r.as_ref().err().cloned()).collect();
                            let columns: Vec<String> = good.first().and_then(Value::as_object)
                                .map(|m| m.keys().cloned().collect()).unwrap_or_default();
                            let n = good.len();
                            view! {
                                <section class="import-preview" aria-label="Preview">
                                    <h2 class="section-title">{format!("{} — {n} tasks", file_name.get())}</h2>
                                    {(!bad.is_empty()).then(|| view! {
                                        <div class="form-error" role="alert">
                                            <p>{format!("{} {} cannot be imported:", bad.len(), if bad.len() == 1 { "row" } else { "rows" })}</p>
                                            <ul>{bad.into_iter().take(20).map(|b| view! { <li>{b}</li> }).collect_view()}</ul>
                                        </div>
                                    })}
                                    <div class="table-wrap">
                                        <table class="table">
                                            <thead><tr>{columns.iter().map(|c| view! { <th scope="col">{c.clone()}</th> }).collect_view()}</tr></thead>
                                            <tbody>
                                                {good.iter().take(5).map(|row| view! {
                                                    <tr>{columns.iter().map(|c| {
                                                        let cell = match row.get(c) {
                                                            Some(Value::String(s)) => s.clone(),
                                                            Some(v) => v.to_string(),
                                                            None => String::new(),
                                                        };
                                                        view! { <td>{cell}</td> }
                                                    }).collect_view()}</tr>
                                                }).collect_view()}
                                            </tbody>
                                        </table>
                                    </div>
                                    <button type="button" class="button" disabled=move || n == 0 || progress.get().is_some_and(|(d, t)| d < t)
                                        on:click=move |_| import(pid)>
                                        {format!("Import {n} tasks")}
                                    </button>
                                </section>
                            }.into_any()
                        }}
                        {move || progress.get().map(|(done, total)| view! {
                            <div class="numbers">
                                <div class="progress" role="progressbar" aria-valuemin="0" aria-valuemax=total aria-valuenow=done aria-label="Imported">
                                    <div class="progress-bar" style=format!("width: {}%", (done * 100).checked_div(total).unwrap_or(100))></div>
                                </div>
                                <p class="progress-label" aria-live="polite">{format!("{done} of {total} imported")}</p>
                            </div>
                        })}
                        {move || (!failures.get().is_empty()).then(|| view! {
                            <div class="form-error" role="alert"><ul>{failures.get().into_iter().map(|f| view! { <li>{f}</li> }).collect_view()}</ul></div>
                        })}
                        {
                            let browse = browse.clone();
                            move || finished.get().then(|| view! {
                                <p><a class="button" href=browse.clone()>"See the tasks"</a></p>
                            })
                        }
                    }.into_any()
            })}
        </div>
    }
}
