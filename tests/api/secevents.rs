//! Events as Security Event Tokens (RFC 8417, SCIM profile RFC 9967): pushed to a real receiver
//! (RFC 8935) and polled with acknowledgements (RFC 8936); every SET is verified with
//! jsonwebtoken against the served JWKS, its claims and event URIs checked.

use std::collections::VecDeque;
use std::io::Write;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use scimitar::admin_token::{ALL_TENANTS, mint};
use scimitar::events::webhooks::DeliveryPolicy;
use serde_json::{Value, json};

use crate::helpers::{Backend, Request, Res, TestApp, admin_auth, eventually, patch_ops};
use crate::on_both_backends;
use crate::webhooks::LOOPBACK_RECEIVERS;

const CREATE_FULL: &str = "urn:ietf:params:scim:event:prov:create:full";
const PUT_FULL: &str = "urn:ietf:params:scim:event:prov:put:full";
const PATCH_FULL: &str = "urn:ietf:params:scim:event:prov:patch:full";
const DELETE: &str = "urn:ietf:params:scim:event:prov:delete";
const DEACTIVATE: &str = "urn:ietf:params:scim:event:prov:deactivate";

/// One SET the receiver got.
#[derive(Debug, Clone)]
struct Pushed {
    content_type: String,
    body: String,
    answered: u16,
}

/// An RFC 8935 receiver on loopback: answers each push with the next scripted status and body,
/// then 202 with no body.
struct SetReceiver {
    url: String,
    got: Arc<Mutex<Vec<Pushed>>>,
}

impl SetReceiver {
    fn start(script: Vec<(u16, &'static str)>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}/events", listener.local_addr().expect("addr"));
        let got = Arc::new(Mutex::new(Vec::new()));
        let log = got.clone();
        let script = Arc::new(Mutex::new(VecDeque::from(script)));
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let Some(request) = Request::read(&stream) else {
                    continue;
                };
                let (header, body) = (|name: &str| request.header(name), &request.body);
                let (status, answer) = script
                    .lock()
                    .expect("script")
                    .pop_front()
                    .unwrap_or((202, ""));
                log.lock().expect("log").push(Pushed {
                    content_type: header("content-type"),
                    body: String::from_utf8_lossy(body).into_owned(),
                    answered: status,
                });
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                    answer.len()
                );
            }
        });
        Self { url, got }
    }

    fn received(&self) -> Vec<Pushed> {
        self.got.lock().expect("log").clone()
    }

    /// Waits until `n` SETs were accepted (answered 202).
    fn wait_for(&self, n: usize) -> Vec<Pushed> {
        eventually(Duration::from_secs(20), "the pushed SETs", || {
            let got: Vec<Pushed> = self
                .received()
                .into_iter()
                .filter(|p| p.answered == 202)
                .collect();
            (got.len() >= n).then_some(got)
        })
    }
}

fn spawn(b: Backend, max_failures: i32) -> TestApp {
    TestApp::spawn_with(b, |s| {
        s.admin = Some(admin_auth());
        s.webhooks = DeliveryPolicy {
            poll_interval: Duration::from_millis(20),
            backoff_base: Duration::from_millis(30),
            max_backoff: Duration::from_millis(200),
            max_failures,
            timeout: Duration::from_secs(5),
            egress: LOOPBACK_RECEIVERS,
            ..DeliveryPolicy::default()
        };
    })
}

fn admin(app: &TestApp, method: &str, path: &str, body: Option<&Value>) -> Res {
    let jwt = mint(&admin_auth(), ALL_TENANTS, Duration::from_secs(300)).expect("mint");
    app.admin(&jwt, method, path, body)
}

fn tenant_id(app: &TestApp) -> String {
    scimitar::service::tenants::get(&app.db, "acme")
        .expect("tenant")
        .id
}

