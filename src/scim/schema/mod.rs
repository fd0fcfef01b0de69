//! SCIM schemas as data (RFC 7643 §2, §4, §7, §8.7).
//!
//! Every attribute characteristic the server acts on (mutability, returned, required, uniqueness,
//! caseExact) comes from these definitions, and `/Schemas` is rendered from them, so the
//! discovery documents and the validator cannot drift apart.

pub(crate) mod core;
mod offered;
mod parse;
mod registry;
mod render;

use std::borrow::Cow;
use std::sync::Arc;

pub use core::{GROUP, GROUP_RESOURCE, USER, USER_RESOURCE};
pub use offered::{ENTITLEMENT_RESOURCE, ROLE_RESOURCE};

pub use parse::{is_registrable, parse_schema};
pub use registry::{AppSettings, Registry, TenantSchemas, UnknownExtensions};
pub use render::{render_resource_type, render_schema};

/// A name or description: borrowed for the built-in schemas, owned for those a tenant registers.
pub type Text = Cow<'static, str>;

/// A list of words (canonical values, reference types): static for the built-in schemas, owned
/// for those a tenant registers.
#[derive(Debug, Clone)]
pub enum Words {
    Static(&'static [&'static str]),
    Owned(Vec<String>),
}

impl Words {
    /// The words, in order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        let (s, o) = match self {
            Self::Static(s) => (*s, &[][..]),
            Self::Owned(o) => (&[][..], o.as_slice()),
        };
        s.iter().copied().chain(o.iter().map(String::as_str))
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        match self {
            Self::Static(s) => s.is_empty(),
            Self::Owned(o) => o.is_empty(),
        }
    }
}

/// The data type of an attribute (RFC 7643 §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrType {
    String,
    Boolean,
    Decimal,
    Integer,
    DateTime,
    Binary,
    Reference,
    Complex,
}

/// Whether and when a client may write an attribute (RFC 7643 §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutability {
    ReadOnly,
    ReadWrite,
    Immutable,
    WriteOnly,
}

/// When an attribute appears in a response (RFC 7643 §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Returned {
    Always,
    Never,
    Default,
    Request,
}

/// The scope in which an attribute value must be unique (RFC 7643 §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uniqueness {
    /// No uniqueness (the default).
    None,
    /// Unique within the tenant; RFC 7643's `global` is refused when a schema is registered.
    Server,
}

/// One attribute definition; sub-attributes make it complex.
#[derive(Debug, Clone)]
pub struct AttributeDef {
    pub name: Text,
    pub ty: AttrType,
    pub multi_valued: bool,
    pub description: Text,
    pub required: bool,
    pub case_exact: bool,
    pub mutability: Mutability,
    pub returned: Returned,
    pub uniqueness: Uniqueness,
    pub canonical_values: Words,
    pub reference_types: Words,
    pub sub_attributes: Cow<'static, [AttributeDef]>,
}

impl AttributeDef {
    const fn new(name: &'static str, ty: AttrType, description: &'static str) -> Self {
        Self {
            name: Cow::Borrowed(name),
            ty,
            multi_valued: false,
            description: Cow::Borrowed(description),
            required: false,
            // RFC 7643 §2.3.7: binary and reference values are always case-exact.
            case_exact: matches!(ty, AttrType::Binary | AttrType::Reference),
            mutability: Mutability::ReadWrite,
            returned: Returned::Default,
            uniqueness: Uniqueness::None,
            canonical_values: Words::Static(&[]),
            reference_types: Words::Static(&[]),
            sub_attributes: Cow::Borrowed(&[]),
        }
    }

    /// A single-valued string attribute.
    pub const fn string(name: &'static str, description: &'static str) -> Self {
        Self::new(name, AttrType::String, description)
    }

    /// A single-valued boolean attribute.
    pub const fn boolean(name: &'static str, description: &'static str) -> Self {
        Self::new(name, AttrType::Boolean, description)
    }

