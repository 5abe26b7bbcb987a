//! From a task's answers to one value and how sure it is (`info.quality.aggregation`), and the
//! Dawid–Skene fit over a project's answers that the `dawid_skene` method reads. Pure: no
//! database, no HTTP.
//!
//! Every method gives `confidence`, the posterior probability of its `value`:
//! - `majority`: the plurality answer; every volunteer is assumed right with [`PRIOR_SKILL`];
//! - `weighted`: each vote counts by its volunteer's skill (estimated from their gold answers),
//!   the optimal weighting when a volunteer errs uniformly over the other answers;
//! - `dawid_skene`: each volunteer's confusion matrix and the classes' priors, fitted by EM over
//!   the project's answers ([`dawid_skene`]), gold tasks clamped to their truth.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json, json};

use crate::domain::volunteer::quality::Aggregation;

/// What a volunteer is taken to get right before anything is known of them.
pub const PRIOR_SKILL: f64 = 0.7;
/// How many answers' worth of belief [`PRIOR_SKILL`] holds against gold answers.
const PRIOR_WEIGHT: f64 = 2.0;
/// The name a scalar answer goes by where fields are named (models, comparisons).
pub const SCALAR_FIELD: &str = "answer";
/// The most distinct answers a field may have to be fitted: beyond it the answers are not
/// classes (free text, coordinates) and the field falls back to `weighted`.
pub const MAX_CLASSES: usize = 64;
/// The floor under every probability, so one surprising answer never makes a class impossible.
const EPS: f64 = 1e-6;

/// A volunteer's skill from their gold answers: the mean of a Beta prior centred on
/// [`PRIOR_SKILL`], updated by `correct` of `seen`.
#[allow(clippy::cast_precision_loss)]
pub fn skill_from_gold(seen: i64, correct: i64) -> f64 {
    (correct as f64 + PRIOR_SKILL * PRIOR_WEIGHT) / (seen as f64 + PRIOR_WEIGHT)
}

/// How a scalar answer is counted: strings as themselves, anything else as its JSON.
pub fn vote_key(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn is_scalar(v: &Json) -> bool {
    !matches!(v, Json::Array(_) | Json::Object(_))
}

/// One field's fitted classes and their priors (the model's project-wide part).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldModel {
    /// Vote keys, in the order the confusion matrices use.
    pub classes: Vec<String>,
    pub priors: Vec<f64>,
}

/// What is known of one volunteer when their votes are counted.
#[derive(Debug, Clone, Default)]
pub struct Voter {
    /// Probability their answer is right, from gold (or the prior).
    pub skill: Option<f64>,
    /// The owner excluded them: their answers are kept but not counted.
    pub excluded: bool,
    /// Per field, their confusion matrix over the field model's classes, row-major
    /// `[true][given]`.
    pub confusion: HashMap<String, Vec<f64>>,
}

/// Everything an aggregate depends on besides the answers.
#[derive(Debug, Clone, Default)]
pub struct Judge {
    pub method: Aggregation,
    /// Per field, the fitted classes (`dawid_skene` only; a field without one is `weighted`).
    pub fields: HashMap<String, FieldModel>,
    /// By volunteer key; a volunteer not here has the prior skill.
    pub voters: HashMap<String, Voter>,
}

/// An aggregate and its confidence (the lowest of its fields' for an object answer).
#[derive(Debug, Clone, PartialEq)]
pub struct Aggregate {
    pub info: Json,
    pub confidence: f64,
    /// The answers counted (those of excluded volunteers are not).
    pub counted: usize,
}

fn round(x: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    (x * f).round() / f
}

/// `exp` of each score, normalised; the index of the largest (the first of equals).
fn softmax(scores: &[f64]) -> (Vec<f64>, usize) {
    let mut best = 0;
    for (i, s) in scores.iter().enumerate() {
        if *s > scores[best] {
            best = i;
        }
    }
    let top = scores[best];
    let exp: Vec<f64> = scores.iter().map(|s| (s - top).exp()).collect();
    let sum: f64 = exp.iter().sum();
    (exp.into_iter().map(|e| e / sum).collect(), best)
}

