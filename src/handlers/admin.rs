//! The admin API (`/admin/v1`): tenants and their secrets, role mappings and entitlements, users
//! with roles, and the event feed. JSON in and out; every route takes an admin JWT.

use std::time::Duration;

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

use crate::diagnosis::{self, Kind, Report};
use crate::error::{AdminError, ScimError};
use crate::events::rfc3339;
use crate::http::admin_auth::Admin;
use crate::scim::query::SearchRequest;
use crate::scim::schema::UnknownExtensions;
use crate::scim::text;
use crate::service::admin::{self as service, OfferedRoles, RoleMappings, WebhookInput};
use crate::service::modes::{self, Diff, ModeState};
use crate::service::offered::{self, EntitlementsInput, OfferedEntitlements};
use crate::service::portal;
use crate::service::schemas::{self, Registered};
use crate::service::secevents::{self, PollRequest};
use crate::service::tenants::{self, Issued};
use crate::service::{LinkRow, LogQuery, StatusFilter, TenantRow, now_millis};
use crate::state::AppState;
use crate::tenant::{Mode, TenantId};

type Result<T> = std::result::Result<T, AdminError>;

/// Runs blocking service work (argon2, the CLI-shared tenant code) off the async workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> std::result::Result<T, ScimError> + Send + 'static,
) -> Result<T> {
    Ok(web::block(f)
        .await
        .map_err(|e| AdminError::Internal(e.into()))??)
}

fn tenant_json(t: &TenantRow, state: &AppState) -> Value {
    json!({"id": t.id, "name": t.name, "scim_url": &*state.base_url, "created_at": rfc3339(t.created_at)})
}

fn issued_json(i: &Issued, state: &AppState) -> Value {
    let mut v = tenant_json(&i.tenant, state);
    v["token"] = i.token.reveal().into();
    v
}

/// Resolves `{id}` (an id or a name) to a tenant the caller may manage. A tenant-scoped token
/// gets one answer for every other tenant, existing or not, so it cannot probe which exist.
async fn tenant(state: &AppState, admin: &Admin, id: String) -> Result<TenantRow> {
    let db = state.db.clone();
    match blocking(move || tenants::get(&db, &id)).await {
        Ok(t) => admin.require(&t.id).map(|()| t),
        Err(AdminError::NotFound(_)) if admin.own_tenant().is_ok() => Err(admin.elsewhere()),
        Err(e) => Err(e),
    }
}

/// A tenant to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTenant {
    /// Unique among the tenants, e.g. the customer organisation's name.
    name: String,
}

/// Creates a tenant and its first SCIM token.
///
/// The token is shown once, in this answer. Needs a token for every tenant.
#[utoipa::path(
    post,
    path = "/tenants",
    tag = "Admin",
    security(("admin_jwt" = [])),
    request_body = NewTenant,
    responses(
        (status = 201, description = "The tenant, its SCIM base URL and its token.", body = Object,
            example = json!({
                "id": "0190f1d2-…", "name": "Acme Corp",
                "scim_url": "https://scim.example.com/scim/v2",
                "created_at": "2026-01-31T12:00:00.000Z", "token": "scim_…",
            })),
        (status = 400, description = r#"The body is not {"name": ...}."#),
        (status = 401, description = "No valid admin token."),
        (status = 403, description = "The token is scoped to one tenant."),
        (status = 409, description = "A tenant has this name."),
    ),
)]
pub async fn create_tenant(
    state: web::Data<AppState>,
    admin: Admin,
    body: web::Json<NewTenant>,
) -> Result<HttpResponse> {
    admin.require_all()?;
    let db = state.db.clone();
    let issued = blocking(move || tenants::create(&db, &body.name)).await?;
    Ok(HttpResponse::Created().json(issued_json(&issued, &state)))
}

/// Lists the tenants.
///
/// Needs a token for every tenant.
#[utoipa::path(
    get,
    path = "/tenants",
    tag = "Admin",
    security(("admin_jwt" = [])),
    responses(
        (status = 200, description = "The tenants, each as `GET /tenants/{id}` shows it.",
            body = Object, example = json!({"tenants": []})),
        (status = 401, description = "No valid admin token."),
        (status = 403, description = "The token is scoped to one tenant."),
    ),
)]
pub async fn list_tenants(state: web::Data<AppState>, admin: Admin) -> Result<HttpResponse> {
    admin.require_all()?;
    let db = state.db.clone();
    let all = blocking(move || tenants::list(&db)).await?;
    Ok(HttpResponse::Ok()
        .json(json!({"tenants": all.iter().map(|t| tenant_json(t, &state)).collect::<Vec<_>>()})))
}

/// Reads a tenant.
#[utoipa::path(
    get,
    path = "/tenants/{id}",
    tag = "Admin",
    security(("admin_jwt" = [])),
    params(
        ("id" = String, Path, description = "The tenant's id or name."),
    ),
    responses(
        (status = 200, description = "The tenant and its SCIM base URL.", body = Object,
            example = json!({
                "id": "0190f1d2-…", "name": "Acme Corp",
                "scim_url": "https://scim.example.com/scim/v2",
                "created_at": "2026-01-31T12:00:00.000Z",
            })),
        (status = 401, description = "No valid admin token."),
        (status = 403, description = "The token is scoped to another tenant."),
        (status = 404, description = "No such tenant."),
    ),
)]
pub async fn get_tenant(
    state: web::Data<AppState>,
    admin: Admin,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    let t = tenant(&state, &admin, id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(tenant_json(&t, &state)))
}

/// Deletes a tenant with everything it holds.
///
/// Needs a token for every tenant.
#[utoipa::path(
    delete,
    path = "/tenants/{id}",
    tag = "Admin",
    security(("admin_jwt" = [])),
    params(
        ("id" = String, Path, description = "The tenant's id or name."),
    ),
    responses(
        (status = 204, description = "Deleted."),
        (status = 401, description = "No valid admin token."),
        (status = 403, description = "The token is scoped to one tenant."),
        (status = 404, description = "No such tenant."),
    ),
)]
pub async fn delete_tenant(
    state: web::Data<AppState>,
    admin: Admin,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    admin.require_all()?;
    let (db, id) = (state.db.clone(), id.into_inner());
    let deleted = blocking(move || tenants::delete(&db, &id)).await?;
    state.schemas.remove(&deleted.id);
    Ok(HttpResponse::NoContent().finish())
}

/// How a secret is regenerated.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rotation {
    /// How long earlier tokens keep working; none by default, at most 604800 (a week: see
    /// `tenants::MAX_GRACE`).
    #[serde(default)]
    grace_period_seconds: Option<u64>,
}

