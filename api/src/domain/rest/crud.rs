//! The generic part of PYBOSSA's REST semantics, shared by every resource: filters, ordering,
//! pagination, typed coercion of JSON input, reserved and unknown keys, and the
//! read/create/update/delete flow around each resource's own rules (see [`Resource`]).

use std::collections::HashSet;

use sea_orm::{
    ActiveModelBehavior, ActiveModelTrait, ColumnTrait, ColumnType, Condition, ConnectionTrait,
    DatabaseTransaction, EntityTrait, IdenStatic, IntoActiveModel, Iterable, ModelTrait, Order,
    QueryFilter, QueryOrder, QuerySelect, Value,
    sea_query::{Expr, ExprTrait, LikeExpr},
};
use serde::Serialize;
use serde_json::{Map, Value as Json};

use crate::domain::{
    Ctx,
    rest::fields::{self, Access, Field, Write},
    rest::json_filter,
};
use crate::{
    auth::Caller,
    error::{ApiError, ApiResult},
    store::entities::project_owner,
};

/// List parameters after PYBOSSA's parsing rules (see `routes::common::parse_list`).
#[derive(Debug, Clone, Default)]
pub struct ListParams {
    pub limit: u64,
    pub offset: u64,
    pub last_id: Option<i64>,
    pub orderby: Option<String>,
    pub desc: bool,
    /// `all=1`: no implicit "only what I own" filter for signed-in callers.
    pub all: bool,
    /// `column=value` pairs, in request order.
    pub filters: Vec<(String, String)>,
    pub info: Option<String>,
    pub fulltext: bool,
    pub related: bool,
    pub participated: bool,
    pub stats: bool,
    pub full: bool,
    /// `search=words`: rows whose searchable fields hold every word (Tessera's, beside
    /// PYBOSSA's filters).
    pub search: Option<String>,
}

pub type Model<R> = <<R as Resource>::Entity as EntityTrait>::Model;
pub type Active<R> = <<R as Resource>::Entity as EntityTrait>::ActiveModel;
pub type Column<R> = <<R as Resource>::Entity as EntityTrait>::Column;

/// Who owns a row, for what only owners see.
pub enum Owners {
    /// Nobody in particular (categories, announcements).
    None,
    /// The owners of this project.
    Project(i32),
    /// These accounts (a project's own owners, an account holder).
    Users(Vec<i32>),
}

