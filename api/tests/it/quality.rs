//! Quality control: gold tasks (never shown, never completed, never served twice), the
//! project's quality settings, the quiz gate and the volunteers' gold counts.

use serde_json::{Value, json};

use crate::common::{Resp, TestApp, User};
use crate::on_both_stores;

async fn newtask(app: &TestApp, project: i64, who: &User) -> Resp {
    app.get(&format!("/api/project/{project}/newtask"), Some(who))
        .await
}

async fn answer(app: &TestApp, project: i64, task: &Value, who: &User, info: Value) -> Resp {
    app.post(
        "/api/taskrun",
        Some(who),
        json!({"project_id": project, "task_id": task["id"], "info": info}),
    )
    .await
}

async fn set_quality(app: &TestApp, owner: &User, project: i64, quality: Value) {
    app.put(
        &format!("/api/project/{project}"),
        Some(owner),
        json!({"info": {"quality": quality}}),
    )
    .await
    .ok();
}

async fn gold(app: &TestApp, owner: &User, project: i64, n: i64, expected: Value) -> i64 {
    app.post(
        "/api/task",
        Some(owner),
        json!({"project_id": project, "info": {"gold": n}, "calibration": 1, "gold_answers": expected}),
    )
    .await
    .ok()["id"]
        .as_i64()
        .expect("id")
}

async fn total(app: &TestApp, project: i64, who: &User) -> Value {
    app.get(&format!("/api/project/{project}/userprogress"), Some(who))
        .await
        .ok()
        .clone()
}

/// `(gold_seen, gold_correct)` in the volunteer's row, as the database has it.
async fn gold_counts(app: &TestApp, project: i64, user: &User) -> (i64, i64) {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    use tessera_api::store::entities::project_volunteer as pv;
    let row = pv::Entity::find()
        .filter(pv::Column::ProjectId.eq(i32::try_from(project).expect("id")))
        .filter(pv::Column::Volunteer.eq(format!("u{}", user.id)))
        .one(&app.state.infra.db)
        .await
        .expect("read")
        .expect("the volunteer's row");
    (row.gold_seen, row.gold_correct)
}

/// Three tasks, three gold tasks (answers `a`, `b`, `c` for `info.gold` 1, 2, 3), no gold
/// mixed in after a quiz of two that needs both right.
async fn quiz_project(app: &TestApp, owner: &User, pid: i64) {
    for i in 0..3 {
        app.task(owner, pid, json!({"n": i})).await;
    }
    for (n, expected) in [(1, "a"), (2, "b"), (3, "c")] {
        gold(app, owner, pid, n, json!(expected)).await;
    }
    set_quality(
        app,
        owner,
        pid,
        json!({"gold_rate": 0, "quiz": {"tasks": 2, "pass_ratio": 1.0}}),
    )
    .await;
}

/// The right answer to a task of [`quiz_project`].
fn right(t: &Value) -> Value {
    let n = t["info"]["gold"].as_i64().expect("a gold task");
    json!(["a", "b", "c"][usize::try_from(n - 1).expect("1 to 3")])
}

/// Rebuilds the project's counters and volunteers' rows from its answers.
async fn recount(app: &TestApp, pid: i64) {
    tessera_api::domain::platform::stats::rebuild(
        &app.state.infra,
        tessera_api::ids::ProjectId(i32::try_from(pid).expect("id")),
    )
    .await
    .expect("recount");
}

