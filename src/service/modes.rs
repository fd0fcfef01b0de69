//! A tenant's mode: `live`; `dry_run`, where the identity provider's requests change a shadow
//! copy of the directory (so its Test Connection and first sync succeed and its lookups find
//! what it created) while the app hears nothing, until the admin promotes the copy (applied as
//! one change, with its events) or discards it; and `paused`, answered 503 for an incident.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use serde::Serialize;
use utoipa::ToSchema;

use super::{changes, document, schemas};
use crate::error::ScimError;
use crate::events::rfc3339;
use crate::events::roles::{RoleMap, RoleWatch, effective_roles};
use crate::scim::schema::{Links, ResourceType};
use crate::storage::models::{MemberRow, ResourceRow};
use crate::storage::shadow::{self, Brief};
use crate::storage::{self, AnyConnection, Db, Scope, now_millis, read_snapshot, write_tx};
use crate::tenant::{Mode, TenantId};

/// Items each list of a diff shows; the counts are always whole.
const SHOWN: usize = 100;
/// The most users and groups a dry-run copies: it is for a new connection, and the copy is one
/// write transaction, which on SQLite holds every tenant's writes while it runs.
pub const MAX_DRY_RUN_RESOURCES: i64 = 20_000;

/// A tenant's mode, as the admin API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ModeState {
    pub mode: Mode,
    /// When it was set; `null` for a tenant that was always live.
    pub since: Option<String>,
}

/// A tenant's mode.
pub fn get(db: &Db, id_or_name: &str) -> Result<ModeState, ScimError> {
    db.run_sync(|c| {
        let tenant = super::tenants::find_id(c, id_or_name)?;
        let (mode, since) = storage::tenants::mode(c, &Scope::new(&tenant))?;
        Ok(ModeState {
            mode: Mode::named(&mode).unwrap_or(Mode::Paused),
            since: since.map(rfc3339),
        })
    })
}

/// Sets a tenant's mode. Entering dry-run copies the directory into a shadow; leaving it goes
/// through [`promote`] or [`discard`], never by setting another mode.
pub fn set(db: &Db, id_or_name: &str, mode: Mode) -> Result<ModeState, ScimError> {
    db.run_sync(|c| {
        write_tx(c, |c| {
            let tenant = super::tenants::find_id(c, id_or_name)?;
            let scope = Scope::new(&tenant);
            let (current, since) = storage::tenants::locked_mode(c, &scope)?;
            let current = Mode::named(&current).unwrap_or(Mode::Live);
            if current == mode {
                return Ok(ModeState {
                    mode,
                    since: since.map(rfc3339),
                });
            }
            if current == Mode::DryRun {
                return Err(ScimError::Conflict(
                    "this tenant is in dry-run: promote what it changed (POST …/dry-run/promote) \
                     or discard it (DELETE …/dry-run) first"
                        .into(),
                ));
            }
            let now = now_millis();
            if mode == Mode::DryRun {
                let held: i64 = storage::portal::counts(c, &scope)?
                    .into_iter()
                    .map(|(_, n)| n)
                    .sum();
                if held > MAX_DRY_RUN_RESOURCES {
                    return Err(ScimError::Conflict(format!(
                        "a dry run copies the directory, and this one holds {held} users and                          groups, more than the {MAX_DRY_RUN_RESOURCES} a dry run takes; it is                          meant for a new connection (pause provisioning instead to stop changes)"
                    )));
                }
                shadow::create(c, &scope, &tenant.shadow())?;
            }
            storage::tenants::set_mode(c, &scope, mode.as_str(), now)?;
            Ok(ModeState {
                mode,
                since: Some(rfc3339(now)),
            })
        })
    })
}

/// What a dry-run would change in the live directory.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct Diff {
    pub users: Changes,
    pub groups: Changes,
    pub memberships: MembershipChanges,
    pub role_assignments: RoleChanges,
    /// Resources the live directory changed after the dry-run began (a request in flight as it
    /// started): a promotion leaves them as they are.
    pub conflicts: usize,
}

