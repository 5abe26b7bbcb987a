use serde_json::json;

use crate::{common::TestApp, on_both};

async fn good_credentials_identify_the_account_bad_ones_are_anonymous(app: TestApp) {
    let admin = app.register("alice").await;
    let bob = app.register("bob").await;

    // The first account is admin, the second is not.
    let me = app.get("/api/auth/me", Some(&admin)).await;
    assert_eq!(me.ok()["admin"], true);
    assert_eq!(me.json["api_key"], admin.api_key.as_str());
    let me = app.get("/api/auth/me", Some(&bob)).await;
    assert_eq!(me.ok()["admin"], false);

    // Login by name and by e-mail gives a bearer token that identifies the account.
    for login in [
        json!({"name": "bob", "password": "correct horse"}),
        json!({"email_addr": "BOB@example.org", "password": "correct horse"}),
    ] {
        let r = app.post("/api/auth/login", None, login).await;
        let v = r.ok();
        assert_eq!(v["token_type"], "Bearer");
        assert!(v["expires_in"].as_u64().unwrap_or(0) > 0);
        let token = v["access_token"].as_str().expect("token");
        let me = app
            .client
            .get(format!("{}/api/auth/me", app.base))
            .bearer_auth(token)
            .send()
            .await
            .expect("me");
        let me = TestApp::read(me).await;
        assert_eq!(me.ok()["name"], "bob");
    }

    // Wrong password, unknown account: 401 in the error shape.
    app.post(
        "/api/auth/login",
        None,
        json!({"name": "bob", "password": "wrong password"}),
    )
    .await
    .err(401, "Unauthorized");
    app.post(
        "/api/auth/login",
        None,
        json!({"name": "nobody", "password": "correct horse"}),
    )
    .await
    .err(401, "Unauthorized");

    // The api key works as the raw Authorization header too.
    let r = app
        .client
        .get(format!("{}/api/auth/me", app.base))
        .header("authorization", &bob.api_key)
        .send()
        .await
        .expect("me");
    assert_eq!(TestApp::read(r).await.ok()["name"], "bob");
    // A wrong Authorization header wins over a right api_key: the caller is anonymous.
    let r = app
        .client
        .get(format!("{}/api/auth/me?api_key={}", app.base, bob.api_key))
        .header("authorization", "Bearer nonsense")
        .send()
        .await
        .expect("me");
    TestApp::read(r).await.err(401, "Unauthorized");

    // An unknown key is anonymous, not an error, on public reads.
    let r = app
        .client
        .get(format!("{}/api/project?api_key=not-a-key", app.base))
        .send()
        .await
        .expect("list");
    assert_eq!(TestApp::read(r).await.ok(), &json!([]));
}

async fn a_new_api_key_replaces_the_old_one_at_once(app: TestApp) {
    let alice = app.register("alice").await;
    let r = app.post("/api/auth/api-key", Some(&alice), json!({})).await;
    let new_key = r.ok()["api_key"].as_str().expect("key").to_string();
    assert_ne!(new_key, alice.api_key);
    app.get("/api/auth/me", Some(&alice))
        .await
        .err(401, "Unauthorized");
    let renewed = crate::common::User {
        api_key: new_key,
        ..alice
    };
    app.get("/api/auth/me", Some(&renewed)).await.ok();
    app.post("/api/auth/api-key", None, json!({}))
        .await
        .err(401, "Unauthorized");
}

async fn registration_refuses_taken_names_or_emails_and_bad_fields(app: TestApp) {
    app.register("alice").await;
    let dup = app
        .post(
            "/api/auth/register",
            None,
            json!({"name": "alice", "email_addr": "other@example.org", "password": "long enough"}),
        )
        .await;
    dup.err(415, "DBIntegrityError");
    let dup_mail = app
        .post(
            "/api/auth/register",
            None,
            json!({"name": "alice2", "email_addr": "ALICE@example.org", "password": "long enough"}),
        )
        .await;
    dup_mail.err(415, "DBIntegrityError");
    for bad in [
        json!({"name": "x", "email_addr": "not-an-email", "password": "long enough"}),
        json!({"name": "x", "email_addr": "x@example.org", "password": "short"}),
        json!({"name": "bad name!", "email_addr": "x@example.org", "password": "long enough"}),
    ] {
        app.post("/api/auth/register", None, bad)
            .await
            .err(415, "ValueError");
    }
    // Missing fields are refused too.
    let r = app
        .post("/api/auth/register", None, json!({"name": "x"}))
        .await;
    assert_eq!(r.status.as_u16(), 415, "{}", r.text);
}

