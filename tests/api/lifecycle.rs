//! Stopping an app: its port closes, its queued provisioning log is written, and its database
//! connections close (so the test cluster does not fill up with the pools of finished tests).

use std::net::TcpStream;
use std::time::Duration;

use scimitar::storage::log::{self, LogQuery};

use crate::helpers::{Backend, TestApp, eventually};
use crate::on_both_backends;

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
    for base in [&app.base, &second] {
        let addr = base
            .trim_start_matches("http://")
            .trim_end_matches("/scim/v2");
        assert!(TcpStream::connect(addr).is_err(), "{addr} still listens");
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

on_both_backends!(stopping_closes_the_port_the_log_and_the_pools);
