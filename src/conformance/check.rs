//! Judges a response against a step's expectations. Pure: a response and the expectations in,
//! one readable sentence per unmet expectation out.

use serde_json::Value;

use super::client::Response;
use super::scenario::{Expect, HeaderExpect, Statuses};
use super::template::{self, Vars};

/// Longest excerpt of a value or body quoted in a failure message.
const EXCERPT: usize = 240;

/// Every way the response misses the expectations; empty when it meets them all. When the
/// status is wrong the body checks are skipped: they would only repeat the same news.
pub fn check(expect: &Expect, res: &Response, vars: &Vars) -> Vec<String> {
    let codes = expect.status.codes();
    if !codes.contains(&res.status) {
        return vec![format!(
            "status: expected {}, got {}{}",
            or_list(codes),
            res.status,
            explain(res)
        )];
    }
    let needs_body = !(expect.equals.is_empty()
        && expect.exists.is_empty()
        && expect.contains.is_empty()
        && expect.types.is_empty());
    // Without a JSON body the content checks would only say "got nothing" one by one.
    let mut failures = match &res.json {
        Some(Ok(body)) => check_body(expect, body, vars),
        Some(Err(e)) if needs_body => vec![format!("{e}: {}", excerpt(&res.text))],
        None if needs_body => {
            vec!["the response has no body, but the step checks its content".into()]
        }
        _ => check_body(expect, &Value::Null, vars),
    };
    failures.extend(check_headers(expect, res, vars));
    failures
}

/// Whether a step's content checks are to be made on the resource read back with a GET: the
/// step allows 204 (RFC 7644 §3.5.2: a PATCH may answer without a body; the IdPs whose steps
/// allow it accept either), the server answered 204, and the step checks content, which a
/// bodiless answer would pass or fail for nothing.
pub fn reads_back(expect: &Expect, res: &Response) -> bool {
    res.status == 204
        && expect.status.codes().contains(&204)
        && !(expect.equals.is_empty()
            && expect.exists.is_empty()
            && expect.absent.is_empty()
            && expect.empty.is_empty()
            && expect.contains.is_empty()
            && expect.not_contains.is_empty()
            && expect.types.is_empty())
}

/// The checks of a step answered 204 (see [`reads_back`]): its headers on the answer, its
/// content on `read`, the resource as a GET returned it (which must be 200).
pub fn check_read_back(
    expect: &Expect,
    res: &Response,
    read: &Response,
    vars: &Vars,
) -> Vec<String> {
    let mut failures = check_headers(expect, res, vars);
    let read_expect = Expect {
        status: Statuses::One(200),
        headers: Default::default(),
        ..expect.clone()
    };
    failures.extend(
        check(&read_expect, read, vars)
            .into_iter()
            .map(|f| format!("read back after 204: {f}")),
    );
    failures
}

/// The JSON-pointer expectations.
fn check_body(expect: &Expect, body: &Value, vars: &Vars) -> Vec<String> {
    let mut failures = Vec::new();
    let at = |p: &str| body.pointer(p).filter(|v| !v.is_null());

    for (pointer, want) in &expect.equals {
        match template::render_value(want, vars) {
            Err(e) => failures.push(format!("{pointer}: {e}")),
            Ok(want) => match at(pointer) {
                Some(have) if *have == want => {}
                Some(have) => failures.push(format!(
                    "{pointer}: expected {}, got {}",
                    show(&want),
                    show(have)
                )),
                None if want.is_null() => {}
                None => failures.push(format!("{pointer}: expected {}, got nothing", show(&want))),
            },
        }
    }
    for pointer in &expect.exists {
        if at(pointer).is_none() {
            failures.push(format!("{pointer}: expected a value, got nothing"));
        }
    }
    for pointer in &expect.absent {
        if let Some(have) = at(pointer) {
            failures.push(format!("{pointer}: expected nothing, got {}", show(have)));
        }
    }
    for pointer in &expect.empty {
        if let Some(have) = at(pointer).filter(|v| !is_unassigned(v)) {
            failures.push(format!(
                "{pointer}: expected it unassigned (missing, null, \"\" or []), got {}",
                show(have)
            ));
        }
    }
    for (pointer, want) in &expect.contains {
        match template::render_value(want, vars) {
            Err(e) => failures.push(format!("{pointer}: {e}")),
            Ok(want) => match at(pointer) {
                Some(have) if contains(have, &want) => {}
                Some(have) => failures.push(format!(
                    "{pointer}: expected it to contain {}, got {}",
                    show(&want),
                    show(have)
                )),
                None => failures.push(format!(
                    "{pointer}: expected it to contain {}, got nothing",
                    show(&want)
                )),
            },
        }
    }
    for (pointer, unwanted) in &expect.not_contains {
        match template::render_value(unwanted, vars) {
            Err(e) => failures.push(format!("{pointer}: {e}")),
            Ok(unwanted) => {
                let items = match &unwanted {
                    Value::Array(items) => items.clone(),
                    one => vec![one.clone()],
                };
                if let Some(have) = at(pointer) {
                    for item in items.iter().filter(|item| contains(have, item)) {
                        failures.push(format!(
                            "{pointer}: expected it not to contain {}, got {}",
                            show(item),
                            show(have)
                        ));
                    }
                }
            }
        }
    }
    for (pointer, ty) in &expect.types {
        match at(pointer) {
            Some(have) if ty.matches(have) => {}
            Some(have) => failures.push(format!(
                "{pointer}: expected a JSON {}, got {}",
                ty.name(),
                show(have)
            )),
            None => failures.push(format!(
                "{pointer}: expected a JSON {}, got nothing",
                ty.name()
            )),
        }
    }
    failures
}

