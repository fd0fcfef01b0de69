//! A tenant's rows as they are stored, read out one at a time and written back in batches: what
//! moving a tenant to another database (or backend) copies. The unique values' index goes with
//! the rest, so nothing is recomputed, but for the resource counts, which the database's
//! triggers keep as resources are inserted; logs, delivery attempts, portal links and sessions
//! stay behind.

use diesel::connection::DefaultLoadingMode;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::cursors::CursorRow;
use super::events::EventRow;
use super::models::{CredentialRow, MemberRow, ResourceRow};
use super::schema::{
    credentials, event_cursors, events, members, resources, role_mappings, set_acks,
    tenant_schemas, tenants, unique_values, webhooks,
};
use super::schemas::SchemaRow;
use super::{AnyConnection, Scope, StoreResult};

/// A tenant's own row, every column.
#[derive(
    Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable, Serialize, Deserialize,
)]
#[diesel(table_name = tenants)]
pub struct TenantRecord {
    pub id: String,
    pub name: String,
    pub created_at: i64,
    pub event_seq: i64,
    pub default_role: Option<String>,
    pub attribute_mapping: Option<String>,
    pub schema_version: i64,
    pub unknown_extensions: String,
    /// Absent from exports written before entitlements were configurable.
    #[serde(default)]
    pub entitlements: Option<String>,
}

/// One held value of a unique extension attribute.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, Serialize, Deserialize)]
#[diesel(table_name = unique_values)]
pub struct UniqueRecord {
    pub tenant_id: String,
    pub resource_type: String,
    pub attribute: String,
    pub value_key: String,
    pub resource_id: String,
}

/// One group-to-role mapping.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, Serialize, Deserialize)]
#[diesel(table_name = role_mappings)]
pub struct RoleMappingRecord {
    pub tenant_id: String,
    pub group_ref: String,
    pub role: String,
}

/// A tenant's webhook. Its signing secret is never written out: the importer sets a new one.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, Serialize, Deserialize)]
#[diesel(table_name = webhooks)]
pub struct WebhookRecord {
    pub tenant_id: String,
    pub url: String,
    #[serde(skip)]
    pub secret: String,
    pub enabled: bool,
    pub delivered_seq: i64,
    pub failures: i32,
    pub next_attempt_at: i64,
    pub disabled_reason: Option<String>,
    pub created_at: i64,
    /// Absent from exports made before webhooks had a format: those were Standard Webhooks.
    #[serde(default = "standard_webhooks")]
    pub format: String,
}

fn standard_webhooks() -> String {
    "standard_webhooks".into()
}

/// A SET the tenant's poll receiver acknowledged ahead of its position.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, Serialize, Deserialize)]
#[diesel(table_name = set_acks)]
pub struct SetAckRecord {
    pub tenant_id: String,
    pub seq: i64,
}

/// One stored row of a tenant, named by its table.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Row {
    Tenant(TenantRecord),
    Credential(CredentialRow),
    Schema(SchemaRow),
    Resource(ResourceRow),
    Member(MemberRow),
    UniqueValue(UniqueRecord),
    RoleMapping(RoleMappingRecord),
    Event(EventRow),
    Cursor(CursorRow),
    SetAck(SetAckRecord),
    Webhook(WebhookRecord),
}

impl Row {
    /// The tenant the row belongs to.
    pub fn tenant_id(&self) -> &str {
        match self {
            Self::Tenant(r) => &r.id,
            Self::Credential(r) => &r.tenant_id,
            Self::Schema(r) => &r.tenant_id,
            Self::Resource(r) => &r.tenant_id,
            Self::Member(r) => &r.tenant_id,
            Self::UniqueValue(r) => &r.tenant_id,
            Self::RoleMapping(r) => &r.tenant_id,
            Self::Event(r) => &r.tenant_id,
            Self::Cursor(r) => &r.tenant_id,
            Self::SetAck(r) => &r.tenant_id,
            Self::Webhook(r) => &r.tenant_id,
        }
    }

