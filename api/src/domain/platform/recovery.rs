//! Links sent by mail that act on an account: a password reset for whoever can read the
//! account's mail, and the confirmation of an e-mail address.
//!
//! Links carry a signed token (see `auth::token::LinkPurpose`) bound to a fingerprint of what
//! they change, so each works once: a reset's fingerprint covers the password hash (new at
//! every reset) and the address, a confirmation's the address it confirms.

use sea_orm::{ActiveModelTrait, EntityTrait, Set};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::{
    auth::{new_api_key, password, token::LinkPurpose},
    domain::platform::{
        accounts::{self, check_password},
        cache::AccountRows,
        mail::{self, Outgoing, SITE},
    },
    error::{ApiError, ApiResult},
    ids::UserId,
    infra::Infra,
    store::entities::user,
};

/// A reset link works for an hour.
const RESET_TTL: u64 = 3600;
/// A confirmation link works for three days.
const CONFIRM_TTL: u64 = 3 * 24 * 3600;
/// Reset mails one name or address may ask for in an hour.
const FORGOT_PER_LOGIN: u64 = 3;
/// Requests (for reset mails, and resets) one address may make in an hour.
const PER_ADDRESS: u64 = 20;
const WINDOW_SECS: i64 = 3600;

fn digest(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    h.finalize()[..12]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn reset_fingerprint(u: &user::Model) -> String {
    digest(&[
        "reset",
        u.passwd_hash.as_deref().unwrap_or(""),
        &u.email_addr,
        if u.enabled { "1" } else { "0" },
    ])
}

fn confirm_fingerprint(address: &str) -> String {
    digest(&["confirm", &address.to_lowercase()])
}

/// Counts one request against `key` in this hour's window: 429 past `max`.
async fn throttle(infra: &Infra, key: String, max: u64) -> ApiResult<()> {
    let window_end = (chrono::Utc::now().timestamp() / WINDOW_SECS + 1) * WINDOW_SECS;
    if infra.kv.hit(&key, window_end).await > max {
        return Err(ApiError::TooManyRequests);
    }
    Ok(())
}

/// The limits on asking for a reset mail: per name or address typed (hashed, so no address is
/// kept in the store), and per client address. Counted whether or not the account exists, so
/// a refusal tells nothing about it.
pub async fn throttle_forgot(infra: &Infra, login: &str, client: &str) -> ApiResult<()> {
    throttle(infra, format!("forgot:ip:{client}"), PER_ADDRESS).await?;
    let login = digest(&["login", &login.trim().to_lowercase()]);
    throttle(infra, format!("forgot:{login}"), FORGOT_PER_LOGIN).await
}

/// Mails a reset link to the account `login` names (a name or an e-mail address), if there
/// is one and it is enabled; nothing otherwise.
pub async fn send_reset(infra: &Infra, login: &str) -> ApiResult<()> {
    let Some(u) = accounts::find_by_login(&infra.db, login).await? else {
        return Ok(());
    };
    if !u.enabled {
        return Ok(());
    }
    let token = infra.tokens.issue_link(
        UserId(u.id),
        LinkPurpose::ResetPassword,
        RESET_TTL,
        &reset_fingerprint(&u),
    )?;
    let base = infra.config.mail_base_url();
    mail::queue(
        &infra.db,
        Outgoing {
            kind: "password.reset",
            template: "password_reset",
            subject: format!("Reset your password on {SITE}"),
            user_id: Some(u.id),
            to: u.email_addr.clone(),
            context: json!({
                "site": SITE, "base_url": base, "name": u.fullname, "account": u.name,
                "minutes": RESET_TTL / 60,
                "link": format!("{base}/account/reset?token={token}"),
            }),
            headers: vec![],
        },
    )
    .await?;
    infra.jobs_wake.notify_one();
    Ok(())
}

fn expired_link() -> ApiError {
    ApiError::bad_request("This link has expired or was already used; ask for a new one")
}

/// Sets a new password with a reset link's token. Like a password change it ends every bearer
/// token and the api key; and it confirms the address the link was mailed to.
pub async fn reset_password(
    infra: &Infra,
    accounts: &AccountRows,
    client: &str,
    token: &str,
    new_password: String,
) -> ApiResult<user::Model> {
    throttle(infra, format!("reset:ip:{client}"), PER_ADDRESS).await?;
    let (user_id, fp) = infra
        .tokens
        .verify_link(token, LinkPurpose::ResetPassword)
        .ok_or_else(expired_link)?;
    check_password(&new_password)?;
    let hash = password::hash(new_password).await?;
    let txn = crate::store::begin_write(&infra.db).await?;
    let u = user::Entity::find_by_id(user_id)
        .one(&txn)
        .await?
        .filter(|u| reset_fingerprint(u) == fp)
        .ok_or_else(expired_link)?;
    let version = u.token_version;
    let mut am: user::ActiveModel = u.into();
    am.passwd_hash = Set(Some(hash));
    am.api_key = Set(new_api_key());
    am.token_version = Set(version + 1);
    am.valid_email = Set(true);
    let updated = am.update(&txn).await?;
    txn.commit().await?;
    accounts.forget(UserId(user_id)).await;
    Ok(updated)
}

/// Mails `address` a link confirming it as the account's: its own address when not yet
/// confirmed, or the new one it asked for.
pub async fn send_confirmation(infra: &Infra, u: &user::Model, address: &str) -> ApiResult<()> {
    let token = infra.tokens.issue_link(
        UserId(u.id),
        LinkPurpose::ConfirmEmail,
        CONFIRM_TTL,
        &confirm_fingerprint(address),
    )?;
    let base = infra.config.mail_base_url();
    mail::queue(
        &infra.db,
        Outgoing {
            kind: "email.confirm",
            template: "email_confirm",
            subject: format!("Confirm your e-mail address on {SITE}"),
            user_id: Some(u.id),
            to: address.to_string(),
            context: json!({
                "site": SITE, "base_url": base, "name": u.fullname, "account": u.name,
                "address": address, "days": CONFIRM_TTL / 86_400,
                "link": format!("{base}/account/confirm?token={token}"),
            }),
            headers: vec![],
        },
    )
    .await?;
    infra.jobs_wake.notify_one();
    Ok(())
}

/// Confirms the address a confirmation link was mailed to: the account's own, or the new one
/// it waits for, which then replaces the old (refused if another account took it meanwhile).
pub async fn confirm_email(
    infra: &Infra,
    accounts: &AccountRows,
    token: &str,
) -> ApiResult<user::Model> {
    let (user_id, fp) = infra
        .tokens
        .verify_link(token, LinkPurpose::ConfirmEmail)
        .ok_or_else(expired_link)?;
    let txn = crate::store::begin_write(&infra.db).await?;
    let u = user::Entity::find_by_id(user_id)
        .one(&txn)
        .await?
        .ok_or_else(expired_link)?;
    let pending = u
        .email_pending
        .clone()
        .filter(|p| confirm_fingerprint(p) == fp);
    let own = !u.valid_email && confirm_fingerprint(&u.email_addr) == fp;
    if pending.is_none() && !own {
        // Already confirmed, or a link to an address the account no longer asks for.
        return Err(expired_link());
    }
    let mut am: user::ActiveModel = u.into();
    if let Some(new) = pending {
        if accounts::email_taken(&txn, user_id, &new).await? {
            return Err(ApiError::Conflict(
                "another account has this e-mail address now".into(),
            ));
        }
        am.email_addr = Set(new);
        am.email_pending = Set(None);
    }
    am.valid_email = Set(true);
    let updated = am.update(&txn).await?;
    txn.commit().await?;
    accounts.forget(UserId(user_id)).await;
    Ok(updated)
}

/// Mails the account's confirmation link again: for the address it waits for, else for its
/// own while that is unconfirmed. 409 when there is nothing to confirm; three an hour.
pub async fn resend_confirmation(infra: &Infra, u: &user::Model) -> ApiResult<()> {
    let address = match (&u.email_pending, u.valid_email) {
        (Some(pending), _) => pending.clone(),
        (None, false) => u.email_addr.clone(),
        (None, true) => {
            return Err(ApiError::Conflict(
                "this account's e-mail address is confirmed already".into(),
            ));
        }
    };
    throttle(infra, format!("confirm:u{}", u.id), FORGOT_PER_LOGIN).await?;
    send_confirmation(infra, u, &address).await
}
