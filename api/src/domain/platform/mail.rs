//! Mail the platform sends: rendered from the templates under `api/templates/mail`, written to
//! the `mail` table with its `mail.send` job in the caller's transaction (so a mail is never
//! lost, nor sent for a write that rolled back), then sent by a worker with retries and backoff.
//! Without SMTP a mail stays in the outbox, where admins read it.
//!
//! Templates are minijinja (Jinja2 syntax, small and kept up; HTML escaped by file name), so the
//! bodies can be read and changed without reading Rust.

use std::sync::LazyLock;

use lettre::{
    Message,
    message::{Mailbox, MultiPart, header::ContentType},
};
use minijinja::Environment;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use serde::Serialize;
use serde_json::{Value as Json, json};

use crate::{
    auth::Caller,
    error::{ApiError, ApiResult},
    infra::Infra,
    mailer::SendError,
    store::{
        entities::mail,
        jobs::{self, Attempt, JobError, NewJob},
        now,
    },
};

pub const QUEUED: &str = "queued";
pub const SENT: &str = "sent";
pub const OUTBOX: &str = "outbox";
pub const FAILED: &str = "failed";

/// Attempts at sending one mail: with the queue's doubling backoff, about four hours in all, so
/// an SMTP server down for a while loses nothing.
const MAIL_ATTEMPTS: i32 = 13;

/// The name mails give the site.
pub const SITE: &str = "Tessera";

static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    for (name, source) in [
        (
            "layout.html",
            include_str!("../../../templates/mail/layout.html"),
        ),
        (
            "password_reset.txt",
            include_str!("../../../templates/mail/password_reset.txt"),
        ),
        (
            "password_reset.html",
            include_str!("../../../templates/mail/password_reset.html"),
        ),
        (
            "email_confirm.txt",
            include_str!("../../../templates/mail/email_confirm.txt"),
        ),
        (
            "email_confirm.html",
            include_str!("../../../templates/mail/email_confirm.html"),
        ),
    ] {
        // The templates are part of the binary; one that does not parse fails the tests.
        if let Err(e) = env.add_template(name, source) {
            tracing::error!(template = name, error = %e, "mail template does not parse");
        }
    }
    env
});

/// A mail to send: which template, to whom, and what fills it in.
pub struct Outgoing<C: Serialize> {
    /// What it is for, kept with it (`password.reset`, …).
    pub kind: &'static str,
    /// The template pair `<template>.txt` / `<template>.html`.
    pub template: &'static str,
    pub subject: String,
    pub user_id: Option<i32>,
    pub to: String,
    pub context: C,
    /// Extra headers (`List-Unsubscribe`, …).
    pub headers: Vec<(String, String)>,
}

fn render(template: &str, context: &impl Serialize) -> ApiResult<(String, String)> {
    let one = |name: String| {
        TEMPLATES
            .get_template(&name)
            .and_then(|t| t.render(context))
            .map_err(|e| ApiError::internal(anyhow::anyhow!("mail template {name}: {e}")))
    };
    Ok((
        one(format!("{template}.txt"))?,
        one(format!("{template}.html"))?,
    ))
}

