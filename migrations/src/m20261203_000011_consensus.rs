//! Consensus and review (#19):
//! - `project_volunteer.excluded_at`: when the owner left this volunteer's answers out of aggregates;
//! - `project_volunteer.confusion`: their Dawid–Skene confusion matrix per field;
//! - `quality_model`: a project's fitted classes and priors per field;
//! - `result.confidence` / `result.reviewed`: the aggregate's confidence and when an owner
//!   reviewed it, so the review queue is an index scan, lowest confidence first.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ProjectVolunteer {
    Table,
    ExcludedAt,
    Confusion,
}

#[derive(DeriveIden)]
enum QualityModel {
    Table,
    ProjectId,
    Model,
    Answers,
    Updated,
}

#[derive(DeriveIden)]
enum Result {
    Table,
    Confidence,
    Reviewed,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> std::result::Result<(), DbErr> {
        // SQLite adds one column per statement.
        for col in [
            string_null(ProjectVolunteer::ExcludedAt),
            json_binary_null(ProjectVolunteer::Confusion),
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
        for col in [
            double_null(Result::Confidence),
            string_null(Result::Reviewed),
        ] {
            let mut col = col;
            m.alter_table(
                Table::alter()
                    .table(Result::Table)
                    .add_column(&mut col)
                    .to_owned(),
            )
            .await?;
        }
        m.create_table(
            Table::create()
                .table(QualityModel::Table)
                .col(integer(QualityModel::ProjectId).primary_key())
                .col(json_binary(QualityModel::Model))
                .col(big_integer(QualityModel::Answers).default(0))
                .col(string(QualityModel::Updated))
                .to_owned(),
        )
        .await?;
        m.get_connection()
            .execute_unprepared(
                "CREATE INDEX ix_result_review ON result (project_id, confidence, id) \
                 WHERE last_version AND reviewed IS NULL",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> std::result::Result<(), DbErr> {
        m.get_connection()
            .execute_unprepared("DROP INDEX ix_result_review")
            .await?;
        m.drop_table(Table::drop().table(QualityModel::Table).to_owned())
            .await?;
        for col in [Result::Confidence, Result::Reviewed] {
            m.alter_table(
                Table::alter()
                    .table(Result::Table)
                    .drop_column(col)
                    .to_owned(),
            )
            .await?;
        }
        for col in [ProjectVolunteer::ExcludedAt, ProjectVolunteer::Confusion] {
            m.alter_table(
                Table::alter()
                    .table(ProjectVolunteer::Table)
                    .drop_column(col)
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}
