//! Project and site statistics, kept current as answers arrive instead of rebuilt hourly.
//!
//! Each answer, in its own transaction, adds to the project's sharded counters (answers,
//! completions, answer time, new volunteers), bumps its volunteer's row in `project_volunteer`
//! and one sharded hour row in `project_activity`. Reading stats is then a handful of indexed
//! sums, cached until the next write. Deletions (which take answers with them) queue a rebuild
//! that recounts the project from its answers; a daily job does the same for every project, so
//! any drift is repaired.

use std::{collections::BTreeMap, time::Duration};

use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait,
    FromQueryResult, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Statement,
    sea_query::{Expr, ExprTrait, Func, OnConflict},
};
use serde_json::{Value as Json, json};

use crate::domain::{platform::cache, volunteer::identity::Volunteer};
use crate::ids::ProjectId;
use crate::{
    error::ApiResult,
    infra::Infra,
    store::{
        counters::{self, Delta},
        entities::{
            blogpost, category, project, project_activity, project_counter, project_volunteer,
            task_run, user,
        },
    },
};

/// How long a cached statistic may live if no write drops it first.
const STATS_TTL: Duration = Duration::from_secs(300);
/// The period the charts cover (PYBOSSA's).
const PERIOD_DAYS: i64 = 14;

fn parse_time(s: &str) -> Option<chrono::NaiveDateTime> {
    chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").ok()
}

/// Time a volunteer spent on an answer (from the task being handed out to the answer), ms.
pub fn answer_ms(requested: &str, finished: &str) -> i64 {
    match (parse_time(requested), parse_time(finished)) {
        (Some(a), Some(b)) => Ord::max((b - a).num_milliseconds(), 0),
        _ => 0,
    }
}

/// Counts an answer to a gold task in the volunteer's row (written by [`record_answer`] just
/// before, in the same transaction).
pub async fn record_gold(
    txn: &impl ConnectionTrait,
    project_id: i32,
    v: &Volunteer,
    correct: bool,
) -> Result<(), DbErr> {
    use project_volunteer::Column as V;
    project_volunteer::Entity::update_many()
        .col_expr(V::GoldSeen, Expr::col(V::GoldSeen).add(1))
        .col_expr(
            V::GoldCorrect,
            Expr::col(V::GoldCorrect).add(i64::from(correct)),
        )
        .filter(V::ProjectId.eq(project_id))
        .filter(V::Volunteer.eq(v.key.as_str()))
        .exec(txn)
        .await?;
    Ok(())
}

