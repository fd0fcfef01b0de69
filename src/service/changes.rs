//! The events a write records, next to the write, in its transaction.

use serde_json::{Value, json};

use super::document;
use crate::error::ScimError;
use crate::events::{EventType, record, record_all, record_text, rfc3339};
use crate::scim::resource::{self, Meta};
use crate::scim::schema::{ResourceType, USER_RESOURCE};
use crate::storage::AnyConnection;
use crate::storage::models::ResourceRow;

/// The data of an event that carries a whole resource, `{"user": …}` or `{"group": …}`, as
/// JSON text. Memberships travel in their own events. The stored document is copied in as text
/// where the default view would pass it unchanged, as a GET renders it; otherwise rendered.
fn full(rt: &ResourceType, base: &str, row: &ResourceRow) -> Result<String, ScimError> {
    let meta = Meta {
        created: rfc3339(row.created_at),
        last_modified: rfc3339(row.modified_at),
        version: row.version,
    };
    let text = match resource::render_default_text(rt, base, &row.id, &row.doc, &meta, &[]) {
        Some(text) => text.get().to_owned(),
        None => resource::render(rt, base, &row.id, document(row)?, &meta, &[]).to_string(),
    };
    Ok(format!("{{\"{}\":{text}}}", key(rt)))
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
    record_text(c, &row.tenant_id, kind, full(rt, base, row)?)
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
    let data = full(rt, base, new)?;
    if rt.id != USER_RESOURCE.id {
        return record_text(c, &new.tenant_id, EventType::GroupUpdated, data);
    }
    let (was, is) = (old.active != Some(false), new.active != Some(false));
    let flipped = match (was, is) {
        (true, false) => Some(EventType::UserDeactivated),
        (false, true) => Some(EventType::UserReactivated),
        _ => None,
    };
    match flipped {
        Some(kind) => record_all(
            c,
            &new.tenant_id,
            vec![(EventType::UserUpdated, data.clone()), (kind, data)],
        ),
        None => record_text(c, &new.tenant_id, EventType::UserUpdated, data),
    }
}

/// `group.member_added` and `group.member_removed`, when there is anything to say.
pub fn memberships(
    c: &mut AnyConnection,
    group: &ResourceRow,
    added: &[String],
    removed: &[String],
) -> Result<(), ScimError> {
    if added.is_empty() && removed.is_empty() {
        return Ok(());
    }
    let group_brief = brief(&crate::scim::schema::GROUP_RESOURCE, group)?;
    let mut events = Vec::with_capacity(2);
    for (kind, members) in [
        (EventType::GroupMemberRemoved, removed),
        (EventType::GroupMemberAdded, added),
    ] {
        if !members.is_empty() {
            let data = json!({"group": group_brief, "members": members});
            events.push((kind, data.to_string()));
        }
    }
    record_all(c, &group.tenant_id, events)
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

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::{document, full, key};
    use crate::events::rfc3339;
    use crate::scim::resource::{self, Meta};
    use crate::scim::schema::{GROUP_RESOURCE, ResourceType, USER_RESOURCE};
    use crate::storage::models::ResourceRow;

    fn row(rt: &ResourceType, doc: &Value) -> ResourceRow {
        ResourceRow {
            tenant_id: "t".into(),
            id: "0193-a\"b".into(),
            resource_type: rt.id.into(),
            user_name_lc: None,
            external_id: None,
            display_name_lc: None,
            active: None,
            email_lc: None,
            display: None,
            created_at: 1_764_633_600_000,
            modified_at: 1_764_633_601_234,
            version: 3,
            password_hash: None,
            doc: doc.to_string(),
            user_name_key: None,
        }
    }

    #[test]
    fn an_event_carries_the_resource_as_rendered() {
        let ent = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
        let cases = [
            (
                &USER_RESOURCE,
                json!({"userName": "a\"b", "name": {"givenName": "Ann"}, "active": false,
                       ent: {"department": "R&D"}, "emails": [{"value": "a@x", "primary": true}]}),
            ),
            (
                &GROUP_RESOURCE,
                json!({"displayName": "Eng", "externalId": "e1"}),
            ),
        ];
        for (rt, doc) in cases {
            let row = row(rt, &doc);
            let meta = Meta {
                created: rfc3339(row.created_at),
                last_modified: rfc3339(row.modified_at),
                version: row.version,
            };
            let rendered = resource::render(
                rt,
                "https://x/scim/v2",
                &row.id,
                document(&row).expect("doc"),
                &meta,
                &[],
            );
            let text = full(rt, "https://x/scim/v2", &row).expect("event data");
            let parsed: Value = serde_json::from_str(&text).expect("the event data is JSON");
            assert_eq!(parsed, json!({key(rt): rendered}), "{text}");
        }
    }
}
