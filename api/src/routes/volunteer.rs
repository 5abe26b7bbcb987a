//! The volunteer loop over HTTP: `newtask`, `POST /taskrun`, `userprogress`, and the project
//! token for external users.

use std::sync::Arc;

use poem::{Request, web::Data};
use poem_openapi::{
    ApiResponse, Object, OpenApi,
    param::{Header, Path, Query},
    payload::{Json, PlainText},
};
use serde_json::{Value, json};

use super::{
    ApiTags,
    common::{Body, JsonOf, base_url, query_pairs},
    schemas,
};
use crate::{
    auth::Caller,
    domain::{
        platform::uploads,
        rest::crud::{self, fuzzy_bool},
        rest::fields::Access,
        rest::resources,
        volunteer::answers::{self, NewAnswer},
        volunteer::identity::{self, Volunteer},
        volunteer::scheduler::{self, NewTaskQuery},
    },
    error::{ApiError, ApiResult},
    ids::{ProjectId, TaskId},
    state::AppState,
    store::entities::project,
};

#[derive(ApiResponse)]
pub enum NewTaskResponse {
    /// `{}` when nothing is left for this volunteer, the task when there is one, an array when
    /// `limit` gave several (PYBOSSA's shapes).
    #[oai(status = 200)]
    Ok(
        Json<Value>,
        /// With the `locked` scheduler: when the hold on the task ends (epoch seconds).
        #[oai(header = "X-Tessera-Lock-Expires")]
        Option<i64>,
    ),
}

#[derive(Object)]
pub struct UserProgress {
    /// Answers this volunteer gave in the project.
    pub done: u64,
    /// Tasks in the project.
    pub total: u64,
    /// `total - done`.
    pub remaining: u64,
}

