//! Users and Groups, always scoped to one tenant.
//!
//! Every query here starts from [`Scope`], which carries the tenant id: there is no function in
//! this module that can reach another tenant's rows.

use std::collections::{HashMap, HashSet};

use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{QueryFragment, QueryId};
use diesel::sqlite::Sqlite;

use super::models::{MemberRow, ResourceRow};
use super::schema::{members, resource_counts, resources};
use super::sql::{Dialect, SortKey, SqlFragment, Update};
use super::{AnyConnection, StoreError};
use super::{Scope, StoreResult};
use crate::scim::validate::MemberRef;

/// Bound parameters per statement stay well below SQLite's and PostgreSQL's limits.
const IN_CHUNK: usize = 500;

/// A member of a group as rendered in `members`, or a group of a user as rendered in `groups`.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct Link {
    /// The group (for `members`) or the user (for `groups`) the link belongs to.
    pub owner_id: String,
    /// The id of the other end.
    pub id: String,
    /// The other end's resource type.
    pub resource_type: String,
    /// The other end's display name.
    pub display: Option<String>,
}

/// Which slice of the ordered matches a list returns.
#[derive(Debug, Clone)]
pub enum Window {
    /// Skip `offset` rows, return up to `limit`.
    Offset { offset: i64, limit: i64 },
    /// Return up to `limit` rows after `(created_at, id)` in creation order (keyset paging:
    /// stable and equally fast at any depth).
    After {
        position: Option<(i64, String)>,
        limit: i64,
    },
}

/// A list query: filter, sort key (descending when `true`) and window.
#[derive(Debug)]
pub struct ListQuery<'f> {
    pub filter: Option<&'f SqlFragment>,
    pub sort: Option<(&'f SortKey, bool)>,
    pub window: Window,
}

/// A page of rows, the number of matches in all, and whether more follow the page.
#[derive(Debug)]
pub struct Listed {
    pub total: i64,
    pub rows: Vec<ResourceRow>,
    pub has_more: bool,
}

type Db = <AnyConnection as Connection>::Backend;
type BoxedResources<'a> = resources::BoxedQuery<'a, Db>;
/// The primary-key condition of one resource: a statement type of its own, so diesel finds its
/// prepared statement by type instead of writing out the SQL to look it up.
type Key<'q> = diesel::dsl::And<
    diesel::dsl::Eq<resources::tenant_id, &'q str>,
    diesel::dsl::Eq<resources::id, &'q str>,
>;

/// A tenant's user by its userName key: a statement type of its own, kept prepared.
type ByUserNameKey<'a, 'q> = diesel::dsl::Filter<
    diesel::dsl::Filter<resources::table, diesel::dsl::Eq<resources::tenant_id, &'a str>>,
    diesel::dsl::Eq<resources::user_name_key, &'q str>,
>;

/// The two statements of a list: its page, and the count of every match.
struct ListStatements<'a> {
    page: diesel::dsl::Select<BoxedResources<'a>, diesel::dsl::AsSelect<ResourceRow, Db>>,
    count: Count<'a>,
}

/// How a list learns its number of matches.
enum Count<'a> {
    /// Unfiltered: the count the triggers keep per tenant and type (see the migration
    /// `resource_counts`).
    Kept(resource_counts::BoxedQuery<'a, Db, diesel::sql_types::BigInt>),
    /// Filtered: every match counted.
    Matching(diesel::dsl::Select<BoxedResources<'a>, diesel::dsl::CountStar>),
}

impl Count<'_> {
    fn get(self, conn: &mut AnyConnection) -> StoreResult<i64> {
        match self {
            // No row yet: the tenant never had one of this type.
            Self::Kept(q) => Ok(q.get_result(conn).optional()?.unwrap_or(0)),
            Self::Matching(q) => Ok(q.get_result(conn)?),
        }
    }

    #[cfg(feature = "internals")]
    fn explain(&self, conn: &mut AnyConnection) -> StoreResult<Vec<String>> {
        match self {
            Self::Kept(q) => super::explain::plan(conn, q),
            Self::Matching(q) => super::explain::plan(conn, q),
        }
    }
}

