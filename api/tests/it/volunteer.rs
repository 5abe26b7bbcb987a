//! The volunteer loop: newtask, answers, completion, results — alone and under concurrency.

use std::{
    collections::{HashMap, HashSet},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tessera_api::ids::TaskId;

use crate::{
    common::{Resp, TestApp, User},
    on_both_stores,
};

async fn project_with_tasks(
    app: &TestApp,
    owner: &User,
    short: &str,
    n: usize,
    n_answers: i64,
    info: Value,
) -> (i64, Vec<i64>) {
    let project = app.project(owner, short).await;
    if !info.is_null() {
        app.put(
            &format!("/api/project/{project}"),
            Some(owner),
            json!({ "info": info }),
        )
        .await
        .ok();
    }
    let mut tasks = vec![];
    for i in 0..n {
        let r = app
            .post("/api/task", Some(owner), json!({"project_id": project, "info": {"i": i}, "n_answers": n_answers, "priority_0": (i % 10) as f64 / 10.0}))
            .await;
        tasks.push(r.ok()["id"].as_i64().expect("id"));
    }
    (project, tasks)
}

async fn newtask(app: &TestApp, project: i64, who: Option<&User>, query: &str) -> Resp {
    app.get(&format!("/api/project/{project}/newtask?{query}"), who)
        .await
}

async fn answer(app: &TestApp, project: i64, task: i64, who: Option<&User>, info: Value) -> Resp {
    app.post(
        "/api/taskrun",
        who,
        json!({"project_id": project, "task_id": task, "info": info}),
    )
    .await
}

async fn loop_completes_tasks_with_results(app: TestApp) {
    let (_admin, owner, _) = app.seeded().await;
    let a = app.register("alice").await;
    let b = app.register("bob").await;
    let c = app.register("carol").await;
    let (project, tasks) = project_with_tasks(&app, &owner, "p", 2, 2, Value::Null).await;

    // Answering without asking first is refused.
    answer(&app, project, tasks[0], Some(&a), json!("cat"))
        .await
        .err(403, "Forbidden");
    let r = newtask(&app, project, Some(&a), "").await;
    assert_eq!(r.ok()["id"], tasks[0], "oldest task first");
    assert!(r.json.get("link").is_none());
    // Wrong project for the task.
    app.post(
        "/api/taskrun",
        Some(&a),
        json!({"project_id": project + 99, "task_id": tasks[0], "info": 1}),
    )
    .await
    .err(403, "Forbidden");
    app.post(
        "/api/taskrun",
        Some(&a),
        json!({"project_id": project, "task_id": 999_999, "info": 1}),
    )
    .await
    .err(403, "Forbidden");
    app.post(
        "/api/taskrun",
        Some(&a),
        json!({"project_id": project, "task_id": tasks[0], "id": 5}),
    )
    .await
    .err(400, "BadRequest");
    let run = answer(&app, project, tasks[0], Some(&a), json!("cat")).await;
    let run = run.ok().clone();
    assert_eq!(run["user_id"], a.id);
    assert_eq!(run["task_id"], tasks[0]);
    assert!(
        run["created"].as_str() <= run["finish_time"].as_str(),
        "created is when the task was requested"
    );
    // Once answered, the same volunteer cannot answer again, nor is offered the task again.
    answer(&app, project, tasks[0], Some(&a), json!("dog"))
        .await
        .err(403, "Forbidden");
    let next = newtask(&app, project, Some(&a), "").await;
    assert_eq!(next.ok()["id"], tasks[1]);

    // Bob completes task 0: exactly one result, with the aggregate.
    assert_eq!(
        newtask(&app, project, Some(&b), "").await.ok()["id"],
        tasks[0]
    );
    answer(&app, project, tasks[0], Some(&b), json!("cat"))
        .await
        .ok();
    let t = app.get(&format!("/api/task/{}", tasks[0]), None).await;
    assert_eq!(t.ok()["state"], "completed");
    let results = app
        .get(&format!("/api/result?task_id={}&all=1", tasks[0]), None)
        .await;
    let results = results.ok().as_array().expect("results").clone();
    assert_eq!(results.len(), 1);
    assert_eq!(results[0]["info"]["aggregate"]["value"], "cat");
    assert_eq!(results[0]["info"]["aggregate"]["agreement"], 1.0);
    assert_eq!(results[0]["task_run_ids"].as_array().map(Vec::len), Some(2));

    // Carol is never offered the completed task; userprogress counts answers.
    assert_eq!(
        newtask(&app, project, Some(&c), "").await.ok()["id"],
        tasks[1]
    );
    let p = app
        .get(&format!("/api/project/{project}/userprogress"), Some(&a))
        .await;
    assert_eq!(p.ok(), &json!({"done": 1, "total": 2, "remaining": 1}));
    let p = app.get("/api/project/p/userprogress", Some(&b)).await;
    assert_eq!(p.ok()["done"], 1);
    app.get("/api/project/nope/userprogress", None)
        .await
        .err(404, "NotFound");

    // Owners may overwrite the result; others may not.
    let rid = results[0]["id"].as_i64().expect("id");
    app.put(
        &format!("/api/result/{rid}"),
        Some(&a),
        json!({"info": {"x": 1}}),
    )
    .await
    .err(403, "Forbidden");
    app.put(
        &format!("/api/result/{rid}"),
        Some(&owner),
        json!({"info": {"final": "cat"}}),
    )
    .await
    .ok();
    // A completed answer cannot be deleted or edited by its author.
    let run_id = run["id"].as_i64().expect("id");
    app.delete(&format!("/api/taskrun/{run_id}"), Some(&a))
        .await
        .err(403, "Forbidden");

    // Counters follow.
    let stats = app
        .get(&format!("/api/project/{project}?stats=1"), Some(&owner))
        .await;
    let s = &stats.ok()["stats"];
    assert_eq!(
        (
            s["n_tasks"].as_i64(),
            s["n_task_runs"].as_i64(),
            s["n_completed_tasks"].as_i64(),
            s["n_results"].as_i64()
        ),
        (Some(2), Some(2), Some(1), Some(1))
    );

    // Prometheus metrics count the answers, the completion and the requests.
    let metrics = app
        .client
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .expect("metrics");
    let text = metrics.text().await.expect("text");
    assert!(text.contains("tessera_answers_total 2"), "{text}");
    assert!(text.contains("tessera_tasks_completed_total 1"), "{text}");
    assert!(
        text.contains(
            "tessera_http_requests_total{route=\"newtask\",method=\"GET\",status=\"200\"}"
        ),
        "{text}"
    );
    assert!(
        text.contains("tessera_http_request_duration_seconds_bucket{"),
        "{text}"
    );
    assert!(text.contains("tessera_redis_errors_total 0"), "{text}");
}

async fn lowering_redundancy_completes_raising_reopens_surplus_is_409(app: TestApp) {
    let (_admin, owner, _) = app.seeded().await;
    let a = app.register("alice").await;
    let b = app.register("bob").await;
    let (project, tasks) = project_with_tasks(&app, &owner, "p", 1, 2, Value::Null).await;
    let t = tasks[0];
    assert_eq!(newtask(&app, project, Some(&a), "").await.ok()["id"], t);
    assert_eq!(newtask(&app, project, Some(&b), "").await.ok()["id"], t);
    // Lowering redundancy: Alice's answer completes it; Bob's is surplus and refused.
    app.put(
        &format!("/api/task/{t}"),
        Some(&owner),
        json!({"n_answers": 1}),
    )
    .await
    .ok();
    answer(&app, project, t, Some(&a), json!({"animal": "cat"}))
        .await
        .ok();
    answer(&app, project, t, Some(&b), json!({"animal": "dog"}))
        .await
        .err(409, "Conflict");
    assert_eq!(
        app.get(&format!("/api/task/{t}"), None).await.ok()["state"],
        "completed"
    );
    // A PUT that leaves n_answers alone keeps it completed (PYBOSSA reopened it).
    app.put(
        &format!("/api/task/{t}"),
        Some(&owner),
        json!({"priority_0": 0.9}),
    )
    .await
    .ok();
    assert_eq!(
        app.get(&format!("/api/task/{t}"), None).await.ok()["state"],
        "completed"
    );
    // Raising it reopens the task; the next answer completes it again with a new result.
    app.put(
        &format!("/api/task/{t}"),
        Some(&owner),
        json!({"n_answers": 2}),
    )
    .await
    .ok();
    assert_eq!(
        app.get(&format!("/api/task/{t}"), None).await.ok()["state"],
        "ongoing"
    );
    assert_eq!(newtask(&app, project, Some(&b), "").await.ok()["id"], t);
    answer(&app, project, t, Some(&b), json!({"animal": "cat"}))
        .await
        .ok();
    let current = app
        .get(&format!("/api/result?task_id={t}&all=1"), None)
        .await;
    assert_eq!(current.ok().as_array().map(Vec::len), Some(1));
    assert_eq!(
        current.json[0]["info"]["aggregate"]["fields"]["animal"]["value"],
        "cat"
    );
    let old = app
        .get(
            &format!("/api/result?task_id={t}&last_version=false&all=1"),
            None,
        )
        .await;
    assert_eq!(old.ok().as_array().map(Vec::len), Some(1));
    // Lowering redundancy below the answers a task has completes it at once.
    let t2 = app.task(&owner, project, json!({"k": 2})).await;
    app.put(
        &format!("/api/task/{t2}"),
        Some(&owner),
        json!({"n_answers": 3}),
    )
    .await
    .ok();
    assert_eq!(newtask(&app, project, Some(&a), "").await.ok()["id"], t2);
    answer(&app, project, t2, Some(&a), json!(true)).await.ok();
    app.put(
        &format!("/api/task/{t2}"),
        Some(&owner),
        json!({"n_answers": 1}),
    )
    .await
    .ok();
    assert_eq!(
        app.get(&format!("/api/task/{t2}"), None).await.ok()["state"],
        "completed"
    );
    let r = app
        .get(&format!("/api/result?task_id={t2}&all=1"), None)
        .await;
    assert_eq!(r.ok()[0]["info"]["aggregate"]["value"], true);

    // Volunteers already counted in the project complete a task, then complete it again once
    // reopened: the earlier result stays as an older version.
    let t3 = app.task(&owner, project, json!({"k": 3})).await;
    assert_eq!(newtask(&app, project, Some(&a), "").await.ok()["id"], t3);
    answer(&app, project, t3, Some(&a), json!("yes")).await.ok();
    assert_eq!(newtask(&app, project, Some(&b), "").await.ok()["id"], t3);
    answer(&app, project, t3, Some(&b), json!("no")).await.ok();
    let first = app
        .get(&format!("/api/result?task_id={t3}&all=1"), None)
        .await;
    assert_eq!(
        first.ok()[0]["info"]["aggregate"]["votes"],
        json!({"yes": 1, "no": 1})
    );
    app.put(
        &format!("/api/task/{t3}"),
        Some(&owner),
        json!({"n_answers": 3}),
    )
    .await
    .ok();
    let c = app.register("carol").await;
    assert_eq!(newtask(&app, project, Some(&c), "").await.ok()["id"], t3);
    answer(&app, project, t3, Some(&c), json!("no")).await.ok();
    let current = app
        .get(&format!("/api/result?task_id={t3}&all=1"), None)
        .await;
    let current = current.ok().as_array().expect("results").clone();
    assert_eq!(current.len(), 1, "{current:?}");
    assert_eq!(current[0]["task_run_ids"].as_array().map(Vec::len), Some(3));
    assert_eq!(current[0]["info"]["aggregate"]["value"], "no");
    assert_eq!(current[0]["info"]["aggregate"]["agreement"], 0.667);
    let old = app
        .get(
            &format!("/api/result?task_id={t3}&last_version=false&all=1"),
            None,
        )
        .await;
    assert_eq!(old.ok().as_array().map(Vec::len), Some(1));
    assert_eq!(old.json[0]["id"], first.json[0]["id"]);
}

async fn newtask_pages_and_a_retried_answer_returns_the_first(app: TestApp) {
    let (_admin, owner, _) = app.seeded().await;
    let a = app.register("alice").await;
    let (project, tasks) = project_with_tasks(&app, &owner, "p", 3, 1, Value::Null).await;
    let many = newtask(&app, project, Some(&a), "limit=2").await;
    let ids: Vec<i64> = many
        .ok()
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|t| t["id"].as_i64())
        .collect();
    assert_eq!(ids, tasks[..2]);
    // offset=1 is the next task (a client prefetching).
    assert_eq!(
        newtask(&app, project, Some(&a), "offset=1").await.ok()["id"],
        tasks[1]
    );
    newtask(&app, project, Some(&a), "limit=abc")
        .await
        .err(415, "ValueError");
    newtask(&app, project, Some(&a), "orderby=bogus")
        .await
        .err(415, "AttributeError");
    app.get("/api/project/999999/newtask", None)
        .await
        .err(404, "NotFound");

    // A retried POST with the same Idempotency-Key returns the first answer.
    let url = format!("{}/api/taskrun?api_key={}", app.base, a.api_key);
    let body = json!({"project_id": project, "task_id": tasks[0], "info": "x"}).to_string();
    let send = || {
        app.client
            .post(&url)
            .header("idempotency-key", "k-1")
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
    };
    let first = TestApp::read(send().await.expect("post")).await;
    let again = TestApp::read(send().await.expect("post")).await;
    assert_eq!(first.ok()["id"], again.ok()["id"]);

    for _ in &tasks[1..] {
        let t = newtask(&app, project, Some(&a), "").await.ok()["id"]
            .as_i64()
            .expect("task");
        answer(&app, project, t, Some(&a), json!("y")).await.ok();
    }
    assert_eq!(newtask(&app, project, Some(&a), "").await.ok(), &json!({}));
}

