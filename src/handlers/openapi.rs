//! `GET /openapi.json`: the OpenAPI document of the SCIM and admin APIs.

use actix_web::http::header;
use actix_web::{HttpResponse, web};

use crate::error::ScimError;
use crate::state::AppState;

/// The OpenAPI 3.1 document of the SCIM and admin APIs.
///
/// Needs no credentials: it describes the routes and shows no data.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "Operations",
    responses((status = 200, description = "The document.", body = Object)),
)]
pub async fn document(state: web::Data<AppState>) -> Result<HttpResponse, ScimError> {
    let json = state.openapi.json(&state).map_err(ScimError::internal)?;
    Ok(HttpResponse::Ok()
        .content_type(header::ContentType::json())
        .body(json))
}
