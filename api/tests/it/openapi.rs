//! The checked-in spec is what the code serves.

use crate::common::TestApp;

#[tokio::test]
async fn checked_in_spec_matches_the_code() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi.yaml");
    let on_disk = std::fs::read_to_string(path).unwrap_or_default();
    let generated = tessera_api::app::openapi_yaml();
    assert!(
        on_disk == generated,
        "openapi.yaml is out of date: run `just openapi`"
    );

    let app = TestApp::sqlite().await;
    let served = app
        .client
        .get(format!("{}/api/openapi.yaml", app.base))
        .send()
        .await
        .expect("spec");
    assert_eq!(served.text().await.expect("text"), generated);
    let json = TestApp::read(
        app.client
            .get(format!("{}/api/openapi.json", app.base))
            .send()
            .await
            .expect("json"),
    )
    .await;
    let paths = json.ok()["paths"].as_object().expect("paths");
    for p in [
        "/project",
        "/project/{id}",
        "/task",
        "/taskrun",
        "/result",
        "/user",
        "/category",
        "/announcement",
        "/blogpost",
        "/helpingmaterial",
        "/page",
        "/auth/register",
        "/auth/login",
        "/auth/me",
        "/project/{id}/publish",
    ] {
        assert!(paths.contains_key(p), "{p} missing from the spec");
    }
    let docs = app
        .client
        .get(format!("{}/api/docs/", app.base))
        .send()
        .await
        .expect("docs");
    assert_eq!(docs.status().as_u16(), 200);
}

/// Each path is written once, with all its operations: YAML forbids duplicate keys, loaders
/// keep the last (every list operation vanished that way), and generators refuse the file.
#[test]
fn every_path_is_written_once() {
    let spec = tessera_api::app::openapi_yaml();
    let mut seen = std::collections::HashSet::new();
    let mut twice = vec![];
    for path in spec.lines().filter(|l| l.starts_with("  /")) {
        if !seen.insert(path) {
            twice.push(path);
        }
    }
    assert!(twice.is_empty(), "paths written twice: {twice:?}");
    // The collections keep both their operations.
    for path in ["/project", "/task", "/taskrun", "/user"] {
        let block: String = spec
            .split(&format!("\n  {path}:\n"))
            .nth(1)
            .unwrap_or_default()
            .lines()
            .take_while(|l| !l.starts_with("  /"))
            .collect::<Vec<_>>()
            .join("\n");
        assert!(
            block.contains("\n    get:") || block.starts_with("    get:"),
            "{path} lost GET"
        );
        assert!(
            block.contains("\n    post:") || block.starts_with("    post:"),
            "{path} lost POST"
        );
    }
}

/// `{anything}` path segments as `{}`, so `/project/{id}` and `/project/{project_id}` compare equal.
fn normalise(path: &str) -> String {
    path.split('/')
        .map(|seg| if seg.starts_with('{') { "{}" } else { seg })
        .collect::<Vec<_>>()
        .join("/")
}

/// Every API path the web app calls is in the spec: a change to the spec that would break the
/// app fails here, before any browser runs.
#[test]
fn the_web_app_calls_only_documented_paths() {
    let spec = tessera_api::app::openapi_yaml();
    let documented: std::collections::HashSet<String> = spec
        .lines()
        .filter_map(|l| l.strip_prefix("  /")?.strip_suffix(':'))
        .map(|p| normalise(&format!("/{p}")))
        .collect();
    let source = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../web/src/api.rs"))
        .expect("web/src/api.rs");
    let mut called = Vec::new();
    for literal in source.split('"').skip(1).step_by(2) {
        if let Some(rest) = literal.strip_prefix("/api/") {
            let path = rest.split('?').next().unwrap_or(rest);
            called.push(normalise(&format!("/{}", path.trim_end_matches('/'))));
        }
    }
    assert!(called.len() > 15, "found the app's API calls: {called:?}");
    let missing: Vec<&String> = called.iter().filter(|p| !documented.contains(*p)).collect();
    assert!(
        missing.is_empty(),
        "the web app calls undocumented paths: {missing:?}"
    );
}

/// The schema a web app type reads, by the type's name in `web/src/api.rs`.
const WEB_TYPES: &[(&str, &str)] = &[
    ("Project", "Project"),
    ("ErrorBody", "ErrorBody"),
    ("Account", "User"),
    ("Token", "TokenResponse"),
    ("ProjectStats", "ProjectStats"),
    ("GlobalStats", "GlobalStats"),
    ("Ranked", "LeaderboardUser"),
    ("Board", "Leaderboard"),
    ("Category", "Category"),
    ("TaskRow", "Task"),
    ("ResultRow", "Result"),
    ("WebhookSettings", "WebhookSettings"),
    ("Delivery", "WebhookDelivery"),
    ("RunRow", "TaskRun"),
    ("Import", "Import"),
    ("ImportPreview", "ImportPreview"),
    ("RowError", "ImportError"),
    ("BulkOutcome", "BulkOutcome"),
    ("Announcement", "Announcement"),
];