/// The page `window` takes of at most one match, as [`Scope::list`] pages any matches: the
/// total counts the match whatever the window, a cursor passes it once it is behind.
fn window_of_one(found: Option<ResourceRow>, window: &Window) -> Listed {
    let total = i64::from(found.is_some());
    let count = |n: &i64| usize::try_from(*n).unwrap_or(0);
    let (rows, has_more) = match window {
        Window::Offset { offset, limit } => {
            let rows: Vec<ResourceRow> = found
                .into_iter()
                .skip(count(offset))
                .take(count(limit))
                .collect();
            let more = offset + (rows.len() as i64) < total;
            (rows, more)
        }
        Window::After { position, limit } => {
            let ahead: Vec<ResourceRow> = found
                .into_iter()
                .filter(|r| {
                    position
                        .as_ref()
                        .is_none_or(|(at, id)| (r.created_at, &r.id) > (*at, id))
                })
                .collect();
            let more = ahead.len() > count(limit);
            (ahead.into_iter().take(count(limit)).collect(), more)
        }
    };
    Listed {
        total,
        rows,
        has_more,
    }
}

/// How many more links a read capped at `most` may take after `read`; `None` when it is full.
/// Uncapped reads are limited to `i64::MAX`, so capped and uncapped share one statement.
fn room(most: Option<i64>, read: &[Link]) -> Option<i64> {
    let room = most.unwrap_or(i64::MAX) - read.len() as i64;
    (room > 0).then_some(room)
}

/// The statement reading links (a group's members, or a user's groups) whose owners match
/// `$owners`. A macro rather than a function so each owner condition keeps its own unboxed
/// statement type: one owner compared with `=` is then a statement diesel keeps prepared and
/// finds by its type, without writing out its SQL on every call, where an IN list of varying
/// length is parsed and planned anew each time.
macro_rules! links {
    ($tenant:expr, $owners:expr, members of groups) => {
        links!(@ $tenant, $owners, members::group_id, members::member_id, members::display)
    };
    ($tenant:expr, $owners:expr, groups of members) => {
        links!(@ $tenant, $owners, members::member_id, members::group_id, resources::display)
    };
    (@ $tenant:expr, $owners:expr, $owner:expr, $other:expr, $display:expr) => {
        members::table
            .inner_join(
                resources::table.on(resources::tenant_id
                    .eq(members::tenant_id)
                    .and(resources::id.eq($other))),
            )
            .filter(members::tenant_id.eq($tenant))
            .filter($owners)
            .order(($owner, $other))
            .select(($owner, $other, resources::resource_type, $display))
    };
}

/// Reads the links of `$ids` (owners matched by `$owner`) in chunks of [`IN_CHUNK`], stopping
/// at `$most` links in all: one owner by its prepared statement on the backend's own
/// connection, several by an IN list.
macro_rules! load_links {
    ($conn:expr, $tenant:expr, $ids:expr, $most:expr, $owner:expr, $($kind:tt)+) => {{
        let mut links: Vec<Link> = Vec::new();
        for chunk in $ids.chunks(IN_CHUNK) {
            let Some(room) = room($most, &links) else {
                break;
            };
            links.extend(match chunk {
                [one] => {
                    let query = links!($tenant, $owner.eq(one), $($kind)+).limit(room);
                    native!($conn, |c| query.load(c))?
                }
                many => links!($tenant, $owner.eq_any(many), $($kind)+)
                    .limit(room)
                    .load($conn)?,
            });
        }
        Ok(links)
    }};
}

