use serde_json::json;

use crate::{common::TestApp, on_both};

async fn projects_belong_to_the_caller_and_bad_input_writes_nothing(app: TestApp) {
    let (_admin, owner, cat) = app.seeded().await;
    let body = json!({"name": "Birds", "short_name": "birds", "description": "Count birds", "category_id": cat, "owner_id": 999});
    app.post("/api/project", None, body.clone())
        .await
        .err(401, "Unauthorized");
    let r = app.post("/api/project", Some(&owner), body.clone()).await;
    let p = r.ok();
    assert_eq!(r.status.as_u16(), 200);
    assert_eq!(
        p["owner_id"], owner.id,
        "owner comes from the caller, not the body"
    );
    assert_eq!(p["owners_ids"], json!([owner.id]));
    assert_eq!(p["published"], false);
    assert!(p["secret_key"].as_str().is_some_and(|s| s.len() == 36));
    assert!(p.get("link").is_none(), "POST answers carry no links");

    // Duplicate: DBIntegrityError with target project (pbs reads it as "already exists").
    let dup = app.post("/api/project", Some(&owner), body).await;
    assert_eq!(dup.err(415, "DBIntegrityError")["target"], "project");
    assert_eq!(dup.json["action"], "POST");

    let cases = [
        (
            json!({"name": "A", "short_name": "new", "description": "d"}),
            415,
            "ValueError",
        ),
        (
            json!({"name": "A", "short_name": "a b", "description": "d"}),
            415,
            "ValueError",
        ),
        (
            json!({"name": "", "short_name": "empty", "description": "d"}),
            415,
            "DBIntegrityError",
        ),
        (
            json!({"name": "A", "short_name": "a", "description": "d", "published": true}),
            403,
            "Forbidden",
        ),
        (
            json!({"name": "A", "short_name": "a", "description": "d", "secret_key": "x"}),
            400,
            "BadRequest",
        ),
        (
            json!({"name": "A", "short_name": "a", "description": "d", "id": 5}),
            400,
            "BadRequest",
        ),
        (
            json!({"name": "A", "short_name": "a", "description": "d", "bogus": 1}),
            415,
            "TypeError",
        ),
        (
            json!({"name": "A", "short_name": "a", "description": "d", "category_id": 9999}),
            400,
            "BadRequest",
        ),
        (
            json!({"name": "A", "short_name": "a", "description": "d", "featured": true}),
            403,
            "Forbidden",
        ),
        (
            json!({"name": "A", "short_name": "a", "description": "d", "allow_anonymous_contributors": "maybe"}),
            415,
            "DataError",
        ),
    ];
    for (body, status, cls) in cases {
        let r = app.post("/api/project", Some(&owner), body.clone()).await;
        assert_eq!(r.err(status, cls)["target"], "project", "{body}");
    }
    // Nothing half-written: only the first project exists.
    let all = app.get("/api/project?all=1", Some(&owner)).await;
    assert_eq!(all.ok().as_array().map(Vec::len), Some(1));
}