/// Writes the mail and its job on `db` (the caller's transaction); returns the mail's id.
pub async fn queue<C: Serialize>(db: &impl ConnectionTrait, mail: Outgoing<C>) -> ApiResult<i32> {
    let (text, html) = render(mail.template, &mail.context)?;
    let row = mail::ActiveModel {
        created: Set(now()),
        kind: Set(mail.kind.into()),
        user_id: Set(mail.user_id),
        to_addr: Set(mail.to),
        subject: Set(mail.subject),
        text_body: Set(Some(text)),
        html_body: Set(Some(html)),
        headers: Set(json!(mail.headers)),
        status: Set(QUEUED.into()),
        attempts: Set(0),
        last_error: Set(None),
        sent_at: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await?;
    jobs::enqueue(
        db,
        NewJob {
            max_attempts: MAIL_ATTEMPTS,
            ..NewJob::new(jobs::Kind::SendMail, json!({ "mail_id": row.id }))
        },
    )
    .await?;
    Ok(row.id)
}

fn message(from: &Mailbox, m: &mail::Model) -> Result<Message, String> {
    let to: Mailbox = m
        .to_addr
        .parse()
        .map_err(|e| format!("bad recipient {}: {e}", m.to_addr))?;
    let mut builder = Message::builder()
        .from(from.clone())
        .to(to)
        .subject(m.subject.clone());
    for pair in m.headers.as_array().into_iter().flatten() {
        if let (Some(name), Some(value)) = (
            pair.get(0).and_then(Json::as_str),
            pair.get(1).and_then(Json::as_str),
        ) {
            let name = lettre::message::header::HeaderName::new_from_ascii(name.to_string())
                .map_err(|e| format!("bad header {name}: {e}"))?;
            builder = builder.raw_header(lettre::message::header::HeaderValue::new(
                name,
                value.to_string(),
            ));
        }
    }
    let text = m.text_body.clone().unwrap_or_default();
    let html = m.html_body.clone().unwrap_or_default();
    let body = if html.is_empty() {
        MultiPart::mixed().singlepart(
            lettre::message::SinglePart::builder()
                .header(ContentType::TEXT_PLAIN)
                .body(text),
        )
    } else {
        MultiPart::alternative_plain_html(text, html)
    };
    builder.multipart(body).map_err(|e| e.to_string())
}

async fn mark(
    infra: &Infra,
    id: i32,
    status: &str,
    error: Option<String>,
    attempted: bool,
) -> Result<(), JobError> {
    use sea_orm::sea_query::{Expr, ExprTrait};
    let mut update = mail::Entity::update_many()
        .col_expr(mail::Column::Status, Expr::value(status))
        .col_expr(mail::Column::LastError, Expr::value(error))
        .filter(mail::Column::Id.eq(id));
    if attempted {
        update = update.col_expr(
            mail::Column::Attempts,
            Expr::col(mail::Column::Attempts).add(1),
        );
    }
    if status == SENT {
        // Sent: links in the bodies (a reset link) need not outlive their delivery here.
        update = update
            .col_expr(mail::Column::SentAt, Expr::value(now()))
            .col_expr(mail::Column::TextBody, Expr::value(Option::<String>::None))
            .col_expr(mail::Column::HtmlBody, Expr::value(Option::<String>::None));
    }
    update.exec(&infra.db).await?;
    Ok(())
}

/// The `mail.send` job: sends a queued mail once (a mail no longer queued was sent or dealt
/// with already), or leaves it in the outbox when there is no SMTP server.
pub async fn deliver(infra: &Infra, mail_id: i32, attempt: &Attempt) -> Result<(), JobError> {
    let Some(m) = mail::Entity::find_by_id(mail_id).one(&infra.db).await? else {
        return Ok(());
    };
    if m.status != QUEUED {
        return Ok(());
    }
    if !infra.mailer.configured() {
        return mark(infra, m.id, OUTBOX, None, false).await;
    }
    let msg = match message(infra.mailer.from(), &m) {
        Ok(msg) => msg,
        Err(e) => {
            mark(infra, m.id, FAILED, Some(e.clone()), false).await?;
            return Err(JobError::Permanent(e));
        }
    };
    match infra.mailer.send(msg).await {
        Ok(()) => mark(infra, m.id, SENT, None, true).await,
        Err(SendError::Refused(e)) => {
            mark(infra, m.id, FAILED, Some(e.clone()), true).await?;
            Err(JobError::Permanent(e))
        }
        Err(SendError::Retry(e)) => {
            let status = if attempt.last { FAILED } else { QUEUED };
            mark(infra, m.id, status, Some(e.clone()), true).await?;
            Err(JobError::Retry(e))
        }
        Err(SendError::NotConfigured) => mark(infra, m.id, OUTBOX, None, false).await,
    }
}

/// One page of mails, newest first, for the admins' outbox; `status` narrows it.
pub async fn list(
    infra: &Infra,
    caller: &Caller,
    status: Option<&str>,
    limit: u64,
    offset: u64,
) -> ApiResult<(Vec<mail::Model>, u64)> {
    caller.require_admin()?;
    let mut q = mail::Entity::find();
    if let Some(status) = status {
        if ![QUEUED, SENT, OUTBOX, FAILED].contains(&status) {
            return Err(ApiError::bad_request(
                "status must be one of queued, sent, outbox, failed",
            ));
        }
        q = q.filter(mail::Column::Status.eq(status));
    }
    let total = q.clone().count(&infra.db).await?;
    let rows = q
        .order_by_desc(mail::Column::Id)
        .limit(limit)
        .offset(offset)
        .all(&infra.db)
        .await?;
    Ok((rows, total))
}

/// Sends a mail again that failed or sat in the outbox (after SMTP was configured, say).
/// A mail that was sent has no body left to send.
pub async fn resend(infra: &Infra, caller: &Caller, mail_id: i32) -> ApiResult<mail::Model> {
    caller.require_admin()?;
    let txn = crate::store::begin_write(&infra.db).await?;
    let m = mail::Entity::find_by_id(mail_id)
        .one(&txn)
        .await?
        .ok_or(ApiError::NotFound)?;
    if m.status == SENT || m.status == QUEUED {
        return Err(ApiError::Conflict(format!(
            "this mail is {}: only a failed or outbox mail is sent again",
            m.status
        )));
    }
    let mut am: mail::ActiveModel = m.into();
    am.status = Set(QUEUED.into());
    am.last_error = Set(None);
    let updated = am.update(&txn).await?;
    jobs::enqueue(
        &txn,
        NewJob {
            max_attempts: MAIL_ATTEMPTS,
            ..NewJob::new(jobs::Kind::SendMail, json!({ "mail_id": mail_id }))
        },
    )
    .await?;
    txn.commit().await?;
    infra.jobs_wake.notify_one();
    Ok(updated)
}

/// Forgets mails older than `before` (a timestamp as `now()` writes them), whatever became of
/// them: the outbox is for reading recent mail, not an archive.
pub async fn purge(infra: &Infra, before: &str) -> ApiResult<()> {
    Box::pin(
        mail::Entity::delete_many()
            .filter(mail::Column::Created.lt(before))
            .exec(&infra.db),
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_renders_and_html_is_escaped() {
        for template in ["password_reset", "email_confirm"] {
            let (text, html) = render(
                template,
                &json!({
                    "site": SITE, "base_url": "http://x.org", "name": "<b>Ada</b>",
                    "account": "ada", "link": "http://x.org/a?token=t&x=1", "minutes": 60,
                    "days": 3, "address": "ada@x.org",
                }),
            )
            .expect(template);
            assert!(text.contains("<b>Ada</b>"), "{template}: {text}");
            assert!(
                text.contains("http://x.org/a?token=t&x=1"),
                "{template}: {text}"
            );
            // minijinja escapes `/` too (`&#x2f;`), as OWASP advises.
            assert!(
                html.contains("&lt;b&gt;Ada&lt;&#x2f;b&gt;"),
                "{template}: {html}"
            );
            assert!(html.contains("token=t&amp;x=1"), "{template}: {html}");
            assert!(!html.contains("<b>"), "{template}: {html}");
        }
    }
}
