//! Thin handlers: extract, call a service, shape the response.

pub mod admin;
pub mod bulk;
pub mod discovery;
pub mod health;
pub mod jwks;
pub mod metrics;
pub mod offered;
pub mod openapi;
pub mod portal;
pub mod resources;

use actix_web::{HttpRequest, HttpResponse};

use crate::error::ScimError;

/// Answers routes that do not exist.
pub async fn not_found(req: HttpRequest) -> Result<HttpResponse, ScimError> {
    Err(ScimError::NotFound(format!(
        "there is no endpoint at {}",
        req.path()
    )))
}

/// Answers methods a route does not have.
pub async fn method_not_allowed(req: HttpRequest) -> Result<HttpResponse, ScimError> {
    Err(ScimError::MethodNotAllowed(format!(
        "{} is not allowed on {}",
        req.method(),
        req.path()
    )))
}