fn bearer(req: &Request) -> Option<&str> {
    let value = req.headers().get("authorization")?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

/// A draft project is for its owners and admins, and for the external users its owners vouch
/// for with the project token; the rest are refused as from an item GET.
fn may_volunteer(
    caller: &Caller,
    project: &project::Model,
    volunteer: &Volunteer,
) -> ApiResult<()> {
    if resources::project_visible(caller, project) || volunteer.external_uid.is_some() {
        Ok(())
    } else {
        Err(ApiError::denied(caller.is_authenticated()))
    }
}

/// The project a volunteer call names, from the loop's cache. A draft is refused before anything
/// about it is told, unless an external user's app asks (its token is checked with the caller).
pub(super) async fn loop_project(
    state: &AppState,
    caller: &Caller,
    id: i32,
    external: bool,
) -> ApiResult<Arc<project::Model>> {
    let project = state
        .volunteer
        .projects
        .get(&state.infra.db, ProjectId(id))
        .await?
        .ok_or(ApiError::NotFound)?;
    if !external && !resources::project_visible(caller, &project) {
        return Err(ApiError::denied(caller.is_authenticated()));
    }
    Ok(project)
}

/// Who is calling, as the loop counts them, refused where [`may_volunteer`] says.
pub(super) fn loop_volunteer(
    state: &AppState,
    caller: &Caller,
    req: &Request,
    project: &project::Model,
    external_uid: Option<&str>,
) -> ApiResult<Volunteer> {
    let volunteer = identity::volunteer(
        caller,
        &state.infra.anon_key,
        &state.volunteer.checked_tokens,
        project,
        external_uid,
        bearer(req),
    )?;
    may_volunteer(caller, project, &volunteer)?;
    Ok(volunteer)
}

fn as_i32(v: Option<&Value>) -> Option<i32> {
    match v? {
        Value::Number(n) => n.as_i64().and_then(|n| i32::try_from(n).ok()),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A task as `newtask` shows it when anonymous volunteers are not allowed (PYBOSSA's shape).
fn anonymous_refused() -> Value {
    json!({
        "id": null, "created": null, "project_id": null, "state": null, "quorum": null, "calibration": null,
        "priority_0": null, "n_answers": null, "fav_user_ids": null,
        "info": {"error": "This project does not allow anonymous contributors"}
    })
}

pub struct VolunteerApi;

#[OpenApi(tag = "ApiTags::Volunteer")]
impl VolunteerApi {
    /// Get the next task(s) to answer.
    ///
    /// Picks by the project's scheduler (`info.sched`: `default`/`depth_first`,
    /// `breadth_first`, `depth_first_all`, `incremental`, `random`, `priority`, `locked`) among
    /// open tasks this volunteer has not answered. Each task handed out is held for the
    /// volunteer (`info.timeout` seconds, default 3600) and counts toward the answers it still
    /// needs, so concurrent volunteers spread out. The answer must come within the stamp's
    /// lifetime. External users pass `external_uid` with the project token as a bearer token.
    /// Gold tasks (`calibration: 1`) come in at the project's `info.quality.gold_rate`, and
    /// first, for its `quiz`; a volunteer who failed the quiz gets 403 `QuizFailed`, with a
    /// message to show them. A task handed out never shows `gold_answers` nor `calibration`.
    #[oai(path = "/project/:id/newtask", method = "get")]
    #[allow(clippy::too_many_arguments)]
    async fn newtask(
        &self,
        state: Data<&Arc<AppState>>,
        caller: Caller,
        req: &Request,
        id: Path<i32>,
        /// Tasks to return (default 1); `limit` + `offset` at most `TESSERA_MAX_HOLDS` (10).
        limit: Query<Option<String>>,
        /// Skip this many available tasks (a client prefetching the next task uses 1).
        offset: Query<Option<String>>,
        /// Task column to order by (`default` scheduler).
        orderby: Query<Option<String>>,
        /// Descending order (`default` scheduler).
        desc: Query<Option<String>>,
        /// Id of an external user (needs the project token).
        external_uid: Query<Option<String>>,
    ) -> Result<NewTaskResponse, ApiError> {
        // A draft is refused before anything about it is told (its anonymous policy included).
        let project = loop_project(&state, &caller, id.0, external_uid.0.is_some()).await?;
        if !caller.is_authenticated()
            && !project.allow_anonymous_contributors
            && external_uid.0.is_none()
        {
            return Ok(NewTaskResponse::Ok(Json(anonymous_refused()), None));
        }
        let parse = |v: &Option<String>, default: u64| -> ApiResult<u64> {
            match v.as_deref() {
                None => Ok(default),
                Some(s) => s
                    .trim()
                    .parse()
                    .map_err(|_| ApiError::value(format!("invalid literal for int(): '{s}'"))),
            }
        };
        let query = NewTaskQuery {
            limit: parse(&limit.0, 1)?,
            offset: parse(&offset.0, 0)?,
            orderby: orderby.0.clone(),
            desc: match desc.0.as_deref() {
                None => false,
                Some(s) => fuzzy_bool(s)
                    .ok_or_else(|| ApiError::value(format!("invalid truth value '{s}'")))?,
            },
        };
        let volunteer = loop_volunteer(&state, &caller, req, &project, external_uid.0.as_deref())?;
        let handed =
            scheduler::new_tasks(&state.infra, &state.volunteer, &project, &volunteer, &query)
                .await?;
        let mut tasks: Vec<Value> = handed
            .tasks
            .iter()
            .map(|t| Value::Object(crud::to_map::<resources::Task>(t, Access::Public)))
            .collect();
        let body = match tasks.len() {
            0 => json!({}),
            1 => tasks.pop().unwrap_or_default(),
            _ => Value::Array(tasks),
        };
        Ok(NewTaskResponse::Ok(Json(body), handed.lock_expires))
    }

    /// A volunteer's progress in a project (by id or short name).
    #[oai(path = "/project/:id/userprogress", method = "get")]
    async fn userprogress(
        &self,
        state: Data<&Arc<AppState>>,
        caller: Caller,
        /// Project id or short name.
        id: Path<String>,
        /// Progress of this external user instead of the caller.
        external_uid: Query<Option<String>>,
    ) -> Result<Json<UserProgress>, ApiError> {
        let project = resources::project_by_id_or_name(&state.infra.db, &id.0).await?;
        if !resources::project_visible(&caller, &project) {
            return Err(ApiError::denied(caller.is_authenticated()));
        }
        // As in PYBOSSA, reading an external user's progress needs no token.
        let volunteer = match external_uid.0.filter(|x| !x.is_empty()) {
            Some(x) => Volunteer {
                user_id: None,
                user_ip: None,
                key: String::new(),
                external_uid: Some(x),
            },
            None => identity::volunteer(
                &caller,
                &state.infra.anon_key,
                &state.volunteer.checked_tokens,
                &project,
                None,
                None,
            )?,
        };
        let (done, total) = answers::progress(&state.infra, &project, &volunteer).await?;
        Ok(Json(UserProgress {
            done,
            total,
            remaining: total.saturating_sub(done),
        }))
    }

    /// Token for a project's external users.
    ///
    /// Send the project's `secret_key` as the raw `Authorization` header; the answer is a JWT
    /// (plain text) to send as `Authorization: Bearer …` with `external_uid` on `newtask` and
    /// `POST /taskrun`. It is valid until the secret changes.
    #[oai(
        path = "/auth/project/:short_name/token",
        method = "get",
        tag = "ApiTags::Auth"
    )]
    async fn project_token(
        &self,
        state: Data<&Arc<AppState>>,
        req: &Request,
        short_name: Path<String>,
    ) -> Result<PlainText<String>, ApiError> {
        let secret = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.trim().is_empty())
            .ok_or(ApiError::Forbidden(None))?;
        let token = identity::issue_project_token(&state.infra.db, &short_name.0, secret).await?;
        Ok(PlainText(token))
    }
}

/// `POST /api/taskrun`, documented with the task run resource (`routes::TaskRunApi`): takes an
/// answer (see `answers::submit`).
pub async fn answer(
    state: &Arc<AppState>,
    caller: Caller,
    req: &Request,
    body: Body<schemas::TaskRun>,
    idempotency_key: Header<Option<String>>,
) -> Result<JsonOf<schemas::TaskRun>, ApiError> {
    if idempotency_key
        .0
        .as_deref()
        .is_some_and(|k| k.is_empty() || k.len() > answers::IDEMPOTENCY_KEY_MAX)
    {
        return Err(ApiError::BadRequest(format!(
            "Idempotency-Key must be 1 to {} characters",
            answers::IDEMPOTENCY_KEY_MAX
        )));
    }
    let mut query_uid = None;
    for (key, value) in query_pairs(req)? {
        match key.as_str() {
            "api_key" => {}
            "external_uid" => query_uid = Some(value),
            _ if crud::field::<resources::TaskRun>(&key).is_some() => {}
            _ => {
                return Err(ApiError::attribute(format!(
                    "type object 'TaskRun' has no attribute '{key}'"
                )));
            }
        }
    }
    let mut fields = body.fields;
    crud::check_keys::<resources::TaskRun>(&caller, &mut fields, None)?;
    let body_uid = fields
        .get("external_uid")
        .and_then(Value::as_str)
        .map(str::to_string);
    let uid = query_uid.or(body_uid);
    let identify = |project: &project::Model| {
        identity::volunteer(
            &caller,
            &state.infra.anon_key,
            &state.volunteer.checked_tokens,
            project,
            uid.as_deref(),
            bearer(req),
        )
        .map_err(|e| match e {
            ApiError::Unauthorized(m) => ApiError::Forbidden(m),
            other => other,
        })
    };
    let task_id = as_i32(fields.get("task_id"));
    let project_id = as_i32(fields.get("project_id"));
    // Usually the body names the task's project, which is cached: the answer's transaction
    // then checks that the task is that project's. Otherwise the task is read first, so
    // errors come in PYBOSSA's order (task, then project, then the volunteer).
    let fast = match (task_id, project_id) {
        (Some(task_id), Some(project_id)) => state
            .volunteer
            .projects
            .get(&state.infra.db, ProjectId(project_id))
            .await?
            .and_then(|p| identify(&p).ok().map(|v| (task_id, p, v)))
            // Refused anonymous answers go the slow way, to be refused in PYBOSSA's order.
            .filter(|(_, p, v)| !v.is_anonymous() || p.allow_anonymous_contributors),
        _ => None,
    };
    let (task, project, volunteer) = match fast {
        Some((task_id, project, volunteer)) => (
            answers::TaskRef {
                id: TaskId(task_id),
                project_id: ProjectId(project.id),
            },
            project,
            volunteer,
        ),
        None => {
            let task = match task_id {
                Some(id) => resources::load_task(&state.infra.db, TaskId(id)).await?,
                None => None,
            };
            let task = task.ok_or_else(|| ApiError::forbidden("Invalid task_id"))?;
            let project = state
                .volunteer
                .projects
                .get(&state.infra.db, ProjectId(task.project_id))
                .await?
                .ok_or(ApiError::NotFound)?;
            let volunteer = identify(&project)?;
            let task = answers::TaskRef {
                id: TaskId(task.id),
                project_id: ProjectId(task.project_id),
            };
            (task, project, volunteer)
        }
    };
    may_volunteer(&caller, &project, &volunteer)?;
    let mut stored = None;
    if let Some(file) = body.file {
        let base = base_url(req, state.infra.config.public_url.as_deref());
        let ctx = state.ctx(&caller);
        stored = Some(
            uploads::store(
                ctx,
                <resources::TaskRun as crud::Resource>::TARGET,
                &base,
                &mut fields,
                file,
                None,
            )
            .await?,
        );
    }
    let answer = NewAnswer {
        project_id: project_id
            .map(ProjectId)
            .ok_or_else(|| ApiError::forbidden("Invalid project_id"))?,
        task_id: task.id,
        info: fields.remove("info"),
        media_url: fields
            .get("media_url")
            .and_then(Value::as_str)
            .map(str::to_string),
    };
    // A client that hangs up does not cut the answer short once it is being written: the
    // answer and what follows its commit (the hold released, the stamp and the idempotency
    // record) go together. Cut in between, the hold would count as a volunteer still to
    // answer until it expired, keeping the task from its last volunteer.
    let (state, idempotency) = (Arc::clone(state), idempotency_key.0);
    let submitted = tokio::spawn(async move {
        let submitted = Box::pin(answers::submit(
            &state.infra,
            &state.volunteer,
            &project,
            task,
            &volunteer,
            answer,
            idempotency.as_deref(),
        ))
        .await;
        match (&submitted, stored) {
            (Err(_), stored) => Box::pin(uploads::forget(&state.infra, stored)).await,
            // The answer's file is recorded with it: deleting the answer deletes it.
            (Ok(answered), Some(key)) => {
                let run = &answered.run;
                if let Err(e) = uploads::record(&state.infra.db, "taskrun", run.id, &key).await {
                    tracing::warn!(error = %e, "could not record an answer's file");
                }
            }
            (Ok(_), None) => {}
        }
        submitted
    })
    .await
    .unwrap_or_else(|e| Err(ApiError::internal(format!("answer task: {e}"))));
    // The volunteer sees the whole of their own answer, and with the project's `feedback`, the
    // verdict on a gold task.
    let submitted = submitted?;
    let mut body = crud::to_map::<resources::TaskRun>(&submitted.run, Access::Owner);
    if let Some(gold) = submitted.gold {
        body.insert("gold".into(), gold);
    }
    Ok(JsonOf::new(Value::Object(body)))
}
