//! The conformance scenarios against the real app, and the runner against servers that fail
//! them: wrong expectations, garbage answers, silence.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::time::Duration;

use scimitar::conformance::report::Report;
use scimitar::conformance::{self, Options, Runner, Scenario};
use serde_json::json;

use crate::helpers::{Backend, TestApp};
use crate::on_both_backends;

const BIN: &str = env!("CARGO_BIN_EXE_scimitar");

fn options(url: &str, token: &str) -> Options {
    Options {
        url: url.to_owned(),
        token: token.to_owned(),
        email_domain: "example.com".into(),
        timeout: Duration::from_secs(30),
    }
}

fn run(url: &str, token: &str, scenarios: &[Scenario]) -> (Report, String) {
    let runner = Runner::new(&options(url, token)).expect("runner");
    let mut out = Vec::new();
    let report = runner.run(scenarios, &mut out);
    (report, String::from_utf8(out).expect("UTF-8 output"))
}

/// The tenant holds no users and no groups.
fn assert_tenant_empty(app: &TestApp) {
    for endpoint in ["/Users", "/Groups"] {
        let res = app.req("GET", endpoint, None);
        assert_eq!(
            res.body["totalResults"], 0,
            "{endpoint} left behind: {}",
            res.body
        );
    }
}

fn every_scenario_passes_and_leaves_nothing_behind(b: Backend) {
    let app = TestApp::spawn(b);
    let scenarios = conformance::builtin().expect("built-in scenarios");
    let (report, out) = run(&app.base, &app.token, &scenarios);
    assert_eq!(report.failed(), 0, "{out}");
    let steps: usize = scenarios.iter().map(|s| s.steps.len()).sum();
    assert_eq!(report.passed(), steps, "{out}");
    assert_eq!(
        out.lines().last(),
        Some(format!("{steps} passed, 0 failed").as_str())
    );
    assert_tenant_empty(&app);
    // Per-run names: a second run against the same tenant does not collide with the first.
    let (again, out) = run(&app.base, &app.token, &scenarios[..2]);
    assert_eq!(again.failed(), 0, "{out}");
}

fn a_scenario_parsed(v: serde_json::Value) -> Scenario {
    Scenario::parse(&v.to_string()).expect("valid scenario")
}

fn wrong_expectations_fail_clearly_and_are_cleaned_up(b: Backend) {
    let app = TestApp::spawn(b);
    let scenario = a_scenario_parsed(json!({
        "name": "wrong", "idp": "test", "title": "Expectations the server does not meet",
        "source": ["https://www.rfc-editor.org/rfc/rfc7644"],
        "vars": {"email": "wrong.{{run}}@{{domain}}"},
        "steps": [
            {"name": "create a user but expect 200", "method": "POST", "path": "/Users",
             "body": {"userName": "{{email}}"}, "expect": {"status": 200},
             "capture": {"user_id": "/id"}},
            {"name": "create a group with a wrong expected name", "method": "POST", "path": "/Groups",
             "body": {"displayName": "Wrong {{run}}"},
             "expect": {"status": 201, "equals": {"/displayName": "Right"}, "exists": ["/nothing"]},
             "capture": {"group_id": "/id"}},
            {"name": "needs the user id", "method": "GET", "path": "/Users/{{user_id}}",
             "expect": {"status": 200}},
            {"name": "a lookup that passes", "method": "GET",
             "path": "/Users?filter=userName eq \"{{email}}\"",
             "expect": {"status": 200, "equals": {"/totalResults": 1}}}
        ]
    }));
    let (report, out) = run(&app.base, &app.token, &[scenario]);
    assert_eq!((report.passed(), report.failed()), (1, 3), "{out}");
    let steps = &report.scenarios[0].steps;
    assert_eq!(
        steps[0].failures,
        ["status: expected 200, got 201"],
        "{out}"
    );
    assert_eq!(steps[1].failures.len(), 2, "{out}");
    assert!(
        steps[1].failures[0].starts_with(r#"/displayName: expected "Right", got "Wrong "#),
        "{out}"
    );
    assert_eq!(
        steps[1].failures[1],
        "/nothing: expected a value, got nothing"
    );
    assert_eq!(
        steps[2].failures,
        ["not run: it needs {{user_id}}, which step 1 did not capture"],
        "{out}"
    );
    assert!(
        out.contains("FAIL  1. create a user but expect 200: POST /Users -> 201"),
        "{out}"
    );
    assert!(out.lines().last() == Some("1 passed, 3 failed"), "{out}");
    // Both resources were created by failing steps; both are gone.
    let cleanup = &report.scenarios[0].cleanup;
    assert_eq!(cleanup.len(), 2, "{out}");
    assert!(cleanup.iter().all(|c| c.outcome == Ok(204)), "{out}");
    assert!(
        cleanup[0].path.starts_with("/Groups/"),
        "groups go first: {out}"
    );
    assert_tenant_empty(&app);
}

on_both_backends!(
    every_scenario_passes_and_leaves_nothing_behind,
    wrong_expectations_fail_clearly_and_are_cleaned_up
);

/// A server that answers each connection with the next of `replies`, whatever was asked.
fn odd_server(replies: Vec<Vec<u8>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for (i, stream) in listener.incoming().enumerate() {
            let Ok(mut stream) = stream else { continue };
            read_request(&mut stream);
            let _ = stream.write_all(&replies[i % replies.len()]);
        }
    });
    format!("http://127.0.0.1:{port}/scim/v2")
}

