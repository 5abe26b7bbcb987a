//! The job dispatcher: workers claim due jobs from the queue (`store::jobs`), run the domain
//! handler for each kind and record the outcome; and the periodic schedule.

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use tokio::{sync::watch, task::JoinHandle};

use crate::ids::ProjectId;
use crate::store::jobs::{self as queue, Attempt, JobError, Kind, NewJob};
use crate::{metrics::JobLabels, state::AppState, store::entities::job};

/// What the periodic schedule enqueues, and how often.
const SCHEDULE: [(Kind, Duration); 3] = [
    (Kind::AutoImport, Duration::from_secs(600)),
    (Kind::PurgeJobs, Duration::from_secs(3600)),
    (Kind::ReconcileStats, Duration::from_secs(24 * 3600)),
];

pub struct Worker {
    state: Arc<AppState>,
    id: String,
    concurrency: usize,
}

impl Worker {
    pub fn new(state: Arc<AppState>, concurrency: usize) -> Self {
        let id = format!(
            "{}-{}",
            std::process::id(),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        Self {
            state,
            id,
            concurrency: concurrency.max(1),
        }
    }

    /// Runs until `stop` turns true; jobs already claimed are finished first.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let cfg = &self.state.infra.config;
        let poll = Duration::from_millis(cfg.job_poll_ms.max(10));
        let mut last_slot: HashMap<&'static str, i64> = HashMap::new();
        let mut last_gauge = Instant::now() - Duration::from_secs(60);
        tracing::info!(worker = %self.id, concurrency = self.concurrency, "job worker started");
        loop {
            if *stop.borrow() {
                break;
            }
            Box::pin(self.schedule(&mut last_slot)).await;
            if last_gauge.elapsed() > Duration::from_secs(10) {
                self.refresh_gauges().await;
                last_gauge = Instant::now();
            }
            let claimed = Box::pin(queue::claim(
                &self.state.infra.db,
                &self.id,
                cfg.job_lease(),
                self.concurrency as u64,
            ))
            .await;
            match claimed {
                Ok(jobs) if !jobs.is_empty() => {
                    let runs = jobs.iter().map(|j| self.execute(j));
                    futures_util::future::join_all(runs).await;
                    continue;
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "claiming jobs failed"),
            }
            tokio::select! {
                _ = stop.changed() => {},
                () = self.state.infra.jobs_wake.notified() => {},
                () = tokio::time::sleep(poll) => {},
            }
        }
        tracing::info!(worker = %self.id, "job worker stopped");
    }

    /// Enqueues each periodic job once per slot; the dedupe key makes that once per cluster.
    async fn schedule(&self, last_slot: &mut HashMap<&'static str, i64>) {
        let now = queue::epoch_ms();
        for (kind, every) in SCHEDULE {
            let period = queue::millis(every).max(1);
            let slot = now / period;
            if last_slot.get(kind.name()) == Some(&slot) {
                continue;
            }
            let job = NewJob {
                dedupe_key: Some(format!("periodic:{}:{slot}", kind.name())),
                ..NewJob::new(kind, serde_json::json!({}))
            };
            match Box::pin(queue::enqueue(&self.state.infra.db, job)).await {
                Ok(_) => {
                    last_slot.insert(kind.name(), slot);
                }
                Err(e) => tracing::warn!(error = %e, "scheduling {} failed", kind.name()),
            }
        }
    }

    async fn refresh_gauges(&self) {
        if let Ok(counts) = queue::counts(&self.state.infra.db).await {
            for status in [queue::QUEUED, queue::RUNNING, queue::DONE, queue::FAILED] {
                let n = counts
                    .iter()
                    .find(|(s, _)| s == status)
                    .map_or(0, |(_, n)| *n);
                self.state
                    .infra
                    .metrics
                    .jobs
                    .get_or_create(&crate::metrics::StatusLabels {
                        status: status.into(),
                    })
                    .set(n);
            }
        }
    }

