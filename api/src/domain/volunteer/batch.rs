//! Group commit of answers (PostgreSQL). Most of what an answer costs the database is fixed per
//! statement and per commit, not per row, and a task's answers arrive together: answers that
//! queue while a batch is being written go together in the next one, one transaction (the gain
//! is in BENCHMARKS.md).
//! The transaction is the batch statement, then, only when the batch needs them, one statement
//! that reads the answers of the tasks it completed and one that writes their results, and one
//! that counts the volunteers it saw first. Answers for a project with a webhook (their events
//! go in the answer's transaction) — and every answer of a batch that fails as a whole — go the
//! usual way (see `answers::take_alone`).

use std::{
    collections::{BTreeMap, BTreeSet, HashMap, HashSet},
    sync::Arc,
};

use prometheus_client::metrics::{counter::Counter, family::Family};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, EntityTrait,
    FromQueryResult, SqlErr, Statement,
};
use serde_json::{Value as Json, json};
use tokio::sync::{mpsc, oneshot};

use crate::{
    domain::volunteer::{completion, consensus::Judge, quality::Quality},
    ids::{ProjectId, TaskId},
    kv::Kv,
    metrics::OutcomeLabels,
    store::{
        counters::{self, Delta},
        entities::{result, task_run},
    },
};

/// Answers written by one statement at most.
const MAX_BATCH: usize = 64;

/// One answer for the batch, as the single-answer statement takes it.
pub struct Entry {
    pub run: task_run::Model,
    pub volunteer_key: String,
    pub anonymous: bool,
    pub answer_ms: i64,
    pub hour: i64,
    /// The project's quality settings, when its results are more than a plain majority of
    /// every answer (another aggregation, excluded volunteers, early finish).
    pub quality: Option<Arc<Quality>>,
    /// For an answer to a gold task: the gold answer it was judged against (the batch takes it
    /// only while that is still the task's) and whether it matched.
    pub gold: Option<(Json, bool)>,
}

/// An answer a batch took and committed.
pub struct Batched {
    pub run: task_run::Model,
    /// It was its task's last: the task is completed and has its result.
    pub completed: bool,
}

/// Why a batch took nothing: its writer is gone, or the batch failed as a whole (nothing of it
/// was written). Either way the answer goes the usual way.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    #[error("the batch writer is gone")]
    WriterGone,
    #[error("the batch failed: {0}")]
    Failed(String),
}

/// `Ok(Some(_))` taken and committed; `Ok(None)` left for the usual way.
pub type Outcome = Result<Option<Batched>, BatchError>;

struct Pending {
    entry: Entry,
    reply: oneshot::Sender<Outcome>,
}

/// Writers that each take the answers for their share of the tasks: a task's answers always
/// meet in one writer, so two batches in flight never wait for each other's row locks on the
/// task rows they would both have.
pub struct Batcher {
    writers: Vec<mpsc::Sender<Pending>>,
}

impl Batcher {
    /// Starts `writers` writers on `db`; `counted` counts batches by outcome.
    pub fn start(
        db: DatabaseConnection,
        kv: Kv,
        writers: usize,
        counted: Family<OutcomeLabels, Counter>,
    ) -> Self {
        let writers = (0..writers.max(1))
            .map(|_| {
                let (tx, mut rx) = mpsc::channel::<Pending>(4 * MAX_BATCH);
                let (db, kv, counted) = (db.clone(), kv.clone(), counted.clone());
                tokio::spawn(async move {
                    let mut batch = Vec::with_capacity(MAX_BATCH);
                    while let Some(first) = rx.recv().await {
                        batch.push(first);
                        while batch.len() < MAX_BATCH {
                            match rx.try_recv() {
                                Ok(p) => batch.push(p),
                                Err(_) => break,
                            }
                        }
                        let outcome = if Box::pin(write(&db, &kv, &mut batch)).await {
                            "written"
                        } else {
                            "failed"
                        };
                        counted
                            .get_or_create(&OutcomeLabels {
                                outcome: outcome.into(),
                            })
                            .inc();
                    }
                });
                tx
            })
            .collect();
        Self { writers }
    }