/// Created, updated and deleted resources of one type.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct Changes {
    /// How many the live directory holds now.
    pub live: usize,
    /// How many it would hold after a promotion.
    pub after: usize,
    pub created: usize,
    pub updated: usize,
    pub deleted: usize,
    /// The first of them, by id.
    pub items: Vec<Item>,
    /// Whether `items` stops short of them all.
    pub truncated: bool,
}

/// One changed resource.
#[derive(Debug, Serialize, ToSchema)]
pub struct Item {
    /// `created`, `updated` or `deleted`.
    pub change: &'static str,
    pub id: String,
    /// Its userName or displayName.
    pub name: Option<String>,
}

/// Memberships added and removed.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct MembershipChanges {
    pub added: usize,
    pub removed: usize,
    pub items: Vec<MembershipItem>,
    pub truncated: bool,
}

/// One membership added or removed.
#[derive(Debug, Serialize, ToSchema)]
pub struct MembershipItem {
    /// `added` or `removed`.
    pub change: &'static str,
    pub group: String,
    pub member: String,
}

/// Users whose roles (under the live role mapping) would change.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct RoleChanges {
    pub changed: usize,
    pub items: Vec<RoleItem>,
    pub truncated: bool,
}

/// One user's roles before and after.
#[derive(Debug, Serialize, ToSchema)]
pub struct RoleItem {
    pub user: String,
    pub name: Option<String>,
    pub before: Vec<String>,
    pub after: Vec<String>,
}

/// What a promotion does, worked out from the two directories.
#[derive(Debug, Default)]
struct Plan {
    created: Vec<Brief>,
    updated: Vec<Brief>,
    deleted: Vec<Brief>,
    added: Vec<(String, String)>,
    removed: Vec<(String, String)>,
    conflicts: usize,
    live_counts: BTreeMap<String, usize>,
    after_counts: BTreeMap<String, usize>,
}

/// Compares the shadow with the live directory. A live resource changed after `started`
/// (written by a request that was in flight when the dry-run began) is a conflict, kept.
fn plan(c: &mut AnyConnection, live: &Scope<'_>, started: i64) -> Result<Plan, ScimError> {
    let shadow_id = live.tenant().shadow();
    let twin = Scope::new(&shadow_id);
    let now: HashMap<String, Brief> = shadow::briefs(c, live)?
        .into_iter()
        .map(|b| (b.id.clone(), b))
        .collect();
    let then: Vec<Brief> = shadow::briefs(c, &twin)?;
    let mut p = Plan::default();
    for b in &then {
        *p.after_counts.entry(b.resource_type.clone()).or_default() += 1;
    }
    for b in now.values() {
        *p.live_counts.entry(b.resource_type.clone()).or_default() += 1;
    }
    let kept: HashSet<&str> = then.iter().map(|b| b.id.as_str()).collect();
    for b in &then {
        match now.get(&b.id) {
            None => p.created.push(b.clone()),
            Some(l) if l.version != b.version && l.modified_at > started => p.conflicts += 1,
            Some(l) if l.version != b.version => p.updated.push(b.clone()),
            Some(_) => {}
        }
    }
    let mut deleted: Vec<Brief> = now
        .into_values()
        .filter(|b| !kept.contains(b.id.as_str()))
        .collect();
    deleted.sort_by(|a, b| a.id.cmp(&b.id));
    for b in deleted {
        if b.modified_at > started {
            p.conflicts += 1;
        } else {
            p.deleted.push(b);
        }
    }
    let gone: HashSet<&str> = p.deleted.iter().map(|b| b.id.as_str()).collect();
    let live_m: BTreeSet<(String, String)> = shadow::memberships(c, live)?.into_iter().collect();
    let twin_m: BTreeSet<(String, String)> = shadow::memberships(c, &twin)?.into_iter().collect();
    p.added = twin_m.difference(&live_m).cloned().collect();
    // Memberships of a deleted resource go with it.
    p.removed = live_m
        .difference(&twin_m)
        .filter(|(g, m)| !gone.contains(g.as_str()) && !gone.contains(m.as_str()))
        .cloned()
        .collect();
    Ok(p)
}

