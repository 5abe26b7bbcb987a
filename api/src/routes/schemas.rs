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
    /// Free-form settings: `task_presenter`, `sched`, `thumbnail_url`, … Checked keys:
    /// `quality` (owners only), `{"aggregation": "majority" | "weighted" | "dawid_skene",
    /// "gold_rate": 0..1 (default 0.1: the share of tasks served that are gold, after the quiz),
    /// "quiz": {"tasks": 1..1000, "pass_ratio": 0..1 (default 0.8)}: a volunteer's first `tasks`
    /// tasks are gold, and below `pass_ratio` right `newtask` answers 403 `QuizFailed`,
    /// "retire": {"min_answers": n, "confidence": (0, 1]}, "feedback": bool (the answer to a
    /// gold task comes back with the correct one), "compare": {"<field>" (or "answer" for a
    /// scalar): {"tolerance": number, "exact": bool}}}`; a bad value is a 415 naming the
    /// setting. `autoimport` `{url, every_hours}`; `presenter_connect` (https origins).
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
    /// 1: a gold task, whose correct answer is `gold_answers`; mixed into what volunteers are
    /// served (`info.quality` of the project), never completed, never counted as work. Read by
    /// the project's owners and admins only.
    pub calibration: Option<i64>,
    pub priority_0: Option<f64>,
    pub info: Option<Json>,
    pub n_answers: Option<i64>,
    /// The owner's own id for the task, unique in the project (re-imports skip it).
    pub external_id: Option<String>,
    /// A gold task's correct answer: a string, number or boolean, or a flat object of them
    /// (judged field by field). Required with `calibration: 1`. Owners and admins only.
    pub gold_answers: Option<Json>,
    #[oai(read_only)]
    pub fav_user_ids: Option<Vec<i64>>,
    /// Answers given so far (ignored when sent).
    #[oai(read_only)]
    pub n_task_runs: Option<i64>,
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
    /// In the answer to `POST /api/taskrun` for a gold task, when the project's
    /// `info.quality.feedback` is on: `{"correct": bool, "answer": <gold_answers>}`.
    #[oai(read_only)]
    pub gold: Option<Json>,
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
    /// Admins only: a disabled account cannot sign in or use its api key or tokens.
    pub enabled: Option<bool>,
    /// Only in `/api/auth/me` and account responses.
    #[oai(read_only)]
    pub api_key: Option<String>,
    /// The account and admins only: whether `email_addr` was confirmed by its link.
    #[oai(read_only)]
    pub valid_email: Option<bool>,
    /// The account and admins only: a new address waiting for its confirmation link.
    #[oai(read_only)]
    pub email_pending: Option<String>,
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

/// A project's statistics (PYBOSSA's `projectstats` row), current to the last answer.
#[derive(Object)]
pub struct ProjectStats {
    /// The project's id.
    pub id: i64,
    pub project_id: i64,
    pub n_tasks: i64,
    pub n_task_runs: i64,
    pub n_results: i64,
    /// Distinct volunteers (signed-in and anonymous).
    pub n_volunteers: i64,
    pub n_completed_tasks: i64,
    /// Completed tasks × 100 / tasks (integer).
    pub overall_progress: i64,
    /// Mean seconds from a task being handed out to its answer.
    pub average_time: f64,
    pub n_blogposts: i64,
    /// Time of the last answer, `"0"` before the first.
    pub last_activity: String,
    /// `n_volunteers_authenticated`, `n_volunteers_anonymous`, `n_pending_answers`,
    /// `answers_last_24h`, `answers_per_hour`, `estimated_completion` (ISO time or null); with
    /// `full=1` also `dates_stats`, `hours_stats`, `users_stats` in PYBOSSA's shapes.
    pub info: Json,
}

/// Site-wide numbers (PYBOSSA's `globalstats`).
#[derive(Object)]
pub struct GlobalStats {
    pub n_projects: i64,
    /// Accounts plus distinct anonymous volunteers.
    pub n_users: i64,
    /// Answers all tasks ask for (sum of `n_answers`).
    pub n_tasks: i64,
    pub n_task_runs: i64,
    /// Answers still missing.
    pub n_pending_tasks: i64,
    pub n_results: i64,
    /// `[{"<category short_name>": n}, …, {"featured": n}, {"draft": n}]`.
    pub categories: Vec<Json>,
}

/// One ranked user.
#[derive(Object)]
#[oai(nullable_all)]
pub struct LeaderboardUser {
    pub rank: Option<i64>,
    pub score: Option<i64>,
    pub name: Option<String>,
    pub fullname: Option<String>,
    pub created: Option<String>,
    /// Public keys only (`avatar`, `container`, `avatar_url`, `extra`).
    pub info: Option<Json>,
    pub n_answers: Option<i64>,
    pub registered_ago: Option<String>,
    pub locale: Option<String>,
}

#[derive(Object)]
pub struct Leaderboard {
    pub title: String,
    pub top_users: Vec<LeaderboardUser>,
}

/// Where and how a project's webhook is sent.
#[derive(Object)]
pub struct WebhookSettings {
    /// The project's `webhook` URL (null: no webhook).
    pub url: Option<String>,
    /// Subscribed events: `task.completed`, `project.completed`, `taskrun.created`, `result.reviewed`.
    pub events: Vec<String>,
    /// `whsec_…`: verifies `webhook-signature` (Standard Webhooks). Owners and admins only.
    pub secret: String,
}

/// Changes to a project's webhook; absent fields stay as they are.
#[derive(Object)]
pub struct WebhookUpdate {
    /// http(s) URL; empty or null removes the webhook.
    pub url: poem_openapi::types::MaybeUndefined<String>,
    pub events: Option<Vec<String>>,
}

/// One event sent (or being sent) to a project's webhook.
#[derive(Object)]
pub struct WebhookDelivery {
    pub id: i64,
    pub project_id: i64,
    /// `task.completed`, `project.completed`, `taskrun.created`, `result.reviewed` or `ping`.
    pub event: String,
    /// The `webhook-id` header: the same on every attempt and redelivery.
    pub webhook_id: String,
    /// `pending`, `retrying`, `delivered` or `failed`.
    pub status: String,
    pub attempts: i64,
    /// The receiver's last status code (null: no answer).
    pub response_status_code: Option<i64>,
    /// The start of the receiver's last answer, or why the attempt failed.
    pub response: Option<String>,
    pub payload: Json,
    pub created: String,
    pub updated: String,
}

/// A background job.
#[derive(Object)]
pub struct Job {
    pub id: i64,
    /// `webhook.deliver`, `stats.rebuild`, `stats.reconcile`, `jobs.purge`, `probe`.
    pub kind: String,
    pub payload: Json,
    /// `queued`, `running`, `done` or `failed`.
    pub status: String,
    pub attempts: i64,
    pub max_attempts: i64,
    /// When it runs (next), epoch ms.
    pub run_at: i64,
    pub locked_by: Option<String>,
    pub last_error: Option<String>,
    pub created: String,
    pub updated: String,
}

/// Jobs per status.
#[derive(Object)]
pub struct JobCounts {
    pub queued: i64,
    pub running: i64,
    pub done: i64,
    pub failed: i64,
}
