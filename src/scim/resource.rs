//! Renders stored resources as SCIM JSON (RFC 7643 §3) and list responses (RFC 7644 §3.4.2).

use serde_json::{Map, Value, json};

use super::schema::{ResourceType, USER_RESOURCE};

/// The `ListResponse` message URN.
pub const LIST_RESPONSE_URN: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";

/// Server-maintained facts about a stored resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    /// RFC 3339 creation time.
    pub created: String,
    /// RFC 3339 time of the last change.
    pub last_modified: String,
    /// Monotonic version, bumped on every change.
    pub version: i64,
}

impl Meta {
    /// The weak entity tag of this version (RFC 7644 §3.14).
    pub fn etag(&self) -> String {
        etag(self.version)
    }
}

/// The weak entity tag for a resource version.
pub fn etag(version: i64) -> String {
    format!("W/\"{version}\"")
}

/// A link to another resource: a Group's member, or a User's group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkView<'a> {
    pub id: &'a str,
    pub resource_type: &'a str,
    pub display: Option<&'a str>,
}

/// The absolute location of a resource; `base` is the SCIM base URL.
pub fn location(base: &str, rt: &ResourceType, id: &str) -> String {
    format!("{base}{}/{id}", rt.endpoint)
}

fn endpoint_of(resource_type: &str) -> &'static str {
    if resource_type == USER_RESOURCE.id {
        "/Users"
    } else {
        "/Groups"
    }
}

/// Renders one element of a Group's `members` or a User's `groups`.
pub fn render_link(rt: &ResourceType, base: &str, l: &LinkView<'_>) -> Value {
    let mut m = json!({
        "value": l.id,
        "$ref": format!("{base}{}/{}", endpoint_of(l.resource_type), l.id),
        "type": if rt.id == USER_RESOURCE.id { "direct" } else { l.resource_type },
    });
    if let Some(d) = l.display {
        m["display"] = d.into();
    }
    m
}

/// An `If-Match` / `If-None-Match` header value (RFC 7232 §3.1, §3.2) against resource versions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ETagMatch {
    /// `*`: any current version.
    Any,
    /// A list of entity tags; weak and strong forms of `"n"` both name version `n`.
    Versions(Vec<i64>),
}

impl ETagMatch {
    /// Parses a header value; tags that are not ours match no version.
    pub fn parse(header: &str) -> Self {
        if header.trim() == "*" {
            return Self::Any;
        }
        let versions = header
            .split(',')
            .filter_map(|tag| {
                let tag = tag.trim();
                let tag = tag.strip_prefix("W/").unwrap_or(tag);
                tag.strip_prefix('"')?.strip_suffix('"')?.parse().ok()
            })
            .collect();
        Self::Versions(versions)
    }

    /// Whether the header names `version`.
    pub fn matches(&self, version: i64) -> bool {
        match self {
            Self::Any => true,
            Self::Versions(v) => v.contains(&version),
        }
    }
}

/// Renders a resource: `doc` is its canonical document, `links` its members (Group) or groups
/// (User), already in display order.
pub fn render(
    rt: &ResourceType,
    base: &str,
    id: &str,
    doc: Map<String, Value>,
    meta: &Meta,
    links: &[LinkView<'_>],
) -> Value {
    let mut schemas = vec![Value::from(rt.schema.id)];
    schemas.extend(
        rt.extensions
            .iter()
            .filter(|e| doc.contains_key(e.schema.id))
            .map(|e| Value::from(e.schema.id)),
    );
    let mut out = Map::with_capacity(doc.len() + 4);
    out.insert("schemas".into(), Value::Array(schemas));
    out.insert("id".into(), id.into());
    out.extend(doc);
    if !links.is_empty() {
        let is_user = rt.id == USER_RESOURCE.id;
        let rendered: Vec<Value> = links.iter().map(|l| render_link(rt, base, l)).collect();
        out.insert(
            if is_user { "groups" } else { "members" }.into(),
            Value::Array(rendered),
        );
    }
    out.insert(
        "meta".into(),
        json!({
            "resourceType": rt.id,
            "created": meta.created,
            "lastModified": meta.last_modified,
            "location": location(base, rt, id),
            "version": meta.etag(),
        }),
    );
    Value::Object(out)
}

/// A `ListResponse` page (RFC 7644 §3.4.2).
pub fn list_response(total: i64, start_index: i64, resources: Vec<Value>) -> Value {
    json!({
        "schemas": [LIST_RESPONSE_URN],
        "totalResults": total,
        "startIndex": start_index,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::schema::GROUP_RESOURCE;

    fn meta() -> Meta {
        Meta {
            created: "2026-01-01T00:00:00.000Z".into(),
            last_modified: "2026-01-02T00:00:00.000Z".into(),
            version: 3,
        }
    }

    #[test]
    fn renders_a_group_with_members_and_meta() {
        let doc = json!({"displayName": "Eng"});
        let links = [LinkView {
            id: "u1",
            resource_type: "User",
            display: Some("Babs"),
        }];
        let v = render(
            &GROUP_RESOURCE,
            "https://x/scim/v2",
            "g1",
            doc.as_object().expect("object").clone(),
            &meta(),
            &links,
        );
        assert_eq!(
            v,
            json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                "id": "g1",
                "displayName": "Eng",
                "members": [{"value": "u1", "$ref": "https://x/scim/v2/Users/u1", "type": "User", "display": "Babs"}],
                "meta": {"resourceType": "Group", "created": "2026-01-01T00:00:00.000Z", "lastModified": "2026-01-02T00:00:00.000Z",
                         "location": "https://x/scim/v2/Groups/g1", "version": "W/\"3\""},
            })
        );
    }

    #[test]
    fn etag_headers_name_versions() {
        assert!(ETagMatch::parse("W/\"3\"").matches(3));
        assert!(ETagMatch::parse("\"3\"").matches(3));
        assert!(ETagMatch::parse("W/\"1\", W/\"3\"").matches(3));
        assert!(ETagMatch::parse("*").matches(9));
        assert!(!ETagMatch::parse("W/\"2\"").matches(3));
        assert!(!ETagMatch::parse("W/\"abc\"").matches(3));
        assert!(!ETagMatch::parse("3").matches(3), "an entity tag is quoted");
    }

    #[test]
    fn user_schemas_list_the_extensions_present() {
        let ent = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
        let doc = json!({"userName": "a", ent: {"department": "x"}});
        let v = render(
            &USER_RESOURCE,
            "b",
            "u1",
            doc.as_object().expect("object").clone(),
            &meta(),
            &[],
        );
        assert_eq!(
            v["schemas"],
            json!(["urn:ietf:params:scim:schemas:core:2.0:User", ent])
        );
        assert!(v.get("groups").is_none());
    }
}