/// What promoting the tenant's dry-run would change.
pub fn diff(db: &Db, id_or_name: &str) -> Result<Diff, ScimError> {
    db.run_sync(|c| {
        read_snapshot(c, |c| {
            let tenant = super::tenants::find_id(c, id_or_name)?;
            let scope = Scope::new(&tenant);
            let started = dry_run_start(storage::tenants::mode(c, &scope)?)?;
            let plan = plan(c, &scope, started)?;
            let roles = role_changes(c, &scope)?;
            Ok(describe(&plan, roles))
        })
    })
}

/// When the tenant's dry-run began, from its stored mode; refused when it is not in dry-run.
fn dry_run_start((mode, since): (String, Option<i64>)) -> Result<i64, ScimError> {
    match (Mode::named(&mode), since) {
        (Some(Mode::DryRun), Some(since)) => Ok(since),
        _ => Err(ScimError::Conflict(format!(
            "this tenant is not in dry-run (its mode is {mode})"
        ))),
    }
}

/// The users whose roles differ between the live directory and its shadow, under the live
/// mapping; none to compute when the mapping gives nobody a role.
fn role_changes(c: &mut AnyConnection, live: &Scope<'_>) -> Result<RoleChanges, ScimError> {
    let map = RoleMap::load(c, live)?;
    if map.mappings.is_empty() && map.default_role.is_none() {
        return Ok(RoleChanges::default());
    }
    let shadow_id = live.tenant().shadow();
    let twin = Scope::new(&shadow_id);
    let users_of = |c: &mut AnyConnection, s: &Scope<'_>| -> Result<Vec<Brief>, ScimError> {
        Ok(shadow::briefs(c, s)?
            .into_iter()
            .filter(|b| b.resource_type == ResourceType::in_groups().id)
            .collect())
    };
    let (before_users, after_users) = (users_of(c, live)?, users_of(c, &twin)?);
    let ids = |b: &[Brief]| b.iter().map(|b| b.id.clone()).collect::<Vec<_>>();
    let before = effective_roles(c, live, &map, &ids(&before_users))?;
    let after = effective_roles(c, &twin, &map, &ids(&after_users))?;
    let names: HashMap<&str, Option<&String>> = before_users
        .iter()
        .chain(&after_users)
        .map(|b| (b.id.as_str(), b.display.as_ref()))
        .collect();
    let mut users: Vec<&str> = names.keys().copied().collect();
    users.sort_unstable();
    let mut changes = RoleChanges::default();
    let list = |s: Option<&BTreeSet<String>>| -> Vec<String> {
        s.map(|s| s.iter().cloned().collect()).unwrap_or_default()
    };
    for user in users {
        let (was, is) = (before.get(user), after.get(user));
        if was == is {
            continue;
        }
        changes.changed += 1;
        if changes.items.len() < SHOWN {
            changes.items.push(RoleItem {
                user: user.to_owned(),
                name: names[user].cloned(),
                before: list(was),
                after: list(is),
            });
        }
    }
    changes.truncated = changes.changed > changes.items.len();
    Ok(changes)
}

