//! Taking an answer (a task run) and completing tasks.
//!
//! One transaction inserts the answer and bumps the task's answer count only while the task
//! still needs answers; the answer that brings the count to `n_answers` completes the task and
//! creates its one result. The unique indexes on task runs enforce one answer per volunteer per
//! task; the conditional update enforces exactly `n_answers` answers, however many volunteers
//! answer at once.

use std::time::Duration;

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, DbErr,
    EntityTrait, FromQueryResult, IntoActiveModel, NotSet, QueryFilter, QuerySelect, Statement,
    sea_query::{Expr, ExprTrait},
};
use serde_json::Value as Json;

use crate::domain::{
    platform::cache,
    platform::stats,
    platform::webhooks,
    volunteer::LoopState,
    volunteer::batch,
    volunteer::completion,
    volunteer::identity::Volunteer,
    volunteer::quality::{Aggregation, Quality},
    volunteer::refit,
    volunteer::scheduler::{Scheduler, cursor_key, stamp_key},
};
use crate::{
    error::{ApiError, ApiResult},
    ids::{ProjectId, TaskId},
    infra::Infra,
    store::{
        counters::{self, Delta},
        entities::{project, task, task::TaskState, task_run},
        jobs::{self, NewJob},
        now,
    },
};

pub struct NewAnswer {
    pub project_id: ProjectId,
    pub task_id: TaskId,
    pub info: Option<Json>,
    pub media_url: Option<String>,
}

/// The task an answer is for, and the project it is said to belong to. The answer's
/// transaction only counts it for a task of that project, so the caller need not read the task
/// first.
#[derive(Debug, Clone, Copy)]
pub struct TaskRef {
    pub id: TaskId,
    pub project_id: ProjectId,
}

fn first_request() -> ApiError {
    ApiError::forbidden("You must request a task first!")
}

/// How long a retried POST with the same `Idempotency-Key` gets the first answer back.
const IDEMPOTENCY_TTL: Duration = Duration::from_secs(24 * 3600);

/// The longest `Idempotency-Key` taken.
pub const IDEMPOTENCY_KEY_MAX: usize = 255;

/// Where a volunteer's key is recorded: bound to the volunteer (and hashed, so its length does
/// not matter to the store).
fn idempotency_key(volunteer: &Volunteer, key: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(key.as_bytes());
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("idem:{}:{hex}", volunteer.key)
}

/// What a key was used for: the task and a hash of the answer, beside the answer taken.
fn request_mark(task: TaskRef, answer: &NewAnswer) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(task.project_id.0.to_le_bytes());
    h.update(task.id.0.to_le_bytes());
    h.update(serde_json::to_vec(&answer.info).unwrap_or_default());
    h.update(answer.media_url.as_deref().unwrap_or("").as_bytes());
    let digest = h.finalize();
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("{}:{hex}", task.id)
}

fn key_reused() -> ApiError {
    ApiError::Unprocessable(
        "This Idempotency-Key was already used for another request; use a new key for a new answer"
            .into(),
    )
}

async fn existing_answer(
    db: &impl ConnectionTrait,
    task_id: TaskId,
    v: &Volunteer,
) -> ApiResult<Option<task_run::Model>> {
    Ok(task_run::Entity::find()
        .filter(task_run::Column::TaskId.eq(task_id))
        .filter(v.answered_by())
        .one(db)
        .await?)
}

/// Why an answer was not taken, in PYBOSSA's order: no such task, a task of another project;
/// with an idempotency key, the answer already taken; then, if the answer got as far as being
/// `counted`, a second answer by this volunteer (403) or a task with all its answers (409),
/// else a task never handed out. Its callers box it, so that the answers taken do not carry its
/// future.
async fn refusal(
    state: &Infra,
    task: TaskRef,
    volunteer: &Volunteer,
    idempotency: Option<&str>,
    counted: bool,
) -> ApiResult<task_run::Model> {
    let found = task::Entity::find_by_id(task.id.0)
        .select_only()
        .column(task::Column::ProjectId)
        .into_tuple::<i32>()
        .one(&state.db)
        .await?;
    match found {
        None => return Err(ApiError::forbidden("Invalid task_id")),
        Some(p) if p != task.project_id.0 => return Err(ApiError::forbidden("Invalid project_id")),
        Some(_) => {}
    }
    match existing_answer(&state.db, task.id, volunteer).await? {
        Some(run) if idempotency.is_some() => Ok(run),
        _ if !counted => Err(first_request()),
        Some(_) => Err(ApiError::Forbidden(None)),
        None => Err(ApiError::Conflict(
            "This task already has all the answers it needs".into(),
        )),
    }
}

