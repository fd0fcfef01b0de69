//! Query requests: `GET` parameters and `POST /.search` bodies (RFC 7644 §3.4.2, §3.4.3), plus
//! cursor pagination (RFC 9865), parsed into one typed [`SearchRequest`].

use serde_json::{Map, Value};

use super::Violation;
use super::text;

/// The `SearchRequest` message URN.
pub const SEARCH_REQUEST_URN: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";

/// The order of a sorted result (RFC 7644 §3.4.2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortOrder {
    #[default]
    Ascending,
    Descending,
}

/// How the client pages through results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Paging {
    /// `startIndex` (1-based) and `count` (RFC 7644 §3.4.2.4).
    Index { start_index: i64 },
    /// `cursor` (RFC 9865): `None` asks for the first page.
    Cursor(Option<String>),
}

/// A query as the client sent it, with numbers parsed and names not yet resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchRequest {
    pub filter: Option<String>,
    pub sort_by: Option<String>,
    pub sort_order: SortOrder,
    pub paging: Paging,
    /// The requested page size; `None` means the server's default.
    pub count: Option<i64>,
    pub attributes: Vec<String>,
    pub excluded_attributes: Vec<String>,
}

impl Default for SearchRequest {
    fn default() -> Self {
        Self {
            filter: None,
            sort_by: None,
            sort_order: SortOrder::Ascending,
            paging: Paging::Index { start_index: 1 },
            count: None,
            attributes: Vec::new(),
            excluded_attributes: Vec::new(),
        }
    }
}

impl SearchRequest {
    /// Parses query parameters (already percent-decoded), e.g. from `GET /Users?…`. Unknown
    /// parameters are ignored, as a web server ignores unknown query parameters.
    pub fn from_query<'a>(
        params: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, Violation> {
        let mut req = Self::default();
        let mut start_index = None;
        for (key, value) in params {
            match key {
                "filter" => req.filter = Some(value.to_owned()),
                "sortBy" => req.sort_by = Some(value.to_owned()),
                "sortOrder" => req.sort_order = sort_order(value)?,
                "startIndex" => start_index = Some(integer("startIndex", value)?),
                "count" => req.count = Some(integer("count", value)?),
                "cursor" => {
                    req.paging = Paging::Cursor(Some(value.to_owned()).filter(|c| !c.is_empty()))
                }
                "attributes" => req.attributes = names(value),
                "excludedAttributes" => req.excluded_attributes = names(value),
                _ => {}
            }
        }
        req.finish(start_index)
    }

    /// Parses a `POST /.search` body (RFC 7644 §3.4.3).
    pub fn from_body(body: Value) -> Result<Self, Violation> {
        let Value::Object(body) = body else {
            return Err(Violation::InvalidSyntax(
                "a search request must be a JSON object".into(),
            ));
        };
        let mut req = Self::default();
        let mut start_index = None;
        for (key, value) in body {
            let text = |v: &Value| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| Violation::InvalidValue(format!("{key} must be a string")))
            };
            match key.as_str() {
                "schemas" => check_schemas(&value)?,
                "filter" => req.filter = Some(text(&value)?),
                "sortBy" => req.sort_by = Some(text(&value)?),
                "sortOrder" => req.sort_order = sort_order(&text(&value)?)?,
                "startIndex" => start_index = Some(number(&key, &value)?),
                "count" => req.count = Some(number(&key, &value)?),
                "cursor" => {
                    req.paging = Paging::Cursor(Some(text(&value)?).filter(|c| !c.is_empty()))
                }
                "attributes" => req.attributes = string_list(&key, &value)?,
                "excludedAttributes" => req.excluded_attributes = string_list(&key, &value)?,
                other => {
                    return Err(Violation::InvalidValue(format!(
                        "\"{other}\" is not a search request attribute (RFC 7644 §3.4.3)"
                    )));
                }
            }
        }
        req.finish(start_index)
    }

    fn finish(mut self, start_index: Option<i64>) -> Result<Self, Violation> {
        if let Some(start) = start_index {
            if matches!(self.paging, Paging::Cursor(_)) {
                return Err(Violation::InvalidValue(
                    "use either startIndex or cursor to page, not both".into(),
                ));
            }
            // RFC 7644 §3.4.2.4: a startIndex below 1 is read as 1.
            self.paging = Paging::Index {
                start_index: start.max(1),
            };
        }
        Ok(self)
    }
}

fn sort_order(value: &str) -> Result<SortOrder, Violation> {
    if value.eq_ignore_ascii_case("ascending") {
        Ok(SortOrder::Ascending)
    } else if value.eq_ignore_ascii_case("descending") {
        Ok(SortOrder::Descending)
    } else {
        Err(Violation::InvalidValue(format!(
            "sortOrder must be \"ascending\" or \"descending\", not {value:?}"
        )))
    }
}

