//! The Role and Entitlement resources of draft-ietf-scim-roles-entitlements-01 (§3.2, §3.3,
//! schema samples in §3.3.1): what the app offers a tenant's users, readable by its IdP at
//! `/Roles` and `/Entitlements`. They are never written through SCIM, so every attribute is
//! readOnly; `id` and `meta` are the common attributes (RFC 7643 §3.1), as for User and Group.

use std::borrow::Cow;

use super::{
    AttributeDef as A, EventNames, Links, Mutability::ReadOnly, ResourceType, Schema,
    UnknownExtensions,
};

/// The attributes both schemas share; only the descriptions name the kind.
macro_rules! offered_attributes {
    ($kind:literal) => {
        &[
            A::string("value", concat!("The value of the ", $kind, "."))
                .required()
                .mutability(ReadOnly),
            A::string(
                "display",
                "A human-readable name, primarily used for display purposes.",
            )
            .mutability(ReadOnly),
            A::string(
                "type",
                concat!("A label indicating the ", $kind, "'s function."),
            )
            .mutability(ReadOnly),
            A::boolean(
                "primary",
                concat!(
                    "Whether this is the app's default ",
                    $kind,
                    ": the one a user holds when it is given none (at most one is primary)."
                ),
            )
            .mutability(ReadOnly),
            A::boolean(
                "supported",
                concat!("Whether the ", $kind, " is enabled and usable in the app."),
            )
            .mutability(ReadOnly),
            A::boolean(
                "limitedAssignmentsPermitted",
                concat!(
                    "Whether only a limited number of users may be assigned this ",
                    $kind,
                    "."
                ),
            )
            .mutability(ReadOnly),
            A::integer(
                "totalAssignmentsPermitted",
                concat!("How many users may be assigned this ", $kind, "."),
            )
            .mutability(ReadOnly),
            A::integer(
                "totalAssignmentsUsed",
                concat!("How many users are assigned this ", $kind, "."),
            )
            .mutability(ReadOnly),
            A::string(
                "containedBy",
                concat!(
                    "The values of the ",
                    $kind,
                    "s that grant a superset of this one's rights."
                ),
            )
            .multi()
            .mutability(ReadOnly),
            A::string(
                "contains",
                concat!(
                    "The values of the ",
                    $kind,
                    "s whose rights this one grants."
                ),
            )
            .multi()
            .mutability(ReadOnly),
        ]
    };
}

const ROLE_ATTRIBUTES: &[A] = offered_attributes!("role");
const ENTITLEMENT_ATTRIBUTES: &[A] = offered_attributes!("entitlement");

/// `urn:ietf:params:scim:schemas:core:2.0:Role`.
pub static ROLE: Schema = Schema {
    id: Cow::Borrowed("urn:ietf:params:scim:schemas:core:2.0:Role"),
    name: Cow::Borrowed("Role"),
    description: Cow::Borrowed("A role the app offers its users"),
    attributes: Cow::Borrowed(ROLE_ATTRIBUTES),
};

/// `urn:ietf:params:scim:schemas:core:2.0:Entitlement`.
pub static ENTITLEMENT: Schema = Schema {
    id: Cow::Borrowed("urn:ietf:params:scim:schemas:core:2.0:Entitlement"),
    name: Cow::Borrowed("Entitlement"),
    description: Cow::Borrowed("An entitlement the app offers its users"),
    attributes: Cow::Borrowed(ENTITLEMENT_ATTRIBUTES),
};

/// The events a read-only type would record: none is ever recorded, nothing writes them.
const NO_EVENTS: EventNames = EventNames {
    key: "offered",
    created: "",
    updated: "",
    deleted: "",
    deactivated: None,
    reactivated: None,
};

/// A read-only type: its resources are rendered from what the app offers, never stored, so the
/// fields of the write path (unique key, links, indexed columns, events) are never read for it;
/// the filter, `sortBy` and `attributes` parameters resolve against its schema as for any type.
const fn read_only(
    id: &'static str,
    endpoint: &'static str,
    description: &'static str,
    schema: &'static Schema,
) -> ResourceType {
    ResourceType {
        id,
        name: id,
        endpoint,
        description,
        schema,
        extensions: Cow::Borrowed(&[]),
        name_attribute: "value",
        unique_key: None,
        links: Links::Members,
        indexed: &[],
        events: NO_EVENTS,
        unknown_extensions: UnknownExtensions::Refuse,
        app: None,
    }
}

/// The `Role` resource type, served read-only at `/Roles`.
pub static ROLE_RESOURCE: ResourceType = read_only(
    "Role",
    "/Roles",
    "The roles the app offers this tenant's users (draft-ietf-scim-roles-entitlements)",
    &ROLE,
);

/// The `Entitlement` resource type, served read-only at `/Entitlements`.
pub static ENTITLEMENT_RESOURCE: ResourceType = read_only(
    "Entitlement",
    "/Entitlements",
    "The entitlements the app offers this tenant's users (draft-ietf-scim-roles-entitlements)",
    &ENTITLEMENT,
);