async fn gold_tasks_stay_hidden_never_complete_and_are_served_once(app: TestApp) {
    let (_admin, owner, _) = app.seeded().await;
    let pid = app.project(&owner, "birds").await;
    for i in 0..2 {
        app.task(&owner, pid, json!({"n": i})).await;
    }
    // A gold task needs its answer, in a shape it can be judged by.
    let bad = |gold: Value| json!({"project_id": pid, "info": {}, "calibration": 1, "gold_answers": gold});
    for wrong in [
        json!({"project_id": pid, "info": {}, "calibration": 1}),
        bad(json!({"a": {"b": 1}})),
        bad(json!([1, 2])),
        bad(json!({})),
        json!({"project_id": pid, "info": {}, "calibration": 2, "gold_answers": "x"}),
    ] {
        let e = app.post("/api/task", Some(&owner), wrong.clone()).await;
        e.err(415, "ValueError");
    }
    let g = gold(
        &app,
        &owner,
        pid,
        1,
        json!({"species": "Heron", "count": 2}),
    )
    .await;
    set_quality(
        &app,
        &owner,
        pid,
        json!({"gold_rate": 1.0, "feedback": true}),
    )
    .await;

    let v = app.register("vera").await;
    // Gold tasks are not part of the work.
    assert_eq!(total(&app, pid, &v).await["total"], 2);

    // Gold is mixed in one task at a time: a hand-out of several is all work.
    let two = app
        .get(&format!("/api/project/{pid}/newtask?limit=2"), Some(&v))
        .await;
    let ids: Vec<&Value> = two
        .ok()
        .as_array()
        .expect("two tasks")
        .iter()
        .map(|t| &t["id"])
        .collect();
    assert_eq!(ids.len(), 2);
    assert!(!ids.contains(&&json!(g)), "{}", two.text);

    // With gold_rate 1 the first single task is the gold one, shown like any task.
    let t = newtask(&app, pid, &v).await.ok().clone();
    assert_eq!(t["id"], g);
    for hidden in ["gold_answers", "calibration"] {
        assert!(t.get(hidden).is_none(), "{hidden} shown: {t}");
    }
    assert!(!t.to_string().contains("Heron"), "{t}");
    // The answer is judged per field (text folded) and, with feedback, comes back judged.
    let a = answer(&app, pid, &t, &v, json!({"species": " heron", "count": 2})).await;
    assert_eq!(
        a.ok()["gold"],
        json!({"correct": true, "answer": {"species": "Heron", "count": 2}})
    );
    assert!(a.json.get("gold_correct").is_none(), "{}", a.text);
    // Never the same gold task twice: the ordinary tasks come next.
    for _ in 0..2 {
        let t = newtask(&app, pid, &v).await.ok().clone();
        assert_ne!(t["id"], g);
        assert!(t["id"].is_i64(), "{t}");
        let a = answer(&app, pid, &t, &v, json!("x")).await;
        assert!(a.ok().get("gold").is_none(), "{}", a.text);
    }
    assert_eq!(newtask(&app, pid, &v).await.ok(), &json!({}));
    assert_eq!(
        total(&app, pid, &v).await,
        json!({"done": 2, "total": 2, "remaining": 0})
    );
    assert_eq!(gold_counts(&app, pid, &v).await, (1, 1));

    // More volunteers than its n_answers answer it; it never completes nor gets a result.
    for name in ["wim", "xena", "yann"] {
        let u = app.register(name).await;
        let t = newtask(&app, pid, &u).await.ok().clone();
        assert_eq!(t["id"], g);
        let a = answer(&app, pid, &t, &u, json!({"species": "egret", "count": 2})).await;
        assert_eq!(a.ok()["gold"]["correct"], false);
        assert_eq!(gold_counts(&app, pid, &u).await, (1, 0));
    }
    let owner_view = app.get(&format!("/api/task/{g}"), Some(&owner)).await;
    assert_eq!(owner_view.ok()["state"], "ongoing");
    assert_eq!(owner_view.json["n_task_runs"], 4);
    // Handed out, its count never shows more answers than it needs (which would tell it).
    let late = app.register("zoe").await;
    let shown = newtask(&app, pid, &late).await.ok().clone();
    assert_eq!(shown["id"], g);
    assert!(
        shown["n_task_runs"].as_i64() < shown["n_answers"].as_i64(),
        "{shown}"
    );

    // Nobody but the owners reads a gold task or the answers to it (which would give the
    // answer away), and an answer to one stays as judged.
    let direct = app.get(&format!("/api/task/{g}"), Some(&v)).await;
    assert!(
        !direct.status.is_success() && !direct.text.contains("Heron"),
        "{}",
        direct.text
    );
    let theirs = app
        .get(&format!("/api/taskrun?task_id={g}&all=1"), Some(&v))
        .await;
    assert_eq!(theirs.ok(), &json!([]));
    let related = app
        .get(
            &format!("/api/task?project_id={pid}&related=1&all=1"),
            Some(&v),
        )
        .await;
    assert!(
        !related.ok().to_string().contains("egret"),
        "{}",
        related.text
    );
    let all_runs = app
        .get(&format!("/api/taskrun?task_id={g}&all=1"), Some(&owner))
        .await;
    let runs = all_runs.ok().as_array().expect("runs").clone();
    assert_eq!(runs.len(), 4);
    let own_gold = runs
        .iter()
        .find(|r| r["user_id"] == v.id)
        .expect("vera's answer")["id"]
        .clone();
    app.delete(&format!("/api/taskrun/{own_gold}"), Some(&v))
        .await
        .err(403, "Forbidden");
    let r = app
        .put(
            &format!("/api/taskrun/{own_gold}"),
            Some(&v),
            json!({"info": "again"}),
        )
        .await;
    assert_eq!(r.status.as_u16(), 403, "{}", r.text);
    assert_eq!(owner_view.json["gold_answers"]["species"], "Heron");
    assert_eq!(owner_view.json["calibration"], 1);
    let results = app
        .get(&format!("/api/result?task_id={g}&all=1"), Some(&owner))
        .await;
    assert_eq!(results.ok(), &json!([]));

    // Volunteers cannot tell gold tasks apart: not in lists, not by filter or order.
    let listed = app
        .get(&format!("/api/task?project_id={pid}&all=1"), Some(&v))
        .await;
    assert_eq!(
        listed.ok().as_array().map(Vec::len),
        Some(2),
        "gold is not listed"
    );
    for t in listed.ok().as_array().expect("tasks") {
        assert!(
            t.get("gold_answers").is_none() && t.get("calibration").is_none(),
            "{t}"
        );
    }
    // An owners' field filters only the caller's own projects' rows; anonymously, not at all.
    for probe in ["calibration=1", "calibration=0", "orderby=calibration"] {
        let r = app
            .get(&format!("/api/task?project_id={pid}&{probe}"), Some(&v))
            .await;
        assert_eq!(r.ok(), &json!([]), "{probe}");
        let r = app
            .get(&format!("/api/task?project_id={pid}&{probe}"), None)
            .await;
        assert_eq!(r.status.as_u16(), 415, "{probe}: {}", r.text);
    }
    let r = app
        .get(
            &format!("/api/task?project_id={pid}&gold_answers=x"),
            Some(&v),
        )
        .await;
    assert_eq!(r.status.as_u16(), 415, "{}", r.text);
    let owners = app
        .get(
            &format!("/api/task?project_id={pid}&calibration=1"),
            Some(&owner),
        )
        .await;
    assert_eq!(owners.ok().as_array().map(Vec::len), Some(1));
    // A second answer by the same volunteer is refused as ever.
    let again = answer(&app, pid, &json!({"id": g}), &v, json!("x")).await;
    assert_eq!(again.status.as_u16(), 403, "{}", again.text);
}

