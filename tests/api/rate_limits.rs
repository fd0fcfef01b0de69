//! Rate limits: per tenant, for tokens not yet verified (per key id and per client address),
//! for the argon2id queue and for the admin API. Assertions are on statuses, never on time.

use std::time::Duration;

use scimitar::admin_token::{ALL_TENANTS, mint};
use scimitar::config::RateLimits;

use crate::helpers::{Backend, Res, TestApp, admin_auth};
use crate::on_both_backends;

/// Only the limit under test is on.
fn only(adjust: impl FnOnce(&mut RateLimits)) -> RateLimits {
    let mut limits = RateLimits {
        tenant_per_second: 0,
        admin_per_second: 0,
        auth_per_key_per_minute: 0,
        auth_per_address_per_minute: 0,
        ..RateLimits::default()
    };
    adjust(&mut limits);
    limits
}

/// Asserts a 429 with a Retry-After of at least a second and a detail naming `limit`.
fn assert_throttled(res: &Res, limit: &str) {
    res.assert_error(429, None);
    let retry_after: u64 = res
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("Retry-After in seconds: {:?}", res.headers));
    assert!(retry_after >= 1);
    let detail = res.body["detail"].as_str().expect("detail");
    assert!(detail.contains(limit), "{detail}");
    assert!(detail.contains("retry after"), "{detail}");
}

/// The statuses of `n` requests sent one after another.
fn statuses(n: usize, send: impl Fn(usize) -> Res) -> Vec<u16> {
    (0..n).map(|i| send(i).status).collect()
}

/// A token with `key_id` and a secret that is wrong (unless astronomically lucky).
fn with_key_id(key_id: &str, i: usize) -> String {
    format!("scim_{key_id}_{i:0>40}")
}

fn key_id(token: &str) -> &str {
    token.split('_').nth(1).expect("token shape")
}

fn a_tenant_over_its_burst_gets_429_and_other_tenants_do_not(b: Backend) {
    let app = TestApp::spawn_with(b, |s| {
        s.rate_limits = only(|l| l.tenant_per_second = 1);
    });
    let other = app.new_tenant("globex");
    // 1 a second with bursts of 2: within ten requests in a row the bucket runs dry.
    let mut refused = None;
    for _ in 0..10 {
        let res = app.req("GET", "/Users", None);
        if res.status == 429 {
            refused = Some(res);
            break;
        }
        assert_eq!(res.status, 200, "{:?}", res.body);
    }
    let refused = refused.expect("a 429 within ten requests");
    assert_throttled(
        &refused,
        "this tenant's rate limit of 1 requests per second",
    );
    assert_eq!(app.req_as(&other, "GET", "/Users", None).status, 200);
    assert_eq!(app.req_as(&other, "GET", "/Groups", None).status, 200);
}

fn zero_switches_the_tenant_limit_off(b: Backend) {
    let app = TestApp::spawn_with(b, |s| s.rate_limits = only(|_| {}));
    let got = statuses(30, |_| app.req("GET", "/Users", None));
    assert!(got.iter().all(|s| *s == 200), "{got:?}");
}

fn wrong_secrets_for_a_key_id_reach_429_and_its_verified_token_keeps_working(b: Backend) {
    let app = TestApp::spawn_with(b, |s| {
        s.rate_limits = only(|l| l.auth_per_key_per_minute = 3);
    });
    // The token's first use is one of the three checks; then it is verified and cached.
    assert_eq!(app.req("GET", "/Users", None).status, 200);
    let key = key_id(&app.token).to_owned();
    let got = statuses(6, |i| {
        app.req_as(&with_key_id(&key, i), "GET", "/Users", None)
    });
    assert_eq!(got, [401, 401, 429, 429, 429, 429]);
    // Refused before argon2: the detail names the key id limit, not a failed check.
    let res = app.req_as(&with_key_id(&key, 9), "GET", "/Users", None);
    assert_throttled(&res, "this key id");
    assert_eq!(app.req("GET", "/Users", None).status, 200);
    // Another tenant's key id has its own bucket.
    let other = app.new_tenant("globex");
    assert_eq!(app.req_as(&other, "GET", "/Users", None).status, 200);
}

