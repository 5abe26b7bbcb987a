use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "project_counter")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub project_id: i32,
    #[sea_orm(primary_key, auto_increment = false)]
    pub shard: i32,
    pub n_tasks: i64,
    pub n_task_runs: i64,
    pub n_completed_tasks: i64,
    pub n_results: i64,
    /// Sum of answer durations (request to submission), ms.
    pub answer_ms: i64,
    pub n_volunteers_auth: i64,
    pub n_volunteers_anon: i64,
    /// Sum of the tasks' `n_answers`.
    pub n_answers_expected: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
