//! Exports of a project's tasks, answers and results, streamed.

use std::sync::Arc;

use poem::{Body, IntoResponse, Response, web::Data};
use poem_openapi::{
    ApiResponse, OpenApi,
    param::{Path, Query},
    registry::{MetaMediaType, MetaResponse, MetaResponses, MetaSchema, MetaSchemaRef, Registry},
};

use super::ApiTags;
use crate::{
    auth::Caller,
    domain::{
        platform::export::{self, Export, Format, Table},
        rest::crud,
        rest::fields::Access,
        rest::resources::{self, is_owner},
    },
    error::ApiError,
    state::AppState,
};

/// A file download streamed as it is produced.
pub struct Download {
    body: Body,
    content_type: &'static str,
    file_name: String,
}

impl Download {
    pub fn new(body: Body, content_type: &'static str, file_name: String) -> Self {
        Self {
            body,
            content_type,
            file_name,
        }
    }
}

impl IntoResponse for Download {
    fn into_response(self) -> Response {
        Response::builder()
            .content_type(self.content_type)
            .header(
                "content-disposition",
                format!("attachment; filename=\"{}\"", self.file_name),
            )
            .body(self.body)
    }
}

impl ApiResponse for Download {
    fn meta() -> MetaResponses {
        let binary =
            || MetaSchemaRef::Inline(Box::new(MetaSchema::new_with_format("string", "binary")));
        let media = |content_type| MetaMediaType {
            content_type,
            schema: binary(),
        };
        MetaResponses {
            responses: vec![MetaResponse {
                description: "The export, as an attachment.",
                status: Some(200),
                status_range: None,
                content: vec![
                    media("text/csv"),
                    media("application/json"),
                    media("application/x-ndjson"),
                    media("application/zip"),
                ],
                headers: vec![],
            }],
        }
    }
    fn register(_registry: &mut Registry) {}
}

pub struct ExportApi;

#[OpenApi(tag = "ApiTags::Project")]
impl ExportApi {
    /// Export a project's tasks, answers (task runs) or results.
    ///
    /// `type`: `task`, `task_run` or `result` (the current result of each task). `format`:
    /// `csv` (one column per field, `info` flattened into `info_<key>[_<subkey>]` columns as
    /// PYBOSSA does), `json` (an array) or `jsonl` (one object per line). `zip=1` wraps the file
    /// in a zip named as PYBOSSA names it. The file is streamed as it is read, in id order, so
    /// any size exports in constant memory. Owners and admins; anyone who can read the project
    /// when it is published with `zip_download` on.
    #[oai(path = "/project/:id/export", method = "get")]
    async fn export(
        &self,
        state: Data<&Arc<AppState>>,
        caller: Caller,
        id: Path<i32>,
        /// `task`, `task_run` or `result`.
        #[oai(name = "type")]
        table: Query<String>,
        /// `csv`, `json` or `jsonl`.
        format: Query<String>,
        /// Zip the file.
        zip: Query<Option<String>>,
    ) -> Result<Download, ApiError> {
        let ctx = state.ctx(&caller);
        let project = crud::get::<resources::Project>(ctx, id.0).await?;
        let open_to_readers = project.published && project.zip_download;
        let level = if caller.is_admin() {
            Access::Admin
        } else if is_owner(&caller, &project) {
            Access::Owner
        } else if open_to_readers {
            Access::Public
        } else {
            return Err(ApiError::denied(caller.is_authenticated()));
        };
        let spec = Export {
            table: Table::parse(table.0.trim())?,
            format: Format::parse(format.0.trim())?,
            zip: zip.0.as_deref().and_then(crud::fuzzy_bool).unwrap_or(false),
            level,
        };
        let (writer, reader) = tokio::io::duplex(64 * 1024);
        let state = state.0.clone();
        let short_name = project.short_name.clone();
        let project_id = project.id;
        tokio::spawn(async move {
            let written = Box::pin(export::write(
                &state.infra.read_db,
                project_id,
                &short_name,
                spec,
                writer,
                &|_| {},
            ))
            .await;
            if let Err(e) = written {
                // The client sees a truncated file (and a broken zip); the cause is logged.
                tracing::warn!(project = project_id, error = %e, "export stopped");
            }
        });
        Ok(Download {
            body: Body::from_async_read(reader),
            content_type: spec.content_type(),
            file_name: spec.file_name(project.id, &project.short_name),
        })
    }
}
