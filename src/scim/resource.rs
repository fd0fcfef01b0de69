//! Renders stored resources as SCIM JSON (RFC 7643 §3) and list responses (RFC 7644 §3.4.2).

use serde::Serialize;
use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};

use super::project::Projection;
use super::schema::{Links, ResourceType, is_extension_key};

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
    ResourceType::stored(resource_type).map_or("", |rt| rt.endpoint)
}

/// The `$ref` of a link: the other end's location.
fn link_ref(base: &str, l: &LinkView<'_>) -> String {
    format!("{base}{}/{}", endpoint_of(l.resource_type), l.id)
}

/// The `type` of a link: a User's groups are all direct; a Group's members say what they are.
fn link_type<'a>(rt: &ResourceType, l: &LinkView<'a>) -> &'a str {
    match rt.links {
        Links::Groups => "direct",
        Links::Members => l.resource_type,
    }
}

/// Renders one element of a Group's `members` or a User's `groups`.
pub fn render_link(rt: &ResourceType, base: &str, l: &LinkView<'_>) -> Value {
    let mut m = json!({
        "value": l.id,
        "$ref": link_ref(base, l),
        "type": link_type(rt, l),
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
    // The core schema, then each extension whose object is stored (registered or not), under
    // the URN it is stored by.
    let mut schemas = vec![Value::from(&*rt.schema.id)];
    schemas.extend(
        doc.keys()
            .filter(|k| is_extension_key(k))
            .map(|k| Value::from(k.as_str())),
    );
    let mut out = Map::with_capacity(doc.len() + 4);
    out.insert("schemas".into(), Value::Array(schemas));
    out.insert("id".into(), id.into());
    out.extend(doc);
    if !links.is_empty() {
        let rendered: Vec<Value> = links.iter().map(|l| render_link(rt, base, l)).collect();
        out.insert(rt.links.attribute().into(), Value::Array(rendered));
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

/// [`render`] in the default view, written straight to JSON text: the stored document `doc`
/// (a JSON object) is copied in as it is instead of parsed and written again. The members and
/// their order are those of `Projection::default().apply(render(…))`. `None` when a top-level
/// member of `doc` would not pass through the default view unchanged (or is one the rendering
/// adds itself); the caller then takes that general path.
pub fn render_default_text(
    rt: &ResourceType,
    base: &str,
    id: &str,
    doc: &str,
    meta: &Meta,
    links: &[LinkView<'_>],
) -> Option<Box<RawValue>> {
    const ADDED: [&str; 5] = ["schemas", "id", "meta", "groups", "members"];
    let TopKeys(keys) = serde_json::from_str(doc).ok()?;
    if keys
        .iter()
        .any(|k| ADDED.contains(k) || !Projection::default_passes(rt, k))
    {
        return None;
    }
    let inner = doc.trim().strip_prefix('{')?.strip_suffix('}')?.trim();
    let mut out = Vec::with_capacity(doc.len() + 320 + links.len() * 128);
    out.extend_from_slice(b"{\"schemas\":[");
    push_str(&mut out, &rt.schema.id)?;
    for k in keys.iter().filter(|k| is_extension_key(k)) {
        out.push(b',');
        push_str(&mut out, k)?;
    }
    out.extend_from_slice(b"],\"id\":");
    push_str(&mut out, id)?;
    if !inner.is_empty() {
        out.push(b',');
        out.extend_from_slice(inner.as_bytes());
    }
    if !links.is_empty() {
        out.extend_from_slice(b",\"");
        out.extend_from_slice(rt.links.attribute().as_bytes());
        out.extend_from_slice(b"\":[");
        for (i, l) in links.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"value\":");
            push_str(&mut out, l.id)?;
            out.extend_from_slice(b",\"$ref\":");
            push_str(&mut out, &link_ref(base, l))?;
            out.extend_from_slice(b",\"type\":");
            push_str(&mut out, link_type(rt, l))?;
            if let Some(d) = l.display {
                out.extend_from_slice(b",\"display\":");
                push_str(&mut out, d)?;
            }
            out.push(b'}');
        }
        out.push(b']');
    }
    out.extend_from_slice(b",\"meta\":{\"resourceType\":");
    push_str(&mut out, rt.id)?;
    out.extend_from_slice(b",\"created\":");
    push_str(&mut out, &meta.created)?;
    out.extend_from_slice(b",\"lastModified\":");
    push_str(&mut out, &meta.last_modified)?;
    out.extend_from_slice(b",\"location\":");
    push_str(&mut out, &location(base, rt, id))?;
    out.extend_from_slice(b",\"version\":");
    push_str(&mut out, &meta.etag())?;
    out.extend_from_slice(b"}}");
    RawValue::from_string(String::from_utf8(out).ok()?).ok()
}

/// Appends `s` as a JSON string.
fn push_str(out: &mut Vec<u8>, s: &str) -> Option<()> {
    serde_json::to_writer(out, s).ok()
}

/// The top-level member names of a JSON object, read without building its values.
struct TopKeys<'a>(Vec<&'a str>);

impl<'de> Deserialize<'de> for TopKeys<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Keys;
        impl<'de> Visitor<'de> for Keys {
            type Value = TopKeys<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<TopKeys<'de>, A::Error> {
                let mut keys = Vec::new();
                // A name with an escape cannot be borrowed: the error sends the caller to the
                // general path.
                while let Some(k) = map.next_key::<&'de str>()? {
                    map.next_value::<IgnoredAny>()?;
                    keys.push(k);
                }
                Ok(TopKeys(keys))
            }
        }
        d.deserialize_map(Keys)
    }
}

