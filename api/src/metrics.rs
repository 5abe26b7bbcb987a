//! Prometheus metrics, served at `/metrics` in the OpenMetrics text format.

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{
        counter::Counter,
        family::Family,
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

type LatencyFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

pub struct Metrics {
    registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub latency: LatencyFamily,
    pub answers: Counter,
    pub tasks_completed: Counter,
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
        Self {
            registry,
            requests,
            latency,
            answers,
            tasks_completed,
        }
    }

    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}
