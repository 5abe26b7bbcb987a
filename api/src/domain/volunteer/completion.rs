//! What every way of recording answers shares: completing a task and forming its result, and
//! the counter change of a volunteer's first answer. The single-answer path (`answers`), the
//! group commit (`batch`) and a redundancy change (`rest::resources`) all complete tasks through
//! here, so a result is formed one way.

use std::collections::HashMap;

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, Set, Statement, sea_query::Expr,
};
use serde_json::{Value as Json, json};

use crate::{
    domain::volunteer::{
        consensus::{self, FieldModel, Judge, Voter},
        quality::{Aggregation, Quality, Retire},
    },
    error::ApiResult,
    ids::ProjectId,
    store::{
        counters::{self, Delta},
        entities::{
            project, project_volunteer, quality_model, result, task, task::TaskState, task_run,
        },
        jobs::{self, NewJob},
        now,
    },
};

/// The counter change for a volunteer's first answer in a project.
pub fn first_answer_delta(anonymous: bool) -> Delta {
    if anonymous {
        Delta {
            volunteers_anon: 1,
            ..Delta::default()
        }
    } else {
        Delta {
            volunteers_auth: 1,
            ..Delta::default()
        }
    }
}

/// The volunteer key of a task run, as [`crate::domain::volunteer::identity::volunteer`] builds
/// it (and `stats::VOLUNTEER_KEY` in SQL).
pub fn run_key(r: &task_run::Model) -> String {
    volunteer_key(
        r.project_id,
        r.user_id,
        r.external_uid.as_deref(),
        r.user_ip.as_deref(),
    )
}

/// [`run_key`] from a task run's parts.
pub fn volunteer_key(
    project_id: i32,
    user_id: Option<i32>,
    external_uid: Option<&str>,
    user_ip: Option<&str>,
) -> String {
    match (external_uid, user_id) {
        (Some(x), _) => format!("x{project_id}:{x}"),
        (None, Some(id)) => format!("u{id}"),
        (None, None) => format!("ip{}", user_ip.unwrap_or("")),
    }
}

/// A project's quality settings as stored; a project whose settings no longer validate
/// aggregates by plain majority rather than not at all.
pub async fn quality_of(db: &impl ConnectionTrait, project_id: i32) -> ApiResult<Quality> {
    let info = project::Entity::find_by_id(project_id)
        .select_only()
        .column(project::Column::Info)
        .into_tuple::<Option<Json>>()
        .one(db)
        .await?
        .flatten();
    Ok(Quality::of(info.as_ref()).unwrap_or_default())
}

/// What the aggregate of a project's answers depends on, for the volunteers named: their gold
/// skill, exclusion and confusion matrices, and (for `dawid_skene`) the fitted classes.
pub async fn judge(
    db: &impl ConnectionTrait,
    project_id: i32,
    quality: &Quality,
    keys: Vec<String>,
) -> ApiResult<Judge> {
    let mut judge = Judge {
        method: quality.aggregation,
        ..Judge::default()
    };
    if keys.is_empty() {
        return Ok(judge);
    }
    let rows = project_volunteer::Entity::find()
        .filter(project_volunteer::Column::ProjectId.eq(project_id))
        .filter(project_volunteer::Column::Volunteer.is_in(keys))
        .all(db)
        .await?;
    for r in rows {
        judge.voters.insert(r.volunteer.clone(), voter_of(&r));
    }
    if quality.aggregation == Aggregation::DawidSkene {
        judge.fields = fitted_fields(db, project_id).await?;
    }
    Ok(judge)
}

/// A volunteer's row as the aggregation sees it.
pub fn voter_of(r: &project_volunteer::Model) -> Voter {
    Voter {
        skill: Some(consensus::skill_from_gold(r.gold_seen, r.gold_correct)),
        excluded: r.excluded_at.is_some(),
        confusion: r
            .confusion
            .clone()
            .and_then(|c| serde_json::from_value(c).ok())
            .unwrap_or_default(),
    }
}

