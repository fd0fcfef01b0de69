//! Bounded work: every count a request drives is limited and refused with a 413 naming the
//! limit; the largest allowed request does not stall another tenant; a busy or unreachable
//! database is a 503 with Retry-After, and the server recovers on its own.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use diesel::connection::SimpleConnection;
use scimitar::admin_token::{ALL_TENANTS, mint};
use scimitar::config::{AdminAuth, AdminKey};
use scimitar::scim::limits::Limits;
use scimitar::storage::Waits;
use serde_json::{Value, json};

use crate::helpers::{Backend, Res, TestApp, patch_ops, stored};
use crate::on_both_backends;
use scimitar::storage::Scope;

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

fn small_limits() -> Limits {
    Limits {
        max_operations: 5,
        max_values: 10,
        max_members: 20,
        max_depth: 6,
        max_string_bytes: 100,
    }
}

fn assert_limit(res: &Res, setting: &str) {
    res.assert_error(413, None);
    let detail = res.body["detail"].as_str().unwrap_or_default();
    assert!(detail.contains(setting), "{detail}");
}

fn emails(n: usize) -> Value {
    (0..n)
        .map(|i| json!({"value": format!("u{i}@example.com")}))
        .collect()
}

fn over_a_limit_is_413_and_changes_nothing(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        s.limits = small_limits();
        s.max_role_mappings = 2;
    });
    let id = app.create_user("bounded@example.com");
    let before = app.req("GET", &format!("/Users/{id}"), None);

    let too_many_values =
        json!({"schemas": [USER], "userName": "many@example.com", "emails": emails(11)});
    assert_limit(
        &app.req("POST", "/Users", Some(&too_many_values)),
        "max-values-per-attribute",
    );
    let deep = json!({"schemas": [USER], "userName": "deep@example.com",
        "name": {"givenName": {"a": {"b": {"c": {"d": {"e": "x"}}}}}}});
    assert_limit(&app.req("POST", "/Users", Some(&deep)), "max-json-depth");
    let long = json!({"schemas": [USER], "userName": "x".repeat(101)});
    assert_limit(&app.req("POST", "/Users", Some(&long)), "max-string-bytes");
    let listed = app.req("GET", "/Users", None);
    assert_eq!(listed.body["totalResults"], 1, "nothing was created");

    let ops: Vec<Value> = (0..6)
        .map(|i| json!({"op": "replace", "path": "displayName", "value": format!("n{i}")}))
        .collect();
    let path = format!("/Users/{id}");
    assert_limit(
        &app.req("PATCH", &path, Some(&patch_ops(Value::Array(ops)))),
        "max-patch-operations",
    );
    // Five operations of three values each: allowed one by one, too many together.
    let ops: Vec<Value> = (0..4)
        .map(|i| {
            json!({"op": "add", "path": "emails", "value": (0..3)
            .map(|j| json!({"value": format!("p{i}-{j}@example.com")}))
            .collect::<Vec<_>>()})
        })
        .collect();
    assert_limit(
        &app.req("PATCH", &path, Some(&patch_ops(Value::Array(ops)))),
        "max-values-per-attribute",
    );
    let after = app.req("GET", &path, None);
    assert_eq!(after.body, before.body, "a refused PATCH changes nothing");
    assert_eq!(after.header("etag"), before.header("etag"));

    let members: Vec<Value> = (0..21)
        .map(|i| json!({"value": format!("00000000-0000-0000-0000-{i:012}")}))
        .collect();
    let group = json!({"schemas": [GROUP], "displayName": "big", "members": members});
    assert_limit(
        &app.req("POST", "/Groups", Some(&group)),
        "max-members-per-request",
    );
    let gid = app.req(
        "POST",
        "/Groups",
        Some(&json!({"schemas": [GROUP], "displayName": "small"})),
    );
    assert_eq!(gid.status, 201);
    let gpath = format!("/Groups/{}", gid.body["id"].as_str().expect("id"));
    let split: Vec<Value> = members
        .chunks(5)
        .map(|c| json!({"op": "add", "path": "members", "value": c}))
        .collect();
    assert_limit(
        &app.req("PATCH", &gpath, Some(&patch_ops(Value::Array(split)))),
        "max-members-per-request",
    );
}

fn the_limits_are_advertised(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| s.limits = small_limits());
    let spc = app.req("GET", "/ServiceProviderConfig", None);
    assert_eq!(spc.status, 200);
    let limits = &spc.body["urn:scimitar:params:scim:limits"];
    assert_eq!(limits["maxOperations"], 5);
    assert_eq!(limits["maxValuesPerAttribute"], 10);
    assert_eq!(limits["maxMembersPerRequest"], 20);
    assert_eq!(limits["maxJsonDepth"], 6);
    assert_eq!(limits["maxStringBytes"], 100);
    assert!(
        spc.body["schemas"]
            .as_array()
            .expect("schemas")
            .contains(&json!("urn:scimitar:params:scim:limits"))
    );
}

