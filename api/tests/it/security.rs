//! The audit's attacks, from outside: every column of every resource, in every spelling, as a
//! filter, an order and a body key, for anonymous, ordinary, owner and admin callers.
//!
//! The rules are stated here again, independently of the server's field lists: which columns
//! are secret from whom, and which ones each kind of caller may write. The oracles do not
//! depend on how the server refuses: a filter on a victim's secret value must never find the
//! victim, an order on a secret must never rank rows the caller may not read, and a body key
//! must never change a column the caller may not write (checked in the database).

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ColumnType, EntityTrait, IdenStatic, IntoActiveModel, Iterable,
    PrimaryKeyTrait,
};
use serde_json::{Map, Value, json};
use tessera_api::store::entities::{
    announcement, blogpost, category, helpingmaterial, page, project, result, task, task_run, user,
};

use crate::{
    common::{Resp, TestApp, User},
    on_every_store,
};

/// The spellings a client could try for a snake_case column.
fn spellings(snake: &str) -> Vec<String> {
    let words: Vec<&str> = snake.split('_').collect();
    let cap = |w: &str| {
        let mut c = w.chars();
        c.next()
            .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
            .unwrap_or_default()
    };
    let camel = words
        .iter()
        .enumerate()
        .map(|(i, w)| if i == 0 { w.to_string() } else { cap(w) })
        .collect::<String>();
    let pascal = words.iter().map(|w| cap(w)).collect::<String>();
    let mut out = vec![snake.to_string(), camel, pascal, snake.to_uppercase()];
    out.dedup();
    let mut seen = Vec::new();
    out.retain(|s| {
        let fresh = !seen.contains(s);
        seen.push(s.clone());
        fresh
    });
    out
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Who {
    Anonymous,
    Ordinary,
    Owner,
    Admin,
}

const CALLERS: [Who; 4] = [Who::Anonymous, Who::Ordinary, Who::Owner, Who::Admin];

/// How a caller stands to the row a write targets.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Relation {
    Stranger,
    RowOwner,
    Admin,
}

/// Who may read a column (and so filter or order on it).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Secret {
    /// Everyone who sees the row.
    No,
    /// The row's owners and admins.
    Owners,
    /// No client at all.
    Nobody,
}

struct Spec {
    path: &'static str,
    /// Column names and whether they are secret.
    columns: Vec<(&'static str, ColumnType)>,
    secret: fn(&str) -> Secret,
    /// What the row's owner may write; admins add `admin_extra`.
    owner_writes: &'static [&'static str],
    admin_extra: &'static [&'static str],
}

fn columns<E: EntityTrait>() -> Vec<(&'static str, ColumnType)> {
    E::Column::iter()
        .map(|c| (c.as_str(), c.def().get_column_type().clone()))
        .collect()
}

