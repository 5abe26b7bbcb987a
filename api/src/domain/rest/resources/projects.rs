//! A project: its fields, who sees a draft, and the owner actions beside CRUD (publish, transfer, a new secret).

use super::*;

pub struct Project;

/// Keys of a project's `info` that everyone may read; the rest is for owners and admins.
const PUBLIC_INFO_KEYS: &[&str] = &[
    "container",
    "thumbnail",
    "thumbnail_url",
    "task_presenter",
    // What the presenter's frame may fetch from, and the PYBOSSA page environment it wants:
    // both shape the public frame, so they are public.
    "presenter_connect",
    "presenter_compat",
    "template",
    "tutorial",
    "sched",
];

const PROJECT_FIELDS: &[Field] = &[
    field("id"),
    field("created"),
    field("updated"),
    reserved_name("completed"),
    owned("name"),
    owned("short_name"),
    owned("description"),
    owned("long_description"),
    // PYBOSSA hides these from everyone but owners.
    owned("webhook").read(Owner),
    owned("allow_anonymous_contributors").read(Owner),
    field("published").read(Owner),
    field("featured").write(Write::Admin),
    field("secret_key").read(Owner),
    owned("zip_download").read(Owner),
    field("contacted").read(Owner),
    // Changes through an explicit transfer only.
    fixed("owner_id"),
    owned("category_id"),
    // Ordering by a JSON column would rank rows by the keys only owners read.
    owned("info").no_sort(),
    owned("owners_ids").no_filter(),
];

/// Short names that collide with routes under `/project/`.
const RESERVED_SHORT_NAMES: &[&str] = &["category", "new", "search", "import"];

fn valid_short_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 255
        && s.chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn check_short_name(body: &Map<String, Json>) -> ApiResult<()> {
    if let Some(Json::String(sn)) = body.get("short_name") {
        if RESERVED_SHORT_NAMES.contains(&sn.as_str()) {
            return Err(ApiError::value(
                "Project short_name is not valid, as it's used by the system.",
            ));
        }
        if !valid_short_name(sn) {
            return Err(ApiError::value(
                "Project short_name may only contain letters, digits, '-', '_' and '.'",
            ));
        }
    }
    Ok(())
}

/// Validates `owners_ids` as a list of user ids and returns them.
fn parse_owner_ids(v: &Json) -> ApiResult<Vec<i32>> {
    let bad = || ApiError::data("owners_ids must be a list of user ids");
    match v {
        Json::Null => Ok(vec![]),
        Json::Array(items) => items
            .iter()
            .map(|i| {
                i.as_i64()
                    .and_then(|n| i32::try_from(n).ok())
                    .ok_or_else(bad)
            })
            .collect(),
        _ => Err(bad()),
    }
}

async fn sync_owners(txn: &DatabaseTransaction, p: &project::Model) -> ApiResult<()> {
    Box::pin(
        project_owner::Entity::delete_many()
            .filter(project_owner::Column::ProjectId.eq(p.id))
            .exec(txn),
    )
    .await?;
    let rows = owner_ids(p)
        .into_iter()
        .map(|uid| project_owner::ActiveModel {
            project_id: sea_orm::Set(p.id),
            user_id: sea_orm::Set(uid),
        });
    Box::pin(project_owner::Entity::insert_many(rows).exec_without_returning(txn)).await?;
    Ok(())
}

/// The owners a write leaves: primary owner first, every id an existing account (checked in
/// `after_update`), and only the primary owner or an admin may change who they are.
fn owners_after(ctx: Ctx<'_>, existing: &project::Model, v: &Json) -> ApiResult<Vec<i32>> {
    let mut owners = parse_owner_ids(v)?;
    owners.retain(|id| *id != existing.owner_id);
    owners.insert(0, existing.owner_id);
    owners.dedup();
    let mut before = owner_ids(existing);
    before.sort_unstable();
    let mut after = owners.clone();
    after.sort_unstable();
    if before != after && !primary_owner_or_admin(ctx.caller, existing) {
        return Err(ApiError::forbidden(
            "Only the primary owner or an admin can change a project's owners",
        ));
    }
    Ok(owners)
}

