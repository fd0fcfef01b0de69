//! The OpenAPI 3.1 document of the HTTP API, served at `/openapi.json`: the operations come from
//! the `utoipa::path` annotations beside the handlers and the request types' `ToSchema`; what
//! only the settings know (where SCIM is mounted, the public URL) is added when it is built.
//! `tests/api/openapi.rs` checks it against [`RouteTable`](crate::startup::RouteTable).

use std::sync::OnceLock;

use actix_web::web::Bytes;
use serde_json::{Value, json};
use utoipa::OpenApi;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{self as oa, Content, Ref, RefOr, Required, Response, Server};

use crate::error::{ERROR_URN, SCIM_CONTENT_TYPE};
use crate::handlers::{admin, bulk, discovery, health, jwks, metrics, offered, openapi, resources};
use crate::scim::bulk::{BULK_REQUEST_URN, BULK_RESPONSE_URN};
use crate::scim::patch::PATCH_OP_URN;
use crate::scim::query::SEARCH_REQUEST_URN;
use crate::scim::resource::LIST_RESPONSE_URN;
use crate::scim::schema::ResourceType;
use crate::startup::ADMIN_PATH;
use crate::state::AppState;

/// The security scheme of the SCIM bearer token, as the handlers' `security(...)` name it.
const SCIM_TOKEN: &str = "scim_token";
/// The security scheme of the admin JWT, as the handlers' `security(...)` name it.
const ADMIN_JWT: &str = "admin_jwt";

/// The document of one service, serialized on its first request and kept: it depends only on
/// settings that do not change while the service runs.
#[derive(Debug, Default)]
pub struct Document(OnceLock<Bytes>);

impl Document {
    /// The document as JSON.
    pub fn json(&self, state: &AppState) -> Result<Bytes, serde_json::Error> {
        if let Some(json) = self.0.get() {
            return Ok(json.clone());
        }
        let built = Bytes::from(serde_json::to_vec(&build(state)?)?);
        Ok(self.0.get_or_init(|| built).clone())
    }
}

/// The routes at the root: health, metrics and this document.
#[derive(OpenApi)]
#[openapi(
    info(title = "Scimitar"),
    paths(
        health::healthz,
        health::readyz,
        jwks::jwks,
        metrics::metrics,
        openapi::document
    ),
    tags(
        (name = "SCIM", description = "Discovery, search and bulk requests (RFC 7644)."),
        (name = "User", description = "SCIM Users (RFC 7643 §4.1)."),
        (name = "Group", description = "SCIM Groups (RFC 7643 §4.2)."),
        (name = "Roles and entitlements", description = "What the app offers a tenant's users, \
            read-only (draft-ietf-scim-roles-entitlements-01)."),
        (name = "Admin", description = "The host app's admin API: tenants, their secrets, role \
            mappings, entitlements, extension schemas, users with roles, events, webhooks and \
            the provisioning log."),
        (name = "Operations", description = "Probes, metrics and this document; no credentials."),
    )
)]
struct Root;

/// The SCIM routes outside the resource types, relative to `scim_path`.
#[derive(OpenApi)]
#[openapi(paths(
    discovery::config,
    discovery::resource_types,
    discovery::resource_type,
    discovery::schemas,
    discovery::schema,
    offered::roles,
    offered::role,
    offered::entitlements,
    offered::entitlement,
    resources::search_all,
    bulk::bulk,
))]
struct Scim;

/// The routes of every resource type, relative to its endpoint (`/Users`, `/Groups`).
#[derive(OpenApi)]
#[openapi(paths(
    resources::list,
    resources::create,
    resources::search,
    resources::get,
    resources::replace,
    resources::patch,
    resources::delete,
))]
struct ResourceRoutes;

/// The admin API, relative to [`ADMIN_PATH`].
#[derive(OpenApi)]
#[openapi(paths(
    admin::create_tenant,
    admin::list_tenants,
    admin::get_tenant,
    admin::delete_tenant,
    admin::rotate_secret,
    admin::credentials,
    admin::get_role_mappings,
    admin::put_role_mappings,
    admin::get_roles,
    admin::get_entitlements,
    admin::put_entitlements,
    admin::get_attribute_mapping,
    admin::put_attribute_mapping,
    admin::schemas,
    admin::get_schema,
    admin::put_schema,
    admin::delete_schema,
    admin::purge_schema_data,
    admin::put_schema_settings,
    admin::users,
    admin::user,
    admin::tenant_events,
    admin::get_webhooks,
    admin::put_webhook,
    admin::delete_webhook,
    admin::resend_webhook,
    admin::poll_sets,
    admin::logs,
    admin::get_mode,
    admin::put_mode,
    admin::dry_run_diff,
    admin::promote_dry_run,
    admin::discard_dry_run,
    admin::findings,
    admin::dismiss_finding,
    admin::create_portal_link,
    admin::portal_links,
    admin::revoke_portal_link,
    admin::own_events,
))]
struct Admin;