fn specs() -> Vec<Spec> {
    vec![
        Spec {
            path: "project",
            columns: columns::<project::Entity>(),
            secret: |c| match c {
                "secret_key"
                | "webhook"
                | "allow_anonymous_contributors"
                | "published"
                | "zip_download"
                | "contacted" => Secret::Owners,
                _ => Secret::No,
            },
            owner_writes: &[
                "name",
                "short_name",
                "description",
                "long_description",
                "webhook",
                "allow_anonymous_contributors",
                "zip_download",
                "category_id",
                "info",
                "owners_ids",
            ],
            admin_extra: &["featured"],
        },
        Spec {
            path: "category",
            columns: columns::<category::Entity>(),
            secret: |_| Secret::No,
            owner_writes: &[],
            admin_extra: &["name", "short_name", "description", "info"],
        },
        Spec {
            path: "task",
            columns: columns::<task::Entity>(),
            secret: |c| match c {
                // What makes an imported task the same task: the server's alone.
                "dedup_key" => Secret::Nobody,
                // The expected answer of a gold task.
                "gold_answers" => Secret::Owners,
                _ => Secret::No,
            },
            owner_writes: &[
                "quorum",
                "calibration",
                "priority_0",
                "info",
                "n_answers",
                "external_id",
                "gold_answers",
            ],
            admin_extra: &[],
        },
        Spec {
            path: "taskrun",
            columns: columns::<task_run::Entity>(),
            secret: |c| match c {
                "user_ip" | "external_uid" => Secret::Owners,
                _ => Secret::No,
            },
            owner_writes: &["info", "media_url"],
            admin_extra: &[],
        },
        Spec {
            path: "result",
            columns: columns::<result::Entity>(),
            secret: |_| Secret::No,
            owner_writes: &["info"],
            admin_extra: &[],
        },
        Spec {
            path: "user",
            columns: columns::<user::Entity>(),
            secret: |c| match c {
                "api_key" | "passwd_hash" | "ldap" | "token_version" => Secret::Nobody,
                "id" | "name" | "locale" | "created" | "fullname" => Secret::No,
                _ => Secret::Owners,
            },
            owner_writes: &[
                "email_addr",
                "name",
                "fullname",
                "locale",
                "privacy_mode",
                "ckan_api",
                "newsletter_prompted",
                "subscribed",
                "consent",
                "info",
                "user_pref",
            ],
            admin_extra: &[
                "admin",
                "pro",
                "restrict",
                "enabled",
                "category",
                "flags",
                "valid_email",
                "confirmation_email_sent",
                "notified_at",
            ],
        },
        Spec {
            path: "announcement",
            columns: columns::<announcement::Entity>(),
            secret: |_| Secret::No,
            owner_writes: &[],
            admin_extra: &["title", "body", "info", "media_url", "published"],
        },
        Spec {
            path: "blogpost",
            columns: columns::<blogpost::Entity>(),
            secret: |_| Secret::No,
            owner_writes: &["title", "body", "info", "media_url", "published"],
            admin_extra: &[],
        },
        Spec {
            path: "helpingmaterial",
            columns: columns::<helpingmaterial::Entity>(),
            secret: |_| Secret::No,
            owner_writes: &["info", "media_url", "priority"],
            admin_extra: &[],
        },
        Spec {
            path: "page",
            columns: columns::<page::Entity>(),
            secret: |_| Secret::No,
            owner_writes: &["info", "media_url", "slug"],
            admin_extra: &[],
        },
    ]
}

/// Everything the attacks need: three accounts besides the admin, and a row of every kind.
struct World {
    admin: User,
    owner: User,
    ordinary: User,
    /// The admin's published project, with a secret, a webhook and answers: the victim.
    victim: i64,
    /// The owner's published project and one of its tasks.
    mine: i64,
    my_task: i64,
    /// The ordinary user's answer to `my_task` (in no result, so its author may change it).
    my_run: i64,
    victim_result: i64,
    victim_post: i64,
    victim_material: i64,
    victim_page: i64,
    announcement: i64,
    category: i64,
    /// The victim's answers: an anonymous one (user_ip) and an external one (external_uid).
    anon_run: i64,
    external_run: i64,
}