/// Every id is an existing account.
async fn check_accounts(db: &impl ConnectionTrait, ids: &[i32]) -> ApiResult<()> {
    let mut unique = ids.to_vec();
    unique.sort_unstable();
    unique.dedup();
    let found = user::Entity::find()
        .filter(user::Column::Id.is_in(unique.clone()))
        .count(db)
        .await?;
    if found != unique.len() as u64 {
        return Err(ApiError::Integrity(
            "owners_ids names a user that does not exist".into(),
        ));
    }
    Ok(())
}

/// A webhook URL whose host is a literal address in a refused range is refused when it is set
/// (names are checked again at every delivery).
fn check_webhook(ctx: Ctx<'_>, body: &Map<String, Json>) -> ApiResult<()> {
    if let Some(Json::String(url)) = body.get("webhook")
        && !url.trim().is_empty()
    {
        crate::domain::platform::outbound::check_url_literal(
            url.trim(),
            &ctx.infra.config.webhook_allow,
        )
        .map_err(|why| ApiError::value(format!("webhook: {why}")))?;
    }
    // A scheduled re-import must name a URL the outbound guard takes, and a sane period; a
    // presenter's origins must be origins.
    if let Some(info) = body.get("info") {
        crate::domain::platform::import::autoimport_of(info, &ctx.infra.config.webhook_allow)
            .map_err(ApiError::value)?;
        crate::domain::platform::presenter::connect_origins(info).map_err(ApiError::value)?;
        crate::domain::volunteer::quality::Quality::of(Some(info)).map_err(ApiError::value)?;
    }
    Ok(())
}

