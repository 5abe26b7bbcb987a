//! Gold tasks in the volunteer loop: which request gets one (the quiz first, then the project's
//! `gold_rate`), which one (never one the volunteer answered), and the quiz's verdict.
//!
//! Gold tasks (`calibration = 1`) are left out of the ordinary scans and answer statements; they
//! never complete and have no cap on answers, so they are served here, outside the schedulers.

use std::time::Duration;

use rand::Rng;
use sea_orm::{
    ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::{Expr, ExprTrait},
};
use serde_json::Value as Json;

use crate::domain::volunteer::{
    LoopState,
    identity::Volunteer,
    quality::{Quality, Quiz},
};
use crate::{
    error::{ApiError, ApiResult},
    ids::{ProjectId, TaskId},
    infra::Infra,
    store::entities::{project, task, task::TaskState, task_run},
};

/// How long this instance trusts what it found about a project having gold tasks.
const GOLD_SEEN_FOR: Duration = Duration::from_secs(5);

/// `calibration = 1` as a literal, not a bound value: only then can PostgreSQL's planner use
/// the partial index of gold tasks (`ix_task_gold`) in a prepared statement.
pub fn is_gold() -> sea_orm::sea_query::SimpleExpr {
    Expr::cust(r#""task"."calibration" = 1"#)
}

/// A yes or no per project, as found lately (whether it has gold tasks, excluded volunteers):
/// projects without (most) pay one cache lookup per request, not a query.
pub struct ProjectFlags(moka::sync::Cache<ProjectId, bool>);

impl ProjectFlags {
    pub fn get(&self, project: ProjectId) -> Option<bool> {
        self.0.get(&project)
    }

    pub fn insert(&self, project: ProjectId, flag: bool) {
        self.0.insert(project, flag);
    }

    pub fn remove(&self, project: ProjectId) {
        self.0.invalidate(&project);
    }
}

/// Each project's lowest and highest gold task id, as found lately.
pub type GoldRanges = moka::sync::Cache<ProjectId, (i32, i32)>;

/// An empty [`GoldRanges`], whose entries last as long as [`ProjectFlags`]'.
pub fn gold_ranges() -> GoldRanges {
    lately(GOLD_SEEN_FOR)
}

/// A bounded cache of what was found lately, each entry trusted for `ttl`.
fn lately<K, V>(ttl: Duration) -> moka::sync::Cache<K, V>
where
    K: std::hash::Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    moka::sync::Cache::builder()
        .max_capacity(100_000)
        .time_to_live(ttl)
        .build()
}

impl Default for ProjectFlags {
    fn default() -> Self {
        Self(lately(GOLD_SEEN_FOR))
    }
}

/// Gold tasks this instance handed out lately, with their gold answers: their answers go to the
/// gold statement first (judged against that answer, which the statement checks is still the
/// task's) rather than after the ordinary ones found the task is not theirs. Only a hint: an
/// answer to a task not here (handed out by another instance, or long ago) still finds its way.
pub struct GoldTasks(moka::sync::Cache<TaskId, Json>);

/// How long a gold hand-out is remembered.
const GOLD_HANDED_OUT_FOR: Duration = Duration::from_secs(3600);

impl GoldTasks {
    /// Remembers a gold task handed out, with its gold answer as read then.
    pub fn handed_out(&self, task: TaskId, gold_answer: Json) {
        self.0.insert(task, gold_answer);
    }

    /// The gold answer a task was handed out with lately, if it was handed out as gold.
    pub fn gold_answer(&self, task: TaskId) -> Option<Json> {
        self.0.get(&task)
    }
}

impl Default for GoldTasks {
    fn default() -> Self {
        Self(lately(GOLD_HANDED_OUT_FOR))
    }
}

async fn has_gold(infra: &Infra, lp: &LoopState, project: ProjectId) -> ApiResult<bool> {
    if let Some(known) = lp.gold_projects.0.get(&project) {
        return Ok(known);
    }
    let found = task::Entity::find()
        .select_only()
        .column(task::Column::Id)
        .filter(task::Column::ProjectId.eq(project.0))
        .filter(is_gold())
        .into_tuple::<i32>()
        .one(&infra.read_db)
        .await?
        .is_some();
    lp.gold_projects.0.insert(project, found);
    Ok(found)
}

/// Where a volunteer stands in a project's quiz.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Fewer gold answers than the quiz asks for.
    Pending {
        seen: u32,
        correct: u32,
    },
    Passed,
    Failed {
        seen: u32,
        correct: u32,
    },
}

impl Standing {
    /// The verdict on `seen` gold answers, `correct` of them right, when the quiz is over.
    fn judged(quiz: Quiz, seen: u32, correct: u32) -> Standing {
        if seen == 0 || f64::from(correct) >= quiz.pass_ratio * f64::from(seen) - 1e-9 {
            Standing::Passed
        } else {
            Standing::Failed { seen, correct }
        }
    }
}

