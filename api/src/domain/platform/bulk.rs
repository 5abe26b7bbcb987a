//! Changing or deleting many tasks at once: every task of a project that a filter matches gets a
//! new redundancy, priority or calibration, or goes with its answers and results. One
//! transaction does it, with the project's counters; a big set runs as a job instead, so the
//! request does not hold a connection for minutes. Tasks a redundancy change completes get
//! their result, and completed tasks it raises above their answers reopen, as one task's
//! update does.

use sea_orm::{
    ColumnTrait, Condition, DatabaseTransaction, EntityTrait, FromQueryResult, PaginatorTrait,
    QueryFilter, QuerySelect,
    sea_query::{Expr, ExprTrait, Func, Query},
};
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};

use crate::domain::volunteer::completion;
use crate::error::{ApiError, ApiResult};
use crate::ids::ProjectId;
use crate::infra::Infra;
use crate::store::{
    counters::{self, Delta},
    entities::{task, task::TaskState, task_run, upload},
    jobs::{self as queue, Attempt, Kind, NewJob},
};

/// Above this many matched tasks, the operation runs as a job.
pub const JOB_ABOVE: u64 = 5000;
/// Ids a filter may list.
const MAX_IDS: usize = 10_000;
/// Tasks completed per round while settling a redundancy change.
const SETTLE_ROUND: u64 = 500;

/// Which tasks: all of the project's when empty; each key given narrows the set.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    /// `ongoing` or `completed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Task ids.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ids: Option<Vec<i32>>,
    /// The owner's ids (`external_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_ids: Option<Vec<String>>,
    /// The listing's `info` filter: `k1::v1|k2::v2`, or a JSON object `info` must contain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub info: Option<Json>,
}

/// New values; at least one.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Changes {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n_answers: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority_0: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<i32>,
}

/// What to do with the tasks matched.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Op {
    pub filter: Filter,
    /// The changes (an update), or `None` with `delete`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set: Option<Changes>,
    #[serde(default)]
    pub delete: bool,
}

/// What an operation did (or, for a job, will do).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Outcome {
    pub matched: u64,
    pub updated: u64,
    pub deleted: u64,
    /// Tasks a redundancy change completed (each with a new result) or reopened.
    pub completed: u64,
    pub reopened: u64,
    /// `done`, or `queued` when it runs as a job.
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_id: Option<i32>,
}

impl Op {
    /// Checks what a client sent.
    pub fn check(&self) -> ApiResult<()> {
        match (&self.set, self.delete) {
            (Some(_), true) => {
                return Err(ApiError::bad_request("give either set or delete, not both"));
            }
            (None, false) => {
                return Err(ApiError::bad_request(
                    "say what to do: set {n_answers, priority_0, calibration}, or delete: true",
                ));
            }
            _ => {}
        }
        if let Some(set) = &self.set {
            if set.n_answers.is_none() && set.priority_0.is_none() && set.calibration.is_none() {
                return Err(ApiError::bad_request(
                    "set must change n_answers, priority_0 or calibration",
                ));
            }
            if set.n_answers.is_some_and(|n| !(1..=100_000).contains(&n)) {
                return Err(ApiError::bad_request("n_answers must be from 1 to 100000"));
            }
            if set
                .priority_0
                .is_some_and(|p| !p.is_finite() || !(0.0..=1.0).contains(&p))
            {
                return Err(ApiError::bad_request("priority_0 must be from 0 to 1"));
            }
            if set.calibration.is_some_and(|c| c != 0 && c != 1) {
                return Err(ApiError::bad_request("calibration must be 0 or 1"));
            }
            if set.calibration.is_some() && set.n_answers.is_some() {
                return Err(ApiError::bad_request(
                    "change calibration and n_answers in separate calls",
                ));
            }
        }
        let f = &self.filter;
        if let Some(state) = &f.state
            && !matches!(state.as_str(), "ongoing" | "completed")
        {
            return Err(ApiError::bad_request(
                "filter.state must be ongoing or completed",
            ));
        }
        if f.ids.as_ref().is_some_and(|ids| ids.len() > MAX_IDS)
            || f.external_ids
                .as_ref()
                .is_some_and(|ids| ids.len() > MAX_IDS)
        {
            return Err(ApiError::bad_request(format!(
                "a filter may list at most {MAX_IDS} ids"
            )));
        }
        if let Some(info) = &f.info
            && !matches!(info, Json::String(_) | Json::Object(_))
        {
            return Err(ApiError::bad_request(
                "filter.info must be k1::v1|k2::v2 text or a JSON object",
            ));
        }
        Ok(())
    }
}

