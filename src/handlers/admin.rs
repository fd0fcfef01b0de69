//! The admin API (`/admin/v1`): tenants and their secrets, role mappings, users with roles, and
//! the event feed. JSON in and out; every route takes an admin JWT.

use std::time::Duration;

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::{AdminError, ScimError};
use crate::events::rfc3339;
use crate::http::admin_auth::Admin;
use crate::scim::query::SearchRequest;
use crate::scim::schema::UnknownExtensions;
use crate::scim::text;
use crate::service::admin::{self as service, RoleMappings, WebhookInput};
use crate::service::portal;
use crate::service::schemas;
use crate::service::tenants::{self, Issued};
use crate::service::{LinkRow, LogQuery, StatusFilter, TenantRow, now_millis};
use crate::state::AppState;
use crate::tenant::TenantId;

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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTenant {
    name: String,
}

/// `POST /admin/v1/tenants`.
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

/// `GET /admin/v1/tenants`.
pub async fn list_tenants(state: web::Data<AppState>, admin: Admin) -> Result<HttpResponse> {
    admin.require_all()?;
    let db = state.db.clone();
    let all = blocking(move || tenants::list(&db)).await?;
    Ok(HttpResponse::Ok()
        .json(json!({"tenants": all.iter().map(|t| tenant_json(t, &state)).collect::<Vec<_>>()})))
}

/// `GET /admin/v1/tenants/{id}`.
pub async fn get_tenant(
    state: web::Data<AppState>,
    admin: Admin,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    let t = tenant(&state, &admin, id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(tenant_json(&t, &state)))
}

/// `DELETE /admin/v1/tenants/{id}`.
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

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rotation {
    /// How long earlier tokens keep working; none by default, at most [`tenants::MAX_GRACE`].
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

/// `POST /admin/v1/tenants/{id}/secret`: a new token, shown once.
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

/// `GET /admin/v1/tenants/{id}/credentials`: when each was created and last used; never secrets.
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

/// `GET /admin/v1/tenants/{id}/role-mappings`.
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

/// `GET /admin/v1/tenants/{id}/roles`: the roles its mappings may name.
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

/// `PUT /admin/v1/tenants/{id}/role-mappings`.
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

/// `GET /admin/v1/tenants/{id}/attribute-mapping`.
pub async fn get_attribute_mapping(
    state: web::Data<AppState>,
    admin: Admin,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    let t = tenant(&state, &admin, id.into_inner()).await?;
    let tenant = TenantId::from_stored(t.id);
    Ok(HttpResponse::Ok().json(service::attribute_mapping(&state, &tenant).await?))
}

/// `PUT /admin/v1/tenants/{id}/attribute-mapping`.
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

/// `GET /admin/v1/tenants/{id}/schemas`: the extension schemas the tenant registered, and what
/// it does with others.
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

/// `GET /admin/v1/tenants/{id}/schemas/{urn}`.
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
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Extends {
    #[serde(rename = "resourceType")]
    resource_type: Option<String>,
}

/// `PUT /admin/v1/tenants/{id}/schemas/{urn}[?resourceType=Group]`: registers an extension
/// schema (an RFC 7643 §7 document) or replaces it; 201 when new.
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

/// `DELETE /admin/v1/tenants/{id}/schemas/{urn}`: the registration goes; stored values stay
/// readable until purged.
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

/// `DELETE /admin/v1/tenants/{id}/schemas/{urn}/data`: deletes the values stored under an
/// extension that is no longer registered.
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
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchemaSettings {
    /// `refuse` (400) or `keep` (stored as sent, noted in the provisioning log).
    unknown_extensions: String,
}

/// `PUT /admin/v1/tenants/{id}/schema-settings`: what the tenant does with a resource that
/// carries an extension it has not registered.
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

/// `GET /admin/v1/tenants/{id}/users?filter=…`: users with their effective roles.
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

/// `GET /admin/v1/tenants/{id}/users/{user_id}`: one user with its effective roles.
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

#[derive(Debug, Deserialize)]
pub struct FeedQuery {
    after: Option<String>,
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

/// `GET /admin/v1/tenants/{id}/events?after=CURSOR`: the pull feed.
pub async fn tenant_events(
    state: web::Data<AppState>,
    admin: Admin,
    id: web::Path<String>,
    q: web::Query<FeedQuery>,
) -> Result<HttpResponse> {
    let t = tenant(&state, &admin, id.into_inner()).await?;
    feed(&state, t.id, &q).await
}

/// `GET /admin/v1/events?after=CURSOR`: the pull feed of a tenant-scoped token's tenant.
pub async fn own_events(
    state: web::Data<AppState>,
    admin: Admin,
    q: web::Query<FeedQuery>,
) -> Result<HttpResponse> {
    let tenant_id = admin.own_tenant()?.to_owned();
    feed(&state, tenant_id, &q).await
}

/// `GET /admin/v1/tenants/{id}/webhooks`: the webhook and its recent delivery attempts.
pub async fn get_webhooks(
    state: web::Data<AppState>,
    admin: Admin,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    let t = tenant(&state, &admin, id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(service::webhooks(&state, &TenantId::from_stored(t.id)).await?))
}

/// `PUT /admin/v1/tenants/{id}/webhooks`: sets the webhook (`{"url": …, "enabled": true}`).
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

/// `DELETE /admin/v1/tenants/{id}/webhooks`.
pub async fn delete_webhook(
    state: web::Data<AppState>,
    admin: Admin,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    let t = tenant(&state, &admin, id.into_inner()).await?;
    service::delete_webhook(&state, &TenantId::from_stored(t.id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resend {
    /// The first event to deliver again; every later one follows, in order.
    from_seq: i64,
}

/// `POST /admin/v1/tenants/{id}/webhooks/resend` with `{"from_seq": N}`: delivers event N and
/// every later one again (receivers de-duplicate by event id).
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogParams {
    /// `404`, or a class such as `4xx`.
    status: Option<String>,
    since: Option<String>,
    until: Option<String>,
    before: Option<String>,
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

/// `GET /admin/v1/tenants/{id}/logs?status=4xx&since=…&until=…&before=CURSOR`: the provisioning log.
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

/// Answers admin routes that do not exist.
pub async fn not_found() -> Result<HttpResponse> {
    Err(AdminError::NotFound(
        "there is no such admin endpoint".into(),
    ))
}

#[derive(Debug, Default, Deserialize)]
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

/// `POST /admin/v1/tenants/{id}/portal-links`: a single-use setup link into the admin portal
/// for the tenant's admin; the URL is shown once.
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

/// `GET /admin/v1/tenants/{id}/portal-links`: the tenant's setup links, never their secrets.
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

/// `DELETE /admin/v1/tenants/{id}/portal-links/{link_id}`: the link can no longer be opened,
/// and a portal session opened with it ends.
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
