use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "task_run")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub created: String,
    pub project_id: i32,
    pub task_id: i32,
    pub user_id: Option<i32>,
    pub user_ip: Option<String>,
    pub finish_time: String,
    pub timeout: Option<i32>,
    pub calibration: Option<i32>,
    pub external_uid: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub media_url: Option<String>,
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub info: Option<Json>,
    /// An answer to a gold task: whether it matched the gold answer.
    pub gold_correct: Option<bool>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
