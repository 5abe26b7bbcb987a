//! Per-project counts kept in sharded rows.
//!
//! Every task insert (and later every answer) adds to one of `SHARDS` rows picked at random, in
//! the writer's transaction; a reader sums the shards. Concurrent writers thus rarely touch the
//! same row, so counts stay exact without a hot row serialising them.

use crate::ids::ProjectId;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect,
    sea_query::{Expr, ExprTrait, Func},
};

use super::entities::project_counter::{self, Column};

/// Shard rows per project (created with the project; see migration 000006).
pub const SHARDS: i32 = 64;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Delta {
    pub tasks: i64,
    pub task_runs: i64,
    pub completed_tasks: i64,
    pub results: i64,
    pub answer_ms: i64,
    pub volunteers_auth: i64,
    pub volunteers_anon: i64,
    pub answers_expected: i64,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, sea_orm::FromQueryResult)]
pub struct Totals {
    pub n_tasks: i64,
    pub n_task_runs: i64,
    pub n_completed_tasks: i64,
    pub n_results: i64,
    pub answer_ms: i64,
    pub n_volunteers_auth: i64,
    pub n_volunteers_anon: i64,
    pub n_answers_expected: i64,
}

/// Creates the zeroed shard rows of a new project.
pub async fn init(db: &impl ConnectionTrait, project_id: ProjectId) -> Result<(), DbErr> {
    let rows = (0..SHARDS).map(|shard| project_counter::ActiveModel {
        project_id: sea_orm::Set(project_id.0),
        shard: sea_orm::Set(shard),
        n_tasks: sea_orm::Set(0),
        n_task_runs: sea_orm::Set(0),
        n_completed_tasks: sea_orm::Set(0),
        n_results: sea_orm::Set(0),
        answer_ms: sea_orm::Set(0),
        n_volunteers_auth: sea_orm::Set(0),
        n_volunteers_anon: sea_orm::Set(0),
        n_answers_expected: sea_orm::Set(0),
    });
    Box::pin(project_counter::Entity::insert_many(rows).exec_without_returning(db)).await?;
    Ok(())
}

pub async fn add(
    db: &impl ConnectionTrait,
    project_id: ProjectId,
    delta: Delta,
) -> Result<(), DbErr> {
    if delta == Delta::default() {
        return Ok(());
    }
    add_to_shard(db, project_id.0, random_shard(), delta).await
}

pub fn random_shard() -> i32 {
    rand::random_range(0..SHARDS)
}

/// Adds to one given shard: a transaction that adds twice uses the same shard, so it never
/// waits for a second row lock (which could deadlock with a recount holding all shards).
pub async fn add_to_shard(
    db: &impl ConnectionTrait,
    project_id: i32,
    shard: i32,
    delta: Delta,
) -> Result<(), DbErr> {
    if delta == Delta::default() {
        return Ok(());
    }
    let mut update = project_counter::Entity::update_many();
    for (col, by) in [
        (Column::NTasks, delta.tasks),
        (Column::NTaskRuns, delta.task_runs),
        (Column::NCompletedTasks, delta.completed_tasks),
        (Column::NResults, delta.results),
        (Column::AnswerMs, delta.answer_ms),
        (Column::NVolunteersAuth, delta.volunteers_auth),
        (Column::NVolunteersAnon, delta.volunteers_anon),
        (Column::NAnswersExpected, delta.answers_expected),
    ] {
        if by != 0 {
            update = update.col_expr(col, Expr::col(col).add(by));
        }
    }
    update
        .filter(Column::ProjectId.eq(project_id))
        .filter(Column::Shard.eq(shard))
        .exec(db)
        .await?;
    Ok(())
}

/// Sums of the counters of one project, or of every project with `None`.
pub async fn totals(db: &impl ConnectionTrait, project_id: ProjectId) -> Result<Totals, DbErr> {
    sum_where(db, Some(project_id.0)).await
}

pub async fn sum_where(
    db: &impl ConnectionTrait,
    project_id: Option<i32>,
) -> Result<Totals, DbErr> {
    let sum = |c: Column| Expr::expr(Func::sum(Expr::col(c))).cast_as("bigint");
    let mut query = project_counter::Entity::find()
        .select_only()
        .column_as(sum(Column::NTasks), "n_tasks")
        .column_as(sum(Column::NTaskRuns), "n_task_runs")
        .column_as(sum(Column::NCompletedTasks), "n_completed_tasks")
        .column_as(sum(Column::NResults), "n_results")
        .column_as(sum(Column::AnswerMs), "answer_ms")
        .column_as(sum(Column::NVolunteersAuth), "n_volunteers_auth")
        .column_as(sum(Column::NVolunteersAnon), "n_volunteers_anon")
        .column_as(sum(Column::NAnswersExpected), "n_answers_expected");
    if let Some(id) = project_id {
        query = query.filter(Column::ProjectId.eq(id));
    }
    let totals = query.into_model::<OptTotals>().one(db).await?;
    Ok(totals.map(Totals::from).unwrap_or_default())
}

/// SUM over no rows is NULL.
#[derive(sea_orm::FromQueryResult)]
struct OptTotals {
    n_tasks: Option<i64>,
    n_task_runs: Option<i64>,
    n_completed_tasks: Option<i64>,
    n_results: Option<i64>,
    answer_ms: Option<i64>,
    n_volunteers_auth: Option<i64>,
    n_volunteers_anon: Option<i64>,
    n_answers_expected: Option<i64>,
}

impl From<OptTotals> for Totals {
    fn from(t: OptTotals) -> Self {
        Self {
            n_tasks: t.n_tasks.unwrap_or(0),
            n_task_runs: t.n_task_runs.unwrap_or(0),
            n_completed_tasks: t.n_completed_tasks.unwrap_or(0),
            n_results: t.n_results.unwrap_or(0),
            answer_ms: t.answer_ms.unwrap_or(0),
            n_volunteers_auth: t.n_volunteers_auth.unwrap_or(0),
            n_volunteers_anon: t.n_volunteers_anon.unwrap_or(0),
            n_answers_expected: t.n_answers_expected.unwrap_or(0),
        }
    }
}
