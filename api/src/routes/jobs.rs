//! Background jobs as admins see them: the queue, one job, a retry.

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::{
    OpenApi,
    param::{Path, Query},
    payload::Json,
};

use super::{ApiTags, schemas};
use crate::{
    auth::Caller,
    domain::platform::jobs::{self, JobFilter},
    error::ApiError,
    state::AppState,
    store::entities::job,
};

impl From<job::Model> for schemas::Job {
    fn from(j: job::Model) -> Self {
        Self {
            id: j.id.into(),
            kind: j.kind,
            payload: j.payload,
            status: j.status,
            attempts: j.attempts.into(),
            max_attempts: j.max_attempts.into(),
            run_at: j.run_at,
            locked_by: j.locked_by,
            last_error: j.last_error,
            created: j.created,
            updated: j.updated,
        }
    }
}

pub struct JobApi;

#[OpenApi(tag = "ApiTags::Job")]
impl JobApi {
    /// Jobs, newest first (admins).
    ///
    /// Webhook deliveries, statistics rebuilds and the periodic upkeep run here, at least once
    /// each, retried with exponential backoff. Finished jobs are kept for a week.
    #[oai(path = "/jobs", method = "get")]
    async fn list(
        &self,
        state: Data<&Arc<AppState>>,
        caller: Caller,
        /// `queued`, `running`, `done` or `failed`.
        status: Query<Option<String>>,
        /// `webhook.deliver`, `stats.rebuild`, `stats.reconcile`, `jobs.purge`, `probe`.
        kind: Query<Option<String>>,
        /// At most 100 (default 20).
        limit: Query<Option<u64>>,
        offset: Query<Option<u64>>,
    ) -> Result<Json<Vec<schemas::Job>>, ApiError> {
        let filter = JobFilter {
            status: status.0,
            kind: kind.0,
            limit: limit.0.unwrap_or(20).min(100),
            offset: offset.0.unwrap_or(0).min(1_000_000_000),
        };
        let list = jobs::list(&state.infra, &caller, &filter).await?;
        Ok(Json(list.into_iter().map(Into::into).collect()))
    }

    /// How many jobs are in each status (admins).
    #[oai(path = "/jobs/counts", method = "get")]
    async fn counts(
        &self,
        state: Data<&Arc<AppState>>,
        caller: Caller,
    ) -> Result<Json<schemas::JobCounts>, ApiError> {
        let c = jobs::counts(&state.infra, &caller).await?;
        Ok(Json(schemas::JobCounts {
            queued: c.queued,
            running: c.running,
            done: c.done,
            failed: c.failed,
        }))
    }

    /// One job (admins).
    #[oai(path = "/jobs/:id", method = "get")]
    async fn item(
        &self,
        state: Data<&Arc<AppState>>,
        caller: Caller,
        id: Path<i32>,
    ) -> Result<Json<schemas::Job>, ApiError> {
        let j = jobs::get(&state.infra, &caller, id.0).await?;
        Ok(Json(j.into()))
    }

    /// Queue a failed job again with a fresh set of attempts (admins). Other jobs are returned
    /// unchanged.
    #[oai(path = "/jobs/:id/retry", method = "post")]
    async fn retry(
        &self,
        state: Data<&Arc<AppState>>,
        caller: Caller,
        id: Path<i32>,
    ) -> Result<Json<schemas::Job>, ApiError> {
        let j = jobs::retry(&state.infra, &caller, id.0).await?;
        Ok(Json(j.into()))
    }
}
