use serde_json::json;

use crate::{common::TestApp, on_both};

async fn categories_are_admin_managed(app: TestApp) {
    let admin = app.register("admin").await;
    let user = app.register("user").await;
    let body = json!({"name": "Science", "short_name": "science", "description": "d"});
    app.post("/api/category", None, body.clone())
        .await
        .err(401, "Unauthorized");
    app.post("/api/category", Some(&user), body.clone())
        .await
        .err(403, "Forbidden");
    let id = app
        .post("/api/category", Some(&admin), body.clone())
        .await
        .ok()["id"]
        .as_i64()
        .expect("id");
    app.post("/api/category", Some(&admin), body)
        .await
        .err(415, "DBIntegrityError");
    // pbclient.update_category sends id and created: reserved, and the message names the key.
    let r = app
        .put(
            &format!("/api/category/{id}"),
            Some(&admin),
            json!({"id": id, "name": "X"}),
        )
        .await;
    assert_eq!(
        r.err(400, "BadRequest")["exception_msg"],
        "Reserved keys in payload: id"
    );
    let r = app
        .put(
            &format!("/api/category/{id}"),
            Some(&admin),
            json!({"description": "new"}),
        )
        .await;
    assert_eq!(r.ok()["description"], "new");
    app.put(
        &format!("/api/category/{id}"),
        Some(&user),
        json!({"description": "x"}),
    )
    .await
    .err(403, "Forbidden");
    // A fresh site has its first category (as PYBOSSA's has), then the admin's.
    let list = app.get("/api/category", Some(&user)).await;
    let names: Vec<&str> = list
        .ok()
        .as_array()
        .expect("categories")
        .iter()
        .filter_map(|c| c["short_name"].as_str())
        .collect();
    assert_eq!(
        names,
        vec!["general", "science"],
        "no owner context on categories"
    );
    // A category in use cannot be deleted; an unused one can.
    let owner = app.register("owner").await;
    app.post(
        "/api/project",
        Some(&owner),
        json!({"name": "P", "short_name": "p", "description": "d", "category_id": id}),
    )
    .await
    .ok();
    app.delete(&format!("/api/category/{id}"), Some(&admin))
        .await
        .err(415, "DBIntegrityError");
    let spare = app.category(&admin, "spare").await;
    app.delete(&format!("/api/category/{spare}"), Some(&user))
        .await
        .err(403, "Forbidden");
    assert_eq!(
        app.delete(&format!("/api/category/{spare}"), Some(&admin))
            .await
            .status
            .as_u16(),
        204
    );
}

async fn only_admins_write_announcements_as_themselves(app: TestApp) {
    let admin = app.register("admin").await;
    let user = app.register("user").await;
    let body = json!({"title": "Hello", "body": "News", "published": true});
    app.post("/api/announcement", Some(&user), body.clone())
        .await
        .err(403, "Forbidden");
    let r = app.post("/api/announcement", Some(&admin), body).await;
    assert_eq!(r.ok()["user_id"], admin.id);
    let id = r.json["id"].as_i64().expect("id");
    app.post(
        "/api/announcement",
        Some(&admin),
        json!({"title": "x", "body": "y", "user_id": 3}),
    )
    .await
    .err(400, "BadRequest");
    assert_eq!(
        app.get("/api/announcement", None).await.ok()[0]["title"],
        "Hello"
    );
    app.put(
        &format!("/api/announcement/{id}"),
        Some(&user),
        json!({"title": "x"}),
    )
    .await
    .err(403, "Forbidden");
    app.put(
        &format!("/api/announcement/{id}"),
        Some(&admin),
        json!({"title": "Bye"}),
    )
    .await
    .ok();
    app.delete(&format!("/api/announcement/{id}"), Some(&admin))
        .await
        .ok();
}