/// The header expectations.
fn check_headers(expect: &Expect, res: &Response, vars: &Vars) -> Vec<String> {
    let mut failures = Vec::new();
    for (name, want) in &expect.headers {
        let have = res.header(name);
        match (want, have) {
            (HeaderExpect::Present(true), None) => {
                failures.push(format!("header {name}: expected it, got none"));
            }
            (HeaderExpect::Present(false), Some(v)) => {
                failures.push(format!("header {name}: expected none, got {v:?}"));
            }
            (HeaderExpect::Contains(text), have) => match template::render(text, vars) {
                Err(e) => failures.push(format!("header {name}: {e}")),
                Ok(text) => {
                    let found = have.is_some_and(|v| {
                        v.to_ascii_lowercase().contains(&text.to_ascii_lowercase())
                    });
                    if !found {
                        failures.push(format!(
                            "header {name}: expected it to contain {text:?}, got {}",
                            have.map_or("none".into(), |v| format!("{v:?}"))
                        ));
                    }
                }
            },
            _ => {}
        }
    }
    failures
}

/// Whether `have` contains `want`: an array contains a value when one of its elements does (and
/// every element of an array `want`); an object contains an object whose every member it
/// contains; anything else must be equal. So `{"value": "id"}` is contained in a `members`
/// array whatever else the member carries (`display`, `$ref`, `type`).
pub fn contains(have: &Value, want: &Value) -> bool {
    match (have, want) {
        (Value::Array(have_items), Value::Array(want_items)) => want_items
            .iter()
            .all(|w| have_items.iter().any(|h| contains(h, w))),
        (Value::Array(have_items), want) => have_items.iter().any(|h| contains(h, want)),
        (Value::Object(have_map), Value::Object(want_map)) => want_map
            .iter()
            .all(|(k, w)| have_map.get(k).is_some_and(|h| contains(h, w))),
        (have, want) => have == want,
    }
}

