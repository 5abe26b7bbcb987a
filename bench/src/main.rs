//! Load driver for `just bench`. Each virtual volunteer loops `newtask` → `POST /taskrun` on
//! its own keep-alive connection, as a browser or script would: an external user of the project
//! with the project token, or (`--auth api-key|bearer`) a signed-in account of its own, its
//! account made (and signed in) before the measured run starts. The driver shares the machine with
//! the server, so it is kept lean: one thread, hyper's bare HTTP/1.1 connections, and only the
//! task's id read from each answer.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use bytes::Bytes;
use clap::{Parser, Subcommand};
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::{
    Method, Request,
    client::conn::http1::{self, SendRequest},
    header,
};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use serde_json::json;

#[derive(Parser)]
struct Cli {
    /// Server base URL.
    #[arg(long)]
    base: String,
    #[arg(long)]
    project: i64,
    /// Project token (external users).
    #[arg(long)]
    token: String,
    /// How volunteers say who they are.
    #[arg(long, value_enum, default_value_t = Auth::Token)]
    auth: Auth,
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Auth {
    /// External users of the project, with the project token and `external_uid`.
    Token,
    /// Accounts sending their api key as the raw `Authorization` header (pbs, enki).
    ApiKey,
    /// Accounts sending a bearer token from `/api/auth/login` (the web app).
    Bearer,
}

#[derive(Subcommand)]
enum Mode {
    /// Volunteers loop newtask → taskrun for a fixed time.
    Loop {
        #[arg(long, default_value_t = 64)]
        volunteers: usize,
        #[arg(long, default_value_t = 20)]
        seconds: u64,
        /// Sample this process's resident memory (the API server) while the load runs.
        #[arg(long)]
        server_pid: Option<u32>,
    },
    /// Latency of newtask alone, one request at a time.
    Newtask {
        #[arg(long, default_value_t = 500)]
        requests: usize,
        /// Ask as this volunteer every time; by default each request is a new volunteer.
        #[arg(long)]
        uid: Option<String>,
    },
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).unwrap_or_else(|_| unreachable!("valid bounds"))
}

fn rss_mb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// CPU time the kernel reports in `/proc` is in USER_HZ ticks, 100 per second on Linux.
const TICK_US: u64 = 10_000;

/// CPU time (µs) of a process, all its threads, from `/proc/<pid>/stat` (utime + stime).
fn cpu_us(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which may hold spaces: state is the first.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some((user + system) * TICK_US)
}

/// The command name of a process.
fn comm(pid: &str) -> Option<String> {
    Some(
        std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .ok()?
            .trim()
            .to_string(),
    )
}

/// CPU time (µs) so far of the API server, PostgreSQL (all its processes), Redis and this
/// driver, and the machine's busy and total time: where each pair's CPU goes. With the
/// machine's speed drifting from run to run, CPU per pair compares builds better than
/// throughput does, and the driver's own share (the same work in every run) gauges the drift.
#[derive(Clone, Copy, Default)]
struct CpuSnapshot {
    api: u64,
    postgres: u64,
    redis: u64,
    driver: u64,
    busy: u64,
    total: u64,
}

fn cpu_snapshot(server_pid: Option<u32>) -> CpuSnapshot {
    let mut snap = CpuSnapshot {
        api: server_pid.and_then(|p| cpu_us(&p.to_string())).unwrap_or(0),
        driver: cpu_us("self").unwrap_or(0),
        ..Default::default()
    };
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let pid = entry.file_name().to_string_lossy().into_owned();
        if !pid.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let slot = match comm(&pid).as_deref() {
            Some(c) if c.starts_with("postgres") => &mut snap.postgres,
            Some(c) if c.starts_with("redis-server") => &mut snap.redis,
            _ => continue,
        };
        *slot += cpu_us(&pid).unwrap_or(0);
    }
    if let Some(line) = std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| s.lines().next().map(str::to_owned))
    {
        let ticks: Vec<u64> = line
            .split_whitespace()
            .skip(1)
            .filter_map(|t| t.parse().ok())
            .collect();
        let idle = ticks.get(3).copied().unwrap_or(0) + ticks.get(4).copied().unwrap_or(0);
        snap.total = ticks.iter().take(8).sum::<u64>() * TICK_US;
        snap.busy = snap.total.saturating_sub(idle * TICK_US);
    }
    snap
}

/// One volunteer's keep-alive connection to the server; reconnects after an error.
struct Conn {
    host: String,
    auth: String,
    sender: Option<SendRequest<Full<Bytes>>>,
}

/// What the driver reads of a `newtask` answer.
#[derive(Deserialize)]
struct Handed {
    id: Option<i64>,
}

