//! Users and Groups: create, read, list, replace, delete.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::{changes, document};
use crate::error::ScimError;
use crate::events::roles::{self, RoleWatch};
use crate::scim::filter;
use crate::scim::fold_case;
use crate::scim::patch::{self, MemberChange};
use crate::scim::project::Projection;
use crate::scim::resource::{self, ETagMatch, LinkView, Meta};
use crate::scim::schema::{Links, ResourceType};
use crate::scim::user_name;
use crate::scim::validate::{self, MemberRef};
use crate::state::AppState;
use crate::storage::Scope;
use crate::storage::models::ResourceRow;
use crate::storage::resources::Link;
use crate::storage::{AnyConnection, StoreError, now_millis};
use crate::tenant::TenantId;
use crate::token::hash_password;

/// A rendered resource and the headers that go with it.
#[derive(Debug)]
pub struct Rendered {
    pub body: Box<RawValue>,
    pub version: i64,
    pub etag: String,
    pub location: String,
    /// Extensions the tenant has not registered that the write stored as sent.
    pub unregistered: Vec<String>,
}

/// Creates a resource from a POST body.
pub async fn create(
    state: &AppState,
    tenant: &TenantId,
    rt: Arc<ResourceType>,
    body: Value,
    view: Projection,
) -> Result<Rendered, ScimError> {
    let creation = Creation::prepare(state, tenant, rt.clone(), body, new_id()).await?;
    let unregistered = creation.unregistered().to_vec();
    let base = state.base_url.clone();
    let mut rendered = write(state, tenant, move |scope, c| {
        let row = creation.apply(scope, c, &base)?;
        // A resource just created is in no group yet; only the members it was given are read.
        let links = match links_shown(&rt, &view) {
            Some(Shown::Members) => scope.members_of(c, std::slice::from_ref(&row.id), None)?,
            Some(Shown::Groups) | None => Vec::new(),
        };
        one(render_linked(&rt, &base, vec![row], &links, &view)?)
    })
    .await?;
    rendered.unregistered = unregistered;
    Ok(rendered)
}

/// A new resource's id. Time-ordered, so a large tenant's inserts land at the right edge of the
/// primary key's B-tree instead of on a random page of it.
pub(super) fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// A POST or PUT body validated within the limits, its password hashed: the CPU work of a
/// full write, done before the write lock.
pub(super) struct Checked {
    input: validate::Validated,
    password_hash: Option<String>,
}

impl Checked {
    /// Extensions the tenant has not registered that the body stores as sent.
    pub(super) fn unregistered(&self) -> &[String] {
        &self.input.unregistered
    }

    async fn body(
        state: &AppState,
        tenant: &TenantId,
        rt: &ResourceType,
        body: Value,
    ) -> Result<Self, ScimError> {
        let input = validate::resource_body(rt, body)?;
        state.settings.limits.check_resource(&input)?;
        let password_hash = hash(state, tenant, input.password.clone()).await?;
        Ok(Self {
            input,
            password_hash,
        })
    }
}

/// A create whose CPU work is done before the write lock; [`Creation::apply`] is what runs
/// under it.
pub(super) struct Creation {
    rt: Arc<ResourceType>,
    id: String,
    body: Checked,
    /// The new user's app view for its event, built before the lock.
    app: Option<Value>,
}

impl Creation {
    /// Extensions the tenant has not registered that the body stores as sent.
    pub(super) fn unregistered(&self) -> &[String] {
        self.body.unregistered()
    }

    /// Validates a POST body for a resource that will get `id`.
    pub(super) async fn prepare(
        state: &AppState,
        tenant: &TenantId,
        rt: Arc<ResourceType>,
        body: Value,
        id: String,
    ) -> Result<Self, ScimError> {
        let mut body = Checked::body(state, tenant, &rt, body).await?;
        let app = changes::new_app_user(&rt, &id, &mut body.input.doc);
        Ok(Self { rt, id, body, app })
    }

