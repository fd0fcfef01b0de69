//! `/healthz` and `/readyz`: unauthenticated, for load balancers and orchestrators. Neither
//! names a tenant or shows a setting.

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use serde_json::{Map, Value, json};

use crate::service::health;
use crate::state::AppState;

/// The process answers: 200 whatever the database does (a liveness probe restarts a process
/// that stops answering, not one whose database is away).
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(json!({"status": "ok"}))
}

/// The instance can serve: 200 when the database answers, this build's migrations are applied
/// and the background tasks run; else 503, each failing check saying why.
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let answer = health::readiness(&state).await;
    let checks: Map<String, Value> = answer
        .checks
        .iter()
        .map(|c| {
            (
                c.name.to_owned(),
                c.problem.as_deref().unwrap_or("ok").into(),
            )
        })
        .collect();
    let (mut response, status) = if answer.ready() {
        (HttpResponse::Ok(), "ready")
    } else {
        (HttpResponse::ServiceUnavailable(), "not ready")
    };
    response
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(json!({"status": status, "checks": checks}))
}
