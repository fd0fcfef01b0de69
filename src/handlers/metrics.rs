//! `GET /metrics`: the instance's metrics for Prometheus.

use actix_web::http::header;
use actix_web::{HttpResponse, web};

use crate::service::metrics;
use crate::state::AppState;

/// The instance's metrics, for Prometheus.
///
/// In the OpenMetrics text format: requests by route pattern, method and status, their
/// latency, the database pool, the webhook outbox's lag and the provisioning log queue.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "Operations",
    responses((status = 200, description = "The metrics.", body = String,
        content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8")),
)]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(metrics::render(&state).await)
}
