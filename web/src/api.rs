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
    #[serde(default)]
    pub owner_id: Option<i64>,
    #[serde(default)]
    pub owners_ids: Option<Vec<i64>>,
    #[serde(default)]
    pub category_id: Option<i64>,
    #[serde(default)]
    pub long_description: Option<String>,
    /// Owners and admins only.
    #[serde(default)]
    pub allow_anonymous_contributors: Option<bool>,
    #[serde(default)]
    pub published: Option<bool>,
    #[serde(default)]
    pub webhook: Option<String>,
    #[serde(default)]
    pub featured: Option<bool>,
}

impl Project {
    /// Whether this account may manage the project.
    pub fn managed_by(&self, account: &Account) -> bool {
        account.admin
            || self.owner_id == Some(account.id)
            || self
                .owners_ids
                .as_ref()
                .is_some_and(|ids| ids.contains(&account.id))
    }

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
        /// PYBOSSA's `exception_cls` (`QuizFailed`, `Forbidden`, …) when the body has one.
        class: Option<String>,
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
                ..
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
    #[serde(default)]
    exception_cls: Option<String>,
}

fn error_from_body(status: u16, body: &str) -> ApiError {
    let parsed = serde_json::from_str::<ErrorBody>(body).ok();
    let class = parsed.as_ref().and_then(|b| b.exception_cls.clone());
    let message = parsed
        .and_then(|b| b.exception_msg)
        .map(|m| m.trim().to_owned())
        .filter(|m| !m.is_empty());
    ApiError::Status {
        status,
        message,
        class,
    }
}

pub fn encode(component: &str) -> String {
    String::from(js_sys::encode_uri_component(component))
}

/// The signed-in session's bearer token, kept in `localStorage` (the task presenter's sandboxed
/// frame has an opaque origin and cannot read it).
const TOKEN_KEY: &str = "tessera.token";

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok().flatten()
}

pub fn stored_token() -> Option<String> {
    storage()?
        .get_item(TOKEN_KEY)
        .ok()
        .flatten()
        .filter(|t| !t.is_empty())
}

pub fn store_token(token: Option<&str>) {
    if let Some(s) = storage() {
        let _ = match token {
            Some(t) => s.set_item(TOKEN_KEY, t),
            None => s.remove_item(TOKEN_KEY),
        };
    }
}

/// One request to the API: JSON in, JSON out, the session's token attached.
async fn request<T: DeserializeOwned>(
    method: &str,
    url: &str,
    body: Option<&serde_json::Value>,
) -> Result<T, ApiError> {
    let text = request_text(method, url, body).await?;
    // `{}`-like empty bodies (204) read as JSON null.
    let text = if text.trim().is_empty() {
        "null".to_owned()
    } else {
        text
    };
    decode(&text)
}

async fn request_text(
    method: &str,
    url: &str,
    body: Option<&serde_json::Value>,
) -> Result<String, ApiError> {
    send(method, url, body.map(Payload::Json)).await
}

/// What a request carries: JSON, or a form with a file.
enum Payload<'a> {
    Json(&'a serde_json::Value),
    Form(&'a web_sys::FormData),
}

async fn send(method: &str, url: &str, body: Option<Payload<'_>>) -> Result<String, ApiError> {
    let window = web_sys::window().ok_or(ApiError::Network)?;
    let init = web_sys::RequestInit::new();
    init.set_method(method);
    let headers = web_sys::Headers::new().map_err(|_| ApiError::Network)?;
    if let Some(token) = stored_token() {
        let _ = headers.set("Authorization", &format!("Bearer {token}"));
    }
    match body {
        Some(Payload::Json(body)) => {
            let _ = headers.set("Content-Type", "application/json");
            init.set_body(&wasm_bindgen::JsValue::from_str(&body.to_string()));
        }
        // The browser writes the multipart boundary into the content type itself.
        Some(Payload::Form(form)) => init.set_body(form),
        None => {}
    }
    init.set_headers(&headers);
    let response: web_sys::Response = JsFuture::from(window.fetch_with_str_and_init(url, &init))
        .await
        .map_err(|_| ApiError::Network)?
        .unchecked_into();
    let text = response
        .text()
        .map(JsFuture::from)
        .map_err(|_| ApiError::Network)?
        .await
        .map_err(|_| ApiError::Network)?
        .as_string()
        .unwrap_or_default();
    if !response.ok() {
        if response.status() == 401 && stored_token().is_some() {
            // The token expired or was revoked: forget it, the app shows "Sign in" again.
            store_token(None);
        }
        return Err(error_from_body(response.status(), &text));
    }
    Ok(text)
}

fn decode<T: DeserializeOwned>(text: &str) -> Result<T, ApiError> {
    serde_json::from_str(text).map_err(|e| ApiError::Decode(describe(&e)))
}

async fn get_json<T: DeserializeOwned>(url: &str) -> Result<T, ApiError> {
    request("GET", url, None).await
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
    get_json("/api/project?all=1&limit=100").await
}

/// Which projects a page of the listing shows.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProjectQuery {
    pub offset: u64,
    pub limit: u64,
    pub category_id: Option<i64>,
    /// Words the name, short name or description must hold (searched by the server).
    pub search: String,
    pub featured: bool,
}

