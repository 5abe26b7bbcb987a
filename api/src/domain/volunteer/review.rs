//! Owners' review of doubtful results: the queue (current results not yet reviewed, lowest
//! confidence first) and the four verdicts — accept the aggregate, pick one answer, write an
//! expert answer (all three as `info.final`, with who and when), or reopen the task for more
//! answers. The caller has checked that the reviewer owns the project.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
    sea_query::{Expr, ExprTrait},
};
use serde_json::{Map, Value as Json, json};

use crate::{
    domain::{
        platform::{cache, webhooks},
        volunteer::completion::run_key,
    },
    error::{ApiError, ApiResult},
    ids::{ProjectId, UserId},
    infra::Infra,
    store::{
        counters::{self, Delta},
        entities::{project, project_volunteer as pv, result, task, task::TaskState, task_run},
        now, touch_project,
    },
};

/// The most answers a reopened task may ask for at once.
pub const MAX_MORE_ANSWERS: i32 = 100;

/// Which results the queue holds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QueueFilter {
    /// Only results at most this sure.
    pub max_confidence: Option<f64>,
    /// Reviewed ones too (after the others).
    pub include_reviewed: bool,
}

/// One answer as a reviewer sees it.
#[derive(Debug, Clone)]
pub struct Answer {
    pub run: task_run::Model,
    pub volunteer: String,
    /// The owner excluded its volunteer: it does not count in the aggregate.
    pub excluded: bool,
}

/// One result in the queue, with what a reviewer needs to judge it.
#[derive(Debug, Clone)]
pub struct Item {
    pub result: result::Model,
    pub task: task::Model,
    pub answers: Vec<Answer>,
}

/// A page of the queue: not yet reviewed results, lowest confidence first (results without a
/// confidence — formed before it was recorded — first of all), then by id.
pub async fn queue(
    db: &impl ConnectionTrait,
    project: ProjectId,
    filter: QueueFilter,
    limit: u64,
    offset: u64,
) -> ApiResult<(Vec<Item>, bool)> {
    let mut q = result::Entity::find()
        .filter(result::Column::ProjectId.eq(project.0))
        .filter(result::Column::LastVersion.eq(true));
    if !filter.include_reviewed {
        q = q.filter(result::Column::Reviewed.is_null());
    }
    if let Some(max) = filter.max_confidence {
        q = q.filter(
            sea_orm::Condition::any()
                .add(result::Column::Confidence.lte(max))
                .add(result::Column::Confidence.is_null()),
        );
    }
    let mut rows = q
        .order_by_asc(Expr::col(result::Column::Reviewed).is_not_null())
        .order_by_asc(Expr::col(result::Column::Confidence).is_not_null())
        .order_by_asc(result::Column::Confidence)
        .order_by_asc(result::Column::Id)
        .limit(limit + 1)
        .offset(offset)
        .all(db)
        .await?;
    let has_more = rows.len() as u64 > limit;
    rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let task_ids: Vec<i32> = rows.iter().map(|r| r.task_id).collect();
    let tasks = task::Entity::find()
        .filter(task::Column::Id.is_in(task_ids.clone()))
        .all(db)
        .await?;
    let runs = task_run::Entity::find()
        .filter(task_run::Column::TaskId.is_in(task_ids))
        .order_by_asc(task_run::Column::Id)
        .all(db)
        .await?;
    let excluded: Vec<String> = pv::Entity::find()
        .select_only()
        .column(pv::Column::Volunteer)
        .filter(pv::Column::ProjectId.eq(project.0))
        .filter(pv::Column::ExcludedAt.is_not_null())
        .into_tuple()
        .all(db)
        .await?;
    let mut items = Vec::with_capacity(rows.len());
    for r in rows {
        let Some(t) = tasks.iter().find(|t| t.id == r.task_id) else {
            continue;
        };
        let ids = run_ids(&r);
        let answers = runs
            .iter()
            .filter(|run| run.task_id == r.task_id && ids.contains(&run.id))
            .map(|run| {
                let volunteer = run_key(run);
                Answer {
                    excluded: excluded.contains(&volunteer),
                    volunteer,
                    run: run.clone(),
                }
            })
            .collect();
        items.push(Item {
            result: r,
            task: t.clone(),
            answers,
        });
    }
    Ok((items, has_more))
}