/// The tasks a filter matches, as a condition.
fn matching(infra: &Infra, project_id: ProjectId, f: &Filter) -> ApiResult<Condition> {
    let mut cond = Condition::all().add(task::Column::ProjectId.eq(project_id));
    if let Some(state) = &f.state {
        let state = if state == "completed" {
            TaskState::Completed
        } else {
            TaskState::Ongoing
        };
        cond = cond.add(task::Column::State.eq(state));
    }
    if let Some(ids) = &f.ids {
        cond = cond.add(task::Column::Id.is_in(ids.clone()));
    }
    if let Some(ids) = &f.external_ids {
        cond = cond.add(task::Column::ExternalId.is_in(ids.clone()));
    }
    if let Some(info) = &f.info {
        let raw = match info {
            Json::String(s) => s.clone(),
            other => other.to_string(),
        };
        cond = cond.add(crate::domain::rest::json_filter::info_condition(
            infra.backend(),
            "task",
            &raw,
            false,
        )?);
    }
    Ok(cond)
}

/// Runs the operation now, or queues it as a job when it matches many tasks.
pub async fn apply(infra: &Infra, project_id: ProjectId, op: &Op) -> ApiResult<Outcome> {
    op.check()?;
    let cond = matching(infra, project_id, &op.filter)?;
    let matched = task::Entity::find().filter(cond).count(&infra.db).await?;
    if matched > JOB_ABOVE {
        let job = NewJob {
            max_attempts: 3,
            ..NewJob::new(
                Kind::BulkTasks,
                json!({ "project_id": project_id, "op": op }),
            )
        };
        let job_id = Box::pin(queue::enqueue(&infra.db, job)).await?;
        infra.jobs_wake.notify_one();
        return Ok(Outcome {
            matched,
            status: "queued",
            job_id,
            ..Outcome::default()
        });
    }
    Box::pin(run(infra, project_id, op, None)).await
}

#[derive(FromQueryResult)]
struct Sums {
    n: i64,
    answers: i64,
    runs: i64,
    completed: i64,
}

async fn sums(txn: &DatabaseTransaction, cond: Condition) -> ApiResult<Sums> {
    let sum = |c: task::Column| {
        Expr::expr(Func::coalesce([
            Expr::expr(Func::sum(Expr::col(c))),
            Expr::val(0),
        ]))
        .cast_as("bigint")
    };
    let completed = Expr::cust("COALESCE(SUM(CASE WHEN state = 'completed' THEN 1 ELSE 0 END), 0)")
        .cast_as("bigint");
    let row = task::Entity::find()
        .select_only()
        .column_as(
            Expr::expr(Func::count(Expr::col(task::Column::Id))).cast_as("bigint"),
            "n",
        )
        .column_as(sum(task::Column::NAnswers), "answers")
        .column_as(sum(task::Column::NTaskRuns), "runs")
        .column_as(completed, "completed")
        .filter(cond)
        .into_model::<Sums>()
        .one(txn)
        .await?;
    Ok(row.unwrap_or(Sums {
        n: 0,
        answers: 0,
        runs: 0,
        completed: 0,
    }))
}

