//! Read-through cache for costly reads (statistics, leaderboards) in the key-value store
//! (Redis, or in process). Entries are dropped by the writes that change them, so what a caller
//! reads is at most a moment old; the TTL only bounds what a missed invalidation could leave.
//! When the store is unreachable the value is computed from the database (counted, never an
//! error).

use std::{future::Future, sync::Arc, time::Duration};

use sea_orm::{ConnectionTrait, EntityTrait};
use serde_json::Value as Json;

use crate::{
    error::{ApiError, ApiResult},
    ids::{ProjectId, UserId},
    infra::Infra,
    kv::Kv,
    store::entities::{project, user},
};

pub const GLOBAL_STATS: &str = "cache:globalstats";
pub const LEADERBOARD: &str = "cache:leaderboard";

/// Generation of the public project listings: dropping it retires every cached listing at once
/// (the next reader starts a new generation).
pub const PROJECT_LISTINGS: &str = "cache:projects:generation";
/// How long a public listing may be served from the cache if nothing retires it first.
const LISTING_TTL: Duration = Duration::from_secs(60);

pub fn project_stats_key(project_id: ProjectId, full: bool) -> String {
    if full {
        format!("cache:projectstats:{project_id}:full")
    } else {
        format!("cache:projectstats:{project_id}")
    }
}

pub fn project_leaderboard_key(project_id: ProjectId) -> String {
    format!("{LEADERBOARD}:{project_id}")
}

/// Every entry a change to the project's tasks or answers makes stale.
pub fn keys_for_project(project_id: ProjectId) -> Vec<String> {
    vec![
        project_stats_key(project_id, false),
        project_stats_key(project_id, true),
        project_leaderboard_key(project_id),
        GLOBAL_STATS.into(),
        LEADERBOARD.into(),
    ]
}

/// A public (anonymous) project listing — front page, category and featured pages — cached per
/// query until a project, category or task write retires the listings' generation.
pub async fn project_listing<F, Fut>(
    infra: &Infra,
    base: &str,
    query: &str,
    compute: F,
) -> ApiResult<Json>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = ApiResult<Json>>,
{
    let generation = match infra.kv.get(PROJECT_LISTINGS).await {
        Ok(Some(g)) => g,
        Ok(None) => {
            let g = uuid::Uuid::new_v4().simple().to_string();
            infra
                .kv
                .set(PROJECT_LISTINGS, &g, Duration::from_secs(86_400))
                .await;
            g
        }
        Err(_) => {
            infra.metrics.cache_lookup("projects", "error");
            return compute().await;
        }
    };
    let key = format!("cache:projects:{generation}:{base}?{query}");
    cached(infra, "projects", &key, LISTING_TTL, compute).await
}

/// Returns the cached value of `key`, or computes, stores and returns it. `name` labels the
/// hit/miss metrics.
pub async fn cached<F, Fut>(
    infra: &Infra,
    name: &str,
    key: &str,
    ttl: Duration,
    compute: F,
) -> ApiResult<Json>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = ApiResult<Json>>,
{
    let reachable = match infra.kv.get(key).await {
        Ok(Some(raw)) => match serde_json::from_str(&raw) {
            Ok(value) => {
                infra.metrics.cache_lookup(name, "hit");
                return Ok(value);
            }
            Err(_) => true,
        },
        Ok(None) => true,
        Err(_) => false,
    };
    infra
        .metrics
        .cache_lookup(name, if reachable { "miss" } else { "error" });
    let value = compute().await?;
    if reachable {
        infra.kv.set(key, &value.to_string(), ttl).await;
    }
    Ok(value)
}

/// The rows kept in this process that a write must drop with the shared entries it names.
#[derive(Clone, Copy)]
pub struct LocalRows<'a> {
    pub projects: &'a ProjectRows,
    pub accounts: &'a AccountRows,
}

/// Drops the entries `keys` name: in the store, and the rows kept in this process.
pub async fn invalidate(kv: &Kv, local: LocalRows<'_>, keys: &[String]) {
    for key in keys {
        if let Some(id) = key.strip_prefix(PROJECT_ROW).and_then(|id| id.parse().ok()) {
            local.projects.forget(ProjectId(id)).await;
        }
        if let Some(id) = key.strip_prefix(ACCOUNT_ROW).and_then(|id| id.parse().ok()) {
            local.accounts.forget(UserId(id)).await;
        }
    }
    kv.delete_many(keys).await;
}

/// Names an account's row among stale keys (see [`AccountRows`]).
const ACCOUNT_ROW: &str = "cache:account:";

pub fn account_row_key(user_id: UserId) -> String {
    format!("{ACCOUNT_ROW}{user_id}")
}

