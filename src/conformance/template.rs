//! `{{name}}` placeholders in scenario files: per-run values (`{{run}}`), scenario variables and
//! values captured from earlier responses (`{{user_id}}`).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// Values a template can name.
#[derive(Debug, Clone, Default)]
pub struct Vars(BTreeMap<String, Value>);

/// A template that cannot be rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("{{{{{0}}}}} has no value (no earlier step captured it)")]
    Missing(String),
    #[error("unclosed {{{{ in {0:?}")]
    Unclosed(String),
    #[error("{{{{{0}}}}} is not a valid name (letters, digits and _ only)")]
    BadName(String),
}

impl Vars {
    /// Sets a value.
    pub fn set(&mut self, name: impl Into<String>, value: Value) {
        self.0.insert(name.into(), value);
    }

    /// The value of a name.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name)
    }
}

/// The names a string refers to, in order.
pub fn names(s: &str) -> Result<Vec<&str>, TemplateError> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| TemplateError::Unclosed(s.to_owned()))?;
        let name = after[..end].trim();
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(TemplateError::BadName(name.to_owned()));
        }
        out.push(name);
        rest = &after[end + 2..];
    }
    Ok(out)
}

/// The names a JSON value refers to, in its strings and object keys.
pub fn value_names(v: &Value) -> Result<Vec<&str>, TemplateError> {
    let mut out = Vec::new();
    collect(v, &mut out)?;
    Ok(out)
}

fn collect<'a>(v: &'a Value, out: &mut Vec<&'a str>) -> Result<(), TemplateError> {
    match v {
        Value::String(s) => out.extend(names(s)?),
        Value::Array(items) => {
            for item in items {
                collect(item, out)?;
            }
        }
        Value::Object(map) => {
            for (k, item) in map {
                out.extend(names(k)?);
                collect(item, out)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// Renders a string; non-string values are written as JSON text.
pub fn render(s: &str, vars: &Vars) -> Result<String, TemplateError> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| TemplateError::Unclosed(s.to_owned()))?;
        let name = after[..end].trim();
        match vars.get(name) {
            Some(Value::String(v)) => out.push_str(v),
            Some(other) => out.push_str(&other.to_string()),
            None => return Err(TemplateError::Missing(name.to_owned())),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Renders every string (and object key) in a JSON value. A string that is exactly one
/// placeholder takes the value's own type, so `"{{count}}"` can stand for a number.
pub fn render_value(v: &Value, vars: &Vars) -> Result<Value, TemplateError> {
    Ok(match v {
        Value::String(s) => match whole_placeholder(s) {
            Some(name) => vars
                .get(name)
                .cloned()
                .ok_or_else(|| TemplateError::Missing(name.to_owned()))?,
            None => Value::String(render(s, vars)?),
        },
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|item| render_value(item, vars))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => {
            let mut out = Map::with_capacity(map.len());
            for (k, item) in map {
                out.insert(render(k, vars)?, render_value(item, vars)?);
            }
            Value::Object(out)
        }
        other => other.clone(),
    })
}

fn whole_placeholder(s: &str) -> Option<&str> {
    let inner = s.strip_prefix("{{")?.strip_suffix("}}")?;
    (!inner.contains("{{") && !inner.contains("}}")).then(|| inner.trim())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn vars() -> Vars {
        let mut v = Vars::default();
        v.set("run", json!("a1b2"));
        v.set("n", json!(3));
        v.set("flag", json!(false));
        v
    }

    #[test]
    fn renders_strings_and_keeps_whole_placeholder_types() {
        let v = vars();
        assert_eq!(
            render("u.{{run}}@{{ run }}.example", &v).as_deref(),
            Ok("u.a1b2@a1b2.example")
        );
        assert_eq!(render("count={{n}}", &v).as_deref(), Ok("count=3"));
        assert_eq!(
            render_value(
                &json!({"a": "{{n}}", "b": ["x{{run}}", "{{flag}}"], "{{run}}": 1}),
                &v
            ),
            Ok(json!({"a": 3, "b": ["xa1b2", false], "a1b2": 1}))
        );
    }

    #[test]
    fn reports_missing_and_malformed_placeholders() {
        let v = vars();
        assert_eq!(
            render("/Users/{{user_id}}", &v),
            Err(TemplateError::Missing("user_id".into()))
        );
        assert_eq!(
            render_value(&json!({"x": "{{nope}}"}), &v),
            Err(TemplateError::Missing("nope".into()))
        );
        assert!(matches!(names("a {{run"), Err(TemplateError::Unclosed(_))));
        assert!(matches!(names("{{a-b}}"), Err(TemplateError::BadName(_))));
        assert_eq!(
            names("{{a}} and {{ b_2 }}").expect("names"),
            vec!["a", "b_2"]
        );
        assert_eq!(
            value_names(&json!({"{{k}}": ["{{v}}"]})).expect("names"),
            vec!["k", "v"]
        );
    }
}