impl Conn {
    /// A connection whose requests carry `auth` as their `Authorization` header.
    fn new(base: &str, auth: String) -> Self {
        Self {
            host: base
                .trim_start_matches("http://")
                .trim_end_matches('/')
                .to_string(),
            auth,
            sender: None,
        }
    }

    /// Status and body of one request, or `None` when the connection failed.
    async fn send(
        &mut self,
        method: Method,
        path: &str,
        body: Option<String>,
    ) -> Option<(u16, Bytes)> {
        let mut sender = match self.sender.take() {
            Some(s) => s,
            None => {
                let stream = tokio::net::TcpStream::connect(&self.host).await.ok()?;
                stream.set_nodelay(true).ok()?;
                let (sender, conn) = http1::handshake(TokioIo::new(stream)).await.ok()?;
                tokio::spawn(conn);
                sender
            }
        };
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, &self.host)
            .header(header::AUTHORIZATION, &self.auth);
        if body.is_some() {
            req = req.header(header::CONTENT_TYPE, "application/json");
        }
        let req = req
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .ok()?;
        let resp = sender.send_request(req).await.ok()?;
        let status = resp.status().as_u16();
        let bytes = resp.into_body().collect().await.ok()?.to_bytes();
        self.sender = Some(sender);
        Some((status, bytes))
    }
}

// One thread: the load is a few thousand requests a second, and a second thread would only
// take CPU from the server it measures.
#[tokio::main(flavor = "current_thread")]
async fn main() {
    let cli = Cli::parse();
    match cli.mode {
        Mode::Loop {
            volunteers,
            seconds,
            server_pid,
        } => {
            run_loop(
                &cli.base,
                cli.project,
                &cli.token,
                cli.auth,
                volunteers,
                seconds,
                server_pid,
            )
            .await;
        }
        Mode::Newtask { requests, uid } => {
            let mut hist = histogram();
            let mut errors = 0u64;
            let mut conn = Conn::new(&cli.base, format!("Bearer {}", cli.token));
            for i in 0..requests {
                let who = uid
                    .clone()
                    .unwrap_or_else(|| format!("fresh-{}-{i}", std::process::id()));
                let start = Instant::now();
                let path = format!("/api/project/{}/newtask?external_uid={who}", cli.project);
                match conn.send(Method::GET, &path, None).await {
                    Some((200, _)) => {
                        let _ = hist.record(start.elapsed().as_micros() as u64);
                    }
                    _ => errors += 1,
                }
            }
            println!(
                "{}",
                json!({
                    "requests": requests,
                    "errors": errors,
                    "p50_ms": hist.value_at_quantile(0.5) as f64 / 1000.0,
                    "p99_ms": hist.value_at_quantile(0.99) as f64 / 1000.0,
                })
            );
        }
    }
}

/// Makes an account for each volunteer (not timed) and returns the `Authorization` header each
/// of their requests carries.
async fn sign_up(base: &str, auth: Auth, volunteers: usize) -> Vec<String> {
    #[derive(Deserialize)]
    struct Account {
        api_key: String,
    }
    #[derive(Deserialize)]
    struct Login {
        access_token: String,
    }
    let mut conn = Conn::new(base, String::new());
    let mut headers = Vec::with_capacity(volunteers);
    for v in 0..volunteers {
        let name = format!("bench{}x{v}", std::process::id());
        let password = "bench volunteer password";
        let body = json!({"name": name, "email_addr": format!("{name}@example.org"), "password": password});
        let (status, bytes) = conn
            .send(Method::POST, "/api/auth/register", Some(body.to_string()))
            .await
            .unwrap_or_else(|| panic!("sign-up of {name} failed"));
        assert_eq!(
            status,
            200,
            "sign-up of {name}: {}",
            String::from_utf8_lossy(&bytes)
        );
        let account: Account = serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{e}"));
        headers.push(match auth {
            Auth::ApiKey => account.api_key,
            Auth::Bearer => {
                let body = json!({"name": name, "password": password});
                let (_, bytes) = conn
                    .send(Method::POST, "/api/auth/login", Some(body.to_string()))
                    .await
                    .unwrap_or_else(|| panic!("sign-in of {name} failed"));
                let login: Login = serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{e}"));
                format!("Bearer {}", login.access_token)
            }
            Auth::Token => unreachable!("external users need no account"),
        });
    }
    headers
}

