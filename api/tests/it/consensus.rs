//! Consensus: aggregates with a method and a confidence, retirement as soon as volunteers
//! agree (exactly once under concurrency), Dawid–Skene refits that keep the owner's `info`,
//! excluded volunteers, and the owner's review queue with its verdicts.

use futures_util::future::join_all;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};
use tessera_api::{
    domain::volunteer::refit,
    ids::ProjectId,
    store::entities::{result, task, task_run, webhook_delivery},
};

use crate::common::{Resp, TestApp, User};
use crate::on_both_stores;

fn pid32(p: i64) -> i32 {
    i32::try_from(p).expect("id")
}

async fn set_info(app: &TestApp, owner: &User, project: i64, info: Value) {
    app.put(
        &format!("/api/project/{project}"),
        Some(owner),
        json!({ "info": info }),
    )
    .await
    .ok();
}

async fn tasks(app: &TestApp, owner: &User, project: i64, n: usize, n_answers: i64) -> Vec<i64> {
    let mut ids = vec![];
    for i in 0..n {
        let r = app
            .post(
                "/api/task",
                Some(owner),
                json!({"project_id": project, "info": {"i": i}, "n_answers": n_answers}),
            )
            .await;
        ids.push(r.ok()["id"].as_i64().expect("id"));
    }
    ids
}

/// Asks for the next task and answers it with what `say` gives for the task's `info.i`.
/// Returns the task's id and the answer's response.
async fn answer_next(
    app: &TestApp,
    project: i64,
    who: &User,
    say: &dyn Fn(i64) -> Value,
) -> (i64, Resp) {
    let t = app
        .get(&format!("/api/project/{project}/newtask"), Some(who))
        .await;
    let id = t.ok()["id"].as_i64().expect("a task for the volunteer");
    let i = t.json["info"]["i"].as_i64().expect("info.i");
    let r = app
        .post(
            "/api/taskrun",
            Some(who),
            json!({"project_id": project, "task_id": id, "info": say(i)}),
        )
        .await;
    (id, r)
}

async fn results_of(app: &TestApp, project: i64) -> Vec<result::Model> {
    result::Entity::find()
        .filter(result::Column::ProjectId.eq(pid32(project)))
        .filter(result::Column::LastVersion.eq(true))
        .all(&app.state.infra.db)
        .await
        .expect("results")
}

async fn task_row(app: &TestApp, id: i64) -> task::Model {
    task::Entity::find_by_id(pid32(id))
        .one(&app.state.infra.db)
        .await
        .expect("read")
        .expect("task")
}

async fn refit_now(app: &TestApp, project: i64) -> refit::Refitted {
    refit::run(&app.state.infra, ProjectId(pid32(project)), None)
        .await
        .expect("refit")
}

