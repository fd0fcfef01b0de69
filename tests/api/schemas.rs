//! Per-tenant extension schemas: registered through the admin API, shown in that tenant's
//! discovery documents only, and honoured by create, replace, PATCH, filter, sort and
//! `attributes=` like the built-in attributes.

use std::time::Duration;

use scimitar::admin_token::{ALL_TENANTS, mint};
use serde_json::{Value, json};

use scimitar::storage::Scope;

use crate::helpers::{Backend, TestApp, admin_auth, eventually, stored};
use crate::on_both_backends;

/// An Entra ID custom extension, by the URN form Entra sends.
const EXT: &str = "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User";
const CORE: &str = "urn:ietf:params:scim:schemas:core:2.0:User";

fn schema() -> Value {
    json!({
        "id": EXT, "name": "CustomExtension", "description": "Acme's own fields",
        "attributes": [
            {"name": "costCenter", "type": "string"},
            {"name": "level", "type": "integer"},
            {"name": "badge", "type": "string", "uniqueness": "server"},
            {"name": "rate", "type": "decimal"},
            {"name": "remote", "type": "boolean"},
            {"name": "hired", "type": "dateTime", "mutability": "immutable"},
            {"name": "site", "type": "reference", "referenceTypes": ["external"]},
            {"name": "pin", "type": "string", "mutability": "writeOnly", "returned": "never"},
            {"name": "skills", "type": "complex", "multiValued": true, "subAttributes": [
                {"name": "value", "type": "string"},
                {"name": "years", "type": "integer"}
            ]}
        ]
    })
}

fn user(name: &str, ext: Value) -> Value {
    json!({"schemas": [CORE, EXT], "userName": name, EXT: ext})
}

fn setup(b: Backend) -> (TestApp, String, String) {
    let app = TestApp::spawn_with(b, |s| s.admin = Some(admin_auth()));
    let root = mint(&admin_auth(), ALL_TENANTS, Duration::from_secs(300)).expect("mint");
    let acme = scimitar::service::tenants::get(&app.db, "acme")
        .expect("tenant")
        .id;
    (app, root, acme)
}

fn ids(res: &Value) -> Vec<String> {
    res["Resources"]
        .as_array()
        .expect("Resources")
        .iter()
        .map(|r| r["userName"].as_str().expect("userName").to_owned())
        .collect()
}

