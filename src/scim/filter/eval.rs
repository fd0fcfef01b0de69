//! In-memory evaluation of a checked filter against a rendered SCIM resource.
//!
//! Semantics (RFC 7644 §3.4.2.2 where it speaks, the SQL-compatible choice where it does not):
//! - A multi-valued attribute matches if any of its values matches; a sub-attribute path
//!   through a multi-valued complex attribute (`emails.value`) looks at every element.
//! - `ne` is "has a value that is not equal", so a missing attribute never matches `ne`, just
//!   as SQL's `col <> 'x'` never holds for NULL. `not (attr eq "x")` is the filter that also
//!   matches resources without the attribute.
//! - `pr` is false for a missing attribute, `null`, `""`, `[]` and `{}` (RFC 7643 §2.5).
//! - Strings compare case-insensitively unless the schema says caseExact; `gt`/`lt` on strings
//!   are lexicographic by code point, on dateTime by instant, on numbers numerically.
//! - `userName eq` and `ne` compare [`user_name::key`]s (width, case and normalisation
//!   mapped), the key uniqueness is enforced on; its other operators fold ASCII case only.
//! - A value of the wrong JSON type (a number in a string attribute) matches nothing.
//! - JSON keys are looked up case-insensitively, like attribute names (RFC 7643 §2.1).

use std::borrow::Cow;
use std::cmp::Ordering;

use serde_json::{Map, Number, Value};

use super::ast::CompareOp;
use super::check::{CheckedFilter, CheckedNode, Operand};
use super::datetime::DateTime;
use crate::scim::fold_case;
use crate::scim::path::{Owner, Resolved};
use crate::scim::schema::AttributeDef;
use crate::scim::user_name;

/// Whether `resource` (a rendered SCIM resource, keys in any case) matches `filter`: the
/// reference the tests hold the SQL translation of filters to (stored resources are filtered
/// in SQL), and how the lists rendered in memory (`/Roles`, `/Entitlements`) are filtered.
pub fn matches(filter: &CheckedFilter, resource: &Value) -> bool {
    eval(filter.root(), Scope::Resource(resource))
}

/// Whether `element`, one value of a multi-valued complex attribute, is selected by the value
/// filter of `filter`, a checked `attr[…]` value path. PATCH paths select values this way
/// (`emails[type eq "work"]`, RFC 7644 §3.5.2); any other shape of filter selects nothing.
pub fn matches_value(filter: &CheckedFilter, element: &Value) -> bool {
    match filter.root() {
        CheckedNode::ValuePath { filter, .. } => eval(filter, Scope::Element(element)),
        _ => false,
    }
}

/// What paths are relative to: the resource, or one element of a value path's attribute.
#[derive(Clone, Copy)]
enum Scope<'v> {
    Resource(&'v Value),
    Element(&'v Value),
}

// Nodes visited, counted in tests only, so a test can show evaluation is linear in the filter.
#[cfg(test)]
thread_local! {
    static VISITS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

fn eval(node: &CheckedNode, scope: Scope<'_>) -> bool {
    #[cfg(test)]
    VISITS.with(|v| v.set(v.get() + 1));
    match node {
        CheckedNode::Present(attr) => values(scope, attr).into_iter().any(is_present),
        CheckedNode::Compare {
            attr,
            op,
            value: Operand::Null,
        } => {
            let present = values(scope, attr).into_iter().any(is_present);
            if *op == CompareOp::Eq {
                !present
            } else {
                present
            }
        }
        CheckedNode::Compare { attr, op, value } => {
            // userName equality compares keys, as the key column does in SQL.
            let keyed =
                user_name::is_user_name(attr) && matches!(op, CompareOp::Eq | CompareOp::Ne);
            values(scope, attr)
                .into_iter()
                .any(|v| match (keyed, value, v) {
                    (true, Operand::Str(want), Value::String(have)) => {
                        ordering_fits(*op, user_name::key(have).cmp(&user_name::key(want)))
                    }
                    _ => compare(attr.leaf(), v, *op, value),
                })
        }
        CheckedNode::Not(inner) => !eval(inner, scope),
        CheckedNode::And(l, r) => eval(l, scope) && eval(r, scope),
        CheckedNode::Or(l, r) => eval(l, scope) || eval(r, scope),
        CheckedNode::ValuePath { attr, filter } => match scope {
            Scope::Resource(resource) => attribute(resource, attr)
                .map(flatten)
                .unwrap_or_default()
                .into_iter()
                .any(|element| eval(filter, Scope::Element(element))),
            // check() rejects nested value paths.
            Scope::Element(_) => false,
        },
    }
}

/// The top-level attribute's value in the resource, from the extension object if it has one.
pub fn attribute<'v>(resource: &'v Value, attr: &Resolved) -> Option<&'v Value> {
    let container = match attr.owner {
        Owner::Extension(schema) => member(resource, &schema.id)?,
        Owner::Common | Owner::Core(_) => resource,
    };
    member(container, &attr.attr.name)
}

