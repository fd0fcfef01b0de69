//! docs/citus.sql, checked against the schema the PostgreSQL migrations make: Citus distributes
//! a table only when each unique key holds the distribution column and each foreign key between
//! distributed tables joins on it, and a table left out would stay on the coordinator.

use std::collections::BTreeSet;

use diesel::sql_types::{Array, Text};
use diesel::{Connection, PgConnection, RunQueryDsl};
use scimitar::storage::Db;

use crate::helpers::Backend;

const COMMANDS: &str = include_str!("../../docs/citus.sql");

#[derive(diesel::QueryableByName)]
struct Table {
    #[diesel(sql_type = Text)]
    name: String,
}

#[derive(diesel::QueryableByName)]
struct UniqueKey {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    index_name: String,
    #[diesel(sql_type = Array<Text>)]
    columns: Vec<String>,
}

#[derive(diesel::QueryableByName, Debug)]
struct ForeignKey {
    #[diesel(sql_type = Text)]
    from_table: String,
    #[diesel(sql_type = Text)]
    to_table: String,
    #[diesel(sql_type = Array<Text>)]
    from_columns: Vec<String>,
    #[diesel(sql_type = Array<Text>)]
    to_columns: Vec<String>,
}

/// The tables `docs/citus.sql` names with `function`.
fn named(function: &str) -> BTreeSet<String> {
    COMMANDS
        .lines()
        .filter_map(|l| l.strip_prefix(&format!("SELECT {function}('")))
        .filter_map(|rest| rest.split_once('\'').map(|(table, _)| table.to_owned()))
        .collect()
}

#[test]
fn the_citus_commands_fit_the_schema() {
    let Some(b) = Backend::postgres() else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let database = b.fresh_database(dir.path());
    Db::connect(&database.url, 1).expect("migrated database");
    let mut conn = PgConnection::establish(&database.url).expect("connect");
    let (tables, unique_keys, foreign_keys) = (|c: &mut PgConnection| -> diesel::QueryResult<_> {
            let tables: Vec<Table> = diesel::sql_query(
                "SELECT tablename::text AS name FROM pg_tables \
                 WHERE schemaname = current_schema() AND tablename <> '__diesel_schema_migrations'",
            )
            .load(c)?;
            let unique: Vec<UniqueKey> = diesel::sql_query(
                "SELECT t.relname::text AS table_name, i.relname::text AS index_name, \
                        ARRAY(SELECT a.attname::text FROM pg_attribute a \
                              WHERE a.attrelid = t.oid AND a.attnum = ANY(x.indkey)) AS columns \
                 FROM pg_index x JOIN pg_class t ON t.oid = x.indrelid \
                 JOIN pg_class i ON i.oid = x.indexrelid \
                 JOIN pg_namespace n ON n.oid = t.relnamespace \
                 WHERE x.indisunique AND n.nspname = current_schema()",
            )
            .load(c)?;
            let foreign: Vec<ForeignKey> = diesel::sql_query(
                "SELECT f.conrelid::regclass::text AS from_table, \
                        f.confrelid::regclass::text AS to_table, \
                        ARRAY(SELECT a.attname::text FROM unnest(f.conkey) WITH ORDINALITY k(n, o) \
                              JOIN pg_attribute a ON a.attrelid = f.conrelid AND a.attnum = k.n \
                              ORDER BY k.o) AS from_columns, \
                        ARRAY(SELECT a.attname::text FROM unnest(f.confkey) WITH ORDINALITY k(n, o) \
                              JOIN pg_attribute a ON a.attrelid = f.confrelid AND a.attnum = k.n \
                              ORDER BY k.o) AS to_columns \
                 FROM pg_constraint f WHERE f.contype = 'f' \
                 AND f.connamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())",
            )
            .load(c)?;
            Ok((tables, unique, foreign))
        })(&mut conn)
        .expect("read the catalog");

    let reference = named("create_reference_table");
    let distributed = named("create_distributed_table");
    assert!(
        reference.is_disjoint(&distributed),
        "a table both replicated and distributed"
    );
    let covered: BTreeSet<String> = reference.union(&distributed).cloned().collect();
    let schema: BTreeSet<String> = tables.into_iter().map(|t| t.name).collect();
    assert_eq!(
        covered, schema,
        "docs/citus.sql must name every table the migrations make, once"
    );

    for key in unique_keys
        .iter()
        .filter(|k| distributed.contains(&k.table_name))
    {
        assert!(
            key.columns.iter().any(|c| c == "tenant_id"),
            "{} on {} {:?}: a unique key of a distributed table must hold tenant_id",
            key.index_name,
            key.table_name,
            key.columns
        );
    }
    for fk in &foreign_keys {
        match (
            distributed.contains(&fk.from_table),
            distributed.contains(&fk.to_table),
        ) {
            (true, true) => {
                let joined = fk
                    .from_columns
                    .iter()
                    .zip(&fk.to_columns)
                    .any(|(from, to)| from == "tenant_id" && to == "tenant_id");
                assert!(joined, "{fk:?}: must join on tenant_id");
            }
            (false, true) => panic!("{fk:?}: a replicated table cannot refer to a distributed one"),
            _ => {}
        }
    }
}