fn a_tenant_registers_an_extension_and_uses_it_like_a_built_in_one(b: Backend) {
    let (app, root, acme) = setup(b);
    let path = format!("/tenants/{acme}/schemas/{EXT}");

    // Before registration: refused, and the detail says how to register.
    let early = app.req(
        "POST",
        "/Users",
        Some(&user("early", json!({"costCenter": "CC-1"}))),
    );
    assert_eq!(early.status, 400, "{:?}", early.body);
    let detail = early.body["detail"].as_str().expect("detail");
    assert!(
        detail.contains("/schemas/") && detail.contains(EXT),
        "{detail}"
    );

    let put = app.admin(&root, "PUT", &path, Some(&schema()));
    assert_eq!(put.status, 201, "{:?}", put.body);
    assert_eq!(put.body["resourceType"], "User");
    assert_eq!(app.admin(&root, "PUT", &path, Some(&schema())).status, 200);
    let bad = app.admin(
        &root,
        "PUT",
        &format!("/tenants/{acme}/schemas/urn:example:x"),
        Some(&json!({"attributes": [{"name": "a'b", "type": "string"}]})),
    );
    assert_eq!(bad.status, 400, "{:?}", bad.body);
    assert!(
        bad.body.to_string().contains("not an attribute name"),
        "{:?}",
        bad.body
    );

    // Discovery: this tenant sees it; another tenant and an anonymous reader do not.
    let schemas = app.req("GET", "/Schemas", None);
    let listed = |res: &Value| {
        res["Resources"]
            .as_array()
            .expect("Resources")
            .iter()
            .any(|s| s["id"] == EXT)
    };
    assert!(listed(&schemas.body), "{:?}", schemas.body);
    assert_eq!(app.req("GET", &format!("/Schemas/{EXT}"), None).status, 200);
    let rt = app.req("GET", "/ResourceTypes/User", None);
    assert!(
        rt.body["schemaExtensions"]
            .as_array()
            .expect("extensions")
            .iter()
            .any(|e| e["schema"] == EXT),
        "{:?}",
        rt.body
    );
    // A token issued after the registration carries the tenant's view as well.
    let rotated = app.admin(
        &root,
        "POST",
        &format!("/tenants/{acme}/secret"),
        Some(&json!({"grace_period_seconds": 3600})),
    );
    assert_eq!(rotated.status, 200, "{:?}", rotated.body);
    let fresh = rotated.body["token"].as_str().expect("token");
    assert!(listed(&app.req_as(fresh, "GET", "/Schemas", None).body));
    let other = app.new_tenant("globex");
    assert!(!listed(&app.req_as(&other, "GET", "/Schemas", None).body));
    assert!(!listed(&app.req_as("", "GET", "/Schemas", None).body));
    assert_eq!(
        app.req_as(&other, "GET", &format!("/Schemas/{EXT}"), None)
            .status,
        404
    );
    let refused = app.req_as(
        &other,
        "POST",
        "/Users",
        Some(&user("x", json!({"level": 1}))),
    );
    assert_eq!(refused.status, 400, "{:?}", refused.body);

    // Create: typed values checked, stored, returned (writeOnly never).
    let wrong = app.req(
        "POST",
        "/Users",
        Some(&user("w", json!({"level": "three"}))),
    );
    assert_eq!(wrong.status, 400, "{:?}", wrong.body);
    let ann = app.req(
        "POST",
        "/Users",
        Some(&user(
            "ann",
            json!({"costCenter": "CC-1", "level": 3, "badge": "B-7", "rate": 1.5, "remote": true,
                   "hired": "2024-01-02T03:04:05Z", "site": "https://example.com/ann", "pin": "1234",
                   "skills": [{"value": "rust", "years": 4}]}),
        )),
    );
    assert_eq!(ann.status, 201, "{:?}", ann.body);
    assert!(
        ann.body["schemas"]
            .as_array()
            .expect("schemas")
            .contains(&json!(EXT))
    );
    assert_eq!(ann.body[EXT]["level"], 3);
    assert!(ann.body[EXT].get("pin").is_none(), "{:?}", ann.body);
    let ann_id = ann.body["id"].as_str().expect("id").to_owned();
    let bob = app.req(
        "POST",
        "/Users",
        Some(&user(
            "bob",
            json!({"costCenter": "CC-2", "level": 5, "badge": "B-8"}),
        )),
    );
    assert_eq!(bob.status, 201, "{:?}", bob.body);
    let bob_id = bob.body["id"].as_str().expect("id").to_owned();

    // Uniqueness "server", compared as the attribute says (not caseExact: folded).
    let twin = app.req("POST", "/Users", Some(&user("cy", json!({"badge": "b-7"}))));
    assert_eq!(twin.status, 409, "{:?}", twin.body);
    assert_eq!(twin.body["scimType"], "uniqueness");
    let taken = app.req(
        "PATCH",
        &format!("/Users/{bob_id}"),
        Some(
            &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": format!("{EXT}:badge"), "value": "B-7"}]}),
        ),
    );
    assert_eq!(taken.status, 409, "{:?}", taken.body);

    // A write-only attribute is written and kept, never shown, and no filter, sort or mapping
    // reads it back.
    let pin = app.req(
        "PATCH",
        &format!("/Users/{ann_id}"),
        Some(
            &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": format!("{EXT}:pin"), "value": "9999"}]}),
        ),
    );
    assert_eq!(pin.status, 200, "{:?}", pin.body);
    assert!(pin.body[EXT].get("pin").is_none(), "{:?}", pin.body);
    let tenant = stored(&acme);
    let row = app
        .db
        .run_sync(|c| Ok(Scope::new(&tenant).get(c, "User", &ann_id)?))
        .expect("read")
        .expect("ann");
    assert!(row.password_hash.is_none(), "the pin is not the password");
    assert!(row.doc.contains("9999"), "the pin is kept");
    let probe = app.req(
        "GET",
        &format!("/Users?filter={EXT}:pin%20eq%20%229999%22"),
        None,
    );
    assert_eq!(probe.status, 400, "{:?}", probe.body);
    assert!(
        probe.body["detail"]
            .as_str()
            .expect("detail")
            .contains("never returned")
    );
    assert_eq!(
        app.req("GET", &format!("/Users?sortBy={EXT}:pin"), None)
            .status,
        400
    );
    let mapped = app.admin(
        &root,
        "PUT",
        &format!("/tenants/{acme}/attribute-mapping"),
        Some(&json!({"fields": {"pin": format!("{EXT}:pin")}})),
    );
    assert_eq!(mapped.status, 400, "{:?}", mapped.body);

    // PATCH by the URN path Entra sends; immutable honoured.
    let patched = app.req(
        "PATCH",
        &format!("/Users/{ann_id}"),
        Some(&json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "Replace", "path": format!("{EXT}:costCenter"), "value": "CC-9"}]})),
    );
    assert_eq!(patched.status, 200, "{:?}", patched.body);
    assert_eq!(patched.body[EXT]["costCenter"], "CC-9");
    let immutable = app.req(
        "PATCH",
        &format!("/Users/{ann_id}"),
        Some(&json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": format!("{EXT}:hired"), "value": "2025-01-01T00:00:00Z"}]})),
    );
    assert_eq!(immutable.status, 400, "{:?}", immutable.body);
    assert_eq!(immutable.body["scimType"], "mutability");

    // Filter, sort and attributes= on the extension's attributes.
    let found = app.req(
        "GET",
        &format!("/Users?filter={EXT}:costCenter%20eq%20%22cc-9%22"),
        None,
    );
    assert_eq!(ids(&found.body), ["ann"], "{:?}", found.body);
    let found = app.req("GET", &format!("/Users?filter={EXT}:level%20gt%204"), None);
    assert_eq!(ids(&found.body), ["bob"], "{:?}", found.body);
    let found = app.req(
        "GET",
        &format!("/Users?filter={EXT}:skills%5Bvalue%20eq%20%22rust%22%5D"),
        None,
    );
    assert_eq!(ids(&found.body), ["ann"], "{:?}", found.body);
    let sorted = app.req(
        "GET",
        &format!("/Users?sortBy={EXT}:level&sortOrder=descending"),
        None,
    );
    assert_eq!(ids(&sorted.body), ["bob", "ann"], "{:?}", sorted.body);
    let narrow = app.req(
        "GET",
        &format!("/Users/{ann_id}?attributes={EXT}:costCenter"),
        None,
    );
    assert_eq!(narrow.status, 200, "{:?}", narrow.body);
    assert_eq!(
        narrow.body[EXT],
        json!({"costCenter": "CC-9"}),
        "{:?}",
        narrow.body
    );
    assert!(narrow.body.get("userName").is_none());

    // Removed: the data stays readable and the user stays writable; new data is refused.
    assert_eq!(app.admin(&root, "DELETE", &path, None).status, 204);
    assert_eq!(app.admin(&root, "GET", &path, None).status, 404);
    let kept = app.req("GET", &format!("/Users/{ann_id}"), None);
    assert_eq!(kept.body[EXT]["costCenter"], "CC-9", "{:?}", kept.body);
    let deactivated = app.req(
        "PATCH",
        &format!("/Users/{ann_id}"),
        Some(
            &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "active", "value": false}]}),
        ),
    );
    assert_eq!(deactivated.status, 200, "{:?}", deactivated.body);
    assert_eq!(deactivated.body[EXT]["level"], 3);
    let late = app.req("POST", "/Users", Some(&user("late", json!({"level": 1}))));
    assert_eq!(late.status, 400, "{:?}", late.body);
    let late_patch = app.req(
        "PATCH",
        &format!("/Users/{ann_id}"),
        Some(
            &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": format!("{EXT}:level"), "value": 4}]}),
        ),
    );
    assert_eq!(late_patch.status, 400, "{:?}", late_patch.body);
    assert!(
        late_patch.body["detail"]
            .as_str()
            .expect("detail")
            .contains("/schemas/"),
        "{:?}",
        late_patch.body
    );
    let purged = app.admin(&root, "DELETE", &format!("{path}/data"), None);
    assert_eq!(purged.status, 200, "{:?}", purged.body);
    assert_eq!(purged.body["purged"], 2);
    let gone = app.req("GET", &format!("/Users/{ann_id}"), None);
    assert!(gone.body.get(EXT).is_none(), "{:?}", gone.body);
    assert_eq!(gone.body["schemas"], json!([CORE]));

    // A URN ending in :Group extends groups.
    let group_ext = "urn:example:acme:2.0:Group";
    let put = app.admin(
        &root,
        "PUT",
        &format!("/tenants/{acme}/schemas/{group_ext}"),
        Some(&json!({"attributes": [{"name": "costCenter", "type": "string"}]})),
    );
    assert_eq!(put.status, 201, "{:?}", put.body);
    assert_eq!(put.body["resourceType"], "Group");
    let eng = app.req(
        "POST",
        "/Groups",
        Some(
            &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group", group_ext],
            "displayName": "Engineering", group_ext: {"costCenter": "CC-3"}}),
        ),
    );
    assert_eq!(eng.status, 201, "{:?}", eng.body);
    let found = app.req(
        "GET",
        &format!("/Groups?filter={group_ext}:costCenter%20eq%20%22CC-3%22"),
        None,
    );
    assert_eq!(found.body["totalResults"], 1, "{:?}", found.body);
    let on_users = app.req(
        "POST",
        "/Users",
        Some(&json!({"schemas": [CORE, group_ext], "userName": "x"})),
    );
    assert_eq!(on_users.status, 400, "{:?}", on_users.body);
}

