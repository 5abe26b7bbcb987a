//! Files attached to objects (`media_url`): checked by content, named by the server, stored
//! through [`crate::storage::Storage`], and recorded in the `upload` table with the row they
//! belong to. `info.container` and `info.file_name` only tell clients where a file is; what a
//! delete removes is what the server recorded.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QuerySelect, Set, sea_query::Query,
};
use serde_json::{Map, Value as Json, json};

use crate::domain::Ctx;
use crate::{
    error::{ApiError, ApiResult},
    infra::Infra,
    store::{entities::upload, now},
};

/// An uploaded file as received.
pub struct UploadedFile {
    pub file_name: Option<String>,
    pub bytes: Vec<u8>,
}

/// Where an upload is recorded, per resource: the column (or `info` key) holding its URL and
/// the `info` key holding the stored file's name. Projects get a thumbnail, users an avatar.
fn slot(target: &str) -> Option<(Slot, &'static str)> {
    match target {
        "taskrun" | "blogpost" | "helpingmaterial" | "announcement" | "page" => {
            Some((Slot::MediaUrl, "file_name"))
        }
        "project" => Some((Slot::Info("thumbnail_url"), "thumbnail")),
        "user" => Some((Slot::Info("avatar_url"), "avatar")),
        _ => None,
    }
}

enum Slot {
    MediaUrl,
    Info(&'static str),
}

/// Only images make sense as thumbnails and avatars.
pub const IMAGE_EXTENSIONS: &[&str] = &["png", "jpg", "gif", "webp"];

/// The extension for an allowed upload, judged by its bytes (the name is only a hint, for text
/// formats that have no signature).
pub fn sniff(bytes: &[u8], file_name: Option<&str>) -> Option<&'static str> {
    if let Some(kind) = infer::get(bytes) {
        return match kind.mime_type() {
            "image/png" => Some("png"),
            "image/jpeg" => Some("jpg"),
            "image/gif" => Some("gif"),
            "image/webp" => Some("webp"),
            "application/pdf" => Some("pdf"),
            "application/zip" => Some("zip"),
            "audio/mpeg" => Some("mp3"),
            "audio/x-wav" => Some("wav"),
            "video/mp4" => Some("mp4"),
            _ => None,
        };
    }
    let text = std::str::from_utf8(bytes)
        .ok()
        .filter(|t| !t.contains('\0'))?;
    let ext = file_name
        .and_then(|n| n.rsplit_once('.'))
        .map(|(_, e)| e.to_ascii_lowercase());
    match ext.as_deref() {
        Some("css") => Some("css"),
        Some("js") => Some("js"),
        Some("csv") => Some("csv"),
        Some("json") if serde_json::from_str::<Json>(text).is_ok() => Some("json"),
        Some("txt") | None => Some("txt"),
        _ => None,
    }
}

pub fn content_type(ext: &str) -> &'static str {
    match ext {
        "png" => "image/png",
        "jpg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "pdf" => "application/pdf",
        "zip" => "application/zip",
        "mp3" => "audio/mpeg",
        "wav" => "audio/wav",
        "mp4" => "video/mp4",
        "css" => "text/css",
        "js" => "text/javascript",
        "csv" => "text/csv",
        "json" => "application/json",
        _ => "text/plain; charset=utf-8",
    }
}

/// Stores an upload for a create or update and records it in the body (`media_url`,
/// `info.container`, `info.file_name`; thumbnails and avatars go in `info`). Returns the storage
/// key, so the caller can delete the file again if the write is refused.
pub async fn store(
    ctx: Ctx<'_>,
    target: &str,
    base: &str,
    fields: &mut Map<String, Json>,
    file: UploadedFile,
    previous: Option<&Map<String, Json>>,
) -> ApiResult<String> {
    let Some((slot, name_key)) = slot(target) else {
        return Err(ApiError::value(format!(
            "{} does not take file uploads",
            target
        )));
    };
    if !ctx.caller.is_authenticated() && target != "taskrun" {
        return Err(ApiError::Unauthorized(None));
    }
    if file.bytes.is_empty() {
        return Err(ApiError::value("the uploaded file is empty"));
    }
    if file.bytes.len() > ctx.infra.config.max_upload_bytes {
        return Err(ApiError::PayloadTooLarge(format!(
            "files may be at most {} bytes",
            ctx.infra.config.max_upload_bytes
        )));
    }
    let ext = sniff(&file.bytes, file.file_name.as_deref())
        .ok_or_else(|| ApiError::value("this file type is not allowed"))?;
    if matches!(slot, Slot::Info(_)) && !IMAGE_EXTENSIONS.contains(&ext) {
        return Err(ApiError::value(
            "thumbnails and avatars must be PNG, JPEG, GIF or WebP images",
        ));
    }
    let container = match ctx.caller.user_id() {
        Some(id) => format!("user_{id}"),
        None => "anonymous".to_string(),
    };
    let name = format!("{}.{ext}", uuid::Uuid::new_v4().simple());
    let key = ctx
        .infra
        .storage
        .put(&container, &name, &file.bytes)
        .await?;
    let url = format!("{base}/uploads/{key}");
    let mut info = match fields.remove("info") {
        Some(Json::Object(m)) => m,
        Some(Json::Null) | None => previous
            .and_then(|p| p.get("info"))
            .and_then(Json::as_object)
            .cloned()
            .unwrap_or_default(),
        Some(other) => {
            let _ = ctx.infra.storage.delete(&key).await;
            return Err(ApiError::value(format!(
                "info must be a JSON object with a file, not {other}"
            )));
        }
    };
    info.insert("container".into(), json!(container));
    info.insert(name_key.into(), json!(name));
    match slot {
        Slot::MediaUrl => {
            fields.insert("media_url".into(), json!(url));
        }
        Slot::Info(url_key) => {
            info.insert(url_key.into(), json!(url));
        }
    }
    fields.insert("info".into(), Json::Object(info));
    Ok(key)
}