/// What an answer's statement counted.
struct Counted {
    run: task_run::Model,
    /// The task after the answer; `completed` when this answer was its last.
    task: task::Model,
    /// The volunteer's first answer in the project.
    newcomer: bool,
    /// The project's webhook URL as committed (the cached project row may be a second old).
    webhook: Option<Option<String>>,
}

pub async fn submit(
    state: &Infra,
    lp: &LoopState,
    project: &project::Model,
    task: TaskRef,
    volunteer: &Volunteer,
    answer: NewAnswer,
    idempotency: Option<&str>,
) -> ApiResult<Submitted> {
    if task.project_id != answer.project_id {
        return Err(ApiError::forbidden("Invalid project_id"));
    }
    if volunteer.is_anonymous() && !project.allow_anonymous_contributors {
        return Err(ApiError::Unauthorized(Some(
            "This project does not allow anonymous contributors".into(),
        )));
    }
    // A retry of an answer already taken gets that answer back; the same key for another task
    // or another answer is refused.
    let mark = request_mark(task, &answer);
    if let Some(key) = idempotency
        && let Ok(Some(seen)) = state.kv.get(&idempotency_key(volunteer, key)).await
    {
        let (id, seen_mark) = seen.split_once('/').unwrap_or((seen.as_str(), ""));
        if seen_mark != mark {
            return Err(key_reused());
        }
        let run =
            Box::pin(task_run::Entity::find_by_id(id.parse::<i32>().unwrap_or(-1)).one(&state.db))
                .await?;
        if let Some(run) = run.filter(|r| r.task_id == task.id.0) {
            return Ok(Submitted::plain(run));
        }
    }
    // The stamp as this instance set it, or as the store has it.
    let stamp = match lp
        .volunteers
        .stamp(&cursor_key(task.project_id, &volunteer.key), task.id)
    {
        Some(at) => Ok(Some(at)),
        None => state.kv.get(&stamp_key(task.id, &volunteer.key)).await,
    };
    let requested = match stamp {
        Ok(Some(at)) => at,
        Ok(None) => {
            return Box::pin(refusal(state, task, volunteer, idempotency, false))
                .await
                .map(Submitted::plain);
        }
        // The store is down: take the answer, dated now (the database still guards it).
        Err(_) => now(),
    };
    if Scheduler::of(project) == Scheduler::Locked && !state.kv.holds(task.id, &volunteer.key).await
    {
        return Box::pin(refusal(state, task, volunteer, idempotency, false))
            .await
            .map(Submitted::plain);
    }

    let finished = now();
    let shard = counters::random_shard();
    let hour = chrono::Utc::now().timestamp() / 3600;
    let row = task_run::Model {
        id: 0,
        created: requested,
        project_id: task.project_id.0,
        task_id: task.id.0,
        user_id: volunteer.user_id.map(|u| u.0),
        user_ip: volunteer.user_ip.clone(),
        finish_time: finished,
        timeout: None,
        calibration: None,
        external_uid: volunteer.external_uid.clone(),
        media_url: answer.media_url,
        info: answer.info,
        gold_correct: None,
    };
    let answer_ms = stats::answer_ms(&row.created, &row.finish_time);
    let quality = Quality::of(project.info.as_ref()).unwrap_or_default();
    // The batch forms plain majorities of every answer without reading the volunteers; any
    // other project's answers take its settings along.
    let judged = lp.batcher.is_some()
        && (quality.aggregation != Aggregation::Majority
            || quality.retire.is_some()
            || Box::pin(excluding(state, lp, ProjectId(project.id))).await?);
    let ctx = Recording {
        infra: state,
        batcher: lp.batcher.as_ref(),
        quality: &quality,
        batch_quality: judged.then(|| std::sync::Arc::new(quality.clone())),
        project,
        volunteer,
        shard,
        hour,
        answer_ms,
    };
    let gold_first = lp.gold_tasks.gold_answer(task.id);
    let taken = match Box::pin(take_either(&ctx, row, gold_first)).await {
        Ok(Some(taken)) => taken,
        Ok(None) => {
            state.kv.release(task.id, &volunteer.key).await;
            return Box::pin(refusal(state, task, volunteer, idempotency, true))
                .await
                .map(Submitted::plain);
        }
        // One answer per volunteer per task (the unique indexes).
        Err(ApiError::Integrity(_)) => {
            return Box::pin(refusal(state, task, volunteer, idempotency, true))
                .await
                .map(Submitted::plain);
        }
        Err(e) => return Err(e),
    };
    let (
        Taken {
            run,
            completed,
            events,
            fresh,
            batched,
        },
        feedback,
    ) = taken;
    state.metrics.answers.inc();
    state
        .metrics
        .answers_written
        .get_or_create(&crate::metrics::AnswerLabels {
            path: if batched { "batch" } else { "single" }.into(),
            completes: completed.to_string(),
        })
        .inc();
    if events > 0 {
        state.jobs_wake.notify_one();
    }
    lp.volunteers
        .answered(&cursor_key(task.project_id, &volunteer.key), task.id);
    if (completed || feedback.is_some() || run.gold_correct.is_some())
        && completion::wants_refit(&quality)
    {
        Box::pin(refit_soon(state, lp, ProjectId(project.id))).await;
    }
    if completed {
        state.metrics.tasks_completed.inc();
        lp.full_tasks.completed(task.project_id, task.id);
        let project = fresh.as_ref().unwrap_or(project);
        if let Err(e) = Box::pin(webhooks::after_completion(state, project)).await {
            tracing::warn!(project = project.id, error = %e, "project completion check failed");
        }
    }

    // A batch marked its answers in the store already, all in one round trip.
    if !batched {
        state
            .kv
            .answered(
                &[(task.id, &volunteer.key)],
                &cache::keys_for_project(ProjectId(project.id)),
            )
            .await;
    }
    if let Some(key) = idempotency {
        state
            .kv
            .set(
                &idempotency_key(volunteer, key),
                &format!("{}/{mark}", run.id),
                IDEMPOTENCY_TTL,
            )
            .await;
    }
    Ok(Submitted {
        run,
        gold: feedback,
    })
}