impl Rotation {
    /// An empty body asks for no grace period; anything else must be a valid `Rotation`, so a
    /// typo is refused instead of cutting the IdP off at once.
    fn parse(body: &[u8]) -> Result<Self> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self::default());
        }
        let bad = |e: &dyn std::fmt::Display| {
            AdminError::BadRequest(format!(
                "the body must be {{\"grace_period_seconds\": N}} with N a whole number of seconds from 0 to {}: {e}",
                tenants::MAX_GRACE.as_secs()
            ))
        };
        // Parsed as a value first: serde would also take a struct from a JSON array.
        match serde_json::from_slice(body).map_err(|e| bad(&e))? {
            v @ Value::Object(_) => serde_json::from_value(v).map_err(|e| bad(&e)),
            _ => Err(bad(&"it is not a JSON object")),
        }
    }
}

/// Regenerates the tenant's SCIM secret: a new token, shown once.
///
/// Earlier tokens stop working at once (an empty body), or after `grace_period_seconds`.
#[utoipa::path(
    post,
    path = "/tenants/{id}/secret",
    tag = "Admin",
    security(("admin_jwt" = [])),
    params(
        ("id" = String, Path, description = "The tenant's id or name."),
    ),
    request_body(content = Option<Rotation>, description = "Empty, or the grace period."),
    responses(
        (status = 200, description = "The tenant and its new token.", body = Object,
            example = json!({
                "id": "0190f1d2-…", "name": "Acme Corp",
                "scim_url": "https://scim.example.com/scim/v2",
                "created_at": "2026-01-31T12:00:00.000Z", "token": "scim_…",
            })),
        (status = 400, description = "The body is neither empty nor a valid grace period."),
        (status = 401, description = "No valid admin token."),
        (status = 403, description = "The token is scoped to another tenant."),
        (status = 404, description = "No such tenant."),
    ),
)]
pub async fn rotate_secret(
    state: web::Data<AppState>,
    admin: Admin,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse> {
    let grace = Rotation::parse(&body)?
        .grace_period_seconds
        .map(Duration::from_secs);
    let t = tenant(&state, &admin, id.into_inner()).await?;
    let db = state.db.clone();
    let issued = blocking(move || tenants::rotate_secret(&db, &t.id, grace)).await?;
    Ok(HttpResponse::Ok().json(issued_json(&issued, &state)))
}

/// Lists the tenant's SCIM tokens: when each was created, last used, revoked and expires.
///
/// Never a secret.
#[utoipa::path(
    get,
    path = "/tenants/{id}/credentials",
    tag = "Admin",
    security(("admin_jwt" = [])),
    params(
        ("id" = String, Path, description = "The tenant's id or name."),
    ),
    responses(
        (status = 200, description = "The tokens; `last_used_at` to the minute.", body = Object,
            example = json!({"credentials": [{
                "id": "k7x2…", "created_at": "2026-01-31T12:00:00.000Z",
                "last_used_at": "2026-02-01T08:15:00.000Z", "revoked_at": null,
                "expires_at": null, "active": true,
            }]})),
        (status = 401, description = "No valid admin token."),
        (status = 403, description = "The token is scoped to another tenant."),
        (status = 404, description = "No such tenant."),
    ),
)]
pub async fn credentials(
    state: web::Data<AppState>,
    admin: Admin,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    let t = tenant(&state, &admin, id.into_inner()).await?;
    let db = state.db.clone();
    let rows = blocking(move || tenants::credentials(&db, &t.id)).await?;
    let now = now_millis();
    let list: Vec<Value> = rows
        .iter()
        .map(|c| {
            json!({
                "id": c.id,
                "created_at": rfc3339(c.created_at),
                "last_used_at": c.last_used_at.map(rfc3339),
                "revoked_at": c.revoked_at.map(rfc3339),
                "expires_at": c.expires_at.map(rfc3339),
                "active": c.revoked_at.is_none() && c.expires_at.is_none_or(|e| e > now),
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({"credentials": list})))
}

/// Reads the tenant's group-to-role mapping.
#[utoipa::path(
    get,
    path = "/tenants/{id}/role-mappings",
    tag = "Admin",
    security(("admin_jwt" = [])),
    params(
        ("id" = String, Path, description = "The tenant's id or name."),
    ),
    responses(
        (status = 200, description = "The mapping.", body = RoleMappings),
        (status = 401, description = "No valid admin token."),
        (status = 403, description = "The token is scoped to another tenant."),
        (status = 404, description = "No such tenant."),
    ),
)]
pub async fn get_role_mappings(
    state: web::Data<AppState>,
    admin: Admin,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    let t = tenant(&state, &admin, id.into_inner()).await?;
    Ok(
        HttpResponse::Ok()
            .json(service::role_mappings(&state, &TenantId::from_stored(t.id)).await?),
    )
}

/// Lists the roles the tenant's mappings may name.
///
/// The host app's roles when it supplies them (library mode), else the roles the mapping
/// names now.
#[utoipa::path(
    get,
    path = "/tenants/{id}/roles",
    tag = "Admin",
    security(("admin_jwt" = [])),
    params(
        ("id" = String, Path, description = "The tenant's id or name."),
    ),
    responses(
        (status = 200, description = "The roles.", body = OfferedRoles),
        (status = 401, description = "No valid admin token."),
        (status = 403, description = "The token is scoped to another tenant."),
        (status = 404, description = "No such tenant."),
    ),
)]
pub async fn get_roles(
    state: web::Data<AppState>,
    admin: Admin,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    let t = tenant(&state, &admin, id.into_inner()).await?;
    Ok(
        HttpResponse::Ok()
            .json(service::offered_roles(&state, &TenantId::from_stored(t.id)).await?),
    )
}

/// Replaces the tenant's group-to-role mapping.
///
/// Users whose effective roles change get a `user.roles_changed` event.
#[utoipa::path(
    put,
    path = "/tenants/{id}/role-mappings",
    tag = "Admin",
    security(("admin_jwt" = [])),
    params(
        ("id" = String, Path, description = "The tenant's id or name."),
    ),
    request_body = RoleMappings,
    responses(
        (status = 200, description = "The mapping as saved.", body = RoleMappings),
        (status = 400, description = "An empty group or role, or a role the app does not offer."),
        (status = 401, description = "No valid admin token."),
        (status = 403, description = "The token is scoped to another tenant."),
        (status = 404, description = "No such tenant."),
        (status = 413, description = "More mappings than the server allows per tenant."),
    ),
)]
pub async fn put_role_mappings(
    state: web::Data<AppState>,
    admin: Admin,
    id: web::Path<String>,
    body: web::Json<RoleMappings>,
) -> Result<HttpResponse> {
    let t = tenant(&state, &admin, id.into_inner()).await?;
    let saved =
        service::set_role_mappings(&state, &TenantId::from_stored(t.id), body.into_inner()).await?;
    Ok(HttpResponse::Ok().json(saved))
}

