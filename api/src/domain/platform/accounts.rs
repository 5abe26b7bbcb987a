//! Accounts: sign-up, sign-in, profiles, passwords, api keys and the tokens they revoke.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, PaginatorTrait,
    QueryFilter, Set, Statement,
    sea_query::{Expr, Func},
};
use serde_json::{Map, Value as Json, json};

use crate::ids::UserId;
use crate::{
    auth::{new_api_key, password},
    domain::platform::cache::AccountRows,
    error::{ApiError, ApiResult},
    infra::Infra,
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
/// Argon2 hashes whatever it is given; a bound keeps one request from costing much more.
const MAX_PASSWORD: usize = 1024;

/// Passwords of at least 8 characters that lists of leaked passwords put at the top; refused
/// whatever their case.
const COMMON_PASSWORDS: &[&str] = &[
    "password",
    "password1",
    "password12",
    "password123",
    "passw0rd",
    "p@ssw0rd",
    "p@ssword",
    "12345678",
    "123456789",
    "1234567890",
    "0123456789",
    "87654321",
    "11111111",
    "00000000",
    "12341234",
    "11223344",
    "123123123",
    "qwertyui",
    "qwertyuiop",
    "qwerty123",
    "qwerty12",
    "1q2w3e4r",
    "1q2w3e4r5t",
    "1qaz2wsx",
    "zaq12wsx",
    "asdfghjk",
    "asdfghjkl",
    "zxcvbnm1",
    "iloveyou",
    "iloveyou1",
    "sunshine",
    "princess",
    "football",
    "baseball",
    "superman",
    "starwars",
    "trustno1",
    "whatever",
    "welcome1",
    "welcome123",
    "letmein1",
    "letmein123",
    "abcd1234",
    "abc12345",
    "abcdefgh",
    "aaaaaaaa",
    "master123",
    "monkey123",
    "dragon123",
    "shadow123",
    "michael1",
    "jennifer",
    "computer",
    "internet",
    "changeme",
    "changeme1",
    "administrator",
    "admin123",
    "admin1234",
    "secret123",
    "mypassword",
    "football1",
    "basketball",
    "chocolate",
    "butterfly",
    "liverpool",
    "christmas",
    "passport",
    "q1w2e3r4",
    "q1w2e3r4t5",
];

/// The password rules: 8 to 1,024 characters, not only spaces, not a well-known password.
pub fn check_password(pass: &str) -> ApiResult<()> {
    let n = pass.chars().count();
    if n < MIN_PASSWORD {
        return Err(ApiError::value(format!(
            "password must be at least {MIN_PASSWORD} characters"
        )));
    }
    if n > MAX_PASSWORD {
        return Err(ApiError::value(format!(
            "password must be at most {MAX_PASSWORD} characters"
        )));
    }
    if pass.trim().is_empty() {
        return Err(ApiError::value("password cannot be only spaces"));
    }
    let lower = pass.to_lowercase();
    if COMMON_PASSWORDS.contains(&lower.as_str()) || lower.chars().all(|c| lower.starts_with(c)) {
        return Err(ApiError::value(
            "this password is among the most common ones; choose another",
        ));
    }
    Ok(())
}

/// Account names: 1 to 64 letters, digits, `-`, `_`, `.` (never `@`, so a sign-in name is
/// never taken for an e-mail address).
pub fn check_name(name: &str) -> ApiResult<()> {
    if name.is_empty() || name.chars().count() > 64 {
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
    Ok(())
}

pub fn check_email(email: &str) -> ApiResult<()> {
    let valid = email.len() <= 254
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        })
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if valid {
        Ok(())
    } else {
        Err(ApiError::value("email_addr is not a valid e-mail address"))
    }
}

fn check_fullname(fullname: &str) -> ApiResult<()> {
    if fullname.chars().count() > 255 || fullname.chars().any(char::is_control) {
        return Err(ApiError::value(
            "fullname must be at most 255 characters, without control characters",
        ));
    }
    Ok(())
}

fn validate(acc: &NewAccount) -> ApiResult<()> {
    check_name(acc.name.trim())?;
    check_email(acc.email_addr.trim())?;
    check_password(&acc.password)?;
    check_fullname(acc.fullname.trim())
}

/// A name or e-mail address already taken, whatever its case.
fn taken(e: ApiError) -> ApiError {
    match e {
        ApiError::Integrity(_) => {
            ApiError::Integrity("an account with this name or e-mail address already exists".into())
        }
        other => other,
    }
}

/// Lower-case equality, for names and e-mail addresses.
fn same_ci(col: user::Column, value: &str) -> sea_orm::sea_query::SimpleExpr {
    use sea_orm::sea_query::ExprTrait;
    Expr::expr(Func::lower(Expr::col(col))).eq(value.to_lowercase())
}

