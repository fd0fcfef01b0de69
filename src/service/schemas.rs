//! A tenant's extension schemas: what its admin registers, and the view of its resource types
//! each of its SCIM requests is read against.

use std::sync::Arc;

use serde_json::{Map, Value};

use super::document;
use super::resources::write;
use crate::error::ScimError;
use crate::scim::schema::{
    AppSettings, ResourceType, TenantSchemas, UnknownExtensions, parse_schema, render_schema,
};
use crate::scim::validate;
use crate::state::AppState;
use crate::storage::Scope;
use crate::storage::schemas::{self as store, SchemaRow, UniqueValue};
use crate::storage::{AnyConnection, now_millis};
use crate::tenant::TenantId;

/// How many extension schemas one tenant may register.
pub const MAX_SCHEMAS: usize = 20;
/// Resources read per page when a schema change passes over a tenant's resources.
const PAGE: i64 = 500;

/// The tenant's view at `version` (the one its credential row carried): held, or built from
/// the stored registrations.
pub async fn view(
    state: &AppState,
    tenant: &TenantId,
    version: i64,
) -> Result<Arc<TenantSchemas>, ScimError> {
    if let Some(view) = state.schemas.get(tenant.as_str(), version) {
        return Ok(view);
    }
    let id = tenant.clone();
    let view = Arc::new(state.db.run(move |c| load(c, &id)).await?);
    state.schemas.insert(tenant.as_str(), view.clone());
    Ok(view)
}

/// The tenant's current view, for requests that carry no schema version (the admin API, the
/// portal): one read of the version, then as [`view`].
pub async fn current(state: &AppState, tenant: &TenantId) -> Result<Arc<TenantSchemas>, ScimError> {
    let id = tenant.clone();
    let (version, _) = state
        .db
        .read_by_key(move |c| Ok(store::settings(c, &Scope::new(&id))?))
        .await?
        .unwrap_or_default();
    view(state, tenant, version).await
}

/// Builds the tenant's view from its stored registrations.
pub(crate) fn load(c: &mut AnyConnection, tenant: &TenantId) -> Result<TenantSchemas, ScimError> {
    let (version, unknown) = store::settings(c, &Scope::new(tenant))?.unwrap_or_default();
    let app = super::app_settings(c, &Scope::new(tenant))?;
    let extensions = store::list(c, &Scope::new(tenant))?
        .into_iter()
        .filter_map(|row| {
            let rt = ResourceType::stored(&row.resource_type)?;
            let doc: Value = serde_json::from_str(&row.document).ok()?;
            // Checked when registered; a document that no longer reads (a stricter release)
            // is left out rather than failing every request of the tenant.
            match parse_schema(&row.urn, rt, &doc) {
                Ok(schema) => Some((row.resource_type, schema)),
                Err(e) => {
                    tracing::warn!(tenant = %tenant, urn = %row.urn, error = %e, "a registered schema no longer reads; it is left out");
                    None
                }
            }
        });
    Ok(TenantSchemas::new(
        version,
        UnknownExtensions::parse(&unknown).unwrap_or_default(),
        app,
        extensions,
    ))
}

/// One registered schema as the admin API shows it.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Registered {
    /// The schema's URN.
    pub urn: String,
    /// The resource type it extends.
    #[serde(rename = "resourceType")]
    pub resource_type: String,
    /// The schema as `/Schemas` renders it.
    pub schema: Value,
}

/// The resource type a URN extends: the one named, or `Group` for a URN ending in `:Group`,
/// else `User`.
fn extended_type(urn: &str, named: Option<&str>) -> Result<&'static ResourceType, ScimError> {
    let id = named.unwrap_or(if urn.to_ascii_lowercase().ends_with(":group") {
        "Group"
    } else {
        "User"
    });
    ResourceType::by_id(id).ok_or_else(|| {
        ScimError::InvalidValue(format!(
            "resourceType \"{id}\" is not one this server serves; extend User or Group"
        ))
    })
}

/// Every schema the tenant registered.
pub async fn list(state: &AppState, tenant: &TenantId) -> Result<Vec<Registered>, ScimError> {
    let id = tenant.clone();
    let rows = state
        .db
        .run(move |c| Ok(store::list(c, &Scope::new(&id))?))
        .await?;
    Ok(rows.iter().filter_map(|row| shown(state, row)).collect())
}