    /// Stores the resource, its members and its events; returns the stored row.
    pub(super) fn apply(
        self,
        scope: &Scope<'_>,
        c: &mut AnyConnection,
        base: &str,
    ) -> Result<ResourceRow, ScimError> {
        let Self {
            rt,
            id,
            body: Checked {
                input,
                password_hash,
            },
            app,
        } = self;
        // Stamped under the tenant lock, so creation times follow commit order and a keyset
        // cursor cannot pass a row that commits later with an earlier time.
        let now = now_millis();
        let row = stored_row(
            scope.tenant(),
            &rt,
            id,
            &input.doc,
            (now, now, 1),
            password_hash,
        )?;
        let member_ids = checked_members(scope, c, &input.members, None)?;
        let watch = RoleWatch::start(c, &Scope::new(scope.tenant()), &member_ids)?;
        scope
            .insert(c, &row)
            .map_err(|e| uniqueness(e, &rt, &input.doc))?;
        hold_unique(scope, c, &rt, &row.id, &input.doc)?;
        changes::created(c, scope, &rt, base, &row, input.doc, app)?;
        let added = scope.add_members(c, &row.id, &member_ids, &input.members)?;
        changes::memberships(c, scope, &row, &added, &[])?;
        finish(watch, c, scope.tenant())?;
        Ok(row)
    }
}

/// How many links (a user's groups, a group's members) a resource read on the calling thread
/// may carry. One with more (a large group) is read again on the blocking pool, so rendering it
/// never holds up the other requests of the thread's event loop.
const INLINE_LINKS: usize = 100;

/// Reads one resource.
pub async fn get(
    state: &AppState,
    tenant: &TenantId,
    rt: Arc<ResourceType>,
    id: String,
    view: Projection,
) -> Result<Rendered, ScimError> {
    let small = {
        let (tenant, base, id, view, rt) = (
            tenant.clone(),
            state.base_url.clone(),
            id.clone(),
            view.clone(),
            rt.clone(),
        );
        state
            .db
            .read_by_key(move |c| {
                let scope = Scope::new(&tenant);
                let row = found(&scope, c, &rt, &id)?;
                Ok(render_few(&scope, c, &rt, &base, vec![row], &view)?.and_then(|mut r| r.pop()))
            })
            .await?
    };
    if let Some(rendered) = small {
        return Ok(rendered);
    }
    let (tenant, base) = (tenant.clone(), state.base_url.clone());
    state
        .db
        .run(move |c| {
            let scope = Scope::new(&tenant);
            let row = found(&scope, c, &rt, &id)?;
            one(render_rows(&scope, c, &rt, &base, vec![row], &view)?)
        })
        .await
}

fn found(
    scope: &Scope<'_>,
    c: &mut AnyConnection,
    rt: &ResourceType,
    id: &str,
) -> Result<ResourceRow, ScimError> {
    scope.get(c, rt.id, id)?.ok_or_else(|| not_found(rt, id))
}

/// The resource a write goes to, and the `If-Match` it must satisfy (RFC 7644 §3.14).
#[derive(Debug, Clone)]
pub struct Target {
    pub rt: Arc<ResourceType>,
    pub id: String,
    pub if_match: Option<ETagMatch>,
}

impl Target {
    /// Reads the resource for update and checks the precondition against it.
    fn lock(&self, scope: &Scope<'_>, c: &mut AnyConnection) -> Result<ResourceRow, ScimError> {
        let row = scope
            .lock(c, self.rt.id, &self.id)?
            .ok_or_else(|| not_found(&self.rt, &self.id))?;
        match &self.if_match {
            Some(m) if !m.matches(row.version) => Err(ScimError::PreconditionFailed(format!(
                "{} {} is at version {}, not the one in If-Match; read it again and retry",
                self.rt.name,
                self.id,
                resource::etag(row.version)
            ))),
            _ => Ok(row),
        }
    }
}

