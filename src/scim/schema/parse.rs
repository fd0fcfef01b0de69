//! Reads a schema document a tenant admin registers (RFC 7643 §7) into a [`Schema`].
//!
//! Everything a registered name later reaches is decided here: attribute names follow RFC 7643
//! §2.1's ATTRNAME and a URN its own safe characters, so the SQL that reads the stored JSON by
//! these names (a path literal) can hold them as it holds the built-in ones.

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::{
    AttrType, AttributeDef, Mutability, ResourceType, Returned, Schema, Uniqueness, Words,
};

/// How many attributes (sub-attributes included) one registered schema may define.
pub const MAX_ATTRIBUTES: usize = 100;
/// The longest attribute name, URN, description or canonical value accepted.
const MAX_NAME: usize = 64;
const MAX_URN: usize = 200;
const MAX_DESCRIPTION: usize = 1000;
const MAX_WORDS: usize = 50;

/// Why a schema document cannot be registered; the text says what to change.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SchemaError(String);

fn fail<T>(msg: impl Into<String>) -> Result<T, SchemaError> {
    Err(SchemaError(msg.into()))
}

/// Whether `name` is an RFC 7643 ATTRNAME (`ALPHA *(ALPHA / DIGIT / "-" / "_")`) short enough to
/// register.
pub fn is_attribute_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= MAX_NAME
        && chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Whether `urn` is a URN (`urn:` then letters, digits and `:._-`) short enough to register.
pub fn is_schema_urn(urn: &str) -> bool {
    urn.len() <= MAX_URN
        && urn.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("urn:"))
        && urn.len() > 4
        && urn
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '.' | '_' | '-'))
}

/// Whether a tenant may register `urn`: a well-formed URN that is not the SCIM standard's own
/// (core schemas, API messages) nor a built-in extension.
pub fn is_registrable(urn: &str) -> bool {
    let lower = urn.to_ascii_lowercase();
    is_schema_urn(urn)
        && ![
            "urn:ietf:params:scim:schemas:core:",
            "urn:ietf:params:scim:api:",
        ]
        .iter()
        .any(|p| lower.starts_with(p))
        && !ResourceType::ALL
            .into_iter()
            .flat_map(|t| t.schemas())
            .any(|s| s.id.eq_ignore_ascii_case(urn))
}

/// Reads the schema document `doc` registered under `urn` as an extension of `rt`.
pub fn parse_schema(urn: &str, rt: &ResourceType, doc: &Value) -> Result<Schema, SchemaError> {
    if !is_schema_urn(urn) {
        return fail(format!(
            "\"{urn}\" is not a schema URN this server registers: it must start with \"urn:\" and hold only letters, digits and \":._-\", at most {MAX_URN} characters"
        ));
    }
    if !is_registrable(urn) {
        return fail(format!(
            "{urn} is reserved for the SCIM standard's own schemas; an extension takes a URN of its own, such as urn:ietf:params:scim:schemas:extension:YourName:2.0:{}",
            rt.id
        ));
    }
    let Value::Object(doc) = doc else {
        return fail("the body must be a JSON object: an RFC 7643 §7 schema");
    };
    if let Some(id) = doc.get("id")
        && id.as_str().is_none_or(|id| !id.eq_ignore_ascii_case(urn))
    {
        return fail(format!(
            "the schema's \"id\" ({id}) differs from the URN in the path ({urn})"
        ));
    }
    let attributes = match doc.get("attributes") {
        Some(Value::Array(a)) if !a.is_empty() => a,
        _ => return fail("\"attributes\" must be a non-empty array of attribute definitions"),
    };
    let mut count = 0;
    let attributes = attribute_list(attributes, None, &mut count)?;
    Ok(Schema {
        id: Cow::Owned(urn.to_owned()),
        name: Cow::Owned(text(doc, "name", MAX_NAME)?.unwrap_or_else(|| urn.to_owned())),
        description: Cow::Owned(text(doc, "description", MAX_DESCRIPTION)?.unwrap_or_default()),
        attributes: Cow::Owned(attributes),
    })
}

