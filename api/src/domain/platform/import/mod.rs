//! Importing tasks on the server: a file or a URL becomes tasks in batches, as a job.
//!
//! - The file is read on a blocking thread ([`parse`]) and handed over in batches through a
//!   small channel, so memory stays flat whatever the file's size.
//! - Each batch is one transaction: its tasks (`ON CONFLICT DO NOTHING` on the project's
//!   dedup index, so a re-import adds only new rows), its refused rows, the project's counters
//!   and the import's own counts. A retried job skips the rows already counted and goes on.
//! - URLs are fetched through the outbound guard ([`fetch`]), with a size and a time limit.

pub mod fetch;
pub mod iiif;
pub mod parse;
pub mod row;

use std::io::{BufRead, BufReader, Read};
use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
    sea_query::{Expr, OnConflict, Query},
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json, json};
use sha2::Digest;

use crate::error::{ApiError, ApiResult};
use crate::ids::ProjectId;
use crate::infra::Infra;
use crate::store::{
    counters::{self, Delta},
    entities::{project, task, task::TaskState, task_import, task_import_rejected},
    jobs::{self as queue, Attempt, JobError, Kind, NewJob},
    now,
};

pub use parse::Format;

pub const QUEUED: &str = "queued";
pub const RUNNING: &str = "running";
pub const DONE: &str = "done";
pub const FAILED: &str = "failed";

/// Rows written per transaction.
const BATCH: usize = 1000;
/// Refused rows listed in the import's report (all of them are kept for the CSV download).
pub const MAX_ERRORS: usize = 100;
/// Tasks shown by a dry run.
const PREVIEW: usize = 20;
/// The container imported files wait in until their import is over.
pub const CONTAINER: &str = "imports";
/// Task redundancy when neither the row nor the import says (PYBOSSA's default).
const DEFAULT_N_ANSWERS: i32 = 30;

/// What an import applies to rows that do not say, and how to read the file.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Options {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n_answers: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority_0: Option<f64>,
}

impl Options {
    /// Checks the options a client sent.
    pub fn check(&self) -> ApiResult<Option<Format>> {
        if let Some(n) = self.n_answers
            && !(1..=100_000).contains(&n)
        {
            return Err(ApiError::bad_request("n_answers must be from 1 to 100000"));
        }
        if let Some(p) = self.priority_0
            && !(0.0..=1.0).contains(&p)
        {
            return Err(ApiError::bad_request("priority_0 must be from 0 to 1"));
        }
        match &self.format {
            None => Ok(None),
            Some(name) => Format::parse(name).map(Some).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "format must be one of {} (or left out to be detected)",
                    Format::NAMES
                ))
            }),
        }
    }
}

/// Where an import reads from.
#[derive(Debug, Clone)]
pub enum Source {
    /// A file already stored under `key`, as the owner named it.
    File { name: String, key: String },
    /// A link, fetched by the job.
    Url(String),
    /// A file on the operator's disk, read in this process (`tessera import`).
    Local { name: String },
}

