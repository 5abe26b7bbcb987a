//! `related=1` and `stats=1` on listings: linked objects fetched in one query per kind rather
//! than one per row.

use std::collections::HashMap;

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{Map, Value as Json, json};

use crate::domain::{
    Ctx,
    rest::crud::{Model, Resource, Viewer},
    rest::resources,
};
use crate::ids::ProjectId;
use crate::{
    error::ApiResult,
    store::{
        counters,
        entities::{result, task, task_run},
    },
};

fn ids(rows: &[Map<String, Json>], key: &str) -> Vec<i32> {
    let mut ids: Vec<i32> = rows
        .iter()
        .filter_map(|r| r.get(key)?.as_i64())
        .filter_map(|v| i32::try_from(v).ok())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// A linked row as the caller may see it.
fn shaped<R: Resource>(ctx: Ctx<'_>, viewer: &Viewer, m: &Model<R>) -> Json {
    Json::Object(R::shape(ctx.caller, viewer.level::<R>(m), m))
}

async fn runs_by_task(
    ctx: Ctx<'_>,
    viewer: &Viewer,
    task_ids: Vec<i32>,
) -> ApiResult<HashMap<i64, Vec<Json>>> {
    let mut out: HashMap<i64, Vec<Json>> = HashMap::new();
    let runs = task_run::Entity::find()
        .filter(task_run::Column::TaskId.is_in(task_ids))
        .order_by_asc(task_run::Column::Id)
        .all(&ctx.infra.read_db)
        .await?;
    for run in runs {
        // Answers to gold tasks are the owners' (see `TaskRun::list_scope`).
        if run.gold_correct.is_some()
            && viewer.level::<resources::TaskRun>(&run) < crate::domain::rest::fields::Access::Owner
        {
            continue;
        }
        out.entry(i64::from(run.task_id))
            .or_default()
            .push(shaped::<resources::TaskRun>(ctx, viewer, &run));
    }
    Ok(out)
}

async fn results_by_task(
    ctx: Ctx<'_>,
    viewer: &Viewer,
    task_ids: Vec<i32>,
) -> ApiResult<HashMap<i64, Json>> {
    let rows = result::Entity::find()
        .filter(result::Column::TaskId.is_in(task_ids))
        .filter(result::Column::LastVersion.eq(true))
        .all(&ctx.infra.read_db)
        .await?;
    Ok(rows
        .iter()
        .map(|r| {
            (
                i64::from(r.task_id),
                shaped::<resources::ResultResource>(ctx, viewer, r),
            )
        })
        .collect())
}

async fn tasks_by_id(
    ctx: Ctx<'_>,
    viewer: &Viewer,
    ids: Vec<i32>,
) -> ApiResult<HashMap<i64, Json>> {
    let rows = task::Entity::find()
        .filter(task::Column::Id.is_in(ids))
        .all(&ctx.infra.read_db)
        .await?;
    Ok(rows
        .iter()
        .map(|t| (i64::from(t.id), shaped::<resources::Task>(ctx, viewer, t)))
        .collect())
}

/// Adds the linked rows, each shaped for `viewer` (the listing's own: linked rows belong to the
/// same projects).
pub async fn attach(
    ctx: Ctx<'_>,
    viewer: &Viewer,
    target: &str,
    rows: &mut [Map<String, Json>],
) -> ApiResult<()> {
    let task_key = if target == "task" { "id" } else { "task_id" };
    let task_ids = ids(rows, task_key);
    if task_ids.is_empty() {
        return Ok(());
    }
    let get = |row: &Map<String, Json>| row.get(task_key).and_then(Json::as_i64).unwrap_or(-1);
    if matches!(target, "task" | "result") {
        let mut runs = runs_by_task(ctx, viewer, task_ids.clone()).await?;
        for row in rows.iter_mut() {
            let id = get(row);
            row.insert(
                "task_runs".into(),
                Json::Array(runs.remove(&id).unwrap_or_default()),
            );
        }
    }
    if matches!(target, "task" | "taskrun") {
        let results = results_by_task(ctx, viewer, task_ids.clone()).await?;
        for row in rows.iter_mut() {
            let id = get(row);
            row.insert(
                "result".into(),
                results.get(&id).cloned().unwrap_or(Json::Null),
            );
        }
    }
    if matches!(target, "taskrun" | "result") {
        let tasks = tasks_by_id(ctx, viewer, task_ids).await?;
        for row in rows.iter_mut() {
            let id = get(row);
            row.insert("task".into(), tasks.get(&id).cloned().unwrap_or(Json::Null));
        }
    }
    Ok(())
}

/// The project's live counters, as `stats`.
pub async fn attach_project_stats(ctx: Ctx<'_>, rows: &mut [Map<String, Json>]) -> ApiResult<()> {
    for row in rows.iter_mut() {
        let Some(id) = row
            .get("id")
            .and_then(Json::as_i64)
            .and_then(|v| i32::try_from(v).ok())
        else {
            continue;
        };
        let t = counters::totals(&ctx.infra.read_db, ProjectId(id)).await?;
        let progress = if t.n_tasks > 0 {
            t.n_completed_tasks * 100 / t.n_tasks
        } else {
            0
        };
        row.insert(
            "stats".into(),
            json!({
                "project_id": id,
                "n_tasks": t.n_tasks,
                "n_task_runs": t.n_task_runs,
                "n_completed_tasks": t.n_completed_tasks,
                "n_results": t.n_results,
                "overall_progress": progress,
            }),
        );
    }
    Ok(())
}
