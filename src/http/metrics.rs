//! The request middleware that counts every answer and its time in the application's metrics.

use std::sync::Arc;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage};

use super::{RoutePattern, TenantCtx};
use crate::metrics::{Metrics, Route, method_label};

/// Counts the request, its status and its time, labelled by route pattern (unmatched paths
/// share one label), method and, when the operator asked for it, tenant. Runs outside the log
/// span's middleware, and leaves the pattern in the request for it.
pub async fn record(
    metrics: Arc<Metrics>,
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let began = Instant::now();
    // Read before the call: the request may not be held across it (an inner middleware that
    // rewrites the path needs it unshared), and a middleware's error gives it no way back.
    let method = method_label(req.method());
    let pattern = RoutePattern::of(req.request());
    req.extensions_mut().insert(pattern.clone());
    let answered = next.call(req).await;
    let (status, tenant) = match &answered {
        Ok(res) => (
            res.status(),
            metrics
                .tenant_label
                .then(|| {
                    res.request()
                        .extensions()
                        .get::<TenantCtx>()
                        .map(|t| t.tenant_id.as_str().to_owned())
                })
                .flatten(),
        ),
        // Errors raised by a middleware (authentication refused): no tenant is known.
        Err(e) => (e.as_response_error().status_code(), None),
    };
    let route = Route {
        route: pattern.0,
        method,
        tenant,
    };
    metrics.request(route, status.as_u16(), began.elapsed());
    answered
}
