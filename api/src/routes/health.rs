//! Liveness and readiness probes for load balancers and orchestrators.

use std::sync::Arc;

use poem::{
    handler,
    http::StatusCode,
    web::{Data, Json},
};
use serde_json::{Value, json};

use crate::state::AppState;

/// The process is up.
#[handler]
pub fn live() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// The process can serve: the database answers, and Redis when it is configured.
#[handler]
pub async fn ready(state: Data<&Arc<AppState>>) -> (StatusCode, Json<Value>) {
    let db = Box::pin(state.infra.db.ping())
        .await
        .map_err(|e| e.to_string());
    let kv = Box::pin(state.infra.kv.ping())
        .await
        .map_err(|e| e.to_string());
    let ok = db.is_ok() && kv.is_ok();
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let check = |r: &Result<(), String>| match r {
        Ok(()) => json!({"status": "ok"}),
        Err(e) => json!({"status": "failed", "error": e}),
    };
    (
        status,
        Json(json!({
            "status": if ok { "ok" } else { "failed" },
            "database": check(&db),
            "cache": { "kind": state.infra.kv.describe(), "status": check(&kv)["status"] },
        })),
    )
}