impl Judge {
    /// Plain majority with nobody excluded: what the batch path uses.
    pub fn plain() -> Judge {
        Judge::default()
    }

    fn voter(&self, key: &str) -> Option<&Voter> {
        self.voters.get(key)
    }

    fn skill(&self, key: &str) -> f64 {
        self.voter(key).and_then(|v| v.skill).unwrap_or(PRIOR_SKILL)
    }

    /// `{"aggregate": …}` for a task's answers, each with its volunteer's key; `None` when the
    /// answers are not scalars or flat objects of scalars.
    pub fn aggregate(&self, ballots: &[(&str, &Json)]) -> Option<Aggregate> {
        if ballots.is_empty() {
            return None;
        }
        let counted: Vec<(&str, &Json)> = ballots
            .iter()
            .copied()
            .filter(|(k, _)| !self.voter(k).is_some_and(|v| v.excluded))
            .collect();
        let excluded = ballots.len() - counted.len();
        let method = self.method.name();
        let (mut info, confidence) = if ballots.iter().all(|(_, a)| is_scalar(a)) {
            let (mut field, confidence) = self.field(SCALAR_FIELD, &counted);
            if let Some(o) = field.as_object_mut() {
                o.insert("method".into(), json!(method));
            }
            (field, confidence)
        } else {
            let mut keys: Vec<&String> = vec![];
            for (_, a) in ballots {
                let o = a.as_object()?;
                if !o.values().all(is_scalar) {
                    return None;
                }
                for k in o.keys() {
                    if !keys.contains(&k) {
                        keys.push(k);
                    }
                }
            }
            let mut lowest = 1.0f64;
            let mut fields = Map::new();
            for k in keys {
                let votes: Vec<(&str, &Json)> = counted
                    .iter()
                    .filter_map(|(v, a)| a.get(k.as_str()).map(|x| (*v, x)))
                    .collect();
                let (field, confidence) = self.field(k, &votes);
                lowest = lowest.min(confidence);
                fields.insert(k.clone(), field);
            }
            let confidence = if counted.is_empty() { 0.0 } else { lowest };
            (
                json!({"method": method, "fields": fields, "n": counted.len(),
                       "confidence": round(confidence, 4)}),
                confidence,
            )
        };
        if excluded > 0
            && let Some(o) = info.as_object_mut()
        {
            o.insert("excluded".into(), json!(excluded));
        }
        Some(Aggregate {
            info: json!({ "aggregate": info }),
            confidence,
            counted: counted.len(),
        })
    }

    /// One field's value, confidence, agreement and votes.
    fn field(&self, name: &str, votes: &[(&str, &Json)]) -> (Json, f64) {
        // Labels in the order first given.
        let mut labels: Vec<(String, &Json, u64)> = vec![];
        let mut given: Vec<usize> = Vec::with_capacity(votes.len());
        for (_, a) in votes {
            let key = vote_key(a);
            let i = match labels.iter().position(|(k, _, _)| *k == key) {
                Some(i) => i,
                None => {
                    labels.push((key, a, 0));
                    labels.len() - 1
                }
            };
            labels[i].2 += 1;
            given.push(i);
        }
        if labels.is_empty() {
            return (
                json!({"value": null, "confidence": 0.0, "agreement": 0.0, "votes": {}, "n": 0}),
                0.0,
            );
        }
        let (value, confidence) = match (self.method, self.fields.get(name)) {
            (Aggregation::DawidSkene, Some(model)) => self.dawid_skene_field(name, model, votes),
            (Aggregation::Majority, _) => {
                let mut best = 0;
                for (i, l) in labels.iter().enumerate() {
                    if l.2 > labels[best].2 {
                        best = i;
                    }
                }
                let scores = one_coin(labels.len(), votes.iter().map(|_| PRIOR_SKILL), &given);
                let (post, _) = softmax(&scores);
                (labels[best].1.clone(), post[best])
            }
            _ => {
                let scores = one_coin(
                    labels.len(),
                    votes.iter().map(|(k, _)| self.skill(k)),
                    &given,
                );
                let (post, best) = softmax(&scores);
                (labels[best].1.clone(), post[best])
            }
        };
        let key = vote_key(&value);
        let agree = labels.iter().find(|(k, _, _)| *k == key).map_or(0, |l| l.2);
        #[allow(clippy::cast_precision_loss)]
        let agreement = round(agree as f64 / votes.len() as f64, 3);
        let tally: Map<String, Json> = labels
            .iter()
            .map(|(k, _, n)| (k.clone(), json!(n)))
            .collect();
        (
            json!({"value": value, "confidence": round(confidence, 4), "agreement": agreement,
                   "votes": tally, "n": votes.len()}),
            confidence,
        )
    }

