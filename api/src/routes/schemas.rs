//! Documented shapes of the PYBOSSA resources. They describe requests and responses in the
//! OpenAPI spec; fields are optional because PYBOSSA shapes what each caller sees and every write
//! is partial.

use poem_openapi::Object;
use serde_json::Value as Json;

/// A project: a set of tasks with one task presenter. Non-owners see fewer fields
/// (no `secret_key`, `webhook`, flags) and only the public keys of `info`.
#[derive(Object)]
#[oai(nullable_all)]
pub struct Project {
    #[oai(read_only)]
    pub id: Option<i64>,
    #[oai(read_only)]
    pub created: Option<String>,
    #[oai(read_only)]
    pub updated: Option<String>,
    /// Unique display name.
    pub name: Option<String>,
    /// Unique URL slug (letters, digits, `-`, `_`, `.`).
    pub short_name: Option<String>,
    pub description: Option<String>,
    pub long_description: Option<String>,
    /// URL called when a task completes.
    pub webhook: Option<String>,
    pub allow_anonymous_contributors: Option<bool>,
    /// Set through `POST /api/project/{id}/publish`.
    #[oai(read_only)]
    pub published: Option<bool>,
    /// Admins only.
    pub featured: Option<bool>,
    /// Signs the tokens of external users; owners only.
    #[oai(read_only)]
    pub secret_key: Option<String>,
    pub zip_download: Option<bool>,
    #[oai(read_only)]
    pub contacted: Option<bool>,
    pub owner_id: Option<i64>,
    pub category_id: Option<i64>,
    /// Free-form settings: `task_presenter`, `sched`, `thumbnail_url`, …
    pub info: Option<Json>,
    pub owners_ids: Option<Vec<i64>>,
    /// With `stats=1`: the project's counters.
    #[oai(read_only)]
    pub stats: Option<Json>,
    #[oai(read_only)]
    pub link: Option<String>,
    #[oai(read_only)]
    pub links: Option<Vec<String>>,
}

#[derive(Object)]
#[oai(nullable_all)]
pub struct Category {
    #[oai(read_only)]
    pub id: Option<i64>,
    pub name: Option<String>,
    pub short_name: Option<String>,
    pub description: Option<String>,
    #[oai(read_only)]
    pub created: Option<String>,
    pub info: Option<Json>,
    #[oai(read_only)]
    pub link: Option<String>,
}

/// A unit of work. `n_answers` is the redundancy: answers needed before it completes.
#[derive(Object)]
#[oai(nullable_all)]
pub struct Task {
    #[oai(read_only)]
    pub id: Option<i64>,
    #[oai(read_only)]
    pub created: Option<String>,
    pub project_id: Option<i64>,
    /// `ongoing` or `completed`.
    #[oai(read_only)]
    pub state: Option<String>,
    pub quorum: Option<i64>,
    pub calibration: Option<i64>,
    pub priority_0: Option<f64>,
    pub info: Option<Json>,
    pub n_answers: Option<i64>,
    #[oai(read_only)]
    pub fav_user_ids: Option<Vec<i64>>,
    /// With `related=1`: the task's answers.
    #[oai(read_only)]
    pub task_runs: Option<Vec<Json>>,
    /// With `related=1`: the task's current result.
    #[oai(read_only)]
    pub result: Option<Json>,
    #[oai(read_only)]
    pub link: Option<String>,
    #[oai(read_only)]
    pub links: Option<Vec<String>>,
}

/// An answer to a task.
#[derive(Object)]
#[oai(nullable_all)]
pub struct TaskRun {
    #[oai(read_only)]
    pub id: Option<i64>,
    /// When the task was handed out.
    #[oai(read_only)]
    pub created: Option<String>,
    pub project_id: Option<i64>,
    pub task_id: Option<i64>,
    pub user_id: Option<i64>,
    /// Anonymised address of an anonymous volunteer.
    pub user_ip: Option<String>,
    /// When the answer arrived.
    #[oai(read_only)]
    pub finish_time: Option<String>,
    pub timeout: Option<i64>,
    pub calibration: Option<i64>,
    pub external_uid: Option<String>,
    pub media_url: Option<String>,
    pub info: Option<Json>,
    #[oai(read_only)]
    pub task: Option<Json>,
    #[oai(read_only)]
    pub result: Option<Json>,
    #[oai(read_only)]
    pub link: Option<String>,
    #[oai(read_only)]
    pub links: Option<Vec<String>>,
}