async fn quality_settings_are_checked_and_name_the_setting(app: TestApp) {
    let (_admin, owner, _) = app.seeded().await;
    let pid = app.project(&owner, "checked").await;
    for (bad, named) in [
        (json!({"gold_rate": 2}), "info.quality.gold_rate"),
        (json!({"aggregation": "vote"}), "info.quality.aggregation"),
        (json!({"quiz": {"tasks": 0}}), "info.quality.quiz.tasks"),
        (
            json!({"retire": {"confidence": 1.5}}),
            "info.quality.retire.confidence",
        ),
        (json!({"feedback": "yes"}), "info.quality.feedback"),
        (json!({"gold": 1}), "info.quality.gold"),
    ] {
        let r = app
            .put(
                &format!("/api/project/{pid}"),
                Some(&owner),
                json!({"info": {"quality": bad}}),
            )
            .await;
        let e = r.err(415, "ValueError");
        assert!(
            e["exception_msg"]
                .as_str()
                .is_some_and(|m| m.starts_with(named)),
            "{}",
            r.text
        );
    }
    set_quality(
        &app,
        &owner,
        pid,
        json!({"aggregation": "dawid_skene", "gold_rate": 0.1, "quiz": {"tasks": 5, "pass_ratio": 0.8},
               "retire": {"min_answers": 3, "confidence": 0.95}, "feedback": true}),
    )
    .await;
    // The settings are the owners' to read.
    let public = app.get(&format!("/api/project/{pid}"), None).await;
    assert!(
        public.ok()["info"].get("quality").is_none(),
        "{}",
        public.text
    );
    let own = app.get(&format!("/api/project/{pid}"), Some(&owner)).await;
    assert_eq!(own.ok()["info"]["quality"]["quiz"]["tasks"], 5);
}

