//! Per-project counts kept in sharded rows.
//!
//! Every task insert (and later every answer) adds to one of `SHARDS` rows picked at random, in
//! the writer's transaction; a reader sums the shards. Concurrent writers thus rarely touch the
//! same row, so counts stay exact without a hot row serialising them.

use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect,
    sea_query::{Expr, ExprTrait, Func},
};

use super::entities::project_counter::{self, Column};

pub const SHARDS: i32 = 8;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Delta {
    pub tasks: i64,
    pub task_runs: i64,
    pub completed_tasks: i64,
    pub results: i64,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, sea_orm::FromQueryResult)]
pub struct Totals {
    pub n_tasks: i64,
    pub n_task_runs: i64,
    pub n_completed_tasks: i64,
    pub n_results: i64,
}

/// Creates the zeroed shard rows of a new project.
pub async fn init(db: &impl ConnectionTrait, project_id: i32) -> Result<(), DbErr> {
    let rows = (0..SHARDS).map(|shard| project_counter::ActiveModel {
        project_id: sea_orm::Set(project_id),
        shard: sea_orm::Set(shard),
        n_tasks: sea_orm::Set(0),
        n_task_runs: sea_orm::Set(0),
        n_completed_tasks: sea_orm::Set(0),
        n_results: sea_orm::Set(0),
    });
    project_counter::Entity::insert_many(rows)
        .exec_without_returning(db)
        .await?;
    Ok(())
}

pub async fn add(db: &impl ConnectionTrait, project_id: i32, delta: Delta) -> Result<(), DbErr> {
    if delta == Delta::default() {
        return Ok(());
    }
    let shard = rand::random_range(0..SHARDS);
    project_counter::Entity::update_many()
        .col_expr(Column::NTasks, Expr::col(Column::NTasks).add(delta.tasks))
        .col_expr(
            Column::NTaskRuns,
            Expr::col(Column::NTaskRuns).add(delta.task_runs),
        )
        .col_expr(
            Column::NCompletedTasks,
            Expr::col(Column::NCompletedTasks).add(delta.completed_tasks),
        )
        .col_expr(
            Column::NResults,
            Expr::col(Column::NResults).add(delta.results),
        )
        .filter(Column::ProjectId.eq(project_id))
        .filter(Column::Shard.eq(shard))
        .exec(db)
        .await?;
    Ok(())
}

pub async fn totals(db: &impl ConnectionTrait, project_id: i32) -> Result<Totals, DbErr> {
    let sum = |c: Column| Expr::expr(Func::sum(Expr::col(c))).cast_as("bigint");
    let totals = project_counter::Entity::find()
        .select_only()
        .column_as(sum(Column::NTasks), "n_tasks")
        .column_as(sum(Column::NTaskRuns), "n_task_runs")
        .column_as(sum(Column::NCompletedTasks), "n_completed_tasks")
        .column_as(sum(Column::NResults), "n_results")
        .filter(Column::ProjectId.eq(project_id))
        .into_model::<OptTotals>()
        .one(db)
        .await?;
    Ok(totals.map(Totals::from).unwrap_or_default())
}

/// SUM over no rows is NULL.
#[derive(sea_orm::FromQueryResult)]
struct OptTotals {
    n_tasks: Option<i64>,
    n_task_runs: Option<i64>,
    n_completed_tasks: Option<i64>,
    n_results: Option<i64>,
}

impl From<OptTotals> for Totals {
    fn from(t: OptTotals) -> Self {
        Self {
            n_tasks: t.n_tasks.unwrap_or(0),
            n_task_runs: t.n_task_runs.unwrap_or(0),
            n_completed_tasks: t.n_completed_tasks.unwrap_or(0),
            n_results: t.n_results.unwrap_or(0),
        }
    }
}