impl Resource for Project {
    type Entity = project::Entity;
    const TARGET: &'static str = "project";
    const CLASS: &'static str = "Project";
    const FIELDS: &'static [Field] = PROJECT_FIELDS;
    const PARENTS: &'static [&'static str] = &["category"];
    const CACHED_PUBLIC_LISTING: bool = true;
    const STATS: bool = true;
    const SEARCH: &'static [&'static str] = &["name", "short_name", "description"];

    fn refused_key(key: &str) -> Option<ApiError> {
        (key == "published")
            .then(|| ApiError::forbidden("You cannot publish a project via the API"))
    }

    fn stale_keys(m: &project::Model) -> Vec<String> {
        let mut keys = crate::domain::platform::cache::keys_for_project(ProjectId(m.id));
        keys.push(crate::domain::platform::cache::PROJECT_LISTINGS.into());
        keys.push(crate::domain::platform::cache::project_row_key(ProjectId(
            m.id,
        )));
        keys
    }
    fn id(m: &project::Model) -> i32 {
        m.id
    }
    fn owners(m: &project::Model) -> Owners {
        Owners::Users(owner_ids(m))
    }
    fn owned_by(uid: i32) -> Option<Condition> {
        in_co_owned(project::Column::Id, uid)
    }
    fn info_access(key: &str) -> Access {
        if PUBLIC_INFO_KEYS.contains(&key) {
            Access::Public
        } else {
            Owner
        }
    }

    async fn list_scope(ctx: Ctx<'_>, params: &ListParams) -> ApiResult<Condition> {
        let mut cond = Condition::all();
        if !ctx.caller.is_admin() {
            cond = cond.add(project::Column::Id.in_subquery(visible_projects(ctx.caller)));
        }
        if let (Some(uid), false) = (ctx.caller.user_id(), params.all) {
            cond = cond.add(project::Column::OwnerId.eq(uid));
        }
        Ok(cond)
    }

    async fn can_read(ctx: Ctx<'_>, m: &project::Model) -> ApiResult<bool> {
        Ok(project_visible(ctx.caller, m))
    }

    async fn may_write(
        ctx: Ctx<'_>,
        _db: &impl ConnectionTrait,
        m: &project::Model,
    ) -> ApiResult<()> {
        allow(ctx.caller, owner_or_admin(ctx.caller, m))
    }

    async fn before_create(ctx: Ctx<'_>, body: &mut Map<String, Json>) -> ApiResult<()> {
        let uid = require_user(ctx.caller)?;
        empty_to_null(body, &["name", "short_name", "description"]);
        check_short_name(body)?;
        check_webhook(ctx, body)?;
        let mut owners = match body.get("owners_ids") {
            Some(v) => parse_owner_ids(v)?,
            None => vec![],
        };
        if !owners.contains(&uid) {
            owners.push(uid);
        }
        check_accounts(&ctx.infra.db, &owners).await?;
        body.insert("owner_id".into(), json!(uid));
        body.insert("owners_ids".into(), json!(owners));
        match body.get("category_id").filter(|v| !v.is_null()) {
            Some(v) => {
                let id = v
                    .as_i64()
                    .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()));
                let exists = match id.and_then(|id| i32::try_from(id).ok()) {
                    Some(id) => category::Entity::find_by_id(id)
                        .one(&ctx.infra.db)
                        .await?
                        .is_some(),
                    None => false,
                };
                if !exists {
                    return Err(ApiError::BadRequest("category_id does not exist".into()));
                }
            }
            None => {
                let first = match first_category(&ctx.infra.db).await? {
                    Some(id) => id,
                    None => {
                        // A fresh site: its first project gets a general category instead of
                        // an error (concurrent first projects share it: names are unique).
                        let general = category::ActiveModel {
                            name: Set("General".into()),
                            short_name: Set("general".into()),
                            description: Set("Projects of every kind".into()),
                            created: Set(now()),
                            info: Set(Some(json!({}))),
                            ..Default::default()
                        };
                        match Box::pin(
                            category::Entity::insert(general)
                                .on_conflict(
                                    sea_orm::sea_query::OnConflict::column(
                                        category::Column::ShortName,
                                    )
                                    .do_nothing()
                                    .to_owned(),
                                )
                                .exec_without_returning(&ctx.infra.db),
                        )
                        .await
                        {
                            Ok(_) | Err(sea_orm::DbErr::RecordNotInserted) => {}
                            Err(e) => return Err(e.into()),
                        }
                        first_category(&ctx.infra.db)
                            .await?
                            .ok_or_else(|| ApiError::internal("no category after creating one"))?
                    }
                };
                body.insert("category_id".into(), json!(first));
            }
        }
        let ts = now();
        body.insert("created".into(), json!(ts));
        body.insert("updated".into(), json!(ts));
        body.insert("secret_key".into(), json!(new_api_key()));
        default_object(body, "info");
        Ok(())
    }

    async fn after_create(
        _ctx: Ctx<'_>,
        txn: &DatabaseTransaction,
        m: &project::Model,
    ) -> ApiResult<()> {
        Box::pin(sync_owners(txn, m)).await?;
        Box::pin(counters::init(txn, ProjectId(m.id))).await?;
        Ok(())
    }

    async fn before_update(
        ctx: Ctx<'_>,
        existing: &project::Model,
        body: &mut Map<String, Json>,
    ) -> ApiResult<()> {
        empty_to_null(body, &["name", "short_name", "description"]);
        check_short_name(body)?;
        check_webhook(ctx, body)?;
        if let Some(v) = body.get("owners_ids") {
            let owners = owners_after(ctx, existing, v)?;
            body.insert("owners_ids".into(), json!(owners));
        }
        if body.get("info").is_some_and(Json::is_null) {
            body.insert("info".into(), json!({}));
        }
        body.insert("updated".into(), json!(now()));
        Ok(())
    }

    async fn after_update(
        _ctx: Ctx<'_>,
        txn: &DatabaseTransaction,
        old: &project::Model,
        new: &project::Model,
    ) -> ApiResult<()> {
        if owner_ids(old) != owner_ids(new) {
            check_accounts(txn, &owner_ids(new)).await?;
            Box::pin(sync_owners(txn, new)).await?;
        }
        Ok(())
    }

    async fn before_delete(ctx: Ctx<'_>, m: &project::Model) -> ApiResult<()> {
        let results = result::Entity::find()
            .filter(result::Column::ProjectId.eq(m.id))
            .count(&ctx.infra.db)
            .await?;
        if results > 0 {
            return Err(deny(ctx.caller));
        }
        Ok(())
    }
}

/// The project, when the caller owns it or is an admin.
pub async fn owned_by_caller(ctx: Ctx<'_>, id: ProjectId) -> ApiResult<project::Model> {
    let existing = crate::domain::rest::crud::find::<Project>(&ctx.infra.db, id.0).await?;
    if !owner_or_admin(ctx.caller, &existing) {
        return Err(deny(ctx.caller));
    }
    Ok(existing)
}