/// Holds the first sign-ups on PostgreSQL until the first one commits, so exactly one account
/// becomes admin. (SQLite write transactions already take the database's write lock.)
const FIRST_ACCOUNT_LOCK: i64 = 0x7e55_e7a0_0001;

pub async fn register(state: &Infra, acc: NewAccount) -> ApiResult<user::Model> {
    validate(&acc)?;
    let hash = password::hash(acc.password.clone()).await?;
    let txn = crate::store::begin_write(&state.db).await?;
    // The first account runs the site. Only a sign-up that finds no account waits for the lock
    // and looks again.
    let mut first = user::Entity::find().count(&txn).await? == 0;
    if first && txn.get_database_backend() == DbBackend::Postgres {
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_advisory_xact_lock($1)",
            [FIRST_ACCOUNT_LOCK.into()],
        ))
        .await?;
        first = user::Entity::find().count(&txn).await? == 0;
    }
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
        token_version: Set(0),
        ..Default::default()
    }
    .insert(&txn)
    .await
    .map_err(|e| taken(e.into()))?;
    txn.commit().await?;
    Ok(model)
}

/// Checks and normalises a profile change (`PUT /api/user`) as sign-up checks a new account:
/// name and e-mail rules, e-mail in lower case, both unique whatever their case.
pub async fn check_profile(
    state: &Infra,
    user_id: i32,
    body: &mut Map<String, Json>,
) -> ApiResult<()> {
    for key in ["name", "email_addr", "fullname"] {
        if let Some(v) = body.get(key)
            && !v.is_string()
        {
            return Err(ApiError::data(format!("{key} must be a string")));
        }
    }
    if let Some(Json::String(name)) = body.get("name") {
        let name = name.trim().to_string();
        check_name(&name)?;
        if exists_other(&state.db, user_id, user::Column::Name, &name).await? {
            return Err(taken(ApiError::Integrity(String::new())));
        }
        body.insert("name".into(), Json::String(name));
    }
    if let Some(Json::String(email)) = body.get("email_addr") {
        let email = email.trim().to_lowercase();
        check_email(&email)?;
        if exists_other(&state.db, user_id, user::Column::EmailAddr, &email).await? {
            return Err(taken(ApiError::Integrity(String::new())));
        }
        body.insert("email_addr".into(), Json::String(email));
    }
    if let Some(Json::String(fullname)) = body.get("fullname") {
        let fullname = fullname.trim().to_string();
        check_fullname(&fullname)?;
        if fullname.is_empty() {
            return Err(ApiError::value("fullname cannot be empty"));
        }
        body.insert("fullname".into(), Json::String(fullname));
    }
    Ok(())
}

async fn exists_other(
    db: &impl ConnectionTrait,
    user_id: i32,
    col: user::Column,
    value: &str,
) -> ApiResult<bool> {
    Ok(user::Entity::find()
        .filter(same_ci(col, value))
        .filter(user::Column::Id.ne(user_id))
        .count(db)
        .await?
        > 0)
}

/// A fixed argon2id hash, verified when the account does not exist so that a wrong name takes
/// as long as a wrong password.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$Hc8mGGk4cKD5DmVJSbsWwWShs0bX7ARm/XMmXvmBmzk";

/// Why a disabled account's credentials are refused.
pub fn disabled() -> ApiError {
    ApiError::Unauthorized(Some("This account is disabled".into()))
}

/// Sign-in attempts for one login allowed in a window (`TESSERA_SIGNIN_WINDOW`).
const FREE_ATTEMPTS: u64 = 5;

/// The counter of sign-in attempts with `login`: by what was typed (a name and an e-mail address
/// count apart, so a refusal never tells that both are one account's), hashed so that no
/// address is kept in the store.
fn signin_bucket(login: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(login.to_lowercase().as_bytes());
    let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
    format!("signin:{hex}")
}

/// Signs in by name or e-mail address: a login with `@` is an e-mail address (names never
/// have one), either compared whatever its case, so one login names one account at most.
/// Attempts with one login are counted (atomically, before the password is checked): past
/// five in a window, the rest of the window answers 429. Success forgets them.
pub async fn login(state: &Infra, login: &str, pass: String) -> ApiResult<user::Model> {
    let login = login.trim();
    let wrong = || ApiError::Unauthorized(Some("Invalid name, e-mail address or password".into()));
    if login.is_empty() || login.len() > 320 {
        return Err(wrong());
    }
    let window = i64::try_from(state.config.signin_window_secs.max(1)).unwrap_or(60);
    let window_end = (chrono::Utc::now().timestamp() / window + 1) * window;
    let bucket = signin_bucket(login);
    if state.kv.hit(&bucket, window_end).await > FREE_ATTEMPTS {
        return Err(ApiError::TooManyRequests);
    }
    let found = find_by_login(&state.db, login).await?;
    let stored = found
        .as_ref()
        .and_then(|u| u.passwd_hash.clone())
        .unwrap_or_else(|| DUMMY_HASH.into());
    let ok = pass.chars().count() <= MAX_PASSWORD && password::verify(pass, stored).await;
    if ok {
        // The right password, even for a disabled account, is no guess to slow down.
        state.kv.reset_hits(&bucket, window_end).await;
    }
    match found {
        Some(u) if ok && !u.enabled => Err(disabled()),
        Some(u) if ok => Ok(u),
        _ => Err(wrong()),
    }
}

