//! Where each host event handler is in each tenant's events, and its lease.

use diesel::prelude::*;

use super::AnyConnection;
use super::Scope;
use super::StoreResult;
use super::events::EventRow;
use super::schema::{event_cursors, tenants};

/// A handler's position in one tenant's events.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, serde::Serialize, serde::Deserialize)]
#[diesel(table_name = event_cursors)]
pub struct CursorRow {
    pub tenant_id: String,
    pub consumer: String,
    pub handled_seq: i64,
    pub failures: i32,
    pub next_attempt_at: i64,
    pub lease_owner: Option<String>,
    pub lease_until: Option<i64>,
    pub last_error: Option<String>,
    pub updated_at: i64,
}

/// Tenants with events `consumer` has not handled, whose cursor (if it has one yet: a tenant it
/// has never seen counts from its first event) is due and not leased.
pub fn due(
    conn: &mut AnyConnection,
    consumer: &str,
    now: i64,
    limit: i64,
) -> StoreResult<Vec<String>> {
    let held_back = event_cursors::table
        .filter(event_cursors::tenant_id.eq(tenants::id))
        .filter(event_cursors::consumer.eq(consumer))
        .filter(
            event_cursors::handled_seq
                .ge(tenants::event_seq)
                .or(event_cursors::next_attempt_at.gt(now))
                .or(event_cursors::lease_until.ge(now)),
        );
    // A dry-run's shadow records events nobody is to hear.
    Ok(tenants::table
        .filter(tenants::event_seq.gt(0))
        .filter(tenants::shadow_of.is_null())
        .filter(diesel::dsl::not(diesel::dsl::exists(held_back)))
        .order(tenants::id)
        .limit(limit)
        .select(tenants::id)
        .load(conn)?)
}

/// Takes the lease of `consumer`'s cursor in a tenant's events, starting the cursor before the
/// tenant's first event when there is none yet; only one instance at a time holds it, which is
/// what keeps a tenant's events in order through the handler.
pub fn claim(
    conn: &mut AnyConnection,
    scope: &Scope<'_>,
    consumer: &str,
    owner: &str,
    now: i64,
    until: i64,
) -> StoreResult<bool> {
    let tenant_id = scope.id();
    let taken = diesel::update(
        event_cursors::table.find((tenant_id, consumer)).filter(
            event_cursors::lease_until
                .is_null()
                .or(event_cursors::lease_until.lt(now)),
        ),
    )
    .set((
        event_cursors::lease_owner.eq(owner),
        event_cursors::lease_until.eq(until),
    ))
    .execute(conn)?;
    if taken == 1 {
        return Ok(true);
    }
    // No cursor yet, or one another instance holds: a new one starts leased, and a conflict
    // means the other instance has it (it may have just started it).
    let fresh = CursorRow {
        tenant_id: tenant_id.to_owned(),
        consumer: consumer.to_owned(),
        handled_seq: 0,
        failures: 0,
        next_attempt_at: now,
        lease_owner: Some(owner.to_owned()),
        lease_until: Some(until),
        last_error: None,
        updated_at: now,
    };
    let start = diesel::insert_into(event_cursors::table)
        .values(&fresh)
        .on_conflict_do_nothing();
    Ok(native!(conn, |c| start.execute(c))? == 1)
}

/// The next events `consumer` has not handled in a tenant whose cursor `owner` holds, and the
/// tenant's last event number as of before they were read.
pub fn pending(
    conn: &mut AnyConnection,
    scope: &Scope<'_>,
    consumer: &str,
    owner: &str,
    limit: i64,
) -> StoreResult<Option<(CursorRow, i64, Vec<EventRow>)>> {
    let tenant_id = scope.id();
    let Some(cursor) = event_cursors::table
        .find((tenant_id, consumer))
        .filter(event_cursors::lease_owner.eq(owner))
        .select(CursorRow::as_select())
        .first(conn)
        .optional()?
    else {
        return Ok(None);
    };
    // Read first: every event up to it was committed with it, so a cursor moved up to it
    // when no event is left to read skips only events already pruned.
    let last = super::webhooks::current_seq(conn, scope)?;
    let rows = super::events::after(conn, scope, cursor.handled_seq, limit)?;
    Ok(Some((cursor, last, rows)))
}

/// What one step of a handler did to its cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Events up to `seq` were handled: the cursor moves on and the lease is renewed.
    Handled { seq: i64, lease_until: i64 },
    /// The handler failed: try again at `next_attempt_at`. The lease ends.
    Failed {
        failures: i32,
        next_attempt_at: i64,
        error: String,
    },
    /// The batch ended. The lease ends.
    Done,
}

/// Saves a step made under `owner`'s lease; returns whether the lease was still held (when it
/// was not, nothing is written and the caller must stop).
pub fn record(
    conn: &mut AnyConnection,
    scope: &Scope<'_>,
    consumer: &str,
    owner: &str,
    step: &Step,
    now: i64,
) -> StoreResult<bool> {
    let held = event_cursors::table
        .find((scope.id(), consumer))
        .filter(event_cursors::lease_owner.eq(owner));
    let released = (
        event_cursors::lease_owner.eq(None::<String>),
        event_cursors::lease_until.eq(None::<i64>),
    );
    let n = match step {
        Step::Handled { seq, lease_until } => diesel::update(held)
            .set((
                event_cursors::handled_seq.eq(seq),
                event_cursors::failures.eq(0),
                event_cursors::last_error.eq(None::<String>),
                event_cursors::lease_until.eq(lease_until),
                event_cursors::updated_at.eq(now),
            ))
            .execute(conn)?,
        Step::Failed {
            failures,
            next_attempt_at,
            error,
        } => diesel::update(held)
            .set((
                event_cursors::failures.eq(failures),
                event_cursors::next_attempt_at.eq(next_attempt_at),
                event_cursors::last_error.eq(error),
                event_cursors::updated_at.eq(now),
                released,
            ))
            .execute(conn)?,
        Step::Done => diesel::update(held).set(released).execute(conn)?,
    };
    Ok(n == 1)
}

/// The lowest position among a tenant's cursors written since `since`: the events after it
/// are owed to a handler that is still trying. `None` when no such cursor is behind.
pub fn owed_from(
    conn: &mut AnyConnection,
    scope: &Scope<'_>,
    since: i64,
) -> StoreResult<Option<i64>> {
    Ok(event_cursors::table
        .filter(event_cursors::tenant_id.eq(scope.id()))
        .filter(event_cursors::updated_at.ge(since))
        .select(diesel::dsl::min(event_cursors::handled_seq))
        .first(conn)?)
}

/// Every cursor of a tenant, by consumer name (for the tests).
#[cfg(feature = "internals")]
pub fn of_tenant(conn: &mut AnyConnection, scope: &Scope<'_>) -> StoreResult<Vec<CursorRow>> {
    Ok(event_cursors::table
        .filter(event_cursors::tenant_id.eq(scope.id()))
        .order(event_cursors::consumer)
        .select(CursorRow::as_select())
        .load(conn)?)
}
