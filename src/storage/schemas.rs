//! A tenant's registered extension schemas, its schema version, and the values its unique
//! extension attributes hold.

use diesel::prelude::*;

use super::Scope;
use super::schema::{credentials, tenant_schemas, tenants, unique_values};
use super::{AnyConnection, StoreResult};

/// One registered extension schema, as the admin sent it.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, serde::Serialize, serde::Deserialize)]
#[diesel(table_name = tenant_schemas)]
pub struct SchemaRow {
    pub tenant_id: String,
    pub urn: String,
    pub resource_type: String,
    pub document: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A tenant's schema version and its unknown-extensions setting.
pub fn settings(conn: &mut AnyConnection, scope: &Scope<'_>) -> StoreResult<Option<(i64, String)>> {
    let tenant_id = scope.id();
    Ok(tenants::table
        .find(tenant_id)
        .select((tenants::schema_version, tenants::unknown_extensions))
        .first(conn)
        .optional()?)
}

/// Every schema a tenant registered, by URN.
pub fn list(conn: &mut AnyConnection, scope: &Scope<'_>) -> StoreResult<Vec<SchemaRow>> {
    let tenant_id = scope.id();
    Ok(tenant_schemas::table
        .filter(tenant_schemas::tenant_id.eq(tenant_id))
        .order(tenant_schemas::urn)
        .select(SchemaRow::as_select())
        .load(conn)?)
}

/// Registers a schema or replaces its document (the URN's case as first registered stays);
/// returns whether it is new.
pub fn put(conn: &mut AnyConnection, row: &SchemaRow) -> StoreResult<bool> {
    let replaced = diesel::update(
        tenant_schemas::table
            .filter(tenant_schemas::tenant_id.eq(&row.tenant_id))
            .filter(tenant_schemas::urn.eq(&row.urn)),
    )
    .set((
        tenant_schemas::resource_type.eq(&row.resource_type),
        tenant_schemas::document.eq(&row.document),
        tenant_schemas::updated_at.eq(row.updated_at),
    ))
    .execute(conn)?;
    if replaced == 0 {
        diesel::insert_into(tenant_schemas::table)
            .values(row)
            .execute(conn)?;
    }
    Ok(replaced == 0)
}

/// Removes a registration; returns whether there was one.
pub fn delete(conn: &mut AnyConnection, scope: &Scope<'_>, urn: &str) -> StoreResult<bool> {
    let tenant_id = scope.id();
    Ok(diesel::delete(
        tenant_schemas::table
            .filter(tenant_schemas::tenant_id.eq(tenant_id))
            .filter(tenant_schemas::urn.eq(urn)),
    )
    .execute(conn)?
        > 0)
}

/// Sets what the tenant does with unregistered extensions.
pub fn set_unknown_extensions(
    conn: &mut AnyConnection,
    scope: &Scope<'_>,
    setting: &str,
) -> StoreResult<()> {
    let tenant_id = scope.id();
    diesel::update(tenants::table.find(tenant_id))
        .set(tenants::unknown_extensions.eq(setting))
        .execute(conn)?;
    Ok(())
}

/// The tenant's schema version, read under the tenant's lock.
pub fn locked_version(conn: &mut AnyConnection, scope: &Scope<'_>) -> StoreResult<i64> {
    let tenant_id = scope.id();
    super::events::lock_tenant(conn, scope)?;
    Ok(tenants::table
        .find(tenant_id)
        .select(tenants::schema_version)
        .first(conn)?)
}

/// Moves the tenant's schema version on, so every instance builds its view again; returns the
/// new version.
pub fn bump_version(conn: &mut AnyConnection, scope: &Scope<'_>) -> StoreResult<i64> {
    let tenant_id = scope.id();
    diesel::update(tenants::table.find(tenant_id))
        .set(tenants::schema_version.eq(tenants::schema_version + 1))
        .execute(conn)?;
    let version = tenants::table
        .find(tenant_id)
        .select(tenants::schema_version)
        .first(conn)?;
    // Authentication reads the version with the credential (see `tenants::active_credential`).
    diesel::update(credentials::table.filter(credentials::tenant_id.eq(tenant_id)))
        .set(credentials::schema_version.eq(version))
        .execute(conn)?;
    Ok(version)
}

/// One held value of a unique attribute.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = unique_values)]
pub struct UniqueValue<'a> {
    pub tenant_id: &'a str,
    pub resource_type: &'a str,
    /// `urn:attribute`, as the schema spells it.
    pub attribute: &'a str,
    pub value_key: &'a str,
    pub resource_id: &'a str,
}

/// Replaces the unique values a resource holds; [`super::StoreError::Duplicate`] when another
/// resource of the tenant holds one of them.
pub fn hold_values(
    conn: &mut AnyConnection,
    scope: &Scope<'_>,
    resource_id: &str,
    values: &[UniqueValue<'_>],
) -> StoreResult<()> {
    let tenant_id = scope.id();
    diesel::delete(
        unique_values::table
            .filter(unique_values::tenant_id.eq(tenant_id))
            .filter(unique_values::resource_id.eq(resource_id)),
    )
    .execute(conn)?;
    for value in values {
        diesel::insert_into(unique_values::table)
            .values(value)
            .execute(conn)?;
    }
    Ok(())
}

/// The resource holding a unique value, if any (one primary-key read).
pub fn holder(
    conn: &mut AnyConnection,
    scope: &Scope<'_>,
    resource_type: &str,
    attribute: &str,
    value_key: &str,
) -> StoreResult<Option<String>> {
    let tenant_id = scope.id();
    Ok(unique_values::table
        .find((tenant_id, resource_type, attribute, value_key))
        .select(unique_values::resource_id)
        .first(conn)
        .optional()?)
}

/// Forgets every held value of the attributes of extension `urn` (`urn:…`).
pub fn drop_values(conn: &mut AnyConnection, scope: &Scope<'_>, urn: &str) -> StoreResult<usize> {
    let tenant_id = scope.id();
    let prefix = format!("{}:%", escape_like(urn));
    Ok(diesel::delete(
        unique_values::table
            .filter(unique_values::tenant_id.eq(tenant_id))
            .filter(unique_values::attribute.like(prefix).escape('\\')),
    )
    .execute(conn)?)
}

fn escape_like(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}
