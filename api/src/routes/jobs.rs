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
    error::ApiError,
    state::AppState,
    store::entities::job,
    store::jobs::{self, JobFilter},
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

fn admin(caller: &Caller) -> Result<(), ApiError> {
    if caller.is_admin() {
        Ok(())
    } else {
        Err(ApiError::denied(caller.is_authenticated()))
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
        admin(&caller)?;
        let filter = JobFilter {
            status: status.0,
            kind: kind.0,
            limit: limit.0.unwrap_or(20).min(100),
            offset: offset.0.unwrap_or(0).min(1_000_000_000),
        };
        let list = jobs::list(&state.infra.db, &filter).await?;
        Ok(Json(list.into_iter().map(Into::into).collect()))
    }

    /// How many jobs are in each status (admins).
    #[oai(path = "/jobs/counts", method = "get")]
    async fn counts(
        &self,
        state: Data<&Arc<AppState>>,
        caller: Caller,
    ) -> Result<Json<schemas::JobCounts>, ApiError> {
        admin(&caller)?;
        let counts = jobs::counts(&state.infra.db).await?;
        let n = |s: &str| counts.iter().find(|(k, _)| k == s).map_or(0, |(_, n)| *n);
        Ok(Json(schemas::JobCounts {
            queued: n(jobs::QUEUED),
            running: n(jobs::RUNNING),
            done: n(jobs::DONE),
            failed: n(jobs::FAILED),
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
        admin(&caller)?;
        use sea_orm::EntityTrait;
        let j = job::Entity::find_by_id(id.0)
            .one(&state.infra.db)
            .await?
            .ok_or(ApiError::NotFound)?;
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
        admin(&caller)?;
        let j = jobs::retry(&state.infra.db, id.0)
            .await?
            .ok_or(ApiError::NotFound)?;
        state.infra.jobs_wake.notify_one();
        Ok(Json(j.into()))
    }
}
