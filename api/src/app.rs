//! Assembles the HTTP application: `/api` (the documented REST API), `/health/*`, `/uploads/*`
//! and the web app for every other path.

use std::{sync::Arc, time::Instant};

use poem::{
    Endpoint, EndpointExt, IntoResponse, Request, Response, Route,
    endpoint::StaticFilesEndpoint,
    get, handler,
    http::{HeaderValue, StatusCode},
    middleware::Cors,
    web::Html,
};
use poem_openapi::OpenApiService;
use tracing::Instrument;

use crate::{
    error::render_errors,
    routes::{self, Api},
    state::AppState,
};

const DESCRIPTION: &str = "Tessera's REST API. Wire-compatible with PYBOSSA's `/api` (pybossa-client, pbs and enki \
work unchanged): integer ids, `api_key` as query parameter or raw `Authorization` header, 200 on create, 204 on \
delete, and errors as `{action, status: \"failed\", status_code, target, exception_cls, exception_msg}`. \
New capabilities (accounts, bearer tokens, publishing) sit beside it.";

pub fn openapi_service() -> OpenApiService<Api, ()> {
    OpenApiService::new(routes::api(), "Tessera API", env!("CARGO_PKG_VERSION"))
        .description(DESCRIPTION)
        .server("/api")
}

/// The spec as served at `/api/openapi.yaml` and checked in as `openapi.yaml`.
pub fn openapi_yaml() -> String {
    openapi_service().spec_yaml()
}

/// Shown when the web app was not built, instead of a bare 404.
#[handler]
fn web_missing() -> Html<&'static str> {
    Html(
        "<!doctype html><title>Tessera</title><h1>Tessera</h1><p>The API is running at \
         <a href=\"/api/docs\">/api/docs</a>. The web app is not built: run <code>just web</code> \
         (or <code>just run</code>).</p>",
    )
}

pub fn build(state: Arc<AppState>) -> impl Endpoint<Output = Response> {
    let api = openapi_service();
    let yaml = api.spec_yaml();
    let json = api.spec();
    let docs = api.swagger_ui();
    let max_body = state.config.max_upload_bytes + 64 * 1024;

    let api_routes = Route::new()
        .at(
            "/openapi.yaml",
            get(poem::endpoint::make_sync(move |_| {
                Response::builder()
                    .content_type("application/yaml")
                    .body(yaml.clone())
            })),
        )
        .at(
            "/openapi.json",
            get(poem::endpoint::make_sync(move |_| {
                Response::builder()
                    .content_type("application/json")
                    .body(json.clone())
            })),
        )
        .nest("/docs", docs)
        .nest("/", api)
        .around(move |ep, req| limit_body(ep, req, max_body))
        .around(render_errors)
        .around(crate::ratelimit::limit)
        .around(measure)
        .with(
            Cors::new()
                .allow_headers(["content-type", "authorization", "idempotency-key"])
                .expose_headers([
                    "x-ratelimit-limit",
                    "x-ratelimit-remaining",
                    "x-ratelimit-reset",
                    "x-request-id",
                ])
                .max_age(21600),
        );

    let web_dir = state.config.web_dir.clone();
    let mut app = Route::new()
        .nest("/api", api_routes)
        .at("/health/live", get(routes::health::live))
        .at("/health/ready", get(routes::health::ready))
        .at("/metrics", get(metrics))
        .at("/uploads/:container/:name", get(routes::uploads::serve));
    app = if web_dir.join("index.html").is_file() {
        app.nest(
            "/",
            StaticFilesEndpoint::new(web_dir)
                .index_file("index.html")
                .fallback_to_index(),
        )
    } else {
        tracing::warn!(dir = %web_dir.display(), "web app not built; serving a placeholder page");
        app.at("/", get(web_missing)).at("/*path", get(web_missing))
    };
    app.around(log_requests).data(state).map_to_response()
}

/// Prometheus scrape endpoint.
#[handler]
fn metrics(state: poem::web::Data<&Arc<AppState>>) -> Response {
    Response::builder()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(state.metrics.encode())
}

/// Counts API requests and their latency per route (resource), method and status.
async fn measure<E: Endpoint>(next: E, req: Request) -> poem::Result<Response> {
    let state = req.data::<Arc<AppState>>().cloned();
    let route = crate::ratelimit::bucket(req.uri().path()).unwrap_or_else(|| "docs".into());
    let method = req.method().to_string();
    let started = Instant::now();
    let resp = next.call(req).await.map(IntoResponse::into_response)?;
    if let Some(state) = state {
        let m = &state.metrics;
        m.requests
            .get_or_create(&crate::metrics::RequestLabels {
                route: route.clone(),
                method: method.clone(),
                status: resp.status().as_u16(),
            })
            .inc();
        m.latency
            .get_or_create(&crate::metrics::RouteLabels { route, method })
            .observe(started.elapsed().as_secs_f64());
    }
    Ok(resp)
}

/// Gives every request an id (reusing `X-Request-Id` when a proxy set one), a tracing span, and
/// one log line with its status and duration.
async fn log_requests<E: Endpoint>(next: E, req: Request) -> poem::Result<Response> {
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.len() <= 64 && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let span = tracing::info_span!("request", request_id = %id, %method, %path);
    let started = Instant::now();
    // Boxed here, the router's future (2.5 KB, measured; poem boxes only the endpoints nested
    // in it) is copied once; inline, every layer above would copy it again.
    let result = Box::pin(next.call(req)).instrument(span.clone()).await;
    let mut resp = match result {
        Ok(r) => r.into_response(),
        Err(e) => e.into_response(),
    };
    let status = resp.status();
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    span.in_scope(|| {
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(status = status.as_u16(), ms, "request failed");
        } else {
            tracing::info!(status = status.as_u16(), ms, "request");
        }
    });
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    Ok(resp)
}

/// Refuses bodies whose declared length exceeds the limit before reading them; bodies without a
/// length are bounded while they are read (see `routes::common::Body`).
async fn limit_body<E: Endpoint>(next: E, req: Request, max: usize) -> poem::Result<Response> {
    let declared = req
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > max) {
        return Err(crate::error::ApiError::PayloadTooLarge(format!(
            "the request body may be at most {max} bytes"
        ))
        .into());
    }
    // Boxed here, the router's future (2.5 KB, measured; poem boxes only the endpoints nested
    // in it) is copied once rather than by each layer above (the rate limit, the error
    // rendering, the metrics).
    Box::pin(next.call(req))
        .await
        .map(IntoResponse::into_response)
}
