//! Discovery: `/ServiceProviderConfig`, `/ResourceTypes`, `/Schemas` (RFC 7644 §4). They describe
//! only what the server does today.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

use crate::config::Settings;
use crate::error::{SCIM_CONTENT_TYPE, ScimError};
use crate::http::TenantCtx;
use crate::http::content::scim_json;
use crate::scim::resource::list_response;
use crate::scim::schema::{TenantSchemas, render_resource_type, render_schema};
use crate::state::AppState;

/// Where ServiceProviderConfig advertises the request bounds SCIM has no attribute for.
pub const LIMITS_URN: &str = "urn:scimitar:params:scim:limits";

/// The ServiceProviderConfig document.
pub fn service_provider_config(base: &str, settings: &Settings) -> Value {
    let l = &settings.limits;
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig", LIMITS_URN],
        "patch": {"supported": true},
        "bulk": {
            "supported": settings.bulk.max_operations > 0,
            "maxOperations": settings.bulk.max_operations,
            "maxPayloadSize": settings.bulk.max_payload_bytes,
        },
        "filter": {"supported": true, "maxResults": settings.max_page_size},
        "changePassword": {"supported": true},
        "sort": {"supported": true},
        "etag": {"supported": true},
        // RFC 9967 §4: the SCIM events a tenant's SET stream carries; no asynchronous requests.
        "securityEvents": {
            "asyncRequest": "none",
            "eventUris": crate::events::secevent::uri::ALL,
        },
        // RFC 9865 §4.
        "pagination": {
            "cursor": true,
            "index": true,
            "defaultPaginationMethod": "index",
            "defaultPageSize": settings.default_page_size,
            "maxPageSize": settings.max_page_size,
        },
        // draft-ietf-scim-roles-entitlements-01 §3.1, under the draft's own name. Users' roles
        // and entitlements are RFC 7643's multi-valued attributes, type and primary included.
        "RolesAndEntitlements": {
            "roles": {
                "supported": true,
                "multipleRolesSupported": true,
                "primarySupported": true,
                "typeSupported": true,
            },
            "entitlements": {
                "supported": true,
                "multipleEntitlementsSupported": true,
                "primarySupported": true,
                "typeSupported": true,
            },
        },
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "Authentication with the tenant's SCIM bearer token (Authorization: Bearer scim_…).",
            "primary": true,
        }],
        LIMITS_URN: {
            "maxPayloadSize": settings.max_body_bytes,
            "maxOperations": l.max_operations,
            "maxValuesPerAttribute": l.max_values,
            "maxMembersPerRequest": l.max_members,
            "maxJsonDepth": l.max_depth,
            "maxStringBytes": l.max_string_bytes,
            "maxFilterBytes": crate::scim::filter::MAX_INPUT_LEN,
        },
        "meta": {"resourceType": "ServiceProviderConfig", "location": format!("{base}/ServiceProviderConfig")},
    })
}

/// What this server supports of SCIM (RFC 7644 §4), and its limits.
#[utoipa::path(
    get,
    path = "/ServiceProviderConfig",
    tag = "SCIM",
    responses((status = 200, description = "The ServiceProviderConfig document.",
        body = ref("#/components/schemas/ScimResource"), content_type = SCIM_CONTENT_TYPE)),
)]
pub async fn config(state: web::Data<AppState>) -> HttpResponse {
    scim_json(
        StatusCode::OK,
        &service_provider_config(&state.base_url, &state.settings),
    )
}

/// The schemas a discovery request is answered from: its tenant's when it sent a token, else
/// the built-in ones.
fn seen_by(req: &HttpRequest) -> Arc<TenantSchemas> {
    req.extensions()
        .get::<TenantCtx>()
        .map_or_else(TenantSchemas::built_in, |ctx| ctx.schemas.clone())
}

/// The resource types served (RFC 7644 §4).
///
/// With a token, as its tenant has them (with the extensions it registered); without one, the
/// built-in definitions.
#[utoipa::path(
    get,
    path = "/ResourceTypes",
    tag = "SCIM",
    security((), ("scim_token" = [])),
    responses(
        (status = 200, description = "The resource types, as a ListResponse.",
            body = ref("#/components/schemas/ListResponse"), content_type = SCIM_CONTENT_TYPE),
        (status = 401, description = "A token was sent and is not valid."),
    ),
)]
pub async fn resource_types(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let all: Vec<Value> = seen_by(&req)
        .described_types()
        .map(|rt| render_resource_type(rt, &state.base_url))
        .collect();
    scim_json(StatusCode::OK, &list_response(all.len() as i64, 1, all))
}

/// One resource type (RFC 7644 §4).
#[utoipa::path(
    get,
    path = "/ResourceTypes/{id}",
    tag = "SCIM",
    security((), ("scim_token" = [])),
    params(("id" = String, Path, description = "The resource type's id: `User`, `Group`, \
        `Role` or `Entitlement`.")),
    responses(
        (status = 200, description = "The resource type.",
            body = ref("#/components/schemas/ScimResource"), content_type = SCIM_CONTENT_TYPE),
        (status = 401, description = "A token was sent and is not valid."),
        (status = 404, description = "No such resource type."),
    ),
)]
pub async fn resource_type(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ScimError> {
    let schemas = seen_by(&req);
    let rt = schemas
        .described_type(&id)
        .ok_or_else(|| ScimError::NotFound(format!("resource type {id} not found")))?;
    Ok(scim_json(
        StatusCode::OK,
        &render_resource_type(rt, &state.base_url),
    ))
}

/// The schemas of the resources (RFC 7643 §7, RFC 7644 §4).
///
/// With a token, the tenant's registered extension schemas too.
#[utoipa::path(
    get,
    path = "/Schemas",
    tag = "SCIM",
    security((), ("scim_token" = [])),
    responses(
        (status = 200, description = "The schemas, as a ListResponse.",
            body = ref("#/components/schemas/ListResponse"), content_type = SCIM_CONTENT_TYPE),
        (status = 401, description = "A token was sent and is not valid."),
    ),
)]
pub async fn schemas(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let all: Vec<Value> = seen_by(&req)
        .described_schemas()
        .map(|s| render_schema(s, &state.base_url))
        .collect();
    scim_json(StatusCode::OK, &list_response(all.len() as i64, 1, all))
}

/// One schema (RFC 7643 §7).
#[utoipa::path(
    get,
    path = "/Schemas/{id}",
    tag = "SCIM",
    security((), ("scim_token" = [])),
    params(("id" = String, Path, description = "The schema's URN, e.g. \
        `urn:ietf:params:scim:schemas:core:2.0:User`.")),
    responses(
        (status = 200, description = "The schema.",
            body = ref("#/components/schemas/ScimResource"), content_type = SCIM_CONTENT_TYPE),
        (status = 401, description = "A token was sent and is not valid."),
        (status = 404, description = "No such schema."),
    ),
)]
pub async fn schema(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ScimError> {
    let schemas = seen_by(&req);
    let s = schemas
        .described_schema(&id)
        .ok_or_else(|| ScimError::NotFound(format!("schema {id} not found")))?;
    Ok(scim_json(
        StatusCode::OK,
        &render_schema(s, &state.base_url),
    ))
}
