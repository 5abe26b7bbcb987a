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
