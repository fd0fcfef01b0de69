//! Request shapes for the provisioning log: a write's body with its structure kept (attribute
//! names, `schemas` URNs, PATCH `op`s and paths, `type`s, booleans, nulls, empty strings) and
//! every value replaced, so `scimitar conformance --from-log` can rebuild the request with
//! generated values without the log holding a tenant's personal data.
//!
//! A string becomes a placeholder `<kind:base:exact>`: `kind` is `email`, `uuid`, `url` or
//! `text`; `base` is a keyed hash of the value with its case folded and `exact` one of the value
//! itself, so the same value reads the same everywhere in a tenant's log (and two userNames
//! that differ only in case are still seen to collide) while the value cannot be read back or
//! guessed without the deployment's key. The key is per deployment and the tenant id is hashed
//! in, so the same address in two tenants gives unrelated placeholders. A password, a secret or
//! a token is never kept in any form, hashed or not: its value is the marker `<password>` or
//! `<secret>`. The shape is bounded (depth, bytes), marking what it left out, so a hostile body
//! cannot bloat the log.
//!
//! A shape is made in the two parts the log stores ([`Shape`]): the skeleton, shared by every
//! request of one structure and stored once per tenant, and the placeholders' hashes, stored
//! with each entry. A whole shape per entry was about a kilobyte for a user: more than SQLite
//! keeps in a row's page, so each logged write cost a page of its own.

use std::hash::Hasher as _;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use siphasher::sip::SipHasher24;
use siphasher::sip128::{Hasher128 as _, SipHasher24 as Sip128};

/// Deepest nesting a shape keeps; deeper values are `<deep>`.
pub const MAX_DEPTH: usize = 12;
/// About how many bytes of keys and values a shape keeps; past them arrays end with
/// `<+N more>` and objects get a `<truncated>` member counting what they left out.
pub const MAX_BYTES: usize = 16 * 1024;
/// Longest attribute name kept as it is; a longer one is a placeholder.
const MAX_KEY: usize = 128;
/// Longest structural string (an `op`, a PATCH `path`, a filter) kept, scrubbed, as it is.
const MAX_STRUCTURE: usize = 512;

/// Hex digits of a placeholder's `base`.
pub const BASE_LEN: usize = 12;
/// Hex digits of a placeholder's `exact`.
pub const EXACT_LEN: usize = 4;

/// The value that stands for a password.
pub const PASSWORD: &str = "<password>";
/// The value that stands for a secret or a token.
pub const SECRET: &str = "<secret>";
/// The value that stands for a number that may be data.
pub const NUMBER: &str = "<number>";
/// The member an object that was cut short gets, with how many members it left out.
pub const TRUNCATED: &str = "<truncated>";
/// The value that stands for what was nested too deep.
pub const DEEP: &str = "<deep>";

/// Members whose string values are structure, kept as they are (lower case).
const KEPT_STRINGS: &[&str] = &[
    "schemas",
    "op",
    "type",
    "attributes",
    "excludedattributes",
    "sortby",
    "sortorder",
    "method",
    "bulkid",
    "resourcetype",
];
/// Members whose string values are filters or attribute paths: kept, their literals replaced.
const SCRUBBED_STRINGS: &[&str] = &["path", "filter"];
/// Members whose numbers are paging, not data (lower case).
const KEPT_NUMBERS: &[&str] = &["startindex", "count", "failonerrors"];

/// The deployment's key for placeholders: SipHash-2-4, a keyed pseudo-random function made
/// for short inputs (a request's values), far cheaper than HMAC-SHA-256 on them. `Debug` does
/// not show it.
#[derive(Clone)]
pub struct ShapeKey([u8; 16]);

impl std::fmt::Debug for ShapeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ShapeKey(***)")
    }
}

impl ShapeKey {
    /// The key of a stored secret (`storage::log::shape_secret`).
    pub fn new(secret: &str) -> Self {
        let digest = Sha256::digest(secret.as_bytes());
        let mut key = [0; 16];
        key.copy_from_slice(&digest[..16]);
        Self(key)
    }

    /// The placeholders of one tenant: keyed by the deployment's key and the tenant's id.
    pub fn tenant(&self, tenant_id: &str) -> Shaper {
        let mut sip = Sip128::new_with_key(&self.0);
        sip.write(tenant_id.as_bytes());
        Shaper(sip.finish128().as_bytes())
    }
}

