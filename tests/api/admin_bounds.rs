//! Bounds around the admin API and what it keeps: rotation bodies and grace periods, admin JWT
//! claims and lifetimes, tenant-scoped tokens that cannot probe for tenants, the separate admin
//! listener, event retention, and refused SCIM tokens in the provisioning log.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use diesel::RunQueryDsl;
use scimitar::admin_token::{ALL_TENANTS, mint};
use scimitar::config::{AdminAuth, AdminKey};
use scimitar::service::tenants;
use scimitar::{Application, Settings};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp};
use crate::on_both_backends;

const SECRET: &str = "an-admin-secret-of-at-least-32-characters";
const ISSUER: &str = "scimitar-tests";

fn auth() -> AdminAuth {
    AdminAuth {
        key: AdminKey::Hs256(SECRET.as_bytes().to_vec()),
        issuer: Some(ISSUER.into()),
        audience: None,
    }
}

fn spawn(b: Backend) -> TestApp {
    TestApp::spawn_with(b, |s| s.admin = Some(auth()))
}

fn root() -> String {
    mint(&auth(), ALL_TENANTS, Duration::from_secs(300)).expect("mint")
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

/// An HS256 admin JWT with exactly these claims.
fn jwt(claims: &Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .expect("jwt")
}

fn id_of(app: &TestApp, name: &str) -> String {
    tenants::get(&app.db, name).expect("tenant").id
}

/// Polls `read` until `done` holds or 20 seconds pass; returns the last value read.
fn wait_for<T>(mut read: impl FnMut() -> T, done: impl Fn(&T) -> bool) -> T {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let v = read();
        if done(&v) || Instant::now() > deadline {
            return v;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn sql(app: &TestApp, statement: String) {
    app.db
        .run_sync(move |c| Ok(diesel::sql_query(statement).execute(c)?))
        .expect("sql");
}

fn rotation_bodies_are_validated(b: Backend) {
    let app = spawn(b);
    let acme = id_of(&app, "acme");
    let path = format!("/tenants/{acme}/secret");
    let max = tenants::MAX_GRACE.as_secs();
    for bad in [
        json!({"grace_period_seconds": "3600"}),
        json!({"grace_period_seconds": -1}),
        json!({"grace_period_seconds": 1.5}),
        json!({"grace_period_seconds": 1e30}),
        json!({"grace_period_seconds": u64::MAX}),
        json!({"grace_period_seconds": max + 1}),
        json!({"grace": 3600}),
        json!([3600]),
    ] {
        let res = app.admin(&root(), "POST", &path, Some(&bad));
        assert_eq!(res.status, 400, "{bad}: {:?}", res.body);
        assert!(
            res.body["message"]
                .as_str()
                .is_some_and(|m| m.contains("grace")),
            "{bad}: {:?}",
            res.body
        );
    }
    let url = format!("{}/admin/v1{path}", app.admin_base);
    let auth = format!("Bearer {}", root());
    let not_json = app.send_url(
        "POST",
        &url,
        Some(&auth),
        Some(("application/json", "grace=3600")),
        &[],
    );
    assert_eq!(not_json.status, 400, "{:?}", not_json.body);
    // Nothing changed: the old token works, one credential, no rotation event.
    assert_eq!(app.req("GET", "/Users", None).status, 200);
    let creds = app.admin(
        &root(),
        "GET",
        &format!("/tenants/{acme}/credentials"),
        None,
    );
    assert_eq!(creds.body["credentials"].as_array().map(Vec::len), Some(1));
    let feed = app.admin(&root(), "GET", &format!("/tenants/{acme}/events"), None);
    assert_eq!(feed.body["events"], json!([]));

    // The bound itself is allowed, and the old token keeps working through it.
    let rotated = app.admin(
        &root(),
        "POST",
        &path,
        Some(&json!({"grace_period_seconds": max})),
    );
    assert_eq!(rotated.status, 200, "{:?}", rotated.body);
    assert_eq!(app.req("GET", "/Users", None).status, 200);
    let feed = app.admin(&root(), "GET", &format!("/tenants/{acme}/events"), None);
    let until = feed.body["events"][0]["data"]["previous_credentials_valid_until"]
        .as_str()
        .expect("valid until")
        .to_owned();
    let until = chrono::DateTime::parse_from_rfc3339(&until).expect("time");
    let expected = i64::try_from(now() + max).expect("secs");
    assert!(
        (until.timestamp() - expected).abs() < 60,
        "seven days from now: {until}"
    );
    // An empty body still means no grace period.
    let url = format!("{}/admin/v1{path}", app.admin_base);
    assert_eq!(
        app.send_url("POST", &url, Some(&auth), None, &[]).status,
        200
    );
    assert_eq!(app.req("GET", "/Users", None).status, 401);
}

fn admin_token_claims_are_bounded(b: Backend) {
    let app = spawn(b);
    let t = now();
    let ok = jwt(&json!({"exp": t + 60, "iat": t, "tenant": "*", "iss": ISSUER}));
    assert_eq!(app.admin(&ok, "GET", "/tenants", None).status, 200);
    let refused = |claims: Value, why: &str| {
        let res = app.admin(&jwt(&claims), "GET", "/tenants", None);
        assert_eq!(res.status, 401, "{why}: {:?}", res.body);
    };
    refused(
        json!({"exp": t + 60, "tenant": "*"}),
        "a configured issuer must be present",
    );
    refused(
        json!({"exp": t + 600, "nbf": t + 300, "tenant": "*", "iss": ISSUER}),
        "not valid before nbf",
    );
    // The default maximum lifetime is 24 hours: exp - iat, or exp - now without iat.
    refused(
        json!({"exp": t + 60, "iat": t - 2 * 86_400, "tenant": "*", "iss": ISSUER}),
        "issued two days before it ends",
    );
    refused(
        json!({"exp": t + 2 * 86_400, "tenant": "*", "iss": ISSUER}),
        "ends in two days, no iat",
    );
    refused(
        json!({"exp": t + 3600, "iat": t + 1800, "tenant": "*", "iss": ISSUER}),
        "issued in the future",
    );
    let long_ok = jwt(&json!({"exp": t + 86_000, "iat": t, "tenant": "*", "iss": ISSUER}));
    assert_eq!(app.admin(&long_ok, "GET", "/tenants", None).status, 200);

    // A shorter configured maximum holds too.
    let short = TestApp::spawn_with(b, |s| {
        s.admin = Some(auth());
        s.admin_token_max_ttl = Duration::from_secs(600);
    });
    let res = short.admin(&root(), "GET", "/tenants", None);
    assert_eq!(res.status, 200, "300 s is within 600 s: {:?}", res.body);
    let hour = mint(&auth(), ALL_TENANTS, Duration::from_secs(3600)).expect("mint");
    assert_eq!(short.admin(&hour, "GET", "/tenants", None).status, 401);
}

fn scoped_tokens_cannot_probe_for_tenants(b: Backend) {
    let app = spawn(b);
    let globex_token = app.new_tenant("globex");
    let globex = id_of(&app, "globex");
    let scoped = mint(&auth(), &id_of(&app, "acme"), Duration::from_secs(300)).expect("mint");
    for suffix in ["", "/secret", "/users", "/logs", "/events", "/credentials"] {
        let method = if suffix == "/secret" { "POST" } else { "GET" };
        let exists = app.admin(&scoped, method, &format!("/tenants/{globex}{suffix}"), None);
        let missing = app.admin(
            &scoped,
            method,
            &format!("/tenants/{}{suffix}", uuid::Uuid::new_v4()),
            None,
        );
        let by_name = app.admin(&scoped, method, &format!("/tenants/globex{suffix}"), None);
        let no_name = app.admin(&scoped, method, &format!("/tenants/nobody{suffix}"), None);
        assert_eq!(exists.status, 403, "{suffix}: {:?}", exists.body);
        for other in [&missing, &by_name, &no_name] {
            assert_eq!(
                (other.status, &other.body),
                (exists.status, &exists.body),
                "{suffix}"
            );
        }
    }
    // The rotation was refused: globex's token still works.
    assert_eq!(app.req_as(&globex_token, "GET", "/Users", None).status, 200);
    let res = app.admin(&scoped, "GET", "/tenants/acme", None);
    assert_eq!(res.status, 200, "its own tenant, by name: {:?}", res.body);
    // A token for every tenant still learns that a tenant does not exist.
    assert_eq!(
        app.admin(&root(), "GET", "/tenants/nobody", None).status,
        404
    );
}

fn the_admin_listener_serves_only_the_admin_api(b: Backend) {
    let app = TestApp::spawn_with(b, |s| {
        s.admin = Some(auth());
        s.admin_listen = Some("127.0.0.1:0".into());
    });
    let scim_origin = app.base.trim_end_matches("/scim/v2").to_owned();
    assert_ne!(app.admin_base, scim_origin);
    let res = app.admin(&root(), "GET", "/tenants", None);
    assert_eq!(res.status, 200, "{:?}", res.body);
    let auth = format!("Bearer {}", root());
    let on_scim = app.send_url(
        "GET",
        &format!("{scim_origin}/admin/v1/tenants"),
        Some(&auth),
        None,
        &[],
    );
    on_scim.assert_error(404, None);
    assert_eq!(app.req("GET", "/Users", None).status, 200);
    let scim_auth = format!("Bearer {}", app.token);
    for path in ["/scim/v2/Users", "/scim/v2/ServiceProviderConfig"] {
        let res = app.send_url(
            "GET",
            &format!("{}{path}", app.admin_base),
            Some(&scim_auth),
            None,
            &[],
        );
        assert_eq!(
            res.status, 404,
            "{path} on the admin listener: {:?}",
            res.body
        );
    }
}

fn feed_seqs(app: &TestApp, tenant: &str) -> Vec<i64> {
    app.admin(&root(), "GET", &format!("/tenants/{tenant}/events"), None)
        .body["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["seq"].as_i64().expect("seq"))
        .collect()
}

fn old_events_are_pruned_unless_a_webhook_still_owes_them(b: Backend) {
    let app = TestApp::spawn_with(b, |s| {
        s.admin = Some(auth());
        s.event_retention = Duration::from_secs(1);
    });
    let acme = id_of(&app, "acme");
    // acme's webhook is enabled and cannot deliver (nothing listens on port 1). It is written
    // to the database directly, so no address rule of the admin API is in the way.
    sql(
        &app,
        format!(
            "INSERT INTO webhooks (tenant_id, url, secret, enabled, delivered_seq, failures, next_attempt_at, created_at) \
             VALUES ('{acme}', 'http://127.0.0.1:1/hook', 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', TRUE, 0, 0, 0, 0)"
        ),
    );
    for name in ["ann", "bob", "cyd"] {
        app.create_user(&format!("{name}@example.com"));
    }
    let globex_token = app.new_tenant("globex");
    let globex = id_of(&app, "globex");
    let res = app.req_as(
        &globex_token,
        "POST",
        "/Users",
        Some(&json!({"userName": "dee@example.com"})),
    );
    assert_eq!(res.status, 201, "{:?}", res.body);
    assert_eq!(feed_seqs(&app, &globex), [1]);
    // globex has no webhook: its event goes once it is older than the retention.
    let left = wait_for(|| feed_seqs(&app, &globex), Vec::is_empty);
    assert_eq!(left, Vec::<i64>::new(), "globex's old event was pruned");
    // acme's are older still, but its webhook has delivered none of them.
    assert_eq!(feed_seqs(&app, &acme), [1, 2, 3]);
    // Once the webhook has delivered the first two, only the third is kept.
    sql(
        &app,
        format!("UPDATE webhooks SET delivered_seq = 2 WHERE tenant_id = '{acme}'"),
    );
    let left = wait_for(|| feed_seqs(&app, &acme), |s| s.len() < 3);
    assert_eq!(left, [3]);
    // Switched off (as the deliverer does after repeated failure), it holds nothing back.
    sql(
        &app,
        format!("UPDATE webhooks SET enabled = FALSE WHERE tenant_id = '{acme}'"),
    );
    let left = wait_for(|| feed_seqs(&app, &acme), Vec::is_empty);
    assert_eq!(left, Vec::<i64>::new());
    // New events are in the feed until they age, and sequence numbers go on.
    app.create_user("eve@example.com");
    let seqs = feed_seqs(&app, &acme);
    assert!(seqs.is_empty() || seqs == [4], "{seqs:?}");
}

fn old_events_are_kept_for_a_host_event_handler_still_trying(b: Backend) {
    let app = TestApp::spawn_with(b, |s| {
        s.admin = Some(auth());
        s.event_retention = Duration::from_secs(1);
    });
    let acme = id_of(&app, "acme");
    for name in ["ann", "bob", "cyd"] {
        app.create_user(&format!("{name}@example.com"));
    }
    // A library host's handler has handled event 1 and wrote its cursor just now (a far
    // future time stands for "every time the pruner looks").
    sql(
        &app,
        format!(
            "INSERT INTO event_cursors (tenant_id, consumer, handled_seq, failures, next_attempt_at, updated_at) \
             VALUES ('{acme}', 'sessions', 1, 3, 0, 9000000000000000)"
        ),
    );
    let left = wait_for(|| feed_seqs(&app, &acme), |s| s.len() < 3);
    assert_eq!(
        left,
        [2, 3],
        "the events it owes are kept past the retention"
    );
    // A handler silent for longer than the retention (its host gone) holds nothing back.
    sql(
        &app,
        format!("UPDATE event_cursors SET updated_at = 0 WHERE tenant_id = '{acme}'"),
    );
    let left = wait_for(|| feed_seqs(&app, &acme), Vec::is_empty);
    assert_eq!(left, Vec::<i64>::new());
}

fn refused_tokens_of_known_key_ids_are_logged(b: Backend) {
    let app = spawn(b);
    let acme = id_of(&app, "acme");
    let revoked = app.token.clone();
    let current = tenants::rotate_secret(&app.db, "acme", None)
        .expect("rotate")
        .token
        .reveal();
    assert_eq!(app.req_as(&revoked, "GET", "/Users", None).status, 401);
    let (key, secret) = current.rsplit_once('_').expect("token shape");
    let wrong = format!("{key}_{}", "x".repeat(secret.len()));
    assert_ne!(wrong, current);
    assert_eq!(
        app.req_as(&wrong, "GET", "/Users?count=1", None).status,
        401
    );
    // A token whose grace period has ended.
    let graced =
        tenants::rotate_secret(&app.db, "acme", Some(Duration::from_secs(1))).expect("rotate");
    let ended = current.clone();
    let status = wait_for(
        || app.req_as(&ended, "GET", "/Groups", None).status,
        |s| *s == 401,
    );
    assert_eq!(status, 401);
    // An unknown key id names no tenant, so no tenant's log gets it.
    let unknown = "scim_aaaaaaaaaaaa_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    assert_eq!(app.req_as(unknown, "GET", "/Users", None).status, 401);
    assert_eq!(
        app.req_as(&graced.token.reveal(), "GET", "/Users", None)
            .status,
        200
    );

    let entries = wait_for(
        || {
            app.admin(
                &root(),
                "GET",
                &format!("/tenants/{acme}/logs?status=401"),
                None,
            )
            .body["entries"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        },
        |e| e.len() >= 3,
    );
    let details: Vec<&str> = entries
        .iter()
        .map(|e| e["detail"].as_str().expect("detail"))
        .collect();
    assert_eq!(details.len(), 3, "{entries:?}");
    let key_of = |t: &str| t.split('_').nth(1).expect("key id").to_owned();
    let find = |words: &str| {
        entries
            .iter()
            .find(|e| e["detail"].as_str().is_some_and(|d| d.contains(words)))
            .unwrap_or_else(|| panic!("no entry says {words:?}: {details:?}"))
    };
    let regenerated = find("secret was regenerated");
    assert!(
        regenerated["detail"]
            .as_str()
            .expect("d")
            .contains(&key_of(&revoked))
    );
    assert_eq!(regenerated["method"], "GET");
    assert_eq!(regenerated["path"], "/scim/v2/Users");
    assert_eq!(regenerated["resource_type"], "User");
    let wrong_secret = find("wrong secret for key id");
    assert!(
        wrong_secret["detail"]
            .as_str()
            .expect("d")
            .contains(&key_of(&current))
    );
    assert_eq!(wrong_secret["path"], "/scim/v2/Users?count=1");
    let grace = find("grace period");
    assert_eq!(grace["resource_type"], "Group");
    let text = Value::Array(entries).to_string();
    for token in [&revoked, &current, &wrong] {
        let (_, s) = token.rsplit_once('_').expect("shape");
        assert!(!text.contains(s), "a secret reached the log");
    }
}

on_both_backends!(
    rotation_bodies_are_validated,
    admin_token_claims_are_bounded,
    scoped_tokens_cannot_probe_for_tenants,
    the_admin_listener_serves_only_the_admin_api,
    old_events_are_pruned_unless_a_webhook_still_owes_them,
    old_events_are_kept_for_a_host_event_handler_still_trying,
    refused_tokens_of_known_key_ids_are_logged,
);

#[test]
fn a_public_key_needs_an_issuer_and_an_audience() {
    let dir = tempfile::tempdir().expect("dir");
    for (issuer, audience) in [
        (None, None),
        (Some("https://idp.example.com"), None),
        (None, Some("scimitar")),
    ] {
        let settings = Settings {
            listen: "127.0.0.1:0".into(),
            database_url: Backend::Sqlite.fresh_database(dir.path()).url.clone(),
            admin: Some(AdminAuth {
                key: AdminKey::PublicKeyPem(b"not read before the check".to_vec()),
                issuer: issuer.map(str::to_owned),
                audience: audience.map(str::to_owned),
            }),
            ..Settings::default()
        };
        let built = actix_web::rt::System::new().block_on(Application::build(settings));
        let message = built.err().expect("refused at start").to_string();
        assert!(
            message.contains("SCIMITAR_ADMIN_JWT_ISSUER")
                && message.contains("SCIMITAR_ADMIN_JWT_AUDIENCE"),
            "{message}"
        );
    }
}