/// A user can never make itself admin, set its api key or see a password hash.
async fn no_privilege_escalation_or_hash_leak(app: TestApp) {
    let admin = app.register("admin").await;
    let bob = app.register("bob").await;
    let path = format!("/api/user/{}", bob.id);
    for key in ["admin", "pro", "restrict", "valid_email"] {
        let r = app.put(&path, Some(&bob), json!({ key: true })).await;
        assert_eq!(
            r.err(403, "Forbidden")["exception_msg"],
            format!("Only admins can change {key}")
        );
    }
    for key in ["api_key", "passwd_hash", "id", "created"] {
        app.put(&path, Some(&bob), json!({ key: "x" }))
            .await
            .err(400, "BadRequest");
    }
    let me = app.get("/api/auth/me", Some(&bob)).await;
    assert_eq!(me.ok()["admin"], false);
    assert_eq!(me.json["api_key"], bob.api_key.as_str());

    // Someone else's account: 403; anonymous: 401.
    let admin_path = format!("/api/user/{}", admin.id);
    app.put(&admin_path, Some(&bob), json!({"fullname": "pwned"}))
        .await
        .err(403, "Forbidden");
    app.put(&admin_path, None, json!({"fullname": "pwned"}))
        .await
        .err(401, "Unauthorized");

    // Allowed self-edit; the answer carries neither hash nor key.
    let r = app
        .put(
            &path,
            Some(&bob),
            json!({"fullname": "Bob B.", "privacy_mode": false}),
        )
        .await;
    assert_eq!(r.ok()["fullname"], "Bob B.");
    assert!(
        r.json.get("passwd_hash").is_none() && r.json.get("api_key").is_none(),
        "{}",
        r.text
    );

    // An admin may promote another account.
    let r = app.put(&path, Some(&admin), json!({"admin": true})).await;
    assert_eq!(r.ok()["admin"], true);

    // No user response ever carries a hash or a key, whoever asks.
    for who in [None, Some(&bob), Some(&admin)] {
        let list = app.get("/api/user?all=1", who).await;
        let item = app.get(&path, who).await;
        for r in [list, item] {
            assert!(r.status.is_success(), "{}", r.text);
            assert!(
                !r.text.contains("argon2") && !r.text.contains("passwd_hash"),
                "{}",
                r.text
            );
            assert!(!r.text.contains(&bob.api_key), "{}", r.text);
        }
    }
    // Filtering by secret columns is not possible either.
    app.get(&format!("/api/user?api_key_x=1&passwd_hash={}", "x"), None)
        .await
        .err(415, "AttributeError");

    // Others see only public fields; the user and admins see the profile.
    let anon = app.get(&admin_path, None).await;
    assert!(anon.ok().get("email_addr").is_none(), "{}", anon.text);
    assert_eq!(anon.json["name"], "admin");
    let own = app.get(&admin_path, Some(&admin)).await;
    assert_eq!(own.ok()["email_addr"], "admin@example.org");

    // Users are created by registering, never over /api/user, and never deleted there.
    app.post("/api/user", Some(&admin), json!({"name": "x"}))
        .await
        .err(405, "MethodNotAllowed");
    app.delete(&path, Some(&admin))
        .await
        .err(405, "MethodNotAllowed");
}

/// A disabled account cannot sign in, nor use its api key or a token it got before.
async fn only_admins_disable_others_and_disabled_accounts_lose_access(app: TestApp) {
    let admin = app.register("root").await;
    let bob = app.register("bob").await;
    let login = json!({"name": "bob", "password": "correct horse"});
    let token = app.post("/api/auth/login", None, login.clone()).await.ok()["access_token"]
        .as_str()
        .expect("token")
        .to_string();
    let with_token = |path: &str| {
        app.client
            .get(format!("{}{path}", app.base))
            .bearer_auth(&token)
            .send()
    };
    // Only admins, and never their own account.
    app.put(
        &format!("/api/user/{}", bob.id),
        Some(&bob),
        json!({"enabled": false}),
    )
    .await
    .err(403, "Forbidden");
    app.put(
        &format!("/api/user/{}", admin.id),
        Some(&admin),
        json!({"enabled": false}),
    )
    .await
    .err(400, "BadRequest");
    let off = app
        .put(
            &format!("/api/user/{}", bob.id),
            Some(&admin),
            json!({"enabled": false}),
        )
        .await;
    assert_eq!(off.ok()["enabled"], false);
    app.get("/api/auth/me", Some(&bob))
        .await
        .err(401, "Unauthorized");
    let refused = app.post("/api/auth/login", None, login.clone()).await;
    assert_eq!(
        refused.err(401, "Unauthorized")["exception_msg"],
        "This account is disabled"
    );
    assert_eq!(
        with_token("/api/auth/me").await.expect("request").status(),
        401
    );
    // Back on: everything works again.
    app.put(
        &format!("/api/user/{}", bob.id),
        Some(&admin),
        json!({"enabled": true}),
    )
    .await
    .ok();
    app.get("/api/auth/me", Some(&bob)).await.ok();
    app.post("/api/auth/login", None, login).await.ok();
    assert_eq!(
        with_token("/api/auth/me").await.expect("request").status(),
        200
    );
}

on_both!(
    only_admins_disable_others_and_disabled_accounts_lose_access,
    good_credentials_identify_the_account_bad_ones_are_anonymous,
    a_new_api_key_replaces_the_old_one_at_once,
    registration_refuses_taken_names_or_emails_and_bad_fields,
    no_privilege_escalation_or_hash_leak
);
