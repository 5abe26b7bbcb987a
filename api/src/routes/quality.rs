//! Quality control for owners: a project's volunteers with their gold counts, accuracy,
//! estimated skill and quiz standing (each volunteer may read their own), excluding a
//! volunteer, and the review queue of doubtful results with its verdicts.

use std::sync::Arc;

use poem::{Request, web::Data};
use poem_openapi::{
    Object, OpenApi,
    param::{Path, Query},
    payload::Json,
};

use super::{
    ApiTags,
    volunteer::{loop_project, loop_volunteer},
};
use crate::{
    auth::Caller,
    domain::{
        rest::{crud::fuzzy_bool, resources},
        volunteer::{quality::Quality, review, skills},
    },
    error::ApiError,
    ids::{ProjectId, UserId},
    state::AppState,
};

/// One volunteer in a project. Exactly one of `user_id`, `external_uid` and `user_ip` names
/// them; `volunteer` is their key in this project.
#[derive(Object)]
pub struct VolunteerSkill {
    /// `u<user id>`, `x<project id>:<external uid>` or `ip<anonymised address>`.
    pub volunteer: String,
    #[oai(skip_serializing_if_is_none)]
    pub user_id: Option<i64>,
    /// The account's name, for signed-in volunteers.
    #[oai(skip_serializing_if_is_none)]
    pub name: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub external_uid: Option<String>,
    /// The anonymised address of an anonymous volunteer, as their task runs show it.
    #[oai(skip_serializing_if_is_none)]
    pub user_ip: Option<String>,
    pub answers: i64,
    /// Answers to gold tasks, and how many were right.
    pub gold_seen: i64,
    pub gold_correct: i64,
    /// `gold_correct / gold_seen`; null before the first gold answer.
    pub accuracy: Option<f64>,
    /// The estimated probability that their answer is right. With `dawid_skene`, once fitted:
    /// from their confusion matrix (each class's prior times the chance they name it when it
    /// is true). Otherwise from gold: `(gold_correct + 1.4) / (gold_seen + 2)`, a prior of 0.7
    /// updated by their gold answers.
    pub skill: Option<f64>,
    /// Whether the owner left their answers out of aggregates (they stay in the database and
    /// in exports), and since when.
    pub excluded: bool,
    #[oai(skip_serializing_if_is_none)]
    pub excluded_at: Option<String>,
    /// With `dawid_skene`: per answer field (`answer` for scalar answers), the classes and
    /// the fitted matrix, `matrix[true][given]` = P(they answer `given` | the truth is `true`).
    /// Owners only: a volunteer's own row leaves it out (its classes may hold gold answers).
    #[oai(skip_serializing_if_is_none)]
    pub confusion: Option<serde_json::Value>,
    /// `pending`, `passed` or `failed`; null when the project has no quiz.
    pub quiz: Option<String>,
    /// How many gold tasks the quiz has; null when the project has no quiz.
    pub quiz_tasks: Option<u32>,
    /// Null before their first answer.
    pub first_answer: Option<String>,
    pub last_answer: Option<String>,
}

impl From<skills::Skill> for VolunteerSkill {
    fn from(s: skills::Skill) -> Self {
        VolunteerSkill {
            volunteer: s.key,
            user_id: s.user_id.map(i64::from),
            name: s.name,
            external_uid: s.external_uid,
            user_ip: s.user_ip,
            answers: s.answers,
            gold_seen: s.gold_seen,
            gold_correct: s.gold_correct,
            accuracy: s.accuracy,
            skill: s.skill,
            excluded: s.excluded_at.is_some(),
            excluded_at: s.excluded_at,
            confusion: s.confusion,
            quiz: s.quiz.map(str::to_owned),
            quiz_tasks: s.quiz_tasks,
            first_answer: s.first_answer,
            last_answer: s.last_answer,
        }
    }
}

/// A page of a project's volunteers.
#[derive(Object)]
pub struct VolunteerPage {
    pub items: Vec<VolunteerSkill>,
    /// Whether more follow (ask again with a larger `offset`).
    pub has_more: bool,
}

/// An owner's change to a volunteer.
#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct VolunteerUpdate {
    /// Leave their answers out of aggregates (true), or count them again (false). Results
    /// already formed are re-aggregated within seconds.
    pub excluded: bool,
}

