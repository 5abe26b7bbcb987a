//! The slice of the PYBOSSA-compatible API that the web app reads, over the browser's `fetch`.

use std::fmt;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

/// A project as `GET /api/project` returns it (only the fields the app shows).
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct Project {
    pub id: i64,
    pub name: String,
    pub short_name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub info: serde_json::Value,
    #[serde(default)]
    pub created: Option<String>,
}

impl Project {
    pub fn description(&self) -> &str {
        self.description.as_deref().unwrap_or("").trim()
    }

    /// `info.thumbnail_url`, when the project set a non-empty one.
    pub fn thumbnail_url(&self) -> Option<&str> {
        self.info
            .get("thumbnail_url")?
            .as_str()
            .map(str::trim)
            .filter(|url| !url.is_empty())
    }

    /// Path of the project's page in this app.
    pub fn href(&self) -> String {
        format!("/project/{}", encode(&self.short_name))
    }

    /// The project's record in the API.
    pub fn api_href(&self) -> String {
        format!("/api/project?short_name={}", encode(&self.short_name))
    }
}

/// Why a request failed, in words a person can act on.
#[derive(Clone, Debug, PartialEq)]
pub enum ApiError {
    /// The request never got an HTTP answer (offline, server down, CORS, ...).
    Network,
    /// The server answered with an error status; `message` comes from PYBOSSA's
    /// `{"status":"failed","exception_msg":...}` body when there is one.
    Status {
        status: u16,
        message: Option<String>,
    },
    /// The server answered 2xx, but not with the JSON we expected.
    Decode(String),
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiError::Network => f.write_str("The server could not be reached."),
            ApiError::Status {
                message: Some(message),
                ..
            } => f.write_str(message),
            ApiError::Status {
                status,
                message: None,
            } => write!(f, "The server answered with HTTP {status}."),
            ApiError::Decode(detail) => {
                write!(
                    f,
                    "The server sent a response we could not read ({detail})."
                )
            }
        }
    }
}

/// PYBOSSA's error body.
#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    exception_msg: Option<String>,
}

fn error_from_body(status: u16, body: &str) -> ApiError {
    let message = serde_json::from_str::<ErrorBody>(body)
        .ok()
        .and_then(|b| b.exception_msg)
        .map(|m| m.trim().to_owned())
        .filter(|m| !m.is_empty());
    ApiError::Status { status, message }
}

fn encode(component: &str) -> String {
    String::from(js_sys::encode_uri_component(component))
}

async fn get_json<T: DeserializeOwned>(url: &str) -> Result<T, ApiError> {
    let window = web_sys::window().ok_or(ApiError::Network)?;
    let response: web_sys::Response = JsFuture::from(window.fetch_with_str(url))
        .await
        .map_err(|_| ApiError::Network)?
        .unchecked_into();
    let body = response
        .text()
        .map(JsFuture::from)
        .map_err(|_| ApiError::Network)?
        .await
        .map_err(|_| ApiError::Network)?
        .as_string()
        .unwrap_or_default();
    if !response.ok() {
        return Err(error_from_body(response.status(), &body));
    }
    serde_json::from_str(&body).map_err(|e| ApiError::Decode(describe(&e)))
}

fn describe(error: &serde_json::Error) -> String {
    use serde_json::error::Category;
    match error.classify() {
        Category::Syntax | Category::Eof => "not JSON".to_owned(),
        Category::Data | Category::Io => error.to_string(),
    }
}

/// Up to 100 projects, in the API's order.
pub async fn list_projects() -> Result<Vec<Project>, ApiError> {
    get_json("/api/project?limit=100").await
}

/// The project with this short name, or `None` if there is none.
pub async fn project_by_short_name(short_name: String) -> Result<Option<Project>, ApiError> {
    let url = format!("/api/project?short_name={}", encode(&short_name));
    let mut found: Vec<Project> = get_json(&url).await?;
    Ok(if found.is_empty() {
        None
    } else {
        Some(found.swap_remove(0))
    })
}
