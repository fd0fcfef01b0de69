//! Connection diagnosis: each finding comes from the request sequence that produces it, shows
//! in `GET /admin/v1/tenants/{id}/findings` with its evidence and fix, and is announced once by
//! a `connection.finding` event.

use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::{Value, json};

use scimitar::DeliveryPolicy;
use scimitar::admin_token::{ALL_TENANTS, mint};
use scimitar::config::RateLimits;
use scimitar::events::egress::Egress;
use scimitar::service::tenants;

use crate::helpers::{Backend, Res, TestApp, admin_auth, eventually, patch_ops, webhook_receiver};
use crate::on_both_backends;

const ENTRA: &str = "Microsoft Azure AD SCIM provisioning 1.0.0";
const OKTA: &str = "Okta SCIM Client 1.0.0";

fn spawn(b: Backend) -> TestApp {
    TestApp::spawn_with(b, |s| s.admin = Some(admin_auth()))
}

fn root() -> String {
    mint(&admin_auth(), ALL_TENANTS, Duration::from_secs(300)).expect("mint")
}

/// Sends a SCIM request as the default tenant with a user agent.
fn send_as(app: &TestApp, agent: &str, method: &str, path: &str, body: &Value) -> Res {
    let auth = format!("Bearer {}", app.token);
    let body = body.to_string();
    app.send(
        method,
        path,
        Some(&auth),
        Some(("application/scim+json", &body)),
        &[("User-Agent", agent)],
    )
}

fn findings(app: &TestApp, tenant: &str) -> Value {
    let res = app.admin(&root(), "GET", &format!("/tenants/{tenant}/findings"), None);
    assert_eq!(res.status, 200, "{:?}", res.body);
    res.body
}

/// Waits until the tenant has a finding of `kind` in `state`, and returns it.
fn finding(app: &TestApp, kind: &str, state: &str) -> Value {
    eventually(
        Duration::from_secs(10),
        &format!("a finding {kind} that is {state}"),
        || {
            findings(app, "acme")["findings"]
                .as_array()
                .expect("findings")
                .iter()
                .find(|f| f["kind"] == kind && f["state"] == state)
                .cloned()
        },
    )
}

