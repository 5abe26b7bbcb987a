//! A project's blog posts.

use super::*;

pub struct Blogpost;

/// Blog posts of a project the caller may see: published posts, and drafts of projects they
/// co-own.
fn published_posts(caller: &Caller) -> Condition {
    let mut cond = Condition::any().add(blogpost::Column::Published.eq(true));
    if let Some(uid) = caller.user_id() {
        cond = cond.add(blogpost::Column::ProjectId.in_subquery(co_owned_by(uid)));
    }
    cond
}

impl Resource for Blogpost {
    type Entity = blogpost::Entity;
    const TARGET: &'static str = "blogpost";
    const CLASS: &'static str = "Blogpost";
    const FIELDS: &'static [Field] = &[
        field("id"),
        field("created"),
        field("updated"),
        fixed("project_id"),
        field("user_id"),
        owned("title"),
        owned("body"),
        owned("info"),
        owned("media_url"),
        owned("published"),
    ];
    const RESERVED_NAMES_KEY: bool = true;
    const PARENTS: &'static [&'static str] = &["project"];

    fn stale_keys(m: &blogpost::Model) -> Vec<String> {
        crate::domain::platform::cache::keys_for_project(ProjectId(m.project_id))
    }
    fn id(m: &blogpost::Model) -> i32 {
        m.id
    }
    fn owners(m: &blogpost::Model) -> Owners {
        Owners::Project(m.project_id)
    }
    fn owned_by(uid: i32) -> Option<Condition> {
        in_co_owned(blogpost::Column::ProjectId, uid)
    }
    async fn list_scope(ctx: Ctx<'_>, params: &ListParams) -> ApiResult<Condition> {
        let mut cond = inherits_visibility(ctx.caller, params, blogpost::Column::ProjectId);
        if !ctx.caller.is_admin() {
            cond = cond.add(published_posts(ctx.caller));
        }
        Ok(cond)
    }
    async fn can_read(ctx: Ctx<'_>, m: &blogpost::Model) -> ApiResult<bool> {
        if ctx.caller.is_admin() {
            return Ok(true);
        }
        let Some(project) = load_project(&ctx.infra.db, ProjectId(m.project_id)).await? else {
            return Ok(false);
        };
        Ok(is_owner(ctx.caller, &project) || (project.published && m.published))
    }
    /// The post's author while they own the project, or an admin.
    async fn may_write(
        ctx: Ctx<'_>,
        db: &impl ConnectionTrait,
        m: &blogpost::Model,
    ) -> ApiResult<()> {
        if ctx.caller.is_admin() {
            return Ok(());
        }
        let author = ctx.caller.is_authenticated() && ctx.caller.user_id() == m.user_id;
        allow(ctx.caller, author)?;
        let project = project_of(db, m.project_id).await?;
        allow(ctx.caller, is_owner(ctx.caller, &project))
    }
    async fn before_create(ctx: Ctx<'_>, body: &mut Map<String, Json>) -> ApiResult<()> {
        let project = body_project(ctx, body).await?;
        allow(ctx.caller, primary_owner_or_admin(ctx.caller, &project))?;
        let ts = now();
        body.insert("user_id".into(), json!(ctx.caller.user_id()));
        body.insert("created".into(), json!(ts));
        body.insert("updated".into(), json!(ts));
        default_object(body, "info");
        Ok(())
    }
    async fn before_update(
        _ctx: Ctx<'_>,
        _m: &blogpost::Model,
        body: &mut Map<String, Json>,
    ) -> ApiResult<()> {
        body.insert("updated".into(), json!(now()));
        Ok(())
    }
}
