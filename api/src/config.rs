//! One configuration struct, read from flags and environment variables.

use std::{fmt, net::SocketAddr, path::PathBuf};

use clap::Args;

/// Runtime configuration shared by every subcommand.
///
/// Every field can be given as a flag or as the environment variable named beside it; the
/// defaults make `tessera serve` work with nothing installed (SQLite under `./data`, in-process
/// cache).
#[derive(Args, Clone, Debug)]
pub struct Config {
    /// Database URL: `sqlite://path?mode=rwc` or `postgres://user@host/db`.
    /// Defaults to a SQLite file under the data folder.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<ServerUrl>,

    /// Optional read replica used for listings and stats.
    #[arg(long, env = "DATABASE_REPLICA_URL")]
    pub database_replica_url: Option<ServerUrl>,

    /// Redis URL (`redis://127.0.0.1:6379`); unset means the in-process store.
    #[arg(long, env = "REDIS_URL")]
    pub redis_url: Option<ServerUrl>,

    /// Redis Sentinel nodes as `host:port,host:port`; takes precedence over `REDIS_URL`.
    #[arg(long, env = "REDIS_SENTINELS")]
    pub redis_sentinels: Option<String>,

    /// Name of the master the Sentinels watch.
    #[arg(long, env = "REDIS_SERVICE_NAME", default_value = "mymaster")]
    pub redis_service_name: String,

    /// How long a handed-out task stays stamped for its volunteer (answers must arrive within
    /// it), in seconds. PYBOSSA's default.
    #[arg(long, env = "TESSERA_STAMP_TTL", default_value_t = 3600)]
    pub stamp_ttl: u64,

