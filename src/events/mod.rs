//! What the host app hears: events written to the outbox in the same transaction as the change
//! they describe, read back as a pull feed, pushed as signed webhooks or handed to the host's
//! own handler in library mode, plus group-to-role mapping, the provisioning log, and event
//! retention.

pub mod egress;
pub mod handler;
pub mod log;
mod outbox;
pub mod retention;
pub mod roles;
pub mod secevent;
pub mod shape;
pub mod webhooks;

use chrono::{DateTime, SecondsFormat};
use serde_json::{Value, json};

use crate::error::ScimError;
use crate::storage::events::{self as store, EventRow};
use crate::storage::{AnyConnection, Scope, now_millis};

/// The kinds of event, named as the host app sees them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// `user.created`.
    UserCreated,
    /// `user.updated`.
    UserUpdated,
    /// `user.deactivated`: active went false; revoke the user's sessions.
    UserDeactivated,
    /// `user.reactivated`.
    UserReactivated,
    /// `user.deleted`.
    UserDeleted,
    /// `group.created`.
    GroupCreated,
    /// `group.updated`.
    GroupUpdated,
    /// `group.deleted`.
    GroupDeleted,
    /// `group.member_added`.
    GroupMemberAdded,
    /// `group.member_removed`.
    GroupMemberRemoved,
    /// `user.roles_changed`, with `roles` and `previous_roles`.
    UserRolesChanged,
    /// `tenant.secret_rotated`.
    TenantSecretRotated,
    /// `connection.finding`: the connection diagnosis found something the tenant's admin should
    /// fix in the identity provider (or the app's webhook endpoint).
    ConnectionFinding,
}

impl EventType {
    const ALL: [Self; 13] = [
        Self::UserCreated,
        Self::UserUpdated,
        Self::UserDeactivated,
        Self::UserReactivated,
        Self::UserDeleted,
        Self::GroupCreated,
        Self::GroupUpdated,
        Self::GroupDeleted,
        Self::GroupMemberAdded,
        Self::GroupMemberRemoved,
        Self::UserRolesChanged,
        Self::TenantSecretRotated,
        Self::ConnectionFinding,
    ];

    /// The event of this wire name, e.g. `user.deactivated`.
    pub fn named(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }

    /// The wire name, e.g. `user.deactivated`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UserCreated => "user.created",
            Self::UserUpdated => "user.updated",
            Self::UserDeactivated => "user.deactivated",
            Self::UserReactivated => "user.reactivated",
            Self::UserDeleted => "user.deleted",
            Self::GroupCreated => "group.created",
            Self::GroupUpdated => "group.updated",
            Self::GroupDeleted => "group.deleted",
            Self::GroupMemberAdded => "group.member_added",
            Self::GroupMemberRemoved => "group.member_removed",
            Self::UserRolesChanged => "user.roles_changed",
            Self::TenantSecretRotated => "tenant.secret_rotated",
            Self::ConnectionFinding => "connection.finding",
        }
    }
}

/// Records an event in the outbox; call it inside the transaction that makes the change.
pub fn record(
    conn: &mut AnyConnection,
    scope: &Scope<'_>,
    kind: EventType,
    data: Value,
) -> Result<(), ScimError> {
    record_text(conn, scope, kind, data.to_string())
}

/// [`record`] with the event's data already written as JSON text.
pub fn record_text(
    conn: &mut AnyConnection,
    scope: &Scope<'_>,
    kind: EventType,
    data: String,
) -> Result<(), ScimError> {
    record_all(conn, scope, vec![(kind, data)])
}

/// Records the events of one change together, in order: the tenant's sequence counter is
/// bumped once for all of them.
pub fn record_all(
    conn: &mut AnyConnection,
    scope: &Scope<'_>,
    events: Vec<(EventType, String)>,
) -> Result<(), ScimError> {
    let events = events.into_iter().map(|(kind, data)| (kind.as_str(), data));
    store::append(conn, scope, events.collect(), now_millis())?;
    Ok(())
}

/// An event as the feed and webhooks carry it.
pub fn render(row: &EventRow) -> Value {
    json!({
        "id": row.id,
        "seq": row.seq,
        "type": row.event_type,
        "occurred_at": rfc3339(row.occurred_at),
        "tenant_id": row.tenant_id,
        "data": serde_json::from_str::<Value>(&row.data).unwrap_or(Value::Null),
    })
}

/// Milliseconds since the epoch as RFC 3339 UTC with milliseconds.
pub fn rfc3339(millis: i64) -> String {
    DateTime::from_timestamp_millis(millis)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}
