//! A fresh site has a category from its first start, as PYBOSSA's has, so that clients listing
//! categories (pybossa-client's `get_categories`) find one before any project exists.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.get_connection()
            .execute_unprepared(
                "INSERT INTO category (name, short_name, description, created, info) \
                 SELECT 'General', 'general', 'Projects of every kind', \
                        '2026-12-02T00:00:00.000000', '{}' \
                 WHERE NOT EXISTS (SELECT 1 FROM category)",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, _m: &SchemaManager) -> Result<(), DbErr> {
        // The category may be in use by then; it stays.
        Ok(())
    }
}