/// One answer to a result under review.
#[derive(Object)]
pub struct ReviewAnswer {
    pub task_run_id: i32,
    /// The volunteer's key (as in `/volunteers`).
    pub volunteer: String,
    pub info: Option<serde_json::Value>,
    pub finish_time: String,
    /// Its volunteer is excluded: it does not count in the aggregate.
    pub excluded: bool,
}

/// A result waiting for review, with its task and answers.
#[derive(Object)]
pub struct ReviewItem {
    pub result_id: i32,
    pub task_id: i32,
    pub created: String,
    /// The aggregate's confidence: the posterior probability of its value (the lowest field's
    /// for object answers).
    pub confidence: Option<f64>,
    /// The result's `info.aggregate`.
    pub aggregate: Option<serde_json::Value>,
    /// The result's `info.final`, once reviewed.
    #[oai(rename = "final")]
    pub final_answer: Option<serde_json::Value>,
    /// When it was reviewed; null while waiting.
    pub reviewed: Option<String>,
    /// The task's `info`, for the presenter.
    pub task_info: Option<serde_json::Value>,
    pub answers: Vec<ReviewAnswer>,
}

#[derive(Object)]
pub struct ReviewPage {
    pub items: Vec<ReviewItem>,
    pub has_more: bool,
}

/// A verdict on a result.
#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct ReviewVerdict {
    /// `accept` (the aggregate's value is right), `pick` (the answer `task_run_id` is),
    /// `expert` (`answer` is), or `reopen` (the task takes `answers` more answers, 1 to 100,
    /// default 1; a new result forms when it has them).
    pub action: String,
    pub task_run_id: Option<i32>,
    /// The right answer, in the shape of a task run's `info`.
    pub answer: Option<serde_json::Value>,
    pub answers: Option<i32>,
}

/// The reviewed result.
#[derive(Object)]
pub struct ReviewedResult {
    pub id: i32,
    pub task_id: i32,
    pub last_version: bool,
    pub reviewed: Option<String>,
    /// With `final` (and `aggregate`), or `reopened`.
    pub info: Option<serde_json::Value>,
}

fn item_of(i: review::Item) -> ReviewItem {
    let info = i.result.info.as_ref();
    ReviewItem {
        result_id: i.result.id,
        task_id: i.result.task_id,
        created: i.result.created.clone(),
        confidence: i.result.confidence,
        aggregate: info.and_then(|v| v.get("aggregate")).cloned(),
        final_answer: info.and_then(|v| v.get("final")).cloned(),
        reviewed: i.result.reviewed.clone(),
        task_info: i.task.info.clone(),
        answers: i
            .answers
            .into_iter()
            .map(|a| ReviewAnswer {
                task_run_id: a.run.id,
                volunteer: a.volunteer,
                info: a.run.info,
                finish_time: a.run.finish_time,
                excluded: a.excluded,
            })
            .collect(),
    }
}

fn verdict_of(body: ReviewVerdict) -> Result<review::Verdict, ApiError> {
    let unused = |name: &str, present: bool| {
        if present {
            Err(ApiError::bad_request(format!(
                "{name}: not taken by the action {:?}",
                body.action
            )))
        } else {
            Ok(())
        }
    };
    match body.action.as_str() {
        "accept" => {
            unused("task_run_id", body.task_run_id.is_some())?;
            unused("answer", body.answer.is_some())?;
            unused("answers", body.answers.is_some())?;
            Ok(review::Verdict::Accept)
        }
        "pick" => {
            unused("answer", body.answer.is_some())?;
            unused("answers", body.answers.is_some())?;
            let id = body
                .task_run_id
                .ok_or_else(|| ApiError::bad_request("task_run_id: pick names the answer"))?;
            Ok(review::Verdict::Pick { task_run_id: id })
        }
        "expert" => {
            unused("task_run_id", body.task_run_id.is_some())?;
            unused("answers", body.answers.is_some())?;
            match body.answer {
                Some(a) if !a.is_null() => Ok(review::Verdict::Expert { answer: a }),
                _ => Err(ApiError::bad_request(
                    "answer: expert needs the right answer",
                )),
            }
        }
        "reopen" => {
            unused("task_run_id", body.task_run_id.is_some())?;
            unused("answer", body.answer.is_some())?;
            Ok(review::Verdict::Reopen {
                answers: body.answers.unwrap_or(1),
            })
        }
        other => Err(ApiError::bad_request(format!(
            "action: {other:?} is not one of accept, pick, expert, reopen"
        ))),
    }
}

