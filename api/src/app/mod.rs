//! Assembles the HTTP application: `/api` (the documented REST API), `/health/*`, `/uploads/*`
//! and the web app for every other path.

mod ratelimit;

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
New capabilities (accounts, bearer tokens, publishing, transfers) sit beside it.\n\n\
Names are exact: a filter, `orderby`, body key or `info` key is a field's snake_case name, looked up in the \
resource's own list (other spellings are a 415). Fields only owners read (e-mail addresses, a project's webhook \
and secret, volunteers' anonymised addresses) keep a filter or order to the caller's own rows; reserved keys are a \
400, fixed fields (`owner_id`, a task's `project_id`) may only be sent unchanged, admin-only flags take JSON \
booleans. A draft project and what belongs to it are for its owners and admins. Bodies: answers up to \
`TESSERA_MAX_ANSWER_BYTES`, other JSON up to `TESSERA_MAX_JSON_BYTES` (413). An `Idempotency-Key` reused for \
another request is a 422.";

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
    let limits = BodyLimits {
        upload: state.infra.config.max_upload_bytes + 64 * 1024,
        json: state
            .infra
            .config
            .max_json_bytes
            .max(state.infra.config.max_answer_bytes),
        import: state.infra.config.max_import_bytes,
    };

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
        .around(render_errors)
        .around(ratelimit::limit)
        .around(move |ep, req| take_body(ep, req, limits))
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

    let web_dir = state.infra.config.web_dir.clone();
    let mut app = Route::new()
        .nest("/api", api_routes)
        .at("/health/live", get(routes::health::live))
        .at("/health/ready", get(routes::health::ready))
        .at("/metrics", get(metrics))
        .at("/uploads/:container/:name", get(routes::uploads::serve))
        .at("/presenter.html", get(routes::presenter::frame));
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
    app.around(security_headers)
        .around(log_requests)
        .data(state)
        .map_to_response()
}

/// The web app: its own scripts and wasm only, no framing, requests to its own origin.
const APP_CSP: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self' 'unsafe-inline'; img-src 'self' https: http: data: blob:; media-src 'self' https: http: data: blob:; font-src 'self' data:; connect-src 'self'; frame-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'";
/// The frame task presenters run in (`/presenter.html`): sandboxed to scripts (an opaque
/// origin), with no network of its own but what scripts, styles and media load, and framed only
/// by the app.
const PRESENTER_CSP: &str = "sandbox allow-scripts; default-src 'none'; script-src 'unsafe-inline' https:; style-src 'unsafe-inline' https:; img-src https: http: data: blob:; media-src https: http: data: blob:; font-src https: data:; connect-src 'none'; form-action 'none'; base-uri 'none'; frame-ancestors 'self'";
/// The interactive API documentation (Swagger UI runs inline scripts).
const DOCS_CSP: &str = "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; img-src 'self' data: https:; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'";

/// Security headers on every response: `nosniff`, a referrer policy, and for pages a
/// Content-Security-Policy and no framing (uploads keep the stricter policy they are sent with).
async fn security_headers<E: Endpoint>(next: E, req: Request) -> poem::Result<Response> {
    let path = req.uri().path().to_string();
    let mut resp = match next.call(req).await {
        Ok(r) => r.into_response(),
        Err(e) => e.into_response(),
    };
    let csp = if path == "/presenter.html" {
        Some(PRESENTER_CSP)
    } else if path.starts_with("/api/docs") {
        Some(DOCS_CSP)
    } else if path.starts_with("/api/") || path.starts_with("/uploads/") || path == "/metrics" {
        None
    } else {
        Some(APP_CSP)
    };
    let headers = resp.headers_mut();
    let mut set = |name: &'static str, value: &'static str| {
        if !headers.contains_key(name) {
            headers.insert(name, HeaderValue::from_static(value));
        }
    };
    set("x-content-type-options", "nosniff");
    set("referrer-policy", "strict-origin-when-cross-origin");
    if let Some(csp) = csp {
        set("content-security-policy", csp);
        if csp != PRESENTER_CSP {
            set("x-frame-options", "DENY");
            set("cross-origin-opener-policy", "same-origin");
        }
    }
    Ok(resp)
}

