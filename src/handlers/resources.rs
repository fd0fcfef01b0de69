//! `/Users` and `/Groups`, and the `.search` endpoints.

use actix_web::http::StatusCode;
use actix_web::http::header::{ETAG, HeaderName, IF_MATCH, IF_NONE_MATCH};
use std::future::{Ready, ready};
use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, web};

use crate::diagnosis::Signals;
use crate::error::{SCIM_CONTENT_TYPE, ScimError};
use crate::http::TenantCtx;
use crate::http::content::{ScimJson, resource_response, scim_json};
use crate::http::log::{LogNote, note_shape};
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

/// The query parameters as a [`SearchRequest`]; a bad value is a SCIM 400.
pub(crate) fn search_request(q: &Params) -> Result<SearchRequest, ScimError> {
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

/// Lists the resources of the type, filtered, sorted and paged (RFC 7644 §3.4.2).
#[utoipa::path(
    get,
    path = "",
    operation_id = "list",
    security(("scim_token" = [])),
    params(
        ("filter" = Option<String>, Query, description = "A filter (RFC 7644 §3.4.2.2), e.g. \
            `userName eq \"ann@example.com\"`."),
        ("sortBy" = Option<String>, Query, description = "The attribute to sort by."),
        ("sortOrder" = Option<String>, Query, description = "`ascending` or `descending`."),
        ("startIndex" = Option<i64>, Query, description = "The 1-based index of the first result."),
        ("count" = Option<i64>, Query, description = "The most results in the page."),
        ("cursor" = Option<String>, Query,
            description = "Cursor pagination (RFC 9865): empty for the first page, then \
                `nextCursor`."),
        ("attributes" = Option<String>, Query,
            description = "Comma-separated attributes to return (RFC 7644 §3.9)."),
        ("excludedAttributes" = Option<String>, Query,
            description = "Comma-separated attributes to leave out (RFC 7644 §3.9)."),
    ),
    responses(
        (status = 200, description = "A page of resources.",
            body = ref("#/components/schemas/ListResponse"), content_type = SCIM_CONTENT_TYPE),
        (status = 400, description = "An invalid filter, sort or page."),
        (status = 401, description = "No valid tenant token."),
    ),
)]
pub async fn list(
    state: web::Data<AppState>,
    ctx: TenantCtx,
    rt: Rt,
    q: Params,
) -> Result<HttpResponse, ScimError> {
    let body = search::search(&state, &ctx.directory, &rt, &search_request(&q)?).await?;
    Ok(scim_json(StatusCode::OK, &body))
}

/// Searches the resources of the type with a query in the body (RFC 7644 §3.4.3).
#[utoipa::path(
    post,
    path = "/.search",
    operation_id = "search",
    security(("scim_token" = [])),
    request_body(content = ref("#/components/schemas/SearchRequest"),
        content_type = SCIM_CONTENT_TYPE),
    responses(
        (status = 200, description = "A page of resources.",
            body = ref("#/components/schemas/ListResponse"), content_type = SCIM_CONTENT_TYPE),
        (status = 400, description = "An invalid query."),
        (status = 401, description = "No valid tenant token."),
    ),
)]
pub async fn search(
    req: HttpRequest,
    state: web::Data<AppState>,
    ctx: TenantCtx,
    rt: Rt,
    body: ScimJson,
) -> Result<HttpResponse, ScimError> {
    note_shape(&req, &state, &ctx.tenant, &body.0);
    let body = search::search(
        &state,
        &ctx.directory,
        &rt,
        &SearchRequest::from_body(body.0)?,
    )
    .await?;
    Ok(scim_json(StatusCode::OK, &body))
}

/// Searches every resource type at once (RFC 7644 §3.4.3).
#[utoipa::path(
    post,
    path = "/.search",
    tag = "SCIM",
    security(("scim_token" = [])),
    request_body(content = ref("#/components/schemas/SearchRequest"),
        content_type = SCIM_CONTENT_TYPE),
    responses(
        (status = 200, description = "A page of resources of every type.",
            body = ref("#/components/schemas/ListResponse"), content_type = SCIM_CONTENT_TYPE),
        (status = 400, description = "An invalid query."),
        (status = 401, description = "No valid tenant token."),
    ),
)]
pub async fn search_all(
    req: HttpRequest,
    state: web::Data<AppState>,
    ctx: TenantCtx,
    body: ScimJson,
) -> Result<HttpResponse, ScimError> {
    note_shape(&req, &state, &ctx.tenant, &body.0);
    let body = search::search_all(
        &state,
        &ctx.directory,
        &ctx.schemas,
        &SearchRequest::from_body(body.0)?,
    )
    .await?;
    Ok(scim_json(StatusCode::OK, &body))
}