/// Every value the path reaches, arrays flattened, nulls dropped.
fn values<'v>(scope: Scope<'v>, attr: &Resolved) -> Vec<&'v Value> {
    let reached: Vec<&Value> = match (scope, attr.sub) {
        (Scope::Resource(resource), None) => {
            attribute(resource, attr).map(flatten).unwrap_or_default()
        }
        (Scope::Resource(resource), Some(sub)) => attribute(resource, attr)
            .map(flatten)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|element| member(element, &sub.name))
            .flat_map(flatten)
            .collect(),
        (Scope::Element(element), Some(sub)) => {
            member(element, &sub.name).map(flatten).unwrap_or_default()
        }
        (Scope::Element(_), None) => Vec::new(),
    };
    reached.into_iter().filter(|v| !v.is_null()).collect()
}

fn flatten(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    }
}

/// A member of an object: `key` looked up exactly first, then case-insensitively (RFC 7643
/// §2.1).
pub fn member<'v>(v: &'v Value, key: &str) -> Option<&'v Value> {
    let object: &Map<String, Value> = v.as_object()?;
    object.get(key).or_else(|| {
        object
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

fn is_present(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        Value::Bool(_) | Value::Number(_) => true,
    }
}

fn compare(def: &AttributeDef, actual: &Value, op: CompareOp, operand: &Operand) -> bool {
    match (operand, actual) {
        (Operand::Str(want), Value::String(have)) => compare_str(have, want, op, def.case_exact),
        (Operand::Bool(want), Value::Bool(have)) => ordering_fits(op, have.cmp(want)),
        (Operand::Num(want), Value::Number(have)) => {
            cmp_numbers(have, want).is_some_and(|o| ordering_fits(op, o))
        }
        (Operand::DateTime(want), Value::String(have)) => {
            DateTime::parse(have).is_some_and(|have| ordering_fits(op, have.cmp(want)))
        }
        _ => false,
    }
}

fn compare_str(have: &str, want: &str, op: CompareOp, case_exact: bool) -> bool {
    let (have, want): (Cow<'_, str>, Cow<'_, str>) = if case_exact {
        (have.into(), want.into())
    } else {
        (fold_case(have).into(), fold_case(want).into())
    };
    match op {
        CompareOp::Co => have.contains(&*want),
        CompareOp::Sw => have.starts_with(&*want),
        CompareOp::Ew => have.ends_with(&*want),
        _ => ordering_fits(op, have.cmp(&want)),
    }
}

fn ordering_fits(op: CompareOp, o: Ordering) -> bool {
    match op {
        CompareOp::Eq => o.is_eq(),
        CompareOp::Ne => o.is_ne(),
        CompareOp::Gt => o.is_gt(),
        CompareOp::Ge => o.is_ge(),
        CompareOp::Lt => o.is_lt(),
        CompareOp::Le => o.is_le(),
        // Substring operators never reach here: check() allows them on strings only.
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => false,
    }
}

/// Exact for integers, f64 otherwise.
fn cmp_numbers(a: &Number, b: &Number) -> Option<Ordering> {
    if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
        return Some(x.cmp(&y));
    }
    if let (Some(x), Some(y)) = (a.as_u64(), b.as_u64()) {
        return Some(x.cmp(&y));
    }
    a.as_f64()?.partial_cmp(&b.as_f64()?)
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::super::test_support::{TEST_RESOURCE, bjensen, checked};
    use super::matches;
    use crate::scim::schema::{GROUP_RESOURCE, ResourceType, USER_RESOURCE};

    use super::super::{CheckedNode, MAX_DEPTH};
    use super::VISITS;

    fn nodes(n: &CheckedNode) -> usize {
        match n {
            CheckedNode::Compare { .. } | CheckedNode::Present(_) => 1,
            CheckedNode::Not(inner) | CheckedNode::ValuePath { filter: inner, .. } => {
                1 + nodes(inner)
            }
            CheckedNode::And(l, r) | CheckedNode::Or(l, r) => 1 + nodes(l) + nodes(r),
        }
    }

    /// Each node is visited at most once per element of the value path around it (bjensen has
    /// two e-mails), however deep `not` and groups nest.
    #[test]
    fn evaluation_visits_each_node_once_per_element() {
        let leaf = r#"emails[type eq "home" and value co "x"]"#;
        let nots = format!(
            "{}{leaf}{}",
            "not (".repeat(MAX_DEPTH - 1),
            ")".repeat(MAX_DEPTH - 1)
        );
        let mut groups = leaf.to_owned();
        for d in 0..MAX_DEPTH - 1 {
            let op = if d % 2 == 0 { "and" } else { "or" };
            groups = format!("(title pr {op} {groups})");
        }
        let chain = vec![leaf; 40].join(" or ");
        let negated_chain = vec![format!("not ({leaf})"); 30].join(" and ");
        for filter in [nots, groups, chain, negated_chain] {
            let checked = checked(&filter, &USER_RESOURCE);
            VISITS.with(|v| v.set(0));
            let _ = matches(&checked, &bjensen());
            let visits = VISITS.with(std::cell::Cell::get);
            assert!(
                visits <= 2 * nodes(checked.root()),
                "{visits} visits: {filter}"
            );
        }
    }

    fn eval(rt: &ResourceType, filter: &str, resource: &Value) -> bool {
        matches(&checked(filter, rt), resource)
    }

    /// (source or rule, filter, matches Barbara Jensen).
    const BJENSEN_ROWS: &[(&str, &str, bool)] = &[
        (
            "RFC 7644 §3.4.2.2",
            r#"userName eq "bjensen@example.com""#,
            true,
        ),
        ("RFC 7644 §3.4.2.2", r#"userName eq "bjensen""#, false),
        (
            "RFC 7644 §3.4.2.2",
            r#"name.familyName co "O'Malley""#,
            false,
        ),
        ("RFC 7644 §3.4.2.2", r#"userName sw "J""#, false),
        (
            "RFC 7644 §3.4.2.2",
            r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "B""#,
            true,
        ),
        ("RFC 7644 §3.4.2.2", "title pr", true),
        (
            "RFC 7644 §3.4.2.2",
            r#"meta.lastModified gt "2011-05-13T04:42:34Z""#,
            false,
        ),
        (
            "RFC 7644 §3.4.2.2",
            r#"meta.lastModified ge "2011-05-13T04:42:34Z""#,
            true,
        ),
        (
            "RFC 7644 §3.4.2.2",
            r#"meta.lastModified lt "2011-05-13T04:42:34Z""#,
            false,
        ),
        (
            "RFC 7644 §3.4.2.2",
            r#"meta.lastModified le "2011-05-13T04:42:34Z""#,
            true,
        ),
        (
            "RFC 7644 §3.4.2.2",
            r#"title pr and userType eq "Employee""#,
            true,
        ),
        (
            "RFC 7644 §3.4.2.2",
            r#"title pr or userType eq "Intern""#,
            true,
        ),
        (
            "RFC 7644 §3.4.2.2",
            r#"schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User""#,
            true,
        ),
        (
            "RFC 7644 §3.4.2.2",
            r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#,
            true,
        ),
        (
            "RFC 7644 §3.4.2.2",
            r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#,
            false,
        ),
        (
            "RFC 7644 §3.4.2.2",
            r#"userType eq "Employee" and (emails.type eq "work")"#,
            true,
        ),
        (
            "RFC 7644 §3.4.2.2",
            r#"userType eq "Employee" and emails[type eq "work" and value co "@example.com"]"#,
            true,
        ),
        (
            "RFC 7644 §3.4.2.2",
            r#"emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#,
            true,
        ),
        // caseExact comes from the schema.
        (
            "caseExact=false",
            r#"userName eq "BJensen@Example.COM""#,
            true,
        ),
        ("caseExact=false", r#"name.familyName co "ENS""#, true),
        ("caseExact=false", r#"userName ew "EXAMPLE.COM""#, true),
        (
            "caseExact=true",
            r#"id eq "2819C223-7F76-453A-919D-413861904646""#,
            false,
        ),
        (
            "caseExact=true",
            r#"id eq "2819c223-7f76-453a-919d-413861904646""#,
            true,
        ),
        (
            "caseExact=true",
            r#"meta.version eq "w/\"a330bc54f0671c9\"""#,
            false,
        ),
        ("common", r#"externalId eq "701984""#, true),
        ("common", r#"meta.resourceType eq "User""#, true),
        // Multi-valued: any value. A value filter needs one element to match all of it.
        ("any value", r#"emails.type eq "home""#, true),
        (
            "any value",
            r#"emails.type eq "home" and emails.value co "@example.com""#,
            true,
        ),
        (
            "value filter",
            r#"emails[type eq "home" and value co "@example.com"]"#,
            false,
        ),
        (
            "value filter",
            r#"emails[type eq "home" and value co "@jensen.org"]"#,
            true,
        ),
        ("value filter", r#"emails[not (type eq "work")]"#, true),
        ("value filter", r#"emails[primary eq true]"#, true),
        ("value filter", r#"ims[type eq "xmpp"]"#, false),
        ("value filter", r#"phoneNumbers[type eq "work"]"#, false),
        ("implied value", r#"emails eq "babs@jensen.org""#, true),
        (
            "schemas",
            r#"schemas eq "URN:IETF:PARAMS:SCIM:SCHEMAS:CORE:2.0:USER""#,
            true,
        ),
        // ne is "has a value that differs"; a missing attribute has none.
        ("ne", r#"title ne "Tour Guide""#, false),
        ("ne", r#"title ne "Intern""#, true),
        ("ne", r#"nickName ne "x""#, false),
        ("ne", r#"not (nickName eq "x")"#, true),
        ("ne", r#"emails.type ne "work""#, true),
        ("ne", r#"ims.type ne "aim""#, false),
        // pr and null (RFC 7643 §2.5).
        ("pr", "nickName pr", false),
        ("pr", "emails pr", true),
        ("pr", "name pr", true),
        ("pr", "phoneNumbers pr", false),
        ("pr", "emails.display pr", false),
        ("null", "nickName eq null", true),
        ("null", "title eq null", false),
        ("null", "title ne null", true),
        ("booleans", "active eq true", true),
        ("booleans", "active ne true", false),
        ("booleans", "emails.primary eq false", false),
        // dateTime compares instants, not text: 06:42:33+02:00 is 04:42:33Z.
        (
            "dateTime",
            r#"meta.lastModified gt "2011-05-13T06:42:33+02:00""#,
            true,
        ),
        (
            "dateTime",
            r#"meta.lastModified eq "2011-05-13T06:42:34.000+02:00""#,
            true,
        ),
        // Strings order lexicographically, case-folded unless caseExact.
        ("ordering", r#"displayName gt "babs""#, true),
        ("ordering", r#"displayName lt "BABT""#, true),
        ("ordering", r#"userName ge "bjensen@example.com""#, true),
        (
            "binary",
            r#"x509Certificates.value eq "MIIDQzCCAqygAwIBAgICEAAwDQYJKoZIhvcNAQEFBQAw""#,
            true,
        ),
        (
            "binary",
            r#"x509Certificates.value eq "miidqzccaqygawibagicegawdqyjkozihvcnaqefbqaw""#,
            false,
        ),
        // Extension attributes live under their URN.
        (
            "RFC 7643 §4.3",
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "tour operations""#,
            true,
        ),
        ("RFC 7643 §4.3", r#"department eq "Tour Operations""#, true),
        (
            "RFC 7643 §4.3",
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "26118915-6090-4610-87e4-49d8ca9f808d""#,
            true,
        ),
        ("RFC 7643 §4.3", "costCenter pr", false),
        (
            "logic",
            r#"not (userName eq "x") and (title pr or nickName pr)"#,
            true,
        ),
        (
            "logic",
            r#"nickName pr or not (title pr) or userName sw "x""#,
            false,
        ),
    ];

    #[test]
    fn bjensen_rows() {
        let user = bjensen();
        for (source, filter, want) in BJENSEN_ROWS {
            assert_eq!(
                eval(&USER_RESOURCE, filter, &user),
                *want,
                "{source}: {filter}"
            );
        }
    }

    #[test]
    fn user_name_equality_compares_keys() {
        let user = json!({"userName": "Amélie"});
        let rows = [
            (r#"userName eq "amélie""#, true),
            (r#"userName eq "AME\u0301LIE""#, true),
            (r#"userName ne "AME\u0301LIE""#, false),
            (r#"userName eq "ａｍéｌｉｅ""#, true),
            (r#"userName eq "amelie""#, false),
            (r#"userName ne "amelie""#, true),
            // Other operators fold ASCII only, as their SQL does.
            (r#"userName sw "AMÉ""#, false),
            (r#"userName sw "AMé""#, true),
        ];
        for (filter, want) in rows {
            assert_eq!(eval(&USER_RESOURCE, filter, &user), want, "{filter}");
        }
    }

    #[test]
    fn empty_values_are_absent() {
        let user = json!({
            "userName": "x",
            "nickName": "",
            "title": null,
            "emails": [],
            "ims": [{}],
            "name": {},
            "phoneNumbers": [{"value": null}],
        });
        for filter in [
            "nickName pr",
            "title pr",
            "emails pr",
            "ims pr",
            "name pr",
            "phoneNumbers.value pr",
        ] {
            assert!(!eval(&USER_RESOURCE, filter, &user), "{filter}");
        }
        assert!(eval(&USER_RESOURCE, "title eq null", &user));
        assert!(eval(&USER_RESOURCE, "emails eq null", &user));
        assert!(eval(&USER_RESOURCE, r#"nickName eq """#, &user));
    }

    #[test]
    fn keys_match_case_insensitively() {
        let user = json!({
            "USERNAME": "x",
            "Emails": [{"Value": "a@example.com", "TYPE": "work"}],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:user": {"Department": "Sales"},
        });
        assert!(eval(&USER_RESOURCE, r#"userName eq "x""#, &user));
        assert!(eval(
            &USER_RESOURCE,
            r#"emails.value eq "a@example.com""#,
            &user
        ));
        assert!(eval(&USER_RESOURCE, r#"emails[type eq "work"]"#, &user));
        assert!(eval(&USER_RESOURCE, r#"department eq "sales""#, &user));
    }

    #[test]
    fn wrong_json_types_match_nothing() {
        let user = json!({"userName": 5, "active": "true", "meta": {"created": "not a date"}});
        assert!(!eval(&USER_RESOURCE, r#"userName eq "5""#, &user));
        assert!(!eval(&USER_RESOURCE, "active eq true", &user));
        assert!(!eval(
            &USER_RESOURCE,
            r#"meta.created lt "2100-01-01T00:00:00Z""#,
            &user
        ));
        assert!(!eval(
            &USER_RESOURCE,
            r#"meta.created gt "1900-01-01T00:00:00Z""#,
            &user
        ));
        assert!(!eval(
            &USER_RESOURCE,
            r#"emails.value eq "x""#,
            &json!({"emails": "x"})
        ));
    }

    #[test]
    fn group_members() {
        let group = json!({
            "id": "e9e30dba-f08f-4109-8486-d5c6a331660a",
            "displayName": "Tour Guides",
            "members": [
                {"value": "2819c223-7f76-453a-919d-413861904646", "display": "Babs Jensen"},
                {"value": "902c246b-6245-4190-8e05-00816be7344a", "display": "Mandy Pepperidge"}
            ]
        });
        // RFC 7644 §3.5.2 value filter; members.value is caseExact.
        let rows = [
            (
                r#"members[value eq "2819c223-7f76-453a-919d-413861904646"]"#,
                true,
            ),
            (
                r#"members[value eq "2819C223-7F76-453A-919D-413861904646"]"#,
                false,
            ),
            (r#"members.display co "mandy""#, true),
            (r#"displayName eq "tour guides""#, true),
        ];
        for (filter, want) in rows {
            assert_eq!(eval(&GROUP_RESOURCE, filter, &group), want, "{filter}");
        }
    }

    #[test]
    fn numbers_compare_numerically() {
        let doc = json!({"age": 42, "score": 2.5, "lotto": [3, 17, 29], "code": "AbC"});
        let rows = [
            ("age eq 42", true),
            ("age gt 9", true),
            ("age lt 100", true),
            ("age ge 43", false),
            ("score gt 2", true),
            ("score eq 2.5", true),
            ("score le 2.49", false),
            ("lotto eq 17", true),
            ("lotto gt 29", false),
            ("lotto ne 3", true),
            (r#"code eq "AbC""#, true),
            (r#"code eq "abc""#, false),
            (r#"code sw "A""#, true),
            (r#"code sw "a""#, false),
        ];
        for (filter, want) in rows {
            assert_eq!(eval(&TEST_RESOURCE, filter, &doc), want, "{filter}");
        }
        // Integers beyond f64's precision still compare exactly.
        let big = json!({"age": 9_007_199_254_740_993u64});
        assert!(eval(&TEST_RESOURCE, "age gt 9007199254740992", &big));
        assert!(!eval(&TEST_RESOURCE, "age eq 9007199254740992", &big));
    }
}
