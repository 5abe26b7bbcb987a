//! HTTP routes: one module per resource, each an `#[OpenApi]` struct.

pub mod auth;
pub mod common;
pub mod export;
pub mod health;
pub mod jobs;
pub mod rest;
pub mod schemas;
pub mod stats;
pub mod uploads;
pub mod volunteer;
pub mod webhooks;

use poem_openapi::Tags;

use crate::domain::resources as res;

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
}

rest::resource_api!(ProjectApi, res::Project, schemas::Project, "ApiTags::Project", list: "/project", item: "/project/:id", create: ProjectCreateApi);
rest::resource_api!(CategoryApi, res::Category, schemas::Category, "ApiTags::Category", list: "/category", item: "/category/:id", create: CategoryCreateApi);
rest::resource_api!(TaskApi, res::Task, schemas::Task, "ApiTags::Task", list: "/task", item: "/task/:id", create: TaskCreateApi);
rest::resource_api!(TaskRunApi, res::TaskRun, schemas::TaskRun, "ApiTags::Taskrun", list: "/taskrun", item: "/taskrun/:id");
rest::resource_api!(ResultApi, res::ResultResource, schemas::Result, "ApiTags::Result", list: "/result", item: "/result/:id", create: ResultCreateApi);
rest::resource_api!(UserApi, res::User, schemas::User, "ApiTags::User", list: "/user", item: "/user/:id", create: UserCreateApi);
rest::resource_api!(AnnouncementApi, res::Announcement, schemas::Announcement, "ApiTags::Announcement", list: "/announcement", item: "/announcement/:id", create: AnnouncementCreateApi);
rest::resource_api!(BlogpostApi, res::Blogpost, schemas::Blogpost, "ApiTags::Blogpost", list: "/blogpost", item: "/blogpost/:id", create: BlogpostCreateApi);
rest::resource_api!(HelpingMaterialApi, res::HelpingMaterial, schemas::HelpingMaterial, "ApiTags::Helpingmaterial", list: "/helpingmaterial", item: "/helpingmaterial/:id", create: HelpingMaterialCreateApi);
rest::resource_api!(PageApi, res::Page, schemas::Page, "ApiTags::Page", list: "/page", item: "/page/:id", create: PageCreateApi);

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
        ProjectCreateApi,
        CategoryCreateApi,
        TaskCreateApi,
        ResultCreateApi,
        UserCreateApi
    ),
    (
        AnnouncementCreateApi,
        BlogpostCreateApi,
        HelpingMaterialCreateApi,
        PageCreateApi
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
        export::ExportApi
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
