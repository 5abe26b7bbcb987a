//! One differential test: the same answers, replayed through every way an answer is recorded —
//! the group commit (PostgreSQL, batching on), the single statement (batching off), the
//! transactional path (a project with a webhook takes it for every answer) and SQLite's steps —
//! leave the same tasks, answers, results, counters, volunteers and activity behind.

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{Value, json};
use tessera_api::{
    config::Config,
    metrics::AnswerLabels,
    store::{
        counters,
        entities::{project_activity, project_volunteer, result, task, task::TaskState, task_run},
    },
};

use crate::common::{TestApp, User};

/// Who answers: signed-in accounts, anonymous volunteers behind a trusted proxy, and a
/// project's external users.
#[derive(Clone, Debug)]
enum Who {
    Account,
    Anonymous(&'static str),
    External(&'static str),
}

const TASKS: usize = 7;
const N_ANSWERS: usize = 3;

/// Everything the answers leave behind, with the parts that differ by nature (ids made up by
/// the anonymisation key, shards picked at random, timings) taken out.
#[derive(Debug, PartialEq)]
struct Outcome {
    /// Per task (by `info.i`): state, answer count.
    tasks: Vec<(i64, TaskState, i32)>,
    /// Per answer: task, answer, whether anonymous / external / signed in.
    runs: Vec<(i64, Value, bool, Option<String>, bool)>,
    /// Per result: task, the aggregate, how many answers.
    results: Vec<(i64, Value, usize)>,
    /// The project's counters, summed over shards (time spent aside).
    counters: (i64, i64, i64, i64, i64, i64, i64),
    /// Per volunteer: anonymous, signed in, answers.
    volunteers: Vec<(bool, bool, i64)>,
    /// Activity over all hours and shards: answers, anonymous answers, completions.
    activity: (i64, i64, i64),
}

async fn replay(app: &TestApp, webhook: bool) -> (Outcome, User, i64) {
    let owner = app.register("owner").await;
    let mut volunteers = vec![];
    for name in ["ada", "bo", "cy"] {
        let user = app.register(name).await;
        volunteers.push((Who::Account, Some(user)));
    }
    for ip in ["203.0.113.1", "203.0.113.2"] {
        volunteers.push((Who::Anonymous(ip), None));
    }
    for uid in ["ext-1", "ext-2"] {
        volunteers.push((Who::External(uid), None));
    }
    let project = app.project(&owner, "same").await;
    if webhook {
        app.put(
            &format!("/api/project/{project}/webhook"),
            Some(&owner),
            json!({"url": "https://example.org/hook"}),
        )
        .await
        .ok();
    }
    let token = app.project_token(&owner, project, "same").await;

    // One task at a time, so that which volunteer answers which task is the script's choice,
    // not the scheduler's: three volunteers (a different three each time) answer it, each
    // their own way.
    let mut answered = 0;
    for i in 0..TASKS {
        let task_id = app
            .post(
                "/api/task",
                Some(&owner),
                json!({"project_id": project, "info": {"i": i}, "n_answers": N_ANSWERS}),
            )
            .await
            .ok()["id"]
            .as_i64()
            .expect("task");
        for k in [0, 2, 4].into_iter().take(N_ANSWERS) {
            let v = (i + k) % volunteers.len();
            let (who, user) = &volunteers[v];
            let (query, auth, forwarded) = match who {
                Who::Account => (
                    format!("api_key={}", user.as_ref().expect("user").api_key),
                    None,
                    None,
                ),
                Who::Anonymous(ip) => (String::new(), None, Some(*ip)),
                Who::External(uid) => (
                    format!("external_uid={uid}"),
                    Some(format!("Bearer {token}")),
                    None,
                ),
            };
            let request = |req: reqwest::RequestBuilder| {
                let req = match &auth {
                    Some(a) => req.header("authorization", a),
                    None => req,
                };
                match forwarded {
                    Some(ip) => req.header("x-forwarded-for", ip),
                    None => req,
                }
            };
            let got = TestApp::read(
                request(app.client.get(format!(
                    "{}/api/project/{project}/newtask?{query}",
                    app.base
                )))
                .send()
                .await
                .expect("newtask"),
            )
            .await;
            assert_eq!(got.ok()["id"].as_i64(), Some(task_id), "volunteer {v}");
            let label = if (i + v) % 3 == 0 { "cat" } else { "dog" };
            let mut body = json!({
                "project_id": project,
                "task_id": task_id,
                "info": {"label": label, "by": v},
            });
            if let Who::External(uid) = who {
                body["external_uid"] = json!(uid);
            }
            TestApp::read(
                request(
                    app.client
                        .post(format!("{}/api/taskrun?{query}", app.base))
                        .json(&body),
                )
                .send()
                .await
                .expect("answer"),
            )
            .await
            .ok();
            answered += 1;
        }
    }
    assert_eq!(answered, TASKS * N_ANSWERS, "every task filled");
    (outcome(app, project).await, owner, project)
}

async fn outcome(app: &TestApp, project: i64) -> Outcome {
    let db = &app.state.infra.db;
    let pid = i32::try_from(project).expect("id");
    let tasks = task::Entity::find()
        .filter(task::Column::ProjectId.eq(pid))
        .order_by_asc(task::Column::Id)
        .all(db)
        .await
        .expect("tasks");
    let index = |task_id: i32| {
        tasks
            .iter()
            .find(|t| t.id == task_id)
            .and_then(|t| t.info.as_ref())
            .and_then(|i| i["i"].as_i64())
            .expect("task index")
    };
    let mut runs: Vec<_> = task_run::Entity::find()
        .filter(task_run::Column::ProjectId.eq(pid))
        .all(db)
        .await
        .expect("runs")
        .into_iter()
        .map(|r| {
            (
                index(r.task_id),
                r.info.unwrap_or(Value::Null),
                r.user_ip.is_some(),
                r.external_uid,
                r.user_id.is_some(),
            )
        })
        .collect();
    // By task and volunteer: PostgreSQL keeps JSON keys in an order of its own.
    runs.sort_by_key(|r| (r.0, r.1["by"].as_i64()));
    let mut results: Vec<_> = result::Entity::find()
        .filter(result::Column::ProjectId.eq(pid))
        .all(db)
        .await
        .expect("results")
        .into_iter()
        .map(|r| {
            (
                index(r.task_id),
                r.info
                    .map(|i| i["aggregate"].clone())
                    .unwrap_or(Value::Null),
                r.task_run_ids.as_array().map_or(0, Vec::len),
            )
        })
        .collect();
    results.sort_by_key(|r| r.0);
    let totals = counters::totals(db, tessera_api::ids::ProjectId(pid))
        .await
        .expect("counters");
    let mut volunteers: Vec<_> = project_volunteer::Entity::find()
        .filter(project_volunteer::Column::ProjectId.eq(pid))
        .all(db)
        .await
        .expect("volunteers")
        .into_iter()
        .map(|v| (v.anonymous, v.user_id.is_some(), v.n_answers))
        .collect();
    volunteers.sort();
    let activity = project_activity::Entity::find()
        .filter(project_activity::Column::ProjectId.eq(pid))
        .all(db)
        .await
        .expect("activity")
        .into_iter()
        .fold((0, 0, 0), |(a, n, c), r| {
            (a + r.n_answers, n + r.n_anon, c + r.n_completed)
        });
    Outcome {
        tasks: tasks
            .iter()
            .map(|t| {
                (
                    t.info.as_ref().and_then(|i| i["i"].as_i64()).expect("i"),
                    t.state,
                    t.n_task_runs,
                )
            })
            .collect(),
        runs,
        results,
        counters: (
            totals.n_tasks,
            totals.n_task_runs,
            totals.n_completed_tasks,
            totals.n_results,
            totals.n_volunteers_auth,
            totals.n_volunteers_anon,
            totals.n_answers_expected,
        ),
        volunteers,
        activity,
    }
}

fn written(app: &TestApp, path: &str) -> u64 {
    ["true", "false"]
        .into_iter()
        .map(|completes| {
            app.state
                .infra
                .metrics
                .answers_written
                .get_or_create(&AnswerLabels {
                    path: path.into(),
                    completes: completes.into(),
                })
                .get()
        })
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_path_leaves_the_same_rows() {
    let tweak = |batching: bool| {
        move |c: &mut Config| {
            c.answer_batching = batching;
            c.trusted_proxies = "127.0.0.1/32".into();
            c.workers = 0;
        }
    };
    let sqlite = TestApp::configured(false, &tweak(false))
        .await
        .expect("sqlite");
    let (expected, ..) = replay(&sqlite, false).await;
    assert_eq!(expected.results.len(), TASKS);
    assert_eq!(expected.volunteers.len(), 7);
    assert!(expected.tasks.iter().all(|t| t.1 == TaskState::Completed));
    drop(sqlite);

    // On PostgreSQL (skipped, loudly, when it is not there outside CI).
    let Some(batched) = TestApp::configured(true, &tweak(true)).await else {
        return;
    };
    let (got, ..) = replay(&batched, false).await;
    assert!(
        written(&batched, "batch") > 0,
        "the group commit took answers"
    );
    assert_eq!(got, expected, "group commit");
    drop(batched);

    let single = TestApp::configured(true, &tweak(false))
        .await
        .expect("postgres");
    let (got, ..) = replay(&single, false).await;
    assert_eq!(written(&single, "batch"), 0);
    assert_eq!(got, expected, "single statement");
    drop(single);

    let transactional = TestApp::configured(true, &tweak(false))
        .await
        .expect("postgres");
    let (got, owner, project) = replay(&transactional, true).await;
    assert_eq!(written(&transactional, "batch"), 0);
    assert_eq!(got, expected, "transactional");
    // The webhook's events were recorded with the answers that completed tasks.
    let deliveries = transactional
        .get(
            &format!("/api/project/{project}/webhook/deliveries?limit=100"),
            Some(&owner),
        )
        .await;
    let events: Vec<&str> = deliveries
        .ok()
        .as_array()
        .expect("deliveries")
        .iter()
        .filter_map(|d| d["event"].as_str())
        .collect();
    assert_eq!(
        events.iter().filter(|e| **e == "task.completed").count(),
        TASKS,
        "{events:?}"
    );
}