/// Creates an import and queues its job, in one transaction.
pub async fn start(
    infra: &Infra,
    project_id: ProjectId,
    user_id: Option<i32>,
    source: Source,
    options: &Options,
    scheduled: bool,
) -> ApiResult<task_import::Model> {
    options.check()?;
    let (shown, url, stored_key) = match &source {
        Source::File { name, key } => (name.clone(), None, Some(key.clone())),
        Source::Url(url) => (url.clone(), Some(url.clone()), None),
        Source::Local { name } => (name.clone(), None, None),
    };
    let stamp = now();
    let txn = crate::store::begin_write(&infra.db).await?;
    let model = task_import::ActiveModel {
        project_id: Set(project_id.0),
        user_id: Set(user_id),
        source: Set(shown),
        url: Set(url),
        stored_key: Set(stored_key),
        format: Set(None),
        options: Set(Some(serde_json::to_value(options).unwrap_or_default())),
        status: Set(if matches!(source, Source::Local { .. }) {
            RUNNING.into()
        } else {
            QUEUED.into()
        }),
        read: Set(0),
        created: Set(0),
        duplicates: Set(0),
        rejected: Set(0),
        errors: Set(Some(json!([]))),
        message: Set(None),
        job_id: Set(None),
        scheduled: Set(scheduled),
        created_at: Set(stamp.clone()),
        updated: Set(stamp),
        finished: Set(None),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    let model = if matches!(source, Source::Local { .. }) {
        model
    } else {
        let job = NewJob {
            max_attempts: 3,
            ..NewJob::new(Kind::ImportTasks, json!({ "import_id": model.id }))
        };
        let job_id = Box::pin(queue::enqueue(&txn, job)).await?;
        let mut am: task_import::ActiveModel = model.into();
        am.job_id = Set(job_id);
        am.update(&txn).await?
    };
    txn.commit().await?;
    infra.jobs_wake.notify_one();
    Ok(model)
}

/// One import of a project, or 404.
pub async fn get(
    infra: &Infra,
    project_id: ProjectId,
    import_id: i32,
) -> ApiResult<task_import::Model> {
    task_import::Entity::find_by_id(import_id)
        .filter(task_import::Column::ProjectId.eq(project_id))
        .one(&infra.db)
        .await?
        .ok_or(ApiError::NotFound)
}

/// A project's imports, newest first.
pub async fn list(
    infra: &Infra,
    project_id: ProjectId,
    limit: u64,
    offset: u64,
) -> ApiResult<Vec<task_import::Model>> {
    Ok(task_import::Entity::find()
        .filter(task_import::Column::ProjectId.eq(project_id))
        .order_by_desc(task_import::Column::Id)
        .limit(limit)
        .offset(offset)
        .all(&infra.db)
        .await?)
}

/// A page of an import's refused rows, in file order.
pub async fn rejected_rows(
    infra: &Infra,
    import_id: i32,
    after: i32,
    limit: u64,
) -> ApiResult<Vec<task_import_rejected::Model>> {
    Ok(task_import_rejected::Entity::find()
        .filter(task_import_rejected::Column::ImportId.eq(import_id))
        .filter(task_import_rejected::Column::Id.gt(after))
        .order_by_asc(task_import_rejected::Column::Id)
        .limit(limit)
        .all(&infra.db)
        .await?)
}

/// What went wrong with an import as a whole.
#[derive(Debug)]
pub enum Failure {
    /// The file or URL cannot be imported (told to the owner); trying again will not help.
    Refused(String),
    /// The database or the disk failed; the job tries again and resumes.
    Transient(String),
}

impl From<sea_orm::DbErr> for Failure {
    fn from(e: sea_orm::DbErr) -> Self {
        Failure::Transient(e.to_string())
    }
}

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Self {
        Failure::Transient(e.chain())
    }
}

/// The import job: reads the file or fetches the URL, writes its tasks, records the outcome.
pub async fn run(infra: &Infra, import_id: i32, attempt: &Attempt) -> Result<(), JobError> {
    let Some(import) = task_import::Entity::find_by_id(import_id)
        .one(&infra.db)
        .await?
    else {
        return Ok(()); // Its project was deleted meanwhile.
    };
    if import.status == DONE || import.status == FAILED {
        return Ok(());
    }
    mark(infra, import.id, RUNNING, None).await?;
    let renew = |_: &Counts| {
        let lease = attempt.lease.clone();
        let db = infra.db.clone();
        async move { lease.renew(&db).await }
    };
    let outcome = Box::pin(run_source(infra, &import, &renew)).await;
    match outcome {
        Ok(()) => {
            finish(infra, &import, DONE, None).await?;
            Ok(())
        }
        Err(Failure::Refused(why)) => {
            finish(infra, &import, FAILED, Some(why)).await?;
            Ok(())
        }
        Err(Failure::Transient(why)) if attempt.last => {
            finish(
                infra,
                &import,
                FAILED,
                Some(format!("the import stopped: {why}")),
            )
            .await?;
            Err(JobError::Permanent(why))
        }
        Err(Failure::Transient(why)) => Err(JobError::Retry(why)),
    }
}

