//! Webhooks against a local receiver: Standard Webhooks signatures verify, a 500 is retried,
//! order holds, repeated failure switches the webhook off, and two instances on one database
//! deliver each event once.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use scimitar::admin_token::{ALL_TENANTS, mint};
use scimitar::config::{AdminAuth, AdminKey};
use scimitar::events::egress::Egress;
use scimitar::events::webhooks::DeliveryPolicy;
use scimitar::storage::webhooks as hooks;
use serde_json::{Value, json};
use sha2::Sha256;

use crate::helpers::{Backend, Request, Res, TestApp, eventually, holds_for, patch_ops, stored};
use crate::on_both_backends;
use scimitar::storage::Scope;

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    id: String,
    timestamp: String,
    signature: String,
    body: String,
    answered: u16,
}

/// A webhook endpoint on loopback answering with scripted statuses (then 200).
pub struct Receiver {
    pub url: String,
    got: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    pub fn start(script: Vec<u16>) -> Self {
        Self::with_delay(script, Duration::ZERO)
    }

    /// A receiver that takes `delay` to answer each request.
    fn with_delay(script: Vec<u16>, delay: Duration) -> Self {
        Self::serve(script, delay, String::new())
    }

    /// A receiver answering every request 302 to `location`.
    fn redirecting(location: &str) -> Self {
        Self::serve(
            vec![302; 1000],
            Duration::ZERO,
            format!("location: {location}\r\n"),
        )
    }

    /// Answers the scripted statuses after `delay`, with `extra` header lines.
    fn serve(script: Vec<u16>, delay: Duration, extra: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
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
                std::thread::sleep(delay);
                let status = script.lock().expect("script").pop_front().unwrap_or(200);
                log.lock().expect("log").push(Received {
                    id: header("webhook-id"),
                    timestamp: header("webhook-timestamp"),
                    signature: header("webhook-signature"),
                    body: String::from_utf8_lossy(body).into_owned(),
                    answered: status,
                });
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\n{extra}content-length: 0\r\nconnection: close\r\n\r\n"
                );
            }
        });
        Self { url, got }
    }

    fn received(&self) -> Vec<Received> {
        self.got.lock().expect("log").clone()
    }

    /// Waits until `n` deliveries were answered 2xx.
    fn wait_for(&self, n: usize) -> Vec<Received> {
        self.wait_until(|got| got.iter().filter(|r| r.answered < 300).count() >= n)
    }

    /// Waits until `n` distinct events were answered 2xx (at-least-once may repeat one).
    fn wait_for_distinct(&self, n: usize) -> Vec<Received> {
        self.wait_until(|got| {
            let ids: std::collections::HashSet<&str> = got
                .iter()
                .filter(|r| r.answered < 300)
                .map(|r| r.id.as_str())
                .collect();
            ids.len() >= n
        })
    }

    fn wait_until(&self, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        eventually(Duration::from_secs(20), "the expected deliveries", || {
            let got = self.received();
            done(&got).then_some(got)
        })
    }

    /// Waits until no delivery is in flight or due: every request this receiver got has its
    /// attempt recorded, no instance holds the lease, and the webhook has delivered the
    /// tenant's last event. Nothing can arrive after that.
    fn settled(&self, app: &TestApp, tenant: &str) -> Vec<Received> {
        eventually(Duration::from_secs(20), "delivery settles", || {
            let got = self.received();
            let tenant = tenant.to_owned();
            let (hook, attempts, last) = app
                .db
                .run_sync(move |c| {
                    Ok((
                        hooks::get(c, &Scope::new(&stored(&tenant)))?,
                        hooks::attempts(c, &Scope::new(&stored(&tenant)), 10_000)?.len(),
                        hooks::current_seq(c, &Scope::new(&stored(&tenant)))?,
                    ))
                })
                .expect("webhook state");
            let hook = hook.expect("webhook");
            (attempts == got.len() && hook.lease_owner.is_none() && hook.delivered_seq == last)
                .then_some(got)
        })
    }
}

