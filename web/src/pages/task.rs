//! `/project/{short_name}/task/{id}`: one task. Owners see it in the presenter (a preview: answers
//! are not stored); volunteers are sent to Contribute, since tasks are handed out one at a time so
//! that nobody answers a task twice or one that is already done.

use leptos::html::Iframe;
use leptos::prelude::*;
use leptos_router::hooks::use_params_map;
use serde_json::Value;

use crate::api::{self, Project};
use crate::components::presenter::{
    FrameEnv, PresenterFrame, frame_document, presenter_for, preview_handler,
};
use crate::components::{loaded, route_project};
use crate::pages::quality::GoldPanel;
use crate::session::use_session;

#[component]
pub fn TaskPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.read().get("id").and_then(|s| s.parse::<i64>().ok());
    view! {
        <div class="container section">
            {route_project(move |p| match id() {
                Some(id) => view! { <TaskView project=p task_id=id/> }.into_any(),
                None => view! { <h1>"Task not found"</h1> }.into_any(),
            })}
        </div>
    }
}

#[component]
fn TaskView(project: Project, task_id: i64) -> impl IntoView {
    crate::set_title(Some(&format!("Task #{task_id} · {}", project.name)));
    let session = use_session();
    let contribute = format!("{}/newtask", project.href());
    let task = LocalResource::new(move || api::task(task_id));
    let frame = NodeRef::<Iframe>::new();
    let (answer, set_answer) = signal(None::<String>);
    let info = project.info.clone();
    let pid = project.id;
    let manages = {
        let project = project.clone();
        move || {
            session
                .account
                .get()
                .is_some_and(|a| project.managed_by(&a))
        }
    };
    view! {
        <nav class="breadcrumb" aria-label="Breadcrumb"><a href=project.href()>"← " {project.name.clone()}</a></nav>
        <h1>{format!("Task #{task_id}")}</h1>
        {loaded(task, "the task", move |t: Value| {
            if !manages() {
                let state = t.get("state").and_then(Value::as_str).unwrap_or("ongoing").to_owned();
                return view! {
                    <p>
                        {if state == "completed" {
                            "This task has all the answers it needs. "
                        } else {
                            "Tasks are handed out one at a time, so that nobody answers the same task twice. "
                        }}
                    </p>
                    <a class="button button-large" href=contribute.clone()>"Contribute to this project"</a>
                }
                .into_any();
            }
            let doc = frame_document(&presenter_for(&info), &FrameEnv::of(&info));
            // The presenter gets the task as volunteers do: never its gold answer.
            let mut shown = t.clone();
            if let Some(map) = shown.as_object_mut() {
                map.remove("gold_answers");
                map.remove("calibration");
            }
            let on_message = preview_handler(frame, shown, move |a| set_answer.set(Some(a)));
            view! {
                <p class="muted">"A preview for the project's owners: answers given here are not stored."</p>
                <div class="presenter"><PresenterFrame document=doc frame=frame on_message=on_message project=pid/></div>
                <p class="muted" aria-live="polite">
                    {move || answer.get().map(|a| format!("The answer would be saved as {a}"))}
                </p>
                <GoldPanel task=t preview_answer=answer/>
            }
            .into_any()
        })}
    }
}