/// Makes one tenant's shapes and placeholders.
#[derive(Clone)]
pub struct Shaper([u8; 16]);

impl std::fmt::Debug for Shaper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Shaper(***)")
    }
}

/// What a placeholder says of the value it stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// An address with an `@`.
    Email,
    /// A UUID (server ids, Entra's object ids).
    Uuid,
    /// An `http(s)://` URL.
    Url,
    /// Anything else.
    Text,
}

impl Kind {
    /// The kind of a value.
    fn of(value: &str) -> Self {
        if uuid::Uuid::try_parse(value).is_ok() {
            Self::Uuid
        } else if value.starts_with("https://") || value.starts_with("http://") {
            Self::Url
        } else if value.contains('@') && !value.contains(char::is_whitespace) {
            Self::Email
        } else {
            Self::Text
        }
    }

    /// Its name in a placeholder.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Uuid => "uuid",
            Self::Url => "url",
            Self::Text => "text",
        }
    }
}

impl Shaper {
    /// The hashes of a value's placeholder: its case-folded form's `base`, and the value's own
    /// `exact` when it differs from the folded form's (whose `exact` is the start of `base`).
    fn hashes(&self, value: &str) -> (u64, Option<u64>) {
        let hash = |v: &str| {
            let mut sip = SipHasher24::new_with_key(&self.0);
            sip.write(v.as_bytes());
            sip.finish()
        };
        // Most values (addresses, ids) are in lower case already: no folded copy is made.
        let folded = if value.is_ascii() && !value.bytes().any(|b| b.is_ascii_uppercase()) {
            None
        } else {
            Some(value.to_lowercase()).filter(|f| f != value)
        };
        match folded {
            None => (hash(value), None),
            Some(f) => (hash(&f), Some(hash(value))),
        }
    }

    /// The placeholder of a string value.
    pub fn placeholder(&self, value: &str) -> String {
        let (base, exact) = self.hashes(value);
        let (mut base_hex, mut exact_hex) = (String::new(), String::new());
        hex(&mut base_hex, base, BASE_LEN);
        hex(&mut exact_hex, exact.unwrap_or(base), EXACT_LEN);
        let mut out = String::with_capacity(PLACEHOLDER_LEN + 5);
        push_placeholder(&mut out, Kind::of(value).as_str(), &base_hex, &exact_hex);
        out
    }

    /// The shape of a request body (see the module's documentation).
    pub fn shape(&self, body: &Value) -> Shape {
        let mut out = Shaping {
            shaper: self,
            skeleton: String::with_capacity(1024),
            hashes: String::with_capacity(256),
            budget: MAX_BYTES,
        };
        out.value(body, "", 0);
        let mut sip = SipHasher24::new_with_key(&self.0);
        sip.write(out.skeleton.as_bytes());
        let mut skeleton_id = String::with_capacity(16);
        hex(&mut skeleton_id, sip.finish(), 16);
        Shape {
            skeleton_id,
            skeleton: out.skeleton,
            hashes: out.hashes,
        }
    }

    /// A filter or an attribute path with its values replaced by placeholders: each quoted
    /// literal (`userName eq "ann@example.com"`), and an unquoted one after a comparison
    /// operator that is not a number, `true`, `false` or `null` (an invalid filter an IdP sent
    /// is worth replaying too, without its value).
    pub fn scrub(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        scrub_parts(text, |part| match part {
            Part::Kept(t) => out.push_str(t),
            Part::Value(v) => out.push_str(&self.placeholder(v)),
        });
        out
    }
}

/// A request body's shape, in the two parts the log stores. The skeleton is the structure, with
/// a slot `<kind>` where each placeholder's hashes go: the requests of one structure (every user
/// an IdP creates) share it, so it is stored once per tenant. The hashes are the placeholders'
/// own part, in the order of their slots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shape {
    /// The skeleton's key within its tenant: a keyed hash of its text.
    pub skeleton_id: String,
    /// JSON text in which a raw `<` always opens a slot: every `<` of the body's own text, and
    /// of the markers, is written `\u003c`.
    pub skeleton: String,
    /// Each slot's `base`, or `base:exact` when the value is not its own case folding; comma
    /// separated.
    pub hashes: String,
}