async fn only_owners_write_materials_and_all_read_them_once_published(app: TestApp) {
    let (admin, owner, _) = app.seeded().await;
    let other = app.register("other").await;
    let project = app.draft(&owner, "p").await;
    for (path, body) in [
        (
            "/api/blogpost",
            json!({"project_id": project, "title": "T", "body": "B", "published": true}),
        ),
        (
            "/api/helpingmaterial",
            json!({"project_id": project, "info": {"k": "v"}, "priority": 0.5}),
        ),
        (
            "/api/page",
            json!({"project_id": project, "slug": "about", "info": {"html": "<p>hi</p>"}}),
        ),
    ] {
        app.post(path, None, body.clone())
            .await
            .err(401, "Unauthorized");
        app.post(path, Some(&other), body.clone())
            .await
            .err(403, "Forbidden");
        let r = app.post(path, Some(&owner), body.clone()).await;
        let id = r.ok()["id"].as_i64().expect("id");
        let item = format!("{path}/{id}");
        // The project is a draft: only its owners and admins can read what belongs to it.
        app.get(&item, None).await.err(401, "Unauthorized");
        app.get(&item, Some(&other)).await.err(403, "Forbidden");
        app.get(&item, Some(&owner)).await.ok();
        app.get(&item, Some(&admin)).await.ok();
        assert_eq!(
            app.get(&format!("{path}?all=1"), Some(&other)).await.ok(),
            &json!([])
        );
        assert_eq!(
            app.get(&format!("{path}?all=1"), None).await.ok(),
            &json!([])
        );
        assert_eq!(
            app.get(path, Some(&owner))
                .await
                .ok()
                .as_array()
                .map(Vec::len),
            Some(1)
        );
        app.put(&item, Some(&other), json!({"info": {}}))
            .await
            .err(403, "Forbidden");
        app.put(&item, Some(&owner), json!({"info": {"changed": true}}))
            .await
            .ok();
        app.post(
            path,
            Some(&owner),
            json!({"project_id": project, "created": "x"}),
        )
        .await
        .err(400, "BadRequest");
    }
    // Once published, everyone reads them.
    app.task(&owner, project, json!({})).await;
    app.publish(&owner, project).await;
    for path in ["/api/blogpost", "/api/helpingmaterial", "/api/page"] {
        let r = app.get(&format!("{path}?project_id={project}"), None).await;
        assert_eq!(r.ok().as_array().map(Vec::len), Some(1), "{path}");
        assert!(
            r.json[0]["links"][0]
                .as_str()
                .is_some_and(|l| l.contains("rel='parent'"))
        );
        let id = r.json[0]["id"].as_i64().expect("id");
        app.delete(&format!("{path}/{id}"), Some(&other))
            .await
            .err(403, "Forbidden");
        assert_eq!(
            app.delete(&format!("{path}/{id}"), Some(&owner))
                .await
                .status
                .as_u16(),
            204
        );
    }
}

async fn results_and_taskruns_are_not_created_over_crud(app: TestApp) {
    let (_admin, owner, _) = app.seeded().await;
    let project = app.project(&owner, "p").await;
    let task = app.task(&owner, project, json!({})).await;
    app.post(
        "/api/result",
        Some(&owner),
        json!({"project_id": project, "task_id": task}),
    )
    .await
    .err(403, "Forbidden");
    app.post(
        "/api/result",
        None,
        json!({"project_id": project, "task_id": task}),
    )
    .await
    .err(401, "Unauthorized");
    assert_eq!(app.get("/api/result?all=1", None).await.ok(), &json!([]));
    assert_eq!(app.get("/api/taskrun?all=1", None).await.ok(), &json!([]));
    app.get("/api/result/1", None).await.err(404, "NotFound");
    app.delete("/api/result/1", Some(&owner))
        .await
        .err(404, "NotFound");
    app.get("/api/taskrun?bogus=1", None)
        .await
        .err(415, "AttributeError");
}

on_both!(
    categories_are_admin_managed,
    only_admins_write_announcements_as_themselves,
    only_owners_write_materials_and_all_read_them_once_published,
    results_and_taskruns_are_not_created_over_crud
);
