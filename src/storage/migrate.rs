//! Embedded migrations, one set per backend, applied by `serve` and `migrate`.

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

/// Applies every pending migration; returns how many ran.
pub fn run(conn: &mut AnyConnection) -> anyhow::Result<usize> {
    let applied = match conn {
        AnyConnection::Sqlite(c) => c.run_pending_migrations(SQLITE),
        AnyConnection::Postgresql(c) => c.run_pending_migrations(POSTGRES),
    }
    .map_err(|e| anyhow::anyhow!("database migration failed: {e}"))?
    .len();
    backfill_user_name_keys(conn).map_err(|e| e.context("computing userName keys failed"))?;
    Ok(applied)
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
/// rename it. Two instances starting at once on one PostgreSQL database may both backfill; at
/// worst one of them stops on a uniqueness error and starts cleanly when run again.
pub fn backfill_user_name_keys(conn: &mut AnyConnection) -> anyhow::Result<usize> {
    let mut done = 0;
    let mut after: Option<(String, String)> = None;
    loop {
        // Literal conditions, so both planners see that the partial index covers the query.
        let mut q = RawQuery::raw(
            "SELECT tenant_id, id, doc FROM resources \
             WHERE resource_type = 'User' AND user_name_key IS NULL",
        );
        if let Some((tenant, id)) = &after {
            q.sql(" AND (tenant_id > ")
                .text(tenant.clone())
                .sql(" OR (tenant_id = ")
                .text(tenant.clone())
                .sql(" AND id > ")
                .text(id.clone())
                .sql("))");
        }
        q.sql(" ORDER BY tenant_id, id LIMIT ").int(BACKFILL_BATCH);
        let batch: Vec<Pending> = q.load(conn)?;
        let Some(last) = batch.last() else {
            return Ok(done);
        };
        after = Some((last.tenant_id.clone(), last.id.clone()));
        done += write_tx(conn, |c| {
            let mut keyed = 0;
            for row in &batch {
                let doc: Value = serde_json::from_str(&row.doc).unwrap_or_default();
                // A User without a userName string (never written by this server) keeps none.
                let Some(name) = doc.get("userName").and_then(Value::as_str) else {
                    continue;
                };
                let mut key = user_name::key(name);
                let taken: i64 = resources::table
                    .filter(resources::tenant_id.eq(&row.tenant_id))
                    .filter(resources::user_name_key.eq(&key))
                    .count()
                    .get_result(c)?;
                if taken > 0 {
                    tracing::warn!(
                        tenant_id = %row.tenant_id,
                        user_id = %row.id,
                        "this user's userName equals another user's when compared ignoring case, \
                         width and normalisation; it is kept, but `userName eq` finds only the \
                         other one until one of them is renamed"
                    );
                    key = user_name::shared_key(&key, &row.id);
                }
                diesel::update(
                    resources::table
                        .filter(resources::tenant_id.eq(&row.tenant_id))
                        .filter(resources::id.eq(&row.id)),
                )
                .set(resources::user_name_key.eq(key))
                .execute(c)?;
                keyed += 1;
            }
            Ok(keyed)
        })
        .map_err(|e| match e {
            ScimError::Internal(inner) => inner,
            other => anyhow::anyhow!("{other}"),
        })?;
    }
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
