//! Taking an answer (a task run) and completing tasks.
//!
//! One transaction inserts the answer and bumps the task's answer count only while the task
//! still needs answers; the answer that brings the count to `n_answers` completes the task and
//! creates its one result. The unique indexes on task runs enforce one answer per volunteer per
//! task; the conditional update enforces exactly `n_answers` answers, however many volunteers
//! answer at once.

use std::time::Duration;

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter,
    QueryOrder, Set,
    sea_query::{Expr, ExprTrait},
};
use serde_json::{Value as Json, json};

use super::{
    aggregate::aggregate,
    cache,
    identity::Volunteer,
    scheduler::{Scheduler, stamp_key},
    stats, webhooks,
};
use crate::{
    error::{ApiError, ApiResult},
    state::AppState,
    store::{
        counters::{self, Delta},
        entities::{project, result, task, task_run},
        now,
    },
};

pub struct NewAnswer {
    pub project_id: i32,
    pub task_id: i32,
    pub info: Option<Json>,
    pub media_url: Option<String>,
}

fn first_request() -> ApiError {
    ApiError::forbidden("You must request a task first!")
}

/// How long a retried POST with the same `Idempotency-Key` gets the first answer back.
const IDEMPOTENCY_TTL: Duration = Duration::from_secs(24 * 3600);

fn idempotency_key(volunteer: &Volunteer, key: &str) -> String {
    format!("idem:{}:{key}", volunteer.key)
}

async fn existing_answer(
    db: &impl ConnectionTrait,
    task_id: i32,
    v: &Volunteer,
) -> ApiResult<Option<task_run::Model>> {
    Ok(task_run::Entity::find()
        .filter(task_run::Column::TaskId.eq(task_id))
        .filter(v.answered_by())
        .one(db)
        .await?)
}

pub async fn submit(
    state: &AppState,
    project: &project::Model,
    task: &task::Model,
    volunteer: &Volunteer,
    answer: NewAnswer,
    idempotency: Option<&str>,
) -> ApiResult<task_run::Model> {
    if task.project_id != answer.project_id {
        return Err(ApiError::forbidden("Invalid project_id"));
    }
    if volunteer.is_anonymous() && !project.allow_anonymous_contributors {
        return Err(ApiError::Unauthorized(Some(
            "This project does not allow anonymous contributors".into(),
        )));
    }
    // A retry of an answer already taken gets that answer back.
    if let Some(key) = idempotency
        && let Ok(Some(id)) = state.kv.get(&idempotency_key(volunteer, key)).await
        && let Some(run) = task_run::Entity::find_by_id(id.parse::<i32>().unwrap_or(-1))
            .one(&state.db)
            .await?
    {
        return Ok(run);
    }
    let stamp = state.kv.get(&stamp_key(task.id, volunteer)).await;
    let requested = match stamp {
        Ok(Some(at)) => at,
        Ok(None) => {
            if idempotency.is_some()
                && let Some(run) = existing_answer(&state.db, task.id, volunteer).await?
            {
                return Ok(run);
            }
            return Err(first_request());
        }
        // The store is down: take the answer, dated now (the database still guards it).
        Err(()) => now(),
    };
    if Scheduler::of(project) == Scheduler::Locked && !state.kv.holds(task.id, &volunteer.key).await
    {
        return Err(first_request());
    }

    let txn = crate::store::begin_write(&state.db).await?;
    let inserted = task_run::ActiveModel {
        created: Set(requested),
        project_id: Set(project.id),
        task_id: Set(task.id),
        user_id: Set(volunteer.user_id),
        user_ip: Set(volunteer.user_ip.clone()),
        finish_time: Set(now()),
        timeout: Set(None),
        calibration: Set(None),
        external_uid: Set(volunteer.external_uid.clone()),
        media_url: Set(answer.media_url),
        info: Set(answer.info),
        ..Default::default()
    }
    .insert(&txn)
    .await;
    let run = match inserted {
        Ok(run) => run,
        Err(e) => {
            txn.rollback().await.ok();
            return match ApiError::from(e) {
                ApiError::Integrity(_) => match (
                    idempotency,
                    existing_answer(&state.db, task.id, volunteer).await?,
                ) {
                    (Some(_), Some(run)) => Ok(run),
                    _ => Err(ApiError::Forbidden(None)),
                },
                other => Err(other),
            };
        }
    };
    // Count the answer only while the task still needs one; the row lock this takes orders
    // concurrent answers to the same task.
    let counted = task::Entity::update_many()
        .col_expr(
            task::Column::NTaskRuns,
            Expr::col(task::Column::NTaskRuns).add(1),
        )
        .filter(task::Column::Id.eq(task.id))
        .filter(task::Column::State.eq("ongoing"))
        .filter(Expr::col(task::Column::NTaskRuns).lt(Expr::col(task::Column::NAnswers)))
        .exec_with_returning(&txn)
        .await?;
    let Some(current) = counted.into_iter().next() else {
        txn.rollback().await.ok();
        state.kv.release(task.id, &volunteer.key).await;
        return Err(ApiError::Conflict(
            "This task already has all the answers it needs".into(),
        ));
    };
    let completed = current.n_task_runs >= current.n_answers;
    // One shard for every counter change of this answer (see `counters::add_to_shard`); the
    // counters go before the statistics rows so a recount holding the counters waits here.
    let shard = counters::random_shard();
    let mut delta = Delta {
        task_runs: 1,
        answer_ms: stats::answer_ms(&run.created, &run.finish_time),
        ..Delta::default()
    };
    let result = if completed {
        delta.completed_tasks = 1;
        delta.results = 1;
        Some(complete(&txn, &current).await?)
    } else {
        None
    };
    counters::add_to_shard(&txn, project.id, shard, delta).await?;
    let newcomer = stats::record_answer(
        &txn,
        project.id,
        shard,
        volunteer,
        &run.finish_time,
        completed,
    )
    .await?;
    counters::add_to_shard(&txn, project.id, shard, newcomer).await?;
    let events = webhooks::on_answer(
        &txn,
        state.config.webhook_attempts,
        project,
        webhooks::AnswerEvents {
            run: &run,
            completed: result.as_ref().map(|r| (&current, r)),
        },
    )
    .await?;
    txn.commit().await?;
    state.metrics.answers.inc();
    if events > 0 {
        state.jobs_wake.notify_one();
    }
    if completed {
        state.metrics.tasks_completed.inc();
        if let Err(e) = webhooks::after_completion(state, project).await {
            tracing::warn!(project = project.id, error = %e, "project completion check failed");
        }
    }

    state
        .kv
        .answered(
            &stamp_key(task.id, volunteer),
            task.id,
            &volunteer.key,
            &cache::keys_for_project(project.id),
        )
        .await;
    if let Some(key) = idempotency {
        state
            .kv
            .set(
                &idempotency_key(volunteer, key),
                &run.id.to_string(),
                IDEMPOTENCY_TTL,
            )
            .await;
    }
    Ok(run)
}

