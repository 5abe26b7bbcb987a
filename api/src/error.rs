//! The one error type of the API and its mapping to HTTP, in PYBOSSA's error shape.
//!
//! Handlers return `ApiError`; a middleware (see [`render_errors`]) turns it, and every error
//! raised by poem itself (unknown route, bad method, oversized body), into
//! `{action, status: "failed", status_code, target, exception_cls, exception_msg}` with the
//! status code PYBOSSA clients branch on. `action` and `target` come from the request, so
//! handlers never repeat them.

use poem::{Endpoint, IntoResponse, Request, Response, http::StatusCode};
use poem_openapi::{
    ApiResponse, Object,
    registry::{MetaMediaType, MetaResponse, MetaResponses, Registry},
    types::Type,
};
use sea_orm::{DbErr, RuntimeErr, SqlErr};

const UNAUTHORIZED_MSG: &str = "The server could not verify that you are authorized to access the URL requested. You either supplied the wrong credentials (e.g. a bad password), or your browser doesn't understand how to supply the credentials required.";
const FORBIDDEN_MSG: &str = "You don't have the permission to access the requested resource. It is either read-protected or not readable by the server.";
const NOT_FOUND_MSG: &str = "404 Not Found: The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again.";
const METHOD_MSG: &str = "405 Method Not Allowed: The method is not allowed for the requested URL.";
const TOO_MANY_MSG: &str =
    "429 Too Many Requests: This user has exceeded an allotted request count. Try again later.";