const SECRET: &str = "an-admin-secret-of-at-least-32-characters";

fn auth() -> AdminAuth {
    AdminAuth {
        key: AdminKey::Hs256(SECRET.as_bytes().to_vec()),
        issuer: None,
        audience: None,
    }
}

/// The receivers here listen on plain http on loopback: the operator settings for on-premises
/// installs allow that.
/// The test receivers listen on loopback over plain http, which operators must allow.
pub const LOOPBACK_RECEIVERS: Egress = Egress {
    allow_http: true,
    allow_private: true,
};

fn spawn(b: Backend, max_failures: i32) -> TestApp {
    spawn_egress(b, max_failures, LOOPBACK_RECEIVERS)
}

fn spawn_egress(b: Backend, max_failures: i32, egress: Egress) -> TestApp {
    TestApp::spawn_with(b, |s| {
        s.admin = Some(auth());
        s.webhooks = DeliveryPolicy {
            poll_interval: Duration::from_millis(20),
            backoff_base: Duration::from_millis(30),
            max_backoff: Duration::from_millis(200),
            max_failures,
            timeout: Duration::from_secs(5),
            egress,
            ..DeliveryPolicy::default()
        };
    })
}

/// The defaults: public https endpoints only.
fn spawn_strict(b: Backend) -> TestApp {
    spawn_egress(b, 10, Egress::default())
}

/// Plain http allowed, internal addresses not.
fn spawn_http_only(b: Backend) -> TestApp {
    spawn_egress(
        b,
        10,
        Egress {
            allow_http: true,
            allow_private: false,
        },
    )
}

fn admin(app: &TestApp, method: &str, path: &str, body: Option<&Value>) -> Res {
    app.admin(
        &mint(&auth(), ALL_TENANTS, Duration::from_secs(300)).expect("mint"),
        method,
        path,
        body,
    )
}

/// Checks a delivery the way a receiver following Standard Webhooks would.
fn verifies(secret: &str, r: &Received) -> bool {
    let key = B64
        .decode(secret.trim_start_matches("whsec_"))
        .expect("secret");
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("key");
    mac.update(format!("{}.{}.{}", r.id, r.timestamp, r.body).as_bytes());
    let expected = format!("v1,{}", B64.encode(mac.finalize().into_bytes()));
    r.signature.split(' ').any(|s| s == expected)
}

fn events(got: &[Received]) -> Vec<Value> {
    got.iter()
        .filter(|r| r.answered < 300)
        .map(|r| serde_json::from_str(&r.body).expect("json body"))
        .collect()
}