/// One registered schema, found by URN case-insensitively.
pub async fn get(state: &AppState, tenant: &TenantId, urn: &str) -> Result<Registered, ScimError> {
    let id = tenant.clone();
    let rows = state
        .db
        .run(move |c| Ok(store::list(c, &Scope::new(&id))?))
        .await?;
    rows.iter()
        .find(|r| r.urn.eq_ignore_ascii_case(urn))
        .and_then(|row| shown(state, row))
        .ok_or_else(|| not_registered(urn))
}

fn shown(state: &AppState, row: &SchemaRow) -> Option<Registered> {
    let rt = ResourceType::stored(&row.resource_type)?;
    let doc: Value = serde_json::from_str(&row.document).ok()?;
    let schema = parse_schema(&row.urn, rt, &doc).ok()?;
    Some(Registered {
        urn: row.urn.clone(),
        resource_type: row.resource_type.clone(),
        schema: render_schema(&schema, &state.base_url),
    })
}

fn not_registered(urn: &str) -> ScimError {
    ScimError::NotFound(format!("no schema {urn} is registered for this tenant"))
}

/// Registers `doc` as the extension schema `urn` (RFC 7643 §7) of the type named, or replaces
/// it; returns it as shown and whether it is new. Values of attributes that become unique are
/// checked against the stored resources first: a duplicate refuses the registration.
pub async fn put(
    state: &AppState,
    tenant: &TenantId,
    urn: &str,
    resource_type: Option<&str>,
    doc: Value,
) -> Result<(Registered, bool), ScimError> {
    let rt = extended_type(urn, resource_type)?;
    let schema = parse_schema(urn, rt, &doc).map_err(|e| ScimError::InvalidValue(e.to_string()))?;
    let document = serde_json::to_string(&doc).map_err(ScimError::internal)?;
    let (urn, tenant_id) = (urn.to_owned(), tenant.clone());
    let view = TenantSchemas::new(
        0,
        UnknownExtensions::Refuse,
        AppSettings::default(),
        [(rt.id.to_owned(), schema.clone())],
    );
    let created = write(state, tenant, move |scope, c| {
        let held = store::list(c, &Scope::new(&tenant_id))?;
        let same = held.iter().find(|r| r.urn.eq_ignore_ascii_case(&urn));
        match same {
            Some(r) if r.resource_type != rt.id => {
                return Err(ScimError::Conflict(format!(
                    "{} is registered as an extension of {}; delete it before registering it for {}",
                    r.urn, r.resource_type, rt.id
                )));
            }
            None if held.len() >= MAX_SCHEMAS => {
                return Err(ScimError::Conflict(format!(
                    "a tenant may register at most {MAX_SCHEMAS} extension schemas; delete one first"
                )));
            }
            _ => {}
        }
        let urn = same.map_or(urn, |r| r.urn.clone());
        let now = now_millis();
        let created = store::put(
            c,
            &SchemaRow {
                tenant_id: tenant_id.as_str().to_owned(),
                urn: urn.clone(),
                resource_type: rt.id.to_owned(),
                document,
                created_at: now,
                updated_at: now,
            },
        )?;
        store::drop_values(c, &Scope::new(&tenant_id), &urn)?;
        hold_existing(scope, c, &view.resource_type(rt), &urn)?;
        store::bump_version(c, &Scope::new(&tenant_id))?;
        Ok(created)
    })
    .await?;
    Ok((
        Registered {
            urn: schema.id.to_string(),
            resource_type: rt.id.to_owned(),
            schema: render_schema(&schema, &state.base_url),
        },
        created,
    ))
}

/// Records the unique values the tenant's stored resources hold for extension `urn`, refusing
/// the change if two resources share one.
fn hold_existing(
    scope: &Scope<'_>,
    c: &mut AnyConnection,
    rt: &ResourceType,
    urn: &str,
) -> Result<(), ScimError> {
    let has_unique = rt.extension(urn).is_some_and(|s| {
        s.attributes
            .iter()
            .any(|a| a.uniqueness == crate::scim::schema::Uniqueness::Server)
    });
    if !has_unique {
        return Ok(());
    }
    let mut after = String::new();
    loop {
        let rows = scope.page_by_id(c, rt.id, &after, PAGE)?;
        let Some(last) = rows.last() else {
            return Ok(());
        };
        after = last.id.clone();
        for row in &rows {
            let doc = document(row)?;
            let values: Vec<(String, String)> = validate::unique_values(rt, &doc)
                .into_iter()
                .filter(|(attr, _)| attr.starts_with(urn) && attr[urn.len()..].starts_with(':'))
                .collect();
            hold(scope, c, rt, &row.id, &values, true)?;
        }
    }
}

