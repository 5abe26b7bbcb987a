//! Accounts: sign-up, sign-in, api keys.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter, Set,
};
use serde_json::json;

use crate::{
    auth::{new_api_key, password},
    error::{ApiError, ApiResult},
    state::AppState,
    store::{entities::user, now},
};

pub struct NewAccount {
    pub name: String,
    pub fullname: String,
    pub email_addr: String,
    pub password: String,
    /// Only the CLI may ask for this; the first account is admin regardless.
    pub admin: bool,
}

const MIN_PASSWORD: usize = 8;

fn validate(acc: &NewAccount) -> ApiResult<()> {
    let name = acc.name.trim();
    if name.is_empty() || name.len() > 64 {
        return Err(ApiError::value("name must be 1 to 64 characters"));
    }
    if !name
        .chars()
        .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(ApiError::value(
            "name may only contain letters, digits, '-', '_' and '.'",
        ));
    }
    let email = acc.email_addr.trim();
    let valid_email = email.len() <= 254
        && email
            .split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'))
        && !email.chars().any(char::is_whitespace);
    if !valid_email {
        return Err(ApiError::value("email_addr is not a valid e-mail address"));
    }
    if acc.password.chars().count() < MIN_PASSWORD {
        return Err(ApiError::value(format!(
            "password must be at least {MIN_PASSWORD} characters"
        )));
    }
    if acc.fullname.len() > 255 {
        return Err(ApiError::value("fullname must be at most 255 characters"));
    }
    Ok(())
}

pub async fn register(state: &AppState, acc: NewAccount) -> ApiResult<user::Model> {
    validate(&acc)?;
    let hash = password::hash(acc.password.clone()).await?;
    let txn = crate::store::begin_write(&state.db).await?;
    // The first account runs the site.
    let first = user::Entity::find().count(&txn).await? == 0;
    let name = acc.name.trim().to_string();
    let fullname = if acc.fullname.trim().is_empty() {
        name.clone()
    } else {
        acc.fullname.trim().to_string()
    };
    let model = user::ActiveModel {
        created: Set(now()),
        email_addr: Set(acc.email_addr.trim().to_lowercase()),
        name: Set(name),
        fullname: Set(fullname),
        locale: Set("en".into()),
        api_key: Set(new_api_key()),
        passwd_hash: Set(Some(hash)),
        ldap: Set(None),
        admin: Set(first || acc.admin),
        pro: Set(false),
        privacy_mode: Set(true),
        restrict: Set(false),
        enabled: Set(true),
        category: Set(None),
        flags: Set(None),
        ckan_api: Set(None),
        newsletter_prompted: Set(false),
        valid_email: Set(false),
        confirmation_email_sent: Set(false),
        subscribed: Set(false),
        consent: Set(false),
        info: Set(Some(json!({}))),
        user_pref: Set(Some(json!({}))),
        notified_at: Set(None),
        ..Default::default()
    }
    .insert(&txn)
    .await
    .map_err(|e| match ApiError::from(e) {
        ApiError::Integrity(_) => {
            ApiError::Integrity("an account with this name or e-mail address already exists".into())
        }
        other => other,
    })?;
    txn.commit().await?;
    Ok(model)
}

/// A fixed argon2id hash, verified when the account does not exist so that a wrong name takes
/// as long as a wrong password.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$Hc8mGGk4cKD5DmVJSbsWwWShs0bX7ARm/XMmXvmBmzk";

/// Why a disabled account's credentials are refused.
pub fn disabled() -> ApiError {
    ApiError::Unauthorized(Some("This account is disabled".into()))
}

pub async fn login(state: &AppState, login: &str, pass: String) -> ApiResult<user::Model> {
    let login = login.trim();
    let found = user::Entity::find()
        .filter(
            Condition::any()
                .add(user::Column::Name.eq(login))
                .add(user::Column::EmailAddr.eq(login.to_lowercase())),
        )
        .one(&state.db)
        .await?;
    let stored = found
        .as_ref()
        .and_then(|u| u.passwd_hash.clone())
        .unwrap_or_else(|| DUMMY_HASH.into());
    let ok = password::verify(pass, stored).await;
    match found {
        Some(u) if ok && !u.enabled => Err(disabled()),
        Some(u) if ok => Ok(u),
        _ => Err(ApiError::Unauthorized(Some(
            "Invalid name, e-mail address or password".into(),
        ))),
    }
}

pub async fn regenerate_api_key(state: &AppState, user_id: i32) -> ApiResult<user::Model> {
    let existing = user::Entity::find_by_id(user_id)
        .one(&state.db)
        .await?
        .ok_or(ApiError::NotFound)?;
    let mut am: user::ActiveModel = existing.into();
    am.api_key = Set(new_api_key());
    Ok(am.update(&state.db).await?)
}
