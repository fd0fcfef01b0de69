//! /Groups: membership lives in its own table; User.groups is computed from it.

use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, stored};
use crate::on_both_backends;
use scimitar::storage::Scope;

fn ids(list: &Value, key: &str) -> Vec<String> {
    let mut v: Vec<String> = list[key]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|m| m["value"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn creates_a_group_with_members_and_computes_user_groups(b: Backend) {
    let app = TestApp::spawn(b);
    let alice = app.create_user("alice@example.com");
    let bob = app.create_user("bob@example.com");
    let res = app.req(
        "POST",
        "/Groups",
        Some(&json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": "Engineering",
            "externalId": "jc-group-1",
            "members": [{"value": alice, "display": "alice"}, {"value": bob, "type": "User"}, {"value": alice}],
        })),
    );
    assert_eq!(res.status, 201, "{:?}", res.body);
    let g = &res.body;
    let gid = g["id"].as_str().expect("id");
    assert_eq!(g["displayName"], "Engineering");
    assert_eq!(g["externalId"], "jc-group-1");
    assert_eq!(res.header("etag"), Some("W/\"1\""));
    let mut want = vec![alice.clone(), bob.clone()];
    want.sort();
    assert_eq!(ids(g, "members"), want);
    let m = g["members"]
        .as_array()
        .expect("members")
        .iter()
        .find(|m| m["value"] == alice.as_str())
        .expect("alice");
    assert_eq!(m["type"], "User");
    // Returned as the client sent it, never derived from the member.
    assert_eq!(m["display"], "alice");
    let bob_member = g["members"]
        .as_array()
        .expect("members")
        .iter()
        .find(|m| m["value"] == bob.as_str())
        .expect("bob");
    assert_eq!(bob_member.get("display"), None, "{bob_member}");
    assert_eq!(m["$ref"], format!("{}/Users/{alice}", app.base));

    let user = app.req("GET", &format!("/Users/{alice}"), None).body;
    assert_eq!(
        user["groups"],
        json!([{"value": gid, "$ref": format!("{}/Groups/{gid}", app.base), "type": "direct", "display": "Engineering"}])
    );
    let listed = app.req("GET", "/Users", None).body;
    assert!(
        listed["Resources"]
            .as_array()
            .expect("list")
            .iter()
            .all(|u| u["groups"][0]["value"] == gid)
    );

    // Groups nest: a group may be a member of another group.
    let parent = app.req(
        "POST",
        "/Groups",
        Some(&json!({"displayName": "All", "members": [{"value": gid, "type": "Group"}]})),
    );
    assert_eq!(parent.status, 201, "{:?}", parent.body);
    assert_eq!(parent.body["members"][0]["type"], "Group");
    assert_eq!(parent.body["members"][0].get("display"), None);
}

fn unknown_members_are_rejected_and_nothing_changes(b: Backend) {
    let app = TestApp::spawn(b);
    let alice = app.create_user("alice@example.com");
    let res = app.req("POST", "/Groups", Some(&json!({"displayName": "Ops", "members": [{"value": alice}, {"value": "no-such-user"}]})));
    res.assert_error(400, Some("invalidValue"));
    assert!(
        res.body["detail"]
            .as_str()
            .expect("detail")
            .contains("no-such-user")
    );
    assert_eq!(app.req("GET", "/Groups", None).body["totalResults"], 0);
    let res = app.req(
        "POST",
        "/Groups",
        Some(&json!({"displayName": "Ops", "members": [{"value": alice, "type": "Group"}]})),
    );
    res.assert_error(400, Some("invalidValue"));
    app.req("POST", "/Groups", Some(&json!({"members": []})))
        .assert_error(400, Some("invalidValue"));
}