/// Replaces a resource with a PUT body (RFC 7644 §3.5.1): attributes left out are cleared,
/// read-only input is ignored, and a password left out is kept (it is write-only).
pub async fn replace(
    state: &AppState,
    tenant: &TenantId,
    target: Target,
    body: Value,
    view: Projection,
) -> Result<Rendered, ScimError> {
    let rt = target.rt.clone();
    let replacement = Replacement::prepare(state, tenant, target, body).await?;
    let unregistered = replacement.unregistered().to_vec();
    let base = state.base_url.clone();
    let mut rendered = write(state, tenant, move |scope, c| {
        let (row, groups) = replacement.apply_read(scope, c, &base)?;
        render_written(scope, c, &rt, &base, row, groups, &view)
    })
    .await?;
    rendered.unregistered = unregistered;
    Ok(rendered)
}

/// A replace whose CPU work is done before the write lock; [`Replacement::apply`] runs under it.
pub(super) struct Replacement {
    target: Target,
    body: Checked,
}

impl Replacement {
    /// Extensions the tenant has not registered that the body stores as sent.
    pub(super) fn unregistered(&self) -> &[String] {
        self.body.unregistered()
    }

    /// Validates a PUT body.
    pub(super) async fn prepare(
        state: &AppState,
        tenant: &TenantId,
        target: Target,
        body: Value,
    ) -> Result<Self, ScimError> {
        let body = Checked::body(state, tenant, &target.rt, body).await?;
        Ok(Self { target, body })
    }

    /// Stores the new version, the membership difference and the events; returns the row.
    pub(super) fn apply(
        self,
        scope: &Scope<'_>,
        c: &mut AnyConnection,
        base: &str,
    ) -> Result<ResourceRow, ScimError> {
        self.apply_read(scope, c, base).map(|(row, _)| row)
    }

    /// [`Replacement::apply`], with a user's direct groups, which its event read.
    fn apply_read(
        self,
        scope: &Scope<'_>,
        c: &mut AnyConnection,
        base: &str,
    ) -> Result<(ResourceRow, Option<Vec<Link>>), ScimError> {
        let Self {
            target,
            body: Checked {
                input,
                password_hash,
            },
        } = self;
        let rt = target.rt.clone();
        let old = target.lock(scope, c)?;
        // The stored document is parsed once, for every check that needs it.
        let old_doc = document(&old)?;
        validate::check_immutable(&rt, &old_doc, &input.doc)?;
        let member_ids = checked_members(scope, c, &input.members, Some(&old.id))?;
        let is_group = rt.links == Links::Members;
        // Only the difference is written: members that stay are not touched.
        let (gone, touched) = if is_group {
            let current = scope.member_ids(c, &old.id, None)?;
            let (before, after): (HashSet<&String>, HashSet<&String>) =
                (current.iter().collect(), member_ids.iter().collect());
            let gone: Vec<String> = current
                .iter()
                .filter(|m| !after.contains(m))
                .cloned()
                .collect();
            let mut touched: Vec<String> = member_ids
                .iter()
                .filter(|m| !before.contains(m))
                .cloned()
                .collect();
            touched.extend(gone.iter().cloned());
            let (before, after) = (display_name(&old_doc), display_name(&input.doc));
            if renamed_under_a_mapping(c, scope.tenant(), &rt, before, after)? {
                touched.push(old.id.clone());
            }
            (gone, touched)
        } else {
            (Vec::new(), Vec::new())
        };
        let watch = RoleWatch::start(c, &Scope::new(scope.tenant()), &touched)?;
        let row = next_version(
            scope,
            c,
            &rt,
            &old,
            &input.doc,
            password_hash.or(old.password_hash.clone()),
        )?;
        let groups = changes::updated(c, scope, &rt, base, &old, &row, input.doc)?;
        if is_group {
            let removed = scope.remove_members(c, &row.id, &gone)?;
            let added = scope.add_members(c, &row.id, &member_ids, &input.members)?;
            changes::memberships(c, scope, &row, &added, &removed)?;
        }
        finish(watch, c, scope.tenant())?;
        Ok((row, groups))
    }
}

