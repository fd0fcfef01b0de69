//! What the app offers a tenant's users, readable by its IdP (draft-ietf-scim-roles-entitlements
//! -01): `/Roles` lists the host app's roles when it supplies a catalog (library mode), else the
//! roles the tenant's group-to-role mapping names; `/Entitlements` lists the app's entitlements
//! when its catalog supplies them, else those the tenant's admin configured. The default role
//! and the default entitlement are the `primary` ones.
//!
//! Without a catalog both lists come from the tenant's view, which each request has already
//! confirmed current: a read costs no query. Either way a list is bounded (by
//! `max-role-mappings` and `max-entitlements`, or by what the host app returns), so filter,
//! sort and pages are computed in memory over it.

use std::cmp::Ordering;
use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::app_roles::{self, AppEntitlement, AppRole};
use crate::error::ScimError;
use crate::scim::filter::{self, CheckedFilter};
use crate::scim::fold_case;
use crate::scim::offered::{Offer, render};
use crate::scim::path::{AttrPath, Resolved, resolve};
use crate::scim::project::Projection;
use crate::scim::query::{Paging, SearchRequest, SortOrder, decode_cursor, encode_cursor};
use crate::scim::resource::{ListResponse, cursor_response, list_response};
use crate::scim::schema::{
    AppSettings, ENTITLEMENT_RESOURCE, ROLE_RESOURCE, ResourceType, TenantSchemas,
};
use crate::scim::text;
use crate::state::AppState;
use crate::storage::schemas as schema_store;
use crate::storage::tenants as tenant_store;
use crate::storage::{Scope, tenant_tx};
use crate::tenant::TenantId;

/// Which of the draft's two lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offering {
    /// `/Roles` (draft §3.2).
    Roles,
    /// `/Entitlements` (draft §3.3).
    Entitlements,
}

impl Offering {
    /// The read-only resource type of the list.
    pub fn resource_type(self) -> &'static ResourceType {
        match self {
            Self::Roles => &ROLE_RESOURCE,
            Self::Entitlements => &ENTITLEMENT_RESOURCE,
        }
    }
}

/// The stable id of what the app offers under `value` (draft §3.2: issued by the service
/// provider, never reassigned): the same value always has the same id, in every listing and
/// on every instance, without storing one.
pub fn offer_id(value: &str) -> String {
    Sha256::digest(value.as_bytes())[..12]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The entitlements stored on a tenant's row; a document that no longer reads is logged and
/// read as none, rather than failing every request of the tenant.
pub(crate) fn stored(doc: Option<&str>) -> Vec<Offer> {
    doc.map_or_else(Vec::new, |doc| {
        serde_json::from_str(doc).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "stored entitlements no longer read; none are offered");
            Vec::new()
        })
    })
}

/// The roles a tenant's mapping names (its default role included), each once, in order.
pub(crate) fn named_roles(
    default_role: Option<&String>,
    mappings: &[(String, String)],
) -> Vec<AppRole> {
    let named: BTreeSet<&String> = default_role
        .into_iter()
        .chain(mappings.iter().map(|(_, r)| r))
        .collect();
    named
        .into_iter()
        .map(|r| AppRole::named(r.clone()))
        .collect()
}

/// The tenant's settings as its view holds them.
fn settings_of(view: &TenantSchemas) -> std::sync::Arc<AppSettings> {
    view.resource_type(ResourceType::in_groups())
        .app
        .clone()
        .unwrap_or_default()
}