/// How long another instance's change to an account (a new api key, revoked tokens, disabled,
/// made admin) may go unseen; the instance that made it sees it at once.
const ACCOUNT_ROW_TTL: Duration = Duration::from_secs(1);
/// Accounts kept at most.
const ACCOUNT_ROWS_MAX: u64 = 16_384;

/// Signed-in callers' account rows, kept in process for a second: every request with an api key
/// or a bearer token needs its account (enabled, admin, token version), and reading it was a
/// database round trip per request. Keyed by id, with the api keys seen leading to their id; a
/// key is always compared with the row's own (in constant time) before it is taken.
pub struct AccountRows {
    by_id: SharedRows<UserId, Arc<user::Model>>,
    by_key: SharedRows<String, UserId>,
}

impl Default for AccountRows {
    fn default() -> Self {
        Self {
            by_id: SharedRows::new(ACCOUNT_ROWS_MAX, ACCOUNT_ROW_TTL),
            by_key: SharedRows::new(ACCOUNT_ROWS_MAX, ACCOUNT_ROW_TTL),
        }
    }
}

impl AccountRows {
    /// The account with this id.
    pub async fn by_id(
        &self,
        db: &impl ConnectionTrait,
        id: UserId,
    ) -> ApiResult<Option<Arc<user::Model>>> {
        let read = || async { Ok(user::Entity::find_by_id(id.0).one(db).await?.map(Arc::new)) };
        self.by_id.get(id, read).await
    }

    /// The account whose api key this is.
    pub async fn by_key(
        &self,
        db: &impl ConnectionTrait,
        key: &str,
    ) -> ApiResult<Option<Arc<user::Model>>> {
        use sea_orm::{ColumnTrait, QueryFilter};
        use subtle::ConstantTimeEq;
        let same = |u: &user::Model| bool::from(u.api_key.as_bytes().ct_eq(key.as_bytes()));
        // Looked up through the unique index, then confirmed in constant time so the
        // comparison itself leaks nothing about how much of a key matched.
        let read = || async {
            let found = user::Entity::find()
                .filter(user::Column::ApiKey.eq(key))
                .one(db)
                .await?
                .filter(|u| same(u));
            Ok(found.map(|u| UserId(u.id)))
        };
        let Some(id) = self.by_key.get(key.to_string(), read).await? else {
            return Ok(None);
        };
        // A key that led to an account once is checked against the account's current key.
        Ok(self.by_id(db, id).await?.filter(|row| same(row)))
    }

    pub async fn forget(&self, id: UserId) {
        self.by_id.forget(id).await;
    }
}

/// Why a load kept nothing: there is no such row, or the database failed.
enum Miss {
    Absent,
    Db(sea_orm::DbErr),
}

/// Rows kept in process for a moment, read once however many ask at the same moment (callers
/// that miss together wait for the first one's read: moka's `try_get_with`), and never older
/// than the last `forget` of their key: a read that began before it is not served, not even to
/// the callers that joined it after the forget, who read again. Finding nothing is not kept.
struct SharedRows<K, V> {
    rows: moka::future::Cache<K, (u64, V)>,
    /// Counts forgets; a row remembers its value when its read began.
    clock: std::sync::atomic::AtomicU64,
    /// When each key was last forgotten, kept longer than any read takes.
    forgotten: moka::sync::Cache<K, u64>,
}

/// How long a forget is remembered: past any read in flight when it happened.
const FORGOTTEN_FOR: Duration = Duration::from_secs(60);

impl<K, V> SharedRows<K, V>
where
    K: std::hash::Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    fn new(max: u64, ttl: Duration) -> Self {
        Self {
            rows: moka::future::Cache::builder()
                .max_capacity(max)
                .time_to_live(ttl)
                .build(),
            clock: std::sync::atomic::AtomicU64::new(0),
            forgotten: moka::sync::Cache::builder()
                .max_capacity(max)
                .time_to_live(FORGOTTEN_FOR)
                .build(),
        }
    }

    /// Whether a row read from `read_at` on is still good for `key`.
    fn current(&self, key: &K, read_at: u64) -> bool {
        self.forgotten.get(key).is_none_or(|at| at < read_at)
    }

    async fn get<F, Fut>(&self, key: K, read: F) -> ApiResult<Option<V>>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<Option<V>, sea_orm::DbErr>>,
    {
        use std::sync::atomic::Ordering;
        if let Some((read_at, row)) = self.rows.get(&key).await {
            if self.current(&key, read_at) {
                return Ok(Some(row));
            }
            self.rows.invalidate(&key).await;
        }
        let init = async {
            let read_at = self.clock.load(Ordering::SeqCst) + 1;
            match read().await {
                Ok(Some(row)) => Ok((read_at, row)),
                Ok(None) => Err(Miss::Absent),
                Err(e) => Err(Miss::Db(e)),
            }
        };
        match Box::pin(self.rows.try_get_with(key.clone(), init)).await {
            Ok((read_at, row)) if self.current(&key, read_at) => Ok(Some(row)),
            // The shared read began before a forget: read again, alone.
            Ok(_) => {
                self.rows.invalidate(&key).await;
                Ok(Box::pin(read()).await?)
            }
            Err(miss) => match Arc::try_unwrap(miss) {
                Ok(Miss::Absent) => Ok(None),
                Ok(Miss::Db(e)) => Err(e.into()),
                // Several callers waited on the one read that failed.
                Err(shared) => match &*shared {
                    Miss::Absent => Ok(None),
                    Miss::Db(e) => Err(ApiError::from_shared_db(e)),
                },
            },
        }
    }

    async fn forget(&self, key: K) {
        use std::sync::atomic::Ordering;
        let at = self.clock.fetch_add(1, Ordering::SeqCst) + 1;
        self.forgotten.insert(key.clone(), at);
        self.rows.invalidate(&key).await;
    }
}

