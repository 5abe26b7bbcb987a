//! Starts the real server on a random port against a fresh database: a SQLite file in a temp
//! folder, or a uniquely named PostgreSQL database that is dropped afterwards.

use std::path::PathBuf;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tessera_api::{config::Config, server};
use tokio::sync::oneshot;

pub fn pg_admin_url() -> String {
    std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

fn is_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub data_dir: PathBuf,
    shutdown: Option<oneshot::Sender<()>>,
    pg_db: Option<String>,
    redis_prefix: Option<String>,
    pub state: std::sync::Arc<tessera_api::state::AppState>,
}

pub fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// Whether Redis answers; outside CI a missing Redis skips (loudly) what needs it.
pub fn redis_available() -> bool {
    let ok = std::process::Command::new("redis-cli")
        .args(["-u", &redis_url(), "ping"])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("PONG"));
    if !ok {
        assert!(!is_ci(), "Redis is required under CI at {}", redis_url());
        eprintln!(
            "\n!!! Redis not reachable at {}: Redis tests SKIPPED !!!\n",
            redis_url()
        );
    }
    ok
}

/// A response: status, headers and JSON body (`Null` when empty or not JSON).
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
    pub json: Value,
}

impl Resp {
    #[track_caller]
    pub fn ok(&self) -> &Value {
        assert!(
            self.status.is_success(),
            "expected success, got {}: {}",
            self.status,
            self.text
        );
        &self.json
    }
    /// Asserts a PYBOSSA error body with this status and exception class.
    #[track_caller]
    pub fn err(&self, status: u16, cls: &str) -> &Value {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.text);
        assert_eq!(self.json["status"], "failed", "body: {}", self.text);
        assert_eq!(self.json["status_code"], status, "body: {}", self.text);
        assert_eq!(self.json["exception_cls"], cls, "body: {}", self.text);
        for key in ["action", "target", "exception_msg"] {
            assert!(self.json[key].is_string(), "{key} missing: {}", self.text);
        }
        &self.json
    }
}

/// A signed-in user of a test.
#[derive(Clone)]
pub struct User {
    pub id: i64,
    pub api_key: String,
}

