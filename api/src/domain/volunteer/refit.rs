//! The `results.reaggregate` job: fits the project's Dawid–Skene model over all its answers
//! (with `dawid_skene`), stores each volunteer's confusion matrices, then brings every current
//! result's aggregate up to date with what is now known of the volunteers (skills, exclusions,
//! matrices). A result's `info` outside `aggregate` is the owner's and stays as it is.

use std::collections::HashMap;

use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    Set, Statement, sea_query::OnConflict,
};
use serde_json::{Map, Value as Json, json};

use crate::{
    domain::volunteer::{
        completion::{fitted_fields, quality_of, volunteer_key, voter_of},
        consensus::{self, FieldModel, Judge, MAX_CLASSES, Observations, SCALAR_FIELD, vote_key},
        quality::Aggregation,
    },
    error::ApiResult,
    ids::ProjectId,
    infra::Infra,
    store::{
        entities::{project_volunteer as pv, quality_model, result, task, task_run},
        jobs::Attempt,
        now,
    },
};

/// How many results one transaction updates.
const CHUNK: usize = 500;

/// `(id, task_id, project_id, user_id, external_uid, user_ip, info)` of a task run.
type RunRow = (
    i32,
    i32,
    i32,
    Option<i32>,
    Option<String>,
    Option<String>,
    Option<Json>,
);

/// One answer as the fit reads it.
struct Answer {
    id: i32,
    task_id: i32,
    voter: u32,
    info: Json,
}

/// What a run of the job did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Refitted {
    pub answers: usize,
    pub fields_fitted: usize,
    pub results_changed: usize,
}

pub async fn run(
    infra: &Infra,
    project: ProjectId,
    attempt: Option<&Attempt>,
) -> ApiResult<Refitted> {
    let db = &infra.db;
    let quality = quality_of(db, project.0).await?;
    let volunteers = pv::Entity::find()
        .filter(pv::Column::ProjectId.eq(project.0))
        .all(db)
        .await?;
    let mut keys: Vec<String> = volunteers.iter().map(|v| v.volunteer.clone()).collect();
    let mut index: HashMap<String, u32> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| (k.clone(), u32::try_from(i).unwrap_or(u32::MAX)))
        .collect();
    let rows: Vec<RunRow> = task_run::Entity::find()
        .select_only()
        .columns([
            task_run::Column::Id,
            task_run::Column::TaskId,
            task_run::Column::ProjectId,
            task_run::Column::UserId,
            task_run::Column::ExternalUid,
            task_run::Column::UserIp,
            task_run::Column::Info,
        ])
        .filter(task_run::Column::ProjectId.eq(project.0))
        .order_by_asc(task_run::Column::TaskId)
        .order_by_asc(task_run::Column::Id)
        .into_tuple()
        .all(db)
        .await?;
    let mut answers = Vec::with_capacity(rows.len());
    for (id, task_id, project_id, user_id, external_uid, user_ip, info) in rows {
        let key = volunteer_key(
            project_id,
            user_id,
            external_uid.as_deref(),
            user_ip.as_deref(),
        );
        let voter = *index.entry(key.clone()).or_insert_with(|| {
            keys.push(key);
            u32::try_from(keys.len() - 1).unwrap_or(u32::MAX)
        });
        answers.push(Answer {
            id,
            task_id,
            voter,
            info: info.unwrap_or(Json::Null),
        });
    }
    let mut out = Refitted {
        answers: answers.len(),
        ..Refitted::default()
    };
    let mut judge = Judge {
        method: quality.aggregation,
        ..Judge::default()
    };
    for v in &volunteers {
        judge.voters.insert(v.volunteer.clone(), voter_of(v));
    }
    if quality.aggregation == Aggregation::DawidSkene {
        let gold: HashMap<i32, Json> = task::Entity::find()
            .select_only()
            .columns([task::Column::Id, task::Column::GoldAnswers])
            .filter(task::Column::ProjectId.eq(project.0))
            .filter(crate::domain::volunteer::gold::is_gold())
            .into_tuple::<(i32, Option<Json>)>()
            .all(db)
            .await?
            .into_iter()
            .filter_map(|(id, g)| g.map(|g| (id, g)))
            .collect();
        let excluded: Vec<bool> = keys
            .iter()
            .map(|k| judge.voters.get(k).is_some_and(|v| v.excluded))
            .collect();
        let fits = fit_fields(&answers, keys.len(), &excluded, &gold);
        out.fields_fitted = fits.len();
        Box::pin(store_fits(db, project, &keys, &fits, answers.len())).await?;
        judge.fields = fitted_fields(db, project.0).await?;
        for (field, (_, matrices)) in &fits {
            for (w, m) in matrices {
                let voter = judge.voters.entry(keys[*w as usize].clone()).or_default();
                voter.confusion.insert(field.clone(), m.clone());
            }
        }
    }
    out.results_changed = Box::pin(reaggregate(
        infra, project, &judge, &answers, &keys, attempt,
    ))
    .await?;
    Ok(out)
}

