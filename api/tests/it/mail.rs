//! Mail, received by a real SMTP server (aiosmtpd, `e2e/smtp_sink.py`, in the venv `just test`
//! makes): password reset end to end, address confirmation, a server that was down, STARTTLS
//! with a login, the outbox without SMTP, and the limits on asking for mail.

use std::{
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

use sea_orm::EntityTrait;
use serde_json::{Value, json};

use crate::common::TestApp;

/// The sink's Python (`e2e/.venv-mail`); `None` outside CI when it was not made (a loud skip).
fn sink_python() -> Option<PathBuf> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../e2e/.venv-mail/bin/python");
    if path.exists() {
        return Some(path);
    }
    assert!(
        std::env::var("CI").is_err(),
        "CI: {} is missing (just mail-sink makes it)",
        path.display()
    );
    eprintln!(
        "\n!!! no {}: SMTP tests SKIPPED (run `just mail-sink`) !!!\n",
        path.display()
    );
    None
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A running SMTP server that keeps every mail it accepts.
struct Sink {
    child: Child,
    dir: PathBuf,
}

impl Sink {
    fn start(python: &PathBuf, port: u16, extra: &[&str]) -> Sink {
        let dir =
            std::env::temp_dir().join(format!("tessera-mail-{}", uuid::Uuid::new_v4().simple()));
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../e2e/smtp_sink.py");
        let mut child = Command::new(python)
            .arg(script)
            .args([
                "--port",
                &port.to_string(),
                "--dir",
                dir.to_str().expect("utf-8"),
            ])
            .args(extra)
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the SMTP sink");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("sink output");
        assert_eq!(line.trim(), "ready", "the SMTP sink did not start");
        Sink { child, dir }
    }

    /// Every mail received so far, decoded, oldest first.
    fn mails(&self) -> Vec<Value> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        names.retain(|p| p.extension().is_some_and(|e| e == "json"));
        names.sort();
        names
            .iter()
            .map(|p| {
                serde_json::from_str(&std::fs::read_to_string(p).expect("read")).expect("json")
            })
            .collect()
    }

    /// Waits until `n` mails have arrived (at most 30 s), and returns them.
    async fn wait_for(&self, n: usize) -> Vec<Value> {
        for _ in 0..300 {
            let mails = self.mails();
            if mails.len() >= n {
                return mails;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{n} mails did not arrive; got {:?}", self.mails());
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The link to `path` in a mail's text part.
fn link(mail: &Value, path: &str) -> String {
    let text = mail["text"].as_str().expect("text part");
    let start = text
        .find(&format!("http://tessera.test{path}?token="))
        .unwrap_or_else(|| panic!("no {path} link in {text}"));
    let rest = &text[start..];
    let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
    let url = &rest[..end];
    let html = mail["html"].as_str().expect("html part");
    let unescaped = html.replace("&#x2f;", "/").replace("&amp;", "&");
    assert!(
        unescaped.contains(&format!("href=\"{url}\"")),
        "the HTML part has the same link: {html}"
    );
    url.to_string()
}

fn token_of(url: &str) -> String {
    url.split_once("?token=").expect("token").1.to_string()
}

async fn app_with_smtp(postgres: bool, smtp: Option<String>) -> Option<TestApp> {
    TestApp::configured(postgres, &|c| {
        c.smtp_url = smtp.clone().map(Into::into);
        c.mail_from = "Tessera <noreply@tessera.test>".into();
        c.public_url = Some("http://tessera.test".into());
        c.job_poll_ms = 50;
        c.job_backoff_ms = 200;
    })
    .await
}

async fn bearer(app: &TestApp, login: &str, password: &str) -> reqwest::StatusCode {
    let r = app
        .post(
            "/api/auth/login",
            None,
            json!({"name": login, "password": password}),
        )
        .await;
    r.status
}

async fn me_with_bearer(app: &TestApp, token: &str) -> reqwest::StatusCode {
    app.client
        .get(format!("{}/api/auth/me", app.base))
        .bearer_auth(token)
        .send()
        .await
        .expect("request")
        .status()
}

async fn reset_end_to_end(postgres: bool) {
    let Some(python) = sink_python() else { return };
    let port = free_port();
    let sink = Sink::start(&python, port, &[]);
    let Some(app) = app_with_smtp(postgres, Some(format!("smtp://127.0.0.1:{port}"))).await else {
        return;
    };
    let ada = app.register("ada").await;
    // The sign-up's confirmation mail.
    let mails = sink.wait_for(1).await;
    assert_eq!(mails[0]["rcpt_to"], json!(["ada@example.org"]));
    let old = app
        .post(
            "/api/auth/login",
            None,
            json!({"name": "ada", "password": "correct horse"}),
        )
        .await
        .ok()["access_token"]
        .as_str()
        .expect("token")
        .to_string();

    // The same answer whether or not the account exists, by name or by address.
    let asked = app
        .post(
            "/api/auth/password/forgot",
            None,
            json!({"email_addr": "ADA@example.org"}),
        )
        .await;
    let nobody = app
        .post(
            "/api/auth/password/forgot",
            None,
            json!({"email_addr": "nobody@example.org"}),
        )
        .await;
    assert_eq!((asked.status, &asked.json), (nobody.status, &nobody.json));
    assert_eq!(asked.status, 200, "{}", asked.text);
    let mails = sink.wait_for(2).await;
    let first = link(&mails[1], "/account/reset");
    assert_eq!(mails[1]["rcpt_to"], json!(["ada@example.org"]));
    assert!(
        mails[1]["headers"]["subject"]
            .as_str()
            .expect("subject")
            .contains("Reset")
    );
    app.post("/api/auth/password/forgot", None, json!({"name": "ada"}))
        .await
        .ok();
    let mails = sink.wait_for(3).await;
    let second = link(&mails[2], "/account/reset");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        sink.mails().len(),
        3,
        "no mail for an account that does not exist"
    );

    // A refused password leaves the link as it was.
    let weak = app
        .post(
            "/api/auth/password/reset",
            None,
            json!({"token": token_of(&second), "password": "short"}),
        )
        .await;
    assert!(weak.status.is_client_error(), "{}", weak.text);
    let done = app
        .post(
            "/api/auth/password/reset",
            None,
            json!({"token": token_of(&second), "password": "a brand new secret"}),
        )
        .await;
    let fresh = done.ok()["access_token"]
        .as_str()
        .expect("token")
        .to_string();
    assert_eq!(me_with_bearer(&app, &fresh).await, 200);
    assert_eq!(
        me_with_bearer(&app, &old).await,
        401,
        "tokens from before the reset end"
    );
    assert_eq!(
        app.get("/api/auth/me", Some(&ada)).await.status,
        401,
        "so does the api key"
    );
    assert_eq!(bearer(&app, "ada", "correct horse").await, 401);
    assert_eq!(bearer(&app, "ada", "a brand new secret").await, 200);

    // Single use: the link used, and the one mailed before it, are void now.
    for used in [&second, &first] {
        let again = app
            .post(
                "/api/auth/password/reset",
                None,
                json!({"token": token_of(used), "password": "yet another secret"}),
            )
            .await;
        again.err(400, "BadRequest");
    }
    // An hour at most: a link whose time is up is refused.
    let expired = app
        .state
        .infra
        .tokens
        .issue_link(
            tessera_api::ids::UserId(i32::try_from(ada.id).expect("id")),
            tessera_api::auth::token::LinkPurpose::ResetPassword,
            0,
            "whatever",
        )
        .expect("token");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    app.post(
        "/api/auth/password/reset",
        None,
        json!({"token": expired, "password": "yet another secret"}),
    )
    .await
    .err(400, "BadRequest");
    // A confirmation link is no reset link.
    let confirm = token_of(&link(&mails[0], "/account/confirm"));
    app.post(
        "/api/auth/password/reset",
        None,
        json!({"token": confirm, "password": "yet another secret"}),
    )
    .await
    .err(400, "BadRequest");

    // Sent mail keeps no body (the links in it) in the database.
    let stored = tessera_api::store::entities::mail::Entity::find()
        .all(&app.state.infra.db)
        .await
        .expect("mails");
    assert_eq!(stored.len(), 3);
    for m in &stored {
        assert_eq!(m.status, "sent");
        assert!(m.text_body.is_none() && m.html_body.is_none(), "{m:?}");
    }
}

#[tokio::test]
async fn password_reset_end_to_end_sqlite() {
    reset_end_to_end(false).await;
}

#[tokio::test]
async fn password_reset_end_to_end_postgres() {
    reset_end_to_end(true).await;
}

#[tokio::test]
async fn a_new_address_is_confirmed_by_its_link() {
    let Some(python) = sink_python() else { return };
    let port = free_port();
    let sink = Sink::start(&python, port, &[]);
    let Some(app) = app_with_smtp(false, Some(format!("smtp://127.0.0.1:{port}"))).await else {
        return;
    };
    let ada = app.register("ada").await;
    assert_eq!(
        app.get("/api/auth/me", Some(&ada)).await.ok()["valid_email"],
        false
    );
    let mails = sink.wait_for(1).await;
    let token = token_of(&link(&mails[0], "/account/confirm"));
    assert!(
        mails[0]["text"]
            .as_str()
            .expect("text")
            .contains("ada@example.org")
    );
    let confirmed = app
        .post("/api/auth/email/confirm", None, json!({"token": token}))
        .await;
    assert_eq!(confirmed.ok()["valid_email"], true);
    assert_eq!(
        app.get("/api/auth/me", Some(&ada)).await.ok()["valid_email"],
        true
    );
    app.post("/api/auth/email/confirm", None, json!({"token": token}))
        .await
        .err(400, "BadRequest");
    // Asking again once confirmed sends nothing.
    app.post("/api/auth/email/resend", Some(&ada), json!({}))
        .await
        .err(409, "Conflict");
    // A second account asks for its link again: a new mail, and either link works.
    let bob = app.register("bob").await;
    sink.wait_for(2).await;
    app.post("/api/auth/email/resend", Some(&bob), json!({}))
        .await
        .ok();
    let mails = sink.wait_for(3).await;
    let again = token_of(&link(&mails[2], "/account/confirm"));
    app.post("/api/auth/email/confirm", None, json!({"token": again}))
        .await
        .ok();
    assert_eq!(
        app.get("/api/auth/me", Some(&bob)).await.ok()["valid_email"],
        true
    );
}

#[tokio::test]
async fn mail_waits_for_an_smtp_server_that_was_down() {
    let Some(python) = sink_python() else { return };
    let port = free_port();
    let Some(app) = app_with_smtp(true, Some(format!("smtp://127.0.0.1:{port}"))).await else {
        return;
    };
    app.register("ada").await;
    let mail = tessera_api::store::entities::mail::Entity::find();
    // Nobody listens: attempts fail and the mail waits.
    let mut tried = false;
    for _ in 0..100 {
        let rows = mail.clone().all(&app.state.infra.db).await.expect("mails");
        if rows
            .first()
            .is_some_and(|m| m.attempts >= 2 && m.last_error.is_some())
        {
            assert_eq!(rows[0].status, "queued");
            tried = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(tried, "the mail was attempted and kept");
    let sink = Sink::start(&python, port, &[]);
    let mails = sink.wait_for(1).await;
    assert_eq!(mails[0]["rcpt_to"], json!(["ada@example.org"]));
    assert_eq!(mails.len(), 1);
}

#[tokio::test]
async fn starttls_and_a_login_are_used_and_a_wrong_password_fails_the_mail() {
    let Some(python) = sink_python() else { return };
    let dir = std::env::temp_dir().join(format!("tessera-tls-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("dir");
    // A private CA, and the server's certificate from it (a self-signed certificate marked as
    // a CA is refused as a server's own).
    let (ca, ca_key) = (dir.join("ca.pem"), dir.join("ca-key.pem"));
    let (cert, key, csr) = (
        dir.join("cert.pem"),
        dir.join("key.pem"),
        dir.join("cert.csr"),
    );
    let ext = dir.join("ext.cnf");
    std::fs::write(
        &ext,
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .expect("ext");
    let p = |path: &PathBuf| path.to_str().expect("utf-8").to_string();
    for args in [
        vec![
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=Test CA",
            "-keyout",
            &p(&ca_key),
            "-out",
            &p(&ca),
        ],
        vec![
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            &p(&key),
            "-out",
            &p(&csr),
        ],
        vec![
            "x509",
            "-req",
            "-in",
            &p(&csr),
            "-CA",
            &p(&ca),
            "-CAkey",
            &p(&ca_key),
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            &p(&ext),
            "-out",
            &p(&cert),
        ],
    ] {
        let made = Command::new("openssl")
            .args(&args)
            .output()
            .expect("openssl");
        assert!(
            made.status.success(),
            "{}",
            String::from_utf8_lossy(&made.stderr)
        );
    }
    let port = free_port();
    let sink = Sink::start(
        &python,
        port,
        &[
            "--cert",
            cert.to_str().expect("utf-8"),
            "--key",
            key.to_str().expect("utf-8"),
            "--user",
            "mailer",
            "--password",
            "p@ss:word",
        ],
    );
    for (password, delivered) in [("wrong", false), ("p%40ss%3Aword", true)] {
        let url = format!("smtp://mailer:{password}@127.0.0.1:{port}?tls=starttls");
        let ca = ca.clone();
        let Some(app) = TestApp::configured(false, &|c| {
            c.smtp_url = Some(url.clone().into());
            c.smtp_ca_file = Some(ca.clone());
            c.public_url = Some("http://tessera.test".into());
            c.job_poll_ms = 50;
            c.job_backoff_ms = 200;
        })
        .await
        else {
            return;
        };
        app.register("ada").await;
        let mut status = String::new();
        let mut error = None;
        for _ in 0..100 {
            let rows = tessera_api::store::entities::mail::Entity::find()
                .all(&app.state.infra.db)
                .await
                .expect("mails");
            status = rows[0].status.clone();
            error = rows[0].last_error.clone();
            if status != "queued" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(
            status,
            if delivered { "sent" } else { "failed" },
            "password {password}: {error:?}"
        );
    }
    assert_eq!(sink.mails().len(), 1, "only the right login delivered");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn without_smtp_mail_stays_in_the_outbox_admins_read() {
    let Some(app) = app_with_smtp(false, None).await else {
        return;
    };
    let admin = app.register("root").await;
    let ada = app.register("ada").await;
    app.post("/api/auth/password/forgot", None, json!({"name": "ada"}))
        .await
        .ok();
    let mut outbox = Value::Null;
    for _ in 0..100 {
        outbox = app
            .get("/api/admin/mail?status=outbox", Some(&admin))
            .await
            .ok()
            .clone();
        if outbox["total"] == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(outbox["total"], 3, "{outbox}");
    let reset = &outbox["items"][0];
    assert_eq!(reset["kind"], "password.reset");
    assert_eq!(reset["to_addr"], "ada@example.org");
    assert!(
        reset["text_body"]
            .as_str()
            .expect("body")
            .contains("/account/reset?token=")
    );
    // Only admins read it.
    app.get("/api/admin/mail", Some(&ada))
        .await
        .err(403, "Forbidden");
    app.get("/api/admin/mail", None)
        .await
        .err(401, "Unauthorized");
    app.get("/api/admin/mail?status=lost", Some(&admin))
        .await
        .err(400, "BadRequest");
    // An outbox mail can be queued again (once SMTP is there); a queued one cannot.
    let id = reset["id"].as_i64().expect("id");
    let again = app
        .post(
            &format!("/api/admin/mail/{id}/resend"),
            Some(&admin),
            json!({}),
        )
        .await;
    assert_eq!(again.ok()["status"], "queued");
    app.post(
        &format!("/api/admin/mail/{id}/resend"),
        Some(&ada),
        json!({}),
    )
    .await
    .err(403, "Forbidden");
    app.post("/api/admin/mail/999999/resend", Some(&admin), json!({}))
        .await
        .err(404, "NotFound");
}

#[tokio::test]
async fn asking_for_reset_mail_is_limited_per_login_and_per_client() {
    let Some(app) = app_with_smtp(false, None).await else {
        return;
    };
    app.register("ada").await;
    // Three per login and hour, whether or not the account exists.
    for login in ["ada", "nobody"] {
        for _ in 0..3 {
            app.post("/api/auth/password/forgot", None, json!({"name": login}))
                .await
                .ok();
        }
        app.post("/api/auth/password/forgot", None, json!({"name": login}))
            .await
            .err(429, "TooManyRequests");
    }
    // Twenty per client address in all.
    let mut refused = 0;
    for i in 0..20 {
        let r = app
            .post(
                "/api/auth/password/forgot",
                None,
                json!({"email_addr": format!("n{i}@example.org")}),
            )
            .await;
        if r.status == 429 {
            refused += 1;
        }
    }
    assert_eq!(refused, 8, "8 asked above, 12 more allowed, then refused");
    // Bad input is refused plainly.
    app.post("/api/auth/password/forgot", None, json!({}))
        .await
        .err(400, "BadRequest");
    app.post(
        "/api/auth/password/reset",
        None,
        json!({"token": "nonsense", "password": "long enough pw"}),
    )
    .await
    .err(400, "BadRequest");
}