/// The tenant's resources, users and groups, and their memberships.
impl<'a> Scope<'a> {
    /// The one place where a resource query gets its tenant filter.
    fn of_tenant(&self) -> BoxedResources<'a> {
        resources::table
            .filter(resources::tenant_id.eq(self.tenant.as_str().to_owned()))
            .into_boxed()
    }

    /// The tenant's resources of one type.
    fn of_type(&self, resource_type: &'a str) -> BoxedResources<'a> {
        self.of_tenant()
            .filter(resources::resource_type.eq(resource_type))
    }

    /// Reads one resource of the given type.
    pub fn get(
        &self,
        conn: &mut AnyConnection,
        resource_type: &'a str,
        id: &str,
    ) -> StoreResult<Option<ResourceRow>> {
        let row = native!(conn, |c| resources::table
            .filter(self.key(id))
            .select(ResourceRow::as_select())
            .get_result(c)
            .optional())?;
        Ok(row.filter(|r| r.resource_type == resource_type))
    }

    /// Up to `limit` resources of a type in id order, after id `after`: a tenant-wide pass in
    /// bounded pages (an admin's schema change), each page one range read of the primary key.
    pub fn page_by_id(
        &self,
        conn: &mut AnyConnection,
        resource_type: &'a str,
        after: &str,
        limit: i64,
    ) -> StoreResult<Vec<ResourceRow>> {
        let query = self
            .of_tenant()
            .filter(resources::id.gt(after.to_owned()))
            .filter(resources::resource_type.eq(resource_type))
            .order(resources::id)
            .limit(limit)
            .select(ResourceRow::as_select());
        Ok(query.load(conn)?)
    }

    /// The primary-key lookup of one resource, by tenant and id alone: with the resource type
    /// in the condition too, PostgreSQL without statistics (a table not yet analysed, as after
    /// an initial sync) picked indexes led by (tenant, type) and walked the whole tenant. The
    /// callers check the type of what they find.
    fn key<'q>(&self, id: &'q str) -> Key<'q>
    where
        'a: 'q,
    {
        resources::tenant_id
            .eq(self.tenant.as_str())
            .and(resources::id.eq(id))
    }

    /// The statements a list runs: one function for [`Scope::list`] and [`Scope::explain_list`],
    /// so what is explained is what is run.
    fn list_statements(
        &self,
        dialect: Dialect,
        resource_type: &'a str,
        q: &ListQuery<'_>,
    ) -> ListStatements<'a> {
        let matching = || match q.filter {
            // A unique key names its row without the type, as the primary key does in
            // `key`, and for the same reason.
            Some(f) if f.is_unique() => self.of_tenant().filter(f.clone()),
            Some(f) => self.of_type(resource_type).filter(f.clone()),
            None => self.of_type(resource_type),
        };
        let mut query = matching();
        // Ties, and every unsorted list, fall back to creation order: stable across pages.
        // PostgreSQL already sorts NULLs last ascending and first descending; SQLite sorts them
        // first ascending, so a key that can be NULL says so.
        let nulls = |key: &SortKey| key.nullable && dialect == Dialect::Sqlite;
        query = match q.sort {
            Some((key, false)) => {
                if nulls(key) {
                    query = query.then_order_by(SqlFragment::is_null(&key.expr).asc());
                }
                query
                    .then_order_by(key.expr.clone().asc())
                    .then_order_by((resources::created_at.asc(), resources::id.asc()))
            }
            Some((key, true)) => {
                if nulls(key) {
                    query = query.then_order_by(SqlFragment::is_null(&key.expr).desc());
                }
                query
                    .then_order_by(key.expr.clone().desc())
                    .then_order_by((resources::created_at.desc(), resources::id.desc()))
            }
            None if q.filter.is_some_and(SqlFragment::is_unique) => query,
            None => query.order_by((resources::created_at.asc(), resources::id.asc())),
        };
        query = match &q.window {
            Window::Offset { offset, limit } => query.offset(*offset).limit(*limit),
            Window::After { position, limit } => {
                if let Some((created_at, id)) = position {
                    query = query.filter(SqlFragment::after(*created_at, id.clone()));
                }
                // One row more than the page tells whether another page follows.
                query.limit(limit + 1)
            }
        };
        let count = match q.filter {
            None => Count::Kept(
                resource_counts::table
                    .filter(resource_counts::tenant_id.eq(self.tenant.as_str()))
                    .filter(resource_counts::resource_type.eq(resource_type))
                    .select(resource_counts::n)
                    .into_boxed(),
            ),
            Some(_) => Count::Matching(matching().select(diesel::dsl::count_star())),
        };
        ListStatements {
            page: query.select(ResourceRow::as_select()),
            count,
        }
    }

    /// The lookup of a user by its userName key: the statement [`Scope::list`] runs for a
    /// filter marked [`SqlFragment::by_user_name_key`].
    fn by_user_name_key<'q>(&self, key: &'q str) -> ByUserNameKey<'a, 'q> {
        resources::table
            .filter(resources::tenant_id.eq(self.tenant.as_str()))
            .filter(resources::user_name_key.eq(key))
    }

    /// One page of the resources matching `q.filter`, and how many match in all.
    pub fn list(
        &self,
        conn: &mut AnyConnection,
        resource_type: &'a str,
        q: &ListQuery<'_>,
    ) -> StoreResult<Listed> {
        if let Some(key) = q.filter.and_then(SqlFragment::user_name_key) {
            let lookup = self.by_user_name_key(key);
            let found = native!(conn, |c| lookup
                .select(ResourceRow::as_select())
                .get_result(c)
                .optional())?;
            return Ok(window_of_one(found, &q.window));
        }
        let statements = self.list_statements(Dialect::of(conn), resource_type, q);
        // A page shorter than asked for ends the matches, so its length gives the total: a
        // lookup (userName eq, externalId eq) is one statement, not a count and a page.
        let (mut rows, known_total) = match &q.window {
            Window::Offset { limit: 0, .. } => (Vec::new(), None),
            Window::Offset { offset, limit } => {
                let rows: Vec<ResourceRow> = statements.page.load(conn)?;
                let ends = (rows.len() as i64) < *limit && (*offset == 0 || !rows.is_empty());
                let total = offset + rows.len() as i64;
                (rows, ends.then_some(total))
            }
            Window::After { position, limit } => {
                let rows: Vec<ResourceRow> = statements.page.load(conn)?;
                let ends = position.is_none() && rows.len() as i64 <= *limit;
                let total = rows.len() as i64;
                (rows, ends.then_some(total))
            }
        };
        let total = match known_total {
            Some(total) => total,
            None => statements.count.get(conn)?,
        };
        let has_more = match &q.window {
            Window::Offset { offset, .. } => offset + (rows.len() as i64) < total,
            Window::After { limit, .. } => {
                let more = rows.len() as i64 > *limit;
                rows.truncate(usize::try_from(*limit).unwrap_or(0));
                more
            }
        };
        Ok(Listed {
            total,
            rows,
            has_more,
        })
    }

    /// The query plans of the statements [`Scope::list`] runs for `q`: the page's, then the
    /// count's (run when the page is full), or the one lookup of a userName key; each a line per
    /// plan step: lets a test see which index a list uses.
    #[cfg(feature = "internals")]
    pub fn explain_list(
        &self,
        conn: &mut AnyConnection,
        resource_type: &'a str,
        q: &ListQuery<'_>,
    ) -> StoreResult<Vec<String>> {
        if let Some(key) = q.filter.and_then(SqlFragment::user_name_key) {
            // One statement: its row count is the total.
            let lookup = self.by_user_name_key(key).select(ResourceRow::as_select());
            return Ok(vec![super::explain::plan(conn, &lookup)?.join("\n")]);
        }
        let statements = self.list_statements(Dialect::of(conn), resource_type, q);
        Ok(vec![
            super::explain::plan(conn, &statements.page)?.join("\n"),
            statements.count.explain(conn)?.join("\n"),
        ])
    }

    /// Inserts a new resource; the row must belong to this scope's tenant.
    pub fn insert(&self, conn: &mut AnyConnection, row: &ResourceRow) -> Result<(), StoreError> {
        debug_assert_eq!(row.tenant_id, self.tenant.as_str());
        let insert = diesel::insert_into(resources::table).values(row);
        Ok(native!(conn, |c| insert.execute(c)).map(drop)?)
    }

    /// Reads one resource for update: inside a write transaction no other writer can change it
    /// until the transaction ends (SQLite's `BEGIN IMMEDIATE` already serialises writers;
    /// PostgreSQL takes a row lock).
    pub fn lock(
        &self,
        conn: &mut AnyConnection,
        resource_type: &'a str,
        id: &str,
    ) -> StoreResult<Option<ResourceRow>> {
        let row = match conn {
            AnyConnection::Postgresql(pg) => resources::table
                .filter(self.key(id))
                .select(ResourceRow::as_select())
                .for_update()
                .get_result(pg)
                .optional()?,
            AnyConnection::Sqlite(_) => return self.get(conn, resource_type, id),
        };
        // Locking a row of the other type changes nothing: it is not written.
        Ok(row.filter(|r| r.resource_type == resource_type))
    }

    /// Replaces resource `old` with `new` if `old` is still the stored version; returns whether
    /// it did, so a concurrent writer is detected instead of overwritten.
    pub fn update(
        &self,
        conn: &mut AnyConnection,
        old: &ResourceRow,
        new: &ResourceRow,
    ) -> Result<bool, StoreError> {
        let update = self.update_statement(old, new);
        Ok(native!(conn, |c| update.execute(c))? == 1)
    }

    /// The statement of [`Scope::update`]. It sets the columns no index covers and, of the
    /// indexed ones, only those whose values change: SQLite deletes and reinserts the entry of
    /// every index on a column the SET names, changed or not. The key, type and creation time
    /// never change. At most 16 texts, each kept prepared.
    fn update_statement<'r>(
        &self,
        old: &'r ResourceRow,
        new: &'r ResourceRow,
    ) -> impl QueryFragment<Sqlite>
    + QueryFragment<Pg>
    + QueryId
    + RunQueryDsl<SqliteConnection>
    + RunQueryDsl<PgConnection>
    + 'r
    where
        'a: 'r,
    {
        use resources::*;
        let changed = |was: &Option<String>, is: &Option<String>| was != is;
        Update::new(
            table,
            (
                (
                    active.eq(&new.active),
                    email_lc.eq(&new.email_lc),
                    display.eq(&new.display),
                    modified_at.eq(new.modified_at),
                    version.eq(new.version),
                    password_hash.eq(&new.password_hash),
                    doc.eq(&new.doc),
                ),
                changed(&old.user_name_lc, &new.user_name_lc)
                    .then(|| user_name_lc.eq(&new.user_name_lc)),
                changed(&old.user_name_key, &new.user_name_key)
                    .then(|| user_name_key.eq(&new.user_name_key)),
                changed(&old.external_id, &new.external_id)
                    .then(|| external_id.eq(&new.external_id)),
                changed(&old.display_name_lc, &new.display_name_lc)
                    .then(|| display_name_lc.eq(&new.display_name_lc)),
            ),
            self.key(&new.id).and(version.eq(old.version)),
        )
    }

    /// Deletes a resource of the given type (memberships go with it); returns whether it existed.
    pub fn delete(
        &self,
        conn: &mut AnyConnection,
        resource_type: &str,
        id: &str,
    ) -> StoreResult<bool> {
        let delete = diesel::delete(
            resources::table
                .filter(self.key(id))
                .filter(resources::resource_type.eq(resource_type)),
        );
        Ok(native!(conn, |c| delete.execute(c))? == 1)
    }

    /// Of `ids`, those that exist in this tenant, with their resource types.
    pub fn existing(
        &self,
        conn: &mut AnyConnection,
        ids: &[String],
    ) -> StoreResult<Vec<(String, String)>> {
        let mut found = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(IN_CHUNK) {
            found.extend(
                resources::table
                    .filter(resources::tenant_id.eq(self.tenant.as_str()))
                    .filter(resources::id.eq_any(chunk))
                    .select((resources::id, resources::resource_type))
                    .load::<(String, String)>(conn)?,
            );
        }
        Ok(found)
    }

    /// The members of each of `group_ids`, in one query per chunk of groups; with `most`, only
    /// the first `most` links in all.
    pub fn members_of(
        &self,
        conn: &mut AnyConnection,
        group_ids: &[String],
        most: Option<i64>,
    ) -> StoreResult<Vec<Link>> {
        let tenant = self.tenant.as_str();
        load_links!(conn, tenant, group_ids, most, members::group_id, members of groups)
    }

    /// The groups each of `member_ids` belongs to directly, in one query per chunk; with
    /// `most`, only the first `most` links in all.
    pub fn groups_of(
        &self,
        conn: &mut AnyConnection,
        member_ids: &[String],
        most: Option<i64>,
    ) -> StoreResult<Vec<Link>> {
        let tenant = self.tenant.as_str();
        load_links!(conn, tenant, member_ids, most, members::member_id, groups of members)
    }

    /// The plan of the statement [`Scope::groups_of`] runs for `member_ids` (at most one
    /// chunk): rendering a user runs it, so it must read only that user's memberships.
    #[cfg(feature = "internals")]
    pub fn explain_groups_of(
        &self,
        conn: &mut AnyConnection,
        member_ids: &[String],
    ) -> StoreResult<String> {
        let tenant = self.tenant.as_str();
        let plan = match member_ids {
            [one] => super::explain::plan(
                conn,
                &links!(tenant, members::member_id.eq(one), groups of members).limit(i64::MAX),
            ),
            many => super::explain::plan(
                conn,
                &links!(tenant, members::member_id.eq_any(many), groups of members).limit(i64::MAX),
            ),
        };
        Ok(plan?.join("\n"))
    }

    /// The member ids of a group; with `among`, only those of `among` that are members.
    pub fn member_ids(
        &self,
        conn: &mut AnyConnection,
        group_id: &str,
        among: Option<&[String]>,
    ) -> StoreResult<Vec<String>> {
        let of_group = || {
            members::table
                .filter(members::tenant_id.eq(self.tenant.as_str()))
                .filter(members::group_id.eq(group_id.to_owned()))
                .select(members::member_id)
                .into_boxed()
        };
        let Some(among) = among else {
            return Ok(of_group().load(conn)?);
        };
        let mut found = Vec::new();
        for chunk in among.chunks(IN_CHUNK) {
            found.extend(
                of_group()
                    .filter(members::member_id.eq_any(chunk))
                    .load::<String>(conn)?,
            );
        }
        Ok(found)
    }

    /// Adds members to a group; ids already members are left as they are. Returns the ids added.
    /// Callers hold the group's row lock, so nobody adds the same member in between.
    pub fn add_members(
        &self,
        conn: &mut AnyConnection,
        group_id: &str,
        member_ids: &[String],
        refs: &[MemberRef],
    ) -> StoreResult<Vec<String>> {
        let display: HashMap<&str, &str> = refs
            .iter()
            .filter_map(|r| Some((r.value.as_str(), r.display.as_deref()?)))
            .collect();
        let present: HashSet<String> = self
            .member_ids(conn, group_id, Some(member_ids))?
            .into_iter()
            .collect();
        let mut seen = HashSet::new();
        let added: Vec<String> = member_ids
            .iter()
            .filter(|m| !present.contains(*m) && seen.insert(m.as_str()))
            .cloned()
            .collect();
        for chunk in added.chunks(IN_CHUNK) {
            let rows: Vec<MemberRow> = chunk
                .iter()
                .map(|m| MemberRow {
                    tenant_id: self.tenant.as_str().to_owned(),
                    group_id: group_id.to_owned(),
                    member_id: m.clone(),
                    display: display.get(m.as_str()).map(|d| (*d).to_owned()),
                })
                .collect();
            // Multi-row inserts are written per backend: diesel's MultiBackend has no DEFAULT keyword.
            match conn {
                AnyConnection::Postgresql(c) => diesel::insert_into(members::table)
                    .values(&rows)
                    .execute(c)?,
                AnyConnection::Sqlite(c) => diesel::insert_into(members::table)
                    .values(&rows)
                    .execute(c)?,
            };
        }
        Ok(added)
    }

    /// Removes the given members from a group; returns the ids that were members.
    pub fn remove_members(
        &self,
        conn: &mut AnyConnection,
        group_id: &str,
        member_ids: &[String],
    ) -> StoreResult<Vec<String>> {
        let removed = self.member_ids(conn, group_id, Some(member_ids))?;
        for chunk in removed.chunks(IN_CHUNK) {
            diesel::delete(
                members::table
                    .filter(members::tenant_id.eq(self.tenant.as_str()))
                    .filter(members::group_id.eq(group_id))
                    .filter(members::member_id.eq_any(chunk)),
            )
            .execute(conn)?;
        }
        Ok(removed)
    }

    /// Removes every member of a group; returns the ids that were members.
    pub fn clear_members(
        &self,
        conn: &mut AnyConnection,
        group_id: &str,
    ) -> StoreResult<Vec<String>> {
        let removed = self.member_ids(conn, group_id, None)?;
        diesel::delete(
            members::table
                .filter(members::tenant_id.eq(self.tenant.as_str()))
                .filter(members::group_id.eq(group_id)),
        )
        .execute(conn)?;
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use diesel::sqlite::Sqlite;

    use super::{Scope, Window, window_of_one};
    use crate::storage::models::ResourceRow;
    use crate::tenant::TenantId;

    fn user() -> ResourceRow {
        ResourceRow {
            tenant_id: "t".into(),
            id: "u".into(),
            resource_type: "User".into(),
            user_name_lc: Some("ann".into()),
            external_id: Some("e1".into()),
            display_name_lc: None,
            active: Some(true),
            email_lc: None,
            display: Some("ann".into()),
            created_at: 1,
            modified_at: 1,
            version: 1,
            password_hash: None,
            doc: "{}".into(),
            user_name_key: Some("ann".into()),
        }
    }

    /// The columns the SET clause of the update from `old` to `new` names.
    fn set_columns(old: &ResourceRow, new: &ResourceRow) -> String {
        let tenant = TenantId::from_stored("t".to_owned());
        let scope = Scope::new(&tenant);
        let sql = diesel::debug_query::<Sqlite, _>(&scope.update_statement(old, new)).to_string();
        let set = sql.split(" SET ").nth(1).expect("a SET clause");
        set.split(" WHERE ")
            .next()
            .expect("a WHERE clause")
            .to_owned()
    }

    #[test]
    fn a_lookup_by_key_pages_its_one_match_as_a_list_does() {
        let page = |window: Window| {
            let l = window_of_one(Some(user()), &window);
            (l.total, l.rows.len(), l.has_more)
        };
        let offset = |offset, limit| Window::Offset { offset, limit };
        let after = |position: Option<(i64, &str)>, limit| Window::After {
            position: position.map(|(at, id)| (at, id.to_owned())),
            limit,
        };
        assert_eq!(page(offset(0, 100)), (1, 1, false));
        assert_eq!(page(offset(0, 0)), (1, 0, true));
        assert_eq!(page(offset(1, 100)), (1, 0, false));
        assert_eq!(page(after(None, 100)), (1, 1, false));
        assert_eq!(page(after(None, 0)), (1, 0, true));
        assert_eq!(page(after(Some((1, "t")), 100)), (1, 1, false));
        assert_eq!(page(after(Some((1, "u")), 100)), (1, 0, false));
        assert_eq!(page(after(Some((2, "a")), 100)), (1, 0, false));
        let none = window_of_one(None, &offset(0, 100));
        assert_eq!((none.total, none.rows.len(), none.has_more), (0, 0, false));
    }

    #[test]
    fn an_update_names_only_the_indexed_columns_it_changes() {
        let old = user();
        let mut new = user();
        new.active = Some(false);
        new.version = 2;
        let set = set_columns(&old, &new);
        assert!(
            set.contains("`active`") && set.contains("`version`"),
            "{set}"
        );
        for indexed in [
            "`tenant_id`",
            "`id`",
            "`resource_type`",
            "`created_at`",
            "`user_name_lc`",
            "`user_name_key`",
            "`external_id`",
            "`display_name_lc`",
        ] {
            assert!(!set.contains(indexed), "{indexed} in {set}");
        }
        new.external_id = None;
        let set = set_columns(&old, &new);
        assert!(set.contains("`external_id`"), "{set}");
        assert!(!set.contains("`user_name_lc`"), "{set}");
    }
}