/// Names a project's row among stale keys (see [`ProjectRows`]).
const PROJECT_ROW: &str = "cache:project:";

pub fn project_row_key(project_id: ProjectId) -> String {
    format!("{PROJECT_ROW}{project_id}")
}

/// How long another instance's change to a project may go unseen by the volunteer loop.
const PROJECT_ROW_TTL: Duration = Duration::from_secs(1);
/// Rows kept at most; past it the least used go.
const PROJECT_ROWS_MAX: u64 = 4096;

/// Project rows for the volunteer loop, kept in process for a second. Every `newtask` and
/// answer needs its project (scheduler, token secret, anonymous policy), and reading it was
/// two of a pair's database round trips. A write in this process drops the row at once
/// ([`invalidate`] with [`project_row_key`]); other instances see it within `PROJECT_ROW_TTL`.
pub struct ProjectRows {
    rows: SharedRows<ProjectId, Arc<project::Model>>,
}

impl Default for ProjectRows {
    fn default() -> Self {
        Self {
            rows: SharedRows::new(PROJECT_ROWS_MAX, PROJECT_ROW_TTL),
        }
    }
}

impl ProjectRows {
    pub async fn get(
        &self,
        db: &impl ConnectionTrait,
        id: ProjectId,
    ) -> ApiResult<Option<Arc<project::Model>>> {
        let read = || async {
            Ok(project::Entity::find_by_id(id.0)
                .one(db)
                .await?
                .map(Arc::new))
        };
        self.rows.get(id, read).await
    }

    pub async fn forget(&self, id: ProjectId) {
        self.rows.forget(id).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn callers_that_miss_together_share_one_read() {
        let rows: SharedRows<i32, Arc<String>> = SharedRows::new(8, Duration::from_secs(60));
        let reads = AtomicUsize::new(0);
        let read = |found: bool| {
            let reads = &reads;
            move || async move {
                reads.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(50)).await;
                Ok(found.then(|| Arc::new("row".to_string())))
            }
        };
        let got = futures_util::future::join_all((0..10).map(|_| rows.get(1, read(true)))).await;
        assert!(
            got.iter()
                .all(|g| matches!(g, Ok(Some(v)) if v.as_str() == "row"))
        );
        assert_eq!(reads.load(Ordering::SeqCst), 1, "one read for ten callers");
        // Then it is kept.
        assert!(Box::pin(rows.get(1, read(true))).await.is_ok());
        assert_eq!(reads.load(Ordering::SeqCst), 1);
        // Finding nothing is not kept: the next caller reads again.
        assert!(matches!(Box::pin(rows.get(2, read(false))).await, Ok(None)));
        assert!(matches!(Box::pin(rows.get(2, read(false))).await, Ok(None)));
        assert_eq!(reads.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_forget_beats_a_read_already_in_flight() {
        let rows: SharedRows<i32, u32> = SharedRows::new(8, Duration::from_secs(60));
        let version = std::sync::atomic::AtomicU32::new(1);
        let read = || async {
            // The row as the read finds it when it starts, returned a moment later.
            let seen = version.load(Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(100)).await;
            Ok(Some(seen))
        };
        let early = rows.get(1, read);
        let write_then_ask = async {
            tokio::time::sleep(Duration::from_millis(30)).await;
            // A write commits version 2 and forgets the row while the first read is out.
            version.store(2, Ordering::SeqCst);
            rows.forget(1).await;
            rows.get(1, read).await
        };
        let (early, late) = futures_util::join!(Box::pin(early), Box::pin(write_then_ask));
        assert_eq!(
            early.ok().flatten(),
            Some(2),
            "its read saw the old row, but a forget came before it ended: read again"
        );
        assert_eq!(
            late.ok().flatten(),
            Some(2),
            "asked after the forget: never the old row"
        );
        assert_eq!(
            Box::pin(rows.get(1, read)).await.ok().flatten(),
            Some(2),
            "nor is the old row kept"
        );
    }
}
