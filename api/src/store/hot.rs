//! Connections for the one read every `newtask` makes (its candidate read), kept out of the pool
//! between reads. sqlx checks every connection handed back to its pool with a round trip to the
//! server (a `Sync`, even after a clean, finished statement), so a one-statement read cost two
//! round trips; a connection kept here goes back on the stack unchecked. It is put back only
//! after its statement ran to the end, so it is never left mid-protocol; one that fails, or that
//! the caller dropped mid-read, goes back to the pool, which checks or closes it. When the
//! server drops the connections (a restart), the read still succeeds on a live one.

use std::{
    sync::Mutex,
    time::{Duration, Instant},
};

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, DbErr, QueryResult, RuntimeErr, Statement,
    Values,
    sqlx::{self, Connection, PgConnection, Postgres, pool::PoolConnection},
};
use sea_query_sqlx::SqlxValues;

/// Connections kept at most: about the reads in flight at once on a busy instance. They count
/// against the pool's size while kept.
const KEPT: usize = 8;

/// A kept connection goes back to the pool after this long, so that the pool's own lifetime
/// and health checks still see it now and then.
const KEEP_FOR: Duration = Duration::from_secs(60);

struct Kept {
    /// When it was taken from the pool.
    since: Instant,
    /// When its last read ended.
    used: Instant,
    conn: PoolConnection<Postgres>,
}

pub struct HotReads {
    db: DatabaseConnection,
    kept: Mutex<Vec<Kept>>,
}

impl HotReads {
    pub fn new(db: DatabaseConnection) -> Self {
        Self {
            db,
            kept: Mutex::new(Vec::with_capacity(KEPT)),
        }
    }

    /// All rows of `stmt`, as `ConnectionTrait::query_all_raw` gives them.
    pub async fn query_all(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        if self.db.get_database_backend() != DbBackend::Postgres {
            return Box::pin(self.db.query_all_raw(stmt)).await;
        }
        let mut lost_one = false;
        while let Some(Kept {
            since, mut conn, ..
        }) = self.take()
        {
            match run(&mut conn, &stmt).await {
                Ok(rows) => {
                    self.put_back(since, conn);
                    return Ok(rows);
                }
                // The server went away (a restart, a failover): the other kept connections
                // are tried in turn, and dropped too if they are as dead.
                Err(e) if lost(&e) => lost_one = true,
                Err(e) => return Err(query_err(e)),
            }
        }
        Box::pin(self.on_pool_connection(&stmt, lost_one)).await
    }

    /// The read on a connection from the pool, with none kept (or none of them alive).
    async fn on_pool_connection(
        &self,
        stmt: &Statement,
        mut lost_one: bool,
    ) -> Result<Vec<QueryResult>, DbErr> {
        let pool = self.db.get_postgres_connection_pool();
        loop {
            let mut conn = Box::pin(pool.acquire())
                .await
                .map_err(|e| DbErr::Conn(RuntimeErr::SqlxError(e.into())))?;
            // After a lost connection the pool's idle ones may be as dead: each is checked
            // first, and a dead one closed.
            if lost_one && conn.ping().await.is_err() {
                continue;
            }
            match run(&mut conn, stmt).await {
                Ok(rows) => {
                    self.put_back(Instant::now(), conn);
                    return Ok(rows);
                }
                // Once more, on a connection checked first.
                Err(e) if lost(&e) && !lost_one => lost_one = true,
                Err(e) => return Err(query_err(e)),
            }
        }
    }

    /// The last kept connection used lately. The ones idle too long go back to the pool, which
    /// checks them as it checks its own ([`super::TRUSTED_IDLE`]); a quiet instance so hands
    /// its kept connections back.
    fn take(&self) -> Option<Kept> {
        let mut kept = self.kept.lock().ok()?;
        while let Some(k) = kept.pop() {
            if k.used.elapsed() < super::TRUSTED_IDLE {
                return Some(k);
            }
        }
        None
    }

    fn put_back(&self, since: Instant, conn: PoolConnection<Postgres>) {
        if since.elapsed() < KEEP_FOR
            && let Ok(mut kept) = self.kept.lock()
            && kept.len() < KEPT
        {
            kept.push(Kept {
                since,
                used: Instant::now(),
                conn,
            });
        }
    }
}

fn query_err(e: sqlx::Error) -> DbErr {
    DbErr::Query(RuntimeErr::SqlxError(e.into()))
}

async fn run(conn: &mut PgConnection, stmt: &Statement) -> Result<Vec<QueryResult>, sqlx::Error> {
    let values = SqlxValues(stmt.values.clone().unwrap_or(Values(Vec::new())));
    let rows = sqlx::query_with(sqlx::AssertSqlSafe(stmt.sql.as_str()), values)
        .fetch_all(conn)
        .await?;
    Ok(rows.into_iter().map(QueryResult::from).collect())
}

/// The connection is gone rather than the statement refused: I/O, a connection exception
/// (SQLSTATE class 08), or the server ending the session (57P01 admin shutdown, 57P02 crash
/// shutdown, 57P03 cannot connect now, 57P05 idle session timeout). Not a cancelled statement
/// (57014, a statement timeout): the connection is fine and the read would only be slow again.
fn lost(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) | sqlx::Error::Protocol(_) => true,
        sqlx::Error::Database(d) => d.code().is_some_and(|c| {
            c.starts_with("08") || matches!(c.as_ref(), "57P01" | "57P02" | "57P03" | "57P05")
        }),
        _ => false,
    }
}
