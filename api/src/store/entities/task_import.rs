use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// One import of tasks into a project, and its counts so far.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "task_import")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub project_id: i32,
    pub user_id: Option<i32>,
    /// What was imported, as shown: the file's name or the URL.
    pub source: String,
    pub url: Option<String>,
    /// Where an uploaded file is kept until the import is over.
    pub stored_key: Option<String>,
    /// `csv`, `json`, `jsonl` or `iiif`, once known.
    pub format: Option<String>,
    /// Defaults for rows that do not say (`n_answers`, `priority_0`).
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub options: Option<Json>,
    pub status: String,
    pub read: i64,
    pub created: i64,
    pub duplicates: i64,
    pub rejected: i64,
    /// The first rejected rows, `[{line, reason}]`.
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub errors: Option<Json>,
    /// Why the import failed as a whole.
    pub message: Option<String>,
    pub job_id: Option<i32>,
    /// Started by the project's `autoimport` schedule, not by a person.
    pub scheduled: bool,
    pub created_at: String,
    pub updated: String,
    pub finished: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
