//! The candidate read of a `newtask` scan: a batch of the project's open tasks that the
//! volunteer has not answered, in the scan's order. Its SQL text depends only on the scan's
//! shape (order, kind of volunteer, which filters apply), so it is built once per shape and
//! kept; only the values change from read to read (building it on every read was a sizeable
//! share of the API's CPU in the loop; see BENCHMARKS.md).

use std::{collections::HashMap, sync::Mutex};

use sea_orm::{
    ColumnTrait, DbBackend, DbErr, EntityTrait, Order, QueryFilter, QueryOrder, QueryResult,
    QuerySelect, QueryTrait, Statement, Value,
    sea_query::{Expr, ExprTrait},
};

use crate::domain::volunteer::identity::Volunteer;
use crate::{
    domain::volunteer::LoopState,
    error::{ApiError, ApiResult},
    ids::{ProjectId, TaskId},
    infra::Infra,
    store::entities::{task, task::TaskState},
};

/// A task as candidates are scanned; its JSON is left unparsed, as only the chosen one is
/// returned.
#[derive(Debug, Clone)]
pub(super) struct Candidate {
    pub id: TaskId,
    pub runs: i32,
    pub needed: i32,
    pub created: String,
    pub state: TaskState,
    pub quorum: i32,
    pub calibration: i32,
    pub priority_0: f64,
    pub info: Option<String>,
    pub fav_user_ids: Option<String>,
}

impl Candidate {
    /// Volunteers it may be held for, by the counts read with it: see [`room`].
    pub fn room(&self, retire_at: Option<i32>) -> i64 {
        room(self.runs, self.needed, retire_at)
    }

