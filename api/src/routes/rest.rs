//! The five PYBOSSA operations (list, create, get, update, delete) for any resource, and the
//! macro that gives each resource its documented routes.

use std::sync::Arc;

use poem::Request;
use serde_json::{Map, Value as Json};

use crate::routes::common::{Body, add_links, base_url, parse_list};
use crate::{
    auth::Caller,
    domain::{
        Ctx,
        platform::cache,
        platform::uploads,
        rest::crud,
        rest::crud::{Model, Resource, Viewer},
        rest::fields::Access,
        rest::related,
    },
    error::{ApiError, ApiResult},
    state::AppState,
};

/// A row as this caller sees it, with PYBOSSA's links.
fn present<R: Resource>(
    ctx: Ctx<'_>,
    viewer: &Viewer,
    base: &str,
    model: &Model<R>,
) -> Map<String, Json> {
    let mut map = R::shape(ctx.caller, viewer.level::<R>(model), model);
    if R::LINKS {
        add_links(&mut map, base, R::TARGET, R::PARENTS);
    }
    map
}

pub async fn list<R: Resource>(
    state: &Arc<AppState>,
    caller: &Caller,
    req: &Request,
) -> ApiResult<Json> {
    let params = parse_list(req, R::LIST_KEYS)?;
    let base = base_url(req, state.infra.config.public_url.as_deref());
    // Anonymous project listings (front page, categories, featured) are the same for everyone
    // and read most: served from the cache.
    if R::CACHED_PUBLIC_LISTING
        && !caller.is_authenticated()
        && !(params.stats || params.related || params.participated)
    {
        let query = req.uri().query().unwrap_or("");
        return cache::project_listing(&state.infra, &base, query, || {
            list_uncached::<R>(state, caller, &params, &base)
        })
        .await;
    }
    list_uncached::<R>(state, caller, &params, &base).await
}

async fn list_uncached<R: Resource>(
    state: &Arc<AppState>,
    caller: &Caller,
    params: &crud::ListParams,
    base: &str,
) -> ApiResult<Json> {
    let ctx = state.ctx(caller);
    let models = crud::list::<R>(ctx, params).await?;
    let viewer = Viewer::of::<R>(ctx).await?;
    let mut out: Vec<_> = models
        .iter()
        .map(|m| present::<R>(ctx, &viewer, base, m))
        .collect();
    if params.related {
        related::attach(ctx, &viewer, R::TARGET, &mut out).await?;
    }
    if params.stats && R::STATS {
        related::attach_project_stats(ctx, &mut out).await?;
    }
    Ok(Json::Array(out.into_iter().map(Json::Object).collect()))
}

pub async fn get<R: Resource>(
    state: &Arc<AppState>,
    caller: &Caller,
    req: &Request,
    id: i32,
) -> ApiResult<Json> {
    let ctx = state.ctx(caller);
    let model = crud::get::<R>(ctx, id).await?;
    let base = base_url(req, state.infra.config.public_url.as_deref());
    let viewer = Viewer::of::<R>(ctx).await?;
    let mut out = vec![present::<R>(ctx, &viewer, &base, &model)];
    let pairs = crate::routes::common::query_pairs(req)?;
    if pairs.iter().any(|(k, v)| k == "related" && !v.is_empty()) {
        related::attach(ctx, &viewer, R::TARGET, &mut out).await?;
    }
    if R::STATS && pairs.iter().any(|(k, v)| k == "stats" && !v.is_empty()) {
        related::attach_project_stats(ctx, &mut out).await?;
    }
    Ok(Json::Object(out.pop().unwrap_or_default()))
}

/// Query parameters of writes must be the resource's fields (PYBOSSA validates them), the
/// credential and `external_uid` excepted.
fn check_write_query<R: Resource>(req: &Request) -> ApiResult<()> {
    for (key, _) in crate::routes::common::query_pairs(req)? {
        if key != "api_key" && key != "external_uid" && crud::field::<R>(&key).is_none() {
            return Err(ApiError::attribute(format!(
                "type object '{}' has no attribute '{key}'",
                R::CLASS
            )));
        }
    }
    Ok(())
}

/// What a writer sees of the row it wrote.
async fn written<R: Resource>(ctx: Ctx<'_>, model: &Model<R>) -> ApiResult<Json> {
    let viewer = Viewer::of::<R>(ctx).await?;
    Ok(Json::Object(R::shape(
        ctx.caller,
        viewer.level::<R>(model),
        model,
    )))
}

