//! HTTP edges: authentication, content negotiation and the SCIM JSON response.

pub mod admin_auth;
pub mod auth;
pub mod content;
pub mod log;
pub mod throttle;

/// The credentials of an `Authorization: Bearer <credentials>` value; the scheme is
/// case-insensitive (RFC 7235 §2.1). `None` for any other scheme.
pub fn bearer(value: &str) -> Option<&str> {
    let (scheme, credentials) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| credentials.trim())
}