fn put_replaces_members_and_renames(b: Backend) {
    let app = TestApp::spawn(b);
    let (a, c) = (
        app.create_user("a@example.com"),
        app.create_user("c@example.com"),
    );
    let gid = app
        .req(
            "POST",
            "/Groups",
            Some(&json!({"displayName": "Eng", "members": [{"value": a}]})),
        )
        .body["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let res = app.req(
        "PUT",
        &format!("/Groups/{gid}"),
        Some(&json!({"displayName": "Engineering", "members": [{"value": c}]})),
    );
    assert_eq!(res.status, 200, "{:?}", res.body);
    assert_eq!(res.body["displayName"], "Engineering");
    assert_eq!(ids(&res.body, "members"), vec![c.clone()]);
    assert_eq!(res.body["meta"]["version"], "W/\"2\"");
    assert!(
        app.req("GET", &format!("/Users/{a}"), None)
            .body
            .get("groups")
            .is_none()
    );
    assert_eq!(
        app.req("GET", &format!("/Users/{c}"), None).body["groups"][0]["display"],
        "Engineering"
    );
    let res = app.req(
        "PUT",
        &format!("/Groups/{gid}"),
        Some(&json!({"displayName": "Engineering", "members": [{"value": gid}]})),
    );
    res.assert_error(400, Some("invalidValue"));
    let res = app.req(
        "PUT",
        &format!("/Groups/{gid}"),
        Some(&json!({"displayName": "Engineering", "members": [{"value": "ghost"}]})),
    );
    res.assert_error(400, Some("invalidValue"));
    assert_eq!(
        ids(
            &app.req("GET", &format!("/Groups/{gid}"), None).body,
            "members"
        ),
        vec![c],
        "failed replaces changed nothing"
    );
    let res = app.req(
        "PUT",
        &format!("/Groups/{gid}"),
        Some(&json!({"displayName": "Empty"})),
    );
    assert!(
        res.body.get("members").is_none(),
        "left-out members are cleared"
    );
}

fn deleting_a_user_removes_its_memberships(b: Backend) {
    let app = TestApp::spawn(b);
    let (a, c) = (
        app.create_user("a@example.com"),
        app.create_user("c@example.com"),
    );
    let gid = app
        .req(
            "POST",
            "/Groups",
            Some(&json!({"displayName": "Eng", "members": [{"value": a}, {"value": c}]})),
        )
        .body["id"]
        .as_str()
        .expect("id")
        .to_owned();
    assert_eq!(app.req("DELETE", &format!("/Users/{a}"), None).status, 204);
    assert_eq!(
        ids(
            &app.req("GET", &format!("/Groups/{gid}"), None).body,
            "members"
        ),
        vec![c.clone()]
    );
    assert_eq!(
        app.req("DELETE", &format!("/Groups/{gid}"), None).status,
        204
    );
    assert!(
        app.req("GET", &format!("/Users/{c}"), None)
            .body
            .get("groups")
            .is_none()
    );
    app.req("GET", &format!("/Groups/{gid}"), None)
        .assert_error(404, None);
}

fn deleting_a_member_moves_the_group_on(b: Backend) {
    let app = TestApp::spawn(b);
    let (a, c) = (
        app.create_user("a@example.com"),
        app.create_user("c@example.com"),
    );
    let res = app.req(
        "POST",
        "/Groups",
        Some(&json!({"displayName": "Eng", "members": [{"value": a}, {"value": c}]})),
    );
    let gid = res.body["id"].as_str().expect("id").to_owned();
    assert_eq!(res.header("etag"), Some("W/\"1\""));
    assert_eq!(app.req("DELETE", &format!("/Users/{a}"), None).status, 204);
    let g = app.req("GET", &format!("/Groups/{gid}"), None);
    assert_eq!(
        g.header("etag"),
        Some("W/\"2\""),
        "the group changed, so its version moved on"
    );
    assert_eq!(ids(&g.body, "members"), vec![c.clone()]);
    let tenant = scimitar::service::tenants::get(&app.db, "acme")
        .expect("tenant")
        .id;
    let events = app
        .db
        .run_sync(move |conn| {
            Ok(scimitar::storage::events::after(
                conn,
                &Scope::new(&stored(&tenant)),
                0,
                100,
            )?)
        })
        .expect("events");
    let last = events.last().expect("events");
    assert_eq!(last.event_type, "group.member_removed");
    let data: Value = serde_json::from_str(&last.data).expect("json");
    assert_eq!(data["members"], json!([a]));
    assert_eq!(data["group"]["id"], gid.as_str());
}

