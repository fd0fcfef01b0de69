//! Library mode: a host's own actix app mounts Scimitar's SCIM routes beside its routes, under
//! its own path, runs the background work on its runtime, handles events with its own code,
//! supplies its own roles, and stops it with the handle; and the example host app does so.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpResponse, HttpServer, web};
use scimitar::storage::{Db, Scope, Waits, cursors, events};
use scimitar::{AppEntitlement, AppRole, AppState, BackgroundWork, Event, Settings};
use serde_json::{Value, json};

use crate::helpers::{
    Backend, TestDatabase, admin_auth, eventually, patch_ops, provisioning_log, stored,
};
use crate::on_both_backends;

/// A host app on its own thread: its `/hello` beside Scimitar's SCIM routes under
/// `/integrations/scim` and the admin API, with the hooks `prepare` adds to the state and
/// `work` adds to the background work.
struct Host {
    origin: String,
    handle: ServerHandle,
    thread: std::thread::JoinHandle<()>,
    agent: ureq::Agent,
}

impl Host {
    fn start(
        database_url: &str,
        adjust: impl FnOnce(&mut Settings),
        prepare: impl FnOnce(AppState) -> AppState + Send + 'static,
        work: impl FnOnce(BackgroundWork) -> BackgroundWork + Send + 'static,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let origin = format!("http://{}", listener.local_addr().expect("addr"));
        let mut settings = Settings {
            database_url: database_url.to_owned(),
            public_url: Some(origin.clone()),
            scim_path: "/integrations/scim".into(),
            admin: Some(admin_auth()),
            ..Settings::default()
        };
        adjust(&mut settings);
        let db = Db::open(database_url, 4, Waits::default()).expect("database");
        let (started, running) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let (state, log_writer) = AppState::new(settings, db).expect("state");
                let state = prepare(state);
                let background = work(BackgroundWork::start(&state, log_writer));
                let app_state = state.clone();
                let server = HttpServer::new(move || {
                    App::new()
                        .wrap(scimitar::RequestMetrics::new(&app_state))
                        .route(
                            "/hello",
                            web::get().to(|| async { HttpResponse::Ok().body("host") }),
                        )
                        .configure(|cfg| scimitar::configure(cfg, app_state.clone()))
                        .configure(|cfg| scimitar::configure_admin(cfg, app_state.clone()))
                        .configure(|cfg| scimitar::configure_metrics(cfg, app_state.clone()))
                        .configure(|cfg| scimitar::configure_portal(cfg, app_state.clone()))
                })
                .workers(1)
                .listen(listener)
                .expect("listen")
                .run();
                started.send(server.handle()).expect("report");
                server.await.expect("server");
                drop(state);
                background.stop().await;
            });
        });
        Self {
            origin,
            handle: running.recv().expect("the host started"),
            thread,
            agent: ureq::Agent::config_builder()
                .http_status_as_error(false)
                .build()
                .into(),
        }
    }

    /// Sends a request with a bearer token; answers the status and the JSON body.
    fn send(&self, method: &str, path: &str, bearer: &str, body: Option<&Value>) -> (u16, Value) {
        let req = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.origin))
            .header("Authorization", format!("Bearer {bearer}"))
            .header("Content-Type", "application/json")
            .body(body.map(Value::to_string).unwrap_or_default())
            .expect("request");
        let mut res = self.agent.run(req).expect("HTTP exchange");
        let text = res.body_mut().read_to_string().expect("body");
        (
            res.status().as_u16(),
            serde_json::from_str(&text).unwrap_or(Value::Null),
        )
    }

    fn create_user(&self, token: &str, user_name: &str) -> String {
        let (status, user) = self.send(
            "POST",
            "/integrations/scim/Users",
            token,
            Some(&json!({"userName": user_name})),
        );
        assert_eq!(status, 201, "{user}");
        user["id"].as_str().expect("id").to_owned()
    }

    /// Stops the server, then the background work, and waits for both.
    fn stop(self) {
        actix_web::rt::System::new().block_on(self.handle.stop(true));
        self.thread.join().expect("the host stopped");
    }
}