impl Shape {
    /// The whole shape, each slot filled with its placeholder; `None` when the parts do not fit
    /// each other.
    pub fn to_json(&self) -> Option<Value> {
        let mut out = String::with_capacity(self.skeleton.len() + 2 * self.hashes.len());
        let mut hashes = self.hashes.split(',').filter(|h| !h.is_empty());
        let mut rest = self.skeleton.as_str();
        while let Some(open) = rest.find('<') {
            out.push_str(&rest[..open]);
            let close = open + rest[open..].find('>')?;
            let (base, exact) = match hashes.next()? {
                h if h.len() == BASE_LEN => (h, h.get(..EXACT_LEN)?),
                h => h.split_once(':')?,
            };
            push_placeholder(&mut out, &rest[open + 1..close], base, exact);
            rest = &rest[close + 1..];
        }
        out.push_str(rest);
        if hashes.next().is_some() {
            return None;
        }
        serde_json::from_str(&out).ok()
    }
}

/// Characters of a placeholder besides its kind: `<`, `:`, the hashes, `:`, `>`.
const PLACEHOLDER_LEN: usize = BASE_LEN + EXACT_LEN + 3;

/// Appends the placeholder `<kind:base:exact>`.
fn push_placeholder(out: &mut String, kind: &str, base: &str, exact: &str) {
    for part in ["<", kind, ":", base, ":", exact, ">"] {
        out.push_str(part);
    }
}

/// Appends the first `digits` hex digits of `n`.
fn hex(out: &mut String, n: u64, digits: usize) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for i in 0..digits.min(16) {
        out.push(char::from(DIGITS[((n >> (60 - 4 * i)) & 0xf) as usize]));
    }
}

/// One shape being written: its skeleton and hashes, and what is left of its size budget
/// (which counts the whole shape's bytes, placeholders included).
struct Shaping<'s> {
    shaper: &'s Shaper,
    skeleton: String,
    hashes: String,
    budget: usize,
}

impl Shaping<'_> {
    fn spend(&mut self, bytes: usize) {
        self.budget = self.budget.saturating_sub(bytes);
    }

    fn value(&mut self, v: &Value, key: &str, depth: usize) {
        if !v.is_string() {
            // What a value costs at least, so an array of a million `true`s is cut too.
            self.spend(8);
        }
        match v {
            Value::Null => self.skeleton.push_str("null"),
            Value::Bool(b) => self.skeleton.push_str(if *b { "true" } else { "false" }),
            Value::Number(n) if KEPT_NUMBERS.iter().any(|k| key.eq_ignore_ascii_case(k)) => {
                self.skeleton.push_str(&n.to_string());
            }
            Value::Number(_) => self.text(NUMBER),
            Value::String(s) => self.string(s, key),
            _ if depth >= MAX_DEPTH => self.text(DEEP),
            Value::Array(items) => {
                self.skeleton.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        self.skeleton.push(',');
                    }
                    if self.budget == 0 {
                        self.text(&format!("<+{} more>", items.len() - i));
                        break;
                    }
                    self.value(item, key, depth + 1);
                }
                self.skeleton.push(']');
            }
            Value::Object(map) => self.object(map, depth),
        }
    }

    fn object(&mut self, map: &Map<String, Value>, depth: usize) {
        // A PATCH operation on a password (`"path": "password"`) carries it in `value`.
        let secret_value = map
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("path"))
            .and_then(|(_, p)| p.as_str())
            .and_then(|p| sensitive(last_attribute(p)));
        self.skeleton.push('{');
        for (i, (k, v)) in map.iter().enumerate() {
            if i > 0 {
                self.skeleton.push(',');
            }
            if self.budget == 0 {
                self.text(TRUNCATED);
                self.skeleton.push(':');
                self.skeleton.push_str(&(map.len() - i).to_string());
                break;
            }
            let name_len = if k.len() > MAX_KEY {
                self.skeleton.push('"');
                let len = self.slot(k);
                self.skeleton.push('"');
                len
            } else {
                self.text(k);
                k.len()
            };
            self.spend(name_len + 4);
            self.skeleton.push(':');
            let attribute = last_attribute(k);
            let marker =
                sensitive(attribute).or(secret_value.filter(|_| k.eq_ignore_ascii_case("value")));
            match marker {
                Some(marker) => self.text(marker),
                None => self.value(v, attribute, depth + 1),
            }
        }
        self.skeleton.push('}');
    }

    fn string(&mut self, s: &str, key: &str) {
        let is = |list: &[&str]| list.iter().any(|k| key.eq_ignore_ascii_case(k));
        let len = if s.trim().is_empty()
            || s.eq_ignore_ascii_case("true")
            || s.eq_ignore_ascii_case("false")
            || (is(KEPT_STRINGS) && s.len() <= MAX_STRUCTURE)
        {
            // Blank strings and booleans sent as strings (Entra's "False") are habits, not data.
            self.text(s);
            s.len()
        } else if is(SCRUBBED_STRINGS) && s.len() <= MAX_STRUCTURE {
            self.skeleton.push('"');
            let mut len = 0;
            scrub_parts(s, |part| match part {
                Part::Kept(t) => {
                    escape(&mut self.skeleton, t);
                    len += t.len();
                }
                Part::Value(v) => len += self.slot(v),
            });
            self.skeleton.push('"');
            len
        } else {
            self.skeleton.push('"');
            let len = self.slot(s);
            self.skeleton.push('"');
            len
        };
        self.spend(len + 2);
    }

    /// A JSON string of text kept as it is (or of a marker).
    fn text(&mut self, s: &str) {
        self.skeleton.push('"');
        escape(&mut self.skeleton, s);
        self.skeleton.push('"');
    }

    /// The slot of `value`'s placeholder, inside a JSON string; returns the placeholder's
    /// length.
    fn slot(&mut self, value: &str) -> usize {
        let kind = Kind::of(value).as_str();
        self.skeleton.push('<');
        self.skeleton.push_str(kind);
        self.skeleton.push('>');
        let (base, exact) = self.shaper.hashes(value);
        if !self.hashes.is_empty() {
            self.hashes.push(',');
        }
        hex(&mut self.hashes, base, BASE_LEN);
        if let Some(exact) = exact {
            self.hashes.push(':');
            hex(&mut self.hashes, exact, EXACT_LEN);
        }
        kind.len() + PLACEHOLDER_LEN
    }
}

