//! HTTP edges: authentication, content negotiation and the SCIM JSON response.

pub mod admin_auth;
pub mod auth;
pub mod content;
pub mod log;
pub mod metrics;
pub mod throttle;

use std::future::{Ready, ready};
use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest};

use crate::error::ScimError;
use crate::scim::schema::TenantSchemas;
use crate::tenant::TenantId;

/// The route pattern a request matched (`/scim/v2/Users/{id}`, or `unmatched`), found once by
/// the metrics middleware and read by the request's log span: finding it walks the route table.
#[derive(Debug, Clone)]
pub struct RoutePattern(pub Arc<str>);

impl RoutePattern {
    /// The pattern of `req`'s path.
    pub fn of(req: &HttpRequest) -> Self {
        Self(
            req.match_pattern()
                .map_or_else(|| "unmatched".into(), Arc::from),
        )
    }
}

/// The authenticated tenant of a SCIM request.
#[derive(Debug, Clone)]
pub struct TenantCtx {
    /// The directory the request reads and writes (its resources and their events): the
    /// tenant's own, or in dry-run its shadow (`TenantId::shadow`). Nothing else is its.
    pub directory: TenantId,
    /// The tenant the bearer token belongs to, in every mode: the request is logged, counted
    /// and diagnosed as its, and the host app's role catalog is its.
    pub tenant: TenantId,
    /// The tenant's resource types, with the extensions it registered.
    pub schemas: Arc<TenantSchemas>,
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

/// The `User-Agent` of a request, as the provisioning log keeps it (it names the IdP).
pub fn user_agent(headers: &actix_web::http::header::HeaderMap) -> Option<String> {
    headers
        .get(actix_web::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The credentials of an `Authorization: Bearer <credentials>` value; the scheme is
/// case-insensitive (RFC 7235 §2.1). `None` for any other scheme.
pub fn bearer(value: &str) -> Option<&str> {
    let (scheme, credentials) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| credentials.trim())
}
