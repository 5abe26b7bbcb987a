//! Gold tasks (#19):
//! - `task_run.gold_correct`: for an answer to a gold task, whether it matched the task's
//!   `gold_answers` (NULL for every other answer), so a recount can rebuild the volunteers' gold
//!   counts from the answers alone;
//! - `project_volunteer.gold_seen` / `gold_correct`: those counts per volunteer, updated in the
//!   answer's transaction (one row per volunteer: no hot row);
//! - `ix_task_gold`: a project's gold tasks, found without reading its other tasks.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum TaskRun {
    Table,
    GoldCorrect,
}

#[derive(DeriveIden)]
enum ProjectVolunteer {
    Table,
    GoldSeen,
    GoldCorrect,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(TaskRun::Table)
                .add_column(boolean_null(TaskRun::GoldCorrect))
                .to_owned(),
        )
        .await?;
        // SQLite adds one column per statement.
        for col in [
            big_integer(ProjectVolunteer::GoldSeen)
                .default(0)
                .to_owned(),
            big_integer(ProjectVolunteer::GoldCorrect)
                .default(0)
                .to_owned(),
        ] {
            let mut col = col;
            m.alter_table(
                Table::alter()
                    .table(ProjectVolunteer::Table)
                    .add_column(&mut col)
                    .to_owned(),
            )
            .await?;
        }
        // Partial: both backends take the WHERE; sea-query's builder has none.
        m.get_connection()
            .execute_unprepared(
                "CREATE INDEX ix_task_gold ON task (project_id, id) WHERE calibration = 1",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.get_connection()
            .execute_unprepared("DROP INDEX ix_task_gold")
            .await?;
        for col in [ProjectVolunteer::GoldSeen, ProjectVolunteer::GoldCorrect] {
            m.alter_table(
                Table::alter()
                    .table(ProjectVolunteer::Table)
                    .drop_column(col)
                    .to_owned(),
            )
            .await?;
        }
        m.alter_table(
            Table::alter()
                .table(TaskRun::Table)
                .drop_column(TaskRun::GoldCorrect)
                .to_owned(),
        )
        .await
    }
}
