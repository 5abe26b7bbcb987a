//! Durable background jobs: a queue table in the main database.
//!
//! Why a table and not a crate: apalis' SQL backend (and the other queue crates checked) link
//! sqlx 0.8 while SeaORM 2 links sqlx 0.9, and two `libsqlite3-sys` cannot live in one binary.
//! A table also gives what the platform needs for free: a job is enqueued in the same
//! transaction as the write that causes it (an answer that completes a task, a deletion), so a
//! crash can never keep the write and lose the job, and Redis is never involved.
//!
//! Delivery is at least once. A worker claims jobs with a lease (`locked_until`); a worker that
//! dies mid-job leaves a lease that expires, and another worker claims the job again. Handlers are
//! idempotent. PostgreSQL claims with `FOR UPDATE SKIP LOCKED`, so workers in several processes
//! never wait on each other; SQLite (one process) claims inside a `BEGIN IMMEDIATE` transaction.

use std::time::Duration;

use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbBackend, DbErr, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, Set,
    sea_query::{Expr, ExprTrait, LockBehavior, LockType, OnConflict, Query},
};
use serde_json::{Value as Json, json};

use crate::ids::ProjectId;
use crate::store::{entities::job, now};

/// Why a job did not succeed.
#[derive(Debug)]
pub enum JobError {
    /// Worth another attempt (after a backoff).
    Retry(String),
    /// Will never succeed (bad payload, refused target): fail now.
    Permanent(String),
}

impl From<DbErr> for JobError {
    fn from(e: DbErr) -> Self {
        JobError::Retry(e.to_string())
    }
}

impl From<crate::error::ApiError> for JobError {
    fn from(e: crate::error::ApiError) -> Self {
        JobError::Retry(e.chain())
    }
}

/// Whether this attempt is the job's last (handlers record a final outcome then), and the lease
/// a long job renews as it goes.
pub struct Attempt {
    pub last: bool,
    pub lease: Lease,
}

/// A worker's hold on a running job.
#[derive(Debug, Clone)]
pub struct Lease {
    pub job_id: i32,
    pub worker: String,
    pub length: Duration,
}

impl Lease {
    /// Holds the job for another full lease from now, so no other worker takes over a job that
    /// is still making progress.
    pub async fn renew(&self, db: &impl ConnectionTrait) -> Result<(), DbErr> {
        job::Entity::update_many()
            .col_expr(
                job::Column::LockedUntil,
                Expr::value(epoch_ms() + millis(self.length)),
            )
            .filter(job::Column::Id.eq(self.job_id))
            .filter(job::Column::LockedBy.eq(self.worker.as_str()))
            .filter(job::Column::Status.eq(RUNNING))
            .exec(db)
            .await?;
        Ok(())
    }
}

pub const QUEUED: &str = "queued";
pub const RUNNING: &str = "running";
pub const DONE: &str = "done";
pub const FAILED: &str = "failed";

/// What a job does; the payload's shape depends on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// POST one webhook delivery: `{"delivery_id": n}`.
    WebhookDeliver,
    /// Recount a project's volunteers and activity from its answers: `{"project_id": n}`.
    RebuildStats,
    /// Periodic: recount every project's counters and statistics (repairs any drift).
    ReconcileStats,
    /// Periodic: delete finished jobs older than a week.
    PurgeJobs,
    /// Import tasks into a project: `{"import_id": n}`.
    ImportTasks,
    /// Periodic: start the imports projects scheduled with `info.autoimport`.
    AutoImport,
    /// Change or delete the tasks a filter matches: `{"project_id": n, "op": {…}}`.
    BulkTasks,
    /// Refit a project's quality model and bring its results' aggregates up to date:
    /// `{"project_id": n}`.
    Reaggregate,
    /// Send one mail: `{"mail_id": n}`.
    SendMail,
    /// Sleeps `{"ms": n}` then succeeds, or fails `{"fail": true}`: for tests and smoke checks.
    Probe,
}

