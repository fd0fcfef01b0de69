//! Attribute paths (RFC 7644 §3.10) and their resolution against a resource type's schemas.
//!
//! One parser and one resolver serve filters, PATCH paths, `sortBy` and `attributes=`, so the
//! four cannot disagree about what `urn:…:User:name.givenName` means.

use std::fmt;

use thiserror::Error;

use crate::scim::schema::{AttributeDef, Mutability, ResourceType, Schema, common, find};

/// An attribute path: `[URN ":"] name ["." sub]`, as written by the client (not yet resolved).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AttrPath {
    /// The schema URN prefix, without the `:` that ends it.
    pub urn: Option<String>,
    /// The attribute name.
    pub name: String,
    /// The sub-attribute name, for `name.givenName`.
    pub sub: Option<String>,
}

/// Why a path is malformed or names nothing in the schema.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PathError {
    /// The path is empty.
    #[error("the attribute path is empty")]
    Empty,
    /// The path does not follow `[URN ":"] name ["." sub]`.
    #[error("\"{path}\" is not a valid attribute path: {reason}")]
    Invalid { path: String, reason: &'static str },
    /// The URN is neither the resource type's core schema nor one of its extensions.
    #[error("\"{urn}\" is not a schema of the {resource_type} resource type{hint}")]
    UnknownSchema {
        urn: String,
        resource_type: &'static str,
        /// How to register it, for a URN a tenant could register as an extension.
        hint: String,
    },
    /// No attribute of that name in the schemas the path may refer to.
    #[error("unknown attribute \"{path}\" for the {resource_type} resource type")]
    UnknownAttribute {
        path: String,
        resource_type: &'static str,
    },
    /// The attribute is complex but has no such sub-attribute.
    #[error("\"{attr}\" has no sub-attribute \"{sub}\"")]
    UnknownSubAttribute { attr: String, sub: String },
    /// A sub-attribute was given for an attribute that is not complex.
    #[error("\"{attr}\" is not a complex attribute, so it has no sub-attribute \"{sub}\"")]
    NotComplex { attr: String, sub: String },
}

const NAME_RULE: &str =
    "attribute names start with a letter and contain only letters, digits, '-' and '_'";

impl AttrPath {
    /// Parses `userName`, `name.givenName`, `urn:…:User:userName` or `urn:…:User:manager.value`.
    pub fn parse(input: &str) -> Result<AttrPath, PathError> {
        if input.is_empty() {
            return Err(PathError::Empty);
        }
        let invalid = |reason| PathError::Invalid {
            path: input.to_owned(),
            reason,
        };
        // Schema URNs contain dots ("2.0"), so the URN ends at the last ':' and only the part
        // after it is split on '.'.
        let (urn, rest) = match input.rsplit_once(':') {
            Some((urn, rest)) => (Some(urn), rest),
            None => (None, input),
        };
        if let Some(urn) = urn {
            if urn.is_empty() {
                return Err(invalid("the schema URN before ':' is empty"));
            }
            if !urn.chars().all(is_urn_char) {
                return Err(invalid(
                    "the schema URN contains a character URNs cannot contain",
                ));
            }
        }
        let (name, sub) = match rest.split_once('.') {
            Some((name, sub)) => (name, Some(sub)),
            None => (rest, None),
        };
        if sub.is_some_and(|s| s.contains('.')) {
            return Err(invalid("only one level of sub-attribute is allowed"));
        }
        if !is_attr_name(name) || sub.is_some_and(|s| !is_attr_name(s)) {
            return Err(invalid(NAME_RULE));
        }
        Ok(AttrPath {
            urn: urn.map(str::to_owned),
            name: name.to_owned(),
            sub: sub.map(str::to_owned),
        })
    }

    /// A path with neither URN nor sub-attribute.
    pub fn simple(name: &str) -> AttrPath {
        AttrPath {
            urn: None,
            name: name.to_owned(),
            sub: None,
        }
    }
}

