//! Replay: a tenant's recorded provisioning traffic as a scenario file, so a sync that failed
//! can be reproduced against a staging server or another SCIM implementation
//! (`scimitar conformance --from-log TENANT`).
//!
//! The provisioning log keeps each request's method, path, status and body shape (see
//! `events::shape`: values are keyed placeholders). Each logged request becomes a step that
//! expects the recorded status, with generated values in place of the tenant's: the same
//! placeholder becomes the same generated value everywhere (in bodies, PATCH paths and filters),
//! and two values the IdP sent differing only in case become two generated values differing
//! only in case. Resource ids become the values captured from the step that created the
//! resource; a resource made before the window gets a stand-in created first, and one that never
//! existed (a recorded 404) an id no server has. The scenario holds no value of the tenant's,
//! no token and no password.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Range;

use serde_json::{Map, Value, json};

use super::scenario::Scenario;
use crate::events::shape::{self, BASE_LEN, EXACT_LEN, Kind, Shaper};

/// The core User and Group schemas, for stand-ins.
const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

/// Endpoints whose second path segment is a resource id.
const RESOURCE_ENDPOINTS: &[&str] = &["Users", "Groups"];
/// Every endpoint a SCIM path can start with, in Scimitar's spelling.
const ENDPOINTS: &[&str] = &[
    "Users",
    "Groups",
    "Bulk",
    ".search",
    "Me",
    "ServiceProviderConfig",
    "ResourceTypes",
    "Schemas",
];
/// Query parameters whose values are structure, kept as sent.
const KEPT_PARAMS: &[&str] = &[
    "attributes",
    "excludedAttributes",
    "sortBy",
    "sortOrder",
    "startIndex",
    "count",
    "cursor",
];

/// One request from the provisioning log, as the generator reads it.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// The log entry's id.
    pub id: String,
    /// When, in milliseconds.
    pub at: i64,
    pub method: String,
    /// Path and query as logged (with the mount prefix, percent-encoded).
    pub path: String,
    pub status: u16,
    /// The created or addressed resource's id.
    pub resource_id: Option<String>,
    pub scim_type: Option<String>,
    pub user_agent: Option<String>,
    /// The body's shape.
    pub shape: Option<Value>,
}

/// Which part of which tenant's log is replayed.
#[derive(Debug, Clone)]
pub struct Window {
    pub tenant_id: String,
    /// From (inclusive), milliseconds.
    pub since: i64,
    /// To (exclusive), milliseconds.
    pub until: i64,
}

/// A scenario generated from a log window.
#[derive(Debug, Clone)]
pub struct Replay {
    /// The scenario file's content.
    pub scenario: Value,
    /// Steps replaying logged requests (stand-ins not counted).
    pub replayed: usize,
    /// Of those, the ones whose recorded status was 4xx or 5xx.
    pub failed: usize,
    /// Stand-ins created first for resources made before the window.
    pub stand_ins: usize,
    /// Log entries left out, and why.
    pub skipped: BTreeMap<&'static str, usize>,
}

/// Why no scenario could be made.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The window holds no request that can be replayed.
    #[error(
        "the provisioning log holds no replayable request of this tenant from {since} to {until}"
    )]
    Empty { since: String, until: String },
    /// The generated scenario does not load: a bug in the generator.
    #[error("the generated scenario is not valid: {0}")]
    Invalid(String),
    /// The tenant or its log could not be read.
    #[error(transparent)]
    Store(#[from] crate::error::ScimError),
}

/// A logged path, split.
struct Target {
    /// `/Users`, or the logged path itself when it names no SCIM endpoint.
    endpoint: String,
    /// The resource id after a resource endpoint.
    id: Option<String>,
    /// What follows the id (or the endpoint), decoded.
    rest: String,
    /// Decoded query parameters, in order.
    query: Vec<(String, String)>,
}