/// A `ListResponse` page (RFC 7644 §3.4.2; with a cursor, RFC 9865 §2.2).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListResponse<R> {
    schemas: [&'static str; 1],
    pub total_results: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    start_index: Option<i64>,
    items_per_page: usize,
    #[serde(rename = "Resources")]
    pub resources: Vec<R>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
}

/// A page by index: `start_index` is where it starts.
pub fn list_response<R>(total: i64, start_index: i64, resources: Vec<R>) -> ListResponse<R> {
    ListResponse {
        schemas: [LIST_RESPONSE_URN],
        total_results: total,
        start_index: Some(start_index),
        items_per_page: resources.len(),
        resources,
        next_cursor: None,
    }
}

/// A page by cursor: no `startIndex`, and `nextCursor` until the last page.
pub fn cursor_response<R>(total: i64, resources: Vec<R>, next: Option<String>) -> ListResponse<R> {
    ListResponse {
        schemas: [LIST_RESPONSE_URN],
        total_results: total,
        start_index: None,
        items_per_page: resources.len(),
        resources,
        next_cursor: next,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::schema::{GROUP_RESOURCE, USER_RESOURCE};

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
    fn the_default_text_is_the_default_view_byte_for_byte() {
        let ent = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
        let base = "https://x/scim/v2";
        let groups = [LinkView {
            id: "g\"1",
            resource_type: "Group",
            display: Some("Eng \u{e9}\n"),
        }];
        let members = [
            LinkView {
                id: "u1",
                resource_type: "User",
                display: None,
            },
            LinkView {
                id: "g2",
                resource_type: "Group",
                display: Some("All"),
            },
        ];
        let cases: [(&ResourceType, Value, &[LinkView<'_>]); 4] = [
            (
                &USER_RESOURCE,
                json!({"userName": "a\"b\\c", "name": {"givenName": "Ann"},
                       "emails": [{"value": "a@x", "primary": true}], ent: {"department": "R&D"},
                       "active": true}),
                &groups,
            ),
            (&USER_RESOURCE, json!({"userName": "b"}), &[]),
            (&GROUP_RESOURCE, json!({"displayName": "Eng"}), &members),
            (&GROUP_RESOURCE, json!({}), &[]),
        ];
        for (rt, doc, links) in cases {
            let text = doc.to_string();
            let fast = render_default_text(rt, base, "i\"d", &text, &meta(), links)
                .expect("the default view renders as text");
            let doc = doc.as_object().expect("object").clone();
            let general =
                Projection::default().apply(rt, render(rt, base, "i\"d", doc, &meta(), links));
            assert_eq!(fast.get(), general.to_string());
        }
        // What the default view would change, or the rendering adds, takes the general path.
        for doc in [
            r#"{"userName":"a","password":"x"}"#,
            r#"{"userName":"a","meta":{}}"#,
            r#"{"userName":"a","nickName\u0041":"x"}"#,
            r#"{"userName":"a","unknown":1}"#,
            "[]",
        ] {
            assert!(
                render_default_text(&USER_RESOURCE, base, "u", doc, &meta(), &[]).is_none(),
                "{doc}"
            );
        }
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