/// How sure a project's current results are, for the owner's histogram.
#[derive(Object)]
pub struct QualitySummary {
    /// The project's aggregation method.
    pub method: String,
    /// Current results, and how many an owner reviewed.
    pub results: u64,
    pub reviewed: u64,
    /// Results per tenth of confidence: `[0, 0.1)`, `[0.1, 0.2)`, …, `[0.9, 1]`.
    pub histogram: Vec<u64>,
    /// Results formed before confidences were recorded (not in the histogram).
    pub unknown: u64,
}

/// A true/false query parameter.
fn flag(name: &str, value: Option<&str>, default: bool) -> Result<bool, ApiError> {
    match value {
        None => Ok(default),
        Some(s) => fuzzy_bool(s).ok_or_else(|| {
            ApiError::bad_request(format!("{name} must be true or false, not {s:?}"))
        }),
    }
}

/// A page's `limit`, from 1 to `max`.
fn page_limit(limit: Option<u64>, default: u64, max: u64) -> Result<u64, ApiError> {
    let limit = limit.unwrap_or(default);
    if (1..=max).contains(&limit) {
        Ok(limit)
    } else {
        Err(ApiError::bad_request(format!(
            "limit must be from 1 to {max}"
        )))
    }
}

pub struct QualityApi;

#[OpenApi(tag = "ApiTags::Quality")]
impl QualityApi {
    /// A project's volunteers, with their gold counts, accuracy, skill and quiz standing
    /// (owners and admins).
    #[oai(path = "/project/:id/volunteers", method = "get")]
    #[allow(clippy::too_many_arguments)]
    async fn volunteers(
        &self,
        state: Data<&Arc<AppState>>,
        caller: Caller,
        id: Path<i32>,
        /// `answers` (default), `gold_seen`, `accuracy` (volunteers without gold answers
        /// last) or `last_answer`.
        orderby: Query<Option<String>>,
        /// Descending (default true).
        desc: Query<Option<String>>,
        /// At most 200 (default 50).
        limit: Query<Option<u64>>,
        offset: Query<Option<u64>>,
    ) -> Result<Json<VolunteerPage>, ApiError> {
        let project = Box::pin(resources::owned_by_caller(
            state.ctx(&caller),
            ProjectId(id.0),
        ))
        .await?;
        let sort = skills::Sort::parse(orderby.0.as_deref())?;
        let desc = flag("desc", desc.0.as_deref(), true)?;
        let limit = page_limit(limit.0, 50, 200)?;
        let quality = Quality::of(project.info.as_ref()).unwrap_or_default();
        let (rows, has_more) = skills::list(
            &state.infra.read_db,
            ProjectId(project.id),
            &quality,
            sort,
            desc,
            limit,
            offset.0.unwrap_or(0),
        )
        .await?;
        Ok(Json(VolunteerPage {
            items: rows.into_iter().map(Into::into).collect(),
            has_more,
        }))
    }

    /// The caller's own row in a project (signed-in, anonymous where the project allows it,
    /// or an external user with the project token); zeros before their first answer.
    #[oai(path = "/project/:id/volunteers/me", method = "get")]
    async fn me(
        &self,
        state: Data<&Arc<AppState>>,
        caller: Caller,
        req: &Request,
        id: Path<i32>,
        /// An external user of the project's own app (with the project token as bearer).
        external_uid: Query<Option<String>>,
    ) -> Result<Json<VolunteerSkill>, ApiError> {
        let project = loop_project(&state, &caller, id.0, external_uid.0.is_some()).await?;
        let volunteer = loop_volunteer(&state, &caller, req, &project, external_uid.0.as_deref())?;
        let quality = Quality::of(project.info.as_ref()).unwrap_or_default();
        let mut row =
            skills::one(&state.infra.db, ProjectId(project.id), &quality, &volunteer).await?;
        // The fitted classes include gold tasks' answers that nobody may have given: owners'.
        row.confusion = None;
        Ok(Json(row.into()))
    }