fn describe<'p>(p: &'p Plan, roles: RoleChanges) -> Diff {
    let of_type = |rt: &ResourceType| {
        let of_rt = |list: &'p [Brief]| -> Vec<&'p Brief> {
            list.iter().filter(|b| b.resource_type == rt.id).collect()
        };
        let (created, updated, deleted) = (of_rt(&p.created), of_rt(&p.updated), of_rt(&p.deleted));
        let items: Vec<Item> = [
            ("created", &created),
            ("updated", &updated),
            ("deleted", &deleted),
        ]
        .into_iter()
        .flat_map(|(change, list)| {
            list.iter().map(move |b| Item {
                change,
                id: b.id.clone(),
                name: b.display.clone(),
            })
        })
        .take(SHOWN)
        .collect();
        Changes {
            live: p.live_counts.get(rt.id).copied().unwrap_or_default(),
            after: p.after_counts.get(rt.id).copied().unwrap_or_default(),
            created: created.len(),
            updated: updated.len(),
            deleted: deleted.len(),
            truncated: created.len() + updated.len() + deleted.len() > items.len(),
            items,
        }
    };
    let mut memberships = MembershipChanges {
        added: p.added.len(),
        removed: p.removed.len(),
        ..MembershipChanges::default()
    };
    for (change, list) in [("added", &p.added), ("removed", &p.removed)] {
        for (group, member) in list.iter().take(SHOWN - memberships.items.len().min(SHOWN)) {
            memberships.items.push(MembershipItem {
                change,
                group: group.clone(),
                member: member.clone(),
            });
        }
    }
    memberships.truncated = memberships.added + memberships.removed > memberships.items.len();
    Diff {
        users: of_type(ResourceType::in_groups()),
        groups: of_type(ResourceType::holding_members()),
        memberships,
        role_assignments: roles,
        conflicts: p.conflicts,
    }
}

/// Applies what the tenant's dry-run changed to its live directory, in one transaction with
/// the events each change records (and `user.roles_changed` for the roles it changes), then
/// removes the shadow and makes the tenant live. Returns what it applied.
pub fn promote(db: &Db, id_or_name: &str, base: &str) -> Result<Diff, ScimError> {
    db.run_sync(|c| {
        write_tx(c, |c| {
            let tenant = super::tenants::find_id(c, id_or_name)?;
            let scope = Scope::new(&tenant);
            let started = dry_run_start(storage::tenants::locked_mode(c, &scope)?)?;
            let plan = plan(c, &scope, started)?;
            let roles = role_changes(c, &scope)?;
            let arriving: Vec<String> = plan
                .created
                .iter()
                .filter(|b| b.resource_type == ResourceType::in_groups().id)
                .map(|b| b.id.clone())
                .collect();
            let watch = RoleWatch::start_all(c, &scope, &arriving)?;
            apply(c, &scope, &plan, base)?;
            watch.finish(c, &scope)?;
            storage::tenants::delete(c, tenant.shadow().as_str())?;
            storage::tenants::set_mode(c, &scope, Mode::Live.as_str(), now_millis())?;
            Ok(describe(&plan, roles))
        })
    })
}