/// Lists the entitlements the tenant's IdP reads at `/Entitlements`.
///
/// The host app's when its catalog supplies them (library mode), else those configured here.
#[utoipa::path(
    get,
    path = "/tenants/{id}/entitlements",
    tag = "Admin",
    security(("admin_jwt" = [])),
    params(
        ("id" = String, Path, description = "The tenant's id or name."),
    ),
    responses(
        (status = 200, description = "The entitlements.", body = OfferedEntitlements),
        (status = 401, description = "No valid admin token."),
        (status = 403, description = "The token is scoped to another tenant."),
        (status = 404, description = "No such tenant."),
    ),
)]
pub async fn get_entitlements(
    state: web::Data<AppState>,
    admin: Admin,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    let t = tenant(&state, &admin, id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(offered::entitlements(&state, &TenantId::from_stored(t.id)).await?))
}

/// Replaces the entitlements the tenant's IdP reads at `/Entitlements`.
///
/// One may be the default (`"default": true`), which the IdP reads as `primary`: e.g.
/// Salesforce's `Standard User` profile.
#[utoipa::path(
    put,
    path = "/tenants/{id}/entitlements",
    tag = "Admin",
    security(("admin_jwt" = [])),
    params(
        ("id" = String, Path, description = "The tenant's id or name."),
    ),
    request_body = EntitlementsInput,
    responses(
        (status = 200, description = "The entitlements as saved.", body = OfferedEntitlements),
        (status = 400, description = "An empty or repeated value, or more than one default."),
        (status = 401, description = "No valid admin token."),
        (status = 403, description = "The token is scoped to another tenant."),
        (status = 404, description = "No such tenant."),
        (status = 409, description = "The host app supplies this tenant's entitlements."),
        (status = 413, description = "More entitlements than the server allows per tenant."),
    ),
)]
pub async fn put_entitlements(
    state: web::Data<AppState>,
    admin: Admin,
    id: web::Path<String>,
    body: web::Json<EntitlementsInput>,
) -> Result<HttpResponse> {
    let t = tenant(&state, &admin, id.into_inner()).await?;
    let saved =
        offered::set_entitlements(&state, &TenantId::from_stored(t.id), body.into_inner()).await?;
    Ok(HttpResponse::Ok().json(saved))
}

/// Reads which SCIM attribute feeds each field of the app's view of a user (`app_user`).
#[utoipa::path(
    get,
    path = "/tenants/{id}/attribute-mapping",
    tag = "Admin",
    security(("admin_jwt" = [])),
    params(
        ("id" = String, Path, description = "The tenant's id or name."),
    ),
    responses(
        (status = 200, description = "The tenant's `fields` and the `standard` sources.",
            body = Object),
        (status = 401, description = "No valid admin token."),
        (status = 403, description = "The token is scoped to another tenant."),
        (status = 404, description = "No such tenant."),
    ),
)]
pub async fn get_attribute_mapping(
    state: web::Data<AppState>,
    admin: Admin,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    let t = tenant(&state, &admin, id.into_inner()).await?;
    let tenant = TenantId::from_stored(t.id);
    Ok(HttpResponse::Ok().json(service::attribute_mapping(&state, &tenant).await?))
}

/// Sets which SCIM attribute feeds each field of `app_user`.
///
/// Each field is a PATCH path, or `{"from": path, "default": value}`; `{"fields": {}}` goes
/// back to the standard fields.
#[utoipa::path(
    put,
    path = "/tenants/{id}/attribute-mapping",
    tag = "Admin",
    security(("admin_jwt" = [])),
    params(
        ("id" = String, Path, description = "The tenant's id or name."),
    ),
    request_body(content = Object, description = "The fields, each a source.",
        example = json!({"fields": {
            "department": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
            "entitlement": {"from": "entitlements.value", "default": "Standard User"},
        }})),
    responses(
        (status = 200, description = "The mapping as saved.", body = Object),
        (status = 400, description = "A path that names no attribute of the User schema."),
        (status = 401, description = "No valid admin token."),
        (status = 403, description = "The token is scoped to another tenant."),
        (status = 404, description = "No such tenant."),
    ),
)]
pub async fn put_attribute_mapping(
    state: web::Data<AppState>,
    admin: Admin,
    id: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse> {
    let t = tenant(&state, &admin, id.into_inner()).await?;
    let tenant = TenantId::from_stored(t.id);
    let saved = service::set_attribute_mapping(&state, &tenant, body.into_inner()).await?;
    Ok(HttpResponse::Ok().json(saved))
}

/// Lists the extension schemas the tenant registered, and what it does with others.
#[utoipa::path(
    get,
    path = "/tenants/{id}/schemas",
    operation_id = "tenant_schemas",
    tag = "Admin",
    security(("admin_jwt" = [])),
    params(
        ("id" = String, Path, description = "The tenant's id or name."),
    ),
    responses(
        (status = 200, description = "The registrations, and `refuse` or `keep`.", body = Object,
            example = json!({"schemas": [], "unknown_extensions": "refuse"})),
        (status = 401, description = "No valid admin token."),
        (status = 403, description = "The token is scoped to another tenant."),
        (status = 404, description = "No such tenant."),
    ),
)]
pub async fn schemas(
    state: web::Data<AppState>,
    admin: Admin,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    let tenant = TenantId::from_stored(tenant(&state, &admin, id.into_inner()).await?.id);
    let listed = schemas::list(&state, &tenant).await?;
    let unknown = schemas::current(&state, &tenant).await?.unknown();
    Ok(HttpResponse::Ok().json(json!({
        "schemas": listed,
        "unknown_extensions": unknown.as_str(),
    })))
}

