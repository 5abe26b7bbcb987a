use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "task")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub created: String,
    pub project_id: i32,
    pub state: TaskState,
    pub quorum: i32,
    pub calibration: i32,
    #[sea_orm(column_name = "priority_0")]
    #[serde(rename = "priority_0")]
    pub priority_0: f64,
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub info: Option<Json>,
    pub n_answers: i32,
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub fav_user_ids: Option<Json>,
    /// Answers received, kept in the same transaction as the answer rows; shown to clients,
    /// never written by them (see `resources::TASK_FIELDS`).
    #[serde(default)]
    pub n_task_runs: i32,
    /// The owner's own id for the task (unique in its project when set).
    #[serde(default)]
    pub external_id: Option<String>,
    /// What makes two imported tasks the same: `x:` + `external_id`, else `h:` + a hash of
    /// `info`; unique per project. Never shown to clients.
    #[serde(default, skip_serializing)]
    pub dedup_key: Option<String>,
    /// The expected answer of a gold task; only owners read it.
    #[sea_orm(column_type = "JsonBinary", nullable)]
    #[serde(default)]
    pub gold_answers: Option<Json>,
}

/// Where a task is in its life: open for answers, or completed with a result. A completed task
/// reopens when its redundancy is raised above its answers.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "Text")]
#[serde(rename_all = "lowercase")]
pub enum TaskState {
    #[sea_orm(string_value = "ongoing")]
    Ongoing,
    #[sea_orm(string_value = "completed")]
    Completed,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
