//! Task presenters, run safely.
//!
//! A project's presenter (its own HTML and JavaScript, or a built-in template) runs in an
//! iframe sandboxed to scripts only: its origin is opaque, so it cannot read the app's storage
//! (the session token), cookies or DOM, and its Content-Security-Policy (sent by the server with
//! `/presenter.html`, and repeated in the document) forbids network requests other than loading
//! scripts, styles and media. It talks to the app only by `postMessage`, through
//! a bridge that offers the pybossa.js calls PYBOSSA presenters use: `pybossa.taskLoaded`,
//! `pybossa.presentTask`, `pybossa.saveTask` and `pybossa.run`.

use leptos::html::Iframe;
use leptos::prelude::*;
use serde_json::{Value, json};
use wasm_bindgen::JsCast;

/// Inside the frame: the pybossa.js calls, over `postMessage` to the app.
const BRIDGE: &str = r#"(function () {
  var app = window.parent;
  function Deferred() {
    var ok = [], bad = [], state = 0, value;
    var d = {
      resolve: function (v) { if (!state) { state = 1; value = v; ok.forEach(function (f) { f(v); }); } return d; },
      reject: function (v) { if (!state) { state = 2; value = v; bad.forEach(function (f) { f(v); }); } return d; },
      done: function (f) { if (state === 1) f(value); else if (!state) ok.push(f); return d; },
      fail: function (f) { if (state === 2) f(value); else if (!state) bad.push(f); return d; },
      then: function (f, g) { if (f) d.done(f); if (g) d.fail(g); return d; },
      always: function (f) { return d.done(f).fail(f); },
      promise: function () { return d; }
    };
    return d;
  }
  var loaded = function (task, deferred) { deferred.resolve(task); };
  var present = function () {};
  var pending = {}, seq = 0, current = null, started = false;
  window.pybossa = {
    taskLoaded: function (f) { loaded = f; },
    presentTask: function (f) { present = f; },
    saveTask: function (taskId, answer) {
      if (arguments.length < 2) { answer = taskId; taskId = current && current.id; }
      var d = Deferred(), req = ++seq;
      pending[req] = d;
      app.postMessage({ tessera: "save", req: req, task_id: taskId, answer: answer === undefined ? null : answer }, "*");
      return d;
    },
    run: function () { if (!started) { started = true; app.postMessage({ tessera: "ready" }, "*"); } },
    userProgress: function () { return Deferred().resolve({ done: 0, total: 0 }); }
  };
  window.addEventListener("message", function (ev) {
    if (ev.source !== app) return;
    var m = ev.data || {};
    if (m.tessera === "task") {
      current = m.task;
      var first = Deferred();
      first.done(function (task) {
        var shown = Deferred();
        shown.done(function () { app.postMessage({ tessera: "next" }, "*"); });
        present(task, shown);
      });
      loaded(m.task, first);
    } else if (m.tessera === "saved") {
      var d = pending[m.req];
      delete pending[m.req];
      if (d) { if (m.ok) d.resolve(m.result); else d.reject(m.error); }
    }
  });
})();"#;

/// What a presenter may load: scripts, styles and media over the network; no requests of its
/// own (`connect-src 'none'`), no forms, no navigation of the app.
const CSP: &str = "default-src 'none'; script-src 'unsafe-inline' https:; style-src 'unsafe-inline' https:; img-src https: http: data: blob:; media-src https: http: data: blob:; font-src https: data:; connect-src 'none'; form-action 'none'; base-uri 'none'";

const FRAME_STYLE: &str = "body{font:16px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0;padding:16px;color:#1c1d21;background:#fff}img{max-width:100%;height:auto;border-radius:8px}button{font:inherit;padding:.55em 1.1em;border-radius:8px;border:1px solid #0f766e;background:#0f766e;color:#fff;cursor:pointer;margin:.25em .4em .25em 0}button.secondary{background:#fff;color:#0f766e}button:focus-visible,textarea:focus-visible{outline:3px solid #2563eb;outline-offset:2px}textarea{width:100%;box-sizing:border-box;min-height:7em;font:inherit;padding:.5em;border-radius:8px;border:1px solid #cfcac0}.q{font-weight:600;font-size:1.1em;margin:.5em 0}.fields{display:grid;grid-template-columns:max-content 1fr;gap:.25em 1em;margin:.5em 0}.fields dt{color:#5e616b}@media (prefers-color-scheme:dark){body{background:#16181d;color:#e8e8ea}button.secondary{background:#16181d}textarea{background:#0e1014;color:#e8e8ea;border-color:#3a3d46}}";