/// What the app offers the tenant, in the order it is listed.
async fn offers(
    state: &AppState,
    tenant: &TenantId,
    view: &TenantSchemas,
    offering: Offering,
) -> Result<Vec<Offer>, ScimError> {
    let settings = settings_of(view);
    match offering {
        Offering::Roles => {
            let roles = match &state.roles {
                Some(catalog) => app_roles::offered(catalog, tenant).await?,
                None => named_roles(settings.default_role.as_ref(), &settings.role_mappings),
            };
            Ok(roles
                .into_iter()
                .map(|r| Offer {
                    default: settings.default_role.as_ref() == Some(&r.value),
                    value: r.value,
                    display: r.display,
                    kind: None,
                })
                .collect())
        }
        Offering::Entitlements => Ok(from_app(state, tenant)
            .await?
            .map(|list| list.into_iter().map(Offer::from).collect())
            .unwrap_or_else(|| settings.entitlements.clone())),
    }
}

/// The entitlements the host app supplies, if it does.
async fn from_app(
    state: &AppState,
    tenant: &TenantId,
) -> Result<Option<Vec<AppEntitlement>>, ScimError> {
    match &state.roles {
        Some(catalog) => app_roles::offered_entitlements(catalog, tenant).await,
        None => Ok(None),
    }
}

/// A list request checked against the list's type, before anything is asked of the app.
struct Plan<'s> {
    filter: Option<CheckedFilter<'s>>,
    sort: Option<(Resolved<'s>, SortOrder)>,
    view: Projection,
}

impl<'s> Plan<'s> {
    fn new(rt: &'s ResourceType, req: &SearchRequest) -> Result<Self, ScimError> {
        let filter = req
            .filter
            .as_deref()
            .map(|f| filter::parse(f).and_then(|f| filter::check(f, rt)))
            .transpose()?;
        let sort = req
            .sort_by
            .as_deref()
            .map(|s| {
                let attr = AttrPath::parse(s)
                    .and_then(|p| resolve(rt, &p))
                    .map_err(|e| ScimError::InvalidValue(format!("sortBy: {e}")))?;
                if attr.attr.multi_valued || attr.sub.is_some() {
                    return Err(ScimError::InvalidValue(format!(
                        "sortBy: cannot sort on {attr}; choose a single-valued attribute such as value or display"
                    )));
                }
                Ok((attr, req.sort_order))
            })
            .transpose()?;
        Ok(Self {
            filter,
            sort,
            view: Projection::new(rt, &req.attributes, &req.excluded_attributes)?,
        })
    }
}

/// The key a rendered resource sorts by: its value's text, case-folded unless caseExact;
/// `None` (no value) sorts last either way, as RFC 7644 §3.4.2.3 asks.
fn sort_key(resource: &Value, attr: &Resolved<'_>) -> Option<String> {
    let v = filter::attribute(resource, attr).filter(|v| !v.is_null())?;
    let text = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
    Some(if attr.attr.case_exact {
        text
    } else {
        fold_case(&text)
    })
}

/// A page of what the app offers the tenant, filtered, sorted and paged as RFC 7644 §3.4.2
/// lists are (draft §3.3.2).
pub async fn list(
    state: &AppState,
    tenant: &TenantId,
    view: &TenantSchemas,
    offering: Offering,
    req: &SearchRequest,
) -> Result<ListResponse<Value>, ScimError> {
    let rt = offering.resource_type();
    let plan = Plan::new(rt, req)?;
    let mut found: Vec<Value> = offers(state, tenant, view, offering)
        .await?
        .iter()
        .map(|o| render(rt, &offer_id(&o.value), o, &state.base_url))
        .filter(|r| plan.filter.as_ref().is_none_or(|f| filter::matches(f, r)))
        .collect();
    if let Some((attr, order)) = &plan.sort {
        let mut keyed: Vec<(Option<String>, Value)> =
            found.into_iter().map(|r| (sort_key(&r, attr), r)).collect();
        keyed.sort_by(|(a, _), (b, _)| match (a, b) {
            (Some(a), Some(b)) if *order == SortOrder::Descending => b.cmp(a),
            (Some(a), Some(b)) => a.cmp(b),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        });
        found = keyed.into_iter().map(|(_, r)| r).collect();
    }
    let total = found.len() as i64;
    let count = req
        .count
        .unwrap_or(state.settings.default_page_size)
        .clamp(0, state.settings.max_page_size);
    let offset = match &req.paging {
        Paging::Index { start_index } => start_index - 1,
        Paging::Cursor(None) => 0,
        Paging::Cursor(Some(c)) => decode_cursor(c)
            .and_then(|p| p.get("o").and_then(Value::as_i64))
            .filter(|o| *o >= 0)
            .ok_or_else(|| {
                ScimError::InvalidCursor(
                    "the cursor is not one this server issued for this list; start again without a cursor value".into(),
                )
            })?,
    };
    let page: Vec<Value> = found
        .into_iter()
        .skip(usize::try_from(offset).unwrap_or(usize::MAX))
        .take(usize::try_from(count).unwrap_or(0))
        .map(|r| plan.view.apply(rt, r))
        .collect();
    Ok(match req.paging {
        Paging::Index { start_index } => list_response(total, start_index, page),
        Paging::Cursor(_) => {
            let end = offset + page.len() as i64;
            let next = (end < total).then(|| {
                let mut at = Map::new();
                at.insert("o".into(), end.into());
                encode_cursor(&at)
            });
            cursor_response(total, page, next)
        }
    })
}