/// A fresh database with the tenant `acme`: the database (kept while the test runs), a pool
/// on it, and the tenant's id and token.
struct Acme {
    _dir: tempfile::TempDir,
    database: TestDatabase,
    db: Db,
    id: String,
    token: String,
}

impl Acme {
    fn new(b: Backend) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let database = b.fresh_database(dir.path());
        let db = Db::connect(&database.url, 1).expect("test pool");
        let issued = scimitar::tenants::create(&db, "acme").expect("tenant");
        Self {
            _dir: dir,
            database,
            db,
            id: issued.tenant.id.clone(),
            token: issued.token.reveal(),
        }
    }
}

fn a_host_app_mounts_scimitar_and_runs_its_background_work(b: Backend) {
    let Acme {
        _dir,
        database,
        db,
        token,
        ..
    } = Acme::new(b);
    let host = Host::start(&database.url, |_| {}, |s| s, |w| w);

    let hello = host.agent.get(format!("{}/hello", host.origin)).call();
    assert_eq!(hello.expect("GET /hello").status().as_u16(), 200);
    let (status, user) = host.send(
        "POST",
        "/integrations/scim/Users",
        &token,
        Some(&json!({"userName": "ann@example.com"})),
    );
    assert_eq!(status, 201);
    let users = format!("{}/integrations/scim/Users/", host.origin);
    assert!(
        user["meta"]["location"]
            .as_str()
            .is_some_and(|l| l.starts_with(&users)),
        "{user}"
    );
    let (status, _) = host.send(
        "GET",
        "/integrations/scim/ServiceProviderConfig",
        &token,
        None,
    );
    assert_eq!(status, 200);
    let (status, _) = host.send("GET", "/scim/v2/ServiceProviderConfig", &token, None);
    assert_eq!(status, 404);

    // The host counts requests into Scimitar's metrics, its own among them.
    let metrics = host.agent.get(format!("{}/metrics", host.origin)).call();
    let text = metrics
        .expect("GET /metrics")
        .body_mut()
        .read_to_string()
        .expect("body");
    for counted in [
        r#"scimitar_http_requests_total{route="/integrations/scim/Users",method="POST",status="201"} 1"#,
        r#"scimitar_http_requests_total{route="/hello",method="GET",status="200"} 1"#,
    ] {
        assert!(text.contains(counted), "{counted} in\n{text}");
    }

    // The log writer runs on the host's runtime: the request's entry is written.
    eventually(Duration::from_secs(10), "the log entry is written", || {
        (provisioning_log(&db, "acme", 10).len() == 1).then_some(())
    });
    host.stop();
}

/// What a test's handler saw: (event id, seq, whether it was handled) per call.
type Calls = Arc<Mutex<Vec<(String, i64, bool)>>>;

/// A handler that records each call and fails the first call for event `fail_once` (a seq).
fn recording(
    calls: &Calls,
    fail_once: Option<i64>,
) -> impl Fn(&Event) -> Result<(), scimitar::HandlerError> + Send + Sync + 'static {
    let calls = calls.clone();
    move |event: &Event| {
        let mut calls = calls.lock().unwrap_or_else(PoisonError::into_inner);
        let fail = fail_once == Some(event.seq) && !calls.iter().any(|(_, s, _)| *s == event.seq);
        calls.push((event.id.clone(), event.seq, !fail));
        if fail {
            return Err("the app's database was busy".into());
        }
        Ok(())
    }
}

fn quick_retries(s: &mut Settings) {
    s.webhooks.poll_interval = Duration::from_millis(50);
    s.webhooks.backoff_base = Duration::from_millis(200);
}

fn handled(calls: &Calls) -> Vec<(String, i64, bool)> {
    calls.lock().unwrap_or_else(PoisonError::into_inner).clone()
}

