//! What the app offers a tenant's users, readable by its IdP (draft-ietf-scim-roles-entitlements
//! -01): `/Roles` from the group-to-role mapping, `/Entitlements` from what the tenant's admin
//! configured, the defaults as `primary`, and both in discovery. The library-mode catalog is in
//! `library.rs`.

use std::time::Duration;

use scimitar::admin_token::mint;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, admin_auth};
use crate::on_both_backends;

const ROLE_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:Role";
const ENTITLEMENT_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:Entitlement";

fn spawn(b: Backend) -> TestApp {
    TestApp::spawn_with(b, |s| {
        s.admin = Some(admin_auth());
        s.max_entitlements = 3;
    })
}

/// The admin JWT for `acme` and its path under `/admin/v1`.
fn acme(app: &TestApp) -> (String, String) {
    let id = scimitar::service::tenants::get(&app.db, "acme")
        .expect("tenant")
        .id;
    let jwt = mint(&admin_auth(), &id, Duration::from_secs(300)).expect("mint");
    (jwt, format!("/tenants/{id}"))
}

fn map_roles(app: &TestApp) {
    let (jwt, tenant) = acme(app);
    let res = app.admin(
        &jwt,
        "PUT",
        &format!("{tenant}/role-mappings"),
        Some(&json!({"default_role": "member", "mappings": [
            {"group": "Engineering", "role": "admin"},
            {"group": "Support", "role": "member"},
        ]})),
    );
    assert_eq!(res.status, 200, "{:?}", res.body);
}

/// The Salesforce connector's default profile (seed 004: users are created with
/// `entitlements[primary=true]` = "Standard User"), and another profile.
fn salesforce_profiles() -> Value {
    json!({"entitlements": [
        {"value": "Standard User", "type": "Profile", "default": true},
        {"value": "System Administrator", "display": "System administrator", "type": "Profile"},
    ]})
}

fn values(list: &Value) -> Vec<&str> {
    list["Resources"]
        .as_array()
        .expect("Resources")
        .iter()
        .map(|r| r["value"].as_str().expect("value"))
        .collect()
}

fn discovery_describes_roles_and_entitlements(b: Backend) {
    let app = TestApp::spawn(b);
    let config = app.req_as("", "GET", "/ServiceProviderConfig", None).body;
    assert_eq!(
        config["RolesAndEntitlements"],
        json!({
            "roles": {"supported": true, "multipleRolesSupported": true,
                "primarySupported": true, "typeSupported": true},
            "entitlements": {"supported": true, "multipleEntitlementsSupported": true,
                "primarySupported": true, "typeSupported": true},
        })
    );
    let types = app.req("GET", "/ResourceTypes", None).body;
    let listed: Vec<(&str, &str, &str)> = types["Resources"]
        .as_array()
        .expect("Resources")
        .iter()
        .map(|t| {
            (
                t["id"].as_str().expect("id"),
                t["endpoint"].as_str().expect("endpoint"),
                t["schema"].as_str().expect("schema"),
            )
        })
        .collect();
    assert!(listed.contains(&("Role", "/Roles", ROLE_URN)), "{listed:?}");
    assert!(
        listed.contains(&("Entitlement", "/Entitlements", ENTITLEMENT_URN)),
        "{listed:?}"
    );
    let role = app.req("GET", "/ResourceTypes/Role", None).body;
    assert_eq!(role["schemaExtensions"], json!([]));
    assert_eq!(
        role["meta"]["location"],
        format!("{}/ResourceTypes/Role", app.base)
    );

    let schema = app.req("GET", &format!("/Schemas/{ENTITLEMENT_URN}"), None);
    assert_eq!(schema.status, 200);
    let attributes = schema.body["attributes"].as_array().expect("attributes");
    let names: Vec<&str> = attributes
        .iter()
        .map(|a| a["name"].as_str().expect("name"))
        .collect();
    assert_eq!(
        names,
        [
            "value",
            "display",
            "type",
            "primary",
            "supported",
            "limitedAssignmentsPermitted",
            "totalAssignmentsPermitted",
            "totalAssignmentsUsed",
            "containedBy",
            "contains",
        ]
    );
    assert!(
        attributes
            .iter()
            .all(|a| a["mutability"] == "readOnly" && a["returned"] == "default"),
        "{attributes:?}"
    );
    assert_eq!(attributes[0]["required"], true);
    assert_eq!(attributes[6]["type"], "integer");
    assert_eq!(attributes[9]["multiValued"], true);
    let listed = app.req_as("", "GET", "/Schemas", None).body;
    assert!(
        listed.to_string().contains(ROLE_URN),
        "the Role schema is listed without a token too"
    );
}

