//! Named, isolated fixes for the ways identity providers bend RFC 7643 / 7644. Each function
//! says which client needs it and where that is documented.

use serde_json::Value;

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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::string_boolean;

    #[test]
    fn entra_string_booleans() {
        // Source: Entra SCIM compatibility doc, "value": "False" in a replace of active.
        assert_eq!(string_boolean(&json!("False")), Some(false));
        assert_eq!(string_boolean(&json!("True")), Some(true));
        assert_eq!(string_boolean(&json!("true")), Some(true));
        assert_eq!(string_boolean(&json!("yes")), None);
        assert_eq!(string_boolean(&json!(1)), None);
    }
}
