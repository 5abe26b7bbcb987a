use sea_orm::entity::prelude::*;

/// A project's Dawid–Skene classes and priors per field, as last fitted.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "quality_model")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub project_id: i32,
    #[sea_orm(column_type = "JsonBinary")]
    pub model: Json,
    /// How many answers the fit read.
    pub answers: i64,
    pub updated: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
