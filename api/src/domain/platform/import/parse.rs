//! Reading task rows out of a file, as PYBOSSA's importers read them: CSV with a header row,
//! a JSON array of objects, JSON Lines, or an IIIF Presentation manifest (one task per canvas).
//!
//! Everything here is blocking and streams: a row is handed to the caller as soon as it is read,
//! so memory does not grow with the file. Reserved columns become task fields; every other
//! column goes into `info`.

use std::io::BufRead;
use std::ops::ControlFlow;

use serde::de::{Deserializer as _, SeqAccess, Visitor};
use serde_json::{Map, Value as Json};

use super::iiif;
pub use super::row::{Item, NewTask};

/// What a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Json,
    Jsonl,
    Iiif,
}

impl Format {
    pub const NAMES: &'static str = "csv, json, jsonl or iiif";

    pub fn parse(name: &str) -> Option<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "csv" | "gdocs" => Some(Self::Csv),
            "json" => Some(Self::Json),
            "jsonl" | "ndjson" => Some(Self::Jsonl),
            "iiif" => Some(Self::Iiif),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::Json => "json",
            Self::Jsonl => "jsonl",
            Self::Iiif => "iiif",
        }
    }

    /// The format a file name's extension names, if any.
    pub fn from_file_name(name: &str) -> Option<Self> {
        let ext = name.rsplit_once('.')?.1.to_ascii_lowercase();
        match ext.as_str() {
            "csv" => Some(Self::Csv),
            // `.json` may be an array or an IIIF manifest: its first bytes tell.
            "jsonl" | "ndjson" => Some(Self::Jsonl),
            _ => None,
        }
    }
}

/// The task fields a row may set; the columns PYBOSSA reserves.
pub const RESERVED: &[&str] = &[
    "n_answers",
    "priority_0",
    "calibration",
    "gold_answers",
    "external_id",
];

/// Task columns a JSON row in task shape (`{"info": {…}, …}`, as exports write them) may carry
/// and that an import sets itself.
const IGNORED: &[&str] = &[
    "id",
    "created",
    "project_id",
    "state",
    "quorum",
    "fav_user_ids",
    "n_task_runs",
    "link",
    "links",
];

/// Longest `external_id` taken.
const MAX_EXTERNAL_ID: usize = 256;
/// Largest row taken (its `info` as JSON), in bytes.
pub const MAX_ROW_BYTES: usize = 1024 * 1024;
/// How much of a refused row is kept to show and download.
const MAX_RAW: usize = 4096;

fn cut(raw: &str) -> String {
    if raw.len() <= MAX_RAW {
        return raw.to_string();
    }
    let mut end = MAX_RAW;
    while !raw.is_char_boundary(end) {
        end -= 1;
    }
    raw[..end].to_string()
}

