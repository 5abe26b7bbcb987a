//! Handing out tasks (`newtask`). Every scheduler picks among the project's open tasks the
//! volunteer has not answered, in its own order, and *holds* each task it hands out for that
//! volunteer; a task is never held by more volunteers than the answers it still needs. So
//! concurrent volunteers spread over the tasks instead of piling onto the first one (PYBOSSA's
//! default scheduler collected 7,219 answers for 600 needed that way).
//!
//! With the `locked` scheduler only a holder may answer; with the others a hold is a courtesy
//! that steers other volunteers elsewhere, and the database still refuses surplus answers.

use std::{str::FromStr, time::Duration};

use rand::Rng;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, Order, QueryFilter, QueryOrder,
    QueryResult, QuerySelect, QueryTrait,
    sea_query::{Expr, ExprTrait, Query},
};
use serde_json::Value as Json;

use super::identity::Volunteer;
use crate::{
    error::{ApiError, ApiResult},
    kv::{OnGrant, Reservation},
    state::AppState,
    store::{
        entities::{project, task, task_run},
        now,
    },
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheduler {
    /// Oldest first (or `orderby`/`desc`). Also `default` and `depth_first_all`.
    DepthFirst,
    /// Fewest answers first.
    BreadthFirst,
    /// Highest `priority_0` first.
    Priority,
    /// Random among the open tasks.
    Random,
    /// Highest priority, one of the first `limit` at random, with the previous answer attached.
    Incremental,
    /// Strict holds: only a holder may answer, until its hold expires.
    Locked,
}

impl Scheduler {
    pub fn of(project: &project::Model) -> Self {
        let name = project
            .info
            .as_ref()
            .and_then(|i| i.get("sched"))
            .and_then(Json::as_str)
            .unwrap_or("default");
        match name {
            "breadth_first" => Self::BreadthFirst,
            "priority" | "priority_0" => Self::Priority,
            "random" => Self::Random,
            "incremental" => Self::Incremental,
            "locked" | "locked_scheduler" => Self::Locked,
            _ => Self::DepthFirst,
        }
    }
}

/// How long a hand-out holds a task: the project's `info.timeout` (seconds), else an hour.
pub fn hold_ttl(project: &project::Model) -> Duration {
    let secs = project
        .info
        .as_ref()
        .and_then(|i| i.get("timeout"))
        .and_then(|v| {
            v.as_u64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        })
        .unwrap_or(3600)
        .clamp(10, 86_400);
    Duration::from_secs(secs)
}

#[derive(Debug, Clone, Default)]
pub struct NewTaskQuery {
    pub limit: u64,
    pub offset: u64,
    pub orderby: Option<String>,
    pub desc: bool,
}

pub struct HandedOut {
    pub tasks: Vec<task::Model>,
    /// Epoch seconds when the (last) hold expires, for the `locked` scheduler.
    pub lock_expires: Option<i64>,
}

pub fn stamp_key(task_id: i32, volunteer: &Volunteer) -> String {
    format!("stamp:{task_id}:{}", volunteer.key)
}

/// Candidates are read in batches (the first one sized to where scans of the project found a
/// task lately, see [`ScanDepth`]); holds are checked in order.
const FIRST_BATCH: u64 = 16;
/// How long a volunteer's place in an oldest-first scan is remembered.
const CURSOR_TTL: Duration = Duration::from_secs(86_400);
const BATCH: u64 = 64;
/// Batches scanned before concluding that every open task is held by others.
const MAX_BATCHES: u64 = 8;

/// How far into a project's scan the task handed out was lately (a moving average, per
/// project, in this process). Concurrent volunteers hold the tasks at the front of an
/// oldest-first scan, so the first free one sits about a third of the volunteers in (measured
/// with 64: median 15, at most 23): a first read that small, or far larger, costs a second read
/// or rows read for nothing.
#[derive(Default)]
pub struct ScanDepth(std::sync::Mutex<std::collections::HashMap<i32, u32>>);

impl ScanDepth {
    /// Rows for a scan's first read: half again the average depth, and some.
    fn first_batch(&self, project: i32) -> u64 {
        let avg16 = self
            .0
            .lock()
            .map(|m| m.get(&project).copied().unwrap_or(0))
            .unwrap_or(0);
        (u64::from(avg16) * 3 / 32 + 8).clamp(FIRST_BATCH, BATCH)
    }

    /// A task handed out `depth` rows into a scan.
    fn record(&self, project: i32, depth: usize) {
        let depth = Ord::min(u32::try_from(depth).unwrap_or(u32::MAX), 1024);
        if let Ok(mut m) = self.0.lock() {
            // Sixteenths of a row; each new depth weighs an eighth.
            let avg16 = m.entry(project).or_insert(depth * 16);
            *avg16 = *avg16 - *avg16 / 8 + depth * 2;
        }
    }
}

/// A task as candidates are scanned; its JSON is left unparsed, as only the chosen one is
/// returned.
#[derive(Debug, Clone)]
struct Candidate {
    id: i32,
    runs: i32,
    needed: i32,
    created: String,
    state: String,
    quorum: i32,
    calibration: i32,
    priority_0: f64,
    info: Option<String>,
    fav_user_ids: Option<String>,
}

impl Candidate {
    fn room(&self) -> i64 {
        i64::from(self.needed - self.runs)
    }

    fn read(row: &QueryResult) -> Result<Self, DbErr> {
        Ok(Self {
            id: row.try_get_by_index(0)?,
            runs: row.try_get_by_index(1)?,
            needed: row.try_get_by_index(2)?,
            created: row.try_get_by_index(3)?,
            state: row.try_get_by_index(4)?,
            quorum: row.try_get_by_index(5)?,
            calibration: row.try_get_by_index(6)?,
            priority_0: row.try_get_by_index(7)?,
            info: row.try_get_by_index(8)?,
            fav_user_ids: row.try_get_by_index(9)?,
        })
    }

    fn into_model(self, project_id: i32) -> Result<task::Model, DbErr> {
        let json = |s: Option<String>| {
            s.map(|s| serde_json::from_str(&s))
                .transpose()
                .map_err(|e| DbErr::Type(format!("task JSON: {e}")))
        };
        Ok(task::Model {
            id: self.id,
            created: self.created,
            project_id,
            state: self.state,
            quorum: self.quorum,
            calibration: self.calibration,
            priority_0: self.priority_0,
            info: json(self.info)?,
            n_answers: self.needed,
            fav_user_ids: json(self.fav_user_ids)?,
            n_task_runs: self.runs,
        })
    }
}

/// A batch of candidates in the scan's order.
async fn read_candidates(
    state: &AppState,
    query: &sea_orm::Select<task::Entity>,
    size: u64,
    skip: u64,
) -> Result<Vec<Candidate>, DbErr> {
    let mut stmt = query
        .clone()
        .select_only()
        .columns([
            task::Column::Id,
            task::Column::NTaskRuns,
            task::Column::NAnswers,
            task::Column::Created,
            task::Column::State,
            task::Column::Quorum,
            task::Column::Calibration,
            task::Column::Priority0,
        ])
        .expr(Expr::col(task::Column::Info).cast_as("text"))
        .expr(Expr::col(task::Column::FavUserIds).cast_as("text"))
        .build(state.read_db.get_database_backend());
    // Literal numbers, not parameters: with `LIMIT $n` PostgreSQL re-planned this query on every
    // call (a generic plan cannot see the limit), a fifth of its time here.
    stmt.sql.push_str(&format!(" LIMIT {size} OFFSET {skip}"));
    state
        .read_db
        .query_all_raw(stmt)
        .await?
        .iter()
        .map(Candidate::read)
        .collect()
}

/// Re-checks a fresh hold against the task's current answer count, so a count read before
/// another volunteer's answer landed cannot let one hold too many, and reads the task. `holders`
/// was read (when the hold was granted) before this count: an answer committed in between is
/// then counted twice (we back off), never missed.
async fn confirm_hold(
    state: &AppState,
    id: i32,
    holders: i64,
    volunteer: &Volunteer,
    stamped: Option<&str>,
) -> ApiResult<Option<task::Model>> {
    let current = task::Entity::find_by_id(id).one(&state.db).await?;
    let fits = current.filter(|t| {
        t.state == "ongoing" && i64::from(t.n_task_runs) + holders <= i64::from(t.n_answers)
    });
    if fits.is_none() {
        state.kv.release(id, &volunteer.key).await;
        if let Some(stamp) = stamped {
            state.kv.delete(stamp).await;
        }
    }
    Ok(fits)
}

/// The same candidates with their current answer counts, minus those that no longer need
/// answers.
async fn refresh(state: &AppState, rows: Vec<Candidate>) -> ApiResult<Vec<Candidate>> {
    if rows.is_empty() {
        return Ok(rows);
    }
    let fresh: Vec<(i32, i32, i32, String)> = task::Entity::find()
        .select_only()
        .columns([
            task::Column::Id,
            task::Column::NTaskRuns,
            task::Column::NAnswers,
            task::Column::State,
        ])
        .filter(task::Column::Id.is_in(rows.iter().map(|t| t.id)))
        .into_tuple()
        .all(&state.db)
        .await?;
    let fresh: std::collections::HashMap<i32, (i32, i32, String)> = fresh
        .into_iter()
        .map(|(id, runs, needed, st)| (id, (runs, needed, st)))
        .collect();
    Ok(rows
        .into_iter()
        .filter_map(|c| {
            let (runs, needed, st) = fresh.get(&c.id)?;
            (st == "ongoing" && runs < needed).then_some(Candidate {
                runs: *runs,
                needed: *needed,
                ..c
            })
        })
        .collect())
}

pub async fn new_tasks(
    state: &AppState,
    project: &project::Model,
    volunteer: &Volunteer,
    q: &NewTaskQuery,
) -> ApiResult<HandedOut> {
    let sched = Scheduler::of(project);
    let ttl = hold_ttl(project);
    // PYBOSSA's locked scheduler hands out at most one task (plus one prefetched with offset=1).
    let (limit, offset) = match sched {
        Scheduler::Locked => {
            if q.offset > 2 {
                return Err(ApiError::BadRequest(
                    "offset must be 0, 1 or 2 with the locked scheduler".into(),
                ));
            }
            (1, q.offset)
        }
        _ => (q.limit.clamp(1, 100), q.offset),
    };
    let wanted = offset + limit;

    // Tasks this volunteer answered. With the cursor below, a volunteer's own history is walked
    // at most once, not on every request.
    let mut answered = Query::select()
        .column(task_run::Column::TaskId)
        .from(task_run::Entity)
        .cond_where(volunteer.answered_by())
        .and_where(
            Expr::col((task_run::Entity, task_run::Column::TaskId))
                .equals((task::Entity, task::Column::Id)),
        )
        .to_owned();
    if state.backend() == DbBackend::Postgres {
        // An OFFSET keeps PostgreSQL from making this an anti-join, which it was planning as a
        // scan of the whole (task_id, volunteer) index, growing with every answer in the
        // database; as a subplan it is one index probe per candidate.
        answered.offset(0);
    }
    let mut base = task::Entity::find()
        .filter(task::Column::ProjectId.eq(project.id))
        .filter(task::Column::State.eq("ongoing"))
        .filter(Expr::col(task::Column::NTaskRuns).lt(Expr::col(task::Column::NAnswers)))
        .filter(Expr::exists(answered).not());
    base = match sched {
        Scheduler::DepthFirst => {
            let order = if q.desc { Order::Desc } else { Order::Asc };
            match q.orderby.as_deref() {
                None | Some("id") => base.order_by(task::Column::Id, order),
                Some(name) => match task::Column::from_str(name) {
                    Ok(col) if name != "n_task_runs" => base
                        .order_by(col, order.clone())
                        .order_by(task::Column::Id, order),
                    _ => {
                        return Err(ApiError::attribute(format!(
                            "type object 'Task' has no attribute '{name}'"
                        )));
                    }
                },
            }
        }
        Scheduler::BreadthFirst => base
            .order_by_asc(task::Column::NTaskRuns)
            .order_by_asc(task::Column::Id),
        Scheduler::Priority | Scheduler::Incremental | Scheduler::Locked => base
            .order_by_desc(task::Column::Priority0)
            .order_by_asc(task::Column::Id),
        Scheduler::Random => base.order_by_asc(task::Column::Id),
    };

    // Random: start at a random id and wrap around, so the index does the work.
    let mut pivot = None;
    if sched == Scheduler::Random {
        let bounds: Option<(Option<i32>, Option<i32>)> = task::Entity::find()
            .select_only()
            .column_as(task::Column::Id.min(), "lo")
            .column_as(task::Column::Id.max(), "hi")
            .filter(task::Column::ProjectId.eq(project.id))
            .into_tuple()
            .one(&state.read_db)
            .await?;
        if let Some((Some(lo), Some(hi))) = bounds {
            pivot = Some(rand::rng().random_range(lo..=hi));
        }
    }

    // Oldest-first: start from where this volunteer got to last time (and wrap around), so the
    // tasks they already answered are not walked again on every request.
    let cursor_key = format!("cursor:{}:{}", project.id, volunteer.key);
    let use_cursor = sched == Scheduler::DepthFirst
        && matches!(q.orderby.as_deref(), None | Some("id"))
        && !q.desc;
    let mut wrap = true;
    // The store's clock before the counts are read: holds answered since then still take their
    // place (see `Kv::reserve_first`), so a hold needs no re-check of the count afterwards. Not
    // with a replica, whose counts may be older than that.
    let mut since = None;
    if use_cursor {
        let (cursor, clock) = match state.kv.get_with_clock(&cursor_key).await {
            Ok((cursor, clock)) => (cursor, Some(clock)),
            Err(()) => (None, None),
        };
        if state
            .config
            .database_replica_url
            .as_deref()
            .is_none_or(str::is_empty)
        {
            since = clock;
        }
        pivot = cursor.and_then(|c| c.parse().ok());
        if pivot.is_none() {
            // No cursor yet: start at the project's oldest open task. The lower bound also
            // keeps PostgreSQL from walking other projects' rows along the primary key.
            pivot = task::Entity::find()
                .select_only()
                .column_as(task::Column::Id.min(), "lo")
                .filter(task::Column::ProjectId.eq(project.id))
                .filter(task::Column::State.eq("ongoing"))
                .into_tuple::<Option<i32>>()
                .one(&state.read_db)
                .await?
                .flatten();
            wrap = false;
        }
    }

    let requested = now();
    let stamp_ttl = Duration::from_secs(state.config.stamp_ttl);
    let single = wanted == 1 && sched != Scheduler::Incremental;
    let mut chosen: Vec<(task::Model, i64)> = vec![];
    // Incremental: `limit` candidates with room, one picked at random below.
    let mut pool: Vec<Candidate> = vec![];
    let mut seen = 0u64;
    let mut backed_off = 0u64;
    let started = std::time::Instant::now();
    loop {
        'scan: for pass in 0..2 {
            let mut query = base.clone();
            if let Some(p) = pivot {
                query = if pass == 0 {
                    query.filter(task::Column::Id.gte(p))
                } else {
                    query.filter(task::Column::Id.lt(p))
                };
            }
            if pass == 1 && (pivot.is_none() || !wrap) {
                break;
            }
            let mut skip = 0;
            for batch in 0..MAX_BATCHES {
                let size = if batch == 0 {
                    state.scan_depth.first_batch(project.id)
                } else {
                    BATCH
                };
                let rows = read_candidates(state, &query, size, skip).await?;
                skip += size;
                let done = (rows.len() as u64) < size;
                if sched == Scheduler::Incremental {
                    for c in rows {
                        seen += 1;
                        if state.kv.holders(c.id).await < c.room() {
                            pool.push(c);
                        }
                        if pool.len() as u64 >= limit {
                            break 'scan;
                        }
                    }
                } else {
                    seen += rows.len() as u64;
                    // Rows of this pass before what is left of this read.
                    let before = (skip - size) as usize + rows.len();
                    let mut rest = rows;
                    while !rest.is_empty() {
                        // Up to a batch of candidates per round trip: the first with room is held.
                        let window = rest.len().min(BATCH as usize);
                        let candidates: Vec<(i32, i64)> =
                            rest[..window].iter().map(|c| (c.id, c.room())).collect();
                        // A single hand-out is stamped (and the cursor moved) with its hold.
                        let stamp_keys: Vec<String> = if single {
                            candidates
                                .iter()
                                .map(|(id, _)| stamp_key(*id, volunteer))
                                .collect()
                        } else {
                            vec![]
                        };
                        let on_grant = OnGrant {
                            stamp_keys: &stamp_keys,
                            stamp: &requested,
                            stamp_ttl,
                            cursor: use_cursor.then_some((cursor_key.as_str(), CURSOR_TTL)),
                        };
                        let Some(held) = state
                            .kv
                            .reserve_first(
                                &candidates,
                                &volunteer.key,
                                ttl,
                                single.then_some(&on_grant),
                                since,
                            )
                            .await
                        else {
                            rest.drain(..window);
                            continue;
                        };
                        if pass == 0 {
                            // Past the first read too, or the first read could never grow.
                            let depth = (before + held.index).saturating_sub(rest.len());
                            state.scan_depth.record(project.id, depth);
                        }
                        let candidate = rest[held.index].clone();
                        rest.drain(..=held.index);
                        // Held against marks since the counts were read: the row is current enough.
                        // (0 holders: the store is down and granted nothing.)
                        if since.is_some() && held.holders > 0 {
                            chosen.push((candidate.into_model(project.id)?, held.until));
                            if chosen.len() as u64 >= wanted {
                                break 'scan;
                            }
                            continue;
                        }
                        let stamped = single.then(|| stamp_keys[held.index].as_str());
                        match confirm_hold(state, candidate.id, held.holders, volunteer, stamped)
                            .await?
                        {
                            Some(t) => {
                                chosen.push((t, held.until));
                                if chosen.len() as u64 >= wanted {
                                    break 'scan;
                                }
                            }
                            None => {
                                // The counts read with the batch are stale (answers landed since):
                                // refresh the rest before trying further, rather than failing one
                                // by one.
                                backed_off += 1;
                                rest = refresh(state, rest).await?;
                            }
                        }
                    }
                }
                if done {
                    break;
                }
            }
        }
        // Marks can make a task look full to a scan that read its counts just as an answer
        // landed (the answer counted twice). Before saying nothing is left, look again with the
        // count re-checked instead.
        if chosen.is_empty() && pool.is_empty() && since.take().is_some() {
            continue;
        }
        break;
    }
    tracing::debug!(
        project = project.id,
        seen,
        backed_off,
        chosen = chosen.len(),
        ms = started.elapsed().as_secs_f64() * 1000.0,
        "newtask scan"
    );

    let chosen_first = chosen.iter().map(|(t, _)| t.id).min();
    let mut picked: Vec<(task::Model, i64)> = if sched == Scheduler::Incremental {
        let mut picked = vec![];
        if !pool.is_empty() {
            let c = pool.swap_remove(rand::rng().random_range(0..pool.len()));
            if let Reservation::Granted(until) =
                state.kv.reserve(c.id, &volunteer.key, c.room(), ttl).await
            {
                picked.push((c.into_model(project.id)?, until));
            }
        }
        picked
    } else {
        // The first `offset` tasks stay held (a prefetching client asks for them next).
        chosen.into_iter().skip(offset as usize).collect()
    };

    if sched == Scheduler::Incremental {
        for (t, _) in &mut picked {
            let last = task_run::Entity::find()
                .filter(task_run::Column::TaskId.eq(t.id))
                .order_by_desc(task_run::Column::FinishTime)
                .one(&state.read_db)
                .await?;
            if let (Some(last), Some(Json::Object(info))) = (last, t.info.as_mut()) {
                info.insert("last_answer".into(), last.info.unwrap_or(Json::Null));
            }
        }
    }

    // Stamp each hand-out (the answer must come within the stamp's lifetime) and move the
    // volunteer's cursor, in one round trip; a single hand-out was stamped with its hold.
    if !single {
        let mut entries: Vec<(String, String, Duration)> = picked
            .iter()
            .map(|(t, _)| (stamp_key(t.id, volunteer), requested.clone(), stamp_ttl))
            .collect();
        if use_cursor && let Some(first) = chosen_first {
            entries.push((cursor_key, first.to_string(), CURSOR_TTL));
        }
        state.kv.set_many(&entries).await;
    }
    let lock_expires = (sched == Scheduler::Locked)
        .then(|| picked.iter().map(|(_, u)| u / 1000).max())
        .flatten();
    Ok(HandedOut {
        tasks: picked.into_iter().map(|(t, _)| t).collect(),
        lock_expires,
    })
}

#[cfg(test)]
mod tests {
    use super::{BATCH, FIRST_BATCH, ScanDepth};

    #[test]
    fn first_read_follows_where_scans_found_a_task() {
        let depth = ScanDepth::default();
        assert_eq!(depth.first_batch(1), FIRST_BATCH, "nothing known yet");
        for _ in 0..50 {
            depth.record(1, 15);
        }
        assert_eq!(depth.first_batch(1), 15 * 3 / 2 + 8);
        assert_eq!(depth.first_batch(2), FIRST_BATCH, "per project");
        for _ in 0..50 {
            depth.record(1, 500);
        }
        assert_eq!(depth.first_batch(1), BATCH, "capped");
        for _ in 0..50 {
            depth.record(1, 0);
        }
        assert_eq!(depth.first_batch(1), FIRST_BATCH);
    }
}
