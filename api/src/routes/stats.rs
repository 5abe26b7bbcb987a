//! Statistics: `projectstats` and `globalstats` (PYBOSSA's read-only resources, but current to
//! the last answer instead of an hour old) and the leaderboard.

use std::sync::Arc;

use poem::{Request, web::Data};
use poem_openapi::{
    OpenApi,
    param::{Path, Query},
};
use serde_json::Value;

use super::{
    ApiTags,
    common::{JsonOf, parse_list},
    schemas,
};
use crate::{
    auth::Caller,
    domain::{platform::stats, rest::crud, rest::resources},
    error::{ApiError, ApiResult},
    state::AppState,
};

fn full_flag(v: Option<&str>) -> bool {
    v.is_some_and(|s| !s.is_empty())
}

pub struct StatsApi;

#[OpenApi(tag = "ApiTags::Stats")]
impl StatsApi {
    /// Statistics of the projects the caller may read.
    ///
    /// One object per project (`id` is the project's id): tasks, answers, results, volunteers,
    /// completed tasks, progress, average answer time, last activity; `info` adds volunteers by
    /// kind, answers still needed, the last day's pace and an estimated completion time. With
    /// `full=1`, `info` also carries PYBOSSA's chart series (`dates_stats`, `hours_stats`,
    /// `users_stats`) over the last two weeks. Filter with `project_id`; page with `limit` and
    /// `offset`. Values include every answer committed so far.
    #[oai(path = "/projectstats", method = "get")]
    async fn list(
        &self,
        state: Data<&Arc<AppState>>,
        caller: Caller,
        req: &Request,
        /// Only this project.
        #[oai(name = "project_id")]
        _project_id: Query<Option<i64>>,
        /// Add the chart series.
        full: Query<Option<String>>,
    ) -> Result<JsonOf<Vec<schemas::ProjectStats>>, ApiError> {
        let ctx = state.ctx(&caller);
        let mut params = parse_list(req, &[])?;
        params.all = true;
        params.full = false;
        params.filters = params
            .filters
            .into_iter()
            .map(|(k, v)| match k.as_str() {
                "project_id" | "id" => Ok(("id".to_string(), v)),
                _ => Err(ApiError::attribute(format!(
                    "type object 'ProjectStats' has no attribute '{k}'"
                ))),
            })
            .collect::<ApiResult<_>>()?;
        let projects = crud::list::<resources::Project>(ctx, &params).await?;
        let full = full_flag(full.0.as_deref());
        let mut out = Vec::with_capacity(projects.len());
        for p in &projects {
            out.push(Box::pin(stats::project_stats(&state.infra, p, full)).await?);
        }
        Ok(JsonOf::new(Value::Array(out)))
    }

    /// Statistics of one project (by its id).
    #[oai(path = "/projectstats/:id", method = "get")]
    async fn item(
        &self,
        state: Data<&Arc<AppState>>,
        caller: Caller,
        id: Path<i32>,
        /// Add the chart series.
        full: Query<Option<String>>,
    ) -> Result<JsonOf<schemas::ProjectStats>, ApiError> {
        let ctx = state.ctx(&caller);
        let project = crud::get::<resources::Project>(ctx, id.0).await?;
        let full = full_flag(full.0.as_deref());
        Ok(JsonOf::new(
            Box::pin(stats::project_stats(&state.infra, &project, full)).await?,
        ))
    }

    /// Site-wide numbers.
    ///
    /// `n_tasks` is the answers all tasks ask for (PYBOSSA's definition), `n_pending_tasks` the
    /// answers still missing; `n_users` counts accounts and distinct anonymous volunteers;
    /// `categories` gives published projects per category, then featured and draft counts.
    #[oai(path = "/globalstats", method = "get")]
    async fn global(
        &self,
        state: Data<&Arc<AppState>>,
    ) -> Result<JsonOf<schemas::GlobalStats>, ApiError> {
        Ok(JsonOf::new(stats::global_stats(&state.infra).await?))
    }

    /// The volunteers who answered most, site-wide or in one project.
    ///
    /// The top 20 users by answers given (restricted accounts excluded). A signed-in caller
    /// ranked below them is appended; with `window=n` (at most 10) the users ranked within `n`
    /// places of the caller are appended instead.
    #[oai(path = "/leaderboard", method = "get")]
    async fn leaderboard(
        &self,
        state: Data<&Arc<AppState>>,
        caller: Caller,
        /// Rank within this project only.
        project_id: Query<Option<i32>>,
        /// Also show this many places around the caller (at most 10).
        window: Query<Option<u64>>,
    ) -> Result<JsonOf<schemas::Leaderboard>, ApiError> {
        if let Some(id) = project_id.0 {
            let ctx = state.ctx(&caller);
            crud::get::<resources::Project>(ctx, id).await?;
        }
        let board = Box::pin(stats::leaderboard(
            &state.infra,
            project_id.0,
            caller.user_id(),
            window.0,
        ))
        .await?;
        Ok(JsonOf::new(board))
    }
}
