//! What volunteers read: rendered description, blog, feed, pages, field guide; sanitised.

use serde_json::{Value, json};

use crate::{common::TestApp, on_both};

/// Markdown and raw HTML an attacker would write into a description or a post.
const HOSTILE: &str = "# Welcome\n\nCount **birds**.\n\n<script>alert(1)</script>\n\n\
<img src=x onerror=\"alert(2)\">\n\n[click](javascript:alert(3)) [data](data:text/html,boom) \
<a href=\"vbscript:x\">v</a>\n\n<iframe src=\"https://evil.example\"></iframe>\
<style>body{display:none}</style><form action=\"/x\"><input name=q></form>\n\n\
<div onclick=\"steal()\" style=\"position:fixed\">box</div>\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n\
[site](/project/x) [web](https://example.org/a?b=1)";

fn assert_clean(html: &str) {
    let lower = html.to_lowercase();
    for bad in [
        "<script",
        "onerror",
        "onclick",
        "javascript:",
        "vbscript:",
        "data:text",
        "<iframe",
        "<style",
        "<form",
        "<input",
        "style=",
    ] {
        assert!(!lower.contains(bad), "{bad} survived in {html}");
    }
}

async fn markdown_is_rendered_and_nothing_executable_survives(app: TestApp) {
    let (_admin, owner, _cat) = app.seeded().await;
    let pid = app.project(&owner, "birds").await;
    app.put(
        &format!("/api/project/{pid}"),
        Some(&owner),
        json!({"long_description": HOSTILE}),
    )
    .await
    .ok();

    let c = app.get(&format!("/api/project/{pid}/content"), None).await;
    let html = c.ok()["description_html"]
        .as_str()
        .expect("html")
        .to_owned();
    assert!(html.contains("<h1>Welcome</h1>"), "{html}");
    assert!(html.contains("<strong>birds</strong>"), "{html}");
    assert!(html.contains("<table>"), "tables render: {html}");
    assert!(
        html.contains("href=\"/project/x\""),
        "relative links kept: {html}"
    );
    assert!(
        html.contains("href=\"https://example.org/a?b=1\""),
        "web links kept: {html}"
    );
    assert!(
        html.contains("rel=\"noopener noreferrer nofollow ugc\""),
        "{html}"
    );
    assert_clean(&html);
    assert_eq!(c.json["tutorial"], false);

    // The same by short name; the preview renders as the page does.
    let by_name = app.get("/api/project/birds/content", None).await;
    assert_eq!(by_name.ok()["description_html"], html.as_str());
    app.post("/api/markdown", None, json!({"text": "*x*"}))
        .await
        .err(401, "Unauthorized");
    let preview = app
        .post("/api/markdown", Some(&owner), json!({"text": HOSTILE}))
        .await;
    assert_eq!(preview.ok()["html"], html.as_str());
    app.post(
        "/api/markdown",
        Some(&owner),
        json!({"text": "x".repeat(200_001)}),
    )
    .await
    .err(400, "BadRequest");
    for bad in [
        json!({"text": {}}),
        json!({}),
        json!({"text": "a", "html": "b"}),
    ] {
        // Malformed bodies get the API-wide 415 of a payload that does not parse.
        app.post("/api/markdown", Some(&owner), bad)
            .await
            .err(415, "ValueError");
    }
}

async fn post(
    app: &TestApp,
    owner: &crate::common::User,
    pid: i64,
    title: &str,
    published: bool,
) -> i64 {
    let r = app
        .post(
            "/api/blogpost",
            Some(owner),
            json!({"project_id": pid, "title": title, "body": format!("## {title}\n\nNews about *{title}*. <script>x()</script>"), "published": published}),
        )
        .await;
    r.ok()["id"].as_i64().expect("id")
}