    /// Exclude a volunteer from the project's aggregates, or count them again (owners and
    /// admins). Their answers stay in the database and in exports; results are re-aggregated
    /// in the background within seconds.
    #[oai(path = "/project/:id/volunteers/:volunteer", method = "put")]
    async fn update_volunteer(
        &self,
        state: Data<&Arc<AppState>>,
        caller: Caller,
        id: Path<i32>,
        /// The volunteer's key, as `/volunteers` lists it.
        volunteer: Path<String>,
        body: Json<VolunteerUpdate>,
    ) -> Result<Json<VolunteerSkill>, ApiError> {
        let project = Box::pin(resources::owned_by_caller(
            state.ctx(&caller),
            ProjectId(id.0),
        ))
        .await?;
        let pid = ProjectId(project.id);
        Box::pin(review::exclude(
            &state.infra,
            pid,
            &volunteer.0,
            body.0.excluded,
        ))
        .await?
        .ok_or(ApiError::NotFound)?;
        let quality = Quality::of(project.info.as_ref()).unwrap_or_default();
        let row = skills::by_key(&state.infra.db, pid, &quality, &volunteer.0)
            .await?
            .ok_or(ApiError::NotFound)?;
        Ok(Json(row.into()))
    }

    /// How sure the project's results are: a confidence histogram and review counts (owners
    /// and admins).
    #[oai(path = "/project/:id/quality", method = "get")]
    async fn summary(
        &self,
        state: Data<&Arc<AppState>>,
        caller: Caller,
        id: Path<i32>,
    ) -> Result<Json<QualitySummary>, ApiError> {
        let project = Box::pin(resources::owned_by_caller(
            state.ctx(&caller),
            ProjectId(id.0),
        ))
        .await?;
        let quality = Quality::of(project.info.as_ref()).unwrap_or_default();
        let s = review::summary(&state.infra.read_db, ProjectId(project.id)).await?;
        Ok(Json(QualitySummary {
            method: quality.aggregation.name().to_owned(),
            results: s.results,
            reviewed: s.reviewed,
            histogram: s.histogram.to_vec(),
            unknown: s.unknown,
        }))
    }

    /// The review queue (owners and admins): current results not yet reviewed, lowest
    /// confidence first, each with its task's `info` and its answers.
    #[oai(path = "/project/:id/review", method = "get")]
    #[allow(clippy::too_many_arguments)]
    async fn review_queue(
        &self,
        state: Data<&Arc<AppState>>,
        caller: Caller,
        id: Path<i32>,
        /// Only results at most this confident (0 to 1).
        max_confidence: Query<Option<f64>>,
        /// Reviewed results too, after the waiting ones (default false).
        reviewed: Query<Option<String>>,
        /// At most 100 (default 20).
        limit: Query<Option<u64>>,
        offset: Query<Option<u64>>,
    ) -> Result<Json<ReviewPage>, ApiError> {
        let project = Box::pin(resources::owned_by_caller(
            state.ctx(&caller),
            ProjectId(id.0),
        ))
        .await?;
        if let Some(m) = max_confidence.0
            && !(0.0..=1.0).contains(&m)
        {
            return Err(ApiError::bad_request("max_confidence must be from 0 to 1"));
        }
        let include_reviewed = flag("reviewed", reviewed.0.as_deref(), false)?;
        let limit = page_limit(limit.0, 20, 100)?;
        let (items, has_more) = review::queue(
            &state.infra.read_db,
            ProjectId(project.id),
            review::QueueFilter {
                max_confidence: max_confidence.0,
                include_reviewed,
            },
            limit,
            offset.0.unwrap_or(0),
        )
        .await?;
        Ok(Json(ReviewPage {
            items: items.into_iter().map(item_of).collect(),
            has_more,
        }))
    }

    /// A verdict on a result (owners and admins): accept its aggregate, pick one of its
    /// answers, write the right answer, or reopen its task for more answers. The first three
    /// set `info.final` (`value`, `action`, `by`, `at`, and `task_run_id` for a pick), which
    /// exports carry beside `aggregate`; each fires `result.reviewed`.
    #[oai(path = "/project/:id/review/:result_id", method = "post")]
    async fn review(
        &self,
        state: Data<&Arc<AppState>>,
        caller: Caller,
        id: Path<i32>,
        result_id: Path<i32>,
        body: Json<ReviewVerdict>,
    ) -> Result<Json<ReviewedResult>, ApiError> {
        let project = Box::pin(resources::owned_by_caller(
            state.ctx(&caller),
            ProjectId(id.0),
        ))
        .await?;
        let verdict = verdict_of(body.0)?;
        let reviewer = caller
            .user_id()
            .map(UserId)
            .ok_or_else(|| ApiError::denied(false))?;
        let r = Box::pin(review::review(
            &state.infra,
            &project,
            result_id.0,
            verdict,
            reviewer,
        ))
        .await?;
        Ok(Json(ReviewedResult {
            id: r.id,
            task_id: r.task_id,
            last_version: r.last_version,
            reviewed: r.reviewed,
            info: r.info,
        }))
    }
}