/// Applies a PATCH body (RFC 7644 §3.5.2), all or nothing. Membership changes go straight to
/// the membership table, so a group's other members are neither read nor rewritten. A request
/// that changes nothing leaves the version as it was.
pub async fn patch(
    state: &AppState,
    tenant: &TenantId,
    target: Target,
    body: Value,
    view: Projection,
) -> Result<Rendered, ScimError> {
    let rt = target.rt.clone();
    let patching = Patching::prepare(state, tenant, target, body).await?;
    let unregistered = patching.unregistered().to_vec();
    let base = state.base_url.clone();
    let mut rendered = write(state, tenant, move |scope, c| {
        let (row, groups) = patching.apply_read(scope, c, &base)?;
        render_written(scope, c, &rt, &base, row, groups, &view)
    })
    .await?;
    rendered.unregistered = unregistered;
    Ok(rendered)
}

/// Renders a row just written; a user's direct groups, when its event read them, are not read
/// again.
fn render_written(
    scope: &Scope<'_>,
    c: &mut AnyConnection,
    rt: &ResourceType,
    base: &str,
    row: ResourceRow,
    groups: Option<Vec<Link>>,
    view: &Projection,
) -> Result<Rendered, ScimError> {
    match (groups, links_shown(rt, view)) {
        (Some(groups), Some(Shown::Groups)) => {
            one(render_linked(rt, base, vec![row], &groups, view)?)
        }
        _ => one(render_rows(scope, c, rt, base, vec![row], view)?),
    }
}

/// A PATCH tried on the version read before the write lock; [`Patching::apply`] runs under it.
pub(super) struct Patching {
    target: Target,
    request: std::sync::Arc<patch::PatchRequest>,
    read_version: i64,
    trial: patch::Patched,
    /// The displayName of the version read, so the write lock need not parse it again.
    read_name: Option<String>,
    new_password: Option<String>,
    prehashed: Option<String>,
    limits: crate::scim::limits::Limits,
}

impl Patching {
    /// Extensions the tenant has not registered that the operations write as sent.
    pub(super) fn unregistered(&self) -> &[String] {
        &self.trial.unregistered
    }

    /// Parses the body and applies it to the current version, outside the write lock.
    pub(super) async fn prepare(
        state: &AppState,
        tenant: &TenantId,
        target: Target,
        body: Value,
    ) -> Result<Self, ScimError> {
        let rt = target.rt.clone();
        let limits = state.settings.limits;
        let request = patch::parse_request(body)?;
        // The CPU work of a PATCH (apply, validate) is done here, before the write lock, on the
        // version read now; under the lock it is redone only if another write came in between.
        // A request that cannot apply is refused without taking the lock at all. It runs where
        // a GET by id does (on the event loop when a SQLite connection is idle): its cost is
        // linear-log in the request and the stored document, both bounded by the body limit,
        // as is the parse of the body that was already done here.
        let request = std::sync::Arc::new(request);
        let (read_version, trial, read_name) = {
            let (tenant, id, request) = (tenant.clone(), target.id.clone(), request.clone());
            state
                .db
                .read_by_key(move |c| {
                    let row = found(&Scope::new(&tenant), c, &rt, &id)?;
                    let doc = document(&row)?;
                    let patched = patch::apply(&rt, &doc, &request, &limits)?;
                    Ok((row.version, patched, display_name(&doc).map(str::to_owned)))
                })
                .await?
        };
        // argon2 is slow by design: a new password is hashed before the write lock is taken.
        let new_password = trial.password.clone();
        let prehashed = hash(state, tenant, new_password.clone()).await?;
        Ok(Self {
            target,
            request,
            read_version,
            trial,
            read_name,
            new_password,
            prehashed,
            limits,
        })
    }

    /// Stores the patched version (when anything changed), membership changes and events;
    /// returns the resource's row as it now is.
    pub(super) fn apply(
        self,
        scope: &Scope<'_>,
        c: &mut AnyConnection,
        base: &str,
    ) -> Result<ResourceRow, ScimError> {
        self.apply_read(scope, c, base).map(|(row, _)| row)
    }

