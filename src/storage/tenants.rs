//! Tenants and their SCIM credentials.

use diesel::prelude::*;

use super::AnyConnection;
use super::Scope;
use super::StoreResult;
use super::models::{CredentialRow, TenantRow};
use super::schema::{credentials, tenants};

/// Inserts a tenant.
pub fn insert(conn: &mut AnyConnection, row: &TenantRow) -> StoreResult<()> {
    Ok(diesel::insert_into(tenants::table)
        .values(row)
        .execute(conn)
        .map(drop)?)
}

/// Finds a tenant by id or, failing that, by name; a dry-run's shadow is nobody's to find.
pub fn find(conn: &mut AnyConnection, id_or_name: &str) -> StoreResult<Option<TenantRow>> {
    Ok(tenants::table
        .filter(tenants::id.eq(id_or_name).or(tenants::name.eq(id_or_name)))
        .filter(tenants::shadow_of.is_null())
        .select(TenantRow::as_select())
        .order(tenants::id.eq(id_or_name).desc())
        .first(conn)
        .optional()?)
}

/// Every tenant, oldest first (not the shadows of dry-runs).
pub fn list(conn: &mut AnyConnection) -> StoreResult<Vec<TenantRow>> {
    Ok(tenants::table
        .filter(tenants::shadow_of.is_null())
        .select(TenantRow::as_select())
        .order((tenants::created_at, tenants::id))
        .load(conn)?)
}

/// Deletes a tenant and, by cascade, everything it owns; returns whether it existed.
pub fn delete(conn: &mut AnyConnection, id: &str) -> StoreResult<bool> {
    Ok(diesel::delete(tenants::table.filter(tenants::id.eq(id)))
        .execute(conn)
        .map(|n| n > 0)?)
}

/// Inserts a credential.
pub fn insert_credential(conn: &mut AnyConnection, row: &CredentialRow) -> StoreResult<()> {
    Ok(diesel::insert_into(credentials::table)
        .values(row)
        .execute(conn)
        .map(drop)?)
}

/// Ends every credential of a tenant that still works: at once, or after a grace period
/// (never extending an earlier end).
pub fn retire_credentials(
    conn: &mut AnyConnection,
    scope: &Scope<'_>,
    now: i64,
    grace_ms: Option<i64>,
) -> StoreResult<usize> {
    let tenant_id = scope.id();
    let live = credentials::table
        .filter(credentials::tenant_id.eq(tenant_id))
        .filter(credentials::revoked_at.is_null());
    match grace_ms {
        None => Ok(diesel::update(live)
            .set(credentials::revoked_at.eq(now))
            .execute(conn)?),
        Some(grace) => Ok(diesel::update(
            live.filter(
                credentials::expires_at
                    .is_null()
                    .or(credentials::expires_at.gt(now + grace)),
            ),
        )
        .set(credentials::expires_at.eq(now + grace))
        .execute(conn)?),
    }
}

/// The credential with this key id, if it still works at `now` (one primary-key read), with its
/// tenant's schema version.
pub fn active_credential(
    conn: &mut AnyConnection,
    key_id: &str,
    now: i64,
) -> StoreResult<Option<CredentialRow>> {
    native!(conn, |c| Ok(credentials::table
        .filter(credentials::id.eq(key_id))
        .filter(credentials::revoked_at.is_null())
        .filter(
            credentials::expires_at
                .is_null()
                .or(credentials::expires_at.gt(now)),
        )
        .select(CredentialRow::as_select())
        .first(c)
        .optional()?))
}

/// The credential with this key id, working or not.
pub fn credential(conn: &mut AnyConnection, key_id: &str) -> StoreResult<Option<CredentialRow>> {
    Ok(credentials::table
        .find(key_id)
        .select(CredentialRow::as_select())
        .first(conn)
        .optional()?)
}

/// Records that a credential was used at `now`.
pub fn touch_credential(conn: &mut AnyConnection, key_id: &str, now: i64) -> StoreResult<usize> {
    Ok(
        diesel::update(credentials::table.filter(credentials::id.eq(key_id)))
            .set(credentials::last_used_at.eq(now))
            .execute(conn)?,
    )
}

/// Every credential of a tenant, newest first.
pub fn credentials_of(
    conn: &mut AnyConnection,
    scope: &Scope<'_>,
) -> StoreResult<Vec<CredentialRow>> {
    let tenant_id = scope.id();
    Ok(credentials::table
        .filter(credentials::tenant_id.eq(tenant_id))
        .order((credentials::created_at.desc(), credentials::id))
        .select(CredentialRow::as_select())
        .load(conn)?)
}
/// The tenant's attribute mapping document, if it wrote one.
pub fn attribute_mapping(
    conn: &mut AnyConnection,
    scope: &Scope<'_>,
) -> StoreResult<Option<String>> {
    let tenant_id = scope.id();
    Ok(tenants::table
        .find(tenant_id)
        .select(tenants::attribute_mapping)
        .first::<Option<String>>(conn)
        .optional()?
        .flatten())
}

/// Stores the tenant's attribute mapping document (`None`: back to the standard fields).
pub fn set_attribute_mapping(
    conn: &mut AnyConnection,
    scope: &Scope<'_>,
    doc: Option<&str>,
) -> StoreResult<usize> {
    let tenant_id = scope.id();
    Ok(diesel::update(tenants::table.find(tenant_id))
        .set(tenants::attribute_mapping.eq(doc))
        .execute(conn)?)
}

/// The tenant's attribute mapping and entitlements (stored JSON documents), in one read.
pub fn mapping_and_entitlements(
    conn: &mut AnyConnection,
    scope: &Scope<'_>,
) -> StoreResult<(Option<String>, Option<String>)> {
    let tenant_id = scope.id();
    Ok(tenants::table
        .find(tenant_id)
        .select((tenants::attribute_mapping, tenants::entitlements))
        .first::<(Option<String>, Option<String>)>(conn)
        .optional()?
        .unwrap_or_default())
}

/// Stores the tenant's entitlements (`None`: none).
pub fn set_entitlements(
    conn: &mut AnyConnection,
    scope: &Scope<'_>,
    doc: Option<&str>,
) -> StoreResult<usize> {
    let tenant_id = scope.id();
    Ok(diesel::update(tenants::table.find(tenant_id))
        .set(tenants::entitlements.eq(doc))
        .execute(conn)?)
}

/// A tenant's mode and since when, read under the tenant's lock.
pub fn locked_mode(
    conn: &mut AnyConnection,
    scope: &Scope<'_>,
) -> StoreResult<(String, Option<i64>)> {
    super::events::lock_tenant(conn, scope)?;
    mode(conn, scope)
}

/// A tenant's mode and since when.
pub fn mode(conn: &mut AnyConnection, scope: &Scope<'_>) -> StoreResult<(String, Option<i64>)> {
    Ok(tenants::table
        .find(scope.id())
        .select((tenants::mode, tenants::mode_since))
        .first(conn)?)
}

/// Sets a tenant's mode, on its row and on each of its credentials (which authentication
/// reads); run it under the tenant's lock.
pub fn set_mode(
    conn: &mut AnyConnection,
    scope: &Scope<'_>,
    mode: &str,
    now: i64,
) -> StoreResult<()> {
    diesel::update(tenants::table.find(scope.id()))
        .set((tenants::mode.eq(mode), tenants::mode_since.eq(now)))
        .execute(conn)?;
    diesel::update(credentials::table.filter(credentials::tenant_id.eq(scope.id())))
        .set(credentials::mode.eq(mode))
        .execute(conn)?;
    Ok(())
}