fn as_text(v: &Json) -> Option<String> {
    match v {
        Json::String(s) => Some(s.trim().to_string()),
        Json::Number(n) => Some(n.to_string()),
        Json::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A reserved value, checked; `Ok(None)` for an empty cell (the default applies).
fn reserved(task: &mut NewTask, key: &str, v: Json, from_csv: bool) -> Result<(), String> {
    if v.is_null() || v.as_str().is_some_and(|s| s.trim().is_empty()) {
        return Ok(());
    }
    match key {
        "n_answers" => {
            let n = as_text(&v)
                .and_then(|s| s.parse::<i64>().ok())
                .filter(|n| (1..=100_000).contains(n))
                .and_then(|n| i32::try_from(n).ok())
                .ok_or("n_answers must be a whole number from 1 to 100000")?;
            task.n_answers = Some(n);
        }
        "priority_0" => {
            let p = as_text(&v)
                .and_then(|s| s.parse::<f64>().ok())
                .filter(|p| (0.0..=1.0).contains(p))
                .ok_or("priority_0 must be a number from 0 to 1")?;
            task.priority_0 = Some(p);
        }
        "calibration" => {
            let c = match as_text(&v).as_deref() {
                Some("0" | "false") => 0,
                Some("1" | "true") => 1,
                _ => return Err("calibration must be 0 or 1".into()),
            };
            task.calibration = Some(c);
        }
        "gold_answers" => {
            // A CSV cell holds JSON when it parses as JSON, else the text itself.
            let gold = match v {
                Json::String(s) if from_csv => serde_json::from_str(&s).unwrap_or(Json::String(s)),
                other => other,
            };
            // An empty cell is no gold answer.
            task.gold_answers = match gold {
                Json::Null => None,
                Json::String(s) if s.trim().is_empty() => None,
                g => Some(g),
            };
        }
        "external_id" => {
            let id = as_text(&v).ok_or("external_id must be text or a number")?;
            if id.chars().count() > MAX_EXTERNAL_ID {
                return Err(format!(
                    "external_id may be at most {MAX_EXTERNAL_ID} characters"
                ));
            }
            task.external_id = Some(id);
        }
        _ => {}
    }
    Ok(())
}

fn empty_task() -> NewTask {
    NewTask {
        info: Map::new(),
        n_answers: None,
        priority_0: None,
        calibration: None,
        gold_answers: None,
        external_id: None,
    }
}

/// The row's size, and a gold task's correct answer (the same rules as `POST /api/task`).
fn check_size(task: &NewTask) -> Result<(), String> {
    if let Some(gold) = &task.gold_answers {
        crate::domain::volunteer::quality::check_gold_answers(gold)?;
    }
    if task.calibration == Some(1) && task.gold_answers.is_none() {
        return Err("a gold task (calibration 1) needs its gold_answers".into());
    }
    let size = serde_json::to_vec(&task.info).map_or(usize::MAX, |v| v.len());
    if size > MAX_ROW_BYTES {
        return Err(format!("the row is larger than {MAX_ROW_BYTES} bytes"));
    }
    Ok(())
}

/// A JSON object as a task: reserved keys become fields, the rest `info`. An object in task
/// shape (an `info` object beside task columns, as exports write) gives its `info` as is.
pub fn task_from_object(obj: Map<String, Json>) -> Result<NewTask, String> {
    let mut task = empty_task();
    let task_shaped = matches!(obj.get("info"), Some(Json::Object(_)));
    let mut extra = Map::new();
    for (key, value) in obj {
        if RESERVED.contains(&key.as_str()) {
            reserved(&mut task, &key, value, false)?;
        } else if task_shaped && key == "info" {
            if let Json::Object(info) = value {
                task.info = info;
            }
        } else if task_shaped && IGNORED.contains(&key.as_str()) {
        } else {
            extra.insert(key, value);
        }
    }
    for (key, value) in extra {
        task.info.entry(key).or_insert(value);
    }
    check_size(&task)?;
    Ok(task)
}

/// Reads the file, handing each row to `each` until it says stop. `Err` when the file as a
/// whole cannot be read (no header, not JSON, not a manifest …); rows read before stay read.
pub fn read(
    reader: impl BufRead,
    format: Format,
    each: &mut dyn FnMut(Item) -> ControlFlow<()>,
) -> Result<(), String> {
    match format {
        Format::Csv => read_csv(reader, each),
        Format::Json => read_json_array(reader, each),
        Format::Jsonl => read_jsonl(reader, each),
        Format::Iiif => iiif::read(reader, each),
    }
}

/// Looks at the start of a file to tell its format; refuses what is none of them.
pub fn sniff(head: &[u8]) -> Result<Format, String> {
    let head = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    if head.contains(&0) {
        return Err("this is a binary file, not CSV, JSON, JSON Lines or an IIIF manifest".into());
    }
    let start = head.iter().position(|b| !b.is_ascii_whitespace());
    let Some(start) = start else {
        return Err("the file is empty".into());
    };
    let text = &head[start..];
    match text[0] {
        b'[' => Ok(Format::Json),
        b'{' => {
            // One object per line is JSON Lines; an object across lines (or one that is an
            // IIIF manifest) is a manifest.
            let first = text.split(|&b| b == b'\n').next().unwrap_or(text);
            match serde_json::from_slice::<Json>(first) {
                Ok(v) if !iiif::is_manifest(&v) => Ok(Format::Jsonl),
                _ => Ok(Format::Iiif),
            }
        }
        b'<' => {
            Err("this is an HTML or XML page, not CSV, JSON, JSON Lines or an IIIF manifest".into())
        }
        _ => Ok(Format::Csv),
    }
}

fn read_csv(
    reader: impl BufRead,
    each: &mut dyn FnMut(Item) -> ControlFlow<()>,
) -> Result<(), String> {
    let mut csv = csv::ReaderBuilder::new()
        .flexible(true)
        .has_headers(true)
        .from_reader(reader);
    let headers: Vec<String> = csv
        .byte_headers()
        .map_err(|e| format!("the header row could not be read: {e}"))?
        .iter()
        .map(|h| String::from_utf8_lossy(h).trim().to_string())
        .collect();
    if headers.is_empty() || headers.iter().all(String::is_empty) {
        return Err("the CSV file has no header row".into());
    }
    for (i, h) in headers.iter().enumerate() {
        if h.is_empty() {
            return Err(format!("column {} of the header row has no name", i + 1));
        }
        if headers[..i].contains(h) {
            return Err(format!("the header row names column {h:?} twice"));
        }
    }
    let mut record = csv::ByteRecord::new();
    loop {
        match csv.read_byte_record(&mut record) {
            Ok(false) => return Ok(()),
            Ok(true) => {}
            Err(e) => {
                // A broken quote or the like: that row is refused, reading goes on.
                let line = e.position().map_or(0, csv::Position::line);
                let item = Item::Rejected {
                    line,
                    reason: format!("unreadable CSV row: {e}"),
                    raw: String::new(),
                };
                if each(item).is_break() {
                    return Ok(());
                }
                continue;
            }
        }
        let line = record.position().map_or(0, csv::Position::line);
        if record
            .iter()
            .all(|cell| cell.iter().all(u8::is_ascii_whitespace))
        {
            continue;
        }
        let raw = || {
            let mut w = csv::Writer::from_writer(Vec::new());
            let _ = w.write_byte_record(&record);
            let bytes = w.into_inner().unwrap_or_default();
            cut(String::from_utf8_lossy(&bytes).trim_end())
        };
        let item = match csv_task(&headers, &record) {
            Ok(task) => Item::Task { line, task },
            Err(reason) => Item::Rejected {
                line,
                reason,
                raw: raw(),
            },
        };
        if each(item).is_break() {
            return Ok(());
        }
    }
}

fn csv_task(headers: &[String], record: &csv::ByteRecord) -> Result<NewTask, String> {
    if record.len() != headers.len() {
        return Err(format!(
            "{} cells where the header row has {}",
            record.len(),
            headers.len()
        ));
    }
    let mut task = empty_task();
    for (name, cell) in headers.iter().zip(record.iter()) {
        let cell = std::str::from_utf8(cell)
            .map_err(|_| format!("column {name:?} is not valid UTF-8 text"))?;
        if RESERVED.contains(&name.as_str()) {
            reserved(&mut task, name, Json::String(cell.to_string()), true)?;
        } else {
            task.info
                .insert(name.clone(), Json::String(cell.to_string()));
        }
    }
    check_size(&task)?;
    Ok(task)
}

fn object_item(line: u64, value: Json) -> Item {
    let raw = || cut(&value.to_string());
    match value {
        Json::Object(obj) => {
            let keep = cut(&Json::Object(obj.clone()).to_string());
            match task_from_object(obj) {
                Ok(task) => Item::Task { line, task },
                Err(reason) => Item::Rejected {
                    line,
                    reason,
                    raw: keep,
                },
            }
        }
        _ => Item::Rejected {
            line,
            reason: "each row must be a JSON object".into(),
            raw: raw(),
        },
    }
}

fn read_jsonl(
    reader: impl BufRead,
    each: &mut dyn FnMut(Item) -> ControlFlow<()>,
) -> Result<(), String> {
    let mut buf = Vec::new();
    let mut reader = reader;
    let mut line = 0u64;
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(|e| format!("the file could not be read: {e}"))?;
        if n == 0 {
            return Ok(());
        }
        line += 1;
        let text = if line == 1 {
            buf.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&buf)
        } else {
            &buf[..]
        };
        if text.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let item = if text.len() > MAX_ROW_BYTES {
            Item::Rejected {
                line,
                reason: format!("the row is larger than {MAX_ROW_BYTES} bytes"),
                raw: cut(&String::from_utf8_lossy(text)),
            }
        } else {
            match serde_json::from_slice::<Json>(text) {
                Ok(value) => object_item(line, value),
                Err(e) => Item::Rejected {
                    line,
                    reason: format!("not valid JSON: {e}"),
                    raw: cut(String::from_utf8_lossy(text).trim_end()),
                },
            }
        };
        if each(item).is_break() {
            return Ok(());
        }
    }
}