/// Prometheus scrape endpoint; with `TESSERA_METRICS_TOKEN` set, only for its bearer.
#[handler]
fn metrics(state: poem::web::Data<&Arc<AppState>>, req: &Request) -> Response {
    if let Some(token) = state
        .infra
        .config
        .metrics_token
        .as_ref()
        .map(crate::config::Secret::expose)
        .filter(|t| !t.is_empty())
    {
        use subtle::ConstantTimeEq;
        let sent = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if !bool::from(sent.as_bytes().ct_eq(token.as_bytes())) {
            return Response::builder()
                .status(StatusCode::UNAUTHORIZED)
                .header("www-authenticate", "Bearer")
                .body("metrics need the configured bearer token\n");
        }
    }
    Response::builder()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(state.infra.metrics.encode())
}

/// Counts API requests and their latency per route (resource), method and status.
async fn measure<E: Endpoint>(next: E, req: Request) -> poem::Result<Response> {
    let state = req.data::<Arc<AppState>>().cloned();
    let route = ratelimit::bucket(req.uri().path()).unwrap_or_else(|| "docs".into());
    let method = req.method().to_string();
    let started = Instant::now();
    let resp = next.call(req).await.map(IntoResponse::into_response)?;
    if let Some(state) = state {
        let m = &state.infra.metrics;
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

/// The largest request bodies taken: multipart uploads, and JSON (the largest per-endpoint JSON
/// limit; `routes::common::Body` applies each endpoint's own).
#[derive(Clone, Copy)]
struct BodyLimits {
    upload: usize,
    json: usize,
    /// Task import files, spooled to disk rather than held in memory.
    import: u64,
}

/// Whether a request is a task import upload (`POST /project/{id}/import`, multipart).
fn is_import_upload(req: &Request) -> bool {
    if req.method() != poem::http::Method::POST {
        return false;
    }
    let mut parts = req.uri().path().trim_matches('/').split('/');
    matches!(
        (parts.next(), parts.next(), parts.next(), parts.next()),
        (Some("project"), Some(id), Some("import"), None) if id.bytes().all(|b| b.is_ascii_digit())
    )
}

/// Copies a body into an unnamed temporary file, up to `max` bytes, and rewinds it.
async fn spool_limited(body: poem::Body, max: u64) -> Result<tokio::fs::File, Refused> {
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    let file = tempfile::tempfile().map_err(Refused::Unreadable)?;
    let mut file = tokio::fs::File::from_std(file);
    let mut reader = body.into_async_read();
    let copied = tokio::io::copy(&mut (&mut reader).take(max + 1), &mut file)
        .await
        .map_err(Refused::Unreadable)?;
    if copied > max {
        let drained = tokio::io::copy(&mut reader.take(DRAIN_MAX + 1), &mut tokio::io::sink())
            .await
            .map_err(Refused::Unreadable)?;
        return Err(Refused::TooLarge {
            drained: drained <= DRAIN_MAX,
        });
    }
    file.rewind().await.map_err(Refused::Unreadable)?;
    Ok(file)
}

/// A body too large is still read (and dropped) up to this much, so that its 413 reaches the
/// client on a connection that stays open; past it the connection is closed.
const DRAIN_MAX: u64 = 64 * 1024 * 1024;

/// Why a body was not taken.
enum Refused {
    /// Over the limit; `drained`: all of it was read (and dropped).
    TooLarge {
        drained: bool,
    },
    Unreadable(std::io::Error),
}

/// Reads a body up to `max` bytes; a larger one is read on (up to [`DRAIN_MAX`]) and dropped.
async fn read_limited(body: poem::Body, max: usize) -> Result<bytes::Bytes, Refused> {
    use tokio::io::AsyncReadExt;
    let mut reader = body.into_async_read();
    let mut data = bytes::BytesMut::new();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = reader.read(&mut buf).await.map_err(Refused::Unreadable)?;
        if n == 0 {
            return Ok(data.freeze());
        }
        if data.len() + n > max {
            let seen = (data.len() + n) as u64;
            let rest = DRAIN_MAX.saturating_sub(seen);
            let drained = tokio::io::copy(&mut reader.take(rest + 1), &mut tokio::io::sink())
                .await
                .map_err(Refused::Unreadable)?;
            return Err(Refused::TooLarge {
                drained: drained <= rest,
            });
        }
        data.extend_from_slice(&buf[..n]);
    }
}

/// Reads a request's body before anything can refuse the request, so a refusal (a 429, a 401,
/// a 413) never leaves an unread body on a kept-alive connection: the client's next request on
/// it would fail, or the refusal itself be lost. Multipart uploads are read whole too (their
/// files are held in memory by the handler anyway).
async fn take_body<E: Endpoint>(
    next: E,
    mut req: Request,
    limits: BodyLimits,
) -> poem::Result<Response> {
    let multipart = req
        .content_type()
        .and_then(|ct| ct.parse::<mime::Mime>().ok())
        .is_some_and(|m| m.type_() == mime::MULTIPART);
    let declared = req
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let chunked = req.headers().contains_key("transfer-encoding");
    if multipart && is_import_upload(&req) && (chunked || declared.is_some_and(|n| n > 0)) {
        let too_large = crate::error::ApiError::PayloadTooLarge(format!(
            "an import file may be at most {} bytes",
            limits.import
        ));
        let refuse = |req: &Request, close: bool| {
            let path = format!("/api{}", req.uri().path());
            let mut resp = crate::error::json_error(&too_large, req.method().as_str(), &path);
            if close {
                resp.headers_mut()
                    .insert("connection", HeaderValue::from_static("close"));
            }
            resp
        };
        if declared.is_some_and(|len| len > limits.import) {
            return Ok(refuse(&req, true));
        }
        match spool_limited(req.take_body(), limits.import).await {
            Ok(file) => req.set_body(poem::Body::from_async_read(file)),
            Err(Refused::TooLarge { drained }) => return Ok(refuse(&req, !drained)),
            Err(Refused::Unreadable(e)) => {
                let err = crate::error::ApiError::value(format!(
                    "the request body could not be read: {e}"
                ));
                let path = format!("/api{}", req.uri().path());
                return Ok(crate::error::json_error(&err, req.method().as_str(), &path));
            }
        }
    } else if chunked || declared.is_some_and(|n| n > 0) {
        let max = if multipart {
            limits.upload
        } else {
            limits.json
        };
        let refuse = |req: &Request, err: crate::error::ApiError, close: bool| {
            let path = format!("/api{}", req.uri().path());
            let mut resp = crate::error::json_error(&err, req.method().as_str(), &path);
            if close {
                resp.headers_mut()
                    .insert("connection", HeaderValue::from_static("close"));
            }
            resp
        };
        let too_large = crate::error::ApiError::PayloadTooLarge(format!(
            "the request body may be at most {max} bytes"
        ));
        // Far too large to read for nothing: refused at once, and the connection closed.
        if declared.is_some_and(|len| len > DRAIN_MAX) {
            return Ok(refuse(&req, too_large, true));
        }
        match read_limited(req.take_body(), max).await {
            Ok(bytes) => req.set_body(bytes),
            Err(Refused::TooLarge { drained }) => return Ok(refuse(&req, too_large, !drained)),
            Err(Refused::Unreadable(e)) => {
                let err = crate::error::ApiError::value(format!(
                    "the request body could not be read: {e}"
                ));
                return Ok(refuse(&req, err, true));
            }
        }
    }
    Ok(match Box::pin(next.call(req)).await {
        Ok(r) => r.into_response(),
        Err(e) => e.into_response(),
    })
}
