//! Rows as diesel reads and writes them.

use diesel::prelude::*;

use super::schema::{credentials, members, resources, tenants};

/// A tenant: one customer organisation of the host app.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, serde::Serialize)]
#[diesel(table_name = tenants)]
pub struct TenantRow {
    /// Its id (a UUID), fixed for its life.
    pub id: String,
    /// Its name, unique in the database.
    pub name: String,
    /// When it was created, in epoch milliseconds.
    pub created_at: i64,
}

/// One SCIM bearer credential of a tenant.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, serde::Serialize, serde::Deserialize)]
#[diesel(table_name = credentials)]
pub struct CredentialRow {
    /// The key id, the part of the token before its secret.
    pub id: String,
    /// The tenant it belongs to.
    pub tenant_id: String,
    /// The argon2id hash of the token's secret (PHC string); the secret itself is never kept.
    pub secret_hash: String,
    /// Epoch milliseconds, as the other times.
    pub created_at: i64,
    /// When it was revoked (a rotation without a grace period).
    pub revoked_at: Option<i64>,
    /// When a rotation's grace period ends it.
    pub expires_at: Option<i64>,
    /// When a request last used it, to the minute.
    pub last_used_at: Option<i64>,
    /// The tenant's schema version, kept with each credential (see `schemas::bump_version`).
    pub schema_version: i64,
    /// The tenant's mode (`live`, `dry_run`, `paused`), kept with each credential likewise
    /// (see `tenants::set_mode`). Absent from exports made before tenants had modes.
    #[serde(default = "live")]
    pub mode: String,
}

fn live() -> String {
    crate::tenant::Mode::Live.as_str().to_owned()
}

/// A stored User or Group: canonical JSON plus the columns extracted for lookups. An absent
/// value is written as NULL (no column has a default), so its INSERT is one statement whatever
/// the row holds, prepared once. Updates are written by [`super::Scope::update`].
#[derive(Debug, Clone, Queryable, Selectable, Insertable, serde::Serialize, serde::Deserialize)]
#[diesel(table_name = resources, treat_none_as_default_value = false)]
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
#[derive(Debug, Clone, Queryable, Selectable, Insertable, serde::Serialize, serde::Deserialize)]
#[diesel(table_name = members)]
pub struct MemberRow {
    pub tenant_id: String,
    pub group_id: String,
    pub member_id: String,
    /// The `display` the client sent with this membership.
    pub display: Option<String>,
}