    /// The posterior over the model's classes (and any answer it has not seen) given these
    /// votes: the E-step of [`dawid_skene`] for one task.
    fn dawid_skene_field(
        &self,
        name: &str,
        model: &FieldModel,
        votes: &[(&str, &Json)],
    ) -> (Json, f64) {
        let mut classes: Vec<String> = model.classes.clone();
        let mut values: Vec<Option<Json>> = vec![None; classes.len()];
        let mut given = Vec::with_capacity(votes.len());
        for (_, a) in votes {
            let key = vote_key(a);
            let i = match classes.iter().position(|c| *c == key) {
                Some(i) => i,
                None => {
                    classes.push(key);
                    values.push(None);
                    classes.len() - 1
                }
            };
            if values[i].is_none() {
                values[i] = Some((*a).clone());
            }
            given.push(i);
        }
        let known = model.classes.len();
        let k = classes.len().max(2);
        let mut scores: Vec<f64> = (0..classes.len())
            .map(|c| model.priors.get(c).copied().unwrap_or(EPS).max(EPS).ln())
            .collect();
        for ((voter, _), l) in votes.iter().zip(&given) {
            let matrix = self
                .voter(voter)
                .and_then(|v| v.confusion.get(name))
                .filter(|m| m.len() == known * known);
            let p = self.skill(voter);
            for (c, score) in scores.iter_mut().enumerate() {
                let likelihood = match matrix {
                    Some(m) if c < known && *l < known => m[c * known + l],
                    Some(_) if c < known => EPS,
                    _ if c == *l => p,
                    #[allow(clippy::cast_precision_loss)]
                    _ => (1.0 - p) / (k - 1) as f64,
                };
                *score += likelihood.max(EPS).ln();
            }
        }
        let (post, best) = softmax(&scores);
        let value = values[best].clone().unwrap_or_else(|| {
            serde_json::from_str(&classes[best]).unwrap_or_else(|_| json!(classes[best]))
        });
        (value, post[best])
    }
}

/// How far a confidence may drift before a stored aggregate is rewritten for it.
pub const CONFIDENCE_SLACK: f64 = 0.01;

/// Whether `new` says something `old` does not: another value, count or vote, or a confidence
/// more than [`CONFIDENCE_SLACK`] away. Refits nudge every posterior a little; rewriting each
/// result for that would rewrite the whole project every few seconds.
pub fn differs(old: &Json, new: &Json) -> bool {
    match (old, new) {
        (Json::Object(a), Json::Object(b)) => {
            a.len() != b.len()
                || a.iter().any(|(k, x)| match b.get(k) {
                    None => true,
                    Some(y) if k == "confidence" => match (x.as_f64(), y.as_f64()) {
                        (Some(x), Some(y)) => (x - y).abs() > CONFIDENCE_SLACK,
                        _ => x != y,
                    },
                    Some(y) => differs(x, y),
                })
        }
        (a, b) => a != b,
    }
}

/// Log-odds scores of each label under the one-coin model: a volunteer with skill `p` gives
/// the true answer with probability `p` and each of the other `K - 1` with `(1 - p) / (K - 1)`,
/// so a vote adds `ln(p (K - 1) / (1 - p))` to its label. `K` is at least two: a lone answer is
/// not certain.
fn one_coin(labels: usize, skills: impl Iterator<Item = f64>, given: &[usize]) -> Vec<f64> {
    let k = labels.max(2);
    #[allow(clippy::cast_precision_loss)]
    let others = (k - 1) as f64;
    #[allow(clippy::cast_precision_loss)]
    let floor = 1.0 / k as f64;
    let mut scores = vec![0.0; labels];
    for (p, l) in skills.zip(given) {
        // Below chance a vote says nothing (rather than counting against its answer).
        let p = p.clamp(floor, 1.0 - EPS);
        scores[*l] += (p * others / (1.0 - p)).ln();
    }
    scores
}

