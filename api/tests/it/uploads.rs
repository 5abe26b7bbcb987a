use reqwest::multipart::{Form, Part};
use serde_json::json;

use crate::{common::TestApp, on_both};

const PNG: &[u8] = &[
    0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13, b'I', b'H', b'D', b'R', 0, 0, 0,
    1, 0, 0, 0, 1, 8, 6, 0, 0, 0, 0x1F, 0x15, 0xC4, 0x89,
];

async fn upload_serves_bytes_back(app: TestApp) {
    let (_admin, owner, _) = app.seeded().await;
    let other = app.register("other").await;
    let project = app.project(&owner, "p").await;
    let url = format!("{}/api/helpingmaterial?api_key={}", app.base, owner.api_key);
    let form = Form::new()
        .text("project_id", project.to_string())
        .text("info", r#"{"caption": "example"}"#)
        .part(
            "file",
            Part::bytes(PNG.to_vec()).file_name("../../etc/passwd.png"),
        );
    let r = TestApp::read(
        app.client
            .post(&url)
            .multipart(form)
            .send()
            .await
            .expect("upload"),
    )
    .await;
    let hm = r.ok().clone();
    assert_eq!(hm["info"]["caption"], "example");
    let media = hm["media_url"].as_str().expect("media_url");
    assert!(
        media.contains(&format!("/uploads/user_{}/", owner.id)) && !media.contains(".."),
        "{media}"
    );
    let served = app.client.get(media).send().await.expect("get media");
    assert_eq!(
        served
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("image/png")
    );
    assert_eq!(served.bytes().await.expect("bytes").as_ref(), PNG);

    // Content decides: HTML named .png is refused, and nothing is stored for a refused row.
    let form = Form::new().text("project_id", project.to_string()).part(
        "file",
        Part::bytes(b"<html><script>alert(1)</script>".to_vec()).file_name("x.png"),
    );
    let r = TestApp::read(
        app.client
            .post(&url)
            .multipart(form)
            .send()
            .await
            .expect("upload"),
    )
    .await;
    r.err(415, "ValueError");
    let other_url = format!("{}/api/helpingmaterial?api_key={}", app.base, other.api_key);
    let form = Form::new()
        .text("project_id", project.to_string())
        .part("file", Part::bytes(PNG.to_vec()).file_name("a.png"));
    let r = TestApp::read(
        app.client
            .post(&other_url)
            .multipart(form)
            .send()
            .await
            .expect("upload"),
    )
    .await;
    r.err(403, "Forbidden");
    let stored = stored_files(&app);
    assert_eq!(stored, 1, "only the accepted upload is kept");

    // Deleting the object deletes its file.
    let id = hm["id"].as_i64().expect("id");
    app.delete(&format!("/api/helpingmaterial/{id}"), Some(&owner))
        .await
        .ok();
    assert_eq!(
        app.client
            .get(media)
            .send()
            .await
            .expect("gone")
            .status()
            .as_u16(),
        404
    );
    // Paths that try to escape the storage folder are not served.
    for bad in ["/uploads/..%2F..%2Fetc/passwd", "/uploads/user_1/..%2Ft.db"] {
        let r = app
            .client
            .get(format!("{}{bad}", app.base))
            .send()
            .await
            .expect("get");
        assert_eq!(r.status().as_u16(), 404, "{bad}");
    }
    // Resources without media refuse files.
    let form = Form::new()
        .text("name", "x")
        .part("file", Part::bytes(PNG.to_vec()).file_name("a.png"));
    let url = format!("{}/api/category?api_key={}", app.base, owner.api_key);
    let r = TestApp::read(
        app.client
            .post(&url)
            .multipart(form)
            .send()
            .await
            .expect("upload"),
    )
    .await;
    r.err(415, "ValueError");
    let _ = json!(null);
}

/// Project thumbnails and user avatars: images only, replaced files are deleted.
async fn thumbnails_and_avatars_must_be_images_and_replace_old_files(app: TestApp) {
    let (_admin, owner, _) = app.seeded().await;
    let other = app.register("other").await;
    let project = app.project(&owner, "p").await;
    let put = |path: String, key: String, form: Form| {
        let url = format!("{}{path}?api_key={key}", app.base);
        let client = app.client.clone();
        async move { TestApp::read(client.put(url).multipart(form).send().await.expect("put")).await }
    };
    let png = || Part::bytes(PNG.to_vec()).file_name("t.png");
    let r = put(
        format!("/api/project/{project}"),
        owner.api_key.clone(),
        Form::new().part("file", png()),
    )
    .await;
    let first = r.ok()["info"]["thumbnail_url"]
        .as_str()
        .expect("thumbnail_url")
        .to_string();
    assert_eq!(
        app.client
            .get(&first)
            .send()
            .await
            .expect("get")
            .bytes()
            .await
            .expect("b")
            .as_ref(),
        PNG
    );
    let r = put(
        format!("/api/project/{project}"),
        owner.api_key.clone(),
        Form::new().part("file", png()),
    )
    .await;
    let second = r.ok()["info"]["thumbnail_url"]
        .as_str()
        .expect("thumbnail_url")
        .to_string();
    assert_ne!(first, second);
    assert_eq!(
        app.client
            .get(&first)
            .send()
            .await
            .expect("get")
            .status()
            .as_u16(),
        404,
        "replaced file deleted"
    );
    // A stranger's upload is refused and leaves nothing behind.
    put(
        format!("/api/project/{project}"),
        other.api_key.clone(),
        Form::new().part("file", png()),
    )
    .await
    .err(403, "Forbidden");
    // Not an image: refused.
    let css = Form::new().part("file", Part::bytes(b"body{}".to_vec()).file_name("a.css"));
    put(
        format!("/api/project/{project}"),
        owner.api_key.clone(),
        css,
    )
    .await
    .err(415, "ValueError");
    let r = put(
        format!("/api/user/{}", other.id),
        other.api_key.clone(),
        Form::new().part("file", png()),
    )
    .await;
    let avatar = r.ok()["info"]["avatar_url"]
        .as_str()
        .expect("avatar_url")
        .to_string();
    assert!(avatar.contains(&format!("/uploads/user_{}/", other.id)));
    let files = stored_files(&app);
    assert_eq!(files, 2, "one thumbnail and one avatar remain");
}

/// Files in the upload storage, across containers.
fn stored_files(app: &TestApp) -> usize {
    std::fs::read_dir(app.data_dir.join("uploads"))
        .map(|dirs| {
            dirs.flatten()
                .map(|d| {
                    std::fs::read_dir(d.path())
                        .map(std::iter::Iterator::count)
                        .unwrap_or(0)
                })
                .sum()
        })
        .unwrap_or(0)
}

on_both!(
    upload_serves_bytes_back,
    thumbnails_and_avatars_must_be_images_and_replace_old_files
);
