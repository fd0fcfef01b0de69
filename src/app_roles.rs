//! The host app's own roles and entitlements (library mode): where a host supplies the roles its
//! app offers each tenant, so an admin maps groups only to roles that exist, the portal offers
//! them to choose from and the tenant's IdP reads them at `/Roles`; and, if it likes, the
//! entitlements its IdP reads at `/Entitlements`. Without a catalog any role name is accepted,
//! as the standalone server does, and a tenant's admin configures its entitlements.

use std::sync::Arc;

use serde::Serialize;

use crate::error::ScimError;
use crate::events::handler::HandlerError;
use crate::scim::offered::Offer;
use crate::tenant::TenantId;

/// A role of the host app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AppRole {
    /// What a mapping stores and events carry, e.g. `billing-admin`.
    pub value: String,
    /// What a person reads, e.g. `Billing administrator`.
    pub display: String,
}

impl AppRole {
    /// A role whose display name is its value.
    pub fn named(value: impl Into<String>) -> Self {
        let value = value.into();
        Self {
            display: value.clone(),
            value,
        }
    }
}

/// An entitlement of the host app (draft-ietf-scim-roles-entitlements §3.3), e.g. a
/// Salesforce-style profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AppEntitlement {
    /// What a user's `entitlements` value holds, e.g. `Standard User`.
    pub value: String,
    /// What a person reads.
    pub display: String,
    /// A label for its function, e.g. `Profile`; the draft's `type`.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Whether a user given no entitlement holds this one (at most one is): the IdP reads it
    /// as `primary: true`.
    pub default: bool,
}

impl From<AppEntitlement> for Offer {
    fn from(e: AppEntitlement) -> Self {
        Self {
            value: e.value,
            display: e.display,
            kind: e.kind,
            default: e.default,
        }
    }
}

/// The host app's lookup of what it offers. It runs on a blocking thread, so it may read the
/// app's database; it is asked when an admin reads or changes a tenant's role mapping, and when
/// the tenant's IdP reads `/Roles` or `/Entitlements` (within the tenant's rate limit).
pub trait RoleCatalog: Send + Sync + 'static {
    /// The roles the app offers the users of `tenant_id`.
    fn roles(&self, tenant_id: &str) -> Result<Vec<AppRole>, HandlerError>;

    /// The entitlements the app offers the users of `tenant_id`, or `None` (the default) to
    /// leave them to the tenant's admin, as without a catalog.
    fn entitlements(&self, tenant_id: &str) -> Result<Option<Vec<AppEntitlement>>, HandlerError> {
        let _ = tenant_id;
        Ok(None)
    }
}

impl<F> RoleCatalog for F
where
    F: Fn(&str) -> Result<Vec<AppRole>, HandlerError> + Send + Sync + 'static,
{
    fn roles(&self, tenant_id: &str) -> Result<Vec<AppRole>, HandlerError> {
        self(tenant_id)
    }
}

/// The roles `catalog` offers a tenant; a failed lookup is the app's trouble, answered 503.
pub(crate) async fn offered(
    catalog: &Arc<dyn RoleCatalog>,
    tenant: &TenantId,
) -> Result<Vec<AppRole>, ScimError> {
    let (catalog, id) = (catalog.clone(), tenant.clone());
    tokio::task::spawn_blocking(move || catalog.roles(id.as_str()))
        .await
        .map_err(ScimError::internal)?
        .map_err(|e| {
            tracing::warn!(tenant = %tenant.as_str(), error = %e, "the app's role lookup failed");
            ScimError::Unavailable("the app's list of roles could not be read".into())
        })
}

/// The entitlements `catalog` offers a tenant, if it supplies them; a failed lookup is 503.
pub(crate) async fn offered_entitlements(
    catalog: &Arc<dyn RoleCatalog>,
    tenant: &TenantId,
) -> Result<Option<Vec<AppEntitlement>>, ScimError> {
    let (catalog, id) = (catalog.clone(), tenant.clone());
    tokio::task::spawn_blocking(move || catalog.entitlements(id.as_str()))
        .await
        .map_err(ScimError::internal)?
        .map_err(|e| {
            tracing::warn!(tenant = %tenant.as_str(), error = %e, "the app's entitlement lookup failed");
            ScimError::Unavailable("the app's list of entitlements could not be read".into())
        })
}

/// Refuses a role the app does not offer, naming the ones it does.
pub(crate) fn check<'a>(
    offered: &[AppRole],
    roles: impl IntoIterator<Item = &'a str>,
) -> Result<(), ScimError> {
    let Some(unknown) = roles
        .into_iter()
        .find(|r| !offered.iter().any(|o| o.value == *r))
    else {
        return Ok(());
    };
    let names: Vec<&str> = offered.iter().map(|o| o.value.as_str()).collect();
    Err(ScimError::InvalidValue(format!(
        "the app offers no role “{unknown}”; its roles are: {}",
        if names.is_empty() {
            "none".to_owned()
        } else {
            names.join(", ")
        }
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_offered_roles_pass() {
        let offered = [AppRole::named("admin"), AppRole::named("viewer")];
        assert!(check(&offered, ["admin", "viewer"]).is_ok());
        let refused = check(&offered, ["admin", "owner"]).expect_err("owner is not offered");
        assert_eq!(
            refused.to_string(),
            "the app offers no role “owner”; its roles are: admin, viewer"
        );
        assert!(check(&[], ["admin"]).is_err());
    }
}