    /// [`Patching::apply`], with a user's direct groups when its event read them.
    fn apply_read(
        self,
        scope: &Scope<'_>,
        c: &mut AnyConnection,
        base: &str,
    ) -> Result<(ResourceRow, Option<Vec<Link>>), ScimError> {
        let Self {
            target,
            request,
            read_version,
            trial,
            read_name,
            new_password,
            prehashed,
            limits,
        } = self;
        let rt = target.rt.clone();
        let old = target.lock(scope, c)?;
        let (patched, before) = if old.version == read_version {
            (trial, read_name)
        } else {
            let doc = document(&old)?;
            let before = display_name(&doc).map(str::to_owned);
            (patch::apply(&rt, &doc, &request, &limits)?, before)
        };
        let password_hash = match &patched.password {
            Some(p) if Some(p) == new_password.as_ref() => prehashed,
            Some(p) => Some(hash_password(p)?),
            None => old.password_hash.clone(),
        };
        let mut touched = touched_by(&patched, &old.id);
        let after = display_name(&patched.doc);
        if renamed_under_a_mapping(c, scope.tenant(), &rt, before.as_deref(), after)? {
            touched.push(old.id.clone());
        }
        let watch = RoleWatch::start(c, &Scope::new(scope.tenant()), &touched)?;
        let (mut added, mut removed) = (Vec::new(), Vec::new());
        for change in patched.members {
            let (a, r) = apply_member_change(scope, c, &old.id, change, base)?;
            added.extend(a);
            removed.extend(r);
        }
        let mut groups = None;
        let row = if patched.changed
            || patched.password.is_some()
            || !added.is_empty()
            || !removed.is_empty()
        {
            let row = next_version(scope, c, &rt, &old, &patched.doc, password_hash)?;
            if patched.changed || patched.password.is_some() {
                groups = changes::updated(c, scope, &rt, base, &old, &row, patched.doc)?;
            }
            changes::memberships(c, scope, &row, &added, &removed)?;
            row
        } else {
            old
        };
        finish(watch, c, scope.tenant())?;
        Ok((row, groups))
    }
}

/// Stores `doc` as the next version of `old` (the caller holds the row lock).
pub(super) fn next_version(
    scope: &Scope<'_>,
    c: &mut AnyConnection,
    rt: &ResourceType,
    old: &ResourceRow,
    doc: &Map<String, Value>,
    password_hash: Option<String>,
) -> Result<ResourceRow, ScimError> {
    let times = (
        old.created_at,
        now_millis().max(old.modified_at),
        old.version + 1,
    );
    let mut row = stored_row(
        scope.tenant(),
        rt,
        old.id.clone(),
        doc,
        times,
        password_hash,
    )?;
    row.user_name_key = row
        .user_name_key
        .map(|new| user_name::next_key(old.user_name_key.as_deref(), new));
    scope
        .update(c, old, &row)
        .map_err(|e| uniqueness(e, rt, doc))?;
    hold_unique(scope, c, rt, &row.id, doc)?;
    Ok(row)
}

/// Holds the values `doc` carries for the tenant's unique extension attributes.
fn hold_unique(
    scope: &Scope<'_>,
    c: &mut AnyConnection,
    rt: &ResourceType,
    id: &str,
    doc: &Map<String, Value>,
) -> Result<(), ScimError> {
    if !rt.has_unique_extensions() {
        return Ok(());
    }
    super::schemas::hold(scope, c, rt, id, &validate::unique_values(rt, doc), false)
}

/// Whose roles a group PATCH's membership changes may change: the members it adds or removes,
/// or everyone under the group when it loses members by a broad rule.
fn touched_by(patched: &patch::Patched, group_id: &str) -> Vec<String> {
    let mut ids = Vec::new();
    for change in &patched.members {
        match change {
            MemberChange::Add(refs) => ids.extend(refs.iter().map(|r| r.value.clone())),
            MemberChange::Remove(gone) => ids.extend(gone.iter().cloned()),
            MemberChange::RemoveAll | MemberChange::RemoveMatching(_) => {
                ids.push(group_id.to_owned())
            }
        }
    }
    ids
}

/// Whether a group's new displayName changes which role mappings name it (mappings may name a
/// group by displayName); only then do all users under it need their roles checked.
fn renamed_under_a_mapping(
    c: &mut AnyConnection,
    tenant: &TenantId,
    rt: &ResourceType,
    before: Option<&str>,
    after: Option<&str>,
) -> Result<bool, ScimError> {
    if rt.links != Links::Members || before == after {
        return Ok(false);
    }
    let names: Vec<String> = [before, after]
        .into_iter()
        .flatten()
        .map(str::to_owned)
        .collect();
    roles::names_group(c, &Scope::new(tenant), &names)
}