/// The project's last Dawid–Skene fit: classes and priors per field.
pub async fn fitted_fields(
    db: &impl ConnectionTrait,
    project_id: i32,
) -> ApiResult<HashMap<String, FieldModel>> {
    let model = quality_model::Entity::find_by_id(project_id)
        .one(db)
        .await?;
    Ok(model
        .and_then(|m| m.model.get("fields").cloned())
        .and_then(|f| serde_json::from_value(f).ok())
        .unwrap_or_default())
}

/// Marks a task completed and creates its result (the previous one, if the task was reopened,
/// stops being the last version). Runs inside the caller's transaction.
pub async fn complete(
    txn: &DatabaseTransaction,
    t: &task::Model,
    quality: &Quality,
) -> ApiResult<result::Model> {
    task::Entity::update_many()
        .col_expr(task::Column::State, Expr::value(TaskState::Completed))
        .filter(task::Column::Id.eq(t.id))
        .exec(txn)
        .await?;
    create_result(txn, t, quality).await
}

/// PostgreSQL, in one round trip: the task's previous result (if it was reopened) stops being
/// the last version, and its answers are read for the new one.
const RUNS_SQL: &str = r#"
WITH superseded AS (
    UPDATE result SET last_version = false WHERE task_id = $1 AND last_version
)
SELECT id, created, project_id, task_id, user_id, user_ip, finish_time, timeout, calibration,
       external_uid, media_url, info, gold_correct
FROM task_run WHERE task_id = $1 ORDER BY id
"#;

async fn runs_of(txn: &DatabaseTransaction, task_id: i32) -> ApiResult<Vec<task_run::Model>> {
    Ok(task_run::Entity::find()
        .filter(task_run::Column::TaskId.eq(task_id))
        .order_by_asc(task_run::Column::Id)
        .all(txn)
        .await?)
}

async fn supersede(txn: &DatabaseTransaction, task_id: i32) -> ApiResult<()> {
    result::Entity::update_many()
        .col_expr(result::Column::LastVersion, Expr::value(false))
        .filter(result::Column::TaskId.eq(task_id))
        .filter(result::Column::LastVersion.eq(true))
        .exec(txn)
        .await?;
    Ok(())
}

/// The result of a task just completed: the aggregate of its answers, as the last version.
pub async fn create_result(
    txn: &DatabaseTransaction,
    t: &task::Model,
    quality: &Quality,
) -> ApiResult<result::Model> {
    let runs = if txn.get_database_backend() == DbBackend::Postgres {
        let stmt = Statement::from_sql_and_values(DbBackend::Postgres, RUNS_SQL, [t.id.into()]);
        task_run::Entity::find().from_raw_sql(stmt).all(txn).await?
    } else {
        supersede(txn, t.id).await?;
        runs_of(txn, t.id).await?
    };
    let judge = judge(
        txn,
        t.project_id,
        quality,
        runs.iter().map(run_key).collect(),
    )
    .await?;
    Ok(new_result(t.project_id, t.id, &runs, &judge)
        .insert(txn)
        .await?)
}

/// Whether a project's aggregates depend on what is learnt of its volunteers, so that new
/// answers call for a refit (`results.reaggregate`).
pub fn wants_refit(quality: &Quality) -> bool {
    quality.aggregation != Aggregation::Majority
}

/// Queues the project's refit in the caller's transaction (for the rare writes: redundancy
/// changes, bulk edits; the volunteer loop queues its own after commit, throttled).
pub async fn refit_later(db: &impl ConnectionTrait, project: ProjectId) -> ApiResult<()> {
    jobs::enqueue(db, NewJob::reaggregate(project)).await?;
    Ok(())
}

