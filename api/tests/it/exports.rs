//! Exports: every table in every format over HTTP, permissions, and flat memory from the CLI.

use serde_json::{Value, json};

use crate::{
    common::{TestApp, User},
    on_both_stores,
};

async fn download(app: &TestApp, path: &str, who: Option<&User>) -> (u16, String, Vec<u8>) {
    let mut url = format!("{}{path}", app.base);
    if let Some(u) = who {
        url.push_str(&format!("&api_key={}", u.api_key));
    }
    let resp = app.client.get(url).send().await.expect("request");
    let status = resp.status().as_u16();
    let disposition = resp
        .headers()
        .get("content-disposition")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let body = resp.bytes().await.expect("body").to_vec();
    (status, disposition, body)
}

// The `seek` reader is deprecated in favour of `read1`, whose API is still settling; this is
// only a test's check of what the server wrote.
#[allow(deprecated)]
async fn unzip(bytes: Vec<u8>) -> (String, String) {
    use futures_util::AsyncReadExt;
    let mut reader =
        async_zip::base::read::seek::ZipFileReader::new(futures_util::io::Cursor::new(bytes))
            .await
            .expect("a zip");
    let name = reader.file().entries()[0]
        .filename()
        .as_str()
        .expect("name")
        .to_string();
    let mut text = String::new();
    reader
        .reader_with_entry(0)
        .await
        .expect("entry")
        .read_to_string(&mut text)
        .await
        .expect("read");
    (name, text)
}

async fn every_format_round_trips_the_rows_for_permitted_callers(app: TestApp) {
    let (_admin, owner, _) = app.seeded().await;
    let project = app.project(&owner, "exp").await;
    for i in 0..3 {
        let t = app
            .task(
                &owner,
                project,
                json!({"question": format!("q{i}"), "meta": {"size": i, "tags": ["a", "b"]}}),
            )
            .await;
        app.put(
            &format!("/api/task/{t}"),
            Some(&owner),
            json!({"n_answers": 1}),
        )
        .await
        .ok();
    }
    let v = app.register("volunteer").await;
    for _ in 0..2 {
        let t = app
            .get(&format!("/api/project/{project}/newtask"), Some(&v))
            .await
            .ok()["id"]
            .as_i64()
            .expect("task");
        app.post(
            "/api/taskrun",
            Some(&v),
            json!({"project_id": project, "task_id": t, "info": {"label": "cat, \"big\""}}),
        )
        .await
        .ok();
    }
    let base = format!("/api/project/{project}/export?");

    // JSON: an array of the rows as the API shows them.
    let (status, disposition, body) =
        download(&app, &format!("{base}type=task&format=json"), Some(&owner)).await;
    assert_eq!(status, 200);
    assert!(disposition.contains("exp_task.json"), "{disposition}");
    let tasks: Vec<Value> = serde_json::from_slice(&body).expect("json array");
    assert_eq!(tasks.len(), 3);
    assert_eq!(tasks[0]["info"]["meta"]["size"], 0);

    // JSON Lines.
    let (_, _, body) = download(
        &app,
        &format!("{base}type=task_run&format=jsonl"),
        Some(&owner),
    )
    .await;
    let lines: Vec<Value> = String::from_utf8(body)
        .expect("utf-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a json line"))
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["info"]["label"], "cat, \"big\"");

    // CSV: info flattened into columns; quoting survives a round trip.
    let (_, _, body) = download(&app, &format!("{base}type=task&format=csv"), Some(&owner)).await;
    let mut csv = csv::Reader::from_reader(body.as_slice());
    let header: Vec<String> = csv
        .headers()
        .expect("header")
        .iter()
        .map(String::from)
        .collect();
    for col in [
        "id",
        "project_id",
        "info_question",
        "info_meta_size",
        "info_meta_tags",
    ] {
        assert!(header.contains(&col.to_string()), "{col} in {header:?}");
    }
    let rows: Vec<csv::StringRecord> = csv.records().map(|r| r.expect("row")).collect();
    assert_eq!(rows.len(), 3);
    let at = |name: &str| header.iter().position(|h| h == name).expect("column");
    assert_eq!(&rows[2][at("info_question")], "q2");
    assert_eq!(&rows[2][at("info_meta_tags")], "[\"a\",\"b\"]");
    let (_, _, body) = download(
        &app,
        &format!("{base}type=task_run&format=csv"),
        Some(&owner),
    )
    .await;
    let mut csv = csv::Reader::from_reader(body.as_slice());
    let label = csv
        .headers()
        .expect("header")
        .iter()
        .position(|h| h == "info_label")
        .expect("info_label");
    let first = csv.records().next().expect("a row").expect("row");
    assert_eq!(&first[label], "cat, \"big\"");

    // Results, zipped: the current result of each completed task.
    let (status, disposition, body) = download(
        &app,
        &format!("{base}type=result&format=json&zip=1"),
        Some(&owner),
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        disposition.contains(&format!("{project}_exp_result_json.zip")),
        "{disposition}"
    );
    let (name, text) = unzip(body).await;
    assert_eq!(name, "exp_result.json");
    let results: Vec<Value> = serde_json::from_str(&text).expect("json");
    assert_eq!(results.len(), 2);
    assert!(results.iter().all(|r| r["last_version"] == true));

    // Bad requests and permissions.
    let (status, _, body) =
        download(&app, &format!("{base}type=users&format=csv"), Some(&owner)).await;
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&body));
    let (status, _, _) = download(&app, &format!("{base}type=task&format=xml"), Some(&owner)).await;
    assert_eq!(status, 400);
    // Without zip_download, only owners and admins export.
    app.put(
        &format!("/api/project/{project}"),
        Some(&owner),
        json!({"zip_download": false}),
    )
    .await
    .ok();
    let (status, _, _) = download(&app, &format!("{base}type=task&format=csv"), Some(&v)).await;
    assert_eq!(status, 403);
    let (status, _, _) = download(&app, &format!("{base}type=task&format=csv"), None).await;
    assert_eq!(status, 401);
    // Published with zip_download on: anyone may download.
    app.put(
        &format!("/api/project/{project}"),
        Some(&owner),
        json!({"zip_download": true}),
    )
    .await
    .ok();
    let (status, _, _) = download(&app, &format!("{base}type=task&format=csv"), None).await;
    assert_eq!(status, 200);
}

