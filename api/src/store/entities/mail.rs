use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "mail")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub created: String,
    /// What the mail is for (`password.reset`, `email.confirm`, …).
    pub kind: String,
    pub user_id: Option<i32>,
    pub to_addr: String,
    pub subject: String,
    /// Cleared once sent.
    #[sea_orm(column_type = "Text", nullable)]
    pub text_body: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub html_body: Option<String>,
    /// Extra headers, as `[[name, value], …]`.
    #[sea_orm(column_type = "JsonBinary")]
    pub headers: Json,
    /// `queued`, `sent`, `outbox` (no SMTP configured) or `failed`.
    pub status: String,
    pub attempts: i32,
    #[sea_orm(column_type = "Text", nullable)]
    pub last_error: Option<String>,
    pub sent_at: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
