//! The provisioning log: one row per SCIM request of a tenant.

use std::collections::HashMap;

use diesel::prelude::*;

use super::AnyConnection;
use super::Scope;
use super::StoreResult;
use super::schema::log_shape_keys as keys;
use super::schema::log_skeletons as skeleton;
use super::schema::provisioning_log as log;
use crate::events::shape::Shape;

/// One logged request.
#[derive(Debug, Clone)]
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
    /// The request body's shape (see `events::shape`); `None` for a bodiless request, one
    /// whose body was not JSON, or one whose skeleton is gone.
    pub shape: Option<Shape>,
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

/// An entry as the table holds it: its shape's skeleton is a reference into `log_skeletons`.
#[derive(Queryable, Selectable)]
#[diesel(table_name = log)]
struct Stored {
    tenant_id: String,
    id: String,
    at: i64,
    method: String,
    path: String,
    status: i32,
    resource_type: Option<String>,
    resource_id: Option<String>,
    latency_ms: i64,
    scim_type: Option<String>,
    detail: Option<String>,
    user_agent: Option<String>,
    skeleton_id: Option<String>,
    shape_hashes: Option<String>,
}

/// The values of an entry's INSERT. An absent value is written as NULL (no column has a
/// default), so the statement is one whatever the row holds, prepared once. A macro: the
/// tuple's type, written out, would be longer than its values.
macro_rules! values {
    ($r:expr) => {{
        let r = $r;
        let shape = r.shape.as_ref();
        (
            log::tenant_id.eq(&r.tenant_id),
            log::id.eq(&r.id),
            log::at.eq(r.at),
            log::method.eq(&r.method),
            log::path.eq(&r.path),
            log::status.eq(r.status),
            log::resource_type.eq(r.resource_type.as_deref()),
            log::resource_id.eq(r.resource_id.as_deref()),
            log::latency_ms.eq(r.latency_ms),
            log::scim_type.eq(r.scim_type.as_deref()),
            log::detail.eq(r.detail.as_deref()),
            log::user_agent.eq(r.user_agent.as_deref()),
            log::skeleton_id.eq(shape.map(|s| s.skeleton_id.as_str())),
            log::shape_hashes.eq(shape.map(|s| s.hashes.as_str())),
        )
    }};
}

/// Writes a batch of entries, and the skeletons of the entries `skeletons` (by index: those
/// the writer has not stored lately), each marked seen at `seen_at`. On PostgreSQL in multi-row
/// statements (one round trip each), on SQLite one prepared single-row statement run per entry
/// (an in-process call; a multi-row statement would be written out and parsed again for each
/// batch size).
pub fn insert(
    conn: &mut AnyConnection,
    rows: &[LogRow],
    skeletons: &[usize],
    seen_at: i64,
) -> StoreResult<()> {
    for r in skeletons.iter().map(|&i| &rows[i]) {
        let Some(shape) = &r.shape else { continue };
        let upsert = diesel::insert_into(skeleton::table)
            .values((
                skeleton::tenant_id.eq(&r.tenant_id),
                skeleton::id.eq(&shape.skeleton_id),
                skeleton::skeleton.eq(&shape.skeleton),
                skeleton::seen_at.eq(seen_at),
            ))
            .on_conflict((skeleton::tenant_id, skeleton::id))
            .do_update()
            .set(skeleton::seen_at.eq(seen_at));
        native!(&mut *conn, |c| upsert.execute(c))?;
    }
    match conn {
        AnyConnection::Postgresql(c) => {
            for chunk in rows.chunks(200) {
                let values: Vec<_> = chunk.iter().map(|r| values!(r)).collect();
                diesel::insert_into(log::table).values(values).execute(c)?;
            }
        }
        AnyConnection::Sqlite(c) => {
            for r in rows {
                diesel::insert_into(log::table)
                    .values(values!(r))
                    .execute(c)?;
            }
        }
    }
    Ok(())
}

/// Reads back the shapes of `stored` entries: their skeletons in one query.
fn with_shapes(
    conn: &mut AnyConnection,
    scope: &Scope<'_>,
    stored: Vec<Stored>,
) -> StoreResult<Vec<LogRow>> {
    let mut ids: Vec<&str> = stored
        .iter()
        .filter_map(|r| r.skeleton_id.as_deref())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let skeletons: HashMap<String, String> = if ids.is_empty() {
        HashMap::new()
    } else {
        skeleton::table
            .filter(skeleton::tenant_id.eq(scope.id()))
            .filter(skeleton::id.eq_any(&ids))
            .select((skeleton::id, skeleton::skeleton))
            .load::<(String, String)>(conn)?
            .into_iter()
            .collect()
    };
    Ok(stored
        .into_iter()
        .map(|r| {
            let shape = match (r.skeleton_id, r.shape_hashes) {
                (Some(id), Some(hashes)) => skeletons.get(&id).map(|skeleton| Shape {
                    skeleton_id: id,
                    skeleton: skeleton.clone(),
                    hashes,
                }),
                _ => None,
            };
            LogRow {
                tenant_id: r.tenant_id,
                id: r.id,
                at: r.at,
                method: r.method,
                path: r.path,
                status: r.status,
                resource_type: r.resource_type,
                resource_id: r.resource_id,
                latency_ms: r.latency_ms,
                scim_type: r.scim_type,
                detail: r.detail,
                user_agent: r.user_agent,
                shape,
            }
        })
        .collect())
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
    let stored = query
        .order(log::id.desc())
        .limit(q.limit)
        .select(Stored::as_select())
        .load(conn)?;
    with_shapes(conn, scope, stored)
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
    let stored = log::table
        .filter(log::tenant_id.eq(scope.id().to_owned()))
        .filter(log::id.eq_any(ids))
        .order(log::id.desc())
        .select(Stored::as_select())
        .load(conn)?;
    with_shapes(conn, scope, stored)
}

/// Deletes every entry older than `cutoff`, and every skeleton not seen since
/// `skeletons_cutoff`; returns how many entries.
pub fn prune(conn: &mut AnyConnection, cutoff: i64, skeletons_cutoff: i64) -> StoreResult<usize> {
    diesel::delete(skeleton::table.filter(skeleton::seen_at.lt(skeletons_cutoff))).execute(conn)?;
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