/// A document's displayName.
fn display_name(doc: &Map<String, Value>) -> Option<&str> {
    doc.get("displayName").and_then(Value::as_str)
}

/// Runs `f` on the blocking pool in one write transaction holding the tenant's lock, with the
/// tenant's storage scope: the frame of every write here.
pub(super) async fn write<R: Send + 'static>(
    state: &AppState,
    tenant: &TenantId,
    f: impl FnOnce(&Scope<'_>, &mut AnyConnection) -> Result<R, ScimError> + Send + 'static,
) -> Result<R, ScimError> {
    let id = tenant.clone();
    state
        .db
        .write(tenant.as_str(), move |c| f(&Scope::new(&id), c))
        .await
}

/// Records the roles that changed, when roles were being watched.
fn finish(
    watch: Option<RoleWatch>,
    c: &mut AnyConnection,
    tenant: &TenantId,
) -> Result<(), ScimError> {
    watch.map_or(Ok(()), |w| w.finish(c, &Scope::new(tenant)))
}

/// Applies one membership change to a group; returns the ids added and removed.
fn apply_member_change(
    scope: &Scope<'_>,
    c: &mut AnyConnection,
    group_id: &str,
    change: MemberChange,
    base: &str,
) -> Result<(Vec<String>, Vec<String>), ScimError> {
    Ok(match change {
        MemberChange::Add(refs) => {
            let ids = checked_members(scope, c, &refs, Some(group_id))?;
            (scope.add_members(c, group_id, &ids, &refs)?, Vec::new())
        }
        MemberChange::Remove(ids) => (Vec::new(), scope.remove_members(c, group_id, &ids)?),
        MemberChange::RemoveAll => (Vec::new(), scope.clear_members(c, group_id)?),
        MemberChange::RemoveMatching(filter) => {
            // A filter on something other than the member id: the rare path that reads members.
            let ids: Vec<String> = scope
                .members_of(c, &[group_id.to_owned()], None)?
                .iter()
                .filter(|l| {
                    let view = LinkView {
                        id: &l.id,
                        resource_type: &l.resource_type,
                        display: l.display.as_deref(),
                    };
                    filter::matches_value(
                        &filter,
                        &resource::render_link(ResourceType::holding_members(), base, &view),
                    )
                })
                .map(|l| l.id.clone())
                .collect();
            (Vec::new(), scope.remove_members(c, group_id, &ids)?)
        }
    })
}

/// Deletes a resource; a deleted User or Group also leaves every group it was a member of.
pub async fn delete(state: &AppState, tenant: &TenantId, target: Target) -> Result<(), ScimError> {
    write(state, tenant, move |scope, c| remove(scope, c, &target)).await
}

/// The delete under the write lock: the row, its memberships, and the events.
pub(super) fn remove(
    scope: &Scope<'_>,
    c: &mut AnyConnection,
    target: &Target,
) -> Result<(), ScimError> {
    let row = target.lock(scope, c)?;
    // Deleting a group changes the roles of everyone under it.
    let touched = match target.rt.links {
        Links::Groups => Vec::new(),
        Links::Members => vec![row.id.clone()],
    };
    let watch = RoleWatch::start(c, &Scope::new(scope.tenant()), &touched)?;
    // The groups it belonged to lose a member: they get a new version and an event.
    let groups: Vec<String> = scope
        .groups_of(c, std::slice::from_ref(&row.id), None)?
        .into_iter()
        .map(|l| l.id)
        .collect();
    scope.delete(c, target.rt.id, &row.id)?;
    changes::deleted(c, scope, &target.rt, &row)?;
    let groups_rt = ResourceType::holding_members();
    for gid in groups {
        if let Some(group) = scope.lock(c, groups_rt.id, &gid)? {
            let bumped = next_version(scope, c, groups_rt, &group, &document(&group)?, None)?;
            changes::memberships(c, scope, &bumped, &[], std::slice::from_ref(&row.id))?;
        }
    }
    finish(watch, c, scope.tenant())
}