fn attribute_list(
    list: &[Value],
    parent: Option<&str>,
    count: &mut usize,
) -> Result<Vec<AttributeDef>, SchemaError> {
    let mut out: Vec<AttributeDef> = Vec::with_capacity(list.len());
    for value in list {
        *count += 1;
        if *count > MAX_ATTRIBUTES {
            return fail(format!(
                "a schema may define at most {MAX_ATTRIBUTES} attributes, sub-attributes included"
            ));
        }
        let def = attribute(value, parent, count)?;
        if out.iter().any(|a| a.name.eq_ignore_ascii_case(&def.name)) {
            return fail(format!(
                "attribute \"{}\" is defined twice (names are case-insensitive)",
                def.name
            ));
        }
        out.push(def);
    }
    Ok(out)
}

const KEYS: [&str; 12] = [
    "name",
    "type",
    "multiValued",
    "description",
    "required",
    "canonicalValues",
    "caseExact",
    "mutability",
    "returned",
    "uniqueness",
    "referenceTypes",
    "subAttributes",
];

fn attribute(
    value: &Value,
    parent: Option<&str>,
    count: &mut usize,
) -> Result<AttributeDef, SchemaError> {
    let Value::Object(m) = value else {
        return fail("each attribute definition must be a JSON object");
    };
    let name = match m.get("name").and_then(Value::as_str) {
        Some(n) if is_attribute_name(n) => n.to_owned(),
        Some(n) => {
            return fail(format!(
                "\"{n}\" is not an attribute name: it must start with a letter and hold only letters, digits, '-' and '_', at most {MAX_NAME} characters (RFC 7643 §2.1)"
            ));
        }
        None => return fail("each attribute needs a \"name\""),
    };
    let whose = match parent {
        Some(p) => format!("{p}.{name}"),
        None => name.clone(),
    };
    if let Some(k) = m.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return fail(format!(
            "{whose}: \"{k}\" is not an attribute characteristic; RFC 7643 §7 names {}",
            KEYS.join(", ")
        ));
    }
    let ty = match m.get("type").and_then(Value::as_str) {
        Some("string") => AttrType::String,
        Some("boolean") => AttrType::Boolean,
        Some("decimal") => AttrType::Decimal,
        Some("integer") => AttrType::Integer,
        Some("dateTime") => AttrType::DateTime,
        Some("binary") => AttrType::Binary,
        Some("reference") => AttrType::Reference,
        Some("complex") => AttrType::Complex,
        other => {
            return fail(format!(
                "{whose}: \"type\" must be one of string, boolean, decimal, integer, dateTime, binary, reference, complex{}",
                other.map(|t| format!(", not \"{t}\"")).unwrap_or_default()
            ));
        }
    };
    let flag = |key: &str| -> Result<bool, SchemaError> {
        match m.get(key) {
            None => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => fail(format!("{whose}: \"{key}\" must be true or false")),
        }
    };
    let mut def = AttributeDef::string("", "");
    def.name = Cow::Owned(name);
    def.ty = ty;
    def.multi_valued = flag("multiValued")?;
    def.required = flag("required")?;
    // RFC 7643 §2.3.7: binary and reference values are always case-exact.
    def.case_exact = flag("caseExact")? || matches!(ty, AttrType::Binary | AttrType::Reference);
    def.description = Cow::Owned(text(m, "description", MAX_DESCRIPTION)?.unwrap_or_default());
    def.mutability = match m.get("mutability").and_then(Value::as_str) {
        None if !m.contains_key("mutability") => Mutability::ReadWrite,
        Some("readWrite") => Mutability::ReadWrite,
        Some("readOnly") => Mutability::ReadOnly,
        Some("immutable") => Mutability::Immutable,
        Some("writeOnly") => Mutability::WriteOnly,
        _ => {
            return fail(format!(
                "{whose}: \"mutability\" must be readWrite, readOnly, immutable or writeOnly"
            ));
        }
    };
    def.returned = match m.get("returned").and_then(Value::as_str) {
        None if !m.contains_key("returned") => Returned::Default,
        Some("default") => Returned::Default,
        Some("always") => Returned::Always,
        Some("never") => Returned::Never,
        Some("request") => Returned::Request,
        _ => {
            return fail(format!(
                "{whose}: \"returned\" must be default, always, never or request"
            ));
        }
    };
    def.uniqueness = match m.get("uniqueness").and_then(Value::as_str) {
        None if !m.contains_key("uniqueness") => Uniqueness::None,
        Some("none") => Uniqueness::None,
        Some("server") => Uniqueness::Server,
        Some("global") => {
            return fail(format!(
                "{whose}: uniqueness \"global\" is not offered: one server cannot vouch for values across others; use \"server\" (unique within the tenant)"
            ));
        }
        _ => return fail(format!("{whose}: \"uniqueness\" must be none or server")),
    };
    if def.uniqueness == Uniqueness::Server
        && (parent.is_some() || def.multi_valued || ty == AttrType::Complex)
    {
        return fail(format!(
            "{whose}: only a single-valued, non-complex attribute at the top of the schema can be unique"
        ));
    }
    if def.required && def.mutability == Mutability::ReadOnly {
        return fail(format!(
            "{whose}: a readOnly attribute cannot be required: no client could ever set it"
        ));
    }
    if def.mutability == Mutability::WriteOnly && def.returned != Returned::Never {
        return fail(format!(
            "{whose}: a writeOnly attribute must have \"returned\": \"never\" (RFC 7643 §7)"
        ));
    }
    def.canonical_values = words(m, "canonicalValues", &whose)?;
    def.reference_types = words(m, "referenceTypes", &whose)?;
    if ty == AttrType::Reference && def.reference_types.is_empty() {
        def.reference_types = Words::Static(&["external"]);
    }
    match (ty, m.get("subAttributes")) {
        (AttrType::Complex, Some(Value::Array(sub))) if !sub.is_empty() => {
            if parent.is_some() {
                return fail(format!(
                    "{whose}: a sub-attribute cannot be complex (RFC 7643 §2.3.8)"
                ));
            }
            def.sub_attributes = Cow::Owned(attribute_list(sub, Some(&whose), count)?);
        }
        (AttrType::Complex, _) => {
            return fail(format!(
                "{whose}: a complex attribute needs a non-empty \"subAttributes\" array"
            ));
        }
        (_, Some(_)) => {
            return fail(format!(
                "{whose}: only a complex attribute has \"subAttributes\""
            ));
        }
        (_, None) => {}
    }
    Ok(def)
}

