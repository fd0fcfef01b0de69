//! Embedded migrations, one set per backend, applied by `serve` and `migrate`.

use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use super::AnyConnection;

const SQLITE: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// Applies every pending migration; returns how many ran.
pub fn run(conn: &mut AnyConnection) -> anyhow::Result<usize> {
    let applied = match conn {
        AnyConnection::Sqlite(c) => c.run_pending_migrations(SQLITE),
        AnyConnection::Postgresql(c) => c.run_pending_migrations(POSTGRES),
    }
    .map_err(|e| anyhow::anyhow!("database migration failed: {e}"))?;
    Ok(applied.len())
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
