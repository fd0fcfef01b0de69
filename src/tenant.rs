//! Tenant identity.

use std::fmt;

/// The id of a tenant (one customer organisation of the host app).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TenantId(String);

impl TenantId {
    /// A fresh random id.
    pub fn generate() -> Self {
        Self(uuid::Uuid::new_v4().to_string())
    }

    /// Wraps an id read from storage.
    pub fn from_stored(id: String) -> Self {
        Self(id)
    }

    /// The id as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id as stored, owned.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a tenant's SCIM requests do.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Requests read and change the directory, and the app hears of every change.
    Live,
    /// Requests read and change a shadow copy of the directory; the app hears nothing until
    /// the admin promotes the copy.
    DryRun,
    /// Requests are answered 503 with Retry-After, so the identity provider retries them later.
    Paused,
}

impl Mode {
    /// Every mode.
    pub const ALL: [Self; 3] = [Self::Live, Self::DryRun, Self::Paused];

    /// The stored name, e.g. `dry_run`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Live => "live",
            Self::DryRun => "dry_run",
            Self::Paused => "paused",
        }
    }

    /// The mode of a stored name.
    pub fn named(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == name)
    }
}

impl TenantId {
    /// The tenant that holds this tenant's shadow directory while it is in dry-run.
    pub fn shadow(&self) -> Self {
        Self(format!("{}.dry-run", self.0))
    }
}
