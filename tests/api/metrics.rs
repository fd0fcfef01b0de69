//! `/metrics`: Prometheus text where the admin API answers, counting requests by route pattern
//! (never by path or id), the pool, the provisioning log queue and the webhook outbox's lag.

use std::net::TcpListener;
use std::time::Duration;

use scimitar::admin_token::{ALL_TENANTS, mint};
use scimitar::events::egress::Egress;
use scimitar::events::webhooks::DeliveryPolicy;
use serde_json::json;

use crate::helpers::{Backend, TestApp, admin_auth, eventually};
use crate::on_both_backends;

fn page(origin: &str) -> (u16, Option<String>, String) {
    let mut res = ureq::get(format!("{origin}/metrics"))
        .config()
        .http_status_as_error(false)
        .build()
        .call()
        .expect("GET /metrics");
    let status = res.status().as_u16();
    let ctype = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (
        status,
        ctype,
        res.body_mut().read_to_string().expect("body"),
    )
}

/// The value of the one series whose line starts with `series`.
fn value(page: &str, series: &str) -> Option<f64> {
    page.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
}

fn requests_are_counted_by_route_without_ids_or_tenants(b: Backend) {
    let app = TestApp::spawn(b);
    let id = app.create_user("ann@example.com");
    assert_eq!(app.req("GET", &format!("/Users/{id}"), None).status, 200);
    assert_eq!(app.req("GET", "/Users/no-such-user", None).status, 404);
    assert_eq!(app.raw("GET", "/Users", None, None).status, 401);

    let (status, ctype, page) = page(&app.admin_base);
    assert_eq!(status, 200);
    assert!(ctype.is_some_and(|c| c.starts_with("application/openmetrics-text")));
    let by_id = r#"scimitar_http_requests_total{route="/scim/v2/Users/{id}",method="GET""#;
    assert_eq!(
        value(&page, &format!(r#"{by_id},status="200"}}"#)),
        Some(1.0),
        "{page}"
    );
    assert_eq!(
        value(&page, &format!(r#"{by_id},status="404"}}"#)),
        Some(1.0),
        "{page}"
    );
    assert_eq!(
        value(
            &page,
            r#"scimitar_http_requests_total{route="/scim/v2/Users",method="POST",status="201"}"#
        ),
        Some(1.0),
        "{page}"
    );
    assert_eq!(
        value(
            &page,
            r#"scimitar_http_request_duration_seconds_count{route="/scim/v2/Users/{id}",method="GET"}"#
        ),
        Some(2.0),
        "{page}"
    );
    for gauge in [
        "scimitar_db_pool_in_use_connections",
        "scimitar_db_pool_idle_connections",
        "scimitar_db_pool_waiting",
        "scimitar_provisioning_log_queue",
        "scimitar_provisioning_log_dropped",
    ] {
        assert!(value(&page, gauge).is_some(), "{gauge}: {page}");
    }
    assert_eq!(
        value(&page, r#"scimitar_outbox_lag_seconds{state="ok"}"#),
        Some(0.0)
    );
    assert!(!page.contains(&id), "a resource id is a label: {page}");
    assert!(!page.contains("tenant="), "{page}");
    assert!(!page.contains("no-such-user"), "{page}");
}

/// With the tenant label asked for, each tenant's requests are told apart.
fn the_tenant_label_is_an_option(b: Backend) {
    let app = TestApp::spawn_with(b, |s| s.metrics_tenant_label = true);
    app.create_user("ann@example.com");
    let tenant = scimitar::service::tenants::get(&app.db, "acme")
        .expect("tenant")
        .id;
    let (_, _, page) = page(&app.admin_base);
    let series = format!(
        r#"scimitar_http_requests_total{{route="/scim/v2/Users",method="POST",tenant="{tenant}",status="201"}}"#
    );
    assert_eq!(value(&page, &series), Some(1.0), "{page}");
}

/// A webhook whose receiver is down: its failures are counted and the outbox lag of the
/// retrying webhooks grows.
fn a_failing_webhook_shows_in_failures_and_lag(b: Backend) {
    let app = TestApp::spawn_with(b, |s| {
        s.admin = Some(admin_auth());
        s.webhooks = DeliveryPolicy {
            poll_interval: Duration::from_millis(20),
            backoff_base: Duration::from_millis(30),
            max_backoff: Duration::from_millis(200),
            egress: Egress {
                allow_http: true,
                allow_private: true,
            },
            ..DeliveryPolicy::default()
        };
    });
    // A port that was free a moment ago: connections to it are refused.
    let closed = TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr");
    let tenant = scimitar::service::tenants::get(&app.db, "acme")
        .expect("tenant")
        .id;
    let jwt = mint(&admin_auth(), ALL_TENANTS, Duration::from_secs(300)).expect("mint");
    let set = app.admin(
        &jwt,
        "PUT",
        &format!("/tenants/{tenant}/webhooks"),
        Some(&json!({"url": format!("http://{closed}/hook")})),
    );
    assert_eq!(set.status, 200, "{:?}", set.body);
    app.create_user("ann@example.com");
    let page = eventually(
        Duration::from_secs(20),
        "a failed delivery is counted",
        || {
            let (_, _, page) = page(&app.admin_base);
            let failures = value(&page, "scimitar_webhook_failures_total")?;
            let lag = value(&page, r#"scimitar_outbox_lag_seconds{state="retrying"}"#)?;
            (failures >= 1.0 && lag > 0.0).then_some(page)
        },
    );
    assert_eq!(
        value(&page, r#"scimitar_outbox_lag_seconds{state="disabled"}"#),
        Some(0.0)
    );
}

/// With an admin listener, `/metrics` is served there and not on the SCIM listener.
fn metrics_follow_the_admin_api(b: Backend) {
    let app = TestApp::spawn_with(b, |s| s.admin_listen = Some("127.0.0.1:0".into()));
    let scim_origin = app.origin();
    assert_ne!(scim_origin, app.admin_base);
    assert_eq!(page(&app.admin_base).0, 200);
    assert_eq!(page(&scim_origin).0, 404);
}

on_both_backends!(
    requests_are_counted_by_route_without_ids_or_tenants,
    the_tenant_label_is_an_option,
    a_failing_webhook_shows_in_failures_and_lag,
    metrics_follow_the_admin_api
);
