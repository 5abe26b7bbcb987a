//! Task presenters, run safely.
//!
//! A project's presenter (its own HTML and JavaScript, or a built-in template) runs in an
//! iframe sandboxed to scripts only: its origin is opaque, so it cannot read the app's storage
//! (the session token), cookies or DOM, and its Content-Security-Policy (sent by the server with
//! `/presenter.html`, and repeated in the document) forbids network requests other than loading
//! scripts, styles and media, and fetching from the origins its project lists. It talks to the
//! app only by `postMessage`, through a bridge that offers pybossa.js's public calls (`run`,
//! `newTask`, `taskLoaded`, `presentTask`, `saveTask`, `userProgress`, `getCurrentTaskId`,
//! `setEndpoint`); with `info.presenter_compat = "pybossa"` the page has jQuery and Bootstrap 3
//! as PYBOSSA's task page has.

use leptos::html::Iframe;
use leptos::prelude::*;
use serde_json::{Value, json};
use wasm_bindgen::JsCast;

/// Inside the frame: the pybossa.js calls, over `postMessage` to the app.
const BRIDGE: &str = r#"(function () {
  var app = window.parent;
  // With jQuery on the page (PYBOSSA's environment), its deferreds, as pybossa.js returns.
  function Deferred() {
    if (window.jQuery && window.jQuery.Deferred) return window.jQuery.Deferred();
    var ok = [], bad = [], state = 0, value;
    var d = {
      resolve: function (v) { if (!state) { state = 1; value = v; ok.forEach(function (f) { f(v); }); } return d; },
      reject: function (v) { if (!state) { state = 2; value = v; bad.forEach(function (f) { f(v); }); } return d; },
      done: function (f) { if (state === 1) f(value); else if (!state) ok.push(f); return d; },
      fail: function (f) { if (state === 2) f(value); else if (!state) bad.push(f); return d; },
      then: function (f, g) { if (f) d.done(f); if (g) d.fail(g); return d; },
      always: function (f) { return d.done(f).fail(f); },
      state: function () { return ["pending", "resolved", "rejected"][state]; },
      promise: function () { return d; }
    };
    return d;
  }
  var loaded = function (task, deferred) { deferred.resolve(task); };
  var present = function () {};
  var pending = {}, seq = 0, current = null, started = false, endpoint = "";
  function ask(message) {
    var d = Deferred(), req = ++seq;
    pending[req] = d;
    message.req = req;
    app.postMessage(message, "*");
    return d.promise();
  }
  window.pybossa = {
    taskLoaded: function (f) { loaded = f; },
    presentTask: function (f) { present = f; },
    saveTask: function (taskId, answer) {
      if (arguments.length < 2) { answer = taskId; taskId = current && current.id; }
      if (taskId && typeof taskId === "object") taskId = taskId.id;
      return ask({ tessera: "save", task_id: taskId, answer: answer === undefined ? null : answer });
    },
    // The app hands tasks out; the name a PYBOSSA presenter passes is its own project's.
    run: function () { if (!started) { started = true; app.postMessage({ tessera: "ready" }, "*"); } },
    newTask: function () { return ask({ tessera: "ask", kind: "newtask" }); },
    userProgress: function () { return ask({ tessera: "ask", kind: "progress" }); },
    getCurrentTaskId: function () { return current && current.id ? current.id : false; },
    setEndpoint: function (e) { endpoint = e || ""; return endpoint; }
  };
  // The frame may not navigate: a link the page does not handle itself goes to the app, which
  // opens it in a tab of its own (or, in a tutorial, starts the tasks).
  document.addEventListener("click", function (ev) {
    if (ev.defaultPrevented || !ev.target || !ev.target.closest) return;
    var a = ev.target.closest("a[href]");
    var href = a ? a.getAttribute("href") || "" : "";
    if (!href || href.charAt(0) === '#' || /^\s*javascript:/i.test(href)) return;
    ev.preventDefault();
    app.postMessage({ tessera: "link", href: a.href }, "*");
  });
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
    } else if (m.tessera === "saved" || m.tessera === "answer") {
      var d = pending[m.req];
      delete pending[m.req];
      if (d) { if (m.ok) d.resolve(m.result); else d.reject(m.error); }
    }
  });
})();"#;

