//! Task imports run on the server, and bulk task operations (owners and admins).

use std::sync::Arc;

use poem::{Body, web::Data};
use poem_openapi::{
    ApiRequest, ApiResponse, Multipart, Object, OpenApi,
    param::{Path, Query},
    payload::Json,
    types::multipart::Upload,
};
use serde_json::Value;

use super::ApiTags;
use super::export::Download;
use crate::ids::ProjectId;
use crate::{
    auth::Caller,
    domain::{
        platform::{
            bulk,
            import::{self, Options, Source, fetch},
        },
        rest::{crud, resources},
    },
    error::{ApiError, ApiResult},
    state::AppState,
    store::entities::task_import,
};

/// An import from a link: a CSV, JSON or JSON Lines file, a Google Sheets link, or an IIIF
/// Presentation 2 or 3 manifest.
#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct ImportUrl {
    /// http(s) only, to a public address (the webhook guard's rules).
    pub url: String,
    /// `csv`, `json`, `jsonl` or `iiif`; detected when left out.
    pub format: Option<String>,
    /// Redundancy of rows that do not give `n_answers` (default 30).
    pub n_answers: Option<i32>,
    /// Priority of rows that do not give `priority_0` (default 0).
    pub priority_0: Option<f64>,
    /// Only read and check the file: nothing is written.
    pub dry_run: Option<bool>,
}

/// An import of an uploaded file.
#[derive(Multipart)]
pub struct ImportUpload {
    /// The CSV (with a header row), JSON (an array of objects) or JSON Lines file.
    pub file: Upload,
    /// `csv`, `json`, `jsonl` or `iiif`; detected when left out.
    pub format: Option<String>,
    /// Redundancy of rows that do not give `n_answers` (default 30).
    pub n_answers: Option<i32>,
    /// Priority of rows that do not give `priority_0` (default 0).
    pub priority_0: Option<f64>,
    /// `1`/`true`: only read and check the file.
    pub dry_run: Option<String>,
}

#[derive(ApiRequest)]
pub enum ImportRequest {
    Url(Json<ImportUrl>),
    File(ImportUpload),
}

/// A refused row.
#[derive(Object)]
pub struct ImportError {
    /// The line the row starts on (for a JSON array, the element's position; for a manifest,
    /// the canvas's).
    pub line: i64,
    pub reason: String,
}

/// An import and its counts so far.
#[derive(Object)]
pub struct Import {
    pub id: i32,
    pub project_id: i32,
    /// `queued`, `running`, `done` or `failed`.
    pub status: String,
    /// The file's name or the URL.
    pub source: String,
    /// `csv`, `json`, `jsonl` or `iiif`, once known.
    pub format: Option<String>,
    /// Rows read so far.
    pub read: i64,
    /// Tasks created.
    pub created: i64,
    /// Rows that were already tasks of the project (same `external_id`, or same `info`).
    pub duplicates: i64,
    /// Rows refused.
    pub rejected: i64,
    /// The first refused rows (all of them download from `rejected_url`).
    pub errors: Vec<ImportError>,
    /// Why the import failed, when it did.
    pub message: Option<String>,
    /// Started by the project's `info.autoimport` schedule.
    pub scheduled: bool,
    pub created_at: String,
    pub updated: String,
    pub finished: Option<String>,
    /// The refused rows as CSV.
    pub rejected_url: String,
}

impl From<task_import::Model> for Import {
    fn from(m: task_import::Model) -> Self {
        let errors = import::errors_of(&m).into_iter().map(Into::into).collect();
        Self {
            rejected_url: format!("/api/project/{}/import/{}/rejected", m.project_id, m.id),
            id: m.id,
            project_id: m.project_id,
            status: m.status,
            source: m.source,
            format: m.format,
            read: m.read,
            created: m.created,
            duplicates: m.duplicates,
            rejected: m.rejected,
            errors,
            message: m.message,
            scheduled: m.scheduled,
            created_at: m.created_at,
            updated: m.updated,
            finished: m.finished,
        }
    }
}

/// What a dry run found, nothing written.
#[derive(Object)]
pub struct ImportPreview {
    pub format: String,
    /// Rows read (the whole file).
    pub read: u64,
    /// Rows that would become tasks (before duplicates are known).
    pub valid: u64,
    pub rejected: u64,
    /// The first tasks as they would be created.
    pub tasks: Vec<Value>,
    /// The first refused rows.
    pub errors: Vec<ImportError>,
}