/// One page of projects, searched and paged by the server, so every project is as reachable
/// as the first.
pub async fn project_page(q: ProjectQuery) -> Result<Vec<Project>, ApiError> {
    let mut url = format!("/api/project?all=1&limit={}&offset={}", q.limit, q.offset);
    if let Some(id) = q.category_id {
        url.push_str(&format!("&category_id={id}"));
    }
    if !q.search.trim().is_empty() {
        url.push_str(&format!("&search={}", encode(q.search.trim())));
    }
    if q.featured {
        url.push_str("&featured=true");
    }
    get_json(&url).await
}

/// The project with this short name, or `None` if there is none.
pub async fn project_by_short_name(short_name: String) -> Result<Option<Project>, ApiError> {
    let url = format!("/api/project?all=1&short_name={}", encode(&short_name));
    let mut found: Vec<Project> = get_json(&url).await?;
    Ok(if found.is_empty() {
        None
    } else {
        Some(found.swap_remove(0))
    })
}

/// The signed-in account (`GET /api/auth/me`).
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct Account {
    pub id: i64,
    pub name: String,
    #[serde(default)]
    pub fullname: Option<String>,
    #[serde(default)]
    pub email_addr: Option<String>,
    #[serde(default)]
    pub api_key: Option<String>,
    #[serde(default)]
    pub admin: bool,
    #[serde(default)]
    pub created: Option<String>,
    /// Admins see it: a disabled account cannot sign in.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Whether the address was confirmed by its link (the account and admins see it).
    #[serde(default = "yes")]
    pub valid_email: bool,
    /// A new address waiting for its confirmation.
    #[serde(default)]
    pub email_pending: Option<String>,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
struct Token {
    access_token: String,
}

pub async fn me() -> Result<Account, ApiError> {
    get_json("/api/auth/me").await
}

/// Signs in and keeps the token; returns the account.
pub async fn login(name: String, password: String) -> Result<Account, ApiError> {
    let body = serde_json::json!({"name": name, "password": password});
    let token: Token = request("POST", "/api/auth/login", Some(&body)).await?;
    store_token(Some(&token.access_token));
    me().await
}

/// Creates an account, then signs in with it.
pub async fn register(
    name: String,
    fullname: String,
    email: String,
    password: String,
) -> Result<Account, ApiError> {
    let body = serde_json::json!({
        "name": name, "fullname": fullname, "email_addr": email, "password": password,
    });
    let _: serde_json::Value = request("POST", "/api/auth/register", Some(&body)).await?;
    login(name, password).await
}

#[derive(Deserialize)]
struct Accepted {
    message: String,
}

/// Asks for a reset link by mail (`POST /api/auth/password/forgot`); the server's words.
pub async fn forgot_password(login: String) -> Result<String, ApiError> {
    let login = login.trim().to_owned();
    let body = if login.contains('@') {
        serde_json::json!({ "email_addr": login })
    } else {
        serde_json::json!({ "name": login })
    };
    let done: Accepted = request("POST", "/api/auth/password/forgot", Some(&body)).await?;
    Ok(done.message)
}

/// Sets a new password with a reset link's token, then signs in with the token it returns.
pub async fn reset_password(token: String, password: String) -> Result<Account, ApiError> {
    let body = serde_json::json!({ "token": token, "password": password });
    let token: Token = request("POST", "/api/auth/password/reset", Some(&body)).await?;
    store_token(Some(&token.access_token));
    me().await
}

/// What a confirmation link confirmed.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct Confirmed {
    pub name: String,
    pub email_addr: String,
}

pub async fn confirm_email(token: String) -> Result<Confirmed, ApiError> {
    let body = serde_json::json!({ "token": token });
    request("POST", "/api/auth/email/confirm", Some(&body)).await
}

/// Mails the signed-in account's confirmation link again; the server's words.
pub async fn resend_confirmation() -> Result<String, ApiError> {
    let done: Accepted = request(
        "POST",
        "/api/auth/email/resend",
        Some(&serde_json::json!({})),
    )
    .await?;
    Ok(done.message)
}