/// An answer is refused in PYBOSSA's order: no such task, a task of another project, not
/// requested, answered already (403), then a task with all its answers (409).
async fn answers_refused_in_order(app: TestApp) {
    let (_admin, owner, _) = app.seeded().await;
    let a = app.register("alice").await;
    let b = app.register("bob").await;
    let (p1, t1) = project_with_tasks(&app, &owner, "p1", 1, 1, Value::Null).await;
    let (p2, t2) = project_with_tasks(&app, &owner, "p2", 1, 2, Value::Null).await;
    let msg = |r: &Resp, status: u16, cls: &str| {
        r.err(status, cls)["exception_msg"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let r = answer(&app, p1, 999_999, Some(&a), json!(1)).await;
    assert_eq!(msg(&r, 403, "Forbidden"), "Invalid task_id");
    let r = answer(&app, p1, t1[0], Some(&a), json!(1)).await;
    assert_eq!(msg(&r, 403, "Forbidden"), "You must request a task first!");
    // Requested in p1, answered as p2's: the task is checked against the project named.
    assert_eq!(newtask(&app, p1, Some(&a), "").await.ok()["id"], t1[0]);
    let r = answer(&app, p2, t1[0], Some(&a), json!(1)).await;
    assert_eq!(msg(&r, 403, "Forbidden"), "Invalid project_id");
    let r = answer(&app, 999_999, t1[0], Some(&a), json!(1)).await;
    assert_eq!(msg(&r, 403, "Forbidden"), "Invalid project_id");
    // An anonymous answer to a project closed to them: the task is still checked first.
    app.put(
        &format!("/api/project/{p2}"),
        Some(&owner),
        json!({"allow_anonymous_contributors": false}),
    )
    .await
    .ok();
    let r = answer(&app, p2, 999_999, None, json!(1)).await;
    assert_eq!(msg(&r, 403, "Forbidden"), "Invalid task_id");
    let r = answer(&app, p2, t2[0], None, json!(1)).await;
    r.err(401, "Unauthorized");
    answer(&app, p1, t1[0], Some(&a), json!(1)).await.ok();
    answer(&app, p1, t1[0], Some(&a), json!(1))
        .await
        .err(403, "Forbidden");
    // Both hold p2's task, then it needs one answer only: the second is surplus.
    assert_eq!(newtask(&app, p2, Some(&a), "").await.ok()["id"], t2[0]);
    assert_eq!(newtask(&app, p2, Some(&b), "").await.ok()["id"], t2[0]);
    app.put(
        &format!("/api/task/{}", t2[0]),
        Some(&owner),
        json!({"n_answers": 1}),
    )
    .await
    .ok();
    answer(&app, p2, t2[0], Some(&a), json!(1)).await.ok();
    let r = answer(&app, p2, t2[0], Some(&b), json!(1)).await;
    r.err(409, "Conflict");
}

async fn anonymous_ips_are_hashed_and_external_uids_need_a_live_token(app: TestApp) {
    let (_admin, owner, _) = app.seeded().await;
    let (project, tasks) = project_with_tasks(&app, &owner, "p", 2, 2, Value::Null).await;
    // Anonymous volunteers are allowed by default and stored with an anonymised address.
    assert_eq!(newtask(&app, project, None, "").await.ok()["id"], tasks[0]);
    let run = answer(&app, project, tasks[0], None, json!(1)).await;
    let ip = run.ok()["user_ip"].as_str().expect("user_ip").to_string();
    assert!(
        ip != "127.0.0.1" && ip.parse::<std::net::IpAddr>().is_ok(),
        "{ip}"
    );
    assert_eq!(run.json["user_id"], Value::Null);
    assert_eq!(
        newtask(&app, project, None, "").await.ok()["id"],
        tasks[1],
        "not offered twice"
    );

    // External users: the project token vouches for external_uid.
    let secret = app
        .get(&format!("/api/project/{project}"), Some(&owner))
        .await
        .json["secret_key"]
        .as_str()
        .expect("secret")
        .to_string();
    let token_url = format!("{}/api/auth/project/p/token", app.base);
    let r = TestApp::read(app.client.get(&token_url).send().await.expect("token")).await;
    r.err(403, "Forbidden");
    let r = TestApp::read(
        app.client
            .get(&token_url)
            .header("authorization", "wrong")
            .send()
            .await
            .expect("token"),
    )
    .await;
    r.err(404, "NotFound");
    let token = app
        .client
        .get(&token_url)
        .header("authorization", &secret)
        .send()
        .await
        .expect("token")
        .text()
        .await
        .expect("text");
    assert_eq!(token.split('.').count(), 3, "a JWT: {token}");
    let nt = |uid: &str, auth: Option<String>| {
        let mut req = app.client.get(format!(
            "{}/api/project/{project}/newtask?external_uid={uid}",
            app.base
        ));
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        req.send()
    };
    TestApp::read(nt("ext-1", None).await.expect("nt"))
        .await
        .err(401, "Unauthorized");
    TestApp::read(
        nt("ext-1", Some("Bearer nonsense".into()))
            .await
            .expect("nt"),
    )
    .await
    .err(401, "Unauthorized");
    let got = TestApp::read(
        nt("ext-1", Some(format!("Bearer {token}")))
            .await
            .expect("nt"),
    )
    .await;
    let tid = got.ok()["id"].as_i64().expect("task");
    let post = app
        .client
        .post(format!("{}/api/taskrun?external_uid=ext-1", app.base))
        .header("authorization", format!("Bearer {token}"))
        .json(
            &json!({"project_id": project, "task_id": tid, "info": "ok", "external_uid": "ext-1"}),
        )
        .send()
        .await
        .expect("post");
    let run = TestApp::read(post).await;
    assert_eq!(run.ok()["external_uid"], "ext-1");
    assert_eq!(run.json["user_ip"], Value::Null);
    let p = app
        .get(
            &format!("/api/project/{project}/userprogress?external_uid=ext-1"),
            None,
        )
        .await;
    assert_eq!(p.ok()["done"], 1);
    // However recently the token was checked, it stops vouching once the project's secret
    // changes, or its short name.
    let again = || async {
        TestApp::read(
            nt("ext-2", Some(format!("Bearer {token}")))
                .await
                .expect("nt"),
        )
        .await
    };
    again().await.ok();
    let app_ref = &app;
    let set_secret = move |value: String| async move {
        use sea_orm::{ConnectionTrait, DbBackend, Statement};
        let backend = app_ref.state.infra.db.get_database_backend();
        let sql = match backend {
            DbBackend::Postgres => "UPDATE project SET secret_key = $1 WHERE id = $2",
            _ => "UPDATE project SET secret_key = ? WHERE id = ?",
        };
        let id = i32::try_from(project).expect("id");
        app_ref
            .state
            .infra
            .db
            .execute_raw(Statement::from_sql_and_values(
                backend,
                sql,
                [value.into(), id.into()],
            ))
            .await
            .expect("secret");
        // This instance keeps the row a second otherwise.
        app_ref
            .state
            .volunteer
            .projects
            .forget(tessera_api::ids::ProjectId(id))
            .await;
    };
    set_secret("changed".into()).await;
    again().await.err(401, "Unauthorized");
    set_secret(secret.clone()).await;
    again().await.ok();
    app.put(
        &format!("/api/project/{project}"),
        Some(&owner),
        json!({"short_name": "renamed"}),
    )
    .await
    .ok();
    again().await.err(401, "Unauthorized");

    // A project closed to anonymous volunteers: PYBOSSA's pseudo task, and answers refused.
    app.put(
        &format!("/api/project/{project}"),
        Some(&owner),
        json!({"allow_anonymous_contributors": false}),
    )
    .await
    .ok();
    let r = newtask(&app, project, None, "").await;
    assert_eq!(
        r.ok()["info"]["error"],
        "This project does not allow anonymous contributors"
    );
    assert_eq!(r.json["id"], Value::Null);
    answer(&app, project, tasks[1], None, json!(1))
        .await
        .err(401, "Unauthorized");
}

async fn each_scheduler_hands_out_tasks_in_its_own_order(app: TestApp) {
    let (_admin, owner, _) = app.seeded().await;
    let a = app.register("alice").await;
    let b = app.register("bob").await;
    // priority: highest priority_0 first.
    let (p1, t1) =
        project_with_tasks(&app, &owner, "prio", 10, 3, json!({"sched": "priority"})).await;
    assert_eq!(
        newtask(&app, p1, Some(&a), "").await.ok()["priority_0"],
        0.9
    );
    assert_eq!(newtask(&app, p1, Some(&b), "").await.ok()["id"], t1[9]);
    // breadth_first: fewest answers first.
    let (p2, t2) = project_with_tasks(
        &app,
        &owner,
        "breadth",
        3,
        3,
        json!({"sched": "breadth_first"}),
    )
    .await;
    assert_eq!(newtask(&app, p2, Some(&a), "").await.ok()["id"], t2[0]);
    answer(&app, p2, t2[0], Some(&a), json!(1)).await.ok();
    assert_eq!(
        newtask(&app, p2, Some(&b), "").await.ok()["id"],
        t2[1],
        "the answered task goes last"
    );
    // default with orderby/desc.
    let (p3, t3) = project_with_tasks(&app, &owner, "deep", 3, 3, Value::Null).await;
    assert_eq!(
        newtask(&app, p3, Some(&a), "orderby=id&desc=true")
            .await
            .ok()["id"],
        t3[2]
    );
    // random hands out open tasks only, never one answered.
    let (p4, t4) = project_with_tasks(&app, &owner, "rnd", 5, 1, json!({"sched": "random"})).await;
    let mut seen = HashSet::new();
    for _ in 0..5 {
        let id = newtask(&app, p4, Some(&a), "").await.ok()["id"]
            .as_i64()
            .expect("task");
        answer(&app, p4, id, Some(&a), json!(1)).await.ok();
        assert!(seen.insert(id));
    }
    assert_eq!(seen, t4.iter().copied().collect());
    // incremental: carries the previous answer.
    let (p5, t5) =
        project_with_tasks(&app, &owner, "inc", 1, 2, json!({"sched": "incremental"})).await;
    assert_eq!(newtask(&app, p5, Some(&a), "").await.ok()["id"], t5[0]);
    answer(&app, p5, t5[0], Some(&a), json!({"text": "draft"}))
        .await
        .ok();
    let next = newtask(&app, p5, Some(&b), "").await;
    assert_eq!(next.ok()["info"]["last_answer"], json!({"text": "draft"}));
}

async fn locked_tasks_go_to_no_more_holders_than_answers_needed(app: TestApp) {
    let (_admin, owner, _) = app.seeded().await;
    let vols = [
        app.register("v1").await,
        app.register("v2").await,
        app.register("v3").await,
    ];
    let (project, tasks) = project_with_tasks(
        &app,
        &owner,
        "lock",
        1,
        2,
        json!({"sched": "locked", "timeout": 600}),
    )
    .await;
    let r = newtask(&app, project, Some(&vols[0]), "").await;
    assert_eq!(r.ok()["id"], tasks[0]);
    let expires: i64 = r
        .headers
        .get("x-tessera-lock-expires")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("lock header");
    let now = chrono_now();
    assert!(
        expires > now + 500 && expires <= now + 601,
        "{expires} vs {now}"
    );
    assert_eq!(
        newtask(&app, project, Some(&vols[1]), "").await.ok()["id"],
        tasks[0]
    );
    // Two answers needed, two holders: the third volunteer gets nothing.
    assert_eq!(
        newtask(&app, project, Some(&vols[2]), "").await.ok(),
        &json!({})
    );
    answer(&app, project, tasks[0], Some(&vols[2]), json!(1))
        .await
        .err(403, "Forbidden");
    answer(&app, project, tasks[0], Some(&vols[0]), json!(1))
        .await
        .ok();
    // Still one answer needed and one holder: still nothing for the third.
    assert_eq!(
        newtask(&app, project, Some(&vols[2]), "").await.ok(),
        &json!({})
    );
    newtask(&app, project, Some(&vols[2]), "offset=3")
        .await
        .err(400, "BadRequest");
    answer(&app, project, tasks[0], Some(&vols[1]), json!(1))
        .await
        .ok();
    assert_eq!(
        app.get(&format!("/api/task/{}", tasks[0]), None).await.ok()["state"],
        "completed"
    );
}

/// A volunteer's client sends its answer and hangs up at once: the answer is still taken, and
/// so is everything after its commit, so the task's hold does not outlive the answer and keep
/// the task from its next volunteer until it expires.
async fn answer_outlives_its_client_hanging_up(app: TestApp) {
    use tokio::io::AsyncWriteExt;
    let (_admin, owner, _) = app.seeded().await;
    let vols = [app.register("v1").await, app.register("v2").await];
    let (project, tasks) = project_with_tasks(
        &app,
        &owner,
        "hangup",
        1,
        2,
        json!({"sched": "locked", "timeout": 600}),
    )
    .await;
    assert_eq!(
        newtask(&app, project, Some(&vols[0]), "").await.ok()["id"],
        tasks[0]
    );
    let body = json!({"project_id": project, "task_id": tasks[0], "info": "gone"}).to_string();
    let addr = app.base.trim_start_matches("http://").to_string();
    let request = format!(
        "POST /api/taskrun?api_key={} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        vols[0].api_key,
        body.len()
    );
    let mut runs = 0;
    // Sent again only if the reset beat the request itself to the server.
    'send: for _ in 0..5 {
        let mut conn = tokio::net::TcpStream::connect(&addr)
            .await
            .expect("connect");
        conn.write_all(request.as_bytes()).await.expect("send");
        // Reset, not closed: the server's next read of the connection fails.
        conn.set_zero_linger().ok();
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        drop(conn);
        for _ in 0..20 {
            runs = app
                .get(&format!("/api/taskrun?task_id={}", tasks[0]), None)
                .await
                .ok()
                .as_array()
                .map_or(0, Vec::len);
            if runs > 0 {
                break 'send;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
    assert_eq!(runs, 1, "the answer was taken");
    // One answer still needed, and nobody holds the task any more.
    let mut offered = json!({});
    for _ in 0..40 {
        offered = newtask(&app, project, Some(&vols[1]), "")
            .await
            .ok()
            .clone();
        if offered != json!({}) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        offered["id"], tasks[0],
        "the task goes to the next volunteer"
    );
}

/// A task found full is left out of the next scans (a hint, see `FullTasks`), but never to the
/// point of a volunteer hearing that nothing is left: here its one hold goes away (as when it
/// expires) right after it was found full, and the next volunteer still gets it.
async fn task_found_full_is_not_lost_when_freed(app: TestApp) {
    let (_admin, owner, _) = app.seeded().await;
    let vols = [
        app.register("f1").await,
        app.register("f2").await,
        app.register("f3").await,
    ];
    let (project, tasks) = project_with_tasks(&app, &owner, "freed", 1, 1, Value::Null).await;
    assert_eq!(
        newtask(&app, project, Some(&vols[0]), "").await.ok()["id"],
        tasks[0]
    );
    // The second volunteer's scan finds it full (one answer needed, one holder).
    assert_eq!(
        newtask(&app, project, Some(&vols[1]), "").await.ok(),
        &json!({})
    );
    // Found full, it is still the task of the one who holds it.
    assert_eq!(
        newtask(&app, project, Some(&vols[0]), "").await.ok()["id"],
        tasks[0]
    );
    let task = TaskId(i32::try_from(tasks[0]).expect("id"));
    app.state
        .infra
        .kv
        .release(task, &format!("u{}", vols[0].id))
        .await;
    assert_eq!(
        newtask(&app, project, Some(&vols[2]), "").await.ok()["id"],
        tasks[0],
        "the freed task goes to the next volunteer at once"
    );
    answer(&app, project, tasks[0], Some(&vols[2]), json!(1))
        .await
        .ok();
    assert_eq!(
        newtask(&app, project, Some(&vols[1]), "").await.ok(),
        &json!({})
    );
}

fn chrono_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

on_both_stores!(
    loop_completes_tasks_with_results,
    lowering_redundancy_completes_raising_reopens_surplus_is_409,
    newtask_pages_and_a_retried_answer_returns_the_first,
    answers_refused_in_order,
    anonymous_ips_are_hashed_and_external_uids_need_a_live_token,
    each_scheduler_hands_out_tasks_in_its_own_order,
    locked_tasks_go_to_no_more_holders_than_answers_needed,
    answer_outlives_its_client_hanging_up,
    task_found_full_is_not_lost_when_freed,
);

// ---------------------------------------------------------------------------------------------
// Concurrency

#[derive(Default)]
struct Tally {
    accepted: AtomicU64,
    surplus: AtomicU64,
    server_errors: AtomicU64,
    other_errors: AtomicU64,
}

/// `volunteers` external users loop newtask → answer until nothing is left for them.
async fn swarm(app: &TestApp, project: i64, token: &str, volunteers: usize) -> Arc<Tally> {
    let tally = Arc::new(Tally::default());
    let mut handles = vec![];
    for v in 0..volunteers {
        let client = app.client.clone();
        let base = app.base.clone();
        let token = token.to_string();
        let tally = tally.clone();
        handles.push(tokio::spawn(async move {
            let uid = format!("vol-{v}");
            // `{}` can mean "everything open is held by others right now": look again a few
            // times before concluding there is nothing left.
            let mut empty = 0;
            for _ in 0..1000 {
                let r = client
                    .get(format!(
                        "{base}/api/project/{project}/newtask?external_uid={uid}"
                    ))
                    .bearer_auth(&token)
                    .send()
                    .await
                    .expect("newtask");
                if r.status().is_server_error() {
                    tally.server_errors.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                let task: Value = r.json().await.expect("json");
                let Some(tid) = task["id"].as_i64() else {
                    empty += 1;
                    if empty > 3 {
                        break;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                };
                let r = client
                    .post(format!("{base}/api/taskrun?external_uid={uid}"))
                    .bearer_auth(&token)
                    .json(&json!({"project_id": project, "task_id": tid, "info": {"v": v % 3}}))
                    .send()
                    .await
                    .expect("taskrun");
                match r.status() {
                    StatusCode::OK => tally.accepted.fetch_add(1, Ordering::Relaxed),
                    StatusCode::CONFLICT => tally.surplus.fetch_add(1, Ordering::Relaxed),
                    s if s.is_server_error() => tally.server_errors.fetch_add(1, Ordering::Relaxed),
                    _ => tally.other_errors.fetch_add(1, Ordering::Relaxed),
                };
            }
        }));
    }
    for h in handles {
        h.await.expect("volunteer");
    }
    tally
}

async fn concurrent_volunteers(app: TestApp, sched: &str, n_tasks: usize, volunteers: usize) {
    let (_admin, owner, _) = app.seeded().await;
    let project = app.project(&owner, "swarm").await;
    app.put(
        &format!("/api/project/{project}"),
        Some(&owner),
        json!({"info": {"sched": sched}}),
    )
    .await
    .ok();
    // Bulk-create tasks concurrently too.
    let mut creators = vec![];
    for chunk in (0..n_tasks).collect::<Vec<_>>().chunks(n_tasks.div_ceil(8)) {
        let (client, base, key, chunk) = (
            app.client.clone(),
            app.base.clone(),
            owner.api_key.clone(),
            chunk.to_vec(),
        );
        creators.push(tokio::spawn(async move {
            for i in chunk {
                let r = client
                    .post(format!("{base}/api/task?api_key={key}"))
                    .json(&json!({"project_id": project, "info": {"i": i}, "n_answers": 3}))
                    .send()
                    .await
                    .expect("task");
                let status = r.status();
                assert!(
                    status.is_success(),
                    "{status}: {}",
                    r.text().await.unwrap_or_default()
                );
            }
        }));
    }
    for c in creators {
        c.await.expect("creator");
    }
    let token = app.project_token(&owner, project, "swarm").await;

    let tally = swarm(&app, project, &token, volunteers).await;
    let accepted = tally.accepted.load(Ordering::Relaxed);
    let surplus = tally.surplus.load(Ordering::Relaxed);
    eprintln!(
        "{sched}: {volunteers} volunteers, {n_tasks} tasks: {accepted} answers accepted, {surplus} refused as surplus"
    );
    assert_eq!(tally.server_errors.load(Ordering::Relaxed), 0, "no 5xx");
    assert_eq!(
        tally.other_errors.load(Ordering::Relaxed),
        0,
        "no other refusals"
    );
    assert_eq!(
        accepted,
        3 * n_tasks as u64,
        "exactly n_answers answers per task in total"
    );
    assert!(
        surplus * 20 < accepted,
        "surplus answers {surplus} must stay under 5% of {accepted}"
    );
    if sched == "locked" {
        assert_eq!(surplus, 0, "holders never exceed the answers still needed");
    }
    // Every answer was written one way or the other, and each task completed once.
    let written = |path: &str, completes: bool| {
        app.state
            .infra
            .metrics
            .answers_written
            .get_or_create(&tessera_api::metrics::AnswerLabels {
                path: path.into(),
                completes: completes.to_string(),
            })
            .get()
    };
    let completing = written("batch", true) + written("single", true);
    let all = completing + written("batch", false) + written("single", false);
    assert_eq!(all, accepted);
    assert_eq!(completing, n_tasks as u64);
    if app.state.volunteer.batcher.is_some() {
        // On PostgreSQL answers go in batches, the ones that complete their task too.
        eprintln!(
            "batched: {} answers, {} completing; one by one: {}",
            written("batch", false) + written("batch", true),
            written("batch", true),
            written("single", false) + written("single", true),
        );
        assert!(written("batch", true) > 0);
        assert!(written("batch", false) > 0);
    }

    // Check every task from the database side, through the API.
    let mut runs_per_task: HashMap<i64, Vec<String>> = HashMap::new();
    let mut run_ids: HashMap<i64, Vec<i64>> = HashMap::new();
    let mut last = 0;
    loop {
        let page = app
            .get(
                &format!("/api/taskrun?project_id={project}&limit=100&last_id={last}&all=1"),
                Some(&owner),
            )
            .await;
        let page = page.ok().as_array().expect("runs").clone();
        let Some(end) = page.last() else { break };
        last = end["id"].as_i64().expect("id");
        for r in page {
            let task = r["task_id"].as_i64().expect("task");
            runs_per_task
                .entry(task)
                .or_default()
                .push(r["external_uid"].as_str().expect("uid").to_string());
            run_ids
                .entry(task)
                .or_default()
                .push(r["id"].as_i64().expect("id"));
        }
    }
    assert_eq!(runs_per_task.len(), n_tasks);
    for (task, uids) in &runs_per_task {
        assert_eq!(uids.len(), 3, "task {task} has {} answers", uids.len());
        assert_eq!(
            uids.iter().collect::<HashSet<_>>().len(),
            3,
            "task {task} answered twice by one volunteer"
        );
    }
    let mut results = 0;
    let mut last = 0;
    loop {
        let page = app
            .get(
                &format!("/api/result?project_id={project}&limit=100&last_id={last}&all=1"),
                None,
            )
            .await;
        let page = page.ok().as_array().expect("results").clone();
        let Some(end) = page.last() else { break };
        last = end["id"].as_i64().expect("id");
        results += page.len();
        // Each result is made from all of its task's answers, however they raced.
        for r in &page {
            let task = r["task_id"].as_i64().expect("task");
            let mut ids: Vec<i64> = serde_json::from_value(r["task_run_ids"].clone()).expect("ids");
            ids.sort_unstable();
            assert_eq!(Some(&ids), run_ids.get(&task), "result of task {task}");
            let agg = &r["info"]["aggregate"];
            assert_eq!(agg["n"], 3, "result of task {task}: {}", r["info"]);
            let votes: i64 = agg["fields"]["v"]["votes"]
                .as_object()
                .expect("votes")
                .values()
                .filter_map(Value::as_i64)
                .sum();
            assert_eq!(votes, 3, "result of task {task}: {}", r["info"]);
        }
    }
    assert_eq!(results, n_tasks, "one result per task");
    let stats = app
        .get(&format!("/api/project/{project}?stats=1"), Some(&owner))
        .await;
    let s = &stats.ok()["stats"];
    assert_eq!(s["n_completed_tasks"], n_tasks as i64);
    assert_eq!(s["n_task_runs"], 3 * n_tasks as i64);
    assert_eq!(s["overall_progress"], 100);
    let open = app
        .get(
            &format!("/api/task?project_id={project}&state=ongoing&all=1"),
            None,
        )
        .await;
    assert_eq!(open.ok(), &json!([]));
}

/// With group commit turned off each answer is its own statement: the loop works the same.
#[tokio::test]
async fn loop_completes_tasks_with_results_without_answer_batching() {
    if let Some(app) = TestApp::configured(true, &|c| c.answer_batching = false).await {
        loop_completes_tasks_with_results(app).await;
    }
}

/// A co-located PostgreSQL reached through its Unix socket, as the README suggests and
/// `just bench` measures: the loop works the same.
#[tokio::test]
async fn loop_completes_tasks_with_results_over_a_unix_socket() {
    if let Some(app) = TestApp::postgres_unix_socket().await {
        loop_completes_tasks_with_results(app).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn swarms_give_each_task_exactly_n_answers_on_postgres_redis() {
    if let Some(app) = TestApp::postgres_redis().await {
        concurrent_volunteers(app, "default", 500, 100).await;
    }
}

/// Several batch writers, each with its share of the tasks: the same guarantees.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn swarms_give_each_task_exactly_n_answers_with_three_writers() {
    if let Some(app) = TestApp::configured(true, &|c| c.answer_writers = 3).await {
        concurrent_volunteers(app, "default", 500, 100).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn swarms_under_the_locked_scheduler_leave_no_surplus() {
    if let Some(app) = TestApp::postgres_redis().await {
        concurrent_volunteers(app, "locked", 500, 100).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn swarms_give_each_task_exactly_n_answers_breadth_first() {
    concurrent_volunteers(TestApp::sqlite().await, "breadth_first", 150, 30).await;
}

/// Redis dies in the middle of a run: volunteers keep getting tasks and no request fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_going_away_degrades_without_errors() {
    if !crate::common::redis_available() {
        return;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port");
    let dir = std::env::temp_dir().join(format!("tessera-redis-{port}"));
    std::fs::create_dir_all(&dir).expect("dir");
    let mut redis = std::process::Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .current_dir(&dir)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("redis-server");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let app = TestApp::sqlite_with_redis(&format!("redis://127.0.0.1:{port}")).await;
    let (_admin, owner, _) = app.seeded().await;
    let (project, _tasks) = project_with_tasks(&app, &owner, "p", 6, 1, Value::Null).await;
    let v = app.register("vol").await;
    let t = newtask(&app, project, Some(&v), "").await.ok()["id"]
        .as_i64()
        .expect("task");
    answer(&app, project, t, Some(&v), json!(1)).await.ok();
    let stats = format!("/api/projectstats/{project}");
    // Cached in Redis before it goes away.
    assert_eq!(app.get(&stats, Some(&owner)).await.ok()["n_task_runs"], 1);
    let _ = redis.kill();
    let _ = redis.wait();
    for _ in 0..5 {
        let r = newtask(&app, project, Some(&v), "").await;
        let t = r.ok()["id"].as_i64().expect("still handed tasks");
        answer(&app, project, t, Some(&v), json!(1)).await.ok();
    }
    assert!(
        app.state.infra.kv.errors.get() > 0,
        "Redis failures are counted"
    );
    assert_eq!(newtask(&app, project, Some(&v), "").await.ok(), &json!({}));
    // Statistics come from the database meanwhile, current.
    assert_eq!(app.get(&stats, Some(&owner)).await.ok()["n_task_runs"], 6);
    app.get("/api/globalstats", None).await.ok();
    app.get("/api/project", None).await.ok();
    // The sign-in counter degrades open, as the rate limiter does: with the store gone, wrong
    // passwords keep getting 401 (never 429, never a 5xx) and the right one still signs in.
    for _ in 0..8 {
        app.post(
            "/api/auth/login",
            None,
            json!({"name": "vol", "password": "wrong password"}),
        )
        .await
        .err(401, "Unauthorized");
    }
    app.post(
        "/api/auth/login",
        None,
        json!({"name": "vol", "password": "correct horse"}),
    )
    .await
    .ok();
    let _ = std::fs::remove_dir_all(&dir);
}

/// An answered hold leaves a mark that keeps its place for a scan whose counts were read before
/// the answer (so newtask needs no second read of the count), on both stores.
#[tokio::test]
async fn answered_holds_count_for_scans_read_before() {
    let mut stores = vec![tessera_api::kv::Kv::memory()];
    if crate::common::redis_available() {
        let prefix = format!(
            "tessera-test-marks-{}-{}:",
            std::process::id(),
            chrono_now()
        );
        let redis =
            tessera_api::kv::Kv::connect(Some(&crate::common::redis_url()), None, None, &prefix)
                .await
                .expect("redis");
        stores.push(redis);
    }
    let ttl = std::time::Duration::from_secs(60);
    for kv in stores {
        let store = kv.describe();
        let (_, before) = kv.get_with_clock("no-such-key").await.expect("clock");
        // Estimated without asking, the store's clock is never ahead of it.
        let estimate = kv.clock().expect("clock seen");
        let (_, read) = kv.get_with_clock("no-such-key").await.expect("clock");
        assert!(estimate <= read, "{store}: {estimate} > {read}");
        let held = kv
            .reserve_first(&[(TaskId(7), 1)], "a", ttl, None, Some(before))
            .await;
        assert_eq!(held.map(|h| h.holders), Some(1), "{store}");
        kv.answered(&[(TaskId(7), "a")], &[]).await;
        assert!(
            !kv.holds(TaskId(7), "a").await,
            "{store}: answered, no longer held"
        );
        // Counts read before the answer still show a place: the mark takes it.
        let again = kv
            .reserve_first(&[(TaskId(7), 1)], "b", ttl, None, Some(before))
            .await;
        assert!(
            again.is_none(),
            "{store}: the answer's place was handed out again"
        );
        // Without `since` the caller re-reads the count, and marks are ignored.
        let unchecked = kv
            .reserve_first(&[(TaskId(7), 1)], "b", ttl, None, None)
            .await;
        assert!(unchecked.is_some(), "{store}");
        kv.release(TaskId(7), "b").await;
        // Counts read after the answer include it: no mark is counted twice.
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        let (_, after) = kv.get_with_clock("no-such-key").await.expect("clock");
        let later = kv
            .reserve_first(&[(TaskId(7), 1)], "b", ttl, None, Some(after))
            .await;
        assert!(later.is_some(), "{store}");
        kv.delete_many(&["hold:7".to_string()]).await;

        // A batch's answers in one call: each hold becomes a mark, each stamp goes, and the
        // stale cache keys with them.
        let grant = tessera_api::kv::OnGrant {
            stamp: "2026-01-01T00:00:00",
            stamp_ttl: ttl,
            cursor: None,
        };
        for (task, uid) in [(TaskId(8), "a"), (TaskId(9), "b")] {
            assert!(
                kv.reserve_first(&[(task, 1)], uid, ttl, Some(&grant), None)
                    .await
                    .is_some()
            );
            let stamp = tessera_api::kv::stamp_key(task, uid);
            assert!(kv.get(&stamp).await.expect("get").is_some(), "{store}");
        }
        kv.set("cache:x", "1", ttl).await;
        kv.answered(
            &[(TaskId(8), "a"), (TaskId(9), "b")],
            &["cache:x".to_string()],
        )
        .await;
        for (task, uid) in [(TaskId(8), "a"), (TaskId(9), "b")] {
            assert!(!kv.holds(task, uid).await, "{store}: {task} answered");
            let stamp = tessera_api::kv::stamp_key(task, uid);
            assert_eq!(kv.get(&stamp).await, Ok(None), "{store}: stamp of {task}");
            // The mark keeps the place for a scan read before the answers.
            let after = kv
                .reserve_first(&[(task, 1)], "c", ttl, None, Some(before))
                .await;
            assert!(after.is_none(), "{store}: {task}'s place handed out again");
            // Nor is it held again for the volunteer who answered it, room or not.
            let again = kv.reserve_first(&[(task, 5)], uid, ttl, None, None).await;
            assert!(again.is_none(), "{store}: {task} held again for {uid}");
        }
        assert_eq!(kv.get("cache:x").await, Ok(None), "{store}");
        kv.delete_many(&["hold:8".to_string(), "hold:9".to_string()])
            .await;
    }
}

/// A stamp expires: an answer after it is refused, however the instance remembers the stamp it
/// set (it answers from memory when it can), and a new request stamps the task again.
async fn answers_after_the_stamp_expired_are_refused(app: TestApp) {
    let (_admin, owner, _) = app.seeded().await;
    let a = app.register("alice").await;
    let (p, t) = project_with_tasks(&app, &owner, "stamped", 2, 2, Value::Null).await;
    assert_eq!(newtask(&app, p, Some(&a), "").await.ok()["id"], t[0]);
    tokio::time::sleep(std::time::Duration::from_millis(1300)).await;
    let r = answer(&app, p, t[0], Some(&a), json!(1)).await;
    assert_eq!(
        r.err(403, "Forbidden")["exception_msg"],
        "You must request a task first!"
    );
    // Asked again, the volunteer gets the task they hold, stamped afresh.
    assert_eq!(newtask(&app, p, Some(&a), "").await.ok()["id"], t[0]);
    answer(&app, p, t[0], Some(&a), json!(1)).await.ok();
    // Once answered, the stamp is gone: a second answer is refused as PYBOSSA does.
    let r = answer(&app, p, t[0], Some(&a), json!(2)).await;
    r.err(403, "Forbidden");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_after_the_stamp_expired_are_refused_sqlite() {
    let app = TestApp::configured(false, &|c| c.stamp_ttl = 1).await;
    answers_after_the_stamp_expired_are_refused(app.expect("sqlite")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_after_the_stamp_expired_are_refused_postgres_redis() {
    if let Some(app) = TestApp::configured(true, &|c| c.stamp_ttl = 1).await {
        answers_after_the_stamp_expired_are_refused(app).await;
    }
}

/// PostgreSQL drops every connection (a restart, a failover): `newtask`'s candidate read, which
/// keeps its connections out of the pool between reads, still succeeds at once on a live one,
/// whether it had kept connections (all dead) or takes one from the pool (as dead).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn candidate_reads_outlive_the_database_dropping_connections() {
    use sea_orm::{ConnectionTrait, DbBackend, Statement};
    let Some(app) = TestApp::postgres().await else {
        return;
    };
    let hot = &app.state.volunteer.hot_reads;
    let sql = |s: &str| Statement::from_string(DbBackend::Postgres, s);
    let name: String = hot
        .query_all(sql("SELECT current_database() AS name"))
        .await
        .expect("read")[0]
        .try_get("", "name")
        .expect("name");
    // Reads at once, each on a connection of its own, which are then kept.
    let reads = (0..4).map(|_| hot.query_all(sql("SELECT pg_sleep(0.05)::text AS slept")));
    for r in futures_util::future::join_all(reads).await {
        r.expect("read");
    }
    // And reads that keep no connection yet: theirs come from the pool, as dead, and used too
    // lately for the pool to check them first.
    let fresh = tessera_api::store::hot::HotReads::new(app.state.infra.read_db.clone());
    let pool_reads = (0..4).map(|_| {
        app.state
            .infra
            .read_db
            .query_all_raw(sql("SELECT pg_sleep(0.05)::text AS slept"))
    });
    for r in futures_util::future::join_all(pool_reads).await {
        r.expect("read");
    }
    let admin = sea_orm::Database::connect(crate::common::pg_admin_url())
        .await
        .expect("admin");
    let cut = admin
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_terminate_backend(pid) AS cut FROM pg_stat_activity WHERE datname = $1",
            [name.into()],
        ))
        .await
        .expect("terminate");
    assert!(
        cut.len() >= 4,
        "the kept connections were cut ({})",
        cut.len()
    );
    admin.close().await.ok();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    fresh
        .query_all(sql("SELECT 1 AS one"))
        .await
        .expect("a read from the pool after the connections were cut");
    let rows = hot
        .query_all(sql("SELECT 41 + 1 AS answer"))
        .await
        .expect("a read after the connections were cut");
    assert_eq!(rows[0].try_get::<i32>("", "answer").expect("answer"), 42);
}
