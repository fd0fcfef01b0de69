//! Embedded migrations, one set per backend, applied by `serve` and `migrate`.

use std::collections::HashSet;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use serde_json::Value;

use super::schema::resources;
use super::sql::RawQuery;
use super::{AnyConnection, write_tx};
use crate::error::ScimError;
use crate::scim::user_name;

/// Users given their userName key per transaction by [`backfill_user_name_keys`].
const BACKFILL_BATCH: i64 = 500;

const SQLITE: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// The PostgreSQL advisory lock a migrating instance holds (any fixed number; this one spells
/// "scim" in ASCII).
const MIGRATION_LOCK: i64 = 0x7363_696d;

/// Applies every pending migration and keys the users stored before the userName key; returns
/// how many migrations ran. Instances started together on one database take turns (on
/// PostgreSQL under an advisory lock; on SQLite each step holds the write lock): the others
/// wait, then find nothing pending. Without the turns, two instances creating the same table
/// at once left one failing on it. The caller sets how long a turn may be waited for.
pub fn run(conn: &mut AnyConnection) -> anyhow::Result<usize> {
    let AnyConnection::Postgresql(c) = conn else {
        return migrate(conn);
    };
    c.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))
        .map_err(|e| anyhow::anyhow!("waiting for another instance's migrations failed: {e}"))?;
    let migrated = migrate(conn);
    // The lock belongs to the connection, which goes back to the pool: release it either way.
    conn.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"))?;
    migrated
}

fn migrate(conn: &mut AnyConnection) -> anyhow::Result<usize> {
    let applied = match conn {
        AnyConnection::Sqlite(c) => c.immediate_transaction(|c| apply(c, SQLITE)),
        AnyConnection::Postgresql(c) => apply(c, POSTGRES),
    }?;
    backfill_user_name_keys(conn).map_err(|e| e.context("computing userName keys failed"))?;
    Ok(applied)
}

/// The version of this build's last migration (the same on both backends), e.g.
/// `20261207030000`: the schema a tenant export's rows follow.
pub fn latest_version() -> String {
    use diesel::migration::MigrationSource;
    MigrationSource::<diesel::sqlite::Sqlite>::migrations(&SQLITE)
        .ok()
        .and_then(|all| all.last().map(|m| m.name().version().to_string()))
        .unwrap_or_default()
}

/// How many of this build's migrations the database has not applied (none once `run` has
/// run; an instance started from an older schema copy, or a restored backup, shows more).
pub fn unapplied(conn: &mut AnyConnection) -> Result<usize, ScimError> {
    match conn {
        AnyConnection::Sqlite(c) => c.pending_migrations(SQLITE).map(|p| p.len()),
        AnyConnection::Postgresql(c) => c.pending_migrations(POSTGRES).map(|p| p.len()),
    }
    .map_err(|e| ScimError::internal(anyhow::anyhow!("reading the applied migrations: {e}")))
}

fn apply<C>(conn: &mut C, migrations: EmbeddedMigrations) -> anyhow::Result<usize>
where
    C: MigrationHarness<C::Backend> + Connection,
{
    conn.run_pending_migrations(migrations)
        .map(|applied| applied.len())
        .map_err(|e| anyhow::anyhow!("database migration failed: {e}"))
}

#[derive(QueryableByName)]
struct Pending {
    #[diesel(sql_type = diesel::sql_types::Text)]
    tenant_id: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    id: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    doc: String,
}

/// Gives every User stored before the userName key existed its key, in batches of
/// [`BACKFILL_BATCH`], before the server serves (the key is computed in Rust: SQL has no
/// PRECIS mappings). Once done, the check is one probe of an empty partial index. Returns how
/// many users got a key.
///
/// Users that the old, ASCII-only comparison kept apart can share a key ("Alice" and
/// "ＡＬＩＣＥ"): the first to get it (by tenant and id) keeps it, each other one gets a
/// [`user_name::shared_key`], which no userName maps to, so nothing is lost, the server starts,
/// and the IdP can still update or deactivate it; a warning names each one so an admin can
/// rename it. Each batch is read and keyed in one write transaction, so instances starting
/// at once on one database key each user once, in turns.
pub fn backfill_user_name_keys(conn: &mut AnyConnection) -> anyhow::Result<usize> {
    let mut done = 0;
    let mut after: Option<(String, String)> = None;
    loop {
        let (keyed, last) = write_tx(conn, |c| {
            let batch = pending_users(c, after.as_ref())?;
            let mut keyed = 0;
            // Batches are ordered by tenant: key one tenant's run of rows at a time.
            for run in batch.chunk_by(|a, b| a.tenant_id == b.tenant_id) {
                keyed += key_run(c, run)?;
            }
            Ok((
                keyed,
                batch.last().map(|l| (l.tenant_id.clone(), l.id.clone())),
            ))
        })
        .map_err(|e| match e {
            ScimError::Internal(inner) => inner,
            other => anyhow::anyhow!("{other}"),
        })?;
        done += keyed;
        if last.is_none() {
            return Ok(done);
        }
        after = last;
    }
}

