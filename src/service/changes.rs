//! The events a write records, next to the write, in its transaction.

use serde_json::{Value, json};

use super::document;
use crate::error::ScimError;
use crate::events::{EventType, record, record_all, record_text, rfc3339};
use crate::scim::project::Projection;
use crate::scim::resource::{self, Meta};
use crate::scim::schema::ResourceType;
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
        None => Projection::default()
            .apply(
                rt,
                resource::render(rt, base, &row.id, document(row)?, &meta, &[]),
            )
            .to_string(),
    };
    Ok(format!("{{\"{}\":{text}}}", rt.events.key))
}

/// Enough of a resource to recognise it.
fn brief(rt: &ResourceType, row: &ResourceRow) -> Result<Value, ScimError> {
    let doc = document(row)?;
    let name_key = rt.name_attribute;
    Ok(json!({"id": row.id, name_key: doc.get(name_key), "externalId": doc.get("externalId")}))
}

/// The outbox's event of this name; the names come from the resource types, which are tested
/// against the outbox's list.
fn event(name: &str) -> Result<EventType, ScimError> {
    EventType::named(name)
        .ok_or_else(|| ScimError::internal(anyhow::anyhow!("no event is named {name}")))
}

/// `user.created` / `group.created`.
pub fn created(
    c: &mut AnyConnection,
    rt: &ResourceType,
    base: &str,
    row: &ResourceRow,
) -> Result<(), ScimError> {
    let kind = event(rt.events.created)?;
    record_text(c, &row.tenant_id, kind, full(rt, base, row)?)
}

/// `user.updated` / `group.updated`, and `user.deactivated` / `user.reactivated` when `active`
/// flips (an absent `active` counts as active) on a type that has them.
pub fn updated(
    c: &mut AnyConnection,
    rt: &ResourceType,
    base: &str,
    old: &ResourceRow,
    new: &ResourceRow,
) -> Result<(), ScimError> {
    let data = full(rt, base, new)?;
    let updated = event(rt.events.updated)?;
    let (was, is) = (old.active != Some(false), new.active != Some(false));
    let flipped = match (was, is) {
        (true, false) => rt.events.deactivated,
        (false, true) => rt.events.reactivated,
        _ => None,
    };
    match flipped {
        Some(name) => record_all(
            c,
            &new.tenant_id,
            vec![(updated, data.clone()), (event(name)?, data)],
        ),
        None => record_text(c, &new.tenant_id, updated, data),
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
    let group_brief = brief(ResourceType::holding_members(), group)?;
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
    let kind = event(rt.events.deleted)?;
    record(
        c,
        &row.tenant_id,
        kind,
        json!({rt.events.key: brief(rt, row)?}),
    )
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    #[test]
    fn every_event_a_resource_type_names_is_the_outboxs() {
        for rt in ResourceType::ALL {
            let e = rt.events;
            let names = [e.created, e.updated, e.deleted]
                .into_iter()
                .chain(e.deactivated)
                .chain(e.reactivated);
            for name in names {
                assert!(crate::events::EventType::named(name).is_some(), "{name}");
            }
        }
    }

    use super::{document, full};
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
            assert_eq!(parsed, json!({rt.events.key: rendered}), "{text}");
        }
    }
}
