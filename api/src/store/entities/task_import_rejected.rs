use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A row an import refused: where it was, why, and the row as read.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "task_import_rejected")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub import_id: i32,
    pub line: i64,
    pub reason: String,
    pub raw: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
