//! Helping materials and pages: owned by the project's primary owner.

use super::*;

macro_rules! project_material {
    ($ty:ident, $entity:ident, $target:literal, $class:literal, [$($fields:expr),* $(,)?]) => {
        pub struct $ty;

        impl Resource for $ty {
            type Entity = $entity::Entity;
            const TARGET: &'static str = $target;
            const CLASS: &'static str = $class;
            const FIELDS: &'static [Field] = &[
                field("id"),
                field("created"),
                fixed("project_id"),
                owned("info"),
                owned("media_url"),
                $($fields),*
            ];
            const PARENTS: &'static [&'static str] = &["project"];

            fn id(m: &$entity::Model) -> i32 {
                m.id
            }
            fn owners(m: &$entity::Model) -> Owners {
                Owners::Project(m.project_id)
            }
            fn owned_by(uid: i32) -> Option<Condition> {
                in_co_owned($entity::Column::ProjectId, uid)
            }
            async fn list_scope(ctx: Ctx<'_>, params: &ListParams) -> ApiResult<Condition> {
                Ok(inherits_visibility(
                    ctx.caller,
                    params,
                    $entity::Column::ProjectId,
                ))
            }
            async fn can_read(ctx: Ctx<'_>, m: &$entity::Model) -> ApiResult<bool> {
                project_readable(ctx, m.project_id).await
            }
            async fn may_write(ctx: Ctx<'_>, db: &impl ConnectionTrait, m: &$entity::Model) -> ApiResult<()> {
                let project = project_of(db, m.project_id).await?;
                allow(ctx.caller, primary_owner_or_admin(ctx.caller, &project))
            }
            async fn before_create(ctx: Ctx<'_>, body: &mut Map<String, Json>) -> ApiResult<()> {
                let project = body_project(ctx, body).await?;
                allow(ctx.caller, primary_owner_or_admin(ctx.caller, &project))?;
                body.insert("created".into(), json!(now()));
                default_object(body, "info");
                Ok(())
            }
        }
    };
}

project_material!(
    HelpingMaterial,
    helpingmaterial,
    "helpingmaterial",
    "HelpingMaterial",
    [owned("priority")]
);
project_material!(Page, page, "page", "Page", [owned("slug")]);