/// Records an answer in the per-volunteer and per-hour rows, inside the answer's transaction
/// (after its counters, see [`counters::add_to_shard`]). Returns the counter change for a
/// volunteer new to the project.
pub async fn record_answer(
    txn: &impl ConnectionTrait,
    project_id: i32,
    shard: i32,
    v: &Volunteer,
    finished: &str,
    completed: bool,
) -> Result<Delta, DbErr> {
    use project_activity::Column as A;
    use project_volunteer::Column as V;
    let bump = || {
        project_volunteer::Entity::update_many()
            .col_expr(V::NAnswers, Expr::col(V::NAnswers).add(1))
            .col_expr(V::LastAnswer, Expr::value(finished))
            .filter(V::ProjectId.eq(project_id))
            .filter(V::Volunteer.eq(v.key.as_str()))
    };
    let mut delta = Delta::default();
    if bump().exec(txn).await?.rows_affected == 0 {
        let inserted = Box::pin(
            project_volunteer::Entity::insert(project_volunteer::ActiveModel {
                project_id: sea_orm::Set(project_id),
                volunteer: sea_orm::Set(v.key.clone()),
                user_id: sea_orm::Set(v.user_id.map(|u| u.0)),
                anonymous: sea_orm::Set(v.is_anonymous()),
                n_answers: sea_orm::Set(1),
                first_answer: sea_orm::Set(finished.to_string()),
                last_answer: sea_orm::Set(finished.to_string()),
                gold_seen: sea_orm::Set(0),
                gold_correct: sea_orm::Set(0),
                ..Default::default()
            })
            .on_conflict(
                OnConflict::columns([V::ProjectId, V::Volunteer])
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(txn),
        )
        .await;
        match inserted {
            Ok(n) if n > 0 => {
                if v.is_anonymous() {
                    delta.volunteers_anon = 1;
                } else {
                    delta.volunteers_auth = 1;
                }
            }
            // Another answer by the same volunteer inserted the row first.
            Ok(_) | Err(DbErr::RecordNotInserted) => {
                bump().exec(txn).await?;
            }
            Err(e) => return Err(e),
        }
    }

    let hour = chrono::Utc::now().timestamp() / 3600;
    let add = |c: A| Expr::col((project_activity::Entity, c)).add(Expr::col((Excluded, c)));
    Box::pin(
        project_activity::Entity::insert(project_activity::ActiveModel {
            project_id: sea_orm::Set(project_id),
            hour: sea_orm::Set(hour),
            shard: sea_orm::Set(shard),
            n_answers: sea_orm::Set(1),
            n_anon: sea_orm::Set(i64::from(v.is_anonymous())),
            n_completed: sea_orm::Set(i64::from(completed)),
        })
        .on_conflict(
            OnConflict::columns([A::ProjectId, A::Hour, A::Shard])
                .values([
                    (A::NAnswers, add(A::NAnswers)),
                    (A::NAnon, add(A::NAnon)),
                    (A::NCompleted, add(A::NCompleted)),
                ])
                .to_owned(),
        )
        .exec_without_returning(txn),
    )
    .await?;
    Ok(delta)
}

/// Counts a task completed by other than its last answer (a consensus retirement) in the
/// per-hour rows, as [`record_answer`] does for the answer that completes one.
pub async fn record_completion(
    txn: &impl ConnectionTrait,
    project_id: i32,
    shard: i32,
) -> Result<(), DbErr> {
    use project_activity::Column as A;
    let hour = chrono::Utc::now().timestamp() / 3600;
    Box::pin(
        project_activity::Entity::insert(project_activity::ActiveModel {
            project_id: sea_orm::Set(project_id),
            hour: sea_orm::Set(hour),
            shard: sea_orm::Set(shard),
            n_answers: sea_orm::Set(0),
            n_anon: sea_orm::Set(0),
            n_completed: sea_orm::Set(1),
        })
        .on_conflict(
            OnConflict::columns([A::ProjectId, A::Hour, A::Shard])
                .value(
                    A::NCompleted,
                    Expr::col((project_activity::Entity, A::NCompleted)).add(1),
                )
                .to_owned(),
        )
        .exec_without_returning(txn),
    )
    .await?;
    Ok(())
}

/// `excluded`: the row an upsert tried to insert.
#[derive(Clone, Copy)]
struct Excluded;

impl sea_orm::sea_query::Iden for Excluded {
    fn unquoted(&self) -> &str {
        "excluded"
    }
}

// ---------------------------------------------------------------------------------------------
// Rebuilding from the answers

/// The volunteer key (as [`Volunteer::key`] builds it) computed from a task run row.
pub const VOLUNTEER_KEY: &str = "CASE WHEN external_uid IS NOT NULL THEN 'x' || project_id || ':' || external_uid \
     WHEN user_id IS NOT NULL THEN 'u' || user_id ELSE 'ip' || COALESCE(user_ip, '') END";

fn hour_of(backend: DbBackend, col: &str) -> String {
    match backend {
        DbBackend::Postgres => {
            format!("CAST(EXTRACT(EPOCH FROM CAST({col} AS timestamp)) AS bigint) / 3600")
        }
        _ => format!("CAST(strftime('%s', {col}) AS INTEGER) / 3600"),
    }
}

fn duration_ms(backend: DbBackend) -> &'static str {
    match backend {
        DbBackend::Postgres => {
            "GREATEST(0, CAST(EXTRACT(EPOCH FROM (CAST(finish_time AS timestamp) - CAST(created AS timestamp))) * 1000 AS bigint))"
        }
        _ => "MAX(0, CAST((julianday(finish_time) - julianday(created)) * 86400000 AS INTEGER))",
    }
}

/// Recounts one project's counters, volunteers and activity from its tasks, answers and
/// results. Holds the project's counter rows meanwhile: answers in flight wait for it at their
/// counter update, before touching the rows recounted here, so none is counted twice or lost.
pub async fn rebuild(state: &Infra, project_id: ProjectId) -> Result<(), DbErr> {
    recount(&state.db, project_id).await?;
    // Shared entries only: no row kept in process counts answers.
    state
        .kv
        .delete_many(&cache::keys_for_project(project_id))
        .await;
    Ok(())
}

