//! What volunteers read beside the task: rendered HTML (sanitised by the server), the Markdown
//! field owners write it in, the field guide drawer and the tutorial dialog.

use std::time::Duration;

use leptos::html::Iframe;
use leptos::prelude::*;
use leptos::task::spawn_local;
use serde_json::Value;

use crate::api::{self, GuideEntry};
use crate::components::presenter::{
    FrameEnv, FrameMessage, PresenterFrame, frame_document, preview_handler,
};

/// HTML the server rendered and sanitised (ammonia's allow-list): safe in the app's page.
#[component]
pub fn Rendered(html: String, #[prop(optional)] class: &'static str) -> impl IntoView {
    let class = if class.is_empty() { "prose" } else { class };
    view! { <div class=class inner_html=html></div> }
}

/// A Markdown text area with a live preview rendered by the server exactly as volunteers see
/// it (after 400 ms without typing).
#[component]
pub fn MarkdownField(
    label: &'static str,
    value: RwSignal<String>,
    #[prop(optional)] rows: Option<u32>,
    #[prop(optional)] hint: &'static str,
) -> impl IntoView {
    // Unique, since several forms with a "Text" field can be open on one page.
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let id = format!("md-{}-{n}", label.to_lowercase().replace(' ', "-"));
    let preview = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let generation = StoredValue::new(0u64);
    let render = move || {
        generation.update_value(|g| *g += 1);
        let mine = generation.get_value();
        set_timeout(
            move || {
                if generation.get_value() != mine {
                    return;
                }
                let text = value.get_untracked();
                spawn_local(async move {
                    match api::render_markdown(text).await {
                        Ok(html) if generation.get_value() == mine => {
                            error.set(None);
                            preview.set(html);
                        }
                        Ok(_) => {}
                        Err(e) => error.set(Some(e.to_string())),
                    }
                });
            },
            Duration::from_millis(400),
        );
    };
    render();
    let preview_id = format!("{id}-preview");
    view! {
        <div class="field markdown-field">
            <label for=id.clone()>{label}</label>
            {(!hint.is_empty()).then(|| view! { <small class="muted">{hint}</small> })}
            <div class="markdown-split">
                <textarea id=id rows=rows.unwrap_or(10) aria-describedby=preview_id.clone()
                    prop:value=value
                    on:input=move |ev| { value.set(event_target_value(&ev)); render(); }></textarea>
                <section class="markdown-preview" id=preview_id aria-label=format!("{label}: preview") aria-live="polite">
                    <p class="muted preview-label">"Preview"</p>
                    {move || error.get().map(|e| view! { <p class="form-error" role="alert">{e}</p> })}
                    <div class="prose" inner_html=move || preview.get()></div>
                </section>
            </div>
        </div>
    }
}

/// The field guide: a drawer beside the task (never over it), searchable, usable from the
/// keyboard (Escape closes it and gives focus back to its button).
#[component]
pub fn FieldGuide(entries: Vec<GuideEntry>, open: RwSignal<bool>) -> impl IntoView {
    let query = RwSignal::new(String::new());
    let search = NodeRef::<leptos::html::Input>::new();
    Effect::new(move || {
        if open.get()
            && let Some(input) = search.get()
        {
            let _ = input.focus();
        }
    });
    let entries = StoredValue::new(entries);
    let shown = move || {
        let q = query.get().to_lowercase();
        entries.with_value(|all| {
            all.iter()
                .filter(|e| {
                    q.trim().is_empty()
                        || e.title.to_lowercase().contains(q.trim())
                        || plain_text(&e.html).to_lowercase().contains(q.trim())
                })
                .cloned()
                .collect::<Vec<_>>()
        })
    };
    let close = move || {
        open.set(false);
        if let Some(button) = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.get_element_by_id("field-guide-toggle"))
            .and_then(|e| wasm_bindgen::JsCast::dyn_into::<web_sys::HtmlElement>(e).ok())
        {
            let _ = button.focus();
        }
    };
    view! {
        <aside id="field-guide" class="field-guide" aria-labelledby="field-guide-title"
            hidden=move || !open.get()
            on:keydown=move |ev: web_sys::KeyboardEvent| if ev.key() == "Escape" { close(); }>
            <div class="field-guide-head">
                <h2 id="field-guide-title">"Field guide"</h2>
                <button type="button" class="button button-quiet" aria-label="Close the field guide"
                    on:click=move |_| close()>"×"</button>
            </div>
            <label class="visually-hidden" for="field-guide-search">"Search the field guide"</label>
            <input id="field-guide-search" type="search" node_ref=search placeholder="Search the guide"
                prop:value=query on:input=move |ev| query.set(event_target_value(&ev))/>
            <ul class="field-guide-list">
                {move || {
                    let items = shown();
                    if items.is_empty() {
                        return view! { <li class="muted" role="status">"Nothing in the guide matches."</li> }.into_any();
                    }
                    items.into_iter().map(|e| view! {
                        <li>
                            <details>
                                <summary>{e.title.clone()}</summary>
                                {e.media_url.clone().map(|src| view! { <img src=src alt=e.title.clone() loading="lazy"/> })}
                                <div class="prose" inner_html=e.html.clone()></div>
                            </details>
                        </li>
                    }).collect_view().into_any()
                }}
            </ul>
        </aside>
    }
}

