//! A project's volunteers as its owners see them: answers, gold counts, accuracy, estimated
//! skill and where each stands in the quiz.

use std::collections::HashMap;

use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, FromQueryResult, Order, QueryFilter,
    QueryOrder, QuerySelect, Statement,
    sea_query::{Expr, NullOrdering},
};

use crate::domain::volunteer::{
    completion::{fitted_fields, voter_of},
    consensus::{FieldModel, Voter},
    quality::{Aggregation, Quality},
};
use crate::{
    error::{ApiError, ApiResult},
    ids::ProjectId,
    store::entities::{project_volunteer as pv, user},
};

/// How the list is ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    Answers,
    GoldSeen,
    Accuracy,
    LastAnswer,
}

impl Sort {
    pub fn parse(name: Option<&str>) -> ApiResult<Sort> {
        Ok(match name.unwrap_or("answers") {
            "answers" => Sort::Answers,
            "gold_seen" => Sort::GoldSeen,
            "accuracy" => Sort::Accuracy,
            "last_answer" => Sort::LastAnswer,
            other => {
                return Err(ApiError::bad_request(format!(
                    "orderby must be answers, gold_seen, accuracy or last_answer, not {other:?}"
                )));
            }
        })
    }
}

/// One volunteer in one project.
#[derive(Debug, Clone, PartialEq)]
pub struct Skill {
    /// The volunteer's key: `u<user id>`, `x<project>:<external uid>` or `ip<anonymised
    /// address>`; stable, and what the owner's other calls name them by.
    pub key: String,
    pub user_id: Option<i32>,
    pub name: Option<String>,
    pub external_uid: Option<String>,
    /// The anonymised address of an anonymous volunteer (as task runs show it).
    pub user_ip: Option<String>,
    pub answers: i64,
    pub gold_seen: i64,
    pub gold_correct: i64,
    /// Right answers to gold tasks over gold tasks answered; `None` before the first.
    pub accuracy: Option<f64>,
    /// The estimated probability that their next answer is right: with `dawid_skene` once
    /// fitted, from their confusion matrix (the classes' priors times their diagonal);
    /// otherwise from gold, a prior of 0.7 updated by their gold answers.
    pub skill: Option<f64>,
    /// The owner left their answers out of aggregates (since then).
    pub excluded_at: Option<String>,
    /// Their fitted confusion matrices per field: `{field: {classes, matrix}}` (`dawid_skene`).
    pub confusion: Option<serde_json::Value>,
    /// `pending`, `passed` or `failed`; `None` when the project has no quiz.
    pub quiz: Option<&'static str>,
    /// The quiz's length.
    pub quiz_tasks: Option<u32>,
    /// When their first and latest answers came; `None` before the first.
    pub first_answer: Option<String>,
    pub last_answer: Option<String>,
}

/// Their skill under a fit: per field, the probability their answer is the true class.
fn fitted_skill(fields: &HashMap<String, FieldModel>, voter: &Voter) -> Option<f64> {
    let per_field: Vec<f64> = voter
        .confusion
        .iter()
        .filter_map(|(name, m)| {
            let model = fields.get(name)?;
            let k = model.classes.len();
            (m.len() == k * k).then(|| (0..k).map(|c| model.priors[c] * m[c * k + c]).sum())
        })
        .collect();
    #[allow(clippy::cast_precision_loss)]
    let n = per_field.len() as f64;
    (!per_field.is_empty()).then(|| per_field.iter().sum::<f64>() / n)
}

/// Their matrices with the classes they are over, for the owner's chart.
fn confusion_view(
    fields: &HashMap<String, FieldModel>,
    voter: &Voter,
) -> Option<serde_json::Value> {
    let view: serde_json::Map<String, serde_json::Value> = voter
        .confusion
        .iter()
        .filter_map(|(name, m)| {
            let model = fields.get(name)?;
            let k = model.classes.len();
            let rows: Vec<&[f64]> = m.chunks(k.max(1)).collect();
            Some((
                name.clone(),
                serde_json::json!({"classes": model.classes, "matrix": rows}),
            ))
        })
        .collect();
    (!view.is_empty()).then_some(serde_json::Value::Object(view))
}

