//! What the admin API does beyond tenants: role mappings, users with their roles, the event feed.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::app_roles::{self, AppRole};
use crate::diagnosis;
use crate::error::ScimError;
use crate::events::roles::{RoleMap, RoleWatch, effective_roles};
use crate::events::secevent::{self, Transmitter};
use crate::events::webhooks::Format;
use crate::events::{self, webhooks};
use crate::scim::mapping::{self, AttributeMapping};
use crate::scim::query::SearchRequest;
use crate::scim::schema::ResourceType;
use crate::scim::text;
use crate::service::search;
use crate::state::AppState;
use crate::storage::Scope;
use crate::storage::events as store;
use crate::storage::log::{self as log_store, LogQuery};
use crate::storage::schemas as schema_store;
use crate::storage::tenant_tx;
use crate::storage::tenants as tenant_store;
use crate::storage::webhooks::{self as hooks, AttemptRow, WebhookRow};
use crate::tenant::TenantId;

/// One group-to-role mapping.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Mapping {
    /// A group's id or displayName.
    pub group: String,
    /// The app role its members get.
    pub role: String,
}

/// A tenant's role mapping as the API reads and writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleMappings {
    /// The role of a user none of whose groups is mapped.
    #[serde(default)]
    pub default_role: Option<String>,
    /// A user's roles are the union of its groups' (nested groups included).
    #[serde(default)]
    pub mappings: Vec<Mapping>,
}

/// Reads a tenant's role mapping.
pub async fn role_mappings(state: &AppState, tenant: &TenantId) -> Result<RoleMappings, ScimError> {
    let tenant = tenant.clone();
    state
        .db
        .run(move |c| {
            let map = RoleMap::load(c, &Scope::new(&tenant))?;
            Ok(RoleMappings {
                default_role: map.default_role,
                mappings: map
                    .mappings
                    .into_iter()
                    .map(|(group, role)| Mapping { group, role })
                    .collect(),
            })
        })
        .await
}

/// The roles a tenant's mappings may name: the host app's, when it supplies them, else the
/// ones the mapping names now (any name is accepted then).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OfferedRoles {
    /// Whether the list is the app's own (then a mapping may name only these).
    pub from_app: bool,
    /// The roles.
    pub roles: Vec<AppRole>,
}

/// Reads the roles a tenant's mappings may name.
pub async fn offered_roles(state: &AppState, tenant: &TenantId) -> Result<OfferedRoles, ScimError> {
    if let Some(catalog) = &state.roles {
        return Ok(OfferedRoles {
            from_app: true,
            roles: app_roles::offered(catalog, tenant).await?,
        });
    }
    let current = role_mappings(state, tenant).await?;
    let mappings: Vec<(String, String)> = current
        .mappings
        .into_iter()
        .map(|m| (m.group, m.role))
        .collect();
    Ok(OfferedRoles {
        from_app: false,
        roles: super::offered::named_roles(current.default_role.as_ref(), &mappings),
    })
}

/// Replaces a tenant's role mapping, recording `user.roles_changed` for every user whose roles
/// change.
pub async fn set_role_mappings(
    state: &AppState,
    tenant: &TenantId,
    new: RoleMappings,
) -> Result<RoleMappings, ScimError> {
    let blank = |s: &str| s.trim().is_empty();
    if new.default_role.as_deref().is_some_and(blank)
        || new
            .mappings
            .iter()
            .any(|m| blank(&m.group) || blank(&m.role))
    {
        return Err(ScimError::InvalidValue(
            "groups and roles must not be empty".into(),
        ));
    }
    // Every SCIM write to a group consults the mappings, so their number is bounded.
    let max = state.settings.max_role_mappings;
    if new.mappings.len() > max {
        return Err(ScimError::LimitExceeded(format!(
            "the request has {} role mappings, more than this server's limit of {max} per tenant (max-role-mappings)",
            new.mappings.len()
        )));
    }
    let names = new
        .default_role
        .iter()
        .chain(new.mappings.iter().flat_map(|m| [&m.group, &m.role]));
    if let Some(c) = names.filter_map(|n| text::first_refused(n)).next() {
        return Err(ScimError::InvalidValue(format!(
            "groups and roles may not contain {} (U+0000 and Unicode non-characters are refused)",
            text::code_point(c)
        )));
    }
    if let Some(catalog) = &state.roles {
        let offered = app_roles::offered(catalog, tenant).await?;
        let roles = new
            .default_role
            .iter()
            .chain(new.mappings.iter().map(|m| &m.role));
        app_roles::check(&offered, roles.map(|r| r.trim()))?;
    }
    let pairs: Vec<(String, String)> = new
        .mappings
        .iter()
        .map(|m| (m.group.trim().to_owned(), m.role.trim().to_owned()))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let tenant_id = tenant.clone();
    state
        .db
        .run(move |c| {
            tenant_tx(c, &Scope::new(&tenant_id), |c| {
                let watch = RoleWatch::start_all(c, &Scope::new(&tenant_id), &[])?;
                store::set_role_mappings(
                    c,
                    &Scope::new(&tenant_id),
                    new.default_role.as_deref().map(str::trim),
                    &pairs,
                )?;
                // The default role is part of the tenant's view each request reads.
                schema_store::bump_version(c, &Scope::new(&tenant_id))?;
                watch.finish(c, &Scope::new(&tenant_id))
            })
        })
        .await?;
    role_mappings(state, tenant).await
}

