//! The instance's Prometheus metrics: what the request middleware, the webhook deliverer and
//! `/metrics` record and read. One registry per application, so several applications in one
//! process (a host app's tests, say) do not mix their counts.

use std::fmt::Write;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::{EncodeLabel, text::encode};
use prometheus_client::encoding::{EncodeLabelSet, LabelSetEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// A request's route, method and, when the operator asked for it, tenant.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub struct Route {
    /// The route's pattern (`/scim/v2/Users/{id}`), never the path: ids would be labels.
    pub route: Arc<str>,
    /// One of the methods the routes take, else `other`.
    pub method: &'static str,
    /// The tenant's id, only with `--metrics-tenant-label`.
    pub tenant: Option<String>,
}

impl EncodeLabelSet for Route {
    fn encode(&self, encoder: &mut LabelSetEncoder) -> Result<(), std::fmt::Error> {
        ("route", &*self.route).encode(encoder.encode_label())?;
        ("method", self.method).encode(encoder.encode_label())?;
        if let Some(tenant) = &self.tenant {
            ("tenant", tenant.as_str()).encode(encoder.encode_label())?;
        }
        Ok(())
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq)]
struct Answered {
    route: Route,
    status: u16,
}

impl EncodeLabelSet for Answered {
    fn encode(&self, encoder: &mut LabelSetEncoder) -> Result<(), std::fmt::Error> {
        self.route.encode(encoder)?;
        ("status", self.status).encode(encoder.encode_label())
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq)]
struct State(&'static str);

impl EncodeLabelSet for State {
    fn encode(&self, encoder: &mut LabelSetEncoder) -> Result<(), std::fmt::Error> {
        ("state", self.0).encode(encoder.encode_label())
    }
}

/// The database pool at one moment.
#[derive(Debug, Clone, Copy)]
pub struct PoolUse {
    /// Connections lent out.
    pub in_use: u32,
    /// Connections open and free.
    pub idle: u32,
    /// Callers waiting for a connection.
    pub waiting: u64,
}

/// The age of the oldest event not yet delivered, per webhook state (`ok`, `retrying`,
/// `disabled`); `None` when that state has nothing pending.
pub type OutboxLag = [(&'static str, Option<Duration>); 3];

/// The metrics of one application.
pub struct Metrics {
    registry: Registry,
    requests: Family<Answered, Counter>,
    latency: Family<Route, Histogram>,
    rate_limited: Family<Route, Counter>,
    webhook_failures: Counter,
    pool_in_use: Gauge,
    pool_idle: Gauge,
    pool_waiting: Gauge,
    outbox_lag: Family<State, Gauge<f64, AtomicU64>>,
    log_queue: Gauge,
    log_dropped: Gauge,
    /// Whether requests are labelled with their tenant (cardinality: one series per tenant).
    pub tenant_label: bool,
}

impl Metrics {
    /// The metrics, all at zero; with `tenant_label`, request metrics carry a `tenant` label.
    pub fn new(tenant_label: bool) -> Self {
        let mut registry = Registry::with_prefix("scimitar");
        let requests = Family::default();
        registry.register(
            "http_requests",
            "Requests answered, by route, method and status",
            requests.clone(),
        );
        let latency = Family::new_with_constructor(latency_histogram as fn() -> Histogram);
        registry.register(
            "http_request_duration_seconds",
            "Time from a request's arrival to its answer, by route and method",
            latency.clone(),
        );
        let rate_limited = Family::default();
        registry.register(
            "rate_limited_requests",
            "Requests answered 429 by a rate limit or a full queue, by route and method",
            rate_limited.clone(),
        );
        let webhook_failures = Counter::default();
        registry.register(
            "webhook_failures",
            "Webhook deliveries that failed (an error status, a timeout, a refused connection)",
            webhook_failures.clone(),
        );
        let (pool_in_use, pool_idle, pool_waiting) = Default::default();
        registry.register(
            "db_pool_in_use_connections",
            "Database connections lent out",
            Gauge::clone(&pool_in_use),
        );
        registry.register(
            "db_pool_idle_connections",
            "Database connections open and free",
            Gauge::clone(&pool_idle),
        );
        registry.register(
            "db_pool_waiting",
            "Callers waiting for a database connection",
            Gauge::clone(&pool_waiting),
        );
        let outbox_lag = Family::default();
        registry.register(
            "outbox_lag_seconds",
            "Age of the oldest event not yet delivered to a webhook, by the webhook's state \
             (ok, retrying, disabled); 0 when none is pending",
            outbox_lag.clone(),
        );
        let (log_queue, log_dropped) = Default::default();
        registry.register(
            "provisioning_log_queue",
            "Provisioning log entries queued for the writer",
            Gauge::clone(&log_queue),
        );
        registry.register(
            "provisioning_log_dropped",
            "Provisioning log entries dropped since the start because the queue was full",
            Gauge::clone(&log_dropped),
        );
        Self {
            registry,
            requests,
            latency,
            rate_limited,
            webhook_failures,
            pool_in_use,
            pool_idle,
            pool_waiting,
            outbox_lag,
            log_queue,
            log_dropped,
            tenant_label,
        }
    }

    /// Counts an answered request and its time.
    pub fn request(&self, route: Route, status: u16, took: Duration) {
        self.latency
            .get_or_create(&route)
            .observe(took.as_secs_f64());
        if status == 429 {
            self.rate_limited.get_or_create(&route).inc();
        }
        self.requests
            .get_or_create(&Answered { route, status })
            .inc();
    }

    /// Counts a failed webhook delivery.
    pub fn webhook_failed(&self) {
        self.webhook_failures.inc();
    }

    /// The metrics in the OpenMetrics text format, with the gauges read at this moment.
    pub fn render(
        &self,
        pool: PoolUse,
        outbox: OutboxLag,
        log_queue: u64,
        log_dropped: u64,
    ) -> String {
        self.pool_in_use.set(pool.in_use.into());
        self.pool_idle.set(pool.idle.into());
        self.pool_waiting.set(gauge(pool.waiting));
        for (state, lag) in outbox {
            self.outbox_lag
                .get_or_create(&State(state))
                .set(lag.map_or(0.0, |d| d.as_secs_f64()));
        }
        self.log_queue.set(gauge(log_queue));
        self.log_dropped.set(gauge(log_dropped));
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            // Encoding into a String cannot fail; say so rather than serve half a page.
            let _ = writeln!(out, "# encoding the metrics failed");
        }
        out
    }
}

/// Buckets from 0.5 ms to about 8 s: a GET by id on an idle server to a write that waited out
/// a lock.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 15))
}

fn gauge(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The label for a request method: the ones the routes take, else `other` (a client choosing
/// methods must not create series).
pub fn method_label(method: &actix_web::http::Method) -> &'static str {
    use actix_web::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(tenant: Option<&str>) -> Route {
        Route {
            route: "/scim/v2/Users/{id}".into(),
            method: "GET",
            tenant: tenant.map(str::to_owned),
        }
    }

    const IDLE: PoolUse = PoolUse {
        in_use: 1,
        idle: 3,
        waiting: 0,
    };

    #[test]
    fn requests_are_counted_by_route_method_and_status() {
        let m = Metrics::new(false);
        m.request(route(None), 200, Duration::from_millis(2));
        m.request(route(None), 200, Duration::from_millis(3));
        m.request(route(None), 429, Duration::from_millis(1));
        let page = m.render(
            IDLE,
            [
                ("ok", None),
                ("retrying", Some(Duration::from_secs(90))),
                ("disabled", None),
            ],
            2,
            0,
        );
        assert!(page.contains(
            r#"scimitar_http_requests_total{route="/scim/v2/Users/{id}",method="GET",status="200"} 2"#
        ), "{page}");
        assert!(page.contains(
            r#"scimitar_rate_limited_requests_total{route="/scim/v2/Users/{id}",method="GET"} 1"#
        ), "{page}");
        assert!(page.contains(
            r#"scimitar_http_request_duration_seconds_count{route="/scim/v2/Users/{id}",method="GET"} 3"#
        ), "{page}");
        assert!(
            page.contains(r#"scimitar_outbox_lag_seconds{state="retrying"} 90.0"#),
            "{page}"
        );
        assert!(
            page.contains("scimitar_db_pool_idle_connections 3"),
            "{page}"
        );
        assert!(page.contains("scimitar_provisioning_log_queue 2"), "{page}");
        assert!(!page.contains("tenant="), "{page}");
    }

    #[test]
    fn the_tenant_label_is_there_only_when_asked_for() {
        let m = Metrics::new(true);
        m.request(route(Some("t-1")), 201, Duration::from_millis(2));
        let page = m.render(
            IDLE,
            [("ok", None), ("retrying", None), ("disabled", None)],
            0,
            0,
        );
        assert!(
            page.contains(r#"method="GET",tenant="t-1",status="201"} 1"#),
            "{page}"
        );
    }

    #[test]
    fn unknown_methods_share_one_label() {
        let brew = actix_web::http::Method::from_bytes(b"BREW").expect("a method");
        assert_eq!(method_label(&brew), "other");
        assert_eq!(method_label(&actix_web::http::Method::PATCH), "PATCH");
    }
}
