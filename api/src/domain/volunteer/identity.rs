//! Who is answering: a signed-in user, an external user of a project's own app (vouched for by
//! the project token), or an anonymous browser known only by its anonymised address.

use std::sync::Arc;

use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use sea_orm::{
    ColumnTrait, Condition, DbBackend,
    sea_query::{Expr, ExprTrait, Query, SelectStatement},
};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::{
    auth::Caller,
    error::{ApiError, ApiResult},
    ids::UserId,
    store::entities::{project, task, task_run},
};

#[derive(Debug, Clone)]
pub struct Volunteer {
    pub user_id: Option<UserId>,
    /// Anonymised address, only for anonymous volunteers.
    pub user_ip: Option<String>,
    pub external_uid: Option<String>,
    /// Stable key for stamps and holds.
    pub key: String,
}

impl Volunteer {
    pub fn is_anonymous(&self) -> bool {
        self.user_id.is_none()
    }

    /// SQL condition matching this volunteer's answers.
    pub fn answered_by(&self) -> Condition {
        match (&self.external_uid, self.user_id, &self.user_ip) {
            (Some(x), _, _) => Condition::all().add(task_run::Column::ExternalUid.eq(x.clone())),
            (None, Some(id), _) => Condition::all().add(task_run::Column::UserId.eq(id)),
            (None, None, Some(ip)) => Condition::all()
                .add(task_run::Column::UserIp.eq(ip.clone()))
                .add(task_run::Column::ExternalUid.is_null()),
            (None, None, None) => Condition::all().add(task_run::Column::Id.eq(-1)),
        }
    }

    /// `SELECT task_id FROM task_run WHERE <theirs> AND task_id = task.id`: for `NOT EXISTS`
    /// in a read of tasks, to leave out those they answered.
    ///
    /// On PostgreSQL it carries an `OFFSET`, which keeps the planner from making it an
    /// anti-join: that it planned as a scan of the whole (task_id, volunteer) index, growing
    /// with every answer in the database; as a subplan it is one index probe per candidate.
    pub fn answered_task(&self, backend: DbBackend) -> SelectStatement {
        let mut answered = Query::select()
            .column(task_run::Column::TaskId)
            .from(task_run::Entity)
            .cond_where(self.answered_by())
            .and_where(
                Expr::col((task_run::Entity, task_run::Column::TaskId))
                    .equals((task::Entity, task::Column::Id)),
            )
            .to_owned();
        if backend == DbBackend::Postgres {
            answered.offset(0);
        }
        answered
    }
}

/// Keyed, one-way anonymisation of an address, so stored answers never hold a real IP but one
/// person keeps one identity. The key is the database's own (see `store::settings`), never
/// empty, so nobody without it can recompute or reverse the mapping; the result is 128 bits
/// written as an IPv6 address (IPv4 ones too: 32 bits would make volunteers collide once a
/// project has tens of thousands of anonymous ones).
pub fn anonymise_ip(key: &[u8], ip: &str) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return "::".into();
    };
    mac.update(b"tessera-anonymous-address:");
    mac.update(ip.as_bytes());
    let digest = mac.finalize().into_bytes();
    let mut b = [0u8; 16];
    b.copy_from_slice(&digest[..16]);
    std::net::Ipv6Addr::from(b).to_string()
}

/// The longest external user id taken (it keys stamps, holds and answers).
pub const EXTERNAL_UID_MAX: usize = 255;

/// The volunteer a request acts for. `external_uid` needs the project token (a bearer JWT
/// signed with the project's secret).
pub fn volunteer(
    caller: &Caller,
    secret: &[u8],
    checked: &CheckedTokens,
    project: &project::Model,
    external_uid: Option<&str>,
    bearer: Option<&str>,
) -> ApiResult<Volunteer> {
    if let Some(x) = external_uid.filter(|x| !x.is_empty()) {
        if x.len() > EXTERNAL_UID_MAX {
            return Err(ApiError::value(format!(
                "external_uid may be at most {EXTERNAL_UID_MAX} bytes"
            )));
        }
        let token = bearer
            .ok_or_else(|| ApiError::Unauthorized(Some("Missing Authorization header".into())))?;
        checked.verify(project, token)?;
        return Ok(Volunteer {
            user_id: None,
            user_ip: None,
            external_uid: Some(x.to_string()),
            key: format!("x{}:{x}", project.id),
        });
    }
    Ok(match caller.user_id() {
        Some(id) => Volunteer {
            user_id: Some(UserId(id)),
            user_ip: None,
            external_uid: None,
            key: format!("u{id}"),
        },
        None => {
            let ip = anonymise_ip(secret, &caller.ip);
            Volunteer {
                user_id: None,
                key: format!("ip{ip}"),
                user_ip: Some(ip),
                external_uid: None,
            }
        }
    })
}

