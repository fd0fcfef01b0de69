//! Group-to-role mapping: a user's effective roles are the union of the roles mapped to its
//! groups (nested groups included), or the tenant's default role when none applies.

use std::collections::{BTreeSet, HashMap};

use serde_json::json;

use super::{EventType, record};
use crate::error::ScimError;
use crate::scim::fold_case;
use crate::scim::schema::ResourceType;
use crate::storage::AnyConnection;
use crate::storage::Scope;
use crate::storage::events as store;

/// A tenant's mapping: groups (by id or displayName) to roles, and the default role.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoleMap {
    pub default_role: Option<String>,
    pub mappings: Vec<(String, String)>,
}

impl RoleMap {
    /// Loads a tenant's mapping.
    pub fn load(conn: &mut AnyConnection, scope: &Scope<'_>) -> Result<Self, ScimError> {
        let (default_role, mappings) = store::role_mappings(conn, scope)?;
        Ok(Self {
            default_role,
            mappings,
        })
    }

    /// The roles of a group with this id and display name; names compare case-insensitively.
    pub fn roles_of<'a>(
        &'a self,
        group_id: &'a str,
        name: Option<&'a str>,
    ) -> impl Iterator<Item = &'a String> + 'a {
        let name = name.map(fold_case);
        self.mappings
            .iter()
            .filter(move |(g, _)| {
                g == group_id || name.as_deref().is_some_and(|n| fold_case(g) == n)
            })
            .map(|(_, r)| r)
    }
}

/// Whether any of the tenant's mappings names a group by one of `names` (case-insensitively).
pub fn names_group(
    conn: &mut AnyConnection,
    scope: &Scope<'_>,
    names: &[String],
) -> Result<bool, ScimError> {
    let map = RoleMap::load(conn, scope)?;
    Ok(map
        .mappings
        .iter()
        .any(|(g, _)| names.iter().any(|n| fold_case(g) == fold_case(n))))
}

/// Effective roles of each of `user_ids` under `map`.
pub fn effective_roles(
    conn: &mut AnyConnection,
    scope: &Scope<'_>,
    map: &RoleMap,
    user_ids: &[String],
) -> Result<HashMap<String, BTreeSet<String>>, ScimError> {
    let mut roles: HashMap<String, BTreeSet<String>> = user_ids
        .iter()
        .map(|u| (u.clone(), BTreeSet::new()))
        .collect();
    if !map.mappings.is_empty() {
        for a in store::ancestry(conn, scope, user_ids)? {
            roles
                .entry(a.user_id.clone())
                .or_default()
                .extend(map.roles_of(&a.group_id, a.group_name.as_deref()).cloned());
        }
    }
    if let Some(default) = &map.default_role {
        for set in roles.values_mut().filter(|s| s.is_empty()) {
            set.insert(default.clone());
        }
    }
    Ok(roles)
}

/// Watches the effective roles of some users across a change, and records `user.roles_changed`
/// for each user whose roles differ afterwards.
pub struct RoleWatch {
    users: Vec<String>,
    before: HashMap<String, BTreeSet<String>>,
}

impl RoleWatch {
    /// Takes the "before" picture of the users among `touched` and those under the groups among
    /// it. `None` when the tenant maps no group: then membership changes cannot change anyone's
    /// roles, and nothing needs computing.
    pub fn start(
        conn: &mut AnyConnection,
        scope: &Scope<'_>,
        touched: &[String],
    ) -> Result<Option<Self>, ScimError> {
        if touched.is_empty() || !store::maps_groups(conn, scope)? {
            return Ok(None);
        }
        let users = store::users_under(conn, scope, touched)?;
        let map = RoleMap::load(conn, scope)?;
        let before = effective_roles(conn, scope, &map, &users)?;
        Ok(Some(Self { users, before }))
    }

    /// Like [`RoleWatch::start`] for a mapping change, where every user may be affected even
    /// when no group was mapped before; `arriving` are users about to be created, who have no
    /// roles before.
    pub fn start_all(
        conn: &mut AnyConnection,
        scope: &Scope<'_>,
        arriving: &[String],
    ) -> Result<Self, ScimError> {
        let mut users = store::all_of_type(conn, scope, ResourceType::in_groups().id)?;
        users.extend_from_slice(arriving);
        let map = RoleMap::load(conn, scope)?;
        let before = effective_roles(conn, scope, &map, &users)?;
        Ok(Self { users, before })
    }

    /// Records an event for each user whose roles changed.
    pub fn finish(self, conn: &mut AnyConnection, scope: &Scope<'_>) -> Result<(), ScimError> {
        let map = RoleMap::load(conn, scope)?;
        let after = effective_roles(conn, scope, &map, &self.users)?;
        for user in &self.users {
            let (was, now) = (self.before.get(user), after.get(user));
            if was != now {
                let list = |s: Option<&BTreeSet<String>>| {
                    s.map(|s| s.iter().cloned().collect::<Vec<_>>())
                        .unwrap_or_default()
                };
                record(
                    conn,
                    scope,
                    EventType::UserRolesChanged,
                    json!({"user": {"id": user}, "roles": list(now), "previous_roles": list(was)}),
                )?;
            }
        }
        Ok(())
    }
}
