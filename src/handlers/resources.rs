//! `/Users` and `/Groups`, and the `.search` endpoints.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};

use crate::error::ScimError;
use crate::http::auth::TenantCtx;
use crate::http::content::{ScimJson, resource_response, scim_json};
use crate::scim::project::Projection;
use crate::scim::query::SearchRequest;
use crate::scim::schema::ResourceType;
use crate::service::{resources as service, search};
use crate::state::AppState;

/// The resource type a route serves, registered as route data.
pub type Rt = web::Data<&'static ResourceType>;

/// Query parameters, decoded, in order; kept as text so a bad value gets a SCIM error.
pub type Params = web::Query<Vec<(String, String)>>;

fn search_request(q: &Params) -> Result<SearchRequest, ScimError> {
    Ok(SearchRequest::from_query(
        q.iter().map(|(k, v)| (k.as_str(), v.as_str())),
    )?)
}

/// The `attributes` / `excludedAttributes` a single-resource request asked for (RFC 7644 §3.9).
fn view(rt: &ResourceType, q: &Params) -> Result<Projection, ScimError> {
    let req = search_request(q)?;
    Ok(Projection::new(
        rt,
        &req.attributes,
        &req.excluded_attributes,
    )?)
}

/// `GET /Users`, `GET /Groups`.
pub async fn list(
    state: web::Data<AppState>,
    ctx: TenantCtx,
    rt: Rt,
    q: Params,
) -> Result<HttpResponse, ScimError> {
    let body = search::search(&state, &ctx.tenant_id, &rt, &search_request(&q)?).await?;
    Ok(scim_json(StatusCode::OK, &body))
}

/// `POST /Users/.search`, `POST /Groups/.search`.
pub async fn search(
    state: web::Data<AppState>,
    ctx: TenantCtx,
    rt: Rt,
    body: ScimJson,
) -> Result<HttpResponse, ScimError> {
    let body = search::search(
        &state,
        &ctx.tenant_id,
        &rt,
        &SearchRequest::from_body(body.0)?,
    )
    .await?;
    Ok(scim_json(StatusCode::OK, &body))
}

/// `POST /.search`: every resource type at once.
pub async fn search_all(
    state: web::Data<AppState>,
    ctx: TenantCtx,
    body: ScimJson,
) -> Result<HttpResponse, ScimError> {
    let body =
        search::search_all(&state, &ctx.tenant_id, &SearchRequest::from_body(body.0)?).await?;
    Ok(scim_json(StatusCode::OK, &body))
}

/// `POST /Users`, `POST /Groups`.
pub async fn create(
    state: web::Data<AppState>,
    ctx: TenantCtx,
    rt: Rt,
    q: Params,
    body: ScimJson,
) -> Result<HttpResponse, ScimError> {
    let r = service::create(&state, &ctx.tenant_id, &rt, body.0, view(&rt, &q)?).await?;
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
    q: Params,
) -> Result<HttpResponse, ScimError> {
    let r = service::get(&state, &ctx.tenant_id, &rt, id.into_inner(), view(&rt, &q)?).await?;
    Ok(resource_response(StatusCode::OK, &r.body, &r.etag, None))
}

/// `PUT /Users/{id}`, `PUT /Groups/{id}`.
pub async fn replace(
    state: web::Data<AppState>,
    ctx: TenantCtx,
    rt: Rt,
    id: web::Path<String>,
    q: Params,
    body: ScimJson,
) -> Result<HttpResponse, ScimError> {
    let r = service::replace(
        &state,
        &ctx.tenant_id,
        &rt,
        id.into_inner(),
        body.0,
        view(&rt, &q)?,
    )
    .await?;
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
