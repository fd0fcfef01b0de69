//! `/Users` and `/Groups`, and the `.search` endpoints.

use actix_web::http::StatusCode;
use actix_web::http::header::{ETAG, HeaderName, IF_MATCH, IF_NONE_MATCH};
use std::future::{Ready, ready};
use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, web};

use crate::error::ScimError;
use crate::http::TenantCtx;
use crate::http::content::{ScimJson, resource_response, scim_json};
use crate::http::log::LogNote;
use crate::scim::project::Projection;
use crate::scim::query::SearchRequest;
use crate::scim::resource::ETagMatch;
use crate::scim::schema::{Links, ResourceType};
use crate::scim::text;
use crate::service::resources::{self as service, Target};
use crate::service::search;
use crate::state::AppState;

/// The resource type a route serves (registered as route data) as the request's tenant defines
/// it: with the extensions the tenant registered.
pub struct Rt(Arc<ResourceType>);

impl FromRequest for Rt {
    type Error = ScimError;
    type Future = Ready<Result<Self, ScimError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let route = req.app_data::<web::Data<&'static ResourceType>>();
        let extensions = req.extensions();
        ready(match (route, extensions.get::<TenantCtx>()) {
            (Some(rt), Some(ctx)) => Ok(Rt(ctx.schemas.resource_type(rt))),
            _ => Err(ScimError::internal(anyhow::anyhow!(
                "a resource route without its type or its tenant"
            ))),
        })
    }
}

impl std::ops::Deref for Rt {
    type Target = Arc<ResourceType>;

    fn deref(&self) -> &Arc<ResourceType> {
        &self.0
    }
}

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
    let body = search::search_all(
        &state,
        &ctx.tenant_id,
        &ctx.schemas,
        &SearchRequest::from_body(body.0)?,
    )
    .await?;
    Ok(scim_json(StatusCode::OK, &body))
}

/// Notes in the request's log entry the unregistered extensions a write stored as sent.
fn note_unregistered(req: &HttpRequest, unregistered: &[String]) {
    if let Some(note) = crate::events::log::kept_unregistered(unregistered) {
        req.extensions_mut().insert(LogNote(note));
    }
}

/// `POST /Users`, `POST /Groups`.
pub async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    ctx: TenantCtx,
    rt: Rt,
    q: Params,
    body: ScimJson,
) -> Result<HttpResponse, ScimError> {
    let r = service::create(&state, &ctx.tenant_id, rt.0.clone(), body.0, view(&rt, &q)?).await?;
    note_unregistered(&req, &r.unregistered);
    Ok(resource_response(
        StatusCode::CREATED,
        &r.body,
        &r.etag,
        Some(&r.location),
    ))
}

/// `GET /Users/{id}`, `GET /Groups/{id}`; `If-None-Match` naming the current version gives 304.
pub async fn get(
    req: HttpRequest,
    state: web::Data<AppState>,
    ctx: TenantCtx,
    rt: Rt,
    id: web::Path<String>,
    q: Params,
) -> Result<HttpResponse, ScimError> {
    let id = resource_id(&rt, id)?;
    let r = service::get(&state, &ctx.tenant_id, rt.0.clone(), id, view(&rt, &q)?).await?;
    if etag_header(&req, IF_NONE_MATCH).is_some_and(|m| m.matches(r.version)) {
        return Ok(HttpResponse::NotModified()
            .insert_header((ETAG, r.etag))
            .finish());
    }
    Ok(resource_response(StatusCode::OK, &r.body, &r.etag, None))
}

/// `PUT /Users/{id}`, `PUT /Groups/{id}`.
pub async fn replace(
    req: HttpRequest,
    state: web::Data<AppState>,
    ctx: TenantCtx,
    rt: Rt,
    id: web::Path<String>,
    q: Params,
    body: ScimJson,
) -> Result<HttpResponse, ScimError> {
    let view = view(&rt, &q)?;
    let r = service::replace(&state, &ctx.tenant_id, target(&req, &rt, id)?, body.0, view).await?;
    note_unregistered(&req, &r.unregistered);
    Ok(resource_response(StatusCode::OK, &r.body, &r.etag, None))
}

/// `PATCH /Users/{id}`, `PATCH /Groups/{id}`: a User comes back whole; a Group only when the
/// request asks for attributes, since a large group's members are costly to send back.
pub async fn patch(
    req: HttpRequest,
    state: web::Data<AppState>,
    ctx: TenantCtx,
    rt: Rt,
    id: web::Path<String>,
    q: Params,
    body: ScimJson,
) -> Result<HttpResponse, ScimError> {
    let request = search_request(&q)?;
    let holds_members = rt.links == Links::Members;
    let wants_body = !holds_members || !request.attributes.is_empty();
    let view = if wants_body {
        Projection::new(&rt, &request.attributes, &request.excluded_attributes)?
    } else {
        Projection::new(&rt, &[], &[rt.links.attribute().to_owned()])?
    };
    let r = service::patch(&state, &ctx.tenant_id, target(&req, &rt, id)?, body.0, view).await?;
    note_unregistered(&req, &r.unregistered);
    if wants_body {
        Ok(resource_response(StatusCode::OK, &r.body, &r.etag, None))
    } else {
        Ok(HttpResponse::NoContent()
            .insert_header((ETAG, r.etag))
            .finish())
    }
}

/// `DELETE /Users/{id}`, `DELETE /Groups/{id}`.
pub async fn delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    ctx: TenantCtx,
    rt: Rt,
    id: web::Path<String>,
) -> Result<HttpResponse, ScimError> {
    service::delete(&state, &ctx.tenant_id, target(&req, &rt, id)?).await?;
    Ok(HttpResponse::NoContent().finish())
}

fn target(req: &HttpRequest, rt: &Rt, id: web::Path<String>) -> Result<Target, ScimError> {
    Ok(Target {
        rt: rt.0.clone(),
        id: resource_id(rt, id)?,
        if_match: etag_header(req, IF_MATCH),
    })
}

/// The id in the URL, or 404 without asking the database when it cannot name a resource (a
/// NUL, a non-character, a control character, far too long). The detail does not quote it.
fn resource_id(rt: &ResourceType, id: web::Path<String>) -> Result<String, ScimError> {
    let id = id.into_inner();
    if text::plausible_id(&id) {
        Ok(id)
    } else {
        Err(ScimError::NotFound(format!(
            "no {} has the id in this URL",
            rt.name
        )))
    }
}

fn etag_header(req: &HttpRequest, name: HeaderName) -> Option<ETagMatch> {
    req.headers()
        .get(name)
        .map(|v| ETagMatch::parse(v.to_str().unwrap_or_default()))
}