/// Reads one of the tenant's extension schemas.
#[utoipa::path(
    get,
    path = "/tenants/{id}/schemas/{urn}",
    tag = "Admin",
    security(("admin_jwt" = [])),
    params(
        ("id" = String, Path, description = "The tenant's id or name."),
        ("urn" = String, Path, description = "The extension schema's URN."),
    ),
    responses(
        (status = 200, description = "The registration.", body = Registered),
        (status = 401, description = "No valid admin token."),
        (status = 403, description = "The token is scoped to another tenant."),
        (status = 404, description = "No such tenant, or no such schema."),
    ),
)]
pub async fn get_schema(
    state: web::Data<AppState>,
    admin: Admin,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse> {
    let (id, urn) = path.into_inner();
    let tenant = TenantId::from_stored(tenant(&state, &admin, id).await?.id);
    Ok(HttpResponse::Ok().json(schemas::get(&state, &tenant, &urn).await?))
}

/// The resource type a registration extends, when the admin names it.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct Extends {
    /// `User` (the default) or `Group`.
    #[serde(rename = "resourceType")]
    resource_type: Option<String>,
}

/// Registers an extension schema (an RFC 7643 §7 document), or replaces it.
///
/// It extends User, or the resource type named by `resourceType`.
#[utoipa::path(
    put,
    path = "/tenants/{id}/schemas/{urn}",
    tag = "Admin",
    security(("admin_jwt" = [])),
    params(
        ("id" = String, Path, description = "The tenant's id or name."),
        ("urn" = String, Path, description = "The extension schema's URN."),
        Extends,
    ),
    request_body(content = Object, description = "The schema, an RFC 7643 §7 document."),
    responses(
        (status = 200, description = "Replaced.", body = Registered),
        (status = 201, description = "Registered.", body = Registered),
        (status = 400,
            description = "Not a valid schema, or a change stored values do not allow."),
        (status = 401, description = "No valid admin token."),
        (status = 403, description = "The token is scoped to another tenant."),
        (status = 404, description = "No such tenant."),
    ),
)]
pub async fn put_schema(
    state: web::Data<AppState>,
    admin: Admin,
    path: web::Path<(String, String)>,
    q: web::Query<Extends>,
    body: web::Json<Value>,
) -> Result<HttpResponse> {
    let (id, urn) = path.into_inner();
    let tenant = TenantId::from_stored(tenant(&state, &admin, id).await?.id);
    let (registered, created) = schemas::put(
        &state,
        &tenant,
        &urn,
        q.resource_type.as_deref(),
        body.into_inner(),
    )
    .await?;
    Ok(if created {
        HttpResponse::Created().json(registered)
    } else {
        HttpResponse::Ok().json(registered)
    })
}

/// Removes an extension schema's registration.
///
/// The values stored under it stay readable until purged.
#[utoipa::path(
    delete,
    path = "/tenants/{id}/schemas/{urn}",
    tag = "Admin",
    security(("admin_jwt" = [])),
    params(
        ("id" = String, Path, description = "The tenant's id or name."),
        ("urn" = String, Path, description = "The extension schema's URN."),
    ),
    responses(
        (status = 204, description = "Removed."),
        (status = 401, description = "No valid admin token."),
        (status = 403, description = "The token is scoped to another tenant."),
        (status = 404, description = "No such tenant, or no such schema."),
    ),
)]
pub async fn delete_schema(
    state: web::Data<AppState>,
    admin: Admin,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse> {
    let (id, urn) = path.into_inner();
    let tenant = TenantId::from_stored(tenant(&state, &admin, id).await?.id);
    schemas::remove(&state, &tenant, &urn).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Deletes the values stored under an extension that is no longer registered.
#[utoipa::path(
    delete,
    path = "/tenants/{id}/schemas/{urn}/data",
    tag = "Admin",
    security(("admin_jwt" = [])),
    params(
        ("id" = String, Path, description = "The tenant's id or name."),
        ("urn" = String, Path, description = "The extension schema's URN."),
    ),
    responses(
        (status = 200, description = "How many resources held values under it.", body = Object,
            example = json!({"purged": 3})),
        (status = 400, description = "The extension is still registered."),
        (status = 401, description = "No valid admin token."),
        (status = 403, description = "The token is scoped to another tenant."),
        (status = 404, description = "No such tenant."),
    ),
)]
pub async fn purge_schema_data(
    state: web::Data<AppState>,
    admin: Admin,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse> {
    let (id, urn) = path.into_inner();
    let tenant = TenantId::from_stored(tenant(&state, &admin, id).await?.id);
    let purged = schemas::purge(&state, &tenant, &urn).await?;
    Ok(HttpResponse::Ok().json(json!({ "purged": purged })))
}

/// The tenant's schema settings.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SchemaSettings {
    /// `refuse` (400) or `keep` (stored as sent, noted in the provisioning log).
    unknown_extensions: String,
}

/// Sets what the tenant does with a resource carrying an extension it has not registered.
#[utoipa::path(
    put,
    path = "/tenants/{id}/schema-settings",
    tag = "Admin",
    security(("admin_jwt" = [])),
    params(
        ("id" = String, Path, description = "The tenant's id or name."),
    ),
    request_body = SchemaSettings,
    responses(
        (status = 200, description = "The setting as saved.", body = Object,
            example = json!({"unknown_extensions": "keep"})),
        (status = 400, description = "Neither refuse nor keep."),
        (status = 401, description = "No valid admin token."),
        (status = 403, description = "The token is scoped to another tenant."),
        (status = 404, description = "No such tenant."),
    ),
)]
pub async fn put_schema_settings(
    state: web::Data<AppState>,
    admin: Admin,
    id: web::Path<String>,
    body: web::Json<SchemaSettings>,
) -> Result<HttpResponse> {
    let tenant = TenantId::from_stored(tenant(&state, &admin, id.into_inner()).await?.id);
    let setting = UnknownExtensions::parse(&body.unknown_extensions).ok_or_else(|| {
        AdminError::BadRequest(format!(
            "unknown_extensions must be \"refuse\" or \"keep\", not {:?}",
            body.unknown_extensions
        ))
    })?;
    schemas::set_unknown(&state, &tenant, setting).await?;
    Ok(HttpResponse::Ok().json(json!({ "unknown_extensions": setting.as_str() })))
}