/// Walks a JSON array element by element, never holding more than one.
struct Elements<'a> {
    each: &'a mut dyn FnMut(Item) -> ControlFlow<()>,
}

impl<'de> Visitor<'de> for Elements<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON array of objects")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut position = 0u64;
        let mut stopped = false;
        while let Some(value) = seq.next_element::<Json>()? {
            position += 1;
            if !stopped && (self.each)(object_item(position, value)).is_break() {
                // The rest is read to the end of the array (and dropped) so the parser finishes.
                stopped = true;
            }
        }
        Ok(())
    }
}

fn read_json_array(
    reader: impl BufRead,
    each: &mut dyn FnMut(Item) -> ControlFlow<()>,
) -> Result<(), String> {
    let mut de = serde_json::Deserializer::from_reader(reader);
    de.deserialize_seq(Elements { each })
        .map_err(|e| format!("not a valid JSON array: {e}"))?;
    de.end()
        .map_err(|e| format!("unexpected text after the JSON array: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn items(text: &str, format: Format) -> Result<Vec<Item>, String> {
        let mut out = Vec::new();
        read(text.as_bytes(), format, &mut |item| {
            out.push(item);
            ControlFlow::Continue(())
        })?;
        Ok(out)
    }

    fn tasks(items: &[Item]) -> Vec<&NewTask> {
        items
            .iter()
            .filter_map(|i| match i {
                Item::Task { task, .. } => Some(task),
                Item::Rejected { .. } => None,
            })
            .collect()
    }

    fn rejected(items: &[Item]) -> Vec<(u64, &str)> {
        items
            .iter()
            .filter_map(|i| match i {
                Item::Rejected { line, reason, .. } => Some((*line, reason.as_str())),
                Item::Task { .. } => None,
            })
            .collect()
    }

    #[test]
    fn csv_maps_reserved_columns_and_keeps_the_rest_in_info() {
        let got = items(
            "\u{feff}question,url,n_answers,priority_0,calibration,gold_answers,external_id\n\
             Is it a cat?,https://x/1.jpg,3,0.5,1,\"{\"\"answer\"\": \"\"yes\"\"}\",a-1\n\
             \n\
             Dog?,https://x/2.jpg,,,,,\n",
            Format::Csv,
        )
        .expect("read");
        let t = tasks(&got);
        assert_eq!(t.len(), 2);
        assert_eq!(
            Json::Object(t[0].info.clone()),
            json!({"question": "Is it a cat?", "url": "https://x/1.jpg"})
        );
        assert_eq!(t[0].n_answers, Some(3));
        assert_eq!(t[0].priority_0, Some(0.5));
        assert_eq!(t[0].calibration, Some(1));
        assert_eq!(t[0].gold_answers, Some(json!({"answer": "yes"})));
        assert_eq!(t[0].external_id.as_deref(), Some("a-1"));
        assert_eq!(t[1].n_answers, None);
        assert_eq!(t[1].external_id, None);
    }

    #[test]
    fn csv_refuses_bad_rows_and_goes_on() {
        let got = items(
            "a,n_answers,priority_0\n1,0,0\n2,x,0\n3,2,7\n4,2\n5,2,0.1\n",
            Format::Csv,
        )
        .expect("read");
        assert_eq!(tasks(&got).len(), 1);
        let bad = rejected(&got);
        assert_eq!(bad.len(), 4, "{bad:?}");
        assert_eq!(bad[0].0, 2);
        assert!(bad[0].1.contains("n_answers"), "{bad:?}");
        assert!(bad[2].1.contains("priority_0"), "{bad:?}");
        assert!(bad[3].1.contains("2 cells"), "{bad:?}");
        assert_eq!(bad[3].0, 5);
    }

    #[test]
    fn csv_headers_must_name_every_column_once() {
        assert!(items("a,,b\n1,2,3\n", Format::Csv).is_err());
        assert!(items("a,b,a\n1,2,3\n", Format::Csv).is_err());
        assert!(items("", Format::Csv).is_err());
    }

    #[test]
    fn json_array_and_lines() {
        let got = items(
            r#"[{"q": 1, "n_answers": 2}, 5, {"info": {"q": 2}, "id": 9, "state": "completed", "external_id": 7}]"#,
            Format::Json,
        )
        .expect("read");
        let t = tasks(&got);
        assert_eq!(t.len(), 2);
        assert_eq!(Json::Object(t[0].info.clone()), json!({"q": 1}));
        assert_eq!(Json::Object(t[1].info.clone()), json!({"q": 2}));
        assert_eq!(t[1].external_id.as_deref(), Some("7"));
        assert_eq!(rejected(&got), vec![(2, "each row must be a JSON object")]);
        assert!(items("[1, 2", Format::Json).is_err());
        assert!(items("{\"a\": 1}", Format::Json).is_err());

        let got = items("{\"q\": 1}\n\n{broken\n[1]\n{\"q\": 2}\n", Format::Jsonl).expect("read");
        assert_eq!(tasks(&got).len(), 2);
        let bad = rejected(&got);
        assert_eq!(bad.len(), 2);
        assert_eq!(bad[0].0, 3);
        assert!(bad[0].1.starts_with("not valid JSON"));
    }

    #[test]
    fn sniffing() {
        assert_eq!(sniff(b"a,b\n1,2\n"), Ok(Format::Csv));
        assert_eq!(sniff(b"  [{\"a\": 1}]"), Ok(Format::Json));
        assert_eq!(sniff(b"{\"a\": 1}\n{\"a\": 2}\n"), Ok(Format::Jsonl));
        assert_eq!(sniff(b"{\n  \"@context\": \"x\",\n"), Ok(Format::Iiif));
        assert!(sniff(b"<!doctype html><html>").is_err());
        assert!(sniff(b"PK\x03\x04\x00\x00").is_err());
        assert!(sniff(b"   \n").is_err());
    }
}
