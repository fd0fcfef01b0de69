//! The events a write records, next to the write, in its transaction.

use serde_json::{Map, Value, json};

use super::document;
use crate::error::ScimError;
use crate::events::roles::{RoleMap, effective_roles};
use crate::events::{EventType, record, record_all, record_text, rfc3339};
use crate::scim::project::Projection;
use crate::scim::resource::{self, Meta};
use crate::scim::schema::{AppSettings, Links, ResourceType};
use crate::storage::AnyConnection;
use crate::storage::Scope;
use crate::storage::models::ResourceRow;
use crate::storage::resources::Link;

/// The data of an event that carries a whole resource, `{"user": …}` or `{"group": …}`, as
/// JSON text; a user's carries the app's view of it beside, `"app_user"`. Memberships travel in
/// their own events.
fn full(
    c: &mut AnyConnection,
    scope: &Scope<'_>,
    rt: &ResourceType,
    base: &str,
    row: &ResourceRow,
    app: AppView<'_>,
) -> Result<String, ScimError> {
    let meta = meta(row);
    let text = resource_text(rt, base, row, &meta)?;
    match rt.links {
        Links::Groups => Ok(format!(
            "{{\"{}\":{text},\"app_user\":{}}}",
            rt.events.key,
            match app {
                AppView::Ready(app) => app,
                AppView::From { doc, groups } => app_user(c, scope, rt, row, doc, groups)?,
            }
        )),
        Links::Members => Ok(format!("{{\"{}\":{text}}}", rt.events.key)),
    }
}

/// A user's app view for its event: built already, or to build from its document (parsed,
/// handed over) and direct groups.
enum AppView<'a> {
    Ready(Value),
    From {
        doc: Map<String, Value>,
        groups: &'a [Link],
    },
}

fn meta(row: &ResourceRow) -> Meta {
    Meta {
        created: rfc3339(row.created_at),
        last_modified: rfc3339(row.modified_at),
        version: row.version,
    }
}

/// The resource as a GET renders it, without its links, as JSON text: the stored document is
/// copied in as text where the default view would pass it unchanged; otherwise rendered.
fn resource_text(
    rt: &ResourceType,
    base: &str,
    row: &ResourceRow,
    meta: &Meta,
) -> Result<String, ScimError> {
    Ok(
        match resource::render_default_text(rt, base, &row.id, &row.doc, meta, &[]) {
            Some(text) => text.get().to_owned(),
            None => Projection::default()
                .apply(
                    rt,
                    resource::render(rt, base, &row.id, document(row)?, meta, &[]),
                )
                .to_string(),
        },
    )
}

/// The app's view of a new user (in no group yet) for its `user.created` event, built from the
/// tenant's view alone, before the write lock; `None` for a type without such a view, or a
/// built-in definition (then the event builds it under the lock).
pub(super) fn new_app_user(
    rt: &ResourceType,
    id: &str,
    doc: &mut Map<String, Value>,
) -> Option<Value> {
    let settings = rt.app.as_deref().filter(|_| rt.links == Links::Groups)?;
    let roles: Vec<String> = settings.default_role.iter().cloned().collect();
    // The document is lent to the mapping rather than copied, and given back as it was: a
    // validated document has no `id`, so the one added last is the one key taken out again.
    let (app, mut user) = mapped(rt, settings, id, std::mem::take(doc), &[], &roles);
    user.shift_remove("id");
    *doc = user;
    Some(app)
}

/// The app's view of a user as it now is: the tenant's attribute mapping applied to the user
/// with its direct groups, and its effective roles. The tenant's settings come with its view
/// (read here only for a built-in definition); a user in a group the tenant may map costs
/// the read of its group ancestry.
fn app_user(
    c: &mut AnyConnection,
    scope: &Scope<'_>,
    rt: &ResourceType,
    row: &ResourceRow,
    user: Map<String, Value>,
    links: &[Link],
) -> Result<Value, ScimError> {
    // The settings as of the request's view of the tenant; read when the type is a built-in
    // definition, which belongs to no tenant.
    let read;
    let settings = match &rt.app {
        Some(app) => app.as_ref(),
        None => {
            read = super::app_settings(c, scope)?;
            &read
        }
    };
    // Without groups, or without mappings, no group gives a role: the default role applies.
    let roles: Vec<String> = if links.is_empty() || settings.role_mappings.is_empty() {
        settings.default_role.iter().cloned().collect()
    } else {
        let map = RoleMap {
            default_role: settings.default_role.clone(),
            mappings: settings.role_mappings.clone(),
        };
        effective_roles(c, scope, &map, std::slice::from_ref(&row.id))?
            .remove(&row.id)
            .unwrap_or_default()
            .into_iter()
            .collect()
    };
    Ok(mapped(rt, settings, &row.id, user, links, &roles).0)
}