async fn the_quiz_lets_good_volunteers_on_and_stops_the_others(app: TestApp) {
    let (_admin, owner, _) = app.seeded().await;
    let pid = app.project(&owner, "quiz").await;
    quiz_project(&app, &owner, pid).await;

    // Two right answers to two gold tasks, then the work (no gold: gold_rate 0).
    let good = app.register("good").await;
    for _ in 0..2 {
        let t = newtask(&app, pid, &good).await.ok().clone();
        assert!(t["info"]["gold"].is_i64(), "the quiz comes first: {t}");
        let a = answer(&app, pid, &t, &good, right(&t)).await;
        // Without feedback, no verdict.
        assert!(a.ok().get("gold").is_none(), "{}", a.text);
    }
    for _ in 0..3 {
        let t = newtask(&app, pid, &good).await.ok().clone();
        assert!(t["info"]["n"].is_i64(), "past the quiz, the work: {t}");
        answer(&app, pid, &t, &good, json!("x")).await.ok();
    }
    assert_eq!(gold_counts(&app, pid, &good).await, (2, 2));

    // One wrong answer out of two fails a quiz that needs all right.
    let bad = app.register("bad").await;
    let t = newtask(&app, pid, &bad).await.ok().clone();
    answer(&app, pid, &t, &bad, json!("wrong")).await.ok();
    let t = newtask(&app, pid, &bad).await.ok().clone();
    assert!(t["info"]["gold"].is_i64(), "{t}");
    answer(&app, pid, &t, &bad, right(&t)).await.ok();
    let refused = newtask(&app, pid, &bad).await;
    let e = refused.err(403, "QuizFailed");
    assert!(
        e["exception_msg"]
            .as_str()
            .is_some_and(|m| m.contains("1 of")),
        "{}",
        refused.text
    );
    assert_eq!(gold_counts(&app, pid, &bad).await, (2, 1));

    // A recount rebuilds the gold counts from the answers.
    recount(&app, pid).await;
    assert_eq!(gold_counts(&app, pid, &good).await, (2, 2));
    assert_eq!(gold_counts(&app, pid, &bad).await, (2, 1));
    assert_eq!(total(&app, pid, &good).await["total"], 3);

    // A quiz longer than the gold there is: judged on what there was.
    set_quality(
        &app,
        &owner,
        pid,
        json!({"gold_rate": 0, "quiz": {"tasks": 10, "pass_ratio": 0.6}}),
    )
    .await;
    app.state
        .volunteer
        .projects
        .forget(tessera_api::ids::ProjectId(i32::try_from(pid).expect("id")))
        .await;
    let late = app.register("late").await;
    for _ in 0..3 {
        let t = newtask(&app, pid, &late).await.ok().clone();
        assert!(t["info"]["gold"].is_i64(), "{t}");
        answer(&app, pid, &t, &late, right(&t)).await.ok();
    }
    let t = newtask(&app, pid, &late).await.ok().clone();
    assert!(t["info"]["n"].is_i64(), "3 of 3 right passes: {t}");
}

async fn gold_tasks_stay_out_of_the_counters_through_edits_bulk_and_imports(app: TestApp) {
    let (_admin, owner, _) = app.seeded().await;
    let pid = app.project(&owner, "counted").await;
    let v = app.register("viewer").await;
    let mut work = vec![];
    for i in 0..3 {
        work.push(app.task(&owner, pid, json!({"n": i})).await);
    }
    let g = gold(&app, &owner, pid, 1, json!("yes")).await;
    assert_eq!(total(&app, pid, &v).await["total"], 3);
    crate::imports::assert_counters(&app, pid).await;

    // A task becomes gold (with its answer) and back.
    let to_gold = app
        .put(
            &format!("/api/task/{}", work[0]),
            Some(&owner),
            json!({"calibration": 1}),
        )
        .await;
    to_gold.err(415, "ValueError");
    app.put(
        &format!("/api/task/{}", work[0]),
        Some(&owner),
        json!({"calibration": 1, "gold_answers": "no"}),
    )
    .await
    .ok();
    assert_eq!(total(&app, pid, &v).await["total"], 2);
    app.put(
        &format!("/api/task/{}", work[0]),
        Some(&owner),
        json!({"calibration": 0}),
    )
    .await
    .ok();
    assert_eq!(total(&app, pid, &v).await["total"], 3);

    // In bulk: tasks without a gold answer cannot become gold; gold ones can go back.
    let bulk = |body: Value| {
        let app = &app;
        let owner = &owner;
        async move {
            app.post(&format!("/api/project/{pid}/tasks/bulk"), Some(owner), body)
                .await
        }
    };
    let r = bulk(json!({"filter": {"ids": [work[1], work[2]]}, "set": {"calibration": 1}})).await;
    assert_eq!(r.status.as_u16(), 400, "{}", r.text);
    bulk(json!({"filter": {"ids": [g]}, "set": {"calibration": 0}}))
        .await
        .ok();
    assert_eq!(total(&app, pid, &v).await["total"], 4);
    crate::imports::assert_counters(&app, pid).await;
    bulk(json!({"filter": {"ids": [g]}, "set": {"calibration": 1}}))
        .await
        .ok();
    assert_eq!(total(&app, pid, &v).await["total"], 3);
    crate::imports::assert_counters(&app, pid).await;
    // Raising n_answers of every task changes only the work's expected answers.
    bulk(json!({"filter": {}, "set": {"n_answers": 5}}))
        .await
        .ok();
    let owner_view = app.get(&format!("/api/task/{g}"), Some(&owner)).await;
    assert_eq!(owner_view.ok()["state"], "ongoing");

    // An import's gold rows are checked like POST /api/task's and not counted.
    let csv = "question,calibration,gold_answers\nq1,1,yes\nq2,0,\nq3,1,\n";
    let report = crate::imports::import_file(&app, &owner, pid, "tasks.csv", csv).await;
    assert_eq!(report["status"], "done", "{report}");
    assert_eq!(report["created"], 2, "{report}");
    assert_eq!(report["rejected"], 1, "{report}");
    assert_eq!(total(&app, pid, &v).await["total"], 4);
    crate::imports::assert_counters(&app, pid).await;

    // Deleting a gold task leaves the work's counts alone; a recount agrees with them.
    app.delete(&format!("/api/task/{g}"), Some(&owner))
        .await
        .ok();
    assert_eq!(total(&app, pid, &v).await["total"], 4);
    recount(&app, pid).await;
    assert_eq!(total(&app, pid, &v).await["total"], 4);
    crate::imports::assert_counters(&app, pid).await;
}

