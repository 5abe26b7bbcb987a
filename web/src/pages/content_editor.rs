//! The owner's Content tab (`/project/{short_name}/content`, and PYBOSSA's `/new-blogpost`):
//! the long description, the tutorial, blog posts, pages and the field guide, each with a
//! preview exactly as volunteers will see it.

use leptos::html::Iframe;
use leptos::prelude::*;
use leptos::task::spawn_local;
use serde_json::{Value, json};

use crate::api::{self, Project};
use crate::components::content::MarkdownField;
use crate::components::format_date;
use crate::components::presenter::{FrameEnv, PresenterFrame, frame_document, preview_handler};

#[component]
pub fn ContentEditor(project: Project) -> impl IntoView {
    let pid = project.id;
    let info = RwSignal::new(project.info.clone());
    view! {
        <DescriptionEditor project_id=pid initial=project.long_description.clone().unwrap_or_default()/>
        <TutorialEditor project_id=pid info=info/>
        <Rows project_id=pid kind=Kind::Post/>
        <Rows project_id=pid kind=Kind::Page/>
        <Rows project_id=pid kind=Kind::Guide/>
    }
}

fn saved_status(status: RwSignal<Option<String>>) -> impl IntoView {
    move || {
        status
            .get()
            .map(|s| view! { <p class="muted" role="status">{s}</p> })
    }
}

#[component]
fn DescriptionEditor(project_id: i64, initial: String) -> impl IntoView {
    let text = RwSignal::new(initial);
    let status = RwSignal::new(None::<String>);
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let body = json!({ "long_description": text.get_untracked() });
        spawn_local(async move {
            status.set(Some(
                match api::save_project(Some(project_id), body).await {
                    Ok(_) => "Description saved.".into(),
                    Err(e) => format!("Not saved: {e}"),
                },
            ));
        });
    };
    view! {
        <section class="editor-section" aria-labelledby="ed-description">
            <h2 id="ed-description">"Description"</h2>
            <form class="form" on:submit=save>
                <MarkdownField label="Long description" value=text rows=12
                    hint="Markdown: headings, lists, links, images, tables. Shown on the project page."/>
                <button type="submit" class="button">"Save description"</button>
                {saved_status(status)}
            </form>
        </section>
    }
}

#[component]
fn TutorialEditor(project_id: i64, info: RwSignal<Value>) -> impl IntoView {
    let text = RwSignal::new(
        info.get_untracked()
            .get("tutorial")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
    );
    let shown = RwSignal::new(text.get_untracked());
    let status = RwSignal::new(None::<String>);
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let mut merged = info.get_untracked();
        if !merged.is_object() {
            merged = json!({});
        }
        let tutorial = text.get_untracked();
        if let Some(map) = merged.as_object_mut() {
            if tutorial.trim().is_empty() {
                map.remove("tutorial");
            } else {
                map.insert("tutorial".into(), json!(tutorial));
            }
        }
        let body = json!({ "info": merged });
        spawn_local(async move {
            match api::save_project(Some(project_id), body).await {
                Ok(p) => {
                    info.set(p.info);
                    status.set(Some("Tutorial saved.".into()));
                }
                Err(e) => status.set(Some(format!("Not saved: {e}"))),
            }
        });
    };
    let frame = NodeRef::<Iframe>::new();
    view! {
        <section class="editor-section" aria-labelledby="ed-tutorial">
            <h2 id="ed-tutorial">"Tutorial"</h2>
            <p class="muted">
                "HTML (and scripts) that open on a volunteer's first visit, in the same sandbox as the task presenter. "
                "A link to " <code>"newtask"</code> " starts the tasks."
            </p>
            <form class="form" on:submit=save>
                <label class="field">
                    <span>"Tutorial HTML"</span>
                    <textarea rows="10" prop:value=text on:input=move |ev| text.set(event_target_value(&ev))></textarea>
                </label>
                <p>
                    <button type="button" class="button button-quiet" on:click=move |_| shown.set(text.get_untracked())>"Preview"</button>
                    " "
                    <button type="submit" class="button">"Save tutorial"</button>
                </p>
                {saved_status(status)}
            </form>
            {move || {
                let html = shown.get();
                (!html.trim().is_empty()).then(|| {
                    let env = FrameEnv::of(&info.get_untracked());
                    let document = frame_document(&html, &env);
                    let on_message = preview_handler(frame, Value::Null, |_| {});
                    view! {
                        <div class="presenter tutorial-preview">
                            <PresenterFrame document=document frame=frame on_message=on_message project=project_id/>
                        </div>
                    }
                })
            }}
        </section>
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Post,
    Page,
    Guide,
}

