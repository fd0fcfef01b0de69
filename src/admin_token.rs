//! Admin API tokens: a JWT (HS256 secret, or RS256/ES256 public key) whose `tenant`
//! claim grants one tenant, or every tenant with `"*"`. `exp` is required, `nbf` is honoured,
//! a configured `iss` or `aud` must be present and match, and a token may live at most the
//! configured maximum: `exp - iat`, or `exp - now` when it has no `iat`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::config::{AdminAuth, AdminKey};
use crate::error::AdminError;

/// The claim value granting every tenant.
pub const ALL_TENANTS: &str = "*";

/// The claims Scimitar reads from an admin JWT. `iss` and `aud` are checked by the validation
/// itself, so `aud` may be a string or a list (RFC 7519 §4.1.3).
#[derive(Debug, Deserialize)]
pub struct AdminClaims {
    /// Expiry (seconds since the epoch); required.
    pub exp: u64,
    /// Issue time (seconds since the epoch), which the lifetime is measured from when present.
    #[serde(default)]
    pub iat: Option<u64>,
    /// A tenant id, or `"*"` for every tenant.
    pub tenant: String,
}

/// The claims of a token `scimitar admin token` mints.
#[derive(Debug, Serialize)]
struct MintedClaims<'a> {
    sub: &'a str,
    iat: u64,
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
    max_ttl: u64,
}

impl AdminVerifier {
    /// Prepares the key and the validation rules; `max_ttl` bounds a token's lifetime.
    pub fn new(auth: &AdminAuth, max_ttl: Duration) -> anyhow::Result<Self> {
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
        validation.leeway = LEEWAY;
        validation.validate_nbf = true;
        // jsonwebtoken checks iss and aud only when the token has them: a configured one must
        // also be required, or a token that leaves it out passes.
        let mut required = vec!["exp"];
        match &auth.issuer {
            Some(iss) => {
                validation.set_issuer(&[iss]);
                required.push("iss");
            }
            None => validation.iss = None,
        }
        match &auth.audience {
            Some(aud) => {
                validation.set_audience(&[aud]);
                required.push("aud");
            }
            None => validation.validate_aud = false,
        }
        validation.set_required_spec_claims(&required);
        Ok(Self {
            key,
            validation,
            max_ttl: max_ttl.as_secs(),
        })
    }

    /// Checks a token's signature, expiry, issuer, audience and lifetime; returns its claims.
    pub fn verify(&self, token: &str) -> Result<AdminClaims, AdminError> {
        let claims = jsonwebtoken::decode::<AdminClaims>(token, &self.key, &self.validation)
            .map(|d| d.claims)
            .map_err(|e| AdminError::Unauthorized(format!("the admin token is not valid: {e}")))?;
        lifetime_ok(&claims, now_secs(), self.max_ttl)?;
        Ok(claims)
    }
}

/// Clock skew allowed on `exp`, `nbf` and `iat`, in seconds.
const LEEWAY: u64 = 30;

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A token lives from its `iat` (or from now, without one) to its `exp`; longer than `max_ttl`
/// is refused, so a leaked token cannot be one that never ends. An `iat` in the future would
/// shorten the measured lifetime, so it is refused too.
fn lifetime_ok(claims: &AdminClaims, now: u64, max_ttl: u64) -> Result<(), AdminError> {
    let issued = claims.iat.unwrap_or(now);
    if issued > now.saturating_add(LEEWAY) {
        return Err(AdminError::Unauthorized(
            "the admin token is not valid: it was issued in the future (iat)".into(),
        ));
    }
    if claims.exp.saturating_sub(issued) > max_ttl.saturating_add(LEEWAY) {
        return Err(AdminError::Unauthorized(format!(
            "the admin token is not valid: it lives longer than the {max_ttl} seconds this server allows (exp - iat)"
        )));
    }
    Ok(())
}

/// Mints a token with the HS256 secret (for `scimitar admin token`).
pub fn mint(auth: &AdminAuth, tenant: &str, ttl: Duration) -> anyhow::Result<String> {
    let AdminKey::Hs256(secret) = &auth.key else {
        anyhow::bail!(
            "minting needs SCIMITAR_ADMIN_JWT_SECRET; with a public key, tokens come from your identity system"
        );
    };
    let iat = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let claims = MintedClaims {
        sub: "scimitar-cli",
        iat,
        exp: iat.saturating_add(ttl.as_secs()),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(iat: Option<u64>, exp: u64) -> AdminClaims {
        AdminClaims {
            exp,
            iat,
            tenant: ALL_TENANTS.into(),
        }
    }

    #[test]
    fn lifetime_is_exp_minus_iat_or_now() {
        let (now, max) = (1_000_000, 3600);
        assert!(lifetime_ok(&claims(Some(now - 100), now + 3000), now, max).is_ok());
        assert!(lifetime_ok(&claims(Some(now - 3000), now + 3000), now, max).is_err());
        assert!(lifetime_ok(&claims(None, now + 3600), now, max).is_ok());
        assert!(lifetime_ok(&claims(None, now + 7200), now, max).is_err());
        assert!(lifetime_ok(&claims(Some(now + 3000), now + 3600), now, max).is_err());
        assert!(lifetime_ok(&claims(None, u64::MAX), u64::MAX - 1, u64::MAX).is_ok());
    }
}