impl Target {
    fn parse(logged: &str) -> Self {
        let (path, query) = logged.split_once('?').unwrap_or((logged, ""));
        let segments: Vec<String> = path.split('/').map(|s| decode(s, false)).collect();
        let at = segments
            .iter()
            .position(|s| ENDPOINTS.iter().any(|e| s.eq_ignore_ascii_case(e)));
        let (endpoint, id, rest) = match at {
            Some(i) => {
                let endpoint = ENDPOINTS
                    .iter()
                    .find(|e| segments[i].eq_ignore_ascii_case(e))
                    .copied()
                    .unwrap_or_default();
                let has_id = RESOURCE_ENDPOINTS.contains(&endpoint);
                let id = segments
                    .get(i + 1)
                    .filter(|s| has_id && !s.is_empty() && *s != ".search")
                    .cloned();
                let after = i + 1 + usize::from(id.is_some());
                let rest: String = segments[after.min(segments.len())..]
                    .iter()
                    .map(|s| format!("/{s}"))
                    .collect();
                (format!("/{endpoint}"), id, rest)
            }
            None => (decode(path, false), None, String::new()),
        };
        let query = query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (decode(k, true), decode(v, true))
            })
            .collect();
        Self {
            endpoint,
            id,
            rest,
            query,
        }
    }

    fn is(&self, endpoint: &str) -> bool {
        self.endpoint == format!("/{endpoint}")
    }
}

/// Percent-decodes (and, in a query, reads `+` as a space, as actix does).
fn decode(s: &str, query: bool) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if bytes
                .get(i + 1..i + 3)
                .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) =>
            {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("00");
                out.push(u8::from_str_radix(hex, 16).unwrap_or(b'?'));
                i += 3;
            }
            b'+' if query => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A placeholder read back from a shape or a scrubbed filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Placeholder<'a> {
    kind: Kind,
    base: &'a str,
    exact: &'a str,
}

/// The placeholders in `s`, with where each is, in order.
fn placeholders(s: &str) -> Vec<(Range<usize>, Placeholder<'_>)> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(start) = s[from..].find('<').map(|i| from + i) {
        from = start + 1;
        let Some(end) = s[start..].find('>').map(|i| start + i) else {
            break;
        };
        let mut parts = s[start + 1..end].split(':');
        let (Some(kind), Some(base), Some(exact), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let hex = |h: &str, n| h.len() == n && h.bytes().all(|b| b.is_ascii_hexdigit());
        let kind = [Kind::Email, Kind::Uuid, Kind::Url, Kind::Text]
            .into_iter()
            .find(|k| k.as_str() == kind);
        if let Some(kind) = kind
            && hex(base, BASE_LEN)
            && hex(exact, EXACT_LEN)
        {
            out.push((start..end + 1, Placeholder { kind, base, exact }));
            from = end + 1;
        }
    }
    out
}

/// The generated values: one scenario variable per value the tenant sent (per spelling, for
/// values differing only in case), and per resource id.
#[derive(Default)]
struct Values {
    vars: Map<String, Value>,
    /// Placeholder base of a resource id → its variable.
    ids: HashMap<String, String>,
    /// Placeholder base → (its variable, the exact hashes seen, in order).
    generated: HashMap<String, (String, Vec<String>)>,
    /// How many variables each name has.
    counts: HashMap<String, usize>,
    /// Whether a shape was cut at the log's size limit.
    truncated: bool,
}

impl Values {
    fn next(&mut self, name: &str) -> usize {
        let n = self.counts.entry(name.to_owned()).or_insert(0);
        *n += 1;
        *n
    }

