//! What the shape of a request body says about the client that sent it: habits of identity
//! providers that Scimitar accepts (see `compat`) but that tell a tenant admin something about
//! the IdP's setup. Each reads the JSON a handler already parsed, looks at its top level and its
//! operations only, and changes nothing.

use serde_json::Value;

/// Whether a PATCH body is in Entra ID's pre-2020 dialect, sent by apps without the
/// `aadOptscim062020` flag: an `op` spelled `"Replace"`, `"Add"` or `"Remove"`, or `active` sent
/// as the string `"True"` / `"False"` (`compat::ENTRA_COMPAT_DOC`, "Flags to alter the SCIM
/// behavior"). RFC 7644 §3.5.2 spells ops in lower case and `active` is a boolean.
pub fn entra_legacy_patch(body: &Value) -> bool {
    operations(body).any(|op| {
        let capitalised = op
            .get("op")
            .and_then(Value::as_str)
            .is_some_and(|name| name.chars().next().is_some_and(char::is_uppercase));
        capitalised || string_active(op)
    })
}

/// `active` given as a string, with a path (`"path":"active","value":"False"`) or as a key of
/// a path-less value (`"value":{"active":"False"}`).
fn string_active(op: &Value) -> bool {
    let value = op.get("value");
    match op.get("path").and_then(Value::as_str) {
        Some(path) => path.eq_ignore_ascii_case("active") && value.is_some_and(Value::is_string),
        None => value
            .and_then(Value::as_object)
            .and_then(|v| v.iter().find(|(k, _)| k.eq_ignore_ascii_case("active")))
            .is_some_and(|(_, v)| v.is_string()),
    }
}

/// Whether a Group body (created or replaced) lists members.
pub fn lists_members(body: &Value) -> bool {
    body.get("members")
        .and_then(Value::as_array)
        .is_some_and(|m| !m.is_empty())
}

/// Whether a PATCH of a Group adds, replaces or removes members.
pub fn patches_members(body: &Value) -> bool {
    operations(body).any(|op| {
        let path = op.get("path").and_then(Value::as_str);
        match path {
            Some(p) => p
                .get(..7)
                .is_some_and(|p| p.eq_ignore_ascii_case("members")),
            None => op
                .get("value")
                .and_then(Value::as_object)
                .is_some_and(|v| v.keys().any(|k| k.eq_ignore_ascii_case("members"))),
        }
    })
}

/// Whether a User body has no `userName`, or a blank one: what an IdP's attribute mapping
/// sends when the field it maps to userName is empty.
pub fn blank_user_name(body: &Value) -> bool {
    match body.get("userName") {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.trim().is_empty(),
        Some(_) => false,
    }
}

/// A PATCH body's operations; none when it has no `Operations` array.
fn operations(body: &Value) -> impl Iterator<Item = &Value> {
    body.get("Operations")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn patch(ops: Value) -> Value {
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops})
    }

    #[test]
    fn entra_legacy_patches_are_told_from_rfc_ones() {
        let legacy = [
            json!([{"op": "Replace", "path": "displayName", "value": "x"}]),
            json!([{"op": "replace", "path": "active", "value": "False"}]),
            json!([{"op": "replace", "value": {"active": "True"}}]),
        ];
        for ops in legacy {
            assert!(entra_legacy_patch(&patch(ops.clone())), "{ops}");
        }
        let rfc = [
            json!([{"op": "replace", "path": "active", "value": false}]),
            json!([{"op": "replace", "value": {"active": false, "title": "True"}}]),
            json!([{"op": "add", "path": "title", "value": "False"}]),
            json!("not operations"),
        ];
        for ops in rfc {
            assert!(!entra_legacy_patch(&patch(ops.clone())), "{ops}");
        }
    }

    #[test]
    fn member_changes_are_seen_with_and_without_a_path() {
        assert!(patches_members(&patch(
            json!([{"op": "add", "path": "members", "value": [{"value": "1"}]}])
        )));
        assert!(patches_members(&patch(
            json!([{"op": "remove", "path": "Members[value eq \"1\"]"}])
        )));
        assert!(patches_members(&patch(
            json!([{"op": "replace", "value": {"members": []}}])
        )));
        assert!(!patches_members(&patch(
            json!([{"op": "replace", "path": "displayName", "value": "x"}])
        )));
        assert!(lists_members(&json!({"members": [{"value": "1"}]})));
        assert!(!lists_members(&json!({"members": []})));
    }

    #[test]
    fn a_missing_or_blank_user_name_is_blank() {
        assert!(blank_user_name(&json!({})));
        assert!(blank_user_name(&json!({"userName": null})));
        assert!(blank_user_name(&json!({"userName": " \t"})));
        assert!(!blank_user_name(&json!({"userName": "ann"})));
        assert!(!blank_user_name(&json!({"userName": 7})));
    }
}