fn unverified_tokens_from_one_address_reach_429(b: Backend) {
    let app = TestApp::spawn_with(b, |s| {
        s.rate_limits = only(|l| l.auth_per_address_per_minute = 4);
    });
    assert_eq!(app.req("GET", "/Users", None).status, 200);
    // Unknown key ids, malformed tokens and missing credentials all count.
    let got = statuses(3, |i| {
        app.req_as(&with_key_id(&format!("{i:a>12}"), i), "GET", "/Users", None)
    });
    assert_eq!(got, [401, 401, 401]);
    assert_throttled(
        &app.raw("GET", "/Users", Some("Bearer not-a-token"), None),
        "from this address",
    );
    assert_eq!(app.raw("GET", "/Users", None, None).status, 429);
    assert_eq!(
        app.req("GET", "/Users", None).status,
        200,
        "verified tokens pass"
    );
}

fn wrong_secrets_beyond_the_argon2_queue_get_429_at_once(b: Backend) {
    let app = TestApp::spawn_with(b, |s| {
        s.rate_limits = only(|l| {
            l.argon2_slots = 1;
            l.argon2_queue = 1;
        });
    });
    let key = key_id(&app.token).to_owned();
    let responses: Vec<Res> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..50)
            .map(|i| {
                let (app, token) = (&app, with_key_id(&key, i));
                s.spawn(move || app.req_as(&token, "GET", "/Users", None))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    let refused: Vec<&Res> = responses.iter().filter(|r| r.status == 429).collect();
    assert!(!refused.is_empty(), "no 429 among 50 concurrent checks");
    for res in refused {
        // One tenant's checks meet its share (half the queue) before the queue is full.
        assert_throttled(
            res,
            "this tenant already holds its share of the server's argon2id work queue",
        );
    }
    assert!(
        responses.iter().all(|r| matches!(r.status, 401 | 429)),
        "{:?}",
        responses.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    assert_eq!(app.req("GET", "/Users", None).status, 200);
}

fn a_new_token_on_many_connections_at_once_is_verified_once(b: Backend) {
    // One argon2id slot and one waiting place, the authentication limits at their defaults:
    // an IdP opening 24 connections with a token it was just given must not see a 429.
    let app = TestApp::spawn_with(b, |s| {
        s.rate_limits = RateLimits {
            tenant_per_second: 0,
            argon2_slots: 1,
            argon2_queue: 1,
            ..RateLimits::default()
        };
    });
    let fresh = app.new_tenant("globex");
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..24)
            .map(|_| {
                let (app, token) = (&app, fresh.as_str());
                s.spawn(move || app.req_as(token, "GET", "/Users", None).status)
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
}

fn the_admin_api_answers_429_in_its_own_error_shape(b: Backend) {
    let app = TestApp::spawn_with(b, |s| {
        s.admin = Some(admin_auth());
        s.rate_limits = only(|l| l.admin_per_second = 1);
    });
    let jwt = mint(&admin_auth(), ALL_TENANTS, Duration::from_secs(300)).expect("mint");
    let mut refused = None;
    for _ in 0..10 {
        let res = app.admin(&jwt, "GET", "/tenants", None);
        if res.status == 429 {
            refused = Some(res);
            break;
        }
        assert_eq!(res.status, 200, "{:?}", res.body);
    }
    let res = refused.expect("a 429 within ten requests");
    assert_eq!(res.body["error"], "too_many_requests", "{:?}", res.body);
    let message = res.body["message"].as_str().expect("message");
    assert!(message.contains("admin API's rate limit"), "{message}");
    assert!(
        res.header("retry-after")
            .and_then(|v| v.parse::<u64>().ok())
            .is_some_and(|s| s >= 1),
        "{:?}",
        res.headers
    );
    // Requests with bad tokens count as well, so they cannot flood it either.
    assert_eq!(app.admin("not.a.jwt", "GET", "/tenants", None).status, 429);
    // The SCIM API has its own limits.
    assert_eq!(app.req("GET", "/Users", None).status, 200);
}

on_both_backends!(
    a_tenant_over_its_burst_gets_429_and_other_tenants_do_not,
    zero_switches_the_tenant_limit_off,
    wrong_secrets_for_a_key_id_reach_429_and_its_verified_token_keeps_working,
    unverified_tokens_from_one_address_reach_429,
    wrong_secrets_beyond_the_argon2_queue_get_429_at_once,
    a_new_token_on_many_connections_at_once_is_verified_once,
    the_admin_api_answers_429_in_its_own_error_shape,
);