#[derive(ApiResponse)]
pub enum ImportResponse {
    /// The import is queued: poll it at `GET /api/project/{id}/import/{import_id}`.
    #[oai(status = 202)]
    Queued(Json<Import>),
    /// A dry run's findings.
    #[oai(status = 200)]
    Preview(Json<ImportPreview>),
}

/// Which tasks a bulk operation takes: all of the project's when empty.
#[derive(Object, Default)]
#[oai(deny_unknown_fields)]
pub struct BulkFilter {
    /// `ongoing` or `completed`.
    pub state: Option<String>,
    /// Task ids (at most 10,000).
    pub ids: Option<Vec<i32>>,
    /// The owner's ids, `external_id` (at most 10,000).
    pub external_ids: Option<Vec<String>>,
    /// The listing's `info` filter: `k1::v1|k2::v2` text, or a JSON object `info` must contain.
    pub info: Option<Value>,
}

/// New values for the tasks matched.
#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct BulkChanges {
    /// 1 to 100000. Tasks with that many answers complete (with their result); completed tasks
    /// with fewer reopen.
    pub n_answers: Option<i32>,
    /// 0 to 1.
    pub priority_0: Option<f64>,
    /// 0 or 1.
    pub calibration: Option<i32>,
}

/// Change (`set`) or delete (`delete: true`) every task a filter matches.
#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct BulkRequest {
    pub filter: BulkFilter,
    pub set: Option<BulkChanges>,
    /// Delete the tasks, with their answers and results.
    pub delete: Option<bool>,
}

/// What a bulk operation did.
#[derive(Object)]
pub struct BulkOutcome {
    /// Tasks the filter matched.
    pub matched: u64,
    pub updated: u64,
    pub deleted: u64,
    /// Tasks the new redundancy completed (each with its result) or reopened.
    pub completed: u64,
    pub reopened: u64,
    /// `done`, or `queued` when the set is large and runs as a job (`job_id`).
    pub status: String,
    pub job_id: Option<i32>,
}

fn truthy(v: Option<&str>) -> ApiResult<bool> {
    match v.map(str::trim) {
        None | Some("") => Ok(false),
        Some(s) => crud::fuzzy_bool(s).ok_or_else(|| {
            ApiError::bad_request(format!("dry_run must be true or false, not {s:?}"))
        }),
    }
}

/// The name an uploaded file is shown under: its own, cut to something printable.
fn shown_name(name: Option<&str>) -> String {
    let name: String = name
        .unwrap_or("upload")
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect();
    if name.trim().is_empty() {
        "upload".into()
    } else {
        name
    }
}

pub struct ImportApi;

