//! Checking a parsed filter against a resource type's schema (the `Filter` → `CheckedFilter`
//! typestate, after kanidm): every path resolves, every operator fits its attribute's type and
//! every literal fits the attribute. Past this point nothing needs to look at the schema by
//! name again, and an unknown attribute can never reach the query layer as a full scan.

use std::fmt;

use serde_json::Number;

use super::MAX_NODES;
use super::ast::{CompValue, CompareOp, Filter};
use super::datetime::DateTime;
use super::error::{ErrorKind, FilterError};
use crate::scim::path::{AttrPath, Resolved, resolve, resolve_sub};
use crate::scim::schema::{AttrType, ResourceType, Returned};

/// A filter whose paths, operators and literals fit a resource type; built only by [`check`].
#[derive(Debug, Clone)]
pub struct CheckedFilter<'s> {
    filter: Filter,
    root: CheckedNode<'s>,
}

impl<'s> CheckedFilter<'s> {
    /// The checked tree, for evaluation and SQL compilation.
    pub fn root(&self) -> &CheckedNode<'s> {
        &self.root
    }

    /// The filter as the client wrote it (modulo formatting).
    pub fn filter(&self) -> &Filter {
        &self.filter
    }
}

/// Prints the filter as parsed, for logs and error details.
impl fmt::Display for CheckedFilter<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.filter.fmt(f)
    }
}

/// One node of a checked filter. Paths are resolved to schema definitions; inside a
/// `ValuePath`, each `Resolved` has the value path's attribute as `attr` and the element's
/// sub-attribute as `sub`.
#[derive(Debug, Clone)]
pub enum CheckedNode<'s> {
    /// Compare the values at `attr.leaf()` with `value`.
    Compare {
        attr: Resolved<'s>,
        op: CompareOp,
        value: Operand,
    },
    /// `pr`: the attribute has a non-empty value.
    Present(Resolved<'s>),
    /// Negation.
    Not(Box<CheckedNode<'s>>),
    /// Conjunction.
    And(Box<CheckedNode<'s>>, Box<CheckedNode<'s>>),
    /// Disjunction.
    Or(Box<CheckedNode<'s>>, Box<CheckedNode<'s>>),
    /// `filter` holds for at least one value of the complex attribute `attr`.
    ValuePath {
        attr: Resolved<'s>,
        filter: Box<CheckedNode<'s>>,
    },
}

/// A literal converted to the type of the attribute it is compared with.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    /// `eq null` / `ne null`: absence / presence (RFC 7643 §2.5).
    Null,
    /// For boolean attributes.
    Bool(bool),
    /// For integer (always an integral number) and decimal attributes.
    Num(Number),
    /// For string, reference and binary attributes, as written (not case-folded).
    Str(String),
    /// For dateTime attributes.
    DateTime(DateTime),
}

/// Checks `filter` against `rt`. Errors name the attribute; they carry no offset because the
/// AST has no positions.
pub fn check(filter: Filter, rt: &ResourceType) -> Result<CheckedFilter<'_>, FilterError> {
    let mut nodes = 0;
    let root = check_node(&filter, rt, None, &mut nodes).map_err(FilterError::schema)?;
    Ok(CheckedFilter { filter, root })
}

