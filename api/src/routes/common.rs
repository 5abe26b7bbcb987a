//! HTTP plumbing shared by the resource modules: PYBOSSA's query-string rules, a request body
//! that accepts JSON whatever the content type (as PYBOSSA does) or a multipart upload, typed
//! JSON responses for the spec, and the HATEOAS `link`/`links` fields.

use std::marker::PhantomData;

use poem::{FromRequest, IntoResponse, Request, RequestBody, Response, web::Multipart};
use poem_openapi::{
    ApiExtractor, ApiExtractorType, ApiResponse, ExtractParamOptions,
    payload::Payload,
    registry::{MetaMediaType, MetaRequest, MetaResponse, MetaResponses, Registry},
    types::Type,
};
use serde_json::{Map, Value as Json};

use crate::{
    domain::{
        platform::uploads::UploadedFile,
        rest::crud::{ListParams, fuzzy_bool},
    },
    error::{ApiError, ApiResult},
};

/// Query keys every listing understands besides column filters.
const LIST_KEYS: &[&str] = &[
    "limit",
    "offset",
    "api_key",
    "last_id",
    "all",
    "fulltextsearch",
    "desc",
    "orderby",
    "related",
    "participated",
    "full",
    "stats",
    "info",
    "search",
    "_",
];

pub fn query_pairs(req: &Request) -> ApiResult<Vec<(String, String)>> {
    serde_urlencoded::from_str(req.uri().query().unwrap_or(""))
        .map_err(|e| ApiError::value(format!("invalid query string: {e}")))
}

/// PYBOSSA's list parameters. `extra` names keys a resource tolerates without filtering on them.
pub fn parse_list(req: &Request, extra: &[&str]) -> ApiResult<ListParams> {
    let mut p = ListParams {
        limit: 20,
        ..ListParams::default()
    };
    let mut limit = None;
    let mut offset = None;
    for (key, value) in query_pairs(req)? {
        match key.as_str() {
            "limit" => limit = Some(value),
            "offset" => offset = Some(value),
            "last_id" => {
                p.last_id = Some(value.trim().parse().map_err(|_| {
                    ApiError::value(format!(
                        "invalid literal for int() with base 10: last_id='{value}'"
                    ))
                })?);
            }
            "orderby" => p.orderby = Some(value),
            "desc" => {
                p.desc = fuzzy_bool(&value)
                    .ok_or_else(|| ApiError::value(format!("invalid truth value '{value}'")))?;
            }
            "all" => p.all = value == "1",
            "fulltextsearch" => p.fulltext = value == "1",
            "related" => p.related = !value.is_empty(),
            "participated" => p.participated = !value.is_empty(),
            "stats" => p.stats = !value.is_empty(),
            "full" => p.full = !value.is_empty(),
            "info" => p.info = Some(value),
            "search" => p.search = Some(value).filter(|v| !v.trim().is_empty()),
            k if LIST_KEYS.contains(&k) || extra.contains(&k) => {}
            _ => p.filters.push((key, value)),
        }
    }
    // A limit that is not a number falls back to 20; a negative one is a database error upstream.
    if let Some(l) = limit {
        match l.trim().parse::<i64>() {
            Ok(n) if n < 0 => return Err(ApiError::data("LIMIT must not be negative")),
            Ok(n) => p.limit = n.min(100) as u64,
            Err(_) => {}
        }
    }
    if let Some(o) = offset {
        match o.trim().parse::<i64>() {
            Ok(n) if n < 0 => return Err(ApiError::data("OFFSET must not be negative")),
            Ok(n) => p.offset = n as u64,
            Err(_) => {}
        }
    }
    Ok(p)
}

/// Base URL for links: the configured public URL, else the request's own host.
pub fn base_url(req: &Request, configured: Option<&str>) -> String {
    if let Some(url) = configured {
        return url.trim_end_matches('/').to_string();
    }
    let host = req
        .headers()
        .get("host")
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            h.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '-' | '[' | ']'))
        })
        .unwrap_or("localhost");
    let scheme = req
        .headers()
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .filter(|p| *p == "https")
        .unwrap_or("http");
    format!("{scheme}://{host}")
}

fn link(base: &str, rel: &str, title: &str, path: &str) -> Json {
    Json::String(format!(
        "<link rel='{rel}' title='{title}' href='{base}/api/{path}'/>"
    ))
}

/// Adds PYBOSSA's `links` (parents) and `link` (self) to an object read over GET.
pub fn add_links(map: &mut Map<String, Json>, base: &str, target: &str, parents: &[&str]) {
    let Some(id) = map.get("id").and_then(Json::as_i64) else {
        return;
    };
    let mut links = vec![];
    for parent in parents {
        let (rel, key) = if *parent == "category" {
            ("category", "category_id")
        } else {
            ("parent", "")
        };
        let key = if key.is_empty() {
            format!("{parent}_id")
        } else {
            key.to_string()
        };
        if let Some(pid) = map.get(&key).and_then(Json::as_i64) {
            links.push(link(base, rel, parent, &format!("{parent}/{pid}")));
        }
    }
    if !links.is_empty() {
        map.insert("links".into(), Json::Array(links));
    }
    map.insert(
        "link".into(),
        link(base, "self", target, &format!("{target}/{id}")),
    );
}

/// A create/update body: JSON (whatever the content type says, as PYBOSSA parses it) or, where
/// the resource takes files, a multipart form with a `file` field.
pub struct Body<T> {
    pub fields: Map<String, Json>,
    pub file: Option<UploadedFile>,
    _schema: PhantomData<T>,
}

