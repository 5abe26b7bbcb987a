//! The generic part of PYBOSSA's REST semantics, shared by every resource: filters, ordering,
//! pagination, typed coercion of JSON input, reserved and unknown keys, and the
//! read/create/update/delete flow around each resource's own rules (see [`Resource`]).

use std::str::FromStr;

use sea_orm::{
    ActiveModelBehavior, ActiveModelTrait, ColumnTrait, ColumnType, Condition, ConnectionTrait,
    DatabaseTransaction, EntityTrait, IntoActiveModel, ModelTrait, Order, QueryFilter, QueryOrder,
    QuerySelect, Value,
    sea_query::{Expr, ExprTrait, LikeExpr},
};
use serde::Serialize;
use serde_json::{Map, Value as Json};

use super::{Ctx, json_filter};
use crate::error::{ApiError, ApiResult};

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
}

pub type Model<R> = <<R as Resource>::Entity as EntityTrait>::Model;
pub type Active<R> = <<R as Resource>::Entity as EntityTrait>::ActiveModel;
pub type Column<R> = <<R as Resource>::Entity as EntityTrait>::Column;

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
    /// Keys a client may never send on create/update (400).
    const RESERVED: &'static [&'static str];
    /// Whether the 400 message names the key (blogpost, category do in PYBOSSA).
    const RESERVED_NAMES_KEY: bool = false;
    /// Columns that are internal or secret: never accepted, filtered on, ordered by or shown.
    const PRIVATE: &'static [&'static str] = &[];
    /// Parents linked in `links` (`project`, `task`, `category`).
    const PARENTS: &'static [&'static str] = &[];
    const CAN_CREATE: bool = true;
    const CAN_DELETE: bool = true;

    fn id(model: &Model<Self>) -> i32;

    /// SQL conditions every listing gets: visibility and PYBOSSA's owner context.
    async fn list_scope(ctx: Ctx<'_>, params: &ListParams) -> ApiResult<Condition>;
    /// Whether the caller may read this row (item GET; rows of a listing are already scoped).
    async fn can_read(ctx: Ctx<'_>, model: &Model<Self>) -> ApiResult<bool>;
    /// Authorises a create and completes the body (owner, timestamps); runs after key checks.
    async fn before_create(ctx: Ctx<'_>, body: &mut Map<String, Json>) -> ApiResult<()>;
    async fn after_create(
        _ctx: Ctx<'_>,
        _txn: &DatabaseTransaction,
        _model: &Model<Self>,
    ) -> ApiResult<()> {
        Ok(())
    }
    async fn before_update(
        ctx: Ctx<'_>,
        existing: &Model<Self>,
        body: &mut Map<String, Json>,
    ) -> ApiResult<()>;
    async fn after_update(
        _ctx: Ctx<'_>,
        _txn: &DatabaseTransaction,
        _old: &Model<Self>,
        _new: &Model<Self>,
    ) -> ApiResult<()> {
        Ok(())
    }
    async fn before_delete(ctx: Ctx<'_>, model: &Model<Self>) -> ApiResult<()>;
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
    /// What this caller sees of a row. The default shows every column but the private ones.
    async fn shape(ctx: Ctx<'_>, model: &Model<Self>) -> ApiResult<Map<String, Json>> {
        let _ = ctx;
        Ok(to_map::<Self>(model))
    }
}

pub fn to_map<R: Resource>(model: &Model<R>) -> Map<String, Json> {
    match serde_json::to_value(model) {
        Ok(Json::Object(mut map)) => {
            for key in R::PRIVATE {
                map.remove(*key);
            }
            map
        }
        _ => Map::new(),
    }
}

/// The column a public name refers to; private columns do not exist for callers.
pub fn column<R: Resource>(name: &str) -> Option<Column<R>> {
    if R::PRIVATE.contains(&name) {
        return None;
    }
    Column::<R>::from_str(name).ok()
}

fn unknown_attribute<R: Resource>(key: &str) -> ApiError {
    ApiError::attribute(format!(
        "type object '{}' has no attribute '{key}'",
        R::CLASS
    ))
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
fn body_value(ty: &ColumnType, nullable: bool, key: &str, v: &Json) -> ApiResult<Value> {
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

/// Rejects reserved keys (400), drops `link`/`links`, and rejects unknown keys (415).
pub fn check_keys<R: Resource>(body: &mut Map<String, Json>) -> ApiResult<()> {
    if let Some(key) = body.keys().find(|k| R::RESERVED.contains(&k.as_str())) {
        if R::TARGET == "project" && key == "published" {
            return Err(ApiError::forbidden(
                "You cannot publish a project via the API",
            ));
        }
        return Err(ApiError::BadRequest(if R::RESERVED_NAMES_KEY {
            format!("Reserved keys in payload: {key}")
        } else {
            "Reserved keys in payload".into()
        }));
    }
    body.remove("link");
    body.remove("links");
    if let Some(key) = body.keys().find(|k| column::<R>(k).is_none()) {
        return Err(ApiError::type_error(format!(
            "'{key}' is an invalid keyword argument for {}",
            R::CLASS
        )));
    }
    Ok(())
}

/// Applies a checked body to an active model, column by column, with type coercion.
fn apply<R: Resource>(am: &mut Active<R>, body: &Map<String, Json>) -> ApiResult<()> {
    for (key, v) in body {
        let col = column::<R>(key).ok_or_else(|| {
            ApiError::type_error(format!("'{key}' is an invalid keyword argument"))
        })?;
        let def = col.def();
        let value = body_value(def.get_column_type(), def.is_null(), key, v)?;
        am.try_set(col, value)
            .map_err(|_| ApiError::data(format!("invalid input for {key}: {v}")))?;
    }
    Ok(())
}

fn id_column<R: Resource>() -> Column<R> {
    Column::<R>::from_str("id").unwrap_or_else(|_| unreachable!("every resource has an id column"))
}

/// Column filters, `info`, and pagination applied to a select.
pub fn list_query<R: Resource>(
    ctx: Ctx<'_>,
    params: &ListParams,
    scope: Condition,
) -> ApiResult<sea_orm::Select<R::Entity>> {
    let mut cond = scope;
    for (key, raw) in &params.filters {
        let col = column::<R>(key).ok_or_else(|| unknown_attribute::<R>(key))?;
        let ty = col.def().get_column_type().clone();
        let expr = match key.as_str() {
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
            _ if matches!(ty, ColumnType::Json | ColumnType::JsonBinary) && key == "info" => {
                continue;
            }
            _ => col.eq(query_value(&ty, key, raw)?),
        };
        cond = cond.add(expr);
    }
    if let Some(info) = &params.info {
        if column::<R>("info").is_none() {
            return Err(unknown_attribute::<R>("info"));
        }
        let table = sea_orm::EntityName::table_name(&R::Entity::default());
        cond = cond.add(json_filter::info_condition(
            ctx.state.backend(),
            table,
            info,
            params.fulltext,
        )?);
    }
    let id = id_column::<R>();
    let mut select = R::Entity::find().filter(cond);
    if let Some(last_id) = params.last_id {
        select = select.filter(id.gt(last_id)).order_by(id, Order::Asc);
    } else {
        let order = if params.desc { Order::Desc } else { Order::Asc };
        let name = params.orderby.as_deref().unwrap_or("id");
        let col = column::<R>(name).ok_or_else(|| unknown_attribute::<R>(name))?;
        select = select.order_by(col, order.clone());
        if name != "id" {
            select = select.order_by(id, order);
        }
        select = select.offset(params.offset);
    }
    Ok(select.limit(params.limit))
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
    Ok(select.all(&ctx.state.read_db).await?)
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
    let model = find::<R>(&ctx.state.db, id).await?;
    if !R::can_read(ctx, &model).await? {
        return Err(ApiError::denied(ctx.caller.is_authenticated()));
    }
    Ok(model)
}

pub async fn create<R: Resource>(ctx: Ctx<'_>, mut body: Map<String, Json>) -> ApiResult<Model<R>> {
    if !R::CAN_CREATE {
        return Err(ApiError::denied(ctx.caller.is_authenticated()));
    }
    check_keys::<R>(&mut body)?;
    R::before_create(ctx, &mut body).await?;
    let mut am = Active::<R>::default();
    apply::<R>(&mut am, &body)?;
    let txn = crate::store::begin_write(&ctx.state.db).await?;
    let model = am.insert(&txn).await?;
    R::after_create(ctx, &txn, &model).await?;
    txn.commit().await?;
    super::cache::invalidate(ctx.state, &R::stale_keys(&model)).await;
    Ok(model)
}

pub async fn update<R: Resource>(
    ctx: Ctx<'_>,
    id: i32,
    mut body: Map<String, Json>,
) -> ApiResult<Model<R>> {
    let existing = find::<R>(&ctx.state.db, id).await?;
    check_keys::<R>(&mut body)?;
    R::before_update(ctx, &existing, &mut body).await?;
    let mut am: Active<R> = existing.clone().into_active_model();
    apply::<R>(&mut am, &body)?;
    let txn = crate::store::begin_write(&ctx.state.db).await?;
    let model = if am.is_changed() {
        am.update(&txn).await?
    } else {
        existing.clone()
    };
    R::after_update(ctx, &txn, &existing, &model).await?;
    txn.commit().await?;
    super::cache::invalidate(ctx.state, &R::stale_keys(&model)).await;
    Ok(model)
}

/// Deletes a row and returns it as it was.
pub async fn delete<R: Resource>(ctx: Ctx<'_>, id: i32) -> ApiResult<Model<R>> {
    let existing = find::<R>(&ctx.state.db, id).await?;
    if !R::CAN_DELETE {
        return Err(ApiError::denied(ctx.caller.is_authenticated()));
    }
    R::before_delete(ctx, &existing).await?;
    let txn = crate::store::begin_write(&ctx.state.db).await?;
    R::after_delete(ctx, &txn, &existing).await?;
    existing.clone().delete(&txn).await?;
    txn.commit().await?;
    super::cache::invalidate(ctx.state, &R::stale_keys(&existing)).await;
    // A deletion may have queued a statistics recount.
    ctx.state.jobs_wake.notify_one();
    Ok(existing)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_strings_become_integers() {
        let v = body_value(
            &ColumnType::Integer,
            false,
            "n_answers",
            &Json::String("5".into()),
        )
        .expect("coerce");
        assert_eq!(v, Value::Int(Some(5)));
        assert!(
            body_value(
                &ColumnType::Integer,
                false,
                "n_answers",
                &Json::String("five".into())
            )
            .is_err()
        );
        assert!(body_value(&ColumnType::Integer, false, "n", &Json::from(1.5)).is_err());
    }

    #[test]
    fn null_in_not_null_column_is_an_integrity_error() {
        let err =
            body_value(&ColumnType::Text, false, "name", &Json::Null).expect_err("null refused");
        assert!(matches!(err, ApiError::Integrity(_)));
    }

    #[test]
    fn fuzzy_booleans() {
        assert_eq!(fuzzy_bool("Yes"), Some(true));
        assert_eq!(fuzzy_bool("0"), Some(false));
        assert_eq!(fuzzy_bool("maybe"), None);
    }
}
