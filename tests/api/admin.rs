//! The admin API: JWT authentication, tenants and secrets, role mappings, users with roles, and
//! the event feed the host app reads.

use std::time::Duration;

use scimitar::admin_token::{ALL_TENANTS, mint};
use scimitar::config::{AdminAuth, AdminKey};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, admin_auth, eventually, patch_ops};
use crate::on_both_backends;

fn spawn(b: Backend) -> TestApp {
    TestApp::spawn_with(b, |s| s.admin = Some(admin_auth()))
}

fn token(tenant: &str) -> String {
    mint(&admin_auth(), tenant, Duration::from_secs(300)).expect("mint")
}

fn tenant_id(app: &TestApp) -> String {
    scimitar::service::tenants::get(&app.db, "acme")
        .expect("tenant")
        .id
}

fn types(events: &Value) -> Vec<String> {
    events["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["type"].as_str().expect("type").to_owned())
        .collect()
}

fn admin_tokens_are_checked(b: Backend) {
    let app = spawn(b);
    let acme = tenant_id(&app);
    app.new_tenant("globex");
    let res = app.admin("", "GET", "/tenants", None);
    assert_eq!(res.status, 401, "{:?}", res.body);
    assert_eq!(res.body["error"], "unauthorized");
    assert_eq!(app.admin("not.a.jwt", "GET", "/tenants", None).status, 401);
    let wrong_key = mint(
        &AdminAuth {
            key: AdminKey::Hs256(b"another-secret-another-secret-another".to_vec()),
            ..admin_auth()
        },
        ALL_TENANTS,
        Duration::from_secs(60),
    )
    .expect("mint");
    assert_eq!(app.admin(&wrong_key, "GET", "/tenants", None).status, 401);
    let wrong_issuer = mint(
        &AdminAuth {
            issuer: Some("someone-else".into()),
            ..admin_auth()
        },
        ALL_TENANTS,
        Duration::from_secs(60),
    )
    .expect("mint");
    assert_eq!(
        app.admin(&wrong_issuer, "GET", "/tenants", None).status,
        401
    );
    let scoped = token(&acme);
    assert_eq!(
        app.admin(&scoped, "GET", "/tenants", None).status,
        403,
        "listing needs all tenants"
    );
    assert_eq!(
        app.admin(&scoped, "POST", "/tenants", Some(&json!({"name": "x"})))
            .status,
        403
    );
    assert_eq!(
        app.admin(&scoped, "GET", &format!("/tenants/{acme}"), None)
            .status,
        200
    );
    let globex = scimitar::service::tenants::get(&app.db, "globex")
        .expect("globex")
        .id;
    assert_eq!(
        app.admin(&scoped, "GET", &format!("/tenants/{globex}"), None)
            .status,
        403
    );
    assert_eq!(
        app.admin(&token(ALL_TENANTS), "GET", "/nope", None).status,
        404
    );

    let off = TestApp::spawn(b);
    let res = off.admin(&token(ALL_TENANTS), "GET", "/tenants", None);
    assert_eq!(res.status, 404);
    assert!(
        res.body["message"]
            .as_str()
            .expect("message")
            .contains("SCIMITAR_ADMIN_JWT_SECRET")
    );
}

fn tenants_and_secrets_through_the_api(b: Backend) {
    let app = spawn(b);
    let root = token(ALL_TENANTS);
    let created = app.admin(&root, "POST", "/tenants", Some(&json!({"name": "Initech"})));
    assert_eq!(created.status, 201, "{:?}", created.body);
    let id = created.body["id"].as_str().expect("id").to_owned();
    let first = created.body["token"].as_str().expect("token").to_owned();
    assert_eq!(created.body["scim_url"], app.base.as_str());
    assert_eq!(app.req_as(&first, "GET", "/Users", None).status, 200);
    assert_eq!(
        app.admin(&root, "POST", "/tenants", Some(&json!({"name": "Initech"})))
            .status,
        409
    );
    assert_eq!(
        app.admin(&root, "POST", "/tenants", Some(&json!({"nom": "x"})))
            .status,
        400
    );
    let names: Vec<Value> = app.admin(&root, "GET", "/tenants", None).body["tenants"]
        .as_array()
        .expect("list")
        .iter()
        .map(|t| t["name"].clone())
        .collect();
    assert_eq!(names, [json!("acme"), json!("Initech")]);

    // Regenerate with a grace period: both work until it ends.
    let rotated = app.admin(
        &root,
        "POST",
        &format!("/tenants/{id}/secret"),
        Some(&json!({"grace_period_seconds": 3600})),
    );
    assert_eq!(rotated.status, 200);
    let second = rotated.body["token"].as_str().expect("token").to_owned();
    assert_eq!(
        app.req_as(&first, "GET", "/Users", None).status,
        200,
        "grace period"
    );
    assert_eq!(app.req_as(&second, "GET", "/Users", None).status, 200);
    // Without one, every earlier token stops at once.
    let third = app
        .admin(&root, "POST", &format!("/tenants/{id}/secret"), None)
        .body["token"]
        .as_str()
        .expect("token")
        .to_owned();
    assert_eq!(app.req_as(&first, "GET", "/Users", None).status, 401);
    assert_eq!(app.req_as(&second, "GET", "/Users", None).status, 401);
    assert_eq!(app.req_as(&third, "GET", "/Users", None).status, 200);
    // Last use is recorded beside the request, so it lands a moment after the answer.
    let creds = eventually(
        Duration::from_secs(10),
        "the newest credential shows its last use",
        || {
            let creds = app
                .admin(&root, "GET", &format!("/tenants/{id}/credentials"), None)
                .body;
            creds["credentials"][0]["last_used_at"]
                .is_string()
                .then_some(creds)
        },
    );
    let creds = creds["credentials"].as_array().expect("credentials");
    assert_eq!(creds.len(), 3);
    assert_eq!(creds.iter().filter(|c| c["active"] == true).count(), 1);
    let listing = serde_json::to_string(creds).expect("json");
    for secret in [&first, &second, &third] {
        let (_, s) = secret.rsplit_once('_').expect("shape");
        assert!(
            !listing.contains(s),
            "a secret leaked into the credential list"
        );
    }
    let feed = app
        .admin(&root, "GET", &format!("/tenants/{id}/events"), None)
        .body;
    assert_eq!(
        types(&feed),
        ["tenant.secret_rotated", "tenant.secret_rotated"]
    );
    assert_eq!(
        app.admin(&root, "DELETE", &format!("/tenants/{id}"), None)
            .status,
        204
    );
    assert_eq!(app.req_as(&third, "GET", "/Users", None).status, 401);
    assert_eq!(
        app.admin(&root, "GET", &format!("/tenants/{id}"), None)
            .status,
        404
    );
}

fn scim_changes_become_events_in_order(b: Backend) {
    let app = spawn(b);
    let acme = tenant_id(&app);
    let uid = app.create_user("jdoe@example.com");
    let ops = patch_ops;
    app.req(
        "PATCH",
        &format!("/Users/{uid}"),
        Some(&ops(
            json!([{"op": "replace", "path": "active", "value": false}]),
        )),
    );
    app.req(
        "PATCH",
        &format!("/Users/{uid}"),
        Some(&ops(
            json!([{"op": "replace", "path": "active", "value": true}]),
        )),
    );
    let gid = app
        .req(
            "POST",
            "/Groups",
            Some(&json!({"displayName": "Eng", "members": [{"value": uid}]})),
        )
        .body["id"]
        .as_str()
        .expect("id")
        .to_owned();
    app.req(
        "PATCH",
        &format!("/Groups/{gid}"),
        Some(&ops(
            json!([{"op": "remove", "path": "members", "value": [{"value": uid}]}]),
        )),
    );
    app.req(
        "PUT",
        &format!("/Groups/{gid}"),
        Some(&json!({"displayName": "Engineering", "members": [{"value": uid}]})),
    );
    app.req("DELETE", &format!("/Groups/{gid}"), None);
    app.req("DELETE", &format!("/Users/{uid}"), None);
    // A failed write records nothing.
    app.req("POST", "/Users", Some(&json!({"name": {}})));

    let scoped = token(&acme);
    // The PUT of a group's whole member list is also a finding of the connection diagnosis,
    // announced from the provisioning log a moment later, among the changes' events.
    let feed = eventually(Duration::from_secs(10), "the diagnosis's event", || {
        let feed = app.admin(&scoped, "GET", "/events", None).body;
        types(&feed)
            .contains(&"connection.finding".to_owned())
            .then_some(feed)
    });
    let changes: Vec<String> = types(&feed)
        .into_iter()
        .filter(|t| t != "connection.finding")
        .collect();
    assert_eq!(
        changes,
        [
            "user.created",
            "user.updated",
            "user.deactivated",
            "user.updated",
            "user.reactivated",
            "group.created",
            "group.member_added",
            "group.member_removed",
            "group.updated",
            "group.member_added",
            "group.deleted",
            "user.deleted",
        ]
    );
    let events = feed["events"].as_array().expect("events");
    let seqs: Vec<i64> = events
        .iter()
        .map(|e| e["seq"].as_i64().expect("seq"))
        .collect();
    assert_eq!(seqs, (1..=13).collect::<Vec<_>>());
    assert_eq!(events[0]["data"]["user"]["userName"], "jdoe@example.com");
    assert_eq!(events[2]["data"]["user"]["active"], false);
    assert_eq!(
        events[6]["data"],
        json!({"group": {"id": gid, "displayName": "Eng", "externalId": null}, "members": [uid]})
    );
    assert!(
        events[0]["id"]
            .as_str()
            .is_some_and(|i| i.starts_with("evt_"))
    );
    // Paging with the cursor.
    let page = app.admin(&scoped, "GET", "/events?limit=5", None).body;
    assert_eq!(page["events"].as_array().map(Vec::len), Some(5));
    let next = page["next_cursor"].as_str().expect("cursor").to_owned();
    let rest = app
        .admin(&scoped, "GET", &format!("/events?after={next}"), None)
        .body;
    assert_eq!(rest["events"][0]["seq"], 6);
    assert_eq!(
        app.admin(&scoped, "GET", "/events?after=zz", None).status,
        400
    );
    assert_eq!(
        app.admin(&token(ALL_TENANTS), "GET", "/events", None)
            .status,
        400,
        "needs a tenant-scoped token"
    );
    assert_eq!(
        app.admin(
            &token(ALL_TENANTS),
            "GET",
            &format!("/tenants/{acme}/events?after=11"),
            None
        )
        .body["events"][0]["type"],
        "user.deleted"
    );
}

/// A mapping may name a group by displayName: renaming the group (by PATCH or PUT) moves its
/// members in or out of the mapped role.
fn renaming_a_mapped_group_changes_its_members_roles(b: Backend) {
    let app = spawn(b);
    let acme = tenant_id(&app);
    let root = token(ALL_TENANTS);
    let ann = app.create_user("ann@example.com");
    let created = app.req(
        "POST",
        "/Groups",
        Some(&json!({"displayName": "Engineering", "members": [{"value": ann}]})),
    );
    let eng = created.body["id"].as_str().expect("id").to_owned();
    let mappings = json!({"default_role": "member", "mappings": [{"group": "Engineering", "role": "developer"}]});
    let saved = app.admin(
        &root,
        "PUT",
        &format!("/tenants/{acme}/role-mappings"),
        Some(&mappings),
    );
    assert_eq!(saved.status, 200, "{:?}", saved.body);
    let roles = || {
        app.admin(&root, "GET", &format!("/tenants/{acme}/users/{ann}"), None)
            .body["roles"]
            .clone()
    };
    assert_eq!(roles(), json!(["developer"]));
    let rename = patch_ops(json!([{"op": "replace", "path": "displayName", "value": "Platform"}]));
    let res = app.req("PATCH", &format!("/Groups/{eng}"), Some(&rename));
    assert_eq!(res.status, 204, "{:?}", res.body);
    assert_eq!(roles(), json!(["member"]));
    let back = json!({"displayName": "Engineering", "members": [{"value": ann}]});
    let res = app.req("PUT", &format!("/Groups/{eng}"), Some(&back));
    assert_eq!(res.status, 200, "{:?}", res.body);
    assert_eq!(roles(), json!(["developer"]));
    let feed = app
        .admin(
            &root,
            "GET",
            &format!("/tenants/{acme}/events?limit=100"),
            None,
        )
        .body;
    let changes: Vec<&Value> = feed["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["type"] == "user.roles_changed")
        .map(|e| &e["data"]["roles"])
        .collect();
    // Saving the mapping, the rename away, the rename back.
    assert_eq!(
        changes,
        [
            &json!(["developer"]),
            &json!(["member"]),
            &json!(["developer"])
        ],
        "{feed}"
    );
}

fn groups_map_to_roles(b: Backend) {
    let app = spawn(b);
    let acme = tenant_id(&app);
    let root = token(ALL_TENANTS);
    let (ann, bob) = (
        app.create_user("ann@example.com"),
        app.create_user("bob@example.com"),
    );
    let eng = app
        .req(
            "POST",
            "/Groups",
            Some(&json!({"displayName": "Engineering", "members": [{"value": ann}]})),
        )
        .body["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let leads = app
        .req(
            "POST",
            "/Groups",
            Some(&json!({"displayName": "Leads", "members": [{"value": eng}]})),
        )
        .body["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let mappings = json!({"default_role": "member", "mappings": [{"group": "engineering", "role": "developer"}, {"group": leads, "role": "admin"}]});
    let saved = app.admin(
        &root,
        "PUT",
        &format!("/tenants/{acme}/role-mappings"),
        Some(&mappings),
    );
    assert_eq!(saved.status, 200, "{:?}", saved.body);
    assert_eq!(
        app.admin(
            &root,
            "GET",
            &format!("/tenants/{acme}/role-mappings"),
            None
        )
        .body["default_role"],
        "member"
    );
    let roles = |id: &str| {
        app.admin(&root, "GET", &format!("/tenants/{acme}/users/{id}"), None)
            .body["roles"]
            .clone()
    };
    // Nested: ann is in Engineering, which is in Leads.
    assert_eq!(roles(&ann), json!(["admin", "developer"]));
    assert_eq!(roles(&bob), json!(["member"]));
    let users = app
        .admin(
            &root,
            "GET",
            &format!("/tenants/{acme}/users?filter=userName%20sw%20%22b%22"),
            None,
        )
        .body;
    assert_eq!(users["totalResults"], 1);
    assert_eq!(users["users"][0]["roles"], json!(["member"]));

    // The mapping change recorded ann's and bob's new roles.
    let feed = app
        .admin(&root, "GET", &format!("/tenants/{acme}/events"), None)
        .body;
    let changed: Vec<&Value> = feed["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["type"] == "user.roles_changed")
        .collect();
    assert_eq!(changed.len(), 2, "{changed:?}");
    let cursor = feed["next_cursor"].as_str().expect("cursor").to_owned();
    // A membership change does too.
    let ops = patch_ops(json!([{"op": "add", "path": "members", "value": [{"value": bob}]}]));
    assert_eq!(
        app.req("PATCH", &format!("/Groups/{eng}"), Some(&ops))
            .status,
        204
    );
    let feed = app
        .admin(
            &root,
            "GET",
            &format!("/tenants/{acme}/events?after={cursor}"),
            None,
        )
        .body;
    assert_eq!(types(&feed), ["group.member_added", "user.roles_changed"]);
    assert_eq!(
        feed["events"][1]["data"],
        json!({"user": {"id": bob}, "roles": ["admin", "developer"], "previous_roles": ["member"]})
    );
    assert_eq!(
        app.admin(
            &root,
            "PUT",
            &format!("/tenants/{acme}/role-mappings"),
            Some(&json!({"mappings": [{"group": "", "role": "x"}]}))
        )
        .status,
        400
    );
}

fn public_key_tokens(b: Backend) {
    // An ES256 key pair made for this test by openssl; the server gets only the public half.
    let dir = tempfile::tempdir().expect("dir");
    let (private, public) = (dir.path().join("key.pem"), dir.path().join("pub.pem"));
    let openssl = |args: &[&str]| {
        assert!(
            std::process::Command::new("openssl")
                .args(args)
                .status()
                .expect("openssl")
                .success()
        )
    };
    openssl(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        private.to_str().expect("path"),
    ]);
    openssl(&[
        "pkey",
        "-in",
        private.to_str().expect("path"),
        "-pubout",
        "-out",
        public.to_str().expect("path"),
    ]);
    let pem = std::fs::read(&public).expect("public key");
    let app = TestApp::spawn_with(b, |s| {
        s.admin = Some(AdminAuth {
            key: AdminKey::PublicKeyPem(pem),
            issuer: Some("https://idp.example.com".into()),
            audience: Some("scimitar".into()),
        })
    });
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let key =
        jsonwebtoken::EncodingKey::from_ec_pem(&std::fs::read(&private).expect("private key"))
            .expect("ec key");
    let es256 = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    let good = jsonwebtoken::encode(
        &es256,
        &json!({"exp": now + 60, "tenant": "*", "iss": "https://idp.example.com", "aud": "scimitar"}),
        &key,
    )
    .expect("jwt");
    assert_eq!(app.admin(&good, "GET", "/tenants", None).status, 200);
    let wrong_aud = jsonwebtoken::encode(
        &es256,
        &json!({"exp": now + 60, "tenant": "*", "iss": "https://idp.example.com", "aud": "other"}),
        &key,
    )
    .expect("jwt");
    assert_eq!(app.admin(&wrong_aud, "GET", "/tenants", None).status, 401);
    // RFC 7519 §4.1.3: aud may be a list.
    let listed = jsonwebtoken::encode(
        &es256,
        &json!({"exp": now + 60, "tenant": "*", "iss": "https://idp.example.com", "aud": ["other", "scimitar"]}),
        &key,
    )
    .expect("jwt");
    assert_eq!(app.admin(&listed, "GET", "/tenants", None).status, 200);
    // With a public key, iss and aud are required, not only checked when present.
    for claims in [
        json!({"exp": now + 60, "tenant": "*", "aud": "scimitar"}),
        json!({"exp": now + 60, "tenant": "*", "iss": "https://idp.example.com"}),
        json!({"exp": now + 60, "tenant": "*", "iss": "https://other.example.com", "aud": "scimitar"}),
    ] {
        let token = jsonwebtoken::encode(&es256, &claims, &key).expect("jwt");
        assert_eq!(
            app.admin(&token, "GET", "/tenants", None).status,
            401,
            "{claims}"
        );
    }
    // The server expects ES256: an HS256 token is refused.
    assert_eq!(
        app.admin(&token(ALL_TENANTS), "GET", "/tenants", None)
            .status,
        401
    );
}

fn provisioning_log_records_requests(b: Backend) {
    let app = TestApp::spawn_with(b, |s| {
        s.admin = Some(admin_auth());
        s.log_retention = Duration::from_secs(86_400);
    });
    let acme = tenant_id(&app);
    let root = token(ALL_TENANTS);
    // An entry older than the retention goes at the first prune, which an instance makes as it
    // starts: one is started after the entry is written.
    let old = format!(
        "INSERT INTO provisioning_log (tenant_id, id, at, method, path, status, latency_ms) VALUES ('{acme}', '0000000000001-old', 1, 'GET', '/old', 200, 1)"
    );
    app.db
        .run_sync(move |c| Ok(diesel::RunQueryDsl::execute(diesel::sql_query(old), c)?))
        .expect("old entry");
    app.another_instance();
    let password = "never-in-the-log-7";
    let created = app.req(
        "POST",
        "/Users",
        Some(&json!({"userName": "ann@example.com", "password": password})),
    );
    let id = created.body["id"].as_str().expect("id").to_owned();
    app.req("GET", "/Users?filter=userName%20eq", None);
    app.req("GET", "/Users/no-such-id", None);
    app.raw(
        "GET",
        "/Users",
        Some("Bearer scim_aaaaaaaaaaaa_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"),
        None,
    );
    // The log is written in batches beside the requests.
    let all = eventually(
        Duration::from_secs(10),
        "3 entries written and the old one pruned",
        || {
            let res = app.admin(&root, "GET", &format!("/tenants/{acme}/logs"), None);
            assert_eq!(res.status, 200, "{:?}", res.body);
            let n = res.body["entries"].as_array().map_or(0, Vec::len);
            (n >= 3 && !res.body.to_string().contains("/old")).then_some(res.body)
        },
    );
    let entries = all["entries"].as_array().expect("entries");
    assert_eq!(
        entries.len(),
        3,
        "3 requests of this tenant, none older than the retention: {entries:?}"
    );
    assert_eq!(entries[0]["status"], 404);
    assert_eq!(entries[0]["resource_id"], "no-such-id");
    assert_eq!(entries[1]["status"], 400);
    assert_eq!(entries[1]["scim_type"], "invalidFilter");
    assert!(
        entries[1]["detail"]
            .as_str()
            .is_some_and(|d| d.contains("offset"))
    );
    assert_eq!(entries[2]["method"], "POST");
    assert_eq!(entries[2]["status"], 201);
    assert_eq!(entries[2]["resource_type"], "User");
    assert_eq!(entries[2]["resource_id"], id.as_str());
    assert!(entries[2]["user_agent"].is_string());
    let text = all.to_string();
    assert!(
        !text.contains(password) && !text.contains(&app.token),
        "no secret in the log"
    );
    let errors = app
        .admin(
            &root,
            "GET",
            &format!("/tenants/{acme}/logs?status=4xx"),
            None,
        )
        .body;
    assert_eq!(errors["entries"].as_array().map(Vec::len), Some(2));
    let page = app
        .admin(&root, "GET", &format!("/tenants/{acme}/logs?limit=1"), None)
        .body;
    let cursor = page["next_cursor"].as_str().expect("cursor");
    let next = app
        .admin(
            &root,
            "GET",
            &format!("/tenants/{acme}/logs?limit=1&before={cursor}"),
            None,
        )
        .body;
    assert_eq!(next["entries"][0]["status"], 400);
    let future = app
        .admin(
            &root,
            "GET",
            &format!("/tenants/{acme}/logs?since=2999-01-01T00:00:00Z"),
            None,
        )
        .body;
    assert_eq!(future["entries"], json!([]));
    // The time bounds select by the entry's own time, to the millisecond.
    let at = |entry: &Value| entry["at"].as_str().expect("at").to_owned();
    let created_at = at(&entries[2]);
    let window = |query: String| {
        let res = app.admin(&root, "GET", &format!("/tenants/{acme}/logs?{query}"), None);
        assert_eq!(res.status, 200, "{:?}", res.body);
        res.body["entries"].as_array().map_or(0, Vec::len)
    };
    assert_eq!(window(format!("since={created_at}")), 3);
    assert_eq!(window(format!("until={created_at}")), 0);
    assert_eq!(
        window("since=2000-01-01T00:00:00Z&until=2999-01-01T00:00:00Z".into()),
        3
    );
    assert_eq!(
        app.admin(
            &root,
            "GET",
            &format!("/tenants/{acme}/logs?status=teapot"),
            None
        )
        .status,
        400
    );
    assert_eq!(
        app.admin(
            &root,
            "GET",
            &format!("/tenants/{acme}/logs?since=yesterday"),
            None
        )
        .status,
        400
    );
}

/// U+0000 and non-characters in the admin API and in what the provisioning log keeps.
fn refused_characters_reach_no_table(b: Backend) {
    let app = spawn(b);
    let acme = tenant_id(&app);
    let root = token(ALL_TENANTS);
    for name in ["a\u{0}b", "a\u{FFFE}"] {
        let res = app.admin(&root, "POST", "/tenants", Some(&json!({"name": name})));
        assert_eq!(res.status, 400, "{:?}", res.body);
        let res = app.admin(
            &root,
            "GET",
            &format!("/tenants/{}", crate::filters::encode(name)),
            None,
        );
        assert_eq!(res.status, 404, "{:?}", res.body);
        let mappings = json!({"mappings": [{"group": name, "role": "admin"}]});
        let res = app.admin(
            &root,
            "PUT",
            &format!("/tenants/{acme}/role-mappings"),
            Some(&mappings),
        );
        assert_eq!(res.status, 400, "{:?}", res.body);
        let res = app.admin(
            &root,
            "GET",
            &format!("/tenants/{acme}/users/{}", crate::filters::encode(name)),
            None,
        );
        assert_eq!(res.status, 404, "{:?}", res.body);
    }
    assert_eq!(
        app.admin(&root, "GET", "/tenants", None).body["tenants"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    // Requests whose id or error detail would quote a NUL are still logged.
    app.req("GET", "/Users/x%00", None).assert_error(404, None);
    app.req(
        "GET",
        &format!(
            "/Users?filter={}",
            crate::filters::encode("userName\u{0} pr")
        ),
        None,
    )
    .assert_error(400, Some("invalidFilter"));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let entries = loop {
        let res = app.admin(&root, "GET", &format!("/tenants/{acme}/logs"), None);
        assert_eq!(res.status, 200, "{:?}", res.body);
        let entries = res.body["entries"].as_array().cloned().unwrap_or_default();
        if entries.len() >= 2 || std::time::Instant::now() > deadline {
            break entries;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(entries.len(), 2, "{entries:?}");
    assert_eq!(entries[0]["status"], 400);
    assert!(!entries[0].to_string().contains("\\u0000"), "{entries:?}");
    assert_eq!(entries[1]["status"], 404);
    assert_eq!(entries[1]["resource_id"], Value::Null);
    let res = app.admin(
        &root,
        "GET",
        &format!("/tenants/{acme}/logs?before=x%00"),
        None,
    );
    assert_eq!(res.status, 400, "{:?}", res.body);
}

/// An unfiltered list's totalResults comes from the count the triggers keep, a filtered one's
/// from counting the matches: both follow creates and deletes, and a tenant with resources can
/// still be deleted (its counts go with it).
fn list_totals_follow_creates_and_deletes(b: Backend) {
    let app = spawn(b);
    let users: Vec<String> = (0..5)
        .map(|i| app.create_user(&format!("t{i}@example.com")))
        .collect();
    for name in ["one", "two"] {
        let res = app.req(
            "POST",
            "/Groups",
            Some(&json!({"displayName": name, "members": [{"value": users[0]}]})),
        );
        assert_eq!(res.status, 201, "{:?}", res.body);
    }
    for u in &users[..2] {
        assert_eq!(app.req("DELETE", &format!("/Users/{u}"), None).status, 204);
    }
    let total = |path: &str| app.req("GET", path, None).body["totalResults"].clone();
    assert_eq!(total("/Users?count=1"), 3);
    assert_eq!(total("/Users?count=1&filter=userName%20pr"), 3);
    assert_eq!(total("/Users?count=1&cursor="), 3);
    assert_eq!(total("/Groups?count=0"), 2);
    let gid = app.req("GET", "/Groups?count=1", None).body["Resources"][0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    assert_eq!(
        app.req("DELETE", &format!("/Groups/{gid}"), None).status,
        204
    );
    assert_eq!(total("/Groups?count=0"), 1);
    assert_eq!(total("/Groups?count=0&filter=displayName%20pr"), 1);
    let acme = tenant_id(&app);
    let root = token(ALL_TENANTS);
    assert_eq!(
        app.admin(&root, "DELETE", &format!("/tenants/{acme}"), None)
            .status,
        204
    );
}

on_both_backends!(
    list_totals_follow_creates_and_deletes,
    public_key_tokens,
    provisioning_log_records_requests,
    admin_tokens_are_checked,
    tenants_and_secrets_through_the_api,
    scim_changes_become_events_in_order,
    groups_map_to_roles,
    renaming_a_mapped_group_changes_its_members_roles,
    refused_characters_reach_no_table,
);
