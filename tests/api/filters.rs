//! Filters (RFC 7644 §3.4.2.2) compiled to SQL agree with the in-memory evaluator and with the
//! answers written down here, on both backends.

use scimitar::scim::filter::{check, matches, parse};
use scimitar::scim::schema::{GROUP_RESOURCE, ResourceType, USER_RESOURCE};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp};
use crate::on_both_backends;

const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

fn seed(app: &TestApp) -> (Vec<String>, String) {
    let users = [
        json!({"userName": "bjensen@example.com", "externalId": "ext-1", "name": {"givenName": "Barbara", "familyName": "Jensen"},
               "displayName": "Babs Jensen", "title": "Tour Guide", "active": true,
               "emails": [{"value": "bjensen@example.com", "type": "work", "primary": true}, {"value": "babs@jensen.org", "type": "home"}],
               ENT: {"department": "Tour Operations", "employeeNumber": "701984"}}),
        json!({"userName": "JSmith@Example.com", "externalId": "EXT-2", "name": {"givenName": "John", "familyName": "Smith"},
               "active": false, "emails": [{"value": "john@smith.org", "type": "home"}], "userType": "Employee"}),
        json!({"userName": "ÉLODIE@example.fr", "displayName": "Élodie", "title": "", "active": true,
               "phoneNumbers": [{"value": "+33 1 23", "type": "work"}]}),
        json!({"userName": "o'brien@example.com", "name": {"givenName": "Pat", "familyName": "O'Brien"}}),
    ];
    let ids: Vec<String> = users
        .iter()
        .map(|u| {
            let res = app.req("POST", "/Users", Some(u));
            assert_eq!(res.status, 201, "{:?}", res.body);
            res.body["id"].as_str().expect("id").to_owned()
        })
        .collect();
    let group = app.req(
        "POST",
        "/Groups",
        Some(&json!({"displayName": "Tour Guides", "members": [{"value": ids[0], "display": "Babs Jensen"}, {"value": ids[2]}]})),
    );
    assert_eq!(group.status, 201);
    let gid = group.body["id"].as_str().expect("id").to_owned();
    app.req("POST", "/Groups", Some(&json!({"displayName": "Empty"})));
    (ids, gid)
}

fn query(app: &TestApp, path: &str, filter: &str) -> Vec<String> {
    let url = format!("{path}?count=1000&filter={}", encode(filter));
    let res = app.req("GET", &url, None);
    assert_eq!(res.status, 200, "{filter}: {:?}", res.body);
    let mut ids: Vec<String> = res.body["Resources"]
        .as_array()
        .expect("Resources")
        .iter()
        .map(|r| r["id"].as_str().expect("id").to_owned())
        .collect();
    ids.sort();
    assert_eq!(
        res.body["totalResults"].as_u64(),
        Some(ids.len() as u64),
        "{filter}"
    );
    ids
}

/// Percent-encodes a query parameter value.
pub fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// What the in-memory evaluator says, over every resource of the type.
fn in_memory(app: &TestApp, rt: &ResourceType, filter: &str) -> Vec<String> {
    let checked = check(parse(filter).expect("parses"), rt).expect("checks");
    let all = app
        .req("GET", &format!("{}?count=1000", rt.endpoint), None)
        .body;
    let mut ids: Vec<String> = all["Resources"]
        .as_array()
        .expect("Resources")
        .iter()
        .filter(|r| matches(&checked, r))
        .map(|r| r["id"].as_str().expect("id").to_owned())
        .collect();
    ids.sort();
    ids
}

