//! Fresh planner statistics on PostgreSQL. Autovacuum analyses a table once about a tenth of
//! it changed, but it looks only once a minute: right after an initial sync of thousands of
//! users, or a PATCH that adds 10,000 members, PostgreSQL planned with the statistics of an
//! empty table, and lookups by externalId and membership writes in a large group walked the
//! whole tenant (measured: 112 externalId lookups/s against 3,301 reads by id). SQLite's planner
//! prefers the index with the most equality columns without statistics, so it needs none.

use std::time::Duration;

use diesel::QueryableByName;
use diesel::connection::SimpleConnection;
use diesel::sql_types::Text;

use super::{AnyConnection, Db, sql::Dialect};
use crate::error::ScimError;

/// How often the change counters are read: one catalog query.
const CHECK_EVERY: Duration = Duration::from_secs(5);
/// A table is analysed once this many rows changed since its last analysis, and more than a
/// fifth of its rows (autovacuum's own default is a tenth, checked once a minute).
const MIN_CHANGES: i64 = 1000;

#[derive(QueryableByName)]
struct Stale {
    #[diesel(sql_type = Text)]
    relname: String,
}

/// The tables whose statistics steer the plans of SCIM requests.
const TABLES: &str = "('resources', 'members')";

/// Analyses, every few seconds, those of the tables that changed much since their statistics
/// were taken; runs until the task is aborted. Started on PostgreSQL only (see [`needed`]).
pub async fn keep_fresh(db: Db) {
    let mut tick = tokio::time::interval(CHECK_EVERY);
    loop {
        tick.tick().await;
        if let Err(e) = db.run(analyse_stale).await {
            tracing::debug!(error = %e, "planner statistics were not refreshed");
        }
    }
}

/// Whether `db` wants [`keep_fresh`]: SQLite does not.
pub fn needed(db: &Db) -> bool {
    db.dialect() == Dialect::Postgres
}

fn analyse_stale(conn: &mut AnyConnection) -> Result<(), ScimError> {
    let stale: Vec<Stale> = diesel::RunQueryDsl::load(
        diesel::sql_query(format!(
            "SELECT s.relname::text AS relname FROM pg_stat_user_tables s \
             JOIN pg_class c ON c.oid = s.relid \
             WHERE s.relname IN {TABLES} AND s.schemaname = current_schema() \
             AND s.n_mod_since_analyze >= {MIN_CHANGES} \
             AND s.n_mod_since_analyze > 0.2 * GREATEST(c.reltuples, 0)"
        )),
        conn,
    )?;
    for table in stale {
        tracing::debug!(table = %table.relname, "analysing for fresh planner statistics");
        conn.batch_execute(&format!("ANALYZE {}", table.relname))?;
    }
    Ok(())
}
