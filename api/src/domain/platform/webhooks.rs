//! Webhooks: events recorded with the write that causes them, delivered by the job queue,
//! signed per the Standard Webhooks scheme (<https://www.standardwebhooks.com>).
//!
//! An event becomes a `webhook_delivery` row plus a job in the transaction that completes the
//! task (or takes the answer), so an event is never lost and never sent for a write that rolled
//! back. The job POSTs the payload with `webhook-id`, `webhook-timestamp` and
//! `webhook-signature` (`v1,` + base64 HMAC-SHA256 of `id.timestamp.body` under the project's
//! `whsec_` secret), retries with backoff, and records each attempt on the delivery. Receivers
//! dedupe on `webhook-id`: a retried or redelivered event keeps its id.
//!
//! Every delivery goes through [`crate::domain::platform::outbound`], the SSRF guard: the URL's host is checked
//! at each attempt, so a name that later resolves inside a private network is refused then.

use std::time::Duration;

use base64::{Engine, engine::general_purpose::STANDARD as B64};
use hmac::{Hmac, Mac};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set, sea_query::Expr,
};
use serde_json::{Value as Json, json};
use sha2::Sha256;

use crate::ids::ProjectId;
use crate::{
    domain::platform::cache::LocalRows,
    error::{ApiError, ApiResult},
    infra::Infra,
    store::jobs::{self, Attempt, JobError, NewJob},
    store::{
        entities::{project, result, task, task_run, webhook_delivery, webhook_endpoint},
        now,
    },
};

pub const TASK_COMPLETED: &str = "task.completed";
pub const PROJECT_COMPLETED: &str = "project.completed";
pub const TASKRUN_CREATED: &str = "taskrun.created";
pub const RESULT_REVIEWED: &str = "result.reviewed";
pub const PING: &str = "ping";
/// Every event a project can subscribe to.
pub const EVENTS: [&str; 4] = [
    TASK_COMPLETED,
    PROJECT_COMPLETED,
    TASKRUN_CREATED,
    RESULT_REVIEWED,
];
/// What a project gets until it chooses (PYBOSSA only ever sent task completions).
pub const DEFAULT_EVENTS: [&str; 2] = [TASK_COMPLETED, PROJECT_COMPLETED];

pub const PENDING: &str = "pending";
pub const RETRYING: &str = "retrying";
pub const DELIVERED: &str = "delivered";
pub const FAILED: &str = "failed";

/// The longest receiver answer kept in the log.
const RESPONSE_KEPT: usize = 1000;
/// The most of a receiver's answer read; the rest is dropped.
pub const RESPONSE_READ: usize = 64 * 1024;

fn new_secret() -> String {
    let mut bytes = [0u8; 24];
    rand::fill(&mut bytes);
    format!("whsec_{}", B64.encode(bytes))
}

/// The project's endpoint settings, created (with a fresh secret) on first use.
pub async fn endpoint(
    db: &impl ConnectionTrait,
    project_id: i32,
) -> Result<webhook_endpoint::Model, DbErr> {
    if let Some(found) = webhook_endpoint::Entity::find_by_id(project_id)
        .one(db)
        .await?
    {
        return Ok(found);
    }
    let stamp = now();
    let created = Box::pin(
        webhook_endpoint::Entity::insert(webhook_endpoint::ActiveModel {
            project_id: Set(project_id),
            secret: Set(new_secret()),
            events: Set(json!(DEFAULT_EVENTS)),
            created: Set(stamp.clone()),
            updated: Set(stamp),
        })
        .on_conflict(
            sea_orm::sea_query::OnConflict::column(webhook_endpoint::Column::ProjectId)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db),
    )
    .await;
    match created {
        Ok(_) | Err(DbErr::RecordNotInserted) => {}
        Err(e) => return Err(e),
    }
    webhook_endpoint::Entity::find_by_id(project_id)
        .one(db)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("webhook endpoint".into()))
}