async fn blog_posts_feed_and_pages_follow_who_may_read(app: TestApp) {
    let (_admin, owner, _cat) = app.seeded().await;
    let stranger = app.register("stranger").await;
    let pid = app.project(&owner, "birds").await;
    let mut ids = Vec::new();
    for i in 0..7 {
        ids.push(post(&app, &owner, pid, &format!("Post {i}"), true).await);
    }
    let draft = post(&app, &owner, pid, "Secret plans", false).await;

    // Overview: latest five published, newest first, excerpts without markup.
    let c = app.get("/api/project/birds/content", Some(&stranger)).await;
    let posts = c.ok()["posts"].as_array().expect("posts").clone();
    let titles: Vec<&str> = posts.iter().filter_map(|p| p["title"].as_str()).collect();
    assert_eq!(titles, ["Post 6", "Post 5", "Post 4", "Post 3", "Post 2"]);
    assert_eq!(c.json["more_posts"], true);
    assert_eq!(posts[0]["excerpt"], "Post 6 News about Post 6.");
    assert_eq!(posts[0]["author"], "owner Full");
    assert!(posts[0].get("html").is_none());

    // The blog pages through every published post; the owner also sees the draft.
    let page = app
        .get("/api/project/birds/blog?limit=5&offset=5", None)
        .await;
    let rest: Vec<&str> = page.ok()["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|p| p["title"].as_str())
        .collect();
    assert_eq!(rest, ["Post 1", "Post 0"]);
    assert_eq!(page.json["has_more"], false);
    let html = page.json["items"][0]["html"].as_str().expect("html");
    assert!(html.contains("<h2>Post 1</h2>"), "{html}");
    assert_clean(html);
    let mine = app
        .get("/api/project/birds/blog?limit=50", Some(&owner))
        .await;
    assert_eq!(mine.ok()["items"][0]["title"], "Secret plans");
    assert_eq!(mine.json["items"][0]["published"], false);
    let theirs = app
        .get("/api/project/birds/blog?limit=50", Some(&stranger))
        .await;
    assert_eq!(theirs.ok()["items"].as_array().map(Vec::len), Some(7));

    // One post; drafts and other projects' posts are 404 to those who may not read them.
    let one = app
        .get(&format!("/api/project/{pid}/blog/{}", ids[3]), None)
        .await;
    assert_eq!(one.ok()["title"], "Post 3");
    app.get(&format!("/api/project/{pid}/blog/{draft}"), Some(&stranger))
        .await
        .err(404, "NotFound");
    app.get(&format!("/api/project/{pid}/blog/{draft}"), Some(&owner))
        .await
        .ok();
    let other = app.project(&owner, "bees").await;
    app.get(&format!("/api/project/{other}/blog/{}", ids[0]), None)
        .await
        .err(404, "NotFound");

    // The Atom feed: published posts only, linking to PYBOSSA's post URLs.
    let resp = app
        .client
        .get(format!("{}/api/project/birds/blog.atom", app.base))
        .send()
        .await
        .expect("feed");
    assert_eq!(resp.status().as_u16(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .is_ok_and(|t| t.starts_with("application/atom+xml")),
    );
    let xml = resp.text().await.expect("xml");
    assert!(
        xml.contains("<feed xmlns=\"http://www.w3.org/2005/Atom\""),
        "{xml}"
    );
    assert_eq!(xml.matches("<entry>").count(), 7, "{xml}");
    assert!(!xml.contains("Secret plans"), "drafts stay out of the feed");
    assert!(
        xml.contains(&format!("/project/birds/{}\"", ids[6])),
        "entries link to the post pages: {xml}"
    );
    assert!(!xml.contains("<script>x()"), "feed HTML is sanitised too");

    // Pages: listed with titles, one by slug, rendered.
    app.post(
        "/api/page",
        Some(&owner),
        json!({"project_id": pid, "slug": "faq", "info": {"title": "Questions", "body": "**Why?** Because. <img src=x onerror=y()>"}}),
    )
    .await
    .ok();
    app.post(
        "/api/page",
        Some(&stranger),
        json!({"project_id": pid, "slug": "evil", "info": {}}),
    )
    .await
    .err(403, "Forbidden");
    let c = app.get("/api/project/birds/content", None).await;
    assert_eq!(
        c.ok()["pages"],
        json!([{"id": c.json["pages"][0]["id"], "slug": "faq", "title": "Questions"}])
    );
    let faq = app.get("/api/project/birds/page/faq", None).await;
    let html = faq.ok()["html"].as_str().expect("html");
    assert!(html.contains("<strong>Why?</strong>"), "{html}");
    assert_clean(html);
    app.get("/api/project/birds/page/nope", None)
        .await
        .err(404, "NotFound");
    app.get("/api/project/nosuch/content", None)
        .await
        .err(404, "NotFound");
}

async fn drafts_content_is_for_their_owners(app: TestApp) {
    let (_admin, owner, _cat) = app.seeded().await;
    let stranger = app.register("stranger").await;
    let pid = app.draft(&owner, "hidden").await;
    post(&app, &owner, pid, "Launch", true).await;
    app.post(
        "/api/helpingmaterial",
        Some(&owner),
        json!({"project_id": pid, "info": {"title": "Robin", "body": "Red breast"}}),
    )
    .await
    .ok();
    for path in [
        "/api/project/hidden/content",
        "/api/project/hidden/blog",
        "/api/project/hidden/blog.atom",
        "/api/project/hidden/page/faq",
    ] {
        app.get(path, None).await.err(401, "Unauthorized");
        app.get(path, Some(&stranger)).await.err(403, "Forbidden");
    }
    let c = app.get("/api/project/hidden/content", Some(&owner)).await;
    assert_eq!(c.ok()["posts"][0]["title"], "Launch");
    assert_eq!(c.json["field_guide"][0]["title"], "Robin");
}

async fn field_guide_orders_by_priority_and_tutorial_is_flagged(app: TestApp) {
    let (_admin, owner, _cat) = app.seeded().await;
    let pid = app.project(&owner, "birds").await;
    let entries = [
        (
            json!({"name": "Sparrow", "description": "Small and brown"}),
            0.2,
        ),
        (
            json!({"title": "Eagle", "body": "![eagle](https://example.org/e.jpg)\n\nBig. <b onmouseover=x>bold</b>"}),
            0.9,
        ),
        (json!({"label": "Gull", "text": "White"}), 0.2),
        (json!({}), 0.0),
    ];
    for (info, priority) in entries {
        app.post(
            "/api/helpingmaterial",
            Some(&owner),
            json!({"project_id": pid, "info": info, "priority": priority, "media_url": "https://example.org/x.jpg"}),
        )
        .await
        .ok();
    }
    app.put(
        &format!("/api/project/{pid}"),
        Some(&owner),
        json!({"info": {"tutorial": "<p>Look closely</p>"}}),
    )
    .await
    .ok();
    let c = app.get(&format!("/api/project/{pid}/content"), None).await;
    let guide = c.ok()["field_guide"].as_array().expect("guide");
    let titles: Vec<&str> = guide.iter().filter_map(|g| g["title"].as_str()).collect();
    assert_eq!(titles, ["Eagle", "Sparrow", "Gull", "Untitled"]);
    let eagle = guide[0]["html"].as_str().expect("html");
    assert!(
        eagle.contains("<img src=\"https://example.org/e.jpg\" alt=\"eagle\">"),
        "{eagle}"
    );
    assert!(eagle.contains("<b>bold</b>"), "{eagle}");
    assert_clean(eagle);
    assert_eq!(guide[1]["html"], "<p>Small and brown</p>\n");
    assert_eq!(guide[0]["media_url"], "https://example.org/x.jpg");
    assert_eq!(c.json["tutorial"], true);
    // The tutorial itself is public, as PYBOSSA's is: volunteers' frames run it.
    let p: Value = app
        .get(&format!("/api/project/{pid}"), None)
        .await
        .ok()
        .clone();
    assert_eq!(p["info"]["tutorial"], "<p>Look closely</p>");
}

on_both!(
    markdown_is_rendered_and_nothing_executable_survives,
    blog_posts_feed_and_pages_follow_who_may_read,
    drafts_content_is_for_their_owners,
    field_guide_orders_by_priority_and_tutorial_is_flagged
);
