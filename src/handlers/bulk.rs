//! `POST /Bulk` (RFC 7644 §3.7).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use crate::error::ScimError;
use crate::http::TenantCtx;
use crate::http::content::{BulkJson, scim_json};
use crate::scim::bulk;
use crate::service::bulk::{self as service, Origin};
use crate::state::AppState;

/// `POST /Bulk`: the operations' results in one response, 200 even when some failed.
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
    };
    let body = service::run(&state, &ctx.tenant_id, &ctx.schemas, request, origin).await;
    Ok(scim_json(StatusCode::OK, &body))
}