async fn retirement_completes_a_task_as_soon_as_its_answers_agree(app: TestApp) {
    let (_admin, owner, _) = app.seeded().await;
    let pid = app.project(&owner, "retire").await;
    let ids = tasks(&app, &owner, pid, 1, 6).await;
    let vs = [
        app.register("v1").await,
        app.register("v2").await,
        app.register("v3").await,
    ];
    // All three hold the task before early finish is turned on; the third holds it while it
    // retires.
    for v in &vs {
        app.get(&format!("/api/project/{pid}/newtask"), Some(v))
            .await
            .ok();
    }
    set_info(
        &app,
        &owner,
        pid,
        json!({"quality": {"retire": {"min_answers": 2, "confidence": 0.8}}}),
    )
    .await;
    let answer = |v: usize, task: i64, say: &'static str| {
        let app = &app;
        let who = &vs[v];
        async move {
            app.post(
                "/api/taskrun",
                Some(who),
                json!({"project_id": pid, "task_id": task, "info": say}),
            )
            .await
        }
    };
    // Two agreeing answers (0.845 sure under majority) retire it at 2 of 6.
    answer(0, ids[0], "owl").await.ok();
    assert_eq!(task_row(&app, ids[0]).await.state, task::TaskState::Ongoing);
    answer(1, ids[0], "owl").await.ok();
    let t = task_row(&app, ids[0]).await;
    assert_eq!(t.state, task::TaskState::Completed);
    assert_eq!(t.n_task_runs, 2);
    // A surplus answer to a retired task is the same 409 as to a full one.
    answer(2, ids[0], "owl").await.err(409, "Conflict");

    // A second task is handed out to no more volunteers at once than `min_answers`: a third
    // would pile onto a task that may be about to retire.
    let second = tasks(&app, &owner, pid, 1, 6).await[0];
    let newtask = |v: usize| {
        let app = &app;
        let who = &vs[v];
        async move {
            app.get(&format!("/api/project/{pid}/newtask"), Some(who))
                .await
                .ok()
                .get("id")
                .and_then(Value::as_i64)
        }
    };
    assert_eq!(newtask(0).await, Some(second));
    assert_eq!(newtask(1).await, Some(second));
    assert_eq!(
        newtask(2).await,
        None,
        "two holds for the two answers it needs"
    );
    // They disagree: it takes one more answer at a time.
    answer(0, second, "owl").await.ok();
    answer(1, second, "hawk").await.ok();
    assert_eq!(newtask(2).await, Some(second));
    answer(2, second, "owl").await.ok();
    let t1 = task_row(&app, second).await;
    assert_eq!(
        t1.state,
        task::TaskState::Ongoing,
        "owl 2 : hawk 1 is 0.7 sure"
    );

    let results = results_of(&app, pid).await;
    assert_eq!(results.len(), 1);
    let agg = &results[0].info.as_ref().expect("info")["aggregate"];
    assert_eq!(agg["value"], "owl");
    assert_eq!(agg["method"], "majority");
    assert_eq!(agg["n"], 2);
    assert!(
        agg["confidence"].as_f64().expect("confidence") >= 0.8,
        "{agg}"
    );
    assert_eq!(results[0].task_run_ids, json!(runs_of(&app, ids[0]).await));
    crate::imports::assert_counters(&app, pid).await;
    let stats = app
        .get(&format!("/api/projectstats/{pid}"), Some(&owner))
        .await;
    assert_eq!(stats.ok()["n_completed_tasks"], 1, "{}", stats.text);
}

async fn runs_of(app: &TestApp, task: i64) -> Vec<i32> {
    let mut ids: Vec<i32> = task_run::Entity::find()
        .filter(task_run::Column::TaskId.eq(pid32(task)))
        .all(&app.state.infra.db)
        .await
        .expect("runs")
        .into_iter()
        .map(|r| r.id)
        .collect();
    ids.sort_unstable();
    ids
}

