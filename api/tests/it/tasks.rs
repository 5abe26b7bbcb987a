use serde_json::{Value, json};

use crate::{common::TestApp, on_both};

fn ids(v: &Value) -> Vec<i64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|t| t["id"].as_i64().expect("id"))
        .collect()
}

async fn only_owners_write_tasks_anyone_reads_them_and_counts_follow(app: TestApp) {
    let (admin, owner, _) = app.seeded().await;
    let other = app.register("other").await;
    let project = app.project(&owner, "p").await;

    let body = json!({"project_id": project, "info": {"url": "https://x/1.png"}, "n_answers": "5", "priority_0": "0.5"});
    app.post("/api/task", None, body.clone())
        .await
        .err(401, "Unauthorized");
    app.post("/api/task", Some(&other), body.clone())
        .await
        .err(403, "Forbidden");
    app.post(
        "/api/task",
        Some(&owner),
        json!({"project_id": 9999, "info": {}}),
    )
    .await
    .err(415, "AttributeError");
    app.post("/api/task", Some(&owner), json!({"info": {}}))
        .await
        .err(415, "AttributeError");
    app.post(
        "/api/task",
        Some(&owner),
        json!({"project_id": project, "n_answers": 0}),
    )
    .await
    .err(415, "ValueError");
    app.post(
        "/api/task",
        Some(&owner),
        json!({"project_id": project, "state": "completed"}),
    )
    .await
    .err(400, "BadRequest");
    // The answer count is the server's: sent back by a client, it is dropped.
    let r = app
        .post(
            "/api/task",
            Some(&owner),
            json!({"project_id": project, "n_task_runs": 3}),
        )
        .await;
    assert_eq!(r.ok()["n_task_runs"], 0, "{}", r.text);
    let extra = r.json["id"].as_i64().expect("id");
    app.delete(&format!("/api/task/{extra}"), Some(&owner))
        .await;
    app.post(
        "/api/task",
        Some(&owner),
        json!({"project_id": project, "n_answers": "many"}),
    )
    .await
    .err(415, "ValueError");

    let r = app.post("/api/task", Some(&owner), body).await;
    let t = r.ok().clone();
    assert_eq!(
        t["n_answers"], 5,
        "numeric strings are accepted for integers"
    );
    assert_eq!(t["priority_0"], 0.5);
    assert_eq!(t["state"], "ongoing");
    assert_eq!(t["n_task_runs"], 0, "the answers it has are shown");
    let id = t["id"].as_i64().expect("id");

    // Anyone reads tasks, with links to the project.
    let got = app.get(&format!("/api/task/{id}"), None).await;
    assert_eq!(got.ok()["info"]["url"], "https://x/1.png");
    assert!(
        got.json["links"][0]
            .as_str()
            .is_some_and(|l| l.contains(&format!("/api/project/{project}")))
    );

    // pbs sends n_answers as a string when changing redundancy.
    let r = app
        .put(
            &format!("/api/task/{id}"),
            Some(&owner),
            json!({"n_answers": "7"}),
        )
        .await;
    assert_eq!(r.ok()["n_answers"], 7);
    app.put(
        &format!("/api/task/{id}"),
        Some(&other),
        json!({"n_answers": 2}),
    )
    .await
    .err(403, "Forbidden");
    app.put(
        &format!("/api/task/{id}"),
        Some(&owner),
        json!({"project_id": project + 1}),
    )
    .await
    .err(403, "Forbidden");

    // Counters follow creates and deletes.
    let stats = app
        .get(&format!("/api/project/{project}?stats=1"), Some(&owner))
        .await;
    assert_eq!(stats.ok()["stats"]["n_tasks"], 1);
    app.delete(&format!("/api/task/{id}"), Some(&other))
        .await
        .err(403, "Forbidden");
    app.delete(&format!("/api/task/{id}"), Some(&owner))
        .await
        .ok();
    let second = app.task(&owner, project, json!({})).await;
    app.delete(&format!("/api/task/{second}"), Some(&admin))
        .await
        .ok();
    let stats = app
        .get(&format!("/api/project/{project}?stats=1"), Some(&owner))
        .await;
    assert_eq!(stats.ok()["stats"]["n_tasks"], 0);
}

