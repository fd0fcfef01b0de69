//! The schemas a tenant's requests are read against: the built-in resource types with the
//! extension schemas the tenant registered, built once per tenant and schema version and shared
//! by every request that tenant sends until an admin changes them.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, PoisonError, RwLock};

use super::{ResourceType, Schema, SchemaExtension};
use crate::scim::offered::Offer;

/// What a resource body may do with an extension the tenant has not registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UnknownExtensions {
    /// Refuse the request (400), saying how to register the extension.
    #[default]
    Refuse,
    /// Store the extension's object as sent, unchecked, and say so in the provisioning log.
    Keep,
}

impl UnknownExtensions {
    /// The setting's name in the admin API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Refuse => "refuse",
            Self::Keep => "keep",
        }
    }

    /// Reads a setting's name; `None` for any other text.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "refuse" => Some(Self::Refuse),
            "keep" => Some(Self::Keep),
            _ => None,
        }
    }
}

/// What the app's view of a tenant's users needs of the tenant's settings: its group-to-role
/// mappings (group, role), its default role and its attribute mapping (the stored document;
/// `None`: the standard fields); and the entitlements its admin configured, which its IdP
/// reads at `/Entitlements` (with the roles the mappings name at `/Roles`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppSettings {
    pub role_mappings: Vec<(String, String)>,
    pub default_role: Option<String>,
    pub attribute_mapping: Option<String>,
    pub entitlements: Vec<Offer>,
}

/// One tenant's view of the resource types: the built-in ones, each with the extensions the
/// tenant registered for it, and the settings of the app's view of its users.
#[derive(Debug)]
pub struct TenantSchemas {
    /// The tenant's schema version this view was built from; 0 is the built-in view.
    pub version: i64,
    /// In the order of [`ResourceType::ALL`].
    types: Vec<Arc<ResourceType>>,
}

static BUILT_IN: LazyLock<Arc<TenantSchemas>> = LazyLock::new(|| {
    Arc::new(TenantSchemas {
        version: 0,
        types: ResourceType::ALL
            .into_iter()
            .map(|rt| {
                Arc::new(ResourceType {
                    app: Some(Arc::default()),
                    ..rt.clone()
                })
            })
            .collect(),
    })
});

impl TenantSchemas {
    /// The view of a tenant that registered nothing: the built-in definitions alone.
    pub fn built_in() -> Arc<Self> {
        BUILT_IN.clone()
    }

    /// A tenant's view at `version`: each `(resource type id, schema)` pair adds the schema as
    /// an optional extension of that type. Pairs naming no type are left out.
    pub fn new(
        version: i64,
        unknown: UnknownExtensions,
        app: AppSettings,
        extensions: impl IntoIterator<Item = (String, Schema)>,
    ) -> Self {
        let app = Arc::new(app);
        let mut types: Vec<ResourceType> = ResourceType::ALL
            .into_iter()
            .map(|rt| ResourceType {
                unknown_extensions: unknown,
                app: Some(app.clone()),
                ..rt.clone()
            })
            .collect();
        for (type_id, schema) in extensions {
            if let Some(rt) = types.iter_mut().find(|rt| rt.id == type_id) {
                rt.extensions.to_mut().push(SchemaExtension {
                    schema: Cow::Owned(schema),
                    required: false,
                });
            }
        }
        Self {
            version,
            types: types.into_iter().map(Arc::new).collect(),
        }
    }

    /// What the tenant does with an extension it has not registered (every type says the same).
    pub fn unknown(&self) -> UnknownExtensions {
        self.types
            .first()
            .map_or(UnknownExtensions::Refuse, |t| t.unknown_extensions)
    }

    /// This tenant's definition of the built-in type `rt`.
    pub fn resource_type(&self, rt: &ResourceType) -> Arc<ResourceType> {
        self.types
            .iter()
            .find(|t| t.id == rt.id)
            .cloned()
            .unwrap_or_else(|| Arc::new(rt.clone()))
    }

    /// Every resource type, in the order of [`ResourceType::ALL`].
    pub fn types(&self) -> impl Iterator<Item = &Arc<ResourceType>> {
        self.types.iter()
    }

