//! Named, isolated fixes for the ways identity providers bend RFC 7643 / 7644. Each function
//! says which client needs it and where that is documented.

use serde_json::{Map, Value};

use super::Violation;
use super::filter::{CheckedFilter, CheckedNode, CompareOp, Operand};
use super::patch_path::PatchPath;
use super::schema::AttributeDef;

/// Where Microsoft documents the Entra ID provisioning service's departures from RFC 7644
/// ("Known issues and resolutions with SCIM 2.0 protocol compliance …").
pub const ENTRA_COMPAT_DOC: &str = "https://learn.microsoft.com/azure/active-directory/app-provisioning/application-provisioning-config-problem-scim-compatibility";

/// Microsoft Entra ID sends booleans as the strings `"True"` / `"False"` (documented in
/// "Known issues and resolutions with SCIM 2.0 protocol compliance of the Microsoft Entra user
/// provisioning service", learn.microsoft.com). Returns the boolean such a string stands for.
pub fn string_boolean(v: &Value) -> Option<bool> {
    match v.as_str()? {
        s if s.eq_ignore_ascii_case("true") => Some(true),
        s if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// The schema URI Entra ID lists beside the core Group schema when it creates a group:
/// `"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group",
/// "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"]` (the "Create
/// Group" request in
/// <https://learn.microsoft.com/en-us/entra/identity/app-provisioning/use-scim-to-provision-users-and-groups>;
/// [`ENTRA_COMPAT_DOC`] lists it as "Group creation requests contain an invalid schema URI").
pub const ENTRA_LEGACY_GROUP_SCHEMA: &str =
    "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group";

/// Whether a URN in a resource's `schemas` is one an IdP sends by habit and that names no
/// attributes, so it is accepted and dropped rather than rejected as an unknown schema. Only
/// Entra's legacy Group URN, and only on a Group.
pub fn ignorable_schema(resource_schema: &str, urn: &str) -> bool {
    resource_schema == super::schema::GROUP.id
        && urn.eq_ignore_ascii_case(ENTRA_LEGACY_GROUP_SCHEMA)
}

/// Entra ID (the `customappsso` job, and apps without the `aadOptscim062020` flag) writes
/// attribute paths as the keys of a path-less add/replace value:
/// `{"op":"Replace","value":{"name.givenName":"x","urn:…:enterprise:2.0:User:department":"y"}}`
/// ([`ENTRA_COMPAT_DOC`]). RFC 7644 §3.5.2.1 expects attribute names there; a name is also a
/// path, so reading every key as a PATCH path serves both.
pub fn path_less_key(key: &str) -> Result<PatchPath, Violation> {
    PatchPath::parse(key)
}

/// Entra ID sends the enterprise `manager` as a bare id,
/// `{"op":"Add","path":"urn:…:enterprise:2.0:User:manager","value":"<id>"}` (request quoted in
/// <https://github.com/Captain-P-Goldfish/SCIM-SDK/issues/686>), where RFC 7643 §4.3 has a
/// complex `{"value": "<id>"}`. Wraps a string given for a single-valued complex attribute with a
/// `value` sub-attribute; anything else is returned as it is.
pub fn bare_complex_value(def: &AttributeDef, value: Value) -> Value {
    let wraps = def.is_complex() && !def.multi_valued && def.sub_attribute("value").is_some();
    match value {
        Value::String(s) if wraps => {
            Value::Object(Map::from_iter([("value".to_owned(), s.into())]))
        }
        other => other,
    }
}

/// Entra ID and JumpCloud remove group members with a value array rather than a filter:
/// `{"op":"Remove","path":"members","value":[{"value":"<id>"}]}` (Entra:
/// <https://learn.microsoft.com/en-us/entra/identity/app-provisioning/use-scim-to-provision-users-and-groups>;
/// JumpCloud: <https://app.uni-moni.com/en/kb/sso-setup-jumpcloud>). RFC 7644 §3.5.2.2 would
/// remove every member for that path. Returns the ids, or `None` when `value` is not an array of
/// objects with a string `value`.
pub fn values_to_remove(value: &Value) -> Option<Vec<String>> {
    value
        .as_array()?
        .iter()
        .map(|item| Some(item.get("value")?.as_str()?.to_owned()))
        .collect()
}

/// Entra ID's delta sync also *replaces* through a type selector that matches nothing, for a
/// user who had no such value before: `{"op":"Replace","path":"phoneNumbers[type eq
/// \"work\"].value","value":"…"}` (reported with Entra's default attribute mappings in
/// <https://github.com/better-auth/better-auth/pull/10682>; the mappings are listed in
/// <https://learn.microsoft.com/en-us/entra/identity/app-provisioning/use-scim-to-provision-users-and-groups>).
/// RFC 7644 §3.5.2.3 answers `noTarget`, and so does Scimitar for every other shape: only a
/// single `type eq "…"` selector with a sub-attribute path creates the element it names.
pub fn element_for_replace(filter: &CheckedFilter, has_sub: bool) -> Option<Map<String, Value>> {
    let CheckedNode::ValuePath { filter: inner, .. } = filter.root() else {
        return None;
    };
    let selects_type = matches!(
        inner.as_ref(),
        CheckedNode::Compare { attr, op: CompareOp::Eq, value: Operand::Str(_) } if attr.leaf().name == "type"
    );
    if has_sub && selects_type {
        element_from_filter(filter)
    } else {
        None
    }
}

/// Entra ID adds through a value filter that matches nothing and expects the value to be
/// created: `{"op":"Add","path":"emails[type eq \"work\"].value","value":"…"}` for a user
/// without a work email ([`ENTRA_COMPAT_DOC`]; the same request for an existing work email is
/// quoted in <https://learn.microsoft.com/en-us/answers/questions/1684621>). RFC 7644 §3.5.2.1
/// leaves this open. Returns the element the filter describes when it is `eq` comparisons
/// joined by `and` (`{"type":"work"}`); `None` for any other filter, which then gets `noTarget`.
pub fn element_from_filter(filter: &CheckedFilter) -> Option<Map<String, Value>> {
    fn collect(node: &CheckedNode, out: &mut Map<String, Value>) -> Option<()> {
        match node {
            CheckedNode::And(l, r) => collect(l, out).and_then(|()| collect(r, out)),
            CheckedNode::Compare {
                attr,
                op: CompareOp::Eq,
                value,
            } => {
                let value = match value {
                    Operand::Str(s) => Value::from(s.as_str()),
                    Operand::Bool(b) => Value::Bool(*b),
                    Operand::Num(n) => Value::Number(n.clone()),
                    Operand::Null | Operand::DateTime(_) => return None,
                };
                // `type eq "work" and type eq "home"` describes no element.
                match out.insert(attr.leaf().name.to_string(), value.clone()) {
                    Some(previous) if previous != value => None,
                    _ => Some(()),
                }
            }
            _ => None,
        }
    }
    let CheckedNode::ValuePath { filter, .. } = filter.root() else {
        return None;
    };
    let mut element = Map::new();
    collect(filter, &mut element).map(|()| element)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::scim::filter::{check, parse};
    use crate::scim::schema::core::ENTERPRISE_USER;
    use crate::scim::schema::{USER, USER_RESOURCE};

    #[test]
    fn entra_string_booleans() {
        // Source: Entra SCIM compatibility doc, "value": "False" in a replace of active.
        assert_eq!(string_boolean(&json!("False")), Some(false));
        assert_eq!(string_boolean(&json!("True")), Some(true));
        assert_eq!(string_boolean(&json!("true")), Some(true));
        assert_eq!(string_boolean(&json!("yes")), None);
        assert_eq!(string_boolean(&json!(1)), None);
    }

    #[test]
    fn entra_legacy_group_schema() {
        // Source: Entra use-scim-to-provision-users-and-groups, "Create Group" request.
        let group = &*crate::scim::schema::GROUP.id;
        assert!(ignorable_schema(group, ENTRA_LEGACY_GROUP_SCHEMA));
        assert!(ignorable_schema(
            group,
            "http://schemas.microsoft.com/2006/11/resourcemanagement/adscim/2.0/group"
        ));
        assert!(!ignorable_schema(&USER.id, ENTRA_LEGACY_GROUP_SCHEMA));
        assert!(!ignorable_schema(group, "urn:example:Other"));
    }

    #[test]
    fn entra_bare_manager_id() {
        // Source: Captain-P-Goldfish/SCIM-SDK#686, an Entra add of the enterprise manager.
        let manager = ENTERPRISE_USER.attribute("manager").expect("manager");
        assert_eq!(
            bare_complex_value(manager, json!("m1")),
            json!({"value": "m1"})
        );
        assert_eq!(
            bare_complex_value(manager, json!({"value": "m1"})),
            json!({"value": "m1"})
        );
        let emails = USER.attribute("emails").expect("emails");
        assert_eq!(bare_complex_value(emails, json!("x")), json!("x"));
    }

    #[test]
    fn entra_and_jumpcloud_member_value_arrays() {
        // Sources: Entra use-scim-to-provision-users-and-groups; JumpCloud uni-moni KB.
        assert_eq!(
            values_to_remove(&json!([{"value": "a"}, {"value": "b", "display": "B"}])),
            Some(vec!["a".to_owned(), "b".to_owned()])
        );
        assert_eq!(values_to_remove(&json!([{"display": "a"}])), None);
        assert_eq!(values_to_remove(&json!({"value": "a"})), None);
    }

    #[test]
    fn entra_elements_from_filters() {
        // Source: Entra compatibility doc, emails[type eq "work"].value on a user without one.
        let element = |f: &str| {
            let checked = check(parse(f).expect("parses"), &USER_RESOURCE).expect("checks");
            element_from_filter(&checked).map(Value::Object)
        };
        assert_eq!(
            element(r#"emails[type eq "work"]"#),
            Some(json!({"type": "work"}))
        );
        assert_eq!(
            element(r#"emails[type eq "work" and primary eq true]"#),
            Some(json!({"type": "work", "primary": true}))
        );
        assert_eq!(
            element(r#"emails[type eq "work" and type eq "home"]"#),
            None
        );
        assert_eq!(element(r#"emails[type eq "work" or type eq "home"]"#), None);
        assert_eq!(element(r#"emails[value co "example.com"]"#), None);
        assert_eq!(element(r#"emails[not (type eq "work")]"#), None);
    }
}