    /// A single-valued integer attribute.
    pub const fn integer(name: &'static str, description: &'static str) -> Self {
        Self::new(name, AttrType::Integer, description)
    }

    /// A single-valued dateTime attribute.
    pub const fn date_time(name: &'static str, description: &'static str) -> Self {
        Self::new(name, AttrType::DateTime, description)
    }

    /// A single-valued binary attribute (base64 in JSON).
    pub const fn binary(name: &'static str, description: &'static str) -> Self {
        Self::new(name, AttrType::Binary, description)
    }

    /// A reference to the given resource types (`"external"`, `"uri"`, `"User"`, …).
    pub const fn reference(
        name: &'static str,
        types: &'static [&'static str],
        description: &'static str,
    ) -> Self {
        let mut a = Self::new(name, AttrType::Reference, description);
        // A const fn cannot drop the old value; it is a static list, nothing to free.
        std::mem::forget(std::mem::replace(
            &mut a.reference_types,
            Words::Static(types),
        ));
        a
    }

    /// A complex attribute made of `sub` attributes.
    pub const fn complex(
        name: &'static str,
        sub: &'static [AttributeDef],
        description: &'static str,
    ) -> Self {
        let mut a = Self::new(name, AttrType::Complex, description);
        std::mem::forget(std::mem::replace(&mut a.sub_attributes, Cow::Borrowed(sub)));
        a
    }

    /// Gives the attribute another data type (test schemas with numbers).
    #[cfg(test)]
    pub const fn of_type(mut self, ty: AttrType) -> Self {
        self.ty = ty;
        self
    }

    /// Makes the attribute multi-valued.
    pub const fn multi(mut self) -> Self {
        self.multi_valued = true;
        self
    }

    /// Marks the attribute as required.
    pub const fn required(mut self) -> Self {
        self.required = true;
        self
    }

    /// Compares values of this attribute case-sensitively.
    pub const fn case_exact(mut self) -> Self {
        self.case_exact = true;
        self
    }

    /// Sets the mutability.
    pub const fn mutability(mut self, m: Mutability) -> Self {
        self.mutability = m;
        self
    }

    /// Sets when the attribute is returned.
    pub const fn returned(mut self, r: Returned) -> Self {
        self.returned = r;
        self
    }

    /// Sets the uniqueness scope.
    pub const fn uniqueness(mut self, u: Uniqueness) -> Self {
        self.uniqueness = u;
        self
    }

    /// Lists the values the service provider suggests (clients may send others).
    pub const fn canonical(mut self, values: &'static [&'static str]) -> Self {
        std::mem::forget(std::mem::replace(
            &mut self.canonical_values,
            Words::Static(values),
        ));
        self
    }

    /// Looks up a sub-attribute by name, case-insensitively (RFC 7643 §2.1).
    pub fn sub_attribute(&self, name: &str) -> Option<&AttributeDef> {
        find(&self.sub_attributes, name)
    }

    /// Whether this is a complex attribute.
    pub fn is_complex(&self) -> bool {
        self.ty == AttrType::Complex
    }
}

/// Finds an attribute by name, case-insensitively.
pub fn find<'a>(attrs: &'a [AttributeDef], name: &str) -> Option<&'a AttributeDef> {
    attrs.iter().find(|a| a.name.eq_ignore_ascii_case(name))
}

/// A schema: a URN and its attributes (RFC 7643 §7).
#[derive(Debug, Clone)]
pub struct Schema {
    pub id: Text,
    pub name: Text,
    pub description: Text,
    pub attributes: Cow<'static, [AttributeDef]>,
}

impl Schema {
    /// Looks up a top-level attribute by name, case-insensitively.
    pub fn attribute(&self, name: &str) -> Option<&AttributeDef> {
        find(&self.attributes, name)
    }
}

/// A schema extension of a resource type, and whether resources must carry it.
#[derive(Debug, Clone)]
pub struct SchemaExtension {
    pub schema: Cow<'static, Schema>,
    pub required: bool,
}

