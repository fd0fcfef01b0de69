//! Rows as diesel reads and writes them.

use diesel::prelude::*;

use super::schema::{credentials, members, resources, tenants};

/// A tenant: one customer organisation of the host app.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, serde::Serialize)]
#[diesel(table_name = tenants)]
pub struct TenantRow {
    pub id: String,
    pub name: String,
    pub created_at: i64,
}

/// One SCIM bearer credential of a tenant.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = credentials)]
pub struct CredentialRow {
    pub id: String,
    pub tenant_id: String,
    pub secret_hash: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

/// A stored User or Group: canonical JSON plus the columns extracted for lookups. Its
/// changeset leaves out the primary key: an UPDATE that sets `tenant_id`, even to itself, makes
/// SQLite check the memberships referring to the row, every member of a group. An absent value
/// is written as NULL (no column has a default), so its INSERT is one statement whatever the
/// row holds, prepared once.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(
    table_name = resources,
    primary_key(tenant_id, id),
    treat_none_as_null = true,
    treat_none_as_default_value = false
)]
pub struct ResourceRow {
    pub tenant_id: String,
    pub id: String,
    pub resource_type: String,
    pub user_name_lc: Option<String>,
    pub external_id: Option<String>,
    pub display_name_lc: Option<String>,
    pub active: Option<bool>,
    pub email_lc: Option<String>,
    pub display: Option<String>,
    pub created_at: i64,
    pub modified_at: i64,
    pub version: i64,
    pub password_hash: Option<String>,
    pub doc: String,
    /// The userName's comparison key ([`crate::scim::user_name::key`]); unique per tenant.
    pub user_name_key: Option<String>,
}

/// One membership of a group.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = members)]
pub struct MemberRow {
    pub tenant_id: String,
    pub group_id: String,
    pub member_id: String,
    /// The `display` the client sent with this membership.
    pub display: Option<String>,
}

#[cfg(test)]
mod tests {
    use diesel::sqlite::Sqlite;

    use super::*;

    #[test]
    fn an_update_of_a_resource_leaves_its_key_alone() {
        let row = ResourceRow {
            tenant_id: "t".into(),
            id: "g".into(),
            resource_type: "Group".into(),
            user_name_lc: None,
            external_id: None,
            display_name_lc: Some("eng".into()),
            active: None,
            email_lc: None,
            display: Some("Eng".into()),
            created_at: 1,
            modified_at: 2,
            version: 2,
            password_hash: None,
            doc: "{}".into(),
            user_name_key: None,
        };
        let update = diesel::update(resources::table).set(&row);
        let sql = diesel::debug_query::<Sqlite, _>(&update).to_string();
        let set = &sql[sql.find(" SET ").expect("a SET clause")..];
        assert!(set.contains("`version`"), "{sql}");
        assert!(
            !set.contains("`tenant_id`") && !set.contains("`id`"),
            "{sql}"
        );
    }
}
