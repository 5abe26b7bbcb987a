//! Each PYBOSSA resource's own rules: the names clients may use (and who may read and write
//! them), who may read and write a row, what a caller sees, and the side effects of a write.
//! The shared flow lives in [`crate::domain::rest::crud`].

use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseTransaction, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set,
    sea_query::{Expr, ExprTrait, Query, SelectStatement},
};
use serde_json::{Map, Value as Json, json};

use crate::domain::{
    Ctx,
    rest::crud::{ListParams, Owners, Resource},
    rest::fields::{Access, Field, Write, field, reserved_name},
};
use crate::{
    auth::{Caller, new_api_key},
    error::{ApiError, ApiResult},
    store::{
        counters::{self, Delta},
        entities::{
            announcement, blogpost, category, helpingmaterial, page, project, project_owner,
            result, task, task_run, user,
        },
        now,
    },
};

use Access::{Nobody, Owner};

/// Writable by whoever the resource lets change the row.
const fn owned(name: &'static str) -> Field {
    field(name).write(Write::Owner)
}

/// Set by the server or checked by the resource on create; unchangeable after.
const fn fixed(name: &'static str) -> Field {
    field(name).write(Write::Fixed)
}

// ---------------------------------------------------------------------------------------------
// Ownership helpers

/// The ids in a project's `owners_ids`, plus its primary owner.
pub fn owner_ids(p: &project::Model) -> Vec<i32> {
    let mut ids: Vec<i32> = p
        .owners_ids
        .as_ref()
        .and_then(Json::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_i64())
                .filter_map(|v| i32::try_from(v).ok())
                .collect()
        })
        .unwrap_or_default();
    if !ids.contains(&p.owner_id) {
        ids.insert(0, p.owner_id);
    }
    ids
}

pub fn is_owner(caller: &Caller, p: &project::Model) -> bool {
    caller
        .user_id()
        .is_some_and(|id| owner_ids(p).contains(&id))
}

pub fn owner_or_admin(caller: &Caller, p: &project::Model) -> bool {
    caller.is_admin() || is_owner(caller, p)
}

fn primary_owner_or_admin(caller: &Caller, p: &project::Model) -> bool {
    caller.is_admin() || caller.user_id() == Some(p.owner_id)
}

/// Whether the caller may see a project and what belongs to it: published, or theirs.
pub fn project_visible(caller: &Caller, p: &project::Model) -> bool {
    p.published || owner_or_admin(caller, p)
}

pub async fn load_project(db: &impl ConnectionTrait, id: i32) -> ApiResult<Option<project::Model>> {
    Ok(project::Entity::find_by_id(id).one(db).await?)
}

/// The project named by `project_id` in a create body; PYBOSSA answers 415 when it is missing.
async fn body_project(ctx: Ctx<'_>, body: &Map<String, Json>) -> ApiResult<project::Model> {
    let id = body.get("project_id").and_then(|v| match v {
        Json::Number(n) => n.as_i64(),
        Json::String(s) => s.trim().parse().ok(),
        _ => None,
    });
    let project = match id.and_then(|id| i32::try_from(id).ok()) {
        Some(id) => load_project(&ctx.infra.db, id).await?,
        None => None,
    };
    project.ok_or_else(|| ApiError::attribute("'NoneType' object has no attribute 'owner_id'"))
}

/// A row's project, which must exist.
async fn project_of(db: &impl ConnectionTrait, project_id: i32) -> ApiResult<project::Model> {
    load_project(db, project_id)
        .await?
        .ok_or(ApiError::NotFound)
}

/// `SELECT id FROM project WHERE owner_id = uid`: PYBOSSA's owner context.
fn owned_by(uid: i32) -> SelectStatement {
    Query::select()
        .column(project::Column::Id)
        .from(project::Entity)
        .and_where(project::Column::OwnerId.eq(uid))
        .to_owned()
}

