//! Platform services: signed webhooks through the job queue, live statistics with cache
//! invalidation, the leaderboard, jobs that survive a killed worker.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use base64::{Engine, engine::general_purpose::STANDARD as B64};
use hmac::{Hmac, Mac};
use poem::{EndpointExt, Route, handler, http::StatusCode, web::Data};
use serde_json::{Value, json};
use sha2::Sha256;
use tessera_api::config::Config;

use crate::common::{TestApp, User};

/// One request a receiver got.
#[derive(Clone, Debug)]
struct Hit {
    id: String,
    timestamp: String,
    signature: String,
    body: String,
}

#[derive(Default)]
struct Shared {
    hits: Mutex<Vec<Hit>>,
    /// Answer 500 to this many requests first.
    failures_left: AtomicUsize,
    /// Answer 500 forever.
    always_fail: bool,
}

/// A local webhook receiver (a real HTTP server on loopback).
struct Receiver {
    url: String,
    shared: Arc<Shared>,
}

#[handler]
fn receive(req: &poem::Request, body: String, shared: Data<&Arc<Shared>>) -> StatusCode {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    shared.hits.lock().expect("lock").push(Hit {
        id: header("webhook-id"),
        timestamp: header("webhook-timestamp"),
        signature: header("webhook-signature"),
        body,
    });
    let fail = shared.always_fail
        || shared
            .failures_left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
    if fail {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    }
}

impl Receiver {
    async fn start(failures: usize, always_fail: bool) -> Self {
        let shared = Arc::new(Shared {
            failures_left: AtomicUsize::new(failures),
            always_fail,
            ..Shared::default()
        });
        let addr =
            crate::common::serve_locally(Route::new().at("/hook", receive).data(shared.clone()))
                .await;
        Self {
            url: format!("http://{addr}/hook"),
            shared,
        }
    }

    fn hits(&self) -> Vec<Hit> {
        self.shared.hits.lock().expect("lock").clone()
    }

