//! Discovery documents (RFC 7644 §4) describe exactly what the server does.

use crate::helpers::{Backend, TestApp};
use crate::on_both_backends;

fn service_provider_config_is_accurate_and_public(b: Backend) {
    let app = TestApp::spawn(b);
    let res = app.req_as("", "GET", "/ServiceProviderConfig", None);
    assert_eq!(res.status, 200);
    assert_eq!(res.header("content-type"), Some("application/scim+json"));
    let c = &res.body;
    assert_eq!(
        c["schemas"][0],
        "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
    );
    assert_eq!(
        c["bulk"],
        serde_json::json!({"supported": true, "maxOperations": 1000, "maxPayloadSize": 4194304})
    );
    assert_eq!(c["patch"]["supported"], true);
    assert_eq!(c["etag"]["supported"], true);
    assert_eq!(c["sort"]["supported"], true);
    assert_eq!(c["pagination"]["cursor"], true);
    assert_eq!(c["pagination"]["index"], true);
    assert_eq!(c["pagination"]["maxPageSize"], 1000);
    assert_eq!(
        c["filter"],
        serde_json::json!({"supported": true, "maxResults": 1000})
    );
    assert_eq!(c["authenticationSchemes"][0]["type"], "oauthbearertoken");
    assert_eq!(
        c["meta"]["location"],
        format!("{}/ServiceProviderConfig", app.base)
    );
}

fn resource_types_list_users_and_groups(b: Backend) {
    let app = TestApp::spawn(b);
    let res = app.req("GET", "/ResourceTypes", None);
    assert_eq!(res.status, 200);
    // User and Group, then the read-only Role and Entitlement (draft-ietf-scim-roles-entitlements).
    assert_eq!(res.body["totalResults"], 4);
    let user = app.req("GET", "/ResourceTypes/User", None).body;
    assert_eq!(user["endpoint"], "/Users");
    assert_eq!(user["schema"], "urn:ietf:params:scim:schemas:core:2.0:User");
    assert_eq!(
        user["schemaExtensions"][0]["schema"],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
    );
    assert_eq!(
        app.req("GET", "/ResourceTypes/Group", None).body["endpoint"],
        "/Groups"
    );
    app.req("GET", "/ResourceTypes/Printer", None)
        .assert_error(404, None);
}

fn schemas_come_from_the_schema_data(b: Backend) {
    let app = TestApp::spawn(b);
    let res = app.req("GET", "/Schemas", None);
    assert_eq!(res.status, 200);
    assert_eq!(res.body["totalResults"], 5);
    let user = app
        .req(
            "GET",
            "/Schemas/urn:ietf:params:scim:schemas:core:2.0:User",
            None,
        )
        .body;
    let names: Vec<&str> = user["attributes"]
        .as_array()
        .expect("attributes")
        .iter()
        .filter_map(|a| a["name"].as_str())
        .collect();
    // Every attribute of RFC 7643 §4.1.
    for want in [
        "userName",
        "name",
        "displayName",
        "nickName",
        "profileUrl",
        "title",
        "userType",
        "preferredLanguage",
        "locale",
        "timezone",
        "active",
        "password",
        "emails",
        "phoneNumbers",
        "ims",
        "photos",
        "addresses",
        "groups",
        "entitlements",
        "roles",
        "x509Certificates",
    ] {
        assert!(names.contains(&want), "missing {want}");
    }
    let attr = |n: &str| {
        user["attributes"]
            .as_array()
            .expect("attrs")
            .iter()
            .find(|a| a["name"] == n)
            .cloned()
            .expect(n)
    };
    assert_eq!(attr("password")["mutability"], "writeOnly");
    assert_eq!(attr("password")["returned"], "never");
    assert_eq!(attr("userName")["uniqueness"], "server");
    assert_eq!(attr("userName")["required"], true);
    assert_eq!(attr("groups")["mutability"], "readOnly");
    assert_eq!(attr("emails")["multiValued"], true);
    let group = app
        .req(
            "GET",
            "/Schemas/urn:ietf:params:scim:schemas:core:2.0:Group",
            None,
        )
        .body;
    assert_eq!(group["attributes"][1]["name"], "members");
    assert_eq!(
        group["attributes"][1]["subAttributes"][1]["referenceTypes"],
        serde_json::json!(["User", "Group"])
    );
    let ent = app.req(
        "GET",
        "/Schemas/urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
        None,
    );
    assert_eq!(ent.status, 200);
    app.req("GET", "/Schemas/urn:example:nope", None)
        .assert_error(404, None);
}

on_both_backends!(
    service_provider_config_is_accurate_and_public,
    resource_types_list_users_and_groups,
    schemas_come_from_the_schema_data,
);
