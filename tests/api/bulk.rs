//! POST /Bulk (RFC 7644 §3.7): bulkId references, failOnErrors, the advertised limits, and
//! each operation's own result, events and provisioning log entry.

use std::time::{Duration, Instant};

use scimitar::admin_token::mint;
use scimitar::config::BulkLimits;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, admin_auth, eventually};
use crate::on_both_backends;

const BULK_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
const BULK_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";

fn bulk(app: &TestApp, operations: Value) -> Vec<Value> {
    let res = app.req(
        "POST",
        "/Bulk",
        Some(&json!({"schemas": [BULK_REQUEST], "Operations": operations})),
    );
    assert_eq!(res.status, 200, "{:?}", res.body);
    assert_eq!(res.body["schemas"], json!([BULK_RESPONSE]));
    res.body["Operations"]
        .as_array()
        .expect("Operations")
        .clone()
}

fn user(bulk_id: &str, user_name: &str) -> Value {
    json!({"method": "POST", "bulkId": bulk_id, "path": "/Users",
           "data": {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": user_name}})
}

fn statuses(results: &[Value]) -> Vec<&str> {
    results
        .iter()
        .map(|r| r["status"].as_str().expect("status is a string"))
        .collect()
}

/// The id at the end of a result's location.
fn id_of(result: &Value) -> String {
    let location = result["location"].as_str().expect("location");
    location.rsplit('/').next().expect("id").to_owned()
}

fn member_ids(group: &Value) -> Vec<String> {
    let mut ids: Vec<String> = group["members"]
        .as_array()
        .map(|m| {
            m.iter()
                .map(|m| m["value"].as_str().expect("value").to_owned())
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids
}

fn an_initial_sync_resolves_forward_references(b: Backend) {
    let app = TestApp::spawn_with(b, |s| s.admin = Some(admin_auth()));
    let leaver = app.create_user("leaver@example.com");
    // RFC 7644 §3.7.2: the group comes first and names users created after it.
    let results = bulk(
        &app,
        json!([
            {"method": "POST", "bulkId": "eng", "path": "/Groups",
             "data": {"displayName": "Engineering",
                      "members": [{"value": "bulkId:ann", "type": "User"}, {"value": "bulkId:bob"}]}},
            user("ann", "ann@example.com"),
            user("bob", "bob@example.com"),
            {"method": "PATCH", "path": "/Groups/bulkId:eng",
             "data": {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                      "Operations": [{"op": "add", "path": "members", "value": [{"value": leaver}]}]}},
            {"method": "PUT", "path": "/Users/bulkId:ann",
             "data": {"userName": "ann@example.com", "displayName": "Ann"}},
            {"method": "DELETE", "path": format!("/Users/{leaver}"), "version": "W/\"1\""},
        ]),
    );
    assert_eq!(
        statuses(&results),
        ["201", "201", "201", "200", "200", "204"],
        "{results:?}"
    );
    // Results come in request order, each echoing its method and bulkId.
    assert_eq!(results[0]["bulkId"], "eng");
    assert_eq!(results[0]["method"], "POST");
    assert_eq!(results[3]["method"], "PATCH");
    assert_eq!(results[5]["method"], "DELETE");
    let (eng, ann, bob) = (id_of(&results[0]), id_of(&results[1]), id_of(&results[2]));
    assert_eq!(
        results[0]["location"],
        format!("{}/Groups/{eng}", app.base),
        "{results:?}"
    );
    assert_eq!(results[1]["version"], "W/\"1\"");
    assert_eq!(
        results[4]["version"], "W/\"2\"",
        "the PUT wrote a second version"
    );
    assert_eq!(
        results[5]["location"],
        format!("{}/Users/{leaver}", app.base)
    );
    assert!(
        results.iter().all(|r| r.get("response").is_none()),
        "{results:?}"
    );

    let group = app.req("GET", &format!("/Groups/{eng}"), None).body;
    let mut want = vec![ann.clone(), bob.clone()];
    want.sort();
    // The leaver was added by the PATCH, then left every group when deleted.
    assert_eq!(member_ids(&group), want, "{group}");
    let ann_now = app.req("GET", &format!("/Users/{ann}"), None).body;
    assert_eq!(ann_now["displayName"], "Ann");
    assert_eq!(ann_now["groups"][0]["value"], eng.as_str());
    assert_eq!(
        app.req("GET", &format!("/Users/{leaver}"), None).status,
        404
    );

    // Each operation recorded its own events, as its own request would have.
    let tenant = scimitar::service::tenants::get(&app.db, "acme")
        .expect("tenant")
        .id;
    let jwt = mint(&admin_auth(), &tenant, Duration::from_secs(300)).expect("mint");
    let events = app.admin(&jwt, "GET", "/events?limit=100", None).body;
    let types: Vec<&str> = events["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["type"].as_str().expect("type"))
        .collect();
    for expected in [
        "user.created",
        "group.created",
        "group.member_added",
        "user.updated",
        "user.deleted",
        "group.member_removed",
    ] {
        assert!(types.contains(&expected), "{expected} in {types:?}");
    }
    assert_eq!(
        types.iter().filter(|t| **t == "user.created").count(),
        3,
        "{types:?}"
    );
    // …and its own provisioning log entry, beside the one of the bulk request itself.
    let logs = eventually(Duration::from_secs(10), "7 bulk log entries", || {
        let res = app.admin(&jwt, "GET", &format!("/tenants/{tenant}/logs"), None);
        let entries = res.body["entries"].as_array().cloned().unwrap_or_default();
        (entries.len() >= 8).then_some(entries)
    });
    let lines: Vec<String> = logs
        .iter()
        .map(|e| format!("{} {} {}", e["method"], e["path"], e["status"]))
        .collect();
    for expected in [
        "\"POST\" \"/scim/v2/Bulk\" 200".to_owned(),
        "\"POST\" \"/scim/v2/Groups\" 201".to_owned(),
        format!("\"PATCH\" \"/scim/v2/Groups/{eng}\" 200"),
        format!("\"PUT\" \"/scim/v2/Users/{ann}\" 200"),
        format!("\"DELETE\" \"/scim/v2/Users/{leaver}\" 204"),
    ] {
        assert!(lines.contains(&expected), "{expected} in {lines:?}");
    }
    let created_group = logs
        .iter()
        .find(|e| e["path"] == "/scim/v2/Groups")
        .expect("the group's POST");
    assert_eq!(created_group["resource_id"], eng.as_str());
    assert_eq!(created_group["resource_type"], "Group");
}

fn each_operation_fails_alone(b: Backend) {
    let app = TestApp::spawn(b);
    let other = app.new_tenant("globex");
    let theirs = {
        let res = app.req_as(
            &other,
            "POST",
            "/Users",
            Some(&json!({"userName": "theirs"})),
        );
        res.body["id"].as_str().expect("id").to_owned()
    };
    let mine = app.create_user("mine@example.com");
    let results = bulk(
        &app,
        json!([
            user("a", "a@example.com"),
            user("dup", "A@example.com"),
            {"method": "POST", "bulkId": "g", "path": "/Groups",
             "data": {"displayName": "G", "members": [{"value": "bulkId:dup"}]}},
            {"method": "POST", "bulkId": "nameless", "path": "/Users", "data": {"displayName": "no userName"}},
            {"method": "PUT", "path": format!("/Users/{theirs}"), "data": {"userName": "stolen"}},
            {"method": "PATCH", "path": format!("/Users/{mine}"), "version": "W/\"7\"",
             "data": {"Operations": [{"op": "replace", "path": "active", "value": false}]}},
            {"method": "GET", "path": "/Users"},
            {"method": "POST", "bulkId": "g2", "path": "/Groups",
             "data": {"displayName": "G2", "members": [{"value": theirs}]}},
            user("b", "b@example.com"),
        ]),
    );
    assert_eq!(
        statuses(&results),
        [
            "201", "409", "409", "400", "404", "412", "400", "400", "201"
        ],
        "{results:?}"
    );
    let error = |i: usize| &results[i]["response"];
    assert_eq!(error(1)["scimType"], "uniqueness");
    assert_eq!(error(1)["status"], "409");
    assert!(
        error(2)["detail"]
            .as_str()
            .is_some_and(|d| d.contains("bulkId \"dup\" failed")),
        "{results:?}"
    );
    assert_eq!(error(3)["scimType"], "invalidValue");
    assert_eq!(error(6)["scimType"], "invalidSyntax");
    assert_eq!(error(7)["scimType"], "invalidValue");
    // A failed POST has no location; every other operation names its resource.
    assert!(results[1].get("location").is_none(), "{results:?}");
    assert_eq!(results[5]["location"], format!("{}/Users/{mine}", app.base));
    // Nothing of a failed operation was written, nor anything of another tenant touched.
    let users = app.req("GET", "/Users", None).body;
    assert_eq!(users["totalResults"], 3, "{users}");
    assert_eq!(app.req("GET", "/Groups", None).body["totalResults"], 0);
    assert_eq!(
        app.req("GET", &format!("/Users/{mine}"), None).body["active"],
        Value::Null
    );
    let still = app.req_as(&other, "GET", &format!("/Users/{theirs}"), None);
    assert_eq!(still.body["userName"], "theirs");
}

fn fail_on_errors_stops_after_that_many_errors(b: Backend) {
    let app = TestApp::spawn(b);
    let body = |fail: u64| {
        json!({"schemas": [BULK_REQUEST], "failOnErrors": fail, "Operations": [
            user("1", "one@example.com"),
            user("2", "one@example.com"),
            user("3", "three@example.com"),
            {"method": "DELETE", "path": "/Users/missing"},
            user("5", "five@example.com"),
        ]})
    };
    let res = app.req("POST", "/Bulk", Some(&body(2)));
    assert_eq!(res.status, 200, "{:?}", res.body);
    let results = res.body["Operations"].as_array().expect("Operations");
    // RFC 7644 §3.7.3: the second error ends the request; what came after it did not run.
    assert_eq!(
        statuses(results),
        ["201", "409", "201", "404"],
        "{results:?}"
    );
    let users = app.req("GET", "/Users", None).body;
    assert_eq!(users["totalResults"], 2, "{users}");
    let res = app.req("POST", "/Bulk", Some(&body(1)));
    let results = res.body["Operations"].as_array().expect("Operations");
    // Everything conflicts now that both users exist: the first error stops it.
    assert_eq!(statuses(results), ["409"], "{results:?}");
}

fn circular_and_unknown_references_are_refused(b: Backend) {
    let app = TestApp::spawn(b);
    // RFC 7644 §3.7.1's example: two groups that are members of each other.
    let results = bulk(
        &app,
        json!([
            {"method": "POST", "bulkId": "qwerty", "path": "/Groups",
             "data": {"displayName": "Group A", "members": [{"type": "Group", "value": "bulkId:ytrewq"}]}},
            {"method": "POST", "bulkId": "ytrewq", "path": "/Groups",
             "data": {"displayName": "Group B", "members": [{"type": "Group", "value": "bulkId:qwerty"}]}},
            {"method": "PATCH", "path": "/Users/bulkId:nobody", "data": {"Operations": []}},
            user("fine", "fine@example.com"),
        ]),
    );
    assert_eq!(
        statuses(&results),
        ["409", "409", "400", "201"],
        "{results:?}"
    );
    assert!(
        results[0]["response"]["detail"]
            .as_str()
            .is_some_and(|d| d.contains("circular")),
        "{results:?}"
    );
    assert!(
        results[2]["response"]["detail"]
            .as_str()
            .is_some_and(|d| d.contains("bulkId nobody")),
        "{results:?}"
    );
    assert_eq!(app.req("GET", "/Groups", None).body["totalResults"], 0);
}

fn limits_are_advertised_and_enforced(b: Backend) {
    let app = TestApp::spawn_with(b, |s| {
        s.bulk = BulkLimits {
            max_operations: 3,
            max_payload_bytes: 2_000,
        };
    });
    let config = app.req("GET", "/ServiceProviderConfig", None).body;
    assert_eq!(
        config["bulk"],
        json!({"supported": true, "maxOperations": 3, "maxPayloadSize": 2000})
    );
    let four: Vec<Value> = (0..4)
        .map(|i| user(&i.to_string(), &format!("u{i}")))
        .collect();
    let res = app.req(
        "POST",
        "/Bulk",
        Some(&json!({"schemas": [BULK_REQUEST], "Operations": four})),
    );
    res.assert_error(413, None);
    assert!(
        res.body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("maxOperations of 3")),
        "{:?}",
        res.body
    );
    let long = "x".repeat(2_100);
    let res = app.req(
        "POST",
        "/Bulk",
        Some(&json!({"schemas": [BULK_REQUEST], "Operations": [user("big", &long)]})),
    );
    res.assert_error(413, None);
    assert!(
        res.body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("2000")),
        "{:?}",
        res.body
    );
    // The bulk limit is the bulk route's own: a single request may still be larger.
    let single = app.req(
        "POST",
        "/Users",
        Some(&json!({"userName": "single", "displayName": long})),
    );
    assert_eq!(single.status, 201, "{:?}", single.body);
    assert_eq!(app.req("GET", "/Users", None).body["totalResults"], 1);

    let off = TestApp::spawn_with(b, |s| s.bulk.max_operations = 0);
    let config = off.req("GET", "/ServiceProviderConfig", None).body;
    assert_eq!(config["bulk"]["supported"], false);
    off.req(
        "POST",
        "/Bulk",
        Some(&json!({"schemas": [BULK_REQUEST], "Operations": [user("x", "x")]})),
    )
    .assert_error(501, None);
}

fn malformed_requests_are_refused_whole(b: Backend) {
    let app = TestApp::spawn(b);
    let cases = [
        (json!([]), "invalidSyntax"),
        (json!({"schemas": [BULK_REQUEST]}), "invalidSyntax"),
        (
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": []}),
            "invalidSyntax",
        ),
        (
            json!({"schemas": [BULK_REQUEST], "failOnErrors": 0, "Operations": []}),
            "invalidValue",
        ),
        (
            json!({"schemas": [BULK_REQUEST], "Operations": [user("x", "x"), user("x", "y")]}),
            "invalidValue",
        ),
    ];
    for (body, scim_type) in cases {
        app.req("POST", "/Bulk", Some(&body))
            .assert_error(400, Some(scim_type));
    }
    assert_eq!(app.req("GET", "/Users", None).body["totalResults"], 0);
    app.req("GET", "/Bulk", None).assert_error(405, None);
    app.req_as("", "POST", "/Bulk", Some(&json!({"Operations": []})))
        .assert_error(401, None);
    let empty = bulk(&app, json!([]));
    assert!(empty.is_empty());
}

fn operations_count_against_the_tenant_rate_limit(b: Backend) {
    let app = TestApp::spawn_with(b, |s| s.rate_limits.tenant_per_second = 2);
    // The request takes a token and so does each operation after the first: eight in all. The
    // burst covers four; the last four wait for the bucket to refill instead of failing.
    let ops: Vec<Value> = (0..8)
        .map(|i| user(&i.to_string(), &format!("paced{i}")))
        .collect();
    let started = Instant::now();
    let results = bulk(&app, Value::Array(ops));
    assert_eq!(statuses(&results), ["201"; 8], "{results:?}");
    // At 2 tokens a second, four refills cannot take less than 2 s, however fast the machine.
    assert!(
        started.elapsed() >= Duration::from_millis(1_900),
        "{:?}",
        started.elapsed()
    );
}

on_both_backends!(
    an_initial_sync_resolves_forward_references,
    each_operation_fails_alone,
    fail_on_errors_stops_after_that_many_errors,
    circular_and_unknown_references_are_refused,
    limits_are_advertised_and_enforced,
    malformed_requests_are_refused_whole,
    operations_count_against_the_tenant_rate_limit,
);