    fn read(row: &QueryResult) -> Result<Self, DbErr> {
        Ok(Self {
            id: TaskId(row.try_get_by_index(0)?),
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

    pub fn into_model(self, project_id: ProjectId) -> Result<task::Model, DbErr> {
        let json = |s: Option<String>| {
            s.map(|s| serde_json::from_str(&s))
                .transpose()
                .map_err(|e| DbErr::Type(format!("task JSON: {e}")))
        };
        Ok(task::Model {
            id: self.id.0,
            created: self.created,
            project_id: project_id.0,
            state: self.state,
            quorum: self.quorum,
            calibration: self.calibration,
            priority_0: self.priority_0,
            info: json(self.info)?,
            n_answers: self.needed,
            fav_user_ids: json(self.fav_user_ids)?,
            n_task_runs: self.runs,
            // Not read on the hot path: volunteers see neither.
            external_id: None,
            dedup_key: None,
            gold_answers: None,
        })
    }
}

/// Volunteers a task with `runs` of its `needed` answers may be held for: the answers it still
/// needs; with early finish (`retire_at`: the project's `min_answers`) no more than it takes to
/// reach `min_answers`, then one at a time while its answers are not sure, so that volunteers
/// do not pile onto a task about to retire (their answers would be refused).
pub fn room(runs: i32, needed: i32, retire_at: Option<i32>) -> i64 {
    let cap = match retire_at {
        Some(at) => Ord::min(needed, Ord::max(at, runs.saturating_add(1))),
        None => needed,
    };
    i64::from(cap) - i64::from(runs)
}

/// The order a scan walks the project's tasks in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum ScanOrder {
    /// By a task column (then by id), as `orderby`/`desc` ask.
    Column { name: &'static str, desc: bool },
    /// Fewest answers first.
    Breadth,
    /// Highest `priority_0` first.
    Priority,
}

impl ScanOrder {
    /// The order `orderby`/`desc` ask for; PYBOSSA's error for a column tasks do not have.
    pub fn by(orderby: Option<&str>, desc: bool) -> ApiResult<Self> {
        // A public, sortable task field, by its exact name (the answer count is none: ordering
        // by it would make a scan's cursor meaningless).
        let name = match orderby {
            None => "id",
            Some(name) => {
                crate::domain::rest::fields::find(crate::domain::rest::resources::TASK_FIELDS, name)
                    .filter(|f| {
                        f.sort
                            && f.column
                            && f.read == crate::domain::rest::fields::Access::Public
                            && f.name != "n_task_runs"
                    })
                    .ok_or_else(|| {
                        ApiError::attribute(format!("type object 'Task' has no attribute '{name}'"))
                    })?
                    .name
            }
        };
        Ok(Self::Column { name, desc })
    }

    pub const OLDEST: Self = Self::Column {
        name: "id",
        desc: false,
    };
}

/// How the volunteer's own answers are told apart (see [`Volunteer::answered_by`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Who {
    External,
    User,
    Address,
    Nobody,
}

impl Who {
    fn of(volunteer: &Volunteer) -> Self {
        match (
            &volunteer.external_uid,
            volunteer.user_id,
            &volunteer.user_ip,
        ) {
            (Some(_), _, _) => Self::External,
            (None, Some(_), _) => Self::User,
            (None, None, Some(_)) => Self::Address,
            (None, None, None) => Self::Nobody,
        }
    }
}

/// Where a pass of the scan starts or stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Bound {
    /// Tasks from this id on.
    From(TaskId),
    /// Tasks before this id.
    Before(TaskId),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Shape {
    order: ScanOrder,
    who: Who,
    /// `Some(true)`: from the bound on; `Some(false)`: before it.
    bound: Option<bool>,
    left_out: bool,
}

/// The candidate reads' SQL, per shape, as sea-query built it the first time. A plain map: there
/// are a few dozen shapes at most, so nothing ever needs evicting.
#[derive(Default)]
pub struct CandidateSql(Mutex<HashMap<Shape, std::sync::Arc<str>>>);

/// One scan's reads: of which project, for whom, in which order.
pub(super) struct Scan<'a> {
    pub project: ProjectId,
    pub volunteer: &'a Volunteer,
    pub order: ScanOrder,
}

impl Scan<'_> {
    /// A batch of `size` candidates after the first `skip`, within `bound`, but the tasks in
    /// `left_out`.
    pub async fn read(
        &self,
        state: &Infra,
        lp: &LoopState,
        bound: Option<Bound>,
        left_out: &[TaskId],
        size: u64,
        skip: u64,
    ) -> Result<Vec<Candidate>, DbErr> {
        let backend = state.read_db.get_database_backend();
        let shape = Shape {
            order: self.order,
            who: Who::of(self.volunteer),
            bound: bound.map(|b| matches!(b, Bound::From(_))),
            left_out: !left_out.is_empty(),
        };
        let left_out = shape.left_out.then(|| id_list(backend, left_out));
        let cached = lp
            .candidate_sql
            .0
            .lock()
            .ok()
            .and_then(|m| m.get(&shape).cloned());
        let mut stmt = match cached {
            Some(sql) => {
                // Debug builds (the tests) check the kept text against a fresh build.
                #[cfg(debug_assertions)]
                let fresh = self.build(backend, bound, left_out.clone());
                let stmt = Statement::from_sql_and_values(
                    backend,
                    sql.as_ref(),
                    self.values(backend, bound, left_out),
                );
                #[cfg(debug_assertions)]
                assert_eq!((&fresh.sql, &fresh.values), (&stmt.sql, &stmt.values));
                stmt
            }
            None => {
                let stmt = self.build(backend, bound, left_out);
                if let Ok(mut m) = lp.candidate_sql.0.lock() {
                    m.insert(shape, stmt.sql.as_str().into());
                }
                stmt
            }
        };
        // Literal numbers, not parameters: with `LIMIT $n` PostgreSQL re-planned this query on
        // every call (a generic plan cannot see the limit).
        stmt.sql.push_str(&format!(" LIMIT {size} OFFSET {skip}"));
        lp.hot_reads
            .query_all(stmt)
            .await?
            .iter()
            .map(Candidate::read)
            .collect()
    }

    /// The read's values, in the order [`Scan::build`]'s statement takes them.
    fn values(
        &self,
        backend: DbBackend,
        bound: Option<Bound>,
        left_out: Option<Value>,
    ) -> Vec<Value> {
        let v = self.volunteer;
        let mut values = vec![
            Value::Int(Some(self.project.0)),
            Value::String(Some(sea_orm::ActiveEnum::to_value(&TaskState::Ongoing))),
        ];
        values.push(match Who::of(v) {
            Who::External => Value::String(v.external_uid.clone()),
            Who::User => Value::Int(v.user_id.map(|u| u.0)),
            Who::Address => Value::String(v.user_ip.clone()),
            Who::Nobody => Value::Int(Some(-1)),
        });
        if backend == DbBackend::Postgres {
            values.push(Value::BigUnsigned(Some(0)));
        }
        if let Some(Bound::From(id) | Bound::Before(id)) = bound {
            values.push(Value::Int(Some(id.0)));
        }
        values.extend(left_out);
        values
    }