/// Records an answer to an ordinary task or to a gold task (which the ordinary statements leave
/// alone), trying gold first when the task was handed out as gold; with the verdict for a gold
/// task's feedback.
async fn take_either(
    ctx: &Recording<'_>,
    row: task_run::Model,
    gold_first: Option<Json>,
) -> ApiResult<Option<(Taken, Option<Json>)>> {
    if let Some(expected) = gold_first {
        // Judged against the gold answer handed out with it: the statements take the answer
        // only while that is still the task's.
        let correct = ctx
            .quality
            .matches(&expected, row.info.as_ref().unwrap_or(&Json::Null));
        let judged = Judged {
            expected: &expected,
            correct,
        };
        if let Some(taken) = Box::pin(take_judged_gold(ctx, &row, judged)).await? {
            return Ok(Some((
                taken,
                gold_feedback(ctx.quality, correct, &expected),
            )));
        }
        if let Some(taken) = Box::pin(take_gold(ctx, row.clone())).await? {
            return Ok(Some(taken));
        }
        return Ok(Box::pin(take(ctx, row)).await?.map(|t| (t, None)));
    }
    if let Some(taken) = Box::pin(take(ctx, row.clone())).await? {
        return Ok(Some((taken, None)));
    }
    Box::pin(take_gold(ctx, row)).await
}

/// An answer taken, and for a gold task in a project with `feedback`, the verdict:
/// `{"correct": bool, "answer": <gold_answers>}`.
pub struct Submitted {
    pub run: task_run::Model,
    pub gold: Option<Json>,
}

impl Submitted {
    fn plain(run: task_run::Model) -> Self {
        Submitted { run, gold: None }
    }
}

