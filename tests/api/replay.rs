//! Replay (`scimitar conformance --from-log`): an Entra-shaped sync with failures is recorded,
//! turned into a scenario file by the real binary, checked for the tenant's values, and run
//! against a fresh server, where it reproduces every recorded status.

use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, eventually, patch_ops, provisioning_log};
use crate::on_both_backends;

const BIN: &str = env!("CARGO_BIN_EXE_scimitar");
const ENTRA: &str = "Microsoft Azure AD SCIM provisioning 1.0";
const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";

/// What the IdP sent that must not reach the scenario file.
const ORIGINALS: &[&str] = &[
    "alice.original",
    "ALICE.ORIGINAL",
    "bob.original",
    "contoso",
    "Alice",
    "Originalsson",
    "Original Sales Team",
    "No Username Person",
    "Sup3rSecret",
    "E-1234",
];

/// Sends a request as Entra would, and returns (status, body).
fn entra(app: &TestApp, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
    let auth = format!("Bearer {}", app.token);
    let text = body.map(Value::to_string);
    let res = app.send(
        method,
        path,
        Some(&auth),
        text.as_deref().map(|t| ("application/scim+json", t)),
        &[("User-Agent", ENTRA)],
    );
    (res.status, res.body)
}

/// An Entra-shaped sync: lookups, users, a case-only duplicate, a group, an Entra-style member
/// removal by value array, "False" as a string, a user without a userName, a delete.
fn sync(app: &TestApp) -> Vec<u16> {
    let mut statuses = Vec::new();
    let mut send = |method: &str, path: &str, body: Option<Value>| {
        let (status, body) = entra(app, method, path, body.as_ref());
        statuses.push(status);
        body
    };
    send(
        "GET",
        "/Users?filter=userName+eq+%22Alice.Original%40contoso.test%22",
        None,
    );
    let alice = send(
        "POST",
        "/Users",
        Some(json!({
            "schemas": [USER, "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
            "userName": "Alice.Original@contoso.test",
            "externalId": "7c1f6a52-5b1e-4f0e-9c62-1d2a3b4c5d6e",
            "name": {"givenName": "Alice", "familyName": "Originalsson"},
            "emails": [{"value": "alice.original@contoso.test", "type": "work", "primary": true}],
            "password": "Sup3rSecret!pw",
            "active": true,
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"employeeNumber": "E-1234"},
        })),
    )["id"]
        .as_str()
        .expect("alice's id")
        .to_owned();
    let bob = send(
        "POST",
        "/Users",
        Some(
            json!({"schemas": [USER], "userName": "bob.original@contoso.test",
                    "displayName": "Bob Originalsson", "active": true}),
        ),
    )["id"]
        .as_str()
        .expect("bob's id")
        .to_owned();
    send(
        "POST",
        "/Users",
        Some(json!({"schemas": [USER], "userName": "ALICE.ORIGINAL@contoso.test"})),
    );
    let group = send(
        "POST",
        "/Groups",
        Some(json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": "Original Sales Team",
            "members": [{"value": alice}, {"value": bob}],
        })),
    )["id"]
        .as_str()
        .expect("the group's id")
        .to_owned();
    send(
        "PATCH",
        &format!("/Groups/{group}"),
        Some(patch_ops(json!([
            {"op": "Remove", "path": "members", "value": [{"value": bob}]}
        ]))),
    );
    send(
        "PATCH",
        &format!("/Users/{alice}"),
        Some(patch_ops(json!([
            {"op": "Replace", "path": "active", "value": "False"},
            {"op": "replace", "path": "password", "value": "Sup3rSecret!again"}
        ]))),
    );
    send(
        "POST",
        "/Users",
        Some(json!({"schemas": [USER], "displayName": "No Username Person"})),
    );
    send("DELETE", &format!("/Users/{bob}"), None);
    send("GET", &format!("/Users/{bob}"), None);
    statuses
}

