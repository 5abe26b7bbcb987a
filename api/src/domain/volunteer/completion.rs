//! What every way of recording answers shares: completing a task and forming its result, and
//! the counter change of a volunteer's first answer. The single-answer path (`answers`), the
//! group commit (`batch`) and a redundancy change (`rest::resources`) all complete tasks through
//! here, so a result is formed one way.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait,
    QueryFilter, QueryOrder, Set, Statement, sea_query::Expr,
};
use serde_json::{Value as Json, json};

use crate::{
    domain::volunteer::aggregate::aggregate,
    error::ApiResult,
    store::{
        counters::Delta,
        entities::{result, task, task::TaskState, task_run},
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

/// Marks a task completed and creates its result (the previous one, if the task was reopened,
/// stops being the last version). Runs inside the caller's transaction.
pub async fn complete(txn: &DatabaseTransaction, t: &task::Model) -> ApiResult<result::Model> {
    task::Entity::update_many()
        .col_expr(task::Column::State, Expr::value(TaskState::Completed))
        .filter(task::Column::Id.eq(t.id))
        .exec(txn)
        .await?;
    create_result(txn, t).await
}

/// PostgreSQL, in one round trip: the task's previous result (if it was reopened) stops being
/// the last version, and its answers are read for the new one.
const RUNS_SQL: &str = r#"
WITH superseded AS (
    UPDATE result SET last_version = false WHERE task_id = $1 AND last_version
)
SELECT id, created, project_id, task_id, user_id, user_ip, finish_time, timeout, calibration,
       external_uid, media_url, info
FROM task_run WHERE task_id = $1 ORDER BY id
"#;

/// The result of a task just completed: the aggregate of its answers, as the last version.
pub async fn create_result(txn: &DatabaseTransaction, t: &task::Model) -> ApiResult<result::Model> {
    let runs = if txn.get_database_backend() == DbBackend::Postgres {
        let stmt = Statement::from_sql_and_values(DbBackend::Postgres, RUNS_SQL, [t.id.into()]);
        task_run::Entity::find().from_raw_sql(stmt).all(txn).await?
    } else {
        result::Entity::update_many()
            .col_expr(result::Column::LastVersion, Expr::value(false))
            .filter(result::Column::TaskId.eq(t.id))
            .filter(result::Column::LastVersion.eq(true))
            .exec(txn)
            .await?;
        task_run::Entity::find()
            .filter(task_run::Column::TaskId.eq(t.id))
            .order_by_asc(task_run::Column::Id)
            .all(txn)
            .await?
    };
    Ok(new_result(t.project_id, t.id, &runs).insert(txn).await?)
}

/// The result a task's answers (all of them, in id order) make: their aggregate, as the last
/// version.
pub fn new_result(project_id: i32, task_id: i32, runs: &[task_run::Model]) -> result::ActiveModel {
    let answers: Vec<Json> = runs
        .iter()
        .map(|r| r.info.clone().unwrap_or(Json::Null))
        .collect();
    result::ActiveModel {
        created: Set(now()),
        project_id: Set(project_id),
        task_id: Set(task_id),
        task_run_ids: Set(json!(runs.iter().map(|r| r.id).collect::<Vec<_>>())),
        last_version: Set(true),
        info: Set(aggregate(&answers)),
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
        complete(txn, t).await?;
        return Ok(Delta {
            completed_tasks: 1,
            results: 1,
            ..Delta::default()
        });
    }
    Ok(Delta::default())
}