/// With `retire`: completes a task still open whose answers (at least `min_answers` of them)
/// agree with the required confidence, and returns its result. Runs in the answer's
/// transaction, after the answer took the task's row lock, so every other answer to the task
/// is either visible here or waits: the task retires once.
pub async fn retire_if_sure(
    txn: &DatabaseTransaction,
    t: &task::Model,
    quality: &Quality,
    shard: i32,
) -> ApiResult<Option<result::Model>> {
    let Some(retire) = quality.retire else {
        return Ok(None);
    };
    if t.state != TaskState::Ongoing
        || t.n_task_runs < i32::try_from(retire.min_answers).unwrap_or(i32::MAX)
    {
        return Ok(None);
    }
    let runs = runs_of(txn, t.id).await?;
    let judge = judge(
        txn,
        t.project_id,
        quality,
        runs.iter().map(run_key).collect(),
    )
    .await?;
    let Some(aggregate) = sure(&runs, &judge, retire) else {
        return Ok(None);
    };
    let done = task::Entity::update_many()
        .col_expr(task::Column::State, Expr::value(TaskState::Completed))
        .filter(task::Column::Id.eq(t.id))
        .filter(task::Column::State.eq(TaskState::Ongoing))
        .exec(txn)
        .await?;
    if done.rows_affected == 0 {
        return Ok(None);
    }
    supersede(txn, t.id).await?;
    counters::add_to_shard(
        txn,
        t.project_id,
        shard,
        Delta {
            completed_tasks: 1,
            results: 1,
            ..Delta::default()
        },
    )
    .await?;
    crate::domain::platform::stats::record_completion(txn, t.project_id, shard).await?;
    let result = result_model(t.project_id, t.id, &runs, Some(aggregate))
        .insert(txn)
        .await?;
    Ok(Some(result))
}

/// Each answer with its volunteer's key, as aggregates take them.
fn ballots(runs: &[task_run::Model]) -> Vec<(String, Json)> {
    runs.iter()
        .map(|r| (run_key(r), r.info.clone().unwrap_or(Json::Null)))
        .collect()
}

/// The aggregate of a task's answers (all of them, in id order).
pub fn aggregate(runs: &[task_run::Model], judge: &Judge) -> Option<consensus::Aggregate> {
    let ballots = ballots(runs);
    let refs: Vec<(&str, &Json)> = ballots.iter().map(|(k, a)| (k.as_str(), a)).collect();
    judge.aggregate(&refs)
}

/// The aggregate of a task's answers when it is sure enough to retire the task: at least
/// `min_answers` counted and the required confidence reached.
pub fn sure(
    runs: &[task_run::Model],
    judge: &Judge,
    retire: Retire,
) -> Option<consensus::Aggregate> {
    aggregate(runs, judge).filter(|a| {
        a.counted >= retire.min_answers as usize && a.confidence + 1e-12 >= retire.confidence
    })
}

/// The result a task's answers (all of them, in id order) make: their aggregate, as the last
/// version.
pub fn new_result(
    project_id: i32,
    task_id: i32,
    runs: &[task_run::Model],
    judge: &Judge,
) -> result::ActiveModel {
    result_model(project_id, task_id, runs, aggregate(runs, judge))
}

/// A result of these answers with this aggregate, as the last version.
pub fn result_model(
    project_id: i32,
    task_id: i32,
    runs: &[task_run::Model],
    aggregate: Option<consensus::Aggregate>,
) -> result::ActiveModel {
    result::ActiveModel {
        created: Set(now()),
        project_id: Set(project_id),
        task_id: Set(task_id),
        task_run_ids: Set(json!(runs.iter().map(|r| r.id).collect::<Vec<_>>())),
        last_version: Set(true),
        confidence: Set(aggregate.as_ref().map(|a| a.confidence)),
        info: Set(aggregate.map(|a| a.info)),
        ..Default::default()
    }
}

/// After a redundancy change: completes a task that now has enough answers, or reopens one
/// that no longer does. Returns the counter change.
pub async fn settle(txn: &DatabaseTransaction, t: &task::Model) -> ApiResult<Delta> {
    if t.state == TaskState::Completed && t.n_task_runs < t.n_answers {
        task::Entity::update_many()
            .col_expr(task::Column::State, Expr::value(TaskState::Ongoing))
            .filter(task::Column::Id.eq(t.id))
            .exec(txn)
            .await?;
        return Ok(Delta {
            completed_tasks: -1,
            ..Delta::default()
        });
    }
    if t.state == TaskState::Ongoing && t.n_task_runs > 0 && t.n_task_runs >= t.n_answers {
        let quality = quality_of(txn, t.project_id).await?;
        complete(txn, t, &quality).await?;
        if wants_refit(&quality) {
            refit_later(txn, ProjectId(t.project_id)).await?;
        }
        return Ok(Delta {
            completed_tasks: 1,
            results: 1,
            ..Delta::default()
        });
    }
    Ok(Delta::default())
}
