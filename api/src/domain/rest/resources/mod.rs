//! Each PYBOSSA resource's own rules: the names clients may use (and who may read and write
//! them), who may read and write a row, what a caller sees, and the side effects of a write.
//! The shared flow lives in [`crate::domain::rest::crud`]; each resource has its file here, and
//! the ownership rules several of them share are below.

mod announcements;
mod blogposts;
mod categories;
mod content;
mod projects;
mod results;
mod taskruns;
mod tasks;
mod users;

pub use announcements::*;
pub use blogposts::*;
pub use categories::*;
pub use content::*;
pub use projects::*;
pub use results::*;
pub use taskruns::*;
pub use tasks::*;
pub use users::*;

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
    ids::{ProjectId, TaskId, UserId},
    store::{
        counters::{self, Delta},
        entities::{
            announcement, blogpost, category, helpingmaterial, page, project, project_owner,
            result, task, task::TaskState, task_run, user,
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
                .filter_map(serde_json::Value::as_i64)
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

pub async fn load_project(
    db: &impl ConnectionTrait,
    id: ProjectId,
) -> ApiResult<Option<project::Model>> {
    Ok(project::Entity::find_by_id(id.0).one(db).await?)
}

/// The project with this id or, when `key` is not a number, this short name.
pub async fn project_by_id_or_name(
    db: &impl ConnectionTrait,
    key: &str,
) -> ApiResult<project::Model> {
    let found = match key.parse::<i32>() {
        Ok(id) => load_project(db, ProjectId(id)).await?,
        Err(_) => {
            project::Entity::find()
                .filter(project::Column::ShortName.eq(key))
                .one(db)
                .await?
        }
    };
    found.ok_or(ApiError::NotFound)
}

pub async fn load_task(db: &impl ConnectionTrait, id: TaskId) -> ApiResult<Option<task::Model>> {
    Ok(task::Entity::find_by_id(id.0).one(db).await?)
}

/// The project named by `project_id` in a create body; PYBOSSA answers 415 when it is missing.
async fn body_project(ctx: Ctx<'_>, body: &Map<String, Json>) -> ApiResult<project::Model> {
    let id = body.get("project_id").and_then(|v| match v {
        Json::Number(n) => n.as_i64(),
        Json::String(s) => s.trim().parse().ok(),
        _ => None,
    });
    let project = match id.and_then(|id| i32::try_from(id).ok()) {
        Some(id) => load_project(&ctx.infra.db, ProjectId(id)).await?,
        None => None,
    };
    project.ok_or_else(|| ApiError::attribute("'NoneType' object has no attribute 'owner_id'"))
}

/// A row's project, which must exist.
async fn project_of(db: &impl ConnectionTrait, project_id: i32) -> ApiResult<project::Model> {
    load_project(db, ProjectId(project_id))
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

/// Gold tasks and the answers to them are their project's owners' (and admins'): for anyone
/// else a listing keeps only the rows `visible` selects, but in projects they co-own.
fn unless_owned(
    caller: &Caller,
    project_col: impl ColumnTrait + Copy,
    visible: Condition,
) -> Condition {
    if caller.is_admin() {
        return Condition::all();
    }
    let mut any = Condition::any().add(visible);
    if let Some(uid) = caller.user_id() {
        any = any.add(project_col.in_subquery(co_owned_by(uid)));
    }
    any
}

/// Whether the caller owns (or administers) the project: who may see its gold.
async fn sees_gold(ctx: Ctx<'_>, project_id: i32) -> ApiResult<bool> {
    if ctx.caller.is_admin() {
        return Ok(true);
    }
    if ctx.caller.user_id().is_none() {
        return Ok(false);
    }
    Ok(load_project(&ctx.infra.db, ProjectId(project_id))
        .await?
        .is_some_and(|p| is_owner(ctx.caller, &p)))
}

async fn project_readable(ctx: Ctx<'_>, project_id: i32) -> ApiResult<bool> {
    Ok(
        match load_project(&ctx.infra.db, ProjectId(project_id)).await? {
            Some(p) => project_visible(ctx.caller, &p),
            None => ctx.caller.is_admin(),
        },
    )
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
