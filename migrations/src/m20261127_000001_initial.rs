//! The PYBOSSA data model: every column the API contract lists, plus sharded counters.
//!
//! Timestamps are ISO-8601 text, as PYBOSSA stores them, so prefix filters (`created=2026-05`)
//! and ordering behave the same on both databases. JSON columns are JSONB on PostgreSQL.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Created,
    EmailAddr,
    Name,
    Fullname,
    Locale,
    ApiKey,
    PasswdHash,
    Ldap,
    Admin,
    Pro,
    PrivacyMode,
    Restrict,
    Category,
    Flags,
    CkanApi,
    NewsletterPrompted,
    ValidEmail,
    ConfirmationEmailSent,
    Subscribed,
    Consent,
    Info,
    UserPref,
    NotifiedAt,
}

#[derive(DeriveIden)]
enum Category {
    Table,
    Id,
    Name,
    ShortName,
    Description,
    Created,
    Info,
}

#[derive(DeriveIden)]
enum Project {
    Table,
    Id,
    Created,
    Updated,
    Name,
    ShortName,
    Description,
    LongDescription,
    Webhook,
    AllowAnonymousContributors,
    Published,
    Featured,
    SecretKey,
    ZipDownload,
    Contacted,
    OwnerId,
    CategoryId,
    Info,
    OwnersIds,
}

#[derive(DeriveIden)]
enum ProjectOwner {
    Table,
    ProjectId,
    UserId,
}

#[derive(DeriveIden)]
enum ProjectCounter {
    Table,
    ProjectId,
    Shard,
    NTasks,
    NTaskRuns,
    NCompletedTasks,
    NResults,
}

#[derive(DeriveIden)]
enum Task {
    Table,
    Id,
    Created,
    ProjectId,
    State,
    Quorum,
    Calibration,
    #[sea_orm(iden = "priority_0")]
    Priority0,
    Info,
    NAnswers,
    FavUserIds,
    NTaskRuns,
}

#[derive(DeriveIden)]
enum TaskRun {
    Table,
    Id,
    Created,
    ProjectId,
    TaskId,
    UserId,
    UserIp,
    FinishTime,
    Timeout,
    Calibration,
    ExternalUid,
    MediaUrl,
    Info,
}

#[derive(DeriveIden)]
enum Result {
    Table,
    Id,
    Created,
    ProjectId,
    TaskId,
    TaskRunIds,
    LastVersion,
    Info,
}

#[derive(DeriveIden)]
enum Announcement {
    Table,
    Id,
    Created,
    Updated,
    UserId,
    Title,
    Body,
    Info,
    MediaUrl,
    Published,
}

#[derive(DeriveIden)]
enum Blogpost {
    Table,
    Id,
    Created,
    Updated,
    ProjectId,
    UserId,
    Title,
    Body,
    Info,
    MediaUrl,
    Published,
}

#[derive(DeriveIden)]
enum Helpingmaterial {
    Table,
    Id,
    Created,
    ProjectId,
    Info,
    MediaUrl,
    Priority,
}

#[derive(DeriveIden)]
enum Page {
    Table,
    Id,
    Created,
    Slug,
    ProjectId,
    Info,
    MediaUrl,
}

fn fk(
    name: &str,
    from: (impl IntoIden, impl IntoIden),
    to: (impl IntoIden, impl IntoIden),
    on_delete: ForeignKeyAction,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(from.0, from.1)
        .to(to.0, to.1)
        .on_delete(on_delete)
        .take()
}

