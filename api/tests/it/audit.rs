//! The rest of the audit, attacked from outside: drafts, uploads, webhooks, secrets and
//! tokens, integrity rules, resource limits and deployment hardening.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tessera_api::config::Config;

use crate::{
    common::{Resp, TestApp, User},
    on_every_store,
};

async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let start = std::time::Instant::now();
    while !check().await {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn id(r: &Resp) -> i64 {
    r.ok()["id"].as_i64().expect("id")
}

/// A caller is refused as from an item GET: 401 anonymous, 403 signed in.
#[track_caller]
fn refused(r: &Resp, who: Option<&User>) {
    match who {
        None => r.err(401, "Unauthorized"),
        Some(_) => r.err(403, "Forbidden"),
    };
}

async fn newtask(app: &TestApp, project: i64, who: Option<&User>) -> Resp {
    app.get(&format!("/api/project/{project}/newtask"), who)
        .await
}

async fn answer(app: &TestApp, project: i64, task: i64, who: Option<&User>) -> Resp {
    app.post(
        "/api/taskrun",
        who,
        json!({"project_id": project, "task_id": task, "info": {"a": 1}}),
    )
    .await
}

// ---------------------------------------------------------------------------------------------
// 2. Drafts

async fn drafts_stay_private(app: TestApp) {
    let (admin, owner, _) = app.seeded().await;
    let ordinary = app.register("ordinary").await;
    let co_owner = app.register("coowner").await;
    let draft = app.draft(&owner, "draft").await;
    app.put(
        &format!("/api/project/{draft}"),
        Some(&owner),
        json!({"owners_ids": [owner.id, co_owner.id]}),
    )
    .await
    .ok();
    let done = id(&app
        .post(
            "/api/task",
            Some(&owner),
            json!({"project_id": draft, "info": {"q": 1}, "n_answers": 1}),
        )
        .await);
    let open = id(&app
        .post(
            "/api/task",
            Some(&owner),
            json!({"project_id": draft, "info": {"q": 2}, "n_answers": 5}),
        )
        .await);
    // Its owners try it out before publishing.
    newtask(&app, draft, Some(&owner)).await.ok();
    let run = id(&answer(&app, draft, done, Some(&owner)).await);
    let result = app
        .get(&format!("/api/result?project_id={draft}"), Some(&owner))
        .await
        .ok()[0]["id"]
        .as_i64()
        .expect("result");
    let post = |published: bool| json!({"project_id": draft, "title": "T", "body": "B", "published": published});
    let blogpost = id(&app.post("/api/blogpost", Some(&owner), post(true)).await);
    let material = id(&app
        .post(
            "/api/helpingmaterial",
            Some(&owner),
            json!({"project_id": draft, "info": {}}),
        )
        .await);
    let page = id(&app
        .post(
            "/api/page",
            Some(&owner),
            json!({"project_id": draft, "slug": "about"}),
        )
        .await);
    let items = [
        ("task", open),
        ("taskrun", run),
        ("result", result),
        ("blogpost", blogpost),
        ("helpingmaterial", material),
        ("page", page),
    ];
    for who in [None, Some(&ordinary)] {
        for (path, item) in items {
            refused(&app.get(&format!("/api/{path}/{item}"), who).await, who);
            for query in [
                format!("project_id={draft}&all=1"),
                "all=1".to_string(),
                format!("id={item}&all=1&related=1"),
            ] {
                let r = app.get(&format!("/api/{path}?{query}"), who).await;
                assert_eq!(r.ok(), &json!([]), "{path}?{query}");
            }
        }
        refused(&newtask(&app, draft, who).await, who);
        // Nor does a draft tell strangers about itself, its anonymous policy included.
        app.put(
            &format!("/api/project/{draft}"),
            Some(&owner),
            json!({"allow_anonymous_contributors": false}),
        )
        .await
        .ok();
        refused(&newtask(&app, draft, who).await, who);
        refused(&answer(&app, draft, open, who).await, who);
        for key in [draft.to_string(), "draft".to_string()] {
            refused(
                &app.get(&format!("/api/project/{key}/userprogress"), who)
                    .await,
                who,
            );
        }
        refused(
            &app.get(&format!("/api/project/{draft}?stats=1"), who).await,
            who,
        );
        refused(
            &app.get(&format!("/api/projectstats/{draft}"), who).await,
            who,
        );
        refused(
            &app.get(&format!("/api/leaderboard?project_id={draft}"), who)
                .await,
            who,
        );
        let export = app
            .get(
                &format!("/api/project/{draft}/export?type=task&format=json"),
                who,
            )
            .await;
        assert!(export.status.is_client_error(), "{}", export.text);
    }
    // Owners, co-owners and admins see all of it.
    for who in [&owner, &co_owner, &admin] {
        for (path, item) in items {
            app.get(&format!("/api/{path}/{item}"), Some(who))
                .await
                .ok();
            let r = app
                .get(&format!("/api/{path}?project_id={draft}&all=1"), Some(who))
                .await;
            assert!(
                r.ok().as_array().is_some_and(|a| !a.is_empty()),
                "{path} for {}",
                who.id
            );
        }
        app.get(&format!("/api/project/{draft}/userprogress"), Some(who))
            .await
            .ok();
    }
    newtask(&app, draft, Some(&co_owner)).await.ok();

    // An unpublished blog post of a published project is for its owners and admins.
    let public = app.project(&owner, "public").await;
    let hidden = id(&app
        .post(
            "/api/blogpost",
            Some(&owner),
            json!({"project_id": public, "title": "Soon", "body": "…"}),
        )
        .await);
    let shown = id(&app
        .post(
            "/api/blogpost",
            Some(&owner),
            json!({"project_id": public, "title": "Out", "body": "…", "published": true}),
        )
        .await);
    for who in [None, Some(&ordinary)] {
        refused(&app.get(&format!("/api/blogpost/{hidden}"), who).await, who);
        let listed = app
            .get(&format!("/api/blogpost?project_id={public}&all=1"), who)
            .await;
        let ids: Vec<i64> = listed
            .ok()
            .as_array()
            .expect("posts")
            .iter()
            .filter_map(|p| p["id"].as_i64())
            .collect();
        assert_eq!(ids, vec![shown]);
        let asked = app
            .get(
                &format!("/api/blogpost?project_id={public}&published=false&all=1"),
                who,
            )
            .await;
        assert_eq!(asked.ok(), &json!([]));
    }
    app.get(&format!("/api/blogpost/{hidden}"), Some(&owner))
        .await
        .ok();
    app.get(&format!("/api/blogpost/{hidden}"), Some(&admin))
        .await
        .ok();

    // Unpublished announcements are for admins.
    let draft_news = id(&app
        .post(
            "/api/announcement",
            Some(&admin),
            json!({"title": "Soon", "body": "…", "published": false}),
        )
        .await);
    for who in [None, Some(&ordinary), Some(&owner)] {
        refused(
            &app.get(&format!("/api/announcement/{draft_news}"), who)
                .await,
            who,
        );
        let r = app.get("/api/announcement?published=false", who).await;
        assert_eq!(r.ok(), &json!([]));
    }
    app.get(&format!("/api/announcement/{draft_news}"), Some(&admin))
        .await
        .ok();
}

// ---------------------------------------------------------------------------------------------
// 3. Uploads

const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, 0x49, 0x48, 0x44, 0x52, 0, 0, 0,
    1, 0, 0, 0, 1, 8, 6, 0, 0, 0, 0x1f, 0x15, 0xc4, 0x89,
];