    /// On PostgreSQL, write the answers that arrive together in one transaction (group commit);
    /// off, each answer is its own transaction.
    #[arg(long, env = "TESSERA_ANSWER_BATCHING", default_value_t = true,
          action = clap::ArgAction::Set, value_parser = clap::builder::BoolishValueParser::new())]
    pub answer_batching: bool,

    /// Answer batches written at once, each for its share of the tasks. One is fastest on a
    /// 2-core host (bigger batches; see BENCHMARKS.md); more can help where the database has
    /// cores to spare.
    #[arg(long, env = "TESSERA_ANSWER_WRITERS", default_value_t = 1,
          value_parser = clap::value_parser!(u8).range(1..=16))]
    pub answer_writers: u8,

    /// Prefix for every Redis key, so several deployments (or test runs) can share a server.
    /// Unset, it is `tessera:<id of the database>:`, so two databases can never share keys.
    #[arg(long, env = "REDIS_KEY_PREFIX")]
    pub redis_key_prefix: Option<String>,

    /// Address the HTTP server listens on.
    #[arg(long, env = "TESSERA_ADDR", default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,

    /// Requests allowed per credential (or per address, for anonymous callers) and resource in
    /// a fixed window: `<requests>/<seconds>`, PYBOSSA's `300/900` by default; `0` turns it off.
    #[arg(long, env = "TESSERA_RATE_LIMIT", default_value = "300/900")]
    pub rate_limit: String,

    /// Public base URL used in `link`/`links` and `media_url`; derived from the request's
    /// Host header when unset.
    #[arg(long, env = "TESSERA_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Secret that signs access tokens. When unset, one is generated once and kept in the
    /// database, so tokens survive restarts and every instance on the database accepts them.
    #[arg(long, env = "TESSERA_SECRET", hide_env_values = true)]
    pub secret: Option<Secret>,

    /// Lifetime of access tokens issued by `/api/auth/login`, in seconds.
    #[arg(long, env = "TESSERA_TOKEN_TTL", default_value_t = 86_400)]
    pub token_ttl: u64,

    /// Folder for the embedded database and uploaded files.
    #[arg(long, env = "TESSERA_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,

    /// Folder holding the built web app (`index.html` and the wasm bundle).
    #[arg(long, env = "TESSERA_WEB_DIR", default_value = "web/dist")]
    pub web_dir: PathBuf,

    /// Largest accepted upload (a multipart request), in bytes.
    #[arg(long, env = "TESSERA_MAX_UPLOAD", default_value_t = 10 * 1024 * 1024)]
    pub max_upload_bytes: usize,

    /// Largest file (or fetched URL) a task import takes, in bytes. The file is spooled to disk,
    /// never held in memory.
    #[arg(long, env = "TESSERA_MAX_IMPORT_BYTES", default_value_t = 1024 * 1024 * 1024)]
    pub max_import_bytes: u64,

    /// Time an import's URL has to answer and send its whole file, in seconds.
    #[arg(long, env = "TESSERA_IMPORT_FETCH_TIMEOUT", default_value_t = 120)]
    pub import_fetch_secs: u64,

    /// Longest a long job (an import, a bulk change) may run, in seconds.
    #[arg(long, env = "TESSERA_LONG_JOB_TIMEOUT", default_value_t = 4 * 3600)]
    pub long_job_secs: u64,

    /// Largest JSON body of an answer (`POST`/`PUT /api/taskrun`), in bytes.
    #[arg(long, env = "TESSERA_MAX_ANSWER_BYTES", default_value_t = 256 * 1024)]
    pub max_answer_bytes: usize,

    /// Largest JSON body of any other request, in bytes.
    #[arg(long, env = "TESSERA_MAX_JSON_BYTES", default_value_t = 1024 * 1024)]
    pub max_json_bytes: usize,

    /// Tasks one `newtask` may hand out and hold for a volunteer (`limit` + `offset`).
    #[arg(long, env = "TESSERA_MAX_HOLDS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=100))]
    pub max_holds: u64,

    /// Proxies and load balancers whose `X-Forwarded-For` names the client: addresses or CIDR
    /// ranges, comma separated. Requests from anywhere else are taken as they come.
    #[arg(long, env = "TESSERA_TRUSTED_PROXIES", default_value = "")]
    pub trusted_proxies: String,

    /// Sign-in attempts for one name or e-mail address get this many seconds: past 5 in a
    /// window, the rest of it answers 429.
    #[arg(long, env = "TESSERA_SIGNIN_WINDOW", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub signin_window_secs: u64,

    /// When set, `/metrics` answers only requests with `Authorization: Bearer <token>`.
    #[arg(long, env = "TESSERA_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<Secret>,

    /// Do not apply pending migrations when serving (run `tessera migrate` as its own step).
    #[arg(long, env = "TESSERA_NO_MIGRATE", default_value_t = false)]
    pub no_migrate: bool,

    /// Log as JSON lines instead of human-readable text.
    #[arg(long, env = "TESSERA_LOG_JSON", default_value_t = false)]
    pub log_json: bool,

    /// Background jobs `tessera serve` runs at once; `0` leaves them to `tessera worker`
    /// processes.
    #[arg(long, env = "TESSERA_WORKERS", default_value_t = 2)]
    pub workers: usize,

    /// How long a worker holds a claimed job, in seconds; a job whose worker died is claimed
    /// again after it.
    #[arg(long, env = "TESSERA_JOB_LEASE", default_value_t = 120)]
    pub job_lease_secs: u64,

    /// How often an idle worker looks for due jobs, in milliseconds.
    #[arg(long, env = "TESSERA_JOB_POLL_MS", default_value_t = 500)]
    pub job_poll_ms: u64,

    /// First retry delay of a failed job, in milliseconds; doubled at each attempt.
    #[arg(long, env = "TESSERA_JOB_BACKOFF_MS", default_value_t = 2000)]
    pub job_backoff_ms: u64,

    /// Attempts at delivering one webhook before it is marked failed.
    #[arg(long, env = "TESSERA_WEBHOOK_ATTEMPTS", default_value_t = 8)]
    pub webhook_attempts: i32,

    /// Time a webhook receiver has to answer, in seconds.
    #[arg(long, env = "TESSERA_WEBHOOK_TIMEOUT", default_value_t = 10)]
    pub webhook_timeout_secs: u64,

    /// SMTP server for outgoing mail: `smtp://[user:pass@]host[:port]` (plain),
    /// `smtp://…?tls=starttls` (STARTTLS required) or `smtps://…` (TLS). Unset, mail stays in
    /// the outbox admins read in the web app.
    #[arg(long, env = "TESSERA_SMTP_URL")]
    pub smtp_url: Option<ServerUrl>,

    /// The sender of outgoing mail.
    #[arg(
        long,
        env = "TESSERA_MAIL_FROM",
        default_value = "Tessera <noreply@localhost>"
    )]
    pub mail_from: String,

    /// PEM file of extra certificate authorities to trust for the SMTP server (one with a
    /// private certificate).
    #[arg(long, env = "TESSERA_SMTP_CA_FILE")]
    pub smtp_ca_file: Option<PathBuf>,

    /// Webhook targets allowed although they are on loopback or private networks: hosts,
    /// addresses or CIDR ranges, comma separated (`127.0.0.1,10.0.0.0/8,hooks.internal`).
    #[arg(long, env = "TESSERA_WEBHOOK_ALLOW", default_value = "")]
    pub webhook_allow: String,
}