fn an_event_handler_gets_each_event_in_order_at_least_once_with_the_feeds_ids(b: Backend) {
    let Acme {
        _dir,
        database,
        db,
        id: tenant,
        token,
        ..
    } = Acme::new(b);
    let feed = |db: &Db| {
        db.run_sync(|c| Ok(events::after(c, &Scope::new(&stored(&tenant)), 0, 100)?))
            .expect("feed")
            .into_iter()
            .map(|e| (e.id, e.seq))
            .collect::<Vec<_>>()
    };

    // Event 2 fails once: it comes again, and event 3 waits for it.
    let calls = Calls::default();
    let handler = recording(&calls, Some(2));
    let host = Host::start(
        &database.url,
        quick_retries,
        |s| s,
        move |w| w.handle_events("audit", handler),
    );
    for name in ["ann", "bob", "cy"] {
        host.create_user(&token, &format!("{name}@example.com"));
    }
    let events = feed(&db);
    assert_eq!(events.len(), 3);
    eventually(Duration::from_secs(20), "every event is handled", || {
        (handled(&calls).iter().filter(|(_, _, ok)| *ok).count() == 3).then_some(())
    });
    let seen = handled(&calls);
    let order: Vec<(i64, bool)> = seen.iter().map(|(_, s, ok)| (*s, *ok)).collect();
    assert_eq!(order, [(1, true), (2, false), (2, true), (3, true)]);
    let ids: Vec<(String, i64)> = seen
        .into_iter()
        .filter(|(_, _, ok)| *ok)
        .map(|(id, seq, _)| (id, seq))
        .collect();
    assert_eq!(ids, events, "the handler sees the feed's ids");
    host.stop();

    let cursor = db
        .run_sync(|c| Ok(cursors::of_tenant(c, &Scope::new(&stored(&tenant)))?))
        .expect("cursors");
    assert_eq!(cursor.len(), 1);
    assert_eq!(
        (
            cursor[0].handled_seq,
            cursor[0].failures,
            &cursor[0].lease_owner
        ),
        (3, 0, &None),
        "the stop gave the lease back"
    );

    // A restart goes on from where the handler stopped; a handler new under another name
    // starts with the oldest event kept.
    let (again, other) = (Calls::default(), Calls::default());
    let (h1, h2) = (recording(&again, None), recording(&other, None));
    let host = Host::start(
        &database.url,
        quick_retries,
        |s| s,
        move |w| w.handle_events("audit", h1).handle_events("crm", h2),
    );
    host.create_user(&token, "dee@example.com");
    eventually(Duration::from_secs(20), "both handlers caught up", || {
        (handled(&other).len() == 4 && !handled(&again).is_empty()).then_some(())
    });
    let seqs = |calls: &Calls| handled(calls).iter().map(|c| c.1).collect::<Vec<_>>();
    assert_eq!(
        seqs(&again),
        [4],
        "the restarted handler went on at event 4"
    );
    assert_eq!(seqs(&other), [1, 2, 3, 4]);
    host.stop();
}

fn two_instances_take_turns_with_a_handler(b: Backend) {
    let Acme {
        _dir,
        database,
        token,
        ..
    } = Acme::new(b);
    // Both instances run the same handler over one database, as N instances of a host do.
    let calls = Calls::default();
    let start = |calls: &Calls| {
        let handler = recording(calls, None);
        Host::start(
            &database.url,
            quick_retries,
            |s| s,
            move |w| w.handle_events("audit", handler),
        )
    };
    let (one, two) = (start(&calls), start(&calls));
    for i in 0..20 {
        let host = if i % 2 == 0 { &one } else { &two };
        host.create_user(&token, &format!("user{i}@example.com"));
    }
    eventually(Duration::from_secs(30), "20 events handled", || {
        (handled(&calls).len() >= 20).then_some(())
    });
    let seqs: Vec<i64> = handled(&calls).iter().map(|c| c.1).collect();
    assert_eq!(seqs, (1..=20).collect::<Vec<_>>(), "each once, in order");
    one.stop();
    two.stop();
}