/// An answer to a gold task, in a transaction of its own on either database: the answer with
/// its verdict, the task's count (it never completes), the project's counter shard, the
/// volunteer's rows with their gold counts, and the answer's webhook events. `None` when the
/// task is no ongoing gold task of the project.
async fn take_gold(
    ctx: &Recording<'_>,
    row: task_run::Model,
) -> ApiResult<Option<(Taken, Option<Json>)>> {
    let txn = crate::store::begin_write(&ctx.infra.db).await?;
    // Counted first, on the condition: the row stays locked as gold until the commit, so an
    // owner's change of its calibration waits for this answer, or this answer for it.
    let counted = Box::pin(
        task::Entity::update_many()
            .col_expr(
                task::Column::NTaskRuns,
                Expr::col(task::Column::NTaskRuns).add(1),
            )
            .filter(task::Column::Id.eq(row.task_id))
            .filter(task::Column::ProjectId.eq(row.project_id))
            .filter(task::Column::Calibration.eq(1))
            .filter(task::Column::State.eq(TaskState::Ongoing))
            .exec_with_returning(&txn),
    )
    .await?;
    let Some(gold) = counted.into_iter().next() else {
        txn.rollback().await.ok();
        return Ok(None);
    };
    let quality = ctx.quality;
    let expected = gold.gold_answers.clone().unwrap_or(Json::Null);
    let correct = quality.matches(&expected, row.info.as_ref().unwrap_or(&Json::Null));

    let run = task_run::ActiveModel {
        id: NotSet,
        gold_correct: sea_orm::Set(Some(correct)),
        ..row.into_active_model()
    }
    .insert(&txn)
    .await?;
    let delta = Delta {
        task_runs: 1,
        answer_ms: ctx.answer_ms,
        ..Delta::default()
    };
    counters::add_to_shard(&txn, run.project_id, ctx.shard, delta).await?;
    let newcomer = Box::pin(stats::record_answer(
        &txn,
        run.project_id,
        ctx.shard,
        ctx.volunteer,
        &run.finish_time,
        false,
    ))
    .await?;
    if newcomer != Delta::default() {
        counters::add_to_shard(&txn, run.project_id, ctx.shard, newcomer).await?;
    }
    stats::record_gold(&txn, run.project_id, ctx.volunteer, correct).await?;
    let events = Box::pin(webhooks::on_answer(
        &txn,
        ctx.infra.config.webhook_attempts,
        ctx.project,
        webhooks::AnswerEvents {
            run: &run,
            completed: None,
        },
    ))
    .await?;
    txn.commit().await?;
    let feedback = gold_feedback(quality, correct, &expected);
    Ok(Some((
        Taken {
            run,
            completed: false,
            events,
            fresh: None,
            batched: false,
        },
        feedback,
    )))
}

/// What a volunteer is told of their answer to a gold task, in a project with `feedback`.
fn gold_feedback(quality: &Quality, correct: bool, expected: &Json) -> Option<Json> {
    quality
        .feedback
        .then(|| serde_json::json!({ "correct": correct, "answer": expected }))
}

/// Queues the project's refit after an answer that moves it (a result formed, a gold answer
/// judged), at most once per few seconds per instance: the job coalesces anyway, and queueing
/// it inside every answer's transaction made them all wait on its one dedupe key. An instance
/// that dies right here leaves the refit to the next such answer.
async fn refit_soon(infra: &Infra, lp: &LoopState, project: ProjectId) {
    if lp.refits.get(project).is_some() {
        return;
    }
    lp.refits.insert(project, true);
    match jobs::enqueue(&infra.db, NewJob::reaggregate(project)).await {
        Ok(_) => infra.jobs_wake.notify_one(),
        Err(e) => {
            lp.refits.remove(project);
            tracing::warn!(project = %project, error = %e, "queueing a refit failed");
        }
    }
}

/// Whether the project has excluded volunteers, as found in the last few seconds.
async fn excluding(infra: &Infra, lp: &LoopState, project: ProjectId) -> ApiResult<bool> {
    if let Some(known) = lp.excluding.get(project) {
        return Ok(known);
    }
    let found = refit::has_exclusions(&infra.read_db, project).await?;
    lp.excluding.insert(project, found);
    Ok(found)
}