/// Notes for the request's log entry what the write's body shows the connection diagnosis.
fn note_signals(req: &HttpRequest, rt: &ResourceType, body: &serde_json::Value) {
    let signals = Signals::of_write(req.method().as_str(), rt, body);
    if signals != Signals::NONE {
        req.extensions_mut().insert(signals);
    }
}

/// Notes in the request's log entry the unregistered extensions a write stored as sent.
fn note_unregistered(req: &HttpRequest, unregistered: &[String]) {
    if let Some(note) = crate::events::log::kept_unregistered(unregistered) {
        req.extensions_mut().insert(LogNote(note));
    }
}

/// Creates a resource (RFC 7644 §3.3).
#[utoipa::path(
    post,
    path = "",
    operation_id = "create",
    security(("scim_token" = [])),
    params(
        ("attributes" = Option<String>, Query,
            description = "Comma-separated attributes to return (RFC 7644 §3.9)."),
        ("excludedAttributes" = Option<String>, Query,
            description = "Comma-separated attributes to leave out (RFC 7644 §3.9)."),
    ),
    request_body(content = ref("#/components/schemas/ScimResource"),
        content_type = SCIM_CONTENT_TYPE),
    responses(
        (status = 201, description = "Created; `Location` and `ETag` headers name it.",
            body = ref("#/components/schemas/ScimResource"), content_type = SCIM_CONTENT_TYPE),
        (status = 400, description = "The resource is not valid for its schemas."),
        (status = 401, description = "No valid tenant token."),
        (status = 409, description = "A unique attribute (`userName`, `displayName`) is taken."),
    ),
)]
pub async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    ctx: TenantCtx,
    rt: Rt,
    q: Params,
    body: ScimJson,
) -> Result<HttpResponse, ScimError> {
    note_signals(&req, &rt, &body.0);
    note_shape(&req, &state, &ctx.tenant, &body.0);
    let r = service::create(&state, &ctx.directory, rt.0.clone(), body.0, view(&rt, &q)?).await?;
    note_unregistered(&req, &r.unregistered);
    Ok(resource_response(
        StatusCode::CREATED,
        &r.body,
        &r.etag,
        Some(&r.location),
    ))
}

/// Reads a resource (RFC 7644 §3.4.1).
///
/// `If-None-Match` naming the current version gives 304.
#[utoipa::path(
    get,
    path = "/{id}",
    operation_id = "get",
    security(("scim_token" = [])),
    params(
        ("id" = String, Path, description = "The resource's id."),
        ("attributes" = Option<String>, Query,
            description = "Comma-separated attributes to return (RFC 7644 §3.9)."),
        ("excludedAttributes" = Option<String>, Query,
            description = "Comma-separated attributes to leave out (RFC 7644 §3.9)."),
        ("If-None-Match" = Option<String>, Header, description = "A version (ETag) held."),
    ),
    responses(
        (status = 200, description = "The resource.",
            body = ref("#/components/schemas/ScimResource"), content_type = SCIM_CONTENT_TYPE),
        (status = 304, description = "The version named in `If-None-Match` is current."),
        (status = 401, description = "No valid tenant token."),
        (status = 404, description = "No resource of the type has this id."),
    ),
)]
pub async fn get(
    req: HttpRequest,
    state: web::Data<AppState>,
    ctx: TenantCtx,
    rt: Rt,
    id: web::Path<String>,
    q: Params,
) -> Result<HttpResponse, ScimError> {
    let id = resource_id(&rt, id)?;
    let r = service::get(&state, &ctx.directory, rt.0.clone(), id, view(&rt, &q)?).await?;
    if etag_header(&req, IF_NONE_MATCH).is_some_and(|m| m.matches(r.version)) {
        return Ok(HttpResponse::NotModified()
            .insert_header((ETAG, r.etag))
            .finish());
    }
    Ok(resource_response(StatusCode::OK, &r.body, &r.etag, None))
}

