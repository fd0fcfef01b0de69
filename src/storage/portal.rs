//! The admin portal's setup links and browser sessions.

use diesel::prelude::*;

use super::AnyConnection;
use super::Scope;
use super::StoreResult;
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
pub fn insert_link(conn: &mut AnyConnection, row: &LinkRow) -> StoreResult<()> {
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
    Ok(diesel::insert_into(portal_links::table)
        .values(row)
        .execute(conn)
        .map(drop)?)
}

/// A link by its id.
pub fn link(conn: &mut AnyConnection, id: &str) -> StoreResult<Option<LinkRow>> {
    Ok(portal_links::table
        .find(id)
        .select(LinkRow::as_select())
        .first(conn)
        .optional()?)
}

/// The tenant's links, newest first.
pub fn links(conn: &mut AnyConnection, scope: &Scope<'_>) -> StoreResult<Vec<LinkRow>> {
    let tenant_id = scope.id();
    Ok(portal_links::table
        .filter(portal_links::tenant_id.eq(tenant_id))
        .order(portal_links::created_at.desc())
        .select(LinkRow::as_select())
        .load(conn)?)
}

/// Marks a link used, if it still can be; returns whether this call did. Two browsers racing
/// with one link: one wins.
pub fn use_link(conn: &mut AnyConnection, id: &str, now: i64) -> StoreResult<bool> {
    Ok(diesel::update(
        portal_links::table
            .filter(portal_links::id.eq(id))
            .filter(portal_links::used_at.is_null())
            .filter(portal_links::revoked_at.is_null())
            .filter(portal_links::expires_at.gt(now)),
    )
    .set(portal_links::used_at.eq(now))
    .execute(conn)
    .map(|n| n == 1)?)
}

/// Revokes a tenant's link and ends the sessions opened with it; returns whether it existed.
pub fn revoke_link(
    conn: &mut AnyConnection,
    scope: &Scope<'_>,
    id: &str,
    now: i64,
) -> StoreResult<bool> {
    let tenant_id = scope.id();
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
pub fn insert_session(conn: &mut AnyConnection, row: &SessionRow) -> StoreResult<()> {
    diesel::delete(
        portal_sessions::table
            .filter(portal_sessions::tenant_id.eq(&row.tenant_id))
            .filter(portal_sessions::expires_at.le(row.created_at)),
    )
    .execute(conn)?;
    Ok(diesel::insert_into(portal_sessions::table)
        .values(row)
        .execute(conn)
        .map(drop)?)
}

/// A session by its id, if it has not expired.
pub fn session(conn: &mut AnyConnection, id: &str, now: i64) -> StoreResult<Option<SessionRow>> {
    Ok(portal_sessions::table
        .find(id)
        .filter(portal_sessions::expires_at.gt(now))
        .select(SessionRow::as_select())
        .first(conn)
        .optional()?)
}

/// Ends a session (signing out).
pub fn end_session(conn: &mut AnyConnection, id: &str) -> StoreResult<()> {
    Ok(diesel::delete(portal_sessions::table.find(id))
        .execute(conn)
        .map(drop)?)
}

/// How many resources of each type a tenant has, from the counts kept beside them.
pub fn counts(conn: &mut AnyConnection, scope: &Scope<'_>) -> StoreResult<Vec<(String, i64)>> {
    let tenant_id = scope.id();
    use super::schema::resource_counts as counts;
    Ok(counts::table
        .filter(counts::tenant_id.eq(tenant_id))
        .select((counts::resource_type, counts::n))
        .load(conn)?)
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// How many members a group has, counting at most `cap`: a bounded read of the membership
/// key, however large the group.
pub fn member_count(
    conn: &mut AnyConnection,
    scope: &Scope<'_>,
    group_id: &str,
    cap: i64,
) -> StoreResult<i64> {
    let tenant_id = scope.id();
    let mut q = super::sql::RawQuery::raw(
        "SELECT count(*) AS n FROM (SELECT 1 FROM members WHERE tenant_id = ",
    );
    q.text(tenant_id)
        .sql(" AND group_id = ")
        .text(group_id)
        .sql(" LIMIT ")
        .int(cap)
        .sql(") AS capped");
    Ok(q.get_result::<Count>(conn)?.n)
}

/// One member of a group, as the Groups tab lists it.
#[derive(Debug, Clone, Queryable)]
pub struct MemberLine {
    pub id: String,
    pub resource_type: String,
    pub display: Option<String>,
}

/// Up to `limit` members of a group in member id order, after `after`: one range of the
/// membership key and one primary-key read per member shown.
pub fn members_page(
    conn: &mut AnyConnection,
    scope: &Scope<'_>,
    group_id: &str,
    after: Option<&str>,
    limit: i64,
) -> StoreResult<Vec<MemberLine>> {
    let tenant_id = scope.id();
    use super::schema::{members, resources};
    let mut ids = members::table
        .filter(members::tenant_id.eq(tenant_id))
        .filter(members::group_id.eq(group_id))
        .order(members::member_id)
        .select(members::member_id)
        .limit(limit)
        .into_boxed();
    if let Some(after) = after {
        ids = ids.filter(members::member_id.gt(after.to_owned()));
    }
    let ids: Vec<String> = ids.load(conn)?;
    Ok(resources::table
        .filter(resources::tenant_id.eq(tenant_id))
        .filter(resources::id.eq_any(&ids))
        .order(resources::id)
        .select((resources::id, resources::resource_type, resources::display))
        .load(conn)?)
}

/// The ids of the tenant's groups a role mapping's group reference names: by id, or by
/// displayName compared case-insensitively (as role mapping compares them).
pub fn groups_named(
    conn: &mut AnyConnection,
    scope: &Scope<'_>,
    group_type: &str,
    reference: &str,
) -> StoreResult<Vec<String>> {
    let tenant_id = scope.id();
    use super::schema::resources;
    Ok(resources::table
        .filter(resources::tenant_id.eq(tenant_id))
        .filter(resources::resource_type.eq(group_type))
        .filter(
            resources::id
                .eq(reference)
                .or(resources::display_name_lc.eq(crate::scim::fold_case(reference))),
        )
        .select(resources::id)
        .load(conn)?)
}

/// Up to `limit` of the tenant's group names, in order, for choosing one.
pub fn group_names(
    conn: &mut AnyConnection,
    scope: &Scope<'_>,
    group_type: &str,
    limit: i64,
) -> StoreResult<Vec<String>> {
    let tenant_id = scope.id();
    use super::schema::resources;
    Ok(resources::table
        .filter(resources::tenant_id.eq(tenant_id))
        .filter(resources::resource_type.eq(group_type))
        .filter(resources::display.is_not_null())
        .order(resources::display_name_lc)
        .select(resources::display.assume_not_null())
        .limit(limit)
        .load(conn)?)
}