fn skill_of(
    row: pv::Model,
    quiz: Option<&'static str>,
    quiz_tasks: Option<u32>,
    fields: &HashMap<String, FieldModel>,
) -> Skill {
    let voter = voter_of(&row);
    let (user_id, external_uid, user_ip) = match row.volunteer.as_bytes().first() {
        Some(b'u') => (row.user_id, None, None),
        Some(b'x') => (
            None,
            row.volunteer.split_once(':').map(|(_, uid)| uid.to_owned()),
            None,
        ),
        _ => (
            None,
            None,
            row.volunteer.strip_prefix("ip").map(str::to_owned),
        ),
    };
    let (seen, correct) = (row.gold_seen, row.gold_correct);
    #[allow(clippy::cast_precision_loss)]
    let ratio = |a: i64, b: i64| a as f64 / b as f64;
    Skill {
        key: row.volunteer,
        user_id,
        name: None,
        external_uid,
        user_ip,
        answers: row.n_answers,
        gold_seen: seen,
        gold_correct: correct,
        accuracy: (seen > 0).then(|| ratio(correct, seen)),
        skill: fitted_skill(fields, &voter).or(voter.skill),
        excluded_at: row.excluded_at,
        confusion: confusion_view(fields, &voter),
        quiz,
        quiz_tasks,
        first_answer: Some(row.first_answer).filter(|t| !t.is_empty()),
        last_answer: Some(row.last_answer).filter(|t| !t.is_empty()),
    }
}

/// The volunteer key of a task run, as [`crate::domain::volunteer::identity`] builds it.
use crate::domain::platform::stats::VOLUNTEER_KEY as RUN_KEY;

#[derive(FromQueryResult)]
struct QuizRow {
    v: String,
    seen: i64,
    correct: i64,
}

/// The quiz standing of each of `keys`, from their first `tasks` gold answers.
async fn quiz_of(
    db: &impl ConnectionTrait,
    project: ProjectId,
    quality: &Quality,
    keys: &[String],
) -> ApiResult<HashMap<String, &'static str>> {
    let Some(quiz) = quality.quiz else {
        return Ok(HashMap::new());
    };
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    let backend = db.get_database_backend();
    // The page's keys as one JSON parameter, on either database.
    let (p, membership) = match backend {
        DbBackend::Postgres => (
            "$1",
            "v IN (SELECT jsonb_array_elements_text(CAST($2 AS jsonb)))",
        ),
        _ => ("?", "v IN (SELECT value FROM json_each(?))"),
    };
    let sql = format!(
        "SELECT v, COUNT(*) AS seen, SUM(CASE WHEN gold_correct THEN 1 ELSE 0 END) AS correct \
         FROM (SELECT {RUN_KEY} AS v, gold_correct, \
                      ROW_NUMBER() OVER (PARTITION BY {RUN_KEY} ORDER BY id) AS rn \
               FROM task_run WHERE project_id = {p} AND gold_correct IS NOT NULL) firsts \
         WHERE rn <= {} AND {membership} GROUP BY v",
        quiz.tasks
    );
    let keys_value: sea_orm::Value = serde_json::to_string(keys).unwrap_or_default().into();
    let rows = QuizRow::find_by_statement(Statement::from_sql_and_values(
        backend,
        sql,
        [project.0.into(), keys_value],
    ))
    .all(db)
    .await?;
    let mut out: HashMap<String, &'static str> =
        keys.iter().map(|k| (k.clone(), "pending")).collect();
    for r in rows {
        let seen = u32::try_from(r.seen).unwrap_or(u32::MAX);
        let correct = u32::try_from(r.correct).unwrap_or(0);
        let standing = if seen < quiz.tasks {
            "pending"
        } else if f64::from(correct) >= quiz.pass_ratio * f64::from(seen) - 1e-9 {
            "passed"
        } else {
            "failed"
        };
        out.insert(r.v, standing);
    }
    Ok(out)
}

