//! Who is calling: passwords, access tokens, api keys and the `Caller` they resolve to (the
//! extractor that resolves it is HTTP code, in `routes::caller`).

use std::sync::Arc;

use crate::store::entities::user;

pub mod password;
pub mod token;

/// The identity a request acts as. Unknown or invalid credentials make a request anonymous
/// rather than failing it: PYBOSSA clients rely on that.
#[derive(Clone, Debug)]
pub struct Caller {
    pub user: Option<Arc<user::Model>>,
    /// The client address (before anonymisation).
    pub ip: String,
}

impl Caller {
    pub fn anonymous(ip: impl Into<String>) -> Self {
        Self {
            user: None,
            ip: ip.into(),
        }
    }
    pub fn user_id(&self) -> Option<i32> {
        self.user.as_ref().map(|u| u.id)
    }
    pub fn is_admin(&self) -> bool {
        self.user.as_ref().is_some_and(|u| u.admin)
    }
    pub fn is_authenticated(&self) -> bool {
        self.user.is_some()
    }
    /// 401 for nobody, 403 for anyone but an admin.
    pub fn require_admin(&self) -> crate::error::ApiResult<()> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(crate::error::ApiError::denied(self.is_authenticated()))
        }
    }
}

/// A new api key: a random UUID4, as PYBOSSA issues them.
pub fn new_api_key() -> String {
    uuid::Uuid::new_v4().to_string()
}