async fn world(app: &TestApp) -> World {
    let (admin, owner, category) = app.seeded().await;
    let ordinary = app.register("ordinary").await;
    let victim = app.project(&admin, "victim").await;
    app.put(
        &format!("/api/project/{victim}"),
        Some(&admin),
        json!({"webhook": "https://hooks.example.org/victim", "info": {"hidden_note": "x", "sched": "default"}}),
    )
    .await
    .ok();
    // One task completes with a single answer (a result); the other takes many.
    let done = app
        .post(
            "/api/task",
            Some(&admin),
            json!({"project_id": victim, "info": {"i": 1}, "n_answers": 1}),
        )
        .await
        .ok()["id"]
        .as_i64()
        .expect("task");
    let open = app
        .post(
            "/api/task",
            Some(&admin),
            json!({"project_id": victim, "info": {"i": 2}, "n_answers": 10}),
        )
        .await
        .ok()["id"]
        .as_i64()
        .expect("task");
    let answer = async |who: Option<&User>, task: i64, project: i64| {
        app.get(&format!("/api/project/{project}/newtask"), who)
            .await
            .ok();
        app.post(
            "/api/taskrun",
            who,
            json!({"project_id": project, "task_id": task, "info": {"a": 1}}),
        )
        .await
        .ok()["id"]
            .as_i64()
            .expect("run")
    };
    answer(Some(&ordinary), done, victim).await;
    let anon_run = answer(None, open, victim).await;
    // An external user of the victim's own app.
    let token = app.project_token(&admin, victim, "victim").await;
    app.client
        .get(format!(
            "{}/api/project/{victim}/newtask?external_uid=ext-42",
            app.base
        ))
        .bearer_auth(&token)
        .send()
        .await
        .expect("newtask");
    let external = app
        .client
        .post(format!("{}/api/taskrun?external_uid=ext-42", app.base))
        .bearer_auth(&token)
        .json(&json!({"project_id": victim, "task_id": open, "info": {"a": 2}}))
        .send()
        .await
        .expect("answer");
    let external_run = TestApp::read(external).await.ok()["id"]
        .as_i64()
        .expect("run");
    let victim_result = app
        .get(&format!("/api/result?project_id={victim}"), Some(&admin))
        .await
        .ok()[0]["id"]
        .as_i64()
        .expect("result");
    let mine = app.project(&owner, "mine").await;
    let my_task = app
        .post(
            "/api/task",
            Some(&owner),
            json!({"project_id": mine, "info": {"i": 3}, "n_answers": 10}),
        )
        .await
        .ok()["id"]
        .as_i64()
        .expect("task");
    let my_run = answer(Some(&ordinary), my_task, mine).await;
    let created = async |path: &str, body: Value| {
        app.post(path, Some(&admin), body).await.ok()["id"]
            .as_i64()
            .expect("id")
    };
    let victim_post = created(
        "/api/blogpost",
        json!({"project_id": victim, "title": "T", "body": "B", "published": true}),
    )
    .await;
    let victim_material = created(
        "/api/helpingmaterial",
        json!({"project_id": victim, "info": {"k": 1}}),
    )
    .await;
    let victim_page = created(
        "/api/page",
        json!({"project_id": victim, "slug": "about", "info": {}}),
    )
    .await;
    let announcement = created(
        "/api/announcement",
        json!({"title": "Hi", "body": "All", "published": true}),
    )
    .await;
    World {
        admin,
        owner,
        ordinary,
        victim,
        mine,
        my_task,
        my_run,
        victim_result,
        victim_post,
        victim_material,
        victim_page,
        announcement,
        category,
        anon_run,
        external_run,
    }
}

impl World {
    fn user(&self, who: Who) -> Option<&User> {
        match who {
            Who::Anonymous => None,
            Who::Ordinary => Some(&self.ordinary),
            Who::Owner => Some(&self.owner),
            Who::Admin => Some(&self.admin),
        }
    }

    /// The row whose secrets a caller tries to find: the admin's, and for answers the
    /// victim's anonymous and external answers.
    fn victims(&self, path: &str) -> Vec<i64> {
        match path {
            "project" => vec![self.victim],
            "taskrun" => vec![self.anon_run, self.external_run],
            "result" => vec![self.victim_result],
            "user" => vec![self.admin.id],
            "blogpost" => vec![self.victim_post],
            "helpingmaterial" => vec![self.victim_material],
            "page" => vec![self.victim_page],
            "announcement" => vec![self.announcement],
            "category" => vec![self.category],
            _ => vec![],
        }
    }

    /// The row a caller writes to, and how the caller stands to it.
    fn target(&self, path: &str, who: Who) -> (i64, Relation) {
        let admin_or = |r| {
            if who == Who::Admin {
                Relation::Admin
            } else {
                r
            }
        };
        match path {
            "project" => (
                self.mine,
                admin_or(if who == Who::Owner {
                    Relation::RowOwner
                } else {
                    Relation::Stranger
                }),
            ),
            "task" => (
                self.my_task,
                admin_or(if who == Who::Owner {
                    Relation::RowOwner
                } else {
                    Relation::Stranger
                }),
            ),
            "taskrun" => (
                self.my_run,
                admin_or(if who == Who::Ordinary {
                    Relation::RowOwner
                } else {
                    Relation::Stranger
                }),
            ),
            "user" => match who {
                Who::Anonymous => (self.ordinary.id, Relation::Stranger),
                Who::Admin => (self.ordinary.id, Relation::Admin),
                _ => (self.user(who).map_or(0, |u| u.id), Relation::RowOwner),
            },
            "result" => (self.victim_result, admin_or(Relation::Stranger)),
            "blogpost" => (self.victim_post, admin_or(Relation::Stranger)),
            "helpingmaterial" => (self.victim_material, admin_or(Relation::Stranger)),
            "page" => (self.victim_page, admin_or(Relation::Stranger)),
            "announcement" => (self.announcement, admin_or(Relation::Stranger)),
            "category" => (self.category, admin_or(Relation::Stranger)),
            other => panic!("no target for {other}"),
        }
    }