/// One PATCH that removes a member and adds another records both events, in the order of the
/// feed (removed, then added), numbered one after the other.
fn a_patch_that_adds_and_removes_records_both_in_order(b: Backend) {
    let app = TestApp::spawn(b);
    let (a, c) = (
        app.create_user("a@example.com"),
        app.create_user("c@example.com"),
    );
    let res = app.req(
        "POST",
        "/Groups",
        Some(&json!({"displayName": "Eng", "members": [{"value": a}]})),
    );
    let gid = res.body["id"].as_str().expect("id").to_owned();
    let ops = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [
            {"op": "add", "path": "members", "value": [{"value": c}]},
            {"op": "remove", "path": format!("members[value eq \"{a}\"]")},
        ]
    });
    assert_eq!(
        app.req("PATCH", &format!("/Groups/{gid}"), Some(&ops))
            .status,
        204
    );
    let tenant = scimitar::service::tenants::get(&app.db, "acme")
        .expect("tenant")
        .id;
    let events = app
        .db
        .run_sync(move |conn| {
            Ok(scimitar::storage::events::after(
                conn,
                &Scope::new(&stored(&tenant)),
                0,
                100,
            )?)
        })
        .expect("events");
    let last: Vec<(i64, &str, Value)> = events[events.len() - 2..]
        .iter()
        .map(|e| {
            let data: Value = serde_json::from_str(&e.data).expect("json");
            (e.seq, e.event_type.as_str(), data["members"].clone())
        })
        .collect();
    let first = events.len() as i64 - 1;
    assert_eq!(
        last,
        [
            (first, "group.member_removed", json!([a])),
            (first + 1, "group.member_added", json!([c])),
        ]
    );
}

/// A read with few links is answered on the event loop and one with many on the blocking pool
/// (past 100 links): both come back whole, in the same order.
fn reads_with_many_links_come_back_whole(b: Backend) {
    let app = TestApp::spawn(b);
    let users: Vec<String> = (0..101)
        .map(|i| app.create_user(&format!("u{i}@example.com")))
        .collect();
    for n in [100, 101] {
        let members: Vec<Value> = users[..n].iter().map(|u| json!({"value": u})).collect();
        let res = app.req(
            "POST",
            "/Groups",
            Some(&json!({"displayName": format!("g{n}"), "members": members})),
        );
        assert_eq!(res.status, 201, "{:?}", res.body);
        let gid = res.body["id"].as_str().expect("id");
        let read = app.req("GET", &format!("/Groups/{gid}"), None);
        assert_eq!(read.status, 200);
        let mut want = users[..n].to_vec();
        want.sort();
        assert_eq!(ids(&read.body, "members"), want, "a group of {n}");
        assert_eq!(read.body["members"], res.body["members"], "a group of {n}");
    }
    let first = &users[0];
    for i in 0..99 {
        let res = app.req(
            "POST",
            "/Groups",
            Some(&json!({"displayName": format!("h{i}"), "members": [{"value": first}]})),
        );
        assert_eq!(res.status, 201, "{:?}", res.body);
    }
    let user = app.req("GET", &format!("/Users/{first}"), None).body;
    assert_eq!(user["groups"].as_array().map(Vec::len), Some(101), "{user}");
    // A lookup by userName (at most one row) takes the same two paths.
    let found = app
        .req(
            "GET",
            "/Users?filter=userName%20eq%20%22u0%40example.com%22",
            None,
        )
        .body;
    assert_eq!(found["Resources"][0]["groups"], user["groups"], "{found}");
    let other = app
        .req(
            "GET",
            "/Users?filter=userName%20eq%20%22u1%40example.com%22",
            None,
        )
        .body;
    assert_eq!(
        other["Resources"][0]["groups"].as_array().map(Vec::len),
        Some(2)
    );
    let second = app.req("GET", &format!("/Users/{}", users[1]), None).body;
    assert_eq!(second["groups"].as_array().map(Vec::len), Some(2));
}

on_both_backends!(
    deleting_a_member_moves_the_group_on,
    a_patch_that_adds_and_removes_records_both_in_order,
    creates_a_group_with_members_and_computes_user_groups,
    unknown_members_are_rejected_and_nothing_changes,
    put_replaces_members_and_renames,
    deleting_a_user_removes_its_memberships,
    reads_with_many_links_come_back_whole,
);