/// Answers for a fit: parallel arrays of (task, worker, label) indexes, and for gold tasks
/// their true label.
#[derive(Debug, Clone, Default)]
pub struct Observations {
    pub n_tasks: usize,
    pub n_workers: usize,
    pub n_classes: usize,
    pub task: Vec<u32>,
    pub worker: Vec<u32>,
    pub label: Vec<u16>,
    /// Per task: `Some(class)` for a gold task.
    pub truth: Vec<Option<u16>>,
}

/// A Dawid–Skene fit.
#[derive(Debug, Clone)]
pub struct Fit {
    pub priors: Vec<f64>,
    /// Per worker a `K × K` matrix, row-major `[true][given]`.
    pub confusion: Vec<f64>,
    /// Per task, the posterior over classes.
    pub posteriors: Vec<f64>,
    pub iterations: u32,
}

impl Fit {
    /// Worker `w`'s confusion matrix.
    pub fn matrix(&self, w: usize, k: usize) -> &[f64] {
        &self.confusion[w * k * k..(w + 1) * k * k]
    }

    /// The most probable class of task `t` (the first of equals).
    pub fn label(&self, t: usize, k: usize) -> usize {
        let p = &self.posteriors[t * k..(t + 1) * k];
        let mut best = 0;
        for (c, x) in p.iter().enumerate() {
            if *x > p[best] {
                best = c;
            }
        }
        best
    }
}

/// Dawid and Skene's EM (1979): starts from each task's vote shares, then alternates the
/// M-step (priors and each worker's confusion matrix from the posteriors) and the E-step
/// (posteriors from them) until the log-likelihood moves less than `tol` of itself or
/// `max_iter` rounds have run. Gold tasks keep their truth throughout.
///
/// One pass over the answers per round: the E-step of a task adds its new posterior to the
/// next M-step's counts as it goes, and the answers are laid out by task once, up front.
#[allow(clippy::cast_precision_loss)]
pub fn dawid_skene(obs: &Observations, max_iter: u32, tol: f64) -> Fit {
    let k = obs.n_classes.max(1);
    let n = obs.task.len();
    // The answers grouped by task (a counting sort): `cells[i]` is answer i's offset into the
    // `[worker][given][true]` tables.
    let mut start = vec![0usize; obs.n_tasks + 1];
    for t in &obs.task {
        start[*t as usize + 1] += 1;
    }
    for t in 0..obs.n_tasks {
        start[t + 1] += start[t];
    }
    let mut cells = vec![0usize; n];
    let mut fill = start.clone();
    for i in 0..n {
        let t = obs.task[i] as usize;
        cells[fill[t]] = (obs.worker[i] as usize * k + obs.label[i] as usize) * k;
        fill[t] += 1;
    }
    drop(fill);
    let truth = |t: usize| obs.truth.get(t).copied().flatten();
    let n_answered = (0..obs.n_tasks)
        .filter(|t| start[t + 1] > start[*t])
        .count()
        .max(1) as f64;

    // Vote shares, and the first M-step's sums from them.
    let table = obs.n_workers * k * k;
    let mut post = vec![0.0f64; obs.n_tasks * k];
    let mut counts = vec![0.0f64; table];
    let mut priors = vec![0.0f64; k];
    for t in 0..obs.n_tasks {
        let row = &mut post[t * k..(t + 1) * k];
        for &cell in &cells[start[t]..start[t + 1]] {
            row[cell / k % k] += 1.0;
        }
        clamp_or_normalise(row, truth(t));
        accumulate(
            &cells[start[t]..start[t + 1]],
            row,
            &mut counts,
            &mut priors,
        );
    }

    let mut next = vec![0.0f64; table];
    let mut ln_pi = vec![0.0f64; table];
    let mut ln_priors = vec![0.0f64; k];
    let mut previous = f64::NEG_INFINITY;
    let mut iterations = 0;
    let mut scores = vec![0.0f64; k];
    for round in 0..max_iter {
        iterations = round + 1;
        // M-step: the parameters from the sums.
        normalise(&counts, &mut ln_pi, obs.n_workers, k);
        for (lp, p) in ln_priors.iter_mut().zip(&priors) {
            *lp = (p / n_answered).max(EPS).ln();
        }
        // E-step, summing for the next M-step.
        next.iter_mut().for_each(|x| *x = 0.0);
        priors.iter_mut().for_each(|p| *p = 0.0);
        let mut likelihood = 0.0;
        for t in 0..obs.n_tasks {
            let mine = &cells[start[t]..start[t + 1]];
            if mine.is_empty() {
                continue;
            }
            scores.copy_from_slice(&ln_priors);
            for &cell in mine {
                for (s, x) in scores.iter_mut().zip(&ln_pi[cell..cell + k]) {
                    *s += x;
                }
            }
            let top = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let row = &mut post[t * k..(t + 1) * k];
            let mut sum = 0.0;
            for (p, s) in row.iter_mut().zip(&scores) {
                *p = (s - top).exp();
                sum += *p;
            }
            likelihood += top + sum.ln();
            row.iter_mut().for_each(|p| *p /= sum);
            if let Some(truth) = truth(t) {
                clamp_or_normalise(row, Some(truth));
            }
            accumulate(mine, row, &mut next, &mut priors);
        }
        std::mem::swap(&mut counts, &mut next);
        if (likelihood - previous).abs() <= tol * likelihood.abs().max(1.0) {
            break;
        }
        previous = likelihood;
    }
    // The parameters of the last posteriors, as `[worker][true][given]`.
    normalise(&counts, &mut ln_pi, obs.n_workers, k);
    let mut confusion = vec![0.0f64; table];
    for w in 0..obs.n_workers {
        for c in 0..k {
            for l in 0..k {
                confusion[(w * k + c) * k + l] = ln_pi[(w * k + l) * k + c].exp();
            }
        }
    }
    Fit {
        priors: priors.iter().map(|p| (p / n_answered).max(EPS)).collect(),
        confusion,
        posteriors: post,
        iterations,
    }
}