    /// The variable standing for a placeholder met under `key`, made on first sight.
    fn var(&mut self, p: Placeholder<'_>, key: &str) -> String {
        if let Some(var) = self.ids.get(p.base) {
            return var.clone();
        }
        if !self.generated.contains_key(p.base) {
            let name = var_name(p.kind, key);
            let n = self.next(&name);
            let slug = name.replace('_', "-");
            let template = match p.kind {
                Kind::Email => format!("{slug}-{n}.{{{{run}}}}@{{{{domain}}}}"),
                Kind::Uuid => format!("{n:08x}-0000-4000-8000-00{{{{run}}}}"),
                Kind::Url => format!("https://replay.example.com/{slug}/{n}-{{{{run}}}}"),
                Kind::Text => format!("{slug}-{n}-{{{{run}}}}"),
            };
            let var = format!("{name}_{n}");
            self.vars.insert(var.clone(), template.into());
            self.generated
                .insert(p.base.to_owned(), (var, vec![p.exact.to_owned()]));
        }
        let (var, spellings) = self.generated.get_mut(p.base).expect("inserted above");
        let variant = match spellings.iter().position(|e| e == p.exact) {
            Some(i) => i,
            None => {
                spellings.push(p.exact.to_owned());
                spellings.len() - 1
            }
        };
        if variant == 0 {
            return var.clone();
        }
        // Another spelling of the same value: the same text in another case, so a server that
        // compares ignoring case sees the same value, as it saw the recorded ones.
        let name = format!("{var}_v{}", variant + 1);
        if !self.vars.contains_key(&name) {
            let base = self.vars[var.as_str()].as_str().unwrap_or_default();
            self.vars.insert(name.clone(), recase(base, variant).into());
        }
        name
    }

    /// A string of a shape with its placeholders replaced by `{{variables}}`.
    fn render(&mut self, s: &str, key: &str) -> Value {
        match s {
            shape::PASSWORD => return "{{password}}".into(),
            shape::SECRET => return "{{secret}}".into(),
            shape::NUMBER => return 1.into(),
            shape::DEEP => {
                self.truncated = true;
                return Value::Null;
            }
            _ => {}
        }
        let mut out = String::with_capacity(s.len());
        let mut last = 0;
        for (range, p) in placeholders(s) {
            out.push_str(&s[last..range.start]);
            let var = self.var(p, key);
            out.push_str(&format!("{{{{{var}}}}}"));
            last = range.end;
        }
        out.push_str(&s[last..]);
        out.into()
    }

    /// A request body from a shape.
    fn body(&mut self, shape: &Value, key: &str) -> Value {
        match shape {
            Value::String(s) => self.render(s, key),
            Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    let cut = item
                        .as_str()
                        .is_some_and(|s| s.starts_with("<+") && s.ends_with(" more>"));
                    if cut {
                        self.truncated = true;
                    } else {
                        out.push(self.body(item, key));
                    }
                }
                Value::Array(out)
            }
            Value::Object(map) => {
                let mut out = Map::new();
                for (k, v) in map {
                    if k == shape::TRUNCATED {
                        self.truncated = true;
                        continue;
                    }
                    let child = if k.eq_ignore_ascii_case("value") {
                        key
                    } else {
                        k
                    };
                    let name = self.render(k, k);
                    out.insert(name.as_str().unwrap_or(k).to_owned(), self.body(v, child));
                }
                Value::Object(out)
            }
            other => other.clone(),
        }
    }
}

/// A variable name for a value met under `key`: `user_name`, `display_name`, `email`, …
fn var_name(kind: Kind, key: &str) -> String {
    let mut name = String::new();
    for c in key.chars().filter(char::is_ascii_alphanumeric) {
        if c.is_ascii_uppercase() && !name.is_empty() {
            name.push('_');
        }
        name.push(c.to_ascii_lowercase());
    }
    name.truncate(24);
    match (name.as_str(), kind) {
        ("" | "value" | "emails", Kind::Email) => "email".into(),
        ("" | "value", Kind::Uuid) => "id".into(),
        ("" | "value", _) => "value".into(),
        _ => name,
    }
}