/// Users matching a SCIM query, each with its effective `roles` and the app's view of it
/// (`app_user`, filled by the tenant's attribute mapping).
pub async fn users(
    state: &AppState,
    tenant: &TenantId,
    req: &SearchRequest,
) -> Result<Value, ScimError> {
    let users = super::schemas::current(state, tenant)
        .await?
        .resource_type(ResourceType::in_groups());
    let page = search::search(state, tenant, &users, req).await?;
    let mut list = serde_json::to_value(&page).map_err(ScimError::internal)?;
    let ids: Vec<String> = list["Resources"]
        .as_array()
        .map(|r| {
            r.iter()
                .filter_map(|u| u["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let tenant_id = tenant.clone();
    let (roles, mapping) = state
        .db
        .run(move |c| {
            let map = RoleMap::load(c, &Scope::new(&tenant_id))?;
            let roles = effective_roles(c, &Scope::new(&tenant_id), &map, &ids)?;
            Ok((
                roles,
                tenant_store::attribute_mapping(c, &Scope::new(&tenant_id))?,
            ))
        })
        .await?;
    super::with_mapping(&users, mapping.as_deref(), |mapping| {
        for u in list["Resources"].as_array_mut().into_iter().flatten() {
            let r = u["id"]
                .as_str()
                .and_then(|id| roles.get(id))
                .cloned()
                .unwrap_or_default();
            let listed: Vec<String> = r.iter().cloned().collect();
            u["app_user"] = mapping.app_user(u, &listed);
            u["roles"] = json!(r);
        }
    });
    Ok(json!({"totalResults": list["totalResults"], "users": list["Resources"]}))
}

/// The tenant's attribute mapping, and the standard sources of the fields it leaves out.
pub async fn attribute_mapping(state: &AppState, tenant: &TenantId) -> Result<Value, ScimError> {
    let tenant = tenant.clone();
    let stored = state
        .db
        .run(move |c| Ok(tenant_store::attribute_mapping(c, &Scope::new(&tenant))?))
        .await?;
    let doc = stored
        .and_then(|d| serde_json::from_str::<Value>(&d).ok())
        .unwrap_or_else(|| json!({"fields": {}}));
    Ok(mapping_json(&doc["fields"]))
}

/// A mapping as the admin API shows it: its fields, and the standard sources beside them.
fn mapping_json(fields: &Value) -> Value {
    json!({"fields": fields, "standard": mapping::standard_sources()})
}

/// Checks and stores the tenant's attribute mapping; `{"fields": {}}` goes back to the
/// standard fields. A mapping that names an attribute the user type lacks changes nothing.
pub async fn set_attribute_mapping(
    state: &AppState,
    tenant: &TenantId,
    doc: Value,
) -> Result<Value, ScimError> {
    let users = super::schemas::current(state, tenant)
        .await?
        .resource_type(ResourceType::in_groups());
    AttributeMapping::parse(&users, &doc)?;
    let fields = doc
        .get("fields")
        .filter(|f| !f.is_null())
        .cloned()
        .unwrap_or_else(|| json!({}));
    let empty = fields.as_object().is_none_or(|f| f.is_empty());
    let stored = (!empty).then(|| json!({"fields": &fields}).to_string());
    let tenant_id = tenant.clone();
    state
        .db
        .run(move |c| {
            tenant_tx(c, &Scope::new(&tenant_id), |c| {
                tenant_store::set_attribute_mapping(c, &Scope::new(&tenant_id), stored.as_deref())?;
                // The mapping is part of the tenant's view each request reads.
                schema_store::bump_version(c, &Scope::new(&tenant_id))?;
                Ok(())
            })
        })
        .await?;
    Ok(mapping_json(&fields))
}

/// Up to `limit` events after the cursor, and the cursor to continue from.
pub async fn events(
    state: &AppState,
    tenant: &TenantId,
    after: i64,
    limit: i64,
) -> Result<Value, ScimError> {
    let tenant = tenant.clone();
    let rows = state
        .db
        .run(move |c| Ok(store::after(c, &Scope::new(&tenant), after, limit)?))
        .await?;
    let next = rows.last().map_or(after, |r| r.seq);
    Ok(
        json!({"events": rows.iter().map(events::render).collect::<Vec<_>>(), "next_cursor": next.to_string()}),
    )
}

/// A webhook as the admin sets it.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookInput {
    /// Where events are delivered: public https unless the operator allows more.
    pub url: String,
    /// Whether events are delivered; true by default. Switching it on again resumes where it
    /// stopped.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Issue a new signing secret (shown once in the answer).
    #[serde(default)]
    pub rotate_secret: bool,
    /// How events are carried: `standard_webhooks` (the default for a new webhook) or `set`,
    /// Security Event Tokens pushed as RFC 8935 describes. Left out, an existing webhook keeps
    /// its format.
    #[serde(default)]
    pub format: Option<Format>,
}

fn yes() -> bool {
    true
}

/// Recent attempts shown with a webhook.
const ATTEMPTS_SHOWN: i64 = 20;

fn webhook_json(
    sets: &Transmitter,
    hook: &WebhookRow,
    attempts: &[AttemptRow],
    secret_shown: bool,
) -> Value {
    let mut v = json!({
        "url": hook.url,
        "format": hook.format,
        "enabled": hook.enabled,
        "delivered_seq": hook.delivered_seq,
        "consecutive_failures": hook.failures,
        "next_attempt_at": events::rfc3339(hook.next_attempt_at),
        "disabled_reason": hook.disabled_reason,
        "created_at": events::rfc3339(hook.created_at),
        "attempts": attempts.iter().map(|a| json!({
            "event_seq": a.event_seq,
            "attempted_at": events::rfc3339(a.attempted_at),
            "status_code": a.status_code,
            "error": a.error,
            "duration_ms": a.duration_ms,
        })).collect::<Vec<_>>(),
    });
    if Format::stored(&hook.format) == Format::Set {
        // What the receiver checks a SET against (RFC 8417 §2.2, RFC 7517).
        v["set"] = json!({
            "issuer": sets.issuer(),
            "audience": sets.audience(&hook.tenant_id),
            "jwks_uri": format!("{}{}", sets.issuer(), secevent::JWKS_PATH),
        });
    }
    if secret_shown {
        v["secret"] = hook.secret.clone().into();
    }
    v
}

/// A tenant's webhooks with their recent delivery attempts.
pub async fn webhooks(state: &AppState, tenant: &TenantId) -> Result<Value, ScimError> {
    let tenant = tenant.clone();
    let sets = state.sets.clone();
    state
        .db
        .run(move |c| {
            let hooks = match hooks::get(c, &Scope::new(&tenant))? {
                Some(h) => vec![webhook_json(
                    &sets,
                    &h,
                    &hooks::attempts(c, &Scope::new(&tenant), ATTEMPTS_SHOWN)?,
                    false,
                )],
                None => Vec::new(),
            };
            Ok(json!({"webhooks": hooks}))
        })
        .await
}

/// Sets a tenant's webhook. A new one starts after the latest event; an existing one keeps its
/// position and secret (unless asked to rotate it), and switching it on again clears its failures.
pub async fn put_webhook(
    state: &AppState,
    tenant: &TenantId,
    input: WebhookInput,
) -> Result<Value, ScimError> {
    let url = input.url.trim().to_owned();
    state
        .settings
        .webhooks
        .egress
        .check_url(&url)
        .map_err(ScimError::InvalidValue)?;
    let tenant = tenant.clone();
    let sets = state.sets.clone();
    state
        .db
        .run(move |c| {
            tenant_tx(c, &Scope::new(&tenant), |c| {
                let now = crate::storage::now_millis();
                let existing = hooks::get(c, &Scope::new(&tenant))?;
                let fresh_row = existing.is_none();
                let fresh_secret = fresh_row || input.rotate_secret;
                let hook = match existing {
                    Some(old) => WebhookRow {
                        url,
                        secret: if input.rotate_secret {
                            webhooks::new_secret()
                        } else {
                            old.secret
                        },
                        enabled: input.enabled,
                        format: input.format.map_or(old.format, |f| f.as_str().to_owned()),
                        failures: if input.enabled && !old.enabled {
                            0
                        } else {
                            old.failures
                        },
                        disabled_reason: if input.enabled {
                            None
                        } else {
                            old.disabled_reason
                        },
                        next_attempt_at: if input.enabled && !old.enabled {
                            now
                        } else {
                            old.next_attempt_at
                        },
                        ..old
                    },
                    None => WebhookRow {
                        tenant_id: tenant.as_str().to_owned(),
                        url,
                        secret: webhooks::new_secret(),
                        enabled: input.enabled,
                        delivered_seq: hooks::current_seq(c, &Scope::new(&tenant))?,
                        failures: 0,
                        next_attempt_at: now,
                        lease_owner: None,
                        lease_until: None,
                        disabled_reason: None,
                        created_at: now,
                        format: input
                            .format
                            .unwrap_or(Format::StandardWebhooks)
                            .as_str()
                            .to_owned(),
                    },
                };
                if fresh_row {
                    hooks::insert(c, &hook)?;
                } else {
                    hooks::update_settings(c, &hook)?;
                }
                // A webhook switched on again is a fixed finding; one switched off by hand is not.
                if hook.enabled {
                    diagnosis::webhook_fixed(c, &Scope::new(&tenant))?;
                }
                Ok(webhook_json(&sets, &hook, &[], fresh_secret))
            })
        })
        .await
}

/// Delivers event `seq` and every later one again, in order (receivers de-duplicate by event id).
pub async fn resend_from(state: &AppState, tenant: &TenantId, seq: i64) -> Result<(), ScimError> {
    let tenant = tenant.clone();
    state
        .db
        .run(move |c| {
            tenant_tx(c, &Scope::new(&tenant), |c| {
                if hooks::get(c, &Scope::new(&tenant))?.is_none() {
                    return Err(ScimError::NotFound("this tenant has no webhook".into()));
                }
                let kept = store::after(c, &Scope::new(&tenant), seq - 1, 1)?;
                if seq < 1 || kept.first().is_none_or(|e| e.seq != seq) {
                    return Err(ScimError::InvalidValue(format!(
                        "there is no event {seq} (events older than the retention period are removed)"
                    )));
                }
                if !hooks::rewind(c, &Scope::new(&tenant), seq, crate::storage::now_millis())? {
                    return Err(ScimError::InvalidValue(format!(
                        "event {seq} has not been delivered yet; it will be, in order"
                    )));
                }
                Ok(())
            })
        })
        .await
}

/// Removes a tenant's webhook.
pub async fn delete_webhook(state: &AppState, tenant: &TenantId) -> Result<(), ScimError> {
    let tenant = tenant.clone();
    let existed = state
        .db
        .run(move |c| {
            tenant_tx(c, &Scope::new(&tenant), |c| {
                let existed = hooks::delete(c, &Scope::new(&tenant))?;
                diagnosis::webhook_fixed(c, &Scope::new(&tenant))?;
                Ok(existed)
            })
        })
        .await?;
    if existed {
        Ok(())
    } else {
        Err(ScimError::NotFound("this tenant has no webhook".into()))
    }
}

/// Entries of a tenant's provisioning log, newest first, and the cursor of the next page.
pub async fn logs(state: &AppState, tenant: &TenantId, q: LogQuery) -> Result<Value, ScimError> {
    let tenant = tenant.clone();
    let rows = state
        .db
        .run(move |c| Ok(log_store::read(c, &Scope::new(&tenant), &q)?))
        .await?;
    let entries: Vec<Value> = rows.iter().map(events::log::render).collect();
    Ok(json!({"entries": entries, "next_cursor": rows.last().map(|r| r.id.clone())}))
}