/// Projects this caller may see: published ones, and drafts they co-own.
fn visible_projects(caller: &Caller) -> SelectStatement {
    let mut visible = Condition::any().add(project::Column::Published.eq(true));
    if let Some(uid) = caller.user_id() {
        visible = visible.add(project::Column::Id.in_subquery(co_owned_by(uid)));
    }
    Query::select()
        .column(project::Column::Id)
        .from(project::Entity)
        .cond_where(visible)
        .to_owned()
}

/// The projects `uid` owns or co-owns, in SQL.
pub fn co_owned_by(uid: i32) -> SelectStatement {
    Query::select()
        .column(project_owner::Column::ProjectId)
        .from(project_owner::Entity)
        .and_where(project_owner::Column::UserId.eq(uid))
        .to_owned()
}

/// Rows of projects `uid` owns or co-owns.
fn in_co_owned(project_col: impl ColumnTrait, uid: i32) -> Option<Condition> {
    Some(Condition::all().add(project_col.in_subquery(co_owned_by(uid))))
}

/// Owner context for resources that belong to a project.
fn project_owner_context(
    caller: &Caller,
    params: &ListParams,
    project_col: impl ColumnTrait,
) -> Condition {
    let mut cond = Condition::all();
    if let (Some(uid), false) = (caller.user_id(), params.all) {
        cond = cond.add(project_col.in_subquery(owned_by(uid)));
    }
    cond
}

/// Visibility of rows that inherit it from their project: PYBOSSA's owner context, and for
/// callers who are not admins only rows of published projects or of projects they co-own.
fn inherits_visibility(
    caller: &Caller,
    params: &ListParams,
    project_col: impl ColumnTrait + Copy,
) -> Condition {
    let mut cond = project_owner_context(caller, params, project_col);
    if !caller.is_admin() {
        cond = cond.add(project_col.in_subquery(visible_projects(caller)));
    }
    cond
}

async fn project_readable(ctx: Ctx<'_>, project_id: i32) -> ApiResult<bool> {
    Ok(match load_project(&ctx.infra.db, project_id).await? {
        Some(p) => project_visible(ctx.caller, &p),
        None => ctx.caller.is_admin(),
    })
}

fn require_user(caller: &Caller) -> ApiResult<i32> {
    caller.user_id().ok_or(ApiError::Unauthorized(None))
}

fn deny(caller: &Caller) -> ApiError {
    ApiError::denied(caller.is_authenticated())
}

fn allow(caller: &Caller, allowed: bool) -> ApiResult<()> {
    if allowed { Ok(()) } else { Err(deny(caller)) }
}

fn admin_only(caller: &Caller) -> ApiResult<()> {
    allow(caller, caller.is_admin())
}

fn empty_to_null(body: &mut Map<String, Json>, keys: &[&str]) {
    for key in keys {
        if body
            .get(*key)
            .and_then(Json::as_str)
            .is_some_and(|s| s.trim().is_empty())
        {
            body.insert((*key).to_string(), Json::Null);
        }
    }
}

fn default_object(body: &mut Map<String, Json>, key: &str) {
    if body.get(key).is_none_or(Json::is_null) {
        body.insert(key.to_string(), json!({}));
    }
}

// ---------------------------------------------------------------------------------------------
// project

pub struct Project;

/// Keys of a project's `info` that everyone may read; the rest is for owners and admins.
const PUBLIC_INFO_KEYS: &[&str] = &[
    "container",
    "thumbnail",
    "thumbnail_url",
    "task_presenter",
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
    project_owner::Entity::delete_many()
        .filter(project_owner::Column::ProjectId.eq(p.id))
        .exec(txn)
        .await?;
    let rows = owner_ids(p)
        .into_iter()
        .map(|uid| project_owner::ActiveModel {
            project_id: sea_orm::Set(p.id),
            user_id: sea_orm::Set(uid),
        });
    project_owner::Entity::insert_many(rows)
        .exec_without_returning(txn)
        .await?;
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
    Ok(())
}