/// Changes the subscribed events and/or rotates the secret.
pub async fn configure(
    db: &impl ConnectionTrait,
    project_id: i32,
    events: Option<Vec<String>>,
    rotate: bool,
) -> Result<webhook_endpoint::Model, DbErr> {
    let current = Box::pin(endpoint(db, project_id)).await?;
    let mut model: webhook_endpoint::ActiveModel = current.into();
    if let Some(events) = events {
        model.events = Set(json!(events));
    }
    if rotate {
        model.secret = Set(new_secret());
    }
    model.updated = Set(now());
    model.update(db).await
}

pub fn subscribed(ep: &webhook_endpoint::Model, event: &str) -> bool {
    ep.events
        .as_array()
        .is_some_and(|a| a.iter().any(|e| e.as_str() == Some(event)))
}

/// `YYYY-MM-DD HH:MM:SS`, as PYBOSSA's `fired_at`.
fn fired_at() -> String {
    chrono::Utc::now().format("%Y-%m-%d %H:%M:%S").to_string()
}

/// The envelope: Standard Webhooks' `type`/`timestamp`/`data`, plus PYBOSSA's flat fields so
/// receivers written for PYBOSSA keep working.
fn envelope(event: &str, p: &project::Model, data: Json) -> Json {
    let mut body = json!({
        "type": event,
        "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "event": event.replace('.', "_"),
        "project_short_name": p.short_name,
        "project_id": p.id,
        "fired_at": fired_at(),
    });
    if let (Some(map), Json::Object(extra)) = (body.as_object_mut(), &data) {
        for key in ["task_id", "result_id"] {
            if let Some(v) = extra.get(key) {
                map.insert(key.into(), v.clone());
            }
        }
        map.insert("data".into(), data);
    }
    body
}

/// Records a delivery and queues it; runs in the caller's transaction.
pub async fn record(
    db: &impl ConnectionTrait,
    attempts: i32,
    p: &project::Model,
    event: &str,
    data: Json,
) -> Result<webhook_delivery::Model, DbErr> {
    let id = format!("msg_{}", uuid::Uuid::new_v4().simple());
    Box::pin(record_with_id(db, attempts, p, event, data, id)).await
}

async fn record_with_id(
    db: &impl ConnectionTrait,
    attempts: i32,
    p: &project::Model,
    event: &str,
    data: Json,
    message_id: String,
) -> Result<webhook_delivery::Model, DbErr> {
    let stamp = now();
    let delivery = webhook_delivery::ActiveModel {
        project_id: Set(p.id),
        event: Set(event.into()),
        message_id: Set(message_id),
        payload: Set(envelope(event, p, data)),
        status: Set(PENDING.into()),
        attempts: Set(0),
        response_status_code: Set(None),
        response: Set(None),
        created: Set(stamp.clone()),
        updated: Set(stamp),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Box::pin(jobs::enqueue(db, NewJob::webhook(delivery.id, attempts))).await?;
    Ok(delivery)
}

/// What an answer caused, for the events it may fire.
pub struct AnswerEvents<'a> {
    pub run: &'a task_run::Model,
    pub completed: Option<(&'a task::Model, &'a result::Model)>,
}

pub fn has_webhook(p: &project::Model) -> bool {
    p.webhook.as_deref().is_some_and(|u| !u.trim().is_empty())
}

