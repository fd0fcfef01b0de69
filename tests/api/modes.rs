//! Tenant modes: paused answers 503 with Retry-After; dry-run shows the identity provider a
//! consistent server over a shadow directory while the live one and the app's events stay as
//! they were, until the admin promotes (one change, with its events) or discards it.

use std::time::Duration;

use serde_json::{Value, json};

use diesel::RunQueryDsl;
use scimitar::admin_token::{ALL_TENANTS, mint};
use scimitar::service::modes::MAX_DRY_RUN_RESOURCES;

use crate::helpers::{Backend, Res, TestApp, admin_auth, eventually, patch_ops};
use crate::on_both_backends;

fn spawn(b: Backend) -> TestApp {
    TestApp::spawn_with(b, |s| s.admin = Some(admin_auth()))
}

fn admin(app: &TestApp, method: &str, path: &str, body: Option<&Value>) -> Res {
    let jwt = mint(&admin_auth(), ALL_TENANTS, Duration::from_secs(300)).expect("mint");
    app.admin(&jwt, method, &format!("/tenants/acme{path}"), body)
}

fn set_mode(app: &TestApp, mode: &str) -> Res {
    admin(app, "PUT", "/mode", Some(&json!({"mode": mode})))
}

/// The types of the tenant's events after `seq`.
fn events_after(app: &TestApp, seq: i64) -> Vec<String> {
    admin(app, "GET", &format!("/events?after={seq}"), None).body["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["type"].as_str().expect("type").to_owned())
        .collect()
}

fn last_seq(app: &TestApp) -> i64 {
    admin(app, "GET", "/events?limit=1000", None).body["events"]
        .as_array()
        .expect("events")
        .last()
        .map_or(0, |e| e["seq"].as_i64().expect("seq"))
}

fn live_user(app: &TestApp, id: &str) -> Res {
    admin(app, "GET", &format!("/users/{id}"), None)
}

fn paused_tenants_are_answered_503_and_resume_where_they_were(b: Backend) {
    let app = spawn(b);
    let other = app.new_tenant("globex");
    let ann = app.create_user("ann@example.com");
    let paused = set_mode(&app, "paused");
    assert_eq!(paused.status, 200, "{:?}", paused.body);
    assert_eq!(paused.body["mode"], "paused");
    for (method, path) in [
        ("GET", "/Users".to_owned()),
        ("GET", format!("/Users/{ann}")),
    ] {
        let res = app.req(method, &path, None);
        res.assert_error(503, None);
        assert_eq!(res.header("retry-after"), Some("300"));
        assert!(
            res.body["detail"]
                .as_str()
                .is_some_and(|d| d.contains("paused")),
            "{:?}",
            res.body
        );
    }
    let write = app.req(
        "POST",
        "/Users",
        Some(&json!({"userName": "bob@example.com"})),
    );
    write.assert_error(503, None);
    // Another tenant goes on.
    assert_eq!(app.req_as(&other, "GET", "/Users", None).status, 200);
    assert_eq!(admin(&app, "GET", "/mode", None).body["mode"], "paused");
    assert_eq!(set_mode(&app, "live").status, 200);
    let res = app.req("GET", "/Users", None);
    assert_eq!(res.status, 200);
    assert_eq!(
        res.body["totalResults"], 1,
        "the refused write changed nothing"
    );
    let bad = set_mode(&app, "asleep");
    assert_eq!(bad.status, 400, "{:?}", bad.body);
}

fn a_dry_run_is_consistent_for_the_idp_and_is_promoted_with_its_events(b: Backend) {
    let app = spawn(b);
    let ann = app.create_user("ann@example.com");
    let group = app.req(
        "POST",
        "/Groups",
        Some(&json!({"displayName": "Engineering", "members": [{"value": ann}]})),
    );
    let eng = group.body["id"].as_str().expect("id").to_owned();
    let mappings = json!({"mappings": [{"group": "Engineering", "role": "developer"}]});
    assert_eq!(
        admin(&app, "PUT", "/role-mappings", Some(&mappings)).status,
        200
    );
    let before = last_seq(&app);
    assert_eq!(set_mode(&app, "dry_run").body["mode"], "dry_run");

    // The IdP's Test Connection, first sync and lookups all work.
    let test = app.req("GET", "/Users?filter=userName%20eq%20%22nobody%22", None);
    assert_eq!(
        (test.status, test.body["totalResults"].clone()),
        (200, json!(0))
    );
    let bob = app.create_user("bob@example.com");
    let found = app.req(
        "GET",
        "/Users?filter=userName%20eq%20%22bob@example.com%22",
        None,
    );
    assert_eq!(found.body["Resources"][0]["id"], bob.as_str());
    let add = patch_ops(json!([{"op": "add", "path": "members", "value": [{"value": bob}]}]));
    assert_eq!(
        app.req("PATCH", &format!("/Groups/{eng}"), Some(&add))
            .status,
        204
    );
    let off = patch_ops(json!([{"op": "replace", "path": "active", "value": false}]));
    assert_eq!(
        app.req("PATCH", &format!("/Users/{ann}"), Some(&off))
            .status,
        200
    );
    let seen = app.req("GET", &format!("/Users/{ann}"), None);
    assert_eq!(seen.body["active"], false);
    let etag = seen.header("etag").expect("etag").to_owned();

    // The dry run's requests are in the tenant's own provisioning log.
    eventually(
        Duration::from_secs(10),
        "bob's creation in acme's log",
        || {
            let log = admin(&app, "GET", "/logs?status=201", None).body;
            log["entries"]
                .as_array()?
                .iter()
                .any(|e| e["resource_id"] == bob.as_str())
                .then_some(())
        },
    );
    // Nothing reached the app; the live directory is as it was.
    assert_eq!(events_after(&app, before), Vec::<String>::new());
    assert_eq!(live_user(&app, &bob).status, 404);
    // Ann was created without `active`, which counts as active.
    assert_eq!(live_user(&app, &ann).body["active"], Value::Null);

    let diff = admin(&app, "GET", "/dry-run", None);
    assert_eq!(diff.status, 200, "{:?}", diff.body);
    let d = &diff.body;
    assert_eq!(
        (&d["users"]["live"], &d["users"]["after"]),
        (&json!(1), &json!(2))
    );
    assert_eq!(
        (
            &d["users"]["created"],
            &d["users"]["updated"],
            &d["users"]["deleted"]
        ),
        (&json!(1), &json!(1), &json!(0))
    );
    assert_eq!(d["memberships"]["added"], 1);
    assert_eq!(d["memberships"]["items"][0]["member"], bob.as_str());
    assert_eq!(d["role_assignments"]["changed"], 1);
    assert_eq!(d["role_assignments"]["items"][0]["user"], bob.as_str());
    assert_eq!(
        d["role_assignments"]["items"][0]["after"],
        json!(["developer"])
    );

    let promoted = admin(&app, "POST", "/dry-run/promote", None);
    assert_eq!(promoted.status, 200, "{:?}", promoted.body);
    assert_eq!(promoted.body["users"]["created"], 1);
    assert_eq!(admin(&app, "GET", "/mode", None).body["mode"], "live");
    let events = events_after(&app, before);
    for expected in [
        "user.created",
        "user.updated",
        "user.deactivated",
        "group.member_added",
        "user.roles_changed",
    ] {
        assert!(
            events.iter().any(|e| e == expected),
            "{expected} in {events:?}"
        );
    }
    assert_eq!(live_user(&app, &bob).body["roles"], json!(["developer"]));
    assert_eq!(live_user(&app, &ann).body["active"], false);
    // The IdP goes on against the live directory with the ids and versions it holds.
    let now = app.req("GET", &format!("/Users/{ann}"), None);
    assert_eq!(now.header("etag"), Some(etag.as_str()));
    assert_eq!(app.req("GET", &format!("/Users/{bob}"), None).status, 200);
    assert_eq!(admin(&app, "GET", "/dry-run", None).status, 409);
}

fn a_discarded_dry_run_leaves_the_live_directory_as_it_was(b: Backend) {
    let app = spawn(b);
    let ann = app.create_user("ann@example.com");
    assert_eq!(set_mode(&app, "dry_run").status, 200);
    let bob = app.create_user("bob@example.com");
    assert_eq!(
        app.req("DELETE", &format!("/Users/{ann}"), None).status,
        204
    );
    // Leaving dry-run is a promotion or a discard, never another mode.
    let refused = set_mode(&app, "live");
    assert_eq!(refused.status, 409, "{:?}", refused.body);
    assert_eq!(set_mode(&app, "paused").status, 409);
    let diff = admin(&app, "GET", "/dry-run", None).body;
    assert_eq!(
        (&diff["users"]["created"], &diff["users"]["deleted"]),
        (&json!(1), &json!(1))
    );
    let discarded = admin(&app, "DELETE", "/dry-run", None);
    assert_eq!(discarded.status, 200, "{:?}", discarded.body);
    assert_eq!(discarded.body["mode"], "live");
    assert_eq!(app.req("GET", &format!("/Users/{ann}"), None).status, 200);
    assert_eq!(app.req("GET", &format!("/Users/{bob}"), None).status, 404);
    // The shadow was never a tenant anyone could list or reach.
    let jwt = mint(&admin_auth(), ALL_TENANTS, Duration::from_secs(300)).expect("mint");
    let tenants = app.admin(&jwt, "GET", "/tenants", None).body;
    assert_eq!(
        tenants["tenants"].as_array().map(Vec::len),
        Some(1),
        "{tenants}"
    );
    assert_eq!(admin(&app, "DELETE", "/dry-run", None).status, 409);
}

fn a_dry_run_copies_a_bounded_directory(b: Backend) {
    let app = spawn(b);
    app.create_user("ann@example.com");
    let acme = admin(&app, "GET", "", None).body["id"]
        .as_str()
        .expect("id")
        .to_owned();
    // The counts kept beside the resources say how large the directory is.
    let statement = format!(
        "UPDATE resource_counts SET n = {} WHERE tenant_id = '{acme}' AND resource_type = 'User'",
        MAX_DRY_RUN_RESOURCES + 1
    );
    app.db
        .run_sync(move |c| Ok(diesel::sql_query(statement).execute(c)?))
        .expect("sql");
    let refused = set_mode(&app, "dry_run");
    assert_eq!(refused.status, 409, "{:?}", refused.body);
    assert!(
        refused.body["message"]
            .as_str()
            .is_some_and(|m| m.contains(&MAX_DRY_RUN_RESOURCES.to_string())),
        "{:?}",
        refused.body
    );
    assert_eq!(admin(&app, "GET", "/mode", None).body["mode"], "live");
}

on_both_backends!(
    a_dry_run_copies_a_bounded_directory,
    paused_tenants_are_answered_503_and_resume_where_they_were,
    a_dry_run_is_consistent_for_the_idp_and_is_promoted_with_its_events,
    a_discarded_dry_run_leaves_the_live_directory_as_it_was,
);
