//! `/openapi.json`: the OpenAPI document of the SCIM and admin APIs, checked against the routes
//! the app registers with actix, so a route added without its description fails here. The
//! document reads no database: these tests run on SQLite alone.

use std::collections::BTreeSet;

use scimitar::Settings;
use scimitar::startup::RouteTable;
use serde_json::Value;

use crate::helpers::{Backend, TestApp};

const METHODS: [&str; 5] = ["get", "put", "post", "delete", "patch"];

/// The document from `origin`, asserting how it is served.
fn document(app: &TestApp, origin: &str) -> Value {
    let res = app.send_url("GET", &format!("{origin}/openapi.json"), None, None, &[]);
    assert_eq!(res.status, 200, "{:?}", res.body);
    assert_eq!(res.header("content-type"), Some("application/json"));
    assert!(
        res.body["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")),
        "{}",
        res.body["openapi"]
    );
    res.body
}

/// Every (METHOD, path) the document describes.
fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let paths = doc["paths"].as_object().expect("paths");
    paths
        .iter()
        .flat_map(|(path, item)| {
            METHODS
                .into_iter()
                .filter(|m| item.get(*m).is_some())
                .map(|m| (m.to_uppercase(), path.clone()))
        })
        .collect()
}

/// Every (METHOD, path) the app registers with these settings.
fn served(settings: &Settings) -> BTreeSet<(String, String)> {
    RouteTable::of(settings)
        .routes()
        .iter()
        .map(|(method, path)| (method.to_string(), path.clone()))
        .collect()
}

/// The routes served and the operations documented are the same, each with a summary.
fn assert_matches_the_routes(doc: &Value, settings: &Settings) {
    let served = served(settings);
    let documented = documented(doc);
    let undocumented: Vec<_> = served.difference(&documented).collect();
    let unserved: Vec<_> = documented.difference(&served).collect();
    assert!(
        undocumented.is_empty(),
        "served without an entry in /openapi.json (add #[utoipa::path] to the handler and list \
         it in src/openapi.rs): {undocumented:?}"
    );
    assert!(
        unserved.is_empty(),
        "documented but not served: {unserved:?}"
    );
    for (method, path) in &documented {
        let op = &doc["paths"][path][method.to_lowercase()];
        let text = |k: &str| op[k].as_str().unwrap_or_default().trim().to_owned();
        assert!(
            !text("summary").is_empty() || !text("description").is_empty(),
            "{method} {path} has neither a summary nor a description"
        );
        assert!(
            op["responses"].as_object().is_some_and(|r| !r.is_empty()),
            "{method} {path} lists no responses"
        );
    }
}