async fn owners_read_each_volunteers_skill_and_volunteers_their_own(app: TestApp) {
    let (_admin, owner, _) = app.seeded().await;
    let pid = app.project(&owner, "skills").await;
    quiz_project(&app, &owner, pid).await;
    // good: 2 of 2 and then the work; bad: 1 of 2; half: 1 of 1 so far.
    let good = app.register("good").await;
    let bad = app.register("bad").await;
    let half = app.register("half").await;
    for (who, answers) in [(&good, [true, true]), (&bad, [false, true])] {
        for ok in answers {
            let t = newtask(&app, pid, who).await.ok().clone();
            let info = if ok { right(&t) } else { json!("zzz") };
            answer(&app, pid, &t, who, info).await.ok();
        }
    }
    for _ in 0..3 {
        let t = newtask(&app, pid, &good).await.ok().clone();
        answer(&app, pid, &t, &good, json!("x")).await.ok();
    }
    let t = newtask(&app, pid, &half).await.ok().clone();
    answer(&app, pid, &t, &half, right(&t)).await.ok();

    let page = app
        .get(&format!("/api/project/{pid}/volunteers"), Some(&owner))
        .await;
    let items = page.ok()["items"].as_array().expect("items").clone();
    assert_eq!(page.json["has_more"], false);
    let names: Vec<&str> = items.iter().filter_map(|i| i["name"].as_str()).collect();
    assert_eq!(names, ["good", "bad", "half"], "most answers first");
    let by = |name: &str| {
        items
            .iter()
            .find(|i| i["name"] == name)
            .expect(name)
            .clone()
    };
    let g = by("good");
    assert_eq!(g["volunteer"], format!("u{}", good.id));
    assert_eq!(g["user_id"], good.id);
    assert_eq!(
        (
            g["answers"].as_i64(),
            g["gold_seen"].as_i64(),
            g["gold_correct"].as_i64()
        ),
        (Some(5), Some(2), Some(2))
    );
    assert_eq!(g["accuracy"], 1.0);
    assert_eq!(g["skill"], 0.85);
    assert_eq!(g["quiz"], "passed");
    let b = by("bad");
    assert_eq!(
        (b["accuracy"].as_f64(), b["quiz"].as_str()),
        (Some(0.5), Some("failed"))
    );
    assert_eq!(b["skill"], 0.6);
    assert_eq!(by("half")["quiz"], "pending");

    let lowest = app
        .get(
            &format!("/api/project/{pid}/volunteers?orderby=accuracy&desc=false&limit=1"),
            Some(&owner),
        )
        .await;
    assert_eq!(lowest.ok()["items"][0]["name"], "bad", "{}", lowest.text);
    assert_eq!(lowest.json["has_more"], true);
    for bad_query in ["orderby=name", "limit=0", "limit=500", "desc=maybe"] {
        let r = app
            .get(
                &format!("/api/project/{pid}/volunteers?{bad_query}"),
                Some(&owner),
            )
            .await;
        r.err(400, "BadRequest");
    }

    // Only owners and admins list volunteers; each volunteer reads their own row.
    app.get(&format!("/api/project/{pid}/volunteers"), Some(&good))
        .await
        .err(403, "Forbidden");
    app.get(&format!("/api/project/{pid}/volunteers"), None)
        .await
        .err(401, "Unauthorized");
    let mine = app
        .get(&format!("/api/project/{pid}/volunteers/me"), Some(&bad))
        .await;
    assert_eq!(mine.ok()["quiz"], "failed");
    assert_eq!(mine.json["gold_seen"], 2);
    let nobody = app.register("nobody").await;
    let fresh = app
        .get(&format!("/api/project/{pid}/volunteers/me"), Some(&nobody))
        .await;
    assert_eq!(fresh.ok()["answers"], 0);
    assert_eq!(fresh.json["quiz"], "pending");
    assert_eq!(fresh.json["quiz_tasks"], 2);
    assert!(fresh.json["last_answer"].is_null(), "{}", fresh.text);
}

