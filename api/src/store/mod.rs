//! Database access: connections, migrations and the queries shared by several resources.

pub mod counters;
pub mod entities;
pub mod hot;
pub mod jobs;
pub mod settings;

use std::time::Duration;

use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr};
use tessera_migrations::{Migrator, MigratorTrait};

/// How long a connection may sit idle and still be used unchecked: one in use moments ago is
/// alive (a broken one fails its query and is closed).
pub const TRUSTED_IDLE: Duration = Duration::from_secs(5);

/// Opens a connection pool. For SQLite the folder is created and WAL mode is used so readers
/// never wait for the writer.
pub async fn connect(url: &str) -> Result<DatabaseConnection, DbErr> {
    let is_sqlite = url.starts_with("sqlite:");
    if is_sqlite
        && let Some(path) = sqlite_path(url)
        && let Some(parent) = std::path::Path::new(&path).parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent).map_err(|e| DbErr::Custom(e.to_string()))?;
    }
    let mut opts = ConnectOptions::new(url.to_string());
    // sqlx pings every connection it takes from the pool by default: a second round trip for
    // every query. A connection in use seconds ago is alive (a broken one fails its query and
    // is closed); only one idle longer is checked first.
    opts.sqlx_logging(false)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(10))
        .test_before_acquire_if_idle_for(TRUSTED_IDLE);
    if is_sqlite {
        opts.max_connections(8).min_connections(1);
        opts.map_sqlx_sqlite_opts(|o| {
            o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
        });
    } else {
        opts.max_connections(32).min_connections(2);
    }
    Box::pin(Database::connect(opts)).await
}

fn sqlite_path(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next()?;
    (!path.is_empty() && path != ":memory:").then(|| path.to_string())
}

/// Starts a transaction that will write. On SQLite it takes the write lock at `BEGIN`
/// (`IMMEDIATE`): a deferred transaction that upgrades from read to write fails at once with
/// "database is locked" when another writer got there first, instead of waiting its turn.
pub async fn begin_write(db: &DatabaseConnection) -> Result<sea_orm::DatabaseTransaction, DbErr> {
    use sea_orm::{SqliteTransactionMode, TransactionOptions, TransactionTrait};
    db.begin_with_options(TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..TransactionOptions::default()
    })
    .await
}

pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    Migrator::up(db, None).await
}

/// Current time as PYBOSSA writes it: naive UTC ISO-8601 with microseconds.
pub fn now() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.6f")
        .to_string()
}

/// PYBOSSA refreshes `project.updated` whenever one of its tasks or answers changes.
pub async fn touch_project(
    db: &impl sea_orm::ConnectionTrait,
    project_id: crate::ids::ProjectId,
) -> Result<(), DbErr> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
    entities::project::Entity::update_many()
        .col_expr(entities::project::Column::Updated, Expr::value(now()))
        .filter(entities::project::Column::Id.eq(project_id))
        .exec(db)
        .await?;
    Ok(())
}