fn roles_are_those_the_mapping_names(b: Backend) {
    let app = spawn(b);
    let empty = app.req("GET", "/Roles", None);
    assert_eq!(empty.status, 200);
    assert_eq!(empty.header("content-type"), Some("application/scim+json"));
    assert_eq!(
        empty.body,
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
            "totalResults": 0, "startIndex": 1, "itemsPerPage": 0, "Resources": []})
    );

    map_roles(&app);
    let list = app.req("GET", "/Roles", None).body;
    assert_eq!(list["totalResults"], 2);
    let id = |i: usize| list["Resources"][i]["id"].as_str().expect("id").to_owned();
    let (admin, member) = (id(0), id(1));
    assert_eq!(
        list["Resources"],
        json!([
            {"schemas": [ROLE_URN], "id": admin, "value": "admin", "display": "admin",
                "supported": true, "limitedAssignmentsPermitted": false,
                "meta": {"resourceType": "Role", "location": format!("{}/Roles/{admin}", app.base)}},
            {"schemas": [ROLE_URN], "id": member, "value": "member", "display": "member",
                "primary": true, "supported": true, "limitedAssignmentsPermitted": false,
                "meta": {"resourceType": "Role", "location": format!("{}/Roles/{member}", app.base)}},
        ])
    );
    let one = app.req("GET", &format!("/Roles/{member}"), None);
    assert_eq!(one.status, 200);
    assert_eq!(one.body, list["Resources"][1]);
    assert_eq!(
        app.req("GET", "/Roles", None).body["Resources"][1]["id"],
        member,
        "an id is stable"
    );

    // Filter, sort, page and projection, as any SCIM list.
    let default = app.req("GET", "/Roles?filter=primary%20eq%20true", None);
    assert_eq!(values(&default.body), ["member"]);
    let by_name = app.req("GET", "/Roles?filter=value%20eq%20%22ADMIN%22", None);
    assert_eq!(values(&by_name.body), ["admin"], "value is not caseExact");
    let sorted = app.req("GET", "/Roles?sortBy=value&sortOrder=descending", None);
    assert_eq!(values(&sorted.body), ["member", "admin"]);
    let page = app.req("GET", "/Roles?startIndex=2&count=1", None).body;
    assert_eq!(
        (
            &page["totalResults"],
            &page["startIndex"],
            &page["itemsPerPage"]
        ),
        (&json!(2), &json!(2), &json!(1))
    );
    assert_eq!(values(&page), ["member"]);
    let first = app.req("GET", "/Roles?cursor=&count=1", None).body;
    assert_eq!(values(&first), ["admin"]);
    let cursor = first["nextCursor"].as_str().expect("nextCursor");
    let next = app
        .req("GET", &format!("/Roles?cursor={cursor}&count=1"), None)
        .body;
    assert_eq!(values(&next), ["member"]);
    assert!(next.get("nextCursor").is_none(), "{next}");
    let slim = app
        .req("GET", &format!("/Roles/{admin}?attributes=value"), None)
        .body;
    assert_eq!(
        slim,
        json!({"schemas": [ROLE_URN], "id": admin, "value": "admin"})
    );
}

fn bad_requests_get_scim_errors(b: Backend) {
    let app = spawn(b);
    map_roles(&app);
    app.req("GET", "/Roles?filter=value%20eq", None)
        .assert_error(400, Some("invalidFilter"));
    app.req("GET", "/Entitlements?filter=userName%20eq%20%22x%22", None)
        .assert_error(400, Some("invalidFilter"));
    app.req("GET", "/Roles?sortBy=contains", None)
        .assert_error(400, Some("invalidValue"));
    app.req("GET", "/Roles?cursor=zz", None)
        .assert_error(400, Some("invalidCursor"));
    app.req("GET", "/Roles/nope", None).assert_error(404, None);
    app.req("GET", "/Entitlements/nope", None)
        .assert_error(404, None);
    app.req("POST", "/Roles", Some(&json!({"value": "owner"})))
        .assert_error(405, None);
    app.req_as("", "GET", "/Roles", None)
        .assert_error(401, None);
    app.req_as("", "GET", "/Entitlements", None)
        .assert_error(401, None);
}

