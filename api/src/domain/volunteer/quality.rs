//! A project's quality settings (`info.quality`) and how an answer is judged against a gold
//! task's `gold_answers`. Pure rules: no database, no HTTP.

use std::collections::BTreeMap;

use serde_json::{Map, Value as Json};

/// How a result's aggregate is formed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Aggregation {
    #[default]
    Majority,
    Weighted,
    DawidSkene,
}

impl Aggregation {
    pub fn name(self) -> &'static str {
        match self {
            Aggregation::Majority => "majority",
            Aggregation::Weighted => "weighted",
            Aggregation::DawidSkene => "dawid_skene",
        }
    }
}

/// A volunteer's first `tasks` tasks are gold; below `pass_ratio` right they are out.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quiz {
    pub tasks: u32,
    pub pass_ratio: f64,
}

/// A task completes once it has `min_answers` and its aggregate is `confidence` sure.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Retire {
    pub min_answers: u32,
    pub confidence: f64,
}

/// How one field (or a scalar answer, under the name `answer`) is compared with gold.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Compare {
    /// Numbers within this distance match.
    pub tolerance: f64,
    /// Text must match exactly; by default case and runs of whitespace do not count.
    pub exact: bool,
}

/// `info.quality`, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Quality {
    pub aggregation: Aggregation,
    /// The share of tasks served that are gold, once past the quiz.
    pub gold_rate: f64,
    pub quiz: Option<Quiz>,
    pub retire: Option<Retire>,
    /// The answer to a gold task comes back with the correct answer.
    pub feedback: bool,
    pub compare: BTreeMap<String, Compare>,
}

/// Gold tasks are mixed in at this rate when a project does not say.
pub const DEFAULT_GOLD_RATE: f64 = 0.1;
/// The largest quiz: more gold tasks than a volunteer would sit through.
const MAX_QUIZ: u64 = 1000;

impl Default for Quality {
    fn default() -> Self {
        Quality {
            aggregation: Aggregation::Majority,
            gold_rate: DEFAULT_GOLD_RATE,
            quiz: None,
            retire: None,
            feedback: false,
            compare: BTreeMap::new(),
        }
    }
}

fn object<'a>(v: &'a Json, path: &str) -> Result<&'a Map<String, Json>, String> {
    v.as_object()
        .ok_or_else(|| format!("{path}: must be an object"))
}

fn only(obj: &Map<String, Json>, path: &str, keys: &[&str]) -> Result<(), String> {
    match obj.keys().find(|k| !keys.contains(&k.as_str())) {
        Some(k) => Err(format!(
            "{path}.{k}: unknown setting (known: {})",
            keys.join(", ")
        )),
        None => Ok(()),
    }
}

fn ratio(v: &Json, path: &str, zero_ok: bool) -> Result<f64, String> {
    match v.as_f64() {
        Some(r) if r <= 1.0 && (r > 0.0 || (zero_ok && r == 0.0)) => Ok(r),
        _ if zero_ok => Err(format!("{path}: must be a number from 0 to 1")),
        _ => Err(format!("{path}: must be a number above 0, at most 1")),
    }
}

fn count(v: &Json, path: &str, max: u64) -> Result<u32, String> {
    match v.as_u64() {
        Some(n) if (1..=max).contains(&n) => Ok(u32::try_from(n).unwrap_or(u32::MAX)),
        _ => Err(format!("{path}: must be a whole number from 1 to {max}")),
    }
}

