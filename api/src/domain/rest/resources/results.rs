//! A result: the outcome of a completed task; owners may annotate its `info`.

use super::*;

pub struct ResultResource;

impl Resource for ResultResource {
    type Entity = result::Entity;
    const TARGET: &'static str = "result";
    const CLASS: &'static str = "Result";
    const FIELDS: &'static [Field] = &[
        field("id"),
        field("created"),
        field("project_id"),
        field("task_id"),
        field("task_run_ids").no_filter(),
        field("last_version"),
        owned("info"),
    ];
    const PARENTS: &'static [&'static str] = &["project", "task"];
    const CAN_CREATE: bool = false;
    const CAN_DELETE: bool = false;

    fn stale_keys(m: &result::Model) -> Vec<String> {
        crate::domain::platform::cache::keys_for_project(ProjectId(m.project_id))
    }
    fn id(m: &result::Model) -> i32 {
        m.id
    }
    fn owners(m: &result::Model) -> Owners {
        Owners::Project(m.project_id)
    }
    fn owned_by(uid: i32) -> Option<Condition> {
        in_co_owned(result::Column::ProjectId, uid)
    }
    async fn list_scope(ctx: Ctx<'_>, params: &ListParams) -> ApiResult<Condition> {
        let mut cond = inherits_visibility(ctx.caller, params, result::Column::ProjectId);
        // Only current versions unless `last_version` is asked for explicitly.
        if !params.filters.iter().any(|(k, _)| k == "last_version") {
            cond = cond.add(result::Column::LastVersion.eq(true));
        }
        Ok(cond)
    }
    async fn can_read(ctx: Ctx<'_>, m: &result::Model) -> ApiResult<bool> {
        project_readable(ctx, m.project_id).await
    }
    async fn may_write(
        ctx: Ctx<'_>,
        db: &impl ConnectionTrait,
        m: &result::Model,
    ) -> ApiResult<()> {
        let project = project_of(db, m.project_id).await?;
        allow(ctx.caller, owner_or_admin(ctx.caller, &project))
    }
    async fn before_create(ctx: Ctx<'_>, _body: &mut Map<String, Json>) -> ApiResult<()> {
        Err(deny(ctx.caller))
    }
}