/// What makes one resource different from another. The engine below does the rest.
#[allow(async_fn_in_trait)]
pub trait Resource: Sized + Send + Sync + 'static {
    type Entity: EntityTrait<
            Model: Serialize + IntoActiveModel<Active<Self>> + Clone + Send + Sync,
            ActiveModel: ActiveModelTrait<Entity = Self::Entity> + ActiveModelBehavior + Send,
        >;
    /// Lower-case model name, as in PYBOSSA's `target`.
    const TARGET: &'static str;
    /// Python class name used in `TypeError` messages.
    const CLASS: &'static str;
    /// Every name a client may use, with who may read and write it (see [`fields`]).
    const FIELDS: &'static [Field];
    /// Whether the 400 message names the key (blogpost, category do in PYBOSSA).
    const RESERVED_NAMES_KEY: bool = false;
    /// Parents linked in `links` (`project`, `task`, `category`).
    const PARENTS: &'static [&'static str] = &[];
    const CAN_CREATE: bool = true;
    const CAN_DELETE: bool = true;
    /// Whether its rows carry PYBOSSA's `links` (accounts carry none).
    const LINKS: bool = true;
    /// Whether anonymous listings are the same for everyone and read often enough to be served
    /// from the cache (projects: the front page, categories, featured).
    const CACHED_PUBLIC_LISTING: bool = false;
    /// Whether `?stats=1` adds each row's statistics (projects).
    const STATS: bool = false;
    /// Query keys a listing takes besides the fields (tasks: `external_uid`).
    const LIST_KEYS: &'static [&'static str] = &[];
    /// Fields `search=` looks in (projects: name, short name, description); none: no search.
    const SEARCH: &'static [&'static str] = &[];

    /// The refusal of a body key that is not the caller's to send, when it has one of its own.
    fn refused_key(_key: &str) -> Option<ApiError> {
        None
    }

    fn id(model: &Model<Self>) -> i32;
    /// Whose row this is.
    fn owners(_model: &Model<Self>) -> Owners {
        Owners::None
    }
    /// The rows `uid` owns, in SQL: a filter or order on an owners-only field is confined to
    /// them for callers who are not admins. `None`: the resource has no owners.
    fn owned_by(_uid: i32) -> Option<Condition> {
        None
    }
    /// Who may read (and so filter on) `info.<key>`.
    fn info_access(_key: &str) -> Access {
        Access::Public
    }

    /// SQL conditions every listing gets: visibility and PYBOSSA's owner context.
    async fn list_scope(ctx: Ctx<'_>, params: &ListParams) -> ApiResult<Condition>;
    /// Whether the caller may read this row (item GET; rows of a listing are already scoped).
    async fn can_read(ctx: Ctx<'_>, model: &Model<Self>) -> ApiResult<bool>;
    /// Whether the caller may change this row: checked before an update or delete, and on the
    /// row a create or update wrote, before it commits.
    /// `db` is the write's transaction for the second check.
    async fn may_write(
        ctx: Ctx<'_>,
        db: &impl ConnectionTrait,
        model: &Model<Self>,
    ) -> ApiResult<()>;
    /// Authorises a create and completes the body (owner, timestamps); runs after key checks.
    async fn before_create(ctx: Ctx<'_>, body: &mut Map<String, Json>) -> ApiResult<()>;
    async fn after_create(
        _ctx: Ctx<'_>,
        _txn: &DatabaseTransaction,
        _model: &Model<Self>,
    ) -> ApiResult<()> {
        Ok(())
    }
    /// Checks an update's body beyond its keys; runs after [`Resource::may_write`].
    async fn before_update(
        _ctx: Ctx<'_>,
        _existing: &Model<Self>,
        _body: &mut Map<String, Json>,
    ) -> ApiResult<()> {
        Ok(())
    }
    async fn after_update(
        _ctx: Ctx<'_>,
        _txn: &DatabaseTransaction,
        _old: &Model<Self>,
        _new: &Model<Self>,
    ) -> ApiResult<()> {
        Ok(())
    }
    /// Checks a delete beyond [`Resource::may_write`].
    async fn before_delete(_ctx: Ctx<'_>, _model: &Model<Self>) -> ApiResult<()> {
        Ok(())
    }
    async fn after_delete(
        _ctx: Ctx<'_>,
        _txn: &DatabaseTransaction,
        _model: &Model<Self>,
    ) -> ApiResult<()> {
        Ok(())
    }
    /// Cache entries a write to this row makes stale; dropped once the write commits.
    fn stale_keys(_model: &Model<Self>) -> Vec<String> {
        Vec::new()
    }
    /// What a caller at `level` sees of a row. The default shows the fields open to that level.
    fn shape(caller: &Caller, level: Access, model: &Model<Self>) -> Map<String, Json> {
        let _ = caller;
        to_map::<Self>(model, level)
    }
}

/// The fields of a row open to a caller at `level`, with `info` cut to the keys open to it.
pub fn to_map<R: Resource>(model: &Model<R>, level: Access) -> Map<String, Json> {
    let Ok(Json::Object(mut map)) = serde_json::to_value(model) else {
        return Map::new();
    };
    map.retain(|k, _| field::<R>(k).is_some_and(|f| f.readable(level)));
    if let Some(Json::Object(info)) = map.get_mut("info") {
        info.retain(|k, _| readable_info::<R>(k, level));
    }
    map
}

fn readable_info<R: Resource>(key: &str, level: Access) -> bool {
    let need = R::info_access(key);
    need != Access::Nobody && level >= need
}

/// Who is looking at rows of one resource: how close they stand to each row.
pub struct Viewer {
    admin: bool,
    user: Option<i32>,
    /// The projects the caller owns or co-owns (loaded only for resources owned by projects).
    projects: HashSet<i32>,
}

impl Viewer {
    pub async fn of<R: Resource>(ctx: Ctx<'_>) -> ApiResult<Self> {
        let admin = ctx.caller.is_admin();
        let user = ctx.caller.user_id();
        let mut projects = HashSet::new();
        if let (Some(uid), false) = (user, admin)
            && R::owned_by(uid).is_some()
            && own_column::<R>("project_id").is_some()
        {
            projects = owned_projects(&ctx.infra.db, uid).await?;
        }
        Ok(Self {
            admin,
            user,
            projects,
        })
    }

    /// The caller's level for one row.
    pub fn level<R: Resource>(&self, model: &Model<R>) -> Access {
        if self.admin {
            return Access::Admin;
        }
        let Some(uid) = self.user else {
            return Access::Public;
        };
        let owner = match R::owners(model) {
            Owners::None => false,
            Owners::Project(id) => self.projects.contains(&id),
            Owners::Users(ids) => ids.contains(&uid),
        };
        if owner { Access::Owner } else { Access::Public }
    }
}

/// The projects `uid` owns or co-owns.
pub async fn owned_projects(db: &impl ConnectionTrait, uid: i32) -> ApiResult<HashSet<i32>> {
    let ids: Vec<i32> = project_owner::Entity::find()
        .select_only()
        .column(project_owner::Column::ProjectId)
        .filter(project_owner::Column::UserId.eq(uid))
        .into_tuple()
        .all(db)
        .await?;
    Ok(ids.into_iter().collect())
}

/// The listed field a client's name refers to: exact and case-sensitive, never through
/// SeaORM's `Column::from_str` (which also takes camelCase spellings).
pub fn field<R: Resource>(name: &str) -> Option<&'static Field> {
    fields::find(R::FIELDS, name)
}

/// The column behind a listed field.
fn column_of<R: Resource>(f: &Field) -> Option<Column<R>> {
    if !f.column {
        return None;
    }
    Column::<R>::iter().find(|c| c.as_str() == f.name)
}

/// The column of one of the server's own names (never a client's).
pub fn own_column<R: Resource>(name: &'static str) -> Option<Column<R>> {
    Column::<R>::iter().find(|c| c.as_str() == name)
}

fn unknown_attribute<R: Resource>(key: &str) -> ApiError {
    ApiError::attribute(format!(
        "type object '{}' has no attribute '{key}'",
        R::CLASS
    ))
}

/// How a listing may use a field it names (a filter, an order, an `info` key).
enum Use {
    /// Open to the caller over every row.
    Open,
    /// Open over the rows the caller owns only.
    Owned(Condition),
}

/// Whether the caller may filter or order on something open to `need`; `None` when not at all.
fn usable<R: Resource>(caller: &Caller, need: Access) -> Option<Use> {
    match need {
        Access::Public => Some(Use::Open),
        _ if caller.is_admin() => (need != Access::Nobody).then_some(Use::Open),
        Access::Owner => caller.user_id().and_then(R::owned_by).map(Use::Owned),
        Access::Admin | Access::Nobody => None,
    }
}

/// A filterable (or sortable) column the caller may use, adding to `cond` the rows it is
/// confined to.
fn listing_column<R: Resource>(
    caller: &Caller,
    name: &str,
    sort: bool,
    cond: &mut Condition,
) -> ApiResult<(&'static Field, Column<R>)> {
    let found = field::<R>(name)
        .filter(|f| if sort { f.sort } else { f.filter })
        .and_then(|f| Some((f, column_of::<R>(f)?)));
    let Some((f, col)) = found else {
        return Err(unknown_attribute::<R>(name));
    };
    match usable::<R>(caller, f.read) {
        Some(Use::Open) => {}
        Some(Use::Owned(owned)) => {
            *cond = std::mem::replace(cond, Condition::all()).add(owned);
        }
        None => return Err(unknown_attribute::<R>(name)),
    }
    Ok((f, col))
}

/// Parses PYBOSSA's fuzzy booleans (`true|yes|on|y|1`, `false|no|off|n|0`).
pub fn fuzzy_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "y" | "1" | "t" => Some(true),
        "false" | "no" | "off" | "n" | "0" | "f" => Some(false),
        _ => None,
    }
}

