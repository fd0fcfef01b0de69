//! Renders schema definitions as the `/Schemas` and `/ResourceTypes` documents (RFC 7643 §6, §7).

use serde_json::{Map, Value, json};

use super::{AttrType, AttributeDef, Mutability, ResourceType, Returned, Schema, Uniqueness};

const SCHEMA_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";
const RESOURCE_TYPE_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";

fn type_name(t: AttrType) -> &'static str {
    match t {
        AttrType::String => "string",
        AttrType::Boolean => "boolean",
        AttrType::Decimal => "decimal",
        AttrType::Integer => "integer",
        AttrType::DateTime => "dateTime",
        AttrType::Binary => "binary",
        AttrType::Reference => "reference",
        AttrType::Complex => "complex",
    }
}

fn mutability_name(m: Mutability) -> &'static str {
    match m {
        Mutability::ReadOnly => "readOnly",
        Mutability::ReadWrite => "readWrite",
        Mutability::Immutable => "immutable",
        Mutability::WriteOnly => "writeOnly",
    }
}

fn returned_name(r: Returned) -> &'static str {
    match r {
        Returned::Always => "always",
        Returned::Never => "never",
        Returned::Default => "default",
        Returned::Request => "request",
    }
}

fn uniqueness_name(u: Uniqueness) -> &'static str {
    match u {
        Uniqueness::None => "none",
        Uniqueness::Server => "server",
    }
}

fn render_attribute(a: &AttributeDef) -> Value {
    let mut m = Map::new();
    m.insert("name".into(), a.name.as_ref().into());
    m.insert("type".into(), type_name(a.ty).into());
    m.insert("multiValued".into(), a.multi_valued.into());
    m.insert("description".into(), a.description.as_ref().into());
    m.insert("required".into(), a.required.into());
    if a.ty != AttrType::Complex {
        m.insert("caseExact".into(), a.case_exact.into());
    }
    if !a.canonical_values.is_empty() {
        m.insert(
            "canonicalValues".into(),
            a.canonical_values.iter().collect::<Vec<_>>().into(),
        );
    }
    if !a.reference_types.is_empty() {
        m.insert(
            "referenceTypes".into(),
            a.reference_types.iter().collect::<Vec<_>>().into(),
        );
    }
    m.insert("mutability".into(), mutability_name(a.mutability).into());
    m.insert("returned".into(), returned_name(a.returned).into());
    m.insert("uniqueness".into(), uniqueness_name(a.uniqueness).into());
    if a.ty == AttrType::Complex {
        let sub: Vec<Value> = a.sub_attributes.iter().map(render_attribute).collect();
        m.insert("subAttributes".into(), sub.into());
    }
    Value::Object(m)
}

/// The `/Schemas/{id}` document for `schema`; `base` is the absolute SCIM base URL.
pub fn render_schema(schema: &Schema, base: &str) -> Value {
    let attributes: Vec<Value> = schema.attributes.iter().map(render_attribute).collect();
    json!({
        "schemas": [SCHEMA_URN],
        "id": schema.id,
        "name": schema.name,
        "description": schema.description,
        "attributes": attributes,
        "meta": {
            "resourceType": "Schema",
            "location": format!("{base}/Schemas/{}", schema.id),
        }
    })
}

/// The `/ResourceTypes/{id}` document for `rt`; `base` is the absolute SCIM base URL.
pub fn render_resource_type(rt: &ResourceType, base: &str) -> Value {
    let extensions: Vec<Value> = rt
        .extensions
        .iter()
        .map(|e| json!({"schema": e.schema.id, "required": e.required}))
        .collect();
    json!({
        "schemas": [RESOURCE_TYPE_URN],
        "id": rt.id,
        "name": rt.name,
        "endpoint": rt.endpoint,
        "description": rt.description,
        "schema": rt.schema.id,
        "schemaExtensions": extensions,
        "meta": {
            "resourceType": "ResourceType",
            "location": format!("{base}/ResourceTypes/{}", rt.id),
        }
    })
}