fn a_recorded_sync_replays_against_a_fresh_server(b: Backend) {
    let app = TestApp::spawn(b);
    let statuses = sync(&app);
    assert_eq!(
        statuses,
        [200, 201, 201, 409, 201, 204, 200, 400, 204, 404],
        "the recorded sync"
    );
    let entries = eventually(Duration::from_secs(10), "the sync is logged", || {
        let rows = provisioning_log(&app.db, "acme", 100);
        (rows.len() >= statuses.len()).then_some(rows)
    });
    // The log keeps shapes, never the password.
    // Newest first: the last of the created users is Alice, the first created.
    let created = entries
        .iter()
        .rfind(|r| r.method == "POST" && r.status == 201 && r.path.ends_with("/Users"))
        .and_then(|r| r.shape.as_ref())
        .expect("a created user's shape");
    let shape: Value = created.to_json().expect("the shape's parts fit");
    assert_eq!(shape["password"], "<password>");
    assert_eq!(shape["schemas"][0], USER);
    assert!(
        shape["userName"]
            .as_str()
            .is_some_and(|u| u.starts_with("<email:")),
        "{shape}"
    );
    for entry in &entries {
        let shape = entry
            .shape
            .as_ref()
            .and_then(|s| s.to_json())
            .map(|s| s.to_string())
            .unwrap_or_default();
        assert!(
            !shape.contains("Sup3rSecret") && !shape.contains("contoso"),
            "{shape}"
        );
    }

    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("replay.json");
    let out = Command::new(BIN)
        .args([
            "conformance",
            "--from-log",
            "acme",
            "--since",
            "1h",
            "--out",
        ])
        .arg(&file)
        .env("DATABASE_URL", app.database_url())
        .env("RUST_LOG", "warn")
        .output()
        .expect("run scimitar conformance --from-log");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("Replays 10 recorded requests (3 failed)"),
        "{stderr}"
    );
    let text = std::fs::read_to_string(&file).expect("the scenario file");
    for original in ORIGINALS.iter().chain([&app.token.as_str()]) {
        assert!(!text.contains(original), "{original} in {text}");
    }
    let scenario: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(scenario["idp"], "entra");
    assert_eq!(scenario["confidence"], "recorded");
    let steps = scenario["steps"].as_array().expect("steps");
    let expected: Vec<Value> = steps
        .iter()
        .map(|s| s["expect"]["status"].clone())
        .collect();
    assert_eq!(
        expected,
        [
            json!(200),
            json!(201),
            json!(201),
            json!(409),
            json!(201),
            json!([200, 204]),
            json!([200, 204]),
            json!(400),
            json!(204),
            json!(404)
        ],
        "{text}"
    );
    // Ids are the captured ones; the remove keeps Entra's shape with a generated member.
    assert_eq!(steps[5]["path"], "/Groups/{{group_1}}");
    assert_eq!(
        steps[5]["body"]["Operations"][0],
        json!({"op": "Remove", "path": "members", "value": [{"value": "{{user_2}}"}]})
    );
    assert_eq!(steps[6]["body"]["Operations"][0]["value"], "False");
    assert_eq!(steps[6]["body"]["Operations"][1]["value"], "{{password}}");
    assert_eq!(steps[9]["path"], "/Users/{{user_2}}");

    // A fresh server, another tenant's token: the same statuses, failures included.
    let fresh = TestApp::spawn(b);
    let run = Command::new(BIN)
        .args(["conformance", "--url", &fresh.base, "--scenario"])
        .arg(&file)
        .env("SCIMITAR_CONFORMANCE_TOKEN", &fresh.token)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run the scenario");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(
        stdout.lines().last(),
        Some("10 passed, 0 failed"),
        "{stdout}"
    );
    // The runner deleted what the replay created.
    for endpoint in ["/Users", "/Groups"] {
        assert_eq!(fresh.req("GET", endpoint, None).body["totalResults"], 0);
    }
}

fn a_window_that_starts_mid_sync_gets_stand_ins(b: Backend) {
    let app = TestApp::spawn(b);
    let early = app.create_user("early.original@contoso.test");
    std::thread::sleep(Duration::from_millis(50));
    let since = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    std::thread::sleep(Duration::from_millis(50));
    let (status, _) = entra(
        &app,
        "PATCH",
        &format!("/Users/{early}"),
        Some(&patch_ops(
            json!([{"op": "replace", "path": "displayName", "value": "Early Original"}]),
        )),
    );
    assert_eq!(status, 200);
    assert_eq!(entra(&app, "GET", "/Users/no-such-user", None).0, 404);
    eventually(Duration::from_secs(10), "the requests are logged", || {
        (provisioning_log(&app.db, "acme", 10).len() >= 3).then_some(())
    });
    let out = Command::new(BIN)
        .args(["conformance", "--from-log", "acme", "--since", &since])
        .env("DATABASE_URL", app.database_url())
        .env("RUST_LOG", "warn")
        .output()
        .expect("run scimitar conformance --from-log");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        !text.contains("Early Original") && !text.contains(&early),
        "{text}"
    );
    let scenario: Value = serde_json::from_str(&text).expect("JSON on standard output");
    let steps = scenario["steps"].as_array().expect("steps");
    assert_eq!(steps.len(), 3, "a stand-in, then the two requests: {text}");
    assert_eq!(steps[0]["capture"], json!({"user_1": "/id"}));
    assert_eq!(steps[1]["path"], "/Users/{{user_1}}");
    assert_eq!(steps[2]["path"], "/Users/{{missing_1}}");

    let fresh = TestApp::spawn(b);
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("replay.json");
    std::fs::write(&file, text.as_bytes()).expect("write");
    let run = Command::new(BIN)
        .args(["conformance", "--url", &fresh.base, "--scenario"])
        .arg(&file)
        .env("SCIMITAR_CONFORMANCE_TOKEN", &fresh.token)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run the scenario");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{stdout}");
}

