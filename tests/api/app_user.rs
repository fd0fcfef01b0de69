//! The app's view of a user (`app_user` in the admin API) and the per-tenant attribute mapping
//! that fills it.

use std::time::Duration;

use scimitar::admin_token::{ALL_TENANTS, mint};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, admin_auth};
use crate::on_both_backends;

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

fn token(tenant: &str) -> String {
    mint(&admin_auth(), tenant, Duration::from_secs(300)).expect("mint")
}

/// The Salesforce seed's mapping, as the README shows it.
fn salesforce() -> Value {
    json!({"fields": {
        "employee_number": format!("{ENTERPRISE}:employeeNumber"),
        "department": format!("{ENTERPRISE}:department"),
        "organization": format!("{ENTERPRISE}:organization"),
        "entitlement": {"from": "entitlements.value", "default": "Standard User"},
        "locale": "locale",
        "phone": "phoneNumbers[type eq \"work\"].value",
        "address": "addresses[type eq \"work\"].formatted",
    }})
}

fn the_app_sees_one_shape_of_user_whatever_the_idp_sends(b: Backend) {
    let app = TestApp::spawn_with(b, |s| s.admin = Some(admin_auth()));
    let root = token(ALL_TENANTS);
    let acme = scimitar::service::tenants::get(&app.db, "acme")
        .expect("tenant")
        .id;
    let created = app.req(
        "POST",
        "/Users",
        Some(&json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
            "userName": "ann@example.com", "externalId": "00u1okta",
            "name": {"givenName": "Ann", "familyName": "Lee"},
            "emails": [{"value": "ann@home.example", "type": "home"},
                       {"value": "ann@example.com", "type": "work", "primary": true}],
            "phoneNumbers": [{"value": "+1 555 0100", "type": "mobile"}, {"value": "+1 555 0199", "type": "work"}],
            "addresses": [{"formatted": "1 Example Street, Springfield", "type": "work"}],
            "locale": "en-US",
            ENTERPRISE: {"employeeNumber": "701984", "department": "R&D", "organization": "Example Inc."},
        })),
    );
    assert_eq!(created.status, 201, "{:?}", created.body);
    let ann = created.body["id"].as_str().expect("id").to_owned();
    let group = app.req(
        "POST",
        "/Groups",
        Some(&json!({"displayName": "Engineering", "members": [{"value": ann}]})),
    );
    let eng = group.body["id"].as_str().expect("id").to_owned();
    let mappings = json!({"mappings": [{"group": "Engineering", "role": "developer"}]});
    let res = app.admin(
        &root,
        "PUT",
        &format!("/tenants/{acme}/role-mappings"),
        Some(&mappings),
    );
    assert_eq!(res.status, 200, "{:?}", res.body);
    let app_user = |jwt: &str| {
        let res = app.admin(jwt, "GET", &format!("/tenants/{acme}/users/{ann}"), None);
        assert_eq!(res.status, 200, "{:?}", res.body);
        res.body["app_user"].clone()
    };
    assert_eq!(
        app_user(&root),
        json!({
            "id": ann, "external_id": "00u1okta", "user_name": "ann@example.com",
            "email": "ann@example.com", "given_name": "Ann", "family_name": "Lee",
            "display_name": null, "active": true, "roles": ["developer"],
            "groups": [{"id": eng, "display_name": "Engineering"}], "attributes": {},
        })
    );

    // The tenant's own token maps its own fields: the Salesforce seed's table.
    let own = token(&acme);
    let saved = app.admin(
        &own,
        "PUT",
        &format!("/tenants/{acme}/attribute-mapping"),
        Some(&salesforce()),
    );
    assert_eq!(saved.status, 200, "{:?}", saved.body);
    assert_eq!(saved.body["fields"], salesforce()["fields"]);
    assert_eq!(saved.body["standard"]["email"], "emails.value");
    assert_eq!(
        app_user(&own)["attributes"],
        json!({
            "employee_number": "701984", "department": "R&D", "organization": "Example Inc.",
            "entitlement": "Standard User", "locale": "en-US", "phone": "+1 555 0199",
            "address": "1 Example Street, Springfield",
        })
    );
    let listed = app.admin(&own, "GET", &format!("/tenants/{acme}/users"), None);
    assert_eq!(
        listed.body["users"][0]["app_user"]["attributes"]["department"],
        "R&D"
    );

    // Events carry the same view beside the SCIM resource, as it was when the event happened:
    // a new user with no group yet, then the user in Engineering with its role.
    let patched = app.req(
        "PATCH",
        &format!("/Users/{ann}"),
        Some(
            &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "title", "value": "Engineer"}]}),
        ),
    );
    assert_eq!(patched.status, 200, "{:?}", patched.body);
    let feed = app.admin(&root, "GET", &format!("/tenants/{acme}/events"), None);
    let events = feed.body["events"].as_array().expect("events");
    let of = |kind: &str| {
        events
            .iter()
            .rfind(|e| e["type"] == kind)
            .unwrap_or_else(|| panic!("no {kind} in {events:?}"))["data"]
            .clone()
    };
    let created = of("user.created");
    assert_eq!(created["user"]["id"], ann.as_str());
    assert_eq!(created["app_user"]["user_name"], "ann@example.com");
    assert_eq!(created["app_user"]["groups"], json!([]));
    assert_eq!(created["app_user"]["roles"], json!([]));
    let updated = of("user.updated");
    assert_eq!(updated["user"]["title"], "Engineer");
    assert_eq!(
        updated["app_user"],
        app_user(&own),
        "the event's view is the admin API's"
    );
    assert_eq!(updated["app_user"]["roles"], json!(["developer"]));
    assert_eq!(updated["app_user"]["attributes"]["department"], "R&D");

    // A mapping that cannot work is refused and changes nothing.
    for bad in [
        json!({"fields": {"cost_center": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCentre"}}),
        json!({"fields": {"Cost Center": "title"}}),
        json!({"fields": {"x": {"from": "title", "default": {"a": 1}}}}),
        json!({"fields": "department"}),
    ] {
        let res = app.admin(
            &own,
            "PUT",
            &format!("/tenants/{acme}/attribute-mapping"),
            Some(&bad),
        );
        assert_eq!(res.status, 400, "{bad}: {:?}", res.body);
    }
    let kept = app.admin(
        &own,
        "GET",
        &format!("/tenants/{acme}/attribute-mapping"),
        None,
    );
    assert_eq!(kept.body["fields"], salesforce()["fields"]);

    // Another tenant's admin cannot read or set it, and its users keep the standard fields.
    let globex_token = app.new_tenant("globex");
    let globex = scimitar::service::tenants::get(&app.db, "globex")
        .expect("tenant")
        .id;
    let theirs = token(&globex);
    assert_eq!(
        app.admin(
            &theirs,
            "PUT",
            &format!("/tenants/{acme}/attribute-mapping"),
            Some(&json!({"fields": {}}))
        )
        .status,
        403
    );
    let bob = app.req_as(
        &globex_token,
        "POST",
        "/Users",
        Some(&json!({"userName": "bob"})),
    );
    let bob = bob.body["id"].as_str().expect("id").to_owned();
    let seen = app.admin(
        &theirs,
        "GET",
        &format!("/tenants/{globex}/users/{bob}"),
        None,
    );
    assert_eq!(seen.body["app_user"]["attributes"], json!({}));
    assert_eq!(seen.body["app_user"]["roles"], json!([]));

    // An empty mapping goes back to the standard fields.
    let reset = app.admin(
        &own,
        "PUT",
        &format!("/tenants/{acme}/attribute-mapping"),
        Some(&json!({"fields": {}})),
    );
    assert_eq!(reset.status, 200, "{:?}", reset.body);
    assert_eq!(app_user(&own)["attributes"], json!({}));
}

on_both_backends!(the_app_sees_one_shape_of_user_whatever_the_idp_sends);