/// One role or entitlement by its id (RFC 7644 §3.4.1).
pub async fn get(
    state: &AppState,
    tenant: &TenantId,
    view: &TenantSchemas,
    offering: Offering,
    id: &str,
    req: &SearchRequest,
) -> Result<Value, ScimError> {
    let rt = offering.resource_type();
    let projection = Projection::new(rt, &req.attributes, &req.excluded_attributes)?;
    offers(state, tenant, view, offering)
        .await?
        .iter()
        .find(|o| offer_id(&o.value) == id)
        .map(|o| projection.apply(rt, render(rt, id, o, &state.base_url)))
        .ok_or_else(|| {
            ScimError::NotFound(format!("{} {id} not found", rt.name.to_ascii_lowercase()))
        })
}

/// An entitlement as a tenant's admin sets it.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EntitlementInput {
    /// What a user's `entitlements` value holds, e.g. `Standard User`.
    pub value: String,
    /// What a person reads; the value when left out.
    #[serde(default)]
    pub display: Option<String>,
    /// A label for its function, e.g. `Profile`.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// Whether a user given no entitlement holds this one; at most one is.
    #[serde(default)]
    pub default: bool,
}

/// A tenant's entitlements as the admin API reads and writes them.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EntitlementsInput {
    /// The whole list; an empty one offers none.
    pub entitlements: Vec<EntitlementInput>,
}

/// The entitlements a tenant's IdP reads at `/Entitlements`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OfferedEntitlements {
    /// Whether the list is the app's own (then it is changed in the app, not here).
    pub from_app: bool,
    /// The entitlements.
    pub entitlements: Vec<AppEntitlement>,
}

/// Reads the entitlements a tenant's IdP is offered.
pub async fn entitlements(
    state: &AppState,
    tenant: &TenantId,
) -> Result<OfferedEntitlements, ScimError> {
    if let Some(list) = from_app(state, tenant).await? {
        return Ok(OfferedEntitlements {
            from_app: true,
            entitlements: list,
        });
    }
    let view = super::schemas::current(state, tenant).await?;
    Ok(OfferedEntitlements {
        from_app: false,
        entitlements: settings_of(&view)
            .entitlements
            .iter()
            .map(|o| AppEntitlement {
                value: o.value.clone(),
                display: o.display.clone(),
                kind: o.kind.clone(),
                default: o.default,
            })
            .collect(),
    })
}