/// Appends `s` as the inside of a JSON string, with `<` escaped too (a raw `<` opens a slot).
fn escape(out: &mut String, s: &str) {
    // JSON escapes a control character below U+0020; a byte of a longer character is never one.
    let plain = |b: u8| b >= 0x20 && !matches!(b, b'"' | b'\\' | b'<');
    if s.bytes().all(plain) {
        out.push_str(s);
        return;
    }
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if !c.is_ascii() || plain(c as u8) => out.push(c),
            c => out.push_str(&format!("\\u{:04x}", u32::from(c))),
        }
    }
}

/// A piece of a scrubbed filter or path: text kept as it is, or a value its placeholder
/// replaces.
enum Part<'t> {
    Kept(&'t str),
    Value(&'t str),
}

/// Splits a filter or attribute path into the pieces `Shaper::scrub` keeps and replaces.
fn scrub_parts(text: &str, mut emit: impl FnMut(Part<'_>)) {
    let mut rest = text;
    let mut after_operator = false;
    while let Some(c) = rest.chars().next() {
        if c == '"' {
            let (literal, len) = quoted(rest);
            emit(Part::Kept("\""));
            emit(Part::Value(&literal));
            if rest[..len].ends_with('"') && len > 1 {
                emit(Part::Kept("\""));
            }
            rest = &rest[len..];
            after_operator = false;
        } else if is_word(c) {
            let len = rest.find(|c| !is_word(c)).unwrap_or(rest.len());
            let word = &rest[..len];
            if after_operator && !is_plain_literal(word) {
                emit(Part::Value(word));
            } else {
                emit(Part::Kept(word));
            }
            after_operator = COMPARISONS.iter().any(|o| word.eq_ignore_ascii_case(o));
            rest = &rest[len..];
        } else {
            emit(Part::Kept(&rest[..c.len_utf8()]));
            rest = &rest[c.len_utf8()..];
        }
    }
}

/// The marker for the value of an attribute named `name`, if it must never be kept.
fn sensitive(name: &str) -> Option<&'static str> {
    let name = name.as_bytes();
    let has = |word: &[u8]| {
        name.windows(word.len())
            .any(|w| w.eq_ignore_ascii_case(word))
    };
    let password = b"password";
    if name.len() >= password.len()
        && name[name.len() - password.len()..].eq_ignore_ascii_case(password)
    {
        Some(PASSWORD)
    } else if has(b"secret") || has(b"token") {
        Some(SECRET)
    } else {
        None
    }
}

/// The attribute a member name or PATCH path ends with: `password` of
/// `urn:ietf:params:scim:schemas:core:2.0:User:password`, `value` of `emails[type eq "work"].value`.
fn last_attribute(path: &str) -> &str {
    let path = path.trim();
    if !path.bytes().any(|b| matches!(b, b'[' | b']' | b'.' | b':')) {
        // A plain attribute name, as most members are.
        return path;
    }
    let end = match path.rfind(']') {
        Some(close) => &path[close + 1..],
        None => path.split('[').next().unwrap_or(path),
    };
    let end = end.trim_start_matches('.');
    let name = end.rsplit(['.', ':']).next().unwrap_or(end);
    if name.is_empty() {
        // `members[value eq "x"]`: the attribute before the filter.
        path.split('[')
            .next()
            .and_then(|p| p.rsplit(['.', ':']).next())
            .unwrap_or(path)
    } else {
        name
    }
}

/// SCIM's comparison operators (RFC 7644 §3.4.2.2).
const COMPARISONS: &[&str] = &["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"];

fn is_word(c: char) -> bool {
    !(c.is_whitespace() || matches!(c, '"' | '(' | ')' | '[' | ']'))
}

/// A filter value that says nothing of a person.
fn is_plain_literal(word: &str) -> bool {
    ["true", "false", "null"]
        .iter()
        .any(|w| word.eq_ignore_ascii_case(w))
        || word.parse::<f64>().is_ok_and(f64::is_finite)
}

/// The value of the JSON string literal `s` starts with, and the bytes it takes (to the end of
/// `s` when it is not closed).
fn quoted(s: &str) -> (String, usize) {
    let mut escaped = false;
    for (i, c) in s.char_indices().skip(1) {
        match c {
            '\\' if !escaped => escaped = true,
            '"' if !escaped => {
                let len = i + 1;
                let literal = serde_json::from_str::<String>(&s[..len])
                    .unwrap_or_else(|_| s[1..i].to_owned());
                return (literal, len);
            }
            _ => escaped = false,
        }
    }
    (s[1..].to_owned(), s.len())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn shaper() -> Shaper {
        ShapeKey::new("test key").tenant("tenant-a")
    }

    /// The whole shape of `body`, its two parts joined.
    fn whole(s: &Shaper, body: &Value) -> Value {
        s.shape(body).to_json().expect("the parts fit")
    }

    fn strings(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::String(s) => out.push(s.clone()),
            Value::Array(items) => items.iter().for_each(|i| strings(i, out)),
            Value::Object(map) => map.iter().for_each(|(k, v)| {
                out.push(k.clone());
                strings(v, out);
            }),
            _ => {}
        }
    }

    #[test]
    fn a_user_keeps_its_structure_and_loses_its_values() {
        let s = shaper();
        let body = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "Ann.Lee@example.com",
            "name": {"givenName": "Ann", "familyName": "Lee"},
            "emails": [{"value": "ann.lee@example.com", "type": "work", "primary": true}],
            "active": "False",
            "title": "",
            "externalId": "5e2b6c1e-3f4a-4b5c-9d8e-7f6a5b4c3d2e",
            "password": "hunter2!",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"employeeNumber": 4711},
        });
        let shape = whole(&s, &body);
        let text = shape.to_string();
        for secret in ["Ann", "Lee", "example.com", "hunter2", "4711", "5e2b6c1e"] {
            assert!(!text.contains(secret), "{secret} kept in {text}");
        }
        assert_eq!(
            shape["schemas"],
            json!(["urn:ietf:params:scim:schemas:core:2.0:User"])
        );
        assert_eq!(shape["password"], PASSWORD);
        assert_eq!(shape["active"], "False", "a habit, kept");
        assert_eq!(shape["title"], "", "blank, kept");
        assert_eq!(shape["emails"][0]["type"], "work");
        assert_eq!(shape["emails"][0]["primary"], true);
        assert_eq!(
            shape["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["employeeNumber"],
            NUMBER
        );
        // The userName and the e-mail differ in case only: one base, two exact hashes.
        let parts = |v: &Value| -> Vec<String> {
            let s = v.as_str().expect("string");
            let inner = s.strip_prefix('<').and_then(|s| s.strip_suffix('>'));
            inner
                .expect("a placeholder")
                .split(':')
                .map(str::to_owned)
                .collect()
        };
        let (user, email) = (
            parts(&shape["userName"]),
            parts(&shape["emails"][0]["value"]),
        );
        assert_eq!((user[0].as_str(), email[0].as_str()), ("email", "email"));
        assert_eq!(user[1], email[1], "one base");
        assert_ne!(user[2], email[2], "two exact hashes");
        assert_eq!(parts(&shape["externalId"])[0], "uuid");
        // Stable: the same body gives the same shape; another tenant or key another one.
        assert_eq!(whole(&s, &body), shape);
        let other_tenant = whole(&ShapeKey::new("test key").tenant("tenant-b"), &body);
        assert_ne!(other_tenant["userName"], shape["userName"]);
        let other_key = whole(&ShapeKey::new("another key").tenant("tenant-a"), &body);
        assert_ne!(other_key["userName"], shape["userName"]);
    }

    #[test]
    fn patch_operations_keep_ops_and_paths_and_drop_passwords() {
        let s = shaper();
        let member = "0192f2c4-8a1b-7c3d-9e4f-5a6b7c8d9e0f";
        let body = json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [
                {"op": "Remove", "path": "members", "value": [{"value": member}]},
                {"op": "remove", "path": format!("members[value eq \"{member}\"]")},
                {"op": "replace", "path": "emails[type eq \"work\"].value", "value": "bob@example.com"},
                {"op": "replace", "path": "password", "value": "s3cret!"},
                {"op": "replace", "value": {"urn:ietf:params:scim:schemas:core:2.0:User:password": "x1", "displayName": "Bob"}},
                {"op": "add", "path": "urn:example:app:1.0:User:apiToken", "value": "tok_123"},
            ]
        });
        let shape = whole(&s, &body);
        let text = shape.to_string();
        for secret in [member, "bob@", "s3cret", "x1", "Bob", "tok_123"] {
            assert!(!text.contains(secret), "{secret} kept in {text}");
        }
        let ops = &shape["Operations"];
        assert_eq!(ops[0]["op"], "Remove", "the op is kept as sent");
        assert_eq!(ops[0]["path"], "members");
        let id = s.placeholder(member);
        assert_eq!(ops[0]["value"][0]["value"], id.as_str());
        assert_eq!(ops[1]["path"], format!("members[value eq \"{id}\"]"));
        assert_eq!(
            ops[2]["path"],
            format!("emails[type eq \"{}\"].value", s.placeholder("work"))
        );
        assert_eq!(ops[3]["value"], PASSWORD);
        assert_eq!(
            ops[4]["value"]["urn:ietf:params:scim:schemas:core:2.0:User:password"],
            PASSWORD
        );
        assert_eq!(ops[5]["value"], SECRET);
    }

    #[test]
    fn filters_lose_their_values_even_when_invalid() {
        let s = shaper();
        let ann = s.placeholder("ann@example.com");
        assert_eq!(
            s.scrub(r#"userName eq "ann@example.com" and active eq true"#),
            format!(r#"userName eq "{ann}" and active eq true"#)
        );
        assert_eq!(
            s.scrub("userName eq ann@example.com"),
            format!("userName eq {ann}"),
            "unquoted, invalid, still scrubbed"
        );
        assert_eq!(
            s.scrub(r#"displayName eq "a \"quoted\" name""#),
            format!(
                r#"displayName eq "{}""#,
                s.placeholder(r#"a "quoted" name"#)
            ),
        );
        assert_eq!(
            s.scrub(r#"displayName eq "Ann Lee"#),
            format!(r#"displayName eq "{}"#, s.placeholder("Ann Lee")),
            "unterminated"
        );
        assert_eq!(s.scrub("meta.version gt 3"), "meta.version gt 3");
    }

    #[test]
    fn a_huge_or_deep_body_is_cut_and_marked() {
        let s = shaper();
        let members: Vec<Value> = (0..20_000)
            .map(|i| json!({"value": format!("member-{i}")}))
            .collect();
        let shape = whole(&s, &json!({"displayName": "Big", "members": members}));
        let text = shape.to_string();
        assert!(text.len() < 2 * MAX_BYTES, "{} bytes", text.len());
        let kept = shape["members"].as_array().expect("array");
        let last = kept.last().and_then(Value::as_str).expect("a marker");
        assert!(last.starts_with("<+") && last.ends_with(" more>"), "{last}");
        let mut deep = json!("x");
        for _ in 0..100 {
            deep = json!({"a": [deep]});
        }
        let text = whole(&s, &deep).to_string();
        assert!(text.contains(DEEP), "{text}");
        let flags = whole(&s, &json!({"flags": vec![true; 100_000]}));
        assert!(flags.to_string().len() < 2 * MAX_BYTES);
        let wide: Map<String, Value> = (0..10_000)
            .map(|i| (format!("attribute{i}"), json!(true)))
            .collect();
        let shape = whole(&s, &Value::Object(wide));
        assert!(shape[TRUNCATED].as_u64().is_some_and(|n| n > 0));
        let mut all = Vec::new();
        strings(&shape, &mut all);
        assert!(all.iter().all(|s| s.len() <= MAX_KEY + 40));
    }

    #[test]
    fn requests_of_one_structure_share_a_skeleton_and_differ_in_hashes() {
        let s = shaper();
        let user = |n: u32, active: bool| {
            json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": format!("user{n}@example.com"),
                "name": {"givenName": format!("Given{n}"), "familyName": "Lee"},
                "emails": [{"value": format!("user{n}@example.com"), "type": "work"}],
                "active": active,
            })
        };
        let (a, b) = (s.shape(&user(1, true)), s.shape(&user(2, true)));
        assert_eq!((&a.skeleton_id, &a.skeleton), (&b.skeleton_id, &b.skeleton));
        assert_ne!(a.hashes, b.hashes);
        assert_eq!(a.skeleton_id.len(), 16);
        // Structure the shape keeps, a boolean here, is the skeleton's.
        assert_ne!(s.shape(&user(1, false)).skeleton_id, a.skeleton_id);
        // What an entry stores besides its skeleton's id is a small part of the whole shape.
        let whole = a.to_json().expect("the parts fit").to_string();
        assert!(
            a.hashes.len() * 3 < whole.len(),
            "{} of {}",
            a.hashes,
            whole
        );
        assert!(!a.skeleton.contains("example") && !a.hashes.contains("example"));
    }

    #[test]
    fn a_less_than_sign_in_kept_text_is_no_slot() {
        let s = shaper();
        let body = json!({
            "a<b": {"type": "<work>", "op": "x\"<y>\\"},
            "path": "members[display eq \"<ann>\"]",
            "emails": [{"value": "<ann@example.com>", "type": "\u{1}<"}],
            "n": 7,
            "startIndex": 3,
        });
        let shape = s.shape(&body);
        let slots = shape.skeleton.matches('<').count();
        assert_eq!(
            slots, 2,
            "the filter's literal and the address: {}",
            shape.skeleton
        );
        let whole = shape.to_json().expect("the parts fit");
        assert_eq!(whole["a<b"]["type"], "<work>");
        assert_eq!(whole["a<b"]["op"], "x\"<y>\\");
        assert_eq!(
            whole["path"],
            format!("members[display eq \"{}\"]", s.placeholder("<ann>"))
        );
        assert_eq!(
            whole["emails"][0]["value"],
            s.placeholder("<ann@example.com>")
        );
        assert_eq!(whole["emails"][0]["type"], "\u{1}<");
        assert_eq!(
            (&whole["n"], &whole["startIndex"]),
            (&json!(NUMBER), &json!(3))
        );
        // Parts that do not belong together give no shape rather than a wrong one.
        let short = Shape {
            hashes: shape
                .hashes
                .split(',')
                .next()
                .unwrap_or_default()
                .to_owned(),
            ..shape.clone()
        };
        assert_eq!(short.to_json(), None);
        let long = Shape {
            hashes: format!("{},{}", shape.hashes, "0123456789ab"),
            ..shape
        };
        assert_eq!(long.to_json(), None);
    }
}