/// Holds a resource's unique values: 409 naming the attribute when another resource of the
/// tenant holds one. `existing` words the refusal for a registration instead of a write.
pub(super) fn hold(
    scope: &Scope<'_>,
    c: &mut AnyConnection,
    rt: &ResourceType,
    id: &str,
    values: &[(String, String)],
    existing: bool,
) -> Result<(), ScimError> {
    let tenant = scope.tenant().as_str();
    let rows: Vec<UniqueValue<'_>> = values
        .iter()
        .map(|(attribute, key)| UniqueValue {
            tenant_id: tenant,
            resource_type: rt.id,
            attribute,
            value_key: key,
            resource_id: id,
        })
        .collect();
    // Writes of a tenant take turns under its lock, so what is read here is still so when
    // the values are inserted (and a refused insert would abort a PostgreSQL transaction).
    for (attribute, key) in values {
        if store::holder(c, scope, rt.id, attribute, key)?.is_some_and(|h| h != id) {
            return Err(ScimError::Uniqueness(if existing {
                format!(
                    "two stored {}s hold the value \"{key}\" for {attribute}, which the schema makes unique; change one of them, or register the attribute without \"uniqueness\": \"server\"",
                    rt.name
                )
            } else {
                format!(
                    "{attribute} \"{key}\" is held by another {} of this tenant; the schema makes it unique",
                    rt.name
                )
            }));
        }
    }
    Ok(store::hold_values(c, scope, id, &rows)?)
}

/// Removes a registration; the stored values stay, readable, until [`purge`].
pub async fn remove(state: &AppState, tenant: &TenantId, urn: &str) -> Result<(), ScimError> {
    let (urn, tenant_id) = (urn.to_owned(), tenant.clone());
    write(state, tenant, move |_, c| {
        let held = store::list(c, &Scope::new(&tenant_id))?;
        let row = held
            .iter()
            .find(|r| r.urn.eq_ignore_ascii_case(&urn))
            .ok_or_else(|| not_registered(&urn))?;
        store::delete(c, &Scope::new(&tenant_id), &row.urn)?;
        store::drop_values(c, &Scope::new(&tenant_id), &row.urn)?;
        store::bump_version(c, &Scope::new(&tenant_id))?;
        Ok(())
    })
    .await
}

/// Deletes the values stored under extension `urn` from every resource of the tenant (whose
/// version moves on); the extension must not be registered. Returns how many resources changed.
pub async fn purge(state: &AppState, tenant: &TenantId, urn: &str) -> Result<u64, ScimError> {
    let (urn, tenant_id) = (urn.to_owned(), tenant.clone());
    write(state, tenant, move |scope, c| {
        if store::list(c, &Scope::new(&tenant_id))?
            .iter()
            .any(|r| r.urn.eq_ignore_ascii_case(&urn))
        {
            return Err(ScimError::Conflict(format!(
                "{urn} is registered; delete its registration before purging its data"
            )));
        }
        let mut changed = 0;
        for rt in ResourceType::ALL {
            let mut after = String::new();
            loop {
                let rows = scope.page_by_id(c, rt.id, &after, PAGE)?;
                let Some(last) = rows.last() else { break };
                after = last.id.clone();
                for row in rows {
                    let mut doc: Map<String, Value> = document(&row)?;
                    let keys: Vec<String> = doc
                        .keys()
                        .filter(|k| k.eq_ignore_ascii_case(&urn))
                        .cloned()
                        .collect();
                    if keys.is_empty() {
                        continue;
                    }
                    for k in &keys {
                        doc.shift_remove(k);
                    }
                    super::resources::next_version(
                        scope,
                        c,
                        rt,
                        &row,
                        &doc,
                        row.password_hash.clone(),
                    )?;
                    changed += 1;
                }
            }
        }
        Ok(changed)
    })
    .await
}

/// Sets what the tenant does with extensions it has not registered.
pub async fn set_unknown(
    state: &AppState,
    tenant: &TenantId,
    setting: UnknownExtensions,
) -> Result<(), ScimError> {
    let tenant_id = tenant.clone();
    write(state, tenant, move |_, c| {
        store::set_unknown_extensions(c, &Scope::new(&tenant_id), setting.as_str())?;
        store::bump_version(c, &Scope::new(&tenant_id))?;
        Ok(())
    })
    .await
}
