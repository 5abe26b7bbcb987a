//! Accounts over the API (`/api/auth/…`) and project actions PYBOSSA only had as web pages.

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::{Object, OpenApi, param::Path, payload::Json};
use serde_json::Value;

use super::{
    ApiTags,
    common::{Deleted, JsonOf},
    schemas,
};
use crate::ids::{ProjectId, UserId};
use crate::{
    auth::Caller,
    domain::{
        platform::accounts::{self, NewAccount},
        platform::recovery,
        rest::crud,
        rest::fields::Access,
        rest::resources,
    },
    error::{ApiError, ApiResult},
    state::AppState,
    store::entities::{project, user},
};

#[derive(Object)]
pub struct RegisterRequest {
    /// Unique nickname: letters, digits, `-`, `_`, `.`.
    pub name: String,
    pub fullname: Option<String>,
    pub email_addr: String,
    /// At least 8 characters.
    #[oai(write_only)]
    pub password: String,
}

#[derive(Object)]
pub struct LoginRequest {
    /// Account name; or give `email_addr`.
    pub name: Option<String>,
    pub email_addr: Option<String>,
    #[oai(write_only)]
    pub password: String,
}

#[derive(Object)]
pub struct PasswordChange {
    #[oai(write_only)]
    pub current_password: String,
    /// At least 8 characters, not only spaces, not a well-known password.
    #[oai(write_only)]
    pub new_password: String,
}

#[derive(Object)]
pub struct ForgotRequest {
    /// The account's name; or give `email_addr`.
    pub name: Option<String>,
    pub email_addr: Option<String>,
}

#[derive(Object)]
pub struct ResetRequest {
    /// The `token` of the link in the reset mail.
    pub token: String,
    /// At least 8 characters, not only spaces, not a well-known password.
    #[oai(write_only)]
    pub password: String,
}

#[derive(Object)]
pub struct ConfirmRequest {
    /// The `token` of the link in the confirmation mail.
    pub token: String,
}

/// What was done, in words a person can read.
#[derive(Object)]
pub struct Accepted {
    pub message: String,
}

/// The account a confirmation link confirmed.
#[derive(Object)]
pub struct EmailConfirmed {
    pub name: String,
    pub email_addr: String,
    pub valid_email: bool,
}

#[derive(Object)]
pub struct TokenResponse {
    /// Send as `Authorization: Bearer <access_token>`.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Lifetime in seconds.
    pub expires_in: u64,
}

/// The caller's own account, with its api key.
fn account(caller: &Caller, user: &user::Model) -> Value {
    let mut map = resources::shape_user(caller, user);
    map.insert("api_key".into(), Value::String(user.api_key.clone()));
    Value::Object(map)
}

/// A fresh bearer token for `user`.
fn signed_in_as(state: &AppState, user: &user::Model) -> Result<Json<TokenResponse>, ApiError> {
    Ok(Json(TokenResponse {
        access_token: state
            .infra
            .tokens
            .issue(UserId(user.id), user.token_version)?,
        token_type: "Bearer".into(),
        expires_in: state.infra.tokens.ttl(),
    }))
}

fn signed_in(caller: &Caller) -> ApiResult<Arc<user::Model>> {
    caller.user.clone().ok_or(ApiError::Unauthorized(None))
}

pub struct AuthApi;

#[OpenApi(tag = "ApiTags::Auth")]
impl AuthApi {
    /// Create an account.
    ///
    /// Returns the account with its `api_key`. The first account of a site becomes its admin.
    /// A taken name or e-mail address gives 415 `DBIntegrityError`.
    #[oai(path = "/auth/register", method = "post")]
    async fn register(
        &self,
        state: Data<&Arc<AppState>>,
        req: Json<RegisterRequest>,
    ) -> Result<JsonOf<schemas::User>, ApiError> {
        let req = req.0;
        let user = accounts::register(
            &state.infra,
            NewAccount {
                name: req.name,
                fullname: req.fullname.unwrap_or_default(),
                email_addr: req.email_addr,
                password: req.password,
                admin: false,
            },
        )
        .await?;
        // The account stands even if its confirmation mail could not be queued: it can ask
        // for another.
        if let Err(e) = recovery::send_confirmation(&state.infra, &user, &user.email_addr).await {
            tracing::warn!(user = user.id, error = %e.chain(), "queueing the confirmation mail failed");
        }
        let caller = Caller {
            user: Some(Arc::new(user.clone())),
            ip: String::new(),
        };
        Ok(JsonOf::new(account(&caller, &user)))
    }

