//! A task run (an answer) as a resource: who may read it; taking one is the volunteer loop's.

use super::*;

pub struct TaskRun;

/// Whether the answer is part of its task's current result (then it is frozen).
async fn in_result(db: &impl ConnectionTrait, run: &task_run::Model) -> ApiResult<bool> {
    let latest = result::Entity::find()
        .filter(result::Column::TaskId.eq(run.task_id))
        .filter(result::Column::LastVersion.eq(true))
        .one(db)
        .await?;
    Ok(latest.is_some_and(|r| {
        r.task_run_ids
            .as_array()
            .is_some_and(|ids| ids.iter().any(|v| v.as_i64() == Some(i64::from(run.id))))
    }))
}

/// An answer's fields. Who answered which task is fixed; the anonymised address and the
/// project's own user id are for the project's owners.
pub const TASK_RUN_FIELDS: &[Field] = &[
    field("id"),
    field("created"),
    fixed("project_id"),
    fixed("task_id"),
    fixed("user_id"),
    fixed("user_ip").read(Owner),
    field("finish_time"),
    fixed("timeout"),
    fixed("calibration"),
    fixed("external_uid").read(Owner),
    owned("media_url"),
    owned("info"),
];

impl Resource for TaskRun {
    type Entity = task_run::Entity;
    const TARGET: &'static str = "taskrun";
    const CLASS: &'static str = "TaskRun";
    const FIELDS: &'static [Field] = TASK_RUN_FIELDS;
    const PARENTS: &'static [&'static str] = &["project", "task"];
    // Answers are created by the volunteer loop (`POST /api/taskrun`), not by generic CRUD.
    const CAN_CREATE: bool = false;

    fn stale_keys(m: &task_run::Model) -> Vec<String> {
        crate::domain::platform::cache::keys_for_project(ProjectId(m.project_id))
    }
    fn id(m: &task_run::Model) -> i32 {
        m.id
    }
    fn owners(m: &task_run::Model) -> Owners {
        Owners::Project(m.project_id)
    }
    fn owned_by(uid: i32) -> Option<Condition> {
        in_co_owned(task_run::Column::ProjectId, uid)
    }
    /// Answers to gold tasks are the project owners' to see: the others' would give the
    /// correct answer away.
    async fn list_scope(ctx: Ctx<'_>, params: &ListParams) -> ApiResult<Condition> {
        Ok(
            inherits_visibility(ctx.caller, params, task_run::Column::ProjectId).add(unless_owned(
                ctx.caller,
                task_run::Column::ProjectId,
                Condition::all().add(task_run::Column::GoldCorrect.is_null()),
            )),
        )
    }
    async fn can_read(ctx: Ctx<'_>, m: &task_run::Model) -> ApiResult<bool> {
        if m.gold_correct.is_some() && !sees_gold(ctx, m.project_id).await? {
            return Ok(false);
        }
        project_readable(ctx, m.project_id).await
    }
    /// The answer's author or an admin, while the answer is in no result. An answer to a gold
    /// task stays as judged (its author changing or deleting it would retake the quiz).
    async fn may_write(
        ctx: Ctx<'_>,
        db: &impl ConnectionTrait,
        m: &task_run::Model,
    ) -> ApiResult<()> {
        let uid = require_user(ctx.caller)?;
        allow(ctx.caller, ctx.caller.is_admin() || m.user_id == Some(uid))?;
        allow(
            ctx.caller,
            ctx.caller.is_admin() || m.gold_correct.is_none(),
        )?;
        allow(ctx.caller, !in_result(db, m).await?)
    }
    async fn before_create(ctx: Ctx<'_>, _body: &mut Map<String, Json>) -> ApiResult<()> {
        Err(deny(ctx.caller))
    }
    async fn after_delete(
        _ctx: Ctx<'_>,
        txn: &DatabaseTransaction,
        m: &task_run::Model,
    ) -> ApiResult<()> {
        task::Entity::update_many()
            .col_expr(
                task::Column::NTaskRuns,
                Expr::col(task::Column::NTaskRuns).sub(1),
            )
            .filter(task::Column::Id.eq(m.task_id))
            .exec(txn)
            .await?;
        Box::pin(counters::add(
            txn,
            ProjectId(m.project_id),
            Delta {
                task_runs: -1,
                ..Delta::default()
            },
        ))
        .await?;
        Box::pin(crate::store::jobs::enqueue(
            txn,
            crate::store::jobs::NewJob::rebuild_stats(ProjectId(m.project_id)),
        ))
        .await?;
        Ok(())
    }
}