/// Replaces a resource (RFC 7644 §3.5.1).
#[utoipa::path(
    put,
    path = "/{id}",
    operation_id = "replace",
    security(("scim_token" = [])),
    params(
        ("id" = String, Path, description = "The resource's id."),
        ("attributes" = Option<String>, Query,
            description = "Comma-separated attributes to return (RFC 7644 §3.9)."),
        ("excludedAttributes" = Option<String>, Query,
            description = "Comma-separated attributes to leave out (RFC 7644 §3.9)."),
        ("If-Match" = Option<String>, Header,
            description = "The version (ETag) the change is for; 412 if it is not current."),
    ),
    request_body(content = ref("#/components/schemas/ScimResource"),
        content_type = SCIM_CONTENT_TYPE),
    responses(
        (status = 200, description = "The resource as replaced.",
            body = ref("#/components/schemas/ScimResource"), content_type = SCIM_CONTENT_TYPE),
        (status = 400, description = "The resource is not valid, or changes an immutable value."),
        (status = 401, description = "No valid tenant token."),
        (status = 404, description = "No resource of the type has this id."),
        (status = 409, description = "A unique attribute is taken."),
        (status = 412, description = "`If-Match` does not name the current version."),
    ),
)]
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
    note_signals(&req, &rt, &body.0);
    note_shape(&req, &state, &ctx.tenant, &body.0);
    let r = service::replace(&state, &ctx.directory, target(&req, &rt, id)?, body.0, view).await?;
    note_unregistered(&req, &r.unregistered);
    Ok(resource_response(StatusCode::OK, &r.body, &r.etag, None))
}

/// Changes a resource with PATCH operations, all or none (RFC 7644 §3.5.2).
///
/// A User comes back whole; a Group only when the request asks for attributes, since a large
/// group's members are costly to send back.
#[utoipa::path(
    patch,
    path = "/{id}",
    operation_id = "patch",
    security(("scim_token" = [])),
    params(
        ("id" = String, Path, description = "The resource's id."),
        ("attributes" = Option<String>, Query,
            description = "Comma-separated attributes to return (RFC 7644 §3.9)."),
        ("excludedAttributes" = Option<String>, Query,
            description = "Comma-separated attributes to leave out (RFC 7644 §3.9)."),
        ("If-Match" = Option<String>, Header,
            description = "The version (ETag) the change is for; 412 if it is not current."),
    ),
    request_body(content = ref("#/components/schemas/PatchOp"),
        content_type = SCIM_CONTENT_TYPE),
    responses(
        (status = 200, description = "The resource as changed.",
            body = ref("#/components/schemas/ScimResource"), content_type = SCIM_CONTENT_TYPE),
        (status = 204, description = "Changed (a Group, when no attributes were asked for)."),
        (status = 400, description = "An invalid operation, path or value; nothing changed."),
        (status = 401, description = "No valid tenant token."),
        (status = 404, description = "No resource of the type has this id."),
        (status = 409, description = "A unique attribute is taken."),
        (status = 412, description = "`If-Match` does not name the current version."),
    ),
)]
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
    note_signals(&req, &rt, &body.0);
    note_shape(&req, &state, &ctx.tenant, &body.0);
    let r = service::patch(&state, &ctx.directory, target(&req, &rt, id)?, body.0, view).await?;
    note_unregistered(&req, &r.unregistered);
    if wants_body {
        Ok(resource_response(StatusCode::OK, &r.body, &r.etag, None))
    } else {
        Ok(HttpResponse::NoContent()
            .insert_header((ETAG, r.etag))
            .finish())
    }
}

/// Deletes a resource (RFC 7644 §3.6).
#[utoipa::path(
    delete,
    path = "/{id}",
    operation_id = "delete",
    security(("scim_token" = [])),
    params(
        ("id" = String, Path, description = "The resource's id."),
        ("If-Match" = Option<String>, Header,
            description = "The version (ETag) the change is for; 412 if it is not current."),
    ),
    responses(
        (status = 204, description = "Deleted."),
        (status = 401, description = "No valid tenant token."),
        (status = 404, description = "No resource of the type has this id."),
        (status = 412, description = "`If-Match` does not name the current version."),
    ),
)]
pub async fn delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    ctx: TenantCtx,
    rt: Rt,
    id: web::Path<String>,
) -> Result<HttpResponse, ScimError> {
    service::delete(&state, &ctx.directory, target(&req, &rt, id)?).await?;
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
