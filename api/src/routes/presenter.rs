//! `GET /presenter.html?project={id}`: the frame task presenters run in, sent with the
//! project's own policy (see `domain::platform::presenter`).

use std::sync::Arc;

use poem::{
    IntoResponse, Request, Response, handler,
    http::StatusCode,
    web::{Data, Query},
};

use crate::ids::ProjectId;
use crate::{domain::platform::presenter, state::AppState};

#[derive(serde::Deserialize)]
pub struct FrameQuery {
    project: Option<String>,
}

#[handler]
pub async fn frame(
    req: &Request,
    state: Data<&Arc<AppState>>,
    Query(q): Query<FrameQuery>,
) -> Response {
    let page = state.infra.config.web_dir.join("presenter.html");
    let Ok(html) = tokio::fs::read_to_string(&page).await else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let project = q.project.and_then(|p| p.trim().parse::<i32>().ok());
    let origins = match project {
        Some(id) => presenter::frame_origins(&state.infra, ProjectId(id))
            .await
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e.chain(), "reading a presenter's origins failed");
                Vec::new()
            }),
        None => Vec::new(),
    };
    let own = super::common::base_url(req, state.infra.config.public_url.as_deref());
    Response::builder()
        .content_type("text/html; charset=utf-8")
        .header(
            "content-security-policy",
            presenter::frame_policy(&own, &origins),
        )
        .header("cache-control", "no-cache")
        .body(html)
}
