//! SQL text with bind parameters, written once for both backends: diesel's `MultiBackend`
//! emits each backend's placeholders, so no value is ever spliced into SQL text.

use std::marker::PhantomData;

use diesel::backend::Backend;
use diesel::expression::{
    AppearsOnTable, Expression, SelectableExpression, TypedExpressionType, ValidGrouping,
    is_aggregate,
};
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::query_dsl::RunQueryDsl;
use diesel::sql_types::{BigInt, Bool, Double, Nullable, Text, Untyped};
use diesel::{Connection, QueryResult};

use super::AnyConnection;

type Db = <AnyConnection as Connection>::Backend;

/// The SQL dialect of a connection; they differ only in JSON access and string functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// The dialect `conn` speaks.
    pub fn of(conn: &AnyConnection) -> Self {
        match conn {
            AnyConnection::Sqlite(_) => Self::Sqlite,
            AnyConnection::Postgresql(_) => Self::Postgres,
        }
    }
}

#[derive(Debug, Clone)]
pub(super) enum Part {
    Sql(String),
    Text(String),
    Bool(bool),
    Int(i64),
    Double(f64),
}

/// A SQL expression with its bind values, usable in diesel's `.filter()` (a `Bool`) and
/// `.order()` (a sort key, typed as nullable text: it is ordered by, never loaded).
#[derive(Clone)]
pub struct SqlFragment<ST = Bool> {
    pub(super) parts: Vec<Part>,
    /// Whether statements using this fragment may stay prepared (see [`SqlFragment::bounded`]).
    bounded: bool,
    /// Whether at most one row can match (see [`SqlFragment::unique`]).
    unique: bool,
    /// The userName key this condition is equality on, when that is all it is (see
    /// [`SqlFragment::user_name_key`]).
    user_name_key: Option<String>,
    sql_type: PhantomData<ST>,
}

/// A sort key: its expression, and whether it can be NULL.
#[derive(Debug, Clone)]
pub struct SortKey {
    pub expr: SqlFragment<Nullable<Text>>,
    /// False for keys every resource of the type has (userName of a User, meta.created), so
    /// SQLite can walk an index in key order instead of sorting NULLs last first.
    pub nullable: bool,
}

/// Shows the SQL text and bound values, which is what a reader (or a test of its size) wants.
impl<ST> std::fmt::Debug for SqlFragment<ST> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlFragment")
            .field("parts", &self.parts)
            .finish_non_exhaustive()
    }
}

impl<ST> Default for SqlFragment<ST> {
    fn default() -> Self {
        Self {
            parts: Vec::new(),
            bounded: false,
            unique: false,
            user_name_key: None,
            sql_type: PhantomData,
        }
    }
}

impl<ST> SqlFragment<ST> {
    /// Marks this fragment's SQL text as one of a small, fixed set (one comparison, a sort key,
    /// the cursor condition), so the statements using it stay prepared, keyed by their text.
    /// A fragment compiled from an arbitrary filter tree stays unmarked: every distinct shape a
    /// client invents would otherwise be kept prepared on each connection for good.
    pub fn bounded(mut self) -> Self {
        self.bounded = true;
        self
    }

    /// Marks a condition that at most one row can meet, and only a row of the type listed
    /// (equality on a unique key of that type, such as a User's userName key), so a list needs
    /// neither an order nor the type condition: with either, PostgreSQL without statistics
    /// walked the tenant through another index rather than probe the unique one.
    pub fn unique(mut self) -> Self {
        self.unique = true;
        self
    }

    /// Whether [`SqlFragment::unique`] marked this condition.
    pub fn is_unique(&self) -> bool {
        self.unique
    }

    /// Marks a condition that is exactly `user_name_key = key` (a `userName eq` filter), so a
    /// list can read it as a typed lookup by that key, prepared on the backend's own connection,
    /// instead of this fragment's statement, which diesel's MultiConnection writes out anew on
    /// every request. Implies [`SqlFragment::unique`].
    pub fn by_user_name_key(mut self, key: String) -> Self {
        self.user_name_key = Some(key);
        self.unique()
    }

    /// The key [`SqlFragment::by_user_name_key`] marked.
    pub fn user_name_key(&self) -> Option<&str> {
        self.user_name_key.as_deref()
    }