async fn hash(
    state: &AppState,
    tenant: &TenantId,
    password: Option<String>,
) -> Result<Option<String>, ScimError> {
    let Some(password) = password else {
        return Ok(None);
    };
    Ok(Some(
        state
            .argon2
            .run_for(tenant, move || hash_password(&password))
            .await??,
    ))
}

fn not_found(rt: &ResourceType, id: &str) -> ScimError {
    ScimError::NotFound(format!("{} {id} not found", rt.name))
}

fn uniqueness(e: StoreError, rt: &ResourceType, doc: &Map<String, Value>) -> ScimError {
    match e {
        StoreError::Duplicate => {
            let name = doc
                .get("userName")
                .and_then(Value::as_str)
                .unwrap_or_default();
            ScimError::Uniqueness(format!(
                "a {} with userName {name:?} already exists in this tenant (userNames are \
                 compared ignoring case, fullwidth forms and Unicode normalisation)",
                rt.name
            ))
        }
        other => other.into(),
    }
}

/// Checks that every member exists in the tenant (and has the type the client named); returns
/// their ids. Nothing is written when one is missing.
fn checked_members(
    scope: &Scope<'_>,
    c: &mut AnyConnection,
    members: &[MemberRef],
    group_id: Option<&str>,
) -> Result<Vec<String>, ScimError> {
    if members.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<String> = members.iter().map(|m| m.value.clone()).collect();
    if let Some(g) = group_id.filter(|g| ids.iter().any(|id| id == g)) {
        return Err(ScimError::InvalidValue(format!(
            "group {g} cannot be a member of itself"
        )));
    }
    let found: HashMap<String, String> = scope.existing(c, &ids)?.into_iter().collect();
    let missing: Vec<&str> = ids
        .iter()
        .filter(|id| !found.contains_key(*id))
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        return Err(ScimError::InvalidValue(format!(
            "members refer to ids that are not Users or Groups of this tenant: {}",
            missing.join(", ")
        )));
    }
    for m in members {
        if let Some(t) = &m.resource_type {
            let actual = &found[&m.value];
            if !t.eq_ignore_ascii_case(actual) {
                return Err(ScimError::InvalidValue(format!(
                    "member {} is a {actual}, not a {t}",
                    m.value
                )));
            }
        }
    }
    Ok(ids)
}

/// Builds the stored row: the canonical document plus the columns extracted for lookups.
fn stored_row(
    tenant: &TenantId,
    rt: &ResourceType,
    id: String,
    doc: &Map<String, Value>,
    (created_at, modified_at, version): (i64, i64, i64),
    password_hash: Option<String>,
) -> Result<ResourceRow, ScimError> {
    let text = |k: &str| doc.get(k).and_then(Value::as_str);
    let lower = |k: &str| text(k).map(fold_case);
    let unique = rt.unique_key.and_then(text);
    let emails = doc.get("emails").and_then(Value::as_array);
    let email = emails.and_then(|e| {
        e.iter()
            .find(|m| m.get("primary") == Some(&Value::Bool(true)))
            .or_else(|| e.first())
    });
    Ok(ResourceRow {
        tenant_id: tenant.as_str().to_owned(),
        id,
        resource_type: rt.id.to_owned(),
        user_name_lc: unique.map(fold_case),
        external_id: text("externalId").map(str::to_owned),
        display_name_lc: lower("displayName"),
        active: doc.get("active").and_then(Value::as_bool),
        email_lc: email
            .and_then(|m| m.get("value"))
            .and_then(Value::as_str)
            .map(str::to_lowercase),
        display: text("displayName")
            .or_else(|| text("userName"))
            .map(str::to_owned),
        created_at,
        modified_at,
        version,
        password_hash,
        doc: serde_json::to_string(doc).map_err(ScimError::internal)?,
        user_name_key: unique.map(user_name::key),
    })
}