/// Writes a plan into the live directory, with the events of each change.
fn apply(c: &mut AnyConnection, live: &Scope<'_>, p: &Plan, base: &str) -> Result<(), ScimError> {
    let shadow_id = live.tenant().shadow();
    let twin = Scope::new(&shadow_id);
    let view = schemas::load(c, live.tenant())?;
    let rt_of = |row: &ResourceRow| -> Result<_, ScimError> {
        let rt = ResourceType::stored(&row.resource_type)
            .ok_or_else(|| ScimError::internal(anyhow::anyhow!("a resource of an unknown type")))?;
        Ok(view.resource_type(rt))
    };
    let ids = |b: &[Brief]| b.iter().map(|b| b.id.clone()).collect::<Vec<_>>();
    let (created, updated, deleted) = (ids(&p.created), ids(&p.updated), ids(&p.deleted));
    let touched: Vec<String> = [&created[..], &updated[..], &deleted[..]].concat();
    // Unique values first: a value may pass from a deleted or renamed resource to another.
    let values: Vec<_> =
        shadow::unique_values_of(c, &twin, &[&created[..], &updated[..]].concat())?
            .into_iter()
            .map(|mut v| {
                v.tenant_id = live.id().to_owned();
                v
            })
            .collect();
    shadow::replace_unique_values(c, live, &touched, Vec::new())?;
    for old in shadow::rows(c, live, &deleted)? {
        let rt = rt_of(&old)?;
        live.delete(c, &old.resource_type, &old.id)?;
        changes::deleted(c, live, &rt, &old)?;
    }
    let olds: HashMap<String, ResourceRow> = shadow::rows(c, live, &updated)?
        .into_iter()
        .map(|r| (r.id.clone(), r))
        .collect();
    // Groups before users would not matter: members are written after both.
    for mut row in shadow::rows(c, &twin, &[&created[..], &updated[..]].concat())? {
        row.tenant_id = live.id().to_owned();
        let rt = rt_of(&row)?;
        let doc = document(&row)?;
        match olds.get(&row.id) {
            None => {
                live.insert(c, &row)?;
                changes::created(c, live, &rt, base, &row, doc, None)?;
            }
            Some(old) => {
                if !live.update(c, old, &row)? {
                    return Err(ScimError::Conflict(format!(
                        "{} {} changed while the dry-run was promoted; promote again",
                        rt.name, row.id
                    )));
                }
                changes::updated(c, live, &rt, base, old, &row, doc)?;
            }
        }
    }
    shadow::replace_unique_values(c, live, &[], values)?;
    apply_memberships(c, live, &twin, p)
}

/// Adds and removes the memberships a plan names, with one pair of events per group.
fn apply_memberships(
    c: &mut AnyConnection,
    live: &Scope<'_>,
    twin: &Scope<'_>,
    p: &Plan,
) -> Result<(), ScimError> {
    let mut by_group: BTreeMap<&str, (Vec<String>, Vec<String>)> = BTreeMap::new();
    for (g, m) in &p.added {
        by_group.entry(g).or_default().0.push(m.clone());
    }
    for (g, m) in &p.removed {
        by_group.entry(g).or_default().1.push(m.clone());
    }
    let groups: HashMap<String, ResourceRow> = shadow::rows(
        c,
        live,
        &by_group.keys().map(|g| (*g).to_owned()).collect::<Vec<_>>(),
    )?
    .into_iter()
    .filter(|r| ResourceType::stored(&r.resource_type).map(|rt| rt.links) == Some(Links::Members))
    .map(|r| (r.id.clone(), r))
    .collect();
    for (group, (added, removed)) in by_group {
        let Some(row) = groups.get(group) else {
            continue;
        };
        live.remove_members(c, group, &removed)?;
        let rows: Vec<MemberRow> = shadow::member_rows(c, twin, group, &added)?
            .into_iter()
            .map(|mut m| {
                m.tenant_id = live.id().to_owned();
                m
            })
            .collect();
        shadow::add_memberships(c, rows)?;
        changes::memberships(c, live, row, &added, &removed)?;
    }
    Ok(())
}

/// Throws the tenant's dry-run away: the shadow is deleted and the tenant is live again, its
/// directory as it was.
pub fn discard(db: &Db, id_or_name: &str) -> Result<ModeState, ScimError> {
    db.run_sync(|c| {
        write_tx(c, |c| {
            let tenant = super::tenants::find_id(c, id_or_name)?;
            let scope = Scope::new(&tenant);
            dry_run_start(storage::tenants::locked_mode(c, &scope)?)?;
            storage::tenants::delete(c, tenant.shadow().as_str())?;
            let now = now_millis();
            storage::tenants::set_mode(c, &scope, Mode::Live.as_str(), now)?;
            Ok(ModeState {
                mode: Mode::Live,
                since: Some(rfc3339(now)),
            })
        })
    })
}

/// The tenant whose directory a request of `tenant` in `mode` reads and writes.
pub fn directory_of(tenant: &TenantId, mode: Mode) -> TenantId {
    match mode {
        Mode::DryRun => tenant.shadow(),
        Mode::Live | Mode::Paused => tenant.clone(),
    }
}
