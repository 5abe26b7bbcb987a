//! IIIF Presentation manifests, versions 2 and 3: one task per canvas, with the canvas's image
//! and label in `info` (the keys PYBOSSA's IIIF importer writes: `tileSource`, `url_m`, `url_b`,
//! beside `image`, `label`, `canvas` and `manifest`). The canvas id is the task's
//! `external_id`, so a re-import of a grown manifest adds only the new canvases.

use std::io::{BufRead, Read};
use std::ops::ControlFlow;

use serde_json::{Map, Value as Json};

use super::row::{Item, NewTask};

/// Largest manifest read (a manifest is read whole; a million canvases fit well under it).
const MAX_MANIFEST: u64 = 256 * 1024 * 1024;

/// Whether a JSON object is an IIIF Presentation manifest.
pub fn is_manifest(v: &Json) -> bool {
    let context_says = |c: &Json| match c {
        Json::String(s) => s.contains("iiif.io/api/presentation"),
        Json::Array(items) => items.iter().any(|i| {
            i.as_str()
                .is_some_and(|s| s.contains("iiif.io/api/presentation"))
        }),
        _ => false,
    };
    v.get("@context").is_some_and(context_says)
        || v.get("type").and_then(Json::as_str) == Some("Manifest")
        || v.get("@type").and_then(Json::as_str) == Some("sc:Manifest")
}

/// An id under either version's name for it.
fn id_of(v: &Json) -> Option<&str> {
    v.get("id").or_else(|| v.get("@id")).and_then(Json::as_str)
}

/// A label: plain text (v2) or a language map of lists (v3), first value taken.
fn label_of(v: &Json) -> Option<String> {
    match v.get("label")? {
        Json::String(s) => Some(s.clone()),
        Json::Object(langs) => langs
            .get("en")
            .or_else(|| langs.get("none"))
            .or_else(|| langs.values().next())
            .and_then(|l| match l {
                Json::Array(items) => items.first().and_then(Json::as_str).map(str::to_string),
                Json::String(s) => Some(s.clone()),
                _ => None,
            }),
        Json::Array(items) => items.first().and_then(|i| match i {
            Json::String(s) => Some(s.clone()),
            other => other
                .get("@value")
                .and_then(Json::as_str)
                .map(str::to_string),
        }),
        _ => None,
    }
}

/// The image resource of a canvas: v2 `images[0].resource`, v3 `items[0].items[0].body`.
fn image_of(canvas: &Json) -> Option<&Json> {
    if let Some(images) = canvas.get("images").and_then(Json::as_array) {
        return images.first()?.get("resource");
    }
    let page = canvas.get("items")?.as_array()?.first()?;
    let annotation = page.get("items")?.as_array()?.first()?;
    let body = annotation.get("body")?;
    match body {
        Json::Array(items) => items.first(),
        other => Some(other),
    }
}

/// The image service base URL of an image resource, if it has one.
fn service_of(image: &Json) -> Option<String> {
    let service = image.get("service")?;
    let service = match service {
        Json::Array(items) => items.first()?,
        other => other,
    };
    id_of(service).map(|s| s.trim_end_matches('/').to_string())
}

fn canvas_task(manifest_id: &str, canvas: &Json) -> Result<NewTask, String> {
    let canvas_id = id_of(canvas).ok_or("the canvas has no id")?;
    let image = image_of(canvas).ok_or("the canvas has no image")?;
    let mut info = Map::new();
    info.insert("manifest".into(), Json::String(manifest_id.to_string()));
    info.insert("canvas".into(), Json::String(canvas_id.to_string()));
    if let Some(label) = label_of(canvas) {
        info.insert("label".into(), Json::String(label));
    }
    let service = service_of(image);
    let url = id_of(image)
        .map(str::to_string)
        .or_else(|| {
            service
                .as_ref()
                .map(|s| format!("{s}/full/max/0/default.jpg"))
        })
        .ok_or("the canvas's image has no URL")?;
    info.insert("image".into(), Json::String(url));
    if let Some(service) = service {
        info.insert(
            "tileSource".into(),
            Json::String(format!("{service}/info.json")),
        );
        info.insert(
            "url_m".into(),
            Json::String(format!("{service}/full/240,/0/default.jpg")),
        );
        info.insert(
            "url_b".into(),
            Json::String(format!("{service}/full/1024,/0/default.jpg")),
        );
    }
    Ok(NewTask {
        info,
        n_answers: None,
        priority_0: None,
        calibration: None,
        gold_answers: None,
        external_id: Some(canvas_id.chars().take(256).collect()),
    })
}