/// A mail as admins see it (`/api/admin/mail`).
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct Mail {
    pub id: i64,
    pub created: String,
    pub kind: String,
    pub to_addr: String,
    pub subject: String,
    pub status: String,
    pub attempts: i64,
    #[serde(default)]
    pub last_error: Option<String>,
    #[serde(default)]
    pub sent_at: Option<String>,
    #[serde(default)]
    pub text_body: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct MailPage {
    pub items: Vec<Mail>,
    pub total: u64,
}

/// A page of mails, newest first; `status` empty for all.
pub async fn mails(status: String, offset: u64) -> Result<MailPage, ApiError> {
    let mut url = format!("/api/admin/mail?limit=20&offset={offset}");
    if !status.is_empty() {
        url.push_str(&format!("&status={}", encode(&status)));
    }
    get_json(&url).await
}

pub async fn resend_mail(id: i64) -> Result<(), ApiError> {
    let _: serde_json::Value = request(
        "POST",
        &format!("/api/admin/mail/{id}/resend"),
        Some(&serde_json::json!({})),
    )
    .await?;
    Ok(())
}

/// Signs out: the server ends every token of the account (`POST /api/auth/logout`), and this
/// browser forgets its own at once, whether or not the server could be reached.
pub fn logout() {
    let Some(token) = stored_token() else {
        return;
    };
    store_token(None);
    leptos::task::spawn_local(async move {
        let Some(window) = web_sys::window() else {
            return;
        };
        let init = web_sys::RequestInit::new();
        init.set_method("POST");
        if let Ok(headers) = web_sys::Headers::new() {
            let _ = headers.set("Authorization", &format!("Bearer {token}"));
            init.set_headers(&headers);
        }
        let _ = JsFuture::from(window.fetch_with_str_and_init("/api/auth/logout", &init)).await;
    });
}

/// A task handed out by `newtask`, as the presenter receives it.
pub type Task = serde_json::Value;

/// The next task for the caller, `None` when nothing is left. `Err` with status 401 when the
/// project wants signed-in volunteers.
pub async fn new_task(project_id: i64, offset: u32) -> Result<Option<Task>, ApiError> {
    let url = format!("/api/project/{project_id}/newtask?offset={offset}");
    let task: Task = get_json(&url).await?;
    if task.get("id").and_then(serde_json::Value::as_i64).is_some() {
        return Ok(Some(task));
    }
    // PYBOSSA's way of saying "anonymous volunteers are not allowed".
    if let Some(msg) = task
        .pointer("/info/error")
        .and_then(serde_json::Value::as_str)
    {
        return Err(ApiError::Status {
            status: 401,
            message: Some(msg.to_owned()),
            class: None,
        });
    }
    Ok(None)
}

/// A site announcement, as the banner shows it.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct Announcement {
    pub id: i64,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub published: bool,
    #[serde(default)]
    pub created: Option<String>,
}

/// Every announcement, drafts too (admins), newest first.
pub async fn all_announcements() -> Result<Vec<Announcement>, ApiError> {
    get_json("/api/announcement?orderby=id&desc=true&limit=100").await
}

/// Creates (`id` None) or updates an announcement (admins).
pub async fn save_announcement(id: Option<i64>, body: serde_json::Value) -> Result<(), ApiError> {
    let _: serde_json::Value = match id {
        None => request("POST", "/api/announcement", Some(&body)).await?,
        Some(id) => request("PUT", &format!("/api/announcement/{id}"), Some(&body)).await?,
    };
    Ok(())
}

pub async fn delete_announcement(id: i64) -> Result<(), ApiError> {
    request_text("DELETE", &format!("/api/announcement/{id}"), None).await?;
    Ok(())
}

/// The newest published announcements.
pub async fn announcements() -> Result<Vec<Announcement>, ApiError> {
    get_json("/api/announcement?published=true&orderby=id&desc=true&limit=5").await
}

const DISMISSED_KEY: &str = "tessera.dismissed";

/// Announcements this browser has dismissed.
pub fn dismissed_announcements() -> Vec<i64> {
    storage()
        .and_then(|s| s.get_item(DISMISSED_KEY).ok().flatten())
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

pub fn dismiss_announcement(id: i64) {
    let mut ids = dismissed_announcements();
    if !ids.contains(&id) {
        ids.push(id);
        // The newest fifty are enough to remember.
        let skip = ids.len().saturating_sub(50);
        ids.drain(..skip);
    }
    if let Some(s) = storage() {
        let _ = s.set_item(DISMISSED_KEY, &serde_json::json!(ids).to_string());
    }
}

/// The volunteer's progress in a project, as pybossa.js's `userProgress` gives it:
/// `{done, total, remaining}`.
pub async fn user_progress(project_id: i64) -> Result<serde_json::Value, ApiError> {
    get_json(&format!("/api/project/{project_id}/userprogress")).await
}

/// The verdict on an answer to a gold task, when the project gives feedback.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct GoldFeedback {
    pub correct: bool,
    pub answer: serde_json::Value,
}