fn escape_attr(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
}

/// The document the frame runs: CSP, base style, the bridge, then the presenter.
pub fn frame_document(presenter: &str) -> String {
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><meta http-equiv=\"Content-Security-Policy\" content=\"{}\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><style>{FRAME_STYLE}</style><script>{BRIDGE}</script></head><body>{presenter}</body></html>",
        escape_attr(CSP)
    )
}

/// The presenter a project runs: its own (`info.task_presenter`), or a built-in template chosen
/// in `info.template` (`{"kind": "image" | "transcription" | "question", "question": …,
/// "choices": […]}`), or the question template.
pub fn presenter_for(info: &Value) -> String {
    if let Some(own) = info
        .get("task_presenter")
        .and_then(Value::as_str)
        .filter(|p| !p.trim().is_empty())
    {
        return own.to_owned();
    }
    let template = info.get("template").cloned().unwrap_or(Value::Null);
    let kind = template
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("question");
    let config = json!({
        "question": template.get("question").and_then(Value::as_str).unwrap_or(match kind {
            "image" => "What do you see in this image?",
            "transcription" => "Type the text you see.",
            _ => "Your answer",
        }),
        "choices": template.get("choices").cloned().unwrap_or_else(|| json!(["Yes", "No", "Not sure"])),
        "key": if kind == "transcription" { "text" } else { "answer" },
    });
    // `</` cannot end the script early once escaped.
    let config = config.to_string().replace("</", "<\\/");
    let script = if kind == "image" {
        IMAGE_TEMPLATE
    } else {
        TEXT_TEMPLATE
    };
    format!(
        "<main id=\"task\" aria-live=\"polite\"></main><script>var CONFIG = {config};\n{COMMON}\n{script}</script>"
    )
}

const COMMON: &str = r#"function el(tag, attrs, text) { var e = document.createElement(tag); for (var k in (attrs || {})) e.setAttribute(k, attrs[k]); if (text !== undefined) e.textContent = text; return e; }
function imageOf(info) { info = info || {}; return info.url_m || info.url_b || info.image_url || info.image || info.url || info.link || null; }
function fields(info) { var dl = el("dl", { "class": "fields" }); Object.keys(info || {}).forEach(function (k) { var v = info[k]; dl.appendChild(el("dt", {}, k)); dl.appendChild(el("dd", {}, typeof v === "string" ? v : JSON.stringify(v))); }); return dl; }
var root = document.getElementById("task");
// Move focus to the new task only when the volunteer is already working in the frame: never
// steal it from the page (an owner typing beside a live preview).
function focusIfHere(e) { if (document.hasFocus()) e.focus(); }"#;

const IMAGE_TEMPLATE: &str = r#"pybossa.presentTask(function (task, deferred) {
  root.innerHTML = "";
  var src = imageOf(task.info);
  if (src) root.appendChild(el("img", { src: src, alt: "The image to classify" })); else root.appendChild(fields(task.info));
  root.appendChild(el("p", { "class": "q" }, CONFIG.question));
  var group = el("div", { role: "group", "aria-label": CONFIG.question });
  CONFIG.choices.forEach(function (choice, i) {
    var b = el("button", { type: "button", "class": i ? "secondary" : "" }, String(choice));
    b.addEventListener("click", function () {
      group.querySelectorAll("button").forEach(function (x) { x.disabled = true; });
      pybossa.saveTask(task.id, choice).done(function () { deferred.resolve(); }).fail(function () { group.querySelectorAll("button").forEach(function (x) { x.disabled = false; }); });
    });
    group.appendChild(b);
  });
  root.appendChild(group);
  var first = group.querySelector("button"); if (first) focusIfHere(first);
});
pybossa.run();"#;

/// Free text about the task: a transcription (`{"text": …}`, the image alone) or an answer to a
/// question (`{"answer": …}`, with the task's fields shown).
const TEXT_TEMPLATE: &str = r#"pybossa.presentTask(function (task, deferred) {
  root.innerHTML = "";
  var src = imageOf(task.info);
  if (src) root.appendChild(el("img", { src: src, alt: CONFIG.key === "text" ? "The document to transcribe" : "" }));
  if (!src || CONFIG.key !== "text") root.appendChild(fields(task.info));
  var label = el("label", { "for": "text", "class": "q" }, CONFIG.question);
  var text = el("textarea", { id: "text" });
  var save = el("button", { type: "button" }, "Save and continue");
  save.addEventListener("click", function () {
    save.disabled = true;
    var answer = {}; answer[CONFIG.key] = text.value;
    pybossa.saveTask(task.id, answer).done(function () { deferred.resolve(); }).fail(function () { save.disabled = false; });
  });
  root.appendChild(label); root.appendChild(text); root.appendChild(el("div")).appendChild(save);
  focusIfHere(text);
});
pybossa.run();"#;