fn a_tenant_may_keep_what_it_has_not_registered(b: Backend) {
    let (app, root, acme) = setup(b);
    let other = "urn:example:okta:custom:2.0:User";
    let body = json!({"schemas": [CORE, other], "userName": "dee", other: {"favourite": "tea"}});
    assert_eq!(app.req("POST", "/Users", Some(&body)).status, 400);
    let set = app.admin(
        &root,
        "PUT",
        &format!("/tenants/{acme}/schema-settings"),
        Some(&json!({"unknown_extensions": "keep"})),
    );
    assert_eq!(set.status, 200, "{:?}", set.body);
    let listed = app.admin(&root, "GET", &format!("/tenants/{acme}/schemas"), None);
    assert_eq!(listed.body["unknown_extensions"], "keep");
    let dee = app.req("POST", "/Users", Some(&body));
    assert_eq!(dee.status, 201, "{:?}", dee.body);
    assert_eq!(dee.body[other], json!({"favourite": "tea"}));
    assert!(
        dee.body["schemas"]
            .as_array()
            .expect("schemas")
            .contains(&json!(other))
    );
    let id = dee.body["id"].as_str().expect("id");
    assert_eq!(
        app.req("GET", &format!("/Users/{id}"), None).body[other]["favourite"],
        "tea"
    );
    // The provisioning log says what was kept unchecked.
    let noted = eventually(Duration::from_secs(10), "the POST's log entry", || {
        let log = app.admin(&root, "GET", &format!("/tenants/{acme}/logs"), None);
        log.body["entries"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|e| e["method"] == "POST" && e["status"] == 201)
            .and_then(|e| e["detail"].as_str().map(str::to_owned))
    });
    assert!(
        noted.contains(other) && noted.contains("not registered"),
        "{noted}"
    );

    // PATCH too: by a path into it (Entra's form), by a path-less value, and remove.
    let ops = |ops: Value| json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops});
    let patched = app.req(
        "PATCH",
        &format!("/Users/{id}"),
        Some(&ops(json!([
            {"op": "replace", "path": format!("{other}:favourite"), "value": "cake"},
            {"op": "add", "value": {other: {"size": "large"}}},
        ]))),
    );
    assert_eq!(patched.status, 200, "{:?}", patched.body);
    assert_eq!(
        patched.body[other],
        json!({"favourite": "cake", "size": "large"})
    );
    let removed = app.req(
        "PATCH",
        &format!("/Users/{id}"),
        Some(&ops(
            json!([{"op": "remove", "path": format!("{other}:size")}]),
        )),
    );
    assert_eq!(
        removed.body[other],
        json!({"favourite": "cake"}),
        "{:?}",
        removed.body
    );
    let filtered = app.req(
        "PATCH",
        &format!("/Users/{id}"),
        Some(&ops(
            json!([{"op": "remove", "path": format!("{other}:tags[value eq \"x\"]")}]),
        )),
    );
    assert_eq!(filtered.status, 400, "{:?}", filtered.body);
    let whole = app.req(
        "PATCH",
        &format!("/Users/{id}"),
        Some(&ops(json!([{"op": "remove", "path": other}]))),
    );
    assert!(whole.body.get(other).is_none(), "{:?}", whole.body);
    let patch_noted = eventually(Duration::from_secs(10), "the PATCH's log entry", || {
        let log = app.admin(&root, "GET", &format!("/tenants/{acme}/logs"), None);
        log.body["entries"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|e| e["method"] == "PATCH" && e["status"] == 200 && e["detail"].is_string())
            .and_then(|e| e["detail"].as_str().map(str::to_owned))
    });
    assert!(patch_noted.contains(other), "{patch_noted}");

    // A bulk operation's own log entry says so too.
    let bulk = app.req(
        "POST",
        "/Bulk",
        Some(&json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
            "Operations": [{"method": "POST", "path": "/Users", "bulkId": "e",
                "data": {"schemas": [CORE, other], "userName": "eve", other: {"favourite": "coffee"}}}]})),
    );
    assert_eq!(bulk.status, 200, "{:?}", bulk.body);
    assert_eq!(
        bulk.body["Operations"][0]["status"], "201",
        "{:?}",
        bulk.body
    );
    let eve = bulk.body["Operations"][0]["location"]
        .as_str()
        .and_then(|l| l.rsplit('/').next())
        .expect("location")
        .to_owned();
    let noted = eventually(
        Duration::from_secs(10),
        "the bulk operation's log entry",
        || {
            let log = app.admin(&root, "GET", &format!("/tenants/{acme}/logs"), None);
            log.body["entries"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|e| e["resource_id"] == eve.as_str())
                .and_then(|e| e["detail"].as_str().map(str::to_owned))
        },
    );
    assert!(noted.contains(other), "{noted}");
}

on_both_backends!(
    a_tenant_registers_an_extension_and_uses_it_like_a_built_in_one,
    a_tenant_may_keep_what_it_has_not_registered,
);