/// Lists the tenant's users with their effective roles and the app's view of each.
///
/// Takes the SCIM query parameters (`filter`, `sortBy`, `startIndex`, `count`, ...).
#[utoipa::path(
    get,
    path = "/tenants/{id}/users",
    tag = "Admin",
    security(("admin_jwt" = [])),
    params(
        ("id" = String, Path, description = "The tenant's id or name."),
        ("filter" = Option<String>, Query, description = "A SCIM filter, e.g. `active eq true`."),
    ),
    responses(
        (status = 200, description = "`{\"users\": [...]}`, each with `roles` and `app_user`.",
            body = Object),
        (status = 400, description = "An invalid filter or query parameter."),
        (status = 401, description = "No valid admin token."),
        (status = 403, description = "The token is scoped to another tenant."),
        (status = 404, description = "No such tenant."),
    ),
)]
pub async fn users(
    state: web::Data<AppState>,
    admin: Admin,
    id: web::Path<String>,
    q: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse> {
    let t = tenant(&state, &admin, id.into_inner()).await?;
    let req = SearchRequest::from_query(q.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .map_err(ScimError::from)?;
    Ok(HttpResponse::Ok().json(service::users(&state, &TenantId::from_stored(t.id), &req).await?))
}

/// Reads one user with its effective roles and the app's view of it.
#[utoipa::path(
    get,
    path = "/tenants/{id}/users/{user_id}",
    tag = "Admin",
    security(("admin_jwt" = [])),
    params(
        ("id" = String, Path, description = "The tenant's id or name."),
        ("user_id" = String, Path, description = "The user's SCIM id."),
    ),
    responses(
        (status = 200, description = "The user, with roles and app_user.", body = Object),
        (status = 401, description = "No valid admin token."),
        (status = 403, description = "The token is scoped to another tenant."),
        (status = 404, description = "No such tenant, or no such user in it."),
    ),
)]
pub async fn user(
    state: web::Data<AppState>,
    admin: Admin,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse> {
    let (id, user_id) = path.into_inner();
    let t = tenant(&state, &admin, id).await?;
    let missing = || AdminError::NotFound("no such user in this tenant".into());
    // An id no resource can have (a NUL, say) names nothing: not found, as for SCIM.
    if !text::plausible_id(&user_id) {
        return Err(missing());
    }
    let filter = format!("id eq {}", Value::from(user_id.clone()));
    let req = SearchRequest {
        filter: Some(filter),
        ..SearchRequest::default()
    };
    let list = service::users(&state, &TenantId::from_stored(t.id), &req).await?;
    let user = list["users"].get(0).cloned().ok_or_else(missing)?;
    Ok(HttpResponse::Ok().json(user))
}

/// Where a page of the event feed starts, and its size.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FeedQuery {
    /// The `next_cursor` of the previous page; none for the oldest event kept.
    after: Option<String>,
    /// Events in the page: 100 by default, 1 to 1000.
    limit: Option<i64>,
}

const FEED_PAGE: i64 = 100;

async fn feed(state: &AppState, tenant_id: String, q: &FeedQuery) -> Result<HttpResponse> {
    let after = match q.after.as_deref() {
        None | Some("") => 0,
        Some(c) => c.parse().map_err(|_| {
            AdminError::BadRequest(format!(
                "after must be a cursor from next_cursor, not {c:?}"
            ))
        })?,
    };
    let limit = q.limit.unwrap_or(FEED_PAGE).clamp(1, 1000);
    Ok(HttpResponse::Ok()
        .json(service::events(state, &TenantId::from_stored(tenant_id), after, limit).await?))
}

/// Reads the tenant's events after a cursor: the pull feed, oldest first.
#[utoipa::path(
    get,
    path = "/tenants/{id}/events",
    tag = "Admin",
    security(("admin_jwt" = [])),
    params(
        ("id" = String, Path, description = "The tenant's id or name."),
        FeedQuery,
    ),
    responses(
        (status = 200, description = "Events and the cursor to read on from.", body = Object,
            example = json!({
                "events": [{
                    "id": "0190f1d2-…", "seq": 42, "type": "user.deactivated",
                    "occurred_at": "2026-01-31T12:00:00.000Z", "tenant_id": "0190f1d2-…",
                    "data": {},
                }],
                "next_cursor": "42",
            })),
        (status = 400, description = "A cursor that is not a next_cursor."),
        (status = 401, description = "No valid admin token."),
        (status = 403, description = "The token is scoped to another tenant."),
        (status = 404, description = "No such tenant."),
    ),
)]
pub async fn tenant_events(
    state: web::Data<AppState>,
    admin: Admin,
    id: web::Path<String>,
    q: web::Query<FeedQuery>,
) -> Result<HttpResponse> {
    let t = tenant(&state, &admin, id.into_inner()).await?;
    feed(&state, t.id, &q).await
}

/// Reads the events of the token's own tenant: the pull feed for a tenant-scoped token.
#[utoipa::path(
    get,
    path = "/events",
    tag = "Admin",
    security(("admin_jwt" = [])),
    params(
        FeedQuery,
    ),
    responses(
        (status = 200, description = "Events and the cursor to read on from.", body = Object,
            example = json!({
                "events": [{
                    "id": "0190f1d2-…", "seq": 42, "type": "user.deactivated",
                    "occurred_at": "2026-01-31T12:00:00.000Z", "tenant_id": "0190f1d2-…",
                    "data": {},
                }],
                "next_cursor": "42",
            })),
        (status = 400, description = "A cursor that is not a next_cursor."),
        (status = 401, description = "No valid admin token."),
        (status = 403, description = "The token is not scoped to one tenant."),
    ),
)]
pub async fn own_events(
    state: web::Data<AppState>,
    admin: Admin,
    q: web::Query<FeedQuery>,
) -> Result<HttpResponse> {
    let tenant_id = admin.own_tenant()?.to_owned();
    feed(&state, tenant_id, &q).await
}

/// Reads the tenant's webhook and its recent delivery attempts.
#[utoipa::path(
    get,
    path = "/tenants/{id}/webhooks",
    tag = "Admin",
    security(("admin_jwt" = [])),
    params(
        ("id" = String, Path, description = "The tenant's id or name."),
    ),
    responses(
        (status = 200, description = "None or one webhook, with its state and latest attempts.",
            body = Object),
        (status = 401, description = "No valid admin token."),
        (status = 403, description = "The token is scoped to another tenant."),
        (status = 404, description = "No such tenant."),
    ),
)]
pub async fn get_webhooks(
    state: web::Data<AppState>,
    admin: Admin,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    let t = tenant(&state, &admin, id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(service::webhooks(&state, &TenantId::from_stored(t.id)).await?))
}

/// Sets the tenant's webhook.
///
/// The answer shows the signing secret once: when the webhook is created, or with
/// `rotate_secret`.
#[utoipa::path(
    put,
    path = "/tenants/{id}/webhooks",
    tag = "Admin",
    security(("admin_jwt" = [])),
    params(
        ("id" = String, Path, description = "The tenant's id or name."),
    ),
    request_body = WebhookInput,
    responses(
        (status = 200, description = "The webhook as saved.", body = Object),
        (status = 400, description = "A URL the server may not deliver to, and why."),
        (status = 401, description = "No valid admin token."),
        (status = 403, description = "The token is scoped to another tenant."),
        (status = 404, description = "No such tenant."),
    ),
)]
pub async fn put_webhook(
    state: web::Data<AppState>,
    admin: Admin,
    id: web::Path<String>,
    body: web::Json<WebhookInput>,
) -> Result<HttpResponse> {
    let t = tenant(&state, &admin, id.into_inner()).await?;
    Ok(HttpResponse::Ok()
        .json(service::put_webhook(&state, &TenantId::from_stored(t.id), body.into_inner()).await?))
}

