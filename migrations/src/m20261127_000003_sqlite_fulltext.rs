//! Full-text search over first-level text values of `info` on SQLite, to answer
//! `fulltextsearch=1` as PostgreSQL does with `to_tsvector('english', …)`: FTS5 with the Porter
//! stemmer over a side table (`info_text`) that triggers keep in step with every table that has
//! an `info` column. PostgreSQL needs nothing: it searches `info` directly.

use sea_orm_migration::{prelude::*, sea_orm::DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Tables with an `info` column, as the API names them (`users` is the user table).
const TABLES: &[&str] = &[
    "project",
    "category",
    "task",
    "task_run",
    "result",
    "announcement",
    "blogpost",
    "helpingmaterial",
    "page",
    "users",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        if m.get_database_backend() != DbBackend::Sqlite {
            return Ok(());
        }
        let db = m.get_connection();
        db.execute_unprepared(
            "CREATE TABLE info_text (
                 id INTEGER PRIMARY KEY,
                 tbl TEXT NOT NULL,
                 row_id INTEGER NOT NULL,
                 key TEXT NOT NULL,
                 body TEXT NOT NULL
             );
             CREATE INDEX ix_info_text_row ON info_text (tbl, row_id);
             CREATE INDEX ix_info_text_key ON info_text (tbl, key);
             CREATE VIRTUAL TABLE info_fts USING fts5(
                 body, content='info_text', content_rowid='id', tokenize='porter unicode61'
             );
             CREATE TRIGGER info_text_ai AFTER INSERT ON info_text BEGIN
                 INSERT INTO info_fts(rowid, body) VALUES (new.id, new.body);
             END;
             CREATE TRIGGER info_text_ad AFTER DELETE ON info_text BEGIN
                 INSERT INTO info_fts(info_fts, rowid, body) VALUES ('delete', old.id, old.body);
             END;",
        )
        .await?;
        for table in TABLES {
            let fill = |row: &str| {
                format!(
                    "INSERT INTO info_text (tbl, row_id, key, body)
                     SELECT '{table}', {row}.id, j.key, j.value FROM json_each({row}.info) AS j
                     WHERE json_valid({row}.info) AND json_type({row}.info) = 'object' AND j.type = 'text';"
                )
            };
            let forget = |row: &str| {
                format!("DELETE FROM info_text WHERE tbl = '{table}' AND row_id = {row}.id;")
            };
            db.execute_unprepared(&format!(
                "CREATE TRIGGER {table}_info_ai AFTER INSERT ON {table} BEGIN {fill_new} END;
                 CREATE TRIGGER {table}_info_au AFTER UPDATE OF info ON {table} BEGIN {forget_old} {fill_new} END;
                 CREATE TRIGGER {table}_info_ad AFTER DELETE ON {table} BEGIN {forget_old} END;
                 INSERT INTO info_text (tbl, row_id, key, body)
                 SELECT '{table}', t.id, j.key, j.value FROM {table} AS t, json_each(t.info) AS j
                 WHERE json_valid(t.info) AND json_type(t.info) = 'object' AND j.type = 'text';",
                fill_new = fill("new"),
                forget_old = forget("old"),
            ))
            .await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        if m.get_database_backend() != DbBackend::Sqlite {
            return Ok(());
        }
        let db = m.get_connection();
        for table in TABLES {
            db.execute_unprepared(&format!(
                "DROP TRIGGER IF EXISTS {table}_info_ai; DROP TRIGGER IF EXISTS {table}_info_au;
                 DROP TRIGGER IF EXISTS {table}_info_ad;"
            ))
            .await?;
        }
        db.execute_unprepared("DROP TABLE IF EXISTS info_fts; DROP TABLE IF EXISTS info_text;")
            .await?;
        Ok(())
    }
}