/// Submits an answer (a retry with the same key is safe); with the project's feedback on, a gold task's verdict comes back.
pub async fn submit_answer(
    project_id: i64,
    task_id: i64,
    answer: serde_json::Value,
) -> Result<Option<GoldFeedback>, ApiError> {
    let body = serde_json::json!({"project_id": project_id, "task_id": task_id, "info": answer});
    let run: serde_json::Value = request("POST", "/api/taskrun", Some(&body)).await?;
    Ok(run
        .get("gold")
        .and_then(|g| serde_json::from_value(g.clone()).ok()))
}

/// `GET /api/projectstats/{id}`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct ProjectStats {
    pub n_tasks: i64,
    pub n_task_runs: i64,
    pub n_completed_tasks: i64,
    pub n_volunteers: i64,
    pub overall_progress: i64,
    #[serde(default)]
    pub average_time: f64,
    #[serde(default)]
    pub info: serde_json::Value,
}

pub async fn project_stats(project_id: i64) -> Result<ProjectStats, ApiError> {
    get_json(&format!("/api/projectstats/{project_id}")).await
}

/// `GET /api/globalstats`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct GlobalStats {
    pub n_projects: i64,
    pub n_users: i64,
    pub n_task_runs: i64,
    pub n_pending_tasks: i64,
}

pub async fn global_stats() -> Result<GlobalStats, ApiError> {
    get_json("/api/globalstats").await
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct Ranked {
    pub rank: i64,
    pub score: i64,
    pub name: String,
    #[serde(default)]
    pub fullname: Option<String>,
}

#[derive(Deserialize)]
struct Board {
    top_users: Vec<Ranked>,
}

/// The project's top volunteers.
pub async fn leaderboard(project_id: i64) -> Result<Vec<Ranked>, ApiError> {
    let board: Board = get_json(&format!("/api/leaderboard?project_id={project_id}")).await?;
    Ok(board.top_users)
}

// ---------------------------------------------------------------------------------------------
// Owners

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct Category {
    pub id: i64,
    pub name: String,
    pub short_name: String,
}

pub async fn categories() -> Result<Vec<Category>, ApiError> {
    get_json("/api/category?limit=100").await
}

/// Creates (`id` None) or updates a project from the owner's form.
pub async fn save_project(id: Option<i64>, body: serde_json::Value) -> Result<Project, ApiError> {
    match id {
        None => request("POST", "/api/project", Some(&body)).await,
        Some(id) => request("PUT", &format!("/api/project/{id}"), Some(&body)).await,
    }
}

pub async fn publish(project_id: i64) -> Result<Project, ApiError> {
    request(
        "POST",
        &format!("/api/project/{project_id}/publish"),
        Some(&serde_json::json!({})),
    )
    .await
}

/// A task as the owner's list shows it.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct TaskRow {
    pub id: i64,
    pub state: String,
    pub n_answers: i64,
    #[serde(default)]
    pub n_task_runs: i64,
    #[serde(default)]
    pub info: serde_json::Value,
}

/// A page of the project's tasks, optionally in one state (`ongoing`, `completed`).
pub async fn tasks(
    project_id: i64,
    state: Option<String>,
    offset: u64,
) -> Result<Vec<TaskRow>, ApiError> {
    let mut url = format!("/api/task?all=1&project_id={project_id}&limit=50&offset={offset}");
    if let Some(state) = state {
        url.push_str(&format!("&state={}", encode(&state)));
    }
    get_json(&url).await
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct ResultRow {
    pub id: i64,
    pub task_id: i64,
    #[serde(default)]
    pub info: serde_json::Value,
    #[serde(default)]
    pub created: Option<String>,
}

/// A page of the project's current results.
pub async fn results(project_id: i64, offset: u64) -> Result<Vec<ResultRow>, ApiError> {
    get_json(&format!(
        "/api/result?all=1&project_id={project_id}&last_version=true&limit=50&offset={offset}"
    ))
    .await
}

/// `projectstats` with the chart series.
pub async fn project_stats_full(project_id: i64) -> Result<ProjectStats, ApiError> {
    get_json(&format!("/api/projectstats/{project_id}?full=1")).await
}

/// Downloads an export with the session's token and hands it to the browser as a file.
pub async fn download_export(
    project_id: i64,
    table: &str,
    format: &str,
    zip: bool,
    file_name: String,
) -> Result<(), ApiError> {
    let url = format!(
        "/api/project/{project_id}/export?type={table}&format={format}{}",
        if zip { "&zip=1" } else { "" }
    );
    download(&url, &file_name).await
}

/// Fetches `url` with the session's token and hands the answer to the browser as a file.
pub async fn download(url: &str, file_name: &str) -> Result<(), ApiError> {
    let window = web_sys::window().ok_or(ApiError::Network)?;
    let init = web_sys::RequestInit::new();
    let headers = web_sys::Headers::new().map_err(|_| ApiError::Network)?;
    if let Some(token) = stored_token() {
        let _ = headers.set("Authorization", &format!("Bearer {token}"));
    }
    init.set_headers(&headers);
    let response: web_sys::Response = JsFuture::from(window.fetch_with_str_and_init(url, &init))
        .await
        .map_err(|_| ApiError::Network)?
        .unchecked_into();
    if !response.ok() {
        let text = JsFuture::from(response.text().map_err(|_| ApiError::Network)?)
            .await
            .ok()
            .and_then(|t| t.as_string())
            .unwrap_or_default();
        return Err(error_from_body(response.status(), &text));
    }
    let blob: web_sys::Blob = JsFuture::from(response.blob().map_err(|_| ApiError::Network)?)
        .await
        .map_err(|_| ApiError::Network)?
        .unchecked_into();
    let href = web_sys::Url::create_object_url_with_blob(&blob).map_err(|_| ApiError::Network)?;
    let document = window.document().ok_or(ApiError::Network)?;
    let anchor: web_sys::HtmlAnchorElement = document
        .create_element("a")
        .map_err(|_| ApiError::Network)?
        .unchecked_into();
    anchor.set_href(&href);
    anchor.set_download(file_name);
    anchor.click();
    let _ = web_sys::Url::revoke_object_url(&href);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Imports and bulk task operations (run on the server)

/// A refused row of an import.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct RowError {
    pub line: i64,
    pub reason: String,
}

/// What a dry run found.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct ImportPreview {
    pub format: String,
    pub read: u64,
    pub valid: u64,
    pub rejected: u64,
    pub tasks: Vec<serde_json::Value>,
    pub errors: Vec<RowError>,
}