/// Deletes the tenant's webhook.
#[utoipa::path(
    delete,
    path = "/tenants/{id}/webhooks",
    tag = "Admin",
    security(("admin_jwt" = [])),
    params(
        ("id" = String, Path, description = "The tenant's id or name."),
    ),
    responses(
        (status = 204, description = "Deleted."),
        (status = 401, description = "No valid admin token."),
        (status = 403, description = "The token is scoped to another tenant."),
        (status = 404, description = "No such tenant."),
    ),
)]
pub async fn delete_webhook(
    state: web::Data<AppState>,
    admin: Admin,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    let t = tenant(&state, &admin, id.into_inner()).await?;
    service::delete_webhook(&state, &TenantId::from_stored(t.id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Where a resend starts.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Resend {
    /// The first event to deliver again; every later one follows, in order.
    from_seq: i64,
}

/// Delivers an event and every later one again, in order.
///
/// Receivers de-duplicate by event id.
#[utoipa::path(
    post,
    path = "/tenants/{id}/webhooks/resend",
    tag = "Admin",
    security(("admin_jwt" = [])),
    params(
        ("id" = String, Path, description = "The tenant's id or name."),
    ),
    request_body = Resend,
    responses(
        (status = 204, description = "Queued for delivery."),
        (status = 400, description = "The event was not delivered yet, or is no longer kept."),
        (status = 401, description = "No valid admin token."),
        (status = 403, description = "The token is scoped to another tenant."),
        (status = 404, description = "No such tenant."),
    ),
)]
pub async fn resend_webhook(
    state: web::Data<AppState>,
    admin: Admin,
    id: web::Path<String>,
    body: web::Json<Resend>,
) -> Result<HttpResponse> {
    let t = tenant(&state, &admin, id.into_inner()).await?;
    service::resend_from(&state, &TenantId::from_stored(t.id), body.from_seq).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Polls the tenant's events as Security Event Tokens (RFC 8936).
///
/// Acknowledge the SETs kept (`ack`) and those refused (`setErrs`); the answer holds up to
/// `maxEvents` (at most 100) of the SETs not acknowledged yet, each signed with the key of
/// `/.well-known/jwks.json`, the same ones again until they are acknowledged. The stream's
/// audience (`aud`) is this endpoint's URL.
#[utoipa::path(
    post,
    path = "/tenants/{id}/sets",
    tag = "Admin",
    security(("admin_jwt" = [])),
    params(
        ("id" = String, Path, description = "The tenant's id or name."),
    ),
    request_body(content = PollRequest, example = json!({
        "ack": ["evt_0190f1d2…"], "maxEvents": 10, "returnImmediately": true,
    })),
    responses(
        (status = 200, description = "SETs by jti, and whether more are waiting.", body = Object,
            example = json!({"sets": {"evt_0190f1d3…": "eyJhbGciOiJFUzI1NiIs…"},
                "moreAvailable": false})),
        (status = 400, description = "A request RFC 8936 does not describe."),
        (status = 401, description = "No valid admin token."),
        (status = 403, description = "The token is scoped to another tenant."),
        (status = 404, description = "No such tenant."),
        (status = 413, description = "More than 1000 acknowledgements."),
    ),
)]
pub async fn poll_sets(
    state: web::Data<AppState>,
    admin: Admin,
    id: web::Path<String>,
    body: web::Json<PollRequest>,
) -> Result<HttpResponse> {
    let t = tenant(&state, &admin, id.into_inner()).await?;
    let tenant = TenantId::from_stored(t.id);
    Ok(HttpResponse::Ok().json(secevents::poll(&state, &tenant, body.into_inner()).await?))
}

/// Which provisioning log entries a page holds.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LogParams {
    /// `404`, or a class such as `4xx`.
    status: Option<String>,
    /// Entries at or after this RFC 3339 time.
    since: Option<String>,
    /// Entries before this RFC 3339 time.
    until: Option<String>,
    /// The `next_cursor` of the previous page.
    before: Option<String>,
    /// Entries in the page: 100 by default, 1 to 1000.
    limit: Option<i64>,
}

fn instant(name: &str, v: Option<&str>) -> Result<Option<i64>> {
    v.map(|s| {
        chrono::DateTime::parse_from_rfc3339(s)
            .map(|t| t.timestamp_millis())
            .map_err(|_| {
                AdminError::BadRequest(format!(
                    "{name} must be an RFC 3339 time such as 2026-01-31T12:00:00Z, not {s:?}"
                ))
            })
    })
    .transpose()
}

fn status_filter(v: Option<&str>) -> Result<Option<StatusFilter>> {
    let bad = |s: &str| {
        AdminError::BadRequest(format!(
            "status must be a code such as 404 or a class such as 4xx, not {s:?}"
        ))
    };
    v.map(
        |s| match s.strip_suffix("xx").or_else(|| s.strip_suffix("XX")) {
            Some(class) => class
                .parse()
                .ok()
                .filter(|c| (1..=5).contains(c))
                .map(StatusFilter::Class)
                .ok_or_else(|| bad(s)),
            None => s
                .parse()
                .ok()
                .filter(|c| (100..=599).contains(c))
                .map(StatusFilter::Exact)
                .ok_or_else(|| bad(s)),
        },
    )
    .transpose()
}

/// The `before` cursor of a log page: an entry id, which never holds a NUL or a control character.
fn log_cursor(v: Option<&str>) -> Result<Option<String>> {
    match v {
        Some(c) if !text::plausible_id(c) => Err(AdminError::BadRequest(
            "before must be the next_cursor of a previous page".into(),
        )),
        other => Ok(other.map(str::to_owned)),
    }
}