fn signed_in_order_and_retried(b: Backend) {
    let app = spawn(b, 10);
    let tenant = tenant_id(&app, "acme");
    let receiver = Receiver::start(vec![500]);
    let hook = admin(
        &app,
        "PUT",
        &format!("/tenants/{tenant}/webhooks"),
        Some(&json!({"url": receiver.url})),
    );
    assert_eq!(hook.status, 200, "{:?}", hook.body);
    let secret = hook.body["secret"]
        .as_str()
        .expect("secret shown once")
        .to_owned();

    let uid = app.create_user("jdoe@example.com");
    let ops = patch_ops;
    app.req(
        "PATCH",
        &format!("/Users/{uid}"),
        Some(&ops(
            json!([{"op": "replace", "path": "active", "value": false}]),
        )),
    );
    admin(
        &app,
        "PUT",
        &format!("/tenants/{tenant}/role-mappings"),
        Some(&json!({"mappings": [{"group": "Eng", "role": "developer"}]})),
    );
    app.req(
        "POST",
        "/Groups",
        Some(&json!({"displayName": "Eng", "members": [{"value": uid}]})),
    );

    let got = receiver.wait_for(6);
    assert_eq!(got[0].answered, 500);
    assert_eq!(
        got[1].id, got[0].id,
        "the 500 was retried with the same webhook-id"
    );
    assert!(
        got.iter().all(|r| verifies(&secret, r)),
        "every signature verifies"
    );
    let delivered = events(&got);
    let types: Vec<&str> = delivered
        .iter()
        .filter_map(|e| e["type"].as_str())
        .collect();
    assert_eq!(
        types,
        [
            "user.created",
            "user.updated",
            "user.deactivated",
            "group.created",
            "group.member_added",
            "user.roles_changed"
        ]
    );
    let seqs: Vec<i64> = delivered.iter().filter_map(|e| e["seq"].as_i64()).collect();
    assert!(
        seqs.windows(2).all(|w| w[0] + 1 == w[1]),
        "in order, none skipped: {seqs:?}"
    );
    assert_eq!(delivered[5]["data"]["roles"], json!(["developer"]));

    let status = admin(&app, "GET", &format!("/tenants/{tenant}/webhooks"), None).body;
    let hook = &status["webhooks"][0];
    assert!(
        hook.get("secret").is_none(),
        "the secret is shown only when set"
    );
    assert_eq!(hook["consecutive_failures"], 0);
    let attempts = hook["attempts"].as_array().expect("attempts");
    assert!(
        attempts.iter().any(|a| a["status_code"] == 500),
        "{attempts:?}"
    );
    assert!(attempts.iter().any(|a| a["status_code"] == 200));
}

/// A resend delivers the event again with its own id, then every later one, in order; an
/// event not delivered yet, or no longer kept, is refused with the reason.
fn a_resend_delivers_again_in_order(b: Backend) {
    let app = spawn(b, 10);
    let tenant = tenant_id(&app, "acme");
    let receiver = Receiver::start(Vec::new());
    let path = format!("/tenants/{tenant}/webhooks");
    admin(&app, "PUT", &path, Some(&json!({"url": receiver.url})));
    app.create_user("one@example.com");
    app.create_user("two@example.com");
    let first = events(&receiver.wait_for(2));
    // Switched off, the next event waits undelivered.
    let off = json!({"url": receiver.url, "enabled": false});
    assert_eq!(admin(&app, "PUT", &path, Some(&off)).status, 200);
    app.create_user("three@example.com");
    let resend = format!("{path}/resend");
    let last = first[1]["seq"].as_i64().expect("seq");
    let early = admin(&app, "POST", &resend, Some(&json!({"from_seq": last + 1})));
    assert_eq!(early.status, 400);
    let says = |r: &Res, what: &str| r.body["message"].as_str().is_some_and(|m| m.contains(what));
    assert!(says(&early, "not been delivered yet"), "{:?}", early.body);
    let none = admin(
        &app,
        "POST",
        &resend,
        Some(&json!({"from_seq": last + 100})),
    );
    assert!(says(&none, "there is no event"), "{:?}", none.body);
    let from = first[0]["seq"].as_i64().expect("seq");
    assert_eq!(
        admin(&app, "POST", &resend, Some(&json!({"from_seq": from}))).status,
        204
    );
    let on = json!({"url": receiver.url, "enabled": true});
    assert_eq!(admin(&app, "PUT", &path, Some(&on)).status, 200);
    let again = events(&receiver.wait_for(5));
    assert_eq!(
        again[2]["id"], first[0]["id"],
        "the same event, with its own id"
    );
    assert_eq!(again[3]["id"], first[1]["id"]);
    assert_eq!(again[4]["seq"], last + 1);
}

