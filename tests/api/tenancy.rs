//! The bearer token alone selects the tenant; no tenant reaches another's resources.

use serde_json::json;

use crate::helpers::{Backend, TestApp};
use crate::on_both_backends;
use scimitar::service::tenants;

fn a_tenant_cannot_reach_another_tenants_resources(b: Backend) {
    let app = TestApp::spawn(b);
    let user = app.create_user("shared@example.com");
    let group = app
        .req(
            "POST",
            "/Groups",
            Some(&json!({"displayName": "Eng", "members": [{"value": user}]})),
        )
        .body["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let other = app.new_tenant("globex");

    for path in ["/Users", "/Groups"] {
        let list = app.req_as(&other, "GET", path, None).body;
        assert_eq!(list["totalResults"], 0, "{path}");
    }
    let lookups = [
        ("/Users", "userName eq \"shared@example.com\"".to_owned()),
        ("/Users", format!("id eq \"{user}\"")),
        ("/Users", format!("groups[value eq \"{group}\"]")),
        ("/Groups", "displayName eq \"Eng\"".to_owned()),
        ("/Groups", format!("members[value eq \"{user}\"]")),
    ];
    for (path, filter) in &lookups {
        let url = format!("{path}?filter={}", crate::filters::encode(filter));
        assert_eq!(
            app.req("GET", &url, None).body["totalResults"],
            1,
            "the owner finds it: {filter}"
        );
        assert_eq!(
            app.req_as(&other, "GET", &url, None).body["totalResults"],
            0,
            "{filter}"
        );
    }
    let steal = [
        ("/Users", &user, json!({"userName": "stolen"})),
        ("/Groups", &group, json!({"displayName": "stolen"})),
    ];
    for (path, id, body) in steal {
        app.req_as(&other, "GET", &format!("{path}/{id}"), None)
            .assert_error(404, None);
        app.req_as(&other, "PUT", &format!("{path}/{id}"), Some(&body))
            .assert_error(404, None);
        app.req_as(&other, "DELETE", &format!("{path}/{id}"), None)
            .assert_error(404, None);
    }
    // Another tenant cannot add the first tenant's user to its own group either.
    app.req_as(
        &other,
        "POST",
        "/Groups",
        Some(&json!({"displayName": "Mine", "members": [{"value": user}]})),
    )
    .assert_error(400, Some("invalidValue"));

    // The same userName lives independently in both tenants.
    let res = app.req_as(
        &other,
        "POST",
        "/Users",
        Some(&json!({"userName": "SHARED@example.com"})),
    );
    assert_eq!(res.status, 201, "{:?}", res.body);
    assert_eq!(
        app.req_as(&other, "GET", "/Users", None).body["totalResults"],
        1
    );

    // And the first tenant still has exactly what it had.
    let mine = app.req("GET", &format!("/Users/{user}"), None).body;
    assert_eq!(mine["userName"], "shared@example.com");
    assert_eq!(mine["groups"][0]["value"], group.as_str());
    assert_eq!(app.req("GET", "/Users", None).body["totalResults"], 1);
}

fn rotating_the_secret_stops_the_old_token_at_once(b: Backend) {
    let app = TestApp::spawn(b);
    // Warm the verification cache with the old token first.
    for _ in 0..3 {
        assert_eq!(app.req("GET", "/Users", None).status, 200);
    }
    let new = tenants::rotate_secret(&app.db, "acme", None)
        .expect("rotate")
        .token
        .reveal();
    let res = app.req("GET", "/Users", None);
    res.assert_error(401, None);
    assert_eq!(
        res.header("www-authenticate"),
        Some("Bearer realm=\"scim\"")
    );
    assert_eq!(app.req_as(&new, "GET", "/Users", None).status, 200);
}

fn deleting_a_tenant_removes_its_data_and_access(b: Backend) {
    let app = TestApp::spawn(b);
    app.create_user("a@example.com");
    let other = app.new_tenant("globex");
    tenants::delete(&app.db, "acme").expect("delete");
    app.req("GET", "/Users", None).assert_error(401, None);
    assert_eq!(app.req_as(&other, "GET", "/Users", None).status, 200);
    assert!(tenants::rotate_secret(&app.db, "acme", None).is_err());
}

on_both_backends!(
    a_tenant_cannot_reach_another_tenants_resources,
    rotating_the_secret_stops_the_old_token_at_once,
    deleting_a_tenant_removes_its_data_and_access,
);