pub async fn create<R: Resource>(
    state: &Arc<AppState>,
    caller: &Caller,
    req: &Request,
    body: Body<impl Sized>,
) -> ApiResult<Json> {
    check_write_query::<R>(req)?;
    let ctx = state.ctx(caller);
    let mut fields = body.fields;
    let stored = match body.file {
        Some(file) => {
            let base = base_url(req, state.infra.config.public_url.as_deref());
            Some(uploads::store(ctx, R::TARGET, &base, &mut fields, file, None).await?)
        }
        None => None,
    };
    let created = crud::create::<R>(ctx, fields, stored.as_deref()).await;
    if created.is_err() {
        // The row was refused: do not keep its file.
        uploads::forget(&state.infra, stored).await;
    }
    written::<R>(ctx, &created?).await
}

pub async fn update<R: Resource>(
    state: &Arc<AppState>,
    caller: &Caller,
    req: &Request,
    id: i32,
    body: Body<impl Sized>,
) -> ApiResult<Json> {
    check_write_query::<R>(req)?;
    let ctx = state.ctx(caller);
    let mut fields = body.fields;
    let mut stored = None;
    if let Some(file) = body.file {
        let existing = crud::find::<R>(&state.infra.db, id).await?;
        R::may_write(ctx, &state.infra.db, &existing).await?;
        let existing = crud::to_map::<R>(&existing, Access::Owner);
        let base = base_url(req, state.infra.config.public_url.as_deref());
        stored =
            Some(uploads::store(ctx, R::TARGET, &base, &mut fields, file, Some(&existing)).await?);
    }
    let updated = match crud::update::<R>(ctx, id, fields, stored.as_deref()).await {
        Ok(updated) => updated,
        Err(e) => {
            // Refused: keep the old file, drop the new one.
            uploads::forget(&state.infra, stored).await;
            return Err(e);
        }
    };
    uploads::forget(&state.infra, updated.replaced).await;
    written::<R>(ctx, &updated.model).await
}

pub async fn delete<R: Resource>(
    state: &Arc<AppState>,
    caller: &Caller,
    req: &Request,
    id: i32,
) -> ApiResult<()> {
    check_write_query::<R>(req)?;
    let ctx = state.ctx(caller);
    let (_, files) = crud::delete::<R>(ctx, id).await?;
    uploads::forget(&state.infra, files).await;
    Ok(())
}

