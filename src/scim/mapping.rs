//! The app's view of a user: one stable object the host app can rely on whatever the IdP
//! (`id`, `external_id`, `user_name`, `email`, `given_name`, `family_name`, `display_name`,
//! `active`, `roles`, `groups`, and `attributes` for the tenant's own fields), filled from the
//! SCIM user by a per-tenant attribute mapping.
//!
//! A mapping names, for each app field, the SCIM attribute that feeds it: a path as PATCH
//! writes them (`name.givenName`, `emails[type eq "work"].value`, or with a schema URN in front
//! for an extension attribute), and optionally a default. A path through a multi-valued
//! attribute takes the primary value, else the first (with a filter: of the values it selects).
//! The standard fields have standard sources, which a mapping may replace.

use std::sync::LazyLock;

use serde_json::{Map, Value, json};

use super::Violation;
use super::filter::{self, CheckedFilter};
use super::patch_path::PatchPath;
use super::path::Resolved;
use super::schema::ResourceType;

/// The standard fields, with their sources when the mapping names none.
const STANDARD: [(&str, &str); 7] = [
    ("external_id", "externalId"),
    ("user_name", "userName"),
    ("email", "emails.value"),
    ("given_name", "name.givenName"),
    ("family_name", "name.familyName"),
    ("display_name", "displayName"),
    ("active", "active"),
];

/// The standard fields and the SCIM attributes that feed them when a mapping names none.
pub fn standard_sources() -> Value {
    Value::Object(
        STANDARD
            .iter()
            .map(|(field, from)| ((*field).to_owned(), Value::from(*from)))
            .collect(),
    )
}

/// Fields one mapping may name.
pub const MAX_FIELDS: usize = 100;
const MAX_PATH_BYTES: usize = 512;
const MAX_DEFAULT_BYTES: usize = 1024;

/// A checked attribute mapping, ready to fill app users.
#[derive(Debug, Clone)]
pub struct AttributeMapping<'s> {
    fields: Vec<Field<'s>>,
}

#[derive(Debug, Clone)]
struct Field<'s> {
    name: String,
    standard: bool,
    source: Source<'s>,
    default: Option<Value>,
}

#[derive(Debug, Clone)]
struct Source<'s> {
    at: Resolved<'s>,
    filter: Option<CheckedFilter<'s>>,
}

impl<'s> AttributeMapping<'s> {
    /// Checks a mapping document, `{"fields": {"department": "urn:…:User:department",
    /// "entitlement": {"from": "entitlements.value", "default": "Standard User"}}}`, against the
    /// user resource type `rt`: every path must name an attribute it has.
    pub fn parse(rt: &'s ResourceType, doc: &Value) -> Result<Self, Violation> {
        let bad = |d: String| Violation::InvalidValue(d);
        let fields = match doc.get("fields") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(f)) => f.clone(),
            Some(_) => return Err(bad("\"fields\" must be an object of field names".into())),
        };
        if fields.len() > MAX_FIELDS {
            return Err(Violation::LimitExceeded(format!(
                "the mapping names {} fields, more than the {MAX_FIELDS} one mapping may have",
                fields.len()
            )));
        }
        let mut named: Vec<Field> = Vec::with_capacity(fields.len());
        for (name, spec) in &fields {
            if !valid_name(name) {
                return Err(bad(format!(
                    "the field name {name:?} must start with a-z and have only a-z, 0-9 and _, at most 64 characters"
                )));
            }
            let (from, default) = match spec {
                Value::String(from) => (from.as_str(), None),
                Value::Object(o) => {
                    let from = o.get("from").and_then(Value::as_str).ok_or_else(|| {
                        bad(format!("field {name}: \"from\" must name a SCIM attribute"))
                    })?;
                    let default = o.get("default").filter(|d| !d.is_null()).cloned();
                    if let Some(d) = &default
                        && (d.is_object()
                            || d.is_array()
                            || d.to_string().len() > MAX_DEFAULT_BYTES)
                    {
                        return Err(bad(format!(
                            "field {name}: the default must be a string, number or boolean of at most {MAX_DEFAULT_BYTES} bytes"
                        )));
                    }
                    (from, default)
                }
                _ => {
                    return Err(bad(format!(
                        "field {name}: give a SCIM attribute path, or {{\"from\": path, \"default\": value}}"
                    )));
                }
            };
            let source = Source::parse(rt, from).map_err(|e| bad(format!("field {name}: {e}")))?;
            named.push(Field {
                standard: STANDARD.iter().any(|(n, _)| n == name),
                name: name.clone(),
                source,
                default,
            });
        }
        let mut all = Vec::with_capacity(STANDARD.len() + named.len());
        for (name, from) in STANDARD {
            if !named.iter().any(|f| f.name == name) {
                all.push(Field {
                    name: name.to_owned(),
                    standard: true,
                    source: Source::parse(rt, from)?,
                    default: (name == "active").then(|| Value::Bool(true)),
                });
            }
        }
        all.extend(named);
        Ok(Self { fields: all })
    }

    /// The mapping of a tenant that has written none: the standard fields.
    pub fn standard(rt: &'s ResourceType) -> Self {
        Self::parse(rt, &json!({})).unwrap_or(Self { fields: Vec::new() })
    }

    /// The app's view of `user`, a rendered SCIM user (with its `groups`), given its roles.
    pub fn app_user(&self, user: &Value, roles: &[String]) -> Value {
        let mut out = Map::new();
        out.insert("id".into(), user.get("id").cloned().unwrap_or(Value::Null));
        let mut attributes = Map::new();
        for f in &self.fields {
            let value = f
                .source
                .value(user)
                .or_else(|| f.default.clone())
                .unwrap_or(Value::Null);
            if f.standard {
                out.insert(f.name.clone(), value);
            } else {
                attributes.insert(f.name.clone(), value);
            }
        }
        out.insert("roles".into(), json!(roles));
        let groups: Vec<Value> = user
            .get("groups")
            .and_then(Value::as_array)
            .map(|g| {
                g.iter()
                    .map(|g| json!({"id": g.get("value"), "display_name": g.get("display")}))
                    .collect()
            })
            .unwrap_or_default();
        out.insert("groups".into(), Value::Array(groups));
        out.insert("attributes".into(), Value::Object(attributes));
        Value::Object(out)
    }
}