/// An import and its counts so far.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct Import {
    pub id: i64,
    pub status: String,
    pub source: String,
    #[serde(default)]
    pub format: Option<String>,
    pub read: i64,
    pub created: i64,
    pub duplicates: i64,
    pub rejected: i64,
    pub errors: Vec<RowError>,
    #[serde(default)]
    pub message: Option<String>,
    pub rejected_url: String,
}

impl Import {
    pub fn finished(&self) -> bool {
        self.status == "done" || self.status == "failed"
    }
}

/// Where an import reads from.
#[derive(Clone)]
pub enum ImportSource {
    File(web_sys::File),
    Url(String),
}

/// Sends an upload to the importer: a dry run, or the import itself.
async fn post_import_file(
    project_id: i64,
    file: &web_sys::File,
    n_answers: Option<i64>,
    dry_run: bool,
) -> Result<String, ApiError> {
    let form = web_sys::FormData::new().map_err(|_| ApiError::Network)?;
    form.append_with_blob_and_filename("file", file, &file.name())
        .map_err(|_| ApiError::Network)?;
    if let Some(n) = n_answers {
        form.append_with_str("n_answers", &n.to_string())
            .map_err(|_| ApiError::Network)?;
    }
    let url = format!(
        "/api/project/{project_id}/import?dry_run={}",
        u8::from(dry_run)
    );
    send("POST", &url, Some(Payload::Form(&form))).await
}

/// Sends a link to the importer: a dry run, or the import itself.
pub async fn post_import_url(
    project_id: i64,
    link: &str,
    n_answers: Option<i64>,
    dry_run: bool,
) -> Result<String, ApiError> {
    let body = serde_json::json!({ "url": link, "n_answers": n_answers, "dry_run": dry_run });
    request_text(
        "POST",
        &format!(
            "/api/project/{project_id}/import?dry_run={}",
            u8::from(dry_run)
        ),
        Some(&body),
    )
    .await
}

async fn post_import(
    project_id: i64,
    source: &ImportSource,
    n_answers: Option<i64>,
    dry_run: bool,
) -> Result<String, ApiError> {
    match source {
        ImportSource::File(file) => post_import_file(project_id, file, n_answers, dry_run).await,
        ImportSource::Url(link) => post_import_url(project_id, link, n_answers, dry_run).await,
    }
}

/// Reads and checks a file or link on the server, writing nothing.
pub async fn preview_import(
    project_id: i64,
    source: &ImportSource,
) -> Result<ImportPreview, ApiError> {
    decode(&post_import(project_id, source, None, true).await?)
}

/// Starts an import job.
pub async fn start_import(
    project_id: i64,
    source: &ImportSource,
    n_answers: Option<i64>,
) -> Result<Import, ApiError> {
    decode(&post_import(project_id, source, n_answers, false).await?)
}

pub async fn import_status(project_id: i64, import_id: i64) -> Result<Import, ApiError> {
    get_json(&format!("/api/project/{project_id}/import/{import_id}")).await
}

/// What a bulk operation did.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct BulkOutcome {
    pub matched: u64,
    pub updated: u64,
    pub deleted: u64,
    pub completed: u64,
    pub reopened: u64,
    pub status: String,
}