async fn others_never_see_drafts_or_secrets_and_lists_default_to_own(app: TestApp) {
    let (admin, owner, _) = app.seeded().await;
    let other = app.register("other").await;
    let draft = app.draft(&owner, "draft").await;
    let published = app.draft(&owner, "pub").await;
    app.task(&owner, published, json!({"q": 1})).await;
    app.post(
        &format!("/api/project/{published}/publish"),
        Some(&other),
        json!({}),
    )
    .await
    .err(403, "Forbidden");
    app.post(
        &format!("/api/project/{published}/publish"),
        None,
        json!({}),
    )
    .await
    .err(401, "Unauthorized");
    app.post(
        &format!("/api/project/{draft}/publish"),
        Some(&owner),
        json!({}),
    )
    .await
    .err(400, "BadRequest");
    let r = app
        .post(
            &format!("/api/project/{published}/publish"),
            Some(&owner),
            json!({}),
        )
        .await;
    assert_eq!(r.ok()["published"], true);

    // Anonymous callers see published projects only; drafts answer 401 (anonymous) / 403.
    let anon = app.get("/api/project", None).await;
    let names: Vec<_> = anon
        .ok()
        .as_array()
        .expect("list")
        .iter()
        .map(|p| p["short_name"].clone())
        .collect();
    assert_eq!(names, vec![json!("pub")]);
    app.get(&format!("/api/project/{draft}"), None)
        .await
        .err(401, "Unauthorized");
    app.get(&format!("/api/project/{draft}"), Some(&other))
        .await
        .err(403, "Forbidden");
    app.get(&format!("/api/project/{draft}"), Some(&owner))
        .await
        .ok();
    app.get(&format!("/api/project/{draft}"), Some(&admin))
        .await
        .ok();

    // Owner context: a signed-in caller lists only their own projects unless all=1.
    let mine = app.get("/api/project", Some(&owner)).await;
    assert_eq!(mine.ok().as_array().map(Vec::len), Some(2));
    let theirs = app.get("/api/project", Some(&other)).await;
    assert_eq!(theirs.ok(), &json!([]));
    let all = app.get("/api/project?all=1", Some(&other)).await;
    assert_eq!(
        all.ok().as_array().map(Vec::len),
        Some(1),
        "drafts stay hidden with all=1"
    );
    let admin_all = app.get("/api/project?all=1", Some(&admin)).await;
    assert_eq!(admin_all.ok().as_array().map(Vec::len), Some(2));
    // pbs looks projects up by short_name.
    let found = app
        .get("/api/project?short_name=pub&all=1", Some(&other))
        .await;
    assert_eq!(found.ok()[0]["id"], published);

    // Shaping: only owners and admins see the secret key and private info keys.
    app.put(
        &format!("/api/project/{published}"),
        Some(&owner),
        json!({"info": {"sched": "default", "private": 1}}),
    )
    .await
    .ok();
    let public = app
        .get(&format!("/api/project/{published}"), Some(&other))
        .await;
    let p = public.ok();
    assert!(
        p.get("secret_key").is_none() && p.get("webhook").is_none(),
        "{}",
        public.text
    );
    assert_eq!(p["info"], json!({"sched": "default"}));
    assert!(
        p["link"]
            .as_str()
            .is_some_and(|l| l.contains(&format!("/api/project/{published}")))
    );
    assert!(
        p["links"][0]
            .as_str()
            .is_some_and(|l| l.contains("rel='category'"))
    );
    let own = app
        .get(&format!("/api/project/{published}"), Some(&owner))
        .await;
    assert!(own.ok()["secret_key"].is_string());
    assert_eq!(own.json["info"]["private"], 1);
}

async fn strangers_cannot_edit_or_delete_and_absent_keys_keep_values(app: TestApp) {
    let (admin, owner, _) = app.seeded().await;
    let other = app.register("other").await;
    let id = app.project(&owner, "p").await;
    let path = format!("/api/project/{id}");
    app.put(&path, Some(&other), json!({"description": "x"}))
        .await
        .err(403, "Forbidden");
    app.put(&path, None, json!({"description": "x"}))
        .await
        .err(401, "Unauthorized");
    app.put(&path, Some(&owner), json!({"featured": true}))
        .await
        .err(403, "Forbidden");
    app.put(&path, Some(&owner), json!({"published": true}))
        .await
        .err(403, "Forbidden");
    // pbclient sends the object it read back, links included.
    let read = app.get(&path, Some(&owner)).await.json;
    let mut echo = read.as_object().cloned().expect("object");
    for k in [
        "id",
        "created",
        "updated",
        "completed",
        "contacted",
        "published",
        "secret_key",
    ] {
        echo.remove(k);
    }
    echo.insert("description".into(), json!("New text"));
    let r = app
        .put(&path, Some(&owner), serde_json::Value::Object(echo))
        .await;
    assert_eq!(r.ok()["description"], "New text");
    assert_eq!(r.json["name"], read["name"], "absent keys keep their value");

    // Co-owners can edit; an unknown co-owner is refused atomically.
    app.put(&path, Some(&owner), json!({"owners_ids": [owner.id, 4242]}))
        .await
        .err(415, "DBIntegrityError");
    app.put(
        &path,
        Some(&owner),
        json!({"owners_ids": [owner.id, other.id]}),
    )
    .await
    .ok();
    app.put(&path, Some(&other), json!({"description": "co-owned"}))
        .await
        .ok();
    app.put(&path, Some(&admin), json!({"featured": true}))
        .await
        .ok();

    // Delete: strangers no, owner yes, then 404.
    let third = app.register("third").await;
    app.delete(&path, Some(&third)).await.err(403, "Forbidden");
    let r = app.delete(&path, Some(&owner)).await;
    assert_eq!(r.status.as_u16(), 204);
    assert!(r.text.is_empty());
    assert_eq!(
        r.headers.get("content-type").and_then(|v| v.to_str().ok()),
        Some("application/json")
    );
    app.get(&path, Some(&owner)).await.err(404, "NotFound");
    app.delete(&path, Some(&owner)).await.err(404, "NotFound");
}