/// Per field: its model and each fitted volunteer's matrix.
type Fits = HashMap<String, (FieldModel, Vec<(u32, Vec<f64>)>)>;

/// The fields worth a fit: a scalar answer's one field, or each field of object answers whose
/// values are scalars, with at most [`MAX_CLASSES`] distinct values.
fn fit_fields(
    answers: &[Answer],
    n_voters: usize,
    excluded: &[bool],
    gold: &HashMap<i32, Json>,
) -> Fits {
    let mut names: Vec<String> = vec![];
    for a in answers {
        match &a.info {
            Json::Object(o) => {
                for k in o.keys() {
                    if !names.contains(k) {
                        names.push(k.clone());
                    }
                }
            }
            Json::Array(_) => {}
            _ => {
                if !names.iter().any(|n| n == SCALAR_FIELD) {
                    names.push(SCALAR_FIELD.into());
                }
            }
        }
    }
    let mut fits = Fits::new();
    for name in names {
        let value_of = |info: &Json| -> Option<Json> {
            let v = match info {
                Json::Object(o) => o.get(&name)?.clone(),
                Json::Array(_) => return None,
                scalar if name == SCALAR_FIELD => scalar.clone(),
                _ => return None,
            };
            (!matches!(v, Json::Array(_) | Json::Object(_))).then_some(v)
        };
        if let Some(fit) = fit_one(answers, n_voters, excluded, gold, &value_of) {
            fits.insert(name, fit);
        }
    }
    fits
}

#[allow(clippy::type_complexity)]
fn fit_one(
    answers: &[Answer],
    n_voters: usize,
    excluded: &[bool],
    gold: &HashMap<i32, Json>,
    value_of: &dyn Fn(&Json) -> Option<Json>,
) -> Option<(FieldModel, Vec<(u32, Vec<f64>)>)> {
    let mut classes: Vec<String> = vec![];
    let mut class_index: HashMap<String, u16> = HashMap::new();
    let mut label = |key: String, classes: &mut Vec<String>| -> Option<u16> {
        if let Some(i) = class_index.get(&key) {
            return Some(*i);
        }
        if classes.len() >= MAX_CLASSES {
            return None;
        }
        let i = u16::try_from(classes.len()).ok()?;
        classes.push(key.clone());
        class_index.insert(key, i);
        Some(i)
    };
    let mut tasks: HashMap<i32, u32> = HashMap::new();
    let mut task_ids: Vec<i32> = vec![];
    let mut obs = Observations {
        n_workers: n_voters,
        ..Observations::default()
    };
    for a in answers {
        if excluded.get(a.voter as usize).copied().unwrap_or(false) {
            continue;
        }
        let Some(v) = value_of(&a.info) else { continue };
        let l = label(vote_key(&v), &mut classes)?;
        let t = *tasks.entry(a.task_id).or_insert_with(|| {
            task_ids.push(a.task_id);
            u32::try_from(task_ids.len() - 1).unwrap_or(u32::MAX)
        });
        obs.task.push(t);
        obs.worker.push(a.voter);
        obs.label.push(l);
    }
    if obs.task.is_empty() {
        return None;
    }
    obs.truth = task_ids
        .iter()
        .map(|id| {
            let g = gold.get(id)?;
            let v = value_of(g)?;
            label(vote_key(&v), &mut classes)
        })
        .collect();
    obs.n_tasks = task_ids.len();
    obs.n_classes = classes.len().max(2);
    let k = obs.n_classes;
    let fit = consensus::dawid_skene(&obs, 100, 1e-7);
    let mut seen = vec![false; n_voters];
    for w in &obs.worker {
        seen[*w as usize] = true;
    }
    // A second class that nobody gave (a field answered one way only) carries no information.
    let known = classes.len();
    let matrices = (0..n_voters)
        .filter(|w| seen[*w])
        .map(|w| {
            let m = fit.matrix(w, k);
            let mut square = Vec::with_capacity(known * known);
            for c in 0..known {
                for l in 0..known {
                    square.push(m[c * k + l]);
                }
            }
            (u32::try_from(w).unwrap_or(u32::MAX), square)
        })
        .collect();
    let priors = fit.priors[..known].to_vec();
    Some((FieldModel { classes, priors }, matrices))
}