/// Declares one resource's routes: `GET|POST /api/<r>` and `GET|PUT|DELETE /api/<r>/{id}`.
macro_rules! resource_api {
    (
        $api:ident, $res:ty, $schema:ty, $tag:literal,
        list: $list_path:literal, item: $item_path:literal,
        filters: [$($filter:ident),* $(,)?]
        $(, create: $create:ident)?
        $(, extra: { $($extra:tt)* })?
    ) => {
        pub struct $api;

        // Every operation of a path in one impl: poem-openapi writes a path once per impl that
        // declares it, and a document with a path twice is not valid.
        #[poem_openapi::OpenApi]
        impl $api {
            /// List objects.
            ///
            /// Any field the caller may read can be a filter (`field=value`, by its exact
            /// snake_case name); `info` takes `key::value|key::value`, or JSON that the object's
            /// `info` must contain, and with `fulltextsearch=1` a full-text query. `limit`
            /// (default 20, at most 100), `offset` or `last_id` (keyset: `id > last_id`),
            /// `orderby` and `desc` page through them. A filter or order on a field only owners
            /// read (an e-mail address, a project's webhook) keeps to the rows the caller owns;
            /// a name the caller may not use is a 415 `AttributeError`. A signed-in caller only
            /// sees what they own unless `all=1`. `related=1` adds linked objects.
            #[oai(path = $list_path, method = "get", tag = $tag)]
            #[allow(clippy::too_many_arguments)]
            async fn list(
                &self,
                state: poem::web::Data<&std::sync::Arc<crate::state::AppState>>,
                caller: crate::auth::Caller,
                req: &poem::Request,
                /// Page size: default 20, at most 100.
                limit: poem_openapi::param::Query<Option<String>>,
                /// Rows to skip (ignored with `last_id`).
                offset: poem_openapi::param::Query<Option<String>>,
                /// Keyset pagination: only ids greater than this, ascending.
                last_id: poem_openapi::param::Query<Option<String>>,
                /// Column to order by (default `id`).
                orderby: poem_openapi::param::Query<Option<String>>,
                /// Descending order (`true`/`false`, `1`/`0`, `yes`/`no`).
                desc: poem_openapi::param::Query<Option<String>>,
                /// `1`: do not limit a signed-in caller to what they own.
                all: poem_openapi::param::Query<Option<String>>,
                /// Filter on `info`: `k::v|k2::v2`, or JSON to be contained.
                info: poem_openapi::param::Query<Option<String>>,
                /// `1`: `info=k::words` is a full-text search.
                fulltextsearch: poem_openapi::param::Query<Option<String>>,
                /// Any value: embed related objects.
                related: poem_openapi::param::Query<Option<String>>,
                /// Projects only: words that must each be in the name, short name or
                /// description (case aside); other resources refuse it.
                search: poem_openapi::param::Query<Option<String>>,
                $(
                    /// Only rows whose field of this name equals the value (the filters most
                    /// used; every field the caller may read filters the same way).
                    $filter: poem_openapi::param::Query<Option<String>>,
                )*
            ) -> Result<crate::routes::common::JsonOf<Vec<$schema>>, crate::error::ApiError> {
                // Documented for the spec; the request's query string is read as PYBOSSA's.
                let _ = (
                    limit,
                    offset,
                    last_id,
                    orderby,
                    desc,
                    all,
                    info,
                    fulltextsearch,
                    related,
                    search,
                    $($filter,)*
                );
                Ok(crate::routes::common::JsonOf::new(
                    crate::routes::rest::list::<$res>(&state, &caller, req).await?,
                ))
            }

            /// Get one object.
            #[oai(path = $item_path, method = "get", tag = $tag)]
            async fn get(
                &self,
                state: poem::web::Data<&std::sync::Arc<crate::state::AppState>>,
                caller: crate::auth::Caller,
                req: &poem::Request,
                id: poem_openapi::param::Path<i32>,
            ) -> Result<crate::routes::common::JsonOf<$schema>, crate::error::ApiError> {
                Ok(crate::routes::common::JsonOf::new(
                    crate::routes::rest::get::<$res>(&state, &caller, req, id.0).await?,
                ))
            }

            /// Update an object (partial: absent keys are left alone).
            #[oai(path = $item_path, method = "put", tag = $tag)]
            async fn update(
                &self,
                state: poem::web::Data<&std::sync::Arc<crate::state::AppState>>,
                caller: crate::auth::Caller,
                req: &poem::Request,
                id: poem_openapi::param::Path<i32>,
                body: crate::routes::common::Body<$schema>,
            ) -> Result<crate::routes::common::JsonOf<$schema>, crate::error::ApiError> {
                Ok(crate::routes::common::JsonOf::new(
                    crate::routes::rest::update::<$res>(&state, &caller, req, id.0, body).await?,
                ))
            }

            /// Delete an object.
            #[oai(path = $item_path, method = "delete", tag = $tag)]
            async fn delete(
                &self,
                state: poem::web::Data<&std::sync::Arc<crate::state::AppState>>,
                caller: crate::auth::Caller,
                req: &poem::Request,
                id: poem_openapi::param::Path<i32>,
            ) -> Result<crate::routes::common::Deleted, crate::error::ApiError> {
                crate::routes::rest::delete::<$res>(&state, &caller, req, id.0).await?;
                Ok(crate::routes::common::Deleted)
            }

            $(
                /// Create an object.
                ///
                /// Answers 200 with the stored object. Reserved keys give 400, unknown keys and
                /// invalid values 415.
                #[oai(path = $list_path, method = "post", tag = $tag)]
                async fn $create(
                    &self,
                    state: poem::web::Data<&std::sync::Arc<crate::state::AppState>>,
                    caller: crate::auth::Caller,
                    req: &poem::Request,
                    body: crate::routes::common::Body<$schema>,
                ) -> Result<crate::routes::common::JsonOf<$schema>, crate::error::ApiError> {
                    Ok(crate::routes::common::JsonOf::new(
                        crate::routes::rest::create::<$res>(&state, &caller, req, body).await?,
                    ))
                }
            )?

            $($($extra)*)?
        }
    };
}

pub(crate) use resource_api;
