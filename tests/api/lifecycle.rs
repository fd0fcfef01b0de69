//! Stopping an app: its port closes, its queued provisioning log is written, its webhook
//! deliverer finishes the delivery in flight and frees its lease, and its database connections
//! close (so the test cluster does not fill up with the pools of finished tests).

use std::time::Duration;

use std::sync::atomic::Ordering;

use scimitar::config::{AdminAuth, AdminKey};
use scimitar::http::admin_auth::{ALL_TENANTS, mint};
use scimitar::storage::log::{self, LogQuery};
use scimitar::storage::webhooks as hooks;
use serde_json::json;

use crate::helpers::{Backend, TestApp, eventually, webhook_receiver};
use crate::on_both_backends;
use crate::webhooks::LOOPBACK_RECEIVERS;

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
    let tenant = scimitar::service::tenants::get(&app.db, "acme")
        .expect("tenant")
        .id;
    let entries = app
        .db
        .run_sync(|c| {
            Ok(log::read(
                c,
                &tenant,
                &LogQuery {
                    limit: 10,
                    ..LogQuery::default()
                },
            )?)
        })
        .expect("log");
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
                hooks::get(c, &tenant)?.expect("webhook"),
                hooks::attempts(c, &tenant, 1000)?.len(),
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

on_both_backends!(
    stopping_closes_the_port_the_log_and_the_pools,
    stopping_mid_batch_finishes_the_delivery_in_flight_and_frees_the_lease
);