#[OpenApi(tag = "ApiTags::Import")]
impl ImportApi {
    /// Import tasks from a file or a link, on the server.
    ///
    /// Send a CSV (with a header row), JSON (an array of objects) or JSON Lines file as the
    /// multipart field `file`, or `{"url": …}` for a CSV/JSON/JSON Lines link, a Google Sheets
    /// link (its CSV export is fetched) or an IIIF Presentation 2 or 3 manifest (one task per
    /// canvas, with the image URL and label in `info`). Columns `n_answers`, `priority_0`,
    /// `calibration`, `gold_answers` and `external_id` set those task fields; every other column
    /// goes into `info`. A row that is already a task of the project (same `external_id`, else
    /// the same `info`) is counted as a duplicate and not added again, so re-importing a file
    /// adds only its new rows. The import runs as a job: the answer (202) is the import, to poll
    /// at `GET /api/project/{id}/import/{import_id}`. With `dry_run=1` nothing is written and the
    /// answer (200) is the parsed preview and the first refused rows. Owners and admins.
    #[oai(path = "/project/:id/import", method = "post")]
    async fn import(
        &self,
        state: Data<&Arc<AppState>>,
        caller: Caller,
        id: Path<i32>,
        /// `1`: only read and check the file.
        dry_run: Query<Option<String>>,
        body: ImportRequest,
    ) -> Result<ImportResponse, ApiError> {
        let ctx = state.ctx(&caller);
        let project = Box::pin(resources::owned_by_caller(ctx, ProjectId(id.0))).await?;
        let infra = &state.infra;
        let query_dry = truthy(dry_run.0.as_deref())?;
        match body {
            ImportRequest::Url(Json(req)) => {
                let options = Options {
                    format: req.format,
                    n_answers: req.n_answers,
                    priority_0: req.priority_0,
                };
                let format = options.check()?;
                let url = req.url.trim().to_string();
                crate::domain::platform::outbound::check_url_literal(
                    &url,
                    &infra.config.webhook_allow,
                )
                .map_err(|e| ApiError::bad_request(format!("url: {e}")))?;
                if query_dry || req.dry_run == Some(true) {
                    let fetched = Box::pin(fetch::to_temp_file(infra, &url))
                        .await
                        .map_err(refusal)?;
                    let preview = Box::pin(import::preview(
                        Box::new(fetched.file),
                        format.or(fetched.format),
                        &options,
                    ))
                    .await?;
                    return Ok(ImportResponse::Preview(Json(preview.into())));
                }
                let started = Box::pin(import::start(
                    infra,
                    ProjectId(project.id),
                    caller.user_id(),
                    Source::Url(url),
                    &options,
                    false,
                ))
                .await?;
                Ok(ImportResponse::Queued(Json(started.into())))
            }
            ImportRequest::File(form) => {
                let options = Options {
                    format: form.format,
                    n_answers: form.n_answers,
                    priority_0: form.priority_0,
                };
                let format = options.check()?;
                let name = shown_name(form.file.file_name());
                let format = format.or_else(|| import::Format::from_file_name(&name));
                if query_dry || truthy(form.dry_run.as_deref())? {
                    let file = form.file.into_file().into_std().await;
                    let preview =
                        Box::pin(import::preview(Box::new(file), format, &options)).await?;
                    return Ok(ImportResponse::Preview(Json(preview.into())));
                }
                let mut reader = form.file.into_async_read();
                let stored_name = format!("{}.upload", uuid::Uuid::new_v4().simple());
                let (key, _) = infra
                    .storage
                    .put_reader(
                        import::CONTAINER,
                        &stored_name,
                        &mut reader,
                        infra.config.max_import_bytes,
                    )
                    .await?;
                let options = Options {
                    format: format.map(|f| f.name().to_string()),
                    ..options
                };
                let started = Box::pin(import::start(
                    infra,
                    ProjectId(project.id),
                    caller.user_id(),
                    Source::File {
                        name,
                        key: key.clone(),
                    },
                    &options,
                    false,
                ))
                .await;
                match started {
                    Ok(started) => Ok(ImportResponse::Queued(Json(started.into()))),
                    Err(e) => {
                        let _ = infra.storage.delete(&key).await;
                        Err(e)
                    }
                }
            }
        }
    }

    /// A project's imports, newest first (owners and admins).
    #[oai(path = "/project/:id/import", method = "get")]
    async fn imports(
        &self,
        state: Data<&Arc<AppState>>,
        caller: Caller,
        id: Path<i32>,
        /// At most 100 (default 20).
        limit: Query<Option<u64>>,
        offset: Query<Option<u64>>,
    ) -> Result<Json<Vec<Import>>, ApiError> {
        let ctx = state.ctx(&caller);
        let project = Box::pin(resources::owned_by_caller(ctx, ProjectId(id.0))).await?;
        let rows = import::list(
            &state.infra,
            ProjectId(project.id),
            limit.0.unwrap_or(20).min(100),
            offset.0.unwrap_or(0),
        )
        .await?;
        Ok(Json(rows.into_iter().map(Into::into).collect()))
    }

    /// One import: its status and counts so far (owners and admins).
    #[oai(path = "/project/:id/import/:import_id", method = "get")]
    async fn import_status(
        &self,
        state: Data<&Arc<AppState>>,
        caller: Caller,
        id: Path<i32>,
        import_id: Path<i32>,
    ) -> Result<Json<Import>, ApiError> {
        let ctx = state.ctx(&caller);
        let project = Box::pin(resources::owned_by_caller(ctx, ProjectId(id.0))).await?;
        let row = import::get(&state.infra, ProjectId(project.id), import_id.0).await?;
        Ok(Json(row.into()))
    }