impl Kind {
    pub const ALL: [Kind; 10] = [
        Kind::WebhookDeliver,
        Kind::RebuildStats,
        Kind::ReconcileStats,
        Kind::PurgeJobs,
        Kind::ImportTasks,
        Kind::AutoImport,
        Kind::BulkTasks,
        Kind::Reaggregate,
        Kind::SendMail,
        Kind::Probe,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::WebhookDeliver => "webhook.deliver",
            Kind::RebuildStats => "stats.rebuild",
            Kind::ReconcileStats => "stats.reconcile",
            Kind::PurgeJobs => "jobs.purge",
            Kind::ImportTasks => "tasks.import",
            Kind::AutoImport => "tasks.autoimport",
            Kind::BulkTasks => "tasks.bulk",
            Kind::Reaggregate => "results.reaggregate",
            Kind::SendMail => "mail.send",
            Kind::Probe => "probe",
        }
    }

    /// Jobs that run for minutes and renew their lease as they go, instead of having to end
    /// within one.
    pub fn long_running(self) -> bool {
        matches!(
            self,
            Kind::ImportTasks | Kind::BulkTasks | Kind::Reaggregate
        )
    }

    pub fn parse(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// A job to enqueue.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub kind: Kind,
    pub payload: Json,
    /// At most one job with this key exists (periodic slots, coalesced rebuilds).
    pub dedupe_key: Option<String>,
    pub delay: Duration,
    pub max_attempts: i32,
}

impl NewJob {
    pub fn new(kind: Kind, payload: Json) -> Self {
        Self {
            kind,
            payload,
            dedupe_key: None,
            delay: Duration::ZERO,
            max_attempts: 5,
        }
    }

    pub fn webhook(delivery_id: i32, max_attempts: i32) -> Self {
        Self {
            max_attempts,
            ..Self::new(Kind::WebhookDeliver, json!({ "delivery_id": delivery_id }))
        }
    }

    /// Rebuilds coalesce: while one is waiting, asking again adds nothing.
    pub fn rebuild_stats(project_id: ProjectId) -> Self {
        Self {
            dedupe_key: Some(format!("stats.rebuild:{project_id}{COALESCE}")),
            delay: Duration::from_millis(200),
            ..Self::new(Kind::RebuildStats, json!({ "project_id": project_id }))
        }
    }
}

impl NewJob {
    /// Re-aggregations coalesce like rebuilds, and wait a little so that a burst of answers
    /// costs one fit. The wait is above the five seconds for which instances trust what they
    /// cached of a project's exclusions, so no answer taken meanwhile is left out.
    pub fn reaggregate(project_id: ProjectId) -> Self {
        Self {
            dedupe_key: Some(format!("results.reaggregate:{project_id}{COALESCE}")),
            delay: Duration::from_secs(6),
            ..Self::new(Kind::Reaggregate, json!({ "project_id": project_id }))
        }
    }
}

/// Dedupe keys ending so only hold while the job waits; claiming it frees the key.
const COALESCE: &str = ":waiting";

pub fn epoch_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

