//! /Users: create, read, list, replace, delete.

use diesel::prelude::*;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp};
use crate::on_both_backends;

const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// A user as JumpCloud's core mapping table sends it (shared/idp-requests.md).
fn jumpcloud_user() -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENT],
        "userName": "jdoe@example.com",
        "externalId": "5f1b7c2e9d3a4b0012345678",
        "name": {"givenName": "Jane", "familyName": "Doe"},
        "displayName": "Jane Doe",
        "emails": [{"value": "jdoe@example.com", "type": "work", "primary": true}],
        "active": true,
        "title": "Engineer",
        "phoneNumbers": [{"value": "+1 555 0100", "type": "work"}],
        "addresses": [{"type": "work", "streetAddress": "1 Main St", "locality": "Boulder", "country": "US"}],
        "password": "correct horse battery staple",
        "id": "client-chosen-id",
        ENT: {"employeeNumber": "42", "department": "R&D", "manager": {"value": "m-1"}},
    })
}

fn creates_and_reads_a_user(b: Backend) {
    let app = TestApp::spawn(b);
    let res = app.req("POST", "/Users", Some(&jumpcloud_user()));
    assert_eq!(res.status, 201, "{:?}", res.body);
    let u = &res.body;
    let id = u["id"].as_str().expect("id");
    assert_ne!(id, "client-chosen-id", "id is assigned by the server");
    assert_eq!(u["userName"], "jdoe@example.com");
    assert_eq!(u["name"]["familyName"], "Doe");
    assert_eq!(u[ENT]["department"], "R&D");
    assert_eq!(
        u["schemas"],
        json!(["urn:ietf:params:scim:schemas:core:2.0:User", ENT])
    );
    assert!(u.get("password").is_none(), "password is never returned");
    let location = format!("{}/Users/{id}", app.base);
    assert_eq!(res.header("location"), Some(location.as_str()));
    assert_eq!(u["meta"]["location"], location);
    assert_eq!(u["meta"]["resourceType"], "User");
    assert_eq!(u["meta"]["version"], "W/\"1\"");
    assert_eq!(res.header("etag"), Some("W/\"1\""));
    assert_eq!(u["meta"]["created"], u["meta"]["lastModified"]);
    assert!(
        u["meta"]["created"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z') && t.contains('T'))
    );

    let got = app.req("GET", &format!("/Users/{id}"), None);
    assert_eq!(got.status, 200);
    assert_eq!(got.header("etag"), Some("W/\"1\""));
    assert_eq!(&got.body, u);
}

fn password_is_stored_only_as_an_argon2id_hash(b: Backend) {
    use scimitar::storage::schema::resources;
    let app = TestApp::spawn(b);
    let id = app.req("POST", "/Users", Some(&jumpcloud_user())).body["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let (hash, doc): (Option<String>, String) = app
        .db
        .run_sync(move |c| {
            Ok(resources::table
                .filter(resources::id.eq(&id))
                .select((resources::password_hash, resources::doc))
                .first(c)?)
        })
        .expect("row");
    assert!(
        hash.as_deref().is_some_and(|h| h.starts_with("$argon2id$")),
        "{hash:?}"
    );
    assert!(!doc.contains("battery"), "{doc}");
}

fn user_name_is_unique_per_tenant_ignoring_case(b: Backend) {
    let app = TestApp::spawn(b);
    app.create_user("Casey@Example.com");
    let res = app.req(
        "POST",
        "/Users",
        Some(&json!({"userName": "casey@example.COM"})),
    );
    res.assert_error(409, Some("uniqueness"));
    assert!(
        res.body["detail"]
            .as_str()
            .expect("detail")
            .contains("casey@example.COM")
    );
    assert_eq!(
        app.req("GET", "/Users", None).body["totalResults"],
        1,
        "the failed create changed nothing"
    );
}

fn rejects_invalid_users_and_changes_nothing(b: Backend) {
    let app = TestApp::spawn(b);
    let cases = [
        (json!({"name": {"givenName": "x"}}), "invalidValue"),
        (json!({"userName": ""}), "invalidValue"),
        (
            json!({"userName": "a", "emails": "a@example.com"}),
            "invalidValue",
        ),
        (
            json!({"userName": "a", "active": "perhaps"}),
            "invalidValue",
        ),
        (json!({"userName": "a", "shoeSize": 44}), "invalidValue"),
        (json!(["not", "an", "object"]), "invalidSyntax"),
    ];
    for (body, scim_type) in cases {
        app.req("POST", "/Users", Some(&body))
            .assert_error(400, Some(scim_type));
    }
    assert_eq!(app.req("GET", "/Users", None).body["totalResults"], 0);
}

fn put_replaces_the_whole_user(b: Backend) {
    let app = TestApp::spawn(b);
    let created = app.req("POST", "/Users", Some(&jumpcloud_user())).body;
    let id = created["id"].as_str().expect("id");
    let res = app.req(
        "PUT",
        &format!("/Users/{id}"),
        Some(&json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "id": id,
            "userName": "jane.doe@example.com",
            "name": {"givenName": "Jane", "familyName": "Roe"},
            "active": false,
            "meta": {"version": "W/\"77\""},
        })),
    );
    assert_eq!(res.status, 200, "{:?}", res.body);
    let u = &res.body;
    assert_eq!(u["userName"], "jane.doe@example.com");
    assert_eq!(u["active"], false);
    assert!(
        u.get("emails").is_none() && u.get("title").is_none() && u.get(ENT).is_none(),
        "left-out attributes are cleared: {u}"
    );
    assert_eq!(
        u["schemas"],
        json!(["urn:ietf:params:scim:schemas:core:2.0:User"])
    );
    assert_eq!(u["meta"]["version"], "W/\"2\"");
    assert_eq!(res.header("etag"), Some("W/\"2\""));
    assert_eq!(u["meta"]["created"], created["meta"]["created"]);
    assert_eq!(app.req("GET", &format!("/Users/{id}"), None).body, *u);

    app.create_user("taken@example.com");
    app.req(
        "PUT",
        &format!("/Users/{id}"),
        Some(&json!({"userName": "TAKEN@example.com"})),
    )
    .assert_error(409, Some("uniqueness"));
    app.req("PUT", "/Users/no-such-id", Some(&json!({"userName": "x"})))
        .assert_error(404, None);
    app.req(
        "PUT",
        &format!("/Users/{id}"),
        Some(&json!({"displayName": "no userName"})),
    )
    .assert_error(400, Some("invalidValue"));
    assert_eq!(
        app.req("GET", &format!("/Users/{id}"), None).body,
        *u,
        "failed replaces changed nothing"
    );
}