/// A query-string value as a typed database value for `col`.
fn query_value(ty: &ColumnType, key: &str, raw: &str) -> ApiResult<Value> {
    let bad = || ApiError::data(format!("invalid input for {key}: '{raw}'"));
    Ok(match ty {
        ColumnType::Integer | ColumnType::SmallInteger | ColumnType::TinyInteger => {
            Value::Int(Some(raw.trim().parse().map_err(|_| bad())?))
        }
        ColumnType::BigInteger => Value::BigInt(Some(raw.trim().parse().map_err(|_| bad())?)),
        ColumnType::Double | ColumnType::Float | ColumnType::Decimal(_) => {
            Value::Double(Some(raw.trim().parse().map_err(|_| bad())?))
        }
        ColumnType::Boolean => Value::Bool(Some(fuzzy_bool(raw).ok_or_else(bad)?)),
        ColumnType::Json | ColumnType::JsonBinary => Value::Json(Some(Box::new(
            serde_json::from_str(raw).map_err(|_| bad())?,
        ))),
        _ => Value::String(Some(raw.to_string())),
    })
}

/// A JSON body value as a typed database value for a column; numeric strings are accepted for
/// numbers (pbs sends `n_answers` as a string), and `null` only where the column allows it.
/// Admin-only flags take JSON booleans only.
fn body_value(ty: &ColumnType, nullable: bool, f: &Field, v: &Json) -> ApiResult<Value> {
    let key = f.name;
    let bad = || ApiError::data(format!("invalid input for {key}: {v}"));
    if v.is_null() {
        if !nullable {
            return Err(ApiError::Integrity(format!(
                "null value in column \"{key}\" violates not-null constraint"
            )));
        }
        return Ok(match ty {
            ColumnType::Integer | ColumnType::SmallInteger | ColumnType::TinyInteger => {
                Value::Int(None)
            }
            ColumnType::BigInteger => Value::BigInt(None),
            ColumnType::Double | ColumnType::Float | ColumnType::Decimal(_) => Value::Double(None),
            ColumnType::Boolean => Value::Bool(None),
            ColumnType::Json | ColumnType::JsonBinary => Value::Json(None),
            _ => Value::String(None),
        });
    }
    let as_f64 = || match v {
        Json::Number(n) => n.as_f64(),
        Json::String(s) => s.trim().parse::<f64>().ok(),
        Json::Bool(b) => Some(f64::from(u8::from(*b))),
        _ => None,
    };
    let as_int = || -> ApiResult<i64> {
        let f = as_f64().ok_or_else(bad)?;
        if f.fract() != 0.0 || !f.is_finite() {
            return Err(bad());
        }
        Ok(f as i64)
    };
    Ok(match ty {
        ColumnType::Integer | ColumnType::SmallInteger | ColumnType::TinyInteger => {
            Value::Int(Some(i32::try_from(as_int()?).map_err(|_| bad())?))
        }
        ColumnType::BigInteger => Value::BigInt(Some(as_int()?)),
        ColumnType::Double | ColumnType::Float | ColumnType::Decimal(_) => {
            let f = as_f64().ok_or_else(bad)?;
            if !f.is_finite() {
                return Err(bad());
            }
            Value::Double(Some(f))
        }
        ColumnType::Boolean => Value::Bool(Some(match v {
            Json::Bool(b) => *b,
            _ if f.write == Write::Admin => {
                return Err(ApiError::data(format!(
                    "{key} must be true or false, not {v}"
                )));
            }
            Json::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
            Json::String(s) => fuzzy_bool(s).ok_or_else(bad)?,
            _ => return Err(bad()),
        })),
        ColumnType::Json | ColumnType::JsonBinary => Value::Json(Some(Box::new(v.clone()))),
        _ => Value::String(Some(match v {
            Json::String(s) => s.clone(),
            Json::Number(n) => n.to_string(),
            Json::Bool(b) => b.to_string(),
            _ => return Err(bad()),
        })),
    })
}

