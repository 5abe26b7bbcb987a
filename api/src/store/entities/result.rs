use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "result")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub created: String,
    pub project_id: i32,
    pub task_id: i32,
    #[sea_orm(column_type = "JsonBinary")]
    pub task_run_ids: Json,
    pub last_version: bool,
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub info: Option<Json>,
    /// The aggregate's confidence, for the review queue; not part of the API's result.
    #[serde(skip)]
    pub confidence: Option<f64>,
    /// When an owner reviewed it.
    #[serde(skip)]
    pub reviewed: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