/// What recording an answer needs besides the answer.
struct Recording<'a> {
    infra: &'a Infra,
    batcher: Option<&'a batch::Batcher>,
    /// The project's quality settings: with `retire`, the one-statement path (which only takes
    /// answers that cannot complete their task) is not taken.
    quality: &'a Quality,
    /// The settings the batch judges by, unless its results are plain majorities of every
    /// answer.
    batch_quality: Option<std::sync::Arc<Quality>>,
    project: &'a project::Model,
    volunteer: &'a Volunteer,
    shard: i32,
    hour: i64,
    answer_ms: i64,
}

/// An answer taken and committed.
struct Taken {
    run: task_run::Model,
    completed: bool,
    /// Webhook events queued with it.
    events: usize,
    /// The project with its webhook URL as committed, when that was read (the cached row may be
    /// a second old).
    fresh: Option<project::Model>,
    /// Written by a batch.
    batched: bool,
}

/// Records the answer and its effects, committed; `None` when its task takes no more answers
/// (or is not the project's).
async fn take(ctx: &Recording<'_>, row: task_run::Model) -> ApiResult<Option<Taken>> {
    let postgres = ctx.infra.backend() == DbBackend::Postgres;
    if let Some(batcher) = ctx.batcher {
        // Answers go in the next batch; the ones it leaves (a webhook's, a refused one) and a
        // batch that failed go on to [`take_alone`].
        if let Some(taken) = in_batch(ctx, batcher, row.clone(), None).await {
            return Ok(Some(taken));
        }
    }
    let fast = ctx.batcher.is_none() && ctx.quality.retire.is_none();
    Box::pin(take_alone(ctx, row, postgres, fast)).await
}

/// The answer in the next batch; `None` when the batch left it or failed.
async fn in_batch(
    ctx: &Recording<'_>,
    batcher: &batch::Batcher,
    run: task_run::Model,
    gold: Option<Judged<'_>>,
) -> Option<Taken> {
    let entry = batch::Entry {
        run,
        volunteer_key: ctx.volunteer.key.clone(),
        anonymous: ctx.volunteer.is_anonymous(),
        answer_ms: ctx.answer_ms,
        hour: ctx.hour,
        quality: ctx.batch_quality.clone(),
        gold: gold.map(|g| (g.expected.clone(), g.correct)),
    };
    match batcher.take(entry).await {
        Ok(Some(batch::Batched { run, completed })) => Some(Taken {
            run,
            completed,
            events: 0,
            fresh: None,
            batched: true,
        }),
        _ => None,
    }
}

/// PostgreSQL: an answer to a gold task judged beforehand, in the next batch or else in one
/// statement; `None` when neither took it (its gold answer changed, a webhook's events).
async fn take_judged_gold(
    ctx: &Recording<'_>,
    row: &task_run::Model,
    judged: Judged<'_>,
) -> ApiResult<Option<Taken>> {
    if ctx.infra.backend() != DbBackend::Postgres {
        return Ok(None);
    }
    if let Some(batcher) = ctx.batcher
        && let Some(taken) = in_batch(ctx, batcher, row.clone(), Some(judged)).await
    {
        return Ok(Some(taken));
    }
    Box::pin(alone_in_one_statement(ctx, row, Some(judged))).await
}