/// The document for a service with this state's settings and URLs.
fn build(state: &AppState) -> Result<Value, serde_json::Error> {
    let settings = &state.settings;
    let scim_origin = state
        .base_url
        .strip_suffix(settings.scim_path.as_str())
        .unwrap_or(&state.base_url);
    let mut scim = Scim::openapi();
    for rt in ResourceType::ALL {
        scim = scim.nest(rt.endpoint, of_type(rt));
    }
    complete(&mut scim, "ScimError", SCIM_CONTENT_TYPE);
    let mut others = Admin::openapi();
    complete(&mut others, "AdminError", "application/json");
    let mut others = Root::openapi().nest(ADMIN_PATH, others);
    // With an admin listener, the admin API, the probes, the metrics and this document are
    // reached there; the portal is served beside them, so its origin is theirs.
    if settings.admin_listen.is_some()
        && let Some(origin) = state.portal_url.strip_suffix("/portal")
        && origin != scim_origin
    {
        let servers = vec![Server::new(origin)];
        for item in others.paths.paths.values_mut() {
            item.servers = Some(servers.clone());
        }
    }
    let mut api = others.nest(settings.scim_path.as_str(), scim);
    api.info.version = env!("CARGO_PKG_VERSION").to_owned();
    api.info.description = Some(format!(
        "Scimitar, a SCIM 2.0 service provider: the SCIM API (RFC 7643, RFC 7644) under `{}` \
         for identity providers, the admin API under `{ADMIN_PATH}` for the host app.",
        settings.scim_path
    ));
    api.servers = Some(vec![Server::new(scim_origin)]);
    let components = api.components.get_or_insert_with(Default::default);
    components.security_schemes.insert(
        SCIM_TOKEN.to_owned(),
        RefOr::T(bearer(
            None,
            "A tenant's SCIM token (`scim_<keyid>_<secret>`), as `tenant create` or the admin \
             API issues it; the token alone decides the tenant.",
        )),
    );
    components.security_schemes.insert(
        ADMIN_JWT.to_owned(),
        RefOr::T(bearer(
            Some("JWT"),
            "An admin JWT (HS256 with the admin secret, or RS256/ES256 verified with the admin \
             public key), for every tenant or scoped to one; `scimitar admin token` mints one.",
        )),
    );
    // The hand-written schemas go in as JSON: read into utoipa's types, a schema it cannot
    // represent would lose parts without an error.
    let mut doc = serde_json::to_value(api)?;
    for (name, schema) in schemas() {
        doc["components"]["schemas"][name] = schema;
    }
    Ok(doc)
}

/// The routes of one resource type: its tag, and operation ids of its own.
fn of_type(rt: &ResourceType) -> oa::OpenApi {
    let mut api = ResourceRoutes::openapi();
    for item in api.paths.paths.values_mut() {
        for op in operations(item) {
            op.tags = Some(vec![rt.name.to_owned()]);
            op.operation_id = op
                .operation_id
                .take()
                .map(|id| format!("{id}_{}", rt.name.to_lowercase()));
        }
    }
    api
}

/// Completes each operation of one API from what holds for all of them. Every failure has the
/// API's one error body (one error type each, mapped in one place: see `error.rs`): the error
/// statuses an operation lists get it, and a `default` response stands for those it does not
/// (401, 413, 429, 503…). A SCIM request body is required, and is also accepted as
/// `application/json`, which some IdP clients send.
fn complete(api: &mut oa::OpenApi, error_schema: &str, content_type: &str) {
    let error = Content::new(Some(Ref::from_schema_name(error_schema)));
    let default = Response::builder()
        .description("The request failed; the body says why.")
        .content(content_type, error.clone())
        .build();
    for item in api.paths.paths.values_mut() {
        for op in operations(item) {
            for (status, response) in &mut op.responses.responses {
                if let RefOr::T(response) = response
                    && response.content.is_empty()
                    && status.starts_with(['4', '5'])
                {
                    response
                        .content
                        .insert(content_type.to_owned(), RefOr::T(error.clone()));
                }
            }
            op.responses
                .responses
                .insert("default".to_owned(), RefOr::T(default.clone()));
            if let Some(RefOr::T(body)) = &mut op.request_body
                && let Some(scim) = body.content.get(SCIM_CONTENT_TYPE).cloned()
            {
                body.content.insert("application/json".to_owned(), scim);
                body.required = Some(Required::True);
            }
        }
    }
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.patch,
    ]
    .into_iter()
    .flatten()
}

fn bearer(format: Option<&str>, description: &str) -> SecurityScheme {
    let scheme = HttpBuilder::new()
        .scheme(HttpAuthScheme::Bearer)
        .description(Some(description));
    SecurityScheme::Http(match format {
        Some(f) => scheme.bearer_format(f).build(),
        None => scheme.build(),
    })
}

