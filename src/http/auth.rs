//! Bearer token → tenant. The token alone selects the tenant; handlers declare a
//! [`TenantCtx`](crate::http::TenantCtx).

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::AUTHORIZATION;
use actix_web::middleware::Next;
use actix_web::{HttpMessage, web};
use tracing_actix_web::RootSpan;

use crate::error::ScimError;
use crate::http::TenantCtx;
use crate::http::log as request_log;
use crate::http::throttle::ClientKey;
use crate::service::{self, modes};
use crate::state::AppState;
use crate::storage::{self, now_millis};
use crate::tenant::{Mode, TenantId};
use crate::token::ScimToken;

/// How precisely a credential's last use is recorded.
const LAST_USED_RESOLUTION_MS: i64 = 60_000;

/// Middleware for the SCIM resource routes: authenticates the bearer token, counts the request
/// against its tenant's rate limit and attaches the tenant to the request and to its log span.
pub async fn require_tenant(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    identify(&req).await?;
    next.call(req).await
}

/// As [`require_tenant`] for a request that carries credentials; one without passes as it is,
/// answered for no tenant in particular (the discovery endpoints, which RFC 7644 §4 lets a
/// client read before it authenticates: with a token it sees its tenant's extensions).
pub async fn tenant_if_named(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if req.headers().contains_key(AUTHORIZATION) {
        identify(&req).await?;
    }
    next.call(req).await
}

/// Authenticates the request's bearer token and records its tenant in the request.
async fn identify(req: &ServiceRequest) -> Result<(), actix_web::Error> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| ScimError::internal(anyhow::anyhow!("AppState is not registered")))?;
    let client = state.throttle.client(req.request());
    let token = match bearer_token(req.headers().get(AUTHORIZATION)) {
        Ok(token) => token,
        Err(e) => {
            state
                .throttle
                .unverified_from(&client)
                .map_err(ScimError::from)?;
            return Err(e.into());
        }
    };
    let key_id = token.key_id().to_owned();
    let (tenant, schema_version, mode) = match authenticate(&state, req, &client, token).await {
        Ok(t) => t,
        Err(e @ ScimError::Unauthorized(_)) => {
            request_log::rejected_token(&state, req, key_id);
            return Err(e.into());
        }
        Err(e) => return Err(e.into()),
    };
    if let Some(span) = req.extensions().get::<RootSpan>() {
        span.record("tenant_id", tracing::field::display(&tenant));
    }
    let directory = modes::directory_of(&tenant, mode);
    let schemas = service::schemas::view(&state, &directory, schema_version).await?;
    req.extensions_mut().insert(TenantCtx {
        directory,
        tenant,
        schemas,
    });
    // Refused after the tenant is known, so the refusal is in its provisioning log.
    if mode == Mode::Paused {
        return Err(ScimError::Paused(
            "this tenant's provisioning is paused by its administrator; retry later".into(),
        )
        .into());
    }
    Ok(())
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

/// Resolves a token to its tenant and counts the request against that tenant's rate limit: one
/// primary-key read always, argon2id only on a cache miss.
///
/// A token verified before counts against its tenant before the read, so a tenant over its
/// limit costs nothing more. Only verified tokens count against a tenant: wrong secrets sent
/// with a tenant's key id must not use up the tenant's budget. A token the cache does not know
/// costs its client address one attempt before the read and, when its key id exists, that key
/// id from that address one attempt before argon2id; over either limit it gets 429 and costs
/// nothing more. Requests that bring the same new token while it is being verified wait for
/// that one run, so an IdP opening many connections with a fresh token costs one. These never hold up a token in the cache, so nobody can lock a working IdP out
/// by spraying wrong secrets at its key id.
async fn authenticate(
    state: &AppState,
    req: &ServiceRequest,
    client: &ClientKey,
    token: ScimToken,
) -> Result<(TenantId, i64, Mode), ScimError> {
    // A refusal by the tenant's own limit is the tenant's to see, in its log and diagnosis.
    let count = |tenant: &TenantId| {
        state.throttle.tenant(tenant).map_err(|refusal| {
            request_log::throttled(state, req, tenant, &refusal);
            ScimError::from(refusal)
        })
    };
    let counted = match state.tokens.tenant_of(&token) {
        Some(tenant) => {
            count(&tenant)?;
            true
        }
        None => {
            state.throttle.unverified_from(client)?;
            false
        }
    };
    let key_id = token.key_id().to_owned();
    let credential = state
        .db
        .read_by_key(move |c| {
            Ok(storage::tenants::active_credential(
                c,
                &key_id,
                now_millis(),
            )?)
        })
        .await?
        .ok_or_else(rejected)?;
    let tenant = TenantId::from_stored(credential.tenant_id);
    if !state.tokens.contains(&token, &credential.secret_hash) {
        let ok = state
            .tokens
            .verify_once(&token, &credential.secret_hash, || async {
                state.throttle.unverified_key(&credential.id, client)?;
                let (token, hash) = (token.clone(), credential.secret_hash.clone());
                state
                    .argon2
                    .run_for(&tenant, move || token.verify(&hash))
                    .await
            })
            .await?;
        if !ok {
            return Err(rejected());
        }
        state
            .tokens
            .insert(&token, &credential.secret_hash, &tenant);
    }
    // Last use is kept to the minute, written beside the request rather than in its way (a
    // busy database delays the record, never the request).
    let now = now_millis();
    if credential
        .last_used_at
        .is_none_or(|t| now - t > LAST_USED_RESOLUTION_MS)
    {
        let (db, key_id) = (state.db.clone(), credential.id.clone());
        actix_web::rt::spawn(async move {
            if let Err(e) = db
                .write_relaxed(move |c| Ok(storage::tenants::touch_credential(c, &key_id, now)?))
                .await
            {
                tracing::debug!(error = %e, "the credential's last use was not recorded");
            }
        });
    }
    if !counted {
        count(&tenant)?;
    }
    // A mode this version does not know (written by a newer one) is the safe one: paused.
    let mode = Mode::named(&credential.mode).unwrap_or(Mode::Paused);
    Ok((tenant, credential.schema_version, mode))
}

fn rejected() -> ScimError {
    ScimError::Unauthorized(
        "the bearer token is not valid: it is unknown, or its secret was regenerated".into(),
    )
}