fn a_host_app_supplies_its_roles(b: Backend) {
    let Acme {
        _dir,
        database,
        id: acme,
        ..
    } = Acme::new(b);
    let catalog = |_tenant: &str| -> Result<Vec<AppRole>, scimitar::HandlerError> {
        Ok(vec![
            AppRole::named("member"),
            AppRole {
                value: "billing-admin".into(),
                display: "Billing administrator".into(),
            },
        ])
    };
    let host = Host::start(
        &database.url,
        |_| {},
        move |s| s.with_role_catalog(catalog),
        |w| w,
    );
    let jwt = scimitar::admin_token::mint(&admin_auth(), &acme, Duration::from_secs(300))
        .expect("admin token");
    let path = format!("/admin/v1/tenants/{acme}/role-mappings");

    let (status, roles) = host.send(
        "GET",
        &format!("/admin/v1/tenants/{acme}/roles"),
        &jwt,
        None,
    );
    assert_eq!(status, 200);
    assert_eq!(
        roles,
        json!({"from_app": true, "roles": [
            {"value": "member", "display": "member"},
            {"value": "billing-admin", "display": "Billing administrator"},
        ]})
    );
    let (status, refused) = host.send(
        "PUT",
        &path,
        &jwt,
        Some(
            &json!({"default_role": "member", "mappings": [{"group": "Finance", "role": "owner"}]}),
        ),
    );
    assert_eq!(status, 400, "{refused}");
    assert!(
        refused
            .to_string()
            .contains("the app offers no role “owner”; its roles are: member, billing-admin"),
        "{refused}"
    );
    let (status, saved) = host.send(
        "PUT",
        &path,
        &jwt,
        Some(&json!({"default_role": "member", "mappings": [{"group": "Finance", "role": "billing-admin"}]})),
    );
    assert_eq!(status, 200, "{saved}");
    assert_eq!(saved["mappings"][0]["role"], "billing-admin");
    host.stop();
}

/// A host app's catalog with Salesforce-style profiles: what the tenant's IdP reads.
struct Catalog;

impl scimitar::RoleCatalog for Catalog {
    fn roles(&self, tenant_id: &str) -> Result<Vec<AppRole>, scimitar::HandlerError> {
        Ok(vec![
            AppRole::named("member"),
            AppRole {
                value: "billing-admin".into(),
                display: format!("Billing administrator of {}", &tenant_id[..4]),
            },
        ])
    }

    fn entitlements(
        &self,
        _tenant_id: &str,
    ) -> Result<Option<Vec<AppEntitlement>>, scimitar::HandlerError> {
        Ok(Some(vec![AppEntitlement {
            value: "Standard User".into(),
            display: "Standard User".into(),
            kind: Some("Profile".into()),
            default: true,
        }]))
    }
}

fn the_idp_reads_the_host_apps_catalog(b: Backend) {
    let Acme {
        _dir,
        database,
        id: acme,
        token,
        ..
    } = Acme::new(b);
    let host = Host::start(
        &database.url,
        |_| {},
        |s| s.with_role_catalog(Catalog),
        |w| w,
    );
    let jwt = scimitar::admin_token::mint(&admin_auth(), &acme, Duration::from_secs(300))
        .expect("admin token");
    let (status, saved) = host.send(
        "PUT",
        &format!("/admin/v1/tenants/{acme}/role-mappings"),
        &jwt,
        Some(&json!({"default_role": "member", "mappings": []})),
    );
    assert_eq!(status, 200, "{saved}");

    let (status, roles) = host.send("GET", "/integrations/scim/Roles", &token, None);
    assert_eq!(status, 200, "{roles}");
    let listed: Vec<(&str, &str, Option<bool>)> = roles["Resources"]
        .as_array()
        .expect("Resources")
        .iter()
        .map(|r| {
            (
                r["value"].as_str().expect("value"),
                r["display"].as_str().expect("display"),
                r["primary"].as_bool(),
            )
        })
        .collect();
    let billing = format!("Billing administrator of {}", &acme[..4]);
    assert_eq!(
        listed,
        [
            ("member", "member", Some(true)),
            ("billing-admin", billing.as_str(), None)
        ],
        "the app's own roles, in its order, the mapping's default role primary"
    );
    let location = roles["Resources"][1]["meta"]["location"]
        .as_str()
        .expect("location");
    assert!(
        location.starts_with(&format!("{}/integrations/scim/Roles/", host.origin)),
        "{location}"
    );

    let (status, entitlements) = host.send(
        "GET",
        "/integrations/scim/Entitlements?filter=primary%20eq%20true",
        &token,
        None,
    );
    assert_eq!(status, 200, "{entitlements}");
    assert_eq!(entitlements["totalResults"], 1);
    assert_eq!(entitlements["Resources"][0]["value"], "Standard User");
    assert_eq!(entitlements["Resources"][0]["type"], "Profile");

    let path = format!("/admin/v1/tenants/{acme}/entitlements");
    let (status, read) = host.send("GET", &path, &jwt, None);
    assert_eq!(status, 200);
    assert_eq!(
        read,
        json!({"from_app": true, "entitlements": [
            {"value": "Standard User", "display": "Standard User", "type": "Profile", "default": true},
        ]})
    );
    let (status, refused) = host.send(
        "PUT",
        &path,
        &jwt,
        Some(&json!({"entitlements": [{"value": "Read Only"}]})),
    );
    assert_eq!(status, 409, "{refused}");
    host.stop();
}

