//! Bounds on the work one request may ask for. One process serves many tenants, so every input
//! that drives a loop is bounded here, and a request over a bound is refused before any work
//! (and before any lock) with an error that names the bound and the setting that raises it.

use serde_json::{Map, Value};

use super::Violation;
use super::validate::Validated;

/// The bounds, each configurable; the defaults fit every IdP request recorded in
/// `conformance/` many times over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Operations in one PATCH request.
    pub max_operations: usize,
    /// Values of one multi-valued attribute (`emails`, `roles`, …), in a body or after a PATCH.
    pub max_values: usize,
    /// Group members named in one request (POST, PUT, or all operations of a PATCH).
    pub max_members: usize,
    /// Nesting of JSON arrays and objects in a body.
    pub max_depth: usize,
    /// Bytes of one JSON string (a value or an object key).
    pub max_string_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_operations: 1_000,
            max_values: 1_000,
            max_members: 10_000,
            max_depth: 16,
            max_string_bytes: 16 * 1024,
        }
    }
}

/// A bound, by the name of the setting that raises it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    Operations,
    Values,
    Members,
    Depth,
    StringBytes,
}

impl Limit {
    /// The `serve` flag (and, upper-cased with `SCIMITAR_`, the environment variable).
    pub fn setting(self) -> &'static str {
        match self {
            Self::Operations => "max-patch-operations",
            Self::Values => "max-values-per-attribute",
            Self::Members => "max-members-per-request",
            Self::Depth => "max-json-depth",
            Self::StringBytes => "max-string-bytes",
        }
    }
}

/// Builds the refusal: what was sent, the bound, and the setting that raises it.
pub fn exceeded(limit: Limit, what: &str, max: usize) -> Violation {
    Violation::LimitExceeded(format!(
        "{what}, more than this server's limit of {max} ({}); send less in one request",
        limit.setting()
    ))
}

impl Limits {
    /// The structural bounds of any JSON body, checked in one pass before the body is used:
    /// nesting depth, string length, and array length. An array under `members` or
    /// `Operations` has its own bound; any other array may be as long as the longest bound,
    /// and the bound that applies to its attribute is checked where the attribute is known.
    pub fn check_body(&self, body: &Value) -> Result<(), Violation> {
        let mut stack = vec![(body, 1, "")];
        while let Some((value, depth, key)) = stack.pop() {
            match value {
                Value::String(s) => self.check_string(s)?,
                Value::Array(items) => {
                    self.check_depth(depth)?;
                    self.check_array(key, items.len())?;
                    stack.extend(items.iter().map(|v| (v, depth + 1, "")));
                }
                Value::Object(members) => {
                    self.check_depth(depth)?;
                    for (key, v) in members {
                        self.check_string(key)?;
                        stack.push((v, depth + 1, key.as_str()));
                    }
                }
                Value::Null | Value::Bool(_) | Value::Number(_) => {}
            }
        }
        Ok(())
    }

    /// The structural bounds of a bulk request body (RFC 7644 §3.7): each member of each
    /// operation, `data` above all, is bounded as the body of its own request would be. How
    /// many operations it holds has its own bound, which the bulk parser checks.
    pub fn check_bulk(&self, body: &Value) -> Result<(), Violation> {
        let Value::Object(members) = body else {
            return self.check_body(body);
        };
        for (key, value) in members {
            self.check_string(key)?;
            let Value::Array(operations) = value else {
                self.check_body(value)?;
                continue;
            };
            for op in operations {
                let Value::Object(fields) = op else {
                    self.check_body(op)?;
                    continue;
                };
                for (key, value) in fields {
                    self.check_string(key)?;
                    self.check_body(value)?;
                }
            }
        }
        Ok(())
    }

    fn check_array(&self, key: &str, len: usize) -> Result<(), Violation> {
        if key.eq_ignore_ascii_case("members") {
            return self.check_members(len);
        }
        if key.eq_ignore_ascii_case("Operations") {
            return self.check_operations(len);
        }
        let longest = self
            .max_operations
            .max(self.max_values)
            .max(self.max_members);
        if len > longest {
            return Err(Violation::LimitExceeded(format!(
                "a JSON array in the body has {len} elements, more than any array this server takes ({longest}: the largest of {}, {} and {}); send less in one request",
                Limit::Values.setting(),
                Limit::Members.setting(),
                Limit::Operations.setting(),
            )));
        }
        Ok(())
    }

    /// Whether `count` values of the multi-valued attribute at `path` are allowed.
    pub fn check_values(&self, path: &str, count: usize) -> Result<(), Violation> {
        if count > self.max_values {
            return Err(exceeded(
                Limit::Values,
                &format!("{path} would have {count} values"),
                self.max_values,
            ));
        }
        Ok(())
    }