impl Quality {
    /// The settings in a project's `info`; defaults when it has none. An error names the
    /// setting (`info.quality.gold_rate: …`).
    pub fn of(info: Option<&Json>) -> Result<Quality, String> {
        let Some(q) = info.and_then(|i| i.get("quality")) else {
            return Ok(Quality::default());
        };
        let path = "info.quality";
        let obj = object(q, path)?;
        only(
            obj,
            path,
            &[
                "aggregation",
                "gold_rate",
                "quiz",
                "retire",
                "feedback",
                "compare",
            ],
        )?;
        let mut out = Quality::default();
        if let Some(a) = obj.get("aggregation") {
            out.aggregation = match a.as_str() {
                Some("majority") => Aggregation::Majority,
                Some("weighted") => Aggregation::Weighted,
                Some("dawid_skene") => Aggregation::DawidSkene,
                _ => {
                    return Err(format!(
                        "{path}.aggregation: must be \"majority\", \"weighted\" or \"dawid_skene\""
                    ));
                }
            };
        }
        if let Some(r) = obj.get("gold_rate") {
            out.gold_rate = ratio(r, &format!("{path}.gold_rate"), true)?;
        }
        if let Some(quiz) = obj.get("quiz").filter(|v| !v.is_null()) {
            let p = format!("{path}.quiz");
            let o = object(quiz, &p)?;
            only(o, &p, &["tasks", "pass_ratio"])?;
            let tasks = o
                .get("tasks")
                .ok_or_else(|| format!("{p}.tasks: is required"))?;
            out.quiz = Some(Quiz {
                tasks: count(tasks, &format!("{p}.tasks"), MAX_QUIZ)?,
                pass_ratio: match o.get("pass_ratio") {
                    Some(r) => ratio(r, &format!("{p}.pass_ratio"), true)?,
                    None => 0.8,
                },
            });
        }
        if let Some(retire) = obj.get("retire").filter(|v| !v.is_null()) {
            let p = format!("{path}.retire");
            let o = object(retire, &p)?;
            only(o, &p, &["min_answers", "confidence"])?;
            out.retire = Some(Retire {
                min_answers: match o.get("min_answers") {
                    Some(n) => count(n, &format!("{p}.min_answers"), 1000)?,
                    None => 2,
                },
                confidence: match o.get("confidence") {
                    Some(c) => ratio(c, &format!("{p}.confidence"), false)?,
                    None => 0.95,
                },
            });
        }
        if let Some(f) = obj.get("feedback") {
            out.feedback = f
                .as_bool()
                .ok_or_else(|| format!("{path}.feedback: must be true or false"))?;
        }
        if let Some(c) = obj.get("compare") {
            let p = format!("{path}.compare");
            for (field, rule) in object(c, &p)? {
                let fp = format!("{p}.{field}");
                let o = object(rule, &fp)?;
                only(o, &fp, &["tolerance", "exact"])?;
                let mut compare = Compare::default();
                if let Some(t) = o.get("tolerance") {
                    compare.tolerance = t
                        .as_f64()
                        .filter(|t| t.is_finite() && *t >= 0.0)
                        .ok_or_else(|| format!("{fp}.tolerance: must be a number, 0 or more"))?;
                }
                if let Some(e) = o.get("exact") {
                    compare.exact = e
                        .as_bool()
                        .ok_or_else(|| format!("{fp}.exact: must be true or false"))?;
                }
                out.compare.insert(field.clone(), compare);
            }
        }
        Ok(out)
    }

    fn rule(&self, field: &str) -> Compare {
        self.compare.get(field).copied().unwrap_or_default()
    }

    /// Whether `answer` (a task run's `info`) matches `gold`: a scalar, or a flat object whose
    /// every field the answer must match (fields the gold does not name are not judged).
    pub fn matches(&self, gold: &Json, answer: &Json) -> bool {
        match gold {
            Json::Object(fields) => {
                let Some(given) = answer.as_object() else {
                    return false;
                };
                fields.iter().all(|(k, want)| {
                    given
                        .get(k)
                        .is_some_and(|got| scalar_matches(self.rule(k), want, got))
                })
            }
            // A scalar gold answer also matches `{"answer": …}`, the shape templates save.
            _ => match answer {
                Json::Object(o) if o.len() == 1 && o.contains_key("answer") => {
                    scalar_matches(self.rule("answer"), gold, &o["answer"])
                }
                _ => scalar_matches(self.rule("answer"), gold, answer),
            },
        }
    }
}

fn number(v: &Json) -> Option<f64> {
    match v {
        Json::Number(n) => n.as_f64(),
        Json::String(s) => s.trim().parse::<f64>().ok().filter(|f| f.is_finite()),
        _ => None,
    }
}