async fn store_fits(
    db: &sea_orm::DatabaseConnection,
    project: ProjectId,
    keys: &[String],
    fits: &Fits,
    answers: usize,
) -> ApiResult<()> {
    let fields: Map<String, Json> = fits
        .iter()
        .map(|(name, (model, _))| (name.clone(), json!(model)))
        .collect();
    let mut per_voter: HashMap<u32, Map<String, Json>> = HashMap::new();
    for (name, (_, matrices)) in fits {
        for (w, m) in matrices {
            per_voter
                .entry(*w)
                .or_default()
                .insert(name.clone(), json!(m));
        }
    }
    Box::pin(
        quality_model::Entity::insert(quality_model::ActiveModel {
            project_id: Set(project.0),
            model: Set(json!({ "fields": fields })),
            answers: Set(i64::try_from(answers).unwrap_or(i64::MAX)),
            updated: Set(now()),
        })
        .on_conflict(
            OnConflict::column(quality_model::Column::ProjectId)
                .update_columns([
                    quality_model::Column::Model,
                    quality_model::Column::Answers,
                    quality_model::Column::Updated,
                ])
                .to_owned(),
        )
        .exec_without_returning(db),
    )
    .await?;
    // The volunteers' rows are the ones every answer counts on: each chunk is one short
    // statement that locks its rows in the answers' order (by key), so that answers wait at most
    // for one chunk rather than for the whole refit. A refit cut short leaves some volunteers
    // with the last fit's matrices, as valid as the new ones; the job's retry writes them all.
    let mut per_voter: Vec<(&str, Json)> = per_voter
        .into_iter()
        .map(|(w, m)| (keys[w as usize].as_str(), Json::Object(m)))
        .collect();
    per_voter.sort_by(|a, b| a.0.cmp(b.0));
    for chunk in per_voter.chunks(CHUNK) {
        if db.get_database_backend() == DbBackend::Postgres {
            let input: Vec<Json> = chunk
                .iter()
                .map(|(key, m)| json!({ "key": key, "confusion": m }))
                .collect();
            let stmt = Statement::from_sql_and_values(
                DbBackend::Postgres,
                CONFUSION_SQL,
                [project.0.into(), Json::Array(input).into()],
            );
            db.execute_raw(stmt).await?;
            continue;
        }
        // SQLite: one writer at a time, no row locks to keep short.
        let txn = crate::store::begin_write(db).await?;
        for (key, matrices) in chunk {
            pv::Entity::update_many()
                .col_expr(
                    pv::Column::Confusion,
                    sea_orm::sea_query::Expr::value(matrices.clone()),
                )
                .filter(pv::Column::ProjectId.eq(project.0))
                .filter(pv::Column::Volunteer.eq(*key))
                .exec(&txn)
                .await?;
        }
        txn.commit().await?;
    }
    Ok(())
}

/// PostgreSQL: a chunk of volunteers' matrices, their rows locked in key order first.
const CONFUSION_SQL: &str = r#"
WITH input AS (
    SELECT i.key, i.confusion FROM jsonb_to_recordset($2) AS i(key text, confusion jsonb)
), locked AS (
    SELECT v.volunteer FROM project_volunteer v
    WHERE v.project_id = $1 AND v.volunteer IN (SELECT key FROM input)
    ORDER BY v.volunteer
    FOR UPDATE
)
UPDATE project_volunteer v SET confusion = input.confusion
FROM input, locked
WHERE v.project_id = $1 AND v.volunteer = locked.volunteer AND input.key = locked.volunteer
"#;