    async fn execute(&self, job: &job::Model) {
        let cfg = &self.state.infra.config;
        // Leave the lease some room, so a slow job fails here before another worker takes it;
        // long jobs renew their lease as they go and have a limit of their own.
        let limit = if Kind::parse(&job.kind).is_some_and(Kind::long_running) {
            Duration::from_secs(cfg.long_job_secs.max(1))
        } else {
            cfg.job_lease().mul_f64(0.8)
        };
        let attempt = Attempt {
            last: job.attempts >= job.max_attempts,
            lease: queue::Lease {
                job_id: job.id,
                worker: self.id.clone(),
                length: cfg.job_lease(),
            },
        };
        let run = dispatch(&self.state, job, &attempt);
        let outcome = match Box::pin(tokio::time::timeout(limit, run)).await {
            Ok(outcome) => outcome,
            Err(_) => Err(JobError::Retry(format!(
                "timed out after {} s",
                limit.as_secs()
            ))),
        };
        let labels = |outcome: &str| JobLabels {
            kind: job.kind.clone(),
            outcome: outcome.into(),
        };
        let metrics = &self.state.infra.metrics;
        let recorded = match outcome {
            Ok(()) => {
                metrics.job_runs.get_or_create(&labels("done")).inc();
                queue::finish(&self.state.infra.db, job.id, &self.id).await
            }
            Err(err) => {
                let (msg, permanent) = match err {
                    JobError::Retry(m) => (m, false),
                    JobError::Permanent(m) => (m, true),
                };
                tracing::warn!(job = job.id, kind = %job.kind, attempt = job.attempts, error = %msg, "job failed");
                let base = Duration::from_millis(cfg.job_backoff_ms);
                match queue::fail(&self.state.infra.db, job, &self.id, &msg, permanent, base).await
                {
                    Ok(true) => {
                        metrics.job_runs.get_or_create(&labels("failed")).inc();
                        Ok(())
                    }
                    Ok(false) => {
                        metrics.job_runs.get_or_create(&labels("retried")).inc();
                        Ok(())
                    }
                    Err(e) => Err(e),
                }
            }
        };
        if let Err(e) = recorded {
            // The lease will run out and the job will run again: at least once.
            tracing::warn!(job = job.id, error = %e, "recording a job outcome failed");
        }
    }
}

async fn dispatch(
    state: &Arc<AppState>,
    job: &job::Model,
    attempt: &Attempt,
) -> Result<(), JobError> {
    let id_field = |name: &str| {
        job.payload
            .get(name)
            .and_then(serde_json::Value::as_i64)
            .and_then(|n| i32::try_from(n).ok())
            .ok_or_else(|| JobError::Permanent(format!("payload has no {name}")))
    };
    match Kind::parse(&job.kind) {
        Some(Kind::WebhookDeliver) => {
            Box::pin(crate::domain::platform::webhooks::deliver(
                &state.infra,
                id_field("delivery_id")?,
                attempt,
            ))
            .await
        }
        Some(Kind::ImportTasks) => {
            Box::pin(crate::domain::platform::import::run(
                &state.infra,
                id_field("import_id")?,
                attempt,
            ))
            .await
        }
        Some(Kind::AutoImport) => {
            Box::pin(crate::domain::platform::import::start_scheduled(
                &state.infra,
            ))
            .await?;
            Ok(())
        }
        Some(Kind::BulkTasks) => {
            let op = serde_json::from_value(job.payload.get("op").cloned().unwrap_or_default())
                .map_err(|e| JobError::Permanent(format!("bad bulk operation: {e}")))?;
            Box::pin(crate::domain::platform::bulk::run(
                &state.infra,
                ProjectId(id_field("project_id")?),
                &op,
                Some(attempt),
            ))
            .await?;
            Ok(())
        }
        Some(Kind::Reaggregate) => {
            Box::pin(crate::domain::volunteer::refit::run(
                &state.infra,
                ProjectId(id_field("project_id")?),
                Some(attempt),
            ))
            .await?;
            Ok(())
        }
        Some(Kind::RebuildStats) => {
            crate::domain::platform::stats::rebuild(
                &state.infra,
                ProjectId(id_field("project_id")?),
            )
            .await?;
            Ok(())
        }
        Some(Kind::ReconcileStats) => {
            crate::domain::platform::stats::reconcile_all(&state.infra).await?;
            Ok(())
        }
        Some(Kind::PurgeJobs) => {
            let week_ago = (chrono::Utc::now() - chrono::Duration::days(7))
                .format("%Y-%m-%dT%H:%M:%S%.6f")
                .to_string();
            Box::pin(queue::purge(&state.infra.db, &week_ago)).await?;
            let month_ago = (chrono::Utc::now() - chrono::Duration::days(30))
                .format("%Y-%m-%dT%H:%M:%S%.6f")
                .to_string();
            Box::pin(crate::domain::platform::mail::purge(
                &state.infra,
                &month_ago,
            ))
            .await?;
            Ok(())
        }
        Some(Kind::SendMail) => {
            Box::pin(crate::domain::platform::mail::deliver(
                &state.infra,
                id_field("mail_id")?,
                attempt,
            ))
            .await
        }
        Some(Kind::Probe) => {
            let ms = job.payload.get("ms").and_then(serde_json::Value::as_u64);
            tokio::time::sleep(Duration::from_millis(ms.unwrap_or(0))).await;
            if job.payload.get("fail").and_then(serde_json::Value::as_bool) == Some(true) {
                return Err(JobError::Retry("probe asked to fail".into()));
            }
            Ok(())
        }
        None => Err(JobError::Permanent(format!(
            "unknown job kind {}",
            job.kind
        ))),
    }
}

/// Starts a worker in the background; it stops when `stop` turns true.
pub fn spawn_workers(
    state: Arc<AppState>,
    concurrency: usize,
    stop: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(Worker::new(state, concurrency).run(stop))
}