fn folded(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

fn scalar_matches(rule: Compare, want: &Json, got: &Json) -> bool {
    match (want, got) {
        (Json::Number(_), _) => {
            matches!((number(want), number(got)), (Some(a), Some(b)) if (a - b).abs() <= rule.tolerance)
        }
        (Json::String(a), Json::String(b)) if rule.exact => a == b,
        (Json::String(a), Json::String(b)) => folded(a) == folded(b),
        (Json::String(_), Json::Number(_)) => {
            matches!((number(want), number(got)), (Some(a), Some(b)) if (a - b).abs() <= rule.tolerance)
        }
        (Json::Bool(a), Json::Bool(b)) => a == b,
        (Json::Bool(a), Json::String(b)) => b.trim().eq_ignore_ascii_case(&a.to_string()),
        _ => false,
    }
}

/// Checks a gold answer's shape: a scalar, or a non-empty object of scalars.
pub fn check_gold_answers(gold: &Json) -> Result<(), String> {
    let scalar = |v: &Json| matches!(v, Json::String(_) | Json::Number(_) | Json::Bool(_));
    match gold {
        Json::Object(o) if o.is_empty() => Err("gold_answers: an object needs a field".into()),
        Json::Object(o) => match o.iter().find(|(_, v)| !scalar(v)) {
            Some((k, _)) => Err(format!(
                "gold_answers.{k}: must be a string, a number or true/false"
            )),
            None => Ok(()),
        },
        v if scalar(v) => Ok(()),
        _ => Err("gold_answers: must be a string, a number, true/false or a flat object".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn q(v: Json) -> Result<Quality, String> {
        Quality::of(Some(&json!({ "quality": v })))
    }

    #[test]
    fn settings_are_validated_and_errors_name_the_setting() {
        assert_eq!(Quality::of(None), Ok(Quality::default()));
        let full = q(json!({"aggregation": "dawid_skene", "gold_rate": 0.2,
            "quiz": {"tasks": 5, "pass_ratio": 0.8}, "retire": {"min_answers": 3, "confidence": 0.95},
            "feedback": true, "compare": {"count": {"tolerance": 1}, "name": {"exact": true}}}))
        .expect("valid");
        assert_eq!(full.aggregation, Aggregation::DawidSkene);
        assert_eq!(
            full.quiz,
            Some(Quiz {
                tasks: 5,
                pass_ratio: 0.8
            })
        );
        assert!(full.feedback);
        for (bad, named) in [
            (json!({"gold_rate": 1.5}), "info.quality.gold_rate"),
            (json!({"gold_rate": "0.1"}), "info.quality.gold_rate"),
            (json!({"aggregation": "mean"}), "info.quality.aggregation"),
            (json!({"quiz": {"tasks": 0}}), "info.quality.quiz.tasks"),
            (
                json!({"quiz": {"pass_ratio": 0.5}}),
                "info.quality.quiz.tasks",
            ),
            (
                json!({"quiz": {"tasks": 3, "pass_ratio": -1}}),
                "info.quality.quiz.pass_ratio",
            ),
            (
                json!({"retire": {"confidence": 0}}),
                "info.quality.retire.confidence",
            ),
            (json!({"feedback": 1}), "info.quality.feedback"),
            (json!({"goldrate": 0.1}), "info.quality.goldrate"),
            (
                json!({"quiz": {"tasks": 2, "extra": 1}}),
                "info.quality.quiz.extra",
            ),
            (
                json!({"compare": {"n": {"tolerance": -1}}}),
                "info.quality.compare.n.tolerance",
            ),
            (json!([1]), "info.quality"),
        ] {
            let e = q(bad.clone()).expect_err(&bad.to_string());
            assert!(e.starts_with(named), "{bad} → {e}");
        }
    }

    #[test]
    fn answers_are_judged_per_field_with_tolerance_and_folded_text() {
        let d = Quality::default();
        assert!(d.matches(&json!("Heron"), &json!("  heron ")));
        assert!(d.matches(&json!("Grey  heron"), &json!("grey heron")));
        assert!(!d.matches(&json!("heron"), &json!("egret")));
        assert!(d.matches(&json!("yes"), &json!({"answer": "Yes"})));
        assert!(d.matches(&json!(3), &json!("3")));
        assert!(!d.matches(&json!(3), &json!(3.5)));
        assert!(d.matches(&json!(true), &json!(true)));
        assert!(!d.matches(&json!(true), &json!(null)));
        let gold = json!({"species": "Heron", "count": 4});
        assert!(d.matches(&gold, &json!({"species": "heron", "count": 4, "note": "x"})));
        assert!(!d.matches(&gold, &json!({"species": "heron"})));
        assert!(!d.matches(&gold, &json!("heron")));
        let loose = q(json!({"compare": {"count": {"tolerance": 1}, "species": {"exact": true}}}))
            .expect("valid");
        assert!(loose.matches(&gold, &json!({"species": "Heron", "count": 5})));
        assert!(!loose.matches(&gold, &json!({"species": "heron", "count": 5})));
        assert!(!loose.matches(&gold, &json!({"species": "Heron", "count": 6})));
    }

    #[test]
    fn gold_answers_are_a_scalar_or_a_flat_object() {
        for ok in [
            json!("yes"),
            json!(2),
            json!(false),
            json!({"a": 1, "b": "x"}),
        ] {
            assert!(check_gold_answers(&ok).is_ok(), "{ok}");
        }
        for bad in [
            json!(null),
            json!([1]),
            json!({}),
            json!({"a": {"b": 1}}),
            json!({"a": [1]}),
        ] {
            assert!(check_gold_answers(&bad).is_err(), "{bad}");
        }
    }
}