/// Every way a request can fail. The PYBOSSA exception class name is part of the contract:
/// clients classify errors by it (pbs maps `DBIntegrityError` on a project to "already exists").
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("unauthorized")]
    Unauthorized(Option<String>),
    #[error("forbidden")]
    Forbidden(Option<String>),
    /// A volunteer below the project's quiz pass mark asked for a task (403 `QuizFailed`).
    #[error("quiz failed: {0}")]
    QuizFailed(String),
    #[error("not found")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed,
    /// The request is valid but the resource's state refuses it (a task with all its answers).
    #[error("conflict: {0}")]
    Conflict(String),
    /// Well-formed but refused as a whole: an `Idempotency-Key` reused for another request.
    #[error("unprocessable: {0}")]
    Unprocessable(String),
    /// Malformed input: PYBOSSA answers 415 with the Python exception class that caught it
    /// (`ValueError`, `TypeError`, `AttributeError`, `DataError`).
    #[error("{cls}: {msg}")]
    Invalid { cls: &'static str, msg: String },
    /// A unique, foreign-key or not-null constraint refused the write.
    #[error("integrity: {0}")]
    Integrity(String),
    #[error("payload too large")]
    PayloadTooLarge(String),
    #[error("too many requests")]
    TooManyRequests,
    /// A dependency (database, Redis) is unreachable; retrying later may work.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// A failure on the server's side, with its cause (logged with the whole chain of causes,
    /// never shown to the client).
    #[error("internal: {0}")]
    Internal(#[source] Cause),
}

/// What caused an internal error: any error, or a message.
pub type Cause = Box<dyn std::error::Error + Send + Sync>;

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// 400 for input Tessera's own endpoints refuse (PYBOSSA's endpoints keep their 415s).
    pub fn bad_request(msg: impl Into<String>) -> Self {
        Self::BadRequest(msg.into())
    }

    pub fn value(msg: impl Into<String>) -> Self {
        Self::Invalid {
            cls: "ValueError",
            msg: msg.into(),
        }
    }
    pub fn type_error(msg: impl Into<String>) -> Self {
        Self::Invalid {
            cls: "TypeError",
            msg: msg.into(),
        }
    }
    pub fn attribute(msg: impl Into<String>) -> Self {
        Self::Invalid {
            cls: "AttributeError",
            msg: msg.into(),
        }
    }
    pub fn data(msg: impl Into<String>) -> Self {
        Self::Invalid {
            cls: "DataError",
            msg: msg.into(),
        }
    }
    pub fn forbidden(msg: impl Into<String>) -> Self {
        Self::Forbidden(Some(msg.into()))
    }
    pub fn internal(err: impl Into<Cause>) -> Self {
        Self::Internal(err.into())
    }

    /// The error and each of its causes, outermost first: `a: b: c` (an internal error's
    /// message names its cause already).
    pub fn chain(&self) -> String {
        let mut text = self.to_string();
        let mut cause = match self {
            Self::Internal(c) => c.source(),
            other => std::error::Error::source(other),
        };
        while let Some(c) = cause {
            text.push_str(": ");
            text.push_str(&c.to_string());
            cause = c.source();
        }
        text
    }

    /// 401 for anonymous callers and 403 for signed-in ones, as PYBOSSA's authorisation does.
    pub fn denied(authenticated: bool) -> Self {
        if authenticated {
            Self::Forbidden(None)
        } else {
            Self::Unauthorized(None)
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) | Self::QuizFailed(_) => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Invalid { .. } | Self::Integrity(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn class_and_message(&self) -> (&'static str, String) {
        match self {
            Self::BadRequest(m) => ("BadRequest", m.clone()),
            Self::Unauthorized(m) => (
                "Unauthorized",
                m.clone().unwrap_or_else(|| UNAUTHORIZED_MSG.into()),
            ),
            Self::Forbidden(m) => (
                "Forbidden",
                m.clone().unwrap_or_else(|| FORBIDDEN_MSG.into()),
            ),
            Self::QuizFailed(m) => ("QuizFailed", m.clone()),
            Self::NotFound => ("NotFound", NOT_FOUND_MSG.into()),
            Self::MethodNotAllowed => ("MethodNotAllowed", METHOD_MSG.into()),
            Self::Conflict(m) => ("Conflict", m.clone()),
            Self::Unprocessable(m) => ("UnprocessableEntity", m.clone()),
            Self::Invalid { cls, msg } => (cls, msg.clone()),
            Self::Integrity(m) => ("DBIntegrityError", m.clone()),
            Self::PayloadTooLarge(m) => ("RequestEntityTooLarge", m.clone()),
            Self::TooManyRequests => ("TooManyRequests", TOO_MANY_MSG.into()),
            Self::Unavailable(m) => ("ServiceUnavailable", m.clone()),
            // Internals are logged, not shown.
            Self::Internal(_) => ("InternalServerError", "500 Internal Server Error".into()),
        }
    }

    /// The PYBOSSA error body for a request with this method and path.
    pub fn body(&self, method: &str, path: &str) -> ErrorBody {
        let (cls, msg) = self.class_and_message();
        let target = if matches!(self, Self::TooManyRequests) {
            path.to_string()
        } else {
            target_of(path)
        };
        ErrorBody {
            action: method.to_ascii_uppercase(),
            status: "failed".into(),
            status_code: self.status().as_u16(),
            target,
            exception_cls: cls.into(),
            exception_msg: msg,
        }
    }

    /// Maps an error poem raised before any handler ran (routing, body limits, payload parsing).
    fn from_poem(err: &poem::Error) -> Self {
        match err.status() {
            StatusCode::NOT_FOUND => Self::NotFound,
            StatusCode::METHOD_NOT_ALLOWED => Self::MethodNotAllowed,
            StatusCode::PAYLOAD_TOO_LARGE => Self::PayloadTooLarge(err.to_string()),
            StatusCode::UNAUTHORIZED => Self::Unauthorized(None),
            StatusCode::FORBIDDEN => Self::Forbidden(None),
            StatusCode::TOO_MANY_REQUESTS => Self::TooManyRequests,
            s if s.is_client_error() => Self::value(err.to_string()),
            _ => Self::internal(err.to_string()),
        }
    }
}

/// `/api/project/3/newtask` → `project`: the resource an error is about.
fn target_of(path: &str) -> String {
    let mut parts = path.trim_start_matches('/').split('/');
    match (parts.next(), parts.next()) {
        (Some("api"), Some(resource)) if !resource.is_empty() => resource.to_string(),
        (Some(first), _) => first.to_string(),
        _ => String::new(),
    }
}

impl ApiError {
    /// A database error several callers share (one read they all waited on): classified as
    /// [`From<DbErr>`] does for the failures a shared read can meet, without its text.
    pub fn from_shared_db(err: &DbErr) -> Self {
        match err {
            DbErr::Conn(_) | DbErr::ConnectionAcquire(_) => {
                Self::Unavailable("the database is unavailable".into())
            }
            other => Self::internal(other.to_string()),
        }
    }
}

impl From<DbErr> for ApiError {
    fn from(err: DbErr) -> Self {
        match err.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(m))
            | Some(SqlErr::ForeignKeyConstraintViolation(m)) => {
                return Self::Integrity(m);
            }
            _ => {}
        }
        // PostgreSQL's data exceptions (SQLSTATE class 22: a NUL in text, a number out of range,
        // an untranslatable escape in JSON) are the input's fault.
        if let DbErr::Query(RuntimeErr::SqlxError(e)) | DbErr::Exec(RuntimeErr::SqlxError(e)) = &err
            && let Some(db) = e.as_database_error()
            && db.code().is_some_and(|c| c.starts_with("22"))
        {
            return Self::data(format!("invalid input: {}", db.message()));
        }
        let text = err.to_string();
        // NOT NULL and CHECK violations are not classified by SeaORM; recognise them by text
        // from both backends so they surface as 415 rather than 500.
        let lower = text.to_ascii_lowercase();
        if lower.contains("not null constraint")
            || lower.contains("violates not-null")
            || lower.contains("check constraint")
            || lower.contains("foreign key constraint")
            || lower.contains("unique constraint")
        {
            return Self::Integrity(text);
        }
        if let DbErr::Conn(RuntimeErr::SqlxError(_)) | DbErr::ConnectionAcquire(_) = err {
            return Self::Unavailable("the database is unavailable".into());
        }
        Self::Internal(Box::new(err))
    }
}