/// Parses a configuration from arguments (and the environment), as the CLI does.
#[derive(clap::Parser)]
struct ConfigOnly {
    #[command(flatten)]
    config: Config,
}

impl Config {
    /// `(requests, seconds)` of the rate limit, or `None` when it is off.
    pub fn rate_limit(&self) -> Result<Option<(u64, u64)>, String> {
        let raw = self.rate_limit.trim();
        if raw == "0" || raw.is_empty() {
            return Ok(None);
        }
        let (n, per) = raw.split_once('/').ok_or_else(|| {
            format!("TESSERA_RATE_LIMIT must be <requests>/<seconds> or 0, not {raw:?}")
        })?;
        let n: u64 = n
            .trim()
            .parse()
            .map_err(|_| format!("bad request count in {raw:?}"))?;
        let per: u64 = per
            .trim()
            .parse()
            .map_err(|_| format!("bad window in {raw:?}"))?;
        if n == 0 || per == 0 {
            return Ok(None);
        }
        Ok(Some((n, per)))
    }

    pub fn from_args<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        use clap::Parser;
        ConfigOnly::try_parse_from(
            std::iter::once(std::ffi::OsString::from("tessera"))
                .chain(args.into_iter().map(Into::into)),
        )
        .map(|c| c.config)
    }

    /// The database URL in effect, falling back to the embedded SQLite file.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) if !url.expose().is_empty() => url.expose().to_string(),
            _ => format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("tessera.db").display()
            ),
        }
    }

    pub fn job_lease(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.job_lease_secs.max(1))
    }

    /// The trusted proxies as ranges; entries that are neither an address nor a range are an
    /// error at start.
    pub fn trusted_proxies(&self) -> Result<Vec<ipnet::IpNet>, String> {
        self.trusted_proxies
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|item| {
                item.parse::<ipnet::IpNet>()
                    .or_else(|_| item.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| {
                        format!("TESSERA_TRUSTED_PROXIES: {item:?} is not an address or range")
                    })
            })
            .collect()
    }

    /// Where links in mail point: `TESSERA_PUBLIC_URL`, else this server's own address. Never
    /// a request's Host header, which whoever asks for a reset mail could set to their site.
    pub fn mail_base_url(&self) -> String {
        match &self.public_url {
            Some(url) if !url.trim().is_empty() => url.trim().trim_end_matches('/').to_string(),
            _ => format!("http://{}", self.addr),
        }
    }

    pub fn uploads_dir(&self) -> PathBuf {
        self.data_dir.join("uploads")
    }
}

/// Hides the password part of a URL so that configuration can be logged.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme + 3],
                    &creds[..colon],
                    &url[at..]
                ),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// A secret (the token-signing key, the metrics token): `Debug` shows `***`, so logging the
/// configuration never logs it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Self(s)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// The URL of a server (database, Redis), which may carry a password: `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct ServerUrl(String);

impl ServerUrl {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for ServerUrl {
    fn from(s: String) -> Self {
        Self(s)
    }
}

impl From<&str> for ServerUrl {
    fn from(s: &str) -> Self {
        Self(s.to_string())
    }
}

impl fmt::Debug for ServerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&redact_url(&self.0), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_show_in_debug() {
        let config = Config::from_args([
            "--database-url",
            "postgres://u:dbpass@h/db",
            "--database-replica-url",
            "postgres://u:replicapass@h2/db",
            "--redis-url",
            "redis://:redispass@h:6379",
            "--secret",
            "signing-secret",
            "--metrics-token",
            "metrics-secret",
            "--smtp-url",
            "smtp://mailer:smtppass@mail.x.org?tls=starttls",
        ])
        .expect("config");
        let shown = format!("{config:?}");
        for secret in [
            "dbpass",
            "replicapass",
            "redispass",
            "signing-secret",
            "metrics-secret",
            "smtppass",
        ] {
            assert!(!shown.contains(secret), "{secret} shown in {shown}");
        }
        assert!(shown.contains("postgres://u:***@h/db"), "{shown}");
        assert!(
            shown.contains("max_holds"),
            "every other field is shown: {shown}"
        );
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(redact_url("redis://h:6379"), "redis://h:6379");
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
    }
}