async fn recount(db: &DatabaseConnection, project_id: ProjectId) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    let txn = crate::store::begin_write(db).await?;
    if backend == DbBackend::Postgres {
        project_counter::Entity::find()
            .filter(project_counter::Column::ProjectId.eq(project_id))
            .lock_exclusive()
            .all(&txn)
            .await?;
    }
    let hour_run = hour_of(backend, "finish_time");
    let hour_result = hour_of(backend, "created");
    let duration = duration_ms(backend);
    let statements = [
        // Volunteers' rows are recounted in place: what the owner and the fits wrote into them
        // (exclusion, confusion matrices) stays. Rows left at -1 lost all their answers.
        "UPDATE project_volunteer SET n_answers = -1 WHERE project_id = $1".to_string(),
        "DELETE FROM project_activity WHERE project_id = $1".to_string(),
        format!(
            "INSERT INTO project_volunteer (project_id, volunteer, user_id, anonymous, n_answers, first_answer, last_answer, gold_seen, gold_correct) \
             SELECT project_id, {VOLUNTEER_KEY}, MAX(user_id), MAX(user_id) IS NULL, COUNT(*), MIN(finish_time), MAX(finish_time), \
             COUNT(gold_correct), SUM(CASE WHEN gold_correct THEN 1 ELSE 0 END) \
             FROM task_run WHERE project_id = $1 GROUP BY project_id, {VOLUNTEER_KEY} \
             ON CONFLICT (project_id, volunteer) DO UPDATE SET user_id = excluded.user_id, \
             anonymous = excluded.anonymous, n_answers = excluded.n_answers, \
             first_answer = excluded.first_answer, last_answer = excluded.last_answer, \
             gold_seen = excluded.gold_seen, gold_correct = excluded.gold_correct"
        ),
        // An excluded volunteer stays excluded should they answer again.
        "DELETE FROM project_volunteer WHERE project_id = $1 AND n_answers = -1 AND excluded_at IS NULL"
            .to_string(),
        "UPDATE project_volunteer SET n_answers = 0, gold_seen = 0, gold_correct = 0 \
         WHERE project_id = $1 AND n_answers = -1"
            .to_string(),
        format!(
            "INSERT INTO project_activity (project_id, hour, shard, n_answers, n_anon, n_completed) \
             SELECT project_id, {hour_run}, 0, COUNT(*), SUM(CASE WHEN user_id IS NULL THEN 1 ELSE 0 END), 0 \
             FROM task_run WHERE project_id = $1 GROUP BY project_id, {hour_run}"
        ),
        format!(
            "INSERT INTO project_activity (project_id, hour, shard, n_answers, n_anon, n_completed) \
             SELECT project_id, {hour_result}, 0, 0, 0, COUNT(*) \
             FROM result WHERE project_id = $1 AND last_version GROUP BY project_id, {hour_result} \
             ON CONFLICT (project_id, hour, shard) DO UPDATE SET n_completed = excluded.n_completed"
        ),
        "UPDATE project_counter SET n_tasks = 0, n_task_runs = 0, n_completed_tasks = 0, n_results = 0, \
         answer_ms = 0, n_volunteers_auth = 0, n_volunteers_anon = 0, n_answers_expected = 0 \
         WHERE project_id = $1 AND shard <> 0"
            .to_string(),
        format!(
            "UPDATE project_counter SET \
             n_tasks = (SELECT COUNT(*) FROM task WHERE project_id = $1 AND calibration = 0), \
             n_task_runs = (SELECT COUNT(*) FROM task_run WHERE project_id = $1), \
             n_completed_tasks = (SELECT COUNT(*) FROM task WHERE project_id = $1 AND state = 'completed'), \
             n_results = (SELECT COUNT(*) FROM result WHERE project_id = $1), \
             answer_ms = (SELECT COALESCE(SUM({duration}), 0) FROM task_run WHERE project_id = $1), \
             n_volunteers_auth = (SELECT COUNT(*) FROM project_volunteer WHERE project_id = $1 AND NOT anonymous AND n_answers > 0), \
             n_volunteers_anon = (SELECT COUNT(*) FROM project_volunteer WHERE project_id = $1 AND anonymous AND n_answers > 0), \
             n_answers_expected = (SELECT COALESCE(SUM(n_answers), 0) FROM task WHERE project_id = $1 AND calibration = 0) \
             WHERE project_id = $1 AND shard = 0"
        ),
    ];
    for sql in statements {
        let sql = match backend {
            DbBackend::Postgres => sql,
            // SQLite numbers its parameters `?1`.
            _ => sql.replace("$1", "?1"),
        };
        txn.execute_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [project_id.into()],
        ))
        .await?;
    }
    txn.commit().await
}