/// 120 external volunteers at once on 8 tasks that retire at three agreeing answers (cap 40):
/// every task retires exactly once, with exactly three answers and one result.
async fn retirement_happens_once_under_a_hundred_concurrent_volunteers(app: TestApp) {
    let (_admin, owner, _) = app.seeded().await;
    let short = "rush";
    let pid = app.project(&owner, short).await;
    let ids = tasks(&app, &owner, pid, 8, 40).await;
    set_info(
        &app,
        &owner,
        pid,
        json!({"quality": {"retire": {"min_answers": 3, "confidence": 0.9}}}),
    )
    .await;
    let token = app.project_token(&owner, pid, short).await;
    let volunteer = |uid: String| {
        let app = &app;
        let token = token.clone();
        async move {
            let mut taken = 0;
            let mut refused = 0;
            for _ in 0..4 {
                let got = app
                    .client
                    .get(format!(
                        "{}/api/project/{pid}/newtask?external_uid={uid}",
                        app.base
                    ))
                    .header("authorization", format!("Bearer {token}"))
                    .send()
                    .await
                    .expect("newtask");
                let got = TestApp::read(got).await;
                let Some(tid) = got.ok().get("id").and_then(Value::as_i64) else {
                    break;
                };
                let post = app
                    .client
                    .post(format!("{}/api/taskrun?external_uid={uid}", app.base))
                    .header("authorization", format!("Bearer {token}"))
                    .json(&json!({"project_id": pid, "task_id": tid, "info": "yes",
                                  "external_uid": uid}))
                    .send()
                    .await
                    .expect("post");
                let r = TestApp::read(post).await;
                match r.status.as_u16() {
                    200 => taken += 1,
                    409 => refused += 1,
                    other => panic!("answer: {other} {}", r.text),
                }
            }
            (taken, refused)
        }
    };
    let outcomes = join_all((0..120).map(|i| volunteer(format!("crowd-{i}")))).await;
    let taken: i32 = outcomes.iter().map(|o| o.0).sum();
    let db = &app.state.infra.db;
    let runs = task_run::Entity::find()
        .filter(task_run::Column::ProjectId.eq(pid32(pid)))
        .count(db)
        .await
        .expect("count");
    assert_eq!(
        i64::from(taken),
        i64::try_from(runs).expect("n"),
        "every 200 is an answer kept"
    );
    for id in &ids {
        let t = task_row(&app, *id).await;
        assert_eq!(t.state, task::TaskState::Completed, "task {id}");
        assert_eq!(
            t.n_task_runs, 3,
            "task {id} retired at its third agreeing answer"
        );
        let results: Vec<result::Model> = result::Entity::find()
            .filter(result::Column::TaskId.eq(pid32(*id)))
            .all(db)
            .await
            .expect("results");
        assert_eq!(results.len(), 1, "one result for task {id}");
        assert_eq!(results[0].task_run_ids, json!(runs_of(&app, *id).await));
    }
    assert_eq!(taken, 24);
    crate::imports::assert_counters(&app, pid).await;
}