/// The standard fields of the built-in user type, checked once: they read core attributes
/// only, which are the same in every tenant's view of the type.
static STANDARD_USERS: LazyLock<AttributeMapping<'static>> =
    LazyLock::new(|| AttributeMapping::standard(ResourceType::in_groups()));

impl AttributeMapping<'static> {
    /// The mapping of a tenant that has written none, for users of any tenant.
    pub fn standard_for_users() -> &'static Self {
        &STANDARD_USERS
    }
}

impl<'s> Source<'s> {
    fn parse(rt: &'s ResourceType, from: &str) -> Result<Self, Violation> {
        if from.len() > MAX_PATH_BYTES {
            return Err(Violation::InvalidPath(format!(
                "a path has at most {MAX_PATH_BYTES} bytes"
            )));
        }
        let (at, filter) = PatchPath::parse(from)?.resolve(rt)?;
        if filter::never_returned(&at) {
            return Err(Violation::InvalidPath(format!(
                "{from} is never returned, so the app's view cannot show it"
            )));
        }
        Ok(Self { at, filter })
    }

    /// The value this source selects in `user`, if there is one.
    fn value(&self, user: &Value) -> Option<Value> {
        let value = match filter::attribute(user, &self.at)? {
            Value::Array(items) => {
                let selected: Vec<&Value> = items
                    .iter()
                    .filter(|e| {
                        self.filter
                            .as_ref()
                            .is_none_or(|f| filter::matches_value(f, e))
                    })
                    .collect();
                let primary = selected
                    .iter()
                    .find(|e| e.get("primary") == Some(&Value::Bool(true)));
                *primary.or(selected.first())?
            }
            other => other,
        };
        let value = match self.at.sub {
            Some(sub) => filter::member(value, &sub.name)?,
            None => value,
        };
        (!value.is_null()).then(|| value.clone())
    }
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= 64
        && chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::schema::USER_RESOURCE;

    const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

    fn user() -> Value {
        json!({
            "id": "u1", "userName": "ann@example.com", "externalId": "jc-1",
            "name": {"givenName": "Ann", "familyName": "Lee"},
            "emails": [{"value": "home@example.com", "type": "home"}, {"value": "ann@example.com", "type": "work", "primary": true}],
            "phoneNumbers": [{"value": "+1 555 0100", "type": "mobile"}, {"value": "+1 555 0199", "type": "work"}],
            ENT: {"department": "R&D"},
            "groups": [{"value": "g1", "display": "Engineering", "type": "direct"}],
        })
    }

    #[test]
    fn standard_fields_come_from_the_standard_attributes() {
        let app =
            AttributeMapping::standard(&USER_RESOURCE).app_user(&user(), &["developer".into()]);
        assert_eq!(
            app,
            json!({
                "id": "u1", "external_id": "jc-1", "user_name": "ann@example.com",
                "email": "ann@example.com", "given_name": "Ann", "family_name": "Lee",
                "display_name": null, "active": true, "roles": ["developer"],
                "groups": [{"id": "g1", "display_name": "Engineering"}], "attributes": {},
            })
        );
    }

    #[test]
    fn a_mapping_adds_fields_replaces_sources_and_fills_defaults() {
        let doc = json!({"fields": {
            "email": "emails[type eq \"home\"].value",
            "department": format!("{ENT}:department"),
            "phone": "phoneNumbers[type eq \"work\"].value",
            "entitlement": {"from": "entitlements.value", "default": "Standard User"},
        }});
        let m = AttributeMapping::parse(&USER_RESOURCE, &doc).expect("valid");
        let app = m.app_user(&user(), &[]);
        assert_eq!(app["email"], "home@example.com");
        assert_eq!(
            app["attributes"],
            json!({"department": "R&D", "phone": "+1 555 0199", "entitlement": "Standard User"})
        );
    }

    #[test]
    fn a_bad_mapping_says_what_is_wrong() {
        let cases = [
            (json!({"fields": {"Dept": "title"}}), "field name"),
            (json!({"fields": {"dept": "departmant"}}), "dept"),
            (
                json!({"fields": {"x": "title[type eq \"a\"]"}}),
                "one value",
            ),
            (
                json!({"fields": {"x": {"from": "title", "default": [1]}}}),
                "default",
            ),
            (json!({"fields": {"x": 3}}), "path"),
            (json!({"fields": []}), "object"),
        ];
        for (doc, words) in cases {
            let e = AttributeMapping::parse(&USER_RESOURCE, &doc).expect_err("refused");
            assert!(e.to_string().contains(words), "{doc}: {e}");
        }
        let many: Map<String, Value> = (0..=MAX_FIELDS)
            .map(|i| (format!("f{i}"), json!("title")))
            .collect();
        assert!(matches!(
            AttributeMapping::parse(&USER_RESOURCE, &json!({"fields": many})),
            Err(Violation::LimitExceeded(_))
        ));
    }
}