fn repeated_failure_switches_the_webhook_off(b: Backend) {
    let app = spawn(b, 3);
    let tenant = tenant_id(&app, "acme");
    let receiver = Receiver::start(vec![503; 3]);
    admin(
        &app,
        "PUT",
        &format!("/tenants/{tenant}/webhooks"),
        Some(&json!({"url": receiver.url})),
    );
    app.create_user("a@example.com");
    let hook = eventually(
        Duration::from_secs(20),
        "the webhook is switched off",
        || {
            let hook =
                admin(&app, "GET", &format!("/tenants/{tenant}/webhooks"), None).body["webhooks"]
                    [0]
                .clone();
            (hook["enabled"] == false).then_some(hook)
        },
    );
    assert_eq!(hook["enabled"], false, "{hook}");
    assert!(
        hook["disabled_reason"]
            .as_str()
            .is_some_and(|r| r.contains("503")),
        "{hook}"
    );
    assert_eq!(receiver.received().len(), 3);
    // Switching it on again delivers what waited.
    admin(
        &app,
        "PUT",
        &format!("/tenants/{tenant}/webhooks"),
        Some(&json!({"url": receiver.url, "enabled": true})),
    );
    let got = receiver.wait_for(1);
    assert_eq!(events(&got)[0]["type"], "user.created");
    assert_eq!(
        admin(
            &app,
            "PUT",
            &format!("/tenants/{tenant}/webhooks"),
            Some(&json!({"url": "ftp://x"}))
        )
        .status,
        400
    );
}

fn failures_count_in_a_row_across_a_batch(b: Backend) {
    // Switched off after 3 failures in a row. The first event fails twice, then goes through
    // in a batch whose next event fails: one failure in a row, not three.
    let app = spawn(b, 3);
    let tenant = tenant_id(&app, "acme");
    let receiver = Receiver::start(vec![503, 503, 200, 503]);
    admin(
        &app,
        "PUT",
        &format!("/tenants/{tenant}/webhooks"),
        Some(&json!({"url": receiver.url})),
    );
    app.create_user("a@example.com");
    app.create_user("b@example.com");
    let got = receiver.wait_for(2);
    let answered: Vec<u16> = got.iter().map(|r| r.answered).collect();
    assert_eq!(answered, [503, 503, 200, 503, 200]);
    let hook = admin(&app, "GET", &format!("/tenants/{tenant}/webhooks"), None).body["webhooks"][0]
        .clone();
    assert_eq!(hook["enabled"], true, "{hook}");
}

fn two_instances_deliver_each_event_once(b: Backend) {
    let app = spawn(b, 10);
    app.another_instance();
    let tenant = tenant_id(&app, "acme");
    let receiver = Receiver::start(Vec::new());
    admin(
        &app,
        "PUT",
        &format!("/tenants/{tenant}/webhooks"),
        Some(&json!({"url": receiver.url})),
    );
    for i in 0..20 {
        app.create_user(&format!("u{i}@example.com"));
    }
    receiver.wait_for(20);
    let got = receiver.settled(&app, &tenant);
    let ids: Vec<String> = got.iter().map(|r| r.id.clone()).collect();
    let mut unique = ids.clone();
    unique.dedup();
    assert_eq!(unique.len(), 20, "{} deliveries for 20 events", got.len());
    assert_eq!(ids, unique, "each event once, in order");
}