fn the_largest_request_does_not_stall_another_tenant(backend: Backend) {
    let limits = Limits {
        max_members: 1_000,
        ..Limits::default()
    };
    let max_values = limits.max_values;
    let max_members = limits.max_members;
    let app = Arc::new(TestApp::spawn_with(backend, |s| {
        s.limits = limits;
        // The set-up creates a thousand members as fast as it can.
        s.rate_limits.tenant_per_second = 0;
    }));
    let other = app.new_tenant("neighbour");
    let id = app.create_user("noisy@example.com");
    let members: Vec<Value> = (0..max_members)
        .map(|i| json!({"value": app.create_user(&format!("m{i}@example.com"))}))
        .collect();
    let group = app.req(
        "POST",
        "/Groups",
        Some(&json!({"schemas": [GROUP], "displayName": "everyone"})),
    );
    let gpath = format!("/Groups/{}", group.body["id"].as_str().expect("id"));

    let done = Arc::new(AtomicBool::new(false));
    let noisy = {
        let (app, done, id) = (app.clone(), done.clone(), id.clone());
        std::thread::spawn(move || {
            let emails =
                patch_ops(json!([{"op": "add", "path": "emails", "value": emails(max_values)}]));
            let a = app.req("PATCH", &format!("/Users/{id}"), Some(&emails));
            let add = patch_ops(json!([{"op": "add", "path": "members", "value": members}]));
            let b = app.req("PATCH", &gpath, Some(&add));
            done.store(true, Ordering::SeqCst);
            (a.status, b.status)
        })
    };
    let mut created = 0;
    while !done.load(Ordering::SeqCst) || created == 0 {
        let res = app.req_as(
            &other,
            "POST",
            "/Users",
            Some(&json!({"schemas": [USER], "userName": format!("quiet{created}@example.com")})),
        );
        assert_eq!(res.status, 201, "{:?}", res.body);
        created += 1;
    }
    assert_eq!(noisy.join().expect("noisy tenant"), (200, 204));
    let user = app.req("GET", &format!("/Users/{id}"), None);
    assert_eq!(
        user.body["emails"].as_array().map(Vec::len),
        Some(max_values)
    );
}

fn a_busy_database_is_503_and_then_recovers(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        s.db_waits = Waits {
            lock: Duration::from_millis(200),
            connection: Duration::from_secs(1),
            ..Waits::default()
        };
    });
    let tenant = scimitar::service::tenants::list(&app.db).expect("tenants")[0]
        .id
        .clone();
    let body = json!({"schemas": [USER], "userName": "waiting@example.com"});
    // Another writer holds the lock the write needs: SQLite's database lock, PostgreSQL's
    // tenant row lock.
    let res = app
        .db
        .run_sync(|c| {
            match backend {
                Backend::Sqlite => c.batch_execute("BEGIN IMMEDIATE")?,
                Backend::Postgres => {
                    c.batch_execute("BEGIN")?;
                    scimitar::storage::events::lock_tenant(c, &Scope::new(&stored(&tenant)))?;
                }
            }
            let res = app.req("POST", "/Users", Some(&body));
            c.batch_execute("ROLLBACK")?;
            Ok(res)
        })
        .expect("held the lock");
    res.assert_error(503, None);
    assert!(
        res.header("retry-after")
            .is_some_and(|s| s.parse::<u32>().is_ok())
    );
    assert_eq!(app.req("POST", "/Users", Some(&body)).status, 201);
}

/// A TCP proxy that can cut every connection and refuse new ones, then come back.
struct Proxy {
    port: u16,
    up: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
}

impl Proxy {
    fn to(target: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let up = Arc::new(AtomicBool::new(true));
        let open = Arc::new(Mutex::new(Vec::new()));
        let (up2, open2) = (up.clone(), open.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                if !up2.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else {
                    continue;
                };
                let mut open = open2.lock().expect("open");
                for s in [&client, &server] {
                    open.push(s.try_clone().expect("clone"));
                }
                pipe(
                    client.try_clone().expect("clone"),
                    server.try_clone().expect("clone"),
                );
                pipe(server, client);
            }
        });
        Self { port, up, open }
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for s in self.open.lock().expect("open").drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 || to.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Both);
    });
}

