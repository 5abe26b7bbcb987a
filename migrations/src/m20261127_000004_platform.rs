//! Platform services: the job queue, webhook endpoints and their delivery log, and the
//! incremental statistics (volunteers per project, answers per hour, answer durations).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Job {
    Table,
    Id,
    Kind,
    Payload,
    Status,
    Attempts,
    MaxAttempts,
    RunAt,
    LockedBy,
    LockedUntil,
    LastError,
    DedupeKey,
    Created,
    Updated,
}

#[derive(DeriveIden)]
enum WebhookEndpoint {
    Table,
    ProjectId,
    Secret,
    Events,
    Created,
    Updated,
}

#[derive(DeriveIden)]
enum WebhookDelivery {
    Table,
    Id,
    ProjectId,
    Event,
    MessageId,
    Payload,
    Status,
    Attempts,
    ResponseStatusCode,
    Response,
    Created,
    Updated,
}

#[derive(DeriveIden)]
enum ProjectVolunteer {
    Table,
    ProjectId,
    Volunteer,
    UserId,
    Anonymous,
    NAnswers,
    FirstAnswer,
    LastAnswer,
}

#[derive(DeriveIden)]
enum ProjectActivity {
    Table,
    ProjectId,
    Hour,
    Shard,
    NAnswers,
    NAnon,
    NCompleted,
}

#[derive(DeriveIden)]
enum ProjectCounter {
    Table,
    AnswerMs,
    NVolunteersAuth,
    NVolunteersAnon,
    NAnswersExpected,
}

#[derive(DeriveIden)]
enum Project {
    Table,
    Id,
}

fn cascade_to_project(name: &str, from: impl IntoIden) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from_tbl(from)
        .from_col(Alias::new("project_id"))
        .to(Project::Table, Project::Id)
        .on_delete(ForeignKeyAction::Cascade)
        .take()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // Jobs are claimed by `(status, run_at)`; times are epoch milliseconds so backoff and
        // lease arithmetic need no date functions on either database.
        m.create_table(
            Table::create()
                .table(Job::Table)
                .col(pk_auto(Job::Id))
                .col(string(Job::Kind))
                .col(json_binary(Job::Payload))
                .col(string(Job::Status))
                .col(integer(Job::Attempts).default(0))
                .col(integer(Job::MaxAttempts))
                .col(big_integer(Job::RunAt))
                .col(string_null(Job::LockedBy))
                .col(big_integer_null(Job::LockedUntil))
                .col(text_null(Job::LastError))
                .col(string_null(Job::DedupeKey).unique_key())
                .col(string(Job::Created))
                .col(string(Job::Updated))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_job_claim")
                .table(Job::Table)
                .col(Job::Status)
                .col(Job::RunAt)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(WebhookEndpoint::Table)
                .col(integer(WebhookEndpoint::ProjectId).primary_key())
                .col(string(WebhookEndpoint::Secret))
                .col(json_binary(WebhookEndpoint::Events))
                .col(string(WebhookEndpoint::Created))
                .col(string(WebhookEndpoint::Updated))
                .foreign_key(&mut cascade_to_project(
                    "fk_webhook_endpoint_project",
                    WebhookEndpoint::Table,
                ))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(WebhookDelivery::Table)
                .col(pk_auto(WebhookDelivery::Id))
                .col(integer(WebhookDelivery::ProjectId))
                .col(string(WebhookDelivery::Event))
                .col(string(WebhookDelivery::MessageId).unique_key())
                .col(json_binary(WebhookDelivery::Payload))
                .col(string(WebhookDelivery::Status))
                .col(integer(WebhookDelivery::Attempts).default(0))
                .col(integer_null(WebhookDelivery::ResponseStatusCode))
                .col(text_null(WebhookDelivery::Response))
                .col(string(WebhookDelivery::Created))
                .col(string(WebhookDelivery::Updated))
                .foreign_key(&mut cascade_to_project(
                    "fk_webhook_delivery_project",
                    WebhookDelivery::Table,
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_webhook_delivery_project")
                .table(WebhookDelivery::Table)
                .col(WebhookDelivery::ProjectId)
                .col(WebhookDelivery::Id)
                .to_owned(),
        )
        .await?;

        // One row per volunteer and project: distinct volunteers and per-project leaderboards
        // without scanning answers.
        m.create_table(
            Table::create()
                .table(ProjectVolunteer::Table)
                .col(integer(ProjectVolunteer::ProjectId))
                .col(string(ProjectVolunteer::Volunteer))
                .col(integer_null(ProjectVolunteer::UserId))
                .col(boolean(ProjectVolunteer::Anonymous))
                .col(big_integer(ProjectVolunteer::NAnswers).default(0))
                .col(string(ProjectVolunteer::FirstAnswer))
                .col(string(ProjectVolunteer::LastAnswer))
                .primary_key(
                    Index::create()
                        .col(ProjectVolunteer::ProjectId)
                        .col(ProjectVolunteer::Volunteer),
                )
                .foreign_key(&mut cascade_to_project(
                    "fk_project_volunteer_project",
                    ProjectVolunteer::Table,
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_project_volunteer_user")
                .table(ProjectVolunteer::Table)
                .col(ProjectVolunteer::UserId)
                .to_owned(),
        )
        .await?;

        // Answers per project and hour, sharded like the counters so one busy hour is not a
        // hot row.
        m.create_table(
            Table::create()
                .table(ProjectActivity::Table)
                .col(integer(ProjectActivity::ProjectId))
                .col(big_integer(ProjectActivity::Hour))
                .col(integer(ProjectActivity::Shard))
                .col(big_integer(ProjectActivity::NAnswers).default(0))
                .col(big_integer(ProjectActivity::NAnon).default(0))
                .col(big_integer(ProjectActivity::NCompleted).default(0))
                .primary_key(
                    Index::create()
                        .col(ProjectActivity::ProjectId)
                        .col(ProjectActivity::Hour)
                        .col(ProjectActivity::Shard),
                )
                .foreign_key(&mut cascade_to_project(
                    "fk_project_activity_project",
                    ProjectActivity::Table,
                ))
                .to_owned(),
        )
        .await?;

        // SQLite adds one column per ALTER TABLE.
        for col in [
            ProjectCounter::AnswerMs,
            ProjectCounter::NVolunteersAuth,
            ProjectCounter::NVolunteersAnon,
            ProjectCounter::NAnswersExpected,
        ] {
            m.alter_table(
                Table::alter()
                    .table(ProjectCounter::Table)
                    .add_column(big_integer(col).default(0))
                    .to_owned(),
            )
            .await?;
        }
        // Existing projects: expected answers from their tasks.
        m.get_connection()
            .execute_unprepared(
                "UPDATE project_counter SET n_answers_expected = \
                 (SELECT COALESCE(SUM(n_answers), 0) FROM task WHERE task.project_id = project_counter.project_id) \
                 WHERE shard = 0",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for col in [
            ProjectCounter::AnswerMs,
            ProjectCounter::NVolunteersAuth,
            ProjectCounter::NVolunteersAnon,
            ProjectCounter::NAnswersExpected,
        ] {
            m.alter_table(
                Table::alter()
                    .table(ProjectCounter::Table)
                    .drop_column(col)
                    .to_owned(),
            )
            .await?;
        }
        for table in [
            ProjectActivity::Table.into_iden(),
            ProjectVolunteer::Table.into_iden(),
            WebhookDelivery::Table.into_iden(),
            WebhookEndpoint::Table.into_iden(),
            Job::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