fn admin_changes_during_a_batch_stick(b: Backend) {
    let app = spawn(b, 10);
    let tenant = tenant_id(&app, "acme");
    let receiver = Receiver::with_delay(Vec::new(), Duration::from_millis(150));
    let path = format!("/tenants/{tenant}/webhooks");
    let first = admin(&app, "PUT", &path, Some(&json!({"url": receiver.url})));
    let old_secret = first.body["secret"].as_str().expect("secret").to_owned();
    for i in 0..12 {
        app.create_user(&format!("u{i}@example.com"));
    }
    receiver.wait_for(2);
    // Switched off in the middle of a batch: it stays off, and delivery stops.
    assert_eq!(
        admin(
            &app,
            "PUT",
            &path,
            Some(&json!({"url": receiver.url, "enabled": false}))
        )
        .body["enabled"],
        false
    );
    let at_switch_off = receiver.received().len();
    // Five more deliveries would take this long: at most the one in flight comes.
    holds_for(
        Duration::from_millis(800),
        "at most the one in flight",
        || receiver.received().len() <= at_switch_off + 1,
    );
    assert_eq!(
        admin(&app, "GET", &path, None).body["webhooks"][0]["enabled"],
        false
    );
    // On again with a new secret, mid-batch too: the new secret is kept and signs what follows.
    let rotated = admin(
        &app,
        "PUT",
        &path,
        Some(&json!({"url": receiver.url, "rotate_secret": true})),
    );
    let new_secret = rotated.body["secret"].as_str().expect("secret").to_owned();
    assert_ne!(new_secret, old_secret);
    let before = receiver.received().len();
    receiver.wait_for(before + 2);
    assert_eq!(
        admin(&app, "PUT", &path, Some(&json!({"url": receiver.url})))
            .body
            .get("secret"),
        None
    );
    let got = receiver.wait_for_distinct(12);
    assert!(
        verifies(&new_secret, got.last().expect("delivered")),
        "signed with the new secret"
    );
    // At least once and in order: the one in flight at each change may come again, nothing is
    // skipped and nothing goes back.
    let mut seqs: Vec<i64> = events(&got)
        .iter()
        .filter_map(|e| e["seq"].as_i64())
        .collect();
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0] || w[1] == w[0] + 1),
        "{seqs:?}"
    );
    seqs.dedup();
    assert_eq!(seqs, (1..=12).collect::<Vec<_>>());
}

fn a_batch_longer_than_a_lease_is_delivered_once(b: Backend) {
    // 50 events at 150 ms each take 7.5 s or more, longer than the 7 s lease (twice the 1 s
    // timeout, and 5 s): each delivery renews it. The timeout is well above the receiver's
    // 150 ms, so a loaded machine does not turn slow answers into retries.
    let app = TestApp::spawn_with(b, |s| {
        s.admin = Some(auth());
        s.webhooks = DeliveryPolicy {
            poll_interval: Duration::from_millis(20),
            timeout: Duration::from_secs(1),
            egress: LOOPBACK_RECEIVERS,
            ..DeliveryPolicy::default()
        };
    });
    app.another_instance();
    let tenant = tenant_id(&app, "acme");
    let receiver = Receiver::with_delay(Vec::new(), Duration::from_millis(150));
    let path = format!("/tenants/{tenant}/webhooks");
    admin(
        &app,
        "PUT",
        &path,
        Some(&json!({"url": receiver.url, "enabled": false})),
    );
    for i in 0..50 {
        app.create_user(&format!("u{i}@example.com"));
    }
    admin(
        &app,
        "PUT",
        &path,
        Some(&json!({"url": receiver.url, "enabled": true})),
    );
    receiver.wait_for(50);
    let ids: Vec<String> = receiver
        .settled(&app, &tenant)
        .into_iter()
        .map(|r| r.id)
        .collect();
    let mut distinct = ids.clone();
    distinct.dedup();
    assert_eq!(ids.len(), 50, "each event once");
    assert_eq!(distinct.len(), 50);
}

/// An endpoint that reads a request and never answers, counting the connections it holds open.
struct Hanging {
    url: String,
    seen: Arc<AtomicUsize>,
    open: Arc<AtomicUsize>,
}

