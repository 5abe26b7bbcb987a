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
    ColumnTrait, EntityTrait, Order, QueryFilter, QueryOrder, QuerySelect,
    sea_query::{Expr, ExprTrait, Query},
};
use serde_json::Value as Json;

use super::identity::Volunteer;
use crate::{
    error::{ApiError, ApiResult},
    kv::Reservation,
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

/// Candidates are read in batches; holds are checked one by one in order.
const BATCH: u64 = 64;
/// Batches scanned before concluding that every open task is held by others.
const MAX_BATCHES: u64 = 8;

/// Re-checks a fresh hold against the task's current answer count, so a count read before
/// another volunteer's answer landed cannot let one hold too many. Holders are read before the
/// count: an answer committed in between is then counted twice (we back off), never missed.
async fn confirm_hold(state: &AppState, t: &task::Model, volunteer: &Volunteer) -> ApiResult<bool> {
    let holders = state.kv.holders(t.id).await;
    let current: Option<(i32, i32)> = task::Entity::find_by_id(t.id)
        .select_only()
        .column(task::Column::NTaskRuns)
        .column(task::Column::NAnswers)
        .into_tuple()
        .one(&state.db)
        .await?;
    let fits = current.is_some_and(|(runs, needed)| i64::from(runs) + holders <= i64::from(needed));
    if !fits {
        state.kv.release(t.id, &volunteer.key).await;
    }
    Ok(fits)
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

    let answered = Query::select()
        .column(task_run::Column::TaskId)
        .from(task_run::Entity)
        .cond_where(volunteer.answered_by())
        .and_where(
            Expr::col((task_run::Entity, task_run::Column::TaskId))
                .equals((task::Entity, task::Column::Id)),
        )
        .to_owned();
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

    let mut chosen: Vec<(task::Model, i64)> = vec![];
    let mut seen = 0u64;
    'scan: for pass in 0..2 {
        let mut query = base.clone();
        if let Some(p) = pivot {
            query = if pass == 0 {
                query.filter(task::Column::Id.gte(p))
            } else {
                query.filter(task::Column::Id.lt(p))
            };
        } else if pass == 1 {
            break;
        }
        for batch in 0..MAX_BATCHES {
            let rows = query
                .clone()
                .offset(batch * BATCH)
                .limit(BATCH)
                .all(&state.read_db)
                .await?;
            let done = (rows.len() as u64) < BATCH;
            for t in rows {
                seen += 1;
                if sched == Scheduler::Incremental {
                    // Gather `limit` candidates first; one is picked at random below.
                    let capacity = i64::from(t.n_answers - t.n_task_runs);
                    if state.kv.holders(t.id).await < capacity {
                        chosen.push((t, 0));
                    }
                    if chosen.len() as u64 >= limit {
                        break 'scan;
                    }
                    continue;
                }
                let capacity = i64::from(t.n_answers - t.n_task_runs);
                if let Reservation::Granted(until) =
                    state.kv.reserve(t.id, &volunteer.key, capacity, ttl).await
                    && confirm_hold(state, &t, volunteer).await?
                {
                    chosen.push((t, until));
                    if chosen.len() as u64 >= wanted {
                        break 'scan;
                    }
                }
            }
            if done {
                break;
            }
        }
    }
    tracing::debug!(
        project = project.id,
        seen,
        chosen = chosen.len(),
        "newtask scan"
    );

    let mut picked: Vec<(task::Model, i64)> = if sched == Scheduler::Incremental {
        if chosen.is_empty() {
            vec![]
        } else {
            let i = rand::rng().random_range(0..chosen.len());
            let (t, _) = chosen.swap_remove(i);
            let capacity = i64::from(t.n_answers - t.n_task_runs);
            match state.kv.reserve(t.id, &volunteer.key, capacity, ttl).await {
                Reservation::Granted(until) => vec![(t, until)],
                Reservation::Full => vec![],
            }
        }
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

    // Stamp each hand-out: the answer must come within the stamp's lifetime.
    let requested = now();
    let stamp_ttl = Duration::from_secs(state.config.stamp_ttl);
    for (t, _) in &picked {
        state
            .kv
            .set(&stamp_key(t.id, volunteer), &requested, stamp_ttl)
            .await;
    }
    let lock_expires = (sched == Scheduler::Locked)
        .then(|| picked.iter().map(|(_, u)| u / 1000).max())
        .flatten();
    Ok(HandedOut {
        tasks: picked.into_iter().map(|(t, _)| t).collect(),
        lock_expires,
    })
}
