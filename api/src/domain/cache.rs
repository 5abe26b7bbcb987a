//! Read-through cache for costly reads (statistics, leaderboards) in the key-value store
//! (Redis, or in process). Entries are dropped by the writes that change them, so what a caller
//! reads is at most a moment old; the TTL only bounds what a missed invalidation could leave.
//! When the store is unreachable the value is computed from the database (counted, never an
//! error).

use std::{future::Future, time::Duration};

use serde_json::Value as Json;

use crate::{error::ApiResult, state::AppState};

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
    state.kv.delete_many(keys).await;
}
