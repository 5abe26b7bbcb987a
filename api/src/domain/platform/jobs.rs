//! The job queue as admins see it: listing, counts, one job, a retry. Only admins may.

use crate::{
    auth::Caller,
    error::{ApiError, ApiResult},
    infra::Infra,
    store::{entities::job, jobs},
};

pub use crate::store::jobs::JobFilter;

/// How many jobs are in each status.
pub struct Counts {
    pub queued: i64,
    pub running: i64,
    pub done: i64,
    pub failed: i64,
}

pub async fn list(
    infra: &Infra,
    caller: &Caller,
    filter: &JobFilter,
) -> ApiResult<Vec<job::Model>> {
    caller.require_admin()?;
    Ok(jobs::list(&infra.db, filter).await?)
}

pub async fn counts(infra: &Infra, caller: &Caller) -> ApiResult<Counts> {
    caller.require_admin()?;
    let counts = jobs::counts(&infra.db).await?;
    let n = |s: &str| counts.iter().find(|(k, _)| k == s).map_or(0, |(_, n)| *n);
    Ok(Counts {
        queued: n(jobs::QUEUED),
        running: n(jobs::RUNNING),
        done: n(jobs::DONE),
        failed: n(jobs::FAILED),
    })
}

pub async fn get(infra: &Infra, caller: &Caller, id: i32) -> ApiResult<job::Model> {
    caller.require_admin()?;
    jobs::get(&infra.db, id).await?.ok_or(ApiError::NotFound)
}

/// Queues a failed job again with fresh attempts; other jobs come back unchanged.
pub async fn retry(infra: &Infra, caller: &Caller, id: i32) -> ApiResult<job::Model> {
    caller.require_admin()?;
    let j = jobs::retry(&infra.db, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    infra.jobs_wake.notify_one();
    Ok(j)
}
