//! The host app's own roles (library mode): where a host supplies the roles its app offers each
//! tenant, so an admin maps groups only to roles that exist, and the portal offers them to
//! choose from. Without a catalog any role name is accepted, as the standalone server does.

use std::sync::Arc;

use serde::Serialize;

use crate::error::ScimError;
use crate::events::handler::HandlerError;
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

/// The host app's role lookup. It runs on a blocking thread, so it may read the app's database;
/// it is asked when an admin reads or changes a tenant's role mapping, never on a SCIM request.
pub trait RoleCatalog: Send + Sync + 'static {
    /// The roles the app offers the users of `tenant_id`.
    fn roles(&self, tenant_id: &str) -> Result<Vec<AppRole>, HandlerError>;
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
