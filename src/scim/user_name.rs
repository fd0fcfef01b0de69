//! The comparison key of `userName`: what makes "Alice", "alice", "ＡＬＩＣＥ" and an NFD
//! "Ame\u{301}lie" one user. The key is stored in its own indexed column, so uniqueness, SQL
//! filters and in-memory filters all compare the same thing; the stored `userName` keeps what
//! the IdP sent.
//!
//! The key follows RFC 8265 §3.3's UsernameCaseMapped profile: width mapping (fullwidth and
//! halfwidth forms to their decompositions), case mapping (Unicode toLowerCase, so "ß" stays
//! "ß" and "ẞ" becomes "ß") and NFC, using the profile's own rules from `precis-profiles`.
//! The profile also refuses strings (spaces, symbols, bidi mixes, the empty string), but a
//! userName it refuses is still a legal SCIM string and must be storable: the key applies the
//! same three mappings without the refusals, so it is total, and wherever the profile accepts
//! a string the key is exactly the profile's enforced form (see the tests).

use std::borrow::Cow;

use precis_core::profile::Rules;
use precis_profiles::UsernameCaseMapped;

use super::path::{Owner, Resolved};
use super::schema::USER;

/// The comparison key of a userName.
pub fn key(user_name: &str) -> String {
    let profile = UsernameCaseMapped::new();
    // The three rules only fail on a width mapping to a code point that does not exist, which
    // the Unicode tables never hold; keep the input unmapped at that step rather than fail.
    let wide = profile
        .width_mapping_rule(user_name)
        .unwrap_or(Cow::Borrowed(user_name));
    let lower = match profile.case_mapping_rule(wide.as_ref()) {
        Ok(s) => s.into_owned(),
        Err(_) => wide.into_owned(),
    };
    match profile.normalization_rule(lower.as_str()) {
        Ok(s) => s.into_owned(),
        Err(_) => lower,
    }
}

/// Marks the key of a user stored before keys existed whose name shares its key with another
/// user's: U+FFFF is refused in input, so no userName's key can contain it.
const SHARED: char = '\u{FFFF}';

/// The key given to user `id` when `key` is already another user's (see [`SHARED`]).
pub fn shared_key(key: &str, id: &str) -> String {
    format!("{key}{SHARED}{id}")
}

/// The key a user's next version stores: a user holding a [`shared_key`] keeps it while its
/// userName still maps to the same key, so the IdP can still update or deactivate it; a rename
/// to anything else takes the new name's key.
pub fn next_key(old: Option<&str>, new: String) -> String {
    match old {
        Some(old)
            if old
                .strip_prefix(new.as_str())
                .is_some_and(|rest| rest.starts_with(SHARED)) =>
        {
            old.to_owned()
        }
        _ => new,
    }
}

/// Whether a filter path is the User's `userName`, whose equality compares [`key`]s.
pub fn is_user_name(attr: &Resolved) -> bool {
    matches!(attr.owner, Owner::Core(s) if s.id == USER.id)
        && attr.attr.name == "userName"
        && attr.sub.is_none()
}

#[cfg(test)]
mod tests {
    use precis_core::profile::PrecisFastInvocation;

    use super::*;

    /// (why, one userName, another, one user?)
    const ROWS: &[(&str, &str, &str, bool)] = &[
        ("ASCII case", "Alice", "alice", true),
        ("ASCII case", "ALICE", "alice", true),
        ("NFD and NFC", "Ame\u{301}lie", "Amélie", true),
        ("NFD, other case", "AME\u{301}LIE", "amélie", true),
        ("fullwidth", "ａｌｉｃｅ", "alice", true),
        ("fullwidth capitals", "ＡＬＩＣＥ", "Alice", true),
        ("halfwidth katakana", "ｶ", "カ", true),
        ("e-mail", "BJensen@Example.COM", "bjensen@example.com", true),
        // toLowerCase, not case folding: RFC 8265 §3.3.2 rule 2.
        ("sharp s stays", "straße", "strasse", false),
        ("capital sharp s", "STRAẞE", "straße", true),
        ("Greek", "ΣΑΣ", "σασ", true),
        ("Cyrillic", "ЖЕНЯ", "женя", true),
        // Strings the profile refuses still get a key.
        ("space (refused)", "Alice Smith", "alice smith", true),
        ("fullwidth space", "alice\u{3000}smith", "alice smith", true),
        ("different names", "alice", "alicia", false),
        ("compatibility is not width", "ﬁle", "file", false),
        ("superscript is not width", "x²", "x2", false),
    ];

    #[test]
    fn rows() {
        for (why, a, b, same) in ROWS {
            assert_eq!(key(a) == key(b), *same, "{why}: {a:?} vs {b:?}");
        }
    }

    #[test]
    fn is_the_profile_where_the_profile_accepts() {
        let samples = [
            "Alice",
            "ＡＬＩＣＥ",
            "Ame\u{301}lie",
            "STRAẞE",
            "BJensen@Example.COM",
            "ΣΑΣ",
            "ｶﾀｶﾅ",
            "user_01.x-y",
        ];
        for s in samples {
            let enforced = UsernameCaseMapped::enforce(s).expect("the profile accepts it");
            assert_eq!(key(s), enforced, "{s:?}");
        }
    }

    #[test]
    fn a_shared_key_is_kept_until_a_rename() {
        let shared = shared_key("dave", "legacy-2");
        assert_ne!(shared, key("dave"));
        assert_eq!(next_key(Some(&shared), key("ＤＡＶＥ")), shared);
        assert_eq!(next_key(Some(&shared), key("dave2")), "dave2");
        assert_eq!(next_key(Some("dave"), key("DAVE")), "dave");
        assert_eq!(next_key(None, key("Dave")), "dave");
        // A plain key that merely starts with the new one is not a shared key.
        assert_eq!(next_key(Some("daveX"), key("dave")), "dave");
    }

    #[test]
    fn is_total_and_idempotent() {
        for s in [
            "",
            " ",
            "Alice Smith",
            "😀",
            "\u{202E}abc",
            "a\u{301}\u{301}",
            "ＡＢ",
        ] {
            let k = key(s);
            assert_eq!(key(&k), k, "{s:?}");
        }
        assert_eq!(key(""), "");
        assert_eq!(key("Alice Smith"), "alice smith");
    }
}