async fn paging_and_filters_return_exactly_the_matching_tasks(app: TestApp) {
    let (_admin, owner, _) = app.seeded().await;
    let p1 = app.project(&owner, "p1").await;
    let p2 = app.project(&owner, "p2").await;
    let mut all = vec![];
    for i in 0..130 {
        let info = json!({"n": i, "kind": if i % 2 == 0 { "even" } else { "odd" }, "tags": [format!("t{}", i % 3)],
                          "meta": {"deep": {"x": i % 5}}, "text": format!("The quick brown fox number {i}")});
        let r = app
            .post("/api/task", Some(&owner), json!({"project_id": if i < 120 { p1 } else { p2 }, "info": info, "priority_0": f64::from(i % 10) / 10.0}))
            .await;
        all.push(r.ok()["id"].as_i64().expect("id"));
    }
    let get = |q: String| {
        let app = &app;
        let owner = owner.clone();
        async move { app.get(&format!("/api/task?{q}"), Some(&owner)).await }
    };

    // limit: default 20, at most 100, 0 gives [], garbage falls back to 20, negative is refused.
    assert_eq!(ids(get(String::new()).await.ok()).len(), 20);
    assert_eq!(ids(get("limit=500".into()).await.ok()).len(), 100);
    assert_eq!(get("limit=0".into()).await.ok(), &json!([]));
    assert_eq!(ids(get("limit=abc".into()).await.ok()).len(), 20);
    get("limit=-1".into()).await.err(415, "DataError");
    get("offset=-1".into()).await.err(415, "DataError");

    // offset and last_id walk the same ascending order.
    let page2 = ids(get("limit=10&offset=10".into()).await.ok());
    assert_eq!(page2, all[10..20]);
    let keyset = ids(get(format!("limit=10&last_id={}", all[9])).await.ok());
    assert_eq!(keyset, all[10..20]);
    // last_id ignores offset and desc, as enki expects.
    let keyset = ids(
        get(format!("limit=5&last_id={}&offset=50&desc=true", all[9]))
            .await
            .ok(),
    );
    assert_eq!(keyset, all[10..15]);
    get("last_id=abc".into()).await.err(415, "ValueError");

    // Walking every page with last_id finds each task once.
    let mut seen = vec![];
    let mut last = 0;
    loop {
        let page = ids(get(format!("limit=100&last_id={last}")).await.ok());
        if page.is_empty() {
            break;
        }
        last = *page.last().expect("last");
        seen.extend(page);
    }
    assert_eq!(seen, all);

    // orderby / desc.
    let desc = ids(get("limit=3&desc=true".into()).await.ok());
    assert_eq!(desc, vec![all[129], all[128], all[127]]);
    let by_priority =
        get("limit=100&orderby=priority_0&desc=1&project_id=".to_string() + &p1.to_string()).await;
    let prios: Vec<f64> = by_priority
        .ok()
        .as_array()
        .expect("a")
        .iter()
        .map(|t| t["priority_0"].as_f64().expect("p"))
        .collect();
    assert!(prios.windows(2).all(|w| w[0] >= w[1]), "{prios:?}");
    get("orderby=nope".into()).await.err(415, "AttributeError");
    get("desc=maybe".into()).await.err(415, "ValueError");

    // Column filters, project_id lists, created prefix.
    assert_eq!(
        ids(get(format!("limit=100&project_id={p2}")).await.ok()).len(),
        10
    );
    assert_eq!(
        ids(get(format!("limit=100&project_id=[{p1},{p2}]&offset=100"))
            .await
            .ok())
        .len(),
        30
    );
    assert_eq!(
        ids(get(format!("limit=100&project_id={p1},{p2}&offset=100"))
            .await
            .ok())
        .len(),
        30
    );
    assert_eq!(ids(get(format!("id={}", all[5])).await.ok()), vec![all[5]]);
    assert_eq!(ids(get("state=completed".into()).await.ok()).len(), 0);
    let first = get("limit=1".into()).await;
    let year = &first.json[0]["created"].as_str().expect("created")[..4];
    assert_eq!(
        ids(get(format!("limit=100&created={year}")).await.ok()).len(),
        100
    );
    assert_eq!(ids(get("created=1999".into()).await.ok()).len(), 0);
    get("nosuchcolumn=1".into())
        .await
        .err(415, "AttributeError");
    get("n_answers=abc".into()).await.err(415, "DataError");

    // info: legacy key::value pairs (text comparison), and JSON containment.
    assert_eq!(
        ids(get("limit=100&info=kind::even".into()).await.ok()).len(),
        65
    );
    assert_eq!(ids(get("info=n::7".into()).await.ok()), vec![all[7]]);
    assert_eq!(ids(get("info=n::7|kind::even".into()).await.ok()).len(), 0);
    let q = |v: Value| format!("limit=100&info={}", urlencode(&v.to_string()));
    assert_eq!(ids(get(q(json!({"n": 7}))).await.ok()), vec![all[7]]);
    assert_eq!(
        ids(get(q(json!({"kind": "odd", "tags": ["t0"]}))).await.ok()).len(),
        22
    );
    assert_eq!(
        ids(get(q(json!({"meta": {"deep": {"x": 4}}}))).await.ok()).len(),
        26
    );
    assert_eq!(
        ids(get(q(json!({"n": "7"}))).await.ok()).len(),
        0,
        "types matter in containment"
    );
    assert_eq!(
        ids(get(q(json!({"tags": ["t0", "t1"]}))).await.ok()).len(),
        0
    );

    // Full-text search on an info key: every word must occur, stemmed, stop words ignored,
    // with the same answers on PostgreSQL and SQLite.
    let hits = ids(
        get("limit=100&fulltextsearch=1&info=text::number%20fox".into())
            .await
            .ok(),
    );
    assert_eq!(hits.len(), 100);
    let hits = ids(get("fulltextsearch=1&info=text::elephant".into())
        .await
        .ok());
    assert!(hits.is_empty());
    let hits = ids(
        get("limit=100&fulltextsearch=1&info=text::the%20foxes%20numbered".into())
            .await
            .ok(),
    );
    assert_eq!(
        hits.len(),
        100,
        "stemmed: foxes -> fox, numbered -> number; 'the' ignored"
    );
    let hits = ids(get("fulltextsearch=1&info=text::number%2042".into())
        .await
        .ok());
    assert_eq!(hits, vec![all[42]]);
    let hits = ids(
        get("fulltextsearch=1&info=text::quick%20(%22fox%22)*".into())
            .await
            .ok(),
    );
    assert_eq!(hits.len(), 20, "punctuation in the query is not syntax");
    // The index follows updates and deletes.
    app.put(
        &format!("/api/task/{}", all[42]),
        Some(&owner),
        json!({"info": {"text": "An elephant"}}),
    )
    .await
    .ok();
    assert_eq!(
        ids(get("fulltextsearch=1&info=text::elephants".into())
            .await
            .ok()),
        vec![all[42]]
    );
    assert!(
        ids(get("fulltextsearch=1&info=text::number%2042".into())
            .await
            .ok())
        .is_empty()
    );
    app.delete(&format!("/api/task/{}", all[42]), Some(&owner))
        .await
        .ok();
    assert!(
        ids(get("fulltextsearch=1&info=text::elephant".into())
            .await
            .ok())
        .is_empty()
    );

    // HEAD answers like GET without a body.
    let head = app
        .client
        .head(format!("{}/api/task", app.base))
        .send()
        .await
        .expect("head");
    assert_eq!(head.status().as_u16(), 200);
    assert!(head.text().await.expect("body").is_empty());
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn signed_in_non_owners_see_tasks_only_with_all(app: TestApp) {
    let (_admin, owner, _) = app.seeded().await;
    let other = app.register("other").await;
    let project = app.project(&owner, "p").await;
    let task = app.task(&owner, project, json!({"a": 1})).await;
    // Signed-in non-owners see no tasks without all=1 (pbs/enki pass all=1).
    assert_eq!(
        app.get(&format!("/api/task?project_id={project}"), Some(&other))
            .await
            .ok(),
        &json!([])
    );
    assert_eq!(
        ids(app
            .get(
                &format!("/api/task?project_id={project}&all=1"),
                Some(&other)
            )
            .await
            .ok()),
        vec![task]
    );
    assert_eq!(
        ids(app
            .get(&format!("/api/task?project_id={project}"), None)
            .await
            .ok()),
        vec![task]
    );
    // related adds answers and the result.
    let r = app
        .get(&format!("/api/task?project_id={project}&related=1"), None)
        .await;
    assert_eq!(r.ok()[0]["task_runs"], json!([]));
    assert_eq!(r.json[0]["result"], Value::Null);
    let r = app.get(&format!("/api/task/{task}?related=1"), None).await;
    assert_eq!(r.ok()["task_runs"], json!([]));
    // participated filters out nothing for a caller who answered nothing.
    assert_eq!(
        ids(app
            .get(
                &format!("/api/task?project_id={project}&participated=1&all=1"),
                Some(&other)
            )
            .await
            .ok()),
        vec![task]
    );
}

on_both!(
    only_owners_write_tasks_anyone_reads_them_and_counts_follow,
    paging_and_filters_return_exactly_the_matching_tasks,
    signed_in_non_owners_see_tasks_only_with_all
);
