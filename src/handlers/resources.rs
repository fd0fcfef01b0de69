//! `/Users` and `/Groups`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Deserialize;

use crate::error::ScimError;
use crate::http::auth::TenantCtx;
use crate::http::content::{ScimJson, resource_response, scim_json};
use crate::scim::filter;
use crate::scim::resource::list_response;
use crate::scim::schema::ResourceType;
use crate::service::resources as service;
use crate::state::AppState;

/// Page size when the client does not send `count`.
pub const DEFAULT_PAGE_SIZE: i64 = 100;
/// Largest page served, advertised as `filter.maxResults`.
pub const MAX_PAGE_SIZE: i64 = 1000;

/// The resource type a route serves, registered as route data.
pub type Rt = web::Data<&'static ResourceType>;

/// List query parameters (RFC 7644 §3.4.2); kept as text so a bad number gets a SCIM error.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    #[serde(rename = "startIndex")]
    start_index: Option<String>,
    count: Option<String>,
    filter: Option<String>,
}

fn integer(name: &str, v: Option<&str>) -> Result<Option<i64>, ScimError> {
    v.map(|s| {
        s.trim()
            .parse::<i64>()
            .map_err(|_| ScimError::InvalidValue(format!("{name} must be an integer, not {s:?}")))
    })
    .transpose()
}

/// `GET /Users`, `GET /Groups`.
pub async fn list(
    state: web::Data<AppState>,
    ctx: TenantCtx,
    rt: Rt,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, ScimError> {
    // RFC 7644 §3.4.2.4: startIndex below 1 is 1; a negative count is 0; count is capped.
    let start = integer("startIndex", q.start_index.as_deref())?
        .unwrap_or(1)
        .max(1);
    let count = integer("count", q.count.as_deref())?
        .unwrap_or(DEFAULT_PAGE_SIZE)
        .clamp(0, MAX_PAGE_SIZE);
    let filter = q
        .filter
        .as_deref()
        .map(|f| filter::parse(f).and_then(|f| filter::check(f, &rt)))
        .transpose()?;
    let page = service::list(&state, &ctx.tenant_id, &rt, filter, start, count).await?;
    Ok(scim_json(
        StatusCode::OK,
        &list_response(page.total, page.start_index, page.resources),
    ))
}

/// `POST /Users`, `POST /Groups`.
pub async fn create(
    state: web::Data<AppState>,
    ctx: TenantCtx,
    rt: Rt,
    body: ScimJson,
) -> Result<HttpResponse, ScimError> {
    let r = service::create(&state, &ctx.tenant_id, &rt, body.0).await?;
    Ok(resource_response(
        StatusCode::CREATED,
        &r.body,
        &r.etag,
        Some(&r.location),
    ))
}

/// `GET /Users/{id}`, `GET /Groups/{id}`.
pub async fn get(
    state: web::Data<AppState>,
    ctx: TenantCtx,
    rt: Rt,
    id: web::Path<String>,
) -> Result<HttpResponse, ScimError> {
    let r = service::get(&state, &ctx.tenant_id, &rt, id.into_inner()).await?;
    Ok(resource_response(StatusCode::OK, &r.body, &r.etag, None))
}

/// `PUT /Users/{id}`, `PUT /Groups/{id}`.
pub async fn replace(
    state: web::Data<AppState>,
    ctx: TenantCtx,
    rt: Rt,
    id: web::Path<String>,
    body: ScimJson,
) -> Result<HttpResponse, ScimError> {
    let r = service::replace(&state, &ctx.tenant_id, &rt, id.into_inner(), body.0).await?;
    Ok(resource_response(StatusCode::OK, &r.body, &r.etag, None))
}

/// `DELETE /Users/{id}`, `DELETE /Groups/{id}`.
pub async fn delete(
    state: web::Data<AppState>,
    ctx: TenantCtx,
    rt: Rt,
    id: web::Path<String>,
) -> Result<HttpResponse, ScimError> {
    service::delete(&state, &ctx.tenant_id, &rt, id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `PATCH`, until the PATCH engine lands (ServiceProviderConfig says patch is unsupported).
pub async fn patch_unsupported() -> Result<HttpResponse, ScimError> {
    Err(ScimError::NotImplemented(
        "PATCH is not supported by this server yet (see /ServiceProviderConfig); use PUT with the full resource".into(),
    ))
}
