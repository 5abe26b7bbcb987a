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