    /// Whether one request may name `count` group members.
    pub fn check_members(&self, count: usize) -> Result<(), Violation> {
        if count > self.max_members {
            return Err(exceeded(
                Limit::Members,
                &format!("the request names {count} group members"),
                self.max_members,
            ));
        }
        Ok(())
    }

    /// Whether a PATCH request may have `count` operations.
    pub fn check_operations(&self, count: usize) -> Result<(), Violation> {
        if count > self.max_operations {
            return Err(exceeded(
                Limit::Operations,
                &format!("the PATCH request has {count} operations"),
                self.max_operations,
            ));
        }
        Ok(())
    }

    /// The count bounds of a validated POST or PUT body: values per attribute and members.
    pub fn check_resource(&self, v: &Validated) -> Result<(), Violation> {
        self.check_members(v.members.len())?;
        self.check_document(&v.doc)
    }

    /// Values per multi-valued attribute of a canonical document (core attributes, and those
    /// of each extension object).
    pub fn check_document(&self, doc: &Map<String, Value>) -> Result<(), Violation> {
        for (key, value) in doc {
            match value {
                Value::Array(items) => self.check_values(key, items.len())?,
                Value::Object(ext) if key.starts_with("urn:") => {
                    for (name, v) in ext {
                        if let Value::Array(items) = v {
                            self.check_values(&format!("{key}:{name}"), items.len())?;
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn check_depth(&self, depth: usize) -> Result<(), Violation> {
        if depth > self.max_depth {
            return Err(exceeded(
                Limit::Depth,
                &format!("the body nests JSON arrays and objects {depth} levels deep"),
                self.max_depth,
            ));
        }
        Ok(())
    }

    fn check_string(&self, s: &str) -> Result<(), Violation> {
        if s.len() > self.max_string_bytes {
            let start: String = s.chars().take(24).collect();
            return Err(exceeded(
                Limit::StringBytes,
                &format!(
                    "a string in the body (\"{start}…\") is {} bytes long",
                    s.len()
                ),
                self.max_string_bytes,
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn small() -> Limits {
        Limits {
            max_operations: 3,
            max_values: 2,
            max_members: 4,
            max_depth: 3,
            max_string_bytes: 10,
        }
    }

    #[test]
    fn bodies_within_the_bounds_pass() {
        let l = small();
        assert_eq!(
            l.check_body(&json!({"a": [1, 2, 3, 4], "b": {"c": "12345678"}})),
            Ok(())
        );
        assert_eq!(l.check_body(&json!({"value": [1, 2, 3, 4]})), Ok(()));
        assert_eq!(l.check_body(&json!({"a": [[1]]})), Ok(()));
        assert_eq!(l.check_body(&json!("short")), Ok(()));
    }

    #[test]
    fn each_bound_is_named_when_exceeded() {
        let l = small();
        let rows: &[(Value, &str)] = &[
            (json!({"a": [[[1]]]}), "max-json-depth"),
            (json!({"a": "12345678901"}), "max-string-bytes"),
            (json!({"12345678901": 1}), "max-string-bytes"),
            (json!([1, 2, 3, 4, 5]), "max-values-per-attribute"),
            (
                json!({"members": [1, 2, 3, 4, 5]}),
                "max-members-per-request",
            ),
            (json!({"operations": [1, 2, 3, 4]}), "max-patch-operations"),
        ];
        for (body, setting) in rows {
            let Err(Violation::LimitExceeded(detail)) = l.check_body(body) else {
                panic!("{body} passed");
            };
            assert!(detail.contains(setting), "{body}: {detail}");
        }
        assert!(l.check_operations(3).is_ok());
        assert!(
            matches!(l.check_operations(4), Err(Violation::LimitExceeded(d)) if d.contains("4 operations") && d.contains("max-patch-operations"))
        );
        assert!(l.check_values("emails", 2).is_ok());
        assert!(
            matches!(l.check_values("emails", 3), Err(Violation::LimitExceeded(d)) if d.contains("emails would have 3 values"))
        );
        assert!(l.check_members(4).is_ok());
        assert!(l.check_members(5).is_err());
    }

    #[test]
    fn a_long_string_is_quoted_short_and_on_a_char_boundary() {
        let l = small();
        let Err(Violation::LimitExceeded(d)) = l.check_body(&json!("é".repeat(100))) else {
            panic!("passed");
        };
        assert!(d.contains(&format!("\"{}…\"", "é".repeat(24))), "{d}");
    }

    #[test]
    fn deep_bodies_are_refused_without_recursion() {
        let mut v = json!(1);
        for _ in 0..100 {
            v = json!([v]);
        }
        assert!(Limits::default().check_body(&v).is_err());
    }
}