    /// Queues an answer with its task's writer and waits for its batch.
    pub async fn take(&self, entry: Entry) -> Outcome {
        let n = i64::try_from(self.writers.len()).unwrap_or(1);
        let writer = usize::try_from(i64::from(entry.run.task_id).rem_euclid(n)).unwrap_or(0);
        let (reply, rx) = oneshot::channel();
        self.writers
            .get(writer)
            .ok_or(BatchError::WriterGone)?
            .send(Pending { entry, reply })
            .await
            .map_err(|_| BatchError::WriterGone)?;
        rx.await.map_err(|_| BatchError::WriterGone)?
    }
}

/// Writes the batch, marks its answers in the store and answers its requests; false when it
/// failed as a whole.
async fn write(db: &DatabaseConnection, kv: &Kv, batch: &mut Vec<Pending>) -> bool {
    let input: Vec<Json> = batch
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let e = &p.entry;
            json!({
                "idx": i, "task_id": e.run.task_id, "project_id": e.run.project_id,
                "created": e.run.created, "user_id": e.run.user_id, "user_ip": e.run.user_ip,
                "finish_time": e.run.finish_time, "external_uid": e.run.external_uid,
                "media_url": e.run.media_url, "info": e.run.info, "answer_ms": e.answer_ms,
                "vkey": e.volunteer_key, "anon": e.anonymous, "hour": e.hour,
                "gold": e.gold.is_some(), "expected": e.gold.as_ref().map(|g| &g.0),
                "correct": e.gold.as_ref().map(|g| g.1),
            })
        })
        .collect();
    let shard = counters::random_shard();
    let stmt = Statement::from_sql_and_values(
        DbBackend::Postgres,
        BATCH_SQL,
        [Json::Array(input).into(), shard.into()],
    );
    let mut written = Box::pin(in_transaction(db, &stmt, batch, shard)).await;
    if let Err(e) = &written
        && matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
    {
        // An answer its volunteer gave after the statement's snapshot (a retry, a double click):
        // once more, with a snapshot that sees it and leaves it out.
        written = Box::pin(in_transaction(db, &stmt, batch, shard)).await;
    }
    let mut outcomes: Vec<Outcome> = batch.iter().map(|_| Ok(None)).collect();
    let ok = written.is_ok();
    match written {
        Ok(taken) => {
            mark_answered(kv, batch, &taken).await;
            for (i, b) in taken {
                outcomes[i] = Ok(Some(b));
            }
        }
        Err(e) => {
            tracing::debug!(error = %e, size = batch.len(), "answer batch failed; answers go one by one");
            let why = e.to_string();
            outcomes
                .iter_mut()
                .for_each(|o| *o = Err(BatchError::Failed(why.clone())));
        }
    }
    tracing::debug!(
        size = batch.len(),
        taken = outcomes.iter().filter(|o| matches!(o, Ok(Some(_)))).count(),
        completed = outcomes
            .iter()
            .filter(|o| matches!(o, Ok(Some(b)) if b.completed))
            .count(),
        "answer batch"
    );
    for (p, outcome) in batch.drain(..).zip(outcomes) {
        p.reply.send(outcome).ok();
    }
    ok
}

/// Before the answers' requests hear back (so that their next `newtask` sees it), each taken
/// answer's hold becomes a mark and its stamp goes, with the cache entries the batch made stale:
/// one round trip for the batch rather than one per answer.
async fn mark_answered(kv: &Kv, batch: &[Pending], taken: &[(usize, Batched)]) {
    let answers: Vec<(TaskId, &str)> = taken
        .iter()
        .map(|(i, b)| {
            (
                TaskId(b.run.task_id),
                batch[*i].entry.volunteer_key.as_str(),
            )
        })
        .collect();
    let projects: BTreeSet<ProjectId> = taken
        .iter()
        .map(|(_, b)| ProjectId(b.run.project_id))
        .collect();
    let stale: BTreeSet<String> = projects
        .into_iter()
        .flat_map(crate::domain::platform::cache::keys_for_project)
        .collect();
    kv.answered(&answers, &stale.into_iter().collect::<Vec<_>>())
        .await;
}

