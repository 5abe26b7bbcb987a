//! 64 counter shards per project instead of 8: every answer updates one shard row until its
//! transaction ends, and with 64 concurrent volunteers 8 rows made answers queue behind one
//! another. The rows exist up front (a recount locks them all to exclude answers in flight).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// `counters::SHARDS` before and after this step.
const BEFORE: i32 = 8;
const AFTER: i32 = 64;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.get_connection()
            .execute_unprepared(&format!(
                "WITH RECURSIVE s(n) AS (SELECT {BEFORE} UNION ALL SELECT n + 1 FROM s WHERE n < {last}) \
                 INSERT INTO project_counter (project_id, shard) \
                 SELECT p.id, s.n FROM project p, s WHERE NOT EXISTS \
                 (SELECT 1 FROM project_counter c WHERE c.project_id = p.id AND c.shard = s.n)",
                last = AFTER - 1
            ))
            .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // Fold the extra shards into shard 0, then drop them.
        let columns = [
            "n_tasks",
            "n_task_runs",
            "n_completed_tasks",
            "n_results",
            "answer_ms",
            "n_volunteers_auth",
            "n_volunteers_anon",
            "n_answers_expected",
        ];
        let sets: Vec<String> = columns
            .iter()
            .map(|c| {
                format!(
                    "{c} = {c} + (SELECT COALESCE(SUM(x.{c}), 0) FROM project_counter x \
                     WHERE x.project_id = project_counter.project_id AND x.shard >= {BEFORE})"
                )
            })
            .collect();
        let db = m.get_connection();
        db.execute_unprepared(&format!(
            "UPDATE project_counter SET {} WHERE shard = 0",
            sets.join(", ")
        ))
        .await?;
        db.execute_unprepared(&format!(
            "DELETE FROM project_counter WHERE shard >= {BEFORE}"
        ))
        .await?;
        Ok(())
    }
}
