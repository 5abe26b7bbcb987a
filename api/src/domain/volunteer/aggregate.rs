//! The built-in aggregate a result starts with: per field, the majority answer, how much the
//! volunteers agreed, and the votes.

use serde_json::{Map, Value as Json, json};

fn is_scalar(v: &Json) -> bool {
    !matches!(v, Json::Array(_) | Json::Object(_))
}

fn vote_key(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Majority over scalar answers: ties go to the answer given first.
fn majority<'a>(answers: impl Iterator<Item = &'a Json>) -> Json {
    let mut order: Vec<(String, &Json, u64)> = vec![];
    let mut total = 0u64;
    for a in answers {
        total += 1;
        let key = vote_key(a);
        match order.iter_mut().find(|(k, _, _)| *k == key) {
            Some(entry) => entry.2 += 1,
            None => order.push((key, a, 1)),
        }
    }
    let Some(best) = order
        .iter()
        .max_by(|a, b| a.2.cmp(&b.2).then(std::cmp::Ordering::Greater))
    else {
        return json!({"value": null, "agreement": 0.0, "votes": {}, "n": 0});
    };
    let agreement = (best.2 as f64 / total as f64 * 1000.0).round() / 1000.0;
    let votes: Map<String, Json> = order
        .iter()
        .map(|(k, _, n)| (k.clone(), json!(n)))
        .collect();
    json!({"value": best.1, "agreement": agreement, "votes": votes, "n": total})
}

/// `{"aggregate": …}` for a task's answers (`info` of its task runs), or `None` when the answers
/// are not scalars or flat objects of scalars.
pub fn aggregate(answers: &[Json]) -> Option<Json> {
    if answers.is_empty() {
        return None;
    }
    if answers.iter().all(is_scalar) {
        return Some(json!({ "aggregate": majority(answers.iter()) }));
    }
    let objects: Vec<&Map<String, Json>> = answers.iter().filter_map(Json::as_object).collect();
    if objects.len() != answers.len() || !objects.iter().all(|o| o.values().all(is_scalar)) {
        return None;
    }
    let mut keys: Vec<&String> = vec![];
    for o in &objects {
        for k in o.keys() {
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
    }
    let fields: Map<String, Json> = keys
        .into_iter()
        .map(|k| (k.clone(), majority(objects.iter().filter_map(|o| o.get(k)))))
        .collect();
    Some(json!({ "aggregate": { "fields": fields, "n": answers.len() } }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalar_answers_aggregate_to_the_majority_with_its_agreement() {
        let agg = aggregate(&[json!("cat"), json!("dog"), json!("cat")]).expect("agg");
        assert_eq!(agg["aggregate"]["value"], "cat");
        assert_eq!(agg["aggregate"]["agreement"], 0.667);
        assert_eq!(agg["aggregate"]["votes"], json!({"cat": 2, "dog": 1}));
    }

    #[test]
    fn ties_go_to_the_first_answer() {
        let agg = aggregate(&[json!(1), json!(2)]).expect("agg");
        assert_eq!(agg["aggregate"]["value"], 1);
        assert_eq!(agg["aggregate"]["agreement"], 0.5);
    }

    #[test]
    fn flat_object_answers_take_a_majority_per_field() {
        let agg = aggregate(&[
            json!({"animal": "cat", "count": 2}),
            json!({"animal": "cat", "count": 3}),
            json!({"animal": "dog", "count": 3}),
        ])
        .expect("agg");
        assert_eq!(agg["aggregate"]["fields"]["animal"]["value"], "cat");
        assert_eq!(agg["aggregate"]["fields"]["count"]["value"], 3);
        assert_eq!(
            agg["aggregate"]["fields"]["count"]["votes"],
            json!({"2": 1, "3": 2})
        );
    }

    #[test]
    fn nested_answers_have_no_aggregate() {
        assert!(aggregate(&[json!({"points": [1, 2]})]).is_none());
        assert!(aggregate(&[json!("a"), json!({"b": 1})]).is_none());
    }
}