/// [`take`] without a batch: in one statement when `fast` and the answer allows, else in a
/// transaction of its own.
async fn take_alone(
    ctx: &Recording<'_>,
    row: task_run::Model,
    postgres: bool,
    fast: bool,
) -> ApiResult<Option<Taken>> {
    if fast
        && postgres
        && let Some(taken) = Box::pin(alone_in_one_statement(ctx, &row, None)).await?
    {
        return Ok(Some(taken));
    }
    let txn = crate::store::begin_write(&ctx.infra.db).await?;
    let counted = if postgres {
        count_in_one_statement(&txn, ctx, &row, false, None).await
    } else {
        Box::pin(count_step_by_step(&txn, ctx, row)).await
    };
    let counted = match counted {
        Ok(Some(counted)) => counted,
        Ok(None) => {
            txn.rollback().await.ok();
            return Ok(None);
        }
        Err(e) => {
            txn.rollback().await.ok();
            return Err(e.into());
        }
    };
    let Counted {
        run,
        task: current,
        newcomer,
        webhook,
    } = counted;
    if newcomer {
        counters::add_to_shard(
            &txn,
            ctx.project.id,
            ctx.shard,
            completion::first_answer_delta(ctx.volunteer.is_anonymous()),
        )
        .await?;
    }
    let mut current = current;
    let result = if current.state == TaskState::Completed {
        Some(completion::create_result(&txn, &current, ctx.quality).await?)
    } else {
        let retired = Box::pin(completion::retire_if_sure(
            &txn,
            &current,
            ctx.quality,
            ctx.shard,
        ))
        .await?;
        if retired.is_some() {
            current.state = TaskState::Completed;
        }
        retired
    };
    let completed = result.is_some();
    let fresh = webhook.map(|url| project::Model {
        webhook: url,
        ..ctx.project.clone()
    });
    let events = Box::pin(webhooks::on_answer(
        &txn,
        ctx.infra.config.webhook_attempts,
        fresh.as_ref().unwrap_or(ctx.project),
        webhooks::AnswerEvents {
            run: &run,
            completed: result.as_ref().map(|r| (&current, r)),
        },
    ))
    .await?;
    txn.commit().await?;
    Ok(Some(Taken {
        run,
        completed,
        events,
        fresh,
        batched: false,
    }))
}

/// PostgreSQL: the answer in one statement that is its whole transaction, when it neither
/// completes its task, nor is its volunteer's first in the project, nor fires webhooks (most
/// answers); `None` otherwise.
async fn alone_in_one_statement(
    ctx: &Recording<'_>,
    row: &task_run::Model,
    gold: Option<Judged<'_>>,
) -> ApiResult<Option<Taken>> {
    let Some(c) = count_in_one_statement(&ctx.infra.db, ctx, row, true, gold).await? else {
        return Ok(None);
    };
    if c.newcomer {
        // The volunteer's row was there when the statement began and gone (a recount) when it
        // wrote: count them now rather than not at all.
        counters::add_to_shard(
            &ctx.infra.db,
            ctx.project.id,
            ctx.shard,
            completion::first_answer_delta(ctx.volunteer.is_anonymous()),
        )
        .await?;
    }
    Ok(Some(Taken {
        run: c.run,
        completed: false,
        events: 0,
        fresh: None,
        batched: false,
    }))
}

