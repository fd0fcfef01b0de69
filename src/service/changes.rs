//! The events a write records, next to the write, in its transaction.

use serde_json::{Value, json};

use super::resources::document;
use crate::error::ScimError;
use crate::events::{EventType, record, rfc3339};
use crate::scim::resource::{self, Meta};
use crate::scim::schema::{ResourceType, USER_RESOURCE};
use crate::storage::AnyConnection;
use crate::storage::models::ResourceRow;

/// A resource as events carry it: memberships travel in their own events.
fn full(rt: &ResourceType, base: &str, row: &ResourceRow) -> Result<Value, ScimError> {
    let meta = Meta {
        created: rfc3339(row.created_at),
        last_modified: rfc3339(row.modified_at),
        version: row.version,
    };
    Ok(resource::render(
        rt,
        base,
        &row.id,
        document(row)?,
        &meta,
        &[],
    ))
}

/// Enough of a resource to recognise it.
fn brief(rt: &ResourceType, row: &ResourceRow) -> Result<Value, ScimError> {
    let doc = document(row)?;
    let name_key = if rt.id == USER_RESOURCE.id {
        "userName"
    } else {
        "displayName"
    };
    Ok(json!({"id": row.id, name_key: doc.get(name_key), "externalId": doc.get("externalId")}))
}

fn key(rt: &ResourceType) -> &'static str {
    if rt.id == USER_RESOURCE.id {
        "user"
    } else {
        "group"
    }
}

/// `user.created` / `group.created`.
pub fn created(
    c: &mut AnyConnection,
    rt: &ResourceType,
    base: &str,
    row: &ResourceRow,
) -> Result<(), ScimError> {
    let kind = if rt.id == USER_RESOURCE.id {
        EventType::UserCreated
    } else {
        EventType::GroupCreated
    };
    record(
        c,
        &row.tenant_id,
        kind,
        json!({key(rt): full(rt, base, row)?}),
    )
}

/// `user.updated` / `group.updated`, and `user.deactivated` / `user.reactivated` when `active`
/// flips (an absent `active` counts as active).
pub fn updated(
    c: &mut AnyConnection,
    rt: &ResourceType,
    base: &str,
    old: &ResourceRow,
    new: &ResourceRow,
) -> Result<(), ScimError> {
    let data = json!({key(rt): full(rt, base, new)?});
    if rt.id != USER_RESOURCE.id {
        return record(c, &new.tenant_id, EventType::GroupUpdated, data);
    }
    record(c, &new.tenant_id, EventType::UserUpdated, data.clone())?;
    let (was, is) = (old.active != Some(false), new.active != Some(false));
    match (was, is) {
        (true, false) => record(c, &new.tenant_id, EventType::UserDeactivated, data),
        (false, true) => record(c, &new.tenant_id, EventType::UserReactivated, data),
        _ => Ok(()),
    }
}

/// `group.member_added` and `group.member_removed`, when there is anything to say.
pub fn memberships(
    c: &mut AnyConnection,
    group: &ResourceRow,
    added: &[String],
    removed: &[String],
) -> Result<(), ScimError> {
    let group_brief = brief(&crate::scim::schema::GROUP_RESOURCE, group)?;
    if !removed.is_empty() {
        record(
            c,
            &group.tenant_id,
            EventType::GroupMemberRemoved,
            json!({"group": group_brief, "members": removed}),
        )?;
    }
    if !added.is_empty() {
        record(
            c,
            &group.tenant_id,
            EventType::GroupMemberAdded,
            json!({"group": group_brief, "members": added}),
        )?;
    }
    Ok(())
}

/// `user.deleted` / `group.deleted`.
pub fn deleted(
    c: &mut AnyConnection,
    rt: &ResourceType,
    row: &ResourceRow,
) -> Result<(), ScimError> {
    let kind = if rt.id == USER_RESOURCE.id {
        EventType::UserDeleted
    } else {
        EventType::GroupDeleted
    };
    record(c, &row.tenant_id, kind, json!({key(rt): brief(rt, row)?}))
}