/// The `variant`th other spelling of a generated (lower-case) template: all its letters in
/// upper case for the first, then its first one, two, … letters; `{{placeholders}}` untouched.
fn recase(template: &str, variant: usize) -> String {
    let mut letters = if variant == 1 {
        usize::MAX
    } else {
        variant - 1
    };
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    loop {
        let literal_end = rest.find("{{").unwrap_or(rest.len());
        for c in rest[..literal_end].chars() {
            if letters > 0 && c.is_ascii_lowercase() {
                letters -= 1;
                out.push(c.to_ascii_uppercase());
            } else {
                out.push(c);
            }
        }
        rest = &rest[literal_end..];
        if rest.is_empty() {
            return out;
        }
        let end = rest.find("}}").map_or(rest.len(), |e| e + 2);
        out.push_str(&rest[..end]);
        rest = &rest[end..];
    }
}

/// Each logged request that is replayed, with what it says.
struct Entry<'a> {
    row: &'a Recorded,
    target: Target,
}

/// Makes the scenario replaying `rows` (a window of one tenant's log, oldest first).
pub fn generate(
    rows: &[Recorded],
    shaper: &Shaper,
    window: &Window,
) -> Result<Replay, ReplayError> {
    let mut skipped = BTreeMap::new();
    let mut entries = Vec::new();
    for row in rows {
        let target = Target::parse(&row.path);
        let reason = match row.status {
            401 => Some("refused tokens (the replay sends its own)"),
            429 => Some("requests refused by the rate limit"),
            _ if target.is("Bulk") => {
                Some("bulk envelopes (their operations are replayed one by one)")
            }
            _ => None,
        };
        match reason {
            Some(r) => *skipped.entry(r).or_insert(0) += 1,
            None => entries.push(Entry { row, target }),
        }
    }
    if entries.is_empty() {
        return Err(ReplayError::Empty {
            since: crate::events::rfc3339(window.since),
            until: crate::events::rfc3339(window.until),
        });
    }

    let mut values = Values::default();
    values
        .vars
        .insert("password".into(), "Replay-{{run}}-Pw1!".into());
    values
        .vars
        .insert("secret".into(), "replay-secret-{{run}}".into());

    // Resource ids: created in the window (captured by the creating step), or not (a stand-in
    // when a request on it succeeded, else an id no server has).
    let mut created: HashMap<usize, String> = HashMap::new();
    let mut id_vars: HashMap<String, String> = HashMap::new();
    for (i, e) in entries.iter().enumerate() {
        if e.row.method == "POST"
            && e.row.status == 201
            && e.target.id.is_none()
            && RESOURCE_ENDPOINTS.iter().any(|r| e.target.is(r))
            && let Some(id) = &e.row.resource_id
            && !id_vars.contains_key(id)
        {
            let name = if e.target.is("Groups") {
                "group"
            } else {
                "user"
            };
            let var = format!("{name}_{}", values.next(name));
            id_vars.insert(id.clone(), var.clone());
            created.insert(i, var);
        }
    }
    // Ids referred to before or without their creation.
    let mut outside: Vec<(String, &'static str)> = Vec::new();
    let mut succeeded: HashSet<String> = HashSet::new();
    for e in &entries {
        if let Some(id) = &e.target.id {
            if !id_vars.contains_key(id) && !outside.iter().any(|(o, _)| o == id) {
                let kind = if e.target.is("Groups") {
                    "group"
                } else {
                    "user"
                };
                outside.push((id.clone(), kind));
            }
            if (200..300).contains(&e.row.status) {
                succeeded.insert(id.clone());
            }
        }
    }
    let mut stand_ins = Vec::new();
    for (id, kind) in &outside {
        let var = if succeeded.contains(id) {
            let var = format!("{kind}_{}", values.next(kind));
            stand_ins.push(stand_in(kind, &var, &mut values));
            var
        } else {
            let n = values.next("missing");
            let var = format!("missing_{n}");
            values.vars.insert(
                var.clone(),
                format!("{n:08x}-0000-4000-9000-00{{{{run}}}}").into(),
            );
            var
        };
        id_vars.insert(id.clone(), var);
    }
    for (id, var) in &id_vars {
        if let Some((_, p)) = placeholders(&shaper.placeholder(id)).first() {
            values.ids.insert(p.base.to_owned(), var.clone());
        }
    }

    let mut steps: Vec<Value> = stand_ins.clone();
    let mut failed = 0;
    let source = format!(
        "scimitar provisioning log of tenant {}, {} to {}",
        window.tenant_id,
        crate::events::rfc3339(window.since),
        crate::events::rfc3339(window.until)
    );
    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    let mut agents: HashMap<&str, usize> = HashMap::new();
    for (i, e) in entries.iter().enumerate() {
        let row = e.row;
        if let Some(agent) = row.user_agent.as_deref() {
            *agents.entry(agent).or_insert(0) += 1;
        }
        let is_failure = row.status >= 400;
        failed += usize::from(is_failure);
        if is_failure {
            *statuses.entry(row.status).or_insert(0) += 1;
        }
        values.truncated = false;
        let mut path = e.target.endpoint.clone();
        if let Some(id) = &e.target.id {
            path.push_str(&format!("/{{{{{}}}}}", id_vars[id]));
        }
        path.push_str(&e.target.rest);
        for (n, (k, v)) in e.target.query.iter().enumerate() {
            let v = if KEPT_PARAMS.iter().any(|p| k.eq_ignore_ascii_case(p)) {
                v.clone()
            } else if k.eq_ignore_ascii_case("filter") {
                let scrubbed = shaper.scrub(v);
                values
                    .render(&scrubbed, "")
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            } else {
                let p = shaper.placeholder(v);
                values.render(&p, k).as_str().unwrap_or_default().to_owned()
            };
            path.push(if n == 0 { '?' } else { '&' });
            path.push_str(&format!("{k}={v}"));
        }
        let has_body = matches!(row.method.as_str(), "POST" | "PUT" | "PATCH");
        let body = match (&row.shape, has_body) {
            (Some(shape), true) => Some(values.body(shape, "")),
            _ => None,
        };
        let status = match (row.method.as_str(), row.status) {
            // RFC 7644 §3.5.2: either answers a PATCH; which one is no failure to reproduce.
            ("PATCH", 200 | 204) => json!([200, 204]),
            (_, s) => json!(s),
        };
        let outcome = match &row.scim_type {
            Some(t) => format!("{} ({t})", row.status),
            None => row.status.to_string(),
        };
        let mut note = format!(
            "Recorded at {} (log entry {}): answered {outcome}. The step expects the recorded \
             status, so the run reproduces the recorded sequence",
            crate::events::rfc3339(row.at),
            row.id
        );
        if is_failure {
            note.push_str(
                "; this request failed in the recorded traffic: a server that accepts it does \
                 not reproduce the failure",
            );
        }
        if has_body && row.shape.is_none() {
            note.push_str(
                "; the log holds no shape of its body (not JSON, or recorded before shapes \
                 were kept), so it is sent without one",
            );
        }
        if values.truncated {
            note.push_str("; its body was cut at the log's size limit and is replayed as kept");
        }
        note.push('.');
        let mut step = json!({
            "name": format!(
                "{} {}{} — recorded {outcome}",
                row.method,
                e.target.endpoint,
                if e.target.id.is_some() { "/{id}" } else { "" }
            ),
            "note": note,
            "method": row.method,
            "path": path,
        });
        if let Some(body) = body {
            step["body"] = body;
        }
        step["expect"] = json!({"status": status});
        if let Some(var) = created.get(&i) {
            step["expect"]["exists"] = json!(["/id"]);
            step["capture"] = json!({ var.clone(): "/id" });
        }
        steps.push(step);
    }

    let agent = agents
        .into_iter()
        .max_by_key(|(a, n)| (*n, std::cmp::Reverse(*a)))
        .map(|(a, _)| a);
    let idp = crate::diagnosis::Idp::of_user_agent(agent);
    let failures: Vec<String> = statuses.iter().map(|(s, n)| format!("{n}× {s}")).collect();
    let mut description = format!(
        "{} requests {} sent between {} and {}, replayed in order with generated values; {}.",
        entries.len(),
        idp.display(),
        crate::events::rfc3339(window.since),
        crate::events::rfc3339(window.until),
        if failures.is_empty() {
            "none of them failed".to_owned()
        } else {
            format!("failed: {}", failures.join(", "))
        }
    );
    if !stand_ins.is_empty() {
        description.push_str(&format!(
            " {} stand-ins are created first for resources made before the window.",
            stand_ins.len()
        ));
    }
    for (reason, n) in &skipped {
        description.push_str(&format!(" Left out: {n} {reason}."));
    }
    let slug: String = window
        .tenant_id
        .to_ascii_lowercase()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(36)
        .collect();
    let scenario = json!({
        "name": format!("replay-{slug}"),
        "idp": idp.as_str(),
        "title": format!("Replay of {} recorded requests ({failed} failed)", entries.len()),
        "description": description,
        "source": [source],
        "confidence": "recorded",
        "vars": values.vars,
        "steps": steps,
    });
    Scenario::parse(&scenario.to_string()).map_err(ReplayError::Invalid)?;
    Ok(Replay {
        scenario,
        replayed: entries.len(),
        failed,
        stand_ins: stand_ins.len(),
        skipped,
    })
}

/// A step creating a stand-in for a resource made before the window, captured as `var`.
fn stand_in(kind: &str, var: &str, values: &mut Values) -> Value {
    let n = values.next("stand_in");
    let (path, body) = if kind == "group" {
        (
            "/Groups",
            json!({"schemas": [GROUP_SCHEMA], "displayName": format!("stand-in-{n}-{{{{run}}}}")}),
        )
    } else {
        (
            "/Users",
            json!({"schemas": [USER_SCHEMA], "userName": format!("stand-in-{n}.{{{{run}}}}@{{{{domain}}}}")}),
        )
    };
    json!({
        "name": format!("create a stand-in {kind} for one made before the window"),
        "note": "The recorded traffic uses this resource but was not there when it was created; \
                 the replay creates a minimal one first.",
        "method": "POST",
        "path": path,
        "body": body,
        "expect": {"status": 201, "exists": ["/id"]},
        "capture": {var: "/id"},
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::shape::ShapeKey;

    fn row(
        i: i64,
        method: &str,
        path: &str,
        status: u16,
        id: Option<&str>,
        shape: Option<Value>,
    ) -> Recorded {
        Recorded {
            id: format!("{i:013}-x"),
            at: i,
            method: method.into(),
            path: path.into(),
            status,
            resource_id: id.map(str::to_owned),
            scim_type: (status == 400).then(|| "invalidValue".to_owned()),
            user_agent: Some("Microsoft Azure AD SCIM provisioning 1.0".into()),
            shape,
        }
    }

    #[test]
    fn a_window_becomes_steps_with_captured_ids_and_generated_values() {
        let s = ShapeKey::new("k").tenant("t");
        let ann = "0192f2c4-8a1b-7c3d-9e4f-5a6b7c8d9e0f";
        let old = "0192f2c4-0000-7c3d-9e4f-5a6b7c8d9e0f";
        let group = "0192f2c4-1111-7c3d-9e4f-5a6b7c8d9e0f";
        let rows = vec![
            row(
                1,
                "GET",
                "/scim/v2/Users?filter=userName%20eq%20%22Ann%40example.com%22",
                200,
                None,
                None,
            ),
            row(
                2,
                "POST",
                "/scim/v2/Users",
                201,
                Some(ann),
                Some(
                    s.shape(&json!({"userName": "Ann@example.com", "password": "pw",
                                     "emails": [{"value": "ann@example.com"}]})).to_json().expect("a shape"),
                ),
            ),
            row(
                3,
                "POST",
                "/scim/v2/Groups",
                201,
                Some(group),
                Some(s.shape(
                    &json!({"displayName": "Sales", "members": [{"value": ann}, {"value": old}]}),
                ).to_json().expect("a shape")),
            ),
            row(
                4,
                "PATCH",
                &format!("/scim/v2/Groups/{group}"),
                400,
                Some(group),
                Some(
                    s.shape(&json!({"Operations": [{"op": "Remove", "path": "members",
                                                     "value": [{"value": ann}]}]})).to_json().expect("a shape"),
                ),
            ),
            row(
                5,
                "GET",
                &format!("/scim/v2/Users/{old}"),
                200,
                Some(old),
                None,
            ),
            row(6, "DELETE", "/scim/v2/Users/nope", 404, None, None),
            row(7, "POST", "/scim/v2/Bulk", 200, None, None),
            row(8, "GET", "/scim/v2/Users", 401, None, None),
        ];
        let window = Window {
            tenant_id: "T-1".into(),
            since: 0,
            until: 10,
        };
        let replay = generate(&rows, &s, &window).expect("a scenario");
        let text = replay.scenario.to_string();
        for original in ["Ann", "ann@", "Sales", "\"pw\"", ann, old, group] {
            assert!(!text.contains(original), "{original} in {text}");
        }
        assert_eq!(
            (replay.replayed, replay.failed, replay.stand_ins),
            (6, 2, 1)
        );
        assert_eq!(replay.scenario["idp"], "entra");
        let steps = replay.scenario["steps"].as_array().expect("steps");
        // The stand-in for the user made before the window comes first.
        assert_eq!(steps[0]["path"], "/Users");
        assert_eq!(steps[0]["capture"], json!({"user_2": "/id"}));
        assert_eq!(
            steps[1]["path"],
            "/Users?filter=userName eq \"{{email_1}}\""
        );
        assert_eq!(steps[2]["body"]["userName"], "{{email_1}}");
        assert_eq!(steps[2]["body"]["emails"][0]["value"], "{{email_1_v2}}");
        assert_eq!(steps[2]["body"]["password"], "{{password}}");
        assert_eq!(steps[2]["capture"], json!({"user_1": "/id"}));
        assert_eq!(
            steps[3]["body"]["members"],
            json!([{"value": "{{user_1}}"}, {"value": "{{user_2}}"}])
        );
        assert_eq!(steps[4]["path"], "/Groups/{{group_1}}");
        assert_eq!(steps[4]["expect"]["status"], 400);
        assert_eq!(steps[4]["body"]["Operations"][0]["op"], "Remove");
        assert_eq!(steps[5]["path"], "/Users/{{user_2}}");
        assert_eq!(steps[6]["path"], "/Users/{{missing_1}}");
        assert_eq!(steps.len(), 7);
        let vars = &replay.scenario["vars"];
        assert_eq!(vars["email_1"], "email-1.{{run}}@{{domain}}");
        assert_eq!(vars["email_1_v2"], "EMAIL-1.{{run}}@{{domain}}");
        assert_eq!(replay.skipped.values().sum::<usize>(), 2);
    }

    #[test]
    fn other_spellings_differ_in_case_only() {
        let t = "email-1.{{run}}@{{domain}}";
        assert_eq!(
            recase(t, 1),
            "EMAIL-1.{{run}}@{{DOMAIN}}".replace("DOMAIN", "domain")
        );
        assert_eq!(recase(t, 2), "Email-1.{{run}}@{{domain}}");
        assert_eq!(recase(t, 3), "EMail-1.{{run}}@{{domain}}");
    }

    #[test]
    fn nothing_to_replay_is_an_error() {
        let s = ShapeKey::new("k").tenant("t");
        let window = Window {
            tenant_id: "t".into(),
            since: 0,
            until: 10,
        };
        let rows = vec![row(1, "GET", "/scim/v2/Users", 401, None, None)];
        assert!(matches!(
            generate(&rows, &s, &window),
            Err(ReplayError::Empty { .. })
        ));
    }
}
