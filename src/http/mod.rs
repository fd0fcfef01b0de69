//! HTTP edges: authentication, content negotiation and the SCIM JSON response.

pub mod admin_auth;
pub mod auth;
pub mod content;
pub mod log;