fn filters_select_what_they_say(b: Backend) {
    let app = TestApp::spawn(b);
    let (u, gid) = seed(&app);
    let set = |idx: &[usize]| {
        let mut v: Vec<String> = idx.iter().map(|&i| u[i].clone()).collect();
        v.sort();
        v
    };
    // (filter, expected users by seed index); sources: RFC 7644 §3.4.2.2 and IdP lookups.
    let rows: &[(&str, &[usize])] = &[
        ("userName eq \"bjensen@example.com\"", &[0]), // JumpCloud / Okta lookup
        ("userName eq \"BJENSEN@EXAMPLE.COM\"", &[0]), // caseExact=false
        ("USERNAME Eq \"jsmith@example.com\"", &[1]),
        ("externalId eq \"ext-1\"", &[0]), // Entra matching
        ("externalId eq \"EXT-1\"", &[]),  // externalId is caseExact
        ("userName sw \"J\"", &[1]),
        ("userName co \"example.com\"", &[0, 1, 3]),
        ("userName ew \".fr\"", &[2]),
        ("userName co \"'\"", &[3]),
        ("name.familyName co \"O'Bri\"", &[3]), // RFC 7644 §3.4.2.2
        ("name.givenName pr", &[0, 1, 3]),
        ("title pr", &[0]), // "" is not present
        ("title eq null", &[1, 2, 3]),
        ("userName eq null", &[]), // not a lookup by the unique key: no group either
        ("active eq true", &[0, 2]),
        ("active eq false", &[1]),
        ("not (active eq false)", &[0, 2, 3]), // a missing value is not "false"
        ("active ne false", &[0, 2]),
        (
            "emails[type eq \"work\" and value co \"@example.com\"]",
            &[0],
        ), // RFC 7644 §3.4.2.2
        ("emails[type eq \"home\"]", &[0, 1]),
        ("emails.value ew \".org\"", &[0, 1]),
        ("emails co \"smith\"", &[1]),
        ("emails pr", &[0, 1]),
        ("phoneNumbers[type eq \"work\"]", &[2]),
        (
            "userType eq \"Employee\" and (emails co \"example.com\" or emails.value co \"smith.org\")",
            &[1],
        ), // RFC 7644 §3.4.2.2
        (
            "userType ne \"Employee\" and not (emails co \"example.com\" or emails.value co \"example.org\")",
            &[],
        ),
        (
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq \"tour operations\"",
            &[0],
        ),
        (
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber sw \"70\"",
            &[0],
        ),
        (
            "schemas eq \"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User\"",
            &[0],
        ), // RFC 7644 §3.4.2.2
        (
            "schemas eq \"urn:ietf:params:scim:schemas:core:2.0:User\"",
            &[0, 1, 2, 3],
        ),
        ("displayName eq \"élodie\"", &[]), // ASCII case folding only
        ("displayName eq \"Élodie\"", &[2]),
        ("userName gt \"j\" and userName lt \"p\"", &[1, 3]),
        ("meta.created gt \"2000-01-01T00:00:00Z\"", &[0, 1, 2, 3]),
        ("meta.lastModified lt \"2000-01-01T00:00:00+02:00\"", &[]),
        ("meta.resourceType eq \"User\"", &[0, 1, 2, 3]),
        ("id eq \"no-such-id\"", &[]),
        ("groups[value eq \"GID\"]", &[0, 2]),
        ("groups.display eq \"tour guides\"", &[0, 2]),
        ("not (groups pr)", &[1, 3]),
    ];
    for (filter, want) in rows {
        let filter = filter.replace("GID", &gid);
        let got = query(&app, "/Users", &filter);
        assert_eq!(got, set(want), "{filter}");
        assert_eq!(
            got,
            in_memory(&app, &USER_RESOURCE, &filter),
            "in memory: {filter}"
        );
    }
    let id0 = query(&app, "/Users", &format!("id eq \"{}\"", u[0]));
    assert_eq!(id0, vec![u[0].clone()]);
    let location = format!("meta.location eq \"{}/Users/{}\"", app.base, u[1]);
    assert_eq!(query(&app, "/Users", &location), vec![u[1].clone()]);

    // Groups: Entra and Okta look groups up by displayName and by member.
    let group_rows: &[(String, usize)] = &[
        ("displayName eq \"tour guides\"".into(), 1),
        (format!("members[value eq \"{}\"]", u[0]), 1),
        (format!("members[value eq \"{}\"]", u[1]), 0),
        (
            format!("members.value eq \"{}\" and displayName sw \"Tour\"", u[2]),
            1,
        ),
        ("members pr".into(), 1),
        ("not (members pr)".into(), 1),
        (
            "members[type eq \"User\" and display co \"élodie\"]".into(),
            0,
        ),
        ("members[display co \"babs\"]".into(), 1),
        (
            format!("members.$ref eq \"{}/Users/{}\"", app.base, u[0]),
            1,
        ),
    ];
    for (filter, n) in group_rows {
        let got = query(&app, "/Groups", filter);
        assert_eq!(got.len(), *n, "{filter}");
        assert_eq!(
            got,
            in_memory(&app, &GROUP_RESOURCE, filter),
            "in memory: {filter}"
        );
    }
    assert_eq!(
        query(&app, "/Groups", &format!("members[value eq \"{}\"]", u[0])),
        vec![gid]
    );
}

fn bad_filters_are_invalid_filter_errors(b: Backend) {
    let app = TestApp::spawn(b);
    for filter in [
        "userName eq",
        "userName xx \"a\"",
        "(userName eq \"a\"",
        "shoeSize eq 44",
        "active gt true",
        "name eq \"x\"",
        "emails[type eq \"work\"",
        "urn:example:Other:foo eq \"x\"",
        &"(".repeat(100),
        &"x".repeat(5000),
    ] {
        let res = app.req("GET", &format!("/Users?filter={}", encode(filter)), None);
        res.assert_error(400, Some("invalidFilter"));
    }
    let detail = app
        .req(
            "GET",
            &format!("/Users?filter={}", encode("userName eq")),
            None,
        )
        .body["detail"]
        .clone();
    assert!(
        detail.as_str().is_some_and(|d| d.contains("offset")),
        "{detail}"
    );
}

fn entra_test_connection_finds_nothing(b: Backend) {
    // Microsoft Entra ID's connection test: a random userName must give 200 and totalResults 0.
    let app = TestApp::spawn(b);
    let res = app.req(
        "GET",
        &format!(
            "/Users?filter={}",
            encode("userName eq \"7d3c0f5e-0000-4c1e-9f3b-2f1f2a7b9c11\"")
        ),
        None,
    );
    assert_eq!(res.status, 200);
    assert_eq!(res.body["totalResults"], 0);
    assert_eq!(res.body["Resources"], Value::Array(vec![]));
}

on_both_backends!(
    filters_select_what_they_say,
    bad_filters_are_invalid_filter_errors,
    entra_test_connection_finds_nothing
);
