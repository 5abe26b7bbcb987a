use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "project")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub created: String,
    pub updated: String,
    pub name: String,
    pub short_name: String,
    pub description: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub long_description: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub webhook: Option<String>,
    pub allow_anonymous_contributors: bool,
    pub published: bool,
    pub featured: bool,
    pub secret_key: String,
    pub zip_download: bool,
    pub contacted: bool,
    pub owner_id: i32,
    pub category_id: i32,
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub info: Option<Json>,
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub owners_ids: Option<Json>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