/// Every `$ref` names a component; operation ids are unique; every security requirement
/// names a scheme the document defines.
fn assert_consistent(doc: &Value) {
    fn refs<'v>(v: &'v Value, out: &mut Vec<&'v str>) {
        match v {
            Value::Object(map) => {
                if let Some(Value::String(r)) = map.get("$ref") {
                    out.push(r);
                }
                map.values().for_each(|v| refs(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let mut found = Vec::new();
    refs(doc, &mut found);
    assert!(!found.is_empty());
    for r in found {
        let pointer = r.strip_prefix('#').expect("a local $ref");
        assert!(doc.pointer(pointer).is_some(), "{r} names nothing");
    }
    let schemes = &doc["components"]["securitySchemes"];
    let mut ids = BTreeSet::new();
    for (method, path) in documented(doc) {
        let op = &doc["paths"][&path][method.to_lowercase()];
        let id = op["operationId"].as_str().expect("an operationId");
        assert!(ids.insert(id.to_owned()), "operationId {id} twice");
        for requirement in op["security"].as_array().into_iter().flatten() {
            for name in requirement.as_object().expect("requirement").keys() {
                assert!(
                    schemes.get(name).is_some(),
                    "{method} {path}: no scheme {name}"
                );
            }
        }
    }
}

#[test]
fn the_document_describes_every_route_and_only_those() {
    let app = TestApp::spawn_with(Backend::Sqlite, |s| {
        s.public_url = Some("https://scim.example.com".into());
    });
    let doc = document(&app, &app.admin_base);
    assert_matches_the_routes(&doc, &Settings::default());
    assert_consistent(&doc);
    assert_eq!(doc["servers"][0]["url"], "https://scim.example.com");

    let patch = &doc["paths"]["/scim/v2/Users/{id}"]["patch"];
    for ctype in ["application/scim+json", "application/json"] {
        assert_eq!(
            patch["requestBody"]["content"][ctype]["schema"]["$ref"],
            "#/components/schemas/PatchOp",
            "{patch}"
        );
    }
    assert_eq!(patch["tags"][0], "User");
    assert_eq!(patch["security"][0]["scim_token"], serde_json::json!([]));
    let params: Vec<_> = patch["parameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap_or(""),
                p["in"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert!(params.contains(&("id", "path")), "{params:?}");
    assert!(params.contains(&("If-Match", "header")), "{params:?}");
    for status in ["412", "default"] {
        assert_eq!(
            patch["responses"][status]["content"]["application/scim+json"]["schema"]["$ref"],
            "#/components/schemas/ScimError",
            "{status}"
        );
    }
    let error = &doc["components"]["schemas"]["ScimError"]["properties"];
    assert_eq!(
        error["schemas"]["items"]["enum"][0],
        "urn:ietf:params:scim:api:messages:2.0:Error"
    );
    assert!(error["scimType"].is_object() && error["detail"].is_object());
    let operation = &doc["components"]["schemas"]["PatchOp"]["properties"]["Operations"]["items"];
    for field in ["op", "path", "value"] {
        assert!(operation["properties"][field].is_object(), "{operation}");
    }
    assert_eq!(
        doc["paths"]["/scim/v2/Groups/{id}"]["patch"]["operationId"],
        "patch_group"
    );
    assert!(doc["paths"]["/scim/v2/ServiceProviderConfig"]["get"]["security"].is_null());

    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["scim_token"]["type"], "http");
    assert_eq!(schemes["scim_token"]["scheme"], "bearer");
    assert_eq!(schemes["admin_jwt"]["scheme"], "bearer");
    assert_eq!(schemes["admin_jwt"]["bearerFormat"], "JWT");

    let put = &doc["paths"]["/admin/v1/tenants/{id}/role-mappings"]["put"];
    assert_eq!(
        put["requestBody"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/RoleMappings"
    );
    assert_eq!(put["security"][0]["admin_jwt"], serde_json::json!([]));
    assert_eq!(
        put["responses"]["404"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/AdminError"
    );
    let mapping = &doc["components"]["schemas"]["Mapping"];
    assert!(mapping["properties"]["group"].is_object(), "{mapping}");
    assert!(
        doc["paths"]["/admin/v1/tenants/{id}/webhooks"]["put"]["requestBody"]["content"]
            ["application/json"]["schema"]["$ref"]
            .as_str()
            .is_some_and(|r| r.ends_with("/WebhookInput"))
    );
    // One listener serves everything: no path needs a server of its own.
    assert!(doc["paths"]["/admin/v1/tenants"]["servers"].is_null());
}

#[test]
fn the_scim_paths_follow_scim_path() {
    let app = TestApp::spawn_with(Backend::Sqlite, |s| {
        s.scim_path = "/integrations/scim".into();
    });
    let doc = document(&app, &app.admin_base);
    let settings = Settings {
        scim_path: "/integrations/scim".into(),
        ..Settings::default()
    };
    assert_matches_the_routes(&doc, &settings);
    let paths = doc["paths"].as_object().expect("paths");
    assert!(paths.contains_key("/integrations/scim/Users/{id}"));
    assert!(paths.contains_key("/integrations/scim/ServiceProviderConfig"));
    assert!(paths.contains_key("/admin/v1/tenants"));
    assert!(
        !paths.keys().any(|p| p.starts_with("/scim/")),
        "{:?}",
        paths.keys()
    );
    let origin = app.base.strip_suffix("/integrations/scim").expect("origin");
    assert_eq!(doc["servers"][0]["url"], origin);
    assert!(
        doc["info"]["description"]
            .as_str()
            .is_some_and(|d| d.contains("/integrations/scim"))
    );
}

/// With an admin listener, the document is served there, beside the admin API and the metrics,
/// and the public SCIM listener does not advertise the admin API.
#[test]
fn the_admin_listener_serves_the_document_and_the_scim_listener_does_not() {
    let app = TestApp::spawn_with(Backend::Sqlite, |s| {
        s.admin_listen = Some("127.0.0.1:0".into());
    });
    let doc = document(&app, &app.admin_base);
    let scim_origin = app.origin();
    assert_eq!(doc["servers"][0]["url"], scim_origin.as_str());
    for path in ["/admin/v1/tenants", "/metrics", "/openapi.json"] {
        assert_eq!(
            doc["paths"][path]["servers"][0]["url"],
            app.admin_base.as_str(),
            "{path}"
        );
    }
    assert!(doc["paths"]["/scim/v2/Users"]["servers"].is_null());
    let on_scim = app.send_url(
        "GET",
        &format!("{scim_origin}/openapi.json"),
        None,
        None,
        &[],
    );
    on_scim.assert_error(404, None);
}
