//! Admin API authentication: a JWT (HS256 secret, or RS256/ES256 public key) whose `tenant`
//! claim grants one tenant, or every tenant with `"*"`.

use std::future::{Ready, ready};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::dev::Payload;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{FromRequest, HttpRequest, web};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::config::{AdminAuth, AdminKey};
use crate::error::AdminError;
use crate::state::AppState;

/// The claim value granting every tenant.
pub const ALL_TENANTS: &str = "*";

/// The claims Scimitar reads from an admin JWT. `iss` and `aud` are checked by the validation
/// itself, so `aud` may be a string or a list (RFC 7519 §4.1.3).
#[derive(Debug, Deserialize)]
pub struct AdminClaims {
    /// Expiry (seconds since the epoch); required.
    pub exp: u64,
    /// A tenant id, or `"*"` for every tenant.
    pub tenant: String,
}

/// The claims of a token `scimitar admin token` mints.
#[derive(Debug, Serialize)]
struct MintedClaims<'a> {
    sub: &'a str,
    exp: u64,
    tenant: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    iss: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    aud: Option<&'a str>,
}

/// Checks admin tokens; built once at start so a bad key fails the start, not a request.
pub struct AdminVerifier {
    key: DecodingKey,
    validation: Validation,
}

impl AdminVerifier {
    /// Prepares the key and the validation rules.
    pub fn new(auth: &AdminAuth) -> anyhow::Result<Self> {
        let (key, alg) = match &auth.key {
            AdminKey::Hs256(secret) => (DecodingKey::from_secret(secret), Algorithm::HS256),
            AdminKey::PublicKeyPem(pem) => match DecodingKey::from_rsa_pem(pem) {
                Ok(k) => (k, Algorithm::RS256),
                Err(_) => (
                    DecodingKey::from_ec_pem(pem).map_err(|e| {
                        anyhow::anyhow!(
                            "the admin JWT public key is neither an RSA nor an EC PEM key: {e}"
                        )
                    })?,
                    Algorithm::ES256,
                ),
            },
        };
        let mut validation = Validation::new(alg);
        validation.set_required_spec_claims(&["exp"]);
        validation.leeway = 30;
        match &auth.issuer {
            Some(iss) => validation.set_issuer(&[iss]),
            None => validation.iss = None,
        }
        match &auth.audience {
            Some(aud) => validation.set_audience(&[aud]),
            None => validation.validate_aud = false,
        }
        Ok(Self { key, validation })
    }

    fn verify(&self, token: &str) -> Result<AdminClaims, AdminError> {
        jsonwebtoken::decode::<AdminClaims>(token, &self.key, &self.validation)
            .map(|d| d.claims)
            .map_err(|e| AdminError::Unauthorized(format!("the admin token is not valid: {e}")))
    }
}

/// Mints a token with the HS256 secret (for `scimitar admin token`).
pub fn mint(auth: &AdminAuth, tenant: &str, ttl: Duration) -> anyhow::Result<String> {
    let AdminKey::Hs256(secret) = &auth.key else {
        anyhow::bail!(
            "minting needs SCIMITAR_ADMIN_JWT_SECRET; with a public key, tokens come from your identity system"
        );
    };
    let exp = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs() + ttl.as_secs();
    let claims = MintedClaims {
        sub: "scimitar-cli",
        exp,
        tenant,
        iss: auth.issuer.as_deref(),
        aud: auth.audience.as_deref(),
    };
    Ok(jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret),
    )?)
}

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
            Some(t) if t != tenant_id => Err(AdminError::Forbidden(
                "this token is for another tenant".into(),
            )),
            _ => Ok(()),
        }
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
