//! A full scenario against the real binary with every crate logging at trace level: tenant
//! creation, SCIM writes with passwords, admin JWT calls, secret rotation, a webhook with its
//! signing secret and a delivery. The logs contain none of the secrets that went by.

use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{
    Backend, Http, eventually, output, patch_ops, scimitar_command, serve, webhook_receiver,
};
use crate::on_both_backends;

const ADMIN_SECRET: &str = "a-debug-level-admin-secret-of-32-chars-or-more";

/// The binary with this database, the admin secret and the most verbose logging there is.
fn scimitar(database_url: &str, args: &[&str]) -> Command {
    scimitar_command(database_url, ADMIN_SECRET, "trace", args)
}

fn logs_at_trace_level_hold_no_secret(b: Backend) {
    let dir = tempfile::tempdir().expect("temp dir");
    let database = b.fresh_database(dir.path());
    let url = database.url.as_str();
    let mut log = String::new();
    let created = output(
        scimitar(url, &["tenant", "create", "--name", "acme", "--json"]),
        &mut log,
    );
    let created: Value = serde_json::from_str(&created).expect("JSON");
    let acme = created["id"].as_str().expect("id").to_owned();
    let first_token = created["token"].as_str().expect("token").to_owned();
    let jwt = output(scimitar(url, &["admin", "token", "--ttl", "5m"]), &mut log);

    let server = serve(scimitar(url, &[]));
    let http = Http::new(&server.origin);

    // Admin API: a second tenant, a rotation with a grace period, a webhook with its secret.
    let (status, initech) = http.send(
        "POST",
        "/admin/v1/tenants",
        &jwt,
        Some(&json!({"name": "Initech"})),
    );
    assert_eq!(status, 201, "{initech}");
    let initech_token = initech["token"].as_str().expect("token").to_owned();
    let (status, rotated) = http.send(
        "POST",
        &format!("/admin/v1/tenants/{acme}/secret"),
        &jwt,
        Some(&json!({"grace_period_seconds": 600})),
    );
    assert_eq!(status, 200, "{rotated}");
    let token = rotated["token"].as_str().expect("token").to_owned();
    let (hook_url, delivered) = webhook_receiver(Duration::ZERO);
    let (status, hook) = http.send(
        "PUT",
        &format!("/admin/v1/tenants/{acme}/webhooks"),
        &jwt,
        Some(&json!({"url": hook_url})),
    );
    assert_eq!(status, 200, "{hook}");
    let whsec = hook["secret"].as_str().expect("secret").to_owned();

    // SCIM with passwords, through the old token (in its grace period) and the new one.
    let passwords = [
        "Pa55-create-never-logged",
        "Pa55-patch-never-logged",
        "Pa55-put-never-logged",
    ];
    let (status, user) = http.send(
        "POST",
        "/scim/v2/Users",
        &first_token,
        Some(&json!({"userName": "ann@example.com", "password": passwords[0]})),
    );
    assert_eq!(status, 201, "{user}");
    let id = user["id"].as_str().expect("id").to_owned();
    let patch = patch_ops(json!([{"op": "replace", "path": "password", "value": passwords[1]}]));
    let (status, body) = http.send(
        "PATCH",
        &format!("/scim/v2/Users/{id}"),
        &token,
        Some(&patch),
    );
    assert_eq!(status, 200, "{body}");
    let put = json!({"userName": "ann@example.com", "password": passwords[2]});
    let (status, body) = http.send("PUT", &format!("/scim/v2/Users/{id}"), &token, Some(&put));
    assert_eq!(status, 200, "{body}");
    let filter = "/scim/v2/Users?filter=userName%20eq%20%22ann@example.com%22";
    assert_eq!(http.send("GET", filter, &token, None).0, 200);
    // Query strings carry personal data (filter values): the process log keeps the path only.
    let lookup = "/scim/v2/Users?filter=userName%20eq%20%22only-in-a-query%40example.com%22";
    assert_eq!(http.send("GET", lookup, &token, None).0, 200);
    assert_eq!(
        http.send("GET", "/scim/v2/Groups", &initech_token, None).0,
        200
    );
    // A wrong secret for a real key id, and a JWT with a forged signature.
    let (key_prefix, _) = token.rsplit_once('_').expect("token shape");
    let wrong = format!("{key_prefix}_{}", "w".repeat(40));
    assert_eq!(http.send("GET", "/scim/v2/Users", &wrong, None).0, 401);
    let (unsigned, _) = jwt.rsplit_once('.').expect("JWT shape");
    let forged = format!("{unsigned}.Zm9yZ2VkLXNpZ25hdHVyZS1ub3QtbG9nZ2Vk");
    assert_eq!(http.send("GET", "/admin/v1/tenants", &forged, None).0, 401);
    assert_eq!(
        http.send("DELETE", &format!("/scim/v2/Users/{id}"), &token, None)
            .0,
        204
    );
    eventually(Duration::from_secs(20), "a webhook delivery", || {
        (delivered.load(Ordering::SeqCst) > 0).then_some(())
    });
    // The provisioning log is written beside the requests: wait until it has all of them.
    eventually(
        Duration::from_secs(20),
        "the provisioning log is written",
        || {
            let (_, logs) = http.send("GET", &format!("/admin/v1/tenants/{acme}/logs"), &jwt, None);
            (logs["entries"].as_array().map_or(0, Vec::len) >= 5).then_some(())
        },
    );
    log.push_str(&server.kill());

    assert!(
        log.matches("request completed").count() >= 12,
        "every request is logged: {log}"
    );
    assert!(
        log.contains("InvalidSignature"),
        "failures are logged: {log}"
    );
    let secret_part = |t: &str| t.rsplit_once('_').expect("token shape").1.to_owned();
    let jwt_signature = jwt.rsplit_once('.').expect("JWT shape").1.to_owned();
    let mut secrets = vec![
        first_token.clone(),
        secret_part(&first_token),
        token.clone(),
        secret_part(&token),
        initech_token.clone(),
        secret_part(&initech_token),
        secret_part(&wrong),
        jwt.clone(),
        jwt_signature,
        unsigned.to_owned(),
        forged,
        ADMIN_SECRET.to_owned(),
        whsec.clone(),
        whsec.trim_start_matches("whsec_").to_owned(),
        "whsec_".to_owned(),
        "only-in-a-query".to_owned(),
    ];
    secrets.extend(passwords.iter().map(|p| (*p).to_owned()));
    for secret in &secrets {
        assert!(
            !log.contains(secret.as_str()),
            "the log contains a secret ({secret}):\n{log}"
        );
    }
}

on_both_backends!(logs_at_trace_level_hold_no_secret);
