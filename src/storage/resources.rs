//! Users and Groups, always scoped to one tenant.
//!
//! Every query here starts from [`Scope`], which carries the tenant id: there is no function in
//! this module that can reach another tenant's rows.

use diesel::prelude::*;

use super::AnyConnection;
use super::filter_sql::SqlFragment;
use super::models::{MemberRow, ResourceRow};
use super::schema::{members, resources};
use crate::tenant::TenantId;

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

/// The storage view of one tenant's resources.
pub struct Scope<'a> {
    tenant: &'a TenantId,
}

type BoxedResources<'a> = resources::BoxedQuery<'a, <AnyConnection as Connection>::Backend>;

impl<'a> Scope<'a> {
    /// Scopes every following query to `tenant`.
    pub fn new(tenant: &'a TenantId) -> Self {
        Self { tenant }
    }

    /// The one place where a resource query gets its tenant and type filter.
    fn of_type(&self, resource_type: &'a str) -> BoxedResources<'a> {
        resources::table
            .filter(resources::tenant_id.eq(self.tenant.as_str().to_owned()))
            .filter(resources::resource_type.eq(resource_type))
            .into_boxed()
    }

    /// Reads one resource of the given type.
    pub fn get(
        &self,
        conn: &mut AnyConnection,
        resource_type: &'a str,
        id: &str,
    ) -> QueryResult<Option<ResourceRow>> {
        self.of_type(resource_type)
            .filter(resources::id.eq(id.to_owned()))
            .select(ResourceRow::as_select())
            .first(conn)
            .optional()
    }

    /// One page of the resources matching `filter`, in creation order, and the total count.
    pub fn list(
        &self,
        conn: &mut AnyConnection,
        resource_type: &'a str,
        filter: Option<&SqlFragment>,
        offset: i64,
        limit: i64,
    ) -> QueryResult<(i64, Vec<ResourceRow>)> {
        let matching = || {
            let q = self.of_type(resource_type);
            match filter {
                Some(f) => q.filter(f.clone()),
                None => q,
            }
        };
        let total = matching().count().get_result(conn)?;
        let rows = if limit == 0 {
            Vec::new()
        } else {
            matching()
                .order((resources::created_at, resources::id))
                .offset(offset)
                .limit(limit)
                .select(ResourceRow::as_select())
                .load(conn)?
        };
        Ok((total, rows))
    }

    /// Inserts a new resource; the row must belong to this scope's tenant.
    pub fn insert(&self, conn: &mut AnyConnection, row: &ResourceRow) -> QueryResult<()> {
        debug_assert_eq!(row.tenant_id, self.tenant.as_str());
        diesel::insert_into(resources::table)
            .values(row)
            .execute(conn)
            .map(drop)
    }

    /// Replaces a resource if its stored version is still `expected_version`; returns whether
    /// it did, so a concurrent writer is detected instead of overwritten.
    pub fn update(
        &self,
        conn: &mut AnyConnection,
        row: &ResourceRow,
        expected_version: i64,
    ) -> QueryResult<bool> {
        let n = diesel::update(
            resources::table
                .filter(resources::tenant_id.eq(self.tenant.as_str()))
                .filter(resources::id.eq(&row.id))
                .filter(resources::version.eq(expected_version)),
        )
        .set(row)
        .execute(conn)?;
        Ok(n == 1)
    }

    /// Deletes a resource of the given type (memberships go with it); returns whether it existed.
    pub fn delete(
        &self,
        conn: &mut AnyConnection,
        resource_type: &str,
        id: &str,
    ) -> QueryResult<bool> {
        let n = diesel::delete(
            resources::table
                .filter(resources::tenant_id.eq(self.tenant.as_str()))
                .filter(resources::resource_type.eq(resource_type))
                .filter(resources::id.eq(id)),
        )
        .execute(conn)?;
        Ok(n == 1)
    }

    /// Of `ids`, those that exist in this tenant, with their resource types.
    pub fn existing(
        &self,
        conn: &mut AnyConnection,
        ids: &[String],
    ) -> QueryResult<Vec<(String, String)>> {
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

    /// The members of each of `group_ids`, in one query per chunk of groups.
    pub fn members_of(
        &self,
        conn: &mut AnyConnection,
        group_ids: &[String],
    ) -> QueryResult<Vec<Link>> {
        let mut links = Vec::new();
        for chunk in group_ids.chunks(IN_CHUNK) {
            links.extend(
                members::table
                    .inner_join(
                        resources::table.on(resources::tenant_id
                            .eq(members::tenant_id)
                            .and(resources::id.eq(members::member_id))),
                    )
                    .filter(members::tenant_id.eq(self.tenant.as_str()))
                    .filter(members::group_id.eq_any(chunk))
                    .order((members::group_id, members::member_id))
                    .select((
                        members::group_id,
                        members::member_id,
                        resources::resource_type,
                        resources::display,
                    ))
                    .load::<Link>(conn)?,
            );
        }
        Ok(links)
    }

    /// The groups each of `member_ids` belongs to directly, in one query per chunk.
    pub fn groups_of(
        &self,
        conn: &mut AnyConnection,
        member_ids: &[String],
    ) -> QueryResult<Vec<Link>> {
        let mut links = Vec::new();
        for chunk in member_ids.chunks(IN_CHUNK) {
            links.extend(
                members::table
                    .inner_join(
                        resources::table.on(resources::tenant_id
                            .eq(members::tenant_id)
                            .and(resources::id.eq(members::group_id))),
                    )
                    .filter(members::tenant_id.eq(self.tenant.as_str()))
                    .filter(members::member_id.eq_any(chunk))
                    .order((members::member_id, members::group_id))
                    .select((
                        members::member_id,
                        members::group_id,
                        resources::resource_type,
                        resources::display,
                    ))
                    .load::<Link>(conn)?,
            );
        }
        Ok(links)
    }

    /// Adds members to a group; ids already members are left as they are.
    pub fn add_members(
        &self,
        conn: &mut AnyConnection,
        group_id: &str,
        member_ids: &[String],
    ) -> QueryResult<()> {
        for chunk in member_ids.chunks(IN_CHUNK) {
            let rows: Vec<MemberRow> = chunk
                .iter()
                .map(|m| MemberRow {
                    tenant_id: self.tenant.as_str().to_owned(),
                    group_id: group_id.to_owned(),
                    member_id: m.clone(),
                })
                .collect();
            // The one upsert: each backend spells "insert unless already there" its own way.
            match conn {
                AnyConnection::Postgresql(c) => diesel::insert_into(members::table)
                    .values(&rows)
                    .on_conflict_do_nothing()
                    .execute(c)?,
                AnyConnection::Sqlite(c) => diesel::insert_or_ignore_into(members::table)
                    .values(&rows)
                    .execute(c)?,
            };
        }
        Ok(())
    }

    /// Removes every member of a group.
    pub fn clear_members(&self, conn: &mut AnyConnection, group_id: &str) -> QueryResult<usize> {
        diesel::delete(
            members::table
                .filter(members::tenant_id.eq(self.tenant.as_str()))
                .filter(members::group_id.eq(group_id)),
        )
        .execute(conn)
    }
}