/// Adds a task's posterior to the sums of the classes' priors and of each of its answers'
/// confusion cells.
fn accumulate(cells: &[usize], row: &[f64], counts: &mut [f64], priors: &mut [f64]) {
    let k = row.len();
    for (p, x) in priors.iter_mut().zip(row) {
        *p += x;
    }
    for &cell in cells {
        for (c, x) in counts[cell..cell + k].iter_mut().zip(row) {
            *c += x;
        }
    }
}

/// The log confusion matrices from their sums: per worker and true class, over given labels,
/// each at least [`EPS`] before normalising.
fn normalise(counts: &[f64], ln_pi: &mut [f64], workers: usize, k: usize) {
    let mut total = vec![0.0f64; k];
    for w in 0..workers {
        let block = &counts[w * k * k..(w + 1) * k * k];
        total.iter_mut().for_each(|t| *t = 0.0);
        for given in block.chunks_exact(k) {
            for (t, x) in total.iter_mut().zip(given) {
                *t += x.max(EPS);
            }
        }
        let ln_total: Vec<f64> = total.iter().map(|t| t.ln()).collect();
        let out = &mut ln_pi[w * k * k..(w + 1) * k * k];
        for (given, o) in block.chunks_exact(k).zip(out.chunks_exact_mut(k)) {
            for ((x, o), lt) in given.iter().zip(o.iter_mut()).zip(&ln_total) {
                *o = x.max(EPS).ln() - lt;
            }
        }
    }
}

