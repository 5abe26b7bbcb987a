//! `GET /uploads/{container}/{name}`: uploaded files, byte for byte.

use std::sync::Arc;

use poem::{
    IntoResponse, Response, handler,
    http::StatusCode,
    web::{Data, Path},
};

use crate::{
    domain::platform::uploads::{IMAGE_EXTENSIONS, content_type},
    state::AppState,
};

#[handler]
pub async fn serve(
    Path((container, name)): Path<(String, String)>,
    state: Data<&Arc<AppState>>,
) -> Response {
    let key = format!("{container}/{name}");
    match state.infra.storage.get(&key).await {
        Ok(Some(bytes)) => {
            let ext = name.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
            let image = IMAGE_EXTENSIONS.contains(&ext);
            // Scripts and styles go out as plain bytes: with `nosniff`, a browser will neither
            // run nor apply them from this origin.
            let ty = match ext {
                "js" | "css" => "application/octet-stream",
                other => content_type(other),
            };
            let mut resp = Response::builder()
                .content_type(ty)
                .header("x-content-type-options", "nosniff")
                // Uploaded content never runs with the app's origin.
                .header(
                    "content-security-policy",
                    "sandbox; default-src 'none'; img-src 'self'; media-src 'self'",
                )
                .header("cache-control", "public, max-age=31536000, immutable");
            if !image {
                // Anything but an image is a download, never a page of this site.
                resp = resp.header(
                    "content-disposition",
                    format!("attachment; filename=\"{name}\""),
                );
            }
            resp.body(bytes)
        }
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => {
            tracing::error!(error = %e, "reading an upload failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}