    /// Sign in with a name or e-mail address and a password; returns a bearer token.
    #[oai(path = "/auth/login", method = "post")]
    async fn login(
        &self,
        state: Data<&Arc<AppState>>,
        req: Json<LoginRequest>,
    ) -> Result<Json<TokenResponse>, ApiError> {
        let req = req.0;
        let login = req
            .name
            .or(req.email_addr)
            .ok_or_else(|| ApiError::value("give name or email_addr"))?;
        let user = Box::pin(accounts::login(&state.infra, &login, req.password)).await?;
        signed_in_as(&state, &user)
    }

    /// The signed-in account, with its api key.
    #[oai(path = "/auth/me", method = "get")]
    async fn me(&self, caller: Caller) -> Result<JsonOf<schemas::User>, ApiError> {
        let user = signed_in(&caller)?;
        Ok(JsonOf::new(account(&caller, &user)))
    }

    /// Sign out: every bearer token of the account stops working (its api key does not).
    #[oai(path = "/auth/logout", method = "post")]
    async fn logout(
        &self,
        state: Data<&Arc<AppState>>,
        caller: Caller,
    ) -> Result<Deleted, ApiError> {
        let user = signed_in(&caller)?;
        accounts::revoke_tokens(&state.infra, &state.accounts, UserId(user.id)).await?;
        Ok(Deleted)
    }

    /// Change the password (the current one is needed).
    ///
    /// Every bearer token and the api key stop working: the answer carries a new token, and
    /// `GET /auth/me` shows the new api key.
    #[oai(path = "/auth/password", method = "post")]
    async fn change_password(
        &self,
        state: Data<&Arc<AppState>>,
        caller: Caller,
        req: Json<PasswordChange>,
    ) -> Result<Json<TokenResponse>, ApiError> {
        let user = signed_in(&caller)?;
        let req = req.0;
        let updated = Box::pin(accounts::change_password(
            &state.infra,
            &state.accounts,
            &user,
            req.current_password,
            req.new_password,
        ))
        .await?;
        // A fresh token, so the session that changed the password goes on.
        signed_in_as(&state, &updated)
    }

    /// Ask for a link to choose a new password, mailed to the account's address.
    ///
    /// The answer is the same, and as quick, whether or not such an account exists. Three
    /// requests per name or address and twenty per client address an hour; past that, 429.
    /// The link (`/account/reset?token=…`) works once, for an hour.
    #[oai(path = "/auth/password/forgot", method = "post")]
    async fn forgot_password(
        &self,
        state: Data<&Arc<AppState>>,
        caller: Caller,
        req: Json<ForgotRequest>,
    ) -> Result<Json<Accepted>, ApiError> {
        let req = req.0;
        let login = req
            .email_addr
            .or(req.name)
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty() && l.len() <= 320)
            .ok_or_else(|| ApiError::bad_request("give name or email_addr"))?;
        recovery::throttle_forgot(&state.infra, &login, &caller.ip).await?;
        // Looked up and queued after answering, so the time taken tells nothing either.
        let state = Arc::clone(&state);
        tokio::spawn(async move {
            if let Err(e) = Box::pin(recovery::send_reset(&state.infra, &login)).await {
                tracing::warn!(error = %e.chain(), "queueing a reset mail failed");
            }
        });
        Ok(Json(Accepted {
            message: "If an account has this name or e-mail address, a link to choose a new \
                      password is on its way to its e-mail address."
                .into(),
        }))
    }

    /// Choose a new password with the token of a reset link.
    ///
    /// Every bearer token and the api key stop working, as after a password change; the
    /// answer carries a new token. The account's address counts as confirmed. A used or
    /// expired link is 400.
    #[oai(path = "/auth/password/reset", method = "post")]
    async fn reset_password(
        &self,
        state: Data<&Arc<AppState>>,
        caller: Caller,
        req: Json<ResetRequest>,
    ) -> Result<Json<TokenResponse>, ApiError> {
        let req = req.0;
        let updated = Box::pin(recovery::reset_password(
            &state.infra,
            &state.accounts,
            &caller.ip,
            &req.token,
            req.password,
        ))
        .await?;
        signed_in_as(&state, &updated)
    }

    /// Confirm an e-mail address with the token of a confirmation link (no sign-in needed).
    ///
    /// A link to a new address makes it the account's. A used or expired link is 400; 409 if
    /// another account took the address meanwhile.
    #[oai(path = "/auth/email/confirm", method = "post")]
    async fn confirm_email(
        &self,
        state: Data<&Arc<AppState>>,
        req: Json<ConfirmRequest>,
    ) -> Result<Json<EmailConfirmed>, ApiError> {
        let updated = Box::pin(recovery::confirm_email(
            &state.infra,
            &state.accounts,
            &req.0.token,
        ))
        .await?;
        Ok(Json(EmailConfirmed {
            name: updated.name,
            email_addr: updated.email_addr,
            valid_email: updated.valid_email,
        }))
    }

    /// Mail the signed-in account's confirmation link again (three an hour); 409 when its
    /// address is confirmed and no new one waits.
    #[oai(path = "/auth/email/resend", method = "post")]
    async fn resend_confirmation(
        &self,
        state: Data<&Arc<AppState>>,
        caller: Caller,
    ) -> Result<Json<Accepted>, ApiError> {
        let user = signed_in(&caller)?;
        recovery::resend_confirmation(&state.infra, &user).await?;
        Ok(Json(Accepted {
            message: "A confirmation link is on its way.".into(),
        }))
    }

    /// Replace the caller's api key; the old one and every bearer token stop working at once.
    #[oai(path = "/auth/api-key", method = "post")]
    async fn regenerate_api_key(
        &self,
        state: Data<&Arc<AppState>>,
        caller: Caller,
    ) -> Result<JsonOf<schemas::User>, ApiError> {
        let user = signed_in(&caller)?;
        let updated = Box::pin(accounts::regenerate_api_key(
            &state.infra,
            &state.accounts,
            user.id,
        ))
        .await?;
        Ok(JsonOf::new(account(&caller, &updated)))
    }
}

