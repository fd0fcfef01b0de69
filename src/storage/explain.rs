//! Query plans, for the tests that check which index a statement uses.

use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::Untyped;

use super::sql::Dialect;
use super::{AnyConnection, StoreResult};

type Db = <AnyConnection as diesel::Connection>::Backend;

/// `EXPLAIN` (SQLite: `EXPLAIN QUERY PLAN`) of a query, with the query's own SQL and binds.
struct Explain<'q, Q>(&'q Q, Dialect);

impl<Q: QueryFragment<Db>> QueryFragment<Db> for Explain<'_, Q> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Db>) -> QueryResult<()> {
        out.unsafe_to_cache_prepared();
        out.push_sql(match self.1 {
            Dialect::Sqlite => "EXPLAIN QUERY PLAN ",
            Dialect::Postgres => "EXPLAIN ",
        });
        self.0.walk_ast(out.reborrow())
    }
}

impl<Q> QueryId for Explain<'_, Q> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q> Query for Explain<'_, Q> {
    type SqlType = Untyped;
}

impl<Q, C> RunQueryDsl<C> for Explain<'_, Q> {}

/// The plan of `query` on `conn`, one line per step.
pub(super) fn plan<Q: QueryFragment<Db>>(
    conn: &mut AnyConnection,
    query: &Q,
) -> StoreResult<Vec<String>> {
    #[derive(QueryableByName)]
    struct SqlitePlan {
        #[diesel(sql_type = diesel::sql_types::Text)]
        detail: String,
    }
    #[derive(QueryableByName)]
    struct PgPlan {
        #[diesel(sql_type = diesel::sql_types::Text, column_name = "QUERY PLAN")]
        line: String,
    }
    let dialect = Dialect::of(conn);
    let explain = Explain(query, dialect);
    Ok(match dialect {
        Dialect::Sqlite => explain
            .load::<SqlitePlan>(conn)?
            .into_iter()
            .map(|p| p.detail)
            .collect(),
        Dialect::Postgres => explain
            .load::<PgPlan>(conn)?
            .into_iter()
            .map(|p| p.line)
            .collect(),
    })
}