fn text(m: &Map<String, Value>, key: &str, max: usize) -> Result<Option<String>, SchemaError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.chars().count() <= max && !s.contains('\0') => {
            Ok(Some(s.clone()))
        }
        Some(_) => fail(format!(
            "\"{key}\" must be a string of at most {max} characters"
        )),
    }
}

fn words(m: &Map<String, Value>, key: &str, whose: &str) -> Result<Words, SchemaError> {
    let Some(v) = m.get(key) else {
        return Ok(Words::Static(&[]));
    };
    let list = v.as_array().filter(|a| a.len() <= MAX_WORDS).and_then(|a| {
        a.iter()
            .map(|w| {
                w.as_str()
                    .filter(|w| !w.is_empty() && w.len() <= MAX_NAME && !w.contains('\0'))
                    .map(str::to_owned)
            })
            .collect::<Option<Vec<_>>>()
    });
    match list {
        Some(l) => Ok(Words::Owned(l)),
        None => fail(format!(
            "{whose}: \"{key}\" must be an array of at most {MAX_WORDS} non-empty strings of at most {MAX_NAME} characters"
        )),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::scim::schema::USER_RESOURCE;

    const URN: &str = "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User";
    const OWN: &str = "urn:example:acme:2.0:User";

    fn parse(doc: Value) -> Result<Schema, String> {
        parse_schema(OWN, &USER_RESOURCE, &doc).map_err(|e| e.to_string())
    }

    #[test]
    fn reads_every_characteristic() {
        let s = parse(json!({
            "id": OWN, "name": "Acme", "description": "Acme's fields",
            "attributes": [
                {"name": "costCenter", "type": "string", "caseExact": true, "uniqueness": "server"},
                {"name": "level", "type": "integer", "required": true},
                {"name": "badges", "type": "complex", "multiValued": true, "subAttributes": [
                    {"name": "value", "type": "string"},
                    {"name": "since", "type": "dateTime", "mutability": "immutable"}
                ]},
                {"name": "site", "type": "reference"},
                {"name": "pin", "type": "string", "mutability": "writeOnly", "returned": "never"}
            ]
        }))
        .expect("a valid schema");
        assert_eq!(s.name, "Acme");
        let cost = s.attribute("COSTCENTER").expect("costCenter");
        assert!(cost.case_exact);
        assert_eq!(cost.uniqueness, Uniqueness::Server);
        assert!(s.attribute("level").expect("level").required);
        let badges = s.attribute("badges").expect("badges");
        assert!(badges.multi_valued && badges.is_complex());
        assert_eq!(
            badges.sub_attribute("since").map(|a| a.mutability),
            Some(Mutability::Immutable)
        );
        let site = s.attribute("site").expect("site");
        assert!(site.case_exact);
        assert_eq!(
            site.reference_types.iter().collect::<Vec<_>>(),
            ["external"]
        );
    }

    #[test]
    fn refuses_what_it_cannot_honour() {
        let cases = [
            (json!({"attributes": []}), "non-empty"),
            (
                json!({"attributes": [{"name": "a b", "type": "string"}]}),
                "not an attribute name",
            ),
            (
                json!({"attributes": [{"name": "x'", "type": "string"}]}),
                "not an attribute name",
            ),
            (
                json!({"attributes": [{"name": "a", "type": "text"}]}),
                "must be one of",
            ),
            (
                json!({"attributes": [{"name": "a", "type": "string"}, {"name": "A", "type": "string"}]}),
                "defined twice",
            ),
            (
                json!({"attributes": [{"name": "a", "type": "string", "uniqueness": "global"}]}),
                "not offered",
            ),
            (
                json!({"attributes": [{"name": "a", "type": "string", "multiValued": true, "uniqueness": "server"}]}),
                "single-valued",
            ),
            (
                json!({"attributes": [{"name": "a", "type": "complex"}]}),
                "subAttributes",
            ),
            (
                json!({"attributes": [{"name": "a", "type": "complex", "subAttributes": [{"name": "b", "type": "complex", "subAttributes": [{"name": "c", "type": "string"}]}]}]}),
                "cannot be complex",
            ),
            (
                json!({"attributes": [{"name": "a", "type": "string", "mutabilty": "readOnly"}]}),
                "not an attribute characteristic",
            ),
            (
                json!({"attributes": [{"name": "a", "type": "string", "required": true, "mutability": "readOnly"}]}),
                "cannot be required",
            ),
            (
                json!({"id": "urn:other", "attributes": [{"name": "a", "type": "string"}]}),
                "differs",
            ),
        ];
        for (doc, want) in cases {
            let err = parse(doc.clone()).expect_err(&doc.to_string());
            assert!(err.contains(want), "{doc}: {err}");
        }
        let many: Vec<Value> = (0..=MAX_ATTRIBUTES)
            .map(|i| json!({"name": format!("a{i}"), "type": "string"}))
            .collect();
        assert!(
            parse(json!({ "attributes": many }))
                .unwrap_err()
                .contains("at most")
        );
    }

    #[test]
    fn urns_are_checked_and_the_standard_ones_reserved() {
        let doc = json!({"attributes": [{"name": "a", "type": "string"}]});
        for bad in [
            "urn:",
            "urn:a'b",
            "http://example.com/x",
            "urn:a b",
            "urn:ietf:params:scim:schemas:core:2.0:Device",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
        ] {
            assert!(parse_schema(bad, &USER_RESOURCE, &doc).is_err(), "{bad}");
        }
        // Entra ID's custom extensions live under the standard's extension prefix.
        assert!(parse_schema(URN, &USER_RESOURCE, &doc).is_ok());
        assert!(is_schema_urn("urn:example:acme:2.0:User"));
        assert!(!is_attribute_name("$ref"));
    }
}
