//! A task: its fields, the info filters a listing takes, and what a redundancy change completes or reopens.

use super::*;
use crate::domain::volunteer::quality::check_gold_answers;

pub struct Task;

fn check_n_answers(body: &Map<String, Json>) -> ApiResult<()> {
    if let Some(v) = body.get("n_answers") {
        let n = v
            .as_f64()
            .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()));
        if !n.is_some_and(|n| n >= 1.0) {
            return Err(ApiError::value(
                "n_answers must be a whole number of at least 1",
            ));
        }
    }
    Ok(())
}

/// A gold task (`calibration: 1`) carries its correct answer; `calibration` is 0 or 1. Checked
/// on what the task will be after the write (`existing` for an update).
fn check_gold(body: &Map<String, Json>, existing: Option<&task::Model>) -> ApiResult<()> {
    let calibration = match body.get("calibration") {
        None => existing.map_or(0, |t| t.calibration),
        Some(v) => match v.as_i64() {
            Some(c @ (0 | 1)) => i32::from(c == 1),
            _ => return Err(ApiError::value("calibration must be 0 or 1")),
        },
    };
    let gold = match body.get("gold_answers") {
        Some(g) => Some(g).filter(|g| !g.is_null()),
        None => existing.and_then(|t| t.gold_answers.as_ref()),
    };
    if let Some(g) = gold {
        check_gold_answers(g).map_err(ApiError::value)?;
    }
    if calibration == 1 && gold.is_none() {
        return Err(ApiError::value(
            "gold_answers: a gold task (calibration 1) needs its correct answer",
        ));
    }
    if let Some(t) = existing
        && t.calibration == 0
        && calibration == 1
        && t.state == TaskState::Completed
    {
        return Err(ApiError::value(
            "calibration: a completed task cannot become gold; make a new task from its result",
        ));
    }
    Ok(())
}

/// What a task adds to its project's counters: a gold task is not part of the work.
pub fn task_delta(t: &task::Model) -> Delta {
    if t.calibration == 1 {
        return Delta::default();
    }
    Delta {
        tasks: 1,
        answers_expected: i64::from(t.n_answers),
        completed_tasks: i64::from(t.state == TaskState::Completed),
        ..Delta::default()
    }
}

fn minus(a: Delta, b: Delta) -> Delta {
    Delta {
        tasks: a.tasks - b.tasks,
        task_runs: a.task_runs - b.task_runs,
        completed_tasks: a.completed_tasks - b.completed_tasks,
        results: a.results - b.results,
        answer_ms: a.answer_ms - b.answer_ms,
        volunteers_auth: a.volunteers_auth - b.volunteers_auth,
        volunteers_anon: a.volunteers_anon - b.volunteers_anon,
        answers_expected: a.answers_expected - b.answers_expected,
    }
}

/// A task's fields.
pub const TASK_FIELDS: &[Field] = &[
    field("id"),
    field("created"),
    // A task's project is checked on create; tasks never move.
    fixed("project_id"),
    field("state"),
    owned("quorum"),
    // Which tasks are gold is the owners' to know: a volunteer who could tell would game it.
    owned("calibration").read(Access::Owner),
    owned("priority_0"),
    owned("info"),
    owned("n_answers"),
    // The owner's id for the task; unique in the project (see `after_create`).
    owned("external_id"),
    // A gold task's expected answer: volunteers must never see it.
    owned("gold_answers").read(Access::Owner).no_filter(),
    field("fav_user_ids").no_sort(),
    // The answers it has: shown, and dropped from bodies (pbs sends tasks back whole).
    field("n_task_runs").write(Write::ReadOnly),
];

