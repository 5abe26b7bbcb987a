//! Indexes for the schedulers, and at most one current result per task.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // breadth_first: fewest answers first among a project's open tasks.
        m.create_index(
            Index::create()
                .name("ix_task_project_breadth")
                .table(Alias::new("task"))
                .col(Alias::new("project_id"))
                .col(Alias::new("state"))
                .col(Alias::new("n_task_runs"))
                .col(Alias::new("id"))
                .to_owned(),
        )
        .await?;
        // Completion creates exactly one current result; the database makes sure of it.
        m.get_connection()
            .execute_unprepared(
                "CREATE UNIQUE INDEX ux_result_current ON result (task_id) WHERE last_version",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.get_connection()
            .execute_unprepared("DROP INDEX IF EXISTS ux_result_current")
            .await?;
        m.drop_index(
            Index::drop()
                .name("ix_task_project_breadth")
                .table(Alias::new("task"))
                .to_owned(),
        )
        .await
    }
}
