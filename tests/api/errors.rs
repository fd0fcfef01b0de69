//! Every failure is an RFC 7644 §3.12 error body with a useful detail.

use crate::helpers::{Backend, TestApp};
use crate::on_both_backends;

fn authentication_failures_are_401_with_a_challenge(b: Backend) {
    let app = TestApp::spawn(b);
    let forged = format!("scim_{}_{}", "a".repeat(12), "b".repeat(40));
    let cases: [(Option<&str>, &str); 5] = [
        (None, "missing credentials"),
        (Some("Basic dXNlcjpwYXNz"), "only Bearer"),
        (Some("Bearer not-a-token"), "not a Scimitar SCIM token"),
        (Some(&format!("Bearer {forged}")), "not valid"),
        (Some(&format!("Bearer {}x", app.token)), "not a Scimitar"),
    ];
    for (auth, detail) in cases {
        let res = app.raw("GET", "/Users", auth, None);
        res.assert_error(401, None);
        assert_eq!(
            res.header("www-authenticate"),
            Some("Bearer realm=\"scim\"")
        );
        assert!(
            res.body["detail"]
                .as_str()
                .expect("detail")
                .contains(detail),
            "{auth:?}: {:?}",
            res.body
        );
    }
    // A token of the right shape whose secret is wrong fails too.
    let (prefix, _) = app.token.rsplit_once('_').expect("token shape");
    let wrong_secret = format!("Bearer {prefix}_{}", "c".repeat(40));
    app.raw("GET", "/Users", Some(&wrong_secret), None)
        .assert_error(401, None);
    // The scheme is case-insensitive (RFC 7235 §2.1).
    assert_eq!(
        app.raw(
            "GET",
            "/Users",
            Some(&format!("bearer {}", app.token)),
            None
        )
        .status,
        200
    );
}

fn protocol_errors_have_scim_bodies(b: Backend) {
    let app = TestApp::spawn_with(b, |s| s.max_body_bytes = 2048);
    let auth = format!("Bearer {}", app.token);
    let auth = Some(auth.as_str());
    app.req("GET", "/Printers", None).assert_error(404, None);
    app.req("GET", "/Users/no-such-id", None)
        .assert_error(404, None);
    app.req("GET", "/Groups/no-such-id", None)
        .assert_error(404, None);
    app.req("DELETE", "/Users", None).assert_error(405, None);
    app.req("POST", "/ServiceProviderConfig", None)
        .assert_error(405, None);
    app.req(
        "PUT",
        "/Users/x",
        Some(&serde_json::json!({"userName": "x"})),
    )
    .assert_error(404, None);
    let big = format!("{{\"userName\": \"{}\"}}", "x".repeat(4096));
    app.raw(
        "POST",
        "/Users",
        auth,
        Some(("application/scim+json", &big)),
    )
    .assert_error(413, None);
    app.raw(
        "POST",
        "/Users",
        auth,
        Some(("text/plain", "{\"userName\": \"a\"}")),
    )
    .assert_error(415, None);
    let res = app.raw(
        "POST",
        "/Users",
        auth,
        Some(("application/json", "{\"userName\": ")),
    );
    res.assert_error(400, Some("invalidSyntax"));
    assert!(
        res.body["detail"]
            .as_str()
            .expect("detail")
            .contains("not valid JSON")
    );
    // application/json is accepted as well as application/scim+json, with a charset too.
    let res = app.raw(
        "POST",
        "/Users",
        auth,
        Some((
            "application/json; charset=utf-8",
            "{\"userName\": \"a@example.com\"}",
        )),
    );
    assert_eq!(res.status, 201, "{:?}", res.body);
    assert_eq!(
        app.req("GET", "/Users", None).body["totalResults"],
        1,
        "only the valid request wrote"
    );
}

fn trailing_slashes_are_tolerated(b: Backend) {
    let app = TestApp::spawn(b);
    assert_eq!(app.req("GET", "/Users/", None).status, 200);
    assert_eq!(app.req("GET", "/ServiceProviderConfig/", None).status, 200);
}

on_both_backends!(
    authentication_failures_are_401_with_a_challenge,
    protocol_errors_have_scim_bodies,
    trailing_slashes_are_tolerated,
);