/// A body key the caller may not send as it is.
fn refused_key<R: Resource>(key: &str) -> ApiError {
    if let Some(own) = R::refused_key(key) {
        return own;
    }
    ApiError::BadRequest(if R::RESERVED_NAMES_KEY {
        format!("Reserved keys in payload: {key}")
    } else {
        "Reserved keys in payload".into()
    })
}

/// Checks every key of a create (`existing` is `None`) or update body against the resource's
/// fields: reserved keys are a 400, unknown ones a 415; fixed fields and, for callers who are
/// not admins, admin-only ones may only be sent with the value they already have (then they
/// are dropped from the body), or on create as `false` or `null`. `link`/`links` are dropped.
pub fn check_keys<R: Resource>(
    caller: &Caller,
    body: &mut Map<String, Json>,
    existing: Option<&Model<R>>,
) -> ApiResult<()> {
    body.remove("link");
    body.remove("links");
    body.retain(|k, _| field::<R>(k).is_none_or(|f| f.write != Write::ReadOnly));
    // PYBOSSA answers a reserved key before an unknown one.
    if let Some(key) = body
        .keys()
        .find(|k| field::<R>(k).is_some_and(|f| f.write == Write::Reserved))
    {
        return Err(refused_key::<R>(key));
    }
    let mut unchanged = Vec::new();
    for (key, v) in body.iter() {
        let Some((f, col)) = field::<R>(key).and_then(|f| Some((f, column_of::<R>(f)?))) else {
            return Err(ApiError::type_error(format!(
                "'{key}' is an invalid keyword argument for {}",
                R::CLASS
            )));
        };
        let guarded = match f.write {
            Write::Fixed => true,
            Write::Admin => !caller.is_admin(),
            Write::Owner | Write::Reserved | Write::ReadOnly => false,
        };
        if !guarded {
            continue;
        }
        let def = col.def();
        let value = body_value(def.get_column_type(), def.is_null(), f, v)?;
        let same = match existing {
            Some(m) => value == m.get(col),
            None => f.write == Write::Fixed || matches!(v, Json::Null | Json::Bool(false)),
        };
        if !same {
            return Err(ApiError::forbidden(match f.write {
                Write::Admin => format!("Only admins can change {key}"),
                _ if key == "owner_id" => {
                    "owner_id changes only through POST /api/project/{id}/transfer".to_string()
                }
                _ => format!("{key} cannot be changed"),
            }));
        }
        if existing.is_some() {
            unchanged.push(key.clone());
        }
    }
    for key in unchanged {
        body.remove(&key);
    }
    Ok(())
}

