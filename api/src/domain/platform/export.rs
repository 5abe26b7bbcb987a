//! Exports of a project's tasks, answers or results as CSV (with `info` flattened into columns,
//! as PYBOSSA does), JSON or JSON Lines, optionally zipped.
//!
//! Rows are read in id order in pages of [`PAGE`] (keyset pagination on `(project_id, id)`) and
//! written to an async sink as they come, so memory stays flat however large the project: 10
//! million answers stream like 10. CSV needs its columns before the first row, so it reads the
//! rows twice: once to collect the flattened keys, once to write.

use std::collections::HashMap;

use async_zip::{Compression, ZipEntryBuilder, tokio::write::ZipFileWriter};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde_json::{Map, Value as Json};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio_util::compat::FuturesAsyncWriteCompatExt;

use crate::domain::{
    rest::crud::{self, Resource},
    rest::fields::Access,
    rest::resources,
};
use crate::{
    domain::volunteer::completion::volunteer_key,
    error::ApiError,
    store::entities::{project_volunteer, result, task, task_run},
};

/// Rows read per query.
const PAGE: u64 = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    Task,
    TaskRun,
    Result,
}

impl Table {
    pub fn parse(s: &str) -> Result<Self, ApiError> {
        match s {
            "task" => Ok(Table::Task),
            "task_run" | "taskrun" => Ok(Table::TaskRun),
            "result" => Ok(Table::Result),
            other => Err(ApiError::BadRequest(format!(
                "unknown export type {other:?}: use task, task_run or result"
            ))),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Table::Task => "task",
            Table::TaskRun => "task_run",
            Table::Result => "result",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Json,
    Jsonl,
}

impl Format {
    pub fn parse(s: &str) -> Result<Self, ApiError> {
        match s {
            "csv" => Ok(Format::Csv),
            "json" => Ok(Format::Json),
            "jsonl" | "ndjson" => Ok(Format::Jsonl),
            other => Err(ApiError::BadRequest(format!(
                "unknown export format {other:?}: use csv, json or jsonl"
            ))),
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Json => "json",
            Format::Jsonl => "jsonl",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8",
            Format::Json => "application/json",
            Format::Jsonl => "application/x-ndjson",
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Export {
    pub table: Table,
    pub format: Format,
    pub zip: bool,
    /// Who the export is for: the project's owners see what only owners may read (volunteers'
    /// anonymised addresses, external user ids); a public export leaves it out.
    pub level: Access,
}

impl Export {
    /// `<id>_<short_name>_<type>_<format>.zip` (PYBOSSA's name) or `<short_name>_<type>.<ext>`.
    pub fn file_name(&self, project_id: i32, short_name: &str) -> String {
        let safe: String = short_name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        if self.zip {
            format!(
                "{project_id}_{safe}_{}_{}.zip",
                self.table.name(),
                self.format.extension()
            )
        } else {
            self.member_name(&safe)
        }
    }

    fn member_name(&self, short_name: &str) -> String {
        format!(
            "{short_name}_{}.{}",
            self.table.name(),
            self.format.extension()
        )
    }

    pub fn content_type(&self) -> &'static str {
        if self.zip {
            "application/zip"
        } else {
            self.format.content_type()
        }
    }
}

async fn page_of<R: Resource>(
    db: &impl ConnectionTrait,
    project_id: i32,
    after: i32,
    only: sea_orm::Condition,
    level: Access,
) -> Result<Vec<(i32, Map<String, Json>)>, DbErr> {
    let (Some(pid), Some(id)) = (
        crud::own_column::<R>("project_id"),
        crud::own_column::<R>("id"),
    ) else {
        return Err(DbErr::Custom(format!("{} has no project_id", R::TARGET)));
    };
    let rows = R::Entity::find()
        .filter(pid.eq(project_id))
        .filter(id.gt(after))
        .filter(only)
        .order_by_asc(id)
        .limit(PAGE)
        .all(db)
        .await?;
    Ok(rows
        .iter()
        .map(|m| (R::id(m), crud::to_map::<R>(m, level)))
        .collect())
}

fn all() -> sea_orm::Condition {
    sea_orm::Condition::all()
}

async fn page(
    db: &impl ConnectionTrait,
    spec: Export,
    project_id: i32,
    after: i32,
) -> Result<Vec<(i32, Map<String, Json>)>, DbErr> {
    let level = spec.level;
    // Gold tasks and the answers to them are for the project's owners only.
    let owners = level >= Access::Owner;
    match spec.table {
        Table::Task => {
            let only = if owners {
                all()
            } else {
                all().add(task::Column::Calibration.eq(0))
            };
            page_of::<resources::Task>(db, project_id, after, only, level).await
        }
        Table::TaskRun => {
            let only = if owners {
                all()
            } else {
                all().add(task_run::Column::GoldCorrect.is_null())
            };
            let mut rows =
                page_of::<resources::TaskRun>(db, project_id, after, only, level).await?;
            if owners {
                flag_excluded(db, project_id, &mut rows).await?;
            }
            Ok(rows)
        }
        // The current result of each task, as PYBOSSA exports.
        Table::Result => {
            let current = all().add(result::Column::LastVersion.eq(true));
            page_of::<resources::ResultResource>(db, project_id, after, current, level).await
        }
    }
}

/// Marks the answers of volunteers the owner excluded from aggregates (`"excluded": true`):
/// they stay in the export, flagged, for the owner alone.
async fn flag_excluded(
    db: &impl ConnectionTrait,
    project_id: i32,
    rows: &mut [(i32, Map<String, Json>)],
) -> Result<(), DbErr> {
    let excluded: Vec<String> = project_volunteer::Entity::find()
        .select_only()
        .column(project_volunteer::Column::Volunteer)
        .filter(project_volunteer::Column::ProjectId.eq(project_id))
        .filter(project_volunteer::Column::ExcludedAt.is_not_null())
        .into_tuple()
        .all(db)
        .await?;
    if excluded.is_empty() {
        return Ok(());
    }
    for (_, row) in rows.iter_mut() {
        let text = |k: &str| row.get(k).and_then(Json::as_str);
        let user = row
            .get("user_id")
            .and_then(Json::as_i64)
            .and_then(|u| i32::try_from(u).ok());
        let key = volunteer_key(project_id, user, text("external_uid"), text("user_ip"));
        if excluded.contains(&key) {
            row.insert("excluded".into(), Json::Bool(true));
        }
    }
    Ok(())
}

/// PYBOSSA's `flatten_json`: nested object keys joined with `_`; lists stay JSON text.
pub fn flatten(prefix: &str, value: &Json, out: &mut Vec<(String, String)>) {
    match value {
        Json::Object(map) if !map.is_empty() => {
            for (k, v) in map {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}_{k}")
                };
                flatten(&key, v, out);
            }
        }
        Json::Null => out.push((prefix.to_string(), String::new())),
        Json::String(s) => out.push((prefix.to_string(), s.clone())),
        other => out.push((prefix.to_string(), other.to_string())),
    }
}

fn io(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

/// The rows of one table of one project, a page at a time, in id order.
struct Pager<'a, C> {
    db: &'a C,
    spec: Export,
    project_id: i32,
    after: i32,
    done: bool,
}

impl<'a, C: ConnectionTrait> Pager<'a, C> {
    fn new(db: &'a C, spec: Export, project_id: i32) -> Self {
        Self {
            db,
            spec,
            project_id,
            after: 0,
            done: false,
        }
    }

    async fn next(&mut self) -> std::io::Result<Option<Vec<Map<String, Json>>>> {
        if self.done {
            return Ok(None);
        }
        let rows = page(self.db, self.spec, self.project_id, self.after)
            .await
            .map_err(io)?;
        let Some((last, _)) = rows.last() else {
            self.done = true;
            return Ok(None);
        };
        self.after = *last;
        self.done = (rows.len() as u64) < PAGE;
        Ok(Some(rows.into_iter().map(|(_, m)| m).collect()))
    }
}

/// Columns a CSV export may have: past them, a row's other flattened keys go as one JSON object
/// into [`REST_COLUMN`], so a file grows with its rows and not with the keys they invent.
pub const MAX_COLUMNS: usize = 256;
/// The column holding the flattened keys that have no column of their own.
pub const REST_COLUMN: &str = "_other";

/// A CSV export's columns, in the order first seen.
#[derive(Default)]
struct Columns {
    names: Vec<String>,
    index: HashMap<String, usize>,
    /// Some row had a key beyond the cap.
    rest: bool,
}

impl Columns {
    fn see(&mut self, key: String) {
        if self.index.contains_key(&key) {
            return;
        }
        if self.names.len() >= MAX_COLUMNS {
            self.rest = true;
            return;
        }
        self.index.insert(key.clone(), self.names.len());
        self.names.push(key);
    }

    fn names(&self) -> impl Iterator<Item = &str> {
        self.names
            .iter()
            .map(String::as_str)
            .chain(self.rest.then_some(REST_COLUMN))
    }

    /// One row's cells, in column order, neutralised against formula injection.
    fn record(&self, cells: Vec<(String, String)>) -> Vec<String> {
        let mut record = vec![String::new(); self.names.len() + usize::from(self.rest)];
        let mut rest = Map::new();
        for (k, v) in cells {
            match self.index.get(&k) {
                Some(&i) => record[i] = neutralise(v),
                None => {
                    rest.insert(k, Json::String(v));
                }
            }
        }
        if self.rest && !rest.is_empty() {
            let last = record.len() - 1;
            record[last] = neutralise(Json::Object(rest).to_string());
        }
        record
    }
}

/// OWASP's rule for CSV injection: a cell a spreadsheet would read as a formula (starting with
/// `=`, `+`, `-`, `@`, a tab or a carriage return) gets a leading `'`. Plain numbers stay.
pub fn neutralise(cell: String) -> String {
    let risky = cell.starts_with(['=', '+', '-', '@', '\t', '\r']);
    if risky && cell.trim().parse::<f64>().is_err() {
        format!("'{cell}")
    } else {
        cell
    }
}

fn cells(row: Map<String, Json>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    flatten("", &Json::Object(row), &mut out);
    out
}

/// Writes the rows in the chosen format; `progress` gets the running row count.
async fn write_rows<C: ConnectionTrait, W: AsyncWrite + Unpin>(
    db: &C,
    project_id: i32,
    spec: Export,
    out: &mut W,
    progress: &(dyn Fn(u64) + Send + Sync),
) -> std::io::Result<u64> {
    let mut n = 0u64;
    let mut pages = Pager::new(db, spec, project_id);
    match spec.format {
        Format::Json | Format::Jsonl => {
            let json = spec.format == Format::Json;
            if json {
                out.write_all(b"[").await?;
            }
            while let Some(rows) = pages.next().await? {
                let mut buf = Vec::with_capacity(rows.len() * 256);
                for row in rows {
                    if json && n > 0 {
                        buf.push(b',');
                    }
                    serde_json::to_writer(&mut buf, &row).map_err(io)?;
                    if !json {
                        buf.push(b'\n');
                    }
                    n += 1;
                }
                out.write_all(&buf).await?;
                progress(n);
            }
            if json {
                out.write_all(b"]").await?;
            }
        }
        Format::Csv => {
            // First pass: the columns, in the order first seen, at most MAX_COLUMNS of them.
            let mut columns = Columns::default();
            while let Some(rows) = pages.next().await? {
                for row in rows {
                    for (k, _) in cells(row) {
                        columns.see(k);
                    }
                }
            }
            let mut header = csv::Writer::from_writer(Vec::new());
            header
                .write_record(columns.names().map(|c| neutralise(c.to_string())))
                .map_err(io)?;
            out.write_all(&header.into_inner().map_err(io)?).await?;
            let mut pages = Pager::new(db, spec, project_id);
            while let Some(rows) = pages.next().await? {
                let mut w = csv::WriterBuilder::new()
                    .has_headers(false)
                    .from_writer(Vec::with_capacity(rows.len() * 128));
                for row in rows {
                    w.write_record(columns.record(cells(row))).map_err(io)?;
                    n += 1;
                }
                out.write_all(&w.into_inner().map_err(io)?).await?;
                progress(n);
            }
        }
    }
    Ok(n)
}

/// Writes a whole export to `out` (zipped when asked) and returns the rows written.
pub async fn write<C: ConnectionTrait, W: AsyncWrite + Unpin>(
    db: &C,
    project_id: i32,
    short_name: &str,
    spec: Export,
    mut out: W,
    progress: &(dyn Fn(u64) + Send + Sync),
) -> std::io::Result<u64> {
    if !spec.zip {
        let n = Box::pin(write_rows(db, project_id, spec, &mut out, progress)).await?;
        out.shutdown().await?;
        return Ok(n);
    }
    let mut zip = ZipFileWriter::with_tokio(out);
    let entry = ZipEntryBuilder::new(spec.member_name(short_name).into(), Compression::Deflate);
    let mut member = zip
        .write_entry_stream(entry)
        .await
        .map_err(io)?
        .compat_write();
    let n = Box::pin(write_rows(db, project_id, spec, &mut member, progress)).await?;
    member.into_inner().close().await.map_err(io)?;
    let mut inner = zip.close().await.map_err(io)?.into_inner();
    inner.shutdown().await?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_neutralised_numbers_kept() {
        for risky in [
            "=1+2",
            "+cmd",
            "-2+3+cmd|' /C calc'!A0",
            "@SUM(A1)",
            "\tx",
            "\rx",
        ] {
            assert_eq!(neutralise(risky.into()), format!("'{risky}"));
        }
        for safe in ["-5", "-1.5", "+3", "plain", "a=b", ""] {
            assert_eq!(neutralise(safe.into()), safe);
        }
    }

    #[test]
    fn columns_stop_at_the_cap_and_the_rest_is_one_json_cell() {
        let mut columns = Columns::default();
        for i in 0..MAX_COLUMNS + 10 {
            columns.see(format!("k{i}"));
        }
        assert_eq!(columns.names().count(), MAX_COLUMNS + 1);
        assert_eq!(columns.names().last(), Some(REST_COLUMN));
        let row = vec![
            ("k0".to_string(), "=x".to_string()),
            (format!("k{}", MAX_COLUMNS + 3), "v".to_string()),
        ];
        let record = columns.record(row);
        assert_eq!(record.len(), MAX_COLUMNS + 1);
        assert_eq!(record[0], "'=x");
        let rest: Json = serde_json::from_str(&record[MAX_COLUMNS]).expect("json");
        assert_eq!(rest[format!("k{}", MAX_COLUMNS + 3)], "v");
    }
}
