//! Use cases. Each owns its transaction: validate → store → render.

pub mod admin;
pub mod bulk;
mod changes;
pub mod health;
pub mod metrics;
pub mod modes;
pub mod offered;
pub mod portal;
pub mod replay;
pub mod resources;
pub mod schemas;
pub mod search;
pub mod secevents;
pub mod tenants;
pub mod transfer;

use serde_json::{Map, Value};

/// The stored records the use cases hand to the handlers as they are, and the clock they stamp.
pub use crate::storage::log::{LogQuery, LogRow, StatusFilter};
pub use crate::storage::models::TenantRow;
pub use crate::storage::now_millis;
pub use crate::storage::portal::{LinkRow, MemberLine};

use crate::error::ScimError;
use crate::scim::mapping::AttributeMapping;
use crate::scim::schema::{AppSettings, ResourceType};
use crate::storage::models::ResourceRow;
use crate::storage::{AnyConnection, Scope};

/// What the app's view of a tenant's users needs of its settings: its attribute mapping and
/// entitlements (on the tenant's row), its default role and its group-to-role mappings.
fn app_settings(c: &mut AnyConnection, scope: &Scope<'_>) -> Result<AppSettings, ScimError> {
    let (attribute_mapping, entitlements) =
        crate::storage::tenants::mapping_and_entitlements(c, scope)?;
    let (default_role, role_mappings) = crate::storage::events::role_mappings(c, scope)?;
    Ok(AppSettings {
        role_mappings,
        default_role,
        attribute_mapping,
        entitlements: offered::stored(entitlements.as_deref()),
    })
}

/// A stored resource's canonical document, parsed (the use cases' one way to read it).
fn document(row: &ResourceRow) -> Result<Map<String, Value>, ScimError> {
    serde_json::from_str(&row.doc).map_err(ScimError::internal)
}

/// Runs `f` with the mapping a tenant stored (`doc`), checked again against today's schema of
/// its users `rt`; with the standard fields when it stored none, or when what it stored no
/// longer fits (logged).
fn with_mapping<R>(
    rt: &ResourceType,
    doc: Option<&str>,
    f: impl FnOnce(&AttributeMapping<'_>) -> R,
) -> R {
    let stored = doc.and_then(|doc| {
        serde_json::from_str(doc)
            .map_err(|e| e.to_string())
            .and_then(|doc| AttributeMapping::parse(rt, &doc).map_err(|e| e.to_string()))
            .inspect_err(|e| {
                tracing::warn!(error = %e, "a stored attribute mapping no longer fits; using the standard fields");
            })
            .ok()
    });
    f(stored
        .as_ref()
        .unwrap_or_else(|| AttributeMapping::standard_for_users()))
}