/// The fields of each struct in a Rust source, as serde names them.
fn struct_fields(source: &str) -> std::collections::HashMap<String, Vec<String>> {
    let mut out = std::collections::HashMap::new();
    let mut rest = source;
    while let Some(at) = rest.find("struct ") {
        rest = &rest[at + "struct ".len()..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let Some(open) = rest.find('{') else { break };
        if rest[..open].contains(';') || rest[..open].contains('(') {
            continue;
        }
        let Some(close) = rest[open..].find("\n}") else {
            break;
        };
        let body = &rest[open + 1..open + close];
        let fields = body
            .lines()
            .map(str::trim)
            .filter(|l| !l.starts_with('#') && !l.starts_with("//"))
            .filter_map(|l| l.trim_start_matches("pub ").split_once(':'))
            .map(|(f, _)| f.trim().to_string())
            .filter(|f| !f.is_empty() && f.chars().all(|c| c.is_alphanumeric() || c == '_'))
            .collect();
        out.insert(name, fields);
    }
    out
}

/// The web app reads only what the spec documents, and sends only what it documents: its
/// response types' fields are the spec schemas' properties, and the keys of the JSON bodies it
/// sends are properties of the operation's request schema. A rename in the spec fails here.
#[test]
fn the_web_app_types_follow_the_spec() {
    let spec: serde_json::Value =
        serde_json::from_str(&tessera_api::app::openapi_service().spec()).expect("spec json");
    let schemas = &spec["components"]["schemas"];
    let properties = |schema: &str| -> Vec<String> {
        schemas[schema]["properties"]
            .as_object()
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default()
    };
    let source = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../web/src/api.rs"))
        .expect("web/src/api.rs");
    let structs = struct_fields(&source);
    for (web, schema) in WEB_TYPES {
        let fields = structs
            .get(*web)
            .unwrap_or_else(|| panic!("web/src/api.rs has no struct {web}"));
        let documented = properties(schema);
        assert!(!documented.is_empty(), "no schema {schema}");
        for field in fields {
            assert!(
                documented.contains(field),
                "the web app's {web}.{field} is not in the spec's {schema}: {documented:?}"
            );
        }
    }
    // Request bodies: each function's `json!({...})` keys against its request's schema.
    let mut checked = 0;
    for function in source.split("\npub async fn ").skip(1) {
        let function = function.split("\n}\n").next().unwrap_or(function);
        let Some(start) = function.find("json!({") else {
            continue;
        };
        let literal = &function[start + "json!({".len()..];
        let literal = literal.split("})").next().unwrap_or(literal);
        let keys: Vec<&str> = literal
            .split('"')
            .collect::<Vec<_>>()
            .windows(2)
            .filter(|w| w[1].trim_start().starts_with(':'))
            .map(|w| w[0])
            .collect();
        let call = ["\"POST\"", "\"PUT\""]
            .iter()
            .find_map(|m| function.find(m).map(|at| (m.trim_matches('"'), at)));
        let Some((method, at)) = call else { continue };
        let path = function[at..]
            .split('"')
            .find(|s| s.starts_with("/api/"))
            .map(|p| normalise(p.trim_start_matches("/api").split('?').next().unwrap_or(p)));
        let Some(path) = path else { continue };
        let operation = spec["paths"]
            .as_object()
            .and_then(|paths| paths.iter().find(|(p, _)| normalise(p) == path))
            .map(|(_, op)| &op[method.to_ascii_lowercase()])
            .unwrap_or_else(|| panic!("{method} {path} is not in the spec"));
        // `application/json`, or poem-openapi's `application/json; charset=utf-8`.
        let json_body = operation["requestBody"]["content"]
            .as_object()
            .and_then(|c| c.iter().find(|(ty, _)| ty.starts_with("application/json")))
            .map(|(_, body)| body);
        let schema = json_body
            .and_then(|b| b["schema"]["$ref"].as_str())
            .and_then(|r| r.rsplit('/').next())
            .unwrap_or_default();
        if schema.is_empty() || keys.is_empty() {
            continue;
        }
        let documented = properties(schema);
        for key in keys {
            assert!(
                documented.iter().any(|d| d == key),
                "the web app sends {key} to {method} {path}, not in {schema}: {documented:?}"
            );
        }
        checked += 1;
    }
    assert!(checked >= 5, "checked only {checked} request bodies");
}
