//! `/Roles` and `/Entitlements` (draft-ietf-scim-roles-entitlements-01 §3.3.2): what the app
//! offers the token's tenant, read-only.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};

use super::resources::{Params, search_request};
use crate::error::{SCIM_CONTENT_TYPE, ScimError};
use crate::http::TenantCtx;
use crate::http::content::scim_json;
use crate::service::offered::{self as service, Offering};
use crate::state::AppState;

async fn list(
    state: &AppState,
    ctx: &TenantCtx,
    offering: Offering,
    q: &Params,
) -> Result<HttpResponse, ScimError> {
    let page = service::list(
        state,
        &ctx.tenant,
        &ctx.schemas,
        offering,
        &search_request(q)?,
    )
    .await?;
    Ok(scim_json(StatusCode::OK, &page))
}

async fn one(
    state: &AppState,
    ctx: &TenantCtx,
    offering: Offering,
    id: &str,
    q: &Params,
) -> Result<HttpResponse, ScimError> {
    let found = service::get(
        state,
        &ctx.tenant,
        &ctx.schemas,
        offering,
        id,
        &search_request(q)?,
    )
    .await?;
    Ok(scim_json(StatusCode::OK, &found))
}

/// Lists the roles the app offers this tenant's users (draft §3.2).
///
/// The host app's roles when it supplies a catalog, else those the tenant's group-to-role
/// mapping names; the default role is `primary`. Filtered, sorted and paged as any list.
#[utoipa::path(
    get,
    path = "/Roles",
    tag = "Roles and entitlements",
    security(("scim_token" = [])),
    params(
        ("filter" = Option<String>, Query, description = "A filter (RFC 7644 §3.4.2.2), e.g. \
            `value eq \"admin\"`."),
        ("sortBy" = Option<String>, Query, description = "The attribute to sort by."),
        ("sortOrder" = Option<String>, Query, description = "`ascending` or `descending`."),
        ("startIndex" = Option<i64>, Query, description = "The 1-based index of the first result."),
        ("count" = Option<i64>, Query, description = "The most results in the page."),
        ("cursor" = Option<String>, Query, description = "Cursor pagination (RFC 9865)."),
        ("attributes" = Option<String>, Query, description = "Attributes to return."),
        ("excludedAttributes" = Option<String>, Query, description = "Attributes to leave out."),
    ),
    responses(
        (status = 200, description = "A page of roles.",
            body = ref("#/components/schemas/ListResponse"), content_type = SCIM_CONTENT_TYPE),
        (status = 400, description = "An invalid filter, sort or page."),
        (status = 401, description = "No valid tenant token."),
        (status = 503, description = "The host app's catalog could not be read."),
    ),
)]
pub async fn roles(
    state: web::Data<AppState>,
    ctx: TenantCtx,
    q: Params,
) -> Result<HttpResponse, ScimError> {
    list(&state, &ctx, Offering::Roles, &q).await
}

/// One role the app offers, by its id.
#[utoipa::path(
    get,
    path = "/Roles/{id}",
    tag = "Roles and entitlements",
    security(("scim_token" = [])),
    params(
        ("id" = String, Path, description = "The role's id, as listed."),
        ("attributes" = Option<String>, Query, description = "Attributes to return."),
        ("excludedAttributes" = Option<String>, Query, description = "Attributes to leave out."),
    ),
    responses(
        (status = 200, description = "The role.",
            body = ref("#/components/schemas/ScimResource"), content_type = SCIM_CONTENT_TYPE),
        (status = 401, description = "No valid tenant token."),
        (status = 404, description = "The app offers no role with this id."),
        (status = 503, description = "The host app's catalog could not be read."),
    ),
)]
pub async fn role(
    state: web::Data<AppState>,
    ctx: TenantCtx,
    id: web::Path<String>,
    q: Params,
) -> Result<HttpResponse, ScimError> {
    one(&state, &ctx, Offering::Roles, &id, &q).await
}

/// Lists the entitlements the app offers this tenant's users (draft §3.3).
///
/// The host app's when its catalog supplies them, else those the tenant's admin configured;
/// the default entitlement is `primary`. Filtered, sorted and paged as any list.
#[utoipa::path(
    get,
    path = "/Entitlements",
    tag = "Roles and entitlements",
    security(("scim_token" = [])),
    params(
        ("filter" = Option<String>, Query, description = "A filter (RFC 7644 §3.4.2.2), e.g. \
            `primary eq true`."),
        ("sortBy" = Option<String>, Query, description = "The attribute to sort by."),
        ("sortOrder" = Option<String>, Query, description = "`ascending` or `descending`."),
        ("startIndex" = Option<i64>, Query, description = "The 1-based index of the first result."),
        ("count" = Option<i64>, Query, description = "The most results in the page."),
        ("cursor" = Option<String>, Query, description = "Cursor pagination (RFC 9865)."),
        ("attributes" = Option<String>, Query, description = "Attributes to return."),
        ("excludedAttributes" = Option<String>, Query, description = "Attributes to leave out."),
    ),
    responses(
        (status = 200, description = "A page of entitlements.",
            body = ref("#/components/schemas/ListResponse"), content_type = SCIM_CONTENT_TYPE),
        (status = 400, description = "An invalid filter, sort or page."),
        (status = 401, description = "No valid tenant token."),
        (status = 503, description = "The host app's catalog could not be read."),
    ),
)]
pub async fn entitlements(
    state: web::Data<AppState>,
    ctx: TenantCtx,
    q: Params,
) -> Result<HttpResponse, ScimError> {
    list(&state, &ctx, Offering::Entitlements, &q).await
}

/// One entitlement the app offers, by its id.
#[utoipa::path(
    get,
    path = "/Entitlements/{id}",
    tag = "Roles and entitlements",
    security(("scim_token" = [])),
    params(
        ("id" = String, Path, description = "The entitlement's id, as listed."),
        ("attributes" = Option<String>, Query, description = "Attributes to return."),
        ("excludedAttributes" = Option<String>, Query, description = "Attributes to leave out."),
    ),
    responses(
        (status = 200, description = "The entitlement.",
            body = ref("#/components/schemas/ScimResource"), content_type = SCIM_CONTENT_TYPE),
        (status = 401, description = "No valid tenant token."),
        (status = 404, description = "The app offers no entitlement with this id."),
        (status = 503, description = "The host app's catalog could not be read."),
    ),
)]
pub async fn entitlement(
    state: web::Data<AppState>,
    ctx: TenantCtx,
    id: web::Path<String>,
    q: Params,
) -> Result<HttpResponse, ScimError> {
    one(&state, &ctx, Offering::Entitlements, &id, &q).await
}