/// The account a login names: with `@` an e-mail address (names never have one), else a
/// name, either compared whatever its case.
pub async fn find_by_login(
    db: &impl ConnectionTrait,
    login: &str,
) -> ApiResult<Option<user::Model>> {
    let login = login.trim();
    let col = if login.contains('@') {
        user::Column::EmailAddr
    } else {
        user::Column::Name
    };
    Ok(user::Entity::find()
        .filter(same_ci(col, login))
        .one(db)
        .await?)
}

/// Whether an account other than `user_id` has `address`, whatever its case.
pub async fn email_taken(
    db: &impl ConnectionTrait,
    user_id: i32,
    address: &str,
) -> ApiResult<bool> {
    exists_other(db, user_id, user::Column::EmailAddr, address).await
}

/// Ends every bearer token of the account issued so far.
pub async fn revoke_tokens(
    state: &Infra,
    accounts: &AccountRows,
    user_id: UserId,
) -> ApiResult<()> {
    use sea_orm::sea_query::ExprTrait;
    user::Entity::update_many()
        .col_expr(
            user::Column::TokenVersion,
            Expr::col(user::Column::TokenVersion).add(1),
        )
        .filter(user::Column::Id.eq(user_id))
        .exec(&state.db)
        .await?;
    accounts.forget(user_id).await;
    Ok(())
}

/// A new api key; the old one, and every bearer token, stop working at once.
pub async fn regenerate_api_key(
    state: &Infra,
    accounts: &AccountRows,
    user_id: i32,
) -> ApiResult<user::Model> {
    let txn = crate::store::begin_write(&state.db).await?;
    let existing = user::Entity::find_by_id(user_id)
        .one(&txn)
        .await?
        .ok_or(ApiError::NotFound)?;
    let version = existing.token_version;
    let mut am: user::ActiveModel = existing.into();
    am.api_key = Set(new_api_key());
    am.token_version = Set(version + 1);
    let updated = am.update(&txn).await?;
    txn.commit().await?;
    accounts.forget(UserId(user_id)).await;
    Ok(updated)
}

/// Changes the password after checking the current one; every bearer token, and the api key,
/// stop working (the answer to `POST /api/auth/password` carries a new token; the new key is at
/// `GET /api/auth/me`).
pub async fn change_password(
    state: &Infra,
    accounts: &AccountRows,
    user: &user::Model,
    current: String,
    new: String,
) -> ApiResult<user::Model> {
    let stored = user
        .passwd_hash
        .clone()
        .unwrap_or_else(|| DUMMY_HASH.into());
    if !password::verify(current, stored).await {
        return Err(ApiError::forbidden("The current password is not right"));
    }
    check_password(&new)?;
    let hash = password::hash(new).await?;
    // Whoever had a session may have read the api key from it: a new password ends both.
    let mut am: user::ActiveModel = user.clone().into();
    am.passwd_hash = Set(Some(hash));
    am.api_key = Set(new_api_key());
    am.token_version = Set(user.token_version + 1);
    let updated = am.update(&state.db).await?;
    accounts.forget(UserId(user.id)).await;
    Ok(updated)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_blank_common_or_overlong_passwords_are_refused() {
        assert!(check_password("short").is_err());
        assert!(check_password("        ").is_err());
        assert!(check_password("Password123").is_err());
        assert!(check_password("zzzzzzzzzz").is_err());
        assert!(check_password("correct horse").is_ok());
        assert!(check_password(&"x".repeat(MAX_PASSWORD + 1)).is_err());
    }

    #[test]
    fn names_cannot_be_emails_and_emails_must_be_well_formed() {
        assert!(check_name("ada.l").is_ok());
        assert!(check_name("ada@example.org").is_err());
        assert!(check_name("").is_err());
        assert!(check_email("ada@example.org").is_ok());
        for bad in [
            "ada",
            "ada@",
            "@example.org",
            "a@b",
            "a b@c.org",
            "a@b@c.org",
        ] {
            assert!(check_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn signin_counters_hide_the_login() {
        assert_eq!(
            signin_bucket("Ada@Example.org"),
            signin_bucket("ada@example.org")
        );
        assert_ne!(signin_bucket("ada"), signin_bucket("ada@example.org"));
        assert!(!signin_bucket("ada@example.org").contains("ada"));
    }
}