fn clamp_or_normalise(row: &mut [f64], truth: Option<u16>) {
    if let Some(truth) = truth.map(usize::from).filter(|t| *t < row.len()) {
        row.iter_mut().for_each(|p| *p = 0.0);
        row[truth] = 1.0;
        return;
    }
    let sum: f64 = row.iter().sum();
    if sum > 0.0 {
        row.iter_mut().for_each(|p| *p /= sum);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng, rngs::StdRng};

    fn judge(method: Aggregation) -> Judge {
        Judge {
            method,
            ..Judge::default()
        }
    }

    fn agg(j: &Judge, answers: &[(&str, Json)]) -> Json {
        let ballots: Vec<(&str, &Json)> = answers.iter().map(|(k, a)| (*k, a)).collect();
        j.aggregate(&ballots).expect("aggregate").info["aggregate"].clone()
    }

    #[test]
    fn majority_keeps_its_value_votes_and_agreement_and_adds_a_confidence() {
        let a = agg(
            &judge(Aggregation::Majority),
            &[
                ("a", json!("cat")),
                ("b", json!("dog")),
                ("c", json!("cat")),
            ],
        );
        assert_eq!(a["value"], "cat");
        assert_eq!(a["agreement"], 0.667);
        assert_eq!(a["votes"], json!({"cat": 2, "dog": 1}));
        assert_eq!(a["method"], "majority");
        // Two votes of 0.7 against one, over two labels: odds (7/3)^1.
        assert_eq!(a["confidence"], 0.7);
        let ties = agg(
            &judge(Aggregation::Majority),
            &[("a", json!(1)), ("b", json!(2))],
        );
        assert_eq!(ties["value"], 1);
        assert_eq!(ties["confidence"], 0.5);
    }

    #[test]
    fn weighted_votes_follow_the_skilled_volunteer() {
        let mut j = judge(Aggregation::Weighted);
        j.voters.insert(
            "expert".into(),
            Voter {
                skill: Some(0.99),
                ..Voter::default()
            },
        );
        for k in ["s1", "s2"] {
            j.voters.insert(
                k.into(),
                Voter {
                    skill: Some(0.55),
                    ..Voter::default()
                },
            );
        }
        let a = agg(
            &j,
            &[
                ("s1", json!("dog")),
                ("expert", json!("cat")),
                ("s2", json!("dog")),
            ],
        );
        assert_eq!(a["value"], "cat");
        assert!(a["confidence"].as_f64().unwrap() > 0.9);
        assert_eq!(a["agreement"], 0.333);
    }

    #[test]
    fn excluded_volunteers_are_not_counted_but_said_so() {
        let mut j = judge(Aggregation::Majority);
        j.voters.insert(
            "spam".into(),
            Voter {
                excluded: true,
                ..Voter::default()
            },
        );
        let a = agg(
            &j,
            &[
                ("spam", json!("x")),
                ("spam", json!("x")),
                ("a", json!("y")),
            ],
        );
        assert_eq!(a["value"], "y");
        assert_eq!(a["n"], 1);
        assert_eq!(a["excluded"], 2);
    }

    #[test]
    fn object_answers_get_a_confidence_per_field_and_the_lowest_overall() {
        let a = agg(
            &judge(Aggregation::Majority),
            &[
                ("a", json!({"animal": "cat", "count": 2})),
                ("b", json!({"animal": "cat", "count": 3})),
                ("c", json!({"animal": "cat", "count": 3})),
            ],
        );
        assert_eq!(a["fields"]["animal"]["value"], "cat");
        assert_eq!(a["fields"]["count"]["value"], 3);
        assert_eq!(a["fields"]["count"]["votes"], json!({"2": 1, "3": 2}));
        assert!(a["fields"]["animal"]["confidence"].as_f64().unwrap() > 0.9);
        assert_eq!(a["confidence"], a["fields"]["count"]["confidence"]);
        let nested = [("a", json!({"points": [1, 2]}))];
        let ballots: Vec<(&str, &Json)> = nested.iter().map(|(k, a)| (*k, a)).collect();
        assert!(judge(Aggregation::Majority).aggregate(&ballots).is_none());
    }

    /// What volunteer `w` answers to a task of class `truth` (of 4): a third are good (85%
    /// right), a third biased (right half the time, else class 0), a third spam.
    fn answer_of(rng: &mut StdRng, w: usize, truth: u16) -> u16 {
        match w % 3 {
            0 if rng.random_bool(0.85) => truth,
            1 if rng.random_bool(0.5) => truth,
            1 => 0,
            _ => rng.random_range(0..4),
        }
    }

    /// A crowd: good volunteers, volunteers who always say class 0 when unsure, and spammers.
    fn crowd(seed: u64, tasks: usize, per_task: usize) -> (Observations, Vec<u16>) {
        let mut rng = StdRng::seed_from_u64(seed);
        let k = 4usize;
        let workers = 60usize;
        let truth: Vec<u16> = (0..tasks).map(|_| rng.random_range(0..k as u16)).collect();
        let mut obs = Observations {
            n_tasks: tasks,
            n_workers: workers,
            n_classes: k,
            truth: vec![None; tasks],
            ..Observations::default()
        };
        for (t, &true_label) in truth.iter().enumerate() {
            for j in 0..per_task {
                let w = (t * 7 + j * 13) % workers;
                let label = answer_of(&mut rng, w, true_label);
                obs.task.push(u32::try_from(t).unwrap());
                obs.worker.push(u32::try_from(w).unwrap());
                obs.label.push(label);
            }
        }
        (obs, truth)
    }

    #[test]
    fn dawid_skene_beats_the_majority_on_a_biased_and_spammed_crowd() {
        let (obs, truth) = crowd(7, 2000, 5);
        let k = obs.n_classes;
        let fit = dawid_skene(&obs, 100, 1e-7);
        let mut votes = vec![0u32; obs.n_tasks * k];
        for (t, l) in obs.task.iter().zip(&obs.label) {
            votes[*t as usize * k + *l as usize] += 1;
        }
        let mut ds = 0;
        let mut mv = 0;
        for (t, &tr) in truth.iter().enumerate() {
            if fit.label(t, k) == tr as usize {
                ds += 1;
            }
            let row = &votes[t * k..(t + 1) * k];
            let best = (0..k).fold(0, |b, c| if row[c] > row[b] { c } else { b });
            if best == tr as usize {
                mv += 1;
            }
        }
        assert!(ds > mv + 100, "dawid-skene {ds} vs majority {mv} of 2000");
        // A good worker's matrix is diagonal-heavy, a spammer's flat.
        assert!(fit.matrix(0, k)[0] > 0.7);
        assert!(fit.matrix(2, k)[0] < 0.5);
    }

    #[test]
    fn gold_tasks_keep_their_truth() {
        let (mut obs, truth) = crowd(3, 200, 3);
        obs.truth[0] = Some((truth[0] + 1) % 4);
        let fit = dawid_skene(&obs, 50, 1e-7);
        assert_eq!(fit.label(0, 4), usize::from((truth[0] + 1) % 4));
    }

    /// The judge the online system has after `fit`: classes `c0…`, volunteers `w0…`.
    fn fitted_judge(fit: &Fit, workers: usize, k: usize) -> (Judge, Vec<String>) {
        let classes: Vec<String> = (0..k).map(|c| format!("c{c}")).collect();
        let mut j = judge(Aggregation::DawidSkene);
        j.fields.insert(
            SCALAR_FIELD.into(),
            FieldModel {
                classes: classes.clone(),
                priors: fit.priors.clone(),
            },
        );
        for w in 0..workers {
            j.voters.insert(
                format!("w{w}"),
                Voter {
                    confusion: HashMap::from([(SCALAR_FIELD.into(), fit.matrix(w, k).to_vec())]),
                    ..Voter::default()
                },
            );
        }
        (j, classes)
    }

    #[test]
    fn the_online_posterior_matches_the_fit() {
        let (obs, _) = crowd(11, 500, 5);
        let k = obs.n_classes;
        let fit = dawid_skene(&obs, 100, 1e-9);
        let (j, classes) = fitted_judge(&fit, obs.n_workers, k);
        let t = 17usize;
        let answers: Vec<(String, Json)> = (0..obs.task.len())
            .filter(|i| obs.task[*i] as usize == t)
            .map(|i| {
                (
                    format!("w{}", obs.worker[i]),
                    json!(classes[obs.label[i] as usize]),
                )
            })
            .collect();
        let ballots: Vec<(&str, &Json)> = answers.iter().map(|(k, a)| (k.as_str(), a)).collect();
        let a = j.aggregate(&ballots).expect("aggregate");
        let best = fit.label(t, k);
        assert_eq!(a.info["aggregate"]["value"], json!(classes[best]));
        assert!((a.confidence - fit.posteriors[t * k + best]).abs() < 1e-3);
    }

    /// The online system after a fit: new tasks get answers one at a time from random
    /// volunteers. Retiring at 95% confidence (at least two answers, at most seven) is as
    /// accurate as always taking seven, with far fewer answers; both beat majority vote.
    #[test]
    fn retirement_saves_answers_at_no_loss_of_accuracy() {
        let (history, _) = crowd(5, 3000, 5);
        let k = history.n_classes;
        let fit = dawid_skene(&history, 100, 1e-7);
        let (j, classes) = fitted_judge(&fit, history.n_workers, k);
        let mut rng = StdRng::seed_from_u64(99);
        let (cap, min, sure) = (7usize, 2usize, 0.95);
        let (mut fixed_right, mut retire_right, mut majority_right) = (0, 0, 0);
        let (mut fixed_answers, mut retire_answers) = (0, 0);
        let tasks = 2000;
        for _ in 0..tasks {
            let truth = rng.random_range(0..4u16);
            let mut given: Vec<(String, Json)> = vec![];
            let mut workers: Vec<usize> = (0..history.n_workers).collect();
            let mut retired_at = None;
            for n in 1..=cap {
                let w = workers.swap_remove(rng.random_range(0..workers.len()));
                let label = answer_of(&mut rng, w, truth);
                given.push((format!("w{w}"), json!(classes[label as usize])));
                let ballots: Vec<(&str, &Json)> =
                    given.iter().map(|(k, a)| (k.as_str(), a)).collect();
                let a = j.aggregate(&ballots).expect("aggregate");
                if retired_at.is_none() && n >= min && a.confidence >= sure {
                    retired_at = Some((n, a.info["aggregate"]["value"].clone()));
                }
            }
            let ballots: Vec<(&str, &Json)> = given.iter().map(|(k, a)| (k.as_str(), a)).collect();
            let right = json!(classes[truth as usize]);
            let all = j.aggregate(&ballots).expect("aggregate");
            fixed_right += i32::from(all.info["aggregate"]["value"] == right);
            fixed_answers += cap;
            let (n, value) = retired_at.unwrap_or((cap, all.info["aggregate"]["value"].clone()));
            retire_right += i32::from(value == right);
            retire_answers += n;
            let plain = judge(Aggregation::Majority)
                .aggregate(&ballots)
                .expect("aggregate");
            majority_right += i32::from(plain.info["aggregate"]["value"] == right);
        }
        assert!(
            retire_right >= fixed_right - tasks / 100,
            "retiring: {retire_right} right, always {cap}: {fixed_right}"
        );
        assert!(
            retire_answers * 10 <= fixed_answers * 7,
            "retiring used {retire_answers} answers, always {cap}: {fixed_answers}"
        );
        assert!(
            fixed_right > majority_right + 50,
            "dawid-skene {fixed_right} vs majority {majority_right}"
        );
    }

    #[test]
    fn small_confidence_drifts_are_not_a_change() {
        let old = json!({"value": "a", "confidence": 0.9, "fields": {"x": {"confidence": 0.5}}});
        assert!(!differs(
            &old,
            &json!({"value": "a", "confidence": 0.905, "fields": {"x": {"confidence": 0.495}}})
        ));
        assert!(differs(
            &old,
            &json!({"value": "b", "confidence": 0.9, "fields": {"x": {"confidence": 0.5}}})
        ));
        assert!(differs(
            &old,
            &json!({"value": "a", "confidence": 0.8, "fields": {"x": {"confidence": 0.5}}})
        ));
        assert!(differs(
            &old,
            &json!({"value": "a", "confidence": 0.9, "fields": {"x": {"confidence": 0.6}}})
        ));
        assert!(differs(&old, &json!({"value": "a", "confidence": 0.9})));
    }

    #[test]
    fn skill_starts_at_the_prior_and_follows_gold() {
        assert!((skill_from_gold(0, 0) - PRIOR_SKILL).abs() < 1e-12);
        assert!((skill_from_gold(2, 2) - 0.85).abs() < 1e-12);
        assert!(skill_from_gold(10, 0) < 0.2);
    }
}