/// The outcome of a completed task. Only `info` is writable (by project owners).
#[derive(Object)]
#[oai(nullable_all)]
pub struct Result {
    #[oai(read_only)]
    pub id: Option<i64>,
    #[oai(read_only)]
    pub created: Option<String>,
    #[oai(read_only)]
    pub project_id: Option<i64>,
    #[oai(read_only)]
    pub task_id: Option<i64>,
    #[oai(read_only)]
    pub task_run_ids: Option<Vec<i64>>,
    #[oai(read_only)]
    pub last_version: Option<bool>,
    pub info: Option<Json>,
    #[oai(read_only)]
    pub task: Option<Json>,
    #[oai(read_only)]
    pub task_runs: Option<Vec<Json>>,
    #[oai(read_only)]
    pub link: Option<String>,
    #[oai(read_only)]
    pub links: Option<Vec<String>>,
}

/// A user. The account holder and admins see the profile; others see `name` and `locale`
/// (plus `fullname` and `created` when the user turned privacy mode off).
#[derive(Object)]
#[oai(nullable_all)]
pub struct User {
    #[oai(read_only)]
    pub id: Option<i64>,
    #[oai(read_only)]
    pub created: Option<String>,
    pub name: Option<String>,
    pub fullname: Option<String>,
    pub email_addr: Option<String>,
    pub locale: Option<String>,
    pub info: Option<Json>,
    /// Admins only.
    pub admin: Option<bool>,
    /// Admins only.
    pub pro: Option<bool>,
    pub privacy_mode: Option<bool>,
    /// Admins only.
    pub restrict: Option<bool>,
    /// Only in `/api/auth/me` and account responses.
    #[oai(read_only)]
    pub api_key: Option<String>,
    #[oai(read_only)]
    pub n_answers: Option<i64>,
    #[oai(read_only)]
    pub registered_ago: Option<String>,
    #[oai(read_only)]
    pub rank: Option<i64>,
    #[oai(read_only)]
    pub score: Option<i64>,
}

#[derive(Object)]
#[oai(nullable_all)]
pub struct Announcement {
    #[oai(read_only)]
    pub id: Option<i64>,
    #[oai(read_only)]
    pub created: Option<String>,
    #[oai(read_only)]
    pub updated: Option<String>,
    #[oai(read_only)]
    pub user_id: Option<i64>,
    pub title: Option<String>,
    pub body: Option<String>,
    pub info: Option<Json>,
    pub media_url: Option<String>,
    pub published: Option<bool>,
    #[oai(read_only)]
    pub link: Option<String>,
}

#[derive(Object)]
#[oai(nullable_all)]
pub struct Blogpost {
    #[oai(read_only)]
    pub id: Option<i64>,
    #[oai(read_only)]
    pub created: Option<String>,
    #[oai(read_only)]
    pub updated: Option<String>,
    pub project_id: Option<i64>,
    #[oai(read_only)]
    pub user_id: Option<i64>,
    pub title: Option<String>,
    pub body: Option<String>,
    pub info: Option<Json>,
    pub media_url: Option<String>,
    pub published: Option<bool>,
    #[oai(read_only)]
    pub link: Option<String>,
    #[oai(read_only)]
    pub links: Option<Vec<String>>,
}

#[derive(Object)]
#[oai(nullable_all)]
pub struct HelpingMaterial {
    #[oai(read_only)]
    pub id: Option<i64>,
    #[oai(read_only)]
    pub created: Option<String>,
    pub project_id: Option<i64>,
    pub info: Option<Json>,
    pub media_url: Option<String>,
    pub priority: Option<f64>,
    #[oai(read_only)]
    pub link: Option<String>,
    #[oai(read_only)]
    pub links: Option<Vec<String>>,
}

#[derive(Object)]
#[oai(nullable_all)]
pub struct Page {
    #[oai(read_only)]
    pub id: Option<i64>,
    #[oai(read_only)]
    pub created: Option<String>,
    pub slug: Option<String>,
    pub project_id: Option<i64>,
    pub info: Option<Json>,
    pub media_url: Option<String>,
    #[oai(read_only)]
    pub link: Option<String>,
    #[oai(read_only)]
    pub links: Option<Vec<String>>,
}