on_both_stores!(every_format_round_trips_the_rows_for_permitted_callers);

/// Inserts `runs` answers into a new project, straight into the database.
async fn seed(app: &TestApp, owner: &User, short: &str, runs: usize) -> i64 {
    use sea_orm::{EntityTrait, Set};
    use tessera_api::store::entities::{task, task_run};
    let project = app.project(owner, short).await;
    let per_task = 100;
    let n_tasks = runs / per_task;
    let stamp = "2026-11-27T00:00:00.000000".to_string();
    let tasks = (0..n_tasks).map(|i| task::ActiveModel {
        created: Set(stamp.clone()),
        project_id: Set(project as i32),
        state: Set(tessera_api::store::entities::task::TaskState::Ongoing),
        quorum: Set(0),
        calibration: Set(0),
        priority_0: Set(0.0),
        n_answers: Set(1000),
        n_task_runs: Set(per_task as i32),
        info: Set(Some(json!({"i": i}))),
        fav_user_ids: Set(None),
        ..Default::default()
    });
    task::Entity::insert_many(tasks)
        .exec_without_returning(&app.state.infra.db)
        .await
        .expect("tasks");
    let first: i32 = task::Entity::find()
        .all(&app.state.infra.db)
        .await
        .expect("tasks")
        .iter()
        .filter(|t| i64::from(t.project_id) == project)
        .map(|t| t.id)
        .min()
        .expect("a task");
    let rows: Vec<task_run::ActiveModel> = (0..runs)
        .map(|i| task_run::ActiveModel {
            created: Set(stamp.clone()),
            project_id: Set(project as i32),
            task_id: Set(first + (i / per_task) as i32),
            user_id: Set(None),
            user_ip: Set(Some(format!("10.{}.{}.{}", i % 200, (i / 200) % 250, i % 100))),
            finish_time: Set(stamp.clone()),
            timeout: Set(None),
            calibration: Set(None),
            external_uid: Set(None),
            media_url: Set(None),
            info: Set(Some(json!({"answer": format!("label-{}", i % 7), "confidence": i % 5, "note": "a few words so a row is not tiny"}))),
            ..Default::default()
        })
        .collect();
    for chunk in rows.chunks(500) {
        task_run::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(&app.state.infra.db)
            .await
            .expect("runs");
    }
    project
}

/// Runs `tessera export` and returns the peak memory it reports (kB).
fn export_cli(app: &TestApp, project: i64, out: &std::path::Path) -> i64 {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args([
            "export",
            "--project",
            &project.to_string(),
            "--type",
            "task_run",
            "--format",
            "csv",
            "--zip",
            "--output",
        ])
        .arg(out)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", app.state.infra.config.database_url())
        .env("RUST_LOG", "warn")
        // jemalloc keeps freed pages for ten seconds, in whichever arena the thread that freed
        // them uses: the peak then depends on which threads ran the export, not on how much it
        // held. Freed pages go back at once, so the peak measures what the export keeps.
        .env("_RJEM_MALLOC_CONF", "dirty_decay_ms:0,muzzy_decay_ms:0")
        .output()
        .expect("run export");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    // "exported N rows to F (peak memory K kB)"
    stderr
        .rsplit_once("peak memory ")
        .and_then(|(_, rest)| rest.split(' ').next())
        .and_then(|k| k.parse().ok())
        .unwrap_or_else(|| panic!("no peak memory in {stderr}"))
}

/// Ten times the answers, the same memory: the export streams.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_memory_stays_flat() {
    let app = TestApp::sqlite().await;
    let (_admin, owner, _) = app.seeded().await;
    let small = seed(&app, &owner, "small", 10_000).await;
    let large = seed(&app, &owner, "large", 100_000).await;
    let dir = app.data_dir.clone();

    let after_small = export_cli(&app, small, &dir.join("small.zip"));
    let after_large = export_cli(&app, large, &dir.join("large.zip"));
    eprintln!("peak RSS: 10k answers {after_small} kB, 100k answers {after_large} kB");
    assert!(
        after_large * 10 <= after_small * 13,
        "memory grew with the export: {after_small} kB for 10k answers, {after_large} kB for 100k"
    );
    assert!(after_large < 64 * 1024, "peak {after_large} kB");

    // The large file is complete: 100k rows and a header.
    let bytes = std::fs::read(dir.join("large.zip")).expect("zip");
    let (_, text) = unzip(bytes).await;
    assert_eq!(text.lines().count(), 100_001);
    assert!(
        text.lines()
            .next()
            .is_some_and(|h| h.contains("info_answer"))
    );
}
