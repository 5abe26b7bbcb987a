//! An account as a resource: what others see of it, and what its holder and admins may change.

use super::*;

pub struct User;

/// An account's fields. Others see the public profile (see [`shape_user`]); filtering or
/// ordering by anything else confines a listing to the caller's own account.
const USER_FIELDS: &[Field] = &[
    field("id"),
    field("created"),
    owned("email_addr").read(Owner),
    owned("name"),
    owned("fullname"),
    owned("locale"),
    field("api_key").read(Nobody),
    field("passwd_hash").read(Nobody),
    field("ldap").read(Nobody),
    field("admin").read(Owner).write(Write::Admin),
    field("pro").read(Owner).write(Write::Admin),
    owned("privacy_mode").read(Owner),
    field("restrict").read(Owner).write(Write::Admin),
    field("enabled").read(Owner).write(Write::Admin),
    field("category").read(Owner).write(Write::Admin),
    field("flags").read(Owner).write(Write::Admin),
    owned("ckan_api").read(Owner),
    owned("newsletter_prompted").read(Owner),
    field("valid_email").read(Owner).write(Write::Admin),
    field("confirmation_email_sent")
        .read(Owner)
        .write(Write::Admin),
    owned("subscribed").read(Owner),
    owned("consent").read(Owner),
    owned("info").read(Owner).no_filter(),
    owned("user_pref").read(Owner).no_filter(),
    field("notified_at").read(Owner).write(Write::Admin),
    field("email_pending").read(Owner).write(Write::Fixed),
];

impl Resource for User {
    type Entity = user::Entity;
    const TARGET: &'static str = "user";
    const CLASS: &'static str = "User";
    const FIELDS: &'static [Field] = USER_FIELDS;
    const LINKS: bool = false;

    fn stale_keys(m: &user::Model) -> Vec<String> {
        vec![
            crate::domain::platform::cache::GLOBAL_STATS.into(),
            crate::domain::platform::cache::LEADERBOARD.into(),
            crate::domain::platform::cache::account_row_key(UserId(m.id)),
        ]
    }
    fn id(m: &user::Model) -> i32 {
        m.id
    }
    fn owners(m: &user::Model) -> Owners {
        Owners::Users(vec![m.id])
    }
    fn owned_by(uid: i32) -> Option<Condition> {
        Some(Condition::all().add(user::Column::Id.eq(uid)))
    }
    fn info_access(_key: &str) -> Access {
        Owner
    }

    async fn list_scope(ctx: Ctx<'_>, params: &ListParams) -> ApiResult<Condition> {
        let mut cond = Condition::all().add(user::Column::Restrict.eq(false));
        if !ctx.caller.is_admin() {
            // Filtering or ordering by what a private profile hides would reveal it.
            let by_profile = params
                .filters
                .iter()
                .map(|(k, _)| k.as_str())
                .chain(params.orderby.as_deref())
                .any(|k| matches!(k, "fullname" | "created"));
            if by_profile {
                cond = cond.add(user::Column::PrivacyMode.eq(false));
            }
        }
        Ok(cond)
    }

    async fn can_read(ctx: Ctx<'_>, m: &user::Model) -> ApiResult<bool> {
        Ok(!m.restrict || ctx.caller.user_id() == Some(m.id))
    }

    async fn may_write(ctx: Ctx<'_>, _db: &impl ConnectionTrait, m: &user::Model) -> ApiResult<()> {
        allow(
            ctx.caller,
            ctx.caller.is_admin() || ctx.caller.user_id() == Some(m.id),
        )
    }

    /// Accounts are created through `/api/auth/register`.
    async fn before_create(_ctx: Ctx<'_>, _body: &mut Map<String, Json>) -> ApiResult<()> {
        Err(ApiError::MethodNotAllowed)
    }

    async fn before_update(
        ctx: Ctx<'_>,
        m: &user::Model,
        body: &mut Map<String, Json>,
    ) -> ApiResult<()> {
        let is_self = ctx.caller.user_id() == Some(m.id);
        if is_self && body.get("enabled").and_then(Json::as_bool) == Some(false) {
            return Err(ApiError::BadRequest(
                "You cannot disable your own account".into(),
            ));
        }
        crate::domain::platform::accounts::check_profile(ctx.infra, m.id, body).await
    }

    async fn before_delete(_ctx: Ctx<'_>, _m: &user::Model) -> ApiResult<()> {
        Err(ApiError::MethodNotAllowed)
    }

    fn shape(caller: &Caller, _level: Access, m: &user::Model) -> Map<String, Json> {
        shape_user(caller, m)
    }
}

/// A user as the caller may see it: the account holder and admins see the profile, others only
/// the public name (and more when the user turned privacy mode off).
pub fn shape_user(caller: &Caller, m: &user::Model) -> Map<String, Json> {
    let mut map = Map::new();
    if caller.is_admin() || caller.user_id() == Some(m.id) {
        map.insert("id".into(), json!(m.id));
        map.insert("created".into(), json!(m.created));
        map.insert("name".into(), json!(m.name));
        map.insert("fullname".into(), json!(m.fullname));
        map.insert("email_addr".into(), json!(m.email_addr));
        map.insert("locale".into(), json!(m.locale));
        map.insert("info".into(), m.info.clone().unwrap_or_else(|| json!({})));
        map.insert("admin".into(), json!(m.admin));
        map.insert("pro".into(), json!(m.pro));
        map.insert("privacy_mode".into(), json!(m.privacy_mode));
        map.insert("restrict".into(), json!(m.restrict));
        map.insert("enabled".into(), json!(m.enabled));
        map.insert("valid_email".into(), json!(m.valid_email));
        map.insert("email_pending".into(), json!(m.email_pending));
        for key in ["n_answers", "registered_ago", "rank", "score"] {
            map.insert(key.into(), Json::Null);
        }
    } else {
        map.insert("name".into(), json!(m.name));
        map.insert("locale".into(), json!(m.locale));
        if !m.privacy_mode {
            map.insert("fullname".into(), json!(m.fullname));
            map.insert("created".into(), json!(m.created));
        }
    }
    map
}