    /// Raw SQL text; callers pass only schema names and fixed syntax, never client values.
    pub fn raw(sql: impl Into<String>) -> Self {
        let mut f = Self::default();
        f.parts.push(Part::Sql(sql.into()));
        f
    }

    /// `NOT (…)`-free negation helper for sort keys: `(expr IS NULL)`, so NULLs sort last.
    pub fn is_null(&self) -> SqlFragment<Bool> {
        let mut f = SqlFragment::raw("(");
        f.parts.extend(self.parts.iter().cloned());
        f.parts.push(Part::Sql(" IS NULL)".into()));
        f
    }
}

impl SqlFragment {
    /// `(created_at, id)` strictly after the given position, in ascending order.
    pub fn after(created_at: i64, id: String) -> Self {
        // The first condition alone bounds the range of the (…, created_at, id) index, so a
        // deep page starts where the last one ended; written as `created_at > ? OR (created_at
        // = ? AND id > ?)`, SQLite walked the tenant's index from its start to each page.
        let mut f = Self::raw("(resources.created_at >= ");
        f.int(created_at)
            .sql(" AND (resources.created_at > ")
            .int(created_at);
        f.sql(" OR resources.id > ").text(id).sql("))");
        f.bounded()
    }
}

impl<ST> SqlFragment<ST> {
    /// Appends SQL text: schema names and fixed syntax only, never client values.
    pub fn sql(&mut self, s: impl Into<String>) -> &mut Self {
        self.parts.push(Part::Sql(s.into()));
        self
    }

    /// Appends a text bind parameter.
    pub fn text(&mut self, v: impl Into<String>) -> &mut Self {
        self.parts.push(Part::Text(v.into()));
        self
    }
}

impl<ST> QueryFragment<Db> for SqlFragment<ST> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Db>) -> QueryResult<()> {
        if !self.bounded {
            out.unsafe_to_cache_prepared();
        }
        for part in &self.parts {
            match part {
                Part::Sql(s) => out.push_sql(s),
                Part::Text(v) => out.push_bind_param::<Text, _>(v)?,
                Part::Bool(v) => out.push_bind_param::<Bool, _>(v)?,
                Part::Int(v) => out.push_bind_param::<BigInt, _>(v)?,
                Part::Double(v) => out.push_bind_param::<Double, _>(v)?,
            }
        }
        Ok(())
    }
}

impl<ST: 'static> QueryId for SqlFragment<ST> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<ST: TypedExpressionType> Expression for SqlFragment<ST> {
    type SqlType = ST;
}

impl<QS, ST: TypedExpressionType> AppearsOnTable<QS> for SqlFragment<ST> {}
impl<QS, ST: TypedExpressionType> SelectableExpression<QS> for SqlFragment<ST> {}
impl<ST> ValidGrouping<()> for SqlFragment<ST> {
    type IsAggregate = is_aggregate::No;
}

/// A whole raw query (loaded with `QueryableByName` rows, or executed).
pub type RawQuery = SqlFragment<Untyped>;

impl Query for RawQuery {
    type SqlType = Untyped;
}

impl<Conn> RunQueryDsl<Conn> for RawQuery {}

impl<ST> SqlFragment<ST> {
    /// Appends a big-integer bind parameter.
    pub fn int(&mut self, v: i64) -> &mut Self {
        self.parts.push(Part::Int(v));
        self
    }

    /// Appends `(?, ?, …)` binding each text value: an `IN` list.
    pub fn text_list(&mut self, values: &[String]) -> &mut Self {
        self.sql("(");
        for (i, v) in values.iter().enumerate() {
            if i > 0 {
                self.sql(", ");
            }
            self.text(v.clone());
        }
        self.sql(")")
    }
}

/// A statement of fixed text without parameters (a SAVEPOINT), run on a backend's own
/// connection and kept prepared, keyed by its text: diesel prepares every raw query anew.
#[derive(Debug, Clone, Copy)]
pub struct Fixed(pub &'static str);

impl<DB: Backend> QueryFragment<DB> for Fixed {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql(self.0);
        Ok(())
    }
}

