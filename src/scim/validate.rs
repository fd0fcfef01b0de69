//! Turns a client's resource body (POST, PUT) into the canonical document the server stores.
//!
//! Parse, don't validate: the output has schema-cased keys, extension attributes under their
//! schema URN, no read-only input, no nulls, and typed values only. Write-only values (password)
//! and group members are handed back separately: they are stored apart from the document.

use std::collections::{BTreeMap, HashSet};

use serde_json::{Map, Value};

use super::Violation;
use super::compat;
use super::schema::{
    AttrType, AttributeDef, Mutability, ResourceType, Schema, Uniqueness, UnknownExtensions,
    common, is_registrable,
};
use super::text;

/// A member reference taken from a Group's `members` (RFC 7643 §4.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRef {
    /// The member's id.
    pub value: String,
    /// The member's resource type, when the client named it.
    pub resource_type: Option<String>,
    /// The human-readable name the client sent with the membership, kept as sent.
    pub display: Option<String>,
}

/// A resource body that passed validation.
#[derive(Debug, Clone, PartialEq)]
pub struct Validated {
    /// The canonical document: every stored attribute except `id`, `meta`, `members` and
    /// write-only ones.
    pub doc: Map<String, Value>,
    /// The write-only `password`, to be hashed before it is stored.
    pub password: Option<String>,
    /// Group members, de-duplicated, in the order given.
    pub members: Vec<MemberRef>,
    /// Extensions the tenant has not registered, stored as sent (it chose to keep them).
    pub unregistered: Vec<String>,
}

/// Validates a full resource body, as sent with POST (create) or PUT (replace). An extension
/// the tenant has not registered is refused, or kept as sent when the tenant chose so.
pub fn resource_body(rt: &ResourceType, body: Value) -> Result<Validated, Violation> {
    // Every string and key, before anything else: unknown attributes are refused below, but
    // their error messages would quote the offending text.
    text::check_json(&body)?;
    checked_body(rt, body, rt.unknown_extensions == UnknownExtensions::Keep)
}

/// Validates a document a PATCH produced, by the rules of a PUT body except the character
/// check: the PATCH body was checked whole when parsed, and the stored part may predate the
/// check (an SQLite row with a NUL), which must not stop the IdP from deactivating that user.
/// An unregistered extension's object can only have come from the stored document (a PATCH
/// path cannot name one): it stays as it was.
pub(super) fn patched_body(rt: &ResourceType, body: Value) -> Result<Validated, Violation> {
    checked_body(rt, body, true)
}

fn checked_body(rt: &ResourceType, body: Value, keep: bool) -> Result<Validated, Violation> {
    let Value::Object(input) = body else {
        return Err(Violation::InvalidSyntax(format!(
            "the request body must be a JSON object holding a {}",
            rt.name
        )));
    };
    let mut out = Validated {
        doc: Map::new(),
        password: None,
        members: Vec::new(),
        unregistered: Vec::new(),
    };
    for (key, value) in input {
        if key.eq_ignore_ascii_case("schemas") {
            check_schemas(rt, &value, keep)?;
        } else if let Some(ext) = rt.extension(&key) {
            let ext_doc = extension_object(ext, value)?;
            if !ext_doc.is_empty() {
                out.doc.insert(ext.id.to_string(), Value::Object(ext_doc));
            }
        } else if is_registrable(&key) {
            if !keep {
                return Err(unregistered(rt, &key));
            }
            match value {
                Value::Object(o) if !o.is_empty() => {
                    out.unregistered.push(key.clone());
                    out.doc.insert(key, Value::Object(o));
                }
                Value::Object(_) | Value::Null => {}
                _ => {
                    return Err(Violation::InvalidValue(format!(
                        "{key} must be a JSON object of extension attributes"
                    )));
                }
            }
        } else {
            let def = common::ALL
                .iter()
                .find(|a| a.name.eq_ignore_ascii_case(&key))
                .or_else(|| rt.schema.attribute(&key))
                .ok_or_else(|| unknown_attribute(rt.schema, &key))?;
            top_level(rt, def, value, &mut out)?;
        }
    }
    for schema in rt.schemas() {
        let holder = if schema.id == rt.schema.id {
            Some(&out.doc)
        } else {
            out.doc.get(&*schema.id).and_then(Value::as_object)
        };
        for def in schema.attributes.iter().filter(|a| a.required) {
            if holder.and_then(|h| h.get(&*def.name)).is_none() {
                return Err(Violation::InvalidValue(format!(
                    "{} is required for a {}",
                    def.name, rt.name
                )));
            }
        }
    }
    Ok(out)
}