/// Writes a project action's change; a project deleted meanwhile is not found.
async fn save(am: project::ActiveModel, db: &impl ConnectionTrait) -> ApiResult<project::Model> {
    match sea_orm::ActiveModelTrait::update(am, db).await {
        Ok(updated) => Ok(updated),
        Err(sea_orm::DbErr::RecordNotUpdated) => Err(ApiError::NotFound),
        Err(e) => Err(e.into()),
    }
}

/// After a project action: its cached listings, statistics and the loop's copy of its row go.
async fn forget(ctx: Ctx<'_>, updated: &project::Model) {
    crate::domain::platform::cache::invalidate(
        &ctx.infra.kv,
        ctx.local,
        &Project::stale_keys(updated),
    )
    .await;
}

/// Makes `new_owner` the project's primary owner (the primary owner or an admin only); the
/// previous primary owner stays a co-owner.
pub async fn transfer(ctx: Ctx<'_>, id: ProjectId, new_owner: UserId) -> ApiResult<project::Model> {
    require_user(ctx.caller)?;
    let existing = crate::domain::rest::crud::find::<Project>(&ctx.infra.db, id.0).await?;
    if !project_visible(ctx.caller, &existing) {
        return Err(deny(ctx.caller));
    }
    if !primary_owner_or_admin(ctx.caller, &existing) {
        return Err(ApiError::forbidden(
            "Only the primary owner or an admin can transfer a project",
        ));
    }
    let target = user::Entity::find_by_id(new_owner.0)
        .one(&ctx.infra.db)
        .await?
        .filter(|u| u.enabled)
        .ok_or_else(|| ApiError::BadRequest(format!("user {new_owner} does not exist")))?;
    let mut owners = owner_ids(&existing);
    owners.retain(|o| *o != target.id);
    owners.insert(0, target.id);
    let txn = crate::store::begin_write(&ctx.infra.db).await?;
    let mut am: project::ActiveModel = existing.clone().into();
    am.owner_id = Set(target.id);
    am.owners_ids = Set(Some(json!(owners)));
    am.updated = Set(now());
    let updated = save(am, &txn).await?;
    Box::pin(sync_owners(&txn, &updated)).await?;
    txn.commit().await?;
    forget(ctx, &updated).await;
    Ok(updated)
}

/// A new secret key for the project: project tokens signed with the old one are refused from
/// now on (external users need a new token).
pub async fn rotate_secret(ctx: Ctx<'_>, id: ProjectId) -> ApiResult<project::Model> {
    let existing = owned_by_caller(ctx, id).await?;
    let mut am: project::ActiveModel = existing.into();
    am.secret_key = Set(new_api_key());
    am.updated = Set(now());
    let updated = save(am, &ctx.infra.db).await?;
    forget(ctx, &updated).await;
    Ok(updated)
}

/// Takes the project out of listings and volunteers' reach again (owners and admins); its
/// tasks, answers and results stay. Unpublishing twice changes nothing.
pub async fn unpublish(ctx: Ctx<'_>, id: ProjectId) -> ApiResult<project::Model> {
    let existing = owned_by_caller(ctx, id).await?;
    if !existing.published {
        return Ok(existing);
    }
    let mut am: project::ActiveModel = existing.into();
    am.published = Set(false);
    am.updated = Set(now());
    let updated = save(am, &ctx.infra.db).await?;
    forget(ctx, &updated).await;
    Ok(updated)
}

/// Publishes the project (owners and admins): it then shows in listings and volunteers get its
/// tasks. A project needs a task first; publishing twice changes nothing.
pub async fn publish(ctx: Ctx<'_>, id: ProjectId) -> ApiResult<project::Model> {
    use sea_orm::PaginatorTrait;
    let existing = owned_by_caller(ctx, id).await?;
    let tasks = task::Entity::find()
        .filter(task::Column::ProjectId.eq(id))
        .count(&ctx.infra.db)
        .await?;
    if tasks == 0 {
        return Err(ApiError::BadRequest(
            "a project needs at least one task to be published".into(),
        ));
    }
    if existing.published {
        return Ok(existing);
    }
    let mut am: project::ActiveModel = existing.into();
    am.published = Set(true);
    am.updated = Set(now());
    let updated = save(am, &ctx.infra.db).await?;
    forget(ctx, &updated).await;
    Ok(updated)
}
