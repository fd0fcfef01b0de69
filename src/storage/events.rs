//! The event outbox and the queries behind group-to-role mapping.

use diesel::prelude::*;

use super::AnyConnection;
use super::Scope;
use super::StoreResult;
use super::schema::{events, role_mappings, tenants};
use super::sql::{RawQuery, Update};

/// One event as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, serde::Serialize, serde::Deserialize)]
#[diesel(table_name = events)]
pub struct EventRow {
    pub tenant_id: String,
    pub seq: i64,
    pub id: String,
    pub event_type: String,
    pub occurred_at: i64,
    pub data: String,
}

/// Locks a tenant's row until the transaction ends (see [`super::tenant_tx`]).
pub fn lock_tenant(conn: &mut AnyConnection, scope: &Scope<'_>) -> StoreResult<()> {
    let tenant_id = scope.id();
    let lock = Update::new(
        tenants::table,
        tenants::event_seq.eq(tenants::event_seq),
        tenants::id.eq(tenant_id),
    );
    Ok(native!(conn, |c| lock.execute(c)).map(drop)?)
}

/// Appends events (type and data) with the tenant's next sequence numbers, in order. Bumping
/// the tenant's counter locks its row until the transaction ends, so sequence order is commit
/// order; one bump numbers all of a change's events.
pub fn append(
    conn: &mut AnyConnection,
    scope: &Scope<'_>,
    batch: Vec<(&str, String)>,
    now: i64,
) -> StoreResult<()> {
    let tenant_id = scope.id();
    let count = batch.len() as i64;
    if count == 0 {
        return Ok(());
    }
    let bump = Update::new(
        tenants::table,
        tenants::event_seq.eq(tenants::event_seq + count),
        tenants::id.eq(tenant_id),
    )
    .returning::<tenants::event_seq>();
    let last: i64 = native!(conn, |c| bump.get_result(c))?;
    for ((event_type, data), seq) in batch.into_iter().zip(last - count + 1..) {
        let row = EventRow {
            tenant_id: tenant_id.to_owned(),
            seq,
            // Time-ordered: ids sort in the order the events were written.
            id: format!("evt_{}", uuid::Uuid::now_v7().simple()),
            event_type: event_type.to_owned(),
            occurred_at: now,
            data,
        };
        let insert = diesel::insert_into(events::table).values(&row);
        native!(conn, |c| insert.execute(c))?;
    }
    Ok(())
}

/// Up to `limit` events of a tenant after sequence number `after`, oldest first.
pub fn after(
    conn: &mut AnyConnection,
    scope: &Scope<'_>,
    after: i64,
    limit: i64,
) -> StoreResult<Vec<EventRow>> {
    let tenant_id = scope.id();
    Ok(events::table
        .filter(events::tenant_id.eq(tenant_id))
        .filter(events::seq.gt(after))
        .order(events::seq)
        .limit(limit)
        .select(EventRow::as_select())
        .load(conn)?)
}

/// Deletes up to `limit` of a tenant's events older than `cutoff`, oldest first, except those
/// its enabled webhook has not delivered yet and those a host event handler that is still
/// trying (its cursor written since `cutoff`) has not handled; returns how many. Index seeks
/// bound a range of sequence numbers, and only that range is read: the newest old event (by the
/// age index), the webhook's and the handlers' positions, and the oldest event still kept. Events are numbered in the order
/// they are written, so the old ones are the lowest.
pub fn prune(
    conn: &mut AnyConnection,
    scope: &Scope<'_>,
    cutoff: i64,
    limit: i64,
) -> StoreResult<usize> {
    let tenant_id = scope.id();
    use super::schema::webhooks;
    let Some(newest_old) = events::table
        .filter(events::tenant_id.eq(tenant_id))
        .filter(events::occurred_at.lt(cutoff))
        .order(events::occurred_at.desc())
        .select(events::seq)
        .first::<i64>(conn)
        .optional()?
    else {
        return Ok(0);
    };
    let webhook_owed = webhooks::table
        .find(tenant_id)
        .filter(webhooks::enabled.eq(true))
        .select(webhooks::delivered_seq)
        .first::<i64>(conn)
        .optional()?;
    let handler_owed = super::cursors::owed_from(conn, scope, cutoff)?;
    let owed_from = webhook_owed.into_iter().chain(handler_owed).min();
    let Some(oldest) = events::table
        .filter(events::tenant_id.eq(tenant_id))
        .order(events::seq)
        .select(events::seq)
        .first::<i64>(conn)
        .optional()?
    else {
        return Ok(0);
    };
    let upto = newest_old
        .min(owed_from.unwrap_or(i64::MAX))
        .min(oldest.saturating_add(limit - 1));
    // The age test again, in case another instance's clock wrote a younger event lower down.
    Ok(diesel::delete(
        events::table
            .filter(events::tenant_id.eq(tenant_id))
            .filter(events::seq.le(upto))
            .filter(events::occurred_at.lt(cutoff)),
    )
    .execute(conn)?)
}

