//! The provisioning log: one row per SCIM request of a tenant.

use diesel::prelude::*;

use super::AnyConnection;
use super::Scope;
use super::StoreResult;
use super::schema::log_shape_keys as keys;
use super::schema::provisioning_log as log;

/// One logged request. An absent value is written as NULL (no column has a default), so its
/// INSERT is one statement whatever the row holds, prepared once.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = log, treat_none_as_default_value = false)]
pub struct LogRow {
    pub tenant_id: String,
    /// Sortable: the time in milliseconds, zero-padded, then a random part.
    pub id: String,
    pub at: i64,
    pub method: String,
    pub path: String,
    pub status: i32,
    pub resource_type: Option<String>,
    pub resource_id: Option<String>,
    pub latency_ms: i64,
    pub scim_type: Option<String>,
    pub detail: Option<String>,
    pub user_agent: Option<String>,
    /// The request body's shape (JSON text, see `events::shape`); `None` for a bodiless
    /// request, or one whose body was not JSON.
    pub shape: Option<String>,
}

impl LogRow {
    /// An entry of `tenant_id` at `at` (milliseconds) with no outcome yet: the id sorts by time.
    pub fn new(tenant_id: String, at: i64, method: String, path: String) -> Self {
        Self {
            tenant_id,
            id: format!("{at:013}-{}", uuid::Uuid::new_v4().simple()),
            at,
            method,
            path,
            status: 0,
            resource_type: None,
            resource_id: None,
            latency_ms: 0,
            scim_type: None,
            detail: None,
            user_agent: None,
            shape: None,
        }
    }
}

/// Writes a batch of entries: on PostgreSQL in multi-row statements (one round trip each), on
/// SQLite one prepared single-row statement run per entry (an in-process call; a multi-row
/// statement would be written out and parsed again for each batch size).
pub fn insert(conn: &mut AnyConnection, rows: &[LogRow]) -> StoreResult<()> {
    match conn {
        AnyConnection::Postgresql(c) => {
            for chunk in rows.chunks(200) {
                diesel::insert_into(log::table).values(chunk).execute(c)?;
            }
        }
        AnyConnection::Sqlite(c) => {
            for row in rows {
                diesel::insert_into(log::table).values(row).execute(c)?;
            }
        }
    }
    Ok(())
}

/// Which entries to read, newest first.
#[derive(Debug, Clone, Default)]
pub struct LogQuery {
    /// An exact status (`404`) or a class (`4` for 4xx).
    pub status: Option<StatusFilter>,
    pub since: Option<i64>,
    pub until: Option<i64>,
    /// Entries older than this id (the previous page's cursor).
    pub before: Option<String>,
    pub limit: i64,
}

/// A status, or a class of statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusFilter {
    Exact(i32),
    Class(i32),
}

/// A page of a tenant's log.
pub fn read(conn: &mut AnyConnection, scope: &Scope<'_>, q: &LogQuery) -> StoreResult<Vec<LogRow>> {
    let tenant_id = scope.id();
    let mut query = log::table
        .filter(log::tenant_id.eq(tenant_id.to_owned()))
        .into_boxed();
    match q.status {
        Some(StatusFilter::Exact(s)) => query = query.filter(log::status.eq(s)),
        Some(StatusFilter::Class(c)) => {
            query = query
                .filter(log::status.ge(c * 100))
                .filter(log::status.lt(c * 100 + 100))
        }
        None => {}
    }
    // An id begins with its entry's time, zero-padded: the time bounds are a range of the key.
    if let Some(since) = q.since {
        query = query
            .filter(log::id.ge(format!("{since:013}")))
            .filter(log::at.ge(since));
    }
    if let Some(until) = q.until {
        query = query
            .filter(log::id.lt(format!("{until:013}")))
            .filter(log::at.lt(until));
    }
    if let Some(before) = &q.before {
        query = query.filter(log::id.lt(before.clone()));
    }
    Ok(query
        .order(log::id.desc())
        .limit(q.limit)
        .select(LogRow::as_select())
        .load(conn)?)
}

/// The tenant's entries from `since` (inclusive) to `until` (exclusive), oldest first: the
/// newest `limit` of them when there are more.
pub fn window(
    conn: &mut AnyConnection,
    scope: &Scope<'_>,
    since: i64,
    until: i64,
    limit: i64,
) -> StoreResult<Vec<LogRow>> {
    let mut rows = read(
        conn,
        scope,
        &LogQuery {
            since: Some(since),
            until: Some(until),
            limit,
            ..LogQuery::default()
        },
    )?;
    rows.reverse();
    Ok(rows)
}

/// The tenant's entries of these ids (a finding's evidence), newest first; pruned ones are gone.
pub fn by_ids(
    conn: &mut AnyConnection,
    scope: &Scope<'_>,
    ids: &[String],
) -> StoreResult<Vec<LogRow>> {
    Ok(log::table
        .filter(log::tenant_id.eq(scope.id().to_owned()))
        .filter(log::id.eq_any(ids))
        .order(log::id.desc())
        .select(LogRow::as_select())
        .load(conn)?)
}

/// Deletes every entry older than `cutoff`; returns how many.
pub fn prune(conn: &mut AnyConnection, cutoff: i64) -> StoreResult<usize> {
    Ok(diesel::delete(log::table.filter(log::at.lt(cutoff))).execute(conn)?)
}

/// The name of the deployment's one shape key.
const SHAPE_KEY: &str = "default";

/// The deployment's secret for the placeholders of request shapes, made on first use. Two
/// instances starting on an empty database may both make one: the first written wins, and
/// both read it back.
pub fn shape_secret(conn: &mut AnyConnection) -> StoreResult<String> {
    let read = |c: &mut AnyConnection| {
        keys::table
            .find(SHAPE_KEY)
            .select(keys::secret)
            .first::<String>(c)
            .optional()
    };
    if let Some(secret) = read(conn)? {
        return Ok(secret);
    }
    let secret: String = rand::random::<[u8; 32]>()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let insert = diesel::insert_into(keys::table)
        .values((
            keys::id.eq(SHAPE_KEY),
            keys::secret.eq(secret),
            keys::created_at.eq(super::now_millis()),
        ))
        .on_conflict_do_nothing();
    native!(conn, |c| insert.execute(c))?;
    Ok(keys::table
        .find(SHAPE_KEY)
        .select(keys::secret)
        .first::<String>(conn)?)
}