/// `ATTRNAME = ALPHA *(nameChar)` (RFC 7644 §3.4.2.2), plus `$ref`, which RFC 7643 §2.4 uses
/// as a sub-attribute name even though the ABNF does not allow it.
fn is_attr_name(s: &str) -> bool {
    if s.eq_ignore_ascii_case("$ref") {
        return true;
    }
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// The characters of an RFC 8141 URN, which is what SCIM schema ids are.
fn is_urn_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-._~:%!$&'*+,;=@/?".contains(c)
}

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(urn) = &self.urn {
            write!(f, "{urn}:")?;
        }
        f.write_str(&self.name)?;
        if let Some(sub) = &self.sub {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

/// `schemas` is on every resource (RFC 7643 §3) but is not in `schema::common::ALL`; RFC 7644
/// §3.4.2.2 filters on it. Compared case-insensitively because schema URNs are looked up that
/// way everywhere else.
static SCHEMAS: AttributeDef = AttributeDef::string("schemas", "The schema URNs of the resource.")
    .multi()
    .mutability(Mutability::ReadOnly);

/// Where a resolved attribute lives, which is also where it sits in the resource JSON.
#[derive(Debug, Clone, Copy)]
pub enum Owner<'s> {
    /// `id`, `externalId`, `meta`, `schemas`: top-level keys of every resource.
    Common,
    /// The resource type's core schema: top-level keys.
    Core(&'s Schema),
    /// An extension schema: keys inside the object named by the schema URN.
    Extension(&'s Schema),
}

/// An attribute path resolved against a resource type: the definitions it names.
#[derive(Debug, Clone, Copy)]
pub struct Resolved<'s> {
    /// The schema the top-level attribute belongs to.
    pub owner: Owner<'s>,
    /// The top-level attribute.
    pub attr: &'s AttributeDef,
    /// The sub-attribute, when the path names one.
    pub sub: Option<&'s AttributeDef>,
}

impl<'s> Owner<'s> {
    /// The schema; `None` for the common attributes.
    pub fn schema(self) -> Option<&'s Schema> {
        match self {
            Owner::Common => None,
            Owner::Core(s) | Owner::Extension(s) => Some(s),
        }
    }
}

impl<'s> Resolved<'s> {
    /// The schema the attribute belongs to; `None` for the common attributes.
    #[cfg(test)]
    pub fn schema(&self) -> Option<&'s Schema> {
        self.owner.schema()
    }

    /// The definition the path ends at: the sub-attribute if there is one.
    pub fn leaf(&self) -> &'s AttributeDef {
        self.sub.unwrap_or(self.attr)
    }

    /// The canonical path: schema-cased names, with a URN only for extension attributes.
    pub fn path(&self) -> AttrPath {
        AttrPath {
            urn: match self.owner {
                Owner::Extension(s) => Some(s.id.to_string()),
                Owner::Common | Owner::Core(_) => None,
            },
            name: self.attr.name.to_string(),
            sub: self.sub.map(|s| s.name.to_string()),
        }
    }
}

impl fmt::Display for Resolved<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.path().fmt(f)
    }
}

/// Resolves `path` against `rt`: the common attributes first, then the core schema, then the
/// extensions. A URN must name the core schema or one of `rt`'s extensions; the common
/// attributes may be qualified with the core schema URN.
pub fn resolve<'s>(rt: &'s ResourceType, path: &AttrPath) -> Result<Resolved<'s>, PathError> {
    let named = match &path.urn {
        None => None,
        Some(urn) if rt.schema.id.eq_ignore_ascii_case(urn) => Some(Owner::Core(rt.schema)),
        Some(urn) => match rt.extension(urn) {
            Some(s) => Some(Owner::Extension(s)),
            None => {
                let registrable = crate::scim::schema::is_registrable(urn);
                return Err(PathError::UnknownSchema {
                    urn: urn.clone(),
                    resource_type: rt.id,
                    hint: if registrable {
                        format!(
                            " for this tenant; an extension is registered with PUT /admin/v1/tenants/{{tenant}}/schemas/{urn}"
                        )
                    } else {
                        String::new()
                    },
                });
            }
        },
    };
    // Common attributes belong to no schema document, but clients qualify them with the core
    // schema URN (`urn:…:User:id`), never with an extension's.
    let common = match named {
        None | Some(Owner::Core(_)) => common_attribute(&path.name),
        Some(Owner::Common | Owner::Extension(_)) => None,
    };
    let lookup = |owner: Owner<'s>| Some((owner, owner.schema()?.attribute(&path.name)?));
    let found = match (common, named) {
        (Some(attr), _) => Some((Owner::Common, attr)),
        (None, Some(owner)) => lookup(owner),
        (None, None) => std::iter::once(Owner::Core(rt.schema))
            .chain(rt.extensions.iter().map(|e| Owner::Extension(&e.schema)))
            .find_map(lookup),
    };
    let (owner, attr) = found.ok_or_else(|| PathError::UnknownAttribute {
        path: path.to_string(),
        resource_type: rt.id,
    })?;
    let sub = path
        .sub
        .as_deref()
        .map(|sub| resolve_sub(attr, sub))
        .transpose()?;
    Ok(Resolved { owner, attr, sub })
}

