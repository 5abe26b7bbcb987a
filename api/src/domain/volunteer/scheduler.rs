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
    ids::{ProjectId, TaskId},
    infra::Infra,
    kv::{OnGrant, Reservation},
    store::{
        entities::{project, task, task::TaskState, task_run},
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
/// oldest-first scan, so the first free one sits about a third of the volunteers in (see
/// BENCHMARKS.md): a first read that small, or far larger, costs a second read or rows read
/// for nothing. The tasks found full are left out of the read (see [`FullTasks`]),
/// so this counts the rows still read before a free one.
pub struct ScanDepth(moka::sync::Cache<ProjectId, u32>);

/// Projects whose scan depth is kept at most; past it the least used go (and start again from
/// the smallest first read).
const SCAN_DEPTHS_MAX: u64 = 16_384;

impl Default for ScanDepth {
    fn default() -> Self {
        Self(moka::sync::Cache::new(SCAN_DEPTHS_MAX))
    }
}

impl ScanDepth {
    /// Rows for a scan's first read: half again the average depth, and some.
    fn first_batch(&self, project: ProjectId) -> u64 {
        let avg16 = self.0.get(&project).unwrap_or(0);
        (u64::from(avg16) * 3 / 32 + 8).clamp(FIRST_BATCH, BATCH)
    }

    /// A task handed out `depth` rows into a scan.
    fn record(&self, project: ProjectId, depth: usize) {
        let depth = Ord::min(u32::try_from(depth).unwrap_or(u32::MAX), 1024);
        // Sixteenths of a row; each new depth weighs an eighth.
        self.0.entry(project).and_upsert_with(|found| match found {
            Some(avg16) => {
                let avg16 = avg16.into_value();
                avg16 - avg16 / 8 + depth * 2
            }
            None => depth * 16,
        });
    }
}

/// What this instance knows of each volunteer (per project) it handed tasks to lately: their
/// cursor (see `new_tasks`), so that their next `newtask` here need not ask the store for it,
/// and the holds it granted them, so that a task they hold is never left out of their own scan
/// as full (see [`FullTasks`]): asking again gives a volunteer the task they hold. The store
/// keeps the cursor too, for the other instances: one that missed a volunteer's last few
/// hand-outs starts that many tasks back, which the scan's own exclusion of answered tasks
/// makes right, and costs as many index probes.
///
/// Hand-written rather than a `moka` cache: an entry changes in place on every hand-out and
/// answer, and goes only when its cursor is old *and* none of its holds is live, which no
/// time-to-live or time-to-idle expresses. It is bounded all the same (`LOCAL_VOLUNTEERS_MAX`).
#[derive(Default)]
pub struct Volunteers(std::sync::Mutex<LocalVolunteers>);

#[derive(Default)]
struct LocalVolunteers {
    map: std::collections::HashMap<String, LocalVolunteer>,
    /// Size at which the stale ones are swept next.
    sweep_at: usize,
}

struct LocalVolunteer {
    cursor: Option<(TaskId, std::time::Instant)>,
    /// Tasks held, until when.
    held: Vec<(TaskId, std::time::Instant)>,
    /// Tasks stamped here: the stamp's value, until when.
    stamps: Vec<(TaskId, String, std::time::Instant)>,
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
pub fn cursor_key(project: ProjectId, volunteer_key: &str) -> String {
    format!("cursor:{project}:{volunteer_key}")
}

impl Volunteers {
    fn get(&self, key: &str) -> Option<TaskId> {
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

    fn set(&self, key: &str, task: TaskId) {
        self.with(key, |v| v.cursor = Some((task, std::time::Instant::now())));
    }

    fn held(&self, key: &str, task: TaskId, ttl: Duration) {
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
    fn stamped(
        &self,
        key: &str,
        task: TaskId,
        value: &str,
        since: std::time::Instant,
        ttl: Duration,
    ) {
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
    pub fn stamp(&self, key: &str, task: TaskId) -> Option<String> {
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
    fn holding(&self, key: &str) -> Vec<TaskId> {
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
    pub fn answered(&self, key: &str, task: TaskId) {
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
/// each. With many volunteers the front of an oldest-first scan is all such tasks, each costing
/// the database a row and an exclusion probe, and the store a hold read. Only a hint: a task whose hold expired meanwhile is left out
/// for at most [`FULL_FOR`] more, and a scan that finds nothing looks again without it.
///
/// An ordered map rather than a cache crate: a scan asks for the tasks of one project on one
/// side of its pivot, a range no hash-keyed cache can answer. Swept and bounded by hand.
#[derive(Default)]
pub struct FullTasks(std::sync::Mutex<LocalFull>);

#[derive(Default)]
struct LocalFull {
    /// (project, task) → until when it is taken as full.
    until: std::collections::BTreeMap<(ProjectId, TaskId), std::time::Instant>,
    /// Size at which the expired ones are swept next.
    sweep_at: usize,
}

/// How long a task found full is left out of scans (its holds last far longer; tasks at the
/// front of a busy project fill and complete within a fraction of it).
const FULL_FOR: Duration = Duration::from_secs(1);
/// Tasks left out of one scan at most.
const MAX_LEFT_OUT: usize = 64;

impl FullTasks {
    fn saw_full(&self, project: ProjectId, tasks: impl IntoIterator<Item = TaskId>) {
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
    fn drop_full(&self, project: ProjectId, mine: &[TaskId], candidates: &mut Vec<Candidate>) {
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
    pub fn completed(&self, project: ProjectId, task: TaskId) {
        if let Ok(mut full) = self.0.lock() {
            full.until.remove(&(project, task));
        }
    }

    /// Tasks of the project within `bound`, found full lately, but those in `mine`.
    fn left_out(&self, project: ProjectId, mine: &[TaskId], bound: Option<Bound>) -> Vec<TaskId> {
        let Ok(full) = self.0.lock() else {
            return vec![];
        };
        let now = std::time::Instant::now();
        let range = match bound {
            Some(Bound::From(p)) => (project, p)..=(project, TaskId(i32::MAX)),
            Some(Bound::Before(p)) => {
                (project, TaskId(i32::MIN))..=(project, TaskId(p.0.saturating_sub(1)))
            }
            None => (project, TaskId(i32::MIN))..=(project, TaskId(i32::MAX)),
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
    infra: &Infra,
    id: TaskId,
    (holders, retire_at): (i64, Option<i32>),
    volunteer: &Volunteer,
    stamped: Option<&str>,
) -> ApiResult<Option<task::Model>> {
    let current = task::Entity::find_by_id(id.0).one(&infra.db).await?;
    let fits = current.filter(|t| {
        t.state == TaskState::Ongoing
            && holders <= super::candidates::room(t.n_task_runs, t.n_answers, retire_at)
    });
    if fits.is_none() {
        infra.kv.release(id, &volunteer.key).await;
        if let Some(stamp) = stamped {
            infra.kv.delete(stamp).await;
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
    let fresh: Vec<(i32, i32, i32, TaskState)> = task::Entity::find()
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
    let fresh: std::collections::HashMap<i32, (i32, i32, TaskState)> = fresh
        .into_iter()
        .map(|(id, runs, needed, st)| (id, (runs, needed, st)))
        .collect();
    Ok(rows
        .into_iter()
        .filter_map(|c| {
            let (runs, needed, st) = fresh.get(&c.id.0)?;
            (*st == TaskState::Ongoing && runs < needed).then_some(Candidate {
                runs: *runs,
                needed: *needed,
                ..c
            })
        })
        .collect())
}

/// What a `newtask` asks of the scan, decided from the project and the query alone.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Plan {
    pub sched: Scheduler,
    pub order: ScanOrder,
    /// Tasks handed out.
    pub limit: u64,
    /// Tasks held first and not handed out (a prefetching client asks for them next).
    pub offset: u64,
    /// How long a hand-out holds its task.
    pub ttl: Duration,
    /// Oldest first by id: the scan resumes where the volunteer got to last time.
    pub use_cursor: bool,
    /// With early finish, the project's `min_answers`: see [`Candidate::room`].
    pub retire_at: Option<i32>,
}

impl Plan {
    pub fn new(project: &project::Model, q: &NewTaskQuery, max_holds: u64) -> ApiResult<Self> {
        let sched = Scheduler::of(project);
        // PYBOSSA's locked scheduler hands out at most one task (plus one prefetched with
        // offset=1).
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
        if offset.saturating_add(limit) > max_holds {
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
        Ok(Self {
            sched,
            order,
            limit,
            offset,
            ttl: hold_ttl(project),
            use_cursor: sched == Scheduler::DepthFirst && order == ScanOrder::OLDEST,
            retire_at: super::quality::Quality::of(project.info.as_ref())
                .ok()
                .and_then(|q| q.retire)
                .map(|r| i32::try_from(r.min_answers).unwrap_or(i32::MAX)),
        })
    }

    /// Tasks held at once, the `offset` ones included.
    pub fn wanted(&self) -> u64 {
        self.offset.saturating_add(self.limit)
    }

    /// Incremental: collects `limit` candidates with room, then holds one of them at random.
    pub fn pools(&self) -> bool {
        self.sched == Scheduler::Incremental
    }

    /// One task: stamped (and the cursor moved) with its hold, in the same round trip.
    pub fn single(&self) -> bool {
        self.wanted() == 1 && !self.pools()
    }
}

/// Where a scan starts, and whether it then wraps round to the tasks before that.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Start {
    pub pivot: Option<TaskId>,
    pub wrap: bool,
}

/// One pass of a scan: the tasks within `bound`; `first` is the pass from the pivot on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Pass {
    pub bound: Option<Bound>,
    pub first: bool,
}

impl Start {
    /// From the first task in the scan's order.
    pub const FIRST: Self = Self {
        pivot: None,
        wrap: false,
    };

    /// Random: at a task id drawn between the project's lowest and highest, wrapping round, so
    /// the index does the work.
    pub fn random(ids: Option<(TaskId, TaskId)>, draw: impl FnOnce(i32, i32) -> i32) -> Self {
        match ids {
            Some((lo, hi)) if lo <= hi => Self {
                pivot: Some(TaskId(draw(lo.0, hi.0))),
                wrap: true,
            },
            _ => Self::FIRST,
        }
    }

    /// Oldest first: at the volunteer's cursor, wrapping round; without one, at the project's
    /// oldest open task, before which nothing is open. The lower bound also keeps PostgreSQL
    /// from walking other projects' rows along the primary key.
    pub fn at_cursor(cursor: Option<TaskId>, oldest_open: Option<TaskId>) -> Self {
        match cursor {
            Some(at) => Self {
                pivot: Some(at),
                wrap: true,
            },
            None => Self {
                pivot: oldest_open,
                wrap: false,
            },
        }
    }

    /// The passes in order: from the pivot on, then, wrapping, the tasks before it.
    pub fn passes(self) -> Vec<Pass> {
        match self.pivot {
            None => vec![Pass {
                bound: None,
                first: true,
            }],
            Some(p) => {
                let mut passes = vec![Pass {
                    bound: Some(Bound::From(p)),
                    first: true,
                }];
                if self.wrap {
                    passes.push(Pass {
                        bound: Some(Bound::Before(p)),
                        first: false,
                    });
                }
                passes
            }
        }
    }
}

/// Where this scan starts, and the store's clock before the counts are read: holds answered
/// since then still take their place (see `Kv::reserve_first`), so a hold needs no re-check of
/// the count afterwards. No clock with a replica, whose counts may be older than that, nor for
/// the incremental scheduler.
async fn start(
    infra: &Infra,
    lp: &LoopState,
    plan: &Plan,
    project: ProjectId,
    cursor_key: &str,
) -> ApiResult<(Start, Option<i64>)> {
    let primary = infra
        .config
        .database_replica_url
        .as_ref()
        .is_none_or(|url| url.expose().is_empty());
    if plan.use_cursor {
        // A cursor this instance set lately, with the store's clock as last seen, saves asking
        // the store for both.
        let (cursor, clock) = match (lp.volunteers.get(cursor_key), infra.kv.clock()) {
            (Some(cursor), Some(clock)) => (Some(cursor), Some(clock)),
            _ => match infra.kv.get_with_clock(cursor_key).await {
                Ok((cursor, clock)) => {
                    (cursor.and_then(|c| c.parse().ok()).map(TaskId), Some(clock))
                }
                Err(_) => (None, None),
            },
        };
        let oldest_open = match cursor {
            Some(_) => None,
            None => Box::pin(end_of_project(
                &infra.read_db,
                project,
                Some(TaskState::Ongoing),
                End::First,
            ))
            .await?
            .map(|id| id.0),
        };
        return Ok((
            Start::at_cursor(cursor, oldest_open.map(TaskId)),
            clock.filter(|_| primary),
        ));
    }
    let since = (!plan.pools())
        .then(|| infra.kv.clock())
        .flatten()
        .filter(|_| primary);
    if plan.sched != Scheduler::Random {
        return Ok((Start::FIRST, since));
    }
    let lo = Box::pin(end_of_project(&infra.read_db, project, None, End::First)).await?;
    let hi = Box::pin(end_of_project(&infra.read_db, project, None, End::Last)).await?;
    let start = Start::random(lo.zip(hi), |lo, hi| rand::rng().random_range(lo..=hi));
    Ok((start, since))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum End {
    First,
    Last,
}

/// The project's first or last task id (of one state, if given): the project's end of the
/// index on `(project_id[, state], id)`, as a row comparison in that index's order. Written as
/// `min(id)`, or with `project_id = $1`, PostgreSQL's planner walks the primary key instead, from
/// the table's first task through those of every project made before this one.
async fn end_of_project(
    db: &impl sea_orm::ConnectionTrait,
    project: ProjectId,
    state: Option<TaskState>,
    end: End,
) -> ApiResult<Option<TaskId>> {
    use sea_orm::sea_query::{Expr as E, ExprTrait as _, SimpleExpr};
    let col = |c: task::Column| -> SimpleExpr { E::col((task::Entity, c)) };
    let mut cols = vec![col(task::Column::ProjectId)];
    let mut bound: Vec<SimpleExpr> = vec![E::value(project.0)];
    if let Some(state) = state {
        cols.push(col(task::Column::State));
        bound.push(E::value(state));
    }
    cols.push(col(task::Column::Id));
    bound.push(E::value(if end == End::First {
        i32::MIN
    } else {
        i32::MAX
    }));
    let (cmp, order) = match end {
        End::First => (E::tuple(cols).gte(E::tuple(bound)), sea_orm::Order::Asc),
        End::Last => (E::tuple(cols).lte(E::tuple(bound)), sea_orm::Order::Desc),
    };
    let mut q = task::Entity::find()
        .select_only()
        .columns([
            task::Column::ProjectId,
            task::Column::State,
            task::Column::Id,
        ])
        .filter(cmp)
        .order_by(task::Column::ProjectId, order.clone());
    if state.is_some() {
        q = q.order_by(task::Column::State, order.clone());
    }
    let row: Option<(i32, TaskState, i32)> = q
        .order_by(task::Column::Id, order)
        .into_tuple()
        .one(db)
        .await?;
    Ok(row
        .filter(|(p, s, _)| *p == project.0 && state.is_none_or(|want| *s == want))
        .map(|(_, _, id)| TaskId(id)))
}

/// One volunteer's hand-out in progress: what it is for and what it needs at hand.
struct HandOut<'a> {
    infra: &'a Infra,
    lp: &'a LoopState,
    plan: &'a Plan,
    project: ProjectId,
    volunteer: &'a Volunteer,
    cursor_key: &'a str,
    /// When the volunteer asked: the value of the stamps.
    requested: String,
    requested_at: std::time::Instant,
    stamp_ttl: Duration,
    /// The tasks this instance holds for the volunteer: never left out of their scan as full.
    mine: Vec<TaskId>,
}

/// What a scan found: the tasks held, with when each hold ends, or (incremental) candidates with
/// room.
#[derive(Default)]
struct Found {
    chosen: Vec<(task::Model, i64)>,
    pool: Vec<Candidate>,
    seen: u64,
    backed_off: u64,
}

/// What holding the next window of candidates came to.
#[derive(Debug)]
enum Step {
    /// This task is held for the volunteer, until then (epoch ms).
    Held(Box<task::Model>, i64),
    /// None in the window had room; they are remembered as full.
    Full,
    /// The task held had filled meanwhile (its counts were stale): the hold is given back.
    Stale,
}

impl HandOut<'_> {
    /// Walks the candidates until enough are held. Marks can make a task look full to a scan
    /// that read its counts just as an answer landed (the answer counted twice), and a task left
    /// out as full may have been freed on another instance: before saying nothing is left, it
    /// looks again with the counts re-checked and nothing left out.
    async fn scan(&self, start: Start, mut since: Option<i64>) -> ApiResult<Found> {
        let mut found = Found::default();
        let mut leave_out_full = !self.plan.pools();
        loop {
            self.walk(start, since, leave_out_full, &mut found).await?;
            if found.chosen.is_empty()
                && found.pool.is_empty()
                && (since.is_some() || leave_out_full)
            {
                since = None;
                leave_out_full = false;
                continue;
            }
            return Ok(found);
        }
    }

    /// One walk: pass by pass, read by read, until enough are held or found.
    async fn walk(
        &self,
        start: Start,
        since: Option<i64>,
        leave_out_full: bool,
        found: &mut Found,
    ) -> ApiResult<()> {
        let (lp, plan) = (self.lp, self.plan);
        let reads = Scan {
            project: self.project,
            volunteer: self.volunteer,
            order: plan.order,
        };
        for pass in start.passes() {
            let left_out = if leave_out_full {
                lp.full_tasks.left_out(self.project, &self.mine, pass.bound)
            } else {
                vec![]
            };
            let mut skip = 0;
            for batch in 0..MAX_BATCHES {
                let size = if batch == 0 {
                    lp.scan_depth.first_batch(self.project)
                } else {
                    BATCH
                };
                let rows = reads
                    .read(self.infra, lp, pass.bound, &left_out, size, skip)
                    .await?;
                skip += size;
                let done = (rows.len() as u64) < size;
                if plan.pools() {
                    for c in rows {
                        found.seen += 1;
                        if self.infra.kv.holders(c.id).await < c.room(plan.retire_at) {
                            found.pool.push(c);
                        }
                        if found.pool.len() as u64 >= plan.limit {
                            return Ok(());
                        }
                    }
                } else {
                    found.seen += rows.len() as u64;
                    // Rows of this pass before what is left of this read.
                    let before = (skip - size) as usize + rows.len();
                    let mut rest = rows;
                    loop {
                        if leave_out_full {
                            lp.full_tasks.drop_full(self.project, &self.mine, &mut rest);
                        }
                        if rest.is_empty() {
                            break;
                        }
                        let depth = pass.first.then_some(before);
                        match self.hold_next(&mut rest, since, depth).await? {
                            Step::Held(task, until) => {
                                found.chosen.push((*task, until));
                                if found.chosen.len() as u64 >= plan.wanted() {
                                    return Ok(());
                                }
                            }
                            Step::Full => {}
                            Step::Stale => {
                                // The counts read with the batch are stale (answers landed
                                // since): refresh the rest before trying further, rather than
                                // failing one by one.
                                found.backed_off += 1;
                                rest = Box::pin(refresh(self.infra, rest)).await?;
                            }
                        }
                    }
                }
                if done {
                    break;
                }
            }
        }
        Ok(())
    }

    /// Holds the first candidate with room among the next window of `rest` (up to a batch, in
    /// one round trip) and takes it and those before it off `rest`; those without room are
    /// remembered as full. `depth`, in the first pass: the rows read before what is left of
    /// `rest`, to learn how deep scans find a task.
    async fn hold_next(
        &self,
        rest: &mut Vec<Candidate>,
        since: Option<i64>,
        depth: Option<usize>,
    ) -> ApiResult<Step> {
        let (lp, plan, project) = (self.lp, self.plan, self.project);
        let single = plan.single();
        let window = rest.len().min(BATCH as usize);
        let candidates: Vec<(TaskId, i64)> = rest[..window]
            .iter()
            .map(|c| (c.id, c.room(plan.retire_at)))
            .collect();
        // A single hand-out is stamped (and the cursor moved) with its hold.
        let on_grant = OnGrant {
            stamp: &self.requested,
            stamp_ttl: self.stamp_ttl,
            cursor: plan.use_cursor.then_some((self.cursor_key, CURSOR_TTL)),
        };
        let Some(held) = self
            .infra
            .kv
            .reserve_first(
                &candidates,
                &self.volunteer.key,
                plan.ttl,
                single.then_some(&on_grant),
                since,
            )
            .await
        else {
            lp.full_tasks
                .saw_full(project, rest.drain(..window).map(|c| c.id));
            return Ok(Step::Full);
        };
        if held.holders > 0 {
            // The ones before it had no room; it has none left if this hold took the last place.
            let last = usize::from(held.holders >= rest[held.index].room(plan.retire_at));
            lp.full_tasks
                .saw_full(project, rest[..held.index + last].iter().map(|c| c.id));
        }
        let id = rest[held.index].id;
        lp.volunteers.held(self.cursor_key, id, plan.ttl);
        // (0 holders: the store is down and stamped nothing.)
        if single && held.holders > 0 {
            lp.volunteers.stamped(
                self.cursor_key,
                id,
                &self.requested,
                self.requested_at,
                self.stamp_ttl,
            );
        }
        if single && plan.use_cursor {
            lp.volunteers.set(self.cursor_key, id);
        }
        if let Some(before) = depth {
            // Past the first read too, or the first read could never grow.
            lp.scan_depth
                .record(project, (before + held.index).saturating_sub(rest.len()));
        }
        let candidate = rest[held.index].clone();
        rest.drain(..=held.index);
        // Held against marks since the counts were read: the row is current enough.
        // (0 holders: the store is down and granted nothing.)
        if since.is_some() && held.holders > 0 {
            return Ok(Step::Held(
                Box::new(candidate.into_model(project)?),
                held.until,
            ));
        }
        let stamped = single.then(|| stamp_key(id, &self.volunteer.key));
        let confirmed = Box::pin(confirm_hold(
            self.infra,
            id,
            (held.holders, plan.retire_at),
            self.volunteer,
            stamped.as_deref(),
        ))
        .await?;
        Ok(match confirmed {
            Some(task) => Step::Held(Box::new(task), held.until),
            None => {
                lp.volunteers.answered(self.cursor_key, id);
                Step::Stale
            }
        })
    }
}

/// Room a gold task has: no cap on its answers.
const GOLD_ROOM: i64 = 1 << 40;

/// Hands out one gold task: held (the `locked` scheduler's answers need a hold) and stamped,
/// without moving the volunteer's cursor.
async fn hand_out_gold(
    infra: &Infra,
    lp: &LoopState,
    plan: &Plan,
    volunteer: &Volunteer,
    cursor_key: &str,
    mut gold: task::Model,
) -> HandedOut {
    let id = TaskId(gold.id);
    // A gold task takes answers past its `n_answers`; shown as it is, the count would tell it.
    gold.n_task_runs = gold.n_task_runs.min(gold.n_answers - 1).max(0);
    let requested = now();
    let requested_at = std::time::Instant::now();
    let stamp_ttl = Duration::from_secs(infra.config.stamp_ttl);
    let on_grant = OnGrant {
        stamp: &requested,
        stamp_ttl,
        cursor: None,
    };
    let held = infra
        .kv
        .reserve_first(
            &[(id, GOLD_ROOM)],
            &volunteer.key,
            plan.ttl,
            Some(&on_grant),
            None,
        )
        .await;
    lp.volunteers.held(cursor_key, id, plan.ttl);
    lp.gold_tasks
        .handed_out(id, gold.gold_answers.clone().unwrap_or(Json::Null));
    if held.is_some_and(|h| h.holders > 0) {
        lp.volunteers
            .stamped(cursor_key, id, &requested, requested_at, stamp_ttl);
    }
    HandedOut {
        tasks: vec![gold],
        lock_expires: (plan.sched == Scheduler::Locked)
            .then(|| held.map(|h| h.until / 1000))
            .flatten(),
    }
}

/// Hands out tasks: the plan, where the scan starts, the scan with its holds, then the
/// hand-out's stamps.
pub async fn new_tasks(
    infra: &Infra,
    lp: &LoopState,
    project: &project::Model,
    volunteer: &Volunteer,
    q: &NewTaskQuery,
) -> ApiResult<HandedOut> {
    let plan = Plan::new(project, q, infra.config.max_holds)?;
    let project_id = ProjectId(project.id);
    let cursor_key = cursor_key(project_id, &volunteer.key);
    if let Some(gold) = Box::pin(super::gold::next_gold(
        infra,
        lp,
        project,
        volunteer,
        plan.single(),
    ))
    .await?
    {
        return Ok(Box::pin(hand_out_gold(
            infra,
            lp,
            &plan,
            volunteer,
            &cursor_key,
            gold,
        ))
        .await);
    }
    let (start, since) = start(infra, lp, &plan, project_id, &cursor_key).await?;
    let hand_out = HandOut {
        infra,
        lp,
        plan: &plan,
        project: project_id,
        volunteer,
        cursor_key: &cursor_key,
        requested: now(),
        requested_at: std::time::Instant::now(),
        stamp_ttl: Duration::from_secs(infra.config.stamp_ttl),
        mine: lp.volunteers.holding(&cursor_key),
    };
    let started = std::time::Instant::now();
    let Found {
        chosen,
        mut pool,
        seen,
        backed_off,
    } = hand_out.scan(start, since).await?;
    tracing::debug!(
        project = project.id,
        seen,
        backed_off,
        chosen = chosen.len(),
        ms = started.elapsed().as_secs_f64() * 1000.0,
        "newtask scan"
    );

    let chosen_first = chosen.iter().map(|(t, _)| TaskId(t.id)).min();
    let mut picked: Vec<(task::Model, i64)> = if plan.pools() {
        let mut picked = vec![];
        if !pool.is_empty() {
            let c = pool.swap_remove(rand::rng().random_range(0..pool.len()));
            if let Reservation::Granted(until) = infra
                .kv
                .reserve(c.id, &volunteer.key, c.room(plan.retire_at), plan.ttl)
                .await
            {
                picked.push((c.into_model(project_id)?, until));
            }
        }
        picked
    } else {
        // The first `offset` tasks stay held (a prefetching client asks for them next).
        chosen.into_iter().skip(plan.offset as usize).collect()
    };

    if plan.pools() {
        for (t, _) in &mut picked {
            let last = Box::pin(
                task_run::Entity::find()
                    .filter(task_run::Column::TaskId.eq(t.id))
                    .order_by_desc(task_run::Column::FinishTime)
                    .one(&infra.read_db),
            )
            .await?;
            if let (Some(last), Some(Json::Object(info))) = (last, t.info.as_mut()) {
                info.insert("last_answer".into(), last.info.unwrap_or(Json::Null));
            }
        }
    }

    // Stamp each hand-out (the answer must come within the stamp's lifetime) and move the
    // volunteer's cursor, in one round trip; a single hand-out was stamped with its hold.
    if !plan.single() {
        let HandOut {
            requested,
            requested_at,
            stamp_ttl,
            ..
        } = hand_out;
        let mut entries: Vec<(String, String, Duration)> = picked
            .iter()
            .map(|(t, _)| {
                lp.volunteers.stamped(
                    &cursor_key,
                    TaskId(t.id),
                    &requested,
                    requested_at,
                    stamp_ttl,
                );
                (
                    stamp_key(TaskId(t.id), &volunteer.key),
                    requested.clone(),
                    stamp_ttl,
                )
            })
            .collect();
        if plan.use_cursor
            && let Some(first) = chosen_first
        {
            lp.volunteers.set(&cursor_key, first);
            entries.push((cursor_key, first.to_string(), CURSOR_TTL));
        }
        infra.kv.set_many(&entries).await;
    }
    let lock_expires = (plan.sched == Scheduler::Locked)
        .then(|| picked.iter().map(|(_, u)| u / 1000).max())
        .flatten();
    Ok(HandedOut {
        tasks: picked.into_iter().map(|(t, _)| t).collect(),
        lock_expires,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: &[i32]) -> Vec<TaskId> {
        n.iter().copied().map(TaskId).collect()
    }

    fn candidate(id: i32) -> Candidate {
        Candidate {
            id: TaskId(id),
            runs: 0,
            needed: 3,
            created: String::new(),
            state: TaskState::Ongoing,
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
        full.saw_full(ProjectId(1), [5, 7, 9].map(TaskId));
        full.saw_full(ProjectId(2), [6].map(TaskId));
        assert_eq!(
            full.left_out(ProjectId(1), &ids(&[]), None),
            ids(&[5, 7, 9])
        );
        assert_eq!(
            full.left_out(ProjectId(1), &ids(&[]), Some(Bound::From(TaskId(7)))),
            ids(&[7, 9]),
            "from the cursor on"
        );
        assert_eq!(
            full.left_out(ProjectId(1), &ids(&[]), Some(Bound::Before(TaskId(7)))),
            ids(&[5]),
            "before it"
        );
        assert_eq!(full.left_out(ProjectId(2), &ids(&[]), None), ids(&[6]));
        assert_eq!(
            full.left_out(ProjectId(1), &ids(&[9]), None),
            ids(&[5, 7]),
            "not one I hold"
        );
        full.completed(ProjectId(1), TaskId(7));
        assert_eq!(full.left_out(ProjectId(1), &ids(&[]), None), ids(&[5, 9]));
        let mut read: Vec<Candidate> = (4..=9).map(candidate).collect();
        full.drop_full(ProjectId(1), &ids(&[5]), &mut read);
        assert_eq!(
            read.iter().map(|c| c.id).collect::<Vec<_>>(),
            ids(&[4, 5, 6, 7, 8]),
            "found full since they were read, but the one I hold"
        );
        full.saw_full(ProjectId(3), (0..1000).map(TaskId));
        assert_eq!(
            full.left_out(ProjectId(3), &ids(&[]), None).len(),
            MAX_LEFT_OUT
        );
    }

    #[test]
    fn first_read_follows_where_scans_found_a_task() {
        let depth = ScanDepth::default();
        assert_eq!(
            depth.first_batch(ProjectId(1)),
            FIRST_BATCH,
            "nothing known yet"
        );
        for _ in 0..50 {
            depth.record(ProjectId(1), 15);
        }
        assert_eq!(depth.first_batch(ProjectId(1)), 15 * 3 / 2 + 8);
        assert_eq!(depth.first_batch(ProjectId(2)), FIRST_BATCH, "per project");
        for _ in 0..50 {
            depth.record(ProjectId(1), 500);
        }
        assert_eq!(depth.first_batch(ProjectId(1)), BATCH, "capped");
        for _ in 0..100 {
            depth.record(ProjectId(1), 0);
        }
        assert_eq!(
            depth.first_batch(ProjectId(1)),
            FIRST_BATCH,
            "back down when found at once"
        );
    }

    fn project(info: Json) -> project::Model {
        project::Model {
            id: 1,
            created: String::new(),
            updated: String::new(),
            name: "p".into(),
            short_name: "p".into(),
            description: String::new(),
            long_description: None,
            webhook: None,
            allow_anonymous_contributors: true,
            published: true,
            featured: false,
            secret_key: String::new(),
            zip_download: true,
            contacted: false,
            owner_id: 1,
            category_id: 1,
            info: Some(info),
            owners_ids: None,
        }
    }

    fn query(limit: u64, offset: u64) -> NewTaskQuery {
        NewTaskQuery {
            limit,
            offset,
            ..NewTaskQuery::default()
        }
    }

    #[test]
    fn plan_follows_the_scheduler() {
        let plan = |sched: &str, q: NewTaskQuery| {
            Plan::new(&project(serde_json::json!({ "sched": sched })), &q, 10)
        };
        let depth = plan("default", query(3, 1)).expect("plan");
        assert_eq!(depth.order, ScanOrder::OLDEST);
        assert!(depth.use_cursor, "oldest first by id resumes at the cursor");
        assert_eq!((depth.limit, depth.offset, depth.wanted()), (3, 1, 4));
        assert!(!depth.single() && !depth.pools());
        assert!(
            plan("default", query(0, 0)).expect("plan").single(),
            "at least one"
        );

        let desc = plan(
            "default",
            NewTaskQuery {
                desc: true,
                ..query(1, 0)
            },
        )
        .expect("plan");
        assert!(!desc.use_cursor, "a cursor only walks ids upwards");
        let by_priority = plan(
            "default",
            NewTaskQuery {
                orderby: Some("priority_0".into()),
                ..query(1, 0)
            },
        )
        .expect("plan");
        assert!(!by_priority.use_cursor);
        assert!(
            plan(
                "default",
                NewTaskQuery {
                    orderby: Some("n_task_runs".into()),
                    ..query(1, 0)
                }
            )
            .is_err(),
            "the answer count would make a cursor meaningless"
        );

        assert_eq!(
            plan("breadth_first", query(1, 0)).expect("plan").order,
            ScanOrder::Breadth
        );
        for sched in ["priority", "incremental", "locked"] {
            let p = plan(sched, query(1, 0)).expect("plan");
            assert_eq!(p.order, ScanOrder::Priority, "{sched}");
            assert!(!p.use_cursor, "{sched}");
        }
        let random = plan("random", query(1, 0)).expect("plan");
        assert_eq!(random.order, ScanOrder::OLDEST);
        assert!(!random.use_cursor, "random starts anywhere");
        let incremental = plan("incremental", query(1, 0)).expect("plan");
        assert!(incremental.pools() && !incremental.single());
    }

    #[test]
    fn plan_bounds_what_is_held_at_once() {
        let p = project(serde_json::json!({ "sched": "locked", "timeout": 30 }));
        let locked = Plan::new(&p, &query(5, 2), 10).expect("plan");
        assert_eq!(
            (locked.limit, locked.offset),
            (1, 2),
            "locked hands out one"
        );
        assert_eq!(locked.ttl, Duration::from_secs(30));
        assert!(
            Plan::new(&p, &query(1, 3), 10).is_err(),
            "locked offsets end at 2"
        );
        let default = project(serde_json::json!({}));
        assert!(Plan::new(&default, &query(8, 2), 10).is_ok());
        assert!(
            Plan::new(&default, &query(8, 3), 10).is_err(),
            "limit + offset past the holds allowed"
        );
        assert!(Plan::new(&default, &query(u64::MAX, u64::MAX), 10).is_err());
    }

    #[test]
    fn scans_wrap_round_only_from_a_cursor_or_a_random_pivot() {
        assert_eq!(
            Start::FIRST.passes(),
            vec![Pass {
                bound: None,
                first: true
            }]
        );
        let at = Start::at_cursor(Some(TaskId(7)), None);
        assert_eq!(
            at.passes(),
            vec![
                Pass {
                    bound: Some(Bound::From(TaskId(7))),
                    first: true
                },
                Pass {
                    bound: Some(Bound::Before(TaskId(7))),
                    first: false
                },
            ],
            "from the cursor on, then wrapping round"
        );
        let fresh = Start::at_cursor(None, Some(TaskId(3)));
        assert_eq!(
            fresh.passes(),
            vec![Pass {
                bound: Some(Bound::From(TaskId(3))),
                first: true
            }],
            "nothing open before the oldest open task"
        );
        assert_eq!(Start::at_cursor(None, None), Start::FIRST);
        let random = Start::random(Some((TaskId(10), TaskId(20))), |lo, hi| {
            assert_eq!((lo, hi), (10, 20));
            15
        });
        assert_eq!(random.pivot, Some(TaskId(15)));
        assert_eq!(random.passes().len(), 2, "random wraps round");
        assert_eq!(Start::random(None, |_, _| unreachable!()), Start::FIRST);
    }

    /// A site on SQLite with in-process stores, removed when dropped.
    struct Site {
        state: std::sync::Arc<crate::state::AppState>,
        dir: std::path::PathBuf,
    }

    impl Drop for Site {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    async fn site() -> Site {
        let dir =
            std::env::temp_dir().join(format!("tessera-unit-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let url = format!("sqlite://{}?mode=rwc", dir.join("t.db").display());
        let config = crate::config::Config::from_args([
            "--database-url",
            &url,
            "--data-dir",
            dir.to_str().expect("utf-8 path"),
            "--secret",
            "unit",
        ])
        .expect("config");
        let state = Box::pin(crate::server::build_state(config))
            .await
            .expect("state");
        Site { state, dir }
    }

    /// A project (scheduled by `sched`) with `n` tasks of three answers each.
    async fn project_with_tasks(site: &Site, sched: &str, n: usize) -> (project::Model, Vec<i32>) {
        use crate::domain::{platform::accounts, rest};
        let user = accounts::register(
            &site.state.infra,
            accounts::NewAccount {
                name: "owner".into(),
                fullname: "Owner".into(),
                email_addr: "owner@example.org".into(),
                password: "correct horse".into(),
                admin: false,
            },
        )
        .await
        .expect("account");
        let caller = crate::auth::Caller {
            user: Some(std::sync::Arc::new(user)),
            ip: "127.0.0.1".into(),
        };
        let ctx = site.state.ctx(&caller);
        let body = |v: Json| v.as_object().cloned().expect("object");
        let p = Box::pin(rest::crud::create::<rest::resources::Project>(
            ctx,
            body(serde_json::json!({
                "name": "P", "short_name": "p", "description": "d",
                "info": { "sched": sched },
            })),
            None,
        ))
        .await
        .expect("project");
        let mut ids = vec![];
        for i in 0..n {
            let t = Box::pin(rest::crud::create::<rest::resources::Task>(
                ctx,
                body(serde_json::json!({ "project_id": p.id, "n_answers": 3, "info": { "i": i } })),
                None,
            ))
            .await
            .expect("task");
            ids.push(t.id);
        }
        (p, ids)
    }

    fn volunteer(key: &str) -> Volunteer {
        Volunteer {
            user_id: None,
            user_ip: Some(key.into()),
            external_uid: None,
            key: key.into(),
        }
    }

    fn hand_out<'a>(
        site: &'a Site,
        plan: &'a Plan,
        volunteer: &'a Volunteer,
        cursor_key: &'a str,
    ) -> HandOut<'a> {
        HandOut {
            infra: &site.state.infra,
            lp: &site.state.volunteer,
            plan,
            project: ProjectId(1),
            volunteer,
            cursor_key,
            requested: now(),
            requested_at: std::time::Instant::now(),
            stamp_ttl: Duration::from_secs(60),
            mine: vec![],
        }
    }

    fn candidates(ids: &[i32], room: i32) -> Vec<Candidate> {
        ids.iter()
            .map(|id| Candidate {
                needed: room,
                ..candidate(*id)
            })
            .collect()
    }

    #[tokio::test]
    async fn hold_takes_the_first_task_with_room_and_remembers_the_full_ones() {
        let site = Box::pin(site()).await;
        let kv = &site.state.infra.kv;
        let ttl = Duration::from_secs(60);
        // Task 1 has one place left, which someone else holds.
        kv.reserve(TaskId(1), "other", 1, ttl).await;
        let plan = Plan::new(&project(serde_json::json!({})), &query(1, 0), 10).expect("plan");
        let me = volunteer("me");
        let key = cursor_key(ProjectId(1), "me");
        let h = hand_out(&site, &plan, &me, &key);
        let mut rest = candidates(&[1, 2, 3], 1);
        let clock = kv.clock();
        let step = h.hold_next(&mut rest, clock, Some(3)).await.expect("hold");
        let Step::Held(task, until) = step else {
            panic!("expected a hold, got {step:?}");
        };
        assert_eq!(task.id, 2);
        assert!(until > 0);
        assert_eq!(
            rest.iter().map(|c| c.id).collect::<Vec<_>>(),
            ids(&[3]),
            "the held one and those before it are taken off"
        );
        let lp = &site.state.volunteer;
        assert_eq!(
            lp.full_tasks.left_out(ProjectId(1), &[], None),
            ids(&[1, 2]),
            "1 had no room, and this hold took 2's last place"
        );
        assert_eq!(lp.volunteers.holding(&key), ids(&[2]));
        assert!(
            lp.volunteers.stamp(&key, TaskId(2)).is_some(),
            "a single hand-out is stamped with its hold"
        );
        assert_eq!(
            lp.volunteers.get(&key),
            Some(TaskId(2)),
            "and moves the cursor"
        );
        assert!(kv.holds(TaskId(2), "me").await);

        // Nothing with room: the window goes, remembered as full.
        let other = volunteer("other");
        let other_key = cursor_key(ProjectId(1), "other");
        let h = hand_out(&site, &plan, &other, &other_key);
        let mut rest = candidates(&[2], 1);
        let step = h
            .hold_next(&mut rest, kv.clock(), None)
            .await
            .expect("hold");
        assert!(matches!(step, Step::Full), "{step:?}");
        assert!(rest.is_empty());
    }

    #[tokio::test]
    async fn hold_gives_back_a_task_that_filled_when_marks_are_not_trusted() {
        use sea_orm::ConnectionTrait;
        let site = Box::pin(site()).await;
        let (_, ids) = Box::pin(project_with_tasks(&site, "default", 2)).await;
        let plan = Plan::new(&project(serde_json::json!({})), &query(1, 0), 10).expect("plan");
        let me = volunteer("me");
        let key = cursor_key(ProjectId(1), "me");
        let h = hand_out(&site, &plan, &me, &key);
        // The read said two places were left in the first task; the database says none.
        let mut rest = candidates(&ids, 3);
        rest[0].runs = 1;
        let sql = format!(
            "UPDATE task SET n_task_runs = 3, state = 'completed' WHERE id = {}",
            ids[0]
        );
        site.state
            .infra
            .db
            .execute_unprepared(&sql)
            .await
            .expect("update");
        let step = h.hold_next(&mut rest, None, None).await.expect("hold");
        assert!(matches!(step, Step::Stale), "{step:?}");
        assert!(
            !site.state.infra.kv.holds(TaskId(ids[0]), "me").await,
            "the hold is given back"
        );
        assert!(site.state.volunteer.volunteers.holding(&key).is_empty());
        let step = h.hold_next(&mut rest, None, None).await.expect("hold");
        let Step::Held(task, _) = step else {
            panic!("expected a hold, got {step:?}");
        };
        assert_eq!(task.id, ids[1], "re-read from the database");
    }

    #[tokio::test]
    async fn scan_resumes_at_the_cursor_and_wraps_round() {
        let site = Box::pin(site()).await;
        let (p, ids) = Box::pin(project_with_tasks(&site, "default", 5)).await;
        let plan = Plan::new(&p, &query(5, 0), 10).expect("plan");
        let me = volunteer("me");
        let key = cursor_key(ProjectId(p.id), "me");
        let h = HandOut {
            project: ProjectId(p.id),
            ..hand_out(&site, &plan, &me, &key)
        };
        let found = h
            .scan(
                Start::at_cursor(Some(TaskId(ids[2])), None),
                site.state.infra.kv.clock(),
            )
            .await
            .expect("scan");
        let got: Vec<i32> = found.chosen.iter().map(|(t, _)| t.id).collect();
        assert_eq!(got, vec![ids[2], ids[3], ids[4], ids[0], ids[1]]);
        assert_eq!(found.seen, 5);
    }

    #[tokio::test]
    async fn scan_looks_again_before_saying_nothing_is_left() {
        let site = Box::pin(site()).await;
        let (p, ids) = Box::pin(project_with_tasks(&site, "default", 1)).await;
        let plan = Plan::new(&p, &query(1, 0), 10).expect("plan");
        let me = volunteer("me");
        let key = cursor_key(ProjectId(p.id), "me");
        let h = HandOut {
            project: ProjectId(p.id),
            ..hand_out(&site, &plan, &me, &key)
        };
        // Another instance's scan found it full a moment ago; its holds have gone since.
        site.state
            .volunteer
            .full_tasks
            .saw_full(ProjectId(p.id), [TaskId(ids[0])]);
        let found = h
            .scan(Start::FIRST, site.state.infra.kv.clock())
            .await
            .expect("scan");
        assert_eq!(found.chosen.len(), 1, "found on the second look");
        // A task truly full (held by three others) is not handed out.
        let (kv, ttl) = (&site.state.infra.kv, Duration::from_secs(60));
        let h2 = HandOut {
            project: ProjectId(p.id),
            ..hand_out(&site, &plan, &me, &key)
        };
        kv.release(TaskId(ids[0]), "me").await;
        for who in ["a", "b", "c"] {
            kv.reserve(TaskId(ids[0]), who, 3, ttl).await;
        }
        let found = h2.scan(Start::FIRST, kv.clock()).await.expect("scan");
        assert!(found.chosen.is_empty());
    }
}
