//! Use cases. Each owns its transaction: validate → store → render.

pub mod admin;
pub mod bulk;
mod changes;
pub mod portal;
pub mod resources;
pub mod schemas;
pub mod search;
pub mod tenants;

use serde_json::{Map, Value};

/// The stored records the use cases hand to the handlers as they are, and the clock they stamp.
pub use crate::storage::log::{LogQuery, LogRow, StatusFilter};
pub use crate::storage::models::TenantRow;
pub use crate::storage::now_millis;
pub use crate::storage::portal::{LinkRow, MemberLine};

use crate::error::ScimError;
use crate::storage::models::ResourceRow;

/// A stored resource's canonical document, parsed (the use cases' one way to read it).
fn document(row: &ResourceRow) -> Result<Map<String, Value>, ScimError> {
    serde_json::from_str(&row.doc).map_err(ScimError::internal)
}