/// On a fresh site the first project needs no category made beforehand.
async fn first_project_gets_a_general_category(app: TestApp) {
    let owner = app.register("first").await;
    let project = app.project(&owner, "first-project").await;
    let p = app
        .get(&format!("/api/project/{project}"), Some(&owner))
        .await;
    let category = p.ok()["category_id"].as_i64().expect("a category");
    let c = app.get(&format!("/api/category/{category}"), None).await;
    assert_eq!(c.ok()["short_name"], "general");
    // Later projects use it too; no second one is made.
    app.project(&owner, "second-project").await;
    let all = app.get("/api/category", None).await;
    assert_eq!(all.ok().as_array().map(Vec::len), Some(1));
}

/// Browsing at any size: 500 published projects, every one reachable by paging and by search.
async fn five_hundred_projects_page_and_search_on_the_server(app: TestApp) {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
    use tessera_api::store::entities::project;
    let (_admin, owner, cat) = app.seeded().await;
    let other_cat = app.category(&_admin, "second").await;
    for i in 0..500 {
        let cat_id = if i % 5 == 0 { other_cat } else { cat };
        let kind = if i % 2 == 0 { "Penguins" } else { "Glaciers" };
        app.post(
            "/api/project",
            Some(&owner),
            json!({"name": format!("Survey {i:03}"), "short_name": format!("survey-{i:03}"),
                   "description": format!("Counting {kind} near station {i}"), "category_id": cat_id}),
        )
        .await
        .ok();
    }
    app.post(
        "/api/project",
        Some(&owner),
        json!({"name": "Odd 100% one", "short_name": "odd_one", "description": "x", "category_id": cat}),
    )
    .await
    .ok();
    project::Entity::update_many()
        .col_expr(project::Column::Published, Expr::value(true))
        .filter(project::Column::OwnerId.eq(i32::try_from(owner.id).expect("id")))
        .exec(&app.state.infra.db)
        .await
        .expect("publish");
    let names = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .expect("list")
            .iter()
            .map(|p| p["short_name"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    // Every page is reachable, anonymously and signed in, without overlap.
    let mut seen = std::collections::HashSet::new();
    for offset in (0..520).step_by(100) {
        let page = app
            .get(&format!("/api/project?limit=100&offset={offset}"), None)
            .await;
        for n in names(page.ok()) {
            assert!(seen.insert(n.clone()), "{n} twice");
        }
    }
    assert_eq!(seen.len(), 501);
    assert!(seen.contains("survey-499"));
    // Search: every word must match the name, short name or description, case aside.
    let found = app.get("/api/project?search=survey%20437", None).await;
    assert_eq!(names(found.ok()), vec!["survey-437"]);
    let found = app
        .get("/api/project?search=PENGUINS&limit=100&offset=200", None)
        .await;
    assert_eq!(found.ok().as_array().map(Vec::len), Some(50));
    let found = app
        .get(
            "/api/project?search=glaciers%20station%2049&all=1",
            Some(&owner),
        )
        .await;
    assert_eq!(
        names(found.ok()),
        vec![
            "survey-049",
            "survey-149",
            "survey-249",
            "survey-349",
            "survey-449",
            "survey-491",
            "survey-493",
            "survey-495",
            "survey-497",
            "survey-499"
        ]
    );
    // Search with a category, and LIKE's wildcards taken literally.
    let found = app
        .get(
            &format!("/api/project?search=penguins&category_id={other_cat}&limit=100"),
            None,
        )
        .await;
    assert_eq!(found.ok().as_array().map(Vec::len), Some(50));
    assert_eq!(
        names(app.get("/api/project?search=100%25", None).await.ok()),
        vec!["odd_one"]
    );
    assert_eq!(
        names(app.get("/api/project?search=odd_", None).await.ok()),
        vec!["odd_one"]
    );
    // Other resources do not search; too many words is refused.
    app.get("/api/task?search=x", None)
        .await
        .err(415, "AttributeError");
    app.get(
        "/api/project?search=a%20b%20c%20d%20e%20f%20g%20h%20i",
        None,
    )
    .await
    .err(415, "ValueError");
}

/// The presenter's frame is sent with its project's policy: the origins a published project
/// lists go into `connect-src`, and nothing else does.
async fn presenter_frames_fetch_only_from_their_projects_origins(postgres: bool) {
    let web = std::env::temp_dir().join(format!("tessera-web-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&web).expect("web dir");
    std::fs::write(web.join("index.html"), "<!doctype html><title>app</title>").expect("index");
    std::fs::write(
        web.join("presenter.html"),
        "<!doctype html><title>frame</title>",
    )
    .expect("frame");
    let dir = web.clone();
    let Some(app) = TestApp::configured(postgres, &move |c| c.web_dir = dir.clone()).await else {
        return;
    };
    let (_admin, owner, _) = app.seeded().await;
    let project = app.project(&owner, "maps").await;
    let draft = app.draft(&owner, "draft-maps").await;
    let origins = json!(["https://tiles.example.org", "http://127.0.0.1:9100/"]);
    for id in [project, draft] {
        app.put(
            &format!("/api/project/{id}"),
            Some(&owner),
            json!({"info": {"presenter_connect": origins, "presenter_compat": "pybossa"}}),
        )
        .await
        .ok();
    }
    let policy = async |query: &str| {
        let r = app
            .client
            .get(format!("{}/presenter.html{query}", app.base))
            .send()
            .await
            .expect("frame");
        assert_eq!(r.status(), 200);
        let csp = r
            .headers()
            .get("content-security-policy")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        assert!(csp.starts_with("sandbox allow-scripts;"), "{csp}");
        assert!(csp.contains("frame-ancestors 'self'"), "{csp}");
        csp
    };
    let csp = policy(&format!("?project={project}&d=1")).await;
    assert!(
        csp.contains("connect-src https://tiles.example.org http://127.0.0.1:9100;"),
        "{csp}"
    );
    assert!(
        csp.contains(&format!("script-src 'unsafe-inline' https: {}", app.base)),
        "{csp}"
    );
    // A draft's, an unknown project's and no project's frame fetch nothing.
    for query in [
        format!("?project={draft}"),
        "?project=99999".into(),
        "?project=x".into(),
        String::new(),
    ] {
        assert!(
            policy(&query).await.contains("connect-src 'none'"),
            "{query}"
        );
    }
    // Only origins are taken, and the list is public like the presenter itself.
    for bad in [
        json!(["http://tiles.example.org"]),
        json!(["https://tiles.example.org/x"]),
        json!(["*"]),
        json!("https://tiles.example.org"),
    ] {
        app.put(
            &format!("/api/project/{project}"),
            Some(&owner),
            json!({"info": {"presenter_connect": bad}}),
        )
        .await
        .err(415, "ValueError");
    }
    let seen = app.get(&format!("/api/project/{project}"), None).await;
    assert_eq!(seen.ok()["info"]["presenter_connect"], origins);
    let _ = std::fs::remove_dir_all(&web);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presenter_frames_fetch_only_from_their_projects_origins_sqlite() {
    presenter_frames_fetch_only_from_their_projects_origins(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presenter_frames_fetch_only_from_their_projects_origins_postgres() {
    presenter_frames_fetch_only_from_their_projects_origins(true).await;
}

on_both!(
    five_hundred_projects_page_and_search_on_the_server,
    first_project_gets_a_general_category,
    projects_belong_to_the_caller_and_bad_input_writes_nothing,
    others_never_see_drafts_or_secrets_and_lists_default_to_own,
    strangers_cannot_edit_or_delete_and_absent_keys_keep_values
);