impl Resource for Task {
    type Entity = task::Entity;
    const TARGET: &'static str = "task";
    const CLASS: &'static str = "Task";
    const FIELDS: &'static [Field] = TASK_FIELDS;
    const PARENTS: &'static [&'static str] = &["project"];
    const LIST_KEYS: &'static [&'static str] = &["external_uid"];

    fn stale_keys(m: &task::Model) -> Vec<String> {
        // Task writes touch the project's `updated`, which listings show.
        let mut keys = crate::domain::platform::cache::keys_for_project(ProjectId(m.project_id));
        keys.push(crate::domain::platform::cache::PROJECT_LISTINGS.into());
        keys
    }
    fn id(m: &task::Model) -> i32 {
        m.id
    }
    fn owners(m: &task::Model) -> Owners {
        Owners::Project(m.project_id)
    }
    fn owned_by(uid: i32) -> Option<Condition> {
        in_co_owned(task::Column::ProjectId, uid)
    }

    async fn list_scope(ctx: Ctx<'_>, params: &ListParams) -> ApiResult<Condition> {
        let mut cond =
            inherits_visibility(ctx.caller, params, task::Column::ProjectId).add(unless_owned(
                ctx.caller,
                task::Column::ProjectId,
                Condition::all().add(task::Column::Calibration.eq(0)),
            ));
        if params.participated {
            let mine = match ctx.caller.user_id() {
                Some(uid) => Condition::all().add(task_run::Column::UserId.eq(uid)),
                None => Condition::all()
                    .add(task_run::Column::UserIp.eq(
                        crate::domain::volunteer::identity::anonymise_ip(
                            &ctx.infra.anon_key,
                            &ctx.caller.ip,
                        ),
                    ))
                    .add(task_run::Column::ExternalUid.is_null()),
            };
            let answered = Query::select()
                .column(task_run::Column::TaskId)
                .from(task_run::Entity)
                .cond_where(mine)
                .to_owned();
            cond = cond.add(task::Column::Id.not_in_subquery(answered));
        }
        Ok(cond)
    }

    /// A gold task is its project's owners' to see (volunteers get it from `newtask` only).
    async fn can_read(ctx: Ctx<'_>, m: &task::Model) -> ApiResult<bool> {
        if m.calibration == 1 && !sees_gold(ctx, m.project_id).await? {
            return Ok(false);
        }
        project_readable(ctx, m.project_id).await
    }

    async fn may_write(ctx: Ctx<'_>, db: &impl ConnectionTrait, m: &task::Model) -> ApiResult<()> {
        if ctx.caller.is_admin() {
            return Ok(());
        }
        let project = project_of(db, m.project_id).await?;
        allow(ctx.caller, is_owner(ctx.caller, &project))
    }

    async fn before_create(ctx: Ctx<'_>, body: &mut Map<String, Json>) -> ApiResult<()> {
        let project = body_project(ctx, body).await?;
        allow(ctx.caller, owner_or_admin(ctx.caller, &project))?;
        check_n_answers(body)?;
        check_gold(body, None)?;
        body.insert("created".into(), json!(now()));
        body.insert("state".into(), json!("ongoing"));
        if !body.contains_key("info") {
            body.insert("info".into(), json!({}));
        }
        Ok(())
    }

    async fn after_create(
        _ctx: Ctx<'_>,
        txn: &DatabaseTransaction,
        m: &task::Model,
    ) -> ApiResult<()> {
        claim_external_id(txn, m).await?;
        Box::pin(counters::add(txn, ProjectId(m.project_id), task_delta(m))).await?;
        touch_project(txn, ProjectId(m.project_id)).await
    }

    async fn before_update(
        _ctx: Ctx<'_>,
        existing: &task::Model,
        body: &mut Map<String, Json>,
    ) -> ApiResult<()> {
        check_n_answers(body)?;
        check_gold(body, Some(existing))
    }

    async fn after_update(
        _ctx: Ctx<'_>,
        txn: &DatabaseTransaction,
        old: &task::Model,
        new: &task::Model,
    ) -> ApiResult<()> {
        if old.external_id != new.external_id {
            claim_external_id(txn, new).await?;
        }
        // Checked before the write on what was read then; again on the row as written.
        if new.calibration == 1 && new.state == TaskState::Completed {
            return Err(ApiError::value(
                "calibration: a completed task cannot become gold; make a new task from its result",
            ));
        }
        // A redundancy change completes a task that now has enough answers (with its result),
        // or reopens one that no longer has; any other edit leaves the state alone. A gold task
        // never completes, and leaves the counters when it becomes gold.
        if old.n_answers != new.n_answers || old.calibration != new.calibration {
            let mut delta = minus(task_delta(new), task_delta(old));
            if new.calibration == 0 {
                let settled =
                    Box::pin(crate::domain::volunteer::completion::settle(txn, new)).await?;
                delta.completed_tasks += settled.completed_tasks;
                delta.results += settled.results;
            }
            Box::pin(counters::add(txn, ProjectId(new.project_id), delta)).await?;
        }
        touch_project(txn, ProjectId(new.project_id)).await
    }

    async fn before_delete(ctx: Ctx<'_>, m: &task::Model) -> ApiResult<()> {
        if ctx.caller.is_admin() {
            return Ok(());
        }
        let has_result = result::Entity::find()
            .filter(result::Column::TaskId.eq(m.id))
            .count(&ctx.infra.db)
            .await?;
        if has_result > 0 {
            return Err(deny(ctx.caller));
        }
        Ok(())
    }

    async fn after_delete(
        _ctx: Ctx<'_>,
        txn: &DatabaseTransaction,
        m: &task::Model,
    ) -> ApiResult<()> {
        let results = result::Entity::find()
            .filter(result::Column::TaskId.eq(m.id))
            .count(txn)
            .await?;
        let delta = minus(
            Delta {
                task_runs: -i64::from(m.n_task_runs),
                results: -(results as i64),
                ..Delta::default()
            },
            task_delta(m),
        );
        Box::pin(counters::add(txn, ProjectId(m.project_id), delta)).await?;
        if m.n_task_runs > 0 {
            // Its answers went with it: recount the project's volunteers and activity.
            Box::pin(crate::store::jobs::enqueue(
                txn,
                crate::store::jobs::NewJob::rebuild_stats(ProjectId(m.project_id)),
            ))
            .await?;
        }
        touch_project(txn, ProjectId(m.project_id)).await
    }
}

/// A task's `external_id` is unique in its project, as imports rely on: it takes the task's
/// dedup key (a task without one keeps none, so tasks created one by one never collide).
async fn claim_external_id(txn: &DatabaseTransaction, m: &task::Model) -> ApiResult<()> {
    let key = m
        .external_id
        .as_deref()
        .filter(|id| !id.trim().is_empty())
        .map(|id| format!("x:{}", id.trim()));
    let updated = task::Entity::update_many()
        .col_expr(task::Column::DedupKey, Expr::value(key))
        .filter(task::Column::Id.eq(m.id))
        .exec(txn)
        .await;
    match updated {
        Ok(_) => Ok(()),
        Err(e)
            if matches!(
                e.sql_err(),
                Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
            ) =>
        {
            Err(ApiError::Conflict(format!(
                "a task of this project already has external_id {:?}",
                m.external_id.as_deref().unwrap_or_default()
            )))
        }
        Err(e) => Err(e.into()),
    }
}

/// PYBOSSA refreshes `project.updated` whenever one of its tasks or answers changes.
pub async fn touch_project(txn: &impl ConnectionTrait, project_id: ProjectId) -> ApiResult<()> {
    Ok(crate::store::touch_project(txn, project_id).await?)
}
