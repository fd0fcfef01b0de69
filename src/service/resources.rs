//! Users and Groups: create, read, list, replace, delete.

use std::collections::HashMap;

use chrono::{DateTime, SecondsFormat};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use serde_json::{Map, Value};

use crate::error::ScimError;
use crate::scim::fold_case;
use crate::scim::project::Projection;
use crate::scim::resource::{self, LinkView, Meta};
use crate::scim::schema::{ResourceType, USER_RESOURCE};
use crate::scim::validate::{self, MemberRef, Validated};
use crate::state::AppState;
use crate::storage::models::ResourceRow;
use crate::storage::resources::{Link, Scope};
use crate::storage::{AnyConnection, now_millis, write_tx};
use crate::tenant::TenantId;
use crate::token::hash_password;

/// A rendered resource and the headers that go with it.
#[derive(Debug)]
pub struct Rendered {
    pub body: Value,
    pub etag: String,
    pub location: String,
}

/// How many concurrent-update retries a replace makes before giving up.
const MAX_RETRIES: usize = 5;

/// Creates a resource from a POST body.
pub async fn create(
    state: &AppState,
    tenant: &TenantId,
    rt: &'static ResourceType,
    body: Value,
    view: Projection,
) -> Result<Rendered, ScimError> {
    let input = validate::resource_body(rt, body)?;
    let password_hash = hash(input.password.clone()).await?;
    let now = now_millis();
    let row = stored_row(
        tenant,
        rt,
        uuid::Uuid::new_v4().to_string(),
        &input.doc,
        (now, now, 1),
        password_hash,
    )?;
    let (tenant, base) = (tenant.clone(), state.base_url.clone());
    state
        .db
        .run(move |c| {
            write_tx(c, |c| {
                let scope = Scope::new(&tenant);
                let member_ids = checked_members(&scope, c, &input.members, None)?;
                scope
                    .insert(c, &row)
                    .map_err(|e| uniqueness(e, rt, &input))?;
                scope.add_members(c, &row.id, &member_ids)?;
                one(render_rows(&scope, c, rt, &base, vec![row], &view)?)
            })
        })
        .await
}

/// Reads one resource.
pub async fn get(
    state: &AppState,
    tenant: &TenantId,
    rt: &'static ResourceType,
    id: String,
    view: Projection,
) -> Result<Rendered, ScimError> {
    let (tenant, base) = (tenant.clone(), state.base_url.clone());
    state
        .db
        .run(move |c| {
            let scope = Scope::new(&tenant);
            let row = scope
                .get(c, rt.id, &id)?
                .ok_or_else(|| not_found(rt, &id))?;
            one(render_rows(&scope, c, rt, &base, vec![row], &view)?)
        })
        .await
}

/// Replaces a resource with a PUT body (RFC 7644 §3.5.1): attributes left out are cleared,
/// read-only input is ignored, and a password left out is kept (it is write-only).
pub async fn replace(
    state: &AppState,
    tenant: &TenantId,
    rt: &'static ResourceType,
    id: String,
    body: Value,
    view: Projection,
) -> Result<Rendered, ScimError> {
    let input = validate::resource_body(rt, body)?;
    let password_hash = hash(input.password.clone()).await?;
    for _ in 0..MAX_RETRIES {
        let (tenant, base, id, input, password_hash, view) = (
            tenant.clone(),
            state.base_url.clone(),
            id.clone(),
            input.clone(),
            password_hash.clone(),
            view.clone(),
        );
        let done = state
            .db
            .run(move |c| {
                write_tx(c, |c| {
                    let scope = Scope::new(&tenant);
                    let old = scope
                        .get(c, rt.id, &id)?
                        .ok_or_else(|| not_found(rt, &id))?;
                    let member_ids = checked_members(&scope, c, &input.members, Some(&id))?;
                    let times = (
                        old.created_at,
                        now_millis().max(old.modified_at),
                        old.version + 1,
                    );
                    let row = stored_row(
                        &tenant,
                        rt,
                        id,
                        &input.doc,
                        times,
                        password_hash.or(old.password_hash),
                    )?;
                    if !scope
                        .update(c, &row, old.version)
                        .map_err(|e| uniqueness(e, rt, &input))?
                    {
                        return Ok(None);
                    }
                    if rt.id != USER_RESOURCE.id {
                        scope.clear_members(c, &row.id)?;
                        scope.add_members(c, &row.id, &member_ids)?;
                    }
                    one(render_rows(&scope, c, rt, &base, vec![row], &view)?).map(Some)
                })
            })
            .await?;
        if let Some(rendered) = done {
            return Ok(rendered);
        }
    }
    Err(ScimError::internal(anyhow::anyhow!(
        "{} {id} kept changing under a replace",
        rt.name
    )))
}

/// Deletes a resource; a deleted User or Group also leaves every group it was a member of.
pub async fn delete(
    state: &AppState,
    tenant: &TenantId,
    rt: &'static ResourceType,
    id: String,
) -> Result<(), ScimError> {
    let tenant = tenant.clone();
    state
        .db
        .run(move |c| {
            if Scope::new(&tenant).delete(c, rt.id, &id)? {
                Ok(())
            } else {
                Err(not_found(rt, &id))
            }
        })
        .await
}

async fn hash(password: Option<String>) -> Result<Option<String>, ScimError> {
    let Some(password) = password else {
        return Ok(None);
    };
    let hashed = tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(ScimError::internal)??;
    Ok(Some(hashed))
}

fn not_found(rt: &ResourceType, id: &str) -> ScimError {
    ScimError::NotFound(format!("{} {id} not found", rt.name))
}

fn uniqueness(e: DieselError, rt: &ResourceType, input: &Validated) -> ScimError {
    match e {
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
            let name = input
                .doc
                .get("userName")
                .and_then(Value::as_str)
                .unwrap_or_default();
            ScimError::Uniqueness(format!(
                "a {} with userName {name:?} already exists in this tenant",
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
    let is_user = rt.id == USER_RESOURCE.id;
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
        user_name_lc: if is_user { lower("userName") } else { None },
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
    let is_user = rt.id == USER_RESOURCE.id;
    let links = if !view.keeps_core(rt, if is_user { "groups" } else { "members" }) {
        Vec::new()
    } else {
        let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
        if is_user {
            scope.groups_of(c, &ids)?
        } else {
            scope.members_of(c, &ids)?
        }
    };
    let mut by_owner: HashMap<&str, Vec<LinkView<'_>>> = HashMap::new();
    for Link {
        owner_id,
        id,
        resource_type,
        display,
    } in &links
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
            let doc: Map<String, Value> =
                serde_json::from_str(&row.doc).map_err(ScimError::internal)?;
            let meta = Meta {
                created: rfc3339(row.created_at),
                last_modified: rfc3339(row.modified_at),
                version: row.version,
            };
            let links = by_owner.get(row.id.as_str()).map_or(&[][..], Vec::as_slice);
            let body = view.apply(rt, resource::render(rt, base, &row.id, &doc, &meta, links));
            Ok(Rendered {
                body,
                etag: meta.etag(),
                location: resource::location(base, rt, &row.id),
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