    /// Whether `other` is stored in the same table, so the two can be inserted together.
    pub fn same_table(&self, other: &Self) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other)
    }
}

/// Hands each of a tenant's rows to `visit`, the tenant's own first and every row before those
/// that refer to it (resources before their memberships). Rows are streamed from the
/// database, never all held at once; call it inside one transaction for a consistent copy.
pub fn each_row<E: From<super::StoreError>>(
    conn: &mut AnyConnection,
    scope: &Scope<'_>,
    mut visit: impl FnMut(Row) -> Result<(), E>,
) -> Result<(), E> {
    let id = scope.id();
    macro_rules! stream {
        ($query:expr, $record:ty, $variant:ident) => {
            for row in $query
                .select(<$record>::as_select())
                .load_iter::<$record, DefaultLoadingMode>(conn)
                .map_err(super::StoreError::from)?
            {
                visit(Row::$variant(row.map_err(super::StoreError::from)?))?;
            }
        };
    }
    stream!(tenants::table.find(id), TenantRecord, Tenant);
    stream!(
        credentials::table
            .filter(credentials::tenant_id.eq(id))
            .order(credentials::id),
        CredentialRow,
        Credential
    );
    stream!(
        tenant_schemas::table
            .filter(tenant_schemas::tenant_id.eq(id))
            .order(tenant_schemas::urn),
        SchemaRow,
        Schema
    );
    stream!(
        resources::table
            .filter(resources::tenant_id.eq(id))
            .order(resources::id),
        ResourceRow,
        Resource
    );
    stream!(
        members::table
            .filter(members::tenant_id.eq(id))
            .order((members::group_id, members::member_id)),
        MemberRow,
        Member
    );
    stream!(
        unique_values::table.filter(unique_values::tenant_id.eq(id)),
        UniqueRecord,
        UniqueValue
    );
    stream!(
        role_mappings::table.filter(role_mappings::tenant_id.eq(id)),
        RoleMappingRecord,
        RoleMapping
    );
    stream!(
        events::table
            .filter(events::tenant_id.eq(id))
            .order(events::seq),
        EventRow,
        Event
    );
    stream!(
        event_cursors::table.filter(event_cursors::tenant_id.eq(id)),
        CursorRow,
        Cursor
    );
    stream!(
        set_acks::table
            .filter(set_acks::tenant_id.eq(id))
            .order(set_acks::seq),
        SetAckRecord,
        SetAck
    );
    stream!(
        webhooks::table.filter(webhooks::tenant_id.eq(id)),
        WebhookRecord,
        Webhook
    );
    Ok(())
}

/// Inserts rows of one table (see [`Row::same_table`]) in one statement.
pub fn insert(conn: &mut AnyConnection, rows: Vec<Row>) -> StoreResult<()> {
    macro_rules! insert_all {
        ($table:expr, $variant:ident) => {{
            let rows: Vec<_> = rows
                .into_iter()
                .filter_map(|r| match r {
                    Row::$variant(r) => Some(r),
                    _ => None,
                })
                .collect();
            let statement = diesel::insert_into($table).values(rows);
            native!(conn, |c| statement.execute(c))?;
        }};
    }
    let Some(first) = rows.first() else {
        return Ok(());
    };
    match first {
        Row::Tenant(_) => insert_all!(tenants::table, Tenant),
        Row::Credential(_) => insert_all!(credentials::table, Credential),
        Row::Schema(_) => insert_all!(tenant_schemas::table, Schema),
        Row::Resource(_) => insert_all!(resources::table, Resource),
        Row::Member(_) => insert_all!(members::table, Member),
        Row::UniqueValue(_) => insert_all!(unique_values::table, UniqueValue),
        Row::RoleMapping(_) => insert_all!(role_mappings::table, RoleMapping),
        Row::Event(_) => insert_all!(events::table, Event),
        Row::Cursor(_) => insert_all!(event_cursors::table, Cursor),
        Row::SetAck(_) => insert_all!(set_acks::table, SetAck),
        Row::Webhook(_) => insert_all!(webhooks::table, Webhook),
    }
    Ok(())
}