/// What a bulk operation does to the tasks it matches.
#[derive(Clone, Debug)]
pub enum BulkChange {
    /// New values: `{"n_answers": …}`, `{"priority_0": …}`, `{"calibration": …}`.
    Set(serde_json::Value),
    Delete,
}

/// Changes or deletes every task of a project a filter matches, in one request.
pub async fn bulk_tasks(
    project_id: i64,
    filter: serde_json::Value,
    change: BulkChange,
) -> Result<BulkOutcome, ApiError> {
    let (set, delete) = match change {
        BulkChange::Set(values) => (Some(values), false),
        BulkChange::Delete => (None, true),
    };
    let body = serde_json::json!({ "filter": filter, "set": set, "delete": delete });
    request(
        "POST",
        &format!("/api/project/{project_id}/tasks/bulk"),
        Some(&body),
    )
    .await
}

pub async fn unpublish(project_id: i64) -> Result<Project, ApiError> {
    request(
        "POST",
        &format!("/api/project/{project_id}/unpublish"),
        Some(&serde_json::json!({})),
    )
    .await
}

pub async fn delete_project(project_id: i64) -> Result<(), ApiError> {
    request_text("DELETE", &format!("/api/project/{project_id}"), None).await?;
    Ok(())
}

/// A new project secret; the old one's external-user tokens stop working at once.
pub async fn rotate_secret(project_id: i64) -> Result<serde_json::Value, ApiError> {
    request(
        "POST",
        &format!("/api/project/{project_id}/secret"),
        Some(&serde_json::json!({})),
    )
    .await
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct WebhookSettings {
    #[serde(default)]
    pub url: Option<String>,
    pub events: Vec<String>,
    pub secret: String,
}

pub async fn webhook(project_id: i64) -> Result<WebhookSettings, ApiError> {
    get_json(&format!("/api/project/{project_id}/webhook")).await
}

pub async fn save_webhook(
    project_id: i64,
    url: String,
    events: Vec<String>,
) -> Result<WebhookSettings, ApiError> {
    let body = serde_json::json!({"url": url, "events": events});
    request(
        "PUT",
        &format!("/api/project/{project_id}/webhook"),
        Some(&body),
    )
    .await
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct Delivery {
    pub id: i64,
    pub event: String,
    pub status: String,
    pub attempts: i64,
    #[serde(default)]
    pub response_status_code: Option<i64>,
    #[serde(default)]
    pub response: Option<String>,
    pub created: String,
}

pub async fn deliveries(project_id: i64) -> Result<Vec<Delivery>, ApiError> {
    get_json(&format!(
        "/api/project/{project_id}/webhook/deliveries?limit=50"
    ))
    .await
}

pub async fn ping_webhook(project_id: i64) -> Result<Delivery, ApiError> {
    request(
        "POST",
        &format!("/api/project/{project_id}/webhook/ping"),
        Some(&serde_json::json!({})),
    )
    .await
}

pub async fn redeliver(project_id: i64, delivery_id: i64) -> Result<Delivery, ApiError> {
    request(
        "POST",
        &format!("/api/project/{project_id}/webhook/deliveries/{delivery_id}/redeliver"),
        Some(&serde_json::json!({})),
    )
    .await
}

#[derive(Deserialize)]
struct RunRow {
    project_id: i64,
}

/// The projects a volunteer answered in (from their latest 100 answers): `(project, answers)`,
/// most answered first.
pub async fn contributions(user_id: i64) -> Result<Vec<(Project, usize)>, ApiError> {
    let runs: Vec<RunRow> = get_json(&format!(
        "/api/taskrun?all=1&user_id={user_id}&limit=100&orderby=id&desc=true"
    ))
    .await?;
    let projects = list_projects().await?;
    let mut counts: Vec<(Project, usize)> = Vec::new();
    for run in runs {
        match counts.iter_mut().find(|(p, _)| p.id == run.project_id) {
            Some(entry) => entry.1 += 1,
            None => {
                if let Some(p) = projects.iter().find(|p| p.id == run.project_id) {
                    counts.push((p.clone(), 1));
                }
            }
        }
    }
    counts.sort_by_key(|c| std::cmp::Reverse(c.1));
    Ok(counts)
}

// ---------------------------------------------------------------------------------------------
// Admins

/// Accounts, as admins see them.
pub async fn users(offset: u64) -> Result<Vec<Account>, ApiError> {
    get_json(&format!("/api/user?limit=50&offset={offset}&orderby=id")).await
}

/// Sets one admin-only flag of an account (`admin`, `enabled`).
pub async fn set_user_flag(user_id: i64, flag: &str, on: bool) -> Result<(), ApiError> {
    let body = serde_json::json!({ flag: on });
    let _: serde_json::Value = request("PUT", &format!("/api/user/{user_id}"), Some(&body)).await?;
    Ok(())
}

pub async fn create_category(
    name: String,
    short_name: String,
    description: String,
) -> Result<Category, ApiError> {
    let body =
        serde_json::json!({"name": name, "short_name": short_name, "description": description});
    request("POST", "/api/category", Some(&body)).await
}

pub async fn delete_category(id: i64) -> Result<(), ApiError> {
    request_text("DELETE", &format!("/api/category/{id}"), None).await?;
    Ok(())
}

pub async fn set_featured(project_id: i64, featured: bool) -> Result<(), ApiError> {
    let body = serde_json::json!({ "featured": featured });
    let _: Project = request("PUT", &format!("/api/project/{project_id}"), Some(&body)).await?;
    Ok(())
}

/// One task (`GET /api/task/{id}`).
pub async fn task(id: i64) -> Result<Task, ApiError> {
    get_json(&format!("/api/task/{id}")).await
}

/// A blog post as the content endpoints render it.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct Post {
    pub id: i64,
    pub title: String,
    pub created: String,
    #[serde(default)]
    pub published: bool,
    #[serde(default)]
    pub author: Option<String>,
    /// Sanitised HTML (in a single post or a page of the blog).
    #[serde(default)]
    pub html: Option<String>,
    /// Plain text (in the latest posts of an overview).
    #[serde(default)]
    pub excerpt: Option<String>,
}

/// A project page: its slug, title and (when asked for alone) sanitised HTML.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct PageContent {
    pub id: i64,
    pub slug: String,
    pub title: String,
    #[serde(default)]
    pub html: Option<String>,
}

