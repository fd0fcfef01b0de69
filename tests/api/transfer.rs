//! `scimitar tenant export` / `import`, through the real binary: a tenant provisioned on one
//! database (and backend) moves to another, and its IdP goes on with the same token, the same
//! ids and ETags, and the same event numbering.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{
    Backend, Http, TestDatabase, output, patch_ops, scimitar_command, serve, webhook_receiver,
};
use crate::on_both_backends;

const ADMIN_SECRET: &str = "a-transfer-admin-secret-of-32-chars-or-more";

/// The other backend, where this machine has it; else the same one (a move between files).
fn other(b: Backend) -> Backend {
    match b {
        Backend::Sqlite => Backend::postgres().unwrap_or(Backend::Sqlite),
        Backend::Postgres => Backend::Sqlite,
    }
}

/// Everything of a tenant an IdP and the app can read, with the server's own origin (the two
/// servers listen on different ports) cut from the resources' URLs.
fn snapshot(http: &Http, origin: &str, token: &str, jwt: &str, tenant: &str) -> Value {
    let read = |path: &str, bearer: &str| {
        let (status, body) = http.send("GET", path, bearer, None);
        assert_eq!(status, 200, "{path}: {body}");
        body
    };
    let resources = |path: &str| -> Value {
        let text = read(path, token).to_string().replace(origin, "");
        serde_json::from_str(&text).expect("JSON")
    };
    let events = read(&format!("/admin/v1/tenants/{tenant}/events"), jwt);
    json!({
        "users": resources("/scim/v2/Users?sortBy=userName"),
        "groups": resources("/scim/v2/Groups?sortBy=displayName"),
        "role_mappings": read(&format!("/admin/v1/tenants/{tenant}/role-mappings"), jwt),
        "roles": resources("/scim/v2/Roles"),
        "entitlements": resources("/scim/v2/Entitlements"),
        "events": events["events"],
    })
}

fn tenant_ids(database: &TestDatabase) -> Vec<String> {
    let mut log = String::new();
    let listed = output(
        scimitar_command(
            &database.url,
            ADMIN_SECRET,
            "warn",
            &["tenant", "list", "--json"],
        ),
        &mut log,
    );
    let listed: Value = serde_json::from_str(&listed).expect("JSON");
    listed["tenants"]
        .as_array()
        .expect("tenants")
        .iter()
        .map(|t| t["id"].as_str().expect("id").to_owned())
        .collect()
}

fn import(database: &TestDatabase, file: &Path) -> std::process::Output {
    scimitar_command(&database.url, ADMIN_SECRET, "warn", &["tenant", "import"])
        .arg(file)
        .output()
        .expect("run import")
}