pub struct ProjectActionsApi;

#[OpenApi(tag = "ApiTags::Project")]
impl ProjectActionsApi {
    /// Publish a draft project (owners and admins).
    ///
    /// A published project is listed and readable by everyone. Refused (400) while the project
    /// has no task. Unlike PYBOSSA, answers given while it was a draft are kept.
    #[oai(path = "/project/:id/publish", method = "post")]
    async fn publish(
        &self,
        state: Data<&Arc<AppState>>,
        caller: Caller,
        id: Path<i32>,
    ) -> Result<JsonOf<schemas::Project>, ApiError> {
        let ctx = state.ctx(&caller);
        let model = Box::pin(resources::publish(ctx, ProjectId(id.0))).await?;
        Ok(JsonOf::new(Value::Object(owner_view(&model))))
    }

    /// Make another account the project's primary owner.
    ///
    /// The primary owner or an admin only; the new owner must be an existing, enabled account.
    /// The previous primary owner stays a co-owner. This is the only way `owner_id` changes.
    #[oai(path = "/project/:id/transfer", method = "post")]
    async fn transfer(
        &self,
        state: Data<&Arc<AppState>>,
        caller: Caller,
        id: Path<i32>,
        body: Json<TransferRequest>,
    ) -> Result<JsonOf<schemas::Project>, ApiError> {
        let ctx = state.ctx(&caller);
        let model = Box::pin(resources::transfer(
            ctx,
            ProjectId(id.0),
            UserId(body.0.owner_id),
        ))
        .await?;
        Ok(JsonOf::new(Value::Object(owner_view(&model))))
    }

    /// Unpublish the project (owners and admins): it leaves listings and volunteers get no more
    /// of its tasks; tasks, answers and results stay. Publishing again brings it back.
    #[oai(path = "/project/:id/unpublish", method = "post")]
    async fn unpublish(
        &self,
        state: Data<&Arc<AppState>>,
        caller: Caller,
        id: Path<i32>,
    ) -> Result<JsonOf<schemas::Project>, ApiError> {
        let ctx = state.ctx(&caller);
        let model = Box::pin(resources::unpublish(ctx, ProjectId(id.0))).await?;
        Ok(JsonOf::new(Value::Object(owner_view(&model))))
    }

    /// Replace the project's `secret_key` (owners and admins).
    ///
    /// Project tokens of external users signed with the old secret are refused from then on.
    #[oai(path = "/project/:id/secret", method = "post")]
    async fn rotate_secret(
        &self,
        state: Data<&Arc<AppState>>,
        caller: Caller,
        id: Path<i32>,
    ) -> Result<JsonOf<schemas::Project>, ApiError> {
        let ctx = state.ctx(&caller);
        let model = Box::pin(resources::rotate_secret(ctx, ProjectId(id.0))).await?;
        Ok(JsonOf::new(Value::Object(owner_view(&model))))
    }
}

#[derive(Object)]
pub struct TransferRequest {
    /// The account that becomes the primary owner.
    pub owner_id: i32,
}

/// A project as its owners see it.
fn owner_view(p: &project::Model) -> serde_json::Map<String, Value> {
    crud::to_map::<resources::Project>(p, Access::Owner)
}