/// One entry of a project's field guide (a helping material), rendered.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct GuideEntry {
    pub id: i64,
    pub title: String,
    pub html: String,
    #[serde(default)]
    pub media_url: Option<String>,
}

/// What a project shows volunteers, rendered by the server.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct ProjectContent {
    pub description_html: String,
    pub tutorial: bool,
    pub posts: Vec<Post>,
    pub more_posts: bool,
    pub pages: Vec<PageContent>,
    pub field_guide: Vec<GuideEntry>,
}

pub async fn project_content(project_id: i64) -> Result<ProjectContent, ApiError> {
    get_json(&format!("/api/project/{project_id}/content")).await
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct PostPage {
    pub items: Vec<Post>,
    pub has_more: bool,
}

pub async fn blog(project_id: i64, offset: u64) -> Result<PostPage, ApiError> {
    get_json(&format!(
        "/api/project/{project_id}/blog?limit=10&offset={offset}"
    ))
    .await
}

pub async fn blog_post(project_id: i64, post_id: i64) -> Result<Post, ApiError> {
    get_json(&format!("/api/project/{project_id}/blog/{post_id}")).await
}

pub async fn content_page(project_id: i64, slug: String) -> Result<PageContent, ApiError> {
    get_json(&format!("/api/project/{project_id}/page/{}", encode(&slug))).await
}

#[derive(Deserialize)]
struct Rendered {
    html: String,
}

/// Markdown rendered and sanitised by the server, exactly as volunteers will see it.
pub async fn render_markdown(text: String) -> Result<String, ApiError> {
    let body = serde_json::json!({ "text": text });
    let rendered: Rendered = request("POST", "/api/markdown", Some(&body)).await?;
    Ok(rendered.html)
}

/// The PYBOSSA resources holding a project's content, as owners edit them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContentKind {
    Blogpost,
    Page,
    HelpingMaterial,
}

impl ContentKind {
    /// The collection's path (written out, so the spec test sees every path the app calls).
    fn path(self) -> &'static str {
        match self {
            ContentKind::Blogpost => "/api/blogpost",
            ContentKind::Page => "/api/page",
            ContentKind::HelpingMaterial => "/api/helpingmaterial",
        }
    }
}

/// A project's rows of one kind, newest first.
pub async fn content_rows(
    kind: ContentKind,
    project_id: i64,
) -> Result<Vec<serde_json::Value>, ApiError> {
    get_json(&format!(
        "{}?project_id={project_id}&all=1&limit=100&orderby=id&desc=true",
        kind.path()
    ))
    .await
}

/// Creates (`id` None) or updates a content row.
pub async fn save_content_row(
    kind: ContentKind,
    id: Option<i64>,
    body: serde_json::Value,
) -> Result<serde_json::Value, ApiError> {
    match id {
        None => request("POST", kind.path(), Some(&body)).await,
        Some(id) => request("PUT", &format!("{}/{id}", kind.path()), Some(&body)).await,
    }
}

pub async fn delete_content_row(kind: ContentKind, id: i64) -> Result<(), ApiError> {
    request_text("DELETE", &format!("{}/{id}", kind.path()), None).await?;
    Ok(())
}

