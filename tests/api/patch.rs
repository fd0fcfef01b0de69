//! PATCH (RFC 7644 §3.5.2) in every big IdP's dialect, PUT, ETags and concurrent writers.

use serde_json::{Value, json};

use crate::filters::encode;
use crate::helpers::{Backend, TestApp, patch_ops};
use crate::on_both_backends;

const OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

fn user(app: &TestApp) -> String {
    let res = app.req(
        "POST",
        "/Users",
        Some(&json!({"userName": "jdoe@example.com", "name": {"givenName": "Jane", "familyName": "Doe"}, "active": true,
                     "emails": [{"value": "jdoe@example.com", "type": "work", "primary": true}]})),
    );
    assert_eq!(res.status, 201);
    res.body["id"].as_str().expect("id").to_owned()
}

fn member_ids(app: &TestApp, gid: &str) -> Vec<String> {
    let g = app.req("GET", &format!("/Groups/{gid}"), None).body;
    let mut ids: Vec<String> = g["members"]
        .as_array()
        .map(|m| {
            m.iter()
                .filter_map(|m| m["value"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

fn users_patch_in_every_dialect(b: Backend) {
    let app = TestApp::spawn(b);
    let id = user(&app);
    let path = format!("/Users/{id}");
    let patch = |body: Value| {
        let res = app.req("PATCH", &path, Some(&body));
        assert_eq!(res.status, 200, "{body}: {:?}", res.body);
        res
    };
    // JumpCloud: one replace per attribute, with a path (shared/idp-requests.md).
    let res = patch(patch_ops(
        json!([{"op": "replace", "path": "name.givenName", "value": "Janet"}]),
    ));
    assert_eq!(
        res.body["name"],
        json!({"givenName": "Janet", "familyName": "Doe"})
    );
    assert_eq!(res.body["meta"]["version"], "W/\"2\"");
    assert_eq!(res.header("etag"), Some("W/\"2\""));
    // Okta: deactivation is a path-less replace.
    assert_eq!(
        patch(patch_ops(
            json!([{"op": "replace", "value": {"active": false}}])
        ))
        .body["active"],
        false
    );
    // Entra: capitalised ops, string booleans, dotted and URN keys in a path-less value.
    let res = patch(patch_ops(json!([
        {"op": "Replace", "path": "active", "value": "True"},
        {"op": "Replace", "value": {"name.familyName": "Roe", format!("{ENT}:department"): "Sales"}},
        {"op": "Add", "path": "emails[type eq \"home\"].value", "value": "jane@home.example"},
        {"op": "Add", "path": format!("{ENT}:manager"), "value": {"value": "m-1"}},
    ])));
    let u = &res.body;
    assert_eq!(u["active"], true);
    assert_eq!(u["name"]["familyName"], "Roe");
    assert_eq!(
        u[ENT],
        json!({"department": "Sales", "manager": {"value": "m-1"}})
    );
    assert_eq!(
        u["emails"][1],
        json!({"type": "home", "value": "jane@home.example"})
    );
    // RFC 7644 §3.5.2.3: replace through a value filter; §3.5.2.2: remove through one.
    let res = patch(patch_ops(json!([
        {"op": "replace", "path": "emails[type eq \"work\"].value", "value": "jane.roe@example.com"},
        {"op": "remove", "path": "emails[type eq \"home\"]"},
    ])));
    assert_eq!(
        res.body["emails"],
        json!([{"value": "jane.roe@example.com", "type": "work", "primary": true}])
    );
    // Adding an equal value again does not duplicate it.
    let res = patch(patch_ops(
        json!([{"op": "add", "path": "emails", "value": [{"value": "jane.roe@example.com", "type": "work", "primary": true}]}]),
    ));
    assert_eq!(res.body["emails"].as_array().map(Vec::len), Some(1));
    // A request that changes nothing keeps the version.
    let before = app.req("GET", &path, None).body["meta"]["version"].clone();
    let res = patch(patch_ops(
        json!([{"op": "replace", "path": "active", "value": true}]),
    ));
    assert_eq!(res.body["meta"]["version"], before);
    // The password is write-only: accepted, hashed, never returned.
    let res = patch(patch_ops(
        json!([{"op": "replace", "path": "password", "value": "n3w-Secret!"}]),
    ));
    assert!(res.body.get("password").is_none());
}

fn patch_errors_are_clear_and_change_nothing(b: Backend) {
    let app = TestApp::spawn(b);
    let id = user(&app);
    let path = format!("/Users/{id}");
    let before = app.req("GET", &path, None).body;
    let cases = [
        (
            patch_ops(json!([{"op": "replace", "path": "shoeSize", "value": 44}])),
            "invalidPath",
        ),
        (
            patch_ops(json!([{"op": "replace", "path": "emails[type eq \"work\"", "value": "x"}])),
            "invalidFilter",
        ),
        (patch_ops(json!([{"op": "remove"}])), "noTarget"),
        (
            patch_ops(json!([{"op": "replace", "path": "id", "value": "mine"}])),
            "mutability",
        ),
        (
            patch_ops(json!([{"op": "replace", "path": "groups", "value": []}])),
            "mutability",
        ),
        (
            patch_ops(json!([{"op": "remove", "path": "userName"}])),
            "mutability",
        ),
        (
            patch_ops(json!([{"op": "replace", "path": "active", "value": "maybe"}])),
            "invalidValue",
        ),
        (
            patch_ops(json!([{"op": "launch", "path": "active", "value": true}])),
            "invalidSyntax",
        ),
        (json!({"schemas": [OP]}), "invalidSyntax"),
        (json!([1, 2]), "invalidSyntax"),
        // Atomic: the first operation is valid, the second is not, so neither is applied.
        (
            patch_ops(
                json!([{"op": "replace", "path": "name.givenName", "value": "X"}, {"op": "replace", "path": "nope", "value": 1}]),
            ),
            "invalidPath",
        ),
    ];
    for (body, scim_type) in cases {
        let res = app.req("PATCH", &path, Some(&body));
        assert_eq!(res.body["scimType"], scim_type, "{body}: {:?}", res.body);
        res.assert_error(400, Some(scim_type));
    }
    assert_eq!(
        app.req("GET", &path, None).body,
        before,
        "failed patches changed nothing"
    );
    app.req(
        "PATCH",
        "/Users/no-such-id",
        Some(&patch_ops(
            json!([{"op": "replace", "path": "active", "value": false}]),
        )),
    )
    .assert_error(404, None);
}

fn group_membership_patches(b: Backend) {
    let app = TestApp::spawn(b);
    let [a, c, d] = ["a", "c", "d"].map(|n| app.create_user(&format!("{n}@example.com")));
    let gid = app
        .req("POST", "/Groups", Some(&json!({"displayName": "Eng"})))
        .body["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let path = format!("/Groups/{gid}");
    let patch = |body: Value| {
        let res = app.req("PATCH", &path, Some(&body));
        assert_eq!(res.status, 204, "{body}: {:?}", res.body);
        assert!(res.header("etag").is_some());
    };
    // JumpCloud / Okta: add minimal member objects.
    patch(patch_ops(
        json!([{"op": "add", "path": "members", "value": [{"value": a}, {"value": c, "display": "c@example.com"}]}]),
    ));
    assert_eq!(member_ids(&app, &gid), sorted(vec![a.clone(), c.clone()]));
    // Entra / JumpCloud: remove with a value array and no filter removes only those.
    patch(patch_ops(
        json!([{"op": "Remove", "path": "members", "value": [{"value": a}]}]),
    ));
    assert_eq!(member_ids(&app, &gid), vec![c.clone()]);
    // Okta: remove through a filter; RFC 7644 §3.5.2.2.
    patch(patch_ops(
        json!([{"op": "add", "path": "members", "value": [{"value": a}]}, {"op": "remove", "path": format!("members[value eq \"{c}\"]")}]),
    ));
    assert_eq!(member_ids(&app, &gid), vec![a.clone()]);
    // Okta group push: replace all members; then rename with a path-less replace carrying id.
    patch(patch_ops(
        json!([{"op": "replace", "path": "members", "value": [{"value": c}, {"value": d, "display": "d@example.com"}]}]),
    ));
    assert_eq!(member_ids(&app, &gid), sorted(vec![c.clone(), d.clone()]));
    patch(patch_ops(
        json!([{"op": "replace", "value": {"id": gid, "displayName": "Engineering"}}]),
    ));
    let g = app.req("GET", &path, None).body;
    assert_eq!(g["displayName"], "Engineering");
    assert_eq!(
        app.req("GET", &format!("/Users/{d}"), None).body["groups"][0]["display"],
        "Engineering"
    );
    // A filter on another sub-attribute reads the members it needs.
    patch(patch_ops(
        json!([{"op": "remove", "path": "members[display eq \"d@example.com\"]"}]),
    ));
    assert_eq!(member_ids(&app, &gid), vec![c.clone()]);
    // Unknown members: 400 naming them, nothing changes.
    let res = app.req("PATCH", &path, Some(&patch_ops(json!([{"op": "add", "path": "members", "value": [{"value": a}, {"value": "ghost-1"}]}]))));
    res.assert_error(400, Some("invalidValue"));
    assert!(
        res.body["detail"]
            .as_str()
            .expect("detail")
            .contains("ghost-1")
    );
    assert_eq!(member_ids(&app, &gid), vec![c.clone()]);
    // Asking for attributes gets the group back.
    let res = app.req(
        "PATCH",
        &format!("{path}?attributes=displayName"),
        Some(&patch_ops(
            json!([{"op": "replace", "path": "displayName", "value": "Eng"}]),
        )),
    );
    assert_eq!(res.status, 200);
    assert_eq!(res.body["displayName"], "Eng");
    assert!(res.body.get("members").is_none());
    // Remove all members (RFC 7644 §3.5.2.2).
    patch(patch_ops(json!([{"op": "remove", "path": "members"}])));
    assert!(member_ids(&app, &gid).is_empty());
}

fn etags_guard_writes(b: Backend) {
    let app = TestApp::spawn(b);
    let id = user(&app);
    let path = format!("/Users/{id}");
    let got = app.req("GET", &path, None);
    let etag = got.header("etag").expect("etag").to_owned();
    let with = |method: &str, header: &str, body: Option<&Value>| {
        let body = body.map(Value::to_string);
        let auth = format!("Bearer {}", app.token);
        let body = body.as_deref().map(|b| ("application/scim+json", b));
        app.send(method, &path, Some(&auth), body, &[("If-Match", header)])
            .status
    };
    let deactivate = patch_ops(json!([{"op": "replace", "path": "active", "value": false}]));
    assert_eq!(with("PATCH", "W/\"9\"", Some(&deactivate)), 412);
    assert_eq!(with("PUT", "W/\"9\"", Some(&json!({"userName": "x"}))), 412);
    assert_eq!(with("DELETE", "W/\"9\"", None), 412);
    assert_eq!(
        app.req("GET", &path, None).body,
        got.body,
        "412 changed nothing"
    );
    assert_eq!(with("PATCH", &etag, Some(&deactivate)), 200);
    assert_eq!(
        with("PATCH", &etag, Some(&deactivate)),
        412,
        "the version moved on"
    );
    // If-None-Match with the current version: 304, no body.
    let current = app
        .req("GET", &path, None)
        .header("etag")
        .expect("etag")
        .to_owned();
    let res = app.raw_with("GET", &path, &[("If-None-Match", &current)]);
    assert_eq!(res.status, 304);
    assert_eq!(res.header("etag"), Some(current.as_str()));
    assert_eq!(
        app.raw_with("GET", &path, &[("If-None-Match", "W/\"1\"")])
            .status,
        200
    );
    assert_eq!(with("DELETE", "*", None), 204);
}

fn concurrent_patches_lose_no_update(b: Backend) {
    let app = TestApp::spawn(b);
    let id = user(&app);
    let gid = app
        .req("POST", "/Groups", Some(&json!({"displayName": "Busy"})))
        .body["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let members: Vec<String> = (0..12)
        .map(|i| app.create_user(&format!("m{i}@example.com")))
        .collect();
    std::thread::scope(|s| {
        for (i, m) in members.iter().enumerate() {
            let (app, id, gid) = (&app, &id, &gid);
            s.spawn(move || {
                let e = patch_ops(json!([{"op": "add", "path": "emails", "value": [{"value": format!("e{i}@example.com")}]}]));
                assert_eq!(app.req("PATCH", &format!("/Users/{id}"), Some(&e)).status, 200);
                let g = patch_ops(json!([{"op": "add", "path": "members", "value": [{"value": m}]}]));
                assert_eq!(app.req("PATCH", &format!("/Groups/{gid}"), Some(&g)).status, 204);
            });
        }
    });
    let u = app.req("GET", &format!("/Users/{id}"), None).body;
    assert_eq!(u["emails"].as_array().map(Vec::len), Some(13), "{u}");
    assert_eq!(u["meta"]["version"], "W/\"13\"");
    assert_eq!(member_ids(&app, &gid), sorted(members));
}

fn mixed_concurrent_writers_all_succeed(b: Backend) {
    // Group creates lock their members' rows after their own; user PATCHes lock the user first.
    // Writers of one tenant must queue, not deadlock.
    let app = TestApp::spawn(b);
    let users: Vec<String> = (0..6)
        .map(|i| app.create_user(&format!("w{i}@example.com")))
        .collect();
    std::thread::scope(|s| {
        for round in 0..3 {
            for (i, u) in users.iter().enumerate() {
                let (app, users) = (&app, &users);
                s.spawn(move || {
                    let others: Vec<Value> = users
                        .iter()
                        .filter(|o| *o != u)
                        .map(|o| json!({"value": o}))
                        .collect();
                    let g = app.req(
                        "POST",
                        "/Groups",
                        Some(&json!({"displayName": format!("g{round}-{i}"), "members": others})),
                    );
                    assert_eq!(g.status, 201, "{:?}", g.body);
                    let p = patch_ops(
                        json!([{"op": "replace", "path": "title", "value": format!("t{round}")}]),
                    );
                    let res = app.req("PATCH", &format!("/Users/{u}"), Some(&p));
                    assert_eq!(res.status, 200, "{:?}", res.body);
                });
            }
        }
    });
    assert_eq!(
        app.req("GET", "/Groups?count=0", None).body["totalResults"],
        18
    );
}

fn large_groups_change_one_member_at_a_time(b: Backend) {
    let app = TestApp::spawn(b);
    let gid = app
        .req("POST", "/Groups", Some(&json!({"displayName": "Everyone"})))
        .body["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let tenant = scimitar::service::tenants::list(&app.db).expect("tenants")[0]
        .id
        .clone();
    let series = "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 20000)";
    let bulk = [
        format!(
            "{series} INSERT INTO resources (tenant_id, id, resource_type, user_name_lc, user_name_key, created_at, modified_at, version, doc) \
                 SELECT '{tenant}', 'bulk-u' || i, 'User', 'bulk' || i, 'bulk' || i, i, i, 1, '{{\"userName\":\"bulk' || i || '\"}}' FROM s"
        ),
        format!(
            "{series} INSERT INTO members (tenant_id, group_id, member_id) SELECT '{tenant}', '{gid}', 'bulk-u' || i FROM s"
        ),
    ];
    app.db
        .run_sync(move |c| {
            for sql in &bulk {
                diesel::RunQueryDsl::execute(diesel::sql_query(sql), c)?;
            }
            Ok(())
        })
        .expect("bulk members");
    let newcomer = app.create_user("new@example.com");
    let path = format!("/Groups/{gid}");
    let count = |filter: String| {
        app.req(
            "GET",
            &format!("/Users?count=0&filter={}", encode(&filter)),
            None,
        )
        .body["totalResults"]
            .clone()
    };
    assert_eq!(
        app.req(
            "PATCH",
            &path,
            Some(&patch_ops(
                json!([{"op": "add", "path": "members", "value": [{"value": newcomer}]}])
            ))
        )
        .status,
        204
    );
    assert_eq!(count(format!("groups[value eq \"{gid}\"]")), 20001);
    assert_eq!(
        app.req(
            "PATCH",
            &path,
            Some(&patch_ops(
                json!([{"op": "remove", "path": format!("members[value eq \"bulk-u7\"]")}])
            ))
        )
        .status,
        204
    );
    assert_eq!(count(format!("groups[value eq \"{gid}\"]")), 20000);
    assert_eq!(
        app.req("GET", &format!("{path}?excludedAttributes=members"), None)
            .body["meta"]["version"],
        "W/\"3\""
    );
}

/// RFC 7644 §3.5.2 at an extension URN alone, and §3.5.2.3's noTarget for a replace through a
/// filter that matches nothing.
fn extension_urn_paths_and_unmatched_replaces(b: Backend) {
    let app = TestApp::spawn(b);
    let id = user(&app);
    let path = format!("/Users/{id}");
    let res = app.req(
        "PATCH",
        &path,
        Some(&patch_ops(json!([
            {"op": "add", "path": ENT, "value": {"department": "Tours", "employeeNumber": "7"}},
            {"op": "replace", "path": ENT, "value": {"department": "Sales"}},
        ]))),
    );
    assert_eq!(res.status, 200, "{:?}", res.body);
    assert_eq!(
        res.body[ENT],
        json!({"department": "Sales", "employeeNumber": "7"})
    );
    let res = app.req(
        "PATCH",
        &path,
        Some(&patch_ops(json!([{"op": "remove", "path": ENT}]))),
    );
    assert_eq!(res.status, 200, "{:?}", res.body);
    assert_eq!(res.body.get(ENT), None, "{:?}", res.body);

    let before = app.req("GET", &path, None);
    let res = app.req(
        "PATCH",
        &path,
        Some(&patch_ops(json!([
            {"op": "replace", "path": "displayName", "value": "changed"},
            {"op": "replace", "path": "emails[value eq \"nobody@example.com\"].type", "value": "home"},
        ]))),
    );
    res.assert_error(400, Some("noTarget"));
    assert_eq!(
        app.req("GET", &path, None).body,
        before.body,
        "all or nothing"
    );
}

on_both_backends!(
    users_patch_in_every_dialect,
    extension_urn_paths_and_unmatched_replaces,
    patch_errors_are_clear_and_change_nothing,
    group_membership_patches,
    etags_guard_writes,
    concurrent_patches_lose_no_update,
    mixed_concurrent_writers_all_succeed,
    large_groups_change_one_member_at_a_time,
);