fn index(name: &str, table: impl IntoIden, cols: &[&'static str]) -> IndexCreateStatement {
    let mut idx = Index::create().name(name).table(table).take();
    for col in cols {
        idx.col(Alias::new(*col));
    }
    idx
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> std::result::Result<(), DbErr> {
        use ForeignKeyAction::{Cascade, SetNull};

        m.create_table(
            Table::create()
                .table(Users::Table)
                .col(pk_auto(Users::Id))
                .col(string(Users::Created))
                .col(string_uniq(Users::EmailAddr))
                .col(string_uniq(Users::Name))
                .col(string(Users::Fullname))
                .col(string(Users::Locale).default("en"))
                .col(string_uniq(Users::ApiKey))
                .col(string_null(Users::PasswdHash))
                .col(string_null(Users::Ldap))
                .col(boolean(Users::Admin).default(false))
                .col(boolean(Users::Pro).default(false))
                .col(boolean(Users::PrivacyMode).default(true))
                .col(boolean(Users::Restrict).default(false))
                .col(integer_null(Users::Category))
                .col(integer_null(Users::Flags))
                .col(string_null(Users::CkanApi))
                .col(boolean(Users::NewsletterPrompted).default(false))
                .col(boolean(Users::ValidEmail).default(false))
                .col(boolean(Users::ConfirmationEmailSent).default(false))
                .col(boolean(Users::Subscribed).default(false))
                .col(boolean(Users::Consent).default(false))
                .col(json_binary_null(Users::Info))
                .col(json_binary_null(Users::UserPref))
                .col(string_null(Users::NotifiedAt))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Category::Table)
                .col(pk_auto(Category::Id))
                .col(string_uniq(Category::Name))
                .col(string_uniq(Category::ShortName))
                .col(text(Category::Description))
                .col(string(Category::Created))
                .col(json_binary_null(Category::Info))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Project::Table)
                .col(pk_auto(Project::Id))
                .col(string(Project::Created))
                .col(string(Project::Updated))
                .col(string_uniq(Project::Name))
                .col(string_uniq(Project::ShortName))
                .col(string(Project::Description))
                .col(text_null(Project::LongDescription))
                .col(text_null(Project::Webhook))
                .col(boolean(Project::AllowAnonymousContributors).default(true))
                .col(boolean(Project::Published).default(false))
                .col(boolean(Project::Featured).default(false))
                .col(string(Project::SecretKey))
                .col(boolean(Project::ZipDownload).default(true))
                .col(boolean(Project::Contacted).default(false))
                .col(integer(Project::OwnerId))
                .col(integer(Project::CategoryId))
                .col(json_binary_null(Project::Info))
                .col(json_binary_null(Project::OwnersIds))
                .foreign_key(&mut fk(
                    "fk_project_owner",
                    (Project::Table, Project::OwnerId),
                    (Users::Table, Users::Id),
                    ForeignKeyAction::Restrict,
                ))
                .foreign_key(&mut fk(
                    "fk_project_category",
                    (Project::Table, Project::CategoryId),
                    (Category::Table, Category::Id),
                    ForeignKeyAction::Restrict,
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(index("ix_project_owner", Project::Table, &["owner_id"]))
            .await?;
        m.create_index(index(
            "ix_project_category",
            Project::Table,
            &["category_id", "published"],
        ))
        .await?;
        m.create_index(index(
            "ix_project_published",
            Project::Table,
            &["published", "featured"],
        ))
        .await?;

        // Co-owners, kept in step with `project.owners_ids` so ownership checks and the
        // draft-visibility filter are indexed joins on both databases.
        m.create_table(
            Table::create()
                .table(ProjectOwner::Table)
                .col(integer(ProjectOwner::ProjectId))
                .col(integer(ProjectOwner::UserId))
                .primary_key(
                    Index::create()
                        .col(ProjectOwner::ProjectId)
                        .col(ProjectOwner::UserId),
                )
                .foreign_key(&mut fk(
                    "fk_project_owner_project",
                    (ProjectOwner::Table, ProjectOwner::ProjectId),
                    (Project::Table, Project::Id),
                    Cascade,
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "ix_project_owner_user",
            ProjectOwner::Table,
            &["user_id"],
        ))
        .await?;

        // Per-project counts split over a few shard rows: a writer bumps one random shard in its
        // own transaction, so concurrent answers do not queue on one hot row; readers sum.
        m.create_table(
            Table::create()
                .table(ProjectCounter::Table)
                .col(integer(ProjectCounter::ProjectId))
                .col(integer(ProjectCounter::Shard))
                .col(big_integer(ProjectCounter::NTasks).default(0))
                .col(big_integer(ProjectCounter::NTaskRuns).default(0))
                .col(big_integer(ProjectCounter::NCompletedTasks).default(0))
                .col(big_integer(ProjectCounter::NResults).default(0))
                .primary_key(
                    Index::create()
                        .col(ProjectCounter::ProjectId)
                        .col(ProjectCounter::Shard),
                )
                .foreign_key(&mut fk(
                    "fk_project_counter_project",
                    (ProjectCounter::Table, ProjectCounter::ProjectId),
                    (Project::Table, Project::Id),
                    Cascade,
                ))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Task::Table)
                .col(pk_auto(Task::Id))
                .col(string(Task::Created))
                .col(integer(Task::ProjectId))
                .col(string(Task::State).default("ongoing"))
                .col(integer(Task::Quorum).default(0))
                .col(integer(Task::Calibration).default(0))
                .col(double(Task::Priority0).default(0.0))
                .col(json_binary_null(Task::Info))
                .col(integer(Task::NAnswers).default(30))
                .col(json_binary_null(Task::FavUserIds))
                .col(integer(Task::NTaskRuns).default(0))
                .foreign_key(&mut fk(
                    "fk_task_project",
                    (Task::Table, Task::ProjectId),
                    (Project::Table, Project::Id),
                    Cascade,
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "ix_task_project_id",
            Task::Table,
            &["project_id", "id"],
        ))
        .await?;
        m.create_index(index(
            "ix_task_project_state",
            Task::Table,
            &["project_id", "state", "id"],
        ))
        .await?;
        m.create_index(index(
            "ix_task_project_priority",
            Task::Table,
            &["project_id", "state", "priority_0", "id"],
        ))
        .await?;

        m.create_table(
            Table::create()
                .table(TaskRun::Table)
                .col(pk_auto(TaskRun::Id))
                .col(string(TaskRun::Created))
                .col(integer(TaskRun::ProjectId))
                .col(integer(TaskRun::TaskId))
                .col(integer_null(TaskRun::UserId))
                .col(string_null(TaskRun::UserIp))
                .col(string(TaskRun::FinishTime))
                .col(integer_null(TaskRun::Timeout))
                .col(integer_null(TaskRun::Calibration))
                .col(string_null(TaskRun::ExternalUid))
                .col(text_null(TaskRun::MediaUrl))
                .col(json_binary_null(TaskRun::Info))
                .foreign_key(&mut fk(
                    "fk_task_run_project",
                    (TaskRun::Table, TaskRun::ProjectId),
                    (Project::Table, Project::Id),
                    Cascade,
                ))
                .foreign_key(&mut fk(
                    "fk_task_run_task",
                    (TaskRun::Table, TaskRun::TaskId),
                    (Task::Table, Task::Id),
                    Cascade,
                ))
                .foreign_key(&mut fk(
                    "fk_task_run_user",
                    (TaskRun::Table, TaskRun::UserId),
                    (Users::Table, Users::Id),
                    SetNull,
                ))
                .to_owned(),
        )
        .await?;
        // One answer per volunteer per task, enforced by the database (NULLs never collide).
        for (name, col) in [
            ("ux_task_run_user", "user_id"),
            ("ux_task_run_ip", "user_ip"),
            ("ux_task_run_external", "external_uid"),
        ] {
            m.create_index(
                index(name, TaskRun::Table, &["task_id", col])
                    .unique()
                    .take(),
            )
            .await?;
        }
        m.create_index(index(
            "ix_task_run_project",
            TaskRun::Table,
            &["project_id", "id"],
        ))
        .await?;
        m.create_index(index(
            "ix_task_run_user_project",
            TaskRun::Table,
            &["user_id", "project_id"],
        ))
        .await?;

        m.create_table(
            Table::create()
                .table(Result::Table)
                .col(pk_auto(Result::Id))
                .col(string(Result::Created))
                .col(integer(Result::ProjectId))
                .col(integer(Result::TaskId))
                .col(json_binary(Result::TaskRunIds))
                .col(boolean(Result::LastVersion).default(true))
                .col(json_binary_null(Result::Info))
                .foreign_key(&mut fk(
                    "fk_result_project",
                    (Result::Table, Result::ProjectId),
                    (Project::Table, Project::Id),
                    Cascade,
                ))
                .foreign_key(&mut fk(
                    "fk_result_task",
                    (Result::Table, Result::TaskId),
                    (Task::Table, Task::Id),
                    Cascade,
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "ix_result_project",
            Result::Table,
            &["project_id", "id"],
        ))
        .await?;
        m.create_index(index(
            "ix_result_task",
            Result::Table,
            &["task_id", "last_version"],
        ))
        .await?;

        m.create_table(
            Table::create()
                .table(Announcement::Table)
                .col(pk_auto(Announcement::Id))
                .col(string(Announcement::Created))
                .col(string(Announcement::Updated))
                .col(integer_null(Announcement::UserId))
                .col(string(Announcement::Title))
                .col(text(Announcement::Body))
                .col(json_binary_null(Announcement::Info))
                .col(text_null(Announcement::MediaUrl))
                .col(boolean(Announcement::Published).default(false))
                .foreign_key(&mut fk(
                    "fk_announcement_user",
                    (Announcement::Table, Announcement::UserId),
                    (Users::Table, Users::Id),
                    SetNull,
                ))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Blogpost::Table)
                .col(pk_auto(Blogpost::Id))
                .col(string(Blogpost::Created))
                .col(string(Blogpost::Updated))
                .col(integer(Blogpost::ProjectId))
                .col(integer_null(Blogpost::UserId))
                .col(string(Blogpost::Title))
                .col(text(Blogpost::Body))
                .col(json_binary_null(Blogpost::Info))
                .col(text_null(Blogpost::MediaUrl))
                .col(boolean(Blogpost::Published).default(false))
                .foreign_key(&mut fk(
                    "fk_blogpost_project",
                    (Blogpost::Table, Blogpost::ProjectId),
                    (Project::Table, Project::Id),
                    Cascade,
                ))
                .foreign_key(&mut fk(
                    "fk_blogpost_user",
                    (Blogpost::Table, Blogpost::UserId),
                    (Users::Table, Users::Id),
                    SetNull,
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "ix_blogpost_project",
            Blogpost::Table,
            &["project_id", "id"],
        ))
        .await?;

        m.create_table(
            Table::create()
                .table(Helpingmaterial::Table)
                .col(pk_auto(Helpingmaterial::Id))
                .col(string(Helpingmaterial::Created))
                .col(integer(Helpingmaterial::ProjectId))
                .col(json_binary_null(Helpingmaterial::Info))
                .col(text_null(Helpingmaterial::MediaUrl))
                .col(double(Helpingmaterial::Priority).default(0.0))
                .foreign_key(&mut fk(
                    "fk_helpingmaterial_project",
                    (Helpingmaterial::Table, Helpingmaterial::ProjectId),
                    (Project::Table, Project::Id),
                    Cascade,
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "ix_helpingmaterial_project",
            Helpingmaterial::Table,
            &["project_id", "id"],
        ))
        .await?;

        m.create_table(
            Table::create()
                .table(Page::Table)
                .col(pk_auto(Page::Id))
                .col(string(Page::Created))
                .col(string(Page::Slug))
                .col(integer(Page::ProjectId))
                .col(json_binary_null(Page::Info))
                .col(text_null(Page::MediaUrl))
                .foreign_key(&mut fk(
                    "fk_page_project",
                    (Page::Table, Page::ProjectId),
                    (Project::Table, Project::Id),
                    Cascade,
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(index(
            "ix_page_project_slug",
            Page::Table,
            &["project_id", "slug"],
        ))
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> std::result::Result<(), DbErr> {
        for table in [
            Page::Table.into_iden(),
            Helpingmaterial::Table.into_iden(),
            Blogpost::Table.into_iden(),
            Announcement::Table.into_iden(),
            Result::Table.into_iden(),
            TaskRun::Table.into_iden(),
            Task::Table.into_iden(),
            ProjectCounter::Table.into_iden(),
            ProjectOwner::Table.into_iden(),
            Project::Table.into_iden(),
            Category::Table.into_iden(),
            Users::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
