//! HTTP routes: one module per resource, each an `#[OpenApi]` struct.

pub mod auth;
pub mod caller;
pub mod common;
pub mod content;
pub mod export;
pub mod health;
pub mod imports;
pub mod jobs;
pub mod mail;
pub mod presenter;
pub mod quality;
pub mod rest;
pub mod schemas;
pub mod stats;
pub mod uploads;
pub mod volunteer;
pub mod webhooks;

use poem_openapi::Tags;

use crate::domain::rest::resources as res;

#[derive(Tags)]
pub enum ApiTags {
    /// Projects: sets of tasks with a presenter.
    Project,
    /// Project categories (admins manage them).
    Category,
    /// Tasks to be answered.
    Task,
    /// Answers to tasks.
    Taskrun,
    /// Outcomes of completed tasks.
    Result,
    /// Accounts.
    User,
    /// Site-wide announcements (admins).
    Announcement,
    /// Project blog posts.
    Blogpost,
    /// Material that helps volunteers (tutorial images, examples).
    Helpingmaterial,
    /// Project pages (a small CMS).
    Page,
    /// Sign-up, sign-in and api keys.
    Auth,
    /// The volunteer loop: get a task, answer it, see your progress.
    Volunteer,
    /// Project and site statistics, current to the last answer; the leaderboard.
    Stats,
    /// Signed webhooks: settings, delivery log, redelivery, ping.
    Webhook,
    /// Background jobs (admins).
    Job,
    /// Mail the platform sent or keeps in its outbox (admins).
    Mail,
    /// Task imports run on the server: files, links, Google Sheets, IIIF manifests.
    Import,
    /// What volunteers read, rendered: a project's description, blog and its Atom feed, pages,
    /// field guide; Markdown previews.
    Content,
    /// Quality control: volunteers' gold counts, accuracy, skill and quiz standing.
    Quality,
}

rest::resource_api!(ProjectApi, res::Project, schemas::Project, "ApiTags::Project", list: "/project", item: "/project/:id", filters: [short_name, name, category_id, owner_id, featured], create: create);
rest::resource_api!(CategoryApi, res::Category, schemas::Category, "ApiTags::Category", list: "/category", item: "/category/:id", filters: [short_name, name], create: create);
rest::resource_api!(TaskApi, res::Task, schemas::Task, "ApiTags::Task", list: "/task", item: "/task/:id", filters: [project_id, state], create: create);
rest::resource_api!(TaskRunApi, res::TaskRun, schemas::TaskRun, "ApiTags::Taskrun", list: "/taskrun", item: "/taskrun/:id", filters: [project_id, task_id, user_id], extra: {
    /// Answer a task.
    ///
    /// The task must have been handed to this volunteer by `newtask` (403 `You must request a
    /// task first!`), once per volunteer per task (403), and only while it still needs
    /// answers (409). The answer that completes a task creates its result. A retried POST with
    /// the same `Idempotency-Key` returns the first answer; the key used by the same volunteer for
    /// another task or another answer is a 422. A draft project's tasks are answered only by its
    /// owners, admins and the external users its project token vouches for. Multipart with a
    /// `file` stores it as `media_url`.
    #[oai(path = "/taskrun", method = "post", tag = "ApiTags::Taskrun")]
    async fn create_taskrun(
        &self,
        state: poem::web::Data<&std::sync::Arc<crate::state::AppState>>,
        caller: crate::auth::Caller,
        req: &poem::Request,
        body: common::Body<schemas::TaskRun>,
        /// Makes retries safe: the same key returns the answer already taken.
        #[oai(name = "Idempotency-Key")]
        idempotency_key: poem_openapi::param::Header<Option<String>>,
    ) -> Result<common::JsonOf<schemas::TaskRun>, crate::error::ApiError> {
        Box::pin(volunteer::answer(&state, caller, req, body, idempotency_key)).await
    }
});
rest::resource_api!(ResultApi, res::ResultResource, schemas::Result, "ApiTags::Result", list: "/result", item: "/result/:id", filters: [project_id, task_id, last_version], create: create);
rest::resource_api!(UserApi, res::User, schemas::User, "ApiTags::User", list: "/user", item: "/user/:id", filters: [name], create: create);
rest::resource_api!(AnnouncementApi, res::Announcement, schemas::Announcement, "ApiTags::Announcement", list: "/announcement", item: "/announcement/:id", filters: [], create: create);
rest::resource_api!(BlogpostApi, res::Blogpost, schemas::Blogpost, "ApiTags::Blogpost", list: "/blogpost", item: "/blogpost/:id", filters: [project_id], create: create);
rest::resource_api!(HelpingMaterialApi, res::HelpingMaterial, schemas::HelpingMaterial, "ApiTags::Helpingmaterial", list: "/helpingmaterial", item: "/helpingmaterial/:id", filters: [project_id], create: create);
rest::resource_api!(PageApi, res::Page, schemas::Page, "ApiTags::Page", list: "/page", item: "/page/:id", filters: [project_id, slug], create: create);

/// Declares the `Api` type and its value from the same list (every api struct is a unit).
macro_rules! api_set {
    ($($group:tt),* $(,)?) => {
        /// Every operation under `/api`.
        pub type Api = ($($group),*);

        pub fn api() -> Api {
            ($($group),*)
        }
    };
}

api_set!(
    (ProjectApi, CategoryApi, TaskApi, TaskRunApi, ResultApi),
    (
        UserApi,
        AnnouncementApi,
        BlogpostApi,
        HelpingMaterialApi,
        PageApi
    ),
    (
        auth::AuthApi,
        auth::ProjectActionsApi,
        IndexApi,
        volunteer::VolunteerApi
    ),
    (
        stats::StatsApi,
        webhooks::WebhookApi,
        jobs::JobApi,
        mail::MailApi,
        export::ExportApi,
        imports::ImportApi,
        content::ContentApi,
        quality::QualityApi
    ),
);

pub struct IndexApi;

#[poem_openapi::OpenApi]
impl IndexApi {
    /// Plain-text banner, as PYBOSSA's `GET /api/` answers.
    #[oai(path = "/", method = "get")]
    async fn index(&self) -> poem_openapi::payload::PlainText<&'static str> {
        poem_openapi::payload::PlainText("The Tessera API")
    }
}