/// Recomputes each current result's aggregate; writes those that changed. Returns how many.
async fn reaggregate(
    infra: &Infra,
    project: ProjectId,
    judge: &Judge,
    answers: &[Answer],
    keys: &[String],
    attempt: Option<&Attempt>,
) -> ApiResult<usize> {
    let db = &infra.db;
    let mut by_task: HashMap<i32, Vec<&Answer>> = HashMap::new();
    for a in answers {
        by_task.entry(a.task_id).or_default().push(a);
    }
    let results = result::Entity::find()
        .filter(result::Column::ProjectId.eq(project.0))
        .filter(result::Column::LastVersion.eq(true))
        .order_by_asc(result::Column::Id)
        .all(db)
        .await?;
    let mut changed = 0;
    for chunk in results.chunks(CHUNK) {
        let mut updates = vec![];
        for r in chunk {
            // The answers the result was formed from (a task's later answers, if any, are not
            // part of it).
            let ids: Vec<i64> = r
                .task_run_ids
                .as_array()
                .map(|a| a.iter().filter_map(Json::as_i64).collect())
                .unwrap_or_default();
            let Some(runs) = by_task.get(&r.task_id) else {
                continue;
            };
            let runs: Vec<&&Answer> = runs
                .iter()
                .filter(|a| ids.contains(&i64::from(a.id)))
                .collect();
            let ballots: Vec<(&str, &Json)> = runs
                .iter()
                .map(|a| (keys[a.voter as usize].as_str(), &a.info))
                .collect();
            let Some(agg) = judge.aggregate(&ballots) else {
                continue;
            };
            let old = r.info.as_ref().and_then(|i| i.get("aggregate"));
            let unchanged = match (old, agg.info.get("aggregate")) {
                (Some(o), Some(n)) => !consensus::differs(o, n),
                (o, n) => o == n,
            };
            if unchanged && r.confidence.is_some() {
                continue;
            }
            let mut info = match r.info.clone() {
                Some(Json::Object(o)) => o,
                _ => Map::new(),
            };
            if let Some(a) = agg.info.get("aggregate") {
                info.insert("aggregate".into(), a.clone());
            }
            updates.push((r.id, Json::Object(info), agg.confidence));
        }
        if updates.is_empty() {
            continue;
        }
        Box::pin(write_aggregates(db, &updates)).await?;
        changed += updates.len();
        if let Some(attempt) = attempt {
            attempt.lease.renew(db).await?;
        }
    }
    if changed > 0 {
        infra
            .kv
            .delete_many(&crate::domain::platform::cache::keys_for_project(project))
            .await;
    }
    Ok(changed)
}

/// A chunk of results' new `info` and confidence, all or none: on PostgreSQL in one statement.
async fn write_aggregates(
    db: &sea_orm::DatabaseConnection,
    updates: &[(i32, Json, f64)],
) -> ApiResult<()> {
    if db.get_database_backend() == DbBackend::Postgres {
        let input: Vec<Json> = updates
            .iter()
            .map(|(id, info, confidence)| json!({ "id": id, "info": info, "confidence": confidence }))
            .collect();
        let stmt = Statement::from_sql_and_values(
            DbBackend::Postgres,
            AGGREGATES_SQL,
            [Json::Array(input).into()],
        );
        db.execute_raw(stmt).await?;
        return Ok(());
    }
    let txn = crate::store::begin_write(db).await?;
    for (id, info, confidence) in updates {
        result::Entity::update_many()
            .col_expr(
                result::Column::Info,
                sea_orm::sea_query::Expr::value(info.clone()),
            )
            .col_expr(
                result::Column::Confidence,
                sea_orm::sea_query::Expr::value(*confidence),
            )
            .filter(result::Column::Id.eq(*id))
            .exec(&txn)
            .await?;
    }
    txn.commit().await?;
    Ok(())
}

/// PostgreSQL: results' new `info` and confidence, by id.
const AGGREGATES_SQL: &str = r#"
UPDATE result SET info = u.info, confidence = u.confidence
FROM jsonb_to_recordset($1) AS u(id int, info jsonb, confidence double precision)
WHERE result.id = u.id
"#;

/// Whether the database has any volunteer of `project` excluded.
pub async fn has_exclusions(db: &impl ConnectionTrait, project: ProjectId) -> ApiResult<bool> {
    Ok(pv::Entity::find()
        .select_only()
        .column(pv::Column::Volunteer)
        .filter(pv::Column::ProjectId.eq(project.0))
        .filter(pv::Column::ExcludedAt.is_not_null())
        .into_tuple::<String>()
        .one(db)
        .await?
        .is_some())
}