/// Reads the tenant's provisioning log, newest first.
///
/// Every authenticated SCIM request: time, method, path, status, resource, latency, error.
#[utoipa::path(
    get,
    path = "/tenants/{id}/logs",
    tag = "Admin",
    security(("admin_jwt" = [])),
    params(
        ("id" = String, Path, description = "The tenant's id or name."),
        LogParams,
    ),
    responses(
        (status = 200, description = r#"{"entries": [...], "next_cursor": ...}."#, body = Object),
        (status = 400, description = "An invalid status, time or cursor."),
        (status = 401, description = "No valid admin token."),
        (status = 403, description = "The token is scoped to another tenant."),
        (status = 404, description = "No such tenant."),
    ),
)]
pub async fn logs(
    state: web::Data<AppState>,
    admin: Admin,
    id: web::Path<String>,
    q: web::Query<LogParams>,
) -> Result<HttpResponse> {
    let t = tenant(&state, &admin, id.into_inner()).await?;
    let query = LogQuery {
        status: status_filter(q.status.as_deref())?,
        since: instant("since", q.since.as_deref())?,
        until: instant("until", q.until.as_deref())?,
        before: log_cursor(q.before.as_deref())?,
        limit: q.limit.unwrap_or(FEED_PAGE).clamp(1, 1000),
    };
    Ok(HttpResponse::Ok().json(service::logs(&state, &TenantId::from_stored(t.id), query).await?))
}

/// A mode to set.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ModeInput {
    /// `live`, `dry_run` or `paused`.
    mode: Mode,
}

/// Reads the tenant's mode.
#[utoipa::path(
    get,
    path = "/tenants/{id}/mode",
    tag = "Admin",
    security(("admin_jwt" = [])),
    params(
        ("id" = String, Path, description = "The tenant's id or name."),
    ),
    responses(
        (status = 200, description = "The mode and since when.", body = ModeState),
        (status = 401, description = "No valid admin token."),
        (status = 403, description = "The token is scoped to another tenant."),
        (status = 404, description = "No such tenant."),
    ),
)]
pub async fn get_mode(
    state: web::Data<AppState>,
    admin: Admin,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    let t = tenant(&state, &admin, id.into_inner()).await?;
    let db = state.db.clone();
    Ok(HttpResponse::Ok().json(blocking(move || modes::get(&db, &t.id)).await?))
}

/// Sets the tenant's mode.
///
/// `dry_run` applies the identity provider's requests to a shadow copy of the directory: it
/// sees a consistent server, the app hears nothing and the live directory stays as it was,
/// until the dry-run is promoted or discarded. `paused` answers every SCIM request 503 with
/// `Retry-After`, which the identity providers honour by retrying later.
#[utoipa::path(
    put,
    path = "/tenants/{id}/mode",
    tag = "Admin",
    security(("admin_jwt" = [])),
    params(
        ("id" = String, Path, description = "The tenant's id or name."),
    ),
    request_body = ModeInput,
    responses(
        (status = 200, description = "The mode and since when.", body = ModeState),
        (status = 400, description = "Not a mode."),
        (status = 401, description = "No valid admin token."),
        (status = 403, description = "The token is scoped to another tenant."),
        (status = 404, description = "No such tenant."),
        (status = 409, description = "The tenant is in dry-run: promote or discard it first."),
    ),
)]
pub async fn put_mode(
    state: web::Data<AppState>,
    admin: Admin,
    id: web::Path<String>,
    body: web::Json<ModeInput>,
) -> Result<HttpResponse> {
    let t = tenant(&state, &admin, id.into_inner()).await?;
    let (db, mode) = (state.db.clone(), body.mode);
    Ok(HttpResponse::Ok().json(blocking(move || modes::set(&db, &t.id, mode)).await?))
}

/// Shows what the tenant's dry-run would change in its live directory.
///
/// Users, groups and memberships created, updated and deleted, and the users whose roles
/// would change, with their counts.
#[utoipa::path(
    get,
    path = "/tenants/{id}/dry-run",
    tag = "Admin",
    security(("admin_jwt" = [])),
    params(
        ("id" = String, Path, description = "The tenant's id or name."),
    ),
    responses(
        (status = 200, description = "The changes.", body = Diff),
        (status = 401, description = "No valid admin token."),
        (status = 403, description = "The token is scoped to another tenant."),
        (status = 404, description = "No such tenant."),
        (status = 409, description = "The tenant is not in dry-run."),
    ),
)]
pub async fn dry_run_diff(
    state: web::Data<AppState>,
    admin: Admin,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    let t = tenant(&state, &admin, id.into_inner()).await?;
    let db = state.db.clone();
    Ok(HttpResponse::Ok().json(blocking(move || modes::diff(&db, &t.id)).await?))
}

/// Promotes the tenant's dry-run: its changes are applied to the live directory as one
/// change, with their events, and the tenant is live.
#[utoipa::path(
    post,
    path = "/tenants/{id}/dry-run/promote",
    tag = "Admin",
    security(("admin_jwt" = [])),
    params(
        ("id" = String, Path, description = "The tenant's id or name."),
    ),
    responses(
        (status = 200, description = "What was applied.", body = Diff),
        (status = 401, description = "No valid admin token."),
        (status = 403, description = "The token is scoped to another tenant."),
        (status = 404, description = "No such tenant."),
        (status = 409, description = "The tenant is not in dry-run, or a change conflicts."),
    ),
)]
pub async fn promote_dry_run(
    state: web::Data<AppState>,
    admin: Admin,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    let t = tenant(&state, &admin, id.into_inner()).await?;
    let (db, base) = (state.db.clone(), state.base_url.clone());
    Ok(HttpResponse::Ok().json(blocking(move || modes::promote(&db, &t.id, &base)).await?))
}

/// Discards the tenant's dry-run: its shadow directory is deleted and the tenant is live,
/// its directory as it was.
#[utoipa::path(
    delete,
    path = "/tenants/{id}/dry-run",
    tag = "Admin",
    security(("admin_jwt" = [])),
    params(
        ("id" = String, Path, description = "The tenant's id or name."),
    ),
    responses(
        (status = 200, description = "The mode now.", body = ModeState),
        (status = 401, description = "No valid admin token."),
        (status = 403, description = "The token is scoped to another tenant."),
        (status = 404, description = "No such tenant."),
        (status = 409, description = "The tenant is not in dry-run."),
    ),
)]
pub async fn discard_dry_run(
    state: web::Data<AppState>,
    admin: Admin,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    let t = tenant(&state, &admin, id.into_inner()).await?;
    let db = state.db.clone();
    Ok(HttpResponse::Ok().json(blocking(move || modes::discard(&db, &t.id)).await?))
}

