//! Bearer token → tenant. The token alone selects the tenant; handlers declare a [`TenantCtx`].

use std::future::{Ready, ready};

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::AUTHORIZATION;
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use tracing_actix_web::RootSpan;

use crate::error::ScimError;
use crate::http::log as request_log;
use crate::state::AppState;
use crate::storage::{self, now_millis};
use crate::tenant::TenantId;
use crate::token::ScimToken;

/// How precisely a credential's last use is recorded.
const LAST_USED_RESOLUTION_MS: i64 = 60_000;

/// The authenticated tenant of a SCIM request.
#[derive(Debug, Clone)]
pub struct TenantCtx {
    /// The tenant the bearer token belongs to.
    pub tenant_id: TenantId,
}

impl FromRequest for TenantCtx {
    type Error = ScimError;
    type Future = Ready<Result<Self, ScimError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            req.extensions().get::<TenantCtx>().cloned().ok_or_else(|| {
                ScimError::Unauthorized("this endpoint needs a bearer token".into())
            }),
        )
    }
}

/// Middleware for the SCIM resource routes: authenticates the bearer token and attaches the
/// tenant to the request and to its log span.
pub async fn require_tenant(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| ScimError::internal(anyhow::anyhow!("AppState is not registered")))?;
    let token = bearer_token(req.headers().get(AUTHORIZATION))?;
    let key_id = token.key_id().to_owned();
    let tenant_id = match authenticate(&state, token).await {
        Ok(t) => t,
        Err(e @ ScimError::Unauthorized(_)) => {
            request_log::rejected_token(&state, &req, key_id);
            return Err(e.into());
        }
        Err(e) => return Err(e.into()),
    };
    if let Some(span) = req.extensions().get::<RootSpan>() {
        span.record("tenant_id", tracing::field::display(&tenant_id));
    }
    req.extensions_mut().insert(TenantCtx { tenant_id });
    next.call(req).await
}

fn bearer_token(
    header: Option<&actix_web::http::header::HeaderValue>,
) -> Result<ScimToken, ScimError> {
    let header = header.ok_or_else(|| {
        ScimError::Unauthorized("missing credentials: send the tenant's SCIM token as \"Authorization: Bearer <token>\"".into())
    })?;
    let token = super::bearer(header.to_str().unwrap_or_default())
        .ok_or_else(|| ScimError::Unauthorized("only Bearer authentication is supported".into()))?;
    ScimToken::parse(token).ok_or_else(|| {
        ScimError::Unauthorized("the bearer token is not a Scimitar SCIM token (scim_…)".into())
    })
}

/// Resolves a token to its tenant: one primary-key read always, argon2id only on a cache miss.
async fn authenticate(state: &AppState, token: ScimToken) -> Result<TenantId, ScimError> {
    let key_id = token.key_id().to_owned();
    let credential = state
        .db
        .run(move |c| {
            Ok(storage::tenants::active_credential(
                c,
                &key_id,
                now_millis(),
            )?)
        })
        .await?
        .ok_or_else(rejected)?;
    if !state.tokens.contains(&token, &credential.secret_hash) {
        let hash = credential.secret_hash.clone();
        let (token, ok) = state
            .argon2
            .run(move || {
                let ok = token.verify(&hash);
                (token, ok)
            })
            .await?;
        if !ok {
            return Err(rejected());
        }
        state.tokens.insert(&token, &credential.secret_hash);
    }
    // Last use is kept to the minute, written beside the request rather than in its way: a
    // busy database delays the record, never the request.
    let now = now_millis();
    if credential
        .last_used_at
        .is_none_or(|t| now - t > LAST_USED_RESOLUTION_MS)
    {
        let (db, key_id) = (state.db.clone(), credential.id.clone());
        actix_web::rt::spawn(async move {
            if let Err(e) = db
                .run(move |c| Ok(storage::tenants::touch_credential(c, &key_id, now)?))
                .await
            {
                tracing::debug!(error = %e, "the credential's last use was not recorded");
            }
        });
    }
    Ok(TenantId::from_stored(credential.tenant_id))
}

fn rejected() -> ScimError {
    ScimError::Unauthorized(
        "the bearer token is not valid: it is unknown, or its secret was regenerated".into(),
    )
}
