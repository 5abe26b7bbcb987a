//! Handing out tasks (`newtask`). Every scheduler picks among the project's open tasks the
//! volunteer has not answered, in its own order, and *holds* each task it hands out for that
//! volunteer; a task is never held by more volunteers than the answers it still needs. So
//! concurrent volunteers spread over the tasks instead of piling onto the first one (PYBOSSA's
//! default scheduler collected 7,219 answers for 600 needed that way).
//!
//! With the `locked` scheduler only a holder may answer; with the others a hold is a courtesy
//! that steers other volunteers elsewhere, and the database still refuses surplus answers.

use std::time::Duration;

use rand::Rng;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde_json::Value as Json;

use crate::domain::{
    volunteer::candidates::{Bound, Candidate, Scan, ScanOrder},
    volunteer::identity::Volunteer,
};
use crate::{
    domain::volunteer::LoopState,
    error::{ApiError, ApiResult},
    infra::Infra,
    kv::{OnGrant, Reservation},
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

pub use crate::kv::stamp_key;

/// Candidates are read in batches (the first one sized to where scans of the project found a
/// task lately, see [`ScanDepth`]); holds are checked in order.
const FIRST_BATCH: u64 = 8;
/// How long a volunteer's place in an oldest-first scan is remembered.
const CURSOR_TTL: Duration = Duration::from_secs(86_400);
const BATCH: u64 = 64;
/// Batches scanned before concluding that every open task is held by others.
const MAX_BATCHES: u64 = 8;

/// How far into a project's scan the task handed out was lately (a moving average, per
/// project, in this process). Concurrent volunteers hold the tasks at the front of an
/// oldest-first scan, so the first free one sits about a third of the volunteers in (measured
/// with 64: median 15, at most 23): a first read that small, or far larger, costs a second read
/// or rows read for nothing. The tasks found full are left out of the read (see [`FullTasks`]),
/// so this counts the rows still read before a free one.
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

/// What this instance knows of each volunteer (per project) it handed tasks to lately: their
/// cursor (see `new_tasks`), so that their next `newtask` here need not ask the store for it,
/// and the holds it granted them, so that a task they hold is never left out of their own scan
/// as full (see [`FullTasks`]): asking again gives a volunteer the task they hold. The store
/// keeps the cursor too, for the other instances: one that missed a volunteer's last few
/// hand-outs starts that many tasks back, which the scan's own exclusion of answered tasks
/// makes right, and costs as many index probes.
#[derive(Default)]
pub struct Volunteers(std::sync::Mutex<LocalVolunteers>);

#[derive(Default)]
struct LocalVolunteers {
    map: std::collections::HashMap<String, LocalVolunteer>,
    /// Size at which the stale ones are swept next.
    sweep_at: usize,
}

struct LocalVolunteer {
    cursor: Option<(i32, std::time::Instant)>,
    /// Tasks held, until when.
    held: Vec<(i32, std::time::Instant)>,
    /// Tasks stamped here: the stamp's value, until when.
    stamps: Vec<(i32, String, std::time::Instant)>,
}

impl LocalVolunteer {
    fn stale(&self, now: std::time::Instant) -> bool {
        self.cursor.is_none_or(|(_, at)| now - at >= LOCAL_CURSOR)
            && self.held.iter().all(|(_, until)| *until <= now)
    }
}

/// How long a cursor set here is used without asking the store.
const LOCAL_CURSOR: Duration = Duration::from_secs(30);
/// Holds, and stamps, remembered per volunteer: the latest.
const LOCAL_HOLDS: usize = 16;
/// Volunteers remembered at most (each a few hundred bytes).
const LOCAL_VOLUNTEERS_MAX: usize = 65_536;

/// The key of a volunteer's cursor in a project, here and in the store.
pub fn cursor_key(project: i32, volunteer_key: &str) -> String {
    format!("cursor:{project}:{volunteer_key}")
}

impl Volunteers {
    fn get(&self, key: &str) -> Option<i32> {
        let cursors = self.0.lock().ok()?;
        let (id, at) = cursors.map.get(key)?.cursor?;
        (at.elapsed() < LOCAL_CURSOR).then_some(id)
    }

    fn with(&self, key: &str, change: impl FnOnce(&mut LocalVolunteer)) {
        let Ok(mut cursors) = self.0.lock() else {
            return;
        };
        if let Some(entry) = cursors.map.get_mut(key) {
            change(entry);
            return;
        }
        if cursors.map.len() >= cursors.sweep_at {
            let now = std::time::Instant::now();
            cursors.map.retain(|_, v| !v.stale(now));
            // A hint, not the truth (the store has it): past the bound it starts again empty.
            if cursors.map.len() >= LOCAL_VOLUNTEERS_MAX {
                cursors.map.clear();
            }
            cursors.sweep_at = (2 * cursors.map.len()).clamp(1024, LOCAL_VOLUNTEERS_MAX);
        }
        let mut entry = LocalVolunteer {
            cursor: None,
            held: vec![],
            stamps: vec![],
        };
        change(&mut entry);
        cursors.map.insert(key.to_owned(), entry);
    }

    fn set(&self, key: &str, task: i32) {
        self.with(key, |v| v.cursor = Some((task, std::time::Instant::now())));
    }

    fn held(&self, key: &str, task: i32, ttl: Duration) {
        let now = std::time::Instant::now();
        self.with(key, |v| {
            v.held.retain(|(t, until)| *t != task && *until > now);
            if v.held.len() >= LOCAL_HOLDS {
                v.held.remove(0);
            }
            v.held.push((task, now + ttl));
        });
    }

    /// The volunteer's stamp on `task`, set here with the store's (`since` is taken before the
    /// store's, so this one ends first).
    fn stamped(&self, key: &str, task: i32, value: &str, since: std::time::Instant, ttl: Duration) {
        self.with(key, |v| {
            let now = std::time::Instant::now();
            v.stamps.retain(|(t, _, until)| *t != task && *until > now);
            if v.stamps.len() >= LOCAL_HOLDS {
                v.stamps.remove(0);
            }
            v.stamps.push((task, value.to_owned(), since + ttl));
        });
    }

    /// The volunteer's stamp on `task` when this instance set it and it has not expired: the
    /// answer then need not ask the store for it. Stamps go from the store when they expire,
    /// when their volunteer answers (the database refuses a second answer anyway), or when a
    /// scan takes back a hold it just granted; the copy here outlives the last only when that
    /// scan ran on another instance, or when the store lost its keys. Either way the volunteer
    /// did request the task here, which is what the stamp vouches for.
    pub fn stamp(&self, key: &str, task: i32) -> Option<String> {
        let cursors = self.0.lock().ok()?;
        let now = std::time::Instant::now();
        cursors
            .map
            .get(key)?
            .stamps
            .iter()
            .find_map(|(t, value, until)| (*t == task && *until > now).then(|| value.clone()))
    }

    /// The tasks this instance holds for the volunteer.
    fn holding(&self, key: &str) -> Vec<i32> {
        let Ok(cursors) = self.0.lock() else {
            return vec![];
        };
        let now = std::time::Instant::now();
        cursors.map.get(key).map_or(vec![], |v| {
            v.held
                .iter()
                .filter(|(_, until)| *until > now)
                .map(|(t, _)| *t)
                .collect()
        })
    }

    /// The volunteer answered `task`, or its hold was taken back: no longer held nor stamped.
    pub fn answered(&self, key: &str, task: i32) {
        if let Ok(mut cursors) = self.0.lock()
            && let Some(v) = cursors.map.get_mut(key)
        {
            v.held.retain(|(t, _)| *t != task);
            v.stamps.retain(|(t, _, _)| *t != task);
        }
    }
}

/// Tasks this instance found full lately (held by as many volunteers as they still need), per
/// project: the next scans leave them out in SQL rather than read them and ask the store about
/// each. With many volunteers the front of an oldest-first scan is all such tasks (measured with
/// 64: the first free one sat 15 rows in), each costing the database a row and an exclusion
/// probe, and the store a hold read. Only a hint: a task whose hold expired meanwhile is left out
/// for at most [`FULL_FOR`] more, and a scan that finds nothing looks again without it.
#[derive(Default)]
pub struct FullTasks(std::sync::Mutex<LocalFull>);

#[derive(Default)]
struct LocalFull {
    /// (project, task) → until when it is taken as full.
    until: std::collections::BTreeMap<(i32, i32), std::time::Instant>,
    /// Size at which the expired ones are swept next.
    sweep_at: usize,
}

/// How long a task found full is left out of scans (its holds last far longer; tasks at the
/// front of a busy project fill and complete within a fraction of it).
const FULL_FOR: Duration = Duration::from_secs(1);
/// Tasks left out of one scan at most.
const MAX_LEFT_OUT: usize = 64;

impl FullTasks {
    fn saw_full(&self, project: i32, tasks: impl IntoIterator<Item = i32>) {
        let Ok(mut full) = self.0.lock() else {
            return;
        };
        let now = std::time::Instant::now();
        if full.until.len() >= full.sweep_at {
            full.until.retain(|_, until| *until > now);
            if full.until.len() >= LOCAL_VOLUNTEERS_MAX {
                full.until.clear();
            }
            full.sweep_at = (2 * full.until.len()).clamp(1024, LOCAL_VOLUNTEERS_MAX);
        }
        for task in tasks {
            full.until.insert((project, task), now + FULL_FOR);
        }
    }

    /// Drops the candidates found full since they were read (by the other scans meanwhile),
    /// but those in `mine` (the volunteer's own holds).
    fn drop_full(&self, project: i32, mine: &[i32], candidates: &mut Vec<Candidate>) {
        let Ok(full) = self.0.lock() else {
            return;
        };
        let now = std::time::Instant::now();
        candidates.retain(|c| {
            mine.contains(&c.id)
                || full
                    .until
                    .get(&(project, c.id))
                    .is_none_or(|until| *until <= now)
        });
    }

    /// A task completed: scans leave it out anyway, and it would take the place of one that is
    /// only full.
    pub fn completed(&self, project: i32, task: i32) {
        if let Ok(mut full) = self.0.lock() {
            full.until.remove(&(project, task));
        }
    }

    /// Tasks of the project from `from` on (`rest`) or before it, found full lately, but those
    /// in `mine`.
    fn left_out(&self, project: i32, mine: &[i32], from: Option<i32>, rest: bool) -> Vec<i32> {
        let Ok(full) = self.0.lock() else {
            return vec![];
        };
        let now = std::time::Instant::now();
        let range = match (from, rest) {
            (Some(p), true) => (project, p)..=(project, i32::MAX),
            (Some(p), false) => (project, i32::MIN)..=(project, p.saturating_sub(1)),
            (None, _) => (project, i32::MIN)..=(project, i32::MAX),
        };
        full.until
            .range(range)
            .filter(|((_, task), until)| **until > now && !mine.contains(task))
            .map(|((_, task), _)| *task)
            .take(MAX_LEFT_OUT)
            .collect()
    }
}

/// Re-checks a fresh hold against the task's current answer count, so a count read before
/// another volunteer's answer landed cannot let one hold too many, and reads the task. `holders`
/// was read (when the hold was granted) before this count: an answer committed in between is
/// then counted twice (we back off), never missed.
async fn confirm_hold(
    state: &Infra,
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
async fn refresh(state: &Infra, rows: Vec<Candidate>) -> ApiResult<Vec<Candidate>> {
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

/// Hands out tasks. The queries off the common path are awaited boxed: a future awaited inline
/// is copied along with its caller's, and a query's is kilobytes.
pub async fn new_tasks(
    state: &Infra,
    lp: &LoopState,
    project: &project::Model,
    volunteer: &Volunteer,
    q: &NewTaskQuery,
) -> ApiResult<HandedOut> {
    let max_holds = state.config.max_holds;
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
        _ => (q.limit.max(1), q.offset),
    };
    // Every task handed out is held for the volunteer: how many at once is bounded.
    let wanted = offset.saturating_add(limit);
    if wanted > max_holds {
        return Err(ApiError::value(format!(
            "limit + offset may be at most {max_holds} (TESSERA_MAX_HOLDS)"
        )));
    }

    let order = match sched {
        Scheduler::DepthFirst => ScanOrder::by(q.orderby.as_deref(), q.desc)?,
        Scheduler::BreadthFirst => ScanOrder::Breadth,
        Scheduler::Priority | Scheduler::Incremental | Scheduler::Locked => ScanOrder::Priority,
        Scheduler::Random => ScanOrder::OLDEST,
    };
    let scan = Scan {
        project: project.id,
        volunteer,
        order,
    };

    // Random: start at a random id and wrap around, so the index does the work.
    let mut pivot = None;
    if sched == Scheduler::Random {
        let bounds: Option<(Option<i32>, Option<i32>)> = Box::pin(
            task::Entity::find()
                .select_only()
                .column_as(task::Column::Id.min(), "lo")
                .column_as(task::Column::Id.max(), "hi")
                .filter(task::Column::ProjectId.eq(project.id))
                .into_tuple()
                .one(&state.read_db),
        )
        .await?;
        if let Some((Some(lo), Some(hi))) = bounds {
            pivot = Some(rand::rng().random_range(lo..=hi));
        }
    }

    // Oldest-first: start from where this volunteer got to last time (and wrap around), so the
    // tasks they already answered are not walked again on every request.
    let cursor_key = cursor_key(project.id, &volunteer.key);
    let use_cursor = sched == Scheduler::DepthFirst
        && matches!(q.orderby.as_deref(), None | Some("id"))
        && !q.desc;
    let mut wrap = true;
    // The store's clock before the counts are read: holds answered since then still take their
    // place (see `Kv::reserve_first`), so a hold needs no re-check of the count afterwards. Not
    // with a replica, whose counts may be older than that.
    let primary = state
        .config
        .database_replica_url
        .as_deref()
        .is_none_or(str::is_empty);
    let mut since = None;
    if use_cursor {
        // A cursor this instance set lately, with the store's clock as last seen, saves asking
        // the store for both.
        let (cursor, clock) = match (lp.volunteers.get(&cursor_key), state.kv.clock()) {
            (Some(cursor), Some(clock)) => (Some(cursor), Some(clock)),
            _ => match state.kv.get_with_clock(&cursor_key).await {
                Ok((cursor, clock)) => (cursor.and_then(|c| c.parse().ok()), Some(clock)),
                Err(()) => (None, None),
            },
        };
        since = clock.filter(|_| primary);
        pivot = cursor;
        if pivot.is_none() {
            // No cursor yet: start at the project's oldest open task. The lower bound also
            // keeps PostgreSQL from walking other projects' rows along the primary key.
            pivot = Box::pin(
                task::Entity::find()
                    .select_only()
                    .column_as(task::Column::Id.min(), "lo")
                    .filter(task::Column::ProjectId.eq(project.id))
                    .filter(task::Column::State.eq("ongoing"))
                    .into_tuple::<Option<i32>>()
                    .one(&state.read_db),
            )
            .await?
            .flatten();
            wrap = false;
        }
    } else if sched != Scheduler::Incremental {
        since = state.kv.clock().filter(|_| primary);
    }

    let requested = now();
    let requested_at = std::time::Instant::now();
    let stamp_ttl = Duration::from_secs(state.config.stamp_ttl);
    let single = wanted == 1 && sched != Scheduler::Incremental;
    let mut chosen: Vec<(task::Model, i64)> = vec![];
    // Incremental: `limit` candidates with room, one picked at random below.
    let mut pool: Vec<Candidate> = vec![];
    let mut seen = 0u64;
    let mut backed_off = 0u64;
    let started = std::time::Instant::now();
    // Leave out the tasks found full lately (see `FullTasks`).
    let mut skip_full = sched != Scheduler::Incremental;
    let mine = lp.volunteers.holding(&cursor_key);
    loop {
        'scan: for pass in 0..2 {
            let bound = pivot.map(|p| {
                if pass == 0 {
                    Bound::From(p)
                } else {
                    Bound::Before(p)
                }
            });
            if pass == 1 && (pivot.is_none() || !wrap) {
                break;
            }
            let left_out = if skip_full {
                lp.full_tasks.left_out(project.id, &mine, pivot, pass == 0)
            } else {
                vec![]
            };
            let mut skip = 0;
            for batch in 0..MAX_BATCHES {
                let size = if batch == 0 {
                    lp.scan_depth.first_batch(project.id)
                } else {
                    BATCH
                };
                let rows = scan.read(state, lp, bound, &left_out, size, skip).await?;
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
                    loop {
                        if skip_full {
                            lp.full_tasks.drop_full(project.id, &mine, &mut rest);
                        }
                        if rest.is_empty() {
                            break;
                        }
                        // Up to a batch of candidates per round trip: the first with room is held.
                        let window = rest.len().min(BATCH as usize);
                        let candidates: Vec<(i32, i64)> =
                            rest[..window].iter().map(|c| (c.id, c.room())).collect();
                        // A single hand-out is stamped (and the cursor moved) with its hold.
                        let on_grant = OnGrant {
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
                            lp.full_tasks
                                .saw_full(project.id, rest.drain(..window).map(|c| c.id));
                            continue;
                        };
                        if held.holders > 0 {
                            // The ones before it had no room; it has none left if this hold
                            // took the last place.
                            let last = usize::from(held.holders >= rest[held.index].room());
                            lp.full_tasks.saw_full(
                                project.id,
                                rest[..held.index + last].iter().map(|c| c.id),
                            );
                        }
                        let id = rest[held.index].id;
                        lp.volunteers.held(&cursor_key, id, ttl);
                        // (0 holders: the store is down and stamped nothing.)
                        if single && held.holders > 0 {
                            lp.volunteers.stamped(
                                &cursor_key,
                                id,
                                &requested,
                                requested_at,
                                stamp_ttl,
                            );
                        }
                        if single && use_cursor {
                            lp.volunteers.set(&cursor_key, id);
                        }
                        if pass == 0 {
                            // Past the first read too, or the first read could never grow.
                            let depth = (before + held.index).saturating_sub(rest.len());
                            lp.scan_depth.record(project.id, depth);
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
                        let candidate_id = candidate.id;
                        let stamped = single.then(|| stamp_key(candidate_id, &volunteer.key));
                        match Box::pin(confirm_hold(
                            state,
                            candidate_id,
                            held.holders,
                            volunteer,
                            stamped.as_deref(),
                        ))
                        .await?
                        {
                            Some(t) => {
                                chosen.push((t, held.until));
                                if chosen.len() as u64 >= wanted {
                                    break 'scan;
                                }
                            }
                            None => {
                                lp.volunteers.answered(&cursor_key, candidate_id);
                                // The counts read with the batch are stale (answers landed since):
                                // refresh the rest before trying further, rather than failing one
                                // by one.
                                backed_off += 1;
                                rest = Box::pin(refresh(state, rest)).await?;
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
        // Likewise without leaving out the tasks found full, one of which may have been freed
        // on another instance.
        if chosen.is_empty() && pool.is_empty() && (since.is_some() || skip_full) {
            since = None;
            skip_full = false;
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
            let last = Box::pin(
                task_run::Entity::find()
                    .filter(task_run::Column::TaskId.eq(t.id))
                    .order_by_desc(task_run::Column::FinishTime)
                    .one(&state.read_db),
            )
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
            .map(|(t, _)| {
                lp.volunteers
                    .stamped(&cursor_key, t.id, &requested, requested_at, stamp_ttl);
                (
                    stamp_key(t.id, &volunteer.key),
                    requested.clone(),
                    stamp_ttl,
                )
            })
            .collect();
        if use_cursor && let Some(first) = chosen_first {
            lp.volunteers.set(&cursor_key, first);
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
    use super::{BATCH, Candidate, FIRST_BATCH, FullTasks, ScanDepth};

    fn candidate(id: i32) -> Candidate {
        Candidate {
            id,
            runs: 0,
            needed: 3,
            created: String::new(),
            state: "ongoing".into(),
            quorum: 0,
            calibration: 0,
            priority_0: 0.0,
            info: None,
            fav_user_ids: None,
        }
    }

    #[test]
    fn tasks_found_full_are_left_out_per_project_and_range() {
        let full = FullTasks::default();
        full.saw_full(1, [5, 7, 9]);
        full.saw_full(2, [6]);
        assert_eq!(full.left_out(1, &[], None, true), vec![5, 7, 9]);
        assert_eq!(
            full.left_out(1, &[], Some(7), true),
            vec![7, 9],
            "from the cursor on"
        );
        assert_eq!(full.left_out(1, &[], Some(7), false), vec![5], "before it");
        assert_eq!(full.left_out(2, &[], None, true), vec![6]);
        assert_eq!(
            full.left_out(1, &[9], None, true),
            vec![5, 7],
            "not one I hold"
        );
        full.completed(1, 7);
        assert_eq!(full.left_out(1, &[], None, true), vec![5, 9]);
        let mut read: Vec<Candidate> = (4..=9).map(candidate).collect();
        full.drop_full(1, &[5], &mut read);
        assert_eq!(
            read.iter().map(|c| c.id).collect::<Vec<_>>(),
            vec![4, 5, 6, 7, 8],
            "found full since they were read, but the one I hold"
        );
        full.saw_full(3, 0..1000);
        assert_eq!(full.left_out(3, &[], None, true).len(), super::MAX_LEFT_OUT);
    }

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
        for _ in 0..100 {
            depth.record(1, 0);
        }
        assert_eq!(
            depth.first_batch(1),
            FIRST_BATCH,
            "back down when found at once"
        );
    }
}
