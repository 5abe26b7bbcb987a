//! Server-side imports (files, links, Google Sheets, IIIF), dedup, dry runs, refused rows, the
//! outbound guard on import URLs, scheduled re-imports, and bulk task operations.

use std::time::{Duration, Instant};

use poem::{EndpointExt, Route, get, handler, http::StatusCode, web::Path};
use reqwest::multipart::{Form, Part};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};
use tessera_api::ids::ProjectId;
use tessera_api::store::{
    counters,
    entities::{result, task, task_run},
};

use crate::common::{TestApp, User};
use crate::{on_both, on_both_stores};

async fn upload(
    app: &TestApp,
    owner: Option<&User>,
    project: i64,
    name: &str,
    body: &str,
    query: &str,
) -> crate::common::Resp {
    let form = Form::new().part(
        "file",
        Part::bytes(body.as_bytes().to_vec()).file_name(name.to_string()),
    );
    let mut req = app
        .client
        .post(format!("{}/api/project/{project}/import{query}", app.base))
        .multipart(form);
    if let Some(user) = owner {
        req = req.query(&[("api_key", &user.api_key)]);
    }
    TestApp::read(req.send().await.expect("upload")).await
}

/// Polls an import until it is over.
async fn finished(app: &TestApp, owner: &User, project: i64, import: &Value) -> Value {
    let id = import["id"].as_i64().expect("import id");
    let start = Instant::now();
    loop {
        let r = app
            .get(&format!("/api/project/{project}/import/{id}"), Some(owner))
            .await;
        let body = r.ok().clone();
        if body["status"] == "done" || body["status"] == "failed" {
            return body;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "import did not finish: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub(crate) async fn import_file(
    app: &TestApp,
    owner: &User,
    project: i64,
    name: &str,
    body: &str,
) -> Value {
    let r = upload(app, Some(owner), project, name, body, "").await;
    assert_eq!(r.status, 202, "{}", r.text);
    finished(app, owner, project, &r.json).await
}

fn counts(report: &Value) -> (i64, i64, i64, i64) {
    let n = |k: &str| report[k].as_i64().unwrap_or(-1);
    (n("read"), n("created"), n("duplicates"), n("rejected"))
}

/// The project's counters agree with its rows.
pub(crate) async fn assert_counters(app: &TestApp, project: i64) {
    let db = &app.state.infra.db;
    let id = i32::try_from(project).expect("id");
    let totals = counters::totals(db, ProjectId(id)).await.expect("totals");
    let tasks = task::Entity::find()
        .filter(task::Column::ProjectId.eq(id))
        .all(db)
        .await
        .expect("tasks");
    let runs = task_run::Entity::find()
        .filter(task_run::Column::ProjectId.eq(id))
        .count(db)
        .await
        .expect("runs");
    let results = result::Entity::find()
        .filter(result::Column::ProjectId.eq(id))
        .count(db)
        .await
        .expect("results");
    let completed = tasks
        .iter()
        .filter(|t| t.state == task::TaskState::Completed)
        .count();
    // Gold tasks are not part of the work the counters measure (their answers are answers).
    let work: Vec<&task::Model> = tasks.iter().filter(|t| t.calibration == 0).collect();
    let expected: i64 = work.iter().map(|t| i64::from(t.n_answers)).sum();
    assert_eq!(totals.n_tasks, work.len() as i64, "n_tasks");
    assert_eq!(totals.n_task_runs, runs as i64, "n_task_runs");
    assert_eq!(totals.n_results, results as i64, "n_results");
    assert_eq!(
        totals.n_completed_tasks, completed as i64,
        "n_completed_tasks"
    );
    assert_eq!(totals.n_answers_expected, expected, "n_answers_expected");
}

async fn tasks_of(app: &TestApp, project: i64) -> Vec<task::Model> {
    task::Entity::find()
        .filter(task::Column::ProjectId.eq(i32::try_from(project).expect("id")))
        .all(&app.state.infra.db)
        .await
        .expect("tasks")
}

const CSV: &str = "question,url,n_answers,external_id\n\
                   Cat?,https://img.example.org/1.jpg,3,\n\
                   Dog?,https://img.example.org/2.jpg,,d-2\n\
                   Bird?,https://img.example.org/3.jpg,zero,\n\
                   Fish?,https://img.example.org/4.jpg,1,\n";

async fn csv_imports_once_and_reimports_only_new_rows(app: TestApp) {
    let (_, owner, _) = app.seeded().await;
    let project = app.project(&owner, "imp").await;
    let report = import_file(&app, &owner, project, "tasks.csv", CSV).await;
    assert_eq!(report["status"], "done", "{report}");
    assert_eq!(report["format"], "csv");
    assert_eq!(counts(&report), (4, 3, 0, 1), "{report}");
    assert_eq!(report["errors"][0]["line"], 4, "{report}");
    assert!(
        report["errors"][0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("n_answers")),
        "{report}"
    );
    let tasks = tasks_of(&app, project).await;
    assert_eq!(tasks.len(), 3);
    let cat = tasks
        .iter()
        .find(|t| t.info.as_ref().is_some_and(|i| i["question"] == "Cat?"))
        .expect("cat");
    assert_eq!(cat.n_answers, 3);
    assert_eq!(
        cat.info,
        Some(json!({"question": "Cat?", "url": "https://img.example.org/1.jpg"}))
    );
    let dog = tasks
        .iter()
        .find(|t| t.external_id.as_deref() == Some("d-2"))
        .expect("dog");
    assert_eq!(dog.n_answers, 30, "the default redundancy");
    assert_counters(&app, project).await;

    // The same file again adds nothing; a new row and a changed row with the same external id.
    let again = import_file(&app, &owner, project, "tasks.csv", CSV).await;
    assert_eq!(counts(&again), (4, 0, 3, 1), "{again}");
    let grown = format!("{CSV}Horse?,https://img.example.org/5.jpg,2,\nDog (edited)?,x,,d-2\n");
    let grown = import_file(&app, &owner, project, "more.csv", &grown).await;
    assert_eq!(counts(&grown), (6, 1, 4, 1), "{grown}");
    assert_eq!(tasks_of(&app, project).await.len(), 4);
    assert_counters(&app, project).await;

    // The refused rows download as CSV.
    let csv = app
        .client
        .get(format!(
            "{}{}",
            app.base,
            report["rejected_url"].as_str().expect("rejected_url")
        ))
        .query(&[("api_key", &owner.api_key)])
        .send()
        .await
        .expect("rejected");
    assert_eq!(csv.status(), 200);
    let text = csv.text().await.expect("csv");
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("line,reason,row"));
    let row = lines.next().expect("one refused row");
    assert!(row.starts_with("4,") && row.contains("Bird?"), "{text}");

    // The imported tasks reach volunteers.
    let r = app
        .get(&format!("/api/project/{project}/newtask"), None)
        .await;
    assert!(r.ok()["id"].as_i64().is_some(), "{}", r.text);

    // Imports are listed, newest first.
    let list = app
        .get(&format!("/api/project/{project}/import"), Some(&owner))
        .await;
    assert_eq!(list.ok().as_array().map(Vec::len), Some(3));
    assert_eq!(list.json[0]["id"], grown["id"]);
}

async fn json_lines_and_dedup_by_external_id(app: TestApp) {
    let (_, owner, _) = app.seeded().await;
    let project = app.project(&owner, "jsn").await;
    let array = json!([
        {"text": "a", "external_id": "e1", "priority_0": 0.9, "calibration": 1, "gold_answers": {"label": "yes"}},
        {"info": {"text": "b"}, "id": 77, "state": "completed", "n_answers": 2},
        "not an object",
        {"text": "c", "priority_0": 2}
    ]);
    let report = import_file(&app, &owner, project, "tasks.json", &array.to_string()).await;
    assert_eq!(report["format"], "json");
    assert_eq!(counts(&report), (4, 2, 0, 2), "{report}");
    let tasks = tasks_of(&app, project).await;
    let a = tasks
        .iter()
        .find(|t| t.external_id.as_deref() == Some("e1"))
        .expect("a");
    assert!((a.priority_0 - 0.9).abs() < 1e-9);
    assert_eq!(a.calibration, 1);
    assert_eq!(a.gold_answers, Some(json!({"label": "yes"})));
    let b = tasks
        .iter()
        .find(|t| t.info == Some(json!({"text": "b"})))
        .expect("b");
    assert_eq!(b.n_answers, 2);
    assert_eq!(b.state, task::TaskState::Ongoing, "state is not imported");

    // JSON Lines: e1 again (changed info: still the same task), b again (same info), one new.
    let lines = "{\"text\": \"a2\", \"external_id\": \"e1\"}\n{\"text\": \"b\"}\n\n{\"text\": \"d\"}\n{oops\n";
    let report = import_file(&app, &owner, project, "more.jsonl", lines).await;
    assert_eq!(report["format"], "jsonl");
    assert_eq!(counts(&report), (4, 1, 2, 1), "{report}");
    assert_eq!(report["errors"][0]["line"], 5);
    assert_counters(&app, project).await;

    // Gold tasks and their answers are the owner's: nobody else reads them.
    let t = app.get(&format!("/api/task/{}", a.id), None).await;
    assert!(
        !t.status.is_success() && !t.text.contains("label"),
        "{}",
        t.text
    );
    let t = app.get(&format!("/api/task/{}", a.id), Some(&owner)).await;
    assert_eq!(t.ok()["gold_answers"], json!({"label": "yes"}));
    assert_eq!(t.json["external_id"], "e1");

    // One by one too, an external id is the project's only once.
    let dup = app
        .post(
            "/api/task",
            Some(&owner),
            json!({"project_id": project, "info": {"x": 1}, "external_id": "e1"}),
        )
        .await;
    dup.err(409, "Conflict");
    let other = app.project(&owner, "jsn2").await;
    app.post(
        "/api/task",
        Some(&owner),
        json!({"project_id": other, "info": {"x": 1}, "external_id": "e1"}),
    )
    .await
    .ok();
}

async fn dry_runs_write_nothing(app: TestApp) {
    let (_, owner, _) = app.seeded().await;
    let project = app.project(&owner, "dry").await;
    let r = upload(&app, Some(&owner), project, "tasks.csv", CSV, "?dry_run=1").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["format"], "csv");
    assert_eq!(r.json["read"], 4);
    assert_eq!(r.json["valid"], 3);
    assert_eq!(r.json["rejected"], 1);
    assert_eq!(r.json["tasks"][0]["info"]["question"], "Cat?");
    assert_eq!(r.json["tasks"][0]["n_answers"], 3);
    assert_eq!(r.json["errors"][0]["line"], 4);
    assert!(tasks_of(&app, project).await.is_empty());
    assert!(
        app.get(&format!("/api/project/{project}/import"), Some(&owner))
            .await
            .ok()
            .as_array()
            .is_some_and(Vec::is_empty)
    );
    // A file that is none of the formats is refused at once, and so is a bad option.
    let r = upload(
        &app,
        Some(&owner),
        project,
        "x.bin",
        "PK\u{3}\u{4}\0\0",
        "?dry_run=1",
    )
    .await;
    r.err(400, "BadRequest");
    let form = Form::new()
        .part(
            "file",
            Part::bytes(CSV.as_bytes().to_vec()).file_name("t.csv"),
        )
        .text("format", "xlsx");
    let r = app
        .client
        .post(format!("{}/api/project/{project}/import", app.base))
        .query(&[("api_key", &owner.api_key)])
        .multipart(form)
        .send()
        .await
        .expect("upload");
    TestApp::read(r).await.err(400, "BadRequest");
    // A file the importer cannot read as a whole fails the import with why.
    let report = import_file(&app, &owner, project, "t.csv", "a,a\n1,2\n").await;
    assert_eq!(report["status"], "failed");
    assert!(
        report["message"]
            .as_str()
            .is_some_and(|m| m.contains("twice")),
        "{report}"
    );
}

