//! Prometheus metrics, served at `/metrics` in the OpenMetrics text format.

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{
        counter::Counter,
        family::Family,
        gauge::Gauge,
        histogram::{Histogram, exponential_buckets},
    },
    registry::Registry,
};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// The resource or function (`task`, `newtask`, …): bounded, unlike paths.
    pub route: String,
    pub method: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: String,
    pub method: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabels {
    pub status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct JobLabels {
    pub kind: String,
    /// `done`, `retried` or `failed`.
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CacheLabels {
    /// What is cached (`projectstats`, `globalstats`, `leaderboard`).
    pub cache: String,
    /// `hit`, `miss` or `error` (the store was unreachable: served from the database).
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AnswerLabels {
    /// `batch` (group commit) or `single` (its own transaction).
    pub path: String,
    /// Whether the answer completed its task.
    pub completes: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: String,
}

type LatencyFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

pub struct Metrics {
    registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub latency: LatencyFamily,
    pub answers: Counter,
    pub tasks_completed: Counter,
    /// Jobs in the queue by status (refreshed by the workers every few seconds).
    pub jobs: Family<StatusLabels, Gauge>,
    pub job_runs: Family<JobLabels, Counter>,
    pub cache: Family<CacheLabels, Counter>,
    pub answers_written: Family<AnswerLabels, Counter>,
    pub answer_batches: Family<OutcomeLabels, Counter>,
}

fn latency_histogram() -> Histogram {
    // 1 ms to ~8 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 14))
}

impl Metrics {
    /// `redis_errors` is the store's own counter of degraded Redis calls.
    pub fn new(redis_errors: Counter) -> Self {
        let mut registry = Registry::with_prefix("tessera");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency: LatencyFamily = Family::new_with_constructor(latency_histogram);
        let answers = Counter::default();
        let tasks_completed = Counter::default();
        registry.register(
            "http_requests",
            "API requests by route, method and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "API request latency by route and method",
            latency.clone(),
        );
        registry.register("answers", "Answers (task runs) accepted", answers.clone());
        registry.register(
            "tasks_completed",
            "Tasks that reached their n_answers",
            tasks_completed.clone(),
        );
        registry.register(
            "redis_errors",
            "Redis calls that failed and were degraded",
            redis_errors,
        );
        let jobs = Family::<StatusLabels, Gauge>::default();
        let job_runs = Family::<JobLabels, Counter>::default();
        let cache = Family::<CacheLabels, Counter>::default();
        registry.register("jobs", "Background jobs by status", jobs.clone());
        registry.register(
            "job_runs",
            "Job attempts by kind and outcome (done, retried, failed)",
            job_runs.clone(),
        );
        registry.register(
            "cache_lookups",
            "Cache lookups by cache and result (hit, miss, error)",
            cache.clone(),
        );
        let answers_written = Family::<AnswerLabels, Counter>::default();
        let answer_batches = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "answers_written",
            "Answers by how they were written (path: batch, single) and whether they completed their task",
            answers_written.clone(),
        );
        registry.register(
            "answer_batches",
            "Answer batches written, or failed as a whole (their answers then went one by one)",
            answer_batches.clone(),
        );
        Self {
            registry,
            requests,
            latency,
            answers,
            tasks_completed,
            jobs,
            job_runs,
            cache,
            answers_written,
            answer_batches,
        }
    }

    pub fn cache_lookup(&self, cache: &str, result: &str) {
        self.cache
            .get_or_create(&CacheLabels {
                cache: cache.into(),
                result: result.into(),
            })
            .inc();
    }

    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}
