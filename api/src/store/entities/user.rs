use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub created: String,
    pub email_addr: String,
    pub name: String,
    pub fullname: String,
    pub locale: String,
    pub api_key: String,
    pub passwd_hash: Option<String>,
    pub ldap: Option<String>,
    pub admin: bool,
    pub pro: bool,
    pub privacy_mode: bool,
    pub restrict: bool,
    /// False: the account cannot sign in or use its api key or tokens.
    pub enabled: bool,
    pub category: Option<i32>,
    pub flags: Option<i32>,
    pub ckan_api: Option<String>,
    pub newsletter_prompted: bool,
    pub valid_email: bool,
    pub confirmation_email_sent: bool,
    pub subscribed: bool,
    pub consent: bool,
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub info: Option<Json>,
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub user_pref: Option<Json>,
    pub notified_at: Option<String>,
    /// Raised by sign-out, a password change or a new api key: older bearer tokens stop working.
    pub token_version: i32,
    /// A new address waiting for its confirmation link; `email_addr` stays until then.
    pub email_pending: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
