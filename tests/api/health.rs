//! `/healthz` and `/readyz`: what a load balancer or an orchestrator reads, without a token.

use std::time::Duration;

use serde_json::json;

use crate::helpers::{Backend, Res, TestApp, eventually};
use crate::on_both_backends;

fn probe(app: &TestApp, path: &str) -> Res {
    app.send_url("GET", &format!("{}{path}", app.origin()), None, None, &[])
}

fn a_running_instance_is_alive_and_ready(b: Backend) {
    let app = TestApp::spawn(b);
    let alive = probe(&app, "/healthz");
    assert_eq!(alive.status, 200);
    assert_eq!(alive.body, json!({"status": "ok"}));
    assert_eq!(alive.header("cache-control"), Some("no-store"));

    // The background tasks start as the app runs, right after it binds.
    let ready = eventually(Duration::from_secs(10), "readyz answers 200", || {
        Some(probe(&app, "/readyz")).filter(|r| r.status == 200)
    });
    assert_eq!(
        ready.body,
        json!({"status": "ready", "checks": {"database": "ok", "migrations": "ok", "background": "ok"}})
    );
    assert_eq!(ready.header("cache-control"), Some("no-store"));

    let posted = app.send_url("POST", &format!("{}/readyz", app.origin()), None, None, &[]);
    posted.assert_error(405, None);
}

/// A database missing a migration of this build (an instance pointed at a restored backup, say)
/// is reported with what to run, and the instance is ready again once it is applied.
fn a_missing_migration_makes_the_instance_not_ready(b: Backend) {
    let app = TestApp::spawn(b);
    eventually(Duration::from_secs(10), "ready", || {
        Some(()).filter(|()| probe(&app, "/readyz").status == 200)
    });
    let newest = "(SELECT max(version) FROM __diesel_schema_migrations)";
    let kept = app
        .db
        .run_sync(move |c| {
            use diesel::RunQueryDsl;
            #[derive(diesel::QueryableByName)]
            struct Version {
                #[diesel(sql_type = diesel::sql_types::Text)]
                version: String,
            }
            let v: Version =
                diesel::sql_query(format!("SELECT {newest} AS version")).get_result(c)?;
            diesel::sql_query(format!(
                "DELETE FROM __diesel_schema_migrations WHERE version = '{}'",
                v.version
            ))
            .execute(c)?;
            Ok(v.version)
        })
        .expect("forget the newest migration");

    let not_ready = eventually(Duration::from_secs(10), "readyz answers 503", || {
        Some(probe(&app, "/readyz")).filter(|r| r.status == 503)
    });
    assert_eq!(not_ready.body["status"], "not ready");
    assert_eq!(not_ready.body["checks"]["database"], "ok");
    let migrations = not_ready.body["checks"]["migrations"]
        .as_str()
        .unwrap_or("");
    assert!(
        migrations.contains("1 migration") && migrations.contains("scimitar migrate"),
        "{migrations}"
    );

    app.db
        .run_sync(move |c| {
            use diesel::RunQueryDsl;
            diesel::sql_query(format!(
                "INSERT INTO __diesel_schema_migrations (version) VALUES ('{kept}')"
            ))
            .execute(c)?;
            Ok(())
        })
        .expect("restore the migration's row");
    eventually(Duration::from_secs(10), "ready again", || {
        Some(()).filter(|()| probe(&app, "/readyz").status == 200)
    });
}

/// A database outage: the process stays alive, readiness fails with the reason, and comes back
/// with the database. PostgreSQL only: a SQLite file cannot be taken away from a root process.
#[test]
fn an_unreachable_postgresql_makes_the_instance_not_ready() {
    let Some(b) = Backend::postgres() else {
        return;
    };
    let app = TestApp::spawn(b);
    eventually(Duration::from_secs(10), "ready", || {
        Some(()).filter(|()| probe(&app, "/readyz").status == 200)
    });
    assert!(app.allow_database(false), "a PostgreSQL database");
    let not_ready = eventually(Duration::from_secs(15), "readyz answers 503", || {
        Some(probe(&app, "/readyz")).filter(|r| r.status == 503)
    });
    let database = not_ready.body["checks"]["database"].as_str().unwrap_or("");
    assert!(
        database.starts_with("unreachable") || database.starts_with("no answer"),
        "{database}"
    );
    assert_eq!(probe(&app, "/healthz").status, 200);

    app.allow_database(true);
    eventually(Duration::from_secs(15), "ready again", || {
        Some(()).filter(|()| probe(&app, "/readyz").status == 200)
    });
}

on_both_backends!(
    a_running_instance_is_alive_and_ready,
    a_missing_migration_makes_the_instance_not_ready
);
