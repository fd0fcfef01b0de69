//! What a SCIM string may hold. JSON can carry U+0000 and the Unicode non-characters, but
//! PostgreSQL cannot store U+0000 in `text` or `jsonb`, and non-characters are reserved for a
//! process's internal use (Unicode §23.7), so neither belongs in identity data: both are refused
//! wherever a client's string arrives (bodies, filters, ids in the path, cursors).

use std::borrow::Cow;
use std::fmt::Write as _;

use serde_json::Value;

use super::Violation;

/// Longest resource id taken from a URL. Ids this server issues are 36-character UUIDs; the
/// bound leaves room for ids written by other tools while keeping junk away from the database.
pub const MAX_ID_LEN: usize = 128;

/// Whether `c` may appear in a SCIM string: anything but U+0000 and the 66 non-characters
/// (U+FDD0..U+FDEF and the last two code points of every plane).
pub fn is_allowed(c: char) -> bool {
    let cp = u32::from(c);
    cp != 0 && !(0xFDD0..=0xFDEF).contains(&cp) && (cp & 0xFFFE) != 0xFFFE
}

/// The first character of `s` that a SCIM string may not hold.
pub fn first_refused(s: &str) -> Option<char> {
    s.chars().find(|&c| !is_allowed(c))
}

/// How a refused character is named in an error: `U+0000`, never the character itself.
pub fn code_point(c: char) -> String {
    format!("U+{:04X}", u32::from(c))
}

/// Checks every string and every object key in a request body. The error names where the
/// character is (`emails[0].value`) and which one it is.
pub fn check_json(body: &Value) -> Result<(), Violation> {
    let mut path = String::new();
    walk(body, &mut path)
}

fn walk(v: &Value, path: &mut String) -> Result<(), Violation> {
    match v {
        Value::String(s) => refuse(s, path, "the value of"),
        Value::Array(items) => {
            let len = path.len();
            for (i, item) in items.iter().enumerate() {
                let _ = write!(path, "[{i}]");
                walk(item, path)?;
                path.truncate(len);
            }
            Ok(())
        }
        Value::Object(members) => {
            let len = path.len();
            for (key, item) in members {
                if let Some(c) = first_refused(key) {
                    return Err(refused(c, &format!("a key in {}", place(path))));
                }
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
                walk(item, path)?;
                path.truncate(len);
            }
            Ok(())
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => Ok(()),
    }
}

fn place(path: &str) -> &str {
    if path.is_empty() { "the body" } else { path }
}

fn refuse(s: &str, path: &str, what: &str) -> Result<(), Violation> {
    match first_refused(s) {
        Some(c) => Err(refused(c, &format!("{what} {}", place(path)))),
        None => Ok(()),
    }
}

fn refused(c: char, place: &str) -> Violation {
    Violation::InvalidValue(format!(
        "{place} holds {}, which SCIM strings may not contain (U+0000 and Unicode non-characters are refused)",
        code_point(c)
    ))
}

/// Whether `id`, taken from a URL or a cursor, could name a stored resource: not empty, at most
/// [`MAX_ID_LEN`] bytes, no control character and nothing [`is_allowed`] refuses. Anything else
/// names nothing and never reaches the database.
pub fn plausible_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_ID_LEN && id.chars().all(|c| is_allowed(c) && !c.is_control())
}

/// `s` with every refused character replaced by U+FFFD, for text that echoes client input into
/// storage (the provisioning log keeps error details, which quote what the client sent).
pub fn scrub(s: &str) -> Cow<'_, str> {
    if first_refused(s).is_none() {
        return Cow::Borrowed(s);
    }
    Cow::Owned(
        s.chars()
            .map(|c| if is_allowed(c) { c } else { '\u{FFFD}' })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn refuses_nul_and_every_non_character() {
        let refused: Vec<u32> = (0..=0x10FFFF)
            .filter_map(char::from_u32)
            .filter(|&c| !is_allowed(c))
            .map(u32::from)
            .collect();
        // U+0000, 32 in U+FDD0..U+FDEF, and xFFFE/xFFFF in each of the 17 planes.
        assert_eq!(refused.len(), 1 + 32 + 34);
        for cp in [0, 0xFDD0, 0xFDEF, 0xFFFE, 0xFFFF, 0x1FFFE, 0x10FFFF] {
            assert!(refused.contains(&cp), "U+{cp:04X}");
        }
        for c in [
            'a',
            '\u{1}',
            '\u{FDCF}',
            '\u{FDF0}',
            '\u{FFFD}',
            '\u{10000}',
            'é',
        ] {
            assert!(is_allowed(c), "{c:?}");
        }
    }

    #[test]
    fn check_json_names_the_place() {
        let rows: &[(Value, Option<&str>)] = &[
            (
                json!({"userName": "alice", "n": 1, "a": [true, null]}),
                None,
            ),
            (
                json!({"userName": "x\u{0}"}),
                Some("the value of userName holds U+0000"),
            ),
            (
                json!({"emails": [{"value": "a"}, {"value": "b\u{FFFE}"}]}),
                Some("the value of emails[1].value holds U+FFFE"),
            ),
            (
                json!({"name": {"given\u{FDD0}": "x"}}),
                Some("a key in name holds U+FDD0"),
            ),
            (
                json!({"\u{FFFF}": 1}),
                Some("a key in the body holds U+FFFF"),
            ),
            (json!("\u{0}"), Some("the value of the body holds U+0000")),
            (
                json!({"urn:x:y": {"list": [["\u{10FFFF}"]]}}),
                Some("the value of urn:x:y.list[0][0] holds U+10FFFF"),
            ),
        ];
        for (body, want) in rows {
            match (check_json(body), want) {
                (Ok(()), None) => {}
                (Err(Violation::InvalidValue(detail)), Some(want)) => {
                    assert!(detail.starts_with(want), "{body}: {detail}")
                }
                (got, want) => panic!("{body}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn ids_from_urls() {
        for ok in ["2819c223-7f76-453a-919d-413861904646", "bulk-u1", "x"] {
            assert!(plausible_id(ok), "{ok}");
        }
        let long = "a".repeat(MAX_ID_LEN + 1);
        for bad in ["", "id\u{0}", "id\u{FFFF}", "a\nb", "\u{7F}", long.as_str()] {
            assert!(!plausible_id(bad), "{bad:?}");
        }
    }

    #[test]
    fn scrub_replaces_only_refused_characters() {
        assert!(matches!(scrub("plain é"), Cow::Borrowed("plain é")));
        assert_eq!(scrub("a\u{0}b\u{FFFE}"), "a\u{FFFD}b\u{FFFD}");
    }
}