    /// Whether `who` owns row `id` of `path` (may read its secrets).
    async fn owns(&self, app: &TestApp, path: &str, who: Who, id: i64) -> bool {
        match (path, who) {
            (_, Who::Admin) => true,
            ("user", _) => self.user(who).is_some_and(|u| u.id == id),
            ("project", Who::Owner) => id == self.mine,
            ("category" | "announcement", _) => false,
            (_, Who::Owner) => row(app, path, id).await["project_id"] == self.mine,
            _ => false,
        }
    }
}

/// A row as stored, column by column.
async fn row(app: &TestApp, path: &str, id: i64) -> Map<String, Value> {
    let db = &app.state.infra.db;
    let id = i32::try_from(id).expect("id");
    let v = match path {
        "project" => json!(project::Entity::find_by_id(id).one(db).await.expect("db")),
        "category" => json!(category::Entity::find_by_id(id).one(db).await.expect("db")),
        "task" => json!(task::Entity::find_by_id(id).one(db).await.expect("db")),
        "taskrun" => json!(task_run::Entity::find_by_id(id).one(db).await.expect("db")),
        "result" => json!(result::Entity::find_by_id(id).one(db).await.expect("db")),
        "user" => json!(user::Entity::find_by_id(id).one(db).await.expect("db")),
        "announcement" => json!(
            announcement::Entity::find_by_id(id)
                .one(db)
                .await
                .expect("db")
        ),
        "blogpost" => json!(blogpost::Entity::find_by_id(id).one(db).await.expect("db")),
        "helpingmaterial" => {
            json!(
                helpingmaterial::Entity::find_by_id(id)
                    .one(db)
                    .await
                    .expect("db")
            )
        }
        "page" => json!(page::Entity::find_by_id(id).one(db).await.expect("db")),
        other => panic!("no table for {other}"),
    };
    v.as_object().cloned().unwrap_or_default()
}

/// Puts a row back as it was, straight in the database (a probe that was allowed may have
/// changed it: an admin turning an account into an admin, say).
async fn restore(app: &TestApp, path: &str, before: &Map<String, Value>) {
    async fn put_back<E>(app: &TestApp, before: &Map<String, Value>)
    where
        E: EntityTrait,
        E::Model: serde::de::DeserializeOwned + IntoActiveModel<E::ActiveModel>,
        E::ActiveModel: ActiveModelTrait<Entity = E> + sea_orm::ActiveModelBehavior + Send,
        <E::PrimaryKey as PrimaryKeyTrait>::ValueType: Clone,
    {
        let model: E::Model = serde_json::from_value(Value::Object(before.clone())).expect("model");
        let am = model.into_active_model().reset_all();
        am.update(&app.state.infra.db).await.expect("restore");
    }
    match path {
        "project" => put_back::<project::Entity>(app, before).await,
        "category" => put_back::<category::Entity>(app, before).await,
        "task" => put_back::<task::Entity>(app, before).await,
        "taskrun" => put_back::<task_run::Entity>(app, before).await,
        "result" => put_back::<result::Entity>(app, before).await,
        "user" => put_back::<user::Entity>(app, before).await,
        "announcement" => put_back::<announcement::Entity>(app, before).await,
        "blogpost" => put_back::<blogpost::Entity>(app, before).await,
        "helpingmaterial" => put_back::<helpingmaterial::Entity>(app, before).await,
        "page" => put_back::<page::Entity>(app, before).await,
        other => panic!("no table for {other}"),
    }
    app.state
        .volunteer
        .projects
        .forget(tessera_api::ids::ProjectId(i32::MAX))
        .await;
}