async fn upload(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    who: &User,
    fields: &[(&str, String)],
    file: (&'static [u8], &str),
) -> Resp {
    let mut form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(file.0).file_name(file.1.to_string()),
    );
    for (k, v) in fields {
        form = form.text(k.to_string(), v.clone());
    }
    let resp = app
        .client
        .request(
            method,
            format!("{}{path}?api_key={}", app.base, who.api_key),
        )
        .multipart(form)
        .send()
        .await
        .expect("upload");
    TestApp::read(resp).await
}

/// A new helping material of `project` with a file.
async fn material(app: &TestApp, who: &User, project: i64, file: (&'static [u8], &str)) -> Resp {
    upload(
        app,
        reqwest::Method::POST,
        "/api/helpingmaterial",
        who,
        &[("project_id", project.to_string())],
        file,
    )
    .await
}

async fn fetch(app: &TestApp, url: &str) -> reqwest::Response {
    let path = url
        .split_once("/uploads/")
        .map(|(_, p)| p)
        .expect("upload url");
    app.client
        .get(format!("{}/uploads/{path}", app.base))
        .send()
        .await
        .expect("fetch")
}

async fn uploads_delete_only_their_own_files(app: TestApp) {
    let (_admin, alice, _) = app.seeded().await;
    let bob = app.register("bob").await;
    let alices = app.project(&alice, "alices").await;
    let bobs = app.project(&bob, "bobs").await;
    let hers = material(&app, &alice, alices, (PNG, "a.png")).await;
    let her_url = hers.ok()["media_url"].as_str().expect("url").to_string();
    let her_info = hers.json["info"].clone();
    assert_eq!(fetch(&app, &her_url).await.status(), StatusCode::OK);
    let his = material(&app, &bob, bobs, (PNG, "b.png")).await;
    let his_id = id(&his);
    let his_url = his.json["media_url"].as_str().expect("url").to_string();
    // Bob points his row's info at Alice's file, then replaces his file and deletes his row.
    app.put(
        &format!("/api/helpingmaterial/{his_id}"),
        Some(&bob),
        json!({"info": her_info}),
    )
    .await
    .ok();
    let replaced = upload(
        &app,
        reqwest::Method::PUT,
        &format!("/api/helpingmaterial/{his_id}"),
        &bob,
        &[("info", her_info.to_string())],
        (PNG, "c.png"),
    )
    .await;
    let new_url = replaced.ok()["media_url"]
        .as_str()
        .expect("url")
        .to_string();
    assert_eq!(fetch(&app, &his_url).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(fetch(&app, &her_url).await.status(), StatusCode::OK);
    app.put(
        &format!("/api/helpingmaterial/{his_id}"),
        Some(&bob),
        json!({"info": her_info}),
    )
    .await
    .ok();
    assert_eq!(
        app.delete(&format!("/api/helpingmaterial/{his_id}"), Some(&bob))
            .await
            .status
            .as_u16(),
        204
    );
    assert_eq!(fetch(&app, &new_url).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        fetch(&app, &her_url).await.status(),
        StatusCode::OK,
        "another user's file was deleted"
    );
    // Deleting a project removes the files of what went with it, and only those.
    let answer_file = material(&app, &bob, bobs, (PNG, "d.png")).await;
    let bobs_url = answer_file.ok()["media_url"]
        .as_str()
        .expect("url")
        .to_string();
    app.delete(&format!("/api/project/{bobs}"), Some(&bob))
        .await;
    assert_eq!(fetch(&app, &bobs_url).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(fetch(&app, &her_url).await.status(), StatusCode::OK);

    // An answer's file goes with the answer.
    let task = id(&app
        .post(
            "/api/task",
            Some(&alice),
            json!({"project_id": alices, "info": {}, "n_answers": 5}),
        )
        .await);
    newtask(&app, alices, Some(&bob)).await.ok();
    let run = upload(
        &app,
        reqwest::Method::POST,
        "/api/taskrun",
        &bob,
        &[
            ("project_id", alices.to_string()),
            ("task_id", task.to_string()),
            ("info", json!({"drawn": true}).to_string()),
        ],
        (PNG, "answer.png"),
    )
    .await;
    let run_url = run.ok()["media_url"].as_str().expect("url").to_string();
    assert_eq!(fetch(&app, &run_url).await.status(), StatusCode::OK);
    assert_eq!(
        app.delete(&format!("/api/taskrun/{}", id(&run)), Some(&bob))
            .await
            .status
            .as_u16(),
        204
    );
    assert_eq!(fetch(&app, &run_url).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(fetch(&app, &her_url).await.status(), StatusCode::OK);

    // Only images are shown inline; anything else is a download, never a script or style.
    let image = fetch(&app, &her_url).await;
    assert!(image.headers().get("content-disposition").is_none());
    for (bytes, name, ty) in [
        (
            &b"alert(document.cookie)"[..],
            "x.js",
            "application/octet-stream",
        ),
        (
            &b"body{background:red}"[..],
            "x.css",
            "application/octet-stream",
        ),
        (&b"just text"[..], "x.txt", "text/plain; charset=utf-8"),
    ] {
        let r = material(&app, &alice, alices, (bytes, name)).await;
        let served = fetch(&app, r.ok()["media_url"].as_str().expect("url")).await;
        let header = |h: &str| {
            served
                .headers()
                .get(h)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string()
        };
        assert_eq!(header("content-type"), ty, "{name}");
        assert!(
            header("content-disposition").starts_with("attachment"),
            "{name}"
        );
        assert_eq!(header("x-content-type-options"), "nosniff");
    }
}

// ---------------------------------------------------------------------------------------------
// 5. Secrets, tokens, Redis keys

fn no_secret(c: &mut Config) {
    c.secret = None;
}

async fn bearer(app: &TestApp, token: &str, path: &str) -> Resp {
    let r = app
        .client
        .get(format!("{}{path}", app.base))
        .bearer_auth(token)
        .send()
        .await
        .expect("request");
    TestApp::read(r).await
}

async fn post_bearer(app: &TestApp, token: &str, path: &str, body: Value) -> Resp {
    let r = app
        .client
        .post(format!("{}{path}", app.base))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("request");
    TestApp::read(r).await
}

async fn login(app: &TestApp, name: &str, password: &str) -> Resp {
    app.post(
        "/api/auth/login",
        None,
        json!({"name": name, "password": password}),
    )
    .await
}

async fn token(app: &TestApp, name: &str, password: &str) -> String {
    login(app, name, password).await.ok()["access_token"]
        .as_str()
        .expect("token")
        .to_string()
}

async fn secrets_survive_and_are_shared(app: TestApp) {
    let postgres = app.state.infra.backend() == sea_orm::DbBackend::Postgres;
    let first = TestApp::configured(postgres, &no_secret)
        .await
        .expect("app");
    drop(app);
    let ada = first.register("ada").await;
    let t = token(&first, "ada", "correct horse").await;
    bearer(&first, &t, "/api/auth/me").await.ok();
    // Another instance on the same database, and one started later: the same token works.
    let second = first.another_instance(&no_secret).await;
    assert_eq!(bearer(&second, &t, "/api/auth/me").await.ok()["id"], ada.id);
    // The anonymous volunteer's address is hashed with the database's own key: the same on
    // every instance, different on another database, never the address itself.
    let project = first.project(&ada, "p").await;
    let tasks: Vec<i64> = futures_tasks(&first, &ada, project, 2).await;
    newtask(&first, project, None).await.ok();
    let one = id(&answer(&first, project, tasks[0], None).await);
    newtask(&second, project, None).await.ok();
    let two = id(&answer(&second, project, tasks[1], None).await);
    let (ip1, ip2) = (
        user_ip(&first, &ada, one).await,
        user_ip(&second, &ada, two).await,
    );
    assert!(ip1.is_string(), "{ip1}");
    assert_eq!(ip1, ip2, "instances hash the address alike");
    assert_ne!(ip1, "127.0.0.1");
    assert!(
        ip1.as_str()
            .is_some_and(|s| s.parse::<std::net::Ipv6Addr>().is_ok())
    );
    let other = TestApp::configured(postgres, &no_secret)
        .await
        .expect("app");
    let bo = other.register("bo").await;
    let p2 = other.project(&bo, "p").await;
    let t2 = futures_tasks(&other, &bo, p2, 1).await;
    newtask(&other, p2, None).await.ok();
    let run = id(&answer(&other, p2, t2[0], None).await);
    assert_ne!(
        user_ip(&other, &bo, run).await,
        ip1,
        "another database, another key"
    );
    // Ada's token means nothing to the other database's instance.
    bearer(&other, &t, "/api/auth/me")
        .await
        .err(401, "Unauthorized");
    // Public exports leave out what only owners see.
    first
        .put(
            &format!("/api/project/{project}"),
            Some(&ada),
            json!({"zip_download": true}),
        )
        .await
        .ok();
    let export = first
        .client
        .get(format!(
            "{}/api/project/{project}/export?type=task_run&format=csv",
            first.base
        ))
        .send()
        .await
        .expect("export")
        .text()
        .await
        .expect("csv");
    let header = export.lines().next().unwrap_or_default().to_string();
    assert!(header.contains("task_id"), "{header}");
    assert!(!header.contains("user_ip"), "{header}");
    assert!(!export.contains(ip1.as_str().unwrap_or("-")), "{export}");
}

/// An answer's anonymised address, as its project's owner reads it.
async fn user_ip(app: &TestApp, owner: &User, run: i64) -> Value {
    app.get(&format!("/api/taskrun/{run}"), Some(owner))
        .await
        .json["user_ip"]
        .clone()
}

async fn futures_tasks(app: &TestApp, owner: &User, project: i64, n: usize) -> Vec<i64> {
    let mut out = vec![];
    for i in 0..n {
        out.push(id(&app
            .post(
                "/api/task",
                Some(owner),
                json!({"project_id": project, "info": {"i": i}, "n_answers": 3}),
            )
            .await));
    }
    out
}

async fn sign_out_password_or_key_change_ends_every_token(app: TestApp) {
    let ada = app.register("ada").await;
    // Sign-out ends every token of the account.
    let t1 = token(&app, "ada", "correct horse").await;
    let t1b = token(&app, "ada", "correct horse").await;
    let r = post_bearer(&app, &t1, "/api/auth/logout", json!({})).await;
    assert_eq!(r.status.as_u16(), 204, "{}", r.text);
    for t in [&t1, &t1b] {
        bearer(&app, t, "/api/auth/me")
            .await
            .err(401, "Unauthorized");
    }
    // A password change too; its answer carries a fresh token.
    let t2 = token(&app, "ada", "correct horse").await;
    post_bearer(
        &app,
        &t2,
        "/api/auth/password",
        json!({"current_password": "wrong one!", "new_password": "a new long secret"}),
    )
    .await
    .err(403, "Forbidden");
    post_bearer(
        &app,
        &t2,
        "/api/auth/password",
        json!({"current_password": "correct horse", "new_password": "password123"}),
    )
    .await
    .err(415, "ValueError");
    let changed = post_bearer(
        &app,
        &t2,
        "/api/auth/password",
        json!({"current_password": "correct horse", "new_password": "a new long secret"}),
    )
    .await;
    let t3 = changed.ok()["access_token"]
        .as_str()
        .expect("token")
        .to_string();
    bearer(&app, &t2, "/api/auth/me")
        .await
        .err(401, "Unauthorized");
    // The api key was in reach of whoever had a session: it is new too.
    app.get("/api/auth/me", Some(&ada))
        .await
        .err(401, "Unauthorized");
    let me = bearer(&app, &t3, "/api/auth/me").await;
    assert_ne!(me.ok()["api_key"], ada.api_key.as_str());
    login(&app, "ada", "correct horse")
        .await
        .err(401, "Unauthorized");
    // A new api key: the old key and every token stop working.
    let t4 = token(&app, "ada", "a new long secret").await;
    let fresh = post_bearer(&app, &t4, "/api/auth/api-key", json!({})).await;
    let new_key = fresh.ok()["api_key"].as_str().expect("key").to_string();
    bearer(&app, &t4, "/api/auth/me")
        .await
        .err(401, "Unauthorized");
    bearer(&app, &t3, "/api/auth/me")
        .await
        .err(401, "Unauthorized");
    app.get("/api/auth/me", Some(&ada))
        .await
        .err(401, "Unauthorized");
    let renewed = User {
        id: ada.id,
        api_key: new_key,
    };
    app.get("/api/auth/me", Some(&renewed)).await.ok();
}

/// Waits until `instance` refuses both the account's api key and `token`.
async fn refused_soon(instance: &TestApp, who: &User, token: &str, what: &str) {
    eventually(what, async || {
        instance.get("/api/auth/me", Some(who)).await.status == StatusCode::UNAUTHORIZED
            && bearer(instance, token, "/api/auth/me").await.status == StatusCode::UNAUTHORIZED
    })
    .await;
}

/// Signed-in callers' accounts are kept in process for a second: a change (disabled, a new key,
/// revoked tokens) holds at once where it was made, and within a second on another instance.
async fn account_changes_reach_every_instance(app: TestApp) {
    let admin = app.register("admin").await;
    let ada = app.register("ada").await;
    let other = app.another_instance(&|_| {}).await;
    let t = token(&app, "ada", "correct horse").await;
    // Both instances have Ada's account in hand.
    for instance in [&app, &other] {
        instance.get("/api/auth/me", Some(&ada)).await.ok();
        bearer(instance, &t, "/api/auth/me").await.ok();
    }
    app.put(
        &format!("/api/user/{}", ada.id),
        Some(&admin),
        json!({"enabled": false}),
    )
    .await
    .ok();
    app.get("/api/auth/me", Some(&ada))
        .await
        .err(401, "Unauthorized");
    bearer(&app, &t, "/api/auth/me")
        .await
        .err(401, "Unauthorized");
    refused_soon(
        &other,
        &ada,
        &t,
        "the other instance to see the account disabled",
    )
    .await;
    // Enabled again, then a new api key: the old one stops at once here, within a second there.
    app.put(
        &format!("/api/user/{}", ada.id),
        Some(&admin),
        json!({"enabled": true}),
    )
    .await
    .ok();
    let t2 = token(&app, "ada", "correct horse").await;
    bearer(&other, &t2, "/api/auth/me").await;
    let fresh = post_bearer(&app, &t2, "/api/auth/api-key", json!({})).await;
    fresh.ok();
    app.get("/api/auth/me", Some(&ada))
        .await
        .err(401, "Unauthorized");
    refused_soon(
        &other,
        &ada,
        &t2,
        "the other instance to refuse the old key and token",
    )
    .await;
}

async fn only_owners_rotate_the_secret_and_old_tokens_stop_working(app: TestApp) {
    let (_, owner, _) = app.seeded().await;
    let other = app.register("other").await;
    let project = app.project(&owner, "ext").await;
    futures_tasks(&app, &owner, project, 2).await;
    let secret_of = async || {
        app.get(&format!("/api/project/{project}"), Some(&owner))
            .await
            .json["secret_key"]
            .as_str()
            .expect("secret")
            .to_string()
    };
    let project_token = async |secret: &str| {
        app.client
            .get(format!("{}/api/auth/project/ext/token", app.base))
            .header("authorization", secret)
            .send()
            .await
            .expect("token")
            .text()
            .await
            .expect("token")
    };
    let old_secret = secret_of().await;
    let old = project_token(&old_secret).await;
    let external = async |token: &str| {
        let r = app
            .client
            .get(format!(
                "{}/api/project/{project}/newtask?external_uid=u1",
                app.base
            ))
            .bearer_auth(token)
            .send()
            .await
            .expect("newtask");
        TestApp::read(r).await
    };
    external(&old).await.ok();
    app.post(
        &format!("/api/project/{project}/secret"),
        Some(&other),
        json!({}),
    )
    .await
    .err(403, "Forbidden");
    app.post(&format!("/api/project/{project}/secret"), None, json!({}))
        .await
        .err(401, "Unauthorized");
    let rotated = app
        .post(
            &format!("/api/project/{project}/secret"),
            Some(&owner),
            json!({}),
        )
        .await;
    let new_secret = rotated.ok()["secret_key"]
        .as_str()
        .expect("secret")
        .to_string();
    assert_ne!(new_secret, old_secret);
    assert!(
        external(&old).await.status.is_client_error(),
        "the old token still works"
    );
    let new = project_token(&new_secret).await;
    external(&new).await.ok();
    let r = app
        .client
        .get(format!("{}/api/auth/project/ext/token", app.base))
        .header("authorization", &old_secret)
        .send()
        .await
        .expect("token");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

/// Two databases sharing one Redis under the default prefix never see each other's holds:
/// task ids start at 1 in both.
async fn redis_keys_belong_to_their_database() {
    use sea_orm::EntityTrait;
    if !crate::common::redis_available() {
        return;
    }
    let default_prefix = |c: &mut Config| {
        c.redis_url = Some(crate::common::redis_url().into());
        c.redis_key_prefix = None;
    };
    let (Some(a), Some(b)) = (
        TestApp::configured(true, &default_prefix).await,
        TestApp::configured(true, &default_prefix).await,
    ) else {
        return;
    };
    let mut prefixes = vec![];
    for (i, app) in [&a, &b].into_iter().enumerate() {
        let owner = app.register("owner").await;
        // Different volunteers in each database (with the same one, a shared hold would be
        // their own).
        for n in 0..i {
            app.register(&format!("extra{n}")).await;
        }
        let volunteer = app.register("vol").await;
        let project = app.project(&owner, "p").await;
        let task = id(&app
            .post(
                "/api/task",
                Some(&owner),
                json!({"project_id": project, "info": {}, "n_answers": 1}),
            )
            .await);
        assert_eq!(task, 1);
        // The only task, held by this database's volunteer: the other database's volunteer
        // must still get its own task 1.
        let got = newtask(app, project, Some(&volunteer)).await;
        assert_eq!(
            got.ok()["id"],
            1,
            "a hold of the other database hid the task"
        );
        let id = tessera_api::store::entities::site_setting::Entity::find_by_id(
            tessera_api::store::settings::DATABASE_ID,
        )
        .one(&app.state.infra.db)
        .await
        .expect("db")
        .expect("database id")
        .value;
        prefixes.push(format!("tessera:{id}:"));
    }
    assert_ne!(prefixes[0], prefixes[1]);
    for prefix in prefixes {
        let keys = std::process::Command::new("redis-cli")
            .args(["-u", &crate::common::redis_url(), "--scan", "--pattern"])
            .arg(format!("{prefix}*"))
            .output()
            .expect("redis-cli");
        let keys: Vec<String> = String::from_utf8_lossy(&keys.stdout)
            .lines()
            .map(str::to_string)
            .collect();
        assert!(!keys.is_empty(), "no keys under {prefix}");
        for chunk in keys.chunks(500) {
            let _ = std::process::Command::new("redis-cli")
                .args(["-u", &crate::common::redis_url(), "del"])
                .args(chunk)
                .output();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_keys_are_prefixed_by_database() {
    redis_keys_belong_to_their_database().await;
}

// ---------------------------------------------------------------------------------------------
// 6. Integrity

async fn owners_change_only_by_transfer(app: TestApp) {
    let (admin, owner, _) = app.seeded().await;
    let co = app.register("co").await;
    let next = app.register("next").await;
    let project = app.project(&owner, "owned").await;
    let path = format!("/api/project/{project}");
    app.put(
        &path,
        Some(&owner),
        json!({"owners_ids": [owner.id, co.id]}),
    )
    .await
    .ok();
    // A co-owner can edit, but not change who owns it, nor drop the primary owner.
    app.put(&path, Some(&co), json!({"description": "by co"}))
        .await
        .ok();
    for owners in [
        json!([owner.id, co.id, next.id]),
        json!([]),
        json!([owner.id]),
    ] {
        app.put(&path, Some(&co), json!({ "owners_ids": owners }))
            .await
            .err(403, "Forbidden");
    }
    // Sending the owners as they are (clients echo objects back) is no change; the primary
    // owner is kept whatever the list says.
    for owners in [json!([owner.id, co.id]), json!([co.id])] {
        let r = app
            .put(&path, Some(&co), json!({ "owners_ids": owners }))
            .await;
        assert_eq!(r.ok()["owners_ids"], json!([owner.id, co.id]));
    }
    // The primary owner stays whatever the list says; unknown accounts are refused.
    let r = app
        .put(&path, Some(&owner), json!({"owners_ids": [co.id]}))
        .await;
    assert_eq!(r.ok()["owners_ids"], json!([owner.id, co.id]));
    app.put(&path, Some(&owner), json!({"owners_ids": [owner.id, 9999]}))
        .await
        .err(415, "DBIntegrityError");
    app.post(
        "/api/project",
        Some(&owner),
        json!({"name": "X", "short_name": "x", "description": "d", "owners_ids": [9999]}),
    )
    .await
    .err(415, "DBIntegrityError");
    // owner_id never changes by PUT, by anyone.
    for who in [&owner, &admin] {
        let r = app
            .put(&path, Some(who), json!({"owner_id": next.id}))
            .await;
        assert!(
            r.err(403, "Forbidden")["exception_msg"]
                .as_str()
                .is_some_and(|m| m.contains("transfer"))
        );
    }
    app.put(&path, Some(&owner), json!({"owner_id": owner.id}))
        .await
        .ok();
    // Transfers: the primary owner or an admin, to an existing account.
    let transfer = format!("/api/project/{project}/transfer");
    app.post(&transfer, Some(&co), json!({"owner_id": co.id}))
        .await
        .err(403, "Forbidden");
    app.post(&transfer, None, json!({"owner_id": co.id}))
        .await
        .err(401, "Unauthorized");
    app.post(&transfer, Some(&owner), json!({"owner_id": 9999}))
        .await
        .err(400, "BadRequest");
    let moved = app
        .post(&transfer, Some(&owner), json!({"owner_id": next.id}))
        .await;
    assert_eq!(moved.ok()["owner_id"], next.id);
    assert_eq!(moved.json["owners_ids"], json!([next.id, owner.id, co.id]));
    // The old primary owner is a co-owner now: no more transfers.
    app.post(&transfer, Some(&owner), json!({"owner_id": owner.id}))
        .await
        .err(403, "Forbidden");
    app.post(&transfer, Some(&admin), json!({"owner_id": owner.id}))
        .await
        .ok();
    // An author who no longer owns the project no longer writes its blog posts.
    let post = id(&app
        .post(
            "/api/blogpost",
            Some(&owner),
            json!({"project_id": project, "title": "T", "body": "B"}),
        )
        .await);
    app.post(&transfer, Some(&owner), json!({"owner_id": next.id}))
        .await
        .ok();
    app.put(&path, Some(&next), json!({"owners_ids": [next.id]}))
        .await
        .ok();
    app.put(
        &format!("/api/blogpost/{post}"),
        Some(&owner),
        json!({"published": true}),
    )
    .await
    .err(403, "Forbidden");
    app.delete(&format!("/api/blogpost/{post}"), Some(&owner))
        .await
        .err(403, "Forbidden");
}

async fn admin_flags_take_booleans(app: TestApp) {
    let (admin, owner, _) = app.seeded().await;
    let project = app.project(&owner, "flags").await;
    for v in [json!("true"), json!(1), json!("yes")] {
        app.put(
            &format!("/api/project/{project}"),
            Some(&admin),
            json!({ "featured": v }),
        )
        .await
        .err(415, "DataError");
        for key in ["admin", "enabled", "pro"] {
            app.put(
                &format!("/api/user/{}", owner.id),
                Some(&admin),
                json!({ key: v }),
            )
            .await
            .err(415, "DataError");
        }
    }
    let me = app.get("/api/auth/me", Some(&owner)).await;
    assert_eq!(me.ok()["admin"], false);
    app.put(
        &format!("/api/project/{project}"),
        Some(&admin),
        json!({"featured": true}),
    )
    .await
    .ok();
}

async fn accounts_are_unique_whatever_the_case(app: TestApp) {
    let ada = app.register("ada").await;
    let bo = app.register("bo").await;
    for (name, email) in [("ADA", "other@example.org"), ("other", "ADA@Example.org")] {
        let r = app
            .post(
                "/api/auth/register",
                None,
                json!({"name": name, "email_addr": email, "password": "correct horse"}),
            )
            .await;
        r.err(415, "DBIntegrityError");
    }
    let path = format!("/api/user/{}", bo.id);
    for body in [
        json!({"name": "Ada"}),
        json!({"email_addr": "Ada@EXAMPLE.org"}),
    ] {
        app.put(&path, Some(&bo), body)
            .await
            .err(415, "DBIntegrityError");
    }
    for body in [
        json!({"name": "has space"}),
        json!({"name": "ada@example.org"}),
        json!({"name": ""}),
        json!({"email_addr": "not-an-address"}),
        json!({"email_addr": "a@b"}),
        json!({"name": 5}),
    ] {
        let r = app.put(&path, Some(&bo), body.clone()).await;
        assert_eq!(r.status.as_u16(), 415, "{body}: {}", r.text);
    }
    // E-mail addresses are kept in lower case and sign-in takes them in any case.
    let r = app
        .put(
            &path,
            Some(&bo),
            json!({"email_addr": "  Bo.New@Example.ORG "}),
        )
        .await;
    assert_eq!(r.ok()["email_addr"], "bo.new@example.org");
    let r = app
        .post(
            "/api/auth/login",
            None,
            json!({"email_addr": "BO.NEW@example.org", "password": "correct horse"}),
        )
        .await;
    r.ok();
    let r = login(&app, "ADA", "correct horse").await;
    r.ok();
    let me = bearer(
        &app,
        r.json["access_token"].as_str().expect("token"),
        "/api/auth/me",
    )
    .await;
    assert_eq!(me.ok()["id"], ada.id);
    // Passwords: long enough, not spaces, not among the common ones.
    for password in [
        "short",
        "          ",
        "password123",
        "12345678",
        "qwertyuiop",
    ] {
        app.post(
            "/api/auth/register",
            None,
            json!({"name": "newbie", "email_addr": "n@example.org", "password": password}),
        )
        .await
        .err(415, "ValueError");
    }
}

async fn signins_slow_down(app: TestApp) {
    let window = |app: &TestApp| {
        let w = i64::try_from(app.state.infra.config.signin_window_secs).expect("window");
        chrono::Utc::now().timestamp() / w
    };
    let started = window(&app);
    app.register("ada").await;
    // Failures, then a success: the success forgets them.
    for _ in 0..4 {
        login(&app, "ada", "wrong password")
            .await
            .err(401, "Unauthorized");
    }
    login(&app, "ada", "correct horse").await.ok();
    for _ in 0..5 {
        login(&app, "ADA", "wrong password")
            .await
            .err(401, "Unauthorized");
    }
    // Past five in the window, even the right password waits (whatever the case typed)...
    let refused = login(&app, "ada", "correct horse").await;
    // ...but the e-mail address counts apart: a refusal never tells that both are one account.
    let by_email = app
        .post(
            "/api/auth/login",
            None,
            json!({"email_addr": "ada@example.org", "password": "correct horse"}),
        )
        .await;
    if window(&app) != started {
        // The window turned over mid-test; the counts started again.
        return;
    }
    refused.err(429, "TooManyRequests");
    by_email.ok();
    // An unknown name is counted too, so names cannot be probed faster.
    for _ in 0..5 {
        login(&app, "nobody", "x").await.err(401, "Unauthorized");
    }
    let r = login(&app, "nobody", "x").await;
    if window(&app) == started {
        r.err(429, "TooManyRequests");
    }
}

async fn idempotency_keys_are_bound_to_the_request(app: TestApp) {
    let (_, owner, _) = app.seeded().await;
    let ann = app.register("ann").await;
    let ben = app.register("ben").await;
    let project = app.project(&owner, "idem").await;
    let tasks = futures_tasks(&app, &owner, project, 3).await;
    let post = async |who: &User, task: i64, key: &str, info: Value| {
        let r = app
            .client
            .post(format!("{}/api/taskrun?api_key={}", app.base, who.api_key))
            .header("idempotency-key", key)
            .json(&json!({"project_id": project, "task_id": task, "info": info}))
            .send()
            .await
            .expect("answer");
        TestApp::read(r).await
    };
    let first_task = newtask(&app, project, Some(&ann)).await.ok()["id"]
        .as_i64()
        .expect("task");
    let first = post(&ann, first_task, "k1", json!({"a": 1})).await;
    let run = id(&first);
    // The same request again: the same answer.
    assert_eq!(
        id(&post(&ann, first_task, "k1", json!({"a": 1})).await),
        run
    );
    // The same key for another answer or another task: 422, never the first answer.
    post(&ann, first_task, "k1", json!({"a": 2}))
        .await
        .err(422, "UnprocessableEntity");
    let second_task = newtask(&app, project, Some(&ann)).await.ok()["id"]
        .as_i64()
        .expect("task");
    assert_ne!(second_task, first_task);
    post(&ann, second_task, "k1", json!({"a": 1}))
        .await
        .err(422, "UnprocessableEntity");
    // Another volunteer's use of the key is theirs alone.
    let bens_task = newtask(&app, project, Some(&ben)).await.ok()["id"]
        .as_i64()
        .expect("task");
    let bens = post(&ben, bens_task, "k1", json!({"a": 1})).await;
    assert_ne!(id(&bens), run);
    assert_eq!(bens.json["user_id"], ben.id);
    let long = "k".repeat(300);
    post(&ann, second_task, &long, json!({}))
        .await
        .err(400, "BadRequest");
    let _ = tasks;
}

async fn holds_are_bounded(app: TestApp) {
    let (_, owner, _) = app.seeded().await;
    let v = app.register("v").await;
    let project = app.project(&owner, "bounded").await;
    futures_tasks(&app, &owner, project, 12).await;
    for query in [
        "limit=11",
        "limit=1&offset=10",
        "limit=6&offset=5",
        "offset=99999999999",
    ] {
        let r = app
            .get(&format!("/api/project/{project}/newtask?{query}"), Some(&v))
            .await;
        assert_eq!(r.status.as_u16(), 415, "{query}: {}", r.text);
    }
    let r = app
        .get(
            &format!("/api/project/{project}/newtask?limit=5&offset=5"),
            Some(&v),
        )
        .await;
    assert_eq!(r.ok().as_array().map(Vec::len), Some(5));
    let strict = app
        .another_instance(&|c: &mut Config| c.max_holds = 2)
        .await;
    let r = strict
        .get(&format!("/api/project/{project}/newtask?limit=3"), Some(&v))
        .await;
    assert_eq!(r.status.as_u16(), 415, "{}", r.text);
}

async fn the_first_account_is_the_only_admin(app: TestApp) {
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
    use tessera_api::store::entities::user;
    let mut joins = vec![];
    for i in 0..8 {
        let (client, base) = (app.client.clone(), app.base.clone());
        joins.push(tokio::spawn(async move {
            client
                .post(format!("{base}/api/auth/register"))
                .json(&json!({"name": format!("racer{i}"), "email_addr": format!("r{i}@example.org"), "password": "correct horse"}))
                .send()
                .await
                .expect("register")
                .status()
        }));
    }
    for j in joins {
        assert!(j.await.expect("join").is_success());
    }
    let admins = user::Entity::find()
        .filter(user::Column::Admin.eq(true))
        .count(&app.state.infra.db)
        .await
        .expect("count");
    assert_eq!(admins, 1);
}

async fn participated_works_for_anonymous_volunteers(app: TestApp) {
    let (_, owner, _) = app.seeded().await;
    let project = app.project(&owner, "anon").await;
    let tasks = futures_tasks(&app, &owner, project, 3).await;
    let got = newtask(&app, project, None).await.ok()["id"]
        .as_i64()
        .expect("task");
    answer(&app, project, got, None).await.ok();
    let left = app
        .get(
            &format!("/api/task?project_id={project}&participated=1&all=1"),
            None,
        )
        .await;
    let ids: Vec<i64> = left
        .ok()
        .as_array()
        .expect("tasks")
        .iter()
        .filter_map(|t| t["id"].as_i64())
        .collect();
    assert_eq!(ids.len(), 2);
    assert!(!ids.contains(&got));
    assert!(tasks.contains(&ids[0]));
}

// ---------------------------------------------------------------------------------------------
// 7. Resource limits

async fn hostile_input_gets_4xx_and_csv_exports_are_capped_and_inert(app: TestApp) {
    let (_, owner, _) = app.seeded().await;
    let project = app.project(&owner, "limits").await;
    // JSON filters: too deep or too wide is a 415, not a 500.
    let mut deep = json!("x");
    for _ in 0..12 {
        deep = json!({ "k": deep });
    }
    for filter in [
        deep.to_string(),
        serde_json::to_string(&(0..100).collect::<Vec<_>>()).expect("json"),
        (0..100)
            .map(|i| format!("k{i}::v"))
            .collect::<Vec<_>>()
            .join("|"),
    ] {
        let q = serde_urlencoded::to_string([("info", filter.as_str())]).expect("query");
        app.get(&format!("/api/task?{q}"), None)
            .await
            .err(415, "ValueError");
    }
    // A NUL character is bad input, never a server error (PostgreSQL refuses it in text).
    for path in [
        "/api/project?name=%00".to_string(),
        format!("/api/task?info=a::%00&project_id={project}"),
        "/api/task?info=%22%5Cu0000%22".to_string(),
    ] {
        let r = app.get(&path, Some(&owner)).await;
        assert!(r.status.as_u16() < 500, "{path}: {}", r.text);
    }
    let r = app
        .post(
            "/api/task",
            Some(&owner),
            json!({"project_id": project, "info": {"nul": "a\u{0}b"}}),
        )
        .await;
    assert!(r.status.as_u16() < 500, "{}", r.text);
    // Answers are small; other bodies may be larger, up to their own limit.
    let task = id(&app
        .post(
            "/api/task",
            Some(&owner),
            json!({"project_id": project, "info": {"big": "x".repeat(300_000)}}),
        )
        .await);
    app.post(
        "/api/task",
        Some(&owner),
        json!({"project_id": project, "info": {"big": "x".repeat(1_100_000)}}),
    )
    .await
    .err(413, "RequestEntityTooLarge");
    newtask(&app, project, Some(&owner)).await.ok();
    app.post(
        "/api/taskrun",
        Some(&owner),
        json!({"project_id": project, "task_id": task, "info": {"big": "x".repeat(300_000)}}),
    )
    .await
    .err(413, "RequestEntityTooLarge");
    // CSV exports: a bounded number of columns, formulas neutralised.
    app.post(
        "/api/task",
        Some(&owner),
        json!({"project_id": project, "info": {"formula": "=HYPERLINK(\"http://x\")"}}),
    )
    .await
    .ok();
    let mut info = serde_json::Map::new();
    for i in 0..400 {
        info.insert(format!("key{i}"), json!(i));
    }
    app.post(
        "/api/task",
        Some(&owner),
        json!({"project_id": project, "info": info}),
    )
    .await
    .ok();
    let csv = app
        .client
        .get(format!(
            "{}/api/project/{project}/export?type=task&format=csv&api_key={}",
            app.base, owner.api_key
        ))
        .send()
        .await
        .expect("export")
        .text()
        .await
        .expect("csv");
    let mut rows = csv::Reader::from_reader(csv.as_bytes());
    let header = rows.headers().expect("header").clone();
    assert!(header.len() <= 257, "{} columns", header.len());
    assert_eq!(header.iter().next_back(), Some("_other"));
    let all: Vec<csv::StringRecord> = rows.records().map(|r| r.expect("row")).collect();
    assert!(
        all.iter()
            .flat_map(|r| r.iter())
            .all(|cell| !cell.starts_with('=')),
        "a formula got through"
    );
    assert!(csv.contains("'=HYPERLINK"));
}

/// One request on a kept-alive connection: its status, and whether the server closes it.
async fn roundtrip(
    conn: &mut tokio::io::BufReader<tokio::net::TcpStream>,
    addr: &str,
    path: &str,
    body: &str,
) -> (String, bool) {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    conn.get_mut()
        .write_all(head.as_bytes())
        .await
        .expect("write head: the connection was dropped");
    conn.get_mut()
        .write_all(body.as_bytes())
        .await
        .expect("write body: the connection was dropped");
    let mut status = String::new();
    conn.read_line(&mut status).await.expect("status line");
    let mut length = 0usize;
    let mut close = false;
    loop {
        let mut line = String::new();
        conn.read_line(&mut line).await.expect("header");
        let line = line.trim_end().to_ascii_lowercase();
        if line.is_empty() {
            break;
        }
        if let Some(v) = line.strip_prefix("content-length:") {
            length = v.trim().parse().expect("length");
        }
        if line == "connection: close" {
            close = true;
        }
    }
    let mut rest = vec![0; length];
    conn.read_exact(&mut rest).await.expect("body");
    let code = status.split_whitespace().nth(1).unwrap_or("").to_string();
    (code, close)
}

/// A refusal before the body was read (a 429, a 413) keeps the kept-alive connection usable:
/// the next request on it gets its answer.
async fn refusals_keep_connections_alive(limited: bool) {
    let app = TestApp::rate_limited(if limited { "2/900" } else { "0" }, false).await;
    let owner = app.register("owner").await;
    let project = app.project(&owner, "ka").await;
    let addr = app.base.trim_start_matches("http://").to_string();
    let stream = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    let mut conn = tokio::io::BufReader::new(stream);
    let path = format!("/api/task?api_key={}", owner.api_key);
    let mut statuses = vec![];
    for i in 0..5 {
        let body =
            json!({"project_id": project, "info": {"i": i, "pad": "x".repeat(20_000)}}).to_string();
        let (status, close) = roundtrip(&mut conn, &addr, &path, &body).await;
        assert!(!close, "request {i} closed the connection: {status}");
        statuses.push(status);
    }
    if limited {
        assert!(statuses.iter().any(|s| s == "429"), "{statuses:?}");
    } else {
        assert!(statuses.iter().all(|s| s == "200"), "{statuses:?}");
        // Too large: refused, read to its end, and the connection goes on.
        let big =
            json!({"project_id": project, "info": {"pad": "x".repeat(1_200_000)}}).to_string();
        let (status, close) = roundtrip(&mut conn, &addr, &path, &big).await;
        assert_eq!(status, "413");
        assert!(!close, "the 413 closed the connection");
        let small = json!({"project_id": project, "info": {}}).to_string();
        let (status, _) = roundtrip(&mut conn, &addr, &path, &small).await;
        assert_eq!(status, "200");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_requests_keep_the_connection() {
    refusals_keep_connections_alive(true).await;
    refusals_keep_connections_alive(false).await;
}

// ---------------------------------------------------------------------------------------------
// 8. Deployment hardening

async fn forwarded(app: &TestApp, path: &str, xff: &str) -> Resp {
    let r = app
        .client
        .get(format!("{}{path}", app.base))
        .header("x-forwarded-for", xff)
        .send()
        .await
        .expect("request");
    TestApp::read(r).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_addresses_only_from_trusted_proxies() {
    for trusted in [true, false] {
        let app = TestApp::configured(false, &|c: &mut Config| {
            c.rate_limit = "2/900".into();
            if trusted {
                c.trusted_proxies = "127.0.0.1/32".into();
            }
        })
        .await
        .expect("app");
        for _ in 0..2 {
            forwarded(&app, "/api/project", "203.0.113.5").await.ok();
        }
        forwarded(&app, "/api/project", "203.0.113.5")
            .await
            .err(429, "TooManyRequests");
        let other = forwarded(&app, "/api/project", "198.51.100.7, 203.0.113.6").await;
        if trusted {
            other.ok();
        } else {
            // Without trusted proxies the header is the client's say, and ignored.
            other.err(429, "TooManyRequests");
        }
    }
}

async fn every_page_sets_csp_and_only_the_presenter_may_be_framed(app: TestApp) {
    let header = |r: &reqwest::Response, h: &str| {
        r.headers()
            .get(h)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    for path in ["/", "/project/x", "/api/docs/", "/presenter.html"] {
        let r = app
            .client
            .get(format!("{}{path}", app.base))
            .send()
            .await
            .expect("page");
        let csp = header(&r, "content-security-policy");
        assert!(!csp.is_empty(), "{path} has no CSP");
        assert_eq!(header(&r, "x-content-type-options"), "nosniff", "{path}");
        assert!(!header(&r, "referrer-policy").is_empty(), "{path}");
        if path == "/presenter.html" {
            assert!(csp.contains("sandbox allow-scripts"), "{csp}");
            assert!(csp.contains("connect-src 'none'"), "{csp}");
            assert!(csp.contains("frame-ancestors 'self'"), "{csp}");
        } else {
            assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
            assert_eq!(header(&r, "x-frame-options"), "DENY", "{path}");
        }
        if path == "/" {
            assert!(csp.contains("'wasm-unsafe-eval'"), "{csp}");
            assert!(!csp.contains("script-src 'self' 'unsafe-inline'"), "{csp}");
        }
    }
    let api = app
        .client
        .get(format!("{}/api/project", app.base))
        .send()
        .await
        .expect("api");
    assert_eq!(header(&api, "x-content-type-options"), "nosniff");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_can_require_a_token() {
    let app = TestApp::configured(false, &|c: &mut Config| {
        c.metrics_token = Some(String::from("scrape-me").into());
    })
    .await
    .expect("app");
    let get = async |token: Option<&str>| {
        let mut req = app.client.get(format!("{}/metrics", app.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.expect("metrics").status()
    };
    assert_eq!(get(None).await, StatusCode::UNAUTHORIZED);
    assert_eq!(get(Some("wrong")).await, StatusCode::UNAUTHORIZED);
    assert_eq!(get(Some("scrape-me")).await, StatusCode::OK);
    let open = TestApp::sqlite().await;
    let r = open
        .client
        .get(format!("{}/metrics", open.base))
        .send()
        .await
        .expect("metrics");
    assert_eq!(r.status(), StatusCode::OK);
}

// ---------------------------------------------------------------------------------------------
// 4. Webhooks: a receiver that never stops answering

/// A receiver that answers 200 and then streams an endless body.
async fn endless_receiver() -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0; 65536];
                let _ = s.read(&mut buf).await;
                let _ = s
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n")
                    .await;
                let chunk = format!("10000\r\n{}\r\n", "y".repeat(0x10000));
                while s.write_all(chunk.as_bytes()).await.is_ok() {}
            });
        }
    });
    format!("http://{addr}/hook")
}

async fn webhook_answers_are_read_up_to_a_cap(app: TestApp) {
    let postgres = app.state.infra.backend() == sea_orm::DbBackend::Postgres;
    drop(app);
    let app = TestApp::configured(postgres, &|c: &mut Config| {
        c.job_poll_ms = 50;
        c.webhook_allow = "127.0.0.1".into();
        // Longer than the wait below: a delivery that read the endless answer to its end
        // would still be reading.
        c.webhook_timeout_secs = 60;
    })
    .await
    .expect("app");
    let owner = app.register("owner").await;
    let project = app.project(&owner, "hooked").await;
    let url = endless_receiver().await;
    app.put(
        &format!("/api/project/{project}/webhook"),
        Some(&owner),
        json!({"url": url}),
    )
    .await
    .ok();
    let ping = app
        .post(
            &format!("/api/project/{project}/webhook/ping"),
            Some(&owner),
            json!({}),
        )
        .await;
    assert_eq!(ping.status.as_u16(), 202, "{}", ping.text);
    let delivery = ping.json["id"].as_i64().expect("delivery");
    let path = format!("/api/project/{project}/webhook/deliveries/{delivery}");
    eventually("the delivery to be recorded", async || {
        app.get(&path, Some(&owner)).await.json["status"] == "delivered"
    })
    .await;
    let d = app.get(&path, Some(&owner)).await;
    assert!(d.json["response"].as_str().is_some_and(|r| r.len() <= 1000));
}

on_every_store!(
    drafts_stay_private,
    uploads_delete_only_their_own_files,
    secrets_survive_and_are_shared,
    sign_out_password_or_key_change_ends_every_token,
    account_changes_reach_every_instance,
    only_owners_rotate_the_secret_and_old_tokens_stop_working,
    owners_change_only_by_transfer,
    admin_flags_take_booleans,
    accounts_are_unique_whatever_the_case,
    idempotency_keys_are_bound_to_the_request,
    holds_are_bounded,
    the_first_account_is_the_only_admin,
    participated_works_for_anonymous_volunteers,
    hostile_input_gets_4xx_and_csv_exports_are_capped_and_inert,
    every_page_sets_csp_and_only_the_presenter_may_be_framed,
    webhook_answers_are_read_up_to_a_cap,
);

on_every_store!(signins_slow_down);