    /// Waits until `done(hits)` holds (or fails after 20 s).
    async fn wait_for(&self, what: &str, done: impl Fn(&[Hit]) -> bool) -> Vec<Hit> {
        let start = Instant::now();
        loop {
            let hits = self.hits();
            if done(&hits) {
                return hits;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "timed out waiting for {what}; got {hits:#?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Checks a Standard Webhooks signature the way a receiver would.
fn verify(secret: &str, hit: &Hit) -> bool {
    let key = B64
        .decode(secret.strip_prefix("whsec_").expect("whsec_ prefix"))
        .expect("base64 secret");
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("key");
    mac.update(format!("{}.{}.{}", hit.id, hit.timestamp, hit.body).as_bytes());
    let expected = B64.encode(mac.finalize().into_bytes());
    hit.signature
        .split(' ')
        .any(|s| s.strip_prefix("v1,") == Some(expected.as_str()))
}

/// Sends a ping; returns the delivery's id.
async fn ping(app: &TestApp, owner: &User, project: i64) -> i64 {
    let r = app
        .post(
            &format!("/api/project/{project}/webhook/ping"),
            Some(owner),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 202);
    r.json["id"].as_i64().expect("delivery id")
}

async fn metrics(app: &TestApp) -> String {
    app.client
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text")
}

fn fast_jobs(c: &mut Config) {
    c.job_backoff_ms = 100;
    c.job_poll_ms = 50;
    c.webhook_allow = "127.0.0.1".into();
}

async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let start = Instant::now();
    while !check().await {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn answer_one(app: &TestApp, project: i64, who: &User) -> Value {
    let task = app
        .get(&format!("/api/project/{project}/newtask"), Some(who))
        .await;
    let task_id = task.ok()["id"].as_i64().expect("a task to answer");
    app.post(
        "/api/taskrun",
        Some(who),
        json!({"project_id": project, "task_id": task_id, "info": {"answer": "yes"}}),
    )
    .await
    .ok()
    .clone()
}

async fn webhooks_signed_retried_logged(app: TestApp) {
    let receiver = Receiver::start(1, false).await;
    let (_admin, owner, _) = app.seeded().await;
    let project = app.project(&owner, "hooked").await;
    let task = app.task(&owner, project, json!({"q": 1})).await;
    app.put(
        &format!("/api/task/{task}"),
        Some(&owner),
        json!({"n_answers": 2}),
    )
    .await
    .ok();
    // Bad settings are refused with a clear 400.
    let bad = app
        .put(
            &format!("/api/project/{project}/webhook"),
            Some(&owner),
            json!({"url": "ftp://example.com/x"}),
        )
        .await;
    bad.err(400, "BadRequest");
    let bad = app
        .put(
            &format!("/api/project/{project}/webhook"),
            Some(&owner),
            json!({"events": ["task.exploded"]}),
        )
        .await;
    bad.err(400, "BadRequest");
    let settings = app
        .put(
            &format!("/api/project/{project}/webhook"),
            Some(&owner),
            json!({"url": receiver.url, "events": ["task.completed", "project.completed", "taskrun.created"]}),
        )
        .await;
    let secret = settings.ok()["secret"]
        .as_str()
        .expect("secret")
        .to_string();
    assert!(secret.starts_with("whsec_"));
    // Only owners and admins see it.
    let stranger = app.register("stranger").await;
    app.get(&format!("/api/project/{project}/webhook"), Some(&stranger))
        .await
        .err(403, "Forbidden");
    app.get(&format!("/api/project/{project}/webhook"), None)
        .await
        .err(401, "Unauthorized");

    let a = app.register("alice").await;
    let b = app.register("bob").await;
    answer_one(&app, project, &a).await;
    let run = answer_one(&app, project, &b).await;

    // Two answers, one completed task, a completed project: four events; the first request
    // got a 500 and was retried with the same webhook-id.
    let hits = receiver
        .wait_for("four events, one retried", |h| {
            let mut ids: Vec<&str> = h.iter().map(|x| x.id.as_str()).collect();
            ids.sort_unstable();
            ids.dedup();
            ids.len() == 4 && h.len() == 5
        })
        .await;
    // The one that got a 500 came again, with the same webhook-id.
    let first = hits[0].id.clone();
    assert_eq!(
        hits.iter().filter(|h| h.id == first).count(),
        2,
        "a retry keeps its webhook-id"
    );
    for hit in &hits {
        assert!(verify(&secret, hit), "signature verifies: {hit:?}");
        let ts: i64 = hit.timestamp.parse().expect("timestamp");
        assert!((chrono::Utc::now().timestamp() - ts).abs() < 60);
    }
    let bodies: Vec<Value> = hits
        .iter()
        .map(|h| serde_json::from_str(&h.body).expect("json body"))
        .collect();
    let completed = bodies
        .iter()
        .find(|b| b["type"] == "task.completed")
        .expect("task.completed");
    // PYBOSSA's fields, flat, for receivers written for it.
    assert_eq!(completed["event"], "task_completed");
    assert_eq!(completed["project_id"], project);
    assert_eq!(completed["task_id"], task);
    assert_eq!(completed["project_short_name"], "hooked");
    assert!(completed["result_id"].as_i64().is_some());
    assert_eq!(completed["fired_at"].as_str().map(str::len), Some(19));
    assert_eq!(
        completed["data"]["result"]["aggregate"]["fields"]["answer"]["value"],
        "yes"
    );
    assert!(bodies.iter().any(|b| b["type"] == "project.completed"));
    let created: Vec<&Value> = bodies
        .iter()
        .filter(|b| b["type"] == "taskrun.created")
        .collect();
    assert!(created.iter().any(|b| b["data"]["taskrun_id"] == run["id"]));

    // The delivery log: all delivered, the first after two attempts. The receiver counts a
    // hit before it answers, so the last delivery may be logged a moment after.
    let started = Instant::now();
    let log = loop {
        let log = app
            .get(
                &format!("/api/project/{project}/webhook/deliveries"),
                Some(&owner),
            )
            .await;
        let log = log.ok().as_array().expect("list").clone();
        if log.iter().all(|d| d["status"] == "delivered") || started.elapsed().as_secs() > 20 {
            break log;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(log.len(), 4);
    assert!(log.iter().all(|d| d["status"] == "delivered"), "{log:#?}");
    assert!(log.iter().all(|d| d["response_status_code"] == 200));
    let retried = log
        .iter()
        .find(|d| d["webhook_id"] == first.as_str())
        .expect("first delivery");
    assert_eq!(retried["attempts"], 2);

    // Redeliver: same id again. Ping: a new event.
    let id = retried["id"].as_i64().expect("id");
    let again = app
        .post(
            &format!("/api/project/{project}/webhook/deliveries/{id}/redeliver"),
            Some(&owner),
            json!({}),
        )
        .await;
    assert_eq!(again.status, 202);
    ping(&app, &owner, project).await;
    let hits = receiver
        .wait_for("redelivery and ping", |h| h.len() == 7)
        .await;
    assert!(hits[5..].iter().any(|h| h.id == first));
    assert!(
        hits[5..]
            .iter()
            .any(|h| h.body.contains("\"type\":\"ping\""))
    );
    assert!(hits.iter().all(|h| verify(&secret, h)));

    // Rotating the secret signs what follows with the new one.
    let rotated = app
        .post(
            &format!("/api/project/{project}/webhook/secret"),
            Some(&owner),
            json!({}),
        )
        .await;
    let new_secret = rotated.ok()["secret"].as_str().expect("secret").to_string();
    assert_ne!(new_secret, secret);
    ping(&app, &owner, project).await;
    let hits = receiver
        .wait_for("ping after rotation", |h| h.len() == 8)
        .await;
    assert!(verify(&new_secret, &hits[7]) && !verify(&secret, &hits[7]));

    // Metrics show the job runs.
    let metrics = metrics(&app).await;
    assert!(
        metrics.contains("tessera_job_runs_total{kind=\"webhook.deliver\",outcome=\"retried\"} 1"),
        "{metrics}"
    );
}

async fn webhook_failures_are_bounded_and_private_targets_refused(app: TestApp) {
    let (admin, owner, _) = app.seeded().await;
    // A receiver that always fails: attempts stop at the configured number.
    let receiver = Receiver::start(0, true).await;
    let project = app.project(&owner, "failing").await;
    app.put(
        &format!("/api/project/{project}/webhook"),
        Some(&owner),
        json!({"url": receiver.url}),
    )
    .await
    .ok();
    let delivery = ping(&app, &owner, project).await;
    let path = format!("/api/project/{project}/webhook/deliveries/{delivery}");
    eventually("the delivery to fail", async || {
        app.get(&path, Some(&owner)).await.json["status"] == "failed"
    })
    .await;
    let d = app.get(&path, Some(&owner)).await;
    assert_eq!(d.json["attempts"], 3);
    assert_eq!(d.json["response_status_code"], 500);
    assert_eq!(receiver.hits().len(), 3);
    // Admins see the failed job and can queue it again.
    let failed = app
        .get("/api/jobs?status=failed&kind=webhook.deliver", Some(&admin))
        .await;
    let failed = failed.ok().as_array().expect("jobs").clone();
    assert_eq!(failed.len(), 1);
    assert!(
        failed[0]["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("500"))
    );
    app.get("/api/jobs", Some(&owner))
        .await
        .err(403, "Forbidden");
    let job = failed[0]["id"].as_i64().expect("job id");
    let retried = app
        .post(&format!("/api/jobs/{job}/retry"), Some(&admin), json!({}))
        .await;
    assert_eq!(retried.ok()["status"], "queued");
    receiver.wait_for("the retried job", |h| h.len() >= 4).await;

    // Without an allow-list: a literal loopback address is refused when it is set, through
    // either way of setting it, saying why.
    let postgres = app.state.infra.backend() == sea_orm::DbBackend::Postgres;
    let strict = TestApp::configured(postgres, &|c| {
        c.job_backoff_ms = 100;
        c.job_poll_ms = 50;
        c.webhook_attempts = 3;
    })
    .await
    .expect("app");
    let (_, owner, _) = strict.seeded().await;
    let private = strict.project(&owner, "private").await;
    let other = Receiver::start(0, false).await;
    for host in ["127.0.0.2", "[::1]", "[::ffff:127.0.0.1]", "0.0.0.0"] {
        let literal = other.url.replace("127.0.0.1", host);
        let r = strict
            .put(
                &format!("/api/project/{private}/webhook"),
                Some(&owner),
                json!({"url": literal}),
            )
            .await;
        assert!(
            r.err(400, "BadRequest")["exception_msg"]
                .as_str()
                .is_some_and(|m| m.contains("not a public address")),
            "{r:?}"
        );
        strict
            .put(
                &format!("/api/project/{private}"),
                Some(&owner),
                json!({"webhook": literal}),
            )
            .await
            .err(415, "ValueError");
    }
    // A name is checked at delivery: `localhost` resolves to loopback, refused without a
    // request, and the log does not say what it resolved to.
    let url = other.url.replace("127.0.0.1", "localhost");
    strict
        .put(
            &format!("/api/project/{private}/webhook"),
            Some(&owner),
            json!({"url": url}),
        )
        .await
        .ok();
    let delivery = ping(&strict, &owner, private).await;
    let path = format!("/api/project/{private}/webhook/deliveries/{delivery}");
    eventually("the private target to be refused", async || {
        strict.get(&path, Some(&owner)).await.json["status"] == "failed"
    })
    .await;
    let d = strict.get(&path, Some(&owner)).await;
    let response = d.json["response"].as_str().unwrap_or_default();
    assert!(response.contains("refused"), "{d:?}");
    assert!(
        !response.contains("127.0.0") && !response.contains("::1"),
        "the log tells how a name resolved: {response}"
    );
    assert_eq!(d.json["attempts"], 1, "a refused target is not retried");
    assert!(other.hits().is_empty());
}

fn three_attempts(c: &mut Config) {
    fast_jobs(c);
    c.webhook_attempts = 3;
}

macro_rules! on_both_configured {
    ($tweak:expr, $($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite_memory() {
                    let app = $crate::common::TestApp::configured(false, &$tweak).await;
                    super::$name(app.expect("sqlite")).await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres_redis() {
                    if let Some(app) = $crate::common::TestApp::configured(true, &$tweak).await {
                        super::$name(app).await;
                    }
                }
            }
        )*
    };
}

on_both_configured!(
    super::fast_jobs,
    webhooks_signed_retried_logged,
    stats_follow_every_write
);
on_both_configured!(
    super::three_attempts,
    webhook_failures_are_bounded_and_private_targets_refused
);

async fn project_stats(app: &TestApp, project: i64, who: Option<&User>) -> Value {
    app.get(&format!("/api/projectstats/{project}"), who)
        .await
        .ok()
        .clone()
}

async fn stats_follow_every_write(app: TestApp) {
    let (admin, owner, _) = app.seeded().await;
    let project = app.project(&owner, "counted").await;
    let mut tasks = vec![];
    for i in 0..4 {
        tasks.push(app.task(&owner, project, json!({"i": i})).await);
        app.put(
            &format!("/api/task/{}", tasks[i]),
            Some(&owner),
            json!({"n_answers": 2}),
        )
        .await
        .ok();
    }
    app.publish(&owner, project).await;
    let s = project_stats(&app, project, None).await;
    assert_eq!(s["n_tasks"], 4);
    assert_eq!(s["n_task_runs"], 0);
    assert_eq!(s["last_activity"], "0");
    assert_eq!(s["info"]["n_pending_answers"], 8);
    let g0 = app.get("/api/globalstats", None).await.ok().clone();

    let users: Vec<User> = [
        app.register("v1").await,
        app.register("v2").await,
        app.register("v3").await,
    ]
    .into();
    // Each answer shows at once, though the stats were cached before it.
    for (n, who) in [&users[0], &users[0], &users[1]].iter().enumerate() {
        answer_one(&app, project, who).await;
        let s = project_stats(&app, project, None).await;
        assert_eq!(s["n_task_runs"], n as i64 + 1);
    }
    let s = project_stats(&app, project, None).await;
    assert_eq!(s["n_volunteers"], 2);
    assert_eq!(s["info"]["n_volunteers_authenticated"], 2);
    assert_eq!(s["info"]["answers_last_24h"], 3);
    assert_ne!(s["last_activity"], "0");
    assert!(s["average_time"].as_f64().is_some_and(|t| t >= 0.0));
    // Anonymous volunteers count apart.
    app.put(
        &format!("/api/project/{project}"),
        Some(&owner),
        json!({"allow_anonymous_contributors": true}),
    )
    .await
    .ok();
    let t = app
        .get(&format!("/api/project/{project}/newtask"), None)
        .await
        .ok()["id"]
        .as_i64()
        .expect("task");
    app.post(
        "/api/taskrun",
        None,
        json!({"project_id": project, "task_id": t, "info": "anon"}),
    )
    .await
    .ok();
    let s = project_stats(&app, project, None).await;
    assert_eq!(s["n_task_runs"], 4);
    assert_eq!(s["info"]["n_volunteers_anonymous"], 1);
    assert_eq!(s["n_volunteers"], 3);
    let completed = s["n_completed_tasks"].as_i64().expect("n");
    assert!(completed >= 1);
    assert_eq!(s["overall_progress"], completed * 100 / 4);
    assert!(s["info"]["estimated_completion"].is_string());

    // Full: PYBOSSA's chart series.
    let full = app
        .get(&format!("/api/projectstats/{project}?full=1"), None)
        .await;
    let info = &full.ok()["info"];
    let dates = info["dates_stats"].as_array().expect("dates");
    assert_eq!(dates.len(), 4);
    assert_eq!(dates[0]["label"], "Anon + Auth");
    let today: i64 = dates[0]["values"]
        .as_array()
        .and_then(|v| v.last())
        .and_then(|d| d[1].as_i64())
        .expect("today");
    assert_eq!(today, 4);
    assert_eq!(
        dates[1]["values"]
            .as_array()
            .and_then(|v| v.last())
            .map(|d| d[1].clone()),
        Some(json!(1))
    );
    assert_eq!(info["hours_stats"].as_array().map(Vec::len), Some(3));
    assert_eq!(info["users_stats"]["n_auth"], 2);
    assert_eq!(info["users_stats"]["auth"]["top5"][0]["name"], "v1");
    assert_eq!(info["users_stats"]["auth"]["top5"][0]["tasks"], 2);
    // The list form, filtered.
    let list = app
        .get(&format!("/api/projectstats?project_id={project}"), None)
        .await;
    assert_eq!(list.ok().as_array().map(Vec::len), Some(1));
    app.get("/api/projectstats?n_tasks=3", None)
        .await
        .err(415, "AttributeError");

    // Site-wide numbers move with the answers too.
    let g = app.get("/api/globalstats", None).await.ok().clone();
    assert_eq!(
        g["n_task_runs"].as_i64().unwrap_or(0) - g0["n_task_runs"].as_i64().unwrap_or(0),
        4
    );
    assert!(g["n_users"].as_i64() > g0["n_users"].as_i64());
    assert!(
        g["categories"]
            .as_array()
            .is_some_and(|c| c.iter().any(|e| e.get("draft").is_some()))
    );

    // Leaderboard: v1 (2 answers) first; a caller outside the top sees their rank.
    let board = app.get("/api/leaderboard", Some(&users[2])).await;
    let top = board.ok()["top_users"].as_array().expect("top").clone();
    assert_eq!(top[0]["name"], "v1");
    assert_eq!(top[0]["score"], 2);
    assert_eq!(top[0]["rank"], 1);
    assert_eq!(top[1]["name"], "v2");
    let per_project = app
        .get(&format!("/api/leaderboard?project_id={project}"), None)
        .await;
    assert_eq!(per_project.ok()["top_users"][0]["name"], "v1");

    // Deleting answers (with their task) queues a recount; the numbers follow.
    let answered_task = app
        .get(
            &format!(
                "/api/taskrun?all=1&project_id={project}&user_id={}",
                users[1].id
            ),
            Some(&admin),
        )
        .await
        .ok()[0]["task_id"]
        .as_i64()
        .expect("task of v2");
    let runs_of_task = app
        .get(
            &format!("/api/taskrun?all=1&task_id={answered_task}"),
            Some(&admin),
        )
        .await
        .ok()
        .as_array()
        .map(Vec::len)
        .unwrap_or(0) as i64;
    let del = app
        .delete(&format!("/api/task/{answered_task}"), Some(&admin))
        .await;
    assert_eq!(del.status, 204, "{del:?}");
    let expected_volunteers = app
        .get(
            &format!("/api/taskrun?all=1&project_id={project}&limit=100"),
            Some(&admin),
        )
        .await
        .ok()
        .as_array()
        .map(|runs| {
            let mut who: Vec<String> = runs
                .iter()
                .map(|r| format!("{}{}", r["user_id"], r["user_ip"]))
                .collect();
            who.sort();
            who.dedup();
            who.len()
        })
        .unwrap_or(0) as i64;
    eventually("the recount after a deletion", async || {
        let s = project_stats(&app, project, None).await;
        s["n_task_runs"] == json!(4 - runs_of_task)
            && s["n_tasks"] == json!(3)
            && s["n_volunteers"] == json!(expected_volunteers)
    })
    .await;

    // The cache was used and counted.
    let metrics = metrics(&app).await;
    assert!(
        metrics.contains("tessera_cache_lookups_total{cache=\"projectstats\",result=\"hit\"}")
            || metrics
                .contains("tessera_cache_lookups_total{cache=\"projectstats\",result=\"miss\"}")
    );
}

/// Statistics are served from the database when the cache store is unreachable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_come_from_the_database_when_the_cache_is_unreachable() {
    let app = TestApp::sqlite_with_redis("redis://127.0.0.1:1").await;
    let (_, owner, _) = app.seeded().await;
    let project = app.project(&owner, "nocache").await;
    app.task(&owner, project, json!({})).await;
    {
        let s = app
            .get(&format!("/api/projectstats/{project}"), Some(&owner))
            .await;
        assert_eq!(s.ok()["n_tasks"], 1);
        app.get("/api/globalstats", None).await.ok();
        app.get("/api/leaderboard", None).await.ok();
    }
    let metrics = metrics(&app).await;
    assert!(
        metrics.contains("tessera_cache_lookups_total{cache=\"projectstats\",result=\"error\"} 1"),
        "{metrics}"
    );
}

fn no_workers(c: &mut Config) {
    c.workers = 0;
}

/// A worker killed in the middle of a job: after its lease runs out, another worker runs the
/// job again (at least once), and the job ends done on its second attempt.
async fn job_survives_a_killed_worker(app: TestApp) {
    use tessera_api::store::jobs::{self, Kind, NewJob};
    let id = jobs::enqueue(
        &app.state.infra.db,
        NewJob::new(Kind::Probe, json!({"ms": 1500})),
    )
    .await
    .expect("enqueue")
    .expect("id");
    let url = app.state.infra.config.database_url();
    let spawn = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_tessera"))
            .arg("worker")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATABASE_URL", &url)
            .env("TESSERA_DATA_DIR", &app.data_dir)
            .env("TESSERA_JOB_LEASE", "3")
            .env("TESSERA_JOB_POLL_MS", "100")
            .env("RUST_LOG", "warn")
            .spawn()
            .expect("spawn worker")
    };
    let job = async || {
        use sea_orm::EntityTrait;
        tessera_api::store::entities::job::Entity::find_by_id(id)
            .one(&app.state.infra.db)
            .await
            .expect("query")
            .expect("job")
    };
    let mut first = spawn();
    eventually("the first worker to claim the job", async || {
        job().await.status == "running"
    })
    .await;
    let holder = job().await.locked_by;
    first.kill().expect("kill -9");
    first.wait().expect("reap");
    assert_eq!(
        job().await.status,
        "running",
        "the dead worker's claim stays"
    );
    let mut second = spawn();
    eventually("the second worker to finish the job", async || {
        job().await.status == "done"
    })
    .await;
    second.kill().ok();
    second.wait().ok();
    let done = job().await;
    assert_eq!(done.attempts, 2);
    assert_ne!(done.locked_by, holder, "another worker ran it");
}

mod job_survives_a_killed_worker {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        let app = crate::common::TestApp::configured(false, &super::no_workers).await;
        super::job_survives_a_killed_worker(app.expect("sqlite")).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        if let Some(app) = crate::common::TestApp::configured(true, &super::no_workers).await {
            super::job_survives_a_killed_worker(app).await;
        }
    }
}

/// Public listings come from the cache and change as soon as a project does.
async fn public_listings_cached_and_retired(app: TestApp) {
    let (_admin, owner, _) = app.seeded().await;
    let project = app.project(&owner, "listed").await;
    app.task(&owner, project, json!({})).await;
    app.publish(&owner, project).await;
    let path = "/api/project?short_name=listed&limit=5";
    let names = async || -> Vec<Value> {
        app.get(path, None)
            .await
            .ok()
            .as_array()
            .expect("list")
            .iter()
            .map(|p| p["name"].clone())
            .collect()
    };
    assert_eq!(names().await, vec![json!("Project listed")]);
    assert_eq!(names().await, vec![json!("Project listed")]);
    assert!(
        metrics(&app)
            .await
            .contains("tessera_cache_lookups_total{cache=\"projects\",result=\"hit\"} 1")
    );
    app.put(
        &format!("/api/project/{project}"),
        Some(&owner),
        json!({"name": "Renamed"}),
    )
    .await
    .ok();
    assert_eq!(names().await, vec![json!("Renamed")]);
    // Signed-in callers are never served from it.
    let mine = app.get("/api/project?all=1", Some(&owner)).await;
    assert_eq!(mine.ok()[0]["name"], "Renamed");
}

crate::on_both_stores!(public_listings_cached_and_retired);

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port")
}

/// Kills a child process when dropped (so a failed assertion leaves no server behind).
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn redis_server(dir: &std::path::Path, args: &[&str]) -> Child {
    Child(
        std::process::Command::new("redis-server")
            .args(args)
            .current_dir(dir)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server"),
    )
}

/// Redis through Sentinel: the API finds the master by asking a Sentinel, and stamps, holds and
/// the cache land there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_sentinel_the_api_finds_and_uses_the_master() {
    if !crate::common::redis_available() {
        return;
    }
    let dir = std::env::temp_dir().join(format!(
        "tessera-sentinel-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).expect("dir");
    let (master, sentinel) = (free_port(), free_port());
    let _master = redis_server(
        &dir,
        &[
            "--port",
            &master.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
    );
    let conf = dir.join("sentinel.conf");
    std::fs::write(
        &conf,
        format!(
            "port {sentinel}\nbind 127.0.0.1\nsentinel monitor tessera-test 127.0.0.1 {master} 1\n"
        ),
    )
    .expect("sentinel.conf");
    let _sentinel = redis_server(&dir, &[conf.to_str().expect("path"), "--sentinel"]);
    // Wait until the Sentinel knows the master.
    let start = Instant::now();
    loop {
        let out = std::process::Command::new("redis-cli")
            .args([
                "-p",
                &sentinel.to_string(),
                "sentinel",
                "get-master-addr-by-name",
                "tessera-test",
            ])
            .output()
            .expect("redis-cli");
        if String::from_utf8_lossy(&out.stdout).contains(&master.to_string()) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "sentinel did not start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let sentinels = format!("127.0.0.1:{sentinel}");
    let tweak = move |c: &mut Config| {
        c.redis_sentinels = Some(sentinels.clone());
        c.redis_service_name = "tessera-test".into();
        c.redis_key_prefix = Some("sentinel-test:".into());
    };
    let app = TestApp::configured(false, &tweak).await.expect("app");
    assert_eq!(app.state.infra.kv.describe(), "redis");
    let ready = app.get("/health/ready", None).await;
    assert_eq!(ready.status, 200, "{ready:?}");
    let (_admin, owner, _) = app.seeded().await;
    let project = app.project(&owner, "via-sentinel").await;
    app.task(&owner, project, json!({})).await;
    let v = app.register("v").await;
    answer_one(&app, project, &v).await;
    app.get(&format!("/api/projectstats/{project}"), Some(&owner))
        .await
        .ok();
    let keys = std::process::Command::new("redis-cli")
        .args([
            "-p",
            &master.to_string(),
            "--scan",
            "--pattern",
            "sentinel-test:*",
        ])
        .output()
        .expect("redis-cli");
    let keys = String::from_utf8_lossy(&keys.stdout).to_string();
    assert!(
        keys.contains("sentinel-test:cache:projectstats"),
        "keys on the master: {keys}"
    );
    assert_eq!(app.state.infra.kv.errors.get(), 0);
    drop(app);
    let _ = std::fs::remove_dir_all(&dir);
}