#[test]
fn postgres_unreachable_is_503_and_recovers_without_a_restart() {
    let Some(backend) = Backend::postgres() else {
        return;
    };
    let mut proxy = None;
    let app = TestApp::spawn_with(backend, |s| {
        let (prefix, rest) = s.database_url.rsplit_once(':').expect("port in the URL");
        let (port, db) = rest.split_once('/').expect("database in the URL");
        let p = Proxy::to(port.parse().expect("port"));
        s.database_url = format!("{prefix}:{}/{db}", p.port);
        s.db_waits = Waits {
            lock: Duration::from_secs(1),
            connection: Duration::from_secs(1),
            ..Waits::default()
        };
        proxy = Some(p);
    });
    let proxy = proxy.expect("proxy");
    let create = |name: &str| {
        app.req(
            "POST",
            "/Users",
            Some(&json!({"schemas": [USER], "userName": name})),
        )
    };
    assert_eq!(create("before@example.com").status, 201);
    proxy.cut();
    let res = create("during@example.com");
    res.assert_error(503, None);
    assert!(res.header("retry-after").is_some());
    assert_eq!(app.req("GET", "/Users", None).status, 503);
    proxy.restore();
    // The pool replaces its broken connections on its own; the first requests after the
    // database returns may still meet one.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let recovered = loop {
        let res = create("after@example.com");
        if res.status != 503 || std::time::Instant::now() > deadline {
            break res;
        }
    };
    assert_eq!(recovered.status, 201, "{:?}", recovered.body);
    let names: Vec<String> = app.req("GET", "/Users", None).body["Resources"]
        .as_array()
        .expect("resources")
        .iter()
        .map(|u| u["userName"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(names, ["before@example.com", "after@example.com"]);
}

#[test]
fn a_postgres_statement_past_its_timeout_is_unavailable() {
    let Some(backend) = Backend::postgres() else {
        return;
    };
    let dir = tempfile::tempdir().expect("dir");
    let database = backend.fresh_database(dir.path());
    let waits = Waits {
        statement: Duration::from_millis(100),
        ..Waits::default()
    };
    // Migrations run without the bound, and the pool's connections carry it afterwards.
    let db = scimitar::storage::Db::open(&database.url, 1, waits).expect("open");
    let slow = db.run_sync(|c| Ok(c.batch_execute("SELECT pg_sleep(2)")?));
    assert!(
        matches!(slow, Err(scimitar::error::ScimError::Unavailable(_))),
        "{slow:?}"
    );
    db.run_sync(|c| Ok(c.batch_execute("SELECT 1")?))
        .expect("the connection is usable after a timed-out statement");
}

/// SQLite has no `statement_timeout`; a progress handler stands in for it. With a bound of
/// 1 ms, short statements (creating users, reading one) never meet it: the handler looks at the
/// clock only every 10,000 VM instructions. A filter of a hundred `co` tests through every
/// user's e-mails runs far longer and is stopped: 503 with Retry-After.
#[test]
fn a_sqlite_statement_past_its_timeout_is_unavailable() {
    let app = TestApp::spawn_with(Backend::Sqlite, |s| {
        s.db_waits = Waits {
            statement: Duration::from_millis(1),
            ..Waits::default()
        };
        s.rate_limits.tenant_per_second = 0;
    });
    let mut id = String::new();
    for i in 0..200 {
        let user = json!({"schemas": [USER], "userName": format!("u{i}@example.com"),
            "emails": emails(3)});
        let res = app.req("POST", "/Users", Some(&user));
        assert_eq!(res.status, 201, "{:?}", res.body);
        id = res.body["id"].as_str().expect("id").to_owned();
    }
    let costly = (0..100)
        .map(|i| format!(r#"emails.value co "zz{i}""#))
        .collect::<Vec<_>>()
        .join(" or ");
    let res = app.req(
        "GET",
        &format!("/Users?filter={}", crate::filters::encode(&costly)),
        None,
    );
    res.assert_error(503, None);
    assert_eq!(res.header("retry-after"), Some("2"));
    let one = app.req("GET", &format!("/Users/{id}"), None);
    assert_eq!(one.status, 200, "the connection is usable afterwards");
}

fn too_many_role_mappings_are_refused(backend: Backend) {
    let auth = AdminAuth {
        key: AdminKey::Hs256(b"an-admin-secret-of-at-least-32-characters".to_vec()),
        issuer: None,
        audience: None,
    };
    let jwt = mint(&auth, ALL_TENANTS, Duration::from_secs(300)).expect("mint");
    let app = TestApp::spawn_with(backend, |s| {
        s.max_role_mappings = 2;
        s.admin = Some(auth);
    });
    let acme = scimitar::service::tenants::get(&app.db, "acme")
        .expect("tenant")
        .id;
    let path = format!("/tenants/{acme}/role-mappings");
    let mappings = |n: usize| {
        json!({"default_role": "member", "mappings": (0..n)
            .map(|i| json!({"group": format!("g{i}"), "role": "admin"}))
            .collect::<Vec<_>>()})
    };
    let res = app.admin(&jwt, "PUT", &path, Some(&mappings(3)));
    assert_eq!(res.status, 413, "{:?}", res.body);
    assert!(
        res.body["message"]
            .as_str()
            .is_some_and(|m| m.contains("max-role-mappings")),
        "{:?}",
        res.body
    );
    assert_eq!(
        app.admin(&jwt, "GET", &path, None).body["mappings"],
        json!([]),
        "nothing was stored"
    );
    assert_eq!(
        app.admin(&jwt, "PUT", &path, Some(&mappings(2))).status,
        200
    );
}

on_both_backends!(
    over_a_limit_is_413_and_changes_nothing,
    the_limits_are_advertised,
    the_largest_request_does_not_stall_another_tenant,
    a_busy_database_is_503_and_then_recovers,
    too_many_role_mappings_are_refused,
);
