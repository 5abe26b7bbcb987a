//! Schema migrations. Each file is one step; all of them run on SQLite and PostgreSQL.

pub use sea_orm_migration::prelude::*;

mod m20261127_000001_initial;
mod m20261127_000002_volunteer_loop;
mod m20261127_000003_sqlite_fulltext;
mod m20261127_000004_platform;
mod m20261127_000005_user_enabled;
mod m20261127_000006_counter_shards;
mod m20261202_000007_security;
mod m20261202_000008_first_category;
mod m20261202_000009_task_import;
mod m20261203_000010_gold;
mod m20261203_000011_consensus;
mod m20261206_000012_mail;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261127_000001_initial::Migration),
            Box::new(m20261127_000002_volunteer_loop::Migration),
            Box::new(m20261127_000003_sqlite_fulltext::Migration),
            Box::new(m20261127_000004_platform::Migration),
            Box::new(m20261127_000005_user_enabled::Migration),
            Box::new(m20261127_000006_counter_shards::Migration),
            Box::new(m20261202_000007_security::Migration),
            Box::new(m20261202_000008_first_category::Migration),
            Box::new(m20261202_000009_task_import::Migration),
            Box::new(m20261203_000010_gold::Migration),
            Box::new(m20261203_000011_consensus::Migration),
            Box::new(m20261206_000012_mail::Migration),
        ]
    }
}
