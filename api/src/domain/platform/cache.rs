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

pub fn project_stats_key(project_id: i32, full: bool) -> String {
    if full {
        format!("cache:projectstats:{project_id}:full")
    } else {
        format!("cache:projectstats:{project_id}")
    }
}

pub fn project_leaderboard_key(project_id: i32) -> String {
    format!("{LEADERBOARD}:{project_id}")
}

/// Every entry a change to the project's tasks or answers makes stale.
pub fn keys_for_project(project_id: i32) -> Vec<String> {
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
            local.projects.forget(id).await;
        }
        if let Some(id) = key.strip_prefix(ACCOUNT_ROW).and_then(|id| id.parse().ok()) {
            local.accounts.forget(id).await;
        }
    }
    kv.delete_many(keys).await;
}

/// Names an account's row among stale keys (see [`AccountRows`]).
const ACCOUNT_ROW: &str = "cache:account:";

pub fn account_row_key(user_id: i32) -> String {
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
    by_id: moka::future::Cache<i32, Arc<user::Model>>,
    by_key: moka::future::Cache<String, i32>,
}

impl Default for AccountRows {
    fn default() -> Self {
        Self {
            by_id: moka::future::Cache::builder()
                .max_capacity(ACCOUNT_ROWS_MAX)
                .time_to_live(ACCOUNT_ROW_TTL)
                .build(),
            by_key: moka::future::Cache::builder()
                .max_capacity(ACCOUNT_ROWS_MAX)
                .time_to_live(ACCOUNT_ROW_TTL)
                .build(),
        }
    }
}

impl AccountRows {
    /// The account with this id.
    pub async fn by_id(
        &self,
        db: &impl ConnectionTrait,
        id: i32,
    ) -> ApiResult<Option<Arc<user::Model>>> {
        if let Some(row) = self.by_id.get(&id).await {
            return Ok(Some(row));
        }
        let read = async { Ok(user::Entity::find_by_id(id).one(db).await?.map(Arc::new)) };
        Box::pin(load(&self.by_id, id, read)).await
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
        if let Some(id) = self.by_key.get(key).await
            && let Some(row) = self.by_id(db, id).await?
            && same(&row)
        {
            return Ok(Some(row));
        }
        // Looked up through the unique index, then confirmed in constant time so the
        // comparison itself leaks nothing about how much of a key matched.
        let read = async {
            let found = user::Entity::find()
                .filter(user::Column::ApiKey.eq(key))
                .one(db)
                .await?
                .filter(|u| same(u));
            if let Some(row) = &found {
                self.by_id.insert(row.id, Arc::new(row.clone())).await;
            }
            Ok(found.map(|u| u.id))
        };
        let Some(id) = Box::pin(load(&self.by_key, key.to_string(), read)).await? else {
            return Ok(None);
        };
        Ok(self.by_id(db, id).await?.filter(|row| same(row)))
    }

    pub async fn forget(&self, id: i32) {
        self.by_id.invalidate(&id).await;
    }
}

/// Why a load kept nothing: there is no such row, or the database failed.
enum Miss {
    Absent,
    Db(sea_orm::DbErr),
}

/// Reads what `key` names into `cache` once however many ask at the same moment: callers that
/// miss together wait for the first one's read (moka's `try_get_with`). Finding nothing is not
/// kept.
async fn load<K, V>(
    cache: &moka::future::Cache<K, V>,
    key: K,
    read: impl Future<Output = Result<Option<V>, sea_orm::DbErr>>,
) -> ApiResult<Option<V>>
where
    K: std::hash::Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    let init = async {
        match read.await {
            Ok(Some(v)) => Ok(v),
            Ok(None) => Err(Miss::Absent),
            Err(e) => Err(Miss::Db(e)),
        }
    };
    match cache.try_get_with(key, init).await {
        Ok(v) => Ok(Some(v)),
        Err(miss) => match Arc::try_unwrap(miss) {
            Ok(Miss::Absent) => Ok(None),
            Ok(Miss::Db(e)) => Err(e.into()),
            // Several callers waited on the one read that failed.
            Err(shared) => match &*shared {
                Miss::Absent => Ok(None),
                Miss::Db(e) => Err(ApiError::Unavailable(format!("the database failed: {e}"))),
            },
        },
    }
}

/// Names a project's row among stale keys (see [`ProjectRows`]).
const PROJECT_ROW: &str = "cache:project:";

pub fn project_row_key(project_id: i32) -> String {
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
    rows: moka::future::Cache<i32, Arc<project::Model>>,
}

impl Default for ProjectRows {
    fn default() -> Self {
        Self {
            rows: moka::future::Cache::builder()
                .max_capacity(PROJECT_ROWS_MAX)
                .time_to_live(PROJECT_ROW_TTL)
                .build(),
        }
    }
}

impl ProjectRows {
    pub async fn get(
        &self,
        db: &impl ConnectionTrait,
        id: i32,
    ) -> ApiResult<Option<Arc<project::Model>>> {
        if let Some(row) = self.rows.get(&id).await {
            return Ok(Some(row));
        }
        let read = async { Ok(project::Entity::find_by_id(id).one(db).await?.map(Arc::new)) };
        Box::pin(load(&self.rows, id, read)).await
    }

    pub async fn forget(&self, id: i32) {
        self.rows.invalidate(&id).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn callers_that_miss_together_share_one_read() {
        let cache: moka::future::Cache<i32, Arc<String>> = moka::future::Cache::new(8);
        let reads = AtomicUsize::new(0);
        let read = |found: bool| {
            let reads = &reads;
            async move {
                reads.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(50)).await;
                Ok(found.then(|| Arc::new("row".to_string())))
            }
        };
        let got =
            futures_util::future::join_all((0..10).map(|_| load(&cache, 1, read(true)))).await;
        assert!(
            got.iter()
                .all(|g| matches!(g, Ok(Some(v)) if v.as_str() == "row"))
        );
        assert_eq!(reads.load(Ordering::SeqCst), 1, "one read for ten callers");
        // Then it is kept.
        assert!(Box::pin(load(&cache, 1, read(true))).await.is_ok());
        assert_eq!(reads.load(Ordering::SeqCst), 1);
        // Finding nothing is not kept: the next caller reads again.
        assert!(matches!(
            Box::pin(load(&cache, 2, read(false))).await,
            Ok(None)
        ));
        assert!(matches!(
            Box::pin(load(&cache, 2, read(false))).await,
            Ok(None)
        ));
        assert_eq!(reads.load(Ordering::SeqCst), 3);
    }
}