async fn run_source<F, Fut>(
    infra: &Infra,
    import: &task_import::Model,
    after_batch: &F,
) -> Result<(), Failure>
where
    F: Fn(&Counts) -> Fut + Sync,
    Fut: Future<Output = Result<(), sea_orm::DbErr>> + Send,
{
    let options: Options = import
        .options
        .clone()
        .and_then(|o| serde_json::from_value(o).ok())
        .unwrap_or_default();
    let mut format = options.format.as_deref().and_then(Format::parse);
    let reader: Box<dyn Read + Send> = if let Some(key) = &import.stored_key {
        if format.is_none() {
            format = Format::from_file_name(&import.source);
        }
        infra
            .storage
            .open(key)
            .await?
            .ok_or_else(|| Failure::Refused("the uploaded file is gone".into()))?
    } else if let Some(url) = &import.url {
        let fetched = Box::pin(fetch::to_temp_file(infra, url)).await?;
        if format.is_none() {
            format = fetched.format;
        }
        Box::new(fetched.file)
    } else {
        return Err(Failure::Refused("the import has nothing to read".into()));
    };
    Box::pin(ingest(infra, import, reader, format, &options, after_batch)).await?;
    Ok(())
}

async fn mark(
    infra: &Infra,
    id: i32,
    status: &str,
    message: Option<String>,
) -> Result<(), sea_orm::DbErr> {
    let mut update = task_import::Entity::update_many()
        .col_expr(task_import::Column::Status, Expr::value(status))
        .col_expr(task_import::Column::Updated, Expr::value(now()))
        .filter(task_import::Column::Id.eq(id));
    if status == DONE || status == FAILED {
        update = update
            .col_expr(task_import::Column::Finished, Expr::value(now()))
            .col_expr(task_import::Column::Message, Expr::value(message));
    }
    update.exec(&infra.db).await?;
    Ok(())
}

/// Records an import's outcome, drops its stored file, and retires the project's cached
/// entries (its task counts changed).
pub async fn finish(
    infra: &Infra,
    import: &task_import::Model,
    status: &str,
    message: Option<String>,
) -> Result<(), sea_orm::DbErr> {
    mark(infra, import.id, status, message).await?;
    if let Some(key) = &import.stored_key
        && let Err(e) = infra.storage.delete(key).await
    {
        tracing::warn!(error = %e, key, "removing an imported file failed");
    }
    crate::store::touch_project(&infra.db, ProjectId(import.project_id)).await?;
    let mut keys = crate::domain::platform::cache::keys_for_project(ProjectId(import.project_id));
    keys.push(crate::domain::platform::cache::PROJECT_LISTINGS.into());
    infra.kv.delete_many(&keys).await;
    Ok(())
}

/// An import's counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub read: i64,
    pub created: i64,
    pub duplicates: i64,
    pub rejected: i64,
}

/// A refused row as reports list it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RowError {
    pub line: u64,
    pub reason: String,
}

/// The refused rows an import's `errors` column lists.
pub fn errors_of(import: &task_import::Model) -> Vec<RowError> {
    import
        .errors
        .clone()
        .and_then(|e| serde_json::from_value(e).ok())
        .unwrap_or_default()
}

/// What the reading thread hands over.
enum Msg {
    Format(Format),
    Batch(Vec<parse::Item>),
    End(Result<(), String>),
}

/// Counts what a reader has given, for progress bars.
pub struct Counting<R> {
    inner: R,
    pub bytes: Arc<AtomicU64>,
}

