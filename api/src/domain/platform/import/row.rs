//! What readers hand over: a task to create, or a row refused and why.

use serde_json::{Map, Value as Json};

/// A row that makes a task.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTask {
    pub info: Map<String, Json>,
    pub n_answers: Option<i32>,
    pub priority_0: Option<f64>,
    pub calibration: Option<i32>,
    pub gold_answers: Option<Json>,
    pub external_id: Option<String>,
}

/// One thing read from a file: a task, or a row refused and why. `line` is the line the row
/// starts on (for a JSON array, the element's position).
#[derive(Debug)]
pub enum Item {
    Task {
        line: u64,
        task: NewTask,
    },
    Rejected {
        line: u64,
        reason: String,
        raw: String,
    },
}