async fn finish(
    db: &impl ConnectionTrait,
    project: ProjectId,
    quality: &Quality,
    rows: Vec<pv::Model>,
) -> ApiResult<Vec<Skill>> {
    let keys: Vec<String> = rows.iter().map(|r| r.volunteer.clone()).collect();
    let quiz = quiz_of(db, project, quality, &keys).await?;
    let fields = if quality.aggregation == Aggregation::DawidSkene {
        fitted_fields(db, project.0).await?
    } else {
        HashMap::new()
    };
    let ids: Vec<i32> = rows
        .iter()
        .filter(|r| r.volunteer.starts_with('u'))
        .filter_map(|r| r.user_id)
        .collect();
    let names: HashMap<i32, String> = if ids.is_empty() {
        HashMap::new()
    } else {
        user::Entity::find()
            .select_only()
            .column(user::Column::Id)
            .column(user::Column::Name)
            .filter(user::Column::Id.is_in(ids))
            .into_tuple::<(i32, String)>()
            .all(db)
            .await?
            .into_iter()
            .collect()
    };
    Ok(rows
        .into_iter()
        .map(|r| {
            let standing = quiz.get(&r.volunteer).copied();
            let mut s = skill_of(r, standing, quality.quiz.map(|q| q.tasks), &fields);
            s.name = s.user_id.and_then(|id| names.get(&id).cloned());
            s
        })
        .collect())
}

/// A page of a project's volunteers; `true` when more follow.
pub async fn list(
    db: &impl ConnectionTrait,
    project: ProjectId,
    quality: &Quality,
    sort: Sort,
    desc: bool,
    limit: u64,
    offset: u64,
) -> ApiResult<(Vec<Skill>, bool)> {
    let order = if desc { Order::Desc } else { Order::Asc };
    let mut q = pv::Entity::find().filter(pv::Column::ProjectId.eq(project.0));
    q = match sort {
        Sort::Answers => q.order_by(pv::Column::NAnswers, order.clone()),
        Sort::GoldSeen => q.order_by(pv::Column::GoldSeen, order.clone()),
        Sort::LastAnswer => q.order_by(pv::Column::LastAnswer, order.clone()),
        // Those without gold answers last, either way.
        Sort::Accuracy => q.order_by_with_nulls(
            Expr::cust("CASE WHEN gold_seen > 0 THEN gold_correct * 1.0 / gold_seen END"),
            order.clone(),
            NullOrdering::Last,
        ),
    };
    let mut rows = q
        .order_by(pv::Column::Volunteer, Order::Asc)
        .limit(limit + 1)
        .offset(offset)
        .all(db)
        .await?;
    let more = rows.len() as u64 > limit;
    rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    Ok((finish(db, project, quality, rows).await?, more))
}

/// One volunteer's row, by key; `None` when the project has no such volunteer.
pub async fn by_key(
    db: &impl ConnectionTrait,
    project: ProjectId,
    quality: &Quality,
    key: &str,
) -> ApiResult<Option<Skill>> {
    let Some(row) = pv::Entity::find_by_id((project.0, key.to_owned()))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    Ok(finish(db, project, quality, vec![row]).await?.pop())
}

/// One volunteer's row, by key; zeros before their first answer.
pub async fn one(
    db: &impl ConnectionTrait,
    project: ProjectId,
    quality: &Quality,
    volunteer: &crate::domain::volunteer::identity::Volunteer,
) -> ApiResult<Skill> {
    let row = pv::Entity::find_by_id((project.0, volunteer.key.clone()))
        .one(db)
        .await?
        .unwrap_or_else(|| pv::Model {
            project_id: project.0,
            volunteer: volunteer.key.clone(),
            user_id: volunteer.user_id.map(|u| u.0),
            anonymous: volunteer.is_anonymous(),
            n_answers: 0,
            first_answer: String::new(),
            last_answer: String::new(),
            gold_seen: 0,
            gold_correct: 0,
            excluded_at: None,
            confusion: None,
        });
    finish(db, project, quality, vec![row])
        .await?
        .pop()
        .ok_or_else(|| ApiError::internal("a volunteer's row went missing"))
}