/// A column's value as a query string value.
fn as_query(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "x".into(),
        other => other.to_string(),
    }
}

/// A value for a column that differs from `current` and would pass type checks: ids of rows
/// that are not the caller's where the column refers to one.
fn probe(w: &World, name: &str, ty: &ColumnType, current: &Value) -> Value {
    let other_id = |mine: i64| {
        if mine == w.victim { w.mine } else { w.victim }
    };
    match name {
        "project_id" => return json!(other_id(current.as_i64().unwrap_or(0))),
        "owner_id" | "user_id" => {
            return json!(if current.as_i64() == Some(w.admin.id) {
                w.ordinary.id
            } else {
                w.admin.id
            });
        }
        "task_id" => return json!(w.my_task),
        "owners_ids" => return json!([w.owner.id, w.admin.id]),
        _ => {}
    }
    match ty {
        ColumnType::Boolean => json!(!current.as_bool().unwrap_or(false)),
        ColumnType::Integer | ColumnType::BigInteger | ColumnType::SmallInteger => {
            json!(current.as_i64().unwrap_or(0) + 7)
        }
        ColumnType::Double | ColumnType::Float | ColumnType::Decimal(_) => {
            json!(current.as_f64().unwrap_or(0.0) + 0.25)
        }
        ColumnType::Json | ColumnType::JsonBinary => json!({"probe": 1}),
        _ => json!(format!("probe-{name}-x")),
    }
}

fn ids(resp: &Resp) -> Vec<i64> {
    resp.json
        .as_array()
        .map(|a| a.iter().filter_map(|r| r["id"].as_i64()).collect())
        .unwrap_or_default()
}

/// A user row shows no id to others: find the admin by name instead.
fn lists_victim(path: &str, resp: &Resp, victim: i64, w: &World) -> bool {
    if path == "user" {
        let name = if victim == w.admin.id { "admin" } else { "" };
        return resp
            .json
            .as_array()
            .is_some_and(|a| a.iter().any(|r| r["name"] == name));
    }
    ids(resp).contains(&victim)
}

