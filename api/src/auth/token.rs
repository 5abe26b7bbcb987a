//! Signed access tokens (JWT, HS256) with an expiry.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, ApiResult};
use crate::ids::UserId;

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    /// The user id.
    sub: String,
    exp: u64,
    iat: u64,
    /// Token kind, so a project token for external users can never pass as a login.
    typ: String,
    /// The account's token version when it was issued: sign-out, a password change or a new
    /// api key raise it, and older tokens stop working.
    ver: i32,
}

/// `{"sub":` in base64url: how the claims of every token `issue` makes begin.
const SUB_FIRST: &str = "eyJzdWIiOi";

pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    ttl: u64,
}

impl TokenKeys {
    pub fn new(secret: &[u8], ttl: u64) -> Self {
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            ttl,
        }
    }

    pub fn ttl(&self) -> u64 {
        self.ttl
    }

    pub fn issue(&self, user_id: UserId, version: i32) -> ApiResult<String> {
        let now = chrono::Utc::now().timestamp().max(0) as u64;
        let claims = Claims {
            sub: user_id.to_string(),
            iat: now,
            exp: now + self.ttl,
            typ: "access".into(),
            ver: version,
        };
        encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).map_err(ApiError::internal)
    }

    /// The user id and token version of a valid, unexpired access token.
    pub fn verify(&self, token: &str) -> Option<(i32, i32)> {
        // The tokens this issues all open their claims with `sub` (the fields' order in
        // `Claims`). Any other bearer token, such as the project token every external volunteer's
        // request carries, cannot be one, and is not worth checking its signature for.
        let payload = token.split('.').nth(1)?;
        if !payload.starts_with(SUB_FIRST) {
            return None;
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        let data = decode::<Claims>(token, &self.decoding, &validation).ok()?;
        if data.claims.typ != "access" {
            return None;
        }
        Some((data.claims.sub.parse().ok()?, data.claims.ver))
    }
}

/// What a link sent by mail lets its holder do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkPurpose {
    /// Set a new password (`/account/reset`).
    ResetPassword,
    /// Confirm an e-mail address (`/account/confirm`).
    ConfirmEmail,
}

impl LinkPurpose {
    fn typ(self) -> &'static str {
        match self {
            LinkPurpose::ResetPassword => "reset",
            LinkPurpose::ConfirmEmail => "confirm",
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct LinkClaims {
    /// The user id.
    sub: String,
    exp: u64,
    typ: String,
    /// A digest of the account state the link is for: when that changes (a new password, the
    /// address confirmed) the link stops working, which makes it single-use.
    fp: String,
}

impl TokenKeys {
    /// A signed token for a mailed link, valid `ttl` seconds, bound to `fingerprint`.
    pub fn issue_link(
        &self,
        user_id: UserId,
        purpose: LinkPurpose,
        ttl: u64,
        fingerprint: &str,
    ) -> ApiResult<String> {
        let now = chrono::Utc::now().timestamp().max(0) as u64;
        let claims = LinkClaims {
            sub: user_id.to_string(),
            exp: now + ttl,
            typ: purpose.typ().into(),
            fp: fingerprint.into(),
        };
        encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).map_err(ApiError::internal)
    }

    /// The user id and fingerprint of an unexpired link token for `purpose`.
    pub fn verify_link(&self, token: &str, purpose: LinkPurpose) -> Option<(i32, String)> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        let data = decode::<LinkClaims>(token.trim(), &self.decoding, &validation).ok()?;
        if data.claims.typ != purpose.typ() {
            return None;
        }
        Some((data.claims.sub.parse().ok()?, data.claims.fp))
    }
}

#[cfg(test)]
mod tests {
    use super::{LinkPurpose, TokenKeys};

    #[test]
    fn link_tokens_serve_one_purpose_and_never_sign_in() {
        let keys = TokenKeys::new(b"secret", 60);
        let link = keys
            .issue_link(crate::ids::UserId(7), LinkPurpose::ResetPassword, 60, "fp")
            .expect("issue");
        assert_eq!(
            keys.verify_link(&link, LinkPurpose::ResetPassword),
            Some((7, "fp".into()))
        );
        assert_eq!(keys.verify_link(&link, LinkPurpose::ConfirmEmail), None);
        assert_eq!(keys.verify(&link), None);
        let access = keys.issue(crate::ids::UserId(7), 0).expect("issue");
        assert_eq!(keys.verify_link(&access, LinkPurpose::ResetPassword), None);
        assert_eq!(
            TokenKeys::new(b"other", 60).verify_link(&link, LinkPurpose::ResetPassword),
            None
        );
        let expired = keys
            .issue_link(crate::ids::UserId(7), LinkPurpose::ResetPassword, 0, "fp")
            .expect("issue");
        std::thread::sleep(std::time::Duration::from_millis(1100));
        assert_eq!(keys.verify_link(&expired, LinkPurpose::ResetPassword), None);
    }

    #[test]
    fn a_token_verifies_only_as_issued_with_the_same_key() {
        let keys = TokenKeys::new(b"secret", 60);
        let token = keys.issue(crate::ids::UserId(7), 3).expect("issue");
        assert_eq!(keys.verify(&token), Some((7, 3)));
        assert_eq!(TokenKeys::new(b"other", 60).verify(&token), None);
        assert_eq!(keys.verify("garbage"), None);
        // Another kind of token signed with the same secret is not an access token.
        let other = jsonwebtoken::encode(
            &jsonwebtoken::Header::default(),
            &serde_json::json!({"short_name": "p", "project_id": 7}),
            &jsonwebtoken::EncodingKey::from_secret(b"secret"),
        )
        .expect("encode");
        assert_eq!(keys.verify(&other), None);
        // Valid claims in another order: signed with the secret, but not as `issue` writes
        // them, so not a token of this server's.
        let reordered = jsonwebtoken::encode(
            &jsonwebtoken::Header::default(),
            &serde_json::json!({"exp": u64::MAX / 2, "iat": 0, "sub": "7", "typ": "access", "ver": 0}),
            &jsonwebtoken::EncodingKey::from_secret(b"secret"),
        )
        .expect("encode");
        assert_eq!(keys.verify(&reordered), None);
        let typed = jsonwebtoken::encode(
            &jsonwebtoken::Header::default(),
            &serde_json::json!({"sub": "7", "exp": u64::MAX / 2, "iat": 0, "typ": "project", "ver": 0}),
            &jsonwebtoken::EncodingKey::from_secret(b"secret"),
        )
        .expect("encode");
        assert_eq!(keys.verify(&typed), None);
    }

    #[test]
    fn expired_tokens_are_refused() {
        let keys = TokenKeys::new(b"secret", 0);
        let token = keys.issue(crate::ids::UserId(7), 0).expect("issue");
        std::thread::sleep(std::time::Duration::from_millis(1100));
        assert_eq!(keys.verify(&token), None);
    }
}
