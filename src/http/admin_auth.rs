//! Admin API authentication at the HTTP edge: the bearer JWT of a request checked by the
//! [`AdminVerifier`](crate::admin_token::AdminVerifier) in the app state, after the admin rate limit of the client's address.

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{FromRequest, HttpRequest, web};

use crate::admin_token::ALL_TENANTS;
use crate::error::AdminError;
use crate::state::AppState;

/// An authenticated admin caller.
#[derive(Debug, Clone)]
pub struct Admin {
    /// `None` for a token granting every tenant.
    tenant: Option<String>,
}

impl Admin {
    /// Passes only tokens that grant every tenant.
    pub fn require_all(&self) -> Result<(), AdminError> {
        match self.tenant {
            None => Ok(()),
            Some(_) => Err(AdminError::Forbidden(
                "this needs a token for all tenants (tenant claim \"*\")".into(),
            )),
        }
    }

    /// Passes tokens that grant `tenant_id`.
    pub fn require(&self, tenant_id: &str) -> Result<(), AdminError> {
        match &self.tenant {
            Some(t) if t != tenant_id => Err(self.elsewhere()),
            _ => Ok(()),
        }
    }

    /// What a tenant-scoped token hears about any tenant but its own, whether it exists or not.
    pub fn elsewhere(&self) -> AdminError {
        AdminError::Forbidden("this token grants one tenant only, and not this one".into())
    }

    /// The one tenant a tenant-scoped token grants.
    pub fn own_tenant(&self) -> Result<&str, AdminError> {
        self.tenant.as_deref().ok_or_else(|| {
            AdminError::BadRequest(
                "this endpoint needs a tenant-scoped token; use /admin/v1/tenants/{id}/… instead"
                    .into(),
            )
        })
    }
}

impl FromRequest for Admin {
    type Error = AdminError;
    type Future = Ready<Result<Self, AdminError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(authenticate(req))
    }
}

fn authenticate(req: &HttpRequest) -> Result<Admin, AdminError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| AdminError::Internal(anyhow::anyhow!("AppState is not registered")))?;
    // Counted before the token is checked, so floods with bad tokens are limited too.
    state.throttle.admin(&state.throttle.client(req))?;
    let verifier = state.admin.as_ref().ok_or_else(|| {
        AdminError::NotFound(
            "the admin API is off: set SCIMITAR_ADMIN_JWT_SECRET or SCIMITAR_ADMIN_JWT_PUBLIC_KEY"
                .into(),
        )
    })?;
    let header = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            AdminError::Unauthorized(
                "send an admin JWT as \"Authorization: Bearer <token>\"".into(),
            )
        })?;
    let token = super::bearer(header).ok_or_else(|| {
        AdminError::Unauthorized("only Bearer authentication is supported".into())
    })?;
    let claims = verifier.verify(token)?;
    let tenant = (claims.tenant != ALL_TENANTS).then_some(claims.tenant);
    Ok(Admin { tenant })
}
