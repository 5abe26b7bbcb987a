//! Quality control for owners: a project's volunteers with their gold counts, accuracy,
//! estimated skill and quiz standing; each volunteer may read their own.

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
        volunteer::{quality::Quality, skills},
    },
    error::ApiError,
    ids::ProjectId,
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
    /// The estimated probability that their answer is right: `(gold_correct + 1) /
    /// (gold_seen + 2)`, a uniform prior updated by their gold answers; null before the first.
    pub skill: Option<f64>,
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
        let desc = match desc.0.as_deref() {
            None => true,
            Some(s) => fuzzy_bool(s).ok_or_else(|| {
                ApiError::bad_request(format!("desc must be true or false, not {s:?}"))
            })?,
        };
        let limit = limit.0.unwrap_or(50);
        if !(1..=200).contains(&limit) {
            return Err(ApiError::bad_request("limit must be from 1 to 200"));
        }
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
        let row = skills::one(&state.infra.db, ProjectId(project.id), &quality, &volunteer).await?;
        Ok(Json(row.into()))
    }
}