fn run_ids(r: &result::Model) -> Vec<i32> {
    r.task_run_ids
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Json::as_i64)
                .filter_map(|n| i32::try_from(n).ok())
                .collect()
        })
        .unwrap_or_default()
}

/// How sure a project's current results are.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Summary {
    pub results: u64,
    pub reviewed: u64,
    /// Results per tenth of confidence: `[0, 0.1)`, …, `[0.9, 1]`.
    pub histogram: [u64; 10],
    /// Results formed before confidences were recorded.
    pub unknown: u64,
}

/// The confidence histogram and review counts of a project's current results.
pub async fn summary(db: &impl ConnectionTrait, project: ProjectId) -> ApiResult<Summary> {
    let rows: Vec<(Option<f64>, Option<String>)> = result::Entity::find()
        .select_only()
        .column(result::Column::Confidence)
        .column(result::Column::Reviewed)
        .filter(result::Column::ProjectId.eq(project.0))
        .filter(result::Column::LastVersion.eq(true))
        .into_tuple()
        .all(db)
        .await?;
    let mut out = Summary::default();
    for (confidence, reviewed) in rows {
        out.results += 1;
        out.reviewed += u64::from(reviewed.is_some());
        match confidence {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            Some(c) => out.histogram[((c.clamp(0.0, 1.0) * 10.0) as usize).min(9)] += 1,
            None => out.unknown += 1,
        }
    }
    Ok(out)
}

/// A reviewer's verdict on a result.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// The aggregate's value is right.
    Accept,
    /// This answer (one of the result's) is right.
    Pick { task_run_id: i32 },
    /// The right answer, written by the reviewer.
    Expert { answer: Json },
    /// The task takes `answers` more answers; a new result forms when it has them.
    Reopen { answers: i32 },
}

impl Verdict {
    fn name(&self) -> &'static str {
        match self {
            Verdict::Accept => "accept",
            Verdict::Pick { .. } => "pick",
            Verdict::Expert { .. } => "expert",
            Verdict::Reopen { .. } => "reopen",
        }
    }
}

/// The aggregate's value: the scalar's, or an object of the fields' values.
fn aggregate_value(info: Option<&Json>) -> Option<Json> {
    let agg = info?.get("aggregate")?;
    if let Some(fields) = agg.get("fields").and_then(Json::as_object) {
        let values: Map<String, Json> = fields
            .iter()
            .map(|(k, f)| (k.clone(), f.get("value").cloned().unwrap_or(Json::Null)))
            .collect();
        return Some(Json::Object(values));
    }
    agg.get("value").cloned()
}

