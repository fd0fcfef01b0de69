//! `/healthz` and `/readyz`: unauthenticated, for load balancers and orchestrators. Neither
//! names a tenant or shows a setting.

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use serde_json::{Map, Value, json};

use crate::service::health;
use crate::state::AppState;

/// Liveness: the process answers.
///
/// 200 whatever the database does: a liveness probe restarts a process that stops answering,
/// not one whose database is away.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "Operations",
    responses((status = 200, description = "The process answers.", body = Object,
        example = json!({"status": "ok"}))),
)]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(json!({"status": "ok"}))
}

/// Readiness: the instance can serve.
///
/// 200 when the database answers, this build's migrations are applied and the background tasks
/// run; else 503, each failing check saying why.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "Operations",
    responses(
        (status = 200, description = "Ready.", body = Object, example = json!({
            "status": "ready",
            "checks": {"database": "ok", "migrations": "ok", "background": "ok"},
        })),
        (status = 503, description = "Not ready: each failing check says why.", body = Object),
    ),
)]
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