/// A message from the frame.
#[derive(Debug, Clone, PartialEq)]
pub enum FrameMessage {
    /// `pybossa.run()`: the presenter wants its first task.
    Ready,
    /// `pybossa.saveTask(...)`.
    Save {
        req: i64,
        task_id: i64,
        answer: Value,
    },
    /// The presenter finished the task: show the next.
    Next,
}

/// Whether the frame's boot page asks for its document.
fn is_boot(data: &wasm_bindgen::JsValue) -> bool {
    js_sys::JSON::stringify(data)
        .ok()
        .and_then(|t| t.as_string())
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .is_some_and(|v| v.get("tessera").and_then(Value::as_str) == Some("boot"))
}

fn parse(data: &wasm_bindgen::JsValue) -> Option<FrameMessage> {
    let text = js_sys::JSON::stringify(data).ok()?.as_string()?;
    let v: Value = serde_json::from_str(&text).ok()?;
    match v.get("tessera")?.as_str()? {
        "ready" => Some(FrameMessage::Ready),
        "next" => Some(FrameMessage::Next),
        "save" => Some(FrameMessage::Save {
            req: v.get("req")?.as_i64()?,
            task_id: v.get("task_id").and_then(Value::as_i64).unwrap_or(-1),
            answer: v.get("answer").cloned().unwrap_or(Value::Null),
        }),
        _ => None,
    }
}

/// FNV-1a of a document: enough to tell one from the next.
fn fingerprint(document: &str) -> u64 {
    document.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Sends a message into the frame.
pub fn post(frame: &NodeRef<Iframe>, message: &Value) {
    let Some(window) = frame.get_untracked().and_then(|f| f.content_window()) else {
        return;
    };
    if let Ok(value) = js_sys::JSON::parse(&message.to_string()) {
        // The frame's origin is opaque ("null"), so "*" is the only target that reaches it;
        // messages carry task data only, never credentials.
        let _ = window.post_message(&value, "*");
    }
}

/// The sandboxed frame; `on_message` gets what the presenter sends (only from this frame).
#[component]
pub fn PresenterFrame(
    document: String,
    frame: NodeRef<Iframe>,
    on_message: impl Fn(FrameMessage) + 'static,
) -> impl IntoView {
    let src = format!("/presenter.html?d={:016x}", fingerprint(&document));
    let handle = window_event_listener(leptos::ev::message, move |ev: web_sys::MessageEvent| {
        let Some(own) = frame.get_untracked().and_then(|f| f.content_window()) else {
            return;
        };
        let from_frame = ev
            .source()
            .is_some_and(|source| js_sys::Object::is(&source, own.unchecked_ref()));
        if !from_frame {
            return;
        }
        if is_boot(&ev.data()) {
            post(
                &frame,
                &json!({"tessera": "document", "html": document.as_str()}),
            );
        } else if let Some(message) = parse(&ev.data()) {
            on_message(message);
        }
    });
    on_cleanup(move || handle.remove());
    // The frame is a page of its own (not `srcdoc`, which would run under the app's policy):
    // the server sends it with the presenter's Content-Security-Policy. Its address names the
    // document, so that a new document (a preview being edited) loads the frame again, and the
    // frame asks for it.
    view! {
        <iframe
            node_ref=frame
            class="presenter-frame"
            title="Task"
            sandbox="allow-scripts"
            referrerpolicy="no-referrer"
            src=src
        ></iframe>
    }
}

/// Messages of a presenter shown for preview: `task` is shown (again after each answer), and
/// answers go to `on_answer` instead of the API.
pub fn preview_handler(
    frame: NodeRef<Iframe>,
    task: Value,
    on_answer: impl Fn(String) + 'static,
) -> impl Fn(FrameMessage) + 'static {
    move |message| match message {
        FrameMessage::Ready | FrameMessage::Next => {
            post(&frame, &json!({"tessera": "task", "task": task}));
        }
        FrameMessage::Save { req, answer, .. } => {
            on_answer(answer.to_string());
            post(&frame, &json!({"tessera": "saved", "req": req, "ok": true}));
        }
    }
}