/// Reads a manifest and hands over one task per canvas, in order.
pub fn read(
    reader: impl BufRead,
    each: &mut dyn FnMut(Item) -> ControlFlow<()>,
) -> Result<(), String> {
    let mut text = Vec::new();
    reader
        .take(MAX_MANIFEST + 1)
        .read_to_end(&mut text)
        .map_err(|e| format!("the file could not be read: {e}"))?;
    if text.len() as u64 > MAX_MANIFEST {
        return Err(format!("a manifest may be at most {MAX_MANIFEST} bytes"));
    }
    let doc: Json =
        serde_json::from_slice(&text).map_err(|e| format!("not a valid JSON document: {e}"))?;
    drop(text);
    if !is_manifest(&doc) {
        return Err("a JSON object that is not an IIIF Presentation manifest".into());
    }
    let manifest_id = id_of(&doc).unwrap_or_default().to_string();
    let canvases: Vec<&Json> =
        if let Some(sequences) = doc.get("sequences").and_then(Json::as_array) {
            sequences
                .iter()
                .filter_map(|s| s.get("canvases").and_then(Json::as_array))
                .flatten()
                .collect()
        } else {
            doc.get("items")
                .and_then(Json::as_array)
                .map(|items| {
                    items
                        .iter()
                        .filter(|i| {
                            i.get("type")
                                .and_then(Json::as_str)
                                .is_none_or(|t| t == "Canvas")
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
    if canvases.is_empty() {
        return Err("the manifest has no canvases".into());
    }
    for (i, canvas) in canvases.into_iter().enumerate() {
        let line = i as u64 + 1;
        let item = match canvas_task(&manifest_id, canvas) {
            Ok(task) => Item::Task { line, task },
            Err(reason) => Item::Rejected {
                line,
                reason,
                raw: id_of(canvas).unwrap_or_default().to_string(),
            },
        };
        if each(item).is_break() {
            break;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read_all(doc: &Json) -> Result<Vec<Item>, String> {
        let mut out = Vec::new();
        let text = doc.to_string();
        read(text.as_bytes(), &mut |i| {
            out.push(i);
            ControlFlow::Continue(())
        })?;
        Ok(out)
    }

    #[test]
    fn version_2_and_3_give_one_task_per_canvas() {
        let v2 = json!({
            "@context": "http://iiif.io/api/presentation/2/context.json",
            "@id": "https://example.org/m2", "@type": "sc:Manifest",
            "sequences": [{"canvases": [
                {"@id": "https://example.org/c1", "label": "p. 1", "images": [{"resource": {
                    "@id": "https://example.org/i1.jpg",
                    "service": {"@id": "https://example.org/iiif/i1/"}}}]},
                {"@id": "https://example.org/c2", "label": "p. 2"}
            ]}]
        });
        let got = read_all(&v2).expect("v2");
        let Item::Task { task, .. } = &got[0] else {
            panic!("{got:?}")
        };
        assert_eq!(task.external_id.as_deref(), Some("https://example.org/c1"));
        assert_eq!(task.info["image"], "https://example.org/i1.jpg");
        assert_eq!(task.info["label"], "p. 1");
        assert_eq!(
            task.info["tileSource"],
            "https://example.org/iiif/i1/info.json"
        );
        assert!(matches!(&got[1], Item::Rejected { reason, .. } if reason.contains("no image")));

        let v3 = json!({
            "@context": "http://iiif.io/api/presentation/3/context.json",
            "id": "https://example.org/m3", "type": "Manifest",
            "items": [{"id": "https://example.org/c1", "type": "Canvas",
                "label": {"en": ["Folio 1r"]},
                "items": [{"type": "AnnotationPage", "items": [{"type": "Annotation",
                    "body": {"id": "https://example.org/f1.jpg", "type": "Image",
                        "service": [{"id": "https://example.org/iiif/f1", "type": "ImageService3"}]}}]}]}]
        });
        let got = read_all(&v3).expect("v3");
        let Item::Task { task, .. } = &got[0] else {
            panic!("{got:?}")
        };
        assert_eq!(task.info["label"], "Folio 1r");
        assert_eq!(task.info["manifest"], "https://example.org/m3");
        assert_eq!(
            task.info["url_m"],
            "https://example.org/iiif/f1/full/240,/0/default.jpg"
        );
        assert!(read_all(&json!({"a": 1})).is_err());
        assert!(read_all(&json!({"type": "Manifest", "items": []})).is_err());
    }
}