#[allow(clippy::too_many_arguments)]
async fn run_loop(
    base: &str,
    project: i64,
    token: &str,
    auth: Auth,
    volunteers: usize,
    seconds: u64,
    server_pid: Option<u32>,
) {
    let mut accounts = match auth {
        Auth::Token => vec![],
        _ => sign_up(base, auth, volunteers).await,
    };
    let stop = Arc::new(AtomicBool::new(false));
    let pairs = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let surplus = Arc::new(AtomicU64::new(0));
    let empty = Arc::new(AtomicU64::new(0));
    let newtask_hist = Arc::new(Mutex::new(histogram()));
    let taskrun_hist = Arc::new(Mutex::new(histogram()));
    let pair_hist = Arc::new(Mutex::new(histogram()));
    let max_rss = Arc::new(Mutex::new(0f64));
    if let Some(pid) = server_pid {
        let (stop, max_rss) = (stop.clone(), max_rss.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                if let Some(mb) = rss_mb(pid) {
                    let mut m = max_rss
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    *m = m.max(mb);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
    }
    let started = Instant::now();
    let cpu_before = cpu_snapshot(server_pid);
    let mut workers = vec![];
    for v in 0..volunteers {
        let (stop, pairs, errors, surplus, empty) = (
            stop.clone(),
            pairs.clone(),
            errors.clone(),
            surplus.clone(),
            empty.clone(),
        );
        let (nh, th, ph) = (
            newtask_hist.clone(),
            taskrun_hist.clone(),
            pair_hist.clone(),
        );
        let (mut conn, newtask, taskrun) = match auth {
            Auth::Token => {
                let uid = format!("bench-{}-{v}", std::process::id());
                (
                    Conn::new(base, format!("Bearer {token}")),
                    format!("/api/project/{project}/newtask?external_uid={uid}"),
                    format!("/api/taskrun?external_uid={uid}"),
                )
            }
            _ => (
                Conn::new(base, accounts.pop().unwrap_or_default()),
                format!("/api/project/{project}/newtask"),
                "/api/taskrun".to_string(),
            ),
        };
        workers.push(tokio::spawn(async move {
            let (mut local_n, mut local_t, mut local_p) = (histogram(), histogram(), histogram());
            while !stop.load(Ordering::Relaxed) {
                let t0 = Instant::now();
                let task = match conn.send(Method::GET, &newtask, None).await {
                    Some((200, body)) => serde_json::from_slice::<Handed>(&body).ok(),
                    _ => {
                        errors.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                };
                let t1 = Instant::now();
                let _ = local_n.record((t1 - t0).as_micros() as u64);
                let Some(tid) = task.and_then(|t| t.id) else {
                    empty.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                let answer = format!(
                    r#"{{"project_id":{project},"task_id":{tid},"info":{{"answer":{}}}}}"#,
                    v % 3
                );
                let r = conn.send(Method::POST, &taskrun, Some(answer)).await;
                let t2 = Instant::now();
                match r.map(|(status, _)| status) {
                    Some(200) => {
                        let _ = local_t.record((t2 - t1).as_micros() as u64);
                        let _ = local_p.record((t2 - t0).as_micros() as u64);
                        pairs.fetch_add(1, Ordering::Relaxed);
                    }
                    Some(409) => {
                        surplus.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            let _ = nh
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .add(&local_n);
            let _ = th
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .add(&local_t);
            let _ = ph
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .add(&local_p);
        }));
    }
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        let _ = w.await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu_after = cpu_snapshot(server_pid);
    let done = pairs.load(Ordering::Relaxed);
    let spent = |f: fn(&CpuSnapshot) -> u64| f(&cpu_after).saturating_sub(f(&cpu_before)) as f64;
    let per_pair = |f: fn(&CpuSnapshot) -> u64| spent(f) / done.max(1) as f64;
    let machine_busy = spent(|c| c.busy) / spent(|c| c.total).max(1.0);
    let ms = |h: &Arc<Mutex<Histogram<u64>>>, q: f64| {
        h.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .value_at_quantile(q) as f64
            / 1000.0
    };
    println!(
        "{}",
        json!({
            "volunteers": volunteers,
            "seconds": elapsed,
            "pairs": done,
            "pairs_per_s": done as f64 / elapsed,
            "pair_p50_ms": ms(&pair_hist, 0.5),
            "pair_p99_ms": ms(&pair_hist, 0.99),
            "newtask_p50_ms": ms(&newtask_hist, 0.5),
            "newtask_p99_ms": ms(&newtask_hist, 0.99),
            "taskrun_p50_ms": ms(&taskrun_hist, 0.5),
            "taskrun_p99_ms": ms(&taskrun_hist, 0.99),
            "errors": errors.load(Ordering::Relaxed),
            "surplus": surplus.load(Ordering::Relaxed),
            "empty": empty.load(Ordering::Relaxed),
            "server_max_rss_mb": *max_rss.lock().unwrap_or_else(std::sync::PoisonError::into_inner),
            "cpu_us_per_pair": {
                "api": per_pair(|c| c.api),
                "postgres": per_pair(|c| c.postgres),
                "redis": per_pair(|c| c.redis),
                "driver": per_pair(|c| c.driver),
            },
            "machine_busy": machine_busy,
        })
    );
}