/// Which links of the membership table a resource type renders, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Links {
    /// The groups a resource is a member of, computed, under `groups` (RFC 7643 §4.1.2).
    Groups,
    /// The members a resource holds, under `members` (RFC 7643 §4.2); role mappings name such
    /// resources.
    Members,
}

impl Links {
    /// The attribute the links are rendered under.
    pub fn attribute(self) -> &'static str {
        match self {
            Self::Groups => "groups",
            Self::Members => "members",
        }
    }
}

/// The names of the events a resource type's changes record (the outbox's own names).
#[derive(Debug, Clone, Copy)]
pub struct EventNames {
    /// The key of the resource in event data, `{"user": …}`.
    pub key: &'static str,
    pub created: &'static str,
    pub updated: &'static str,
    pub deleted: &'static str,
    /// When `active` turns false and back; `None` for types without `active`.
    pub deactivated: Option<&'static str>,
    pub reactivated: Option<&'static str>,
}

/// The event names of the resource types unit tests make up.
#[cfg(test)]
pub const TEST_EVENTS: EventNames = EventNames {
    key: "test",
    created: "test.created",
    updated: "test.updated",
    deleted: "test.deleted",
    deactivated: None,
    reactivated: None,
};

/// A resource type: its endpoint, its core schema and its extensions (RFC 7643 §6), and what
/// the server does with its resources beyond the schema: how they are named, which attribute is
/// unique per tenant, which links they render, which columns are indexed, which events they
/// record. Code outside this module reads these instead of asking which type it has.
#[derive(Debug, Clone)]
pub struct ResourceType {
    pub id: &'static str,
    pub name: &'static str,
    pub endpoint: &'static str,
    pub description: &'static str,
    pub schema: &'static Schema,
    /// The built-in extensions, then those the tenant registered.
    pub extensions: Cow<'static, [SchemaExtension]>,
    /// The attribute that names a resource in events and the portal.
    pub name_attribute: &'static str,
    /// The attribute unique per tenant under its RFC 8265 key (kept in the `user_name_*`
    /// columns), if any.
    pub unique_key: Option<&'static str>,
    /// The links of the membership table its resources render.
    pub links: Links,
    /// Core attributes, beyond the common ones and `displayName`, kept in indexed columns.
    pub indexed: &'static [&'static str],
    pub events: EventNames,
    /// What a body may do with an extension the tenant has not registered.
    pub unknown_extensions: UnknownExtensions,
    /// The tenant's settings its users' app view needs, as of the view's version; `None` in the
    /// built-in definitions, which belong to no tenant (then they are read from the database).
    pub app: Option<Arc<AppSettings>>,
}

impl ResourceType {
    /// Every resource type this server stores and serves.
    pub const ALL: [&'static ResourceType; 2] = [&USER_RESOURCE, &GROUP_RESOURCE];

    /// The read-only types of what the app offers (draft-ietf-scim-roles-entitlements): listed
    /// in discovery beside [`ResourceType::ALL`], rendered from the app's catalog or the
    /// tenant's settings, never stored.
    pub const OFFERED: [&'static ResourceType; 2] = [&ROLE_RESOURCE, &ENTITLEMENT_RESOURCE];

    /// Finds a resource type by its id ("User", "Group"), case-insensitively.
    pub fn by_id(id: &str) -> Option<&'static ResourceType> {
        Self::ALL
            .into_iter()
            .find(|r| r.id.eq_ignore_ascii_case(id))
    }

    /// The core schema and each extension schema, in that order.
    pub fn schemas(&self) -> impl Iterator<Item = &Schema> {
        std::iter::once(self.schema).chain(self.extensions.iter().map(|e| &*e.schema))
    }

    /// The type whose resources hold members (Group): the one role mappings name.
    pub fn holding_members() -> &'static ResourceType {
        Self::ALL
            .into_iter()
            .find(|r| r.links == Links::Members)
            .unwrap_or(&GROUP_RESOURCE)
    }