    /// The read as sea-query builds it (without its limit).
    fn build(
        &self,
        backend: DbBackend,
        bound: Option<Bound>,
        left_out: Option<Value>,
    ) -> Statement {
        // Tasks this volunteer answered. With the cursor, a volunteer's own history is walked
        // at most once, not on every request.
        let answered = self.volunteer.answered_task(backend);
        let mut query = task::Entity::find()
            .filter(task::Column::ProjectId.eq(self.project))
            .filter(task::Column::State.eq(TaskState::Ongoing))
            .filter(Expr::col(task::Column::NTaskRuns).lt(Expr::col(task::Column::NAnswers)))
            // Gold tasks are served on their own (see `gold::serve`). A literal, so the
            // statement's values stay as `values` lists them.
            .filter(Expr::cust(r#""task"."calibration" = 0"#))
            .filter(Expr::exists(answered).not());
        query = match self.order {
            ScanOrder::Column { name, desc } => {
                let order = if desc { Order::Desc } else { Order::Asc };
                match crate::domain::rest::crud::own_column::<crate::domain::rest::resources::Task>(
                    name,
                ) {
                    Some(task::Column::Id) | None => query.order_by(task::Column::Id, order),
                    Some(column) => query
                        .order_by(column, order.clone())
                        .order_by(task::Column::Id, order),
                }
            }
            ScanOrder::Breadth => query
                .order_by_asc(task::Column::NTaskRuns)
                .order_by_asc(task::Column::Id),
            ScanOrder::Priority => query
                .order_by_desc(task::Column::Priority0)
                .order_by_asc(task::Column::Id),
        };
        query = match bound {
            Some(Bound::From(id)) => query.filter(task::Column::Id.gte(id)),
            Some(Bound::Before(id)) => query.filter(task::Column::Id.lt(id)),
            None => query,
        };
        if let Some(ids) = left_out {
            // One parameter however many tasks, so that the statement stays one prepared
            // statement.
            query = query.filter(match backend {
                DbBackend::Postgres => {
                    Expr::cust_with_values(r#""task"."id" <> ALL(CAST($1 AS int[]))"#, [ids])
                }
                _ => Expr::cust_with_values(
                    r#""task"."id" NOT IN (SELECT value FROM json_each(?))"#,
                    [ids],
                ),
            });
        }
        query
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
            .build(backend)
    }
}

/// Task ids as one parameter: a PostgreSQL array (sent in binary, not as text for the server
/// to parse), or a JSON array for SQLite.
fn id_list(backend: DbBackend, ids: &[TaskId]) -> Value {
    match backend {
        DbBackend::Postgres => Value::from(ids.iter().map(|t| t.0).collect::<Vec<i32>>()),
        _ => Value::String(Some(format!(
            "[{}]",
            ids.iter()
                .map(TaskId::to_string)
                .collect::<Vec<_>>()
                .join(",")
        ))),
    }
}

#[cfg(test)]
mod tests {
    use sea_orm::DbBackend;

    use super::{Bound, Scan, ScanOrder};
    use crate::domain::volunteer::identity::Volunteer;
    use crate::ids::{ProjectId, TaskId};

    /// Every shape's values, as kept, line up with the statement sea-query builds.
    #[test]
    fn kept_sql_takes_the_values_in_the_built_order() {
        let volunteers = [
            Volunteer {
                user_id: None,
                user_ip: None,
                external_uid: Some("ext-1".into()),
                key: "x".into(),
            },
            Volunteer {
                user_id: Some(crate::ids::UserId(7)),
                user_ip: None,
                external_uid: None,
                key: "u7".into(),
            },
            Volunteer {
                user_id: None,
                user_ip: Some("10.0.0.1".into()),
                external_uid: None,
                key: "ip".into(),
            },
            Volunteer {
                user_id: None,
                user_ip: None,
                external_uid: None,
                key: "none".into(),
            },
        ];
        let orders = [
            ScanOrder::OLDEST,
            ScanOrder::by(Some("priority_0"), true).expect("a task column"),
            ScanOrder::Breadth,
            ScanOrder::Priority,
        ];
        assert!(ScanOrder::by(Some("n_task_runs"), false).is_err());
        assert!(ScanOrder::by(Some("nTaskRuns"), false).is_err());
        assert!(ScanOrder::by(Some("nope"), false).is_err());
        for spelling in ["priority0", "Priority0", "PRIORITY_0", "Id", "createdAt"] {
            assert!(ScanOrder::by(Some(spelling), false).is_err(), "{spelling}");
        }
        for backend in [DbBackend::Postgres, DbBackend::Sqlite] {
            for volunteer in &volunteers {
                for order in orders {
                    for bound in [
                        None,
                        Some(Bound::From(TaskId(5))),
                        Some(Bound::Before(TaskId(9))),
                    ] {
                        for left_out in
                            [None, Some(super::id_list(backend, &[TaskId(3), TaskId(4)]))]
                        {
                            let scan = Scan {
                                project: ProjectId(42),
                                volunteer,
                                order,
                            };
                            let built = scan.build(backend, bound, left_out.clone());
                            let values = built.values.expect("values").0;
                            assert_eq!(values, scan.values(backend, bound, left_out));
                        }
                    }
                }
            }
        }
    }
}