async fn dawid_skene_refits_and_keeps_what_the_owner_wrote(app: TestApp) {
    let (_admin, owner, _) = app.seeded().await;
    let pid = app.project(&owner, "ds").await;
    set_info(
        &app,
        &owner,
        pid,
        json!({"quality": {"aggregation": "dawid_skene", "gold_rate": 0}}),
    )
    .await;
    // Two careful volunteers and one who always says "cat".
    let good1 = app.register("good1").await;
    let good2 = app.register("good2").await;
    let lazy = app.register("lazy").await;
    let truth = ["dog", "cat", "dog", "bird", "dog", "bird", "cat", "dog"];
    let ids = tasks(&app, &owner, pid, truth.len(), 3).await;
    let right = |i: i64| json!(truth[usize::try_from(i).expect("i")]);
    for _ in &ids {
        answer_next(&app, pid, &lazy, &|_| json!("cat"))
            .await
            .1
            .ok();
    }
    for v in [&good1, &good2] {
        for _ in &ids {
            answer_next(&app, pid, v, &right).await.1.ok();
        }
    }
    let before = results_of(&app, pid).await;
    assert_eq!(before.len(), truth.len());
    // Before any fit, dawid_skene counts like weighted: prior skills, everyone alike.
    let first = before
        .iter()
        .find(|r| r.task_id == pid32(ids[0]))
        .expect("result");
    assert_eq!(
        first.info.as_ref().expect("info")["aggregate"]["method"],
        "dawid_skene"
    );
    // The owner annotates a result.
    let r = app
        .put(
            &format!("/api/result/{}", first.id),
            Some(&owner),
            json!({"info": {"aggregate": first.info.as_ref().expect("info")["aggregate"], "note": "checked"}}),
        )
        .await;
    r.ok();

    let done = refit_now(&app, pid).await;
    assert_eq!(done.answers, truth.len() * 3);
    assert_eq!(done.fields_fitted, 1);
    let after = results_of(&app, pid).await;
    for (id, t) in ids.iter().zip(truth) {
        let r = after
            .iter()
            .find(|r| r.task_id == pid32(*id))
            .expect("result");
        let info = r.info.as_ref().expect("info");
        assert_eq!(info["aggregate"]["value"], t, "task {id}: {info}");
        assert_eq!(info["aggregate"]["method"], "dawid_skene");
        let c = info["aggregate"]["confidence"]
            .as_f64()
            .expect("confidence");
        assert!(c > 0.9, "{info}");
        assert_eq!(r.confidence.map(|x| (x * 1e4).round() / 1e4), Some(c));
    }
    let annotated = after.iter().find(|r| r.id == first.id).expect("result");
    assert_eq!(annotated.info.as_ref().expect("info")["note"], "checked");
    // A second fit finds nothing to change.
    assert_eq!(refit_now(&app, pid).await.results_changed, 0);

    // The owner sees each volunteer's matrix and a skill from it.
    let page = app
        .get(&format!("/api/project/{pid}/volunteers"), Some(&owner))
        .await;
    let items = page.ok()["items"].as_array().expect("items").clone();
    let row = |name: &str| {
        items
            .iter()
            .find(|i| i["name"] == name)
            .expect(name)
            .clone()
    };
    let g = row("good1");
    let l = row("lazy");
    assert!(g["skill"].as_f64() > l["skill"].as_f64(), "{g} vs {l}");
    let m = &l["confusion"]["answer"];
    assert_eq!(m["classes"].as_array().map(Vec::len), Some(3), "{m}");
    assert_eq!(m["matrix"].as_array().map(Vec::len), Some(3), "{m}");
    // Nobody else sees them, nor their own: the classes may hold gold answers.
    app.get(&format!("/api/project/{pid}/volunteers"), Some(&good1))
        .await
        .err(403, "Forbidden");
    let mine = app
        .get(&format!("/api/project/{pid}/volunteers/me"), Some(&lazy))
        .await;
    assert!(mine.ok().get("confusion").is_none(), "{}", mine.text);
    assert!(mine.json["skill"].as_f64().is_some());
}