/// Verifies a SET as a receiver would: its header, then its signature with the served JWKS
/// key it names, its issuer and audience; returns its claims.
fn verified(app: &TestApp, token: &str, issuer: &str, audience: &str) -> Value {
    let header = jsonwebtoken::decode_header(token).expect("a JWS header");
    assert_eq!(header.typ.as_deref(), Some("secevent+jwt"), "RFC 8417 §2.3");
    assert_eq!(header.alg, Algorithm::ES256);
    let kid = header.kid.expect("the key is named");
    let served = app.send_url(
        "GET",
        &format!("{}/.well-known/jwks.json", app.origin()),
        None,
        None,
        &[],
    );
    assert_eq!(served.status, 200, "{:?}", served.body);
    let jwks: JwkSet = serde_json::from_value(served.body).expect("a JWK Set");
    let jwk = jwks.find(&kid).expect("the named key is served");
    let mut validation = Validation::new(Algorithm::ES256);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[audience]);
    let key = DecodingKey::from_jwk(jwk).expect("a decoding key");
    let claims = jsonwebtoken::decode::<Value>(token, &key, &validation)
        .expect("the signature verifies")
        .claims;
    for claim in ["iat", "jti", "txn", "toe", "sub_id", "events"] {
        assert!(claims.get(claim).is_some(), "{claim} in {claims}");
    }
    assert!(
        claims.get("sub").is_none(),
        "RFC 9967 §2.1: sub_id, never sub"
    );
    assert_eq!(claims["sub_id"]["format"], "scim");
    claims
}

/// The one event URI of a SET's `events` claim.
fn uri_of(claims: &Value) -> String {
    let events = claims["events"].as_object().expect("events");
    assert_eq!(events.len(), 1, "{events:?}");
    events.keys().next().expect("one").clone()
}

fn sets_are_pushed_signed_and_verified(b: Backend) {
    let app = spawn(b, 10);
    let tenant = tenant_id(&app);
    let receiver = SetReceiver::start(vec![]);
    let hook = admin(
        &app,
        "PUT",
        &format!("/tenants/{tenant}/webhooks"),
        Some(&json!({"url": receiver.url, "format": "set"})),
    );
    assert_eq!(hook.status, 200, "{:?}", hook.body);
    assert_eq!(hook.body["format"], "set");
    let issuer = hook.body["set"]["issuer"]
        .as_str()
        .expect("issuer")
        .to_owned();
    let audience = hook.body["set"]["audience"]
        .as_str()
        .expect("audience")
        .to_owned();
    assert_eq!(issuer, app.origin());
    assert_eq!(
        audience,
        format!("{}/admin/v1/tenants/{tenant}/sets", app.admin_base)
    );

    let created = app.req(
        "POST",
        "/Users",
        Some(&json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "jdoe@example.com",
            "externalId": "jdoe",
        })),
    );
    assert_eq!(created.status, 201, "{:?}", created.body);
    let uid = created.body["id"].as_str().expect("id").to_owned();
    app.req(
        "PATCH",
        &format!("/Users/{uid}"),
        Some(&patch_ops(
            json!([{"op": "replace", "path": "active", "value": false}]),
        )),
    );
    admin(
        &app,
        "PUT",
        &format!("/tenants/{tenant}/role-mappings"),
        Some(&json!({"mappings": [{"group": "Eng", "role": "developer"}]})),
    );
    let group = app.req(
        "POST",
        "/Groups",
        Some(&json!({"displayName": "Eng", "members": [{"value": uid}]})),
    );
    assert_eq!(group.status, 201, "{:?}", group.body);
    let gid = group.body["id"].as_str().expect("id").to_owned();
    let group_id = gid.clone();
    let deleted = app.req("DELETE", &format!("/Groups/{gid}"), None);
    assert_eq!(deleted.status, 204, "{:?}", deleted.body);

    // The feed holds every event; the SET stream those with a SCIM event URI, in order.
    let feed = admin(&app, "GET", &format!("/tenants/{tenant}/events"), None).body;
    let expected: Vec<(String, &str)> = feed["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| {
            let uri = match e["type"].as_str()? {
                "user.created" | "group.created" => CREATE_FULL,
                "user.updated" | "group.updated" => PUT_FULL,
                "user.deactivated" => DEACTIVATE,
                "group.member_added" | "group.member_removed" => PATCH_FULL,
                "user.deleted" | "group.deleted" => DELETE,
                _ => return None,
            };
            Some((e["id"].as_str()?.to_owned(), uri))
        })
        .collect();
    let uris: Vec<&str> = expected.iter().map(|(_, u)| *u).collect();
    assert_eq!(
        &uris[..5],
        [CREATE_FULL, PUT_FULL, DEACTIVATE, CREATE_FULL, PATCH_FULL],
        "user.roles_changed has no SCIM event URI and is passed over"
    );
    assert!(uris.contains(&DELETE), "{uris:?}");

    let got = receiver.wait_for(expected.len());
    assert_eq!(got.len(), expected.len(), "each SET once: {got:?}");
    for (pushed, (jti, uri)) in got.iter().zip(&expected) {
        assert_eq!(
            pushed.content_type, "application/secevent+jwt",
            "RFC 8935 §2"
        );
        let claims = verified(&app, &pushed.body, &issuer, &audience);
        assert_eq!(
            &claims["jti"], jti,
            "the event's id, stable for de-duplication"
        );
        assert_eq!(uri_of(&claims), *uri);
    }
    let first = verified(&app, &got[0].body, &issuer, &audience);
    assert_eq!(
        first["sub_id"],
        json!({"format": "scim", "uri": format!("/Users/{uid}"), "externalId": "jdoe"})
    );
    let data = &first["events"][CREATE_FULL]["data"];
    assert_eq!(data["id"], uid.as_str());
    assert_eq!(data["userName"], "jdoe@example.com");
    let membership = verified(&app, &got[4].body, &issuer, &audience);
    assert_eq!(membership["sub_id"]["uri"], format!("/Groups/{group_id}"));
    assert_eq!(
        membership["events"][PATCH_FULL]["data"]["Operations"],
        json!([{"op": "add", "path": "members", "value": [{"value": uid}]}])
    );

    let status = admin(&app, "GET", &format!("/tenants/{tenant}/webhooks"), None).body;
    let hook = &status["webhooks"][0];
    assert_eq!(hook["consecutive_failures"], 0);
    let attempts = hook["attempts"].as_array().expect("attempts");
    assert!(
        attempts.iter().all(|a| a["status_code"] == 202),
        "{attempts:?}"
    );
}

