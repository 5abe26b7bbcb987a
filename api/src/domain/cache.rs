//! Read-through cache for costly reads (statistics, leaderboards) in the key-value store
//! (Redis, or in process). Entries are dropped by the writes that change them, so what a caller
//! reads is at most a moment old; the TTL only bounds what a missed invalidation could leave.
//! When the store is unreachable the value is computed from the database (counted, never an
//! error).

use std::{future::Future, sync::Arc, time::Duration};

use sea_orm::{ConnectionTrait, EntityTrait};
use serde_json::Value as Json;

use crate::{error::ApiResult, state::AppState, store::entities::project};

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
    state: &AppState,
    base: &str,
    query: &str,
    compute: F,
) -> ApiResult<Json>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = ApiResult<Json>>,
{
    let generation = match state.kv.get(PROJECT_LISTINGS).await {
        Ok(Some(g)) => g,
        Ok(None) => {
            let g = uuid::Uuid::new_v4().simple().to_string();
            state
                .kv
                .set(PROJECT_LISTINGS, &g, Duration::from_secs(86_400))
                .await;
            g
        }
        Err(()) => {
            state.metrics.cache_lookup("projects", "error");
            return compute().await;
        }
    };
    let key = format!("cache:projects:{generation}:{base}?{query}");
    cached(state, "projects", &key, LISTING_TTL, compute).await
}

/// Returns the cached value of `key`, or computes, stores and returns it. `name` labels the
/// hit/miss metrics.
pub async fn cached<F, Fut>(
    state: &AppState,
    name: &str,
    key: &str,
    ttl: Duration,
    compute: F,
) -> ApiResult<Json>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = ApiResult<Json>>,
{
    let reachable = match state.kv.get(key).await {
        Ok(Some(raw)) => match serde_json::from_str(&raw) {
            Ok(value) => {
                state.metrics.cache_lookup(name, "hit");
                return Ok(value);
            }
            Err(_) => true,
        },
        Ok(None) => true,
        Err(()) => false,
    };
    state
        .metrics
        .cache_lookup(name, if reachable { "miss" } else { "error" });
    let value = compute().await?;
    if reachable {
        state.kv.set(key, &value.to_string(), ttl).await;
    }
    Ok(value)
}

pub async fn invalidate(state: &AppState, keys: &[String]) {
    for key in keys {
        if let Some(id) = key.strip_prefix(PROJECT_ROW).and_then(|id| id.parse().ok()) {
            state.projects.forget(id);
        }
    }
    state.kv.delete_many(keys).await;
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
    rows: moka::sync::Cache<i32, Arc<project::Model>>,
}

impl Default for ProjectRows {
    fn default() -> Self {
        Self {
            rows: moka::sync::Cache::builder()
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
        if let Some(row) = self.rows.get(&id) {
            return Ok(Some(row));
        }
        // Boxed: a miss is rare, and its query's future would weigh on every hit's.
        let Some(row) = Box::pin(project::Entity::find_by_id(id).one(db)).await? else {
            return Ok(None);
        };
        let row = Arc::new(row);
        self.rows.insert(id, row.clone());
        Ok(Some(row))
    }

    pub fn forget(&self, id: i32) {
        self.rows.invalidate(&id);
    }
}