impl Kind {
    fn resource(self) -> &'static str {
        match self {
            Kind::Post => "blogpost",
            Kind::Page => "page",
            Kind::Guide => "helpingmaterial",
        }
    }
    fn api(self) -> api::ContentKind {
        match self {
            Kind::Post => api::ContentKind::Blogpost,
            Kind::Page => api::ContentKind::Page,
            Kind::Guide => api::ContentKind::HelpingMaterial,
        }
    }
    fn heading(self) -> &'static str {
        match self {
            Kind::Post => "Blog posts",
            Kind::Page => "Pages",
            Kind::Guide => "Field guide",
        }
    }
    fn noun(self) -> &'static str {
        match self {
            Kind::Post => "post",
            Kind::Page => "page",
            Kind::Guide => "entry",
        }
    }
}

fn text_of(row: &Value, path: &[&str]) -> String {
    let mut v = row;
    for key in path {
        v = v.get(*key).unwrap_or(&Value::Null);
    }
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn title_of(kind: Kind, row: &Value) -> String {
    let t = match kind {
        Kind::Post => text_of(row, &["title"]),
        Kind::Page => {
            let t = text_of(row, &["info", "title"]);
            if t.is_empty() {
                text_of(row, &["slug"])
            } else {
                t
            }
        }
        Kind::Guide => {
            let t = text_of(row, &["info", "title"]);
            if t.is_empty() {
                text_of(row, &["info", "name"])
            } else {
                t
            }
        }
    };
    if t.trim().is_empty() {
        "Untitled".into()
    } else {
        t
    }
}

/// A list of one kind of content row with an editor for a new or chosen one.
#[component]
fn Rows(project_id: i64, kind: Kind) -> impl IntoView {
    let rows = LocalResource::new(move || api::content_rows(kind.api(), project_id));
    let editing = RwSignal::new(None::<Value>);
    let status = RwSignal::new(None::<String>);
    // PYBOSSA's `/project/{short_name}/new-blogpost` opens a new post straight away.
    if kind == Kind::Post
        && web_sys::window()
            .and_then(|w| w.location().pathname().ok())
            .is_some_and(|p| p.ends_with("/new-blogpost"))
    {
        editing.set(Some(json!({})));
    }
    let heading_id = format!("ed-{}", kind.resource());
    let labelled_by = heading_id.clone();
    view! {
        <section class="editor-section" aria-labelledby=labelled_by>
            <h2 id=heading_id>{kind.heading()}</h2>
            {saved_status(status)}
            {move || match rows.get() {
                None => view! { <p role="status">"Loading…"</p> }.into_any(),
                Some(Err(e)) => view! { <p class="form-error" role="alert">{e.to_string()}</p> }.into_any(),
                Some(Ok(list)) if list.is_empty() => view! {
                    <p class="muted">{format!("No {} yet.", kind.heading().to_lowercase())}</p>
                }.into_any(),
                Some(Ok(list)) => view! {
                    <ul class="editor-rows">
                        {list.into_iter().map(|row| {
                            let id = row.get("id").and_then(Value::as_i64).unwrap_or_default();
                            let title = title_of(kind, &row);
                            let draft = kind == Kind::Post && row.get("published") != Some(&Value::Bool(true));
                            let created = text_of(&row, &["created"]);
                            let edit_row = row.clone();
                            let confirm = format!("Delete the {} “{}”?", kind.noun(), title);
                            view! {
                                <li>
                                    <strong>{title.clone()}</strong>
                                    <span class="post-meta">" · " {format_date(&created)} {draft.then_some(" · draft")}</span>
                                    <span class="row-actions">
                                    <button type="button" class="button button-quiet"
                                        on:click=move |_| editing.set(Some(edit_row.clone()))>"Edit"</button>
                                    <button type="button" class="button button-quiet" on:click=move |_| {
                                        let ok = web_sys::window().and_then(|w| w.confirm_with_message(&confirm).ok()).unwrap_or(false);
                                        if ok {
                                            spawn_local(async move {
                                                match api::delete_content_row(kind.api(), id).await {
                                                    Ok(()) => { status.set(Some("Deleted.".into())); rows.refetch(); }
                                                    Err(e) => status.set(Some(e.to_string())),
                                                }
                                            });
                                        }
                                    }>"Delete"</button>
                                    </span>
                                </li>
                            }
                        }).collect_view()}
                    </ul>
                }.into_any(),
            }}
            {move || match editing.get() {
                None => view! {
                    <button type="button" class="button" on:click=move |_| editing.set(Some(json!({})))>
                        {format!("New {}", kind.noun())}
                    </button>
                }.into_any(),
                Some(row) => view! {
                    <RowForm project_id=project_id kind=kind row=row
                        on_done={move |message: Option<String>| {
                            editing.set(None);
                            if let Some(m) = message { status.set(Some(m)); rows.refetch(); }
                        }}/>
                }.into_any(),
            }}
        </section>
    }
}

#[component]
fn RowForm(
    project_id: i64,
    kind: Kind,
    row: Value,
    on_done: impl Fn(Option<String>) + Clone + Send + Sync + 'static,
) -> impl IntoView {
    let id = row.get("id").and_then(Value::as_i64);
    let title = RwSignal::new(match kind {
        Kind::Post => text_of(&row, &["title"]),
        _ => text_of(&row, &["info", "title"]),
    });
    let body = RwSignal::new(match kind {
        Kind::Post => text_of(&row, &["body"]),
        _ => text_of(&row, &["info", "body"]),
    });
    let slug = RwSignal::new(text_of(&row, &["slug"]));
    let media = RwSignal::new(text_of(&row, &["media_url"]));
    let priority = RwSignal::new(text_of(&row, &["priority"]));
    let published = RwSignal::new(row.get("published") == Some(&Value::Bool(true)));
    let error = RwSignal::new(None::<String>);
    let info = row
        .get("info")
        .cloned()
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}));
    let done = on_done.clone();
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let mut payload = match kind {
            Kind::Post => json!({
                "title": title.get_untracked().trim(),
                "body": body.get_untracked(),
                "published": published.get_untracked(),
            }),
            Kind::Page | Kind::Guide => {
                let mut info = info.clone();
                info["title"] = json!(title.get_untracked().trim());
                info["body"] = json!(body.get_untracked());
                json!({ "info": info })
            }
        };
        if kind == Kind::Page {
            payload["slug"] = json!(slug.get_untracked().trim());
        }
        if kind == Kind::Guide {
            let m = media.get_untracked();
            payload["media_url"] = if m.trim().is_empty() {
                Value::Null
            } else {
                json!(m.trim())
            };
            match priority.get_untracked().trim() {
                "" => payload["priority"] = json!(0.0),
                p => match p.parse::<f64>() {
                    Ok(v) if (0.0..=1.0).contains(&v) => payload["priority"] = json!(v),
                    _ => {
                        error.set(Some("Priority is a number from 0 to 1.".into()));
                        return;
                    }
                },
            }
        }
        if id.is_none() {
            payload["project_id"] = json!(project_id);
        }
        let done = done.clone();
        spawn_local(async move {
            match api::save_content_row(kind.api(), id, payload).await {
                Ok(_) => done(Some(format!("{} saved.", capitalised(kind.noun())))),
                Err(e) => error.set(Some(e.to_string())),
            }
        });
    };
    let input = move |label: &'static str, value: RwSignal<String>, required: bool| {
        view! {
            <label class="field">
                <span>{label}</span>
                <input type="text" required=required prop:value=value
                    on:input=move |ev| value.set(event_target_value(&ev))/>
            </label>
        }
    };
    let cancel = on_done.clone();
    view! {
        <form class="form row-form" on:submit=submit>
            <h3>{if id.is_some() { format!("Edit {}", kind.noun()) } else { format!("New {}", kind.noun()) }}</h3>
            {input("Title", title, kind == Kind::Post)}
            {(kind == Kind::Page).then(|| input("Slug (in the page's address)", slug, true))}
            <MarkdownField label="Text" value=body rows=10 hint="Markdown, previewed as volunteers will see it."/>
            {(kind == Kind::Guide).then(|| view! {
                {input("Image URL", media, false)}
                {input("Priority (0 to 1, higher first)", priority, false)}
            })}
            {(kind == Kind::Post).then(|| view! {
                <label class="check">
                    <input type="checkbox" prop:checked=published on:change=move |ev| published.set(event_target_checked(&ev))/>
                    " Published (drafts are seen only by the project's owners)"
                </label>
            })}
            {move || error.get().map(|e| view! { <p class="form-error" role="alert">{e}</p> })}
            <p>
                <button type="submit" class="button">"Save"</button>
                " "
                <button type="button" class="button button-quiet" on:click=move |_| cancel(None)>"Cancel"</button>
            </p>
        </form>
    }
}

fn capitalised(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().collect::<String>() + chars.as_str())
        .unwrap_or_default()
}
