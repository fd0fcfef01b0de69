//! Records each authenticated SCIM request in the tenant's provisioning log: what an admin opens
//! when "my user did not sync". Method, path, status, resource, latency, and for errors the
//! scimType and detail; never a header, a body, a token or a password. A token refused for a key
//! id the tenant really has is logged too, with why in plain words: "your IdP is sending a
//! revoked token" is the entry an admin most needs.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::LOCATION;
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpRequest, web};
use serde_json::Value;

use crate::diagnosis::Signals;
use crate::error::{ScimError, Throttled};
use crate::events::shape::Shape;
use crate::http::TenantCtx;
use crate::scim::schema::ResourceType;
use crate::scim::text;
use crate::state::AppState;
use crate::storage::log::LogRow;
use crate::storage::{self, now_millis};
use crate::tenant::TenantId;

/// A note a handler leaves for the request's log entry (what a successful request did that an
/// admin should know), recorded as its detail.
#[derive(Debug, Clone)]
pub struct LogNote(pub String);

/// Notes for the request's log entry the shape of its body (see `events::shape`), computed
/// once from the body the handler has already parsed (bounded: `events::shape::MAX_BYTES`).
pub fn note_shape(req: &HttpRequest, state: &AppState, tenant: &TenantId, body: &Value) {
    let shape = state.shapes.tenant(tenant.as_str()).shape(body);
    req.extensions_mut().insert(shape);
}

/// Middleware for the SCIM resource routes; wraps authentication so it sees the tenant.
pub async fn record(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let seen = Seen::of(&req);
    let res = next.call(req).await?;
    let (Some(state), Some(tenant)) = (
        state,
        res.request()
            .extensions()
            .get::<TenantCtx>()
            .map(|ctx| ctx.tenant.clone()),
    ) else {
        return Ok(res);
    };
    let error = res
        .response()
        .error()
        .and_then(|e| e.as_error::<ScimError>());
    let resource_id = res
        .request()
        .match_info()
        .get("id")
        // An id that names nothing (a NUL, say) is not kept: the log must stay storable.
        .filter(|id| text::plausible_id(id))
        .map(str::to_owned)
        .or_else(|| {
            res.headers()
                .get(LOCATION)
                .and_then(|l| l.to_str().ok())
                .and_then(|l| l.rsplit('/').next())
                .map(str::to_owned)
        });
    let (scim_type, detail) = crate::events::log::refusal(error);
    let detail = detail.or_else(|| {
        res.request()
            .extensions()
            .get::<LogNote>()
            .map(|n| n.0.clone())
    });
    let status = res.status().as_u16();
    let signals = res
        .request()
        .extensions()
        .get::<Signals>()
        .copied()
        .unwrap_or_default()
        | Signals::of_outcome(
            &seen.method,
            seen.resource_type.as_deref(),
            status,
            scim_type.as_deref(),
        );
    let row = LogRow {
        status: i32::from(status),
        resource_id,
        latency_ms: i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX),
        scim_type,
        detail,
        shape: res.request().extensions_mut().remove::<Shape>(),
        ..seen.row(tenant.into_string())
    };
    state.log.send_with(row, signals);
    Ok(res)
}

/// What the log keeps of a request, read before it is handled.
struct Seen {
    at: i64,
    method: String,
    path: String,
    resource_type: Option<String>,
    user_agent: Option<String>,
}

impl Seen {
    fn of(req: &ServiceRequest) -> Self {
        Self {
            at: now_millis(),
            method: req.method().to_string(),
            path: req.uri().to_string(),
            resource_type: req
                .app_data::<web::Data<&'static ResourceType>>()
                .map(|rt| rt.id.to_owned()),
            user_agent: super::user_agent(req.headers()),
        }
    }

    /// A log entry of this request for `tenant_id`, to be completed with its outcome.
    fn row(self, tenant_id: String) -> LogRow {
        LogRow {
            resource_type: self.resource_type,
            user_agent: self.user_agent,
            ..LogRow::new(tenant_id, self.at, self.method, self.path)
        }
    }
}

/// Logs a refused SCIM token in the provisioning log of the tenant whose key id it carries, if
/// there is one. The credential is read beside the request, not in its way; the entry names the
/// key id (which is public) and never the secret.
pub fn rejected_token(state: &AppState, req: &ServiceRequest, key_id: String) {
    let seen = Seen::of(req);
    let at = seen.at;
    let state = state.clone();
    actix_web::rt::spawn(async move {
        let lookup = key_id.clone();
        let credential = match state
            .db
            .run(move |c| Ok(storage::tenants::credential(c, &lookup)?))
            .await
        {
            Ok(Some(c)) => c,
            Ok(None) => return,
            Err(e) => {
                tracing::debug!(error = %e, "a refused token was not logged");
                return;
            }
        };
        let (detail, signals) = match (credential.revoked_at, credential.expires_at) {
            (Some(_), _) => (
                format!(
                    "rejected: this token's secret was regenerated (key id {key_id}); the identity provider is still sending the old token"
                ),
                Signals::REVOKED_TOKEN,
            ),
            (None, Some(end)) if end <= at => (
                format!(
                    "rejected: this token's grace period after a secret regeneration has ended (key id {key_id}); the identity provider is still sending the old token"
                ),
                Signals::REVOKED_TOKEN,
            ),
            _ => (
                format!("rejected: wrong secret for key id {key_id}"),
                Signals::NONE,
            ),
        };
        let row = LogRow {
            status: 401,
            detail: Some(detail),
            ..seen.row(credential.tenant_id)
        };
        state.log.send_with(row, signals);
    });
}

/// Counts a request of `tenant` refused by its rate limit for the provisioning log, which keeps
/// one entry per tenant and batch for them (see `LogSender::throttled`).
pub fn throttled(state: &AppState, req: &ServiceRequest, tenant: &TenantId, refusal: &Throttled) {
    state.log.throttled(LogRow {
        status: 429,
        detail: Some(refusal.to_string()),
        ..Seen::of(req).row(tenant.as_str().to_owned())
    });
}
