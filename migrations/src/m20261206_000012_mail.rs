//! Mail (#20):
//! - `mail`: every message the platform sends, written in the transaction that causes it and
//!   sent by a `mail.send` job; without SMTP it stays here as the outbox admins read. Bodies are
//!   cleared once sent, so links in them do not outlive their delivery in the database.
//! - `user.email_pending`: a new address waiting for its confirmation; the account keeps its
//!   old one until then.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Mail {
    Table,
    Id,
    Created,
    Kind,
    UserId,
    ToAddr,
    Subject,
    TextBody,
    HtmlBody,
    Headers,
    Status,
    Attempts,
    LastError,
    SentAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    EmailPending,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Mail::Table)
                .col(pk_auto(Mail::Id))
                .col(string(Mail::Created))
                .col(string(Mail::Kind))
                .col(integer_null(Mail::UserId))
                .col(string(Mail::ToAddr))
                .col(string(Mail::Subject))
                .col(text_null(Mail::TextBody))
                .col(text_null(Mail::HtmlBody))
                .col(json_binary(Mail::Headers))
                .col(string(Mail::Status))
                .col(integer(Mail::Attempts).default(0))
                .col(text_null(Mail::LastError))
                .col(string_null(Mail::SentAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_mail_status")
                .table(Mail::Table)
                .col(Mail::Status)
                .col(Mail::Id)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_mail_user")
                .table(Mail::Table)
                .col(Mail::UserId)
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Users::Table)
                .add_column(string_null(Users::EmailPending))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Users::Table)
                .drop_column(Users::EmailPending)
                .to_owned(),
        )
        .await?;
        m.drop_table(Table::drop().table(Mail::Table).to_owned())
            .await
    }
}