fn integer(name: &str, value: &str) -> Result<i64, Violation> {
    value
        .trim()
        .parse()
        .map_err(|_| Violation::InvalidValue(format!("{name} must be an integer, not {value:?}")))
}

fn number(name: &str, value: &Value) -> Result<i64, Violation> {
    value
        .as_i64()
        .ok_or_else(|| Violation::InvalidValue(format!("{name} must be an integer, not {value}")))
}

fn names(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn string_list(name: &str, value: &Value) -> Result<Vec<String>, Violation> {
    let wrong = || Violation::InvalidValue(format!("{name} must be an array of attribute names"));
    let Value::Array(items) = value else {
        return Err(wrong());
    };
    items
        .iter()
        .map(|v| v.as_str().map(str::to_owned).ok_or_else(wrong))
        .collect()
}

fn check_schemas(value: &Value) -> Result<(), Violation> {
    let ok = value.as_array().is_some_and(|a| {
        a.iter().any(|s| {
            s.as_str()
                .is_some_and(|s| s.eq_ignore_ascii_case(SEARCH_REQUEST_URN))
        })
    });
    if ok {
        Ok(())
    } else {
        Err(Violation::InvalidValue(format!(
            "schemas must contain {SEARCH_REQUEST_URN}"
        )))
    }
}

/// Encodes a keyset position as an opaque cursor (RFC 9865 leaves the format to the server).
pub fn encode_cursor(position: &Map<String, Value>) -> String {
    hex(Value::Object(position.clone()).to_string().as_bytes())
}

/// Decodes a cursor made by [`encode_cursor`]; `None` when it is not one (a forged cursor
/// holding a NUL or a non-character is not one: its id would reach the database).
pub fn decode_cursor(cursor: &str) -> Option<Map<String, Value>> {
    let bytes = unhex(cursor)?;
    let value: Value = serde_json::from_slice(&bytes).ok()?;
    text::check_json(&value).ok()?;
    match value {
        Value::Object(m) => Some(m),
        _ => None,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.is_ascii() {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn query_parameters() {
        let req = SearchRequest::from_query([
            ("filter", "userName eq \"a\""),
            ("sortBy", "name.familyName"),
            ("sortOrder", "DESCENDING"),
            ("startIndex", "-4"),
            ("count", "10"),
            ("attributes", "userName, emails"),
            ("utm_source", "ignored"),
        ])
        .expect("valid");
        assert_eq!(req.filter.as_deref(), Some("userName eq \"a\""));
        assert_eq!(req.sort_order, SortOrder::Descending);
        assert_eq!(req.paging, Paging::Index { start_index: 1 });
        assert_eq!(req.count, Some(10));
        assert_eq!(req.attributes, ["userName", "emails"]);
        let cursor = SearchRequest::from_query([("cursor", ""), ("count", "2")]).expect("valid");
        assert_eq!(cursor.paging, Paging::Cursor(None));
        for bad in [
            [("count", "ten")],
            [("sortOrder", "up")],
            [("startIndex", "1.5")],
        ] {
            assert!(SearchRequest::from_query(bad).is_err(), "{bad:?}");
        }
        assert!(SearchRequest::from_query([("cursor", "x"), ("startIndex", "2")]).is_err());
    }

    #[test]
    fn search_bodies() {
        // RFC 7644 §3.4.3, Figure 4.
        let req = SearchRequest::from_body(json!({
            "schemas": [SEARCH_REQUEST_URN],
            "attributes": ["displayName", "userName"],
            "filter": "displayName sw \"smith\"",
            "startIndex": 1,
            "count": 10
        }))
        .expect("valid");
        assert_eq!(req.attributes, ["displayName", "userName"]);
        assert_eq!(req.count, Some(10));
        // Clients that leave schemas out are served; a wrong one is an error.
        assert!(SearchRequest::from_body(json!({"filter": "x"})).is_ok());
        assert!(SearchRequest::from_body(json!({"schemas": ["urn:x"], "filter": "x"})).is_err());
        assert!(
            SearchRequest::from_body(json!({"schemas": [SEARCH_REQUEST_URN], "count": "10"}))
                .is_err()
        );
        assert!(
            SearchRequest::from_body(json!({"schemas": [SEARCH_REQUEST_URN], "colour": "red"}))
                .is_err()
        );
        assert!(SearchRequest::from_body(json!([1])).is_err());
    }

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let mut pos = Map::new();
        pos.insert("c".into(), json!(1700000000000_i64));
        pos.insert("i".into(), json!("abc"));
        let c = encode_cursor(&pos);
        assert_eq!(decode_cursor(&c), Some(pos.clone()));
        for bad in ["", "zz", "abc", "5b315d", "é"] {
            assert_eq!(decode_cursor(bad), None, "{bad}");
        }
        // A forged cursor whose id holds a NUL.
        pos.insert("i".into(), json!("a\u{0}"));
        assert_eq!(decode_cursor(&encode_cursor(&pos)), None);
    }
}