/// The bodies no Rust type describes: SCIM's messages (RFC 7644 §3), which the handlers read
/// and write as JSON values, and the two APIs' errors.
fn schemas() -> [(&'static str, Value); 8] {
    let strings = json!({"type": "array", "items": {"type": "string"}});
    let urn = |urn: &str| json!({"type": "array", "items": {"type": "string", "enum": [urn]}});
    let resource = json!({"$ref": "#/components/schemas/ScimResource"});
    [
        (
            "ScimResource",
            json!({
                "type": "object",
                "description": "A SCIM resource (a User or a Group, RFC 7643 §4) or discovery \
                    document. Its attributes are those of the schemas it names, as the Schemas \
                    endpoint describes them, with the extensions the tenant registered.",
                "required": ["schemas"],
                "properties": {
                    "schemas": strings,
                    "id": {"type": "string", "readOnly": true},
                    "externalId": {"type": "string"},
                    "meta": {
                        "type": "object",
                        "readOnly": true,
                        "properties": {
                            "resourceType": {"type": "string"},
                            "created": {"type": "string", "format": "date-time"},
                            "lastModified": {"type": "string", "format": "date-time"},
                            "location": {"type": "string", "format": "uri"},
                            "version": {"type": "string", "description": "The ETag, `W/\"n\"`."},
                        },
                    },
                },
                "additionalProperties": true,
            }),
        ),
        (
            "ListResponse",
            json!({
                "type": "object",
                "description": "A page of resources (RFC 7644 §3.4.2; cursors: RFC 9865).",
                "required": ["schemas", "totalResults"],
                "properties": {
                    "schemas": urn(LIST_RESPONSE_URN),
                    "totalResults": {"type": "integer"},
                    "startIndex": {"type": "integer"},
                    "itemsPerPage": {"type": "integer"},
                    "nextCursor": {"type": "string"},
                    "Resources": {"type": "array", "items": resource},
                },
            }),
        ),
        (
            "SearchRequest",
            json!({
                "type": "object",
                "description": "A query sent in the body (RFC 7644 §3.4.3).",
                "required": ["schemas"],
                "properties": {
                    "schemas": urn(SEARCH_REQUEST_URN),
                    "filter": {"type": "string", "example": "userName eq \"ann@example.com\""},
                    "attributes": strings,
                    "excludedAttributes": strings,
                    "sortBy": {"type": "string"},
                    "sortOrder": {"type": "string", "enum": ["ascending", "descending"]},
                    "startIndex": {"type": "integer", "minimum": 1},
                    "count": {"type": "integer", "minimum": 0},
                    "cursor": {"type": "string"},
                },
            }),
        ),
        (
            "PatchOp",
            json!({
                "type": "object",
                "description": "Changes applied together or not at all (RFC 7644 §3.5.2).",
                "required": ["schemas", "Operations"],
                "properties": {
                    "schemas": urn(PATCH_OP_URN),
                    "Operations": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["op"],
                            "properties": {
                                "op": {
                                    "type": "string",
                                    "description": "`add`, `remove` or `replace`, in any case.",
                                },
                                "path": {
                                    "type": "string",
                                    "example": "members[value eq \"2819c223\"]",
                                },
                                "value": {},
                            },
                        },
                    },
                },
            }),
        ),
        (
            "BulkRequest",
            json!({
                "type": "object",
                "description": "Operations run in order in one request (RFC 7644 §3.7).",
                "required": ["schemas", "Operations"],
                "properties": {
                    "schemas": urn(BULK_REQUEST_URN),
                    "failOnErrors": {"type": "integer", "minimum": 1},
                    "Operations": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["method", "path"],
                            "properties": {
                                "method": {
                                    "type": "string",
                                    "enum": ["POST", "PUT", "PATCH", "DELETE"],
                                },
                                "bulkId": {"type": "string"},
                                "version": {"type": "string"},
                                "path": {"type": "string", "example": "/Users"},
                                "data": {"type": "object"},
                            },
                        },
                    },
                },
            }),
        ),
        (
            "BulkResponse",
            json!({
                "type": "object",
                "description": "Each operation's result, in order (RFC 7644 §3.7.3).",
                "required": ["schemas", "Operations"],
                "properties": {
                    "schemas": urn(BULK_RESPONSE_URN),
                    "Operations": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "method": {"type": "string"},
                                "bulkId": {"type": "string"},
                                "version": {"type": "string"},
                                "location": {"type": "string", "format": "uri"},
                                "status": {"type": "string"},
                                "response": {"type": "object"},
                            },
                        },
                    },
                },
            }),
        ),
        (
            "ScimError",
            json!({
                "type": "object",
                "description": "The body of every failed SCIM request (RFC 7644 §3.12).",
                "required": ["schemas", "status"],
                "properties": {
                    "schemas": urn(ERROR_URN),
                    "status": {
                        "type": "string",
                        "description": "The HTTP status, as a string.",
                        "example": "409",
                    },
                    "scimType": {
                        "type": "string",
                        "description": "The kind of a 400 or 409 (RFC 7644 §3.12, Table 9).",
                        "example": "uniqueness",
                    },
                    "detail": {"type": "string", "description": "What went wrong, for a person."},
                },
            }),
        ),
        (
            "AdminError",
            json!({
                "type": "object",
                "description": "The body of every failed admin API request.",
                "required": ["error", "message"],
                "properties": {
                    "error": {"type": "string", "example": "not_found"},
                    "message": {"type": "string", "description": "What went wrong, for a person."},
                },
            }),
        ),
    ]
}