async fn imports_are_for_owners_and_admins(app: TestApp) {
    let (admin, owner, _) = app.seeded().await;
    let other = app.register("stranger").await;
    let project = app.project(&owner, "own").await;
    upload(&app, None, project, "t.csv", CSV, "")
        .await
        .err(401, "Unauthorized");
    upload(&app, Some(&other), project, "t.csv", CSV, "")
        .await
        .err(403, "Forbidden");
    let r = upload(&app, Some(&admin), project, "t.csv", CSV, "").await;
    assert_eq!(r.status, 202, "{}", r.text);
    let id = r.json["id"].as_i64().expect("id");
    app.get(&format!("/api/project/{project}/import/{id}"), Some(&other))
        .await
        .err(403, "Forbidden");
    app.get(
        &format!("/api/project/{project}/import/{id}/rejected"),
        Some(&other),
    )
    .await
    .err(403, "Forbidden");
    // An import is found only under its own project.
    let mine = app.project(&other, "theirs").await;
    app.get(&format!("/api/project/{mine}/import/{id}"), Some(&other))
        .await
        .err(404, "NotFound");
    app.post(
        &format!("/api/project/{project}/tasks/bulk"),
        Some(&other),
        json!({"filter": {}, "delete": true}),
    )
    .await
    .err(403, "Forbidden");
    app.post(
        &format!("/api/project/{project}/import"),
        None,
        json!({"url": "https://example.org/t.csv"}),
    )
    .await
    .err(401, "Unauthorized");
    finished(&app, &owner, project, &r.json).await;
}