/// Renders rows as `view` asks, with their members (Groups) or groups (Users) loaded in one
/// query for all rows, and only when the view shows them.
pub(super) fn render_rows(
    scope: &Scope<'_>,
    c: &mut AnyConnection,
    rt: &ResourceType,
    base: &str,
    rows: Vec<ResourceRow>,
    view: &Projection,
) -> Result<Vec<Rendered>, ScimError> {
    let links = read_links(scope, c, rt, &rows, view, None)?;
    render_linked(rt, base, rows, &links, view)
}

/// [`render_rows`] for work on an event loop: `None`, with nothing rendered, when the rows
/// carry more than [`INLINE_LINKS`] links (rendering them belongs on the blocking pool).
pub(super) fn render_few(
    scope: &Scope<'_>,
    c: &mut AnyConnection,
    rt: &ResourceType,
    base: &str,
    rows: Vec<ResourceRow>,
    view: &Projection,
) -> Result<Option<Vec<Rendered>>, ScimError> {
    let links = read_links(scope, c, rt, &rows, view, Some(INLINE_LINKS as i64 + 1))?;
    if links.len() > INLINE_LINKS {
        return Ok(None);
    }
    render_linked(rt, base, rows, &links, view).map(Some)
}

fn read_links(
    scope: &Scope<'_>,
    c: &mut AnyConnection,
    rt: &ResourceType,
    rows: &[ResourceRow],
    view: &Projection,
    most: Option<i64>,
) -> Result<Vec<Link>, ScimError> {
    let ids = || rows.iter().map(|r| r.id.clone()).collect::<Vec<_>>();
    Ok(match links_shown(rt, view) {
        None => Vec::new(),
        Some(Shown::Groups) => scope.groups_of(c, &ids(), most)?,
        Some(Shown::Members) => scope.members_of(c, &ids(), most)?,
    })
}

/// The links a resource renders: a user's groups, a group's members.
enum Shown {
    Groups,
    Members,
}

/// Which links a resource of `rt` renders in `view`; none when the view leaves them out.
fn links_shown(rt: &ResourceType, view: &Projection) -> Option<Shown> {
    let link = match rt.links {
        Links::Groups => Shown::Groups,
        Links::Members => Shown::Members,
    };
    view.keeps_core(rt, rt.links.attribute()).then_some(link)
}

/// Renders `rows` with their `links` (in owner order, as storage reads them).
fn render_linked(
    rt: &ResourceType,
    base: &str,
    rows: Vec<ResourceRow>,
    links: &[Link],
    view: &Projection,
) -> Result<Vec<Rendered>, ScimError> {
    let mut by_owner: HashMap<&str, Vec<LinkView<'_>>> = HashMap::new();
    for Link {
        owner_id,
        id,
        resource_type,
        display,
    } in links
    {
        by_owner
            .entry(owner_id.as_str())
            .or_default()
            .push(LinkView {
                id,
                resource_type,
                display: display.as_deref(),
            });
    }
    rows.iter()
        .map(|row| {
            let meta = Meta {
                created: rfc3339(row.created_at),
                last_modified: rfc3339(row.modified_at),
                version: row.version,
            };
            let links = by_owner.get(row.id.as_str()).map_or(&[][..], Vec::as_slice);
            // The default view copies the stored document in as text; any other parses it.
            let text = view
                .is_default()
                .then(|| resource::render_default_text(rt, base, &row.id, &row.doc, &meta, links))
                .flatten();
            let body = match text {
                Some(text) => text,
                None => {
                    let doc = document(row)?;
                    let body = resource::render(rt, base, &row.id, doc, &meta, links);
                    serde_json::value::to_raw_value(&view.apply(rt, body))
                        .map_err(ScimError::internal)?
                }
            };
            Ok(Rendered {
                body,
                version: row.version,
                etag: meta.etag(),
                location: resource::location(base, rt, &row.id),
                unregistered: Vec::new(),
            })
        })
        .collect()
}

fn one(mut rendered: Vec<Rendered>) -> Result<Rendered, ScimError> {
    rendered
        .pop()
        .ok_or_else(|| ScimError::internal(anyhow::anyhow!("a stored row did not render")))
}

fn rfc3339(millis: i64) -> String {
    DateTime::from_timestamp_millis(millis)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}