/// Finds the sub-attribute `name` of `attr`, case-insensitively (RFC 7643 §2.1).
pub fn resolve_sub<'s>(attr: &'s AttributeDef, name: &str) -> Result<&'s AttributeDef, PathError> {
    if !attr.is_complex() {
        return Err(PathError::NotComplex {
            attr: attr.name.to_string(),
            sub: name.to_owned(),
        });
    }
    attr.sub_attribute(name)
        .ok_or_else(|| PathError::UnknownSubAttribute {
            attr: attr.name.to_string(),
            sub: name.to_owned(),
        })
}

fn common_attribute(name: &str) -> Option<&'static AttributeDef> {
    find(common::ALL, name).or_else(|| SCHEMAS.name.eq_ignore_ascii_case(name).then_some(&SCHEMAS))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::schema::{GROUP_RESOURCE, USER_RESOURCE};

    const CORE: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
    const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

    #[test]
    fn parses_and_prints() {
        let path = |urn: Option<&str>, name: &str, sub: Option<&str>| AttrPath {
            urn: urn.map(str::to_owned),
            name: name.to_owned(),
            sub: sub.map(str::to_owned),
        };
        let rows = [
            (
                "RFC 7644 §3.10",
                "userName".to_owned(),
                path(None, "userName", None),
            ),
            (
                "RFC 7644 §3.10",
                "name.givenName".to_owned(),
                path(None, "name", Some("givenName")),
            ),
            (
                "RFC 7644 §3.10",
                format!("{CORE}:userName"),
                path(Some(CORE), "userName", None),
            ),
            (
                "RFC 7644 §3.10",
                format!("{CORE}:name.givenName"),
                path(Some(CORE), "name", Some("givenName")),
            ),
            (
                "RFC 7643 §4.3",
                format!("{ENTERPRISE}:manager.value"),
                path(Some(ENTERPRISE), "manager", Some("value")),
            ),
            (
                "RFC 7643 §4.2",
                "members.$ref".to_owned(),
                path(None, "members", Some("$ref")),
            ),
            (
                "RFC 7643 §4.1.2",
                "groups.$REF".to_owned(),
                path(None, "groups", Some("$REF")),
            ),
            (
                "RFC 7644 §3.4.2.2",
                "x-Custom_1".to_owned(),
                path(None, "x-Custom_1", None),
            ),
        ];
        for (source, input, want) in rows {
            assert_eq!(AttrPath::parse(&input), Ok(want), "{source}: {input}");
            let reprinted = AttrPath::parse(&input).map(|p| p.to_string());
            assert_eq!(reprinted, Ok(input.clone()), "{source}: prints back");
        }
    }

    #[test]
    fn rejects_malformed_paths() {
        let name_rule =
            "attribute names start with a letter and contain only letters, digits, '-' and '_'";
        let rows: &[(&str, &str)] = &[
            ("1abc", name_rule),
            ("a.", name_rule),
            (".a", name_rule),
            ("a b", name_rule),
            ("urn:x:", name_rule),
            ("$refs", name_rule),
            ("a.b.c", "only one level of sub-attribute is allowed"),
            (":a", "the schema URN before ':' is empty"),
            (
                "urn:a\"b:c",
                "the schema URN contains a character URNs cannot contain",
            ),
        ];
        for (input, reason) in rows {
            assert_eq!(
                AttrPath::parse(input),
                Err(PathError::Invalid {
                    path: (*input).to_owned(),
                    reason
                }),
                "{input}"
            );
        }
        assert_eq!(AttrPath::parse(""), Err(PathError::Empty));
        assert_eq!(PathError::Empty.to_string(), "the attribute path is empty");
    }

    fn resolved(rt: &ResourceType, input: &str) -> Result<(String, Option<String>), String> {
        let path = AttrPath::parse(input).map_err(|e| e.to_string())?;
        let r = resolve(rt, &path).map_err(|e| e.to_string())?;
        Ok((r.to_string(), r.schema().map(|s| s.name.to_string())))
    }

    #[test]
    fn resolves_against_the_resource_type() {
        let ok = |canonical: &str, schema: Option<&str>| {
            Ok((canonical.to_owned(), schema.map(str::to_owned)))
        };
        let rows = [
            ("userName", ok("userName", Some("User"))),
            ("USERNAME", ok("userName", Some("User"))),
            ("name.GIVENNAME", ok("name.givenName", Some("User"))),
            (&format!("{CORE}:userName"), ok("userName", Some("User"))),
            // URNs match case-insensitively.
            (&format!("{}:userName", CORE.to_uppercase()), ok("userName", Some("User"))),
            ("id", ok("id", None)),
            ("externalId", ok("externalId", None)),
            ("meta.lastModified", ok("meta.lastModified", None)),
            ("schemas", ok("schemas", None)),
            (&format!("{CORE}:id"), ok("id", None)),
            ("groups.$ref", ok("groups.$ref", Some("User"))),
            // Extension attributes print with their URN, which is also their JSON container.
            ("department", ok(&format!("{ENTERPRISE}:department"), Some("EnterpriseUser"))),
            (
                &format!("{}:Manager.Value", ENTERPRISE.to_lowercase()),
                ok(&format!("{ENTERPRISE}:manager.value"), Some("EnterpriseUser")),
            ),
            ("foo", Err(r#"unknown attribute "foo" for the User resource type"#.to_owned())),
            ("members", Err(r#"unknown attribute "members" for the User resource type"#.to_owned())),
            (
                &format!("{ENTERPRISE}:id"),
                Err(format!(r#"unknown attribute "{ENTERPRISE}:id" for the User resource type"#)),
            ),
            (
                &format!("{ENTERPRISE}:userName"),
                Err(format!(r#"unknown attribute "{ENTERPRISE}:userName" for the User resource type"#)),
            ),
            (
                "urn:ietf:params:scim:schemas:core:2.0:Group:displayName",
                Err(r#""urn:ietf:params:scim:schemas:core:2.0:Group" is not a schema of the User resource type"#.to_owned()),
            ),
            ("name.foo", Err(r#""name" has no sub-attribute "foo""#.to_owned())),
            (
                "userName.foo",
                Err(r#""userName" is not a complex attribute, so it has no sub-attribute "foo""#.to_owned()),
            ),
        ];
        for (input, want) in rows {
            assert_eq!(resolved(&USER_RESOURCE, input), want, "{input}");
        }
        assert_eq!(
            resolved(&GROUP_RESOURCE, "members.VALUE"),
            ok("members.value", Some("Group"))
        );
        assert_eq!(
            resolved(&GROUP_RESOURCE, "department"),
            Err(r#"unknown attribute "department" for the Group resource type"#.to_owned())
        );
    }

    #[test]
    fn resolved_exposes_definitions() {
        let path = AttrPath::parse("emails.value").expect("valid path");
        let r = resolve(&USER_RESOURCE, &path).expect("resolves");
        assert!(r.attr.multi_valued);
        assert_eq!(r.leaf().name, "value");
        assert!(matches!(r.owner, Owner::Core(_)));
        assert_eq!(
            r.path(),
            AttrPath {
                urn: None,
                name: "emails".into(),
                sub: Some("value".into())
            }
        );
    }
}