/// Records a verdict on a current result of `project`, with its webhook event, in one
/// transaction. Returns the result as it is now.
pub async fn review(
    infra: &Infra,
    project: &project::Model,
    result_id: i32,
    verdict: Verdict,
    reviewer: UserId,
) -> ApiResult<result::Model> {
    let txn = crate::store::begin_write(&infra.db).await?;
    let current = result::Entity::find_by_id(result_id)
        .filter(result::Column::ProjectId.eq(project.id))
        .one(&txn)
        .await?
        .ok_or(ApiError::NotFound)?;
    if !current.last_version {
        return Err(ApiError::Conflict(
            "this result is no longer the task's current one; review its newer result".into(),
        ));
    }
    let at = now();
    let mut info = match current.info.clone() {
        Some(Json::Object(o)) => o,
        _ => Map::new(),
    };
    let mut event = json!({
        "result_id": current.id, "task_id": current.task_id, "project_id": project.id,
        "action": verdict.name(), "by": reviewer.0, "at": at,
    });
    // The answer the verdict makes final, with the task run it came from; none for `reopen`.
    let chosen = match &verdict {
        Verdict::Reopen { answers } => {
            if !(1..=MAX_MORE_ANSWERS).contains(answers) {
                return Err(ApiError::bad_request(format!(
                    "answers: ask for 1 to {MAX_MORE_ANSWERS} more answers"
                )));
            }
            Box::pin(reopen(&txn, project, current.task_id, *answers)).await?;
            info.insert(
                "reopened".into(),
                json!({"by": reviewer.0, "at": at, "answers": answers}),
            );
            if let Some(o) = event.as_object_mut() {
                o.insert("answers".into(), json!(answers));
            }
            None
        }
        Verdict::Accept => Some((
            aggregate_value(current.info.as_ref()).ok_or_else(|| {
                ApiError::bad_request(
                    "this result has no aggregate to accept; pick an answer or write one",
                )
            })?,
            None,
        )),
        Verdict::Pick { task_run_id } => {
            if !run_ids(&current).contains(task_run_id) {
                return Err(ApiError::bad_request(format!(
                    "task_run_id: {task_run_id} is not one of this result's answers"
                )));
            }
            let run = task_run::Entity::find_by_id(*task_run_id)
                .one(&txn)
                .await?
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "task_run_id: answer {task_run_id} no longer exists"
                    ))
                })?;
            Some((run.info.unwrap_or(Json::Null), Some(*task_run_id)))
        }
        Verdict::Expert { answer } => Some((answer.clone(), None)),
    };
    if let Some((value, run)) = chosen {
        let mut fin = json!({
            "value": value, "action": verdict.name(), "by": reviewer.0, "at": at,
        });
        if let (Some(id), Some(o)) = (run, fin.as_object_mut()) {
            o.insert("task_run_id".into(), json!(id));
        }
        if let Some(o) = event.as_object_mut() {
            o.insert("final".into(), fin.clone());
        }
        info.insert("final".into(), fin);
    }
    let updated = result::ActiveModel {
        id: sea_orm::Unchanged(current.id),
        info: Set(Some(Json::Object(info))),
        reviewed: Set(Some(at)),
        ..Default::default()
    }
    .update(&txn)
    .await?;
    let events = Box::pin(webhooks::on_review(
        &txn,
        infra.config.webhook_attempts,
        project,
        event,
    ))
    .await?;
    touch_project(&txn, ProjectId(project.id)).await?;
    txn.commit().await?;
    if events > 0 {
        infra.jobs_wake.notify_one();
    }
    infra
        .kv
        .delete_many(&cache::keys_for_project(ProjectId(project.id)))
        .await;
    Ok(updated)
}

/// Opens a completed task for `more` answers beyond those it has.
async fn reopen(
    txn: &sea_orm::DatabaseTransaction,
    project: &project::Model,
    task_id: i32,
    more: i32,
) -> ApiResult<()> {
    let t = task::Entity::find_by_id(task_id)
        .one(txn)
        .await?
        .ok_or(ApiError::NotFound)?;
    if t.state != TaskState::Completed {
        return Err(ApiError::Conflict(
            "the task is already open for answers".into(),
        ));
    }
    let n_answers = t.n_task_runs.saturating_add(more);
    let done = task::Entity::update_many()
        .col_expr(task::Column::State, Expr::value(TaskState::Ongoing))
        .col_expr(task::Column::NAnswers, Expr::value(n_answers))
        .filter(task::Column::Id.eq(t.id))
        .filter(task::Column::State.eq(TaskState::Completed))
        .exec(txn)
        .await?;
    if done.rows_affected == 0 {
        return Err(ApiError::Conflict(
            "the task is already open for answers".into(),
        ));
    }
    Box::pin(counters::add(
        txn,
        ProjectId(project.id),
        Delta {
            completed_tasks: -1,
            answers_expected: i64::from(n_answers - t.n_answers),
            ..Delta::default()
        },
    ))
    .await?;
    Ok(())
}

/// Excludes a volunteer's answers from the project's aggregates, or counts them again; the
/// aggregates follow in the background. `None` when the project has no such volunteer.
pub async fn exclude(
    infra: &Infra,
    project: ProjectId,
    volunteer: &str,
    excluded: bool,
) -> ApiResult<Option<pv::Model>> {
    let txn = crate::store::begin_write(&infra.db).await?;
    let Some(row) = pv::Entity::find_by_id((project.0, volunteer.to_owned()))
        .one(&txn)
        .await?
    else {
        return Ok(None);
    };
    if row.excluded_at.is_some() == excluded {
        return Ok(Some(row));
    }
    let updated = pv::ActiveModel {
        project_id: sea_orm::Unchanged(project.0),
        volunteer: sea_orm::Unchanged(volunteer.to_owned()),
        excluded_at: Set(excluded.then(now)),
        ..Default::default()
    }
    .update(&txn)
    .await?;
    crate::store::jobs::enqueue(&txn, crate::store::jobs::NewJob::reaggregate(project)).await?;
    txn.commit().await?;
    infra.jobs_wake.notify_one();
    Ok(Some(updated))
}
