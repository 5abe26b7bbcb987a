//! A category of projects (admins manage them).

use super::*;

pub struct Category;

impl Resource for Category {
    type Entity = category::Entity;
    const TARGET: &'static str = "category";
    const CLASS: &'static str = "Category";
    const FIELDS: &'static [Field] = &[
        field("id"),
        owned("name"),
        owned("short_name"),
        owned("description"),
        field("created"),
        owned("info"),
    ];
    const RESERVED_NAMES_KEY: bool = true;

    fn stale_keys(_m: &category::Model) -> Vec<String> {
        vec![
            crate::domain::platform::cache::GLOBAL_STATS.into(),
            crate::domain::platform::cache::PROJECT_LISTINGS.into(),
        ]
    }
    fn id(m: &category::Model) -> i32 {
        m.id
    }
    async fn list_scope(_ctx: Ctx<'_>, _params: &ListParams) -> ApiResult<Condition> {
        Ok(Condition::all())
    }
    async fn can_read(_ctx: Ctx<'_>, _m: &category::Model) -> ApiResult<bool> {
        Ok(true)
    }
    async fn may_write(
        ctx: Ctx<'_>,
        _db: &impl ConnectionTrait,
        _m: &category::Model,
    ) -> ApiResult<()> {
        admin_only(ctx.caller)
    }
    async fn before_create(ctx: Ctx<'_>, body: &mut Map<String, Json>) -> ApiResult<()> {
        admin_only(ctx.caller)?;
        empty_to_null(body, &["name", "short_name"]);
        if body.get("description").is_none() {
            body.insert("description".into(), json!(""));
        }
        body.insert("created".into(), json!(now()));
        default_object(body, "info");
        Ok(())
    }
    async fn before_update(
        _ctx: Ctx<'_>,
        _e: &category::Model,
        body: &mut Map<String, Json>,
    ) -> ApiResult<()> {
        empty_to_null(body, &["name", "short_name"]);
        Ok(())
    }
}

/// The oldest category: where a project goes when it names none.
pub(super) async fn first_category(db: &impl ConnectionTrait) -> ApiResult<Option<i32>> {
    Ok(category::Entity::find()
        .select_only()
        .column(category::Column::Id)
        .order_by_asc(category::Column::Id)
        .into_tuple::<i32>()
        .one(db)
        .await?)
}