#[derive(Debug, Serialize, Deserialize)]
struct ProjectClaims {
    short_name: String,
    project_id: i32,
}

/// PYBOSSA's project token: HS256 over `{short_name, project_id}` with the project's secret; it
/// lives until the secret changes.
pub fn project_token(project: &project::Model) -> ApiResult<String> {
    let claims = ProjectClaims {
        short_name: project.short_name.clone(),
        project_id: project.id,
    };
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(project.secret_key.as_bytes()),
    )
    .map_err(ApiError::internal)
}

/// The token for a project's external users, to whoever sends the project's secret; a wrong
/// secret and an unknown project are the same 404 (compared in constant time).
pub async fn issue_project_token(
    db: &impl sea_orm::ConnectionTrait,
    short_name: &str,
    secret: &str,
) -> ApiResult<String> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    use subtle::ConstantTimeEq;
    let project = project::Entity::find()
        .filter(project::Column::ShortName.eq(short_name))
        .one(db)
        .await?
        .ok_or(ApiError::NotFound)?;
    if !bool::from(
        project
            .secret_key
            .as_bytes()
            .ct_eq(secret.trim().as_bytes()),
    ) {
        return Err(ApiError::NotFound);
    }
    project_token(&project)
}

/// Project tokens found valid, with the project they were checked against. Every request of
/// an external volunteer carries one, and checking it is an HMAC and two JSON parses; a token
/// checked before stays valid while the project's id, short name and secret are the same.
pub struct CheckedTokens(moka::sync::Cache<String, Arc<Checked>>);

pub struct Checked {
    project_id: i32,
    short_name: String,
    secret: String,
}

/// What the remembered tokens may weigh at most, in bytes; past it the least used go.
const CHECKED_WEIGHT: u64 = 1024 * 1024;
/// Longer tokens are checked every time but not remembered: the project tokens this server
/// issues are a few hundred bytes at most, and an owner could sign long ones to fill memory.
const CHECKED_LEN_MAX: usize = 512;

impl Default for CheckedTokens {
    fn default() -> Self {
        Self(
            moka::sync::Cache::builder()
                .max_capacity(CHECKED_WEIGHT)
                .weigher(|token: &String, c: &Arc<Checked>| {
                    u32::try_from(token.len() + c.short_name.len() + c.secret.len() + 64)
                        .unwrap_or(u32::MAX)
                })
                .build(),
        )
    }
}

impl CheckedTokens {
    pub fn verify(&self, project: &project::Model, token: &str) -> ApiResult<()> {
        let seen = self.0.get(token).is_some_and(|c| {
            c.project_id == project.id
                && c.short_name == project.short_name
                && bool::from(c.secret.as_bytes().ct_eq(project.secret_key.as_bytes()))
        });
        if seen {
            return Ok(());
        }
        verify_project_token(project, token)?;
        if token.len() <= CHECKED_LEN_MAX {
            self.0.insert(
                token.to_string(),
                Arc::new(Checked {
                    project_id: project.id,
                    short_name: project.short_name.clone(),
                    secret: project.secret_key.clone(),
                }),
            );
        }
        Ok(())
    }
}

fn verify_project_token(project: &project::Model, token: &str) -> ApiResult<()> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    let data = decode::<ProjectClaims>(
        token,
        &DecodingKey::from_secret(project.secret_key.as_bytes()),
        &validation,
    )
    .map_err(|_| ApiError::Unauthorized(Some("Signature verification failed".into())))?;
    if data.claims.project_id != project.id || data.claims.short_name != project.short_name {
        return Err(ApiError::Unauthorized(Some(
            "Signature verification failed: wrong project".into(),
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::anonymise_ip;

    #[test]
    fn anonymised_addresses_are_stable_and_keyed() {
        let a = anonymise_ip(b"k1", "203.0.113.7");
        assert_eq!(a, anonymise_ip(b"k1", "203.0.113.7"));
        assert_ne!(a, anonymise_ip(b"k2", "203.0.113.7"));
        assert_ne!(a, anonymise_ip(b"k1", "203.0.113.8"));
        assert_ne!(a, "203.0.113.7");
        assert!(a.parse::<std::net::Ipv6Addr>().is_ok());
        assert!(
            anonymise_ip(b"k1", "::1")
                .parse::<std::net::Ipv6Addr>()
                .is_ok()
        );
    }
}