/// PostgreSQL: the answer, its count on the task (only while the task still needs one; the
/// answer that fills it completes it), the project's counter shard, the volunteer's row and the
/// hour's activity row, in one statement — one round trip instead of six. The shard is an upsert
/// so that a project missing it (made by an older instance during a deploy) cannot leave the
/// statement with the answer written and nothing returned. Each step reads the
/// one before, which fixes the order rows are locked in (task, counter, statistics), the same
/// as [`count_step_by_step`] and the recount. `None` when the task takes no more answers.
///
/// With `$16` (fast) it only takes an answer that does not complete its task, from a
/// volunteer already counted in the project, for a project without a webhook: one that needs
/// nothing else in its transaction, so it can run on its own.
///
/// With `$17` it takes an answer to a gold task instead, judged beforehand (`$19`) against the
/// gold answer `$18`, which must still be the task's: no cap, no completion, and the
/// volunteer's gold counts besides.
const ANSWER_SQL: &str = r#"
WITH counted AS (
    UPDATE task
    SET n_task_runs = n_task_runs + 1,
        state = CASE WHEN NOT $17 AND n_task_runs + 1 >= n_answers THEN 'completed'
                     ELSE state END
    WHERE id = $1 AND project_id = $2 AND state = 'ongoing'
      AND CASE WHEN $17 THEN calibration = 1 AND gold_answers = $18
               ELSE calibration = 0 AND n_task_runs < n_answers END
      AND (NOT $16 OR (($17 OR n_task_runs + 1 < n_answers)
        AND EXISTS (SELECT 1 FROM project_volunteer
                    WHERE project_id = $2 AND volunteer = $12)
        AND NOT EXISTS (SELECT 1 FROM project
                        WHERE id = $2 AND btrim(COALESCE(webhook, '')) <> '')))
    RETURNING id, created, project_id, state, quorum, calibration, priority_0, info, n_answers,
              fav_user_ids, n_task_runs
), run AS (
    INSERT INTO task_run (created, project_id, task_id, user_id, user_ip, finish_time,
                          external_uid, media_url, info, gold_correct)
    SELECT $3, project_id, id, $4, $5, $6, $7, $8, $9, $19 FROM counted
    RETURNING id, created, project_id, task_id, user_id, user_ip, finish_time, timeout,
              calibration, external_uid, media_url, info, gold_correct
), counter AS (
    INSERT INTO project_counter AS pc (project_id, shard, n_task_runs, answer_ms,
                                       n_completed_tasks, n_results)
    SELECT $2, $11, 1, $10, c.done, c.done
    FROM (SELECT CASE WHEN counted.state = 'completed' THEN 1 ELSE 0 END AS done
          FROM counted, run) c
    ON CONFLICT (project_id, shard)
    DO UPDATE SET n_task_runs = pc.n_task_runs + 1,
                  answer_ms = pc.answer_ms + EXCLUDED.answer_ms,
                  n_completed_tasks = pc.n_completed_tasks + EXCLUDED.n_completed_tasks,
                  n_results = pc.n_results + EXCLUDED.n_results
    RETURNING 1
), volunteer AS (
    INSERT INTO project_volunteer AS v (project_id, volunteer, user_id, anonymous, n_answers,
                                        first_answer, last_answer, gold_seen, gold_correct)
    SELECT $2, $12, $4, $13, 1, $6, $6, CASE WHEN $17 THEN 1 ELSE 0 END,
           CASE WHEN $19 THEN 1 ELSE 0 END
    FROM counter
    ON CONFLICT (project_id, volunteer)
    DO UPDATE SET n_answers = v.n_answers + 1, last_answer = EXCLUDED.last_answer,
                  gold_seen = v.gold_seen + EXCLUDED.gold_seen,
                  gold_correct = v.gold_correct + EXCLUDED.gold_correct
    RETURNING (xmax = 0) AS newcomer
), activity AS (
    INSERT INTO project_activity AS a (project_id, hour, shard, n_answers, n_anon, n_completed)
    SELECT $2, $14, $11, 1, $15, CASE WHEN counted.state = 'completed' THEN 1 ELSE 0 END
    FROM counted, counter, volunteer
    ON CONFLICT (project_id, hour, shard)
    DO UPDATE SET n_answers = a.n_answers + 1, n_anon = a.n_anon + EXCLUDED.n_anon,
                  n_completed = a.n_completed + EXCLUDED.n_completed
    RETURNING 1
)
SELECT counted.id AS t_id, counted.created AS t_created, counted.project_id AS t_project_id,
       counted.state AS t_state, counted.quorum AS t_quorum, counted.calibration AS t_calibration,
       counted.priority_0 AS t_priority_0, counted.info AS t_info,
       counted.n_answers AS t_n_answers, counted.fav_user_ids AS t_fav_user_ids,
       counted.n_task_runs AS t_n_task_runs,
       run.id AS r_id, run.created AS r_created, run.project_id AS r_project_id,
       run.task_id AS r_task_id, run.user_id AS r_user_id, run.user_ip AS r_user_ip,
       run.finish_time AS r_finish_time, run.timeout AS r_timeout,
       run.calibration AS r_calibration, run.external_uid AS r_external_uid,
       run.media_url AS r_media_url, run.info AS r_info, run.gold_correct AS r_gold_correct,
       volunteer.newcomer,
       (SELECT webhook FROM project WHERE project.id = $2) AS webhook
FROM counted, run, volunteer, activity
"#;

/// A gold task's answer as judged before it is written: the gold answer it was judged
/// against, and whether it matched.
#[derive(Clone, Copy)]
struct Judged<'a> {
    expected: &'a Json,
    correct: bool,
}