    /// What discovery lists (`/ResourceTypes`): the tenant's types, then the read-only ones of
    /// what the app offers.
    pub fn described_types(&self) -> impl Iterator<Item = &ResourceType> {
        self.types.iter().map(|t| &**t).chain(ResourceType::OFFERED)
    }

    /// Finds a type discovery lists by id, case-insensitively.
    pub fn described_type(&self, id: &str) -> Option<&ResourceType> {
        self.described_types()
            .find(|t| t.id.eq_ignore_ascii_case(id))
    }

    /// What discovery lists (`/Schemas`): every schema of [`TenantSchemas::described_types`],
    /// each type's core schema, then its extensions.
    pub fn described_schemas(&self) -> impl Iterator<Item = &Schema> {
        self.described_types().flat_map(ResourceType::schemas)
    }

    /// Finds a schema discovery lists by URN, case-insensitively.
    pub fn described_schema(&self, urn: &str) -> Option<&Schema> {
        self.described_schemas()
            .find(|s| s.id.eq_ignore_ascii_case(urn))
    }
}

/// Every tenant's view that differs from the built-in one, by tenant id, as of the schema
/// version last seen. A request that brings a newer version builds the view again; one tenant's
/// entry is bounded by the registration limits, and there is one per tenant.
#[derive(Debug, Default)]
pub struct Registry {
    views: RwLock<HashMap<String, Arc<TenantSchemas>>>,
}

impl Registry {
    /// The tenant's view at `version`, if it is held.
    pub fn get(&self, tenant: &str, version: i64) -> Option<Arc<TenantSchemas>> {
        if version == 0 {
            return Some(TenantSchemas::built_in());
        }
        let views = self.views.read().unwrap_or_else(PoisonError::into_inner);
        views.get(tenant).filter(|v| v.version == version).cloned()
    }

    /// Holds `view` as the tenant's, unless a newer one is already held.
    pub fn insert(&self, tenant: &str, view: Arc<TenantSchemas>) {
        let mut views = self.views.write().unwrap_or_else(PoisonError::into_inner);
        match views.get(tenant) {
            Some(held) if held.version > view.version => {}
            _ => {
                views.insert(tenant.to_owned(), view);
            }
        }
    }

    /// Forgets a tenant (deleted).
    pub fn remove(&self, tenant: &str) {
        let mut views = self.views.write().unwrap_or_else(PoisonError::into_inner);
        views.remove(tenant);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::schema::{AttributeDef, USER_RESOURCE};

    fn cost_center() -> Schema {
        Schema {
            id: "urn:example:Cost".into(),
            name: "Cost".into(),
            description: "".into(),
            attributes: vec![AttributeDef::string("costCenter", "")].into(),
        }
    }

    #[test]
    fn a_tenant_view_extends_only_its_type() {
        let view = TenantSchemas::new(
            3,
            UnknownExtensions::Refuse,
            AppSettings::default(),
            [("User".to_owned(), cost_center())],
        );
        let user = view.resource_type(&USER_RESOURCE);
        assert_eq!(user.extensions.len(), 2);
        assert!(user.extension("URN:EXAMPLE:COST").is_some());
        assert!(view.described_schema("urn:example:Cost").is_some());
        let group = view.described_type("group").expect("Group");
        assert!(group.extensions.is_empty());
        assert!(
            TenantSchemas::built_in()
                .described_schema("urn:example:Cost")
                .is_none()
        );
    }

    #[test]
    fn the_registry_answers_only_the_version_asked_for() {
        let registry = Registry::default();
        assert_eq!(registry.get("t", 0).map(|v| v.version), Some(0));
        assert!(registry.get("t", 2).is_none());
        registry.insert(
            "t",
            Arc::new(TenantSchemas::new(
                2,
                UnknownExtensions::Keep,
                AppSettings::default(),
                [],
            )),
        );
        assert_eq!(
            registry.get("t", 2).map(|v| v.unknown()),
            Some(UnknownExtensions::Keep)
        );
        assert!(registry.get("t", 3).is_none());
        registry.insert(
            "t",
            Arc::new(TenantSchemas::new(
                1,
                UnknownExtensions::Refuse,
                AppSettings::default(),
                [],
            )),
        );
        assert!(
            registry.get("t", 2).is_some(),
            "an older view never replaces a newer one"
        );
    }
}