/// Records the events of an answer for a project with a webhook URL; returns how many.
pub async fn on_answer(
    db: &impl ConnectionTrait,
    attempts: i32,
    p: &project::Model,
    ev: AnswerEvents<'_>,
) -> Result<usize, DbErr> {
    if !has_webhook(p) {
        return Ok(0);
    }
    let ep = Box::pin(endpoint(db, p.id)).await?;
    let mut n = 0;
    if subscribed(&ep, TASKRUN_CREATED) {
        let r = ev.run;
        let data = json!({
            "taskrun_id": r.id, "task_id": r.task_id, "project_id": r.project_id,
            "user_id": r.user_id, "external_uid": r.external_uid, "created": r.created,
            "finish_time": r.finish_time, "info": r.info,
        });
        Box::pin(record(db, attempts, p, TASKRUN_CREATED, data)).await?;
        n += 1;
    }
    if let Some((t, res)) = ev.completed
        && subscribed(&ep, TASK_COMPLETED)
    {
        let data = json!({
            "project_id": p.id, "project_short_name": p.short_name, "task_id": t.id,
            "result_id": res.id, "n_answers": t.n_answers, "result": res.info,
        });
        Box::pin(record(db, attempts, p, TASK_COMPLETED, data)).await?;
        n += 1;
    }
    Ok(n)
}

/// An owner's review of a result, in the review's transaction: `result.reviewed` when the
/// project subscribes to it. Returns how many deliveries were queued.
pub async fn on_review(
    db: &impl ConnectionTrait,
    attempts: i32,
    p: &project::Model,
    data: Json,
) -> Result<usize, DbErr> {
    if !has_webhook(p) {
        return Ok(0);
    }
    let ep = Box::pin(endpoint(db, p.id)).await?;
    if !subscribed(&ep, RESULT_REVIEWED) {
        return Ok(0);
    }
    Box::pin(record(db, attempts, p, RESULT_REVIEWED, data)).await?;
    Ok(1)
}

/// After a task completed (and committed): fires `project.completed` when no task is left
/// open. Checked on committed counts, so of the last tasks completing at once at least one
/// sees the project complete; the message id (one per project size) makes it exactly one.
pub async fn after_completion(state: &Infra, p: &project::Model) -> Result<bool, DbErr> {
    if !has_webhook(p) {
        return Ok(false);
    }
    let t = crate::store::counters::totals(&state.db, ProjectId(p.id)).await?;
    if t.n_tasks == 0 || t.n_completed_tasks < t.n_tasks {
        return Ok(false);
    }
    let txn = crate::store::begin_write(&state.db).await?;
    let ep = Box::pin(endpoint(&txn, p.id)).await?;
    if !subscribed(&ep, PROJECT_COMPLETED) {
        return Ok(false);
    }
    let id = format!("msg_project_completed_{}_{}", p.id, t.n_tasks);
    let exists = webhook_delivery::Entity::find()
        .filter(webhook_delivery::Column::MessageId.eq(id.as_str()))
        .one(&txn)
        .await?
        .is_some();
    if exists {
        return Ok(false);
    }
    let data = json!({
        "project_id": p.id, "project_short_name": p.short_name,
        "n_tasks": t.n_tasks, "n_task_runs": t.n_task_runs,
    });
    match Box::pin(record_with_id(
        &txn,
        state.config.webhook_attempts,
        p,
        PROJECT_COMPLETED,
        data,
        id,
    ))
    .await
    {
        Ok(_) => {}
        // Another instance recorded it first.
        Err(e)
            if matches!(
                e.sql_err(),
                Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
            ) =>
        {
            return Ok(false);
        }
        Err(e) => return Err(e),
    }
    txn.commit().await?;
    state.jobs_wake.notify_one();
    Ok(true)
}

/// Sends a delivery again: back to pending, with a fresh job (and a fresh set of attempts).
pub async fn redeliver(
    state: &Infra,
    delivery: webhook_delivery::Model,
) -> Result<webhook_delivery::Model, DbErr> {
    let txn = crate::store::begin_write(&state.db).await?;
    let mut model: webhook_delivery::ActiveModel = delivery.into();
    model.status = Set(PENDING.into());
    model.updated = Set(now());
    let updated = model.update(&txn).await?;
    Box::pin(jobs::enqueue(
        &txn,
        NewJob::webhook(updated.id, state.config.webhook_attempts),
    ))
    .await?;
    txn.commit().await?;
    state.jobs_wake.notify_one();
    Ok(updated)
}