async fn names_never_reach_past_the_allow_lists(app: TestApp) {
    let w = world(&app).await;
    let specs = specs();
    for spec in &specs {
        for (column, ty) in &spec.columns {
            let secret = (spec.secret)(column);
            for spelling in spellings(column) {
                let exact = spelling == *column;
                for who in CALLERS {
                    let caller = w.user(who);
                    let label = format!("{} {spelling} as {who:?}", spec.path);
                    eprintln!("{label}");
                    // As a filter, with the victim's own value: found only by those who may
                    // read it there.
                    // (`api_key` in a query string is the credential, never a filter.)
                    let victims = if spelling == "api_key" {
                        vec![]
                    } else {
                        w.victims(spec.path)
                    };
                    for victim in victims {
                        let value = row(&app, spec.path, victim)
                            .await
                            .get(*column)
                            .cloned()
                            .unwrap_or(Value::Null);
                        let query = serde_urlencoded::to_string([
                            (spelling.as_str(), as_query(&value).as_str()),
                            ("all", "1"),
                            ("limit", "100"),
                        ])
                        .expect("query");
                        let r = app
                            .get(&format!("/api/{}?{query}", spec.path), caller)
                            .await;
                        assert!(r.status.as_u16() < 500, "filter {label}: {}", r.text);
                        if !exact {
                            r.err(415, "AttributeError");
                            continue;
                        }
                        let may_read = match secret {
                            Secret::No => true,
                            Secret::Owners => w.owns(&app, spec.path, who, victim).await,
                            Secret::Nobody => false,
                        };
                        if secret == Secret::Nobody {
                            r.err(415, "AttributeError");
                        }
                        if !may_read && r.status.is_success() {
                            assert!(
                                !lists_victim(spec.path, &r, victim, &w),
                                "filter {label} found the victim: {}",
                                r.text
                            );
                        }
                    }
                    // As an order: never over rows whose value the caller may not read.
                    let r = app
                        .get(
                            &format!("/api/{}?orderby={spelling}&all=1&limit=100", spec.path),
                            caller,
                        )
                        .await;
                    assert!(r.status.as_u16() < 500, "orderby {label}: {}", r.text);
                    if !exact || secret == Secret::Nobody {
                        r.err(415, "AttributeError");
                    } else if secret == Secret::Owners && r.status.is_success() {
                        for id in ids(&r) {
                            assert!(
                                w.owns(&app, spec.path, who, id).await,
                                "orderby {label} ranks row {id}: {}",
                                r.text
                            );
                        }
                        if spec.path == "user" && who != Who::Admin {
                            assert!(
                                r.json.as_array().is_some_and(|a| a.len() <= 1),
                                "orderby {label}: {}",
                                r.text
                            );
                        }
                    }
                    // As a body key: the column changes only where this caller may write it.
                    let (target, relation) = w.target(spec.path, who);
                    let before = row(&app, spec.path, target).await;
                    let current = before.get(*column).cloned().unwrap_or(Value::Null);
                    let value = probe(&w, column, ty, &current);
                    let r = app
                        .put(
                            &format!("/api/{}/{target}", spec.path),
                            caller,
                            json!({ spelling.clone(): value }),
                        )
                        .await;
                    assert!(r.status.as_u16() < 500, "body {label}: {}", r.text);
                    let after = row(&app, spec.path, target).await;
                    let writable = exact
                        && match relation {
                            Relation::Stranger => false,
                            Relation::RowOwner => spec.owner_writes.contains(column),
                            Relation::Admin => {
                                spec.owner_writes.contains(column)
                                    || spec.admin_extra.contains(column)
                            }
                        };
                    if !exact {
                        assert!(r.status.is_client_error(), "body {label}: {}", r.text);
                    }
                    for (key, was) in &before {
                        let now = after.get(key).unwrap_or(&Value::Null);
                        if now == was || key == "updated" {
                            continue;
                        }
                        assert!(
                            writable && key == column,
                            "body {label} changed {key}: {was} -> {now} ({})",
                            r.text
                        );
                    }
                    if after != before {
                        restore(&app, spec.path, &before).await;
                    }
                }
            }
        }
    }
    // What an owner may write goes only where they may write: a task into a project of theirs,
    // never into someone else's (drafts included), under any spelling of the key.
    let draft = app.draft(&w.admin, "admins-draft").await;
    for target in [w.victim, draft] {
        for spelling in spellings("project_id") {
            let r = app
                .post(
                    "/api/task",
                    Some(&w.owner),
                    json!({ spelling.clone(): target, "info": {"moved": true} }),
                )
                .await;
            assert!(r.status.is_client_error(), "{spelling}: {}", r.text);
        }
    }
    let tasks = app
        .get(
            &format!("/api/task?project_id={draft}&all=1"),
            Some(&w.admin),
        )
        .await;
    assert_eq!(tasks.ok(), &json!([]));
}