/// Applies a checked body to an active model, column by column, with type coercion.
fn apply<R: Resource>(am: &mut Active<R>, body: &Map<String, Json>) -> ApiResult<()> {
    for (key, v) in body {
        let Some((f, col)) = field::<R>(key).and_then(|f| Some((f, column_of::<R>(f)?))) else {
            return Err(ApiError::type_error(format!(
                "'{key}' is an invalid keyword argument for {}",
                R::CLASS
            )));
        };
        let def = col.def();
        let value = body_value(def.get_column_type(), def.is_null(), f, v)?;
        am.try_set(col, value)
            .map_err(|_| ApiError::data(format!("invalid input for {key}: {v}")))?;
    }
    Ok(())
}

fn id_column<R: Resource>() -> Column<R> {
    own_column::<R>("id").unwrap_or_else(|| unreachable!("every resource has an id column"))
}

/// The `info` filter's keys, each as named by the client: `k::v|k2::v2` names its keys, a JSON
/// object its first-level keys; any other JSON value names no key but may match any.
fn info_keys(raw: &str) -> Option<Vec<String>> {
    if raw.contains("::") {
        return Some(
            raw.split('|')
                .filter_map(|pair| pair.split_once("::"))
                .map(|(k, _)| k.to_string())
                .collect(),
        );
    }
    match serde_json::from_str::<Json>(raw) {
        Ok(Json::Object(map)) => Some(map.keys().cloned().collect()),
        Ok(_) | Err(_) => None,
    }
}

