//! `/project/{short_name}/newtask`: answer tasks one after another, without reloading.

use leptos::html::Iframe;
use leptos::prelude::*;
use leptos::task::spawn_local;
use serde_json::json;

use crate::api::{self, ApiError, Project, Task};
use crate::components::content::{FieldGuide, TutorialDialog, tutorial_seen};
use crate::components::presenter::{
    Ask, FrameEnv, FrameMessage, PresenterFrame, answer, frame_document, open_link, post,
    presenter_for,
};
use crate::components::route_project;
use crate::session::use_session;

#[component]
pub fn Contribute() -> impl IntoView {
    view! {
        <div class="container section">
            {route_project(|p| view! { <Contributor project=p/> }.into_any())}
        </div>
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Phase {
    Loading,
    Working,
    /// Nothing left for this volunteer.
    Done,
    /// The project wants signed-in volunteers.
    SignIn(String),
    /// Below the project's quiz pass mark.
    QuizFailed(String),
    Failed(String),
}

/// A gold answer's value as a volunteer reads it: text as is, objects as `field: value` pairs.
fn shown_answer(answer: &serde_json::Value) -> String {
    match answer {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Object(fields) => fields
            .iter()
            .map(|(k, v)| match v {
                serde_json::Value::String(s) => format!("{k}: {s}"),
                other => format!("{k}: {other}"),
            })
            .collect::<Vec<_>>()
            .join(", "),
        other => other.to_string(),
    }
}

#[component]
fn Contributor(project: Project) -> impl IntoView {
    crate::set_title(Some(&format!("Contribute to {}", project.name)));
    let session = use_session();
    let pid = project.id;
    let frame = NodeRef::<Iframe>::new();
    let phase = RwSignal::new(Phase::Loading);
    let current = RwSignal::new(None::<Task>);
    // The next task, fetched while the volunteer finishes this one: `None` not yet known,
    // `Some(None)` nothing left.
    let next = RwSignal::new(None::<Option<Task>>);
    let waiting_for_next = RwSignal::new(false);
    let ready = RwSignal::new(false);
    let answered = RwSignal::new(0u32);
    let notice = RwSignal::new(None::<String>);
    // The verdict on the last answer, when it was to a gold task of a project with feedback.
    let feedback = RwSignal::new(None::<api::GoldFeedback>);
    // Where the volunteer stands in the project's quiz, while it is under way.
    let standing = RwSignal::new(None::<api::VolunteerSkill>);
    let refresh_standing = move || {
        spawn_local(async move {
            if let Ok(s) = api::my_standing(pid).await {
                standing.set(Some(s));
            }
        });
    };
    refresh_standing();

    let show = move |task: Option<Task>| match task {
        Some(task) => {
            current.set(Some(task.clone()));
            phase.set(Phase::Working);
            if ready.get_untracked() {
                post(&frame, &json!({"tessera": "task", "task": task}));
            }
        }
        None => {
            current.set(None);
            phase.set(Phase::Done);
        }
    };
    let failed = move |e: ApiError| match e {
        ApiError::Status {
            status: 403,
            message,
            class: Some(class),
        } if class == "QuizFailed" => {
            phase.set(Phase::QuizFailed(message.unwrap_or_else(|| {
                "You did not pass this project's test tasks.".into()
            })));
        }
        ApiError::Status {
            status: 401,
            message,
            ..
        } => {
            phase.set(Phase::SignIn(message.unwrap_or_else(|| {
                "Sign in to contribute to this project.".into()
            })));
        }
        other => phase.set(Phase::Failed(other.to_string())),
    };
    let fetch_first = move || {
        phase.set(Phase::Loading);
        spawn_local(async move {
            match api::new_task(pid, 0).await {
                Ok(task) => show(task),
                Err(e) => failed(e),
            }
        });
    };
    fetch_first();

    let on_message = move |message: FrameMessage| match message {
        FrameMessage::Ready => {
            ready.set(true);
            if let Some(task) = current.get_untracked() {
                post(&frame, &json!({"tessera": "task", "task": task}));
            }
        }
        FrameMessage::Save {
            req,
            task_id,
            answer,
        } => {
            notice.set(None);
            feedback.set(None);
            spawn_local(async move {
                match api::submit_answer(pid, task_id, answer).await {
                    Ok(verdict) => {
                        feedback.set(verdict);
                        refresh_standing();
                        answered.update(|n| *n += 1);
                        post(&frame, &json!({"tessera": "saved", "req": req, "ok": true}));
                        // Fetch the next task while the presenter wraps up this one.
                        next.set(None);
                        let fetched = api::new_task(pid, 0).await;
                        match fetched {
                            Ok(task) => {
                                next.set(Some(task.clone()));
                                if waiting_for_next.get_untracked() {
                                    waiting_for_next.set(false);
                                    next.set(None);
                                    show(task);
                                }
                            }
                            Err(e) => failed(e),
                        }
                    }
                    Err(e) => {
                        let msg = e.to_string();
                        notice.set(Some(format!("Your answer was not saved: {msg}")));
                        post(
                            &frame,
                            &json!({"tessera": "saved", "req": req, "ok": false, "error": msg}),
                        );
                    }
                }
            });
        }
        // pybossa.js's own calls, answered from the API.
        FrameMessage::Ask {
            req,
            kind: Ask::Progress,
        } => spawn_local(async move {
            let progress = api::user_progress(pid).await.map_err(|e| e.to_string());
            answer(&frame, req, progress);
        }),
        FrameMessage::Ask {
            req,
            kind: Ask::NewTask,
        } => spawn_local(async move {
            let task = api::new_task(pid, 0).await.map_err(|e| e.to_string());
            answer(
                &frame,
                req,
                task.map(|t| t.unwrap_or_else(|| serde_json::json!({}))),
            );
        }),
        FrameMessage::Link(href) => open_link(&href),
        FrameMessage::Next => match next.get_untracked() {
            Some(task) => {
                next.set(None);
                show(task);
            }
            None => waiting_for_next.set(true),
        },
    };

    let document = frame_document(&presenter_for(&project.info), &FrameEnv::of(&project.info));
    // The tutorial opens by itself on a volunteer's first visit; the field guide on demand.
    let has_tutorial = project
        .info
        .get("tutorial")
        .and_then(serde_json::Value::as_str)
        .is_some_and(|t| !t.trim().is_empty());
    let tutorial_open = RwSignal::new(has_tutorial && !tutorial_seen(pid));
    let guide_open = RwSignal::new(false);
    let content = LocalResource::new(move || api::project_content(pid));
    let guide = move || {
        content
            .get()
            .and_then(Result::ok)
            .map(|c| c.field_guide)
            .unwrap_or_default()
    };
    let project_href = project.href();
    let sign_in_href = format!(
        "/account/signin?next={}",
        js_sys::encode_uri_component(&format!("{}/newtask", project.href()))
    );
    let name = project.name.clone();
    view! {
        <nav class="breadcrumb" aria-label="Breadcrumb">
            <a href=project_href.clone()>"← " {name.clone()}</a>
        </nav>
        <div class="contribute-head">
            <h1 class="contribute-title">{name}</h1>
            <p class="muted" aria-live="polite">
                {move || match (phase.get(), current.get()) {
                    (Phase::Working, Some(task)) => format!(
                        "Task #{} · {} answered this session",
                        task.get("id").and_then(serde_json::Value::as_i64).unwrap_or_default(),
                        answered.get()
                    ),
                    _ => format!("{} answered this session", answered.get()),
                }}
                {move || (!session.signed_in()).then(|| view! {
                    " · " <a href=sign_in_href.clone()>"Sign in"</a> " to keep your contributions"
                })}
            </p>
        </div>
        <p class="contribute-tools">
            {has_tutorial.then(|| view! {
                <button type="button" class="button button-quiet" on:click=move |_| tutorial_open.set(true)>"Tutorial"</button>
            })}
            {move || (!guide().is_empty()).then(|| view! {
                <button type="button" id="field-guide-toggle" class="button button-quiet"
                    aria-controls="field-guide" aria-expanded=move || guide_open.get().to_string()
                    on:click=move |_| guide_open.update(|o| *o = !*o)>"Field guide"</button>
            })}
        </p>
        {move || notice.get().map(|n| view! { <p class="form-error" role="alert">{n}</p> })}
        {move || standing.get().filter(|s| s.quiz.as_deref() == Some("pending")).map(|s| {
            let of = s.quiz_tasks.unwrap_or_default();
            view! {
                <p class="quiz-progress" role="status">
                    {format!("Quiz: {} of {} test tasks answered. ", s.gold_seen.min(i64::from(of)), of)}
                    <span class="muted">"Your answers to these are checked before the project's other tasks."</span>
                </p>
            }
        })}
        <div class="gold-feedback-slot" role="status" aria-live="polite">
            {move || feedback.get().map(|f| {
                let (class, text) = if f.correct {
                    ("gold-feedback correct", "Right! That was a test task, and you got it.".to_owned())
                } else {
                    ("gold-feedback wrong", format!("That was a test task: the expected answer was “{}”.", shown_answer(&f.answer)))
                };
                view! { <p class=class>{text}</p> }
            })}
        </div>
        <div class="contribute-layout" class:with-guide=move || guide_open.get()>
            <div class="presenter" class:hidden=move || phase.get() != Phase::Working>
                <PresenterFrame document=document frame=frame on_message=on_message project=pid/>
            </div>
            {move || {
                let entries = guide();
                (!entries.is_empty()).then(|| view! { <FieldGuide entries=entries open=guide_open/> })
            }}
        </div>
        {has_tutorial.then(|| view! { <TutorialDialog project_id=pid info=project.info.clone() open=tutorial_open/> })}
        {move || match phase.get() {
            Phase::Loading => view! { <p role="status" class="state">"Finding a task for you…"</p> }.into_any(),
            Phase::Working => ().into_any(),
            Phase::Done => view! {
                <div class="state state-empty" role="status">
                    <h2 class="state-title">"Thank you!"</h2>
                    <p class="state-text">"There is no task left for you in this project right now."</p>
                    <a class="button" href=project_href.clone()>"Back to the project"</a>
                </div>
            }.into_any(),
            Phase::SignIn(msg) => {
                let href = format!(
                    "/account/signin?next={}",
                    js_sys::encode_uri_component(&format!("{}/newtask", project_href))
                );
                view! {
                    <div class="state state-empty" role="status">
                        <h2 class="state-title">"Sign in to contribute"</h2>
                        <p class="state-text">{msg}</p>
                        <a class="button" href=href>"Sign in"</a>
                    </div>
                }.into_any()
            }
            Phase::QuizFailed(msg) => view! {
                <div class="state state-empty" role="status">
                    <h2 class="state-title">"Thank you for trying"</h2>
                    <p class="state-text">{msg}</p>
                    <a class="button" href=project_href.clone()>"Back to the project"</a>
                </div>
            }.into_any(),
            Phase::Failed(msg) => view! {
                <div class="state state-error" role="alert">
                    <h2 class="state-title">"Something went wrong"</h2>
                    <p class="state-text">{msg}</p>
                    <button type="button" class="button" on:click=move |_| fetch_first()>"Try again"</button>
                </div>
            }.into_any(),
        }}
    }
}