fn a_tenant_moves_to_another_database_and_backend(from: Backend) {
    let dir = tempfile::tempdir().expect("temp dir");
    let (from_dir, to_dir) = (dir.path().join("from"), dir.path().join("to"));
    for d in [&from_dir, &to_dir] {
        std::fs::create_dir(d).expect("directory");
    }
    let source = from.fresh_database(&from_dir);
    let command = |args: &[&str]| scimitar_command(&source.url, ADMIN_SECRET, "info", args);
    let mut log = String::new();
    let created = output(
        command(&["tenant", "create", "--name", "acme", "--json"]),
        &mut log,
    );
    let created: Value = serde_json::from_str(&created).expect("JSON");
    let (tenant, token) = (
        created["id"].as_str().expect("id").to_owned(),
        created["token"].as_str().expect("token").to_owned(),
    );
    output(command(&["tenant", "create", "--name", "globex"]), &mut log);

    // Provision through a running server: users, a group with a member, a role mapping, an
    // entitlement, a webhook that has delivered everything.
    let served = serve(command(&[]));
    let http = Http::new(&served.origin);
    let jwt = output(command(&["admin", "token", "--ttl", "5m"]), &mut log);
    let (hook_url, _) = webhook_receiver(Duration::ZERO);
    let (status, _) = http.send(
        "PUT",
        &format!("/admin/v1/tenants/{tenant}/webhooks"),
        &jwt,
        Some(&json!({"url": hook_url})),
    );
    assert_eq!(status, 200);
    let mut ids = Vec::new();
    for name in ["ann", "bob", "cy"] {
        let user = json!({"userName": format!("{name}@example.com"), "name": {"givenName": name}});
        let (status, body) = http.send("POST", "/scim/v2/Users", &token, Some(&user));
        assert_eq!(status, 201, "{body}");
        ids.push(body["id"].as_str().expect("id").to_owned());
    }
    let group = json!({"displayName": "Engineering", "members": [{"value": ids[0]}]});
    let (status, _) = http.send("POST", "/scim/v2/Groups", &token, Some(&group));
    assert_eq!(status, 201);
    let deactivate = patch_ops(json!([{"op": "replace", "path": "active", "value": false}]));
    let path = format!("/scim/v2/Users/{}", ids[1]);
    let (status, _) = http.send("PATCH", &path, &token, Some(&deactivate));
    assert_eq!(status, 200);
    let (status, _) = http.send(
        "PUT",
        &format!("/admin/v1/tenants/{tenant}/role-mappings"),
        &jwt,
        Some(&json!({"default_role": "member", "mappings": [{"group": "Engineering", "role": "admin"}]})),
    );
    assert_eq!(status, 200);
    let (status, _) = http.send(
        "PUT",
        &format!("/admin/v1/tenants/{tenant}/entitlements"),
        &jwt,
        Some(&json!({"entitlements": [{"value": "Standard User", "type": "Profile", "default": true}]})),
    );
    assert_eq!(status, 200);
    let etag = http
        .send_with("GET", &path, &token, None, &[])
        .header("etag")
        .expect("ETag")
        .to_owned();
    let before = snapshot(&http, &served.origin, &token, &jwt, &tenant);

    // Exported while the server runs.
    let file = dir.path().join("acme.jsonl");
    let file_arg = file.to_str().expect("path");
    let out = command(&["tenant", "export", "acme", "--output", file_arg])
        .output()
        .expect("export");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("users: 3") && said.contains("groups: 1"),
        "{said}"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&file).expect("file").permissions().mode();
    assert_eq!(mode & 0o077, 0, "the export is readable by its owner only");
    let text = std::fs::read_to_string(&file).expect("read export");
    assert!(!text.contains("whsec_"), "no webhook secret in the export");
    assert!(!text.contains(&token), "no token in the export");
    let missing = dir.path().join("nobody.jsonl");
    let out = command(&[
        "tenant",
        "export",
        "nobody",
        "--output",
        missing.to_str().expect("path"),
    ])
    .output()
    .expect("export");
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("no tenant has the id or name \"nobody\""),
        "{said}"
    );
    assert!(!missing.exists(), "a failed export leaves no file");
    served.terminate();

    let target = other(from).fresh_database(&to_dir);
    // A file cut short, or one with a row of another tenant, changes nothing.
    let lines: Vec<&str> = text.lines().collect();
    let cut = dir.path().join("cut.jsonl");
    std::fs::write(&cut, lines[..lines.len() - 1].join("\n")).expect("write");
    let refused = import(&target, &cut);
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("cut short"), "{said}");
    let foreign = dir.path().join("foreign.jsonl");
    let mut smuggled = lines.clone();
    let credential = lines[2].replace(&tenant, "someone-else");
    smuggled[2] = &credential;
    std::fs::write(&foreign, smuggled.join("\n")).expect("write");
    let refused = import(&target, &foreign);
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("belongs to tenant someone-else"), "{said}");
    assert_eq!(tenant_ids(&target), Vec::<String>::new());

    let imported = import(&target, &file);
    assert!(
        imported.status.success(),
        "{}",
        String::from_utf8_lossy(&imported.stderr)
    );
    let said = String::from_utf8_lossy(&imported.stdout);
    assert!(said.contains("Imported tenant acme"), "{said}");
    let again = import(&target, &file);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already"));
    assert_eq!(
        tenant_ids(&target),
        std::slice::from_ref(&tenant),
        "only acme moved"
    );

    // The IdP goes on against the new database with the same token, ids and ETags.
    let command = |args: &[&str]| scimitar_command(&target.url, ADMIN_SECRET, "info", args);
    let served = serve(command(&[]));
    let http = Http::new(&served.origin);
    let jwt = output(command(&["admin", "token", "--ttl", "5m"]), &mut log);
    assert_eq!(
        snapshot(&http, &served.origin, &token, &jwt, &tenant),
        before
    );
    let rename = patch_ops(json!([{"op": "replace", "path": "displayName", "value": "Bob"}]));
    let res = http.send_with(
        "PATCH",
        &path,
        &token,
        Some(&rename),
        &[("If-Match", &etag)],
    );
    assert_eq!(
        res.status, 200,
        "the ETag from before the move still matches"
    );
    let events = snapshot(&http, &served.origin, &token, &jwt, &tenant)["events"].clone();
    let seqs: Vec<i64> = events
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["seq"].as_i64().expect("seq"))
        .collect();
    let last_before = before["events"].as_array().expect("events").len() as i64;
    assert_eq!(
        seqs.last(),
        Some(&(last_before + 1)),
        "event numbers go on: {seqs:?}"
    );
    let (status, hooks) = http.send(
        "GET",
        &format!("/admin/v1/tenants/{tenant}/webhooks"),
        &jwt,
        None,
    );
    assert_eq!(status, 200);
    let hook = &hooks["webhooks"][0];
    assert_eq!(hook["enabled"], false, "{hooks}");
    assert!(
        hook["disabled_reason"]
            .as_str()
            .is_some_and(|r| r.contains("rotate_secret")),
        "{hooks}"
    );
    served.terminate();
}

on_both_backends!(a_tenant_moves_to_another_database_and_backend);