/// `parent` is the value path's attribute when checking inside `attr[...]`.
fn check_node<'s>(
    filter: &Filter,
    rt: &'s ResourceType,
    parent: Option<Resolved<'s>>,
    nodes: &mut usize,
) -> Result<CheckedNode<'s>, ErrorKind> {
    // A Filter built in code skips the parser's limits; counting here bounds the recursion.
    *nodes += 1;
    if *nodes > MAX_NODES {
        return Err(ErrorKind::TooManyNodes);
    }
    let mut recurse = |f: &Filter| check_node(f, rt, parent, nodes).map(Box::new);
    Ok(match filter {
        Filter::Not(inner) => CheckedNode::Not(recurse(inner)?),
        Filter::And(l, r) => CheckedNode::And(recurse(l)?, recurse(r)?),
        Filter::Or(l, r) => CheckedNode::Or(recurse(l)?, recurse(r)?),
        Filter::Present(path) => CheckedNode::Present(resolve_in(rt, parent, path)?),
        Filter::Compare { path, op, value } => {
            check_compare(resolve_in(rt, parent, path)?, *op, value)?
        }
        Filter::ValuePath { attr, filter } => {
            if parent.is_some() {
                return Err(ErrorKind::NestedValueFilter);
            }
            let resolved = resolve(rt, attr)?;
            if resolved.sub.is_some() {
                return Err(ErrorKind::ValueFilterOnSubAttribute {
                    path: resolved.to_string(),
                });
            }
            if !resolved.attr.is_complex() {
                return Err(ErrorKind::ValueFilterNotComplex {
                    attr: resolved.to_string(),
                });
            }
            let inner = check_node(filter, rt, Some(resolved), nodes)?;
            CheckedNode::ValuePath {
                attr: resolved,
                filter: Box::new(inner),
            }
        }
    })
}

/// Resolves a path at the top level, or as a bare sub-attribute name inside `parent[...]`.
fn resolve_in<'s>(
    rt: &'s ResourceType,
    parent: Option<Resolved<'s>>,
    path: &AttrPath,
) -> Result<Resolved<'s>, ErrorKind> {
    let resolved = resolve_path(rt, parent, path)?;
    if never_returned(&resolved) {
        return Err(ErrorKind::NeverReturned {
            attr: resolved.to_string(),
        });
    }
    Ok(resolved)
}

/// Whether the values `attr` reaches are never returned: a filter or a sort order on them
/// would reveal them.
pub fn never_returned(attr: &Resolved<'_>) -> bool {
    attr.attr.returned == Returned::Never || attr.leaf().returned == Returned::Never
}

fn resolve_path<'s>(
    rt: &'s ResourceType,
    parent: Option<Resolved<'s>>,
    path: &AttrPath,
) -> Result<Resolved<'s>, ErrorKind> {
    let Some(parent) = parent else {
        return Ok(resolve(rt, path)?);
    };
    if path.urn.is_some() || path.sub.is_some() {
        return Err(ErrorKind::ValueFilterPath {
            attr: parent.to_string(),
            path: path.to_string(),
        });
    }
    let sub = resolve_sub(parent.attr, &path.name)?;
    Ok(Resolved {
        sub: Some(sub),
        ..parent
    })
}

fn check_compare<'s>(
    attr: Resolved<'s>,
    op: CompareOp,
    value: &CompValue,
) -> Result<CheckedNode<'s>, ErrorKind> {
    // RFC 7643 §2.5: null and "unassigned" are the same state, so `eq null` / `ne null` are
    // absence / presence tests, meaningful for any attribute, complex ones included.
    if *value == CompValue::Null {
        return match op {
            CompareOp::Eq | CompareOp::Ne => Ok(CheckedNode::Compare {
                attr,
                op,
                value: Operand::Null,
            }),
            _ => Err(ErrorKind::NullOperator { op }),
        };
    }
    let attr = default_sub_attribute(attr)?;
    let leaf = attr.leaf();
    if !operator_fits(op, leaf.ty) {
        return Err(ErrorKind::OperatorNotAllowed {
            op,
            attr: attr.to_string(),
            ty: a_type(leaf.ty),
        });
    }
    let mismatch = |expected| ErrorKind::ValueMismatch {
        attr: attr.to_string(),
        ty: a_type(leaf.ty),
        expected,
        found: value.to_string(),
    };
    let operand = match (leaf.ty, value) {
        (AttrType::String | AttrType::Reference | AttrType::Binary, CompValue::Str(s)) => {
            Operand::Str(s.clone())
        }
        (AttrType::String | AttrType::Reference, _) => return Err(mismatch("a string")),
        (AttrType::Binary, _) => return Err(mismatch("a base64 string")),
        (AttrType::Boolean, CompValue::Bool(b)) => Operand::Bool(*b),
        (AttrType::Boolean, _) => return Err(mismatch("true or false")),
        (AttrType::Integer, CompValue::Num(n)) if n.is_i64() || n.is_u64() => {
            Operand::Num(n.clone())
        }
        (AttrType::Integer, _) => return Err(mismatch("an integer")),
        (AttrType::Decimal, CompValue::Num(n)) => Operand::Num(n.clone()),
        (AttrType::Decimal, _) => return Err(mismatch("a number")),
        (AttrType::DateTime, CompValue::Str(s)) => {
            let instant = DateTime::parse(s).ok_or_else(|| ErrorKind::InvalidDateTime {
                attr: attr.to_string(),
                found: value.to_string(),
            })?;
            Operand::DateTime(instant)
        }
        (AttrType::DateTime, _) => return Err(mismatch("a quoted RFC 3339 date-time")),
        // Not reached: operator_fits rejects every operator on a complex leaf.
        (AttrType::Complex, _) => return Err(mismatch("one of its sub-attributes")),
    };
    Ok(CheckedNode::Compare {
        attr,
        op,
        value: operand,
    })
}

