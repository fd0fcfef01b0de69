//! The scenario file format (documented for authors in `conformance/README.md`): a named
//! sequence of HTTP requests shaped like an identity provider's, each with the status and the
//! response content it expects.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use serde_json::{Map, Value};

use super::template;

/// Names every scenario can use without defining them.
pub const BUILTIN_VARS: &[&str] = &["run", "run_uuid", "domain"];

/// One IdP-shaped conversation with a SCIM server.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Short unique id, e.g. `jumpcloud-groups`; `--idp` accepts it.
    pub name: String,
    /// The identity provider whose requests this replays, e.g. `jumpcloud`.
    pub idp: String,
    /// One line for people.
    pub title: String,
    /// What the scenario covers, for the README and `--list`.
    #[serde(default)]
    pub description: String,
    /// The public documents the requests follow.
    pub source: Vec<String>,
    /// How sure the sources are about the wire format.
    #[serde(default)]
    pub confidence: Confidence,
    /// Named values (which may use `{{run}}` etc.), set before the first step.
    #[serde(default)]
    pub vars: Map<String, Value>,
    /// The requests, in order.
    pub steps: Vec<Step>,
}

/// How well the sources pin down what the IdP sends (the marks of `idp-requests.md`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Confidence {
    /// The IdP's own documentation.
    #[default]
    Doc,
    /// Integrators' guides and code written against the IdP.
    ThirdParty,
    /// Inferred; no wire-level source.
    Inferred,
    /// A tenant's recorded traffic, its values generated (`scimitar conformance --from-log`).
    Recorded,
}

impl Confidence {
    /// A label for reports.
    pub fn label(self) -> &'static str {
        match self {
            Self::Doc => "vendor documentation",
            Self::ThirdParty => "third-party integrator sources",
            Self::Inferred => "inferred, no wire-level source",
            Self::Recorded => "recorded traffic, values generated",
        }
    }
}

/// One request and what its response must look like.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// What the IdP is doing, in its own terms.
    pub name: String,
    /// The IdP quirk (departure from RFC 7644) this step exercises, if any.
    #[serde(default)]
    pub quirk: Option<String>,
    /// Where this exact request is documented, when more specific than the scenario's sources.
    #[serde(default)]
    pub source: Option<String>,
    /// What the author says of the step; a replayed step says what was recorded, printed when
    /// the step fails.
    #[serde(default)]
    pub note: Option<String>,
    /// HTTP method.
    pub method: String,
    /// Path and query relative to the SCIM base URL, unencoded: `/Users?filter=userName eq "x"`.
    pub path: String,
    /// Extra or overriding request headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// JSON request body, sent as `application/scim+json`.
    #[serde(default)]
    pub body: Option<Value>,
    /// What the response must look like.
    pub expect: Expect,
    /// Values to remember for later steps: name → JSON pointer, or `{"header": "ETag"}`.
    #[serde(default)]
    pub capture: BTreeMap<String, Capture>,
}

/// Expectations on a response. Pointers are RFC 6901 JSON pointers into the response body.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// The status, or the statuses the RFC allows (a PATCH may answer 200 or 204).
    pub status: Statuses,
    /// Pointer → the exact JSON value there.
    #[serde(default)]
    pub equals: Map<String, Value>,
    /// Pointers that must hold a value (not null).
    #[serde(default)]
    pub exists: Vec<String>,
    /// Pointers that must hold nothing (missing or null).
    #[serde(default)]
    pub absent: Vec<String>,
    /// Pointers that must be unassigned in the RFC 7643 §2.5 sense: missing, null, "" or [].
    #[serde(default)]
    pub empty: Vec<String>,
    /// Pointer → a value the one there must contain (see [`super::check::contains`]).
    #[serde(default)]
    pub contains: Map<String, Value>,
    /// Pointer → a value the one there must not contain; a missing value contains nothing.
    #[serde(default)]
    pub not_contains: Map<String, Value>,
    /// Pointer → the JSON type of the value there.
    #[serde(default)]
    pub types: BTreeMap<String, JsonType>,
    /// Header name → `true` (present), `false` (absent) or text its value must contain.
    #[serde(default)]
    pub headers: BTreeMap<String, HeaderExpect>,
}

