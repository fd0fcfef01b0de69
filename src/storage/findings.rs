//! Connection findings: what a tenant's traffic says about its identity provider's setup, one
//! row per kind of finding.

use diesel::prelude::*;

use super::AnyConnection;
use super::Scope;
use super::StoreResult;
use super::schema::{connection_findings as findings, members};

/// One kind of finding in one tenant.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = findings, primary_key(tenant_id, kind), treat_none_as_null = true)]
pub struct FindingRow {
    pub tenant_id: String,
    pub kind: String,
    /// `watching`, `open` or `resolved`.
    pub state: String,
    /// The identity provider the evidence came from, e.g. `entra`.
    pub idp: String,
    /// How many times it was seen since it was last resolved.
    pub seen: i64,
    pub first_seen: i64,
    pub last_seen: i64,
    pub opened_at: Option<i64>,
    pub resolved_at: Option<i64>,
    /// The newest provisioning log entry ids that showed it, as a JSON array.
    pub evidence: String,
    /// A fact the log does not hold, e.g. why a webhook was switched off.
    pub note: Option<String>,
}

/// The tenant's findings, by kind.
pub fn of_tenant(conn: &mut AnyConnection, scope: &Scope<'_>) -> StoreResult<Vec<FindingRow>> {
    Ok(findings::table
        .filter(findings::tenant_id.eq(scope.id().to_owned()))
        .order(findings::kind)
        .select(FindingRow::as_select())
        .load(conn)?)
}

/// The tenant's finding of one kind, if it was ever seen.
pub fn get(
    conn: &mut AnyConnection,
    scope: &Scope<'_>,
    kind: &str,
) -> StoreResult<Option<FindingRow>> {
    Ok(findings::table
        .find((scope.id().to_owned(), kind.to_owned()))
        .select(FindingRow::as_select())
        .first(conn)
        .optional()?)
}

/// Writes a finding read with [`get`] (or new) back; run it in the tenant's write transaction,
/// which keeps the read and the write together.
pub fn save(conn: &mut AnyConnection, row: &FindingRow, existed: bool) -> StoreResult<()> {
    if existed {
        diesel::update(findings::table.find((row.tenant_id.clone(), row.kind.clone())))
            .set(row)
            .execute(conn)?;
    } else {
        diesel::insert_into(findings::table)
            .values(row)
            .execute(conn)?;
    }
    Ok(())
}

/// Whether any group of the tenant has a member: one probe of the members' key.
pub fn has_memberships(conn: &mut AnyConnection, scope: &Scope<'_>) -> StoreResult<bool> {
    Ok(diesel::select(diesel::dsl::exists(
        members::table.filter(members::tenant_id.eq(scope.id().to_owned())),
    ))
    .get_result(conn)?)
}