/// Reads the tenant's connection diagnosis.
///
/// Which identity provider is sending, and what its traffic shows is wrong with its setup:
/// each finding with a plain-words explanation, the fix in that IdP's console, and the log
/// entries that showed it.
#[utoipa::path(
    get,
    path = "/tenants/{id}/findings",
    tag = "Admin",
    security(("admin_jwt" = [])),
    params(
        ("id" = String, Path, description = "The tenant's id or name."),
    ),
    responses(
        (status = 200, description = "The diagnosis.", body = Report),
        (status = 401, description = "No valid admin token."),
        (status = 403, description = "The token is scoped to another tenant."),
        (status = 404, description = "No such tenant."),
    ),
)]
pub async fn findings(
    state: web::Data<AppState>,
    admin: Admin,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    let t = tenant(&state, &admin, id.into_inner()).await?;
    let report = diagnosis::report(&state.db, &TenantId::from_stored(t.id)).await?;
    Ok(HttpResponse::Ok().json(report))
}

/// Dismisses a finding the admin has dealt with.
///
/// It is marked resolved; if the traffic shows it again, it opens again (with a new
/// `connection.finding` event).
#[utoipa::path(
    delete,
    path = "/tenants/{id}/findings/{kind}",
    tag = "Admin",
    security(("admin_jwt" = [])),
    params(
        ("id" = String, Path, description = "The tenant's id or name."),
        ("kind" = String, Path, description = "The finding's kind, e.g. `revoked_token`."),
    ),
    responses(
        (status = 204, description = "Resolved."),
        (status = 401, description = "No valid admin token."),
        (status = 403, description = "The token is scoped to another tenant."),
        (status = 404, description = "No such tenant, or no unresolved finding of this kind."),
    ),
)]
pub async fn dismiss_finding(
    state: web::Data<AppState>,
    admin: Admin,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse> {
    let (id, kind) = path.into_inner();
    let t = tenant(&state, &admin, id).await?;
    let known = Kind::named(&kind).ok_or_else(|| {
        let kinds: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
        AdminError::NotFound(format!(
            "there is no kind of finding named {kind:?}; the kinds are: {}",
            kinds.join(", ")
        ))
    })?;
    if diagnosis::dismiss(&state.db, &TenantId::from_stored(t.id), known).await? {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(AdminError::NotFound(format!(
            "this tenant has no unresolved finding {kind}"
        )))
    }
}

/// Answers admin routes that do not exist.
pub async fn not_found() -> Result<HttpResponse> {
    Err(AdminError::NotFound(
        "there is no such admin endpoint".into(),
    ))
}

/// A setup link to create.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPortalLink {
    /// How long the link can be opened; 1 hour by default, at most 30 days.
    #[serde(default)]
    ttl_seconds: Option<u64>,
}

fn portal_link_json(row: &LinkRow, now: i64) -> Value {
    let state = match (row.revoked_at, row.used_at) {
        (Some(_), _) => "revoked",
        (None, Some(_)) => "used",
        (None, None) if row.expires_at <= now => "expired",
        (None, None) => "unused",
    };
    json!({
        "id": row.id,
        "created_at": rfc3339(row.created_at),
        "expires_at": rfc3339(row.expires_at),
        "used_at": row.used_at.map(rfc3339),
        "state": state,
    })
}

/// Creates a single-use setup link into the admin portal for the tenant's admin.
///
/// The URL is shown once, in this answer.
#[utoipa::path(
    post,
    path = "/tenants/{id}/portal-links",
    tag = "Admin",
    security(("admin_jwt" = [])),
    params(
        ("id" = String, Path, description = "The tenant's id or name."),
    ),
    request_body(content = Option<NewPortalLink>,
        description = "Empty for one hour, or the lifetime."),
    responses(
        (status = 201, description = "The link, with its url.", body = Object),
        (status = 400, description = "The body is neither empty nor a valid lifetime."),
        (status = 401, description = "No valid admin token."),
        (status = 403, description = "The token is scoped to another tenant."),
        (status = 404, description = "No such tenant."),
    ),
)]
pub async fn create_portal_link(
    state: web::Data<AppState>,
    admin: Admin,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse> {
    let input: NewPortalLink = if body.iter().all(u8::is_ascii_whitespace) {
        NewPortalLink::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            AdminError::BadRequest(format!(
                "the body must be {{\"ttl_seconds\": N}} (or empty for one hour): {e}"
            ))
        })?
    };
    let t = tenant(&state, &admin, id.into_inner()).await?;
    let db = state.db.clone();
    let ttl = input.ttl_seconds.map(Duration::from_secs);
    let link = blocking(move || portal::create_link(&db, &t, ttl)).await?;
    let mut v = portal_link_json(&link.row, now_millis());
    v["url"] = portal::link_url(&state.portal_url, &link.token).into();
    Ok(HttpResponse::Created().json(v))
}

/// Lists the tenant's setup links and their state; never their secrets.
#[utoipa::path(
    get,
    path = "/tenants/{id}/portal-links",
    tag = "Admin",
    security(("admin_jwt" = [])),
    params(
        ("id" = String, Path, description = "The tenant's id or name."),
    ),
    responses(
        (status = 200, description = "The links; `state` is unused, used, expired or revoked.",
            body = Object),
        (status = 401, description = "No valid admin token."),
        (status = 403, description = "The token is scoped to another tenant."),
        (status = 404, description = "No such tenant."),
    ),
)]
pub async fn portal_links(
    state: web::Data<AppState>,
    admin: Admin,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    let t = tenant(&state, &admin, id.into_inner()).await?;
    let db = state.db.clone();
    let rows = blocking(move || portal::links(&db, &t.id)).await?;
    let now = now_millis();
    let links: Vec<Value> = rows.iter().map(|r| portal_link_json(r, now)).collect();
    Ok(HttpResponse::Ok().json(json!({"portal_links": links})))
}

/// Revokes a setup link; a portal session opened with it ends.
#[utoipa::path(
    delete,
    path = "/tenants/{id}/portal-links/{link_id}",
    tag = "Admin",
    security(("admin_jwt" = [])),
    params(
        ("id" = String, Path, description = "The tenant's id or name."),
        ("link_id" = String, Path, description = "The link's id."),
    ),
    responses(
        (status = 204, description = "Revoked."),
        (status = 401, description = "No valid admin token."),
        (status = 403, description = "The token is scoped to another tenant."),
        (status = 404, description = "No such tenant, or no such link."),
    ),
)]
pub async fn revoke_portal_link(
    state: web::Data<AppState>,
    admin: Admin,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse> {
    let (id, link_id) = path.into_inner();
    let t = tenant(&state, &admin, id).await?;
    let db = state.db.clone();
    let found = blocking(move || portal::revoke_link(&db, &t.id, &link_id)).await?;
    if found {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(AdminError::NotFound(
            "this tenant has no portal link with that id".into(),
        ))
    }
}
