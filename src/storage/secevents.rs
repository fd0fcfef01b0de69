//! What Security Event Tokens need stored: the deployment's signing keys, and where each
//! tenant's poll receiver (RFC 8936) is in its events, with the SETs it acknowledged ahead of
//! the first one it has not.

use std::collections::BTreeSet;

use diesel::prelude::*;

use super::AnyConnection;
use super::Scope;
use super::StoreResult;
use super::cursors::CursorRow;
use super::events::EventRow;
use super::schema::{event_cursors, set_acks, signing_keys};

/// A signing key of the deployment. Its private half is a secret: `Debug` leaves it out.
#[derive(Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = signing_keys)]
pub struct SigningKeyRow {
    /// The key id SETs name in their header (`kid`): the key's RFC 7638 thumbprint.
    pub kid: String,
    /// The JWS algorithm, `ES256`.
    pub algorithm: String,
    /// The PKCS #8 DER private key, in base64.
    pub private_key: String,
    pub created_at: i64,
    /// From when the key is no longer published; `None` while it is current.
    pub retired_at: Option<i64>,
}

impl std::fmt::Debug for SigningKeyRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeyRow")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .field("private_key", &"***")
            .field("created_at", &self.created_at)
            .field("retired_at", &self.retired_at)
            .finish()
    }
}

/// The keys published at `now` (not retired yet), newest first: the first signs.
pub fn published_keys(conn: &mut AnyConnection, now: i64) -> StoreResult<Vec<SigningKeyRow>> {
    Ok(signing_keys::table
        .filter(
            signing_keys::retired_at
                .is_null()
                .or(signing_keys::retired_at.gt(now)),
        )
        .order((signing_keys::created_at.desc(), signing_keys::kid.desc()))
        .select(SigningKeyRow::as_select())
        .load(conn)?)
}

/// Adds a signing key. Two instances starting on an empty database may each add one; both are
/// published, so a SET signed with either verifies.
pub fn insert_key(conn: &mut AnyConnection, row: &SigningKeyRow) -> StoreResult<()> {
    let insert = diesel::insert_into(signing_keys::table)
        .values(row)
        .on_conflict_do_nothing();
    Ok(native!(conn, |c| insert.execute(c)).map(drop)?)
}

/// A tenant's poll receiver: its position (every event up to it acknowledged or not a SET),
/// the events after it (at most `scan`), and which of those it has acknowledged already.
pub fn window(
    conn: &mut AnyConnection,
    scope: &Scope<'_>,
    consumer: &str,
    scan: i64,
) -> StoreResult<(i64, Vec<EventRow>, BTreeSet<i64>)> {
    let tenant_id = scope.id();
    let position = event_cursors::table
        .find((tenant_id, consumer))
        .select(event_cursors::handled_seq)
        .first::<i64>(conn)
        .optional()?
        .unwrap_or(0);
    let rows = super::events::after(conn, scope, position, scan)?;
    let acked = set_acks::table
        .filter(set_acks::tenant_id.eq(tenant_id))
        .filter(set_acks::seq.gt(position))
        .select(set_acks::seq)
        .load::<i64>(conn)?
        .into_iter()
        .collect();
    Ok((position, rows, acked))
}

/// Records acknowledgements of events after the receiver's position.
pub fn acknowledge(conn: &mut AnyConnection, scope: &Scope<'_>, seqs: &[i64]) -> StoreResult<()> {
    let tenant_id = scope.id();
    for seq in seqs {
        let insert = diesel::insert_into(set_acks::table)
            .values((set_acks::tenant_id.eq(tenant_id), set_acks::seq.eq(seq)))
            .on_conflict_do_nothing();
        native!(conn, |c| insert.execute(c))?;
    }
    Ok(())
}

/// Moves the receiver's position to `seq` (starting it when it has none) and forgets the
/// acknowledgements it passed. Writing it also tells event retention the receiver is alive, so
/// the events it has not acknowledged are kept (see `events::prune`).
pub fn advance(
    conn: &mut AnyConnection,
    scope: &Scope<'_>,
    consumer: &str,
    seq: i64,
    now: i64,
) -> StoreResult<()> {
    let tenant_id = scope.id();
    let moved = diesel::update(event_cursors::table.find((tenant_id, consumer)))
        .set((
            event_cursors::handled_seq.eq(seq),
            event_cursors::updated_at.eq(now),
        ))
        .execute(conn)?;
    if moved == 0 {
        // The caller holds the tenant's lock, so no other poll starts the cursor meanwhile.
        diesel::insert_into(event_cursors::table)
            .values(CursorRow {
                tenant_id: tenant_id.to_owned(),
                consumer: consumer.to_owned(),
                handled_seq: seq,
                failures: 0,
                next_attempt_at: now,
                lease_owner: None,
                lease_until: None,
                last_error: None,
                updated_at: now,
            })
            .execute(conn)?;
    }
    diesel::delete(
        set_acks::table
            .filter(set_acks::tenant_id.eq(tenant_id))
            .filter(set_acks::seq.le(seq)),
    )
    .execute(conn)?;
    Ok(())
}