/// Records that `key` belongs to the row `target`/`object_id`; runs in the write's transaction.
pub async fn record(
    txn: &impl ConnectionTrait,
    target: &str,
    object_id: i32,
    key: &str,
) -> ApiResult<()> {
    upload::ActiveModel {
        storage_key: Set(key.to_string()),
        target: Set(target.to_string()),
        object_id: Set(object_id),
        created: Set(now()),
        ..Default::default()
    }
    .insert(txn)
    .await?;
    Ok(())
}

/// Records `key` as the row's file in place of the ones it had; returns those, to delete once
/// the write commits.
pub async fn replace(
    txn: &impl ConnectionTrait,
    target: &str,
    object_id: i32,
    key: &str,
) -> ApiResult<Vec<String>> {
    let old = Box::pin(release(txn, target, object_id)).await?;
    record(txn, target, object_id, key).await?;
    Ok(old)
}

/// Rows whose files go when a project is deleted (the database deletes the rows themselves).
const PROJECT_CHILDREN: &[&str] = &["taskrun", "blogpost", "helpingmaterial", "page"];

/// Forgets the files recorded for a row being deleted (and, for a project, for the rows that go
/// with it) and returns their keys, to delete once the write commits. Only what the server
/// recorded is returned: never a name a client wrote into `info`.
pub async fn release(
    txn: &impl ConnectionTrait,
    target: &str,
    object_id: i32,
) -> ApiResult<Vec<String>> {
    let mut of_row = Condition::all()
        .add(upload::Column::Target.eq(target))
        .add(upload::Column::ObjectId.eq(object_id));
    if target == "project" {
        of_row = Condition::any().add(of_row);
        for child in PROJECT_CHILDREN {
            let ids = child_ids(child, object_id);
            of_row = of_row.add(
                Condition::all()
                    .add(upload::Column::Target.eq(*child))
                    .add(upload::Column::ObjectId.in_subquery(ids)),
            );
        }
    }
    let keys: Vec<String> = upload::Entity::find()
        .select_only()
        .column(upload::Column::StorageKey)
        .filter(of_row.clone())
        .into_tuple()
        .all(txn)
        .await?;
    if !keys.is_empty() {
        Box::pin(
            upload::Entity::delete_many()
                .filter(upload::Column::StorageKey.is_in(keys.clone()))
                .exec(txn),
        )
        .await?;
    }
    Ok(keys)
}

/// `SELECT id FROM <child> WHERE project_id = ?`.
fn child_ids(child: &str, project_id: i32) -> sea_orm::sea_query::SelectStatement {
    use crate::store::entities::{blogpost, helpingmaterial, page, task_run};
    let mut q = Query::select();
    match child {
        "taskrun" => q
            .column(task_run::Column::Id)
            .from(task_run::Entity)
            .and_where(task_run::Column::ProjectId.eq(project_id)),
        "blogpost" => q
            .column(blogpost::Column::Id)
            .from(blogpost::Entity)
            .and_where(blogpost::Column::ProjectId.eq(project_id)),
        "helpingmaterial" => q
            .column(helpingmaterial::Column::Id)
            .from(helpingmaterial::Entity)
            .and_where(helpingmaterial::Column::ProjectId.eq(project_id)),
        _ => q
            .column(page::Column::Id)
            .from(page::Entity)
            .and_where(page::Column::ProjectId.eq(project_id)),
    };
    q.clone()
}

/// Deletes stored files; a failure is logged, never returned (the row is already written).
pub async fn forget(state: &Infra, keys: impl IntoIterator<Item = String>) {
    for key in keys {
        if let Err(e) = state.storage.delete(&key).await {
            tracing::warn!(error = %e, "could not delete an uploaded file");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::sniff;

    #[test]
    fn content_decides_not_the_name() {
        let png = [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0];
        assert_eq!(sniff(&png, Some("evil.html")), Some("png"));
        assert_eq!(sniff(b"<script>alert(1)</script>", Some("x.html")), None);
        assert_eq!(sniff(b"body { color: red }", Some("a.css")), Some("css"));
        assert_eq!(
            sniff(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0], Some("a.png")),
            None
        );
    }
}