/// The batch in one transaction: all of it or nothing.
async fn in_transaction(
    db: &DatabaseConnection,
    stmt: &Statement,
    batch: &[Pending],
    shard: i32,
) -> Result<Vec<(usize, Batched)>, DbErr> {
    let txn = crate::store::begin_write(db).await?;
    match Box::pin(record(&txn, stmt, batch, shard)).await {
        Ok(taken) => {
            txn.commit().await?;
            Ok(taken)
        }
        Err(e) => {
            txn.rollback().await.ok();
            Err(e)
        }
    }
}

/// The batch statement, then the volunteers it saw first, and the tasks it completed or that
/// may retire (see [`settle`]); the answers taken, by their place in the batch.
async fn record(
    txn: &DatabaseTransaction,
    stmt: &Statement,
    batch: &[Pending],
    shard: i32,
) -> Result<Vec<(usize, Batched)>, DbErr> {
    let rows = txn.query_all_raw(stmt.clone()).await?;
    let mut taken = Vec::with_capacity(rows.len());
    let mut newcomers = HashSet::new();
    let mut first_answers: BTreeMap<i32, Delta> = BTreeMap::new();
    let mut touched: BTreeMap<i32, Touched> = BTreeMap::new();
    for row in rows {
        let idx: i32 = row.try_get("", "idx")?;
        let i = usize::try_from(idx)
            .ok()
            .filter(|i| *i < batch.len())
            .ok_or_else(|| DbErr::Custom(format!("answer batch returned answer {idx}")))?;
        let run = task_run::Model::from_query_result(&row, "")?;
        let entry = &batch[i].entry;
        if row.try_get::<bool>("", "newcomer")?
            && newcomers.insert((run.project_id, entry.volunteer_key.as_str()))
        {
            let d = first_answers.entry(run.project_id).or_default();
            let first = completion::first_answer_delta(entry.anonymous);
            d.volunteers_auth += first.volunteers_auth;
            d.volunteers_anon += first.volunteers_anon;
        }
        let completes: bool = row.try_get("", "completes")?;
        let task_runs: i32 = row.try_get("", "task_runs")?;
        // A gold task never completes nor retires.
        let may_retire = entry.gold.is_none()
            && entry
                .quality
                .as_ref()
                .and_then(|q| q.retire)
                .is_some_and(|r| i64::from(task_runs) >= i64::from(r.min_answers));
        if completes || may_retire {
            let t = touched.entry(run.task_id).or_insert_with(|| Touched {
                project_id: run.project_id,
                quality: entry.quality.clone(),
                completed: false,
                last: taken.len(),
            });
            t.completed |= completes;
            t.last = taken.len();
        }
        taken.push((
            i,
            Batched {
                run,
                completed: completes,
            },
        ));
    }
    // On the shard the statement locked already.
    for (project_id, delta) in first_answers {
        counters::add_to_shard(txn, project_id, shard, delta).await?;
    }
    if !touched.is_empty() {
        for task in Box::pin(settle(txn, &touched, shard)).await? {
            if let Some((_, b)) = touched.get(&task).and_then(|t| taken.get_mut(t.last)) {
                b.completed = true;
            }
        }
    }
    Ok(taken)
}

/// A task the batch completed, or whose answers may now be sure enough to retire it.
struct Touched {
    project_id: i32,
    /// Its project's settings (`None`: plain majority).
    quality: Option<Arc<Quality>>,
    /// Its batch answers filled it (`n_answers`).
    completed: bool,
    /// Where in the answers taken its last one is: the one that completes it.
    last: usize,
}

