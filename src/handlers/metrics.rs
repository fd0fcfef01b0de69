//! `GET /metrics`: the instance's metrics for Prometheus.

use actix_web::http::header;
use actix_web::{HttpResponse, web};

use crate::service::metrics;
use crate::state::AppState;

/// The metrics in the OpenMetrics text format, which Prometheus reads.
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(metrics::render(&state).await)
}
