//! What Security Event Tokens need stored: the deployment's signing keys, and where each
//! tenant's poll receiver (RFC 8936) is in its events, with the SETs it acknowledged ahead of
//! the first one it has not.

use diesel::prelude::*;

use super::AnyConnection;
use super::StoreResult;
use super::schema::signing_keys;

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
