//! Fixtures shared by the filter tests.

use std::borrow::Cow;

use serde_json::{Value, json};

use super::{CheckedFilter, check, parse};
use crate::scim::schema::{AttrType, AttributeDef, ResourceType, Schema};

/// The SCIM schemas declare no integer or decimal attributes, so a resource type for tests has
/// them, plus a case-exact string.
const TEST_ATTRIBUTES: &[AttributeDef] = &[
    AttributeDef::string("age", "An integer.").of_type(AttrType::Integer),
    AttributeDef::string("score", "A decimal.").of_type(AttrType::Decimal),
    AttributeDef::string("lotto", "Integers.")
        .of_type(AttrType::Integer)
        .multi(),
    AttributeDef::string("code", "A case-exact string.").case_exact(),
];

static TEST_SCHEMA: Schema = Schema {
    id: Cow::Borrowed("urn:example:scim:schemas:Test"),
    name: Cow::Borrowed("Test"),
    description: Cow::Borrowed("Numbers for tests"),
    attributes: Cow::Borrowed(TEST_ATTRIBUTES),
};

/// A resource type with integer, decimal and case-exact attributes.
pub static TEST_RESOURCE: ResourceType = ResourceType {
    id: "Test",
    name: "Test",
    endpoint: "/Tests",
    description: "Numbers for tests",
    schema: &TEST_SCHEMA,
    extensions: Cow::Borrowed(&[]),
    name_attribute: "displayName",
    unique_key: None,
    links: crate::scim::schema::Links::Groups,
    indexed: &[],
    events: crate::scim::schema::TEST_EVENTS,
    unknown_extensions: crate::scim::schema::UnknownExtensions::Refuse,
    app: None,
};

/// Parses and checks, panicking with the error (tests only).
pub fn checked<'s>(filter: &str, rt: &'s ResourceType) -> CheckedFilter<'s> {
    let parsed = parse(filter).unwrap_or_else(|e| panic!("{filter}: {e}"));
    check(parsed, rt).unwrap_or_else(|e| panic!("{filter}: {e}"))
}

/// Barbara Jensen, after RFC 7643 §8.2 (full User with the enterprise extension).
pub fn bjensen() -> Value {
    json!({
        "schemas": [
            "urn:ietf:params:scim:schemas:core:2.0:User",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
        ],
        "id": "2819c223-7f76-453a-919d-413861904646",
        "externalId": "701984",
        "userName": "bjensen@example.com",
        "name": {
            "formatted": "Ms. Barbara J Jensen, III",
            "familyName": "Jensen",
            "givenName": "Barbara"
        },
        "displayName": "Babs Jensen",
        "title": "Tour Guide",
        "userType": "Employee",
        "active": true,
        "emails": [
            {"value": "bjensen@example.com", "type": "work", "primary": true},
            {"value": "babs@jensen.org", "type": "home"}
        ],
        "ims": [{"value": "someaimhandle", "type": "aim"}],
        "x509Certificates": [{"value": "MIIDQzCCAqygAwIBAgICEAAwDQYJKoZIhvcNAQEFBQAw"}],
        "meta": {
            "resourceType": "User",
            "created": "2010-01-23T04:56:22Z",
            "lastModified": "2011-05-13T04:42:34Z",
            "version": "W/\"a330bc54f0671c9\""
        },
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
            "employeeNumber": "701984",
            "department": "Tour Operations",
            "manager": {
                "value": "26118915-6090-4610-87e4-49d8ca9f808d",
                "displayName": "John Smith"
            }
        }
    })
}