impl QueryId for Fixed {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<C> RunQueryDsl<C> for Fixed {}

/// `UPDATE table SET … WHERE … [RETURNING column]` with a changeset that sets the same columns
/// every time (a fixed assignment, or a row whose absent values are written as NULL), run on a
/// backend's own connection. Diesel keeps no prepared statement for any UPDATE, because a
/// changeset that skips absent values varies in its text; this one's text never varies, so it
/// stays prepared like a SELECT.
#[derive(Debug, Clone, Copy)]
pub struct Update<F, V, W, ST = ()> {
    table: F,
    values: V,
    filter: W,
    returning: Option<&'static str>,
    sql_type: PhantomData<ST>,
}

impl<F, V, W> Update<F, V, W> {
    /// Sets `values` in the rows of `table` that meet `filter`.
    pub fn new<T>(
        table: T,
        values: impl diesel::AsChangeset<Target = T, Changeset = V>,
        filter: W,
    ) -> Self
    where
        T: diesel::Table + diesel::QuerySource<FromClause = F>,
    {
        Self {
            table: table.from_clause(),
            values: values.as_changeset(),
            filter,
            returning: None,
            sql_type: PhantomData,
        }
    }

    /// Returns column `C` of each updated row.
    pub fn returning<C: diesel::Column>(self) -> Update<F, V, W, C::SqlType> {
        Update {
            table: self.table,
            values: self.values,
            filter: self.filter,
            returning: Some(C::NAME),
            sql_type: PhantomData,
        }
    }
}

impl<DB, F, V, W, ST> QueryFragment<DB> for Update<F, V, W, ST>
where
    DB: Backend,
    F: QueryFragment<DB>,
    V: QueryFragment<DB>,
    W: QueryFragment<DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql("UPDATE ");
        self.table.walk_ast(out.reborrow())?;
        out.push_sql(" SET ");
        self.values.walk_ast(out.reborrow())?;
        out.push_sql(" WHERE ");
        self.filter.walk_ast(out.reborrow())?;
        if let Some(column) = self.returning {
            out.push_sql(" RETURNING ");
            out.push_identifier(column)?;
        }
        Ok(())
    }
}

impl<F, V, W, ST> QueryId for Update<F, V, W, ST> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<F, V, W, ST: TypedExpressionType> Query for Update<F, V, W, ST> {
    type SqlType = ST;
}

impl<F, V, W, ST, C> RunQueryDsl<C> for Update<F, V, W, ST> {}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use diesel::connection::{Instrumentation, InstrumentationEvent, SimpleConnection};
    use diesel::prelude::*;

    use super::{Fixed, Update};
    use crate::storage::schema::tenants;

    /// Counts the statements a connection prepares to keep.
    struct Kept(Arc<Mutex<Vec<String>>>);

    impl Instrumentation for Kept {
        fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
            if let InstrumentationEvent::CacheQuery { sql, .. } = event {
                self.0.lock().expect("lock").push(sql.to_owned());
            }
        }
    }

    #[test]
    fn updates_and_savepoints_are_prepared_once_and_reused() {
        let mut c = SqliteConnection::establish(":memory:").expect("open");
        c.batch_execute(
            "CREATE TABLE tenants (id TEXT PRIMARY KEY, name TEXT NOT NULL, created_at BIGINT \
             NOT NULL, event_seq BIGINT NOT NULL DEFAULT 0); \
             INSERT INTO tenants (id, name, created_at) VALUES ('a', 'A', 0), ('b', 'B', 0);",
        )
        .expect("schema");
        let kept = Arc::new(Mutex::new(Vec::new()));
        c.set_instrumentation(Kept(kept.clone()));
        let mut seqs = Vec::new();
        for tenant in ["a", "b", "a"] {
            Fixed("SAVEPOINT w").execute(&mut c).expect("savepoint");
            let bump = Update::new(
                tenants::table,
                tenants::event_seq.eq(tenants::event_seq + 1),
                tenants::id.eq(tenant),
            )
            .returning::<tenants::event_seq>();
            seqs.push(bump.get_result::<i64>(&mut c).expect("bump"));
            Fixed("RELEASE w").execute(&mut c).expect("release");
        }
        assert_eq!(seqs, [1, 1, 2]);
        let kept = kept.lock().expect("lock");
        assert_eq!(kept.len(), 3, "{kept:?}");
        assert!(kept[1].starts_with("UPDATE `tenants` SET"), "{kept:?}");
    }
}