fn a_receiver_error_counts_as_a_failure(b: Backend) {
    let app = spawn(b, 3);
    let tenant = tenant_id(&app);
    let refusal = r#"{"err":"invalid_key","description":"the key kid is unknown"}"#;
    let receiver = SetReceiver::start(vec![(200, ""), (400, refusal), (400, refusal)]);
    let hook = admin(
        &app,
        "PUT",
        &format!("/tenants/{tenant}/webhooks"),
        Some(&json!({"url": receiver.url, "format": "set"})),
    );
    assert_eq!(hook.status, 200, "{:?}", hook.body);
    app.create_user("jdoe@example.com");

    let hook = eventually(Duration::from_secs(20), "the webhook switched off", || {
        let hook =
            admin(&app, "GET", &format!("/tenants/{tenant}/webhooks"), None).body["webhooks"][0]
                .clone();
        (hook["enabled"] == false).then_some(hook)
    });
    assert_eq!(hook["consecutive_failures"], 3);
    let errors: Vec<&str> = hook["attempts"]
        .as_array()
        .expect("attempts")
        .iter()
        .filter_map(|a| a["error"].as_str())
        .collect();
    assert!(
        errors.contains(&"HTTP 400: invalid_key: the key kid is unknown"),
        "the receiver's RFC 8935 §2.3 error is kept: {errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("HTTP 200 (a SET receiver answers 202")),
        "a 200 is not the 202 RFC 8935 §2.2 asks for: {errors:?}"
    );
    assert!(
        hook["disabled_reason"]
            .as_str()
            .is_some_and(|r| r.contains("invalid_key")),
        "{hook}"
    );
    assert_eq!(
        receiver.received().len(),
        3,
        "the same SET, tried three times"
    );
}

fn poll(app: &TestApp, tenant: &str, request: Value) -> Value {
    let res = admin(
        app,
        "POST",
        &format!("/tenants/{tenant}/sets"),
        Some(&request),
    );
    assert_eq!(res.status, 200, "{:?}", res.body);
    assert_eq!(res.header("content-type"), Some("application/json"));
    res.body
}

/// The jtis of a poll answer's SETs, verified, in event order.
fn polled(app: &TestApp, answer: &Value, audience: &str) -> Vec<String> {
    let sets = answer["sets"].as_object().expect("sets");
    let mut jtis: Vec<String> = sets
        .iter()
        .map(|(jti, token)| {
            let claims = verified(app, token.as_str().expect("a SET"), &app.origin(), audience);
            assert_eq!(claims["jti"], jti.as_str(), "keyed by its jti");
            assert_eq!(uri_of(&claims), CREATE_FULL);
            jti.clone()
        })
        .collect();
    jtis.sort();
    jtis
}

fn sets_are_polled_until_acknowledged(b: Backend) {
    let app = spawn(b, 10);
    let tenant = tenant_id(&app);
    let audience = format!("{}/admin/v1/tenants/{tenant}/sets", app.admin_base);
    for name in ["a@example.com", "b@example.com", "c@example.com"] {
        app.create_user(name);
    }

    let first = poll(
        &app,
        &tenant,
        json!({"maxEvents": 2, "returnImmediately": true}),
    );
    let two = polled(&app, &first, &audience);
    assert_eq!(two.len(), 2);
    assert_eq!(first["moreAvailable"], true);

    // The second is acknowledged, the first not: the first comes again, with the third.
    let second = poll(
        &app,
        &tenant,
        json!({"ack": [two[1]], "maxEvents": 10, "returnImmediately": true}),
    );
    let again = polled(&app, &second, &audience);
    assert_eq!(again.len(), 2, "{second}");
    assert_eq!(again[0], two[0], "the unacknowledged SET is sent again");
    assert!(!again.contains(&two[1]), "the acknowledged one is not");
    assert_eq!(second["moreAvailable"], false);

    // One acknowledged, one refused (setErrs): neither comes again.
    let mut refused = serde_json::Map::new();
    refused.insert(
        again[1].clone(),
        json!({"err": "invalid_request", "description": "not today"}),
    );
    let third = poll(
        &app,
        &tenant,
        json!({"ack": [again[0]], "setErrs": refused, "returnImmediately": true}),
    );
    assert_eq!(third, json!({"sets": {}, "moreAvailable": false}));

    app.create_user("d@example.com");
    let fourth = poll(&app, &tenant, json!({"returnImmediately": true}));
    let fresh = polled(&app, &fourth, &audience);
    assert_eq!(fresh.len(), 1);
    assert!(!two.contains(&fresh[0]) && !again.contains(&fresh[0]));

    // maxEvents 0 only acknowledges.
    let acked = poll(&app, &tenant, json!({"ack": fresh, "maxEvents": 0}));
    assert_eq!(acked, json!({"sets": {}, "moreAvailable": false}));

    let too_many: Vec<String> = (0..1001).map(|i| format!("evt_{i}")).collect();
    let refused = admin(
        &app,
        "POST",
        &format!("/tenants/{tenant}/sets"),
        Some(&json!({"ack": too_many})),
    );
    assert_eq!(refused.status, 413, "{:?}", refused.body);

    let config = app.req("GET", "/ServiceProviderConfig", None).body;
    let uris = config["securityEvents"]["eventUris"]
        .as_array()
        .expect("RFC 9967 §4");
    assert!(uris.contains(&json!(DEACTIVATE)), "{uris:?}");
}

on_both_backends!(
    sets_are_pushed_signed_and_verified,
    a_receiver_error_counts_as_a_failure,
    sets_are_polled_until_acknowledged,
);