    /// The type whose resources get roles from the groups they are in (User).
    pub fn in_groups() -> &'static ResourceType {
        Self::ALL
            .into_iter()
            .find(|r| r.links == Links::Groups)
            .unwrap_or(&USER_RESOURCE)
    }

    /// Finds the resource type stored under `id` (as the `resource_type` column holds it).
    pub fn stored(id: &str) -> Option<&'static ResourceType> {
        Self::ALL.into_iter().find(|r| r.id == id)
    }

    /// Whether an extension has an attribute with uniqueness "server" (held in `unique_values`).
    pub fn has_unique_extensions(&self) -> bool {
        self.extensions
            .iter()
            .flat_map(|e| e.schema.attributes.iter())
            .any(|a| a.uniqueness == Uniqueness::Server)
    }

    /// Finds one of this type's extension schemas by URN, case-insensitively.
    pub fn extension(&self, urn: &str) -> Option<&Schema> {
        self.extensions
            .iter()
            .map(|e| &*e.schema)
            .find(|s| s.id.eq_ignore_ascii_case(urn))
    }
}

/// Whether a resource's top-level key is an extension's URN rather than an attribute name (an
/// attribute name holds no ':').
pub fn is_extension_key(key: &str) -> bool {
    key.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("urn:"))
}

/// Attributes common to every resource (RFC 7643 §3.1), answered outside the schema documents.
pub mod common {
    use super::{AttributeDef, Mutability, Returned, Uniqueness};

    pub const ID: AttributeDef = AttributeDef::string(
        "id",
        "Unique identifier for the SCIM resource, assigned by the service provider.",
    )
    .case_exact()
    .mutability(Mutability::ReadOnly)
    .returned(Returned::Always)
    .uniqueness(Uniqueness::Server);
    pub const EXTERNAL_ID: AttributeDef = AttributeDef::string(
        "externalId",
        "Identifier of the resource as defined by the provisioning client.",
    )
    .case_exact();
    const META_SUB: &[AttributeDef] = &[
        AttributeDef::string(
            "resourceType",
            "The name of the resource type of the resource.",
        )
        .case_exact()
        .mutability(Mutability::ReadOnly),
        AttributeDef::date_time(
            "created",
            "The date and time the resource was added to the service provider.",
        )
        .mutability(Mutability::ReadOnly),
        AttributeDef::date_time(
            "lastModified",
            "The most recent date and time the resource was modified.",
        )
        .mutability(Mutability::ReadOnly),
        AttributeDef::reference(
            "location",
            &["uri"],
            "The URI of the resource being returned.",
        )
        .mutability(Mutability::ReadOnly),
        AttributeDef::string("version", "The version (ETag) of the resource.")
            .case_exact()
            .mutability(Mutability::ReadOnly),
    ];
    pub const META: AttributeDef = AttributeDef::complex("meta", META_SUB, "Resource metadata.")
        .mutability(Mutability::ReadOnly);
    /// The common attributes, looked up before the schema's own.
    pub const ALL: &[AttributeDef] = &[ID, EXTERNAL_ID, META];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_are_case_insensitive() {
        assert_eq!(
            USER.attribute("USERNAME").map(|a| &*a.name),
            Some("userName")
        );
        let emails = USER.attribute("emails").expect("emails");
        assert!(emails.multi_valued);
        assert_eq!(
            emails.sub_attribute("Value").map(|a| &*a.name),
            Some("value")
        );
        assert!(ResourceType::by_id("user").is_some());
        assert!(
            USER_RESOURCE
                .extension("urn:ietf:params:scim:schemas:extension:enterprise:2.0:user")
                .is_some()
        );
    }

    #[test]
    fn references_are_case_exact_by_type() {
        let r = AttributeDef::reference("x", &["uri"], "");
        assert!(r.case_exact);
        assert!(!AttributeDef::string("y", "").case_exact);
    }
}