/// One volunteer's standing in a project (`GET /api/project/{id}/volunteers`).
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct VolunteerSkill {
    pub volunteer: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub external_uid: Option<String>,
    #[serde(default)]
    pub user_ip: Option<String>,
    pub answers: i64,
    pub gold_seen: i64,
    pub gold_correct: i64,
    #[serde(default)]
    pub accuracy: Option<f64>,
    #[serde(default)]
    pub skill: Option<f64>,
    #[serde(default)]
    pub quiz: Option<String>,
    #[serde(default)]
    pub quiz_tasks: Option<u32>,
    #[serde(default)]
    pub last_answer: Option<String>,
    #[serde(default)]
    pub excluded: bool,
    /// Per field: `{classes, matrix}` (`dawid_skene` once fitted).
    #[serde(default)]
    pub confusion: Option<serde_json::Value>,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct VolunteerPage {
    pub items: Vec<VolunteerSkill>,
    pub has_more: bool,
}

/// A page of a project's volunteers (owners), by `orderby` (`answers`, `accuracy`, …).
pub async fn volunteers(
    project_id: i64,
    orderby: &'static str,
    desc: bool,
    offset: u64,
) -> Result<VolunteerPage, ApiError> {
    get_json(&format!(
        "/api/project/{project_id}/volunteers?orderby={orderby}&desc={desc}&limit=50&offset={offset}"
    ))
    .await
}

/// The volunteer's own standing in a project.
pub async fn my_standing(project_id: i64) -> Result<VolunteerSkill, ApiError> {
    get_json(&format!("/api/project/{project_id}/volunteers/me")).await
}

/// Leaves a volunteer's answers out of the project's aggregates, or counts them again.
pub async fn set_excluded(
    project_id: i64,
    volunteer: &str,
    excluded: bool,
) -> Result<VolunteerSkill, ApiError> {
    let key = encode(volunteer);
    request(
        "PUT",
        &format!("/api/project/{project_id}/volunteers/{key}"),
        Some(&serde_json::json!({ "excluded": excluded })),
    )
    .await
}

/// How sure a project's results are (`GET /api/project/{id}/quality`).
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct QualitySummary {
    pub method: String,
    pub results: u64,
    pub reviewed: u64,
    pub histogram: Vec<u64>,
    pub unknown: u64,
}

pub async fn quality_summary(project_id: i64) -> Result<QualitySummary, ApiError> {
    get_json(&format!("/api/project/{project_id}/quality")).await
}

/// One answer to a result under review.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct ReviewAnswer {
    pub task_run_id: i64,
    pub volunteer: String,
    #[serde(default)]
    pub info: Option<serde_json::Value>,
    pub excluded: bool,
}

/// A result waiting for review.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct ReviewItem {
    pub result_id: i64,
    pub task_id: i64,
    #[serde(default)]
    pub confidence: Option<f64>,
    #[serde(default)]
    pub aggregate: Option<serde_json::Value>,
    #[serde(default, rename = "final")]
    pub final_answer: Option<serde_json::Value>,
    #[serde(default)]
    pub task_info: Option<serde_json::Value>,
    pub answers: Vec<ReviewAnswer>,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct ReviewPage {
    pub items: Vec<ReviewItem>,
    pub has_more: bool,
}

/// The review queue: results not yet reviewed, least sure first.
pub async fn review_queue(project_id: i64, offset: u64) -> Result<ReviewPage, ApiError> {
    get_json(&format!(
        "/api/project/{project_id}/review?limit=10&offset={offset}"
    ))
    .await
}

/// A verdict on a result: `{action: accept|pick|expert|reopen, task_run_id?, answer?, answers?}`.
pub async fn review_result(
    project_id: i64,
    result_id: i64,
    verdict: serde_json::Value,
) -> Result<serde_json::Value, ApiError> {
    request(
        "POST",
        &format!("/api/project/{project_id}/review/{result_id}"),
        Some(&verdict),
    )
    .await
}

/// Creates a task (owners): `{project_id, info, calibration, gold_answers, …}`.
pub async fn create_task(body: serde_json::Value) -> Result<Task, ApiError> {
    request("POST", "/api/task", Some(&body)).await
}

/// A project's gold tasks (owners), newest first.
pub async fn gold_tasks(project_id: i64) -> Result<Vec<Task>, ApiError> {
    get_json(&format!(
        "/api/task?project_id={project_id}&calibration=1&all=1&limit=100&orderby=id&desc=true"
    ))
    .await
}

/// Changes a task (owners): `{calibration, gold_answers}`, `n_answers`, …
pub async fn update_task(id: i64, body: serde_json::Value) -> Result<Task, ApiError> {
    request("PUT", &format!("/api/task/{id}"), Some(&body)).await
}