/// One status or several acceptable ones.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Statuses {
    One(u16),
    AnyOf(Vec<u16>),
}

impl Statuses {
    /// The acceptable statuses.
    pub fn codes(&self) -> &[u16] {
        match self {
            Self::One(code) => std::slice::from_ref(code),
            Self::AnyOf(codes) => codes,
        }
    }
}

/// A JSON type for `types` expectations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JsonType {
    String,
    Number,
    Integer,
    Boolean,
    Array,
    Object,
}

impl JsonType {
    /// The type's name as written in scenario files.
    pub fn name(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Number => "number",
            Self::Integer => "integer",
            Self::Boolean => "boolean",
            Self::Array => "array",
            Self::Object => "object",
        }
    }

    /// Whether a value has this type.
    pub fn matches(self, v: &Value) -> bool {
        match self {
            Self::String => v.is_string(),
            Self::Number => v.is_number(),
            Self::Integer => v.is_i64() || v.is_u64(),
            Self::Boolean => v.is_boolean(),
            Self::Array => v.is_array(),
            Self::Object => v.is_object(),
        }
    }
}

/// A header expectation.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum HeaderExpect {
    /// Present (`true`) or absent (`false`).
    Present(bool),
    /// Present, with a value containing this text (ASCII case ignored).
    Contains(String),
}

/// Where a captured value comes from.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Capture {
    /// A JSON pointer into the response body.
    Pointer(String),
    /// A response header.
    Header {
        /// The header's name.
        header: String,
    },
}

impl Scenario {
    /// Parses a scenario file and checks it, so a typo fails at load time, not halfway through
    /// a run against a customer's server.
    pub fn parse(text: &str) -> Result<Self, String> {
        let scenario: Self = serde_json::from_str(text).map_err(|e| e.to_string())?;
        scenario.check()?;
        Ok(scenario)
    }

    /// Checks what serde cannot: names, pointers, methods, and that every `{{placeholder}}` is
    /// a built-in, a scenario variable or captured by an earlier step.
    pub fn check(&self) -> Result<(), String> {
        if !is_slug(&self.name) || !is_slug(&self.idp) {
            return Err(format!(
                "name {:?} and idp {:?} must be lower-case letters, digits and dashes",
                self.name, self.idp
            ));
        }
        if self.source.iter().all(|s| s.trim().is_empty()) {
            return Err("source must name the public document the scenario follows".into());
        }
        if self.steps.is_empty() {
            return Err("a scenario needs at least one step".into());
        }
        let mut known: BTreeSet<&str> = BUILTIN_VARS.iter().copied().collect();
        for (name, value) in &self.vars {
            uses_known(&template::value_names(value), &known)
                .map_err(|e| format!("vars.{name}: {e}"))?;
            known.insert(name);
        }
        for (i, step) in self.steps.iter().enumerate() {
            step.check(&known)
                .map_err(|e| format!("step {} ({}): {e}", i + 1, step.name))?;
            known.extend(step.capture.keys().map(String::as_str));
        }
        Ok(())
    }
}

impl Step {
    fn check(&self, known: &BTreeSet<&str>) -> Result<(), String> {
        if self.method.is_empty() || !self.method.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(format!("method {:?} must be upper case", self.method));
        }
        if !self.path.starts_with('/') {
            return Err(format!("path {:?} must start with /", self.path));
        }
        let codes = self.expect.status.codes();
        if codes.is_empty() || codes.iter().any(|c| !(100..=599).contains(c)) {
            return Err("status must be one HTTP status or a list of them".into());
        }
        let e = &self.expect;
        let pointers = e
            .equals
            .keys()
            .chain(&e.exists)
            .chain(&e.absent)
            .chain(&e.empty)
            .chain(e.contains.keys())
            .chain(e.not_contains.keys())
            .chain(e.types.keys())
            .chain(self.capture.values().filter_map(|c| match c {
                Capture::Pointer(p) => Some(p),
                Capture::Header { .. } => None,
            }));
        for p in pointers {
            if !(p.is_empty() || p.starts_with('/')) {
                return Err(format!("{p:?} is not a JSON pointer (they start with /)"));
            }
        }
        let mut used = template::names(&self.path);
        for (k, v) in &self.headers {
            used = used.and_then(|mut u| {
                u.extend(template::names(k)?);
                u.extend(template::names(v)?);
                Ok(u)
            });
        }
        uses_known(&used, known)?;
        if let Some(body) = &self.body {
            uses_known(&template::value_names(body), known)?;
        }
        for v in e.equals.values().chain(e.contains.values()) {
            uses_known(&template::value_names(v), known)?;
        }
        for v in e.not_contains.values() {
            uses_known(&template::value_names(v), known)?;
        }
        for h in e.headers.values() {
            if let HeaderExpect::Contains(text) = h {
                uses_known(&template::names(text), known)?;
            }
        }
        for name in self.capture.keys() {
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return Err(format!("capture name {name:?}: letters, digits and _ only"));
            }
        }
        Ok(())
    }
}

