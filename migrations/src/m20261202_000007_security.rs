//! What the security audit asked of the schema:
//! - `site_setting`: values generated once per database and kept (the token secret when
//!   `TESSERA_SECRET` is unset, the key that hashes anonymous volunteers' addresses, the
//!   database's id that prefixes its Redis keys);
//! - `upload`: which stored file belongs to which object, recorded by the server, so deleting
//!   an object deletes only its own files;
//! - `users.token_version`: bearer tokens carry it, and sign-out, a password change or a new
//!   api key raise it;
//! - account names and e-mail addresses unique whatever their case.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum SiteSetting {
    Table,
    Key,
    Value,
    Created,
}

#[derive(DeriveIden)]
enum Upload {
    Table,
    Id,
    StorageKey,
    Target,
    ObjectId,
    Created,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    TokenVersion,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(SiteSetting::Table)
                .col(string(SiteSetting::Key).primary_key())
                .col(text(SiteSetting::Value))
                .col(string(SiteSetting::Created))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Upload::Table)
                .col(pk_auto(Upload::Id))
                .col(string_uniq(Upload::StorageKey))
                .col(string(Upload::Target))
                .col(integer(Upload::ObjectId))
                .col(string(Upload::Created))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("upload_object")
                .table(Upload::Table)
                .col(Upload::Target)
                .col(Upload::ObjectId)
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Users::Table)
                .add_column(integer(Users::TokenVersion).default(0))
                .to_owned(),
        )
        .await?;
        let db = m.get_connection();
        // Sign-up always lower-cased e-mail addresses; `PUT /api/user` did not.
        db.execute_unprepared("UPDATE users SET email_addr = lower(email_addr)")
            .await?;
        db.execute_unprepared("CREATE UNIQUE INDEX users_name_ci ON users (lower(name))")
            .await?;
        db.execute_unprepared("CREATE UNIQUE INDEX users_email_ci ON users (lower(email_addr))")
            .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        db.execute_unprepared("DROP INDEX users_email_ci").await?;
        db.execute_unprepared("DROP INDEX users_name_ci").await?;
        m.alter_table(
            Table::alter()
                .table(Users::Table)
                .drop_column(Users::TokenVersion)
                .to_owned(),
        )
        .await?;
        m.drop_table(Table::drop().table(Upload::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(SiteSetting::Table).to_owned())
            .await
    }
}
