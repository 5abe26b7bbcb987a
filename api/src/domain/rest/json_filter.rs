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

/// `table` is the resource's table, needed to find its full-text index on SQLite.
pub fn info_condition(
    backend: DbBackend,
    table: &str,
    raw: &str,
    fulltext: bool,
) -> ApiResult<Condition> {
    let mut cond = Condition::all();
    if raw.contains("::") {
        if raw.split('|').count() > MAX_ELEMENTS {
            return Err(ApiError::value(format!(
                "the info filter may hold at most {MAX_ELEMENTS} pairs"
            )));
        }
        for pair in raw.split('|') {
            let (key, value) = pair
                .split_once("::")
                .ok_or_else(|| ApiError::value(format!("invalid info filter: '{pair}'")))?;
            cond = cond.add(if fulltext {
                fulltext_match(backend, table, key, value)
            } else {
                text_equals(backend, key, value)
            });
        }
        return Ok(cond);
    }
    // A value that is not JSON is taken as a string, so `info=foo` finds `"foo"`.
    let needle: Json = serde_json::from_str(raw).unwrap_or_else(|_| Json::String(raw.to_string()));
    check_size(&needle)?;
    Ok(match backend {
        DbBackend::Postgres => cond.add(Expr::cust_with_values(
            "\"info\" @> $1::jsonb",
            [needle.to_string()],
        )),
        _ => cond.add(sqlite_contains("\"info\"", "$", &needle)),
    })
}

/// How deep, and how large, a JSON `info` filter may be: each level and element becomes part
/// of the query.
pub const MAX_DEPTH: usize = 8;
pub const MAX_ELEMENTS: usize = 64;

fn check_size(needle: &Json) -> ApiResult<()> {
    fn walk(v: &Json, depth: usize, count: &mut usize) -> bool {
        *count += 1;
        if depth > MAX_DEPTH || *count > MAX_ELEMENTS {
            return false;
        }
        match v {
            Json::Array(items) => items.iter().all(|i| walk(i, depth + 1, count)),
            Json::Object(map) => map.values().all(|i| walk(i, depth + 1, count)),
            _ => true,
        }
    }
    let mut count = 0;
    if walk(needle, 1, &mut count) {
        Ok(())
    } else {
        Err(ApiError::value(format!(
            "the info filter may nest at most {MAX_DEPTH} levels and hold at most {MAX_ELEMENTS} values"
        )))
    }
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

/// English stop words (PostgreSQL's `english` list): PostgreSQL drops them from queries, so
/// SQLite must too for both to give the same answers.
const STOP_WORDS: &[&str] = &[
    "i",
    "me",
    "my",
    "myself",
    "we",
    "our",
    "ours",
    "ourselves",
    "you",
    "your",
    "yours",
    "yourself",
    "yourselves",
    "he",
    "him",
    "his",
    "himself",
    "she",
    "her",
    "hers",
    "herself",
    "it",
    "its",
    "itself",
    "they",
    "them",
    "their",
    "theirs",
    "themselves",
    "what",
    "which",
    "who",
    "whom",
    "this",
    "that",
    "these",
    "those",
    "am",
    "is",
    "are",
    "was",
    "were",
    "be",
    "been",
    "being",
    "have",
    "has",
    "had",
    "having",
    "do",
    "does",
    "did",
    "doing",
    "a",
    "an",
    "the",
    "and",
    "but",
    "if",
    "or",
    "because",
    "as",
    "until",
    "while",
    "of",
    "at",
    "by",
    "for",
    "with",
    "about",
    "against",
    "between",
    "into",
    "through",
    "during",
    "before",
    "after",
    "above",
    "below",
    "to",
    "from",
    "up",
    "down",
    "in",
    "out",
    "on",
    "off",
    "over",
    "under",
    "again",
    "further",
    "then",
    "once",
    "here",
    "there",
    "when",
    "where",
    "why",
    "how",
    "all",
    "any",
    "both",
    "each",
    "few",
    "more",
    "most",
    "other",
    "some",
    "such",
    "no",
    "nor",
    "not",
    "only",
    "own",
    "same",
    "so",
    "than",
    "too",
    "very",
    "s",
    "t",
    "can",
    "will",
    "just",
    "don",
    "should",
    "now",
];

/// Every word of the query must occur (stemmed, stop words ignored): PostgreSQL's
/// `plainto_tsquery('english', …)`, and on SQLite FTS5 with the Porter stemmer.
fn fulltext_match(backend: DbBackend, table: &str, key: &str, query: &str) -> SimpleExpr {
    match backend {
        DbBackend::Postgres => Expr::cust_with_values(
            "to_tsvector('english', coalesce(\"info\" ->> $1, '')) @@ plainto_tsquery('english', $2)",
            [key.to_string(), query.to_string()],
        ),
        _ => {
            let words: Vec<String> = query
                .split(|c: char| !c.is_alphanumeric())
                .map(str::to_lowercase)
                .filter(|w| !w.is_empty() && !STOP_WORDS.contains(&w.as_str()))
                .map(|w| format!("\"{w}\""))
                .collect();
            if words.is_empty() {
                return Expr::cust("1 = 0");
            }
            Expr::cust_with_values(
                "\"id\" IN (SELECT t.row_id FROM info_fts JOIN info_text AS t ON t.id = info_fts.rowid \
                 WHERE info_fts MATCH ? AND t.tbl = ? AND t.key = ?)",
                [words.join(" "), table.to_string(), key.to_string()],
            )
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