/// Rebuilds every project (the daily repair).
pub async fn reconcile_all(state: &Infra) -> Result<(), DbErr> {
    let ids: Vec<i32> = project::Entity::find()
        .select_only()
        .column(project::Column::Id)
        .order_by_asc(project::Column::Id)
        .into_tuple()
        .all(&state.db)
        .await?;
    for id in &ids {
        rebuild(state, ProjectId(*id)).await?;
    }
    tracing::info!(projects = ids.len(), "statistics reconciled");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Reading

#[derive(FromQueryResult)]
struct HourRow {
    hour: i64,
    n_answers: i64,
    n_anon: i64,
    n_completed: i64,
}

async fn activity_since(
    db: &impl ConnectionTrait,
    project_id: i32,
    from_hour: i64,
) -> Result<Vec<HourRow>, DbErr> {
    use project_activity::Column as A;
    let sum = |c: A| Expr::expr(Func::sum(Expr::col(c))).cast_as("bigint");
    project_activity::Entity::find()
        .select_only()
        .column(A::Hour)
        .column_as(sum(A::NAnswers), "n_answers")
        .column_as(sum(A::NAnon), "n_anon")
        .column_as(sum(A::NCompleted), "n_completed")
        .filter(A::ProjectId.eq(project_id))
        .filter(A::Hour.gte(from_hour))
        .group_by(A::Hour)
        .order_by_asc(A::Hour)
        .into_model::<HourRow>()
        .all(db)
        .await
}

fn iso(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6f").to_string()
}

/// A project's statistics in PYBOSSA's `projectstats` shape; `full` adds the chart series.
pub async fn project_stats(state: &Infra, p: &project::Model, full: bool) -> ApiResult<Json> {
    let key = cache::project_stats_key(ProjectId(p.id), full);
    Box::pin(cache::cached(
        state,
        "projectstats",
        &key,
        STATS_TTL,
        || compute_project_stats(state, p, full),
    ))
    .await
}

async fn compute_project_stats(state: &Infra, p: &project::Model, full: bool) -> ApiResult<Json> {
    let db = &state.read_db;
    let t = counters::totals(db, ProjectId(p.id)).await?;
    let n_blogposts = blogpost::Entity::find()
        .filter(blogpost::Column::ProjectId.eq(p.id))
        .count(db)
        .await?;
    let last: Option<String> = task_run::Entity::find()
        .select_only()
        .column(task_run::Column::FinishTime)
        .filter(task_run::Column::ProjectId.eq(p.id))
        .order_by_desc(task_run::Column::Id)
        .into_tuple()
        .one(db)
        .await?;
    let now = chrono::Utc::now();
    let now_hour = now.timestamp() / 3600;
    let window_from = if full {
        now_hour - PERIOD_DAYS * 24
    } else {
        now_hour - 23
    };
    let hours = activity_since(db, p.id, window_from).await?;
    let last_24h: i64 = hours
        .iter()
        .filter(|h| h.hour > now_hour - 24)
        .map(|h| h.n_answers)
        .sum();
    let per_hour = last_24h as f64 / 24.0;
    let pending = Ord::max(t.n_answers_expected - t.n_task_runs, 0);
    let estimated = if pending == 0 {
        None
    } else if per_hour > 0.0 {
        let secs = (pending as f64 / per_hour * 3600.0).min(1e10) as i64;
        Some(iso(now + chrono::Duration::seconds(secs)))
    } else {
        None
    };
    let progress = if t.n_tasks > 0 {
        t.n_completed_tasks * 100 / t.n_tasks
    } else {
        0
    };
    let average = if t.n_task_runs > 0 {
        t.answer_ms as f64 / t.n_task_runs as f64 / 1000.0
    } else {
        0.0
    };
    let mut info = json!({
        "n_volunteers_authenticated": t.n_volunteers_auth,
        "n_volunteers_anonymous": t.n_volunteers_anon,
        "n_pending_answers": pending,
        "answers_last_24h": last_24h,
        "answers_per_hour": per_hour,
        "estimated_completion": estimated,
    });
    if full && let Some(map) = info.as_object_mut() {
        map.insert("dates_stats".into(), dates_stats(&hours, now));
        map.insert("hours_stats".into(), hours_stats(&hours));
        map.insert(
            "users_stats".into(),
            users_stats(db, p.id, t.n_volunteers_anon, t.n_volunteers_auth).await?,
        );
    }
    Ok(json!({
        "id": p.id,
        "project_id": p.id,
        "n_tasks": t.n_tasks,
        "n_task_runs": t.n_task_runs,
        "n_results": t.n_results,
        "n_volunteers": t.n_volunteers_auth + t.n_volunteers_anon,
        "n_completed_tasks": t.n_completed_tasks,
        "overall_progress": progress,
        "average_time": average,
        "n_blogposts": n_blogposts,
        "last_activity": last.unwrap_or_else(|| "0".into()),
        "info": info,
    }))
}

/// Four daily series over the period: all, anonymous, authenticated answers, completed tasks.
fn dates_stats(hours: &[HourRow], now: chrono::DateTime<chrono::Utc>) -> Json {
    let today = now.timestamp() / 86_400;
    let mut days: BTreeMap<i64, [i64; 3]> =
        (today - PERIOD_DAYS..=today).map(|d| (d, [0; 3])).collect();
    for h in hours {
        if let Some(day) = days.get_mut(&(h.hour / 24)) {
            day[0] += h.n_answers;
            day[1] += h.n_anon;
            day[2] += h.n_completed;
        }
    }
    let series = |f: &dyn Fn(&[i64; 3]) -> i64| -> Json {
        days.iter()
            .map(|(d, v)| json!([d * 86_400_000, f(v)]))
            .collect()
    };
    json!([
        {"label": "Anon + Auth", "values": series(&|v| v[0])},
        {"label": "Anonymous", "values": series(&|v| v[1])},
        {"label": "Authenticated", "values": series(&|v| v[0] - v[1])},
        {"label": "Completed Tasks", "disabled": "True", "values": series(&|v| v[2])},
    ])
}

/// Answers by hour of the day (UTC) over the period, with a 0–100 scaled value for charts.
fn hours_stats(hours: &[HourRow]) -> Json {
    let mut by_hour = [[0i64; 2]; 24];
    for h in hours {
        let slot = usize::try_from(h.hour.rem_euclid(24)).unwrap_or(0);
        by_hour[slot][0] += h.n_answers;
        by_hour[slot][1] += h.n_anon;
    }
    let series = |label: &str, f: &dyn Fn(&[i64; 2]) -> i64| -> Json {
        let max = by_hour.iter().map(f).max().unwrap_or(0);
        let values: Vec<Json> = by_hour
            .iter()
            .enumerate()
            .map(|(hour, v)| {
                let n = f(v);
                let scaled = if max > 0 { n * 100 / max } else { 0 };
                json!([hour, n, scaled])
            })
            .collect();
        json!({"label": label, "values": values, "max": max})
    };
    json!([
        series("Anon + Auth", &|v| v[0]),
        series("Anonymous", &|v| v[1]),
        series("Authenticated", &|v| v[0] - v[1]),
    ])
}

async fn users_by_id(
    db: &impl ConnectionTrait,
    ids: impl IntoIterator<Item = i32>,
) -> Result<BTreeMap<i32, user::Model>, DbErr> {
    let ids: Vec<i32> = ids.into_iter().collect();
    Ok(user::Entity::find()
        .filter(user::Column::Id.is_in(ids))
        .all(db)
        .await?
        .into_iter()
        .map(|u| (u.id, u))
        .collect())
}

async fn users_stats(
    db: &impl ConnectionTrait,
    project_id: i32,
    n_anon: i64,
    n_auth: i64,
) -> ApiResult<Json> {
    use project_volunteer::Column as V;
    let top = |anonymous: bool| {
        project_volunteer::Entity::find()
            .filter(V::ProjectId.eq(project_id))
            .filter(V::Anonymous.eq(anonymous))
            .order_by_desc(V::NAnswers)
            .order_by_asc(V::Volunteer)
            .limit(5)
    };
    let anon_top: Vec<Json> = top(true)
        .all(db)
        .await?
        .into_iter()
        .enumerate()
        // Statistics are public: an anonymous volunteer is a rank here, never their anonymised
        // address or external id (those are for the project's owners).
        .map(|(i, v)| json!({"ip": format!("anonymous-{}", i + 1), "tasks": v.n_answers}))
        .collect();
    let auth_rows = top(false).all(db).await?;
    let users = users_by_id(db, auth_rows.iter().filter_map(|v| v.user_id)).await?;
    let auth_top: Vec<Json> = auth_rows
        .iter()
        .filter_map(|v| users.get(&v.user_id?))
        .zip(auth_rows.iter())
        .map(|(u, v)| {
            let fullname = if u.privacy_mode { "" } else { &u.fullname };
            json!({"name": u.name, "fullname": fullname, "tasks": v.n_answers, "restrict": u.restrict})
        })
        .collect();
    Ok(json!({
        "users": {"label": "User Statistics", "values": [
            {"label": "Anonymous", "value": [0, n_anon]},
            {"label": "Authenticated", "value": [0, n_auth]},
        ]},
        "anon": {"label": "Anonymous Users", "values": [], "top5": anon_top, "locs": []},
        "auth": {"label": "Authenticated Users", "values": [], "top5": auth_top},
        "n_anon": n_anon,
        "n_auth": n_auth,
    }))
}

/// Site-wide numbers in PYBOSSA's `globalstats` shape.
pub async fn global_stats(state: &Infra) -> ApiResult<Json> {
    cache::cached(
        state,
        "globalstats",
        cache::GLOBAL_STATS,
        STATS_TTL,
        || async {
            let db = &state.read_db;
            let t = counters::sum_where(db, None).await?;
            let n_projects = project::Entity::find().count(db).await?;
            let n_users = user::Entity::find().count(db).await?;
            let n_anon: Option<i64> = project_volunteer::Entity::find()
                .select_only()
                .column_as(
                    Expr::expr(Func::count_distinct(Expr::col(
                        project_volunteer::Column::Volunteer,
                    )))
                    .cast_as("bigint"),
                    "n",
                )
                .filter(project_volunteer::Column::Anonymous.eq(true))
                .into_tuple()
                .one(db)
                .await?;
            let per_category: Vec<(i32, i64)> = project::Entity::find()
                .select_only()
                .column(project::Column::CategoryId)
                .column_as(
                    Expr::expr(Func::count(Expr::col(project::Column::Id))).cast_as("bigint"),
                    "n",
                )
                .filter(project::Column::Published.eq(true))
                .group_by(project::Column::CategoryId)
                .into_tuple()
                .all(db)
                .await?;
            let names: BTreeMap<i32, String> = category::Entity::find()
                .all(db)
                .await?
                .into_iter()
                .map(|c| (c.id, c.short_name))
                .collect();
            let mut categories: Vec<Json> = per_category
                .iter()
                .filter_map(|(id, n)| names.get(id).map(|name| json!({ name.clone(): n })))
                .collect();
            let featured = project::Entity::find()
                .filter(project::Column::Featured.eq(true))
                .filter(project::Column::Published.eq(true))
                .count(db)
                .await?;
            let draft = project::Entity::find()
                .filter(project::Column::Published.eq(false))
                .count(db)
                .await?;
            categories.push(json!({ "featured": featured }));
            categories.push(json!({ "draft": draft }));
            Ok(json!({
                "n_projects": n_projects,
                "n_users": n_users + u64::try_from(n_anon.unwrap_or(0)).unwrap_or(0),
                "n_tasks": t.n_answers_expected,
                "n_task_runs": t.n_task_runs,
                "n_pending_tasks": Ord::max(t.n_answers_expected - t.n_task_runs, 0),
                "n_results": t.n_results,
                "categories": categories,
            }))
        },
    )
    .await
}

/// Users ranked by answers given: the top `LEADERBOARD_SIZE`, site-wide or in one project.
pub const LEADERBOARD_SIZE: u64 = 20;

#[derive(FromQueryResult)]
struct Score {
    user_id: i32,
    score: i64,
}

fn ranked(project_id: Option<i32>) -> sea_orm::Select<project_volunteer::Entity> {
    use project_volunteer::Column as V;
    let mut q = project_volunteer::Entity::find()
        .select_only()
        .column(V::UserId)
        .column_as(
            Expr::expr(Func::sum(Expr::col(V::NAnswers))).cast_as("bigint"),
            "score",
        )
        .filter(V::UserId.is_not_null())
        .filter(
            V::UserId.not_in_subquery(
                sea_orm::sea_query::Query::select()
                    .column(user::Column::Id)
                    .from(user::Entity)
                    .and_where(Expr::col(user::Column::Restrict).eq(true))
                    .to_owned(),
            ),
        )
        .group_by(V::UserId);
    if let Some(id) = project_id {
        q = q.filter(V::ProjectId.eq(id));
    }
    q.order_by_desc(Expr::cust("score")).order_by_asc(V::UserId)
}

async fn shape_ranks(
    db: &impl ConnectionTrait,
    scores: Vec<Score>,
    first_rank: u64,
) -> ApiResult<Vec<Json>> {
    let users = users_by_id(db, scores.iter().map(|s| s.user_id)).await?;
    Ok(scores
        .iter()
        .enumerate()
        .filter_map(|(i, s)| {
            let u = users.get(&s.user_id)?;
            let public_info = u.info.as_ref().and_then(Json::as_object).map(|info| {
                info.iter()
                    .filter(|(k, _)| {
                        matches!(k.as_str(), "avatar" | "container" | "extra" | "avatar_url")
                    })
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect::<serde_json::Map<_, _>>()
            });
            Some(json!({
                "created": if u.privacy_mode { Json::Null } else { json!(u.created) },
                "name": u.name,
                "fullname": if u.privacy_mode { Json::Null } else { json!(u.fullname) },
                "info": public_info.unwrap_or_default(),
                "n_answers": s.score,
                "registered_ago": Json::Null,
                "rank": first_rank + i as u64,
                "score": s.score,
                "locale": Json::Null,
            }))
        })
        .collect())
}

/// The leaderboard: the top users, then (for a signed-in caller outside it) the caller, or with
/// `window` the users ranked within `window` places of the caller.
pub async fn leaderboard(
    state: &Infra,
    project_id: Option<i32>,
    caller: Option<i32>,
    window: Option<u64>,
) -> ApiResult<Json> {
    let db = &state.read_db;
    let key = project_id.map_or_else(
        || cache::LEADERBOARD.to_string(),
        |id| cache::project_leaderboard_key(ProjectId(id)),
    );
    let top = cache::cached(state, "leaderboard", &key, STATS_TTL, || async {
        let scores = ranked(project_id)
            .limit(LEADERBOARD_SIZE)
            .into_model::<Score>()
            .all(db)
            .await?;
        Ok(Json::Array(shape_ranks(db, scores, 1).await?))
    })
    .await?;
    let mut users = top.as_array().cloned().unwrap_or_default();
    if let Some(me) = caller {
        // The caller's rank: one more than the users scoring above (ties by id, as listed).
        let all = ranked(project_id).into_model::<Score>().all(db).await?;
        if let Some(pos) = all.iter().position(|s| s.user_id == me) {
            let rank = pos as u64 + 1;
            let (from, to) = match window {
                Some(w) => {
                    let w = Ord::min(w, 10);
                    (Ord::max(rank.saturating_sub(w), 1), rank + w)
                }
                None => (rank, rank),
            };
            if to > LEADERBOARD_SIZE {
                let from = Ord::max(from, LEADERBOARD_SIZE + 1);
                let slice: Vec<Score> = all
                    .into_iter()
                    .skip(usize::try_from(from - 1).unwrap_or(usize::MAX))
                    .take(usize::try_from(to + 1 - from).unwrap_or(0))
                    .collect();
                users.extend(shape_ranks(db, slice, from).await?);
            }
        }
    }
    Ok(json!({"title": "Community Leaderboard", "top_users": users}))
}