/// The volunteer's standing from their first `quiz.tasks` gold answers in the project.
pub async fn standing(
    infra: &Infra,
    project: ProjectId,
    volunteer: &Volunteer,
    quiz: Quiz,
) -> ApiResult<Standing> {
    let firsts: Vec<Option<bool>> = task_run::Entity::find()
        .select_only()
        .column(task_run::Column::GoldCorrect)
        .filter(task_run::Column::ProjectId.eq(project.0))
        .filter(volunteer.answered_by())
        .filter(task_run::Column::GoldCorrect.is_not_null())
        .order_by_asc(task_run::Column::Id)
        .limit(u64::from(quiz.tasks))
        .into_tuple()
        .all(&infra.db)
        .await?;
    let seen = u32::try_from(firsts.len()).unwrap_or(u32::MAX);
    let correct = u32::try_from(firsts.iter().filter(|c| **c == Some(true)).count()).unwrap_or(0);
    Ok(if seen < quiz.tasks {
        Standing::Pending { seen, correct }
    } else {
        Standing::judged(quiz, seen, correct)
    })
}

fn failed(seen: u32, correct: u32, quiz: Quiz) -> ApiError {
    ApiError::QuizFailed(format!(
        "You answered {correct} of the project's {seen} test tasks correctly; it needs {:.0}% \
         to go on.",
        quiz.pass_ratio * 100.0
    ))
}

/// A gold task this volunteer has not answered, at random: the first such from a random point
/// of the project's gold ids (wrapping round), read along the gold index rather than sorting
/// them all.
async fn pick(
    infra: &Infra,
    lp: &LoopState,
    project: ProjectId,
    volunteer: &Volunteer,
) -> ApiResult<Option<task::Model>> {
    use sea_orm::sea_query::Func;
    let gold = || {
        task::Entity::find()
            .filter(task::Column::ProjectId.eq(project.0))
            .filter(is_gold())
    };
    // Where the random start is drawn from, as found lately: a gold task added since is still
    // found (the first read has no upper bound), one deleted only moves the start.
    let range = match lp.gold_ranges.get(&project) {
        Some(range) => Some(range),
        None => {
            let found: Option<(Option<i32>, Option<i32>)> = gold()
                .select_only()
                .expr(Func::min(Expr::col(task::Column::Id)))
                .expr(Func::max(Expr::col(task::Column::Id)))
                .into_tuple()
                .one(&infra.db)
                .await?;
            let range = found.and_then(|(lo, hi)| lo.zip(hi));
            if let Some(range) = range {
                lp.gold_ranges.insert(project, range);
            }
            range
        }
    };
    let Some((lo, hi)) = range else {
        return Ok(None);
    };
    let start = rand::rng().random_range(lo..=hi);
    let unanswered = || {
        gold()
            .filter(task::Column::State.eq(TaskState::Ongoing))
            .filter(Expr::exists(volunteer.answered_task(infra.backend())).not())
            .order_by_asc(task::Column::Id)
    };
    // The primary: a replica a moment behind could offer the one just answered.
    if let Some(t) = unanswered()
        .filter(task::Column::Id.gte(start))
        .one(&infra.db)
        .await?
    {
        return Ok(Some(t));
    }
    Ok(unanswered()
        .filter(task::Column::Id.lt(start))
        .one(&infra.db)
        .await?)
}

/// The gold task this request gets, if it gets one: every request while the volunteer's quiz
/// is pending, then a `gold_rate` share of the requests for one task (`single`). A volunteer
/// below the quiz's pass mark gets `QuizFailed`. A quiz that runs out of gold tasks is judged
/// on the answers given.
pub async fn next_gold(
    infra: &Infra,
    lp: &LoopState,
    project: &project::Model,
    volunteer: &Volunteer,
    single: bool,
) -> ApiResult<Option<task::Model>> {
    let pid = ProjectId(project.id);
    if !has_gold(infra, lp, pid).await? {
        return Ok(None);
    }
    // Settings stored before they were checked fall back to the defaults.
    let quality = Quality::of(project.info.as_ref()).unwrap_or_default();
    if let Some(quiz) = quality.quiz {
        match standing(infra, pid, volunteer, quiz).await? {
            Standing::Failed { seen, correct } => return Err(failed(seen, correct, quiz)),
            Standing::Pending { seen, correct } => {
                let gold = pick(infra, lp, pid, volunteer).await?;
                if gold.is_some() {
                    return Ok(gold);
                }
                if let Standing::Failed { seen, correct } = Standing::judged(quiz, seen, correct) {
                    return Err(failed(seen, correct, quiz));
                }
                return Ok(None);
            }
            Standing::Passed => {}
        }
    }
    // Mixed in one task at a time: a hand-out of several with one gold task among them would
    // come back short and so stand out.
    if !single || quality.gold_rate <= 0.0 || rand::rng().random::<f64>() >= quality.gold_rate {
        return Ok(None);
    }
    pick(infra, lp, pid, volunteer).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quiz_is_judged_on_the_answers_given() {
        let quiz = Quiz {
            tasks: 5,
            pass_ratio: 0.8,
        };
        assert_eq!(Standing::judged(quiz, 5, 4), Standing::Passed);
        assert_eq!(
            Standing::judged(quiz, 5, 3),
            Standing::Failed {
                seen: 5,
                correct: 3
            }
        );
        // Fewer gold tasks than the quiz asks for: what was seen decides; nothing seen passes.
        assert_eq!(Standing::judged(quiz, 0, 0), Standing::Passed);
        assert_eq!(Standing::judged(quiz, 2, 2), Standing::Passed);
        assert_eq!(
            Standing::judged(quiz, 2, 1),
            Standing::Failed {
                seen: 2,
                correct: 1
            }
        );
    }
}