/// One of the project's deliveries.
pub async fn delivery(
    db: &impl ConnectionTrait,
    project_id: i32,
    id: i32,
) -> ApiResult<webhook_delivery::Model> {
    webhook_delivery::Entity::find_by_id(id)
        .filter(webhook_delivery::Column::ProjectId.eq(project_id))
        .one(db)
        .await?
        .ok_or(ApiError::NotFound)
}

/// A change to a project's webhook: the URL (`Some(None)` removes it) and the events sent.
pub struct SettingsChange {
    pub url: Option<Option<String>>,
    pub events: Option<Vec<String>>,
}

/// Applies a settings change in one transaction: the URL through the SSRF guard's literal check,
/// events from [`EVENTS`] only. Returns the project as it is now, with its endpoint.
pub async fn change_settings(
    infra: &Infra,
    local: LocalRows<'_>,
    p: &project::Model,
    change: SettingsChange,
) -> ApiResult<(project::Model, webhook_endpoint::Model)> {
    let url = match change.url {
        Some(Some(u)) if !u.trim().is_empty() => {
            let u = u.trim().to_string();
            crate::domain::platform::outbound::check_url_literal(&u, &infra.config.webhook_allow)
                .map_err(|why| {
                    ApiError::BadRequest(format!("webhook URL {u:?} is refused: {why}"))
                })?;
            Some(Some(u))
        }
        Some(_) => Some(None),
        None => None,
    };
    if let Some(events) = &change.events
        && let Some(bad) = events.iter().find(|e| !EVENTS.contains(&e.as_str()))
    {
        return Err(ApiError::BadRequest(format!(
            "unknown webhook event {bad:?}; known: {}",
            EVENTS.join(", ")
        )));
    }
    let txn = crate::store::begin_write(&infra.db).await?;
    if let Some(url) = url {
        project::Entity::update_many()
            .col_expr(project::Column::Webhook, Expr::value(url))
            .col_expr(project::Column::Updated, Expr::value(now()))
            .filter(project::Column::Id.eq(p.id))
            .exec(&txn)
            .await?;
    }
    let ep = Box::pin(configure(&txn, p.id, change.events, false)).await?;
    txn.commit().await?;
    // The loop reads the URL from its copy of the row.
    local.projects.forget(ProjectId(p.id)).await;
    let p = project::Entity::find_by_id(p.id)
        .one(&infra.db)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok((p, ep))
}

/// Queues a `ping` delivery to the project's webhook now.
pub async fn ping(infra: &Infra, p: &project::Model) -> ApiResult<webhook_delivery::Model> {
    if !has_webhook(p) {
        return Err(ApiError::BadRequest(
            "the project has no webhook URL; set one first".into(),
        ));
    }
    let txn = crate::store::begin_write(&infra.db).await?;
    let d = Box::pin(record(
        &txn,
        infra.config.webhook_attempts,
        p,
        PING,
        json!({"project_id": p.id, "project_short_name": p.short_name}),
    ))
    .await?;
    txn.commit().await?;
    infra.jobs_wake.notify_one();
    Ok(d)
}

/// A project's deliveries, newest first.
pub async fn deliveries(
    db: &impl ConnectionTrait,
    project_id: i32,
    status: Option<&str>,
    limit: u64,
    offset: u64,
) -> Result<Vec<webhook_delivery::Model>, DbErr> {
    let mut q =
        webhook_delivery::Entity::find().filter(webhook_delivery::Column::ProjectId.eq(project_id));
    if let Some(s) = status {
        q = q.filter(webhook_delivery::Column::Status.eq(s));
    }
    q.order_by_desc(webhook_delivery::Column::Id)
        .limit(limit)
        .offset(offset)
        .all(db)
        .await
}

// ---------------------------------------------------------------------------------------------
// Signing