/// PYBOSSA's error body.
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct ErrorBody {
    /// Upper-cased HTTP method of the failed request.
    pub action: String,
    /// Always `failed`.
    pub status: String,
    /// Same as the HTTP status.
    pub status_code: u16,
    /// The resource the request was about (`project`, `task`, …), or the path for 429.
    pub target: String,
    /// PYBOSSA exception class: clients branch on it.
    pub exception_cls: String,
    /// Human-readable detail.
    pub exception_msg: String,
}

impl poem::error::ResponseError for ApiError {
    fn status(&self) -> StatusCode {
        ApiError::status(self)
    }
    fn as_response(&self) -> Response {
        json_error(self, "", "")
    }
}

/// The error response for a request with this method and path.
pub fn json_error(err: &ApiError, method: &str, path: &str) -> Response {
    let body = err.body(method, path);
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    let mut resp = Response::builder()
        .status(err.status())
        .content_type("application/json")
        .body(bytes);
    if matches!(err, ApiError::TooManyRequests) {
        resp.headers_mut()
            .insert("retry-after", poem::http::HeaderValue::from_static("60"));
    }
    resp
}

const ERROR_STATUSES: &[(u16, &str)] = &[
    (
        400,
        "Bad request: reserved keys in the payload or an invalid parameter.",
    ),
    (401, "Anonymous caller where an account is required."),
    (403, "The caller lacks the role this action needs."),
    (404, "No such object."),
    (
        405,
        "The method is not allowed here (e.g. `POST /api/user`: accounts come from `/api/auth/register`).",
    ),
    (409, "The task already has all the answers it needs."),
    (413, "The request body is larger than the configured limit."),
    (
        422,
        "The `Idempotency-Key` was already used by this caller for another request.",
    ),
    (
        415,
        "Invalid input: malformed JSON, unknown field or filter, wrong type, or a constraint violation (`DBIntegrityError`).",
    ),
    (429, "Rate limit exceeded."),
];

impl ApiResponse for ApiError {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: ERROR_STATUSES
                .iter()
                .map(|(status, description)| MetaResponse {
                    description,
                    status: Some(*status),
                    status_range: None,
                    content: vec![MetaMediaType {
                        content_type: "application/json",
                        schema: ErrorBody::schema_ref(),
                    }],
                    headers: vec![],
                })
                .collect(),
        }
    }

    fn register(registry: &mut Registry) {
        ErrorBody::register(registry);
    }
}

/// Middleware that renders every failed request under `/api` in the PYBOSSA error shape.
pub async fn render_errors<E: Endpoint>(next: E, req: Request) -> poem::Result<Response> {
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    match next.call(req).await {
        Ok(resp) => Ok(resp.into_response()),
        Err(err) => {
            let api_err = match err.downcast_ref::<ApiError>() {
                Some(e) => e,
                None => &ApiError::from_poem(&err),
            };
            if let ApiError::Internal(_) = api_err {
                tracing::error!(%method, %path, error = %api_err.chain(), "request failed");
            }
            Ok(json_error(api_err, &method, &path))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_is_the_resource_segment() {
        assert_eq!(target_of("/api/project/3/newtask"), "project");
        assert_eq!(target_of("/api/task"), "task");
    }

    #[test]
    fn integrity_errors_are_415_with_pybossa_class() {
        let body = ApiError::Integrity("duplicate".into()).body("post", "/api/project");
        assert_eq!(body.status_code, 415);
        assert_eq!(body.exception_cls, "DBIntegrityError");
        assert_eq!(body.action, "POST");
        assert_eq!(body.target, "project");
    }
}
