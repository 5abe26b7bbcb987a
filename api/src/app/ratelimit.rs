//! Rate limits per caller and resource, in fixed windows as PYBOSSA counts them, with the
//! `X-RateLimit-*` headers its clients read (pbs throttles itself on them).
//!
//! The caller is the account when the credential resolves to one (so rotating made-up keys does
//! not buy more requests), else the client address. Counters live in Redis when configured,
//! in process otherwise. The resolved caller is kept in the request for the handler.

use std::sync::Arc;

use poem::{Endpoint, IntoResponse, Request, Response, http::HeaderValue};

use crate::{
    error::{ApiError, json_error},
    state::AppState,
};

/// The bucket a path under `/api` counts against: one per resource, and one per function
/// endpoint (`newtask`, `userprogress`, `project_token`). Documentation is not limited.
pub fn bucket(path: &str) -> Option<String> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    Some(match parts.as_slice() {
        ["openapi.yaml" | "openapi.json" | "docs", ..] => return None,
        [""] => "index".into(),
        ["auth", "project", _, "token"] => "project_token".into(),
        [_, _, "newtask"] => "newtask".into(),
        [_, _, "userprogress"] => "userprogress".into(),
        [first, ..] => (*first).to_string(),
        [] => "index".into(),
    })
}

pub async fn limit<E: Endpoint>(next: E, mut req: Request) -> poem::Result<Response> {
    let Some(state) = req.data::<Arc<AppState>>().cloned() else {
        return next.call(req).await.map(IntoResponse::into_response);
    };
    let limits = state.infra.config.rate_limit().ok().flatten();
    let (Some((max, per)), Some(bucket)) = (limits, bucket(req.uri().path())) else {
        return next.call(req).await.map(IntoResponse::into_response);
    };
    if req.method() == poem::http::Method::OPTIONS {
        return next.call(req).await.map(IntoResponse::into_response);
    }
    let caller = match crate::routes::caller::resolve(&state, &req).await {
        Ok(c) => c,
        Err(e) => {
            return Ok(json_error(
                &e,
                req.method().as_str(),
                &format!("/api{}", req.uri().path()),
            ));
        }
    };
    let who = match caller.user_id() {
        Some(id) => format!("u{id}"),
        None => format!("ip{}", caller.ip),
    };
    req.extensions_mut().insert(caller);

    let now = chrono::Utc::now().timestamp();
    let per = i64::try_from(per).unwrap_or(900);
    let reset = (now / per + 1) * per;
    let count = state.infra.kv.hit(&format!("{bucket}:{who}"), reset).await;
    let remaining = max.saturating_sub(count);
    let mut resp = if count > max {
        let mut r = json_error(
            &ApiError::TooManyRequests,
            req.method().as_str(),
            &format!("/api{}", req.uri().path()),
        );
        if let Ok(v) = HeaderValue::from_str(&(reset - now).max(1).to_string()) {
            r.headers_mut().insert("retry-after", v);
        }
        r
    } else {
        next.call(req).await.map(IntoResponse::into_response)?
    };
    let headers = resp.headers_mut();
    for (name, value) in [
        ("x-ratelimit-limit", max.to_string()),
        ("x-ratelimit-remaining", remaining.to_string()),
        ("x-ratelimit-reset", reset.to_string()),
    ] {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::bucket;

    #[test]
    fn requests_share_a_bucket_per_resource_or_function_not_per_id() {
        assert_eq!(bucket("/task").as_deref(), Some("task"));
        assert_eq!(bucket("/task/5").as_deref(), Some("task"));
        assert_eq!(bucket("/project/5/newtask").as_deref(), Some("newtask"));
        assert_eq!(
            bucket("/project/birds/userprogress").as_deref(),
            Some("userprogress")
        );
        assert_eq!(
            bucket("/auth/project/birds/token").as_deref(),
            Some("project_token")
        );
        assert_eq!(bucket("/docs/index.html"), None);
    }
}