/// Runs the operation in one transaction (as a job, `attempt` renews its lease between rounds).
pub async fn run(
    infra: &Infra,
    project_id: ProjectId,
    op: &Op,
    attempt: Option<&Attempt>,
) -> ApiResult<Outcome> {
    op.check()?;
    let cond = matching(infra, project_id, &op.filter)?;
    let txn = crate::store::begin_write(&infra.db).await?;
    let before = sums(&txn, cond.clone()).await?;
    // Gold tasks are not part of the work the counters measure, and never complete.
    let work_cond = cond.clone().add(task::Column::Calibration.eq(0));
    let work = sums(&txn, work_cond.clone()).await?;
    let mut out = Outcome {
        matched: u64::try_from(before.n).unwrap_or(0),
        status: "done",
        ..Outcome::default()
    };
    let mut files = Vec::new();
    if op.delete {
        let ids = Query::select()
            .column(task::Column::Id)
            .from(task::Entity)
            .cond_where(cond.clone())
            .to_owned();
        let results = crate::store::entities::result::Entity::find()
            .filter(crate::store::entities::result::Column::TaskId.in_subquery(ids.clone()))
            .count(&txn)
            .await?;
        // The answers' files go with them (only what the server recorded for them).
        let runs = Query::select()
            .column(task_run::Column::Id)
            .from(task_run::Entity)
            .and_where(task_run::Column::TaskId.in_subquery(ids.clone()))
            .to_owned();
        let of_runs = Condition::all()
            .add(upload::Column::Target.eq("taskrun"))
            .add(upload::Column::ObjectId.in_subquery(runs));
        files = upload::Entity::find()
            .select_only()
            .column(upload::Column::StorageKey)
            .filter(of_runs.clone())
            .into_tuple::<String>()
            .all(&txn)
            .await?;
        Box::pin(upload::Entity::delete_many().filter(of_runs).exec(&txn)).await?;
        // Answers and results go with their task (foreign keys cascade).
        let deleted = Box::pin(task::Entity::delete_many().filter(cond).exec(&txn)).await?;
        out.deleted = deleted.rows_affected;
        Box::pin(counters::add(
            &txn,
            project_id,
            Delta {
                tasks: -work.n,
                task_runs: -before.runs,
                completed_tasks: -work.completed,
                results: -i64::try_from(results).unwrap_or(0),
                answers_expected: -work.answers,
                ..Delta::default()
            },
        ))
        .await?;
        if before.runs > 0 {
            Box::pin(queue::enqueue(&txn, NewJob::rebuild_stats(project_id))).await?;
        }
    } else if let Some(set) = &op.set {
        // Tasks that change sides: their counts leave or join the work.
        let mut sides = Delta::default();
        let mut now_work = None;
        match set.calibration {
            Some(1) => {
                let unfit = task::Entity::find()
                    .filter(work_cond.clone())
                    .filter(
                        Condition::any()
                            .add(task::Column::GoldAnswers.is_null())
                            .add(task::Column::State.eq(TaskState::Completed)),
                    )
                    .count(&txn)
                    .await?;
                if unfit > 0 {
                    txn.rollback().await.ok();
                    return Err(ApiError::bad_request(format!(
                        "{unfit} of the matched tasks cannot become gold: a gold task needs \
                         gold_answers and must not be completed"
                    )));
                }
                sides.tasks = -work.n;
                sides.answers_expected = -work.answers;
            }
            Some(_) => {
                let gold = sums(&txn, cond.clone().add(task::Column::Calibration.eq(1))).await?;
                sides.tasks = gold.n;
                sides.answers_expected = gold.answers;
                now_work = Some(gold.n);
            }
            None => {}
        }
        let mut update = task::Entity::update_many().filter(cond.clone());
        if let Some(p) = set.priority_0 {
            update = update.col_expr(task::Column::Priority0, Expr::value(p));
        }
        if let Some(c) = set.calibration {
            update = update.col_expr(task::Column::Calibration, Expr::value(c));
        }
        if let Some(n) = set.n_answers {
            update = update.col_expr(task::Column::NAnswers, Expr::value(n));
        }
        out.updated = update.exec(&txn).await?.rows_affected;
        if set.n_answers.is_some() || now_work.is_some_and(|n| n > 0) {
            let mut delta = Delta {
                answers_expected: sides.answers_expected
                    + set
                        .n_answers
                        .map_or(0, |n| work.n * i64::from(n) - work.answers),
                ..sides
            };
            if let Some(n) = set.n_answers {
                let reopened = task::Entity::update_many()
                    .col_expr(task::Column::State, Expr::value(TaskState::Ongoing))
                    .filter(work_cond.clone())
                    .filter(task::Column::State.eq(TaskState::Completed))
                    .filter(task::Column::NTaskRuns.lt(n))
                    .exec(&txn)
                    .await?;
                out.reopened = reopened.rows_affected;
            }
            // Tasks that now have enough answers complete, each with its result.
            let quality = completion::quality_of(&txn, project_id.0).await?;
            loop {
                let due = task::Entity::find()
                    .filter(work_cond.clone())
                    .filter(task::Column::State.eq(TaskState::Ongoing))
                    .filter(
                        Expr::col(task::Column::NTaskRuns).gte(Expr::col(task::Column::NAnswers)),
                    )
                    .filter(task::Column::NTaskRuns.gt(0))
                    .limit(SETTLE_ROUND)
                    .all(&txn)
                    .await?;
                if due.is_empty() {
                    break;
                }
                for t in &due {
                    completion::complete(&txn, t, &quality).await?;
                }
                if completion::wants_refit(&quality) {
                    completion::refit_later(&txn, project_id).await?;
                }
                out.completed += due.len() as u64;
                if let Some(attempt) = attempt {
                    attempt.lease.renew(&infra.db).await?;
                }
            }
            delta.completed_tasks = i64::try_from(out.completed).unwrap_or(0)
                - i64::try_from(out.reopened).unwrap_or(0);
            delta.results = i64::try_from(out.completed).unwrap_or(0);
            Box::pin(counters::add(&txn, project_id, delta)).await?;
        } else if sides != Delta::default() {
            Box::pin(counters::add(&txn, project_id, sides)).await?;
        }
    }
    crate::store::touch_project(&txn, project_id).await?;
    txn.commit().await?;
    crate::domain::platform::uploads::forget(infra, files).await;
    let mut keys = crate::domain::platform::cache::keys_for_project(project_id);
    keys.push(crate::domain::platform::cache::PROJECT_LISTINGS.into());
    infra.kv.delete_many(&keys).await;
    infra.jobs_wake.notify_one();
    Ok(out)
}