fn deletes_a_user(b: Backend) {
    let app = TestApp::spawn(b);
    let id = app.create_user("gone@example.com");
    let res = app.req("DELETE", &format!("/Users/{id}"), None);
    assert_eq!(res.status, 204);
    assert_eq!(res.body, Value::Null);
    app.req("GET", &format!("/Users/{id}"), None)
        .assert_error(404, None);
    app.req("DELETE", &format!("/Users/{id}"), None)
        .assert_error(404, None);
    // The userName is free again.
    app.create_user("gone@example.com");
}

fn lists_users_in_pages(b: Backend) {
    let app = TestApp::spawn(b);
    let ids: Vec<String> = (0..5)
        .map(|i| app.create_user(&format!("user{i}@example.com")))
        .collect();
    let all = app.req("GET", "/Users", None).body;
    assert_eq!(
        all["schemas"][0],
        "urn:ietf:params:scim:api:messages:2.0:ListResponse"
    );
    assert_eq!(all["totalResults"], 5);
    assert_eq!(all["itemsPerPage"], 5);
    assert_eq!(all["startIndex"], 1);
    let listed: Vec<&str> = all["Resources"]
        .as_array()
        .expect("Resources")
        .iter()
        .filter_map(|r| r["id"].as_str())
        .collect();
    assert_eq!(
        listed,
        ids.iter().map(String::as_str).collect::<Vec<_>>(),
        "creation order"
    );

    let page = app.req("GET", "/Users?startIndex=2&count=2", None).body;
    assert_eq!(
        (
            page["totalResults"].as_i64(),
            page["startIndex"].as_i64(),
            page["itemsPerPage"].as_i64()
        ),
        (Some(5), Some(2), Some(2))
    );
    assert_eq!(page["Resources"][0]["id"], ids[1].as_str());
    let only_total = app.req("GET", "/Users?count=0", None).body;
    assert_eq!(only_total["totalResults"], 5);
    assert_eq!(only_total["Resources"], json!([]));
    // RFC 7644 §3.4.2.4: a startIndex below 1 is read as 1; beyond the end gives an empty page.
    assert_eq!(
        app.req("GET", "/Users?startIndex=0&count=1", None).body["Resources"][0]["id"],
        ids[0].as_str()
    );
    let beyond = app.req("GET", "/Users?startIndex=99", None).body;
    assert_eq!(
        (
            beyond["totalResults"].as_i64(),
            beyond["itemsPerPage"].as_i64()
        ),
        (Some(5), Some(0))
    );
    app.req("GET", "/Users?count=lots", None)
        .assert_error(400, Some("invalidValue"));
}

on_both_backends!(
    creates_and_reads_a_user,
    password_is_stored_only_as_an_argon2id_hash,
    user_name_is_unique_per_tenant_ignoring_case,
    rejects_invalid_users_and_changes_nothing,
    put_replaces_the_whole_user,
    deletes_a_user,
    lists_users_in_pages,
);