/// Reads a request head and its Content-Length body, so closing the socket does not reset it.
fn read_request(stream: &mut TcpStream) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let Ok(n) = stream.read(&mut buf) else { return };
        if n == 0 {
            return;
        }
        data.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&data);
        if let Some(head_end) = text.find("\r\n\r\n") {
            let length = text[..head_end]
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if data.len() >= head_end + 4 + length {
                return;
            }
        }
    }
}

fn http(status: &str, headers: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[test]
fn a_server_answering_garbage_is_reported_not_crashed_on() {
    let url = odd_server(vec![
        http(
            "200 OK",
            "Content-Type: text/html\r\n",
            "<html><body>Welcome</body></html>",
        ),
        b"SSH-2.0-OpenSSH_9.6\r\n\x00\x01\x02 not http at all".to_vec(),
        Vec::new(),
        http(
            "201 Created",
            "Content-Type: application/json\r\n",
            r#"{"ok":true}"#,
        ),
        http("302 Found", "Location: https://login.example.com/\r\n", ""),
        http("201 Created", "", r#"{"id":"odd-1"}"#),
        http(
            "500 Internal Server Error",
            "",
            "Traceback (most recent call last):",
        ),
        http(
            "200 OK",
            "Content-Type: application/scim+json\r\n",
            r#"{"totalResults":"0","Resources":null}"#,
        ),
    ]);
    let scenarios = conformance::builtin().expect("built-in scenarios");
    let (report, out) = run(&url, "token", &scenarios);
    assert!(report.failed() > 100, "{out}");
    for expected in [
        "the response body is not JSON",
        "no HTTP response",
        "neither an id nor a Location",
        "got 302 (redirect to https://login.example.com/)",
        "got 500: Traceback (most recent call last):",
        "/totalResults: expected 0, got \"0\"",
        "/odd-1 -> ",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
    assert_eq!(out.lines().last(), Some(report.summary().as_str()));
    let xml = report.junit_xml();
    assert!(xml.contains("<failure message="), "{xml}");
}

#[test]
fn a_204_is_judged_on_the_resource_read_back() {
    let patch = |name: &str, status: serde_json::Value| {
        json!({"name": name, "method": "PATCH", "path": "/Users/u1",
               "body": {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                        "Operations": [{"op": "replace", "path": "displayName", "value": "Ann"}]},
               "expect": {"status": status, "equals": {"/displayName": "Ann"}, "absent": ["/nickName"]}})
    };
    let scenario = a_scenario_parsed(json!({
        "name": "read-back", "idp": "test", "title": "PATCH answered 204",
        "source": ["https://www.rfc-editor.org/rfc/rfc7644#section-3.5.2"],
        "steps": [patch("allows 204", json!([200, 204])), patch("wants 200", json!(200))]
    }));
    let read = |body: &str| http("200 OK", "Content-Type: application/scim+json\r\n", body);
    // PATCH 204 and the GET that reads the user back, then the second PATCH's 204.
    let url = odd_server(vec![
        http("204 No Content", "", ""),
        read(r#"{"id":"u1","displayName":"Ann"}"#),
        http("204 No Content", "", ""),
    ]);
    let (report, out) = run(&url, "token", std::slice::from_ref(&scenario));
    assert!(out.contains("PASS  1. allows 204"), "{out}");
    assert!(out.contains("status: expected 200, got 204"), "{out}");
    assert_eq!(report.failed(), 1, "{out}");

    // What the server read back is what the step is judged on.
    let url = odd_server(vec![
        http("204 No Content", "", ""),
        read(r#"{"id":"u1","displayName":"Bob","nickName":"B"}"#),
    ]);
    let mut first = scenario.clone();
    first.steps.truncate(1);
    let (_, out) = run(&url, "token", &[first]);
    for expected in [
        "read back after 204: /displayName: expected \"Ann\"",
        "read back after 204: /nickName",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
}

#[test]
fn a_silent_server_times_out_step_by_step() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        // Accept and never answer; keep the sockets open.
        let held: Vec<TcpStream> = listener.incoming().filter_map(Result::ok).collect();
        drop(held);
    });
    let scenario = a_scenario_parsed(json!({
        "name": "silent", "idp": "test", "title": "t", "source": ["https://example.com"],
        "steps": [{"name": "list", "method": "GET", "path": "/Users", "expect": {"status": 200}}]
    }));
    let runner = Runner::new(&Options {
        timeout: Duration::from_millis(300),
        ..options(&format!("http://127.0.0.1:{port}/scim/v2"), "t")
    })
    .expect("runner");
    let mut out = Vec::new();
    let report = runner.run(&[scenario], &mut out);
    let out = String::from_utf8_lossy(&out);
    assert_eq!(report.failed(), 1, "{out}");
    assert!(out.contains("no answer in time"), "{out}");
}

#[test]
fn the_command_runs_scenarios_writes_junit_and_fails_loudly() {
    let app = TestApp::spawn(Backend::Sqlite);
    let dir = tempfile::tempdir().expect("temp dir");
    let junit = dir.path().join("report.xml");
    let out = Command::new(BIN)
        .args([
            "conformance",
            "--url",
            &app.base,
            "--idp",
            "jumpcloud",
            "--junit",
        ])
        .arg(&junit)
        .env("SCIMITAR_CONFORMANCE_TOKEN", &app.token)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run scimitar conformance");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let jumpcloud_steps: usize = conformance::builtin()
        .expect("scenarios")
        .iter()
        .filter(|s| s.idp == "jumpcloud")
        .map(|s| s.steps.len())
        .sum();
    assert_eq!(
        stdout.lines().last(),
        Some(format!("{jumpcloud_steps} passed, 0 failed").as_str())
    );
    assert!(
        stdout.contains("PASS  1. Test Connection lists users"),
        "{stdout}"
    );
    let xml = std::fs::read_to_string(&junit).expect("JUnit file");
    assert!(
        xml.contains(&format!(r#"tests="{jumpcloud_steps}" failures="0""#)),
        "{xml}"
    );
    assert_tenant_empty(&app);

    // Nothing listens on the port: every step fails, the exit status says so.
    let closed = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let out = Command::new(BIN)
        .args([
            "conformance",
            "--idp",
            "jumpcloud-connection",
            "--token",
            "t",
            "--url",
        ])
        .arg(format!("http://127.0.0.1:{closed}/scim/v2"))
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success());
    assert_eq!(
        stdout.lines().last(),
        Some("0 passed, 9 failed"),
        "{stdout}"
    );
    assert!(stdout.contains("connection failed"), "{stdout}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("9 conformance check(s) failed"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let bad_domain = Command::new(BIN)
        .args([
            "conformance",
            "--url",
            &app.base,
            "--token",
            "t",
            "--email-domain",
            "@acme",
        ])
        .output()
        .expect("run");
    assert!(!bad_domain.status.success());
    assert!(String::from_utf8_lossy(&bad_domain.stderr).contains("bare domain"));

    // --list needs no server; an unknown IdP names the known ones.
    let list = Command::new(BIN)
        .args(["conformance", "--list"])
        .output()
        .expect("run");
    let listed = String::from_utf8_lossy(&list.stdout);
    assert!(list.status.success());
    assert!(listed.starts_with("jumpcloud-connection"), "{listed}");
    let unknown = Command::new(BIN)
        .args(["conformance", "--list", "--idp", "ping"])
        .output()
        .expect("run");
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("entra"));
}

#[test]
fn custom_scenarios_run_from_a_directory() {
    let app = TestApp::spawn(Backend::Sqlite);
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("mine.json"),
        json!({
            "name": "my-idp", "idp": "mine", "title": "My IdP's lookup",
            "source": ["https://example.com/my-idp-scim"],
            "steps": [{"name": "lookup", "method": "GET",
                       "path": "/Users?filter=userName eq \"nobody.{{run}}@{{domain}}\"",
                       "expect": {"status": 200, "equals": {"/totalResults": 0}}}]
        })
        .to_string(),
    )
    .expect("write scenario");
    std::fs::write(dir.path().join("notes.txt"), "not a scenario").expect("write");
    let out = Command::new(BIN)
        .args([
            "conformance",
            "--url",
            &app.base,
            "--token",
            &app.token,
            "--scenarios",
        ])
        .arg(dir.path())
        .args(["--email-domain", "customer.example"])
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("nobody."), "{stdout}");
    assert!(stdout.contains("@customer.example"), "{stdout}");
    assert_eq!(stdout.lines().last(), Some("1 passed, 0 failed"));

    std::fs::write(dir.path().join("broken.json"), r#"{"name": "x"}"#).expect("write");
    let out = Command::new(BIN)
        .args(["conformance", "--list", "--scenarios"])
        .arg(dir.path())
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("broken.json"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
