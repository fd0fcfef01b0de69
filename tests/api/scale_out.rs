//! Two `scimitar serve` processes on one PostgreSQL database, started at once, as N instances
//! behind a load balancer run: each sees the other's writes, a rotated secret stops working on
//! both at once, an ETag taken from one guards a write through the other, and each event is
//! delivered once.

use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::json;

use crate::helpers::{
    Backend, Http, eventually, holds_for, output, patch_ops, scimitar_command, serve,
    webhook_receiver,
};

const ADMIN_SECRET: &str = "a-scale-out-admin-secret-of-32-chars-or-more";

#[test]
fn two_processes_on_one_postgresql_database_serve_as_one() {
    let Some(b) = Backend::postgres() else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let database = b.fresh_database(dir.path());
    let url = database.url.clone();
    let command = |args: &[&str]| scimitar_command(&url, ADMIN_SECRET, "info", args);

    // Both start on the empty database at once: they migrate it in turns.
    let (first, second) = std::thread::scope(|s| {
        let a = s.spawn(|| serve(command(&[])));
        let b = s.spawn(|| serve(command(&[])));
        (a.join().expect("first"), b.join().expect("second"))
    });
    let (one, two) = (Http::new(&first.origin), Http::new(&second.origin));
    let mut log = String::new();
    let jwt = output(command(&["admin", "token", "--ttl", "5m"]), &mut log);
    let (status, tenant) = one.send(
        "POST",
        "/admin/v1/tenants",
        &jwt,
        Some(&json!({"name": "acme"})),
    );
    assert_eq!(status, 201, "{tenant}");
    let tenant_id = tenant["id"].as_str().expect("id").to_owned();
    let token = tenant["token"].as_str().expect("token").to_owned();
    let (hook_url, delivered) = webhook_receiver(Duration::ZERO);
    let (status, hook) = two.send(
        "PUT",
        &format!("/admin/v1/tenants/{tenant_id}/webhooks"),
        &jwt,
        Some(&json!({"url": hook_url})),
    );
    assert_eq!(status, 200, "{hook}");

    // A write through one is read through the other, and both take writes.
    let mut ids = Vec::new();
    for (n, server) in [&one, &two].into_iter().cycle().take(10).enumerate() {
        let user = json!({"userName": format!("user{n}@example.com"), "active": true});
        let (status, created) = server.send("POST", "/scim/v2/Users", &token, Some(&user));
        assert_eq!(status, 201, "{created}");
        ids.push(created["id"].as_str().expect("id").to_owned());
    }
    for (n, id) in ids.iter().enumerate() {
        let reader = if n % 2 == 0 { &two } else { &one };
        let (status, read) = reader.send("GET", &format!("/scim/v2/Users/{id}"), &token, None);
        assert_eq!(status, 200, "{read}");
        assert_eq!(read["userName"], format!("user{n}@example.com"));
    }

    // An ETag read from one guards a write through the other: the loser gets 412.
    let path = format!("/scim/v2/Users/{}", ids[0]);
    let read = one.send_with("GET", &path, &token, None, &[]);
    let etag = read.header("etag").expect("an ETag").to_owned();
    let rename =
        |name: &str| patch_ops(json!([{"op": "replace", "path": "displayName", "value": name}]));
    let won = two.send_with(
        "PATCH",
        &path,
        &token,
        Some(&rename("Ann")),
        &[("If-Match", &etag)],
    );
    assert_eq!(won.status, 200, "{:?}", won.body);
    let lost = one.send_with(
        "PATCH",
        &path,
        &token,
        Some(&rename("Bob")),
        &[("If-Match", &etag)],
    );
    assert_eq!(lost.status, 412, "{:?}", lost.body);
    assert_eq!(one.send("GET", &path, &token, None).1["displayName"], "Ann");

    // A secret rotated through one stops working on the other at once, though the other has
    // just verified it.
    assert_eq!(
        two.send("GET", "/scim/v2/Users?count=1", &token, None).0,
        200
    );
    let (status, rotated) = one.send(
        "POST",
        &format!("/admin/v1/tenants/{tenant_id}/secret"),
        &jwt,
        Some(&json!({})),
    );
    assert_eq!(status, 200, "{rotated}");
    let new_token = rotated["token"].as_str().expect("token").to_owned();
    assert_eq!(
        two.send("GET", "/scim/v2/Users?count=1", &token, None).0,
        401
    );
    assert_eq!(
        one.send("GET", "/scim/v2/Users?count=1", &token, None).0,
        401
    );
    assert_eq!(
        two.send("GET", "/scim/v2/Users?count=1", &new_token, None)
            .0,
        200
    );

    // Each event of the feed reaches the receiver once, though both instances deliver.
    let (status, feed) = one.send(
        "GET",
        &format!("/admin/v1/tenants/{tenant_id}/events?limit=1000"),
        &jwt,
        None,
    );
    assert_eq!(status, 200, "{feed}");
    let events = feed["events"].as_array().map_or(0, Vec::len);
    assert_eq!(events, 12, "ten creations, an update, a rotation: {feed}");
    eventually(Duration::from_secs(30), "every event delivered", || {
        (delivered.load(Ordering::SeqCst) >= events).then_some(())
    });
    holds_for(Duration::from_secs(3), "no event delivered twice", || {
        delivered.load(Ordering::SeqCst) == events
    });

    log.push_str(&first.kill());
    log.push_str(&second.kill());
    assert!(!log.contains("migration failed"), "{log}");
}
