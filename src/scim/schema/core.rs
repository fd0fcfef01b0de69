//! The core User and Group schemas (RFC 7643 §4.1, §4.2, §8.7.1) and the enterprise User
//! extension (RFC 7643 §4.3).

use std::borrow::Cow;

use super::{
    AttributeDef as A, EventNames, Links, Mutability::*, ResourceType, Returned, Schema,
    SchemaExtension, Uniqueness, UnknownExtensions,
};

const fn typed_value_sub(value: A, types: &'static [&'static str], kind: &'static str) -> [A; 4] {
    [
        value,
        A::string(
            "display",
            "A human-readable name, primarily used for display purposes.",
        ),
        A::string("type", kind).canonical(types),
        A::boolean(
            "primary",
            "Whether this value is the preferred one; at most one value is primary.",
        ),
    ]
}

const NAME: &[A] = &[
    A::string("formatted", "The full name, formatted for display."),
    A::string("familyName", "The family name of the User, or last name."),
    A::string("givenName", "The given name of the User, or first name."),
    A::string("middleName", "The middle name(s) of the User."),
    A::string(
        "honorificPrefix",
        "The honorific prefix(es) of the User, or title.",
    ),
    A::string(
        "honorificSuffix",
        "The honorific suffix(es) of the User, or suffix.",
    ),
];

const EMAILS: &[A] = &typed_value_sub(
    A::string(
        "value",
        "Email address for the User, canonicalized per RFC 5321.",
    ),
    &["work", "home", "other"],
    "A label indicating the email's function.",
);
const PHONE_NUMBERS: &[A] = &typed_value_sub(
    A::string("value", "Phone number of the User."),
    &["work", "home", "mobile", "fax", "pager", "other"],
    "A label indicating the phone number's function.",
);
const IMS: &[A] = &typed_value_sub(
    A::string("value", "Instant messaging address for the User."),
    &["aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"],
    "A label indicating the instant messaging service.",
);
const PHOTOS: &[A] = &typed_value_sub(
    A::reference("value", &["external"], "URL of a photo of the User."),
    &["photo", "thumbnail"],
    "A label indicating the photo's function.",
);
const ENTITLEMENTS: &[A] = &typed_value_sub(
    A::string("value", "The value of an entitlement."),
    &[],
    "A label indicating the entitlement's function.",
);
const ROLES: &[A] = &typed_value_sub(
    A::string("value", "The value of a role."),
    &[],
    "A label indicating the role's function.",
);
const X509_CERTIFICATES: &[A] = &typed_value_sub(
    A::binary("value", "The value of an X.509 certificate (DER, base64)."),
    &[],
    "A label indicating the certificate's function.",
);

const ADDRESSES: &[A] = &[
    A::string(
        "formatted",
        "The full mailing address, formatted for display.",
    ),
    A::string("streetAddress", "The full street address component."),
    A::string("locality", "The city or locality component."),
    A::string("region", "The state or region component."),
    A::string("postalCode", "The zip code or postal code component."),
    A::string(
        "country",
        "The country name component (ISO 3166-1 alpha-2).",
    ),
    A::string("type", "A label indicating the address's function.")
        .canonical(&["work", "home", "other"]),
    A::boolean("primary", "Whether this address is the preferred one."),
];

const USER_GROUPS: &[A] = &[
    A::string("value", "The identifier of the User's group.").mutability(ReadOnly),
    A::reference(
        "$ref",
        &["User", "Group"],
        "The URI of the corresponding Group resource.",
    )
    .mutability(ReadOnly),
    A::string(
        "display",
        "A human-readable name, primarily used for display purposes.",
    )
    .mutability(ReadOnly),
    A::string("type", "How the membership was derived.")
        .canonical(&["direct", "indirect"])
        .mutability(ReadOnly),
];

const USER_ATTRIBUTES: &[A] = &[
    A::string("userName", "Unique identifier for the User, typically used to sign in; unique per tenant, compared case-insensitively.")
        .required()
        .uniqueness(Uniqueness::Server),
    A::complex("name", NAME, "The components of the User's real name."),
    A::string("displayName", "The name of the User, suitable for display to end-users."),
    A::string("nickName", "The casual way to address the User."),
    A::reference("profileUrl", &["external"], "A fully qualified URL pointing to the User's online profile."),
    A::string("title", "The User's title, such as \"Vice President\"."),
    A::string("userType", "The relationship between the organization and the User."),
    A::string("preferredLanguage", "The User's preferred written or spoken language (RFC 7231 Accept-Language)."),
    A::string("locale", "The User's default location for localization, e.g. en-US."),
    A::string("timezone", "The User's time zone in IANA Time Zone database format, e.g. Europe/Amsterdam."),
    A::boolean("active", "The User's administrative status; false means deactivated."),
    A::string("password", "The User's cleartext password; write-only, stored only as a hash and never returned.")
        .mutability(WriteOnly)
        .returned(Returned::Never),
    A::complex("emails", EMAILS, "Email addresses for the User.").multi(),
    A::complex("phoneNumbers", PHONE_NUMBERS, "Phone numbers for the User.").multi(),
    A::complex("ims", IMS, "Instant messaging addresses for the User.").multi(),
    A::complex("photos", PHOTOS, "URLs of photos of the User.").multi(),
    A::complex("addresses", ADDRESSES, "Physical mailing addresses for the User.").multi(),
    A::complex("groups", USER_GROUPS, "The groups the User belongs to; computed from Group memberships.")
        .multi()
        .mutability(ReadOnly),
    A::complex("entitlements", ENTITLEMENTS, "Entitlements of the User.").multi(),
    A::complex("roles", ROLES, "Roles of the User.").multi(),
    A::complex("x509Certificates", X509_CERTIFICATES, "X.509 certificates issued to the User.").multi(),
];