/// A small file server for import URLs.
struct Files {
    base: String,
}

#[handler]
fn serve_file(Path(name): Path<String>) -> poem::Response {
    let csv = |body: &str| {
        poem::Response::builder()
            .content_type("text/csv")
            .body(body.to_string())
    };
    match name.as_str() {
        "tasks.csv" => csv(CSV),
        "plain" => poem::Response::builder()
            .content_type("text/plain")
            .body("{\"q\": 1}\n{\"q\": 2}\n"),
        "manifest.json" => poem::Response::builder()
            .content_type("application/ld+json")
            .body(
                json!({
                    "@context": "http://iiif.io/api/presentation/3/context.json",
                    "id": "https://example.org/iiif/m", "type": "Manifest",
                    "items": (1..=3).map(|i| json!({
                        "id": format!("https://example.org/iiif/c{i}"), "type": "Canvas",
                        "label": {"en": [format!("Page {i}")]},
                        "items": [{"type": "AnnotationPage", "items": [{"type": "Annotation",
                            "body": {"id": format!("https://example.org/img/{i}.jpg"), "type": "Image"}}]}]
                    })).collect::<Vec<_>>()
                })
                .to_string(),
            ),
        "page" => poem::Response::builder()
            .content_type("text/html")
            .body("<html><body>Sign in</body></html>"),
        "big" => csv(&format!("a\n{}", "x\n".repeat(200_000))),
        "redirect" => poem::Response::builder()
            .status(StatusCode::FOUND)
            .header("location", "/files/tasks.csv")
            .finish(),
        "loop" => poem::Response::builder()
            .status(StatusCode::FOUND)
            .header("location", "/files/loop")
            .finish(),
        "slow" => {
            std::thread::sleep(Duration::from_millis(2500));
            csv(CSV)
        }
        _ => poem::Response::builder()
            .status(StatusCode::NOT_FOUND)
            .finish(),
    }
}