impl TestApp {
    pub async fn sqlite() -> Self {
        let dir =
            std::env::temp_dir().join(format!("tessera-test-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let url = format!("sqlite://{}?mode=rwc", dir.join("t.db").display());
        Self::start(url, dir, None, None).await
    }

    /// `None` (after a loud warning) when PostgreSQL is not reachable outside CI.
    pub async fn postgres() -> Option<Self> {
        Self::postgres_with(None).await
    }

    async fn postgres_with(redis_prefix: Option<String>) -> Option<Self> {
        let (url, name) = Self::create_pg_db().await?;
        let dir =
            std::env::temp_dir().join(format!("tessera-test-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        Some(Self::start(url, dir, Some(name), redis_prefix).await)
    }

    /// A fresh, uniquely named PostgreSQL database: `(url, name)`.
    pub async fn create_pg_db() -> Option<(String, String)> {
        use sea_orm::ConnectionTrait;
        let admin = match sea_orm::Database::connect(pg_admin_url()).await {
            Ok(db) => db,
            Err(e) => {
                assert!(!is_ci(), "PostgreSQL is required under CI: {e}");
                eprintln!(
                    "\n!!! PostgreSQL not reachable at {} ({e}): PostgreSQL tests SKIPPED !!!\n",
                    pg_admin_url()
                );
                return None;
            }
        };
        let name = format!("tessera_t_{}", uuid::Uuid::new_v4().simple());
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create database");
        admin.close().await.ok();
        let base = pg_admin_url();
        let url = match base.rsplit_once('/') {
            Some((prefix, _)) => format!("{prefix}/{name}"),
            None => panic!("bad TEST_POSTGRES_URL"),
        };
        Some((url, name))
    }

    /// PostgreSQL through its Unix socket, as a co-located deployment connects; `None` when the
    /// machine has no socket (`TEST_POSTGRES_SOCKET`, default `/var/run/postgresql`).
    pub async fn postgres_unix_socket() -> Option<Self> {
        let socket_dir =
            std::env::var("TEST_POSTGRES_SOCKET").unwrap_or_else(|_| "/var/run/postgresql".into());
        if !std::path::Path::new(&socket_dir)
            .join(".s.PGSQL.5432")
            .exists()
        {
            eprintln!("skipped: no PostgreSQL socket in {socket_dir}");
            return None;
        }
        let (_, name) = Self::create_pg_db().await?;
        let admin = pg_admin_url();
        let user = admin
            .split_once("://")
            .and_then(|(_, rest)| rest.split_once('@'))
            .map_or("postgres", |(user, _)| user);
        let url = format!("postgres://{user}@localhost/{name}?host={socket_dir}");
        let dir =
            std::env::temp_dir().join(format!("tessera-test-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        Some(Self::start(url, dir, Some(name), None).await)
    }

    /// PostgreSQL with Redis for stamps and holds (keys under a unique prefix, removed after).
    pub async fn postgres_redis() -> Option<Self> {
        let prefix =
            redis_available().then(|| format!("tessera-test-{}:", uuid::Uuid::new_v4().simple()));
        Self::postgres_with(prefix).await
    }

    /// SQLite, with a rate limit, and Redis counting it when `redis` is set.
    pub async fn rate_limited(limit: &str, redis: bool) -> Self {
        let dir =
            std::env::temp_dir().join(format!("tessera-test-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let url = format!("sqlite://{}?mode=rwc", dir.join("t.db").display());
        let (prefix, redis) = if redis {
            (
                Some(format!("tessera-test-{}:", uuid::Uuid::new_v4().simple())),
                Some(redis_url()),
            )
        } else {
            (None, None)
        };
        Self::start_full(url, dir, None, prefix, redis, limit.to_string(), &|_| {}).await
    }

    /// SQLite (in-process store) or PostgreSQL with Redis, with configuration changed by
    /// `tweak`. `None` when PostgreSQL is asked for but unreachable outside CI.
    pub async fn configured(postgres: bool, tweak: &dyn Fn(&mut Config)) -> Option<Self> {
        let dir =
            std::env::temp_dir().join(format!("tessera-test-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        if !postgres {
            let url = format!("sqlite://{}?mode=rwc", dir.join("t.db").display());
            return Some(Self::start_full(url, dir, None, None, None, "0".into(), tweak).await);
        }
        let (url, name) = Self::create_pg_db().await?;
        let prefix =
            redis_available().then(|| format!("tessera-test-{}:", uuid::Uuid::new_v4().simple()));
        let redis = prefix.as_ref().map(|_| redis_url());
        Some(Self::start_full(url, dir, Some(name), prefix, redis, "0".into(), tweak).await)
    }

    /// Another instance on this one's database (and Redis prefix), configured by `tweak`; it
    /// leaves the database and the keys to this one to clean up.
    pub async fn another_instance(&self, tweak: &dyn Fn(&mut Config)) -> Self {
        let dir =
            std::env::temp_dir().join(format!("tessera-test-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let redis = self
            .state
            .infra
            .config
            .redis_url
            .as_ref()
            .map(|u| u.expose().to_string());
        let mut other = Self::start_full(
            self.state.infra.config.database_url(),
            dir,
            None,
            self.redis_prefix.clone(),
            redis,
            "0".into(),
            tweak,
        )
        .await;
        other.redis_prefix = None;
        other
    }

    /// SQLite with Redis, or with a Redis URL of the caller's choice.
    pub async fn sqlite_with_redis(redis: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("tessera-test-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let url = format!("sqlite://{}?mode=rwc", dir.join("t.db").display());
        let prefix = format!("tessera-test-{}:", uuid::Uuid::new_v4().simple());
        Self::start_with(url, dir, None, Some(prefix), Some(redis.to_string())).await
    }

    async fn start(
        url: String,
        dir: PathBuf,
        pg_db: Option<String>,
        redis_prefix: Option<String>,
    ) -> Self {
        let redis = redis_prefix.as_ref().map(|_| redis_url());
        Self::start_with(url, dir, pg_db, redis_prefix, redis).await
    }

    async fn start_with(
        url: String,
        dir: PathBuf,
        pg_db: Option<String>,
        redis_prefix: Option<String>,
        redis: Option<String>,
    ) -> Self {
        // Tests make many requests; the rate-limit tests turn it on themselves.
        let rate_limit = std::env::var("TEST_RATE_LIMIT").unwrap_or_else(|_| "0".into());
        Self::start_full(url, dir, pg_db, redis_prefix, redis, rate_limit, &|_| {}).await
    }

    async fn start_full(
        url: String,
        dir: PathBuf,
        pg_db: Option<String>,
        redis_prefix: Option<String>,
        redis: Option<String>,
        rate_limit: String,
        tweak: &dyn Fn(&mut Config),
    ) -> Self {
        if std::env::var("TEST_LOG").is_ok() {
            let _ = tracing_subscriber::fmt()
                .with_env_filter("warn,tessera_api=info")
                .with_test_writer()
                .try_init();
        }
        let config = Config::from_args([
            "--database-url",
            &url,
            "--addr",
            "127.0.0.1:0",
            "--data-dir",
            dir.to_str().expect("utf-8 path"),
            "--web-dir",
            dir.join("no-web").to_str().expect("utf-8 path"),
            "--secret",
            "test-secret",
            "--max-upload-bytes",
            "200000",
            "--rate-limit",
            &rate_limit,
        ])
        .expect("config");
        let mut config = Config {
            redis_url: redis.map(Into::into),
            redis_sentinels: None,
            redis_key_prefix: redis_prefix.clone(),
            database_replica_url: None,
            public_url: None,
            ..config
        };
        tweak(&mut config);
        let acceptor = server::bind(&config).await.expect("bind");
        let addr = poem::listener::Acceptor::local_addr(&acceptor)
            .into_iter()
            .next()
            .and_then(|a| a.as_socket_addr().copied())
            .expect("local addr");
        let state = server::build_state(config).await.expect("state");
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(server::serve(state.clone(), acceptor, async {
            let _ = rx.await;
        }));
        Self {
            base: format!("http://{addr}"),
            client: reqwest::Client::new(),
            data_dir: dir,
            shutdown: Some(tx),
            pg_db,
            redis_prefix,
            state,
        }
    }

    pub async fn request(
        &self,
        method: Method,
        path: &str,
        auth: Option<&User>,
        body: Option<Value>,
    ) -> Resp {
        let url = format!("{}{}", self.base, path);
        let mut req = self.client.request(method, url);
        if let Some(user) = auth {
            req = req.query(&[("api_key", &user.api_key)]);
        }
        if let Some(body) = body {
            req = req
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        Self::read(req.send().await.expect("request")).await
    }

    pub async fn read(resp: reqwest::Response) -> Resp {
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("body");
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            text,
            json,
        }
    }

    pub async fn get(&self, path: &str, auth: Option<&User>) -> Resp {
        self.request(Method::GET, path, auth, None).await
    }
    pub async fn post(&self, path: &str, auth: Option<&User>, body: Value) -> Resp {
        self.request(Method::POST, path, auth, Some(body)).await
    }
    pub async fn put(&self, path: &str, auth: Option<&User>, body: Value) -> Resp {
        self.request(Method::PUT, path, auth, Some(body)).await
    }
    pub async fn delete(&self, path: &str, auth: Option<&User>) -> Resp {
        self.request(Method::DELETE, path, auth, None).await
    }

    pub async fn register(&self, name: &str) -> User {
        let r = self
            .post(
                "/api/auth/register",
                None,
                json!({"name": name, "fullname": format!("{name} Full"), "email_addr": format!("{name}@example.org"), "password": "correct horse"}),
            )
            .await;
        let v = r.ok();
        User {
            id: v["id"].as_i64().expect("id"),
            api_key: v["api_key"].as_str().expect("api_key").to_string(),
        }
    }

    pub async fn category(&self, admin: &User, short: &str) -> i64 {
        let r = self
            .post(
                "/api/category",
                Some(admin),
                json!({"name": short.to_uppercase(), "short_name": short, "description": "d"}),
            )
            .await;
        r.ok()["id"].as_i64().expect("id")
    }

    /// A draft project: only its owners and admins see it and what belongs to it.
    pub async fn draft(&self, owner: &User, short: &str) -> i64 {
        let r = self
            .post(
                "/api/project",
                Some(owner),
                json!({"name": format!("Project {short}"), "short_name": short, "description": "About it"}),
            )
            .await;
        r.ok()["id"].as_i64().expect("id")
    }

    /// A published project, open to volunteers. Publishing through the API needs a task first;
    /// tests that add their own tasks get it published up front, straight in the database.
    pub async fn project(&self, owner: &User, short: &str) -> i64 {
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
        use tessera_api::store::entities::project;
        let id = self.draft(owner, short).await;
        project::Entity::update_many()
            .col_expr(project::Column::Published, Expr::value(true))
            .filter(project::Column::Id.eq(i32::try_from(id).expect("id")))
            .exec(&self.state.infra.db)
            .await
            .expect("publish");
        self.state
            .volunteer
            .projects
            .forget(tessera_api::ids::ProjectId(i32::try_from(id).expect("id")))
            .await;
        id
    }

    pub async fn publish(&self, owner: &User, project: i64) {
        let r = self
            .post(
                &format!("/api/project/{project}/publish"),
                Some(owner),
                json!({}),
            )
            .await;
        r.ok();
    }

    pub async fn task(&self, owner: &User, project_id: i64, info: Value) -> i64 {
        let r = self
            .post(
                "/api/task",
                Some(owner),
                json!({"project_id": project_id, "info": info, "n_answers": 2}),
            )
            .await;
        r.ok()["id"].as_i64().expect("id")
    }

    /// A token for the project's external users, as their app gets one: the owner reads the
    /// project's secret and sends it to the token endpoint.
    pub async fn project_token(&self, owner: &User, project: i64, short_name: &str) -> String {
        let secret = self
            .get(&format!("/api/project/{project}"), Some(owner))
            .await
            .json["secret_key"]
            .as_str()
            .expect("secret")
            .to_string();
        self.client
            .get(format!("{}/api/auth/project/{short_name}/token", self.base))
            .header("authorization", secret)
            .send()
            .await
            .expect("token")
            .text()
            .await
            .expect("token")
    }

    /// Admin (first account), a category, and a second ordinary user.
    pub async fn seeded(&self) -> (User, User, i64) {
        let admin = self.register("admin").await;
        let user = self.register("owner").await;
        let cat = self.category(&admin, "thinking").await;
        (admin, user, cat)
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = std::fs::remove_dir_all(&self.data_dir);
        if let Some(prefix) = self.redis_prefix.take() {
            let keys = std::process::Command::new("redis-cli")
                .args([
                    "-u",
                    &redis_url(),
                    "--scan",
                    "--pattern",
                    &format!("{prefix}*"),
                ])
                .output();
            if let Ok(out) = keys {
                let keys: Vec<String> = String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .map(str::to_string)
                    .collect();
                for chunk in keys.chunks(500) {
                    let _ = std::process::Command::new("redis-cli")
                        .args(["-u", &redis_url(), "del"])
                        .args(chunk)
                        .output();
                }
            }
        }
        if let Some(name) = self.pg_db.take() {
            // Drop the database from a thread with its own runtime: Drop cannot await.
            let handle = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                rt.block_on(async move {
                    use sea_orm::ConnectionTrait;
                    if let Ok(db) = sea_orm::Database::connect(pg_admin_url()).await {
                        let _ = db
                            .execute_unprepared(&format!(
                                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                            ))
                            .await;
                        let _ = db.close().await;
                    }
                });
            });
            let _ = handle.join();
        }
    }
}

/// Runs each named `async fn(TestApp)` once on SQLite and once on PostgreSQL.
#[macro_export]
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($crate::common::TestApp::sqlite().await).await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    if let Some(app) = $crate::common::TestApp::postgres().await {
                        super::$name(app).await;
                    }
                }
            }
        )*
    };
}

/// Runs each named `async fn(TestApp)` on SQLite with the in-process store and on PostgreSQL
/// with Redis: the two deployment shapes, one suite.
#[macro_export]
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite_memory() {
                    super::$name($crate::common::TestApp::sqlite().await).await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres_redis() {
                    if let Some(app) = $crate::common::TestApp::postgres_redis().await {
                        super::$name(app).await;
                    }
                }
            }
        )*
    };
}

/// Runs each named `async fn(TestApp)` on both databases, each with and without Redis.
#[macro_export]
macro_rules! on_every_store {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite_memory() {
                    super::$name($crate::common::TestApp::sqlite().await).await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite_redis() {
                    if $crate::common::redis_available() {
                        let url = $crate::common::redis_url();
                        super::$name($crate::common::TestApp::sqlite_with_redis(&url).await).await;
                    }
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres_memory() {
                    if let Some(app) = $crate::common::TestApp::postgres().await {
                        super::$name(app).await;
                    }
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres_redis() {
                    if let Some(app) = $crate::common::TestApp::postgres_redis().await {
                        super::$name(app).await;
                    }
                }
            }
        )*
    };
}

/// Serves `app` on a free loopback port in the background (a webhook receiver, a file server
/// for import links); returns its address.
pub async fn serve_locally(app: impl poem::Endpoint + 'static) -> std::net::SocketAddr {
    use poem::listener::{Acceptor, Listener};
    let acceptor = poem::listener::TcpListener::bind("127.0.0.1:0")
        .into_acceptor()
        .await
        .expect("bind a local server");
    let addr = acceptor
        .local_addr()
        .into_iter()
        .next()
        .and_then(|a| a.as_socket_addr().copied())
        .expect("addr");
    tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(app));
    addr
}