/// `urn:ietf:params:scim:schemas:core:2.0:User`.
pub static USER: Schema = Schema {
    id: Cow::Borrowed("urn:ietf:params:scim:schemas:core:2.0:User"),
    name: Cow::Borrowed("User"),
    description: Cow::Borrowed("User Account"),
    attributes: Cow::Borrowed(USER_ATTRIBUTES),
};

const MANAGER: &[A] = &[
    A::string(
        "value",
        "The id of the SCIM resource representing the User's manager.",
    ),
    A::reference(
        "$ref",
        &["User"],
        "The URI of the SCIM resource representing the User's manager.",
    ),
    A::string("displayName", "The displayName of the User's manager.").mutability(ReadOnly),
];

const ENTERPRISE_ATTRIBUTES: &[A] = &[
    A::string(
        "employeeNumber",
        "Numeric or alphanumeric identifier assigned to a person by the organization.",
    ),
    A::string("costCenter", "Identifies the name of a cost center."),
    A::string("organization", "Identifies the name of an organization."),
    A::string("division", "Identifies the name of a division."),
    A::string("department", "Identifies the name of a department."),
    A::complex("manager", MANAGER, "The User's manager."),
];

/// `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User`.
pub static ENTERPRISE_USER: Schema = Schema {
    id: Cow::Borrowed("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"),
    name: Cow::Borrowed("EnterpriseUser"),
    description: Cow::Borrowed("Enterprise User"),
    attributes: Cow::Borrowed(ENTERPRISE_ATTRIBUTES),
};

const MEMBERS: &[A] = &[
    A::string("value", "Identifier of the member of this Group.")
        .required()
        .case_exact()
        .mutability(Immutable),
    A::reference(
        "$ref",
        &["User", "Group"],
        "The URI of the member resource.",
    )
    .mutability(Immutable),
    A::string("type", "The type of the member resource.")
        .canonical(&["User", "Group"])
        .mutability(Immutable),
    // Stored with the membership as the client sent it, never derived (RFC 7644 §3.5.2.1's
    // examples send it with each member).
    A::string(
        "display",
        "A human-readable name for the member, as the client sent it.",
    ),
];

const GROUP_ATTRIBUTES: &[A] = &[
    A::string("displayName", "A human-readable name for the Group.").required(),
    A::complex("members", MEMBERS, "A list of members of the Group.").multi(),
];

/// `urn:ietf:params:scim:schemas:core:2.0:Group`.
pub static GROUP: Schema = Schema {
    id: Cow::Borrowed("urn:ietf:params:scim:schemas:core:2.0:Group"),
    name: Cow::Borrowed("Group"),
    description: Cow::Borrowed("Group"),
    attributes: Cow::Borrowed(GROUP_ATTRIBUTES),
};

/// The `User` resource type, served at `/Users`.
pub static USER_RESOURCE: ResourceType = ResourceType {
    id: "User",
    name: "User",
    endpoint: "/Users",
    description: "User Account",
    schema: &USER,
    extensions: Cow::Borrowed(&[SchemaExtension {
        schema: Cow::Borrowed(&ENTERPRISE_USER),
        required: false,
    }]),
    name_attribute: "userName",
    unique_key: Some("userName"),
    links: Links::Groups,
    indexed: &["active"],
    events: EventNames {
        key: "user",
        created: "user.created",
        updated: "user.updated",
        deleted: "user.deleted",
        deactivated: Some("user.deactivated"),
        reactivated: Some("user.reactivated"),
    },
    unknown_extensions: UnknownExtensions::Refuse,
    app: None,
};

/// The `Group` resource type, served at `/Groups`.
pub static GROUP_RESOURCE: ResourceType = ResourceType {
    id: "Group",
    name: "Group",
    endpoint: "/Groups",
    description: "Group",
    schema: &GROUP,
    extensions: Cow::Borrowed(&[]),
    name_attribute: "displayName",
    unique_key: None,
    links: Links::Members,
    indexed: &[],
    events: EventNames {
        key: "group",
        created: "group.created",
        updated: "group.updated",
        deleted: "group.deleted",
        deactivated: None,
        reactivated: None,
    },
    unknown_extensions: UnknownExtensions::Refuse,
    app: None,
};