/// RFC 7644 §3.5.1: a replace may set an immutable attribute that has no value yet, but must
/// not change one that has.
pub fn check_immutable<'a>(
    rt: &ResourceType,
    old: &'a Map<String, Value>,
    new: &'a Map<String, Value>,
) -> Result<(), Violation> {
    let empty = Map::new();
    for schema in rt.schemas() {
        // Core attributes sit at the top of the document, extension ones under their URN.
        let holder = |doc: &'a Map<String, Value>| -> Option<&'a Map<String, Value>> {
            if schema.id == rt.schema.id {
                Some(doc)
            } else {
                doc.get(&*schema.id).and_then(Value::as_object)
            }
        };
        let Some(before) = holder(old) else { continue };
        let after = holder(new).unwrap_or(&empty);
        for def in schema
            .attributes
            .iter()
            .filter(|a| a.mutability == Mutability::Immutable)
        {
            if let Some(was) = before.get(&*def.name)
                && after.get(&*def.name) != Some(was)
            {
                return Err(Violation::Mutability(format!(
                    "{} is immutable: it was set to {was} and cannot change",
                    def.name
                )));
            }
        }
    }
    Ok(())
}

/// The values a canonical document holds for its extension attributes with uniqueness
/// "server", each as (`urn:attribute`, comparison key): a string case-folded unless the attribute
/// is caseExact, any other value as its JSON text.
pub fn unique_values(rt: &ResourceType, doc: &Map<String, Value>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for ext in rt.extensions.iter().map(|e| &*e.schema) {
        let unique = ext
            .attributes
            .iter()
            .filter(|a| a.uniqueness == Uniqueness::Server);
        for def in unique {
            let Some(value) = doc.get(&*ext.id).and_then(|o| o.get(&*def.name)) else {
                continue;
            };
            let key = match value {
                Value::String(s) if !def.case_exact => super::fold_case(s),
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            out.push((format!("{}:{}", ext.id, def.name), key));
        }
    }
    out
}

/// The refusal of an extension the tenant has not registered: what to do about it.
fn unregistered(rt: &ResourceType, urn: &str) -> Violation {
    Violation::InvalidValue(format!(
        "extension {urn} is not registered for this tenant's {} resources; the tenant's admin registers its schema with PUT /admin/v1/tenants/{{tenant}}/schemas/{urn}, or sets unknown_extensions to \"keep\" (PUT /admin/v1/tenants/{{tenant}}/schema-settings) to store such data as sent",
        rt.name
    ))
}

fn unknown_attribute(schema: &Schema, key: &str) -> Violation {
    Violation::InvalidValue(format!(
        "unknown attribute \"{key}\" for schema {}; see /Schemas for the attributes this server accepts",
        schema.id
    ))
}

fn check_schemas(rt: &ResourceType, value: &Value, keep: bool) -> Result<(), Violation> {
    let urns = value
        .as_array()
        .filter(|a| a.iter().all(Value::is_string))
        .ok_or_else(|| {
            Violation::InvalidSyntax("schemas must be an array of schema URNs".into())
        })?;
    for urn in urns.iter().filter_map(Value::as_str) {
        if !urn.eq_ignore_ascii_case(&rt.schema.id)
            && rt.extension(urn).is_none()
            && !compat::ignorable_schema(&rt.schema.id, urn)
            && (!keep || !is_registrable(urn))
        {
            return Err(if is_registrable(urn) {
                unregistered(rt, urn)
            } else {
                Violation::InvalidValue(format!(
                    "schema {urn} is not a schema of the {} resource type",
                    rt.name
                ))
            });
        }
    }
    if !urns
        .iter()
        .filter_map(Value::as_str)
        .any(|u| u.eq_ignore_ascii_case(&rt.schema.id))
    {
        return Err(Violation::InvalidValue(format!(
            "schemas must include {}",
            rt.schema.id
        )));
    }
    Ok(())
}

fn extension_object(ext: &Schema, value: Value) -> Result<Map<String, Value>, Violation> {
    let Value::Object(input) = value else {
        return Err(Violation::InvalidValue(format!(
            "{} must be a JSON object of extension attributes",
            ext.id
        )));
    };
    let mut out = Map::new();
    for (key, v) in input {
        let def = ext
            .attribute(&key)
            .ok_or_else(|| unknown_attribute(ext, &key))?;
        // RFC 7644 §3.3: read-only values in a request are ignored, as at the top level.
        if def.mutability == Mutability::ReadOnly {
            continue;
        }
        if let Some(v) = attribute_value(def, v, &def.name)? {
            out.insert(def.name.to_string(), v);
        }
    }
    Ok(out)
}

fn top_level(
    rt: &ResourceType,
    def: &AttributeDef,
    value: Value,
    out: &mut Validated,
) -> Result<(), Violation> {
    match def.mutability {
        // RFC 7644 §3.3: read-only values in a request are ignored (id, meta, groups, …).
        Mutability::ReadOnly => return Ok(()),
        Mutability::WriteOnly => {
            out.password = match value {
                Value::Null => None,
                Value::String(s) => Some(s),
                _ => {
                    return Err(Violation::InvalidValue(format!(
                        "{} must be a string",
                        def.name
                    )));
                }
            };
            return Ok(());
        }
        Mutability::ReadWrite | Mutability::Immutable => {}
    }
    let Some(value) = attribute_value(def, value, &def.name)? else {
        return Ok(());
    };
    if rt.schema.id == super::schema::GROUP.id && def.name == "members" {
        out.members = member_refs(value);
    } else {
        out.doc.insert(def.name.to_string(), value);
    }
    Ok(())
}

/// The member references in a checked `members` value, de-duplicated by id, in the order given.
pub(super) fn member_refs(members: Value) -> Vec<MemberRef> {
    let mut refs: Vec<MemberRef> = Vec::new();
    let mut seen = HashSet::new();
    for m in members.as_array().into_iter().flatten() {
        let Some(value) = m.get("value").and_then(Value::as_str) else {
            continue;
        };
        if !seen.insert(value) {
            continue;
        }
        refs.push(MemberRef {
            value: value.to_owned(),
            resource_type: m.get("type").and_then(Value::as_str).map(str::to_owned),
            display: m.get("display").and_then(Value::as_str).map(str::to_owned),
        });
    }
    refs
}

/// Checks one attribute value against its definition and returns its canonical form, or `None`
/// when the value is unassigned (null, or an empty array).
pub(super) fn attribute_value(
    def: &AttributeDef,
    value: Value,
    path: &str,
) -> Result<Option<Value>, Violation> {
    if value.is_null() {
        return Ok(None);
    }
    if !def.multi_valued {
        return single_value(def, value, path);
    }
    let Value::Array(items) = value else {
        return Err(Violation::InvalidValue(format!(
            "{path} is multi-valued and must be a JSON array"
        )));
    };
    // Equal values are kept once, found by a hash of their key-ordered JSON: a large group
    // stays linear.
    let mut out = Vec::with_capacity(items.len());
    let mut seen = HashSet::with_capacity(items.len());
    for item in items {
        if let Some(v) = single_value(def, item, path)?
            && seen.insert(identity(&v))
        {
            out.push(v);
        }
    }
    let primaries = out
        .iter()
        .filter(|v| v.get("primary") == Some(&Value::Bool(true)))
        .count();
    if primaries > 1 {
        return Err(Violation::InvalidValue(format!(
            "{path} has {primaries} values marked primary; at most one may be"
        )));
    }
    Ok((!out.is_empty()).then_some(Value::Array(out)))
}

/// A value's JSON with object keys in order, so equal values give equal text.
pub(super) fn identity(v: &Value) -> String {
    match v {
        Value::Object(m) => Value::from_iter(
            m.iter()
                .collect::<BTreeMap<_, _>>()
                .into_iter()
                .map(|(k, v)| (k.clone(), v.clone())),
        )
        .to_string(),
        other => other.to_string(),
    }
}

/// Checks one value (of a single-valued attribute, one element of a multi-valued one, or a
/// sub-attribute) and returns its canonical form, or `None` when it is null or an empty object.
pub(super) fn single_value(
    def: &AttributeDef,
    value: Value,
    path: &str,
) -> Result<Option<Value>, Violation> {
    if value.is_null() {
        return Ok(None);
    }
    let wrong = |expected: &str| {
        Violation::InvalidValue(format!(
            "{path} must be {expected}, not {}",
            describe(&value)
        ))
    };
    let out = match def.ty {
        AttrType::String | AttrType::Reference | AttrType::Binary | AttrType::DateTime => {
            if !value.is_string() {
                return Err(wrong("a string"));
            }
            value
        }
        AttrType::Boolean => match &value {
            Value::Bool(_) => value,
            other => {
                Value::Bool(compat::string_boolean(other).ok_or_else(|| wrong("true or false"))?)
            }
        },
        AttrType::Integer => {
            if !(value.is_i64() || value.is_u64()) {
                return Err(wrong("an integer"));
            }
            value
        }
        AttrType::Decimal => {
            if !value.is_number() {
                return Err(wrong("a number"));
            }
            value
        }
        AttrType::Complex => {
            let Value::Object(input) = value else {
                return Err(wrong("a JSON object"));
            };
            let mut out = Map::new();
            for (key, v) in input {
                let sub = def.sub_attribute(&key).ok_or_else(|| {
                    Violation::InvalidValue(format!("{path} has no sub-attribute \"{key}\""))
                })?;
                if sub.mutability == Mutability::ReadOnly {
                    continue;
                }
                if let Some(v) = single_value(sub, v, &format!("{path}.{}", sub.name))? {
                    out.insert(sub.name.to_string(), v);
                }
            }
            if let Some(missing) = def
                .sub_attributes
                .iter()
                .find(|s| s.required && !out.contains_key(&*s.name))
            {
                return Err(Violation::InvalidValue(format!(
                    "{path}.{} is required",
                    missing.name
                )));
            }
            if out.is_empty() {
                return Ok(None);
            }
            Value::Object(out)
        }
    };
    if def.required && out.as_str().is_some_and(|s| s.trim().is_empty()) {
        return Err(Violation::InvalidValue(format!(
            "{path} is required and must not be empty"
        )));
    }
    Ok(Some(out))
}

fn describe(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::scim::schema::{GROUP_RESOURCE, USER_RESOURCE};

    const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

    fn user(body: Value) -> Result<Validated, Violation> {
        resource_body(&USER_RESOURCE, body)
    }

    #[test]
    fn canonicalises_a_full_user() {
        let v = user(json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENT],
            "USERNAME": "bjensen@example.com",
            "id": "client-chosen", "meta": {"version": "W/\"9\""}, "groups": [{"value": "g"}],
            "name": {"GivenName": "Barbara", "familyName": "Jensen", "middleName": null},
            "emails": [{"value": "b@example.com", "type": "work", "primary": true}, {"value": "b@example.com", "type": "work", "primary": true}],
            "active": "False",
            "password": "t1meMa$heen",
            ENT: {"department": "Tour Operations", "manager": {"value": "m1", "displayName": "ignored"}},
        }))
        .expect("valid");
        assert_eq!(v.password.as_deref(), Some("t1meMa$heen"));
        assert_eq!(
            Value::Object(v.doc),
            json!({
                "userName": "bjensen@example.com",
                "name": {"givenName": "Barbara", "familyName": "Jensen"},
                "emails": [{"value": "b@example.com", "type": "work", "primary": true}],
                "active": false,
                ENT: {"department": "Tour Operations", "manager": {"value": "m1"}},
            })
        );
    }

    #[test]
    fn rejects_bad_input_with_a_clear_reason() {
        let cases: &[(Value, &str)] = &[
            (json!({}), "userName is required"),
            (
                json!({"userName": "  "}),
                "userName is required and must not be empty",
            ),
            (
                json!({"userName": 7}),
                "userName must be a string, not a number",
            ),
            (
                json!({"userName": "a", "emails": {"value": "x"}}),
                "emails is multi-valued",
            ),
            (
                json!({"userName": "a", "emails": [{"value": "x", "primary": true}, {"value": "y", "primary": true}]}),
                "at most one",
            ),
            (
                json!({"userName": "a", "favouriteColour": "red"}),
                "unknown attribute \"favouriteColour\"",
            ),
            (
                json!({"userName": "a", "name": {"nick": "b"}}),
                "name has no sub-attribute \"nick\"",
            ),
            (
                json!({"userName": "a", "active": "maybe"}),
                "active must be true or false",
            ),
            (
                json!({"userName": "a", "schemas": ["urn:example:Other"]}),
                "extension urn:example:Other is not registered for this tenant's User resources; the tenant's admin registers its schema with PUT /admin/v1/tenants/{tenant}/schemas/urn:example:Other",
            ),
            (
                json!({"userName": "a", "schemas": ["http://example.com/Other"]}),
                "is not a schema of the User",
            ),
            (
                json!({"userName": "a", "schemas": [ENT]}),
                "schemas must include",
            ),
            (json!({"userName": "a", ENT: "x"}), "must be a JSON object"),
            (json!(["userName"]), "must be a JSON object"),
        ];
        for (body, want) in cases {
            let err = user(body.clone()).expect_err(&body.to_string()).to_string();
            assert!(err.contains(want), "{body}: {err}");
        }
    }

    #[test]
    fn equal_values_are_kept_once_in_any_key_order() {
        let v = user(json!({"userName": "a", "emails": [
            {"value": "a@x", "type": "work"}, {"type": "work", "value": "a@x"}, {"value": "b@x"}
        ]}))
        .expect("valid");
        assert_eq!(
            v.doc["emails"],
            json!([{"value": "a@x", "type": "work"}, {"value": "b@x"}])
        );
        // A group of 60,000 members (about what the default 1 MiB body holds) with repeats.
        let members: Vec<Value> = (0..60_000)
            .map(|i| json!({"value": format!("m{}", i % 50_000)}))
            .collect();
        let v = resource_body(
            &GROUP_RESOURCE,
            json!({"displayName": "All", "members": members}),
        )
        .expect("valid");
        assert_eq!(v.members.len(), 50_000);
    }

    #[test]
    fn immutable_attributes_keep_their_first_value() {
        use std::borrow::Cow;

        use crate::scim::schema::{AttributeDef, Schema};
        const ATTRS: &[AttributeDef] =
            &[AttributeDef::string("badge", "").mutability(Mutability::Immutable)];
        static SCHEMA: Schema = Schema {
            id: Cow::Borrowed("urn:example:Badge"),
            name: Cow::Borrowed("Badge"),
            description: Cow::Borrowed(""),
            attributes: Cow::Borrowed(ATTRS),
        };
        static RT: ResourceType = ResourceType {
            id: "Badge",
            name: "Badge",
            endpoint: "/Badges",
            description: "",
            schema: &SCHEMA,
            extensions: Cow::Borrowed(&[]),
            name_attribute: "displayName",
            unique_key: None,
            links: crate::scim::schema::Links::Groups,
            indexed: &[],
            events: crate::scim::schema::TEST_EVENTS,
            unknown_extensions: crate::scim::schema::UnknownExtensions::Refuse,
            app: None,
        };
        let doc = |v: Value| v.as_object().cloned().expect("object");
        assert!(
            check_immutable(&RT, &doc(json!({})), &doc(json!({"badge": "a"}))).is_ok(),
            "first set"
        );
        assert!(
            check_immutable(
                &RT,
                &doc(json!({"badge": "a"})),
                &doc(json!({"badge": "a"}))
            )
            .is_ok()
        );
        let err = check_immutable(
            &RT,
            &doc(json!({"badge": "a"})),
            &doc(json!({"badge": "b"})),
        )
        .expect_err("changed");
        assert!(matches!(err, Violation::Mutability(_)));
        assert!(
            check_immutable(&RT, &doc(json!({"badge": "a"})), &doc(json!({}))).is_err(),
            "cleared"
        );
        assert!(
            check_immutable(
                &USER_RESOURCE,
                &doc(json!({"userName": "a"})),
                &doc(json!({"userName": "b"}))
            )
            .is_ok()
        );
    }

    #[test]
    fn group_members_are_taken_apart_and_deduplicated() {
        let v = resource_body(
            &GROUP_RESOURCE,
            json!({"displayName": "Eng", "members": [{"value": "u1", "display": "x"}, {"value": "u1"}, {"value": "g2", "type": "Group"}]}),
        )
        .expect("valid");
        assert_eq!(Value::Object(v.doc), json!({"displayName": "Eng"}));
        assert_eq!(
            v.members,
            vec![
                MemberRef {
                    value: "u1".into(),
                    resource_type: None,
                    display: Some("x".into()),
                },
                MemberRef {
                    value: "g2".into(),
                    resource_type: Some("Group".into()),
                    display: None,
                },
            ]
        );
        let err = resource_body(
            &GROUP_RESOURCE,
            json!({"displayName": "Eng", "members": [{"display": "x"}]}),
        );
        assert!(
            err.expect_err("missing value")
                .to_string()
                .contains("members.value is required")
        );
        let err = resource_body(&GROUP_RESOURCE, json!({"members": []}));
        assert!(
            err.expect_err("no name")
                .to_string()
                .contains("displayName is required")
        );
    }

    #[test]
    fn entra_create_group_with_its_legacy_schema_uri() {
        // Source: the "Create Group" request of Entra's use-scim-to-provision-users-and-groups.
        let legacy = "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group";
        let v = resource_body(
            &GROUP_RESOURCE,
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group", legacy],
                   "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159", "displayName": "displayName",
                   "meta": {"resourceType": "Group"}}),
        )
        .expect("Entra's create body is accepted");
        assert_eq!(
            Value::Object(v.doc),
            json!({"externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159", "displayName": "displayName"})
        );
        let err = resource_body(
            &GROUP_RESOURCE,
            json!({"schemas": [legacy], "displayName": "x"}),
        );
        assert!(
            err.expect_err("core schema missing")
                .to_string()
                .contains("schemas must include")
        );
        let err = resource_body(
            &USER_RESOURCE,
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", legacy], "userName": "a"}),
        );
        assert!(
            err.expect_err("not on a User")
                .to_string()
                .contains("is not a schema of the User")
        );
    }
}
