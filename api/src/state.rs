//! Process-wide state handed to every handler.

use std::sync::Arc;

use sea_orm::{DatabaseConnection, DbBackend};

use crate::{auth::token::TokenKeys, config::Config, kv::Kv, storage::Storage};

pub struct AppState {
    pub config: Config,
    /// Primary database: every write, and every read that must see the caller's own writes.
    pub db: DatabaseConnection,
    /// Replica for reads that may lag (listings, stats); the primary when none is configured.
    pub read_db: DatabaseConnection,
    pub tokens: TokenKeys,
    /// Keys the hash of anonymous volunteers' addresses; kept in the database.
    pub anon_key: Vec<u8>,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    pub storage: Arc<dyn Storage>,
    pub kv: Kv,
    pub metrics: crate::metrics::Metrics,
    /// Wakes this process's workers when it enqueues a job (others find it by polling).
    pub jobs_wake: tokio::sync::Notify,
    /// Project rows the volunteer loop reads, kept for a second.
    pub projects: crate::domain::platform::cache::ProjectRows,
    /// Signed-in callers' account rows, kept for a second.
    pub accounts: crate::domain::platform::cache::AccountRows,
    /// Group commit of answers, on PostgreSQL unless turned off.
    pub batcher: Option<crate::domain::volunteer::batch::Batcher>,
    /// How deep newtask scans find a task, per project.
    pub scan_depth: crate::domain::volunteer::scheduler::ScanDepth,
    /// Volunteers' places in oldest-first scans and their holds, as this instance set them.
    pub volunteers: crate::domain::volunteer::scheduler::Volunteers,
    /// Tasks found full lately, left out of scans.
    pub full_tasks: crate::domain::volunteer::scheduler::FullTasks,
    /// The SQL of newtask's candidate reads, per shape.
    pub candidate_sql: crate::domain::volunteer::candidates::CandidateSql,
    /// Connections for the candidate reads, on `read_db`.
    pub hot_reads: crate::store::hot::HotReads,
    /// Project tokens found valid lately.
    pub checked_tokens: crate::domain::volunteer::identity::CheckedTokens,
}

impl AppState {
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