/// A comparison on a complex attribute without a sub-attribute compares its `value`
/// sub-attribute: RFC 7644 §3.4.2.2's own examples write `emails co "example.com"` next to
/// `emails.value co "example.org"`, and RFC 7643 §2.4 makes `value` the significant
/// sub-attribute of multi-valued attributes. Complex attributes without one (`name`) need an
/// explicit sub-attribute.
fn default_sub_attribute(attr: Resolved<'_>) -> Result<Resolved<'_>, ErrorKind> {
    if attr.sub.is_some() || !attr.attr.is_complex() {
        return Ok(attr);
    }
    match attr.attr.sub_attribute("value") {
        Some(value) if attr.attr.multi_valued => Ok(Resolved {
            sub: Some(value),
            ..attr
        }),
        _ => Err(ErrorKind::ComplexComparison {
            attr: attr.to_string(),
            example: attr
                .attr
                .sub_attributes
                .first()
                .map_or("value".to_owned(), |s| s.name.to_string()),
        }),
    }
}

/// RFC 7644 §3.4.2.2: gt/ge/lt/le on boolean or binary attributes are errors; co/sw/ew are
/// substring tests, so only strings and references take them.
fn operator_fits(op: CompareOp, ty: AttrType) -> bool {
    use CompareOp::*;
    match ty {
        AttrType::String | AttrType::Reference => true,
        AttrType::Boolean | AttrType::Binary => matches!(op, Eq | Ne),
        AttrType::Integer | AttrType::Decimal | AttrType::DateTime => !matches!(op, Co | Sw | Ew),
        AttrType::Complex => false,
    }
}

/// The type name with its article, for messages.
fn a_type(ty: AttrType) -> &'static str {
    match ty {
        AttrType::String => "a string",
        AttrType::Boolean => "a boolean",
        AttrType::Decimal => "a decimal",
        AttrType::Integer => "an integer",
        AttrType::DateTime => "a dateTime",
        AttrType::Binary => "a binary",
        AttrType::Reference => "a reference",
        AttrType::Complex => "a complex",
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{TEST_RESOURCE, checked};
    use super::super::{Filter, parse};
    use super::*;
    use crate::scim::schema::{GROUP_RESOURCE, USER_RESOURCE};

    fn check_str<'s>(rt: &'s ResourceType, input: &str) -> Result<CheckedFilter<'s>, String> {
        let filter = parse(input).map_err(|e| format!("parse: {e}"))?;
        check(filter, rt).map_err(|e| e.to_string())
    }

    /// Every RFC 7644 §3.4.2.2 example checks against the User resource type.
    #[test]
    fn rfc_examples_check() {
        let rows = [
            r#"userName eq "bjensen""#,
            r#"name.familyName co "O'Malley""#,
            r#"userName sw "J""#,
            r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J""#,
            "title pr",
            r#"meta.lastModified gt "2011-05-13T04:42:34Z""#,
            r#"meta.lastModified ge "2011-05-13T04:42:34Z""#,
            r#"meta.lastModified lt "2011-05-13T04:42:34Z""#,
            r#"meta.lastModified le "2011-05-13T04:42:34Z""#,
            r#"title pr and userType eq "Employee""#,
            r#"title pr or userType eq "Intern""#,
            r#"schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User""#,
            r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#,
            r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#,
            r#"userType eq "Employee" and (emails.type eq "work")"#,
            r#"userType eq "Employee" and emails[type eq "work" and value co "@example.com"]"#,
            r#"emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#,
        ];
        for input in rows {
            assert!(
                check_str(&USER_RESOURCE, input).is_ok(),
                "{input}: {:?}",
                check_str(&USER_RESOURCE, input)
            );
        }
        assert!(check_str(&GROUP_RESOURCE, r#"members[value eq "2819c223"]"#).is_ok());
        assert!(check_str(&GROUP_RESOURCE, r#"displayName eq "Tour Guides""#).is_ok());
    }

    /// The checked tree carries canonical, schema-cased definitions.
    #[test]
    fn keeps_resolved_definitions() {
        let rows = [
            (
                r#"USERNAME eq "x""#,
                "userName",
                AttrType::String,
                false,
                false,
            ),
            (r#"ID eq "x""#, "id", AttrType::String, true, false),
            (
                r#"Emails.Value eq "x""#,
                "emails.value",
                AttrType::String,
                false,
                true,
            ),
            // RFC 7644 §3.4.2.2 writes `emails co …`: the `value` sub-attribute is implied.
            (
                r#"emails co "x""#,
                "emails.value",
                AttrType::String,
                false,
                true,
            ),
            (
                r#"meta.created gt "2011-05-13T04:42:34Z""#,
                "meta.created",
                AttrType::DateTime,
                false,
                false,
            ),
            (
                r#"department eq "x""#,
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
                AttrType::String,
                false,
                false,
            ),
        ];
        for (input, canonical, ty, case_exact, multi) in rows {
            let f = checked(input, &USER_RESOURCE);
            let CheckedNode::Compare { attr, .. } = f.root() else {
                panic!("{input}: not a comparison");
            };
            assert_eq!(attr.to_string(), canonical, "{input}");
            assert_eq!(attr.leaf().ty, ty, "{input}");
            assert_eq!(attr.leaf().case_exact, case_exact, "{input}");
            assert_eq!(attr.attr.multi_valued, multi, "{input}");
        }

        let f = checked(r#"emails[TYPE eq "work"]"#, &USER_RESOURCE);
        let CheckedNode::ValuePath { attr, filter } = f.root() else {
            panic!("not a value path")
        };
        assert_eq!(attr.to_string(), "emails");
        let CheckedNode::Compare { attr, value, .. } = &**filter else {
            panic!("not a comparison")
        };
        assert_eq!(attr.to_string(), "emails.type");
        assert_eq!(*value, Operand::Str("work".into()));

        let f = checked(
            r#"meta.created gt "2011-05-13T06:42:34+02:00""#,
            &USER_RESOURCE,
        );
        let CheckedNode::Compare { value, .. } = f.root() else {
            panic!("not a comparison")
        };
        assert_eq!(
            *value,
            Operand::DateTime(DateTime::parse("2011-05-13T04:42:34Z").expect("valid"))
        );
        assert_eq!(
            f.to_string(),
            r#"meta.created gt "2011-05-13T06:42:34+02:00""#
        );
    }

    #[test]
    fn accepts_literals_that_fit() {
        let rows = [
            (&USER_RESOURCE, "active eq true"),
            (&USER_RESOURCE, "active ne false"),
            (&USER_RESOURCE, "title eq null"),
            (&USER_RESOURCE, "name ne null"),
            (&USER_RESOURCE, "emails eq null"),
            (&USER_RESOURCE, r#"profileUrl sw "https://""#),
            (&USER_RESOURCE, r#"x509Certificates.value eq "TUlJ""#),
            (&USER_RESOURCE, r#"userName gt "a""#),
            (&TEST_RESOURCE, "age gt 30"),
            (&TEST_RESOURCE, "age eq 18446744073709551615"),
            (&TEST_RESOURCE, "score le 2.5"),
            (&TEST_RESOURCE, "score eq 2"),
            (&TEST_RESOURCE, "lotto eq 7"),
        ];
        for (rt, input) in rows {
            assert!(
                check_str(rt, input).is_ok(),
                "{input}: {:?}",
                check_str(rt, input)
            );
        }
    }

    /// (resource type, filter, message). Schema errors have no offset.
    #[test]
    fn rejection_rows() {
        let rows: &[(&ResourceType, &str, &str)] = &[
            (
                &USER_RESOURCE,
                r#"foo eq "x""#,
                r#"unknown attribute "foo" for the User resource type"#,
            ),
            (
                &USER_RESOURCE,
                "foo.bar pr",
                r#"unknown attribute "foo.bar" for the User resource type"#,
            ),
            (
                &GROUP_RESOURCE,
                r#"userName eq "x""#,
                r#"unknown attribute "userName" for the Group resource type"#,
            ),
            (
                &USER_RESOURCE,
                r#"name.foo eq "x""#,
                r#""name" has no sub-attribute "foo""#,
            ),
            (
                &USER_RESOURCE,
                r#"userName.foo eq "x""#,
                r#""userName" is not a complex attribute, so it has no sub-attribute "foo""#,
            ),
            (
                &USER_RESOURCE,
                r#"urn:ietf:params:scim:schemas:core:2.0:Group:displayName eq "x""#,
                r#""urn:ietf:params:scim:schemas:core:2.0:Group" is not a schema of the User resource type"#,
            ),
            // RFC 7644 §3.4.2.2: gt/ge/lt/le on boolean or binary attributes are errors.
            (
                &USER_RESOURCE,
                "active gt true",
                r#"the "gt" operator cannot be used on "active", a boolean attribute"#,
            ),
            (
                &USER_RESOURCE,
                r#"x509Certificates.value le "TUlJ""#,
                r#"the "le" operator cannot be used on "x509Certificates.value", a binary attribute"#,
            ),
            (
                &USER_RESOURCE,
                r#"x509Certificates.value co "TUlJ""#,
                r#"the "co" operator cannot be used on "x509Certificates.value", a binary attribute"#,
            ),
            (
                &USER_RESOURCE,
                "active co true",
                r#"the "co" operator cannot be used on "active", a boolean attribute"#,
            ),
            (
                &USER_RESOURCE,
                r#"meta.created sw "2011""#,
                r#"the "sw" operator cannot be used on "meta.created", a dateTime attribute"#,
            ),
            (
                &TEST_RESOURCE,
                "age ew 1",
                r#"the "ew" operator cannot be used on "age", an integer attribute"#,
            ),
            (
                &USER_RESOURCE,
                r#"active eq "yes""#,
                r#""active" is a boolean attribute, so it is compared with true or false, not "yes""#,
            ),
            (
                &USER_RESOURCE,
                r#"active eq "true""#,
                r#""active" is a boolean attribute, so it is compared with true or false, not "true""#,
            ),
            (
                &USER_RESOURCE,
                "active eq 1",
                r#""active" is a boolean attribute, so it is compared with true or false, not 1"#,
            ),
            (
                &USER_RESOURCE,
                "userName eq 42",
                r#""userName" is a string attribute, so it is compared with a string, not 42"#,
            ),
            (
                &USER_RESOURCE,
                "userName eq true",
                r#""userName" is a string attribute, so it is compared with a string, not true"#,
            ),
            (
                &USER_RESOURCE,
                "x509Certificates.value eq 1",
                r#""x509Certificates.value" is a binary attribute, so it is compared with a base64 string, not 1"#,
            ),
            (
                &TEST_RESOURCE,
                "age eq 1.5",
                r#""age" is an integer attribute, so it is compared with an integer, not 1.5"#,
            ),
            (
                &TEST_RESOURCE,
                r#"age eq "1""#,
                r#""age" is an integer attribute, so it is compared with an integer, not "1""#,
            ),
            (
                &TEST_RESOURCE,
                "score gt false",
                r#""score" is a decimal attribute, so it is compared with a number, not false"#,
            ),
            (
                &USER_RESOURCE,
                r#"meta.created gt "yesterday""#,
                r#""meta.created" is a dateTime attribute and "yesterday" is not an RFC 3339 date-time such as "2011-05-13T04:42:34Z""#,
            ),
            (
                &USER_RESOURCE,
                r#"meta.created gt "2011-05-13""#,
                r#""meta.created" is a dateTime attribute and "2011-05-13" is not an RFC 3339 date-time such as "2011-05-13T04:42:34Z""#,
            ),
            (
                &USER_RESOURCE,
                "meta.lastModified lt 1305261754",
                r#""meta.lastModified" is a dateTime attribute, so it is compared with a quoted RFC 3339 date-time, not 1305261754"#,
            ),
            (
                &USER_RESOURCE,
                r#"name eq "Barbara""#,
                r#""name" is a complex attribute; compare one of its sub-attributes, such as "name.formatted""#,
            ),
            (
                &USER_RESOURCE,
                r#"meta gt "x""#,
                r#""meta" is a complex attribute; compare one of its sub-attributes, such as "meta.resourceType""#,
            ),
            // Single-valued, so no "any value" reading of an implied `.value`.
            (
                &USER_RESOURCE,
                r#"manager eq "x""#,
                r#""urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager" is a complex attribute; compare one of its sub-attributes, such as "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value""#,
            ),
            (
                &USER_RESOURCE,
                "title gt null",
                r#"null can only be compared with "eq" or "ne", not "gt""#,
            ),
            (
                &USER_RESOURCE,
                "title co null",
                r#"null can only be compared with "eq" or "ne", not "co""#,
            ),
            (
                &USER_RESOURCE,
                r#"userName[value eq "x"]"#,
                r#""userName" is not a complex attribute, so it cannot have a value filter "[...]""#,
            ),
            (
                &USER_RESOURCE,
                "name.givenName[value pr]",
                r#"a value filter "[...]" applies to an attribute, not to the sub-attribute "name.givenName""#,
            ),
            (
                &USER_RESOURCE,
                r#"emails[foo eq "x"]"#,
                r#""emails" has no sub-attribute "foo""#,
            ),
            (
                &USER_RESOURCE,
                r#"emails[emails.value eq "x"]"#,
                r#"inside "emails[...]", "emails.value" must be the bare name of a sub-attribute of "emails""#,
            ),
            (
                &USER_RESOURCE,
                r#"emails[urn:ietf:params:scim:schemas:core:2.0:User:value eq "x"]"#,
                r#"inside "emails[...]", "urn:ietf:params:scim:schemas:core:2.0:User:value" must be the bare name of a sub-attribute of "emails""#,
            ),
            (
                &USER_RESOURCE,
                "emails[primary gt true]",
                r#"the "gt" operator cannot be used on "emails.primary", a boolean attribute"#,
            ),
            (
                &USER_RESOURCE,
                r#"emails[value eq 1]"#,
                r#""emails.value" is a string attribute, so it is compared with a string, not 1"#,
            ),
        ];
        for (rt, input, message) in rows {
            let error = check(parse(input).expect(input), rt).expect_err(input);
            assert_eq!(error.to_string(), *message, "{input}");
            assert_eq!(error.offset, None, "{input}");
        }
    }

    /// Filters built in code skip the parser's limits; check() applies them itself.
    #[test]
    fn limits_apply_to_filters_built_in_code() {
        let emails = AttrPath::simple("emails");
        let nested = Filter::ValuePath {
            attr: emails.clone(),
            filter: Box::new(Filter::ValuePath {
                attr: emails,
                filter: Box::new(Filter::Present(AttrPath::simple("value"))),
            }),
        };
        assert_eq!(
            check(nested, &USER_RESOURCE)
                .map(|_| ())
                .map_err(|e| e.kind),
            Err(ErrorKind::NestedValueFilter)
        );

        let mut deep = Filter::Present(AttrPath::simple("title"));
        for _ in 0..1000 {
            deep = Filter::negate(deep);
        }
        assert_eq!(
            check(deep, &USER_RESOURCE)
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Err("the filter has more than 200 expressions and logical operators".to_owned())
        );
    }
}