/// Column filters, `info`, and pagination applied to a select.
pub fn list_query<R: Resource>(
    ctx: Ctx<'_>,
    params: &ListParams,
    scope: Condition,
) -> ApiResult<sea_orm::Select<R::Entity>> {
    let mut cond = scope;
    for (key, raw) in &params.filters {
        let (f, col) = listing_column::<R>(ctx.caller, key, false, &mut cond)?;
        let ty = col.def().get_column_type().clone();
        let expr = match f.name {
            // `project_id=[1,2]`, `1,2` or `5`: every digit run, OR-ed.
            "project_id" => {
                let ids: Vec<i32> = raw
                    .split(|c: char| !c.is_ascii_digit())
                    .filter(|s| !s.is_empty())
                    .filter_map(|s| s.parse().ok())
                    .collect();
                if ids.is_empty() {
                    return Err(ApiError::data(format!(
                        "invalid input for project_id: '{raw}'"
                    )));
                }
                col.is_in(ids)
            }
            "created" => {
                Expr::col(col).like(LikeExpr::new(format!("{}%", escape_like(raw))).escape('\\'))
            }
            // PYBOSSA ignores this one.
            "fav_user_ids" => continue,
            _ => col.eq(query_value(&ty, key, raw)?),
        };
        cond = cond.add(expr);
    }
    if let Some(info) = &params.info {
        let info_field = field::<R>("info").filter(|f| f.column && f.filter);
        let Some(info_field) = info_field else {
            return Err(unknown_attribute::<R>("info"));
        };
        // The info column itself, then each key the filter names.
        let mut needs = vec![info_field.read];
        match info_keys(info) {
            Some(keys) => needs.extend(keys.iter().map(|k| R::info_access(k))),
            // A value that may match anything inside needs every key to be open.
            None => needs.push(R::info_access("")),
        }
        let need = needs.into_iter().max().unwrap_or(Access::Public);
        match usable::<R>(ctx.caller, need) {
            Some(Use::Open) => {}
            Some(Use::Owned(owned)) => cond = cond.add(owned),
            None => return Err(unknown_attribute::<R>("info")),
        }
        let table = sea_orm::EntityName::table_name(&R::Entity::default());
        cond = cond.add(json_filter::info_condition(
            ctx.infra.backend(),
            table,
            info,
            params.fulltext,
        )?);
    }
    if let Some(words) = &params.search {
        cond = cond.add(search_condition::<R>(ctx.caller, words)?);
    }
    let id = id_column::<R>();
    let mut order = None;
    if params.last_id.is_none() {
        let name = params.orderby.as_deref().unwrap_or("id");
        order = Some(listing_column::<R>(ctx.caller, name, true, &mut cond)?.1);
    }
    let mut select = R::Entity::find().filter(cond);
    match (params.last_id, order) {
        (Some(last_id), _) => {
            select = select.filter(id.gt(last_id)).order_by(id, Order::Asc);
        }
        (None, Some(col)) => {
            let dir = if params.desc { Order::Desc } else { Order::Asc };
            let by_id = col.as_str() == "id";
            select = select.order_by(col, dir.clone());
            if !by_id {
                select = select.order_by(id, dir);
            }
            select = select.offset(params.offset);
        }
        (None, None) => {}
    }
    Ok(select.limit(params.limit))
}

/// Words searched at most.
const MAX_SEARCH_WORDS: usize = 8;