/// Group references (id or displayName) and the roles they map to.
pub type Mappings = Vec<(String, String)>;

/// A tenant's default role and its group-to-role mappings.
pub fn role_mappings(
    conn: &mut AnyConnection,
    scope: &Scope<'_>,
) -> StoreResult<(Option<String>, Mappings)> {
    let tenant_id = scope.id();
    let default = tenants::table
        .filter(tenants::id.eq(tenant_id))
        .select(tenants::default_role)
        .first(conn)?;
    let mappings = role_mappings::table
        .filter(role_mappings::tenant_id.eq(tenant_id))
        .order((role_mappings::group_ref, role_mappings::role))
        .select((role_mappings::group_ref, role_mappings::role))
        .load(conn)?;
    Ok((default, mappings))
}

/// Whether the tenant maps any group to a role (else membership cannot change a role).
pub fn maps_groups(conn: &mut AnyConnection, scope: &Scope<'_>) -> StoreResult<bool> {
    let tenant_id = scope.id();
    Ok(diesel::select(diesel::dsl::exists(
        role_mappings::table.filter(role_mappings::tenant_id.eq(tenant_id)),
    ))
    .get_result(conn)?)
}

/// Replaces a tenant's default role and mappings.
pub fn set_role_mappings(
    conn: &mut AnyConnection,
    scope: &Scope<'_>,
    default: Option<&str>,
    mappings: &[(String, String)],
) -> StoreResult<()> {
    let tenant_id = scope.id();
    diesel::update(tenants::table.filter(tenants::id.eq(tenant_id)))
        .set(tenants::default_role.eq(default))
        .execute(conn)?;
    diesel::delete(role_mappings::table.filter(role_mappings::tenant_id.eq(tenant_id)))
        .execute(conn)?;
    for (group_ref, role) in mappings {
        diesel::insert_into(role_mappings::table)
            .values((
                role_mappings::tenant_id.eq(tenant_id),
                role_mappings::group_ref.eq(group_ref),
                role_mappings::role.eq(role),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// A user and one group it belongs to, directly or through nested groups.
#[derive(Debug, QueryableByName)]
pub struct Ancestry {
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub user_id: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub group_id: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    pub group_name: Option<String>,
}

const CHUNK: usize = 500;

/// Every group each of `user_ids` belongs to, nested groups included (cycles end the walk).
pub fn ancestry(
    conn: &mut AnyConnection,
    scope: &Scope<'_>,
    user_ids: &[String],
) -> StoreResult<Vec<Ancestry>> {
    let tenant_id = scope.id();
    let mut out = Vec::new();
    for chunk in user_ids.chunks(CHUNK) {
        let mut q = RawQuery::raw(
            "WITH RECURSIVE up(user_id, group_id) AS (SELECT member_id, group_id FROM members WHERE tenant_id = ",
        );
        q.text(tenant_id)
            .sql(" AND member_id IN ")
            .text_list(chunk)
            .sql(" UNION SELECT up.user_id, m.group_id FROM up JOIN members m ON m.tenant_id = ")
            .text(tenant_id)
            .sql(" AND m.member_id = up.group_id) SELECT up.user_id, up.group_id, r.display AS group_name FROM up JOIN resources r ON r.tenant_id = ")
            .text(tenant_id)
            .sql(" AND r.id = up.group_id");
        out.extend(q.load::<Ancestry>(conn)?);
    }
    Ok(out)
}

#[derive(QueryableByName)]
struct Id {
    #[diesel(sql_type = diesel::sql_types::Text)]
    id: String,
}

/// The users among `ids`, and every user under the groups among them, nested groups included.
pub fn users_under(
    conn: &mut AnyConnection,
    scope: &Scope<'_>,
    ids: &[String],
) -> StoreResult<Vec<String>> {
    let tenant_id = scope.id();
    let mut out = Vec::new();
    for chunk in ids.chunks(CHUNK) {
        let mut q = RawQuery::raw(
            "WITH RECURSIVE down(id) AS (SELECT id FROM resources WHERE tenant_id = ",
        );
        q.text(tenant_id)
            .sql(" AND id IN ")
            .text_list(chunk)
            .sql(" UNION SELECT m.member_id FROM down JOIN members m ON m.tenant_id = ")
            .text(tenant_id)
            .sql(" AND m.group_id = down.id) SELECT r.id AS id FROM down JOIN resources r ON r.tenant_id = ")
            .text(tenant_id)
            .sql(" AND r.id = down.id WHERE r.resource_type = 'User'");
        out.extend(q.load::<Id>(conn)?.into_iter().map(|r| r.id));
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// Every resource of one type of a tenant.
pub fn all_of_type(
    conn: &mut AnyConnection,
    scope: &Scope<'_>,
    resource_type: &str,
) -> StoreResult<Vec<String>> {
    let tenant_id = scope.id();
    use super::schema::resources;
    Ok(resources::table
        .filter(resources::tenant_id.eq(tenant_id))
        .filter(resources::resource_type.eq(resource_type))
        .select(resources::id)
        .load(conn)?)
}