/// What the frame offers a presenter besides the bridge.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FrameEnv {
    /// Origins the presenter may fetch from (`info.presenter_connect`).
    pub connect: Vec<String>,
    /// PYBOSSA's task page environment (`info.presenter_compat = "pybossa"`): jQuery (with
    /// jquery-migrate, for presenters written for jQuery 1 and 2) and Bootstrap 3, served by
    /// this site.
    pub pybossa: bool,
    /// The volunteer's language, in `#PYBOSSA_USER_LOCALE`.
    pub locale: String,
}

impl FrameEnv {
    /// A project's frame settings, from its `info`.
    pub fn of(info: &Value) -> Self {
        let connect = info
            .get("presenter_connect")
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .filter_map(Value::as_str)
                    .map(|s| s.trim_end_matches('/').to_owned())
                    .collect()
            })
            .unwrap_or_default();
        let pybossa = info.get("presenter_compat").and_then(Value::as_str) == Some("pybossa");
        let locale = web_sys::window()
            .and_then(|w| w.navigator().language())
            .unwrap_or_else(|| "en".to_owned());
        Self {
            connect,
            pybossa,
            locale,
        }
    }
}

/// This site's origin, which the frame's copies of jQuery and Bootstrap come from.
fn own_origin() -> String {
    web_sys::window()
        .and_then(|w| w.location().origin().ok())
        .unwrap_or_default()
}

/// What a presenter may load: scripts, styles and media over the network; requests of its own
/// only to the origins its project lists; no forms, no navigation of the app. The server sends
/// the same policy with the frame (both apply).
fn csp(env: &FrameEnv, own: &str) -> String {
    let connect = if env.connect.is_empty() {
        "'none'".to_owned()
    } else {
        env.connect.join(" ")
    };
    format!(
        "default-src 'none'; script-src 'unsafe-inline' https: {own}; style-src 'unsafe-inline' https: {own}; img-src https: http: data: blob:; media-src https: http: data: blob:; font-src https: data: {own}; connect-src {connect}; form-action 'none'; base-uri 'none'"
    )
}

const FRAME_STYLE: &str = "body{font:16px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0;padding:16px;color:#1c1d21;background:#fff}img{max-width:100%;height:auto;border-radius:8px}button{font:inherit;padding:.55em 1.1em;border-radius:8px;border:1px solid #0f766e;background:#0f766e;color:#fff;cursor:pointer;margin:.25em .4em .25em 0}button.secondary{background:#fff;color:#0f766e}button:focus-visible,textarea:focus-visible{outline:3px solid #2563eb;outline-offset:2px}textarea{width:100%;box-sizing:border-box;min-height:7em;font:inherit;padding:.5em;border-radius:8px;border:1px solid #cfcac0}.q{font-weight:600;font-size:1.1em;margin:.5em 0}.fields{display:grid;grid-template-columns:max-content 1fr;gap:.25em 1em;margin:.5em 0}.fields dt{color:#5e616b}@media (prefers-color-scheme:dark){body{background:#16181d;color:#e8e8ea}button.secondary{background:#16181d}textarea{background:#0e1014;color:#e8e8ea;border-color:#3a3d46}}";

fn escape_attr(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
}

/// The document the frame runs: CSP, base style (or PYBOSSA's page: jQuery and Bootstrap 3),
/// the bridge, the locale element PYBOSSA presenters read, then the presenter.
pub fn frame_document(presenter: &str, env: &FrameEnv) -> String {
    let own = own_origin();
    let page = if env.pybossa {
        format!(
            "<link rel=\"stylesheet\" href=\"{own}/vendor/bootstrap.min.css\"><script src=\"{own}/vendor/jquery.min.js\"></script><script src=\"{own}/vendor/jquery-migrate.min.js\"></script><script src=\"{own}/vendor/bootstrap.min.js\"></script>"
        )
    } else {
        format!("<style>{FRAME_STYLE}</style>")
    };
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><meta http-equiv=\"Content-Security-Policy\" content=\"{}\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">{page}<script>{BRIDGE}</script></head><body><div id=\"PYBOSSA_USER_LOCALE\" hidden>{}</div>{presenter}</body></html>",
        escape_attr(&csp(env, &own)),
        escape_attr(&env.locale)
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
    /// `pybossa.userProgress()` or `pybossa.newTask()`: answered with `answer`.
    Ask { req: i64, kind: Ask },
    /// A link the volunteer followed (absolute).
    Link(String),
}