/// RFC 7643 §2.5: null, an empty string and an empty array all mean "no value".
fn is_unassigned(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

/// What a failed status came with: the SCIM error's scimType and detail, a redirect's target,
/// or the start of a body that is not SCIM at all.
fn explain(res: &Response) -> String {
    if let Some(location) = res.header("location").filter(|_| res.status / 100 == 3) {
        return format!(" (redirect to {location})");
    }
    match res.body() {
        Some(body) => {
            let scim_type = body.get("scimType").and_then(Value::as_str);
            let detail = body.get("detail").and_then(Value::as_str);
            match (scim_type, detail) {
                (Some(t), Some(d)) => format!(" ({t}: {})", excerpt(d)),
                (None, Some(d)) => format!(" ({})", excerpt(d)),
                // A resource where an error was expected needs no quoting; an odd error does.
                _ if res.status < 400 => String::new(),
                _ => format!(": {}", excerpt(&res.text)),
            }
        }
        None if res.text.trim().is_empty() => String::new(),
        None => format!(": {}", excerpt(&res.text)),
    }
}

fn or_list(codes: &[u16]) -> String {
    let texts: Vec<String> = codes.iter().map(u16::to_string).collect();
    texts.join(" or ")
}

/// A value as compact JSON, cut short when long.
pub fn show(v: &Value) -> String {
    excerpt(&v.to_string())
}

/// Text cut to [`EXCERPT`] characters on one line.
pub fn excerpt(text: &str) -> String {
    let one_line: String = text
        .trim()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    match one_line.char_indices().nth(EXCERPT) {
        Some((cut, _)) => format!("{}…", &one_line[..cut]),
        None => one_line,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::conformance::scenario::Scenario;

    fn expect(e: Value) -> Expect {
        let s = json!({"name": "t", "idp": "t", "title": "t", "source": ["x"], "vars": {"uid": ""},
                       "steps": [{"name": "s", "method": "GET", "path": "/", "expect": e}]});
        Scenario::parse(&s.to_string())
            .expect("valid")
            .steps
            .remove(0)
            .expect
    }

    fn res(status: u16, text: &str) -> Response {
        Response {
            status,
            headers: vec![
                ("content-type".into(), "application/scim+json".into()),
                ("etag".into(), "W/\"1\"".into()),
            ],
            text: text.into(),
            json: (!text.is_empty()).then(|| {
                serde_json::from_str(text)
                    .map_err(|e| format!("the response body is not JSON ({e})"))
            }),
        }
    }

    fn vars() -> Vars {
        let mut v = Vars::default();
        v.set("uid", json!("u1"));
        v
    }

    #[test]
    fn a_matching_response_has_no_failures() {
        let e = expect(json!({"status": [200, 204],
            "equals": {"/displayName": "Eng", "/members/0/value": "{{uid}}", "/missing": null},
            "exists": ["/id"], "absent": ["/password"], "empty": ["/title", "/nickName", "/emails"],
            "contains": {"/members": [{"value": "{{uid}}"}], "/schemas": "urn:g"},
            "not_contains": {"/members": {"value": "u2"}, "/gone": {"value": "u1"}},
            "types": {"/n": "integer", "/members": "array"},
            "headers": {"ETag": true, "Location": false, "Content-Type": "SCIM+JSON"}}));
        let body = r#"{"id":"g1","displayName":"Eng","schemas":["urn:g"],"title":"","nickName":null,"emails":[],"n":3,
                      "members":[{"value":"u1","display":"a","$ref":null}]}"#;
        assert_eq!(check(&e, &res(200, body), &vars()), Vec::<String>::new());
    }

    #[test]
    fn each_miss_is_one_readable_sentence() {
        let e = expect(json!({"status": 200,
            "equals": {"/displayName": "Eng", "/active": false}, "exists": ["/id"],
            "absent": ["/password"], "empty": ["/title"], "contains": {"/members": {"value": "u9"}},
            "not_contains": {"/members": {"value": "{{uid}}"}}, "types": {"/n": "integer"},
            "headers": {"Location": true}}));
        let body = r#"{"displayName":"Ops","active":"False","password":"x","title":"Boss","n":"3",
                      "members":[{"value":"u1"}]}"#;
        let failures = check(&e, &res(200, body), &vars());
        assert_eq!(
            failures,
            vec![
                r#"/displayName: expected "Eng", got "Ops""#,
                r#"/active: expected false, got "False""#,
                "/id: expected a value, got nothing",
                r#"/password: expected nothing, got "x""#,
                r#"/title: expected it unassigned (missing, null, "" or []), got "Boss""#,
                r#"/members: expected it to contain {"value":"u9"}, got [{"value":"u1"}]"#,
                r#"/members: expected it not to contain {"value":"u1"}, got [{"value":"u1"}]"#,
                r#"/n: expected a JSON integer, got "3""#,
                "header Location: expected it, got none",
            ]
        );
    }

    #[test]
    fn wrong_statuses_and_odd_bodies_are_explained() {
        let e = expect(json!({"status": [200, 204], "exists": ["/id"]}));
        let scim = r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"400","scimType":"invalidPath","detail":"no such attribute"}"#;
        assert_eq!(
            check(&e, &res(400, scim), &vars()),
            vec!["status: expected 200 or 204, got 400 (invalidPath: no such attribute)"]
        );
        assert_eq!(
            check(&e, &res(500, "<html>\n<b>oops</b></html>"), &vars()),
            vec!["status: expected 200 or 204, got 500: <html> <b>oops</b></html>"]
        );
        let html = check(&e, &res(200, "<html>hi</html>"), &vars());
        assert_eq!(html.len(), 1, "{html:?}");
        assert!(
            html[0].starts_with("the response body is not JSON"),
            "{html:?}"
        );
        assert!(html[0].ends_with("<html>hi</html>"), "{html:?}");
        assert_eq!(
            check(&e, &res(204, ""), &vars())[0],
            "the response has no body, but the step checks its content"
        );
        let mut redirect = res(301, "");
        redirect
            .headers
            .push(("location".into(), "https://x/".into()));
        assert_eq!(
            check(&e, &redirect, &vars()),
            vec!["status: expected 200 or 204, got 301 (redirect to https://x/)"]
        );
        let long = "x".repeat(1000);
        assert!(excerpt(&long).chars().count() <= EXCERPT + 1);
    }

    #[test]
    fn containment_is_by_subset() {
        assert!(contains(
            &json!([{"value": "a", "display": "A"}, {"value": "b"}]),
            &json!([{"value": "b"}, {"value": "a"}])
        ));
        assert!(!contains(&json!([{"value": "a"}]), &json!({"value": "b"})));
        assert!(contains(
            &json!({"name": {"givenName": "J", "familyName": "D"}}),
            &json!({"name": {"givenName": "J"}})
        ));
        assert!(
            !contains(&json!("abc"), &json!("b")),
            "strings are compared whole"
        );
    }
}