/// The example host app, built by `cargo test` beside this test binary, running on a port it
/// picked; killed when dropped.
struct Example {
    child: Child,
    origin: String,
}

impl Example {
    fn start(database_url: &str) -> Self {
        let deps = std::env::current_exe().expect("test binary");
        let bin = deps
            .parent()
            .and_then(|d| d.parent())
            .expect("target directory")
            .join("examples")
            .join("host_app");
        let mut child = Command::new(&bin)
            .env("HOST_APP_DATABASE_URL", database_url)
            .env("HOST_APP_ADDR", "127.0.0.1:0")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", bin.display()));
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("the example says where it listens");
        let origin = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .map(|w| w.trim_end_matches(',').to_owned())
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        Self { child, origin }
    }
}

impl Drop for Example {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn the_example_host_app_revokes_a_deactivated_users_session(b: Backend) {
    let Acme {
        _dir,
        database,
        token,
        ..
    } = Acme::new(b);
    let example = Example::start(&database.url);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let origin = example.origin.clone();
    let send = |method: &str, path: &str, auth: &str, body: Option<Value>| {
        let req = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{origin}{path}"))
            .header("Authorization", auth)
            .header("Content-Type", "application/json")
            .body(body.map(|b| b.to_string()).unwrap_or_default())
            .expect("request");
        let mut res = agent.run(req).expect("HTTP exchange");
        let text = res.body_mut().read_to_string().expect("body");
        (
            res.status().as_u16(),
            serde_json::from_str::<Value>(&text).unwrap_or(Value::Null),
        )
    };
    let bearer = format!("Bearer {token}");
    let login = || {
        send(
            "POST",
            "/login",
            "",
            Some(json!({"user_name": "ann@example.com"})),
        )
    };

    assert_eq!(login().0, 403, "nobody is provisioned yet");
    let (status, user) = send(
        "POST",
        "/integrations/scim/Users",
        &bearer,
        Some(json!({"userName": "ann@example.com"})),
    );
    assert_eq!(status, 201, "{user}");
    let id = user["id"].as_str().expect("id").to_owned();
    let session = eventually(Duration::from_secs(20), "the app hears of ann", || {
        let (status, body) = login();
        (status == 200).then(|| body["session"].as_str().expect("session").to_owned())
    });
    let me = || send("GET", "/me", &format!("Session {session}"), None);
    assert_eq!(me(), (200, json!({"user_name": "ann@example.com"})));

    let (status, _) = send(
        "PATCH",
        &format!("/integrations/scim/Users/{id}"),
        &bearer,
        Some(patch_ops(
            json!([{"op": "replace", "value": {"active": false}}]),
        )),
    );
    assert_eq!(status, 200);
    eventually(Duration::from_secs(20), "the session is revoked", || {
        (me().0 == 401).then_some(())
    });
    assert_eq!(login().0, 403, "a deactivated user cannot sign in");
    drop(example);
}

on_both_backends!(
    a_host_app_mounts_scimitar_and_runs_its_background_work,
    an_event_handler_gets_each_event_in_order_at_least_once_with_the_feeds_ids,
    two_instances_take_turns_with_a_handler,
    a_host_app_supplies_its_roles,
    the_idp_reads_the_host_apps_catalog,
    the_example_host_app_revokes_a_deactivated_users_session,
);