/// Opens a link a frame asked for in a new tab, when it is a web address.
pub fn open_link(href: &str) {
    if (href.starts_with("https://") || href.starts_with("http://"))
        && let Some(window) = web_sys::window()
    {
        let _ = window.open_with_url_and_target_and_features(href, "_blank", "noopener,noreferrer");
    }
}

/// What a presenter may ask the app for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ask {
    /// The volunteer's progress: `{done, total, remaining}`.
    Progress,
    /// A task to show (`{}` when none is left).
    NewTask,
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
        "link" => Some(FrameMessage::Link(v.get("href")?.as_str()?.to_owned())),
        "ask" => Some(FrameMessage::Ask {
            req: v.get("req")?.as_i64()?,
            kind: match v.get("kind")?.as_str()? {
                "progress" => Ask::Progress,
                "newtask" => Ask::NewTask,
                _ => return None,
            },
        }),
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

/// Answers a presenter's question (`Ask`) inside the frame.
pub fn answer(frame: &NodeRef<Iframe>, req: i64, result: Result<Value, String>) {
    let message = match result {
        Ok(result) => json!({"tessera": "answer", "req": req, "ok": true, "result": result}),
        Err(error) => json!({"tessera": "answer", "req": req, "ok": false, "error": error}),
    };
    post(frame, &message);
}

/// The sandboxed frame; `on_message` gets what the presenter sends (only from this frame).
/// `project` names the project whose frame policy the server sends (the origins it may fetch
/// from).
#[component]
pub fn PresenterFrame(
    document: String,
    frame: NodeRef<Iframe>,
    on_message: impl Fn(FrameMessage) + 'static,
    #[prop(optional)] project: Option<i64>,
) -> impl IntoView {
    let src = match project {
        Some(id) => format!(
            "/presenter.html?project={id}&d={:016x}",
            fingerprint(&document)
        ),
        None => format!("/presenter.html?d={:016x}", fingerprint(&document)),
    };
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

/// What a presenter shown outside the volunteer loop asks, answered with `task` and a fixed
/// `progress`; a save is handed back as `(req, answer)` for the caller to settle.
fn shown(
    frame: &NodeRef<Iframe>,
    task: &Value,
    progress: &Value,
    message: FrameMessage,
) -> Option<(i64, Value)> {
    match message {
        FrameMessage::Ready | FrameMessage::Next => {
            post(frame, &json!({"tessera": "task", "task": task}));
        }
        FrameMessage::Save { req, answer, .. } => return Some((req, answer)),
        FrameMessage::Ask {
            req,
            kind: Ask::Progress,
        } => answer(frame, req, Ok(progress.clone())),
        FrameMessage::Ask {
            req,
            kind: Ask::NewTask,
        } => answer(frame, req, Ok(task.clone())),
        FrameMessage::Link(href) => open_link(&href),
    }
    None
}

/// Messages of a presenter shown for preview: `task` is shown (again after each answer), and
/// answers go to `on_answer` instead of the API.
pub fn preview_handler(
    frame: NodeRef<Iframe>,
    task: Value,
    on_answer: impl Fn(String) + 'static,
) -> impl Fn(FrameMessage) + 'static {
    let progress = json!({"done": 0, "total": 1, "remaining": 1});
    move |message| {
        if let Some((req, a)) = shown(&frame, &task, &progress, message) {
            on_answer(a.to_string());
            post(&frame, &json!({"tessera": "saved", "req": req, "ok": true}));
        }
    }
}

/// Messages of a presenter shown for review: `task` is shown, and nothing is answered (a save
/// is refused with a short reason the presenter may show).
pub fn readonly_handler(frame: NodeRef<Iframe>, task: Value) -> impl Fn(FrameMessage) + 'static {
    let progress = json!({"done": 1, "total": 1, "remaining": 0});
    move |message| {
        if let Some((req, _)) = shown(&frame, &task, &progress, message) {
            post(
                &frame,
                &json!({"tessera": "saved", "req": req, "ok": false,
                        "error": "This task is shown for review: answers are not taken here."}),
            );
        }
    }
}
