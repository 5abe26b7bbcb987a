//! The `info` filter of PYBOSSA listings, on PostgreSQL (JSONB operators) and SQLite (JSON1
//! functions), giving the same answers on both.
//!
//! - `info=k1::v1|k2::v2`: first-level keys compared as text.
//! - with `fulltextsearch=1`: each pair is a full-text match of the value's words in `info.k`.
//! - otherwise the value is JSON and the row's `info` must contain it (`@>` semantics).

use sea_orm::{
    Condition, DbBackend,
    sea_query::{Expr, SimpleExpr},
};
use serde_json::Value as Json;

use crate::error::{ApiError, ApiResult};

pub fn info_condition(backend: DbBackend, raw: &str, fulltext: bool) -> ApiResult<Condition> {
    let mut cond = Condition::all();
    if raw.contains("::") {
        for pair in raw.split('|') {
            let (key, value) = pair
                .split_once("::")
                .ok_or_else(|| ApiError::value(format!("invalid info filter: '{pair}'")))?;
            cond = cond.add(if fulltext {
                fulltext_match(backend, key, value)
            } else {
                text_equals(backend, key, value)
            });
        }
        return Ok(cond);
    }
    // A value that is not JSON is taken as a string, so `info=foo` finds `"foo"`.
    let needle: Json = serde_json::from_str(raw).unwrap_or_else(|_| Json::String(raw.to_string()));
    Ok(match backend {
        DbBackend::Postgres => cond.add(Expr::cust_with_values(
            "\"info\" @> $1::jsonb",
            [needle.to_string()],
        )),
        _ => cond.add(sqlite_contains("\"info\"", "$", &needle)),
    })
}

fn sqlite_path(key: &str) -> String {
    format!("$.\"{}\"", key.replace(['"', '\\'], ""))
}

/// `info ->> key = value`, PostgreSQL's text rendering of booleans and numbers included.
fn text_equals(backend: DbBackend, key: &str, value: &str) -> SimpleExpr {
    match backend {
        DbBackend::Postgres => Expr::cust_with_values(
            "(\"info\" ->> $1) = $2",
            [key.to_string(), value.to_string()],
        ),
        _ => Expr::cust_with_values(
            "(CASE json_type(\"info\", ?) WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' \
             ELSE CAST(json_extract(\"info\", ?) AS TEXT) END) = ?",
            [sqlite_path(key), sqlite_path(key), value.to_string()],
        ),
    }
}

fn fulltext_match(backend: DbBackend, key: &str, query: &str) -> SimpleExpr {
    match backend {
        // websearch_to_tsquery never fails on user input (to_tsquery raises on bad syntax).
        DbBackend::Postgres => Expr::cust_with_values(
            "to_tsvector('english', coalesce(\"info\" ->> $1, '')) @@ websearch_to_tsquery('english', $2)",
            [key.to_string(), query.to_string()],
        ),
        _ => {
            // Every word must occur, case-insensitively.
            let mut cond = Condition::all();
            for word in query
                .split(|c: char| !c.is_alphanumeric())
                .filter(|w| !w.is_empty())
            {
                cond = cond.add(Expr::cust_with_values(
                    "instr(lower(CAST(json_extract(\"info\", ?) AS TEXT)), lower(?)) > 0",
                    [sqlite_path(key), word.to_string()],
                ));
            }
            Expr::expr(SimpleExpr::from(cond))
        }
    }
}

/// JSONB containment (`@>`) for SQLite: objects match key by key, arrays by "every needle
/// element is contained in some element", scalars by type and value.
fn sqlite_contains(doc: &str, path: &str, needle: &Json) -> SimpleExpr {
    match needle {
        Json::Object(map) => {
            let mut cond = Condition::all().add(Expr::cust_with_values(
                format!("json_type({doc}, ?) = 'object'"),
                [path.to_string()],
            ));
            for (key, value) in map {
                let sub = format!("{path}.\"{}\"", key.replace(['"', '\\'], ""));
                cond = cond.add(sqlite_contains(doc, &sub, value));
            }
            SimpleExpr::from(cond)
        }
        Json::Array(items) => {
            let mut cond = Condition::all().add(Expr::cust_with_values(
                format!("json_type({doc}, ?) = 'array'"),
                [path.to_string()],
            ));
            for item in items {
                // Scalar members come out of json_each as SQL values; containers as JSON text.
                let (test, values): (String, Vec<sea_orm::Value>) = match item {
                    Json::Null => ("__e.type = 'null'".into(), vec![]),
                    Json::Bool(b) => (format!("__e.type = '{b}'"), vec![]),
                    Json::Number(n) => (
                        "__e.type IN ('integer', 'real') AND __e.value = ?".into(),
                        vec![sea_orm::Value::Double(n.as_f64())],
                    ),
                    Json::String(s) => (
                        "__e.type = 'text' AND __e.value = ?".into(),
                        vec![s.clone().into()],
                    ),
                    Json::Object(_) | Json::Array(_) => {
                        render(&sqlite_contains("__e.value", "$", item))
                    }
                };
                let mut all = vec![sea_orm::Value::String(Some(path.to_string()))];
                all.extend(values);
                cond = cond.add(Expr::cust_with_values(
                    format!("EXISTS (SELECT 1 FROM json_each({doc}, ?) AS __e WHERE {test})"),
                    all,
                ));
            }
            SimpleExpr::from(cond)
        }
        Json::Null => {
            Expr::cust_with_values(format!("json_type({doc}, ?) = 'null'"), [path.to_string()])
        }
        Json::Bool(b) => Expr::cust_with_values(
            format!("json_type({doc}, ?) = ?"),
            [
                path.to_string(),
                if *b { "true".into() } else { "false".into() },
            ],
        ),
        Json::Number(n) => Expr::cust_with_values(
            format!("json_type({doc}, ?) IN ('integer', 'real') AND json_extract({doc}, ?) = ?"),
            [
                sea_orm::Value::String(Some(path.to_string())),
                sea_orm::Value::String(Some(path.to_string())),
                sea_orm::Value::Double(n.as_f64()),
            ],
        ),
        Json::String(s) => Expr::cust_with_values(
            format!("json_type({doc}, ?) = 'text' AND json_extract({doc}, ?) = ?"),
            [path.to_string(), path.to_string(), s.clone()],
        ),
    }
}

/// Renders an expression to SQLite SQL with `?` placeholders and its values, so it can be
/// nested inside another custom expression.
fn render(expr: &SimpleExpr) -> (String, Vec<sea_orm::Value>) {
    use sea_orm::sea_query::{Query, SqliteQueryBuilder};
    let stmt = Query::select().expr(expr.clone()).to_owned();
    let (sql, values) = stmt.build(SqliteQueryBuilder);
    (sql.trim_start_matches("SELECT ").to_string(), values.0)
}