impl<R: Read> Counting<R> {
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            bytes: Arc::new(AtomicU64::new(0)),
        }
    }
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Tells a reader's format from `format` or from its first bytes.
fn detect(reader: &mut impl BufRead, format: Option<Format>) -> Result<Format, String> {
    if let Some(f) = format {
        return Ok(f);
    }
    let head = reader
        .fill_buf()
        .map_err(|e| format!("the file could not be read: {e}"))?;
    parse::sniff(head)
}

/// Starts reading on a blocking thread; batches arrive on the returned channel. Rows before
/// `skip` (already written by an earlier attempt) are read and passed over.
fn spawn_reader(
    reader: Box<dyn Read + Send>,
    format: Option<Format>,
    skip: u64,
) -> tokio::sync::mpsc::Receiver<Msg> {
    let (tx, rx) = tokio::sync::mpsc::channel::<Msg>(2);
    tokio::task::spawn_blocking(move || {
        let mut reader = BufReader::with_capacity(256 * 1024, reader);
        let format = match detect(&mut reader, format) {
            Ok(f) => f,
            Err(e) => {
                let _ = tx.blocking_send(Msg::End(Err(e)));
                return;
            }
        };
        if tx.blocking_send(Msg::Format(format)).is_err() {
            return;
        }
        let mut seen = 0u64;
        let mut batch = Vec::with_capacity(BATCH);
        let mut gone = false;
        let outcome = parse::read(reader, format, &mut |item| {
            seen += 1;
            if seen <= skip {
                return ControlFlow::Continue(());
            }
            batch.push(item);
            if batch.len() >= BATCH {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                if tx.blocking_send(Msg::Batch(full)).is_err() {
                    gone = true;
                    return ControlFlow::Break(());
                }
            }
            ControlFlow::Continue(())
        });
        if gone {
            return;
        }
        if !batch.is_empty() && tx.blocking_send(Msg::Batch(batch)).is_err() {
            return;
        }
        let _ = tx.blocking_send(Msg::End(outcome));
    });
    rx
}

/// Reads `reader` into the import's project, batch by batch; `after_batch` runs after each
/// committed batch (the job renews its lease there, the command line moves its bar).
pub async fn ingest<F, Fut>(
    infra: &Infra,
    import: &task_import::Model,
    reader: Box<dyn Read + Send>,
    format: Option<Format>,
    options: &Options,
    after_batch: &F,
) -> Result<Counts, Failure>
where
    F: Fn(&Counts) -> Fut + Sync,
    Fut: Future<Output = Result<(), sea_orm::DbErr>> + Send,
{
    let mut counts = Counts {
        read: import.read,
        created: import.created,
        duplicates: import.duplicates,
        rejected: import.rejected,
    };
    let mut errors = errors_of(import);
    let defaults = Defaults {
        n_answers: options.n_answers.unwrap_or(DEFAULT_N_ANSWERS),
        priority_0: options.priority_0.unwrap_or(0.0),
    };
    let skip = u64::try_from(import.read).unwrap_or(0);
    let mut rx = spawn_reader(reader, format, skip);
    while let Some(msg) = rx.recv().await {
        match msg {
            Msg::Format(f) => {
                task_import::Entity::update_many()
                    .col_expr(task_import::Column::Format, Expr::value(f.name()))
                    .filter(task_import::Column::Id.eq(import.id))
                    .exec(&infra.db)
                    .await?;
            }
            Msg::Batch(items) => {
                let txn = crate::store::begin_write(&infra.db).await?;
                let added =
                    Box::pin(write_batch(&txn, import, &defaults, items, &mut errors)).await?;
                counts.read += added.read;
                counts.created += added.created;
                counts.duplicates += added.duplicates;
                counts.rejected += added.rejected;
                task_import::Entity::update_many()
                    .col_expr(task_import::Column::Read, Expr::value(counts.read))
                    .col_expr(task_import::Column::Created, Expr::value(counts.created))
                    .col_expr(
                        task_import::Column::Duplicates,
                        Expr::value(counts.duplicates),
                    )
                    .col_expr(task_import::Column::Rejected, Expr::value(counts.rejected))
                    .col_expr(
                        task_import::Column::Errors,
                        Expr::value(serde_json::to_value(&errors).unwrap_or_default()),
                    )
                    .col_expr(task_import::Column::Updated, Expr::value(now()))
                    .filter(task_import::Column::Id.eq(import.id))
                    .exec(&txn)
                    .await?;
                txn.commit().await?;
                after_batch(&counts).await?;
            }
            Msg::End(Ok(())) => return Ok(counts),
            Msg::End(Err(why)) => return Err(Failure::Refused(why)),
        }
    }
    // The reading thread died without a word (it panicked).
    Err(Failure::Transient("the file reader stopped".into()))
}