/// The next batch of Users without a userName key, after the (tenant, id) given.
fn pending_users(
    c: &mut AnyConnection,
    after: Option<&(String, String)>,
) -> Result<Vec<Pending>, ScimError> {
    // Literal conditions, so both planners see that the partial index covers the query.
    let mut q = RawQuery::raw(
        "SELECT tenant_id, id, doc FROM resources \
         WHERE resource_type = 'User' AND user_name_key IS NULL",
    );
    // A row value, which both planners turn into an index range: the keys just written leave
    // dead entries in PostgreSQL's index until vacuum, and this skips them.
    if let Some((tenant, id)) = after {
        q.sql(" AND (tenant_id, id) > (")
            .text(tenant.clone())
            .sql(", ")
            .text(id.clone())
            .sql(")");
    }
    q.sql(" ORDER BY tenant_id, id LIMIT ").int(BACKFILL_BATCH);
    Ok(q.load(c)?)
}

/// Keys one tenant's pending users: one query for the keys already taken, one update for all.
fn key_run(c: &mut AnyConnection, run: &[Pending]) -> Result<usize, ScimError> {
    let Some(tenant) = run.first().map(|r| r.tenant_id.as_str()) else {
        return Ok(0);
    };
    let named: Vec<(&str, String)> = run
        .iter()
        .filter_map(|row| {
            let doc: Value = serde_json::from_str(&row.doc).ok()?;
            // A User without a userName string (never written by this server) keeps none.
            let name = doc.get("userName")?.as_str()?;
            Some((row.id.as_str(), user_name::key(name)))
        })
        .collect();
    if named.is_empty() {
        return Ok(0);
    }
    let wanted: Vec<&String> = named.iter().map(|(_, k)| k).collect();
    let mut taken: HashSet<String> = resources::table
        .filter(resources::tenant_id.eq(tenant))
        .filter(resources::user_name_key.eq_any(wanted))
        .select(resources::user_name_key)
        .load::<Option<String>>(c)?
        .into_iter()
        .flatten()
        .collect();
    // One statement; the IN list lets both planners find the rows by primary key.
    let mut update = RawQuery::raw("UPDATE resources SET user_name_key = CASE id");
    let mut ids = Vec::with_capacity(named.len());
    for (id, key) in &named {
        let key = if taken.insert(key.clone()) {
            key.clone()
        } else {
            tracing::warn!(
                tenant_id = %tenant,
                user_id = %id,
                "this user's userName equals another user's when compared ignoring case, width \
                 and normalisation; it is kept, but `userName eq` finds only the other one until \
                 one of them is renamed"
            );
            user_name::shared_key(key, id)
        };
        update.sql(" WHEN ").text(*id).sql(" THEN ").text(key);
        ids.push((*id).to_owned());
    }
    update
        .sql(" END WHERE tenant_id = ")
        .text(tenant)
        .sql(" AND id IN ")
        .text_list(&ids);
    update.execute(c)?;
    Ok(named.len())
}

#[cfg(test)]
mod tests {
    use diesel::{Connection, RunQueryDsl, SqliteConnection, sql_query, sql_types::Text};

    use super::*;

    #[derive(diesel::QueryableByName, Debug, PartialEq)]
    struct Ddl {
        #[diesel(sql_type = Text)]
        sql: String,
    }

    fn dump(c: &mut SqliteConnection) -> Vec<Ddl> {
        sql_query(
            "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL \
             AND name <> '__diesel_schema_migrations' ORDER BY name",
        )
        .load(c)
        .expect("dump schema")
    }

    /// lemmy's check: up, down, up again gives the same schema, so every down.sql is proven.
    #[test]
    fn sqlite_migrations_round_trip() {
        let mut c = SqliteConnection::establish(":memory:").expect("open");
        c.run_pending_migrations(SQLITE).expect("up");
        let first = dump(&mut c);
        assert!(!first.is_empty());
        c.revert_all_migrations(SQLITE).expect("down");
        assert!(dump(&mut c).is_empty(), "down.sql leaves objects behind");
        c.run_pending_migrations(SQLITE).expect("up again");
        assert_eq!(first, dump(&mut c));
    }
}