fn the_salesforce_default_entitlement_is_offered(b: Backend) {
    let app = spawn(b);
    let (jwt, tenant) = acme(&app);
    let path = format!("{tenant}/entitlements");
    let none = app.admin(&jwt, "GET", &path, None);
    assert_eq!(none.status, 200);
    assert_eq!(none.body, json!({"from_app": false, "entitlements": []}));

    let saved = app.admin(&jwt, "PUT", &path, Some(&salesforce_profiles()));
    assert_eq!(saved.status, 200, "{:?}", saved.body);
    assert_eq!(
        saved.body,
        json!({"from_app": false, "entitlements": [
            {"value": "Standard User", "display": "Standard User", "type": "Profile", "default": true},
            {"value": "System Administrator", "display": "System administrator", "type": "Profile",
                "default": false},
        ]})
    );
    assert_eq!(app.admin(&jwt, "GET", &path, None).body, saved.body);

    // What the IdP reads: the default is the primary one, as the connector sends it.
    let default = app
        .req("GET", "/Entitlements?filter=primary%20eq%20true", None)
        .body;
    assert_eq!(default["totalResults"], 1);
    let standard = &default["Resources"][0];
    let id = standard["id"].as_str().expect("id");
    assert_eq!(
        standard,
        &json!({"schemas": [ENTITLEMENT_URN], "id": id, "value": "Standard User",
            "display": "Standard User", "type": "Profile", "primary": true, "supported": true,
            "limitedAssignmentsPermitted": false,
            "meta": {"resourceType": "Entitlement",
                "location": format!("{}/Entitlements/{id}", app.base)}})
    );
    let all = app.req("GET", "/Entitlements", None).body;
    assert_eq!(values(&all), ["Standard User", "System Administrator"]);
    assert!(all["Resources"][1].get("primary").is_none());
    let profiles = app.req(
        "GET",
        "/Entitlements?filter=type%20eq%20%22profile%22",
        None,
    );
    assert_eq!(profiles.body["totalResults"], 2);
    let user = app.req(
        "POST",
        "/Users",
        Some(&json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "ann@example.com",
            "entitlements": [{"value": standard["value"], "primary": true}],
        })),
    );
    assert_eq!(user.status, 201, "{:?}", user.body);
    assert_eq!(
        user.body["entitlements"],
        json!([{"value": "Standard User", "primary": true}])
    );

    // Refused, and nothing changes.
    let two_defaults = json!({"entitlements": [
        {"value": "a", "default": true}, {"value": "b", "default": true}]});
    let res = app.admin(&jwt, "PUT", &path, Some(&two_defaults));
    assert_eq!(res.status, 400, "{:?}", res.body);
    assert!(
        res.body.to_string().contains("at most one"),
        "{:?}",
        res.body
    );
    let twice = json!({"entitlements": [{"value": "a"}, {"value": " a "}]});
    assert_eq!(app.admin(&jwt, "PUT", &path, Some(&twice)).status, 400);
    let blank = json!({"entitlements": [{"value": "  "}]});
    assert_eq!(app.admin(&jwt, "PUT", &path, Some(&blank)).status, 400);
    let unknown = json!({"entitlements": [{"value": "a", "enabled": true}]});
    assert_eq!(app.admin(&jwt, "PUT", &path, Some(&unknown)).status, 400);
    let many =
        json!({"entitlements": [{"value": "a"}, {"value": "b"}, {"value": "c"}, {"value": "d"}]});
    let res = app.admin(&jwt, "PUT", &path, Some(&many));
    assert_eq!(res.status, 413, "{:?}", res.body);
    assert!(
        res.body.to_string().contains("max-entitlements"),
        "{:?}",
        res.body
    );
    assert_eq!(app.admin(&jwt, "GET", &path, None).body, saved.body);

    // An empty list offers none.
    let cleared = app.admin(&jwt, "PUT", &path, Some(&json!({"entitlements": []})));
    assert_eq!(cleared.status, 200);
    assert_eq!(
        app.req("GET", "/Entitlements", None).body["totalResults"],
        0
    );
}

fn a_tenant_never_sees_another_tenants_roles(b: Backend) {
    let app = spawn(b);
    let other = app.new_tenant("globex");
    map_roles(&app);
    let (jwt, tenant) = acme(&app);
    let saved = app.admin(
        &jwt,
        "PUT",
        &format!("{tenant}/entitlements"),
        Some(&salesforce_profiles()),
    );
    assert_eq!(saved.status, 200);
    let roles = app.req("GET", "/Roles", None).body;
    let entitlements = app.req("GET", "/Entitlements", None).body;
    assert_eq!(roles["totalResults"], 2);
    assert_eq!(entitlements["totalResults"], 2);

    for path in ["/Roles", "/Entitlements"] {
        let seen = app.req_as(&other, "GET", path, None);
        assert_eq!(seen.status, 200);
        assert_eq!(seen.body["totalResults"], 0, "{path}: {:?}", seen.body);
    }
    let role = roles["Resources"][0]["id"].as_str().expect("id");
    app.req_as(&other, "GET", &format!("/Roles/{role}"), None)
        .assert_error(404, None);
    let entitlement = entitlements["Resources"][0]["id"].as_str().expect("id");
    app.req_as(&other, "GET", &format!("/Entitlements/{entitlement}"), None)
        .assert_error(404, None);
    // The other tenant's admin token cannot set acme's entitlements either.
    let globex = scimitar::service::tenants::get(&app.db, "globex")
        .expect("tenant")
        .id;
    let globex_jwt = mint(&admin_auth(), &globex, Duration::from_secs(300)).expect("mint");
    let res = app.admin(
        &globex_jwt,
        "PUT",
        &format!("{tenant}/entitlements"),
        Some(&json!({"entitlements": []})),
    );
    assert!(matches!(res.status, 403 | 404), "{:?}", res.body);
    assert_eq!(app.req("GET", "/Entitlements", None).body, entitlements);
}

on_both_backends!(
    discovery_describes_roles_and_entitlements,
    roles_are_those_the_mapping_names,
    bad_requests_get_scim_errors,
    the_salesforce_default_entitlement_is_offered,
    a_tenant_never_sees_another_tenants_roles,
);
