//! Rate limits: PYBOSSA's headers, 429 in the error shape with Retry-After, one bucket per
//! caller and resource; counted in Redis or in process.

use crate::common::{TestApp, redis_available};

async fn limits(app: TestApp) {
    let user = app.register("alice").await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    for expected_remaining in (0..5).rev() {
        let r = app.get("/api/task", Some(&user)).await;
        r.ok();
        let h = |name: &str| {
            r.headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok())
        };
        assert_eq!(h("x-ratelimit-limit"), Some(5));
        assert_eq!(h("x-ratelimit-remaining"), Some(expected_remaining));
        let reset = h("x-ratelimit-reset").expect("reset");
        assert!(
            reset > now && reset <= now + 61,
            "absolute epoch seconds: {reset}"
        );
    }
    let r = app.get("/api/task", Some(&user)).await;
    assert_eq!(r.err(429, "TooManyRequests")["target"], "/api/task");
    let retry: u64 = r
        .headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert!((1..=60).contains(&retry));
    // HEAD shares the bucket (pbs probes with it); POST too.
    let head = app
        .client
        .head(format!("{}/api/task?api_key={}", app.base, user.api_key))
        .send()
        .await
        .expect("head");
    assert_eq!(head.status().as_u16(), 429);
    // Another resource, another caller: their own buckets.
    app.get("/api/project", Some(&user)).await.ok();
    app.get("/api/task", None).await.ok();
    let bob = app.register("bob").await;
    app.get("/api/task", Some(&bob)).await.ok();
    // Made-up keys are anonymous: they share the address's bucket, not one each.
    for i in 0..5 {
        let r = app
            .client
            .get(format!("{}/api/category?api_key=fake-{i}", app.base))
            .send()
            .await
            .expect("get");
        assert_eq!(r.status().as_u16(), 200);
    }
    let r = app
        .client
        .get(format!("{}/api/category?api_key=fake-9", app.base))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status().as_u16(), 429);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_the_limit_is_429_per_caller_and_resource_in_process() {
    limits(TestApp::rate_limited("5/60", false).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_the_limit_is_429_per_caller_and_resource_in_redis() {
    if redis_available() {
        limits(TestApp::rate_limited("5/60", true).await).await;
    }
}
