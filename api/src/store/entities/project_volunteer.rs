use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "project_volunteer")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub project_id: i32,
    #[sea_orm(primary_key, auto_increment = false)]
    pub volunteer: String,
    pub user_id: Option<i32>,
    pub anonymous: bool,
    pub n_answers: i64,
    pub first_answer: String,
    pub last_answer: String,
    pub gold_seen: i64,
    pub gold_correct: i64,
    /// When the owner left their answers out of aggregates.
    pub excluded_at: Option<String>,
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub confusion: Option<Json>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