impl Files {
    async fn start() -> Self {
        let addr = crate::common::serve_locally(
            Route::new()
                .at("/files/:name", get(serve_file))
                .map_to_response(),
        )
        .await;
        Self {
            base: format!("http://{addr}/files"),
        }
    }
}

async fn import_url(app: &TestApp, owner: &User, project: i64, body: Value) -> crate::common::Resp {
    app.post(&format!("/api/project/{project}/import"), Some(owner), body)
        .await
}

async fn links_go_through_the_outbound_guard(postgres: bool) {
    let files = Files::start().await;
    let Some(app) = TestApp::configured(postgres, &|c| {
        c.webhook_allow = "127.0.0.1".into();
        c.max_import_bytes = 100_000;
        c.import_fetch_secs = 2;
    })
    .await
    else {
        return;
    };
    let (_, owner, _) = app.seeded().await;
    let project = app.project(&owner, "urls").await;
    let url = |name: &str| json!({"url": format!("{}/{name}", files.base)});

    let r = import_url(&app, &owner, project, url("tasks.csv")).await;
    assert_eq!(r.status, 202, "{}", r.text);
    let report = finished(&app, &owner, project, &r.json).await;
    assert_eq!(counts(&report), (4, 3, 0, 1), "{report}");
    assert_eq!(report["source"], format!("{}/tasks.csv", files.base));

    // Redirects are followed, each hop checked; the same rows are duplicates now.
    let r = import_url(&app, &owner, project, url("redirect")).await;
    let report = finished(&app, &owner, project, &r.json).await;
    assert_eq!(counts(&report), (4, 0, 3, 1), "{report}");

    // Text that is JSON Lines is read as such; an IIIF manifest gives a task per canvas.
    let r = import_url(&app, &owner, project, url("plain")).await;
    let report = finished(&app, &owner, project, &r.json).await;
    assert_eq!(
        (report["format"].clone(), report["created"].clone()),
        (json!("jsonl"), json!(2)),
        "{report}"
    );
    let r = import_url(&app, &owner, project, url("manifest.json")).await;
    let report = finished(&app, &owner, project, &r.json).await;
    assert_eq!(report["format"], "iiif", "{report}");
    assert_eq!(report["created"], 3, "{report}");
    let page = tasks_of(&app, project)
        .await
        .into_iter()
        .find(|t| t.external_id.as_deref() == Some("https://example.org/iiif/c2"))
        .expect("canvas 2");
    let info = page.info.expect("info");
    assert_eq!(info["label"], "Page 2");
    assert_eq!(info["image"], "https://example.org/img/2.jpg");

    // Each failure says what went wrong.
    for (name, says) in [
        ("missing", "404"),
        ("page", "HTML page"),
        ("big", "larger than"),
        ("loop", "redirects more than"),
        ("slow", "timed out"),
    ] {
        let r = import_url(&app, &owner, project, url(name)).await;
        assert_eq!(r.status, 202, "{}", r.text);
        let report = finished(&app, &owner, project, &r.json).await;
        assert_eq!(report["status"], "failed", "{name}: {report}");
        assert!(
            report["message"].as_str().is_some_and(|m| m.contains(says)),
            "{name}: {report}"
        );
    }
    // A dry run of a link fetches and reads it, and writes nothing.
    let before = tasks_of(&app, project).await.len();
    let mut dry = url("tasks.csv");
    dry["dry_run"] = json!(true);
    let r = import_url(&app, &owner, project, dry).await;
    assert_eq!(r.ok()["valid"], 3, "{}", r.text);
    assert_eq!(tasks_of(&app, project).await.len(), before);
    assert_counters(&app, project).await;

    // Without the allow-list, loopback is refused: a literal address at once, a name when the
    // job resolves it.
    let Some(closed) = TestApp::configured(postgres, &|_| {}).await else {
        return;
    };
    let (_, owner, _) = closed.seeded().await;
    let project = closed.project(&owner, "closed").await;
    for target in [
        format!("{}/tasks.csv", files.base),
        "http://169.254.169.254/latest/meta-data".into(),
        "http://[::1]/x".into(),
        "file:///etc/passwd".into(),
        "gopher://example.org/".into(),
    ] {
        let r = import_url(&closed, &owner, project, json!({ "url": target })).await;
        r.err(400, "BadRequest");
    }
    let port = files
        .base
        .split(':')
        .nth(2)
        .and_then(|p| p.split('/').next())
        .expect("port");
    let r = import_url(
        &closed,
        &owner,
        project,
        json!({ "url": format!("http://localhost:{port}/files/tasks.csv") }),
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.text);
    let report = finished(&closed, &owner, project, &r.json).await;
    assert_eq!(report["status"], "failed");
    assert!(
        report["message"]
            .as_str()
            .is_some_and(|m| m.contains("not resolve to a public address")),
        "{report}"
    );
    assert!(tasks_of(&closed, project).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_go_through_the_outbound_guard_sqlite() {
    links_go_through_the_outbound_guard(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_go_through_the_outbound_guard_postgres() {
    links_go_through_the_outbound_guard(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn projects_reimport_their_link_on_a_schedule_sqlite() {
    projects_reimport_their_link_on_a_schedule(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn projects_reimport_their_link_on_a_schedule_postgres() {
    projects_reimport_their_link_on_a_schedule(true).await;
}

async fn projects_reimport_their_link_on_a_schedule(postgres: bool) {
    let files = Files::start().await;
    let Some(app) = TestApp::configured(postgres, &|c| c.webhook_allow = "127.0.0.1".into()).await
    else {
        return;
    };
    let (_, owner, _) = app.seeded().await;
    let project = app.project(&owner, "auto").await;
    // A bad schedule is refused when set.
    for bad in [
        json!({"url": "ftp://x/y"}),
        json!({"url": format!("{}/tasks.csv", files.base), "every_hours": 0}),
        json!("daily"),
    ] {
        app.put(
            &format!("/api/project/{project}"),
            Some(&owner),
            json!({"info": {"autoimport": bad}}),
        )
        .await
        .err(415, "ValueError");
    }
    app.put(
        &format!("/api/project/{project}"),
        Some(&owner),
        json!({"info": {"autoimport": {"url": format!("{}/tasks.csv", files.base), "every_hours": 6}}}),
    )
    .await
    .ok();
    // Not visible to volunteers.
    let seen = app.get(&format!("/api/project/{project}"), None).await;
    assert!(
        seen.ok()["info"].get("autoimport").is_none(),
        "{}",
        seen.text
    );

    let infra = &app.state.infra;
    let started = tessera_api::domain::platform::import::start_scheduled(infra)
        .await
        .expect("schedule");
    assert_eq!(started, 1);
    let list = app
        .get(&format!("/api/project/{project}/import"), Some(&owner))
        .await;
    let first = list.ok()[0].clone();
    assert_eq!(first["scheduled"], true);
    let report = finished(&app, &owner, project, &first).await;
    assert_eq!(report["created"], 3, "{report}");
    // Not due again for six hours.
    assert_eq!(
        tessera_api::domain::platform::import::start_scheduled(infra)
            .await
            .expect("schedule"),
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_over_the_limit_is_refused_whole() {
    let app = TestApp::configured(false, &|c| c.max_import_bytes = 10_000)
        .await
        .expect("sqlite");
    let (_, owner, _) = app.seeded().await;
    let project = app.project(&owner, "big").await;
    let body = format!("a\n{}", "row\n".repeat(5_000));
    let r = upload(&app, Some(&owner), project, "big.csv", &body, "").await;
    r.err(413, "RequestEntityTooLarge");
    assert!(tasks_of(&app, project).await.is_empty());
    // The connection is still good for the next request.
    let r = upload(&app, Some(&owner), project, "ok.csv", CSV, "").await;
    assert_eq!(r.status, 202, "{}", r.text);
}

/// Answers `n` tasks of the project once each, as signed-in volunteers would.
async fn answer(app: &TestApp, project: i64, volunteer: &User, n: usize) {
    for _ in 0..n {
        let t = app
            .get(&format!("/api/project/{project}/newtask"), Some(volunteer))
            .await;
        let id = t.ok()["id"].as_i64().expect("task");
        app.post(
            "/api/taskrun",
            Some(volunteer),
            json!({"project_id": project, "task_id": id, "info": {"answer": "yes"}}),
        )
        .await
        .ok();
    }
}

async fn bulk_operations_change_and_delete_matching_tasks(app: TestApp) {
    let (_, owner, _) = app.seeded().await;
    let volunteer = app.register("volunteer").await;
    let project = app.project(&owner, "bulk").await;
    // The odd rows carry a gold answer, so that they can become gold tasks below.
    let rows: String = (0..10)
        .map(|i| {
            let (kind, gold) = if i % 2 == 0 {
                ("even", "")
            } else {
                ("odd", "yes")
            };
            format!("{i},{kind},2,{gold}\n")
        })
        .collect();
    let report = import_file(
        &app,
        &owner,
        project,
        "t.csv",
        &format!("n,kind,n_answers,gold_answers\n{rows}"),
    )
    .await;
    assert_eq!(report["created"], 10, "{report}");
    answer(&app, project, &volunteer, 4).await;
    let bulk = |body: Value| {
        let app = &app;
        let owner = &owner;
        async move {
            app.post(
                &format!("/api/project/{project}/tasks/bulk"),
                Some(owner),
                body,
            )
            .await
        }
    };
    // Lowering the redundancy to 1 completes the four answered tasks, each with a result.
    let r = bulk(json!({"filter": {}, "set": {"n_answers": 1}})).await;
    assert_eq!(r.ok()["matched"], 10, "{}", r.text);
    assert_eq!(r.json["updated"], 10);
    assert_eq!(r.json["completed"], 4);
    assert_eq!(r.json["status"], "done");
    let results = result::Entity::find()
        .filter(result::Column::ProjectId.eq(i32::try_from(project).expect("id")))
        .count(&app.state.infra.db)
        .await
        .expect("results");
    assert_eq!(results, 4);
    assert_counters(&app, project).await;
    // Raising it reopens them.
    let r = bulk(json!({"filter": {"state": "completed"}, "set": {"n_answers": 3}})).await;
    assert_eq!(r.ok()["matched"], 4, "{}", r.text);
    assert_eq!(r.json["reopened"], 4);
    assert_counters(&app, project).await;
    // Priority and calibration by info filter, in either spelling.
    let r = bulk(json!({"filter": {"info": "kind::even"}, "set": {"priority_0": 0.75}})).await;
    assert_eq!(r.ok()["updated"], 5, "{}", r.text);
    let r = bulk(json!({"filter": {"info": {"kind": "odd"}}, "set": {"calibration": 1}})).await;
    assert_eq!(r.ok()["updated"], 5, "{}", r.text);
    // Gold tasks leave the work's counts.
    assert_counters(&app, project).await;
    let tasks = tasks_of(&app, project).await;
    for t in &tasks {
        let even = t.info.as_ref().is_some_and(|i| i["kind"] == "even");
        assert_eq!(t.priority_0 > 0.5, even);
        assert_eq!(t.calibration == 1, !even);
    }
    // Bad requests say why and change nothing.
    for bad in [
        json!({"filter": {}}),
        json!({"filter": {}, "set": {}}),
        json!({"filter": {}, "set": {"n_answers": 0}}),
        json!({"filter": {}, "set": {"priority_0": 3}}),
        json!({"filter": {"state": "done"}, "delete": true}),
        json!({"filter": {}, "set": {"n_answers": 2}, "delete": true}),
        json!({"filter": {}, "set": {"n_answers": 2, "calibration": 0}}),
        json!({"filter": {"info": {"kind": "even"}}, "set": {"calibration": 1}}),
    ] {
        let r = bulk(bad.clone()).await;
        assert_eq!(r.status, 400, "{bad}: {}", r.text);
    }
    let r = bulk(json!({"filter": {"sneaky": 1}, "delete": true})).await;
    assert!(r.status.is_client_error(), "{}", r.text);
    assert!(r.text.contains("sneaky"), "{}", r.text);
    assert_eq!(tasks_of(&app, project).await.len(), 10);
    // Delete the answered ones by id, with their answers and results; then the rest.
    let answered: Vec<i32> = tasks
        .iter()
        .filter(|t| t.n_task_runs > 0)
        .map(|t| t.id)
        .collect();
    assert_eq!(answered.len(), 4);
    let r = bulk(json!({"filter": {"ids": answered}, "delete": true})).await;
    assert_eq!(r.ok()["deleted"], 4, "{}", r.text);
    assert_counters(&app, project).await;
    assert_eq!(
        task_run::Entity::find()
            .filter(task_run::Column::ProjectId.eq(i32::try_from(project).expect("id")))
            .count(&app.state.infra.db)
            .await
            .expect("runs"),
        0
    );
    let r = bulk(json!({"filter": {}, "delete": true})).await;
    assert_eq!(r.ok()["deleted"], 6, "{}", r.text);
    assert!(tasks_of(&app, project).await.is_empty());
    assert_counters(&app, project).await;
    // Re-importing after a delete brings the tasks back.
    let report = import_file(
        &app,
        &owner,
        project,
        "t.csv",
        &format!("n,kind,n_answers,gold_answers\n{rows}"),
    )
    .await;
    assert_eq!(report["created"], 10, "{report}");
}

async fn owners_unpublish_and_publish_again(app: TestApp) {
    let (_, owner, _) = app.seeded().await;
    let other = app.register("nosy").await;
    let project = app.project(&owner, "pub").await;
    app.task(&owner, project, json!({"a": 1})).await;
    app.post(
        &format!("/api/project/{project}/unpublish"),
        Some(&other),
        json!({}),
    )
    .await
    .err(403, "Forbidden");
    let r = app
        .post(
            &format!("/api/project/{project}/unpublish"),
            Some(&owner),
            json!({}),
        )
        .await;
    assert_eq!(r.ok()["published"], false);
    app.get(&format!("/api/project/{project}"), None)
        .await
        .err(401, "Unauthorized");
    app.publish(&owner, project).await;
    app.get(&format!("/api/project/{project}"), None).await.ok();
}

on_both_stores!(
    csv_imports_once_and_reimports_only_new_rows,
    json_lines_and_dedup_by_external_id,
);
on_both!(
    dry_runs_write_nothing,
    imports_are_for_owners_and_admins,
    bulk_operations_change_and_delete_matching_tasks,
    owners_unpublish_and_publish_again,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_line_imports_a_file() {
    let app = TestApp::sqlite().await;
    let (_, owner, _) = app.seeded().await;
    let project = app.project(&owner, "cli").await;
    let file = app.data_dir.join("tasks.csv");
    std::fs::write(&file, CSV).expect("write");
    let run = |extra: &[&str]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_tessera"));
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("TESSERA_DATA_DIR", &app.data_dir)
            .env(
                "DATABASE_URL",
                format!("sqlite://{}?mode=rwc", app.data_dir.join("t.db").display()),
            )
            .env("TESSERA_SECRET", "test-secret")
            .env("RUST_LOG", "warn")
            .args(["import", "--project", "cli"])
            .args(extra)
            .arg(&file);
        cmd.output().expect("tessera import")
    };
    let dry = run(&["--dry-run"]);
    assert!(
        dry.status.success(),
        "{}",
        String::from_utf8_lossy(&dry.stderr)
    );
    let preview: Value = serde_json::from_slice(&dry.stdout).expect("preview JSON");
    assert_eq!(preview["valid"], 3);
    assert!(tasks_of(&app, project).await.is_empty());

    let out = run(&["--n-answers", "5"]);
    let said = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("created 3 tasks, 0 duplicates, 1 rejected"),
        "{said}"
    );
    let tasks = tasks_of(&app, project).await;
    assert_eq!(tasks.len(), 3);
    assert!(
        tasks.iter().any(|t| t.n_answers == 5),
        "the default redundancy applies"
    );
    let out = run(&[]);
    let said = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(said.contains("created 0 tasks, 3 duplicates"), "{said}");
    assert_counters(&app, project).await;
    // The import is on the project's list like any other.
    let list = app
        .get(&format!("/api/project/{project}/import"), Some(&owner))
        .await;
    assert_eq!(list.ok().as_array().map(Vec::len), Some(2));
    let missing = run(&["--format", "nope"]);
    assert!(!missing.status.success());
}