fn uses_known(
    used: &Result<Vec<&str>, template::TemplateError>,
    known: &BTreeSet<&str>,
) -> Result<(), String> {
    let used = used.as_ref().map_err(ToString::to_string)?;
    match used.iter().find(|n| !known.contains(*n)) {
        Some(n) => Err(format!(
            "{{{{{n}}}}} is neither built in ({}), a scenario variable, nor captured by an earlier step",
            BUILTIN_VARS.join(", ")
        )),
        None => Ok(()),
    }
}

fn is_slug(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn scenario(steps: Value) -> Value {
        json!({"name": "demo", "idp": "demo", "title": "Demo", "source": ["https://example.com/doc"],
               "vars": {"email": "u.{{run}}@{{domain}}"}, "steps": steps})
    }

    fn parse(v: Value) -> Result<Scenario, String> {
        Scenario::parse(&v.to_string())
    }

    #[test]
    fn parses_a_scenario_with_every_expectation() {
        let s = parse(scenario(json!([
            {"name": "create", "method": "POST", "path": "/Users", "body": {"userName": "{{email}}"},
             "expect": {"status": 201, "equals": {"/userName": "{{email}}"}, "exists": ["/id"],
                        "absent": ["/password"], "empty": ["/title"],
                        "contains": {"/schemas": "urn:ietf:params:scim:schemas:core:2.0:User"},
                        "not_contains": {"/emails": {"type": "home"}},
                        "types": {"/active": "boolean"}, "headers": {"Location": true, "ETag": "W/"}},
             "capture": {"user_id": "/id", "etag": {"header": "ETag"}}},
            {"name": "patch", "method": "PATCH", "path": "/Users/{{user_id}}",
             "headers": {"If-Match": "{{etag}}"}, "expect": {"status": [200, 204]}}
        ])))
        .expect("valid");
        assert_eq!(s.steps.len(), 2);
        assert_eq!(s.steps[1].expect.status.codes(), &[200, 204]);
        assert_eq!(s.confidence, Confidence::Doc);
    }

    #[test]
    fn rejects_what_would_fail_halfway_through_a_run() {
        let step = |extra: Value| {
            let mut s =
                json!({"name": "s", "method": "GET", "path": "/Users", "expect": {"status": 200}});
            for (k, v) in extra.as_object().expect("object") {
                s[k] = v.clone();
            }
            parse(scenario(json!([s])))
        };
        let err = step(json!({"path": "/Users/{{user_id}}"})).expect_err("unknown capture");
        assert!(err.contains("{{user_id}}"), "{err}");
        assert!(step(json!({"method": "get"})).is_err());
        assert!(step(json!({"path": "Users"})).is_err());
        assert!(step(json!({"expect": {"status": []}})).is_err());
        assert!(step(json!({"expect": {"status": 200, "exists": ["id"]}})).is_err());
        assert!(step(json!({"expect": {"status": 200, "typo": 1}})).is_err());
        assert!(step(json!({"capture": {"bad-name": "/id"}})).is_err());
        let mut no_source = scenario(json!([]));
        no_source["source"] = json!([]);
        assert!(parse(no_source).is_err());
        assert!(parse(scenario(json!([]))).is_err(), "no steps");
    }
}