/// Volunteers who have answered before give their gold answers the short way (judged against
/// the gold answer handed out with the task); an owner who changes that answer in between is
/// not judged by the old one.
async fn gold_answers_are_judged_by_the_gold_answer_of_the_moment(app: TestApp) {
    let (_admin, owner, _) = app.seeded().await;
    let pid = app.project(&owner, "gulls").await;
    for i in 0..3 {
        app.task(&owner, pid, json!({"n": i})).await;
    }
    let g = gold(&app, &owner, pid, 1, json!("gull")).await;
    set_quality(
        &app,
        &owner,
        pid,
        json!({"gold_rate": 1.0, "feedback": true}),
    )
    .await;
    let regulars = [app.register("rita").await, app.register("rolf").await];
    for v in &regulars {
        // An ordinary task first (a hand-out of two is all work), so their rows exist.
        let two = app
            .get(&format!("/api/project/{pid}/newtask?limit=2"), Some(v))
            .await;
        let first = two.ok()[0].clone();
        answer(&app, pid, &first, v, json!("tern")).await.ok();
    }
    // Rita: the gold answer as handed out.
    let t = newtask(&app, pid, &regulars[0]).await.ok().clone();
    assert_eq!(t["id"], g);
    let a = answer(&app, pid, &t, &regulars[0], json!("Gull")).await;
    assert_eq!(a.ok()["gold"], json!({"correct": true, "answer": "gull"}));
    assert_eq!(gold_counts(&app, pid, &regulars[0]).await, (1, 1));
    // Rolf holds it; the owner corrects its gold answer; Rolf is judged by the new one.
    let t = newtask(&app, pid, &regulars[1]).await.ok().clone();
    assert_eq!(t["id"], g);
    app.put(
        &format!("/api/task/{g}"),
        Some(&owner),
        json!({"gold_answers": "kittiwake"}),
    )
    .await
    .ok();
    let a = answer(&app, pid, &t, &regulars[1], json!("gull")).await;
    assert_eq!(
        a.ok()["gold"],
        json!({"correct": false, "answer": "kittiwake"})
    );
    assert_eq!(gold_counts(&app, pid, &regulars[1]).await, (1, 0));
    // Twice is a 403, as for any task.
    answer(&app, pid, &t, &regulars[1], json!("kittiwake"))
        .await
        .err(403, "Forbidden");
    let owner_view = app.get(&format!("/api/task/{g}"), Some(&owner)).await;
    assert_eq!(owner_view.ok()["n_task_runs"], 2);
    assert_eq!(owner_view.json["state"], "ongoing");
    recount(&app, pid).await;
    assert_eq!(gold_counts(&app, pid, &regulars[0]).await, (1, 1));
    assert_eq!(gold_counts(&app, pid, &regulars[1]).await, (1, 0));
    crate::imports::assert_counters(&app, pid).await;
}

on_both_stores!(
    gold_answers_are_judged_by_the_gold_answer_of_the_moment,
    owners_read_each_volunteers_skill_and_volunteers_their_own,
    gold_tasks_stay_hidden_never_complete_and_are_served_once,
    quality_settings_are_checked_and_name_the_setting,
    the_quiz_lets_good_volunteers_on_and_stops_the_others,
    gold_tasks_stay_out_of_the_counters_through_edits_bulk_and_imports,
);
