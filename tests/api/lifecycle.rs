//! Stopping an app: its port closes, its queued provisioning log is written, its webhook
//! deliverer finishes the delivery in flight and frees its lease, and its database connections
//! close (so the test cluster does not fill up with the pools of finished tests).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use scimitar::admin_token::{ALL_TENANTS, mint};
use scimitar::config::{AdminAuth, AdminKey};
use scimitar::storage::webhooks as hooks;
use serde_json::json;

use crate::helpers::{Backend, TestApp, eventually, provisioning_log, stored, webhook_receiver};
use crate::on_both_backends;
use crate::webhooks::LOOPBACK_RECEIVERS;
use scimitar::storage::Scope;

fn stopping_closes_the_port_the_log_and_the_pools(b: Backend) {
    let app = TestApp::spawn(b);
    let second = app.another_instance();
    app.create_user("a@example.com");
    let listed = app.send_url(
        "GET",
        &format!("{second}/Users"),
        Some(&format!("Bearer {}", app.token)),
        None,
        &[],
    );
    assert_eq!(listed.status, 200);
    if let Some(open) = app.database_connections() {
        assert!(open > 2, "two app pools and the test's: {open}");
    }

    app.stop();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    for base in [&app.base, &second] {
        // The freed port may already serve another test's app, which does not know this token.
        let answer = agent
            .get(format!("{base}/Users"))
            .header("Authorization", format!("Bearer {}", app.token))
            .call();
        assert!(
            answer.is_err() || answer.is_ok_and(|r| r.status() == 401),
            "{base} still serves this app"
        );
    }
    // The log is written in batches beside the requests: what was queued at the stop is kept.
    let entries = provisioning_log(&app.db, "acme", 10);
    assert_eq!(entries.len(), 2, "{entries:?}");
    if app.database_connections().is_some() {
        // Only the test's own pool is left.
        eventually(Duration::from_secs(10), "the apps' pools close", || {
            app.database_connections().filter(|&n| n <= 2)
        });
    }
}

fn stopping_mid_batch_finishes_the_delivery_in_flight_and_frees_the_lease(b: Backend) {
    let auth = AdminAuth {
        key: AdminKey::Hs256(b"an-admin-secret-of-at-least-32-characters".to_vec()),
        issuer: None,
        audience: None,
    };
    let jwt = mint(&auth, ALL_TENANTS, Duration::from_secs(300)).expect("mint");
    let app = TestApp::spawn_with(b, |s| {
        s.admin = Some(auth);
        s.webhooks.poll_interval = Duration::from_millis(20);
        s.webhooks.egress = LOOPBACK_RECEIVERS;
    });
    let tenant = scimitar::service::tenants::get(&app.db, "acme")
        .expect("tenant")
        .id;
    let (url, delivered) = webhook_receiver(Duration::from_millis(100));
    let hook = app.admin(
        &jwt,
        "PUT",
        &format!("/tenants/{tenant}/webhooks"),
        Some(&json!({"url": url})),
    );
    assert_eq!(hook.status, 200, "{:?}", hook.body);
    for i in 0..30 {
        app.create_user(&format!("u{i}@example.com"));
    }
    eventually(Duration::from_secs(20), "deliveries start", || {
        (delivered.load(Ordering::SeqCst) >= 3).then_some(())
    });

    app.stop();
    let arrived = delivered.load(Ordering::SeqCst);
    let state = app
        .db
        .run_sync(move |c| {
            Ok((
                hooks::get(c, &Scope::new(&stored(&tenant)))?.expect("webhook"),
                hooks::attempts(c, &Scope::new(&stored(&tenant)), 1000)?.len(),
            ))
        })
        .expect("webhook state");
    let (hook, attempts) = state;
    assert_eq!(
        attempts, arrived,
        "the delivery in flight was answered and recorded"
    );
    assert_eq!(
        hook.lease_owner, None,
        "the lease is free for another instance"
    );
    assert!(
        hook.delivered_seq < 30,
        "the stop cut the batch: {}",
        hook.delivered_seq
    );
}

/// Sends a POST /Users for `user_name` on `stream`; with `cut`, only the headers and the first
/// half of the body go out, and the rest is returned to send later.
fn post_user(stream: &mut TcpStream, token: &str, user_name: &str, cut: bool) -> Vec<u8> {
    let body = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": user_name})
    .to_string();
    let close = if cut { "close" } else { "keep-alive" };
    let head = format!(
        "POST /scim/v2/Users HTTP/1.1\r\nHost: scimitar\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/scim+json\r\nContent-Length: {}\r\nConnection: {close}\r\n\r\n",
        body.len()
    );
    let (now, later) = body
        .as_bytes()
        .split_at(if cut { body.len() / 2 } else { body.len() });
    stream.write_all(head.as_bytes()).expect("send head");
    stream.write_all(now).expect("send body");
    later.to_vec()
}