struct Defaults {
    n_answers: i32,
    priority_0: f64,
}

/// The key that makes a task the same task on re-import.
pub fn dedup_key(external_id: Option<&str>, info: &Map<String, Json>) -> String {
    match external_id {
        Some(id) => format!("x:{id}"),
        None => {
            let mut canonical = String::new();
            canonical_json(&Json::Object(info.clone()), &mut canonical);
            let digest = sha2::Sha256::digest(canonical.as_bytes());
            let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
            format!("h:{hex}")
        }
    }
}

/// JSON with object keys sorted, so key order does not change the hash.
fn canonical_json(v: &Json, out: &mut String) {
    match v {
        Json::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Json::String(k.clone()).to_string());
                out.push(':');
                canonical_json(&map[k], out);
            }
            out.push('}');
        }
        Json::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical_json(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// Writes one batch in the caller's transaction; returns what it added to the counts.
async fn write_batch(
    txn: &DatabaseTransaction,
    import: &task_import::Model,
    defaults: &Defaults,
    items: Vec<parse::Item>,
    errors: &mut Vec<RowError>,
) -> Result<Counts, Failure> {
    use task::Column as T;
    let mut added = Counts {
        read: items.len() as i64,
        ..Counts::default()
    };
    let stamp = now();
    let mut insert = Query::insert();
    insert.into_table(task::Entity).columns([
        T::Created,
        T::ProjectId,
        T::State,
        T::Quorum,
        T::Calibration,
        T::Priority0,
        T::Info,
        T::NAnswers,
        T::NTaskRuns,
        T::ExternalId,
        T::DedupKey,
        T::GoldAnswers,
    ]);
    let mut tasks = 0i64;
    let mut refused = Vec::new();
    for item in items {
        match item {
            parse::Item::Task { task: t, .. } => {
                let key = dedup_key(t.external_id.as_deref(), &t.info);
                let row: Vec<sea_orm::sea_query::SimpleExpr> = vec![
                    stamp.clone().into(),
                    import.project_id.into(),
                    sea_orm::ActiveEnum::to_value(&TaskState::Ongoing).into(),
                    0i32.into(),
                    t.calibration.unwrap_or(0).into(),
                    t.priority_0.unwrap_or(defaults.priority_0).into(),
                    Json::Object(t.info).into(),
                    t.n_answers.unwrap_or(defaults.n_answers).into(),
                    0i32.into(),
                    t.external_id.into(),
                    Some(key).into(),
                    t.gold_answers.into(),
                ];
                insert
                    .values(row)
                    .map_err(|e| Failure::Transient(e.to_string()))?;
                tasks += 1;
            }
            parse::Item::Rejected { line, reason, raw } => {
                if errors.len() < MAX_ERRORS {
                    errors.push(RowError {
                        line,
                        reason: reason.clone(),
                    });
                }
                refused.push(task_import_rejected::ActiveModel {
                    import_id: Set(import.id),
                    line: Set(i64::try_from(line).unwrap_or(i64::MAX)),
                    reason: Set(reason),
                    raw: Set(raw),
                    ..Default::default()
                });
            }
        }
    }
    if tasks > 0 {
        insert
            .on_conflict(
                OnConflict::columns([T::ProjectId, T::DedupKey])
                    .do_nothing()
                    .to_owned(),
            )
            .returning(Query::returning().columns([T::NAnswers, T::Calibration]));
        let stmt = txn.get_database_backend().build(&insert);
        let rows = txn.query_all_raw(stmt).await?;
        // Gold tasks are not part of the work the counters measure.
        let (mut work, mut expected) = (0i64, 0i64);
        for row in &rows {
            let n: i32 = row.try_get_by_index(0)?;
            let calibration: i32 = row.try_get_by_index(1)?;
            if calibration == 0 {
                work += 1;
                expected += i64::from(n);
            }
        }
        added.created = rows.len() as i64;
        added.duplicates = tasks - added.created;
        Box::pin(counters::add(
            txn,
            ProjectId(import.project_id),
            Delta {
                tasks: work,
                answers_expected: expected,
                ..Delta::default()
            },
        ))
        .await?;
    }
    added.rejected = refused.len() as i64;
    if !refused.is_empty() {
        Box::pin(task_import_rejected::Entity::insert_many(refused).exec_without_returning(txn))
            .await?;
    }
    Ok(added)
}

/// What a dry run found.
#[derive(Debug, Serialize)]
pub struct Preview {
    pub format: String,
    pub read: u64,
    pub valid: u64,
    pub rejected: u64,
    /// The first tasks as they would be created.
    pub tasks: Vec<Json>,
    /// The first refused rows.
    pub errors: Vec<RowError>,
}

/// Reads a whole file without writing anything: what an import of it would create (before
/// duplicates are known) and what it would refuse.
pub async fn preview(
    reader: Box<dyn Read + Send>,
    format: Option<Format>,
    options: &Options,
) -> ApiResult<Preview> {
    let n_answers = options.n_answers.unwrap_or(DEFAULT_N_ANSWERS);
    let priority = options.priority_0.unwrap_or(0.0);
    let outcome = tokio::task::spawn_blocking(move || -> Result<Preview, String> {
        let mut reader = BufReader::with_capacity(256 * 1024, reader);
        let format = detect(&mut reader, format)?;
        let mut out = Preview {
            format: format.name().into(),
            read: 0,
            valid: 0,
            rejected: 0,
            tasks: Vec::new(),
            errors: Vec::new(),
        };
        parse::read(reader, format, &mut |item| {
            out.read += 1;
            match item {
                parse::Item::Task { line, task: t } => {
                    out.valid += 1;
                    if out.tasks.len() < PREVIEW {
                        out.tasks.push(json!({
                            "line": line,
                            "info": t.info,
                            "n_answers": t.n_answers.unwrap_or(n_answers),
                            "priority_0": t.priority_0.unwrap_or(priority),
                            "calibration": t.calibration.unwrap_or(0),
                            "external_id": t.external_id,
                            "gold_answers": t.gold_answers,
                        }));
                    }
                }
                parse::Item::Rejected { line, reason, .. } => {
                    out.rejected += 1;
                    if out.errors.len() < MAX_ERRORS {
                        out.errors.push(RowError { line, reason });
                    }
                }
            }
            ControlFlow::Continue(())
        })?;
        Ok(out)
    })
    .await
    .map_err(ApiError::internal)?;
    outcome.map_err(ApiError::bad_request)
}

/// Projects that re-import a URL on a schedule: `info.autoimport = {"url", "every_hours"}`.
#[derive(Debug, Clone, Deserialize)]
pub struct AutoImport {
    pub url: String,
    #[serde(default = "default_every")]
    pub every_hours: u32,
}

fn default_every() -> u32 {
    24
}

/// The `autoimport` a project's `info` asks for, checked; `Ok(None)` when it asks for none.
pub fn autoimport_of(info: &Json, allow: &str) -> Result<Option<AutoImport>, String> {
    let Some(raw) = info.get("autoimport") else {
        return Ok(None);
    };
    if raw.is_null() {
        return Ok(None);
    }
    let auto: AutoImport = serde_json::from_value(raw.clone())
        .map_err(|e| format!("info.autoimport must be {{\"url\": …, \"every_hours\": n}}: {e}"))?;
    if !(1..=24 * 365).contains(&auto.every_hours) {
        return Err("info.autoimport.every_hours must be from 1 to 8760".into());
    }
    crate::domain::platform::outbound::check_url_literal(&auto.url, allow)
        .map_err(|e| format!("info.autoimport.url: {e}"))?;
    Ok(Some(auto))
}

/// The periodic step: starts an import for each project whose `autoimport` is due (its last
/// scheduled import began at least `every_hours` ago, or there was none).
pub async fn start_scheduled(infra: &Infra) -> Result<usize, sea_orm::DbErr> {
    let candidates: Vec<(i32, Option<Json>)> = project::Entity::find()
        .select_only()
        .column(project::Column::Id)
        .column(project::Column::Info)
        // Only projects whose info names the key (most never do: their presenters stay unread).
        .filter(Expr::cust("CAST(info AS TEXT) LIKE '%\"autoimport\"%'"))
        .order_by_asc(project::Column::Id)
        .into_tuple()
        .all(&infra.db)
        .await?;
    let mut started = 0;
    for (id, info) in candidates {
        let Some(info) = info else { continue };
        let Ok(Some(auto)) = autoimport_of(&info, &infra.config.webhook_allow) else {
            continue;
        };
        let last: Option<String> = task_import::Entity::find()
            .select_only()
            .column(task_import::Column::CreatedAt)
            .filter(task_import::Column::ProjectId.eq(id))
            .filter(task_import::Column::Scheduled.eq(true))
            .order_by_desc(task_import::Column::Id)
            .into_tuple()
            .one(&infra.db)
            .await?;
        let due = last.is_none_or(|at| {
            let cutoff = chrono::Utc::now() - chrono::Duration::hours(i64::from(auto.every_hours));
            at < cutoff.format("%Y-%m-%dT%H:%M:%S%.6f").to_string()
        });
        if !due {
            continue;
        }
        match Box::pin(start(
            infra,
            ProjectId(id),
            None,
            Source::Url(auto.url.clone()),
            &Options::default(),
            true,
        ))
        .await
        {
            Ok(_) => started += 1,
            Err(e) => {
                tracing::warn!(project = id, error = %e.chain(), "autoimport failed to start");
            }
        }
    }
    Ok(started)
}

/// Runs an import in this process, from a file on this machine (`tessera import`).
pub async fn run_local<F, Fut>(
    infra: &Infra,
    import: &task_import::Model,
    reader: Box<dyn Read + Send>,
    format: Option<Format>,
    options: &Options,
    after_batch: &F,
) -> ApiResult<(Counts, Option<String>)>
where
    F: Fn(&Counts) -> Fut + Sync,
    Fut: Future<Output = Result<(), sea_orm::DbErr>> + Send,
{
    let outcome = Box::pin(ingest(infra, import, reader, format, options, after_batch)).await;
    let (status, message) = match &outcome {
        Ok(_) => (DONE, None),
        Err(Failure::Refused(why) | Failure::Transient(why)) => (FAILED, Some(why.clone())),
    };
    finish(infra, import, status, message.clone()).await?;
    let fresh = get(infra, ProjectId(import.project_id), import.id).await?;
    Ok((
        Counts {
            read: fresh.read,
            created: fresh.created,
            duplicates: fresh.duplicates,
            rejected: fresh.rejected,
        },
        message,
    ))
}