impl Resource for Project {
    type Entity = project::Entity;
    const TARGET: &'static str = "project";
    const CLASS: &'static str = "Project";
    const FIELDS: &'static [Field] = PROJECT_FIELDS;
    const PARENTS: &'static [&'static str] = &["category"];

    fn stale_keys(m: &project::Model) -> Vec<String> {
        let mut keys = crate::domain::platform::cache::keys_for_project(m.id);
        keys.push(crate::domain::platform::cache::PROJECT_LISTINGS.into());
        keys.push(crate::domain::platform::cache::project_row_key(m.id));
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
                        match category::Entity::insert(general)
                            .on_conflict(
                                sea_orm::sea_query::OnConflict::column(category::Column::ShortName)
                                    .do_nothing()
                                    .to_owned(),
                            )
                            .exec_without_returning(&ctx.infra.db)
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
        sync_owners(txn, m).await?;
        counters::init(txn, m.id).await?;
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
            sync_owners(txn, new).await?;
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

/// Makes `new_owner` the project's primary owner (the primary owner or an admin only); the
/// previous primary owner stays a co-owner.
pub async fn transfer(ctx: Ctx<'_>, id: i32, new_owner: i32) -> ApiResult<project::Model> {
    require_user(ctx.caller)?;
    let existing = crate::domain::rest::crud::find::<Project>(&ctx.infra.db, id).await?;
    if !project_visible(ctx.caller, &existing) {
        return Err(deny(ctx.caller));
    }
    if !primary_owner_or_admin(ctx.caller, &existing) {
        return Err(ApiError::forbidden(
            "Only the primary owner or an admin can transfer a project",
        ));
    }
    let target = user::Entity::find_by_id(new_owner)
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
    let updated = sea_orm::ActiveModelTrait::update(am, &txn).await?;
    sync_owners(&txn, &updated).await?;
    txn.commit().await?;
    // Drops the project's row kept by the loop too (`stale_keys` names it).
    crate::domain::platform::cache::invalidate(
        &ctx.infra.kv,
        ctx.local,
        &Project::stale_keys(&updated),
    )
    .await;
    Ok(updated)
}

/// A new secret key for the project: project tokens signed with the old one are refused from
/// now on (external users need a new token).
pub async fn rotate_secret(ctx: Ctx<'_>, id: i32) -> ApiResult<project::Model> {
    let existing = crate::domain::rest::crud::find::<Project>(&ctx.infra.db, id).await?;
    if !owner_or_admin(ctx.caller, &existing) {
        return Err(deny(ctx.caller));
    }
    let mut am: project::ActiveModel = existing.into();
    am.secret_key = Set(new_api_key());
    am.updated = Set(now());
    let updated = sea_orm::ActiveModelTrait::update(am, &ctx.infra.db).await?;
    // Drops the project's row kept by the loop too (`stale_keys` names it).
    crate::domain::platform::cache::invalidate(
        &ctx.infra.kv,
        ctx.local,
        &Project::stale_keys(&updated),
    )
    .await;
    Ok(updated)
}

// ---------------------------------------------------------------------------------------------
// category

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

// ---------------------------------------------------------------------------------------------
// task

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

/// A task's fields.
pub const TASK_FIELDS: &[Field] = &[
    field("id"),
    field("created"),
    // A task's project is checked on create; tasks never move.
    fixed("project_id"),
    field("state"),
    owned("quorum"),
    owned("calibration"),
    owned("priority_0"),
    owned("info"),
    owned("n_answers"),
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

    fn stale_keys(m: &task::Model) -> Vec<String> {
        // Task writes touch the project's `updated`, which listings show.
        let mut keys = crate::domain::platform::cache::keys_for_project(m.project_id);
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
        let mut cond = inherits_visibility(ctx.caller, params, task::Column::ProjectId);
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

    async fn can_read(ctx: Ctx<'_>, m: &task::Model) -> ApiResult<bool> {
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
        counters::add(
            txn,
            m.project_id,
            Delta {
                tasks: 1,
                answers_expected: i64::from(m.n_answers),
                ..Delta::default()
            },
        )
        .await?;
        touch_project(txn, m.project_id).await
    }

    async fn before_update(
        _ctx: Ctx<'_>,
        _existing: &task::Model,
        body: &mut Map<String, Json>,
    ) -> ApiResult<()> {
        check_n_answers(body)
    }

    async fn after_update(
        _ctx: Ctx<'_>,
        txn: &DatabaseTransaction,
        old: &task::Model,
        new: &task::Model,
    ) -> ApiResult<()> {
        // A redundancy change completes a task that now has enough answers (with its result),
        // or reopens one that no longer has; any other edit leaves the state alone.
        if old.n_answers != new.n_answers {
            let mut delta = crate::domain::volunteer::completion::settle(txn, new).await?;
            delta.answers_expected = i64::from(new.n_answers) - i64::from(old.n_answers);
            counters::add(txn, new.project_id, delta).await?;
        }
        touch_project(txn, new.project_id).await
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
        let delta = Delta {
            tasks: -1,
            task_runs: -i64::from(m.n_task_runs),
            completed_tasks: if m.state == "completed" { -1 } else { 0 },
            results: -(results as i64),
            answers_expected: -i64::from(m.n_answers),
            ..Delta::default()
        };
        counters::add(txn, m.project_id, delta).await?;
        if m.n_task_runs > 0 {
            // Its answers went with it: recount the project's volunteers and activity.
            crate::store::jobs::enqueue(
                txn,
                crate::store::jobs::NewJob::rebuild_stats(m.project_id),
            )
            .await?;
        }
        touch_project(txn, m.project_id).await
    }
}

async fn first_category(db: &impl ConnectionTrait) -> ApiResult<Option<i32>> {
    Ok(category::Entity::find()
        .select_only()
        .column(category::Column::Id)
        .order_by_asc(category::Column::Id)
        .into_tuple::<i32>()
        .one(db)
        .await?)
}

/// PYBOSSA refreshes `project.updated` whenever one of its tasks or answers changes.
pub async fn touch_project(txn: &impl ConnectionTrait, project_id: i32) -> ApiResult<()> {
    project::Entity::update_many()
        .col_expr(project::Column::Updated, Expr::value(now()))
        .filter(project::Column::Id.eq(project_id))
        .exec(txn)
        .await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// taskrun

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
        crate::domain::platform::cache::keys_for_project(m.project_id)
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
    async fn list_scope(ctx: Ctx<'_>, params: &ListParams) -> ApiResult<Condition> {
        Ok(inherits_visibility(
            ctx.caller,
            params,
            task_run::Column::ProjectId,
        ))
    }
    async fn can_read(ctx: Ctx<'_>, m: &task_run::Model) -> ApiResult<bool> {
        project_readable(ctx, m.project_id).await
    }
    /// The answer's author or an admin, while the answer is in no result.
    async fn may_write(
        ctx: Ctx<'_>,
        db: &impl ConnectionTrait,
        m: &task_run::Model,
    ) -> ApiResult<()> {
        let uid = require_user(ctx.caller)?;
        allow(ctx.caller, ctx.caller.is_admin() || m.user_id == Some(uid))?;
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
        counters::add(
            txn,
            m.project_id,
            Delta {
                task_runs: -1,
                ..Delta::default()
            },
        )
        .await?;
        crate::store::jobs::enqueue(txn, crate::store::jobs::NewJob::rebuild_stats(m.project_id))
            .await?;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// result

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
        crate::domain::platform::cache::keys_for_project(m.project_id)
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

// ---------------------------------------------------------------------------------------------
// user

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
];

impl Resource for User {
    type Entity = user::Entity;
    const TARGET: &'static str = "user";
    const CLASS: &'static str = "User";
    const FIELDS: &'static [Field] = USER_FIELDS;

    fn stale_keys(m: &user::Model) -> Vec<String> {
        vec![
            crate::domain::platform::cache::GLOBAL_STATS.into(),
            crate::domain::platform::cache::LEADERBOARD.into(),
            crate::domain::platform::cache::account_row_key(m.id),
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

// ---------------------------------------------------------------------------------------------
// announcement

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

// ---------------------------------------------------------------------------------------------
// blogpost

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
        crate::domain::platform::cache::keys_for_project(m.project_id)
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
        let Some(project) = load_project(&ctx.infra.db, m.project_id).await? else {
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

// ---------------------------------------------------------------------------------------------
// helpingmaterial and page: owned by the project's primary owner

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
