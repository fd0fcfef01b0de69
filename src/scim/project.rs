//! `attributes` / `excludedAttributes` (RFC 7644 §3.4.2.5, §3.9) applied to rendered resources,
//! honouring each attribute's `returned` characteristic (RFC 7643 §7).

use serde_json::{Map, Value};

use super::Violation;
use super::path::{AttrPath, Owner, Resolved, resolve};
use super::schema::{AttributeDef, ResourceType, Returned, Schema, is_extension_key};

/// One requested path, by the names its schema gives: a whole extension, or an attribute (of an
/// extension, or else of the core schema) with an optional sub-attribute. Owned, so a projection
/// outlives the tenant view it was resolved with.
#[derive(Debug, Clone)]
enum Target {
    Extension(String),
    Attribute {
        ext: Option<String>,
        name: String,
        sub: Option<String>,
    },
}

impl Target {
    fn attribute(r: Resolved<'_>) -> Self {
        Self::Attribute {
            ext: match r.owner {
                Owner::Extension(s) => Some(s.id.to_string()),
                Owner::Core(_) | Owner::Common => None,
            },
            name: r.attr.name.to_string(),
            sub: r.sub.map(|s| s.name.to_string()),
        }
    }
}

/// Which attributes a response carries.
#[derive(Debug, Clone, Default)]
pub struct Projection {
    /// `attributes=`: when given, only these (plus `returned=always` ones).
    include: Option<Vec<Target>>,
    /// `excludedAttributes=`: these are left out (unless `returned=always`).
    exclude: Vec<Target>,
}

impl Projection {
    /// Resolves the requested names against `rt`; an unknown name is an error that names it.
    pub fn new(
        rt: &ResourceType,
        attributes: &[String],
        excluded: &[String],
    ) -> Result<Self, Violation> {
        let targets = |names: &[String], param: &str| -> Result<Vec<Target>, Violation> {
            names
                .iter()
                .map(|n| {
                    if let Some(ext) = rt.extension(n) {
                        return Ok(Target::Extension(ext.id.to_string()));
                    }
                    AttrPath::parse(n)
                        .and_then(|p| resolve(rt, &p))
                        .map(Target::attribute)
                        .map_err(|e| Violation::InvalidValue(format!("{param}: {e}")))
                })
                .collect()
        };
        Ok(Self {
            include: (!attributes.is_empty())
                .then(|| targets(attributes, "attributes"))
                .transpose()?,
            exclude: targets(excluded, "excludedAttributes")?,
        })
    }

    /// Whether this is the default view: no `attributes`, no `excludedAttributes`.
    pub fn is_default(&self) -> bool {
        self.include.is_none() && self.exclude.is_empty()
    }

    /// Whether the default view passes top-level member `key` of a stored `rt` document
    /// through unchanged: an extension whose every attribute is returned by default (all the
    /// built-in ones: see the test `the_default_view_narrows_only_at_the_top`), one the tenant
    /// has not registered (returned as stored), or a core attribute returned by default.
    pub fn default_passes(rt: &ResourceType, key: &str) -> bool {
        match rt.extension(key) {
            Some(ext) => ext
                .attributes
                .iter()
                .all(|a| shown_by_default(a) && a.sub_attributes.iter().all(shown_by_default)),
            None if is_extension_key(key) => true,
            None => lookup(rt.schema, key).is_some_and(shown_by_default),
        }
    }

    /// Whether the response will carry top-level attribute `name` of the core schema; lets the
    /// caller skip loading what nobody asked for (a large group's members).
    pub fn keeps_core(&self, rt: &ResourceType, name: &str) -> bool {
        rt.schema
            .attribute(name)
            .is_some_and(|def| self.keeps(None, def))
    }

    /// Applies the projection to a rendered resource.
    pub fn apply(&self, rt: &ResourceType, resource: Value) -> Value {
        let Value::Object(input) = resource else {
            return resource;
        };
        let mut out = Map::with_capacity(input.len());
        for (key, value) in input {
            if key == "schemas" || key == "id" {
                out.insert(key, value);
            } else if let Some(ext) = rt.extension(&key) {
                if let Some(v) = self.extension(ext, value) {
                    out.insert(key, v);
                }
            } else if let Some(def) = lookup(rt.schema, &key) {
                if self.keeps(None, def) {
                    out.insert(key, self.subs(None, def, value));
                }
            } else if is_extension_key(&key) && self.include.is_none() {
                // Data of an extension the tenant does not have registered (kept as sent, or
                // stored before its schema was removed): returned as stored, in the default view.
                out.insert(key, value);
            }
        }
        // `schemas` lists only the extensions still present.
        if let Some(Value::Array(schemas)) = out.get("schemas") {
            let kept: Vec<Value> = schemas
                .iter()
                .filter(|s| {
                    s.as_str()
                        .is_none_or(|s| s == rt.schema.id || out.contains_key(s))
                })
                .cloned()
                .collect();
            out.insert("schemas".into(), Value::Array(kept));
        }
        Value::Object(out)
    }