pub fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Adds a job; returns its id, or `None` when a job with the same dedupe key already exists.
/// Runs on the caller's connection or transaction, so it commits with the caller's write.
pub async fn enqueue(db: &impl ConnectionTrait, job: NewJob) -> Result<Option<i32>, DbErr> {
    let stamp = now();
    let model = job::ActiveModel {
        kind: Set(job.kind.name().to_string()),
        payload: Set(job.payload),
        status: Set(QUEUED.into()),
        attempts: Set(0),
        max_attempts: Set(Ord::max(job.max_attempts, 1)),
        run_at: Set(epoch_ms() + millis(job.delay)),
        locked_by: Set(None),
        locked_until: Set(None),
        last_error: Set(None),
        dedupe_key: Set(job.dedupe_key),
        created: Set(stamp.clone()),
        updated: Set(stamp),
        ..Default::default()
    };
    let inserted = Box::pin(
        job::Entity::insert(model)
            .on_conflict(
                OnConflict::column(job::Column::DedupeKey)
                    .do_nothing()
                    .to_owned(),
            )
            .exec(db),
    )
    .await;
    match inserted {
        Ok(res) => Ok(Some(res.last_insert_id)),
        Err(DbErr::RecordNotInserted) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Claims up to `n` jobs that are due (or whose worker's lease ran out) for `worker`.
pub async fn claim(
    db: &sea_orm::DatabaseConnection,
    worker: &str,
    lease: Duration,
    n: u64,
) -> Result<Vec<job::Model>, DbErr> {
    let at = epoch_ms();
    let due = Condition::any()
        .add(
            Condition::all()
                .add(job::Column::Status.eq(QUEUED))
                .add(job::Column::RunAt.lte(at)),
        )
        .add(
            Condition::all()
                .add(job::Column::Status.eq(RUNNING))
                .add(job::Column::LockedUntil.lt(at)),
        );
    let mut pick = Query::select()
        .column(job::Column::Id)
        .from(job::Entity)
        .cond_where(due)
        .order_by(job::Column::RunAt, sea_orm::Order::Asc)
        .order_by(job::Column::Id, sea_orm::Order::Asc)
        .limit(n)
        .to_owned();
    if db.get_database_backend() == DbBackend::Postgres {
        pick.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
    }
    let txn = crate::store::begin_write(db).await?;
    let claimed = Box::pin(
        job::Entity::update_many()
            .col_expr(job::Column::Status, Expr::value(RUNNING))
            .col_expr(
                job::Column::Attempts,
                Expr::col(job::Column::Attempts).add(1),
            )
            .col_expr(job::Column::LockedBy, Expr::value(worker))
            .col_expr(job::Column::LockedUntil, Expr::value(at + millis(lease)))
            .col_expr(job::Column::Updated, Expr::value(now()))
            // A claimed rebuild no longer blocks a new one (one asked for while it runs must run
            // again after it); periodic slots keep their key so no other process repeats them.
            .col_expr(
                job::Column::DedupeKey,
                Expr::case(
                    Expr::col(job::Column::DedupeKey).like(format!("%{COALESCE}")),
                    Expr::value(Option::<String>::None),
                )
                .finally(Expr::col(job::Column::DedupeKey))
                .into(),
            )
            .filter(job::Column::Id.in_subquery(pick))
            .exec_with_returning(&txn),
    )
    .await?;
    txn.commit().await?;
    Ok(claimed)
}

/// Marks a job done, if this worker still holds it.
pub async fn finish(db: &impl ConnectionTrait, id: i32, worker: &str) -> Result<(), DbErr> {
    job::Entity::update_many()
        .col_expr(job::Column::Status, Expr::value(DONE))
        .col_expr(job::Column::LockedUntil, Expr::value(Option::<i64>::None))
        .col_expr(job::Column::Updated, Expr::value(now()))
        .filter(job::Column::Id.eq(id))
        .filter(job::Column::LockedBy.eq(worker))
        .filter(job::Column::Status.eq(RUNNING))
        .exec(db)
        .await?;
    Ok(())
}

/// Delay before attempt `attempts + 1`: 2 s, 4 s, 8 s … capped at an hour, with up to 25%
/// jitter so retries of many jobs failing together spread out.
pub fn backoff(attempts: i32, base: Duration) -> Duration {
    let exp = u32::try_from(attempts.clamp(1, 20) - 1).unwrap_or(0);
    let delay = base
        .saturating_mul(2u32.saturating_pow(exp))
        .min(Duration::from_secs(3600));
    let jitter = rand::random_range(0.0..0.25);
    delay.mul_f64(1.0 + jitter)
}

/// Records a failed attempt: queued again after a backoff, or failed for good once it used all
/// its attempts (or when the error is permanent). Returns whether it failed for good.
pub async fn fail(
    db: &impl ConnectionTrait,
    job: &job::Model,
    worker: &str,
    error: &str,
    permanent: bool,
    base: Duration,
) -> Result<bool, DbErr> {
    let give_up = permanent || job.attempts >= job.max_attempts;
    let (status, run_at) = if give_up {
        (FAILED, job.run_at)
    } else {
        (QUEUED, epoch_ms() + millis(backoff(job.attempts, base)))
    };
    let error: String = error.chars().take(2000).collect();
    job::Entity::update_many()
        .col_expr(job::Column::Status, Expr::value(status))
        .col_expr(job::Column::RunAt, Expr::value(run_at))
        .col_expr(job::Column::LockedUntil, Expr::value(Option::<i64>::None))
        .col_expr(job::Column::LastError, Expr::value(error))
        .col_expr(job::Column::Updated, Expr::value(now()))
        .filter(job::Column::Id.eq(job.id))
        .filter(job::Column::LockedBy.eq(worker))
        .filter(job::Column::Status.eq(RUNNING))
        .exec(db)
        .await?;
    Ok(give_up)
}

/// One job.
pub async fn get(db: &impl ConnectionTrait, id: i32) -> Result<Option<job::Model>, DbErr> {
    job::Entity::find_by_id(id).one(db).await
}

/// Queues a failed job again with a fresh set of attempts (admins, from the API).
pub async fn retry(db: &impl ConnectionTrait, id: i32) -> Result<Option<job::Model>, DbErr> {
    let Some(existing) = job::Entity::find_by_id(id).one(db).await? else {
        return Ok(None);
    };
    if existing.status != FAILED {
        return Ok(Some(existing));
    }
    let mut model: job::ActiveModel = existing.into();
    model.status = Set(QUEUED.into());
    model.attempts = Set(0);
    model.run_at = Set(epoch_ms());
    model.locked_by = Set(None);
    model.updated = Set(now());
    Ok(Some(model.update(db).await?))
}

/// Filters for the admins' job listing.
#[derive(Debug, Default)]
pub struct JobFilter {
    pub status: Option<String>,
    pub kind: Option<String>,
    pub limit: u64,
    pub offset: u64,
}

pub async fn list(db: &impl ConnectionTrait, filter: &JobFilter) -> Result<Vec<job::Model>, DbErr> {
    let mut query = job::Entity::find();
    if let Some(status) = &filter.status {
        query = query.filter(job::Column::Status.eq(status.as_str()));
    }
    if let Some(kind) = &filter.kind {
        query = query.filter(job::Column::Kind.eq(kind.as_str()));
    }
    query
        .order_by_desc(job::Column::Id)
        .limit(filter.limit)
        .offset(filter.offset)
        .all(db)
        .await
}

/// Jobs per status, for `/metrics`-style summaries and the admin view.
pub async fn counts(db: &impl ConnectionTrait) -> Result<Vec<(String, i64)>, DbErr> {
    #[derive(sea_orm::FromQueryResult)]
    struct Row {
        status: String,
        n: i64,
    }
    let rows = job::Entity::find()
        .select_only()
        .column(job::Column::Status)
        .column_as(
            Expr::expr(sea_orm::sea_query::Func::count(Expr::col(job::Column::Id)))
                .cast_as("bigint"),
            "n",
        )
        .group_by(job::Column::Status)
        .into_model::<Row>()
        .all(db)
        .await?;
    Ok(rows.into_iter().map(|r| (r.status, r.n)).collect())
}

/// Deletes finished jobs (done, or failed) last touched before `before` (ISO text).
pub async fn purge(db: &impl ConnectionTrait, before: &str) -> Result<u64, DbErr> {
    let res = Box::pin(
        job::Entity::delete_many()
            .filter(job::Column::Status.is_in([DONE, FAILED]))
            .filter(job::Column::Updated.lt(before))
            .exec(db),
    )
    .await?;
    Ok(res.rows_affected)
}