/// The audit's own examples, one by one.
async fn the_audit_examples_fail(app: TestApp) {
    let w = world(&app).await;
    // A user sets their own `apiKey`, or any spelling of it, to a probe value.
    for key in spellings("api_key") {
        let r = app
            .put(
                &format!("/api/user/{}", w.ordinary.id),
                Some(&w.ordinary),
                json!({ key.clone(): "00000000-0000-0000-0000-000000000000" }),
            )
            .await;
        assert!(r.status.is_client_error(), "{key}: {}", r.text);
    }
    let me = app.get("/api/auth/me", Some(&w.ordinary)).await;
    assert_eq!(me.ok()["api_key"], w.ordinary.api_key.as_str());
    // Sorting by a key or a hash tells nothing.
    for order in [
        "apiKey",
        "api_key",
        "passwdHash",
        "passwd_hash",
        "emailAddr",
    ] {
        app.get(&format!("/api/user?orderby={order}"), Some(&w.ordinary))
            .await
            .err(415, "AttributeError");
    }
    // Accounts cannot be found by e-mail address.
    for key in ["emailAddr", "EmailAddr", "EMAIL_ADDR"] {
        app.get(
            &format!("/api/user?{key}=admin@example.org"),
            Some(&w.ordinary),
        )
        .await
        .err(415, "AttributeError");
    }
    let r = app
        .get("/api/user?email_addr=admin@example.org", Some(&w.ordinary))
        .await;
    assert_eq!(r.ok(), &json!([]));
    app.get("/api/user?email_addr=admin@example.org", None)
        .await
        .err(415, "AttributeError");
    // A task cannot move into another owner's project.
    for key in ["projectId", "project_id", "ProjectId"] {
        let r = app
            .put(
                &format!("/api/task/{}", w.my_task),
                Some(&w.owner),
                json!({ key: w.victim }),
            )
            .await;
        assert!(r.status.is_client_error(), "{key}: {}", r.text);
    }
    let t = app
        .get(&format!("/api/task/{}", w.my_task), Some(&w.owner))
        .await;
    assert_eq!(t.ok()["project_id"], w.mine);
    // newtask orders by public task fields only, by their exact names.
    for order in [
        "nTaskRuns",
        "n_task_runs",
        "priority0",
        "Priority0",
        "PRIORITY_0",
    ] {
        app.get(
            &format!("/api/project/{}/newtask?orderby={order}", w.mine),
            Some(&w.ordinary),
        )
        .await
        .err(415, "AttributeError");
    }
    app.get(
        &format!("/api/project/{}/newtask?orderby=priority_0", w.mine),
        Some(&w.ordinary),
    )
    .await
    .ok();
    // Nor can an ordinary user become admin, by any spelling.
    for key in ["admin", "Admin", "ADMIN"] {
        app.put(
            &format!("/api/user/{}", w.ordinary.id),
            Some(&w.ordinary),
            json!({ key: true }),
        )
        .await;
    }
    let me = app.get("/api/auth/me", Some(&w.ordinary)).await;
    assert_eq!(me.ok()["admin"], false);
    // A project's hidden info keys are no filter for strangers.
    app.get("/api/project?info=hidden_note::x", None)
        .await
        .err(415, "AttributeError");
    assert_eq!(
        app.get("/api/project?info=hidden_note::x&all=1", Some(&w.ordinary))
            .await
            .ok(),
        &json!([])
    );
    assert_eq!(
        ids(&app
            .get("/api/project?info=hidden_note::x&all=1", Some(&w.admin))
            .await),
        vec![w.victim]
    );
    assert_eq!(
        ids(&app
            .get(
                &format!("/api/project?info={}&all=1", r#"{"hidden_note":"x"}"#),
                Some(&w.ordinary)
            )
            .await),
        Vec::<i64>::new()
    );
    // A project's info is no order (its hidden keys would rank the rows).
    for who in [None, Some(&w.ordinary), Some(&w.owner)] {
        app.get("/api/project?orderby=info&all=1", who)
            .await
            .err(415, "AttributeError");
        app.get("/api/projectstats?orderby=info", who)
            .await
            .err(415, "AttributeError");
    }
    // Public statistics name no anonymous or external volunteer.
    let anon_ip = app
        .get(&format!("/api/taskrun/{}", w.anon_run), Some(&w.admin))
        .await
        .json["user_ip"]
        .as_str()
        .expect("ip")
        .to_string();
    let stats = app
        .get(&format!("/api/projectstats/{}?full=1", w.victim), None)
        .await;
    let top = &stats.ok()["info"]["users_stats"]["anon"]["top5"];
    assert!(
        top.as_array().is_some_and(|t| !t.is_empty()),
        "{}",
        stats.text
    );
    assert!(!stats.text.contains("ext-42"), "{}", stats.text);
    assert!(!stats.text.contains(&anon_ip), "{}", stats.text);
    // Strangers do not see volunteers' anonymised addresses or external ids.
    let run = app.get(&format!("/api/taskrun/{}", w.anon_run), None).await;
    assert!(run.ok().get("user_ip").is_none(), "{}", run.text);
    let run = app
        .get(
            &format!("/api/taskrun/{}", w.external_run),
            Some(&w.ordinary),
        )
        .await;
    assert!(run.ok().get("external_uid").is_none(), "{}", run.text);
    let run = app
        .get(&format!("/api/taskrun/{}", w.anon_run), Some(&w.admin))
        .await;
    assert!(run.ok()["user_ip"].is_string(), "{}", run.text);
}

on_every_store!(
    names_never_reach_past_the_allow_lists,
    the_audit_examples_fail
);
