//! Mail as admins see it: what was sent, what failed, and the outbox of a site without SMTP.

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::{
    Object, OpenApi,
    param::{Path, Query},
    payload::Json,
};
use serde_json::Value;

use super::ApiTags;
use crate::{
    auth::Caller, domain::platform::mail, error::ApiError, state::AppState,
    store::entities::mail as entity,
};

/// One mail.
#[derive(Object)]
pub struct Mail {
    pub id: i64,
    pub created: String,
    /// What it is for: `password.reset`, `email.confirm`.
    pub kind: String,
    pub user_id: Option<i64>,
    pub to_addr: String,
    pub subject: String,
    /// `queued`, `sent`, `outbox` (no SMTP configured) or `failed`.
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub sent_at: Option<String>,
    /// Kept until the mail is sent.
    pub text_body: Option<String>,
    pub html_body: Option<String>,
    /// Extra headers, as `[name, value]` pairs.
    pub headers: Value,
}

impl From<entity::Model> for Mail {
    fn from(m: entity::Model) -> Self {
        Self {
            id: m.id.into(),
            created: m.created,
            kind: m.kind,
            user_id: m.user_id.map(Into::into),
            to_addr: m.to_addr,
            subject: m.subject,
            status: m.status,
            attempts: m.attempts.into(),
            last_error: m.last_error,
            sent_at: m.sent_at,
            text_body: m.text_body,
            html_body: m.html_body,
            headers: m.headers,
        }
    }
}

/// A page of mails, newest first.
#[derive(Object)]
pub struct MailPage {
    pub items: Vec<Mail>,
    /// How many there are in all (with the filter).
    pub total: u64,
}

pub struct MailApi;

#[OpenApi(tag = "ApiTags::Mail")]
impl MailApi {
    /// Mails, newest first (admins). Without `TESSERA_SMTP_URL`, mail stays here with status
    /// `outbox`. Mails older than 30 days are forgotten.
    #[oai(path = "/admin/mail", method = "get")]
    async fn list(
        &self,
        state: Data<&Arc<AppState>>,
        caller: Caller,
        /// `queued`, `sent`, `outbox` or `failed`.
        status: Query<Option<String>>,
        /// At most 100 (default 20).
        limit: Query<Option<u64>>,
        offset: Query<Option<u64>>,
    ) -> Result<Json<MailPage>, ApiError> {
        let (rows, total) = Box::pin(mail::list(
            &state.infra,
            &caller,
            status.0.as_deref(),
            limit.0.unwrap_or(20).min(100),
            offset.0.unwrap_or(0).min(1_000_000_000),
        ))
        .await?;
        Ok(Json(MailPage {
            items: rows.into_iter().map(Into::into).collect(),
            total,
        }))
    }

    /// Send a failed or outbox mail again (admins); 409 for one queued or sent.
    #[oai(path = "/admin/mail/:id/resend", method = "post")]
    async fn resend(
        &self,
        state: Data<&Arc<AppState>>,
        caller: Caller,
        id: Path<i32>,
    ) -> Result<Json<Mail>, ApiError> {
        Ok(Json(
            Box::pin(mail::resend(&state.infra, &caller, id.0))
                .await?
                .into(),
        ))
    }
}