/// The `connection.finding` events of the tenant, by kind.
fn announced(app: &TestApp) -> Vec<String> {
    app.admin(&root(), "GET", "/tenants/acme/events", None).body["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["type"] == "connection.finding")
        .map(|e| e["data"]["kind"].as_str().expect("kind").to_owned())
        .collect()
}

fn fix_text(f: &Value) -> String {
    f["fix"]
        .as_array()
        .expect("fix steps")
        .iter()
        .map(|s| s.as_str().expect("step"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn entra_without_the_flag_is_found_with_its_evidence_and_announced(b: Backend) {
    let app = spawn(b);
    let other = app.new_tenant("globex");
    let id = app.create_user("ann@example.com");
    let legacy = patch_ops(json!([{"op": "Replace", "path": "active", "value": "False"}]));
    let res = send_as(&app, ENTRA, "PATCH", &format!("/Users/{id}"), &legacy);
    assert_eq!(res.status, 200, "{:?}", res.body);
    // The same request in RFC 7644's spelling, from another tenant, is nothing to report.
    let theirs = app.req_as(
        &other,
        "POST",
        "/Users",
        Some(&json!({"userName": "bob@example.com"})),
    );
    let rfc = patch_ops(json!([{"op": "replace", "path": "active", "value": false}]));
    let path = format!("/Users/{}", theirs.body["id"].as_str().expect("id"));
    assert_eq!(app.req_as(&other, "PATCH", &path, Some(&rfc)).status, 200);

    let f = finding(&app, "entra_legacy_dialect", "open");
    assert_eq!(f["idp"], "entra");
    assert_eq!(f["severity"], "warning");
    assert!(fix_text(&f).contains("?aadOptscim062020"), "{f}");
    let evidence = f["evidence"].as_array().expect("evidence");
    assert_eq!(evidence.len(), 1, "{f}");
    assert_eq!(evidence[0]["method"], "PATCH");
    assert_eq!(evidence[0]["path"], format!("/scim/v2/Users/{id}"));
    assert_eq!(evidence[0]["user_agent"], ENTRA);
    let report = findings(&app, "acme");
    assert_eq!(report["identity_provider"]["idp"], "entra");
    assert_eq!(report["identity_provider"]["name"], "Microsoft Entra ID");
    assert_eq!(announced(&app), ["entra_legacy_dialect"]);
    // The RFC PATCH of the other tenant has been logged by now; it showed nothing.
    eventually(Duration::from_secs(10), "globex's requests logged", || {
        let log = app.admin(&root(), "GET", "/tenants/globex/logs", None).body;
        (log["entries"].as_array().map(Vec::len) == Some(2)).then_some(())
    });
    assert_eq!(findings(&app, "globex")["findings"], json!([]));
}

fn okta_memberships_sent_in_put_are_found(b: Backend) {
    let app = spawn(b);
    let user = app.create_user("ann@example.com");
    let group = app.req("POST", "/Groups", Some(&json!({"displayName": "eng"})));
    let id = group.body["id"].as_str().expect("id");
    let whole = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "displayName": "eng",
        "members": [{"value": user}],
    });
    let res = send_as(&app, OKTA, "PUT", &format!("/Groups/{id}"), &whole);
    assert_eq!(res.status, 200, "{:?}", res.body);
    let f = finding(&app, "group_members_in_put", "open");
    assert_eq!(f["idp"], "okta");
    assert!(fix_text(&f).contains("Push Groups"), "{f}");
    assert_eq!(f["evidence"][0]["method"], "PUT");
    assert_eq!(findings(&app, "acme")["identity_provider"]["idp"], "okta");
}

fn a_token_whose_secret_was_regenerated_is_found_once_it_repeats(b: Backend) {
    let app = spawn(b);
    assert_eq!(app.req("GET", "/Users", None).status, 200);
    let new = tenants::rotate_secret(&app.db, "acme", None)
        .expect("rotate")
        .token
        .reveal();
    for _ in 0..3 {
        app.req("GET", "/Users", None).assert_error(401, None);
    }
    let f = finding(&app, "revoked_token", "open");
    assert_eq!(f["severity"], "error");
    assert_eq!(f["seen"], 3);
    let evidence = f["evidence"].as_array().expect("evidence");
    assert_eq!(evidence.len(), 3);
    for e in evidence {
        assert_eq!(e["status"], 401);
        assert!(
            e["detail"]
                .as_str()
                .is_some_and(|d| d.contains("secret was regenerated")),
            "{e}"
        );
    }
    // The new token works; the finding stays until the admin dismisses it.
    assert_eq!(app.req_as(&new, "GET", "/Users", None).status, 200);
    assert_eq!(announced(&app), ["revoked_token"]);
}

fn users_without_any_membership_are_found_and_resolved_when_groups_arrive(b: Backend) {
    let app = TestApp::spawn_with(b, |s| {
        s.admin = Some(admin_auth());
        s.diagnosis.membership_grace = Duration::ZERO;
    });
    let users: Vec<String> = (0..5)
        .map(|i| app.create_user(&format!("u{i}@example.com")))
        .collect();
    let f = finding(&app, "no_group_memberships", "open");
    assert_eq!(f["seen"], 5);
    assert_eq!(f["evidence"].as_array().map(Vec::len), Some(5));
    assert_eq!(f["evidence"][0]["status"], 201);
    // A group arrives with members: the IdP's groups are set up now.
    let group = json!({"displayName": "eng", "members": [{"value": users[0]}]});
    assert_eq!(app.req("POST", "/Groups", Some(&group)).status, 201);
    let f = finding(&app, "no_group_memberships", "resolved");
    assert!(f["resolved_at"].is_string());
    // More users after that are no finding: the tenant has memberships.
    for i in 5..11 {
        app.create_user(&format!("u{i}@example.com"));
    }
    eventually(Duration::from_secs(10), "the new users logged", || {
        let log = app
            .admin(&root(), "GET", "/tenants/acme/logs?limit=20", None)
            .body;
        (log["entries"].as_array().map(Vec::len) == Some(12)).then_some(())
    });
    assert_eq!(
        finding(&app, "no_group_memberships", "resolved")["state"],
        "resolved"
    );
}

fn user_names_that_are_blank_or_taken_are_found(b: Backend) {
    let app = spawn(b);
    app.create_user("ann@example.com");
    for body in [
        json!({"userName": ""}),
        json!({"name": {"givenName": "Ann"}}),
        json!({"userName": "ANN@example.com"}),
    ] {
        let res = app.req("POST", "/Users", Some(&body));
        assert!([400, 409].contains(&res.status), "{:?}", res.body);
    }
    let f = finding(&app, "user_name_mapping", "open");
    assert_eq!(f["seen"], 3);
    let statuses: Vec<i64> = f["evidence"]
        .as_array()
        .expect("evidence")
        .iter()
        .map(|e| e["status"].as_i64().expect("status"))
        .collect();
    assert_eq!(statuses, [409, 400, 400]);
}

fn throttling_is_found_and_logged_once_per_batch(b: Backend) {
    let app = TestApp::spawn_with(b, |s| {
        s.admin = Some(admin_auth());
        s.rate_limits = RateLimits {
            tenant_per_second: 1,
            ..RateLimits::default()
        };
    });
    let mut refused = 0;
    let f = eventually(Duration::from_secs(20), "a rate_limited finding", || {
        if app.req("GET", "/Users", None).status == 429 {
            refused += 1;
        }
        findings(&app, "acme")["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .find(|f| f["kind"] == "rate_limited")
            .cloned()
    });
    assert_eq!(f["state"], "open");
    let logged: Vec<Value> = app
        .admin(
            &root(),
            "GET",
            "/tenants/acme/logs?status=429&limit=1000",
            None,
        )
        .body["entries"]
        .as_array()
        .expect("entries")
        .clone();
    assert!(logged.len() >= 3, "{logged:?}");
    assert!(logged.len() < refused, "one entry per batch: {logged:?}");
    assert!(logged.iter().any(|e| {
        e["detail"]
            .as_str()
            .is_some_and(|d| d.contains("requests refused"))
    }));
}

fn a_switched_off_webhook_is_found_until_it_is_on_again(b: Backend) {
    let app = TestApp::spawn_with(b, |s| {
        s.admin = Some(admin_auth());
        s.webhooks = DeliveryPolicy {
            poll_interval: Duration::from_millis(20),
            max_failures: 1,
            egress: Egress {
                allow_http: true,
                allow_private: true,
            },
            ..DeliveryPolicy::default()
        };
    });
    // Nothing listens on port 9 (discard) here: every delivery fails to connect.
    let hook = json!({"url": "http://127.0.0.1:9/hook", "enabled": true});
    let res = app.admin(&root(), "PUT", "/tenants/acme/webhooks", Some(&hook));
    assert_eq!(res.status, 200, "{:?}", res.body);
    app.create_user("ann@example.com");
    let f = finding(&app, "webhook_disabled", "open");
    assert_eq!(f["severity"], "error");
    assert!(
        f["note"]
            .as_str()
            .is_some_and(|n| n.contains("switched off after 1 failed")),
        "{f}"
    );
    // On again, at an endpoint that answers.
    let (url, delivered) = webhook_receiver(Duration::ZERO);
    let hook = json!({"url": url, "enabled": true});
    let res = app.admin(&root(), "PUT", "/tenants/acme/webhooks", Some(&hook));
    assert_eq!(res.status, 200, "{:?}", res.body);
    finding(&app, "webhook_disabled", "resolved");
    eventually(
        Duration::from_secs(10),
        "the missed event delivered",
        || (delivered.load(Ordering::SeqCst) >= 1).then_some(()),
    );
}

fn a_dismissed_finding_opens_again_when_it_is_seen_again(b: Backend) {
    let app = spawn(b);
    let id = app.create_user("ann@example.com");
    let legacy = patch_ops(json!([{"op": "Add", "path": "title", "value": "x"}]));
    send_as(&app, ENTRA, "PATCH", &format!("/Users/{id}"), &legacy);
    finding(&app, "entra_legacy_dialect", "open");
    let path = "/tenants/acme/findings/entra_legacy_dialect";
    assert_eq!(app.admin(&root(), "DELETE", path, None).status, 204);
    assert_eq!(findings(&app, "acme")["findings"][0]["state"], "resolved");
    let again = app.admin(&root(), "DELETE", path, None);
    assert_eq!(again.status, 404, "{:?}", again.body);
    let unknown = app.admin(&root(), "DELETE", "/tenants/acme/findings/gremlins", None);
    assert_eq!(unknown.status, 404);
    assert!(
        unknown.body["message"]
            .as_str()
            .is_some_and(|d| d.contains("revoked_token")),
        "{:?}",
        unknown.body
    );
    send_as(&app, ENTRA, "PATCH", &format!("/Users/{id}"), &legacy);
    let f = finding(&app, "entra_legacy_dialect", "open");
    assert_eq!(f["seen"], 1);
    assert_eq!(
        announced(&app),
        ["entra_legacy_dialect", "entra_legacy_dialect"]
    );
}

on_both_backends!(
    entra_without_the_flag_is_found_with_its_evidence_and_announced,
    okta_memberships_sent_in_put_are_found,
    a_token_whose_secret_was_regenerated_is_found_once_it_repeats,
    users_without_any_membership_are_found_and_resolved_when_groups_arrive,
    user_names_that_are_blank_or_taken_are_found,
    throttling_is_found_and_logged_once_per_batch,
    a_switched_off_webhook_is_found_until_it_is_on_again,
    a_dismissed_finding_opens_again_when_it_is_seen_again,
);