async fn count_in_one_statement(
    db: &impl ConnectionTrait,
    ctx: &Recording<'_>,
    run: &task_run::Model,
    fast: bool,
    gold: Option<Judged<'_>>,
) -> Result<Option<Counted>, DbErr> {
    let v = ctx.volunteer;
    let values: [sea_orm::Value; 19] = [
        run.task_id.into(),
        run.project_id.into(),
        run.created.clone().into(),
        run.user_id.into(),
        run.user_ip.clone().into(),
        run.finish_time.clone().into(),
        run.external_uid.clone().into(),
        run.media_url.clone().into(),
        run.info.clone().into(),
        ctx.answer_ms.into(),
        ctx.shard.into(),
        v.key.clone().into(),
        v.is_anonymous().into(),
        ctx.hour.into(),
        i64::from(v.is_anonymous()).into(),
        fast.into(),
        gold.is_some().into(),
        gold.map(|g| g.expected.clone()).into(),
        gold.map(|g| g.correct).into(),
    ];
    let stmt = Statement::from_sql_and_values(DbBackend::Postgres, ANSWER_SQL, values);
    let Some(row) = db.query_one_raw(stmt).await? else {
        return Ok(None);
    };
    Ok(Some(Counted {
        run: task_run::Model::from_query_result(&row, "r_")?,
        task: task::Model::from_query_result(&row, "t_")?,
        newcomer: row.try_get("", "newcomer")?,
        webhook: Some(row.try_get("", "webhook")?),
    }))
}

/// SQLite (in process, so round trips are cheap): the same steps as [`ANSWER_SQL`], one by
/// one, in the same order.
async fn count_step_by_step(
    txn: &DatabaseTransaction,
    ctx: &Recording<'_>,
    run: task_run::Model,
) -> Result<Option<Counted>, DbErr> {
    let counted = Box::pin(
        task::Entity::update_many()
            .col_expr(
                task::Column::NTaskRuns,
                Expr::col(task::Column::NTaskRuns).add(1),
            )
            .filter(task::Column::Id.eq(run.task_id))
            .filter(task::Column::ProjectId.eq(run.project_id))
            .filter(task::Column::State.eq(TaskState::Ongoing))
            .filter(Expr::col(task::Column::NTaskRuns).lt(Expr::col(task::Column::NAnswers)))
            .filter(task::Column::Calibration.eq(0))
            .exec_with_returning(txn),
    )
    .await?;
    let Some(mut current) = counted.into_iter().next() else {
        return Ok(None);
    };
    let run = task_run::ActiveModel {
        id: NotSet,
        ..run.into_active_model()
    }
    .insert(txn)
    .await?;
    let completed = current.n_task_runs >= current.n_answers;
    if completed {
        task::Entity::update_many()
            .col_expr(task::Column::State, Expr::value(TaskState::Completed))
            .filter(task::Column::Id.eq(current.id))
            .exec(txn)
            .await?;
        current.state = TaskState::Completed;
    }
    let done = i64::from(completed);
    let delta = Delta {
        task_runs: 1,
        answer_ms: ctx.answer_ms,
        completed_tasks: done,
        results: done,
        ..Delta::default()
    };
    counters::add_to_shard(txn, run.project_id, ctx.shard, delta).await?;
    let newcomer = Box::pin(stats::record_answer(
        txn,
        run.project_id,
        ctx.shard,
        ctx.volunteer,
        &run.finish_time,
        completed,
    ))
    .await?;
    Ok(Some(Counted {
        run,
        task: current,
        newcomer: newcomer != Delta::default(),
        webhook: None,
    }))
}

/// `{done, total, remaining}` for a volunteer in a project.
pub async fn progress(
    state: &Infra,
    project: &project::Model,
    v: &Volunteer,
) -> ApiResult<(u64, u64)> {
    use sea_orm::PaginatorTrait;
    // Answers to gold tasks are not part of the work: neither in `done` nor in `total`.
    let done = task_run::Entity::find()
        .filter(task_run::Column::ProjectId.eq(project.id))
        .filter(v.answered_by())
        .filter(task_run::Column::GoldCorrect.is_null())
        .count(&state.read_db)
        .await?;
    let total = counters::totals(&state.read_db, ProjectId(project.id))
        .await?
        .n_tasks;
    let total = u64::try_from(total).unwrap_or(0);
    Ok((done, total))
}
