//! A tenant's shadow directory for dry-run: a tenant row of its own (whose `shadow_of` names
//! the live tenant) holding a copy of the live directory, which the identity provider's
//! requests change while the live one stays as it was.

use diesel::prelude::*;

use super::models::{MemberRow, ResourceRow};
use super::schema::{members, resources, role_mappings, tenant_schemas, tenants, unique_values};
use super::schemas::SchemaRow;
use super::transfer::{self, RoleMappingRecord, Row, TenantRecord, UniqueRecord};
use super::{AnyConnection, Scope, StoreResult};
use crate::tenant::TenantId;

/// Rows copied per statement.
const CHUNK: usize = 500;

/// Copies the directory of `live` (its settings, schemas, users, groups, memberships, unique
/// values and role mappings; not its events, credentials or webhook) into a new tenant
/// `shadow`. Run it under the live tenant's lock, so the copy is of one moment.
pub fn create(conn: &mut AnyConnection, live: &Scope<'_>, shadow: &TenantId) -> StoreResult<()> {
    let to = shadow.as_str();
    let mut tenant: TenantRecord = tenants::table
        .find(live.id())
        .select(TenantRecord::as_select())
        .first(conn)?;
    tenant.id = to.to_owned();
    // Tenant names are unique; the shadow's id is, and nobody signs in with it.
    tenant.name = to.to_owned();
    tenant.event_seq = 0;
    transfer::insert(conn, vec![Row::Tenant(tenant)])?;
    diesel::update(tenants::table.find(to))
        .set(tenants::shadow_of.eq(live.id()))
        .execute(conn)?;
    let schemas: Vec<SchemaRow> = tenant_schemas::table
        .filter(tenant_schemas::tenant_id.eq(live.id()))
        .select(SchemaRow::as_select())
        .load(conn)?;
    insert(conn, schemas, |mut r| {
        r.tenant_id = to.to_owned();
        Row::Schema(r)
    })?;
    // Resources in pages by id: a large directory is never held whole.
    let mut after = String::new();
    loop {
        let page: Vec<ResourceRow> = resources::table
            .filter(resources::tenant_id.eq(live.id()))
            .filter(resources::id.gt(&after))
            .order(resources::id)
            .limit(CHUNK as i64)
            .select(ResourceRow::as_select())
            .load(conn)?;
        let Some(last) = page.last() else { break };
        after = last.id.clone();
        insert(conn, page, |mut r| {
            r.tenant_id = to.to_owned();
            Row::Resource(r)
        })?;
    }
    let memberships: Vec<MemberRow> = members::table
        .filter(members::tenant_id.eq(live.id()))
        .select(MemberRow::as_select())
        .load(conn)?;
    insert(conn, memberships, |mut r| {
        r.tenant_id = to.to_owned();
        Row::Member(r)
    })?;
    let unique: Vec<UniqueRecord> = unique_values::table
        .filter(unique_values::tenant_id.eq(live.id()))
        .select(UniqueRecord::as_select())
        .load(conn)?;
    insert(conn, unique, |mut r| {
        r.tenant_id = to.to_owned();
        Row::UniqueValue(r)
    })?;
    let mappings: Vec<RoleMappingRecord> = role_mappings::table
        .filter(role_mappings::tenant_id.eq(live.id()))
        .select(RoleMappingRecord::as_select())
        .load(conn)?;
    insert(conn, mappings, |mut r| {
        r.tenant_id = to.to_owned();
        Row::RoleMapping(r)
    })
}

fn insert<T>(
    conn: &mut AnyConnection,
    rows: Vec<T>,
    as_row: impl Fn(T) -> Row + Copy,
) -> StoreResult<()> {
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        transfer::insert(conn, rows.by_ref().take(CHUNK).map(as_row).collect())?;
    }
    Ok(())
}

/// What the diff and the promotion read of a resource: everything but its document.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = resources)]
pub struct Brief {
    pub id: String,
    pub resource_type: String,
    pub display: Option<String>,
    pub version: i64,
    pub modified_at: i64,
}

/// Every resource of a tenant, briefly, by id.
pub fn briefs(conn: &mut AnyConnection, scope: &Scope<'_>) -> StoreResult<Vec<Brief>> {
    Ok(resources::table
        .filter(resources::tenant_id.eq(scope.id()))
        .order(resources::id)
        .select(Brief::as_select())
        .load(conn)?)
}

/// Every membership of a tenant, as (group, member) pairs.
pub fn memberships(
    conn: &mut AnyConnection,
    scope: &Scope<'_>,
) -> StoreResult<Vec<(String, String)>> {
    Ok(members::table
        .filter(members::tenant_id.eq(scope.id()))
        .select((members::group_id, members::member_id))
        .load(conn)?)
}

/// Whole resources of a tenant by id (for the promotion), in chunks.
pub fn rows(
    conn: &mut AnyConnection,
    scope: &Scope<'_>,
    ids: &[String],
) -> StoreResult<Vec<ResourceRow>> {
    let mut found = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(CHUNK) {
        found.extend(
            resources::table
                .filter(resources::tenant_id.eq(scope.id()))
                .filter(resources::id.eq_any(chunk))
                .select(ResourceRow::as_select())
                .load(conn)?,
        );
    }
    Ok(found)
}

/// The unique values the shadow holds for `ids`, to be written under the live tenant.
pub fn unique_values_of(
    conn: &mut AnyConnection,
    scope: &Scope<'_>,
    ids: &[String],
) -> StoreResult<Vec<UniqueRecord>> {
    let mut found = Vec::new();
    for chunk in ids.chunks(CHUNK) {
        found.extend(
            unique_values::table
                .filter(unique_values::tenant_id.eq(scope.id()))
                .filter(unique_values::resource_id.eq_any(chunk))
                .select(UniqueRecord::as_select())
                .load(conn)?,
        );
    }
    Ok(found)
}

/// Replaces the unique values of `ids` in `scope` by `values` (already the scope's).
pub fn replace_unique_values(
    conn: &mut AnyConnection,
    scope: &Scope<'_>,
    ids: &[String],
    values: Vec<UniqueRecord>,
) -> StoreResult<()> {
    for chunk in ids.chunks(CHUNK) {
        diesel::delete(
            unique_values::table
                .filter(unique_values::tenant_id.eq(scope.id()))
                .filter(unique_values::resource_id.eq_any(chunk)),
        )
        .execute(conn)?;
    }
    insert(conn, values, Row::UniqueValue)
}

/// Inserts memberships (already the scope's).
pub fn add_memberships(conn: &mut AnyConnection, rows: Vec<MemberRow>) -> StoreResult<()> {
    insert(conn, rows, Row::Member)
}

/// The displays the shadow's memberships carry, for the memberships to copy.
pub fn member_rows(
    conn: &mut AnyConnection,
    scope: &Scope<'_>,
    group_id: &str,
    member_ids: &[String],
) -> StoreResult<Vec<MemberRow>> {
    let mut found = Vec::new();
    for chunk in member_ids.chunks(CHUNK) {
        found.extend(
            members::table
                .filter(members::tenant_id.eq(scope.id()))
                .filter(members::group_id.eq(group_id))
                .filter(members::member_id.eq_any(chunk))
                .select(MemberRow::as_select())
                .load(conn)?,
        );
    }
    Ok(found)
}