/// `v1,<base64 signature>` of `msg_id.timestamp.body` under a `whsec_` secret.
pub fn sign(secret: &str, msg_id: &str, timestamp: i64, body: &[u8]) -> Option<String> {
    let key = B64
        .decode(secret.strip_prefix("whsec_").unwrap_or(secret))
        .ok()?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).ok()?;
    mac.update(msg_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Some(format!("v1,{}", B64.encode(mac.finalize().into_bytes())))
}

// ---------------------------------------------------------------------------------------------
// Delivering

async fn settle(
    db: &impl ConnectionTrait,
    d: &webhook_delivery::Model,
    status: &str,
    code: Option<i32>,
    response: String,
) -> Result<(), DbErr> {
    let mut model: webhook_delivery::ActiveModel = d.clone().into();
    model.status = Set(status.into());
    model.attempts = Set(d.attempts + 1);
    model.response_status_code = Set(code);
    model.response = Set(Some(response.chars().take(RESPONSE_KEPT).collect()));
    model.updated = Set(now());
    model.update(db).await?;
    Ok(())
}

/// Fails a delivery for good: its target can never work as configured.
async fn refuse(
    db: &impl ConnectionTrait,
    d: &webhook_delivery::Model,
    msg: String,
) -> Result<(), JobError> {
    settle(db, d, FAILED, None, msg.clone()).await?;
    Err(JobError::Permanent(msg))
}

/// The job: POST one delivery to the project's current URL.
pub async fn deliver(state: &Infra, delivery_id: i32, attempt: &Attempt) -> Result<(), JobError> {
    let db = &state.db;
    let Some(d) = webhook_delivery::Entity::find_by_id(delivery_id)
        .one(db)
        .await?
    else {
        return Err(JobError::Permanent("the delivery no longer exists".into()));
    };
    if d.status == DELIVERED {
        return Ok(());
    }
    let Some(p) = project::Entity::find_by_id(d.project_id).one(db).await? else {
        return Err(JobError::Permanent("the project no longer exists".into()));
    };
    let Some(raw_url) = p
        .webhook
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty())
    else {
        return refuse(db, &d, "no webhook URL is configured".into()).await;
    };
    let target = match crate::domain::platform::outbound::check(
        raw_url,
        &state.config.webhook_allow,
    )
    .await
    {
        Ok(t) => t,
        Err(msg) => return refuse(db, &d, msg).await,
    };
    let ep = Box::pin(endpoint(db, p.id)).await?;
    let body = serde_json::to_vec(&d.payload).map_err(|e| JobError::Permanent(e.to_string()))?;
    let timestamp = chrono::Utc::now().timestamp();
    let Some(signature) = sign(&ep.secret, &d.message_id, timestamp, &body) else {
        return Err(JobError::Permanent(
            "the project's secret is malformed".into(),
        ));
    };
    let timeout = Duration::from_secs(state.config.webhook_timeout_secs.max(1));
    let client =
        crate::domain::platform::outbound::client(&target, timeout).map_err(JobError::Retry)?;
    let sent = client
        .post(target.url.clone())
        .header("content-type", "application/json")
        .header("webhook-id", &d.message_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(body)
        .send()
        .await;
    let (code, response) = match sent {
        Ok(resp) => {
            let code = i32::from(resp.status().as_u16());
            // The rest of a long answer is dropped unread.
            let (bytes, _) =
                crate::domain::platform::outbound::read_capped(resp, RESPONSE_READ).await;
            (Some(code), String::from_utf8_lossy(&bytes).into_owned())
        }
        Err(e) => (None, crate::domain::platform::outbound::describe_error(&e)),
    };
    if code.is_some_and(|c| (200..300).contains(&c)) {
        settle(db, &d, DELIVERED, code, response).await?;
        return Ok(());
    }
    let status = if attempt.last { FAILED } else { RETRYING };
    let reason = match code {
        Some(c) => format!("the receiver answered {c}"),
        None => response.clone(),
    };
    settle(db, &d, status, code, response).await?;
    Err(JobError::Retry(reason))
}