async fn an_excluded_volunteer_stops_counting_but_keeps_their_answers(app: TestApp) {
    let (_admin, owner, _) = app.seeded().await;
    let pid = app.project(&owner, "exclude").await;
    let ids = tasks(&app, &owner, pid, 2, 3).await;
    let spam = app.register("spam").await;
    let a = app.register("anna").await;
    let b = app.register("bo").await;
    for (v, say) in [(&spam, "x"), (&a, "y"), (&b, "x")] {
        for _ in &ids {
            answer_next(&app, pid, v, &|_| json!(say)).await.1.ok();
        }
    }
    let value = |r: &result::Model| r.info.as_ref().expect("info")["aggregate"].clone();
    assert!(
        results_of(&app, pid)
            .await
            .iter()
            .all(|r| value(r)["value"] == "x")
    );

    let key = format!("u{}", spam.id);
    let path = format!("/api/project/{pid}/volunteers/{key}");
    // Only owners exclude; the body names only `excluded`; unknown volunteers are 404.
    app.put(&path, Some(&a), json!({"excluded": true}))
        .await
        .err(403, "Forbidden");
    app.put(&path, None, json!({"excluded": true}))
        .await
        .err(401, "Unauthorized");
    app.put(
        &path,
        Some(&owner),
        json!({"excluded": true, "admin": true}),
    )
    .await
    .err(415, "ValueError");
    app.put(
        &format!("/api/project/{pid}/volunteers/u999999"),
        Some(&owner),
        json!({"excluded": true}),
    )
    .await
    .err(404, "NotFound");
    let row = app
        .put(&path, Some(&owner), json!({"excluded": true}))
        .await;
    assert_eq!(row.ok()["excluded"], true, "{}", row.text);
    assert!(row.json["excluded_at"].is_string());

    // The re-aggregation (queued with the change) drops their answers: y and x tie, and the
    // first given wins.
    refit_now(&app, pid).await;
    for r in results_of(&app, pid).await {
        let agg = value(&r);
        assert_eq!(agg["value"], "y", "{agg}");
        assert_eq!(agg["n"], 2);
        assert_eq!(agg["excluded"], 1);
    }
    // Their answers are all still there.
    let theirs = task_run::Entity::find()
        .filter(task_run::Column::UserId.eq(i32::try_from(spam.id).expect("id")))
        .count(&app.state.infra.db)
        .await
        .expect("count");
    assert_eq!(theirs, 2);
    // The owner's export keeps their answers, flagged.
    let export = |who: &User| {
        let url = format!(
            "{}/api/project/{pid}/export?type=task_run&format=json&api_key={}",
            app.base, who.api_key
        );
        let client = app.client.clone();
        async move {
            let body = client
                .get(url)
                .send()
                .await
                .expect("export")
                .text()
                .await
                .expect("text");
            serde_json::from_str::<Vec<Value>>(&body).unwrap_or_default()
        }
    };
    let rows = export(&owner).await;
    assert_eq!(rows.len(), 6);
    let flagged: Vec<&Value> = rows.iter().filter(|r| r["excluded"] == true).collect();
    assert_eq!(flagged.len(), 2, "{rows:?}");
    assert!(flagged.iter().all(|r| r["user_id"] == spam.id));
    // A recount keeps the exclusion.
    tessera_api::domain::platform::stats::rebuild(&app.state.infra, ProjectId(pid32(pid)))
        .await
        .expect("recount");
    let page = app
        .get(&format!("/api/project/{pid}/volunteers"), Some(&owner))
        .await;
    let spam_row = page.ok()["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|i| i["volunteer"] == key.as_str())
        .expect("spam's row")
        .clone();
    assert_eq!(spam_row["excluded"], true);
    assert_eq!(spam_row["answers"], 2);
    // Counting them again restores the majority.
    app.put(&path, Some(&owner), json!({"excluded": false}))
        .await
        .ok();
    refit_now(&app, pid).await;
    assert!(
        results_of(&app, pid)
            .await
            .iter()
            .all(|r| value(r)["value"] == "x")
    );
    crate::imports::assert_counters(&app, pid).await;
}

async fn owners_review_the_doubtful_results(app: TestApp) {
    use sea_orm::{ActiveModelTrait, Set};
    let (_admin, owner, _) = app.seeded().await;
    let pid = app.project(&owner, "review").await;
    let ids = tasks(&app, &owner, pid, 3, 3).await;
    let vs = [
        app.register("r1").await,
        app.register("r2").await,
        app.register("r3").await,
    ];
    // Unanimous, 2:1 and all different: the last is the least sure.
    let answers = [["a", "a", "a"], ["a", "b", "a"], ["a", "b", "c"]];
    for (n, v) in vs.iter().enumerate() {
        for _ in &ids {
            let say = |i: i64| json!(answers[usize::try_from(i).expect("i")][n]);
            answer_next(&app, pid, v, &say).await.1.ok();
        }
    }
    // Webhooks for reviews.
    let db = &app.state.infra.db;
    tessera_api::store::entities::project::ActiveModel {
        id: sea_orm::Unchanged(pid32(pid)),
        webhook: Set(Some("http://127.0.0.1:9/hook".into())),
        ..Default::default()
    }
    .update(db)
    .await
    .expect("webhook");
    tessera_api::domain::platform::webhooks::configure(
        db,
        pid32(pid),
        Some(vec!["result.reviewed".into()]),
        false,
    )
    .await
    .expect("events");

    let queue = app
        .get(&format!("/api/project/{pid}/review"), Some(&owner))
        .await;
    let items = queue.ok()["items"].as_array().expect("items").clone();
    let order: Vec<i64> = items.iter().filter_map(|i| i["task_id"].as_i64()).collect();
    assert_eq!(order, [ids[2], ids[1], ids[0]], "lowest confidence first");
    assert_eq!(items[0]["answers"].as_array().map(Vec::len), Some(3));
    assert_eq!(items[0]["task_info"], json!({"i": 2}));
    assert!(items[0]["final"].is_null());
    let sure = app
        .get(
            &format!("/api/project/{pid}/review?max_confidence=0.6"),
            Some(&owner),
        )
        .await;
    assert_eq!(
        sure.ok()["items"].as_array().map(Vec::len),
        Some(1),
        "{}",
        sure.text
    );
    for q in [
        "max_confidence=2",
        "limit=0",
        "limit=101",
        "reviewed=perhaps",
    ] {
        app.get(&format!("/api/project/{pid}/review?{q}"), Some(&owner))
            .await
            .err(400, "BadRequest");
    }
    app.get(&format!("/api/project/{pid}/review"), Some(&vs[0]))
        .await
        .err(403, "Forbidden");

    let rid = |i: usize| items[i]["result_id"].as_i64().expect("id");
    let post = |i: usize, body: Value| {
        let app = &app;
        let owner = &owner;
        let path = format!("/api/project/{pid}/review/{}", rid(i));
        async move { app.post(&path, Some(owner), body).await }
    };
    // Bad verdicts.
    for bad in [
        json!({"action": "approve"}),
        json!({"action": "pick"}),
        json!({"action": "pick", "task_run_id": 999_999}),
        json!({"action": "expert"}),
        json!({"action": "expert", "answer": null}),
        json!({"action": "accept", "answer": "a"}),
        json!({"action": "reopen", "answers": 0}),
        json!({"action": "reopen", "answers": 1000}),
    ] {
        let r = post(0, bad.clone()).await;
        assert_eq!(r.status.as_u16(), 400, "{bad}: {}", r.text);
    }
    // Who reviewed is the caller, never the body.
    post(0, json!({"action": "accept", "by": 1}))
        .await
        .err(415, "ValueError");
    let stranger = app.register("stranger").await;
    app.post(
        &format!("/api/project/{pid}/review/{}", rid(0)),
        Some(&stranger),
        json!({"action": "accept"}),
    )
    .await
    .err(403, "Forbidden");
    // A result of another project is not found here.
    let other = app.project(&owner, "other").await;
    app.post(
        &format!("/api/project/{other}/review/{}", rid(0)),
        Some(&owner),
        json!({"action": "accept"}),
    )
    .await
    .err(404, "NotFound");

    // Expert answer on the all-different task.
    let r = post(0, json!({"action": "expert", "answer": "d"})).await;
    let fin = &r.ok()["info"]["final"];
    assert_eq!(fin["value"], "d");
    assert_eq!(fin["action"], "expert");
    assert_eq!(fin["by"], owner.id);
    assert!(fin["at"].is_string());
    assert!(
        r.json["info"]["aggregate"].is_object(),
        "the aggregate stays"
    );
    // Pick one answer on the 2:1 task.
    let pick = items[1]["answers"][1]["task_run_id"].as_i64().expect("run");
    let r = post(1, json!({"action": "pick", "task_run_id": pick})).await;
    assert_eq!(r.ok()["info"]["final"]["value"], "b");
    assert_eq!(r.json["info"]["final"]["task_run_id"], pick);
    // Accept the unanimous one.
    let r = post(2, json!({"action": "accept"})).await;
    assert_eq!(r.ok()["info"]["final"]["value"], "a");

    // The summary counts them: three results, three reviewed, all in the histogram.
    let summary = app
        .get(&format!("/api/project/{pid}/quality"), Some(&owner))
        .await;
    assert_eq!(summary.ok()["results"], 3, "{}", summary.text);
    assert_eq!(summary.json["reviewed"], 3);
    assert_eq!(summary.json["method"], "majority");
    let bins = summary.json["histogram"].as_array().expect("bins").clone();
    assert_eq!(bins.len(), 10);
    assert_eq!(bins.iter().filter_map(Value::as_u64).sum::<u64>(), 3);
    assert_eq!(bins[9], 1, "the unanimous result is over 90% sure");
    app.get(&format!("/api/project/{pid}/quality"), Some(&vs[0]))
        .await
        .err(403, "Forbidden");

    // The queue is empty now, unless reviewed ones are asked for.
    let q = app
        .get(&format!("/api/project/{pid}/review"), Some(&owner))
        .await;
    assert_eq!(q.ok()["items"], json!([]));
    let q = app
        .get(
            &format!("/api/project/{pid}/review?reviewed=true"),
            Some(&owner),
        )
        .await;
    assert_eq!(q.ok()["items"].as_array().map(Vec::len), Some(3));
    assert_eq!(q.json["items"][0]["final"]["value"], "d");

    // Exports carry final beside aggregate.
    let export = app
        .client
        .get(format!(
            "{}/api/project/{pid}/export?type=result&format=csv&api_key={}",
            app.base, owner.api_key
        ))
        .send()
        .await
        .expect("export")
        .text()
        .await
        .expect("text");
    let header = export.lines().next().expect("header");
    assert!(header.contains("info_aggregate_value"), "{header}");
    assert!(header.contains("info_final_value"), "{header}");

    // Reopen the 2:1 task for two more answers: it takes them and forms a new result.
    let r = post(1, json!({"action": "reopen", "answers": 2})).await;
    assert_eq!(r.ok()["info"]["reopened"]["answers"], 2, "{}", r.text);
    let t = task_row(&app, ids[1]).await;
    assert_eq!((t.state, t.n_answers), (task::TaskState::Ongoing, 5));
    crate::imports::assert_counters(&app, pid).await;
    let r = post(1, json!({"action": "reopen"})).await;
    r.err(409, "Conflict");
    let more = [app.register("r4").await, app.register("r5").await];
    for v in &more {
        let (id, r) = answer_next(&app, pid, v, &|_| json!("a")).await;
        r.ok();
        assert_eq!(id, ids[1]);
    }
    let t = task_row(&app, ids[1]).await;
    assert_eq!(t.state, task::TaskState::Completed);
    let versions: Vec<result::Model> = result::Entity::find()
        .filter(result::Column::TaskId.eq(pid32(ids[1])))
        .all(db)
        .await
        .expect("results");
    assert_eq!(versions.len(), 2);
    let current = versions.iter().find(|v| v.last_version).expect("current");
    assert_eq!(current.info.as_ref().expect("info")["aggregate"]["n"], 5);
    assert!(
        current.reviewed.is_none(),
        "the new result waits for review"
    );
    // The old version cannot be reviewed any more.
    post(1, json!({"action": "accept"}))
        .await
        .err(409, "Conflict");
    crate::imports::assert_counters(&app, pid).await;

    // Each verdict fired result.reviewed.
    let fired = webhook_delivery::Entity::find()
        .filter(webhook_delivery::Column::ProjectId.eq(pid32(pid)))
        .filter(webhook_delivery::Column::Event.eq("result.reviewed"))
        .all(db)
        .await
        .expect("deliveries");
    assert_eq!(fired.len(), 4);
    let actions: Vec<&str> = fired
        .iter()
        .filter_map(|d| d.payload["data"]["action"].as_str())
        .collect();
    for a in ["expert", "pick", "accept", "reopen"] {
        assert!(actions.contains(&a), "{actions:?}");
    }
}

on_both_stores!(
    retirement_completes_a_task_as_soon_as_its_answers_agree,
    retirement_happens_once_under_a_hundred_concurrent_volunteers,
    dawid_skene_refits_and_keeps_what_the_owner_wrote,
    an_excluded_volunteer_stops_counting_but_keeps_their_answers,
    owners_review_the_doubtful_results,
);