    /// An import's refused rows as CSV: `line`, `reason` and the row as read (owners and
    /// admins).
    #[oai(path = "/project/:id/import/:import_id/rejected", method = "get")]
    async fn rejected(
        &self,
        state: Data<&Arc<AppState>>,
        caller: Caller,
        id: Path<i32>,
        import_id: Path<i32>,
    ) -> Result<Download, ApiError> {
        let ctx = state.ctx(&caller);
        let project = Box::pin(resources::owned_by_caller(ctx, ProjectId(id.0))).await?;
        let row = import::get(&state.infra, ProjectId(project.id), import_id.0).await?;
        let (mut writer, reader) = tokio::io::duplex(64 * 1024);
        let state = state.0.clone();
        let import_id = row.id;
        tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            let mut after = 0;
            let mut header = true;
            loop {
                let page = match import::rejected_rows(&state.infra, import_id, after, 1000).await {
                    Ok(page) => page,
                    Err(e) => {
                        tracing::warn!(import = import_id, error = %e.chain(), "rejected rows stopped");
                        return;
                    }
                };
                let mut csv = csv::Writer::from_writer(Vec::new());
                if header {
                    let _ = csv.write_record(["line", "reason", "row"]);
                    header = false;
                }
                for r in &page {
                    let _ = csv.write_record([r.line.to_string(), r.reason.clone(), r.raw.clone()]);
                }
                let bytes = csv.into_inner().unwrap_or_default();
                if writer.write_all(&bytes).await.is_err() {
                    return;
                }
                match page.last() {
                    Some(last) if page.len() == 1000 => after = last.id,
                    _ => return,
                }
            }
        });
        Ok(Download::new(
            Body::from_async_read(reader),
            "text/csv",
            format!("import_{import_id}_rejected.csv"),
        ))
    }

    /// Change or delete every task of the project a filter matches (owners and admins).
    ///
    /// `filter` narrows the project's tasks by `state`, `ids`, `external_ids` and `info` (the
    /// listing's `k::v|…` text, or a JSON object `info` must contain); `{}` takes them all.
    /// `set` changes `n_answers` (tasks with enough answers complete, each with its result;
    /// completed tasks with too few reopen), `priority_0` or `calibration`; `delete: true`
    /// deletes the tasks with their answers and results. Counters and statistics follow. Up to
    /// 5,000 tasks it runs in one transaction and answers what it did; a larger set is queued
    /// as a job (`status: queued`, `job_id`).
    #[oai(
        path = "/project/:id/tasks/bulk",
        method = "post",
        tag = "ApiTags::Task"
    )]
    async fn bulk(
        &self,
        state: Data<&Arc<AppState>>,
        caller: Caller,
        id: Path<i32>,
        body: Json<BulkRequest>,
    ) -> Result<Json<BulkOutcome>, ApiError> {
        let ctx = state.ctx(&caller);
        let project = Box::pin(resources::owned_by_caller(ctx, ProjectId(id.0))).await?;
        let req = body.0;
        let op = bulk::Op {
            filter: bulk::Filter {
                state: req.filter.state,
                ids: req.filter.ids,
                external_ids: req.filter.external_ids,
                info: req.filter.info,
            },
            set: req.set.map(|s| bulk::Changes {
                n_answers: s.n_answers,
                priority_0: s.priority_0,
                calibration: s.calibration,
            }),
            delete: req.delete.unwrap_or(false),
        };
        let out = Box::pin(bulk::apply(&state.infra, ProjectId(project.id), &op)).await?;
        Ok(Json(BulkOutcome {
            matched: out.matched,
            updated: out.updated,
            deleted: out.deleted,
            completed: out.completed,
            reopened: out.reopened,
            status: out.status.into(),
            job_id: out.job_id,
        }))
    }
}

impl From<import::Preview> for ImportPreview {
    fn from(p: import::Preview) -> Self {
        Self {
            format: p.format,
            read: p.read,
            valid: p.valid,
            rejected: p.rejected,
            tasks: p.tasks,
            errors: p.errors.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<import::RowError> for ImportError {
    fn from(e: import::RowError) -> Self {
        Self {
            line: i64::try_from(e.line).unwrap_or(i64::MAX),
            reason: e.reason,
        }
    }
}

/// A URL that cannot be imported is the client's problem: 400 with why.
fn refusal(f: import::Failure) -> ApiError {
    match f {
        import::Failure::Refused(why) => ApiError::bad_request(why),
        import::Failure::Transient(why) => ApiError::Unavailable(why),
    }
}