#[test]
fn an_empty_window_says_so() {
    let app = TestApp::spawn(Backend::Sqlite);
    let out = Command::new(BIN)
        .args([
            "conformance",
            "--from-log",
            "acme",
            "--since",
            "2h",
            "--until",
            "1h",
        ])
        .env("DATABASE_URL", app.database_url())
        .env("RUST_LOG", "warn")
        .output()
        .expect("run");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no replayable request"), "{stderr}");
}

/// The skeletons stored for `tenant`: (id, seen_at).
fn skeletons(app: &TestApp, tenant: &str) -> Vec<(String, i64)> {
    use diesel::prelude::*;
    use scimitar::storage::schema::log_skeletons as sk;
    let tenant = tenant.to_owned();
    app.db
        .run_sync(move |c| {
            Ok(sk::table
                .filter(sk::tenant_id.eq(tenant))
                .select((sk::id, sk::seen_at))
                .load::<(String, i64)>(c)?)
        })
        .expect("skeletons")
}

fn each_structure_is_stored_once_and_pruned_after_the_log(b: Backend) {
    let app = TestApp::spawn_with(b, |s| s.log_retention = Duration::from_secs(86_400));
    let acme = scimitar::service::tenants::get(&app.db, "acme")
        .expect("tenant")
        .id;
    // A skeleton no entry has used for longer than the retention goes at the first prune,
    // which an instance makes as it starts.
    let old = format!(
        "INSERT INTO log_skeletons (tenant_id, id, skeleton, seen_at) VALUES ('{acme}', 'old', '{{}}', 1)"
    );
    app.db
        .run_sync(move |c| Ok(diesel::RunQueryDsl::execute(diesel::sql_query(old), c)?))
        .expect("old skeleton");
    app.another_instance();

    let user = |n: u32| {
        json!({
            "schemas": [USER],
            "userName": format!("user{n}@example.com"),
            "name": {"givenName": format!("Given{n}"), "familyName": "Lee"},
            "emails": [{"value": format!("user{n}@example.com"), "type": "work"}],
        })
    };
    for n in 0..5 {
        assert_eq!(app.req("POST", "/Users", Some(&user(n))).status, 201);
    }
    let group =
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Sales"});
    assert_eq!(app.req("POST", "/Groups", Some(&group)).status, 201);

    let entries = eventually(Duration::from_secs(10), "six writes logged", || {
        let rows = provisioning_log(&app.db, "acme", 100);
        (rows.len() >= 6).then_some(rows)
    });
    let shapes: Vec<Value> = entries
        .iter()
        .map(|e| {
            e.shape
                .as_ref()
                .and_then(|s| s.to_json())
                .expect("each write reads back its whole shape")
        })
        .collect();
    let user_names: std::collections::HashSet<&str> = shapes
        .iter()
        .filter_map(|s| s["userName"].as_str())
        .collect();
    assert_eq!(
        user_names.len(),
        5,
        "five users, five placeholders: {shapes:?}"
    );
    assert!(user_names.iter().all(|u| u.starts_with("<email:")));
    assert!(shapes.iter().any(|s| {
        s["displayName"]
            .as_str()
            .is_some_and(|d| d.starts_with("<text:"))
    }));
    // The new instance prunes shortly after it starts.
    let stored = eventually(Duration::from_secs(10), "the old skeleton pruned", || {
        let stored = skeletons(&app, &acme);
        (!stored.iter().any(|(id, _)| id == "old")).then_some(stored)
    });
    let ids: Vec<&str> = stored.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids.len(), 2, "one skeleton per structure: {ids:?}");
    assert!(stored.iter().all(|(_, seen)| *seen > 1));
}

on_both_backends!(
    a_recorded_sync_replays_against_a_fresh_server,
    a_window_that_starts_mid_sync_gets_stand_ins,
    each_structure_is_stored_once_and_pruned_after_the_log
);