impl Hanging {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        let (seen, open) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let (s, o) = (seen.clone(), open.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                s.fetch_add(1, Ordering::SeqCst);
                o.fetch_add(1, Ordering::SeqCst);
                let o = o.clone();
                // Read until the client gives up and closes the connection.
                std::thread::spawn(move || {
                    let mut buf = [0; 4096];
                    while stream.read(&mut buf).is_ok_and(|n| n > 0) {}
                    o.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        Self { url, seen, open }
    }
}

fn tenant_id(app: &TestApp, name: &str) -> String {
    scimitar::service::tenants::get(&app.db, name)
        .expect("tenant")
        .id
}

/// Waits for the first delivery attempt of a tenant's webhook and returns it.
fn first_attempt(app: &TestApp, tenant: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let hook = admin(app, "GET", &format!("/tenants/{tenant}/webhooks"), None).body["webhooks"]
            [0]
        .clone();
        let attempts = hook["attempts"].as_array().cloned().unwrap_or_default();
        if let Some(first) = attempts.last() {
            return first.clone();
        }
        assert!(Instant::now() < deadline, "no attempt: {hook}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn set_time_refusals_name_the_reason(b: Backend) {
    let app = spawn_strict(b);
    let tenant = tenant_id(&app, "acme");
    let path = format!("/tenants/{tenant}/webhooks");
    let good = "https://hooks.example.com/scim";
    assert_eq!(
        admin(&app, "PUT", &path, Some(&json!({"url": good}))).status,
        200
    );
    for (url, reason) in [
        ("https://127.0.0.1/hook", "loopback address"),
        ("https://[::1]:8443/hook", "loopback address"),
        ("https://[::ffff:127.0.0.1]/hook", "loopback address"),
        ("https://localhost/hook", "loopback address"),
        ("https://127.1/hook", "loopback address"),
        ("https://2130706433/hook", "loopback address"),
        ("https://10.0.0.7/hook", "private address"),
        ("https://192.168.1.1/hook", "private address"),
        ("https://[fd00::1]/hook", "private address"),
        (
            "https://169.254.169.254/latest/meta-data",
            "link-local address",
        ),
        ("https://[::ffff:a9fe:a9fe]/latest", "link-local address"),
        ("https://100.64.0.1/hook", "shared (CGNAT) address"),
        ("https://0.0.0.0/hook", "unspecified address"),
        ("https://203.0.113.9/hook", "documentation address"),
        ("https://[2001:db8::1]/hook", "documentation address"),
        ("https://224.0.0.1/hook", "multicast address"),
        ("http://hooks.example.com/scim", "https"),
        ("https:///hook", "host"),
    ] {
        let res = admin(&app, "PUT", &path, Some(&json!({"url": url})));
        assert_eq!(res.status, 400, "{url}: {:?}", res.body);
        assert!(
            res.body["message"]
                .as_str()
                .is_some_and(|m| m.contains(reason)),
            "{url}: {:?}",
            res.body
        );
    }
    let hook = &admin(&app, "GET", &path, None).body["webhooks"][0];
    assert_eq!(hook["url"], good, "a refused URL changes nothing");
}

fn delivery_refuses_what_resolves_to_loopback(b: Backend) {
    let app = spawn_http_only(b);
    let tenant = tenant_id(&app, "acme");
    let receiver = Receiver::start(Vec::new());
    let path = format!("/tenants/{tenant}/webhooks");
    let res = admin(
        &app,
        "PUT",
        &path,
        Some(&json!({"url": "http://hooks.example.com/scim"})),
    );
    assert_eq!(res.status, 200, "{:?}", res.body);
    // A name that resolved to a public address when it was set and now resolves to loopback,
    // as DNS rebinding makes it: `localhost` stands in for it, written where the admin API would
    // refuse it.
    let url = receiver.url.replace("127.0.0.1", "localhost");
    assert_eq!(
        admin(&app, "PUT", &path, Some(&json!({"url": url}))).status,
        400
    );
    app.db
        .run_sync(|c| {
            let mut hook = hooks::get(c, &Scope::new(&stored(&tenant)))?.expect("webhook");
            hook.url = url.clone();
            Ok(hooks::update_settings(c, &hook)?)
        })
        .expect("rebind");
    app.create_user("a@example.com");
    let attempt = first_attempt(&app, &tenant);
    assert_eq!(attempt["error"], "refused: loopback address", "{attempt}");
    assert_eq!(attempt["status_code"], Value::Null);
    assert!(receiver.received().is_empty(), "nothing reached loopback");
}

fn redirects_are_not_followed(b: Backend) {
    let app = spawn(b, 10);
    let tenant = tenant_id(&app, "acme");
    let inside = Receiver::start(Vec::new());
    let bouncer = Receiver::redirecting(&inside.url);
    admin(
        &app,
        "PUT",
        &format!("/tenants/{tenant}/webhooks"),
        Some(&json!({"url": bouncer.url})),
    );
    app.create_user("a@example.com");
    let attempt = first_attempt(&app, &tenant);
    assert_eq!(attempt["status_code"], 302, "{attempt}");
    assert_eq!(attempt["error"], "HTTP 302 (redirects are not followed)");
    assert!(
        inside.received().is_empty(),
        "the redirect was not followed"
    );
}

fn a_closed_port_reads_in_plain_words(b: Backend) {
    let app = spawn(b, 10);
    let tenant = tenant_id(&app, "acme");
    let closed = TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr");
    admin(
        &app,
        "PUT",
        &format!("/tenants/{tenant}/webhooks"),
        Some(&json!({"url": format!("http://{closed}/hook")})),
    );
    app.create_user("a@example.com");
    let attempt = first_attempt(&app, &tenant);
    assert_eq!(attempt["error"], "connection refused", "{attempt}");
}

fn a_tls_failure_reads_in_plain_words(b: Backend) {
    let app = spawn(b, 10);
    let tenant = tenant_id(&app, "acme");
    // Plain http where the URL says https: the handshake fails.
    let receiver = Receiver::start(Vec::new());
    let url = receiver.url.replace("http://", "https://");
    admin(
        &app,
        "PUT",
        &format!("/tenants/{tenant}/webhooks"),
        Some(&json!({"url": url})),
    );
    app.create_user("a@example.com");
    let attempt = first_attempt(&app, &tenant);
    assert_eq!(attempt["error"], "TLS error", "{attempt}");
}

fn a_hanging_endpoint_does_not_delay_another_tenant(b: Backend) {
    let app = spawn(b, 10);
    let acme = tenant_id(&app, "acme");
    let globex_token = app.new_tenant("globex");
    let globex = tenant_id(&app, "globex");
    let hanging = Hanging::start();
    let receiver = Receiver::start(Vec::new());
    for (tenant, url) in [(&acme, &hanging.url), (&globex, &receiver.url)] {
        let res = admin(
            &app,
            "PUT",
            &format!("/tenants/{tenant}/webhooks"),
            Some(&json!({"url": url})),
        );
        assert_eq!(res.status, 200, "{:?}", res.body);
    }
    app.create_user("a@example.com");
    let deadline = Instant::now() + Duration::from_secs(20);
    while hanging.seen.load(Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline, "acme's delivery never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    let res = app.req_as(
        &globex_token,
        "POST",
        "/Users",
        Some(&json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "b@example.com",
        })),
    );
    assert_eq!(res.status, 201, "{:?}", res.body);
    let got = receiver.wait_for(1);
    let acme_still_hanging = hanging.open.load(Ordering::SeqCst) > 0;
    assert_eq!(events(&got).len(), 1, "globex's event arrived");
    assert_eq!(events(&got)[0]["type"], "user.created");
    assert!(
        acme_still_hanging,
        "globex's event arrived while acme's delivery was still hanging"
    );
}

on_both_backends!(
    admin_changes_during_a_batch_stick,
    a_batch_longer_than_a_lease_is_delivered_once,
    signed_in_order_and_retried,
    a_resend_delivers_again_in_order,
    repeated_failure_switches_the_webhook_off,
    failures_count_in_a_row_across_a_batch,
    two_instances_deliver_each_event_once,
    set_time_refusals_name_the_reason,
    delivery_refuses_what_resolves_to_loopback,
    redirects_are_not_followed,
    a_closed_port_reads_in_plain_words,
    a_tls_failure_reads_in_plain_words,
    a_hanging_endpoint_does_not_delay_another_tenant
);
