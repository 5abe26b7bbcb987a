//! What the platform runs on, in one bundle handed down to the domain: the databases, the
//! key-value store, file storage, metrics, signing keys, configuration and the job queue's
//! wake-up. Nothing in it knows a domain rule.

use std::sync::Arc;

use sea_orm::{DatabaseConnection, DbBackend};

use crate::{
    auth::token::TokenKeys, config::Config, kv::Kv, mailer::Mailer, metrics::Metrics,
    storage::Storage,
};

pub struct Infra {
    pub config: Config,
    /// Primary database: every write, and every read that must see the caller's own writes.
    pub db: DatabaseConnection,
    /// Replica for reads that may lag (listings, stats); the primary when none is configured.
    pub read_db: DatabaseConnection,
    pub kv: Kv,
    pub storage: Arc<dyn Storage>,
    pub metrics: Metrics,
    pub tokens: TokenKeys,
    /// Outgoing mail's SMTP transport, if configured.
    pub mailer: Mailer,
    /// Keys the hash of anonymous volunteers' addresses; kept in the database.
    pub anon_key: Vec<u8>,
    /// Wakes this process's workers when it enqueues a job (others find it by polling).
    pub jobs_wake: tokio::sync::Notify,
}

impl Infra {
    pub fn backend(&self) -> DbBackend {
        self.db.get_database_backend()
    }

    pub fn backend_name(&self) -> &'static str {
        match self.backend() {
            DbBackend::Postgres => "postgres",
            DbBackend::Sqlite => "sqlite",
            _ => "other",
        }
    }
}
