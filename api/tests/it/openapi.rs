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