/// Marks a task completed and creates its result (the previous one, if the task was reopened,
/// stops being the last version). Runs inside the caller's transaction.
pub async fn complete(txn: &DatabaseTransaction, t: &task::Model) -> ApiResult<result::Model> {
    task::Entity::update_many()
        .col_expr(task::Column::State, Expr::value("completed"))
        .filter(task::Column::Id.eq(t.id))
        .exec(txn)
        .await?;
    let runs = task_run::Entity::find()
        .filter(task_run::Column::TaskId.eq(t.id))
        .order_by_asc(task_run::Column::Id)
        .all(txn)
        .await?;
    result::Entity::update_many()
        .col_expr(result::Column::LastVersion, Expr::value(false))
        .filter(result::Column::TaskId.eq(t.id))
        .filter(result::Column::LastVersion.eq(true))
        .exec(txn)
        .await?;
    let answers: Vec<Json> = runs
        .iter()
        .map(|r| r.info.clone().unwrap_or(Json::Null))
        .collect();
    let model = result::ActiveModel {
        created: Set(now()),
        project_id: Set(t.project_id),
        task_id: Set(t.id),
        task_run_ids: Set(json!(runs.iter().map(|r| r.id).collect::<Vec<_>>())),
        last_version: Set(true),
        info: Set(aggregate(&answers)),
        ..Default::default()
    }
    .insert(txn)
    .await?;
    Ok(model)
}

/// After a redundancy change: completes a task that now has enough answers, or reopens one
/// that no longer does. Returns the counter change.
pub async fn settle(txn: &DatabaseTransaction, t: &task::Model) -> ApiResult<Delta> {
    if t.state == "completed" && t.n_task_runs < t.n_answers {
        task::Entity::update_many()
            .col_expr(task::Column::State, Expr::value("ongoing"))
            .filter(task::Column::Id.eq(t.id))
            .exec(txn)
            .await?;
        return Ok(Delta {
            completed_tasks: -1,
            ..Delta::default()
        });
    }
    if t.state == "ongoing" && t.n_task_runs > 0 && t.n_task_runs >= t.n_answers {
        complete(txn, t).await?;
        return Ok(Delta {
            completed_tasks: 1,
            results: 1,
            ..Delta::default()
        });
    }
    Ok(Delta::default())
}

/// `{done, total, remaining}` for a volunteer in a project.
pub async fn progress(
    state: &AppState,
    project: &project::Model,
    v: &Volunteer,
) -> ApiResult<(u64, u64)> {
    use sea_orm::PaginatorTrait;
    let done = task_run::Entity::find()
        .filter(task_run::Column::ProjectId.eq(project.id))
        .filter(v.answered_by())
        .count(&state.read_db)
        .await?;
    let total = counters::totals(&state.read_db, project.id).await?.n_tasks;
    let total = u64::try_from(total).unwrap_or(0);
    Ok((done, total))
}
