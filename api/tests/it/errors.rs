use serde_json::json;

use crate::{common::TestApp, on_both};

async fn malformed_bodies_get_415_but_json_passes_any_content_type(app: TestApp) {
    let (_admin, owner, _) = app.seeded().await;
    let url = format!("{}/api/project?api_key={}", app.base, owner.api_key);
    // Invalid JSON, a non-object, an empty body, a form body: all 415 ValueError/TypeError.
    for (body, ct, cls) in [
        ("{not json", "application/json", "ValueError"),
        ("[1, 2]", "application/json", "TypeError"),
        ("", "application/json", "ValueError"),
        (
            "name=x&short_name=y",
            "application/x-www-form-urlencoded",
            "ValueError",
        ),
    ] {
        let r = app
            .client
            .post(&url)
            .header("content-type", ct)
            .body(body)
            .send()
            .await
            .expect("post");
        let r = TestApp::read(r).await;
        assert_eq!(r.err(415, cls)["target"], "project", "{body}");
    }
    // JSON is parsed whatever the content type says, as PYBOSSA does.
    let r = app
        .client
        .post(&url)
        .header("content-type", "text/plain")
        .body(json!({"name": "P", "short_name": "p", "description": "d"}).to_string())
        .send()
        .await
        .expect("post");
    TestApp::read(r).await.ok();
    // Unknown query keys on writes are refused.
    let r = app
        .client
        .post(format!("{url}&bogus=1"))
        .body("{}")
        .send()
        .await
        .expect("post");
    TestApp::read(r).await.err(415, "AttributeError");
    // Too large.
    let big = json!({"name": "x".repeat(1_100_000)}).to_string();
    let r = app
        .client
        .post(&url)
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .expect("post");
    assert_eq!(TestApp::read(r).await.status.as_u16(), 413);
}

async fn unknown_items_and_routes_404_and_wrong_methods_405(app: TestApp) {
    app.get("/api/project/12345", None)
        .await
        .err(404, "NotFound");
    app.get("/api/nosuchthing", None).await.err(404, "NotFound");
    let r = app.put("/api/project", None, json!({})).await;
    assert_eq!(r.err(405, "MethodNotAllowed")["action"], "PUT");
    let r = app.get("/api/", None).await;
    assert_eq!(r.text, "The Tessera API");
    // CORS as PYBOSSA configures it.
    let r = app
        .client
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/api/project", app.base),
        )
        .header("origin", "https://example.org")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type, authorization",
        )
        .send()
        .await
        .expect("preflight");
    assert!(r.status().is_success(), "{}", r.status());
    assert!(r.headers().get("access-control-allow-origin").is_some());
    // Health.
    let live = app
        .client
        .get(format!("{}/health/live", app.base))
        .send()
        .await
        .expect("live");
    assert_eq!(live.status().as_u16(), 200);
    let ready = TestApp::read(
        app.client
            .get(format!("{}/health/ready", app.base))
            .send()
            .await
            .expect("ready"),
    )
    .await;
    assert_eq!(ready.ok()["database"]["status"], "ok");
    assert!(ready.headers.get("x-request-id").is_some());
}

on_both!(
    malformed_bodies_get_415_but_json_passes_any_content_type,
    unknown_items_and_routes_404_and_wrong_methods_405
);