/// The tenant's attribute mapping applied to a user: its document, id and direct groups (as
/// `groups` renders them, which is what the mapping reads), with its roles. Gives the document
/// back with the id (and any groups) added.
fn mapped(
    rt: &ResourceType,
    settings: &AppSettings,
    id: &str,
    mut user: Map<String, Value>,
    links: &[Link],
    roles: &[String],
) -> (Value, Map<String, Value>) {
    user.insert("id".into(), id.into());
    if !links.is_empty() {
        let groups = links
            .iter()
            .map(|l| json!({"value": l.id, "display": l.display}))
            .collect();
        user.insert("groups".into(), Value::Array(groups));
    }
    let user = Value::Object(user);
    let app = super::with_mapping(rt, settings.attribute_mapping.as_deref(), |m| {
        m.app_user(&user, roles)
    });
    match user {
        Value::Object(user) => (app, user),
        _ => unreachable!("the user was made an object above"),
    }
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

/// `user.created` / `group.created`; `doc` is the row's document, parsed (handed over), `app`
/// a new user's app view when it was built before the lock.
pub fn created(
    c: &mut AnyConnection,
    scope: &Scope<'_>,
    rt: &ResourceType,
    base: &str,
    row: &ResourceRow,
    doc: Map<String, Value>,
    app: Option<Value>,
) -> Result<(), ScimError> {
    let kind = event(rt.events.created)?;
    // A resource just created is in no group yet.
    let app = match app {
        Some(app) => AppView::Ready(app),
        None => AppView::From { doc, groups: &[] },
    };
    let data = full(c, scope, rt, base, row, app)?;
    record_text(c, scope, kind, data)
}

/// `user.updated` / `group.updated`, and `user.deactivated` / `user.reactivated` when `active`
/// flips (an absent `active` counts as active) on a type that has them. Returns a user's
/// direct groups, read for its app view, so the response need not read them again.
pub fn updated(
    c: &mut AnyConnection,
    scope: &Scope<'_>,
    rt: &ResourceType,
    base: &str,
    old: &ResourceRow,
    new: &ResourceRow,
    doc: Map<String, Value>,
) -> Result<Option<Vec<Link>>, ScimError> {
    let groups = match rt.links {
        Links::Groups => Some(scope.groups_of(c, std::slice::from_ref(&new.id), None)?),
        Links::Members => None,
    };
    let app = AppView::From {
        doc,
        groups: groups.as_deref().unwrap_or_default(),
    };
    let data = full(c, scope, rt, base, new, app)?;
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
            scope,
            vec![(updated, data.clone()), (event(name)?, data)],
        )?,
        None => record_text(c, scope, updated, data)?,
    }
    Ok(groups)
}

/// `group.member_added` and `group.member_removed`, when there is anything to say.
pub fn memberships(
    c: &mut AnyConnection,
    scope: &Scope<'_>,
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
    record_all(c, scope, events)
}

/// `user.deleted` / `group.deleted`.
pub fn deleted(
    c: &mut AnyConnection,
    scope: &Scope<'_>,
    rt: &ResourceType,
    row: &ResourceRow,
) -> Result<(), ScimError> {
    let kind = event(rt.events.deleted)?;
    record(c, scope, kind, json!({rt.events.key: brief(rt, row)?}))
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

    use super::{document, meta, resource_text};
    use crate::scim::resource;
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
            let meta = meta(&row);
            let rendered = resource::render(
                rt,
                "https://x/scim/v2",
                &row.id,
                document(&row).expect("doc"),
                &meta,
                &[],
            );
            let text = resource_text(rt, "https://x/scim/v2", &row, &meta).expect("event data");
            let parsed: Value = serde_json::from_str(&text).expect("the event data is JSON");
            assert_eq!(parsed, rendered, "{text}");
        }
    }
}