/// Schema of a multipart upload: the file plus any of the resource's fields as form values.
#[derive(poem_openapi::Multipart)]
#[allow(dead_code)]
pub struct UploadForm {
    /// The file to store; its URL is returned in `media_url`.
    pub file: poem_openapi::types::multipart::Upload,
    /// JSON text for the `info` field.
    pub info: Option<String>,
    pub project_id: Option<String>,
}

impl<T: Type> Body<T> {
    async fn parse(req: &Request, body: &mut RequestBody) -> ApiResult<Self> {
        let is_multipart = req
            .content_type()
            .and_then(|ct| ct.parse::<mime::Mime>().ok())
            .is_some_and(|m| m.type_() == mime::MULTIPART && m.subtype() == mime::FORM_DATA);
        if is_multipart {
            if req.headers().get("content-length").is_none() {
                return Err(ApiError::value("multipart uploads need a Content-Length"));
            }
            return Box::pin(Self::parse_multipart(req, body)).await;
        }
        // Answers have their own, smaller limit.
        let answer = req.uri().path().starts_with("/taskrun");
        let limit = req
            .data::<std::sync::Arc<crate::state::AppState>>()
            .map_or(1024 * 1024, |s| {
                if answer {
                    s.infra.config.max_answer_bytes
                } else {
                    s.infra.config.max_json_bytes
                }
            });
        let bytes = Box::pin(
            body.take()
                .map_err(ApiError::internal)?
                .into_bytes_limit(limit),
        )
        .await
        .map_err(|e| {
            if e.to_string().to_ascii_lowercase().contains("too large") {
                ApiError::PayloadTooLarge(format!(
                    "the request body may be at most {limit} bytes here"
                ))
            } else {
                ApiError::value(e.to_string())
            }
        })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::value("Expecting value: line 1 column 1 (char 0)"));
        }
        match serde_json::from_slice::<Json>(&bytes) {
            Ok(Json::Object(fields)) => Ok(Self {
                fields,
                file: None,
                _schema: PhantomData,
            }),
            Ok(_) => Err(ApiError::type_error(
                "the request body must be a JSON object",
            )),
            Err(e) => Err(ApiError::value(e.to_string())),
        }
    }

    async fn parse_multipart(req: &Request, body: &mut RequestBody) -> ApiResult<Self> {
        let mut form = <Multipart as FromRequest>::from_request(req, body)
            .await
            .map_err(|e| ApiError::value(e.to_string()))?;
        let mut fields = Map::new();
        let mut file = None;
        while let Some(field) = form
            .next_field()
            .await
            .map_err(|e| ApiError::value(e.to_string()))?
        {
            let name = field.name().unwrap_or_default().to_string();
            if name == "file" {
                let file_name = field.file_name().map(str::to_string);
                let bytes = Box::pin(field.bytes())
                    .await
                    .map_err(|e| ApiError::PayloadTooLarge(e.to_string()))?;
                file = Some(UploadedFile { file_name, bytes });
            } else {
                let text = Box::pin(field.text())
                    .await
                    .map_err(|e| ApiError::value(e.to_string()))?;
                let value = if name == "info" {
                    serde_json::from_str(&text)
                        .map_err(|e| ApiError::value(format!("info: {e}")))?
                } else {
                    Json::String(text)
                };
                fields.insert(name, value);
            }
        }
        Ok(Self {
            fields,
            file,
            _schema: PhantomData,
        })
    }
}

impl<'a, T: Type> ApiExtractor<'a> for Body<T> {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        T::register(registry);
        <UploadForm as Payload>::register(registry);
    }

    fn request_meta() -> Option<MetaRequest> {
        Some(MetaRequest {
            description: None,
            content: vec![
                MetaMediaType {
                    content_type: "application/json",
                    schema: T::schema_ref(),
                },
                MetaMediaType {
                    content_type: "multipart/form-data",
                    schema: <UploadForm as Payload>::schema_ref(),
                },
            ],
            required: true,
        })
    }

    async fn from_request(
        req: &'a Request,
        body: &mut RequestBody,
        _: ExtractParamOptions<()>,
    ) -> poem::Result<Self> {
        Ok(Box::pin(Self::parse(req, body)).await?)
    }
}

/// A JSON response documented with `T`'s schema but built from a shaped JSON value (callers see
/// different fields depending on their role).
pub struct JsonOf<T>(pub Json, pub PhantomData<T>);

impl<T> JsonOf<T> {
    pub fn new(value: impl Into<Json>) -> Self {
        Self(value.into(), PhantomData)
    }
}

impl<T: Type> IntoResponse for JsonOf<T> {
    fn into_response(self) -> Response {
        poem::web::Json(self.0).into_response()
    }
}

impl<T: Type> ApiResponse for JsonOf<T> {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: vec![MetaResponse {
                description: "OK",
                status: Some(200),
                status_range: None,
                content: vec![MetaMediaType {
                    content_type: "application/json",
                    schema: T::schema_ref(),
                }],
                headers: vec![],
            }],
        }
    }
    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

/// `204 No Content`, still labelled `application/json` as PYBOSSA's DELETE is.
pub struct Deleted;

impl IntoResponse for Deleted {
    fn into_response(self) -> Response {
        Response::builder()
            .status(poem::http::StatusCode::NO_CONTENT)
            .content_type("application/json")
            .finish()
    }
}

impl ApiResponse for Deleted {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: vec![MetaResponse {
                description: "Deleted.",
                status: Some(204),
                status_range: None,
                content: vec![],
                headers: vec![],
            }],
        }
    }
    fn register(_registry: &mut Registry) {}
}