    fn extension(&self, ext: &Schema, value: Value) -> Option<Value> {
        let whole = |t: &Target| matches!(t, Target::Extension(s) if *s == ext.id);
        if self.exclude.iter().any(whole) {
            return None;
        }
        // Named whole in `attributes=`, or no `attributes=` at all.
        let named = self
            .include
            .as_ref()
            .is_none_or(|inc| inc.iter().any(whole));
        let asked = self.include.is_some() && named;
        let Value::Object(attrs) = value else {
            return None;
        };
        let kept: Map<String, Value> = attrs
            .into_iter()
            .filter_map(|(k, v)| {
                let def = ext.attribute(&k)?;
                let whole_named = match def.returned {
                    Returned::Never => return None,
                    Returned::Always => true,
                    Returned::Default => named,
                    Returned::Request => asked,
                };
                (whole_named && !self.excluded(Some(ext), def, None) || self.keeps(Some(ext), def))
                    .then(|| (k, self.subs(Some(ext), def, v)))
            })
            .collect();
        (!kept.is_empty()).then_some(Value::Object(kept))
    }

    /// Whether attribute `def` (of extension `ext`, or of the core schema) is returned.
    fn keeps(&self, ext: Option<&Schema>, def: &AttributeDef) -> bool {
        match def.returned {
            Returned::Never => false,
            Returned::Always => true,
            Returned::Default | Returned::Request => {
                let listed = match &self.include {
                    Some(inc) => inc.iter().any(|t| targets(t, ext, def)),
                    None => def.returned == Returned::Default,
                };
                listed && !self.excluded(ext, def, None)
            }
        }
    }

    fn excluded(
        &self,
        ext: Option<&Schema>,
        def: &AttributeDef,
        sub: Option<&AttributeDef>,
    ) -> bool {
        self.exclude.iter().any(|t| match t {
            Target::Attribute { sub: s, .. } => {
                targets(t, ext, def) && s.as_deref() == sub.map(|s| &*s.name)
            }
            Target::Extension(_) => false,
        })
    }

    /// Narrows a kept attribute's sub-attributes: to those named in `attributes=` when only
    /// sub-attributes were named, minus those in `excludedAttributes=`.
    fn subs(&self, ext: Option<&Schema>, def: &AttributeDef, value: Value) -> Value {
        if !def.is_complex() {
            return value;
        }
        let wanted: Option<Vec<&str>> = self.include.as_ref().and_then(|inc| {
            let mut subs = Vec::new();
            for t in inc.iter().filter(|t| targets(t, ext, def)) {
                match t {
                    Target::Attribute { sub: Some(s), .. } => subs.push(s.as_str()),
                    _ => return None,
                }
            }
            (!subs.is_empty()).then_some(subs)
        });
        let keep = |name: &str| {
            let Some(sub) = def.sub_attribute(name) else {
                return true;
            };
            sub.returned != Returned::Never
                && (sub.returned == Returned::Always
                    || wanted.as_ref().is_none_or(|w| w.contains(&&*sub.name))
                        && !self.excluded(ext, def, Some(sub)))
        };
        let narrow = |v: Value| match v {
            Value::Object(m) => Value::Object(m.into_iter().filter(|(k, _)| keep(k)).collect()),
            other => other,
        };
        match value {
            Value::Array(items) => Value::Array(items.into_iter().map(narrow).collect()),
            other => narrow(other),
        }
    }
}

/// Whether an attribute appears in a response that does not name it.
fn shown_by_default(a: &AttributeDef) -> bool {
    matches!(a.returned, Returned::Default | Returned::Always)
}

/// Whether target `t` names attribute `def` of extension `ext` (or of the core schema).
fn targets(t: &Target, ext: Option<&Schema>, def: &AttributeDef) -> bool {
    match t {
        Target::Extension(_) => false,
        Target::Attribute {
            ext: owner, name, ..
        } => {
            let same_owner = match (owner, ext) {
                (Some(s), Some(e)) => *s == e.id,
                (None, None) => true,
                _ => false,
            };
            same_owner && *name == def.name
        }
    }
}