/// Checks a list an admin sent: bounded, no blank or refused text, each value once, at most one
/// default; names and labels trimmed.
fn checked(state: &AppState, input: EntitlementsInput) -> Result<Vec<Offer>, ScimError> {
    let max = state.settings.max_entitlements;
    if input.entitlements.len() > max {
        return Err(ScimError::LimitExceeded(format!(
            "the request has {} entitlements, more than this server's limit of {max} per tenant (max-entitlements)",
            input.entitlements.len()
        )));
    }
    let trimmed = |s: Option<String>| {
        s.map(|s| s.trim().to_owned())
            .filter(|s: &String| !s.is_empty())
    };
    let mut seen = BTreeSet::new();
    let mut offers = Vec::with_capacity(input.entitlements.len());
    for e in input.entitlements {
        let value = e.value.trim().to_owned();
        if value.is_empty() {
            return Err(ScimError::InvalidValue(
                "an entitlement's value must not be empty".into(),
            ));
        }
        let offer = Offer {
            display: trimmed(e.display).unwrap_or_else(|| value.clone()),
            kind: trimmed(e.kind),
            default: e.default,
            value,
        };
        let texts = [
            Some(&offer.value),
            Some(&offer.display),
            offer.kind.as_ref(),
        ];
        if let Some(c) = texts
            .into_iter()
            .flatten()
            .find_map(|t| text::first_refused(t))
        {
            return Err(ScimError::InvalidValue(format!(
                "entitlements may not contain {} (U+0000 and Unicode non-characters are refused)",
                text::code_point(c)
            )));
        }
        if !seen.insert(offer.value.clone()) {
            return Err(ScimError::InvalidValue(format!(
                "the entitlement “{}” is listed twice",
                offer.value
            )));
        }
        offers.push(offer);
    }
    if offers.iter().filter(|o| o.default).count() > 1 {
        return Err(ScimError::InvalidValue(
            "at most one entitlement can be the default".into(),
        ));
    }
    Ok(offers)
}

/// Replaces the entitlements a tenant's admin configured; refused when the app supplies them.
pub async fn set_entitlements(
    state: &AppState,
    tenant: &TenantId,
    input: EntitlementsInput,
) -> Result<OfferedEntitlements, ScimError> {
    let offers = checked(state, input)?;
    if from_app(state, tenant).await?.is_some() {
        return Err(ScimError::Conflict(
            "this app supplies its entitlements itself; change them in the app".into(),
        ));
    }
    let doc = (!offers.is_empty())
        .then(|| serde_json::to_string(&offers))
        .transpose()
        .map_err(ScimError::internal)?;
    let tenant_id = tenant.clone();
    state
        .db
        .run(move |c| {
            tenant_tx(c, &Scope::new(&tenant_id), |c| {
                tenant_store::set_entitlements(c, &Scope::new(&tenant_id), doc.as_deref())?;
                // The entitlements are part of the tenant's view /Entitlements is read from.
                schema_store::bump_version(c, &Scope::new(&tenant_id))?;
                Ok(())
            })
        })
        .await?;
    entitlements(state, tenant).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_distinct() {
        assert_eq!(offer_id("Standard User"), offer_id("Standard User"));
        assert_ne!(offer_id("Standard User"), offer_id("standard user"));
        assert_eq!(offer_id("admin").len(), 24);
    }

    #[test]
    fn each_named_role_is_listed_once() {
        let settings = AppSettings {
            role_mappings: vec![
                ("Eng".into(), "admin".into()),
                ("Ops".into(), "member".into()),
                ("All".into(), "member".into()),
            ],
            default_role: Some("member".into()),
            ..AppSettings::default()
        };
        let names: Vec<String> =
            named_roles(settings.default_role.as_ref(), &settings.role_mappings)
                .into_iter()
                .map(|r| r.value)
                .collect();
        assert_eq!(names, ["admin", "member"]);
    }

    #[test]
    fn a_stored_list_that_no_longer_reads_is_none() {
        assert!(stored(Some("{not json")).is_empty());
        assert_eq!(
            stored(Some(r#"[{"value":"a","display":"A","default":true}]"#))[0].display,
            "A"
        );
    }
}
