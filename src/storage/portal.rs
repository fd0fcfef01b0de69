//! The admin portal's setup links and browser sessions.

use diesel::prelude::*;

use super::AnyConnection;
use super::schema::{portal_links, portal_sessions};

/// A setup link: exchanged once, before it expires, for a session.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = portal_links, treat_none_as_default_value = false)]
pub struct LinkRow {
    pub id: String,
    pub tenant_id: String,
    pub secret_hash: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// A browser session of the portal, scoped to the link's tenant.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = portal_sessions)]
pub struct SessionRow {
    pub id: String,
    pub tenant_id: String,
    pub link_id: String,
    pub secret_hash: String,
    pub created_at: i64,
    pub expires_at: i64,
}

/// Stores a new link, and forgets the tenant's links that can no longer be used (expired,
/// revoked or used, with no session left), so the table stays the size of what is live.
pub fn insert_link(conn: &mut AnyConnection, row: &LinkRow) -> QueryResult<()> {
    let sessions = portal_sessions::table
        .filter(portal_sessions::link_id.eq(portal_links::id))
        .select(portal_sessions::id);
    diesel::delete(
        portal_links::table
            .filter(portal_links::tenant_id.eq(&row.tenant_id))
            .filter(
                portal_links::expires_at
                    .le(row.created_at)
                    .or(portal_links::revoked_at.is_not_null())
                    .or(portal_links::used_at.is_not_null()),
            )
            .filter(diesel::dsl::not(diesel::dsl::exists(sessions))),
    )
    .execute(conn)?;
    diesel::insert_into(portal_links::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

/// A link by its id.
pub fn link(conn: &mut AnyConnection, id: &str) -> QueryResult<Option<LinkRow>> {
    portal_links::table
        .find(id)
        .select(LinkRow::as_select())
        .first(conn)
        .optional()
}

/// The tenant's links, newest first.
pub fn links(conn: &mut AnyConnection, tenant_id: &str) -> QueryResult<Vec<LinkRow>> {
    portal_links::table
        .filter(portal_links::tenant_id.eq(tenant_id))
        .order(portal_links::created_at.desc())
        .select(LinkRow::as_select())
        .load(conn)
}

/// Marks a link used, if it still can be; returns whether this call did. Two browsers racing
/// with one link: one wins.
pub fn use_link(conn: &mut AnyConnection, id: &str, now: i64) -> QueryResult<bool> {
    diesel::update(
        portal_links::table
            .filter(portal_links::id.eq(id))
            .filter(portal_links::used_at.is_null())
            .filter(portal_links::revoked_at.is_null())
            .filter(portal_links::expires_at.gt(now)),
    )
    .set(portal_links::used_at.eq(now))
    .execute(conn)
    .map(|n| n == 1)
}

/// Revokes a tenant's link and ends the sessions opened with it; returns whether it existed.
pub fn revoke_link(
    conn: &mut AnyConnection,
    tenant_id: &str,
    id: &str,
    now: i64,
) -> QueryResult<bool> {
    let mine = portal_links::table
        .filter(portal_links::id.eq(id))
        .filter(portal_links::tenant_id.eq(tenant_id));
    let found: i64 = mine.count().get_result(conn)?;
    if found == 0 {
        return Ok(false);
    }
    diesel::update(mine.filter(portal_links::revoked_at.is_null()))
        .set(portal_links::revoked_at.eq(now))
        .execute(conn)?;
    diesel::delete(portal_sessions::table.filter(portal_sessions::link_id.eq(id))).execute(conn)?;
    Ok(true)
}

/// Stores a new session, and forgets the tenant's expired ones.
pub fn insert_session(conn: &mut AnyConnection, row: &SessionRow) -> QueryResult<()> {
    diesel::delete(
        portal_sessions::table
            .filter(portal_sessions::tenant_id.eq(&row.tenant_id))
            .filter(portal_sessions::expires_at.le(row.created_at)),
    )
    .execute(conn)?;
    diesel::insert_into(portal_sessions::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

/// A session by its id, if it has not expired.
pub fn session(conn: &mut AnyConnection, id: &str, now: i64) -> QueryResult<Option<SessionRow>> {
    portal_sessions::table
        .find(id)
        .filter(portal_sessions::expires_at.gt(now))
        .select(SessionRow::as_select())
        .first(conn)
        .optional()
}

/// Ends a session (signing out).
pub fn end_session(conn: &mut AnyConnection, id: &str) -> QueryResult<()> {
    diesel::delete(portal_sessions::table.find(id))
        .execute(conn)
        .map(drop)
}

/// How many resources of each type a tenant has, from the counts kept beside them.
pub fn counts(conn: &mut AnyConnection, tenant_id: &str) -> QueryResult<Vec<(String, i64)>> {
    use super::schema::resource_counts as counts;
    counts::table
        .filter(counts::tenant_id.eq(tenant_id))
        .select((counts::resource_type, counts::n))
        .load(conn)
}
