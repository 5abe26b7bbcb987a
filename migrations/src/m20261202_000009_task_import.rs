//! Server-side task import (#18):
//! - `task.external_id`: the owner's own id for a task; `task.dedup_key`: what makes a task the
//!   same task on re-import (`x:` + the external id, else `h:` + a hash of `info`), unique per
//!   project, so a re-run of the same file adds nothing twice whoever runs it; `task.gold_answers`:
//!   the expected answer of a gold task, owners' eyes only.
//! - `task_import`: one import and its counts, updated in the same transaction as each batch of
//!   tasks it writes, so the counts are exact and a retried job resumes where it stopped.
//! - `task_import_rejected`: the rows an import refused, with their line and reason.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Task {
    Table,
    ProjectId,
    ExternalId,
    DedupKey,
    GoldAnswers,
}

#[derive(DeriveIden)]
enum Project {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum TaskImport {
    Table,
    Id,
    ProjectId,
    UserId,
    Source,
    Url,
    StoredKey,
    Format,
    Options,
    Status,
    Read,
    Created,
    Duplicates,
    Rejected,
    Errors,
    Message,
    JobId,
    Scheduled,
    CreatedAt,
    Updated,
    Finished,
}

#[derive(DeriveIden)]
enum TaskImportRejected {
    Table,
    Id,
    ImportId,
    Line,
    Reason,
    Raw,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per statement.
        for col in [
            text_null(Task::ExternalId),
            text_null(Task::DedupKey),
            json_binary_null(Task::GoldAnswers),
        ] {
            let mut col = col;
            m.alter_table(
                Table::alter()
                    .table(Task::Table)
                    .add_column(&mut col)
                    .to_owned(),
            )
            .await?;
        }
        // NULL keys (tasks created one by one without an external id) never collide.
        m.create_index(
            Index::create()
                .name("ux_task_dedup")
                .table(Task::Table)
                .col(Task::ProjectId)
                .col(Task::DedupKey)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(TaskImport::Table)
                .col(pk_auto(TaskImport::Id))
                .col(integer(TaskImport::ProjectId))
                .col(integer_null(TaskImport::UserId))
                .col(text(TaskImport::Source))
                .col(text_null(TaskImport::Url))
                .col(text_null(TaskImport::StoredKey))
                .col(string_null(TaskImport::Format))
                .col(json_binary_null(TaskImport::Options))
                .col(string(TaskImport::Status))
                .col(big_integer(TaskImport::Read).default(0))
                .col(big_integer(TaskImport::Created).default(0))
                .col(big_integer(TaskImport::Duplicates).default(0))
                .col(big_integer(TaskImport::Rejected).default(0))
                .col(json_binary_null(TaskImport::Errors))
                .col(text_null(TaskImport::Message))
                .col(integer_null(TaskImport::JobId))
                .col(boolean(TaskImport::Scheduled).default(false))
                .col(string(TaskImport::CreatedAt))
                .col(string(TaskImport::Updated))
                .col(string_null(TaskImport::Finished))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_task_import_project")
                        .from(TaskImport::Table, TaskImport::ProjectId)
                        .to(Project::Table, Project::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_task_import_project")
                .table(TaskImport::Table)
                .col(TaskImport::ProjectId)
                .col(TaskImport::Id)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(TaskImportRejected::Table)
                .col(pk_auto(TaskImportRejected::Id))
                .col(integer(TaskImportRejected::ImportId))
                .col(big_integer(TaskImportRejected::Line))
                .col(text(TaskImportRejected::Reason))
                .col(text(TaskImportRejected::Raw))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_task_import_rejected_import")
                        .from(TaskImportRejected::Table, TaskImportRejected::ImportId)
                        .to(TaskImport::Table, TaskImport::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_task_import_rejected")
                .table(TaskImportRejected::Table)
                .col(TaskImportRejected::ImportId)
                .col(TaskImportRejected::Line)
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(TaskImportRejected::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(TaskImport::Table).to_owned())
            .await?;
        m.drop_index(
            Index::drop()
                .name("ux_task_dedup")
                .table(Task::Table)
                .to_owned(),
        )
        .await?;
        for col in [Task::GoldAnswers, Task::DedupKey, Task::ExternalId] {
            m.alter_table(
                Table::alter()
                    .table(Task::Table)
                    .drop_column(col)
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}
