//! `POST /Bulk` (RFC 7644 §3.7).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use crate::error::{SCIM_CONTENT_TYPE, ScimError};
use crate::http::TenantCtx;
use crate::http::content::{BulkJson, scim_json};
use crate::scim::bulk;
use crate::service::bulk::{self as service, Origin};
use crate::state::AppState;

/// Runs many operations in one request (RFC 7644 §3.7).
///
/// The operations' results come in one response, 200 even when some failed; `bulkId`
/// references let a later operation name a resource an earlier one created.
#[utoipa::path(
    post,
    path = "/Bulk",
    tag = "SCIM",
    security(("scim_token" = [])),
    request_body(content = ref("#/components/schemas/BulkRequest"),
        content_type = SCIM_CONTENT_TYPE),
    responses(
        (status = 200, description = "Each operation's result.",
            body = ref("#/components/schemas/BulkResponse"), content_type = SCIM_CONTENT_TYPE),
        (status = 400, description = "The request is not a valid BulkRequest."),
        (status = 401, description = "No valid tenant token."),
        (status = 413, description = "Too many operations, or too large a body."),
        (status = 501, description = "Bulk requests are switched off on this server."),
    ),
)]
pub async fn bulk(
    req: HttpRequest,
    state: web::Data<AppState>,
    ctx: TenantCtx,
    body: BulkJson,
) -> Result<HttpResponse, ScimError> {
    let max = state.settings.bulk.max_operations;
    if max == 0 {
        return Err(ScimError::NotImplemented(
            "bulk requests are switched off on this server (max-bulk-operations is 0); send \
             each operation as its own request"
                .into(),
        ));
    }
    let request = bulk::parse_request(body.0, max)?;
    let origin = Origin {
        prefix: req
            .path()
            .rsplit_once('/')
            .map_or("", |(prefix, _)| prefix)
            .to_owned(),
        user_agent: crate::http::user_agent(req.headers()),
        tenant: ctx.tenant.clone(),
    };
    let body = service::run(&state, &ctx.directory, &ctx.schemas, request, origin).await;
    Ok(scim_json(StatusCode::OK, &body))
}