/// Every word in one of the resource's searchable fields, case aside.
fn search_condition<R: Resource>(caller: &Caller, words: &str) -> ApiResult<Condition> {
    if R::SEARCH.is_empty() {
        return Err(unknown_attribute::<R>("search"));
    }
    let words: Vec<String> = words
        .split_whitespace()
        .map(|w| w.chars().take(100).collect::<String>().to_lowercase())
        .collect();
    if words.len() > MAX_SEARCH_WORDS {
        return Err(ApiError::value(format!(
            "search takes at most {MAX_SEARCH_WORDS} words"
        )));
    }
    let mut all = Condition::all();
    for word in words {
        let pattern = format!("%{}%", escape_like(&word));
        let mut any = Condition::any();
        for name in R::SEARCH {
            let mut scope = Condition::all();
            let (_, col) = listing_column::<R>(caller, name, false, &mut scope)?;
            any = any.add(
                Expr::expr(sea_orm::sea_query::Func::lower(Expr::col(col)))
                    .like(LikeExpr::new(pattern.clone()).escape('\\')),
            );
        }
        all = all.add(any);
    }
    Ok(all)
}

fn escape_like(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

pub async fn list<R: Resource>(ctx: Ctx<'_>, params: &ListParams) -> ApiResult<Vec<Model<R>>> {
    if params.limit == 0 {
        return Ok(vec![]);
    }
    let scope = R::list_scope(ctx, params).await?;
    let select = list_query::<R>(ctx, params, scope)?;
    Ok(select.all(&ctx.infra.read_db).await?)
}

pub async fn find<R: Resource>(db: &impl ConnectionTrait, id: i32) -> ApiResult<Model<R>> {
    R::Entity::find()
        .filter(id_column::<R>().eq(id))
        .one(db)
        .await?
        .ok_or(ApiError::NotFound)
}

/// Item GET: 404 when missing, 401/403 when the caller may not read it.
pub async fn get<R: Resource>(ctx: Ctx<'_>, id: i32) -> ApiResult<Model<R>> {
    let model = find::<R>(&ctx.infra.db, id).await?;
    if !R::can_read(ctx, &model).await? {
        return Err(ApiError::denied(ctx.caller.is_authenticated()));
    }
    Ok(model)
}

/// A file stored with a write, recorded with the row it belongs to (see [`crate::domain::platform::uploads`]).
pub type Attached<'a> = Option<&'a str>;

pub async fn create<R: Resource>(
    ctx: Ctx<'_>,
    mut body: Map<String, Json>,
    file: Attached<'_>,
) -> ApiResult<Model<R>> {
    if !R::CAN_CREATE {
        return Err(ApiError::denied(ctx.caller.is_authenticated()));
    }
    check_keys::<R>(ctx.caller, &mut body, None)?;
    R::before_create(ctx, &mut body).await?;
    let mut am = Active::<R>::default();
    apply::<R>(&mut am, &body)?;
    let txn = crate::store::begin_write(&ctx.infra.db).await?;
    let model = am.insert(&txn).await?;
    // Authorised again on the row as written.
    R::may_write(ctx, &txn, &model).await?;
    R::after_create(ctx, &txn, &model).await?;
    if let Some(key) = file {
        crate::domain::platform::uploads::record(&txn, R::TARGET, R::id(&model), key).await?;
    }
    txn.commit().await?;
    crate::domain::platform::cache::invalidate(&ctx.infra.kv, ctx.local, &R::stale_keys(&model))
        .await;
    Ok(model)
}

/// An update's outcome: the row as written, and the files it no longer points to.
pub struct Updated<M> {
    pub model: M,
    pub replaced: Vec<String>,
}

pub async fn update<R: Resource>(
    ctx: Ctx<'_>,
    id: i32,
    mut body: Map<String, Json>,
    file: Attached<'_>,
) -> ApiResult<Updated<Model<R>>> {
    let existing = find::<R>(&ctx.infra.db, id).await?;
    R::may_write(ctx, &ctx.infra.db, &existing).await?;
    check_keys::<R>(ctx.caller, &mut body, Some(&existing))?;
    R::before_update(ctx, &existing, &mut body).await?;
    let mut am: Active<R> = existing.clone().into_active_model();
    apply::<R>(&mut am, &body)?;
    let txn = crate::store::begin_write(&ctx.infra.db).await?;
    let model = if am.is_changed() {
        am.update(&txn).await?
    } else {
        existing.clone()
    };
    R::may_write(ctx, &txn, &model).await?;
    R::after_update(ctx, &txn, &existing, &model).await?;
    let replaced = match file {
        Some(key) => {
            Box::pin(crate::domain::platform::uploads::replace(
                &txn,
                R::TARGET,
                id,
                key,
            ))
            .await?
        }
        None => Vec::new(),
    };
    txn.commit().await?;
    crate::domain::platform::cache::invalidate(&ctx.infra.kv, ctx.local, &R::stale_keys(&model))
        .await;
    Ok(Updated { model, replaced })
}

/// Deletes a row; returns it as it was and the files only it pointed to.
pub async fn delete<R: Resource>(ctx: Ctx<'_>, id: i32) -> ApiResult<(Model<R>, Vec<String>)> {
    let existing = find::<R>(&ctx.infra.db, id).await?;
    if !R::CAN_DELETE {
        return Err(ApiError::denied(ctx.caller.is_authenticated()));
    }
    R::may_write(ctx, &ctx.infra.db, &existing).await?;
    R::before_delete(ctx, &existing).await?;
    let txn = crate::store::begin_write(&ctx.infra.db).await?;
    R::after_delete(ctx, &txn, &existing).await?;
    let files = Box::pin(crate::domain::platform::uploads::release(
        &txn,
        R::TARGET,
        id,
    ))
    .await?;
    existing.clone().delete(&txn).await?;
    txn.commit().await?;
    crate::domain::platform::cache::invalidate(&ctx.infra.kv, ctx.local, &R::stale_keys(&existing))
        .await;
    // A deletion may have queued a statistics recount.
    ctx.infra.jobs_wake.notify_one();
    Ok((existing, files))
}

#[cfg(test)]
mod tests {
    use super::*;

    const N: Field = fields::field("n_answers").write(Write::Owner);

    #[test]
    fn numeric_strings_become_integers() {
        let v =
            body_value(&ColumnType::Integer, false, &N, &Json::String("5".into())).expect("coerce");
        assert_eq!(v, Value::Int(Some(5)));
        assert!(
            body_value(
                &ColumnType::Integer,
                false,
                &N,
                &Json::String("five".into())
            )
            .is_err()
        );
        assert!(body_value(&ColumnType::Integer, false, &N, &Json::from(1.5)).is_err());
    }

    #[test]
    fn null_in_not_null_column_is_an_integrity_error() {
        let err = body_value(&ColumnType::Text, false, &N, &Json::Null).expect_err("null refused");
        assert!(matches!(err, ApiError::Integrity(_)));
    }

    #[test]
    fn admin_flags_take_booleans_only() {
        let flag = fields::field("featured").write(Write::Admin);
        let owner_flag = fields::field("zip_download").write(Write::Owner);
        for v in [Json::from("true"), Json::from(1), Json::from("yes")] {
            assert!(body_value(&ColumnType::Boolean, false, &flag, &v).is_err());
            assert!(body_value(&ColumnType::Boolean, false, &owner_flag, &v).is_ok());
        }
        assert_eq!(
            body_value(&ColumnType::Boolean, false, &flag, &Json::Bool(true)).ok(),
            Some(Value::Bool(Some(true)))
        );
    }

    #[test]
    fn boolean_words_parse_in_any_case_and_others_are_none() {
        assert_eq!(fuzzy_bool("Yes"), Some(true));
        assert_eq!(fuzzy_bool("0"), Some(false));
        assert_eq!(fuzzy_bool("maybe"), None);
    }
}