/// Forms the results of the tasks the batch completed and retires those others whose answers
/// are now sure enough (their aggregate is judged as the single-answer path judges it); the
/// tasks retired. Statements of their own, so that their snapshot sees every answer to these
/// tasks: all were written under the task's row lock, which the batch holds, so the ones other
/// transactions gave are committed by now.
async fn settle(
    txn: &DatabaseTransaction,
    touched: &BTreeMap<i32, Touched>,
    shard: i32,
) -> Result<Vec<i32>, DbErr> {
    let ids: Vec<i32> = touched.keys().copied().collect();
    let stmt = Statement::from_sql_and_values(DbBackend::Postgres, RUNS_SQL, [json!(ids).into()]);
    let runs = task_run::Entity::find().from_raw_sql(stmt).all(txn).await?;
    let mut judges: HashMap<i32, Judge> = HashMap::new();
    for t in touched.values() {
        if judges.contains_key(&t.project_id) {
            continue;
        }
        let judge = match &t.quality {
            None => Judge::plain(),
            Some(q) => {
                let keys = runs
                    .iter()
                    .filter(|r| r.project_id == t.project_id)
                    .map(completion::run_key)
                    .collect::<BTreeSet<_>>();
                completion::judge(txn, t.project_id, q, keys.into_iter().collect())
                    .await
                    .map_err(|e| DbErr::Custom(e.to_string()))?
            }
        };
        judges.insert(t.project_id, judge);
    }
    let mut results = Vec::new();
    let mut formed = Vec::new();
    let mut retired: Vec<i32> = Vec::new();
    for runs in runs.chunk_by(|a, b| a.task_id == b.task_id) {
        let task_id = runs[0].task_id;
        let Some(t) = touched.get(&task_id) else {
            continue;
        };
        let Some(judge) = judges.get(&t.project_id) else {
            continue;
        };
        let aggregate = if t.completed {
            completion::aggregate(runs, judge)
        } else {
            let retire = t.quality.as_ref().and_then(|q| q.retire);
            match retire.and_then(|r| completion::sure(runs, judge, r)) {
                Some(a) => {
                    retired.push(task_id);
                    Some(a)
                }
                None => continue,
            }
        };
        formed.push(task_id);
        results.push(completion::result_model(
            t.project_id,
            task_id,
            runs,
            aggregate,
        ));
    }
    let completed = touched.values().filter(|t| t.completed).count();
    let completed_formed = formed.len() - retired.len();
    if completed_formed != completed {
        return Err(DbErr::Custom(format!(
            "{completed} tasks completed, answers read for {completed_formed}"
        )));
    }
    if results.is_empty() {
        return Ok(vec![]);
    }
    let hour = chrono::Utc::now().timestamp() / 3600;
    let stmt = Statement::from_sql_and_values(
        DbBackend::Postgres,
        SETTLE_SQL,
        [
            json!(formed).into(),
            json!(retired).into(),
            shard.into(),
            hour.into(),
        ],
    );
    let done: i64 = txn
        .query_one_raw(stmt)
        .await?
        .ok_or_else(|| DbErr::Custom("retirement returned nothing".into()))?
        .try_get("", "retired")?;
    if done != i64::try_from(retired.len()).unwrap_or(i64::MAX) {
        return Err(DbErr::Custom(format!(
            "{} tasks to retire, {done} were open",
            retired.len()
        )));
    }
    Box::pin(result::Entity::insert_many(results).exec_without_returning(txn)).await?;
    Ok(retired)
}

/// The answers of the tasks the batch touched, in task then id order.
const RUNS_SQL: &str = r#"
SELECT id, created, project_id, task_id, user_id, user_ip, finish_time, timeout, calibration,
       external_uid, media_url, info, gold_correct
FROM task_run WHERE task_id = ANY(ARRAY(SELECT value::int FROM jsonb_array_elements_text($1)))
ORDER BY task_id, id
"#;

/// In one statement: a result the tasks getting one had (they were reopened) stops being the
/// last version (`$1`); the tasks retired early (`$2`) are completed, as their locks (held by the
/// batch) found them open, and counted on the batch's counter shard (`$3`) and hour (`$4`), rows
/// the batch statement locked already.
const SETTLE_SQL: &str = r#"
WITH superseded AS (
    UPDATE result SET last_version = false
    WHERE task_id = ANY(ARRAY(SELECT value::int FROM jsonb_array_elements_text($1)))
      AND last_version
), retired AS (
    UPDATE task SET state = 'completed'
    WHERE id = ANY(ARRAY(SELECT value::int FROM jsonb_array_elements_text($2)))
      AND state = 'ongoing'
    RETURNING project_id
), per_project AS (
    SELECT project_id, count(*) AS n FROM retired GROUP BY project_id
), counter AS (
    UPDATE project_counter pc
    SET n_completed_tasks = pc.n_completed_tasks + p.n, n_results = pc.n_results + p.n
    FROM per_project p
    WHERE pc.project_id = p.project_id AND pc.shard = $3
), activity AS (
    INSERT INTO project_activity AS a (project_id, hour, shard, n_answers, n_anon, n_completed)
    SELECT project_id, $4, $3, 0, 0, n FROM per_project
    ON CONFLICT (project_id, hour, shard)
    DO UPDATE SET n_completed = a.n_completed + EXCLUDED.n_completed
)
SELECT count(*) AS retired FROM retired
"#;

