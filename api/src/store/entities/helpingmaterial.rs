use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "helpingmaterial")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub created: String,
    pub project_id: i32,
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub info: Option<Json>,
    #[sea_orm(column_type = "Text", nullable)]
    pub media_url: Option<String>,
    pub priority: f64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