fn lookup<'s>(schema: &'s Schema, key: &str) -> Option<&'s AttributeDef> {
    super::schema::common::ALL
        .iter()
        .find(|a| a.name == key)
        .or_else(|| schema.attribute(key))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::scim::schema::{GROUP_RESOURCE, USER_RESOURCE};

    /// Rendering the default view as text (`resource::render_default_text`) checks only the top
    /// level of a document: every sub-attribute and every extension attribute must be returned
    /// by default or always, as in `apply`.
    #[test]
    fn the_default_view_narrows_only_at_the_top() {
        let shown = |a: &AttributeDef| matches!(a.returned, Returned::Default | Returned::Always);
        for rt in ResourceType::ALL {
            for a in rt.schema.attributes.iter() {
                assert!(a.sub_attributes.iter().all(shown), "{}.{}", rt.id, a.name);
            }
            for e in rt.extensions.iter() {
                for a in e.schema.attributes.iter() {
                    assert!(shown(a), "{} {}", e.schema.id, a.name);
                    assert!(a.sub_attributes.iter().all(shown), "{}", a.name);
                }
            }
        }
    }

    const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

    fn user() -> Value {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENT],
            "id": "u1",
            "externalId": "e1",
            "userName": "bjensen",
            "name": {"givenName": "Barbara", "familyName": "Jensen"},
            "emails": [{"value": "b@x", "type": "work", "primary": true}],
            "groups": [{"value": "g1", "display": "Eng"}],
            ENT: {"department": "Tours", "manager": {"value": "m1"}},
            "meta": {"resourceType": "User", "version": "W/\"1\""},
        })
    }

    fn project(attrs: &[&str], excluded: &[&str]) -> Value {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        Projection::new(&USER_RESOURCE, &s(attrs), &s(excluded))
            .expect("valid")
            .apply(&USER_RESOURCE, user())
    }

    #[test]
    fn attributes_keep_only_what_was_asked_and_what_is_always_returned() {
        // RFC 7644 §3.4.2.5: id is returned=always.
        assert_eq!(
            project(&["userName", "name.familyName"], &[]),
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "id": "u1", "userName": "bjensen", "name": {"familyName": "Jensen"}})
        );
        let v = project(&["emails.value", &format!("{ENT}:department")], &[]);
        assert_eq!(v["emails"], json!([{"value": "b@x"}]));
        assert_eq!(v[ENT], json!({"department": "Tours"}));
        assert_eq!(project(&[ENT], &[])[ENT], user()[ENT]);
        assert_eq!(project(&["USERNAME"], &[])["userName"], "bjensen");
    }

    #[test]
    fn excluded_attributes_drop_what_was_named() {
        let v = project(&[], &["groups", "emails.type", "meta", ENT]);
        assert!(v.get("groups").is_none() && v.get("meta").is_none() && v.get(ENT).is_none());
        assert_eq!(v["emails"], json!([{"value": "b@x", "primary": true}]));
        assert_eq!(
            v["schemas"],
            json!(["urn:ietf:params:scim:schemas:core:2.0:User"])
        );
        assert_eq!(
            project(&[], &["id"])["id"],
            "u1",
            "returned=always cannot be excluded"
        );
        assert_eq!(
            project(&[], &[&format!("{ENT}:manager")])[ENT],
            json!({"department": "Tours"})
        );
    }

    #[test]
    fn tells_whether_links_are_needed() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let p = Projection::new(&GROUP_RESOURCE, &[], &s(&["members"])).expect("valid");
        assert!(!p.keeps_core(&GROUP_RESOURCE, "members"));
        assert!(Projection::default().keeps_core(&GROUP_RESOURCE, "members"));
        let p = Projection::new(&GROUP_RESOURCE, &s(&["displayName"]), &[]).expect("valid");
        assert!(!p.keeps_core(&GROUP_RESOURCE, "members"));
        let p = Projection::new(&GROUP_RESOURCE, &s(&["members.value"]), &[]).expect("valid");
        assert!(p.keeps_core(&GROUP_RESOURCE, "members"));
    }

    #[test]
    fn unknown_names_are_errors() {
        let err = Projection::new(&USER_RESOURCE, &["shoeSize".into()], &[]).expect_err("unknown");
        assert!(err.to_string().contains("shoeSize"), "{err}");
        assert!(Projection::new(&USER_RESOURCE, &[], &["name.nick".into()]).is_err());
    }
}
