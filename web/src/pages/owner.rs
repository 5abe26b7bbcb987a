//! Owners: create and edit a project (with a live presenter preview), import tasks.

use leptos::html::Iframe;
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::{use_navigate, use_params_map};
use serde_json::{Map, Value, json};

use crate::api::{self, Project};
use crate::components::content::MarkdownField;
use crate::components::presenter::{
    FrameEnv, PresenterFrame, frame_document, presenter_for, preview_handler,
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
        let info = presenter_info();
        let doc = frame_document(&presenter_for(&info), &FrameEnv::of(&info));
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
                <MarkdownField label="Long description" value=long_description rows=6
                    hint="Markdown, shown on the project page; previewed as volunteers will see it."/>
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

/// Waits in the browser without blocking it.
async fn sleep_ms(ms: i32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        if let Some(w) = web_sys::window() {
            let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
        }
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}

/// A preview's first rows as a table: one column per `info` key, then the task fields.
fn preview_table(tasks: &[Value]) -> impl IntoView + use<> {
    let mut columns: Vec<String> = Vec::new();
    for t in tasks {
        if let Some(info) = t.get("info").and_then(Value::as_object) {
            for k in info.keys() {
                if !columns.contains(k) {
                    columns.push(k.clone());
                }
            }
        }
    }
    let cell = |v: Option<&Value>| match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(v) => v.to_string(),
    };
    let rows: Vec<Vec<String>> = tasks
        .iter()
        .map(|t| {
            let mut row: Vec<String> = vec![cell(t.get("line"))];
            row.extend(
                columns
                    .iter()
                    .map(|c| cell(t.get("info").and_then(|i| i.get(c)))),
            );
            row.push(cell(t.get("n_answers")));
            row.push(cell(t.get("external_id")));
            // A gold (test) task's correct answer; empty for ordinary tasks.
            row.push(if t.get("calibration").and_then(Value::as_i64) == Some(1) {
                crate::pages::quality::gold_text(t.get("gold_answers").unwrap_or(&Value::Null))
            } else {
                String::new()
            });
            row
        })
        .collect();
    view! {
        <div class="table-wrap">
            <table class="table">
                <thead><tr>
                    <th scope="col">"Line"</th>
                    {columns.iter().map(|c| view! { <th scope="col">{c.clone()}</th> }).collect_view()}
                    <th scope="col">"n_answers"</th>
                    <th scope="col">"external_id"</th>
                    <th scope="col" title="calibration 1 with gold_answers: a test task with its correct answer">"Gold answer"</th>
                </tr></thead>
                <tbody>
                    {rows.into_iter().map(|r| view! {
                        <tr>{r.into_iter().map(|c| view! { <td>{c}</td> }).collect_view()}</tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

fn row_errors(errors: &[api::RowError], total: u64) -> impl IntoView + use<> {
    let items: Vec<String> = errors
        .iter()
        .map(|e| format!("line {}: {}", e.line, e.reason))
        .collect();
    view! {
        <div class="form-error" role="alert">
            <p>{format!("{total} {} cannot be imported:", if total == 1 { "row" } else { "rows" })}</p>
            <ul>{items.into_iter().take(20).map(|b| view! { <li>{b}</li> }).collect_view()}</ul>
        </div>
    }
}

/// `/project/{short_name}/tasks/import`: the server reads the file or link, shows what it
/// found, then imports it as a job while the page shows its progress.
#[component]
pub fn ImportTasks() -> impl IntoView {
    crate::set_title(Some("Import tasks"));
    let source = RwSignal::new(None::<api::ImportSource>);
    let link = RwSignal::new(String::new());
    let redundancy = RwSignal::new("3".to_owned());
    let preview = RwSignal::new(None::<Result<api::ImportPreview, String>>);
    let checking = RwSignal::new(false);
    let job = RwSignal::new(None::<Result<api::Import, String>>);

    let check = move |project_id: i64, chosen: api::ImportSource| {
        source.set(Some(chosen.clone()));
        preview.set(None);
        job.set(None);
        checking.set(true);
        spawn_local(async move {
            let found = api::preview_import(project_id, &chosen).await;
            preview.set(Some(found.map_err(|e| e.to_string())));
            checking.set(false);
        });
    };
    let on_file = move |project_id: i64, ev: leptos::ev::Event| {
        let input: web_sys::HtmlInputElement = event_target(&ev);
        if let Some(file) = input.files().and_then(|f| f.get(0)) {
            check(project_id, api::ImportSource::File(file));
        }
    };

    let import = move |project_id: i64| {
        let Some(chosen) = source.get_untracked() else {
            return;
        };
        let n = redundancy.get_untracked().trim().parse::<i64>().ok();
        job.set(None);
        spawn_local(async move {
            let mut current = match api::start_import(project_id, &chosen, n).await {
                Ok(started) => started,
                Err(e) => {
                    job.set(Some(Err(e.to_string())));
                    return;
                }
            };
            job.set(Some(Ok(current.clone())));
            // One status request every half second, whatever the file's size.
            while !current.finished() {
                sleep_ms(500).await;
                match api::import_status(project_id, current.id).await {
                    Ok(now) => current = now,
                    Err(e) => {
                        job.set(Some(Err(e.to_string())));
                        return;
                    }
                }
                job.set(Some(Ok(current.clone())));
            }
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
                            "A CSV file with a header row, a JSON array of objects, or JSON Lines; or a link to one, "
                            "to a Google Sheet shared by link, or to an IIIF manifest (one task per page). Columns "
                            <code>"n_answers"</code> ", " <code>"priority_0"</code> ", " <code>"calibration"</code> ", "
                            <code>"gold_answers"</code> " and " <code>"external_id"</code> " set those fields; every other column goes into the task's "
                            <code>"info"</code> ". Rows already imported are skipped, so a grown file can be imported again."
                        </p>
                        <div class="form">
                            <label class="field">
                                <span>"File (.csv, .json, .jsonl)"</span>
                                <input type="file" accept=".csv,.json,.jsonl,.ndjson,text/csv,application/json"
                                    on:change=move |ev| on_file(pid, ev)/>
                            </label>
                            <form class="inline-form" on:submit=move |ev: leptos::ev::SubmitEvent| {
                                ev.prevent_default();
                                let url = link.get_untracked().trim().to_owned();
                                if !url.is_empty() {
                                    check(pid, api::ImportSource::Url(url));
                                }
                            }>
                                <label class="field inline">
                                    <span>"or a link"</span>
                                    <input type="url" placeholder="https://…" prop:value=link
                                        on:input=move |ev| link.set(event_target_value(&ev))/>
                                </label>
                                <button type="submit" class="button button-quiet">"Check the link"</button>
                            </form>
                            <label class="field">
                                <span>"Answers per task (rows without n_answers)"</span>
                                <input type="number" min="1" max="1000" prop:value=redundancy
                                    on:input=move |ev| redundancy.set(event_target_value(&ev))/>
                            </label>
                        </div>
                        {move || checking.get().then(|| view! { <p class="muted" role="status">"Reading the file…"</p> })}
                        {move || preview.get().map(|found| match found {
                            Err(why) => view! { <div class="form-error" role="alert"><p>{why}</p></div> }.into_any(),
                            Ok(found) => {
                                let n = found.valid;
                                let busy = move || job.get().is_some_and(|j| j.is_ok_and(|j| !j.finished()));
                                view! {
                                    <section class="import-preview" aria-label="Preview">
                                        <h2 class="section-title">{format!("{} rows read ({}), {n} tasks", found.read, found.format.to_uppercase())}</h2>
                                        {(found.rejected > 0).then(|| row_errors(&found.errors, found.rejected))}
                                        {preview_table(&found.tasks)}
                                        <button type="button" class="button" disabled=move || n == 0 || busy()
                                            on:click=move |_| import(pid)>
                                            {format!("Import {n} tasks")}
                                        </button>
                                    </section>
                                }.into_any()
                            }
                        })}
                        {
                            let browse = browse.clone();
                            move || job.get().map(|state| match state {
                                Err(why) => view! { <div class="form-error" role="alert"><p>{why}</p></div> }.into_any(),
                                Ok(j) => {
                                    let total = preview.get_untracked().and_then(Result::ok).map_or(0, |p| p.read);
                                    let read = u64::try_from(j.read).unwrap_or(0);
                                    let pct = if j.status == "done" { 100 } else { (read * 100).checked_div(total).unwrap_or(0).min(100) };
                                    let rejected_url = j.rejected_url.clone();
                                    let file = format!("import_{}_rejected.csv", j.id);
                                    view! {
                                        <div class="numbers">
                                            <div class="progress" role="progressbar" aria-valuemin="0" aria-valuemax="100"
                                                aria-valuenow=pct aria-label="Imported">
                                                <div class="progress-bar" style=format!("width: {pct}%")></div>
                                            </div>
                                            <p class="progress-label" aria-live="polite">
                                                {format!("{}: {} of {total} rows read — {} created, {} already there, {} refused",
                                                    j.status, j.read, j.created, j.duplicates, j.rejected)}
                                            </p>
                                        </div>
                                        {j.message.clone().map(|m| view! { <div class="form-error" role="alert"><p>{m}</p></div> })}
                                        {(j.rejected > 0).then(|| view! {
                                            {row_errors(&j.errors, u64::try_from(j.rejected).unwrap_or(0))}
                                            <p><button type="button" class="button button-quiet" on:click=move |_| {
                                                let url = rejected_url.clone();
                                                let file = file.clone();
                                                spawn_local(async move { let _ = api::download(&url, &file).await; });
                                            }>"Download the refused rows (CSV)"</button></p>
                                        })}
                                        {(j.status == "done").then(|| view! {
                                            <p><a class="button" href=browse.clone()>"See the tasks"</a></p>
                                        })}
                                    }.into_any()
                                }
                            })
                        }
                    }.into_any()
            })}
        </div>
    }
}