/// Reads one HTTP/1.1 response with a Content-Length: its status and body.
fn read_response(reader: &mut BufReader<TcpStream>) -> (u16, serde_json::Value) {
    let mut status_line = String::new();
    reader.read_line(&mut status_line).expect("status line");
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    let mut length = 0;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).expect("header");
        if line == "\r\n" {
            break;
        }
        if let Some((k, v)) = line.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            length = v.trim().parse().expect("length");
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).expect("body");
    (status, serde_json::from_slice(&body).expect("JSON body"))
}

/// A graceful stop (`StopHandle::stop(true)`) takes no new connections, finishes the requests
/// in flight (one of them is held half-sent across the stop), and loses no acknowledged write:
/// a new instance on the same database finds every user that got 201, and the provisioning log
/// writer flushed an entry for each before the app ended.
fn a_graceful_stop_finishes_requests_in_flight_and_keeps_every_acknowledged_write(b: Backend) {
    let app = TestApp::spawn_with(b, |s| s.rate_limits.tenant_per_second = 0);
    let origin = app.base.trim_end_matches("/scim/v2").to_owned();
    let addr = origin.trim_start_matches("http://").to_owned();
    // Once a first request on this connection is answered, the server has accepted it: the
    // second request, half sent, is in flight when the stop begins.
    let mut slow = TcpStream::connect(&addr).expect("connect");
    let mut slow_reader = BufReader::new(slow.try_clone().expect("clone"));
    post_user(&mut slow, &app.token, "first@example.com", false);
    assert_eq!(read_response(&mut slow_reader).0, 201);
    let rest = post_user(&mut slow, &app.token, "held@example.com", true);

    let acked = Mutex::new(Vec::new());
    let refused = Mutex::new(Vec::new());
    let answered = AtomicUsize::new(0);
    let held = std::thread::scope(|s| {
        for w in 0..8 {
            let (acked, refused, answered, origin) = (&acked, &refused, &answered, &origin);
            let token = &app.token;
            s.spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .build()
                    .into();
                for n in 0.. {
                    let name = format!("w{w}-{n}@example.com");
                    let body = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                        "userName": name});
                    // A new connection each time, so none stays open past the stop.
                    let sent = agent
                        .post(format!("{origin}/scim/v2/Users"))
                        .header("Authorization", format!("Bearer {token}"))
                        .header("Content-Type", "application/scim+json")
                        .header("Connection", "close")
                        .send(body.to_string());
                    let Ok(mut res) = sent else { break };
                    let status = res.status().as_u16();
                    let body: serde_json::Value = res
                        .body_mut()
                        .read_json()
                        .unwrap_or(serde_json::Value::Null);
                    if status == 201 {
                        let id = body["id"].as_str().expect("id").to_owned();
                        acked.lock().expect("acked").push((id, name));
                    } else {
                        refused.lock().expect("refused").push(status);
                        break;
                    }
                    answered.fetch_add(1, Ordering::SeqCst);
                }
            });
        }
        eventually(Duration::from_secs(30), "writes are flowing", || {
            (answered.load(Ordering::SeqCst) >= 40).then_some(())
        });
        app.begin_graceful_stop();
        slow.write_all(&rest)
            .expect("the held request's connection stays open");
        read_response(&mut slow_reader)
    });
    assert_eq!(
        held.0, 201,
        "the request in flight at the stop finished: {:?}",
        held.1
    );
    app.stop();

    let acked = acked.into_inner().expect("acked");
    let refused = refused.into_inner().expect("refused");
    // The freed port may already serve another test's app, which does not know this token.
    assert!(refused.iter().all(|&s| s == 401), "{refused:?}");
    let held_id = held.1["id"].as_str().expect("id").to_owned();
    let mut expected: Vec<(String, String)> = acked.clone();
    expected.push((held_id, "held@example.com".to_owned()));

    let again = app.another_instance();
    let auth = format!("Bearer {}", app.token);
    for (id, name) in &expected {
        let res = app.send_url(
            "GET",
            &format!("{again}/Users/{id}"),
            Some(&auth),
            None,
            &[],
        );
        assert_eq!(
            res.status, 200,
            "acknowledged {name} is stored: {:?}",
            res.body
        );
        assert_eq!(res.body["userName"], name.as_str());
    }

    let logged = provisioning_log(&app.db, "acme", 100_000);
    let logged: std::collections::HashSet<&str> = logged
        .iter()
        .filter(|e| e.status == 201)
        .filter_map(|e| e.resource_id.as_deref())
        .collect();
    for (id, name) in &expected {
        assert!(
            logged.contains(id.as_str()),
            "the log has the create of {name}"
        );
    }
}

on_both_backends!(
    stopping_closes_the_port_the_log_and_the_pools,
    stopping_mid_batch_finishes_the_delivery_in_flight_and_frees_the_lease,
    a_graceful_stop_finishes_requests_in_flight_and_keeps_every_acknowledged_write,
);