/// The text of sanitised HTML, so a search for "strong" does not match every `<strong>`.
fn plain_text(html: &str) -> String {
    let mut text = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                text.push(' ');
            }
            _ if !in_tag => text.push(c),
            _ => {}
        }
    }
    text.replace("&amp;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
}

/// Whether this browser has seen a project's tutorial (PYBOSSA keeps it in a cookie).
pub fn tutorial_seen(project_id: i64) -> bool {
    web_sys::window()
        .and_then(|w| w.local_storage().ok().flatten())
        .and_then(|s| {
            s.get_item(&format!("tessera.tutorial.{project_id}"))
                .ok()
                .flatten()
        })
        .is_some()
}

pub fn mark_tutorial_seen(project_id: i64) {
    if let Some(s) = web_sys::window().and_then(|w| w.local_storage().ok().flatten()) {
        let _ = s.set_item(&format!("tessera.tutorial.{project_id}"), "1");
    }
}

/// A project's tutorial (`info.tutorial`, PYBOSSA's HTML) in the presenters' sandbox, as a
/// dialog: closing it, its "start" link (to `newtask`) or Escape starts the tasks.
#[component]
pub fn TutorialDialog(project_id: i64, info: Value, open: RwSignal<bool>) -> impl IntoView {
    let frame = NodeRef::<Iframe>::new();
    let tutorial = info
        .get("tutorial")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let env = FrameEnv::of(&info);
    let start = NodeRef::<leptos::html::Button>::new();
    Effect::new(move || {
        if open.get()
            && let Some(button) = start.get()
        {
            let _ = button.focus();
        }
    });
    let close = move || {
        mark_tutorial_seen(project_id);
        open.set(false);
    };
    view! {
        <Show when=move || open.get()>
            <div class="dialog-backdrop">
                <div class="dialog tutorial" role="dialog" aria-modal="true" aria-labelledby="tutorial-title"
                    on:keydown=move |ev: web_sys::KeyboardEvent| if ev.key() == "Escape" { close(); }>
                    <div class="dialog-head">
                        <h2 id="tutorial-title">"Tutorial"</h2>
                        <button type="button" class="button button-quiet" aria-label="Close the tutorial"
                            on:click=move |_| close()>"×"</button>
                    </div>
                    {
                        let document = frame_document(&tutorial, &env);
                        let preview = preview_handler(frame, Value::Null, |_| {});
                        let on_message = move |m: FrameMessage| match m {
                            FrameMessage::Link(href) if href.contains("newtask") => close(),
                            other => preview(other),
                        };
                        view! { <PresenterFrame document=document frame=frame on_message=on_message project=project_id/> }
                    }
                    <p class="dialog-actions">
                        <button type="button" class="button button-large" node_ref=start on:click=move |_| close()>"Start contributing"</button>
                    </p>
                </div>
            </div>
        </Show>
    }
}