/// The single-answer statement (`answers`' `ANSWER_SQL`) for many answers. Tasks are locked in
/// id order first and each later step sums per row it touches (counter shard, volunteer, hour),
/// so two batches, or a batch and a single answer, lock rows in one order. Several answers to
/// one task go together up to the answers it still needs, counted against the task as locked;
/// the one that fills it completes it (`completes`). An answer that would collide with one its
/// volunteer already gave is left out rather than failing the batch (one given since the
/// statement's snapshot fails it: it is run again once). `newcomer`: the volunteer's first
/// answer in the project.
const BATCH_SQL: &str = r#"
WITH settings AS MATERIALIZED (
    -- A batch waits at most this long for a row lock (a recount holds a project's counter
    -- shards through long scans), then fails and its answers go one by one, instead of holding
    -- up every project's answers behind one. For this statement only: it is its own transaction.
    SELECT set_config('lock_timeout', '500ms', true) AS lock_timeout
), input AS (
    SELECT DISTINCT ON (task_id, vkey) i.*
    FROM settings,
         jsonb_to_recordset($1) AS i(idx int, task_id int, project_id int, created text,
                                     user_id int, user_ip text, finish_time text,
                                     external_uid text, media_url text, info jsonb,
                                     answer_ms bigint, vkey text, anon bool, hour bigint,
                                     gold bool, expected jsonb, correct bool)
    ORDER BY task_id, vkey, idx
), eligible AS (
    SELECT input.*,
           row_number() OVER (PARTITION BY input.task_id, input.gold ORDER BY input.idx) AS rn
    FROM input
    WHERE NOT EXISTS (SELECT 1 FROM project p
                      WHERE p.id = input.project_id AND btrim(COALESCE(p.webhook, '')) <> '')
      AND NOT EXISTS (SELECT 1 FROM task_run r
                      WHERE r.task_id = input.task_id
                        AND (r.user_id = input.user_id OR r.user_ip = input.user_ip
                             OR r.external_uid = input.external_uid))
), locked AS MATERIALIZED (
    SELECT task.id, task.project_id, task.n_task_runs, task.n_answers, task.calibration,
           task.gold_answers
    FROM task
    WHERE task.id IN (SELECT task_id FROM eligible) AND task.state = 'ongoing'
    ORDER BY task.id
    FOR UPDATE
), accepted AS (
    -- As counted once the task is locked: the answers it still needs; a gold task's, judged
    -- against the gold answer that is still its own, without a cap.
    SELECT e.*, NOT e.gold AND l.n_task_runs + e.rn = l.n_answers AS completes
    FROM eligible e JOIN locked l ON l.id = e.task_id AND l.project_id = e.project_id
    WHERE CASE WHEN e.gold THEN l.calibration = 1 AND l.gold_answers = e.expected
               ELSE l.calibration = 0 AND l.n_task_runs + e.rn <= l.n_answers END
), counted AS (
    UPDATE task SET n_task_runs = task.n_task_runs + a.k,
                    state = CASE WHEN a.done THEN 'completed' ELSE task.state END
    FROM (SELECT task_id, count(*) AS k, bool_or(completes) AS done
          FROM accepted GROUP BY task_id) a
    WHERE task.id = a.task_id
    RETURNING task.id, task.n_task_runs
), run AS (
    INSERT INTO task_run (created, project_id, task_id, user_id, user_ip, finish_time,
                          external_uid, media_url, info, gold_correct)
    SELECT a.created, a.project_id, a.task_id, a.user_id, a.user_ip, a.finish_time,
           a.external_uid, a.media_url, a.info, CASE WHEN a.gold THEN a.correct END
    FROM accepted a JOIN counted ON counted.id = a.task_id
    ORDER BY a.task_id, a.idx
    RETURNING id, created, project_id, task_id, user_id, user_ip, finish_time, timeout,
              calibration, external_uid, media_url, info, gold_correct
), taken AS (
    -- Each run back to the one accepted answer it came from (one per task and volunteer).
    SELECT run.*, a.idx, a.answer_ms, a.vkey, a.anon, a.hour, a.completes, a.gold
    FROM run JOIN accepted a ON a.task_id = run.task_id AND a.project_id = run.project_id
        AND run.user_id IS NOT DISTINCT FROM a.user_id
        AND run.user_ip IS NOT DISTINCT FROM a.user_ip
        AND run.external_uid IS NOT DISTINCT FROM a.external_uid
), counter AS (
    INSERT INTO project_counter AS pc (project_id, shard, n_task_runs, answer_ms,
                                       n_completed_tasks, n_results)
    SELECT project_id, $2, count(*), sum(answer_ms), count(*) FILTER (WHERE completes),
           count(*) FILTER (WHERE completes)
    FROM taken
    GROUP BY project_id ORDER BY project_id
    ON CONFLICT (project_id, shard)
    DO UPDATE SET n_task_runs = pc.n_task_runs + EXCLUDED.n_task_runs,
                  answer_ms = pc.answer_ms + EXCLUDED.answer_ms,
                  n_completed_tasks = pc.n_completed_tasks + EXCLUDED.n_completed_tasks,
                  n_results = pc.n_results + EXCLUDED.n_results
    RETURNING 1
), volunteer AS (
    INSERT INTO project_volunteer AS v (project_id, volunteer, user_id, anonymous, n_answers,
                                        first_answer, last_answer, gold_seen, gold_correct)
    SELECT project_id, vkey, max(user_id), bool_or(anon), count(*), min(finish_time),
           max(finish_time), count(*) FILTER (WHERE gold),
           count(*) FILTER (WHERE gold AND gold_correct)
    FROM taken WHERE (SELECT count(*) FROM counter) >= 0
    GROUP BY project_id, vkey ORDER BY project_id, vkey
    ON CONFLICT (project_id, volunteer)
    DO UPDATE SET n_answers = v.n_answers + EXCLUDED.n_answers,
                  last_answer = EXCLUDED.last_answer,
                  gold_seen = v.gold_seen + EXCLUDED.gold_seen,
                  gold_correct = v.gold_correct + EXCLUDED.gold_correct
    RETURNING project_id, volunteer, (xmax = 0) AS newcomer
), activity AS (
    INSERT INTO project_activity AS a (project_id, hour, shard, n_answers, n_anon, n_completed)
    SELECT project_id, hour, $2, count(*), count(*) FILTER (WHERE anon),
           count(*) FILTER (WHERE completes)
    FROM taken WHERE (SELECT count(*) FROM volunteer) >= 0
    GROUP BY project_id, hour ORDER BY project_id, hour
    ON CONFLICT (project_id, hour, shard)
    DO UPDATE SET n_answers = a.n_answers + EXCLUDED.n_answers,
                  n_anon = a.n_anon + EXCLUDED.n_anon,
                  n_completed = a.n_completed + EXCLUDED.n_completed
    RETURNING 1
)
SELECT taken.id, taken.created, taken.project_id, taken.task_id, taken.user_id, taken.user_ip,
       taken.finish_time, taken.timeout, taken.calibration, taken.external_uid, taken.media_url,
       taken.info, taken.gold_correct, taken.idx, taken.completes,
       COALESCE(volunteer.newcomer, false) AS newcomer, counted.n_task_runs AS task_runs
FROM taken
JOIN counted ON counted.id = taken.task_id
LEFT JOIN volunteer ON volunteer.project_id = taken.project_id AND volunteer.volunteer = taken.vkey
WHERE (SELECT count(*) FROM activity) >= 0
"#;
