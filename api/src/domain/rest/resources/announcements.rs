//! Site-wide announcements (admins).

use super::*;

pub struct Announcement;

impl Resource for Announcement {
    type Entity = announcement::Entity;
    const TARGET: &'static str = "announcement";
    const CLASS: &'static str = "Announcement";
    const FIELDS: &'static [Field] = &[
        field("id"),
        field("created"),
        field("updated"),
        field("user_id"),
        owned("title"),
        owned("body"),
        owned("info"),
        owned("media_url"),
        owned("published"),
    ];

    fn id(m: &announcement::Model) -> i32 {
        m.id
    }
    /// Drafts are for admins.
    async fn list_scope(ctx: Ctx<'_>, _params: &ListParams) -> ApiResult<Condition> {
        let mut cond = Condition::all();
        if !ctx.caller.is_admin() {
            cond = cond.add(announcement::Column::Published.eq(true));
        }
        Ok(cond)
    }
    async fn can_read(ctx: Ctx<'_>, m: &announcement::Model) -> ApiResult<bool> {
        Ok(m.published || ctx.caller.is_admin())
    }
    async fn may_write(
        ctx: Ctx<'_>,
        _db: &impl ConnectionTrait,
        _m: &announcement::Model,
    ) -> ApiResult<()> {
        admin_only(ctx.caller)
    }
    async fn before_create(ctx: Ctx<'_>, body: &mut Map<String, Json>) -> ApiResult<()> {
        admin_only(ctx.caller)?;
        let ts = now();
        body.insert("user_id".into(), json!(ctx.caller.user_id()));
        body.insert("created".into(), json!(ts));
        body.insert("updated".into(), json!(ts));
        default_object(body, "info");
        Ok(())
    }
    async fn before_update(
        _ctx: Ctx<'_>,
        _m: &announcement::Model,
        body: &mut Map<String, Json>,
    ) -> ApiResult<()> {
        body.insert("updated".into(), json!(now()));
        Ok(())
    }
}
