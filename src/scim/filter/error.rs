//! The one error type of filter parsing and checking.

use thiserror::Error;

use super::ast::CompareOp;
use super::{MAX_DEPTH, MAX_INPUT_LEN, MAX_NODES};
use crate::scim::path::PathError;

/// A filter that cannot be parsed or does not fit the schema. Every variant maps to the
/// `invalidFilter` scimType (RFC 7644 §3.12) with status 400.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{kind}{}", .offset.map(|o| format!(" at offset {o}")).unwrap_or_default())]
pub struct FilterError {
    /// Byte offset into the filter text where the problem is; `None` for schema errors, which
    /// are about an attribute rather than a place in the text.
    pub offset: Option<usize>,
    /// What is wrong.
    pub kind: ErrorKind,
}

impl FilterError {
    /// The RFC 7644 §3.12 `scimType` for this error.
    pub fn scim_type(&self) -> &'static str {
        "invalidFilter"
    }

    pub(super) fn at(offset: usize, kind: ErrorKind) -> FilterError {
        FilterError {
            offset: Some(offset),
            kind,
        }
    }

    pub(super) fn schema(kind: ErrorKind) -> FilterError {
        FilterError { offset: None, kind }
    }
}

/// What is wrong with a filter. Messages name the problem in the client's terms; `found`
/// fields are already quoted (or read "the end of the filter").
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ErrorKind {
    // Limits.
    /// The filter text is longer than [`MAX_INPUT_LEN`].
    #[error("the filter is {len} bytes long; at most {MAX_INPUT_LEN} are allowed")]
    TooLong { len: usize },
    /// Parentheses, `not` and value filters nest deeper than [`MAX_DEPTH`].
    #[error("the filter nests parentheses, \"not\" and \"[...]\" more than {MAX_DEPTH} deep")]
    TooDeep,
    /// More than [`MAX_NODES`] expressions and logical operators.
    #[error("the filter has more than {MAX_NODES} expressions and logical operators")]
    TooManyNodes,

    // Syntax.
    /// Nothing but whitespace.
    #[error("the filter is empty")]
    Empty,
    /// An attribute path, `not (` or `(` was expected.
    #[error("expected an attribute name, \"not\" or \"(\", found {found}")]
    ExpectedAttribute { found: String },
    /// The attribute path is malformed (or, from `check`, names nothing in the schema).
    #[error(transparent)]
    Path(#[from] PathError),
    /// An attribute path without an operator after it.
    #[error("expected an operator after \"{after}\"")]
    ExpectedOperator { after: String },
    /// `not` must be followed by a parenthesised filter (RFC 7644 §3.4.2.2: `"not" "(" … ")"`).
    #[error("expected \"(\" after \"not\"")]
    ExpectedParenAfterNot,
    /// A comparison operator without a value after it.
    #[error(
        "expected a value after \"{op}\": a \"double-quoted\" string, a number, true, false or null"
    )]
    ExpectedValue { op: CompareOp },
    /// A string literal without its closing quote.
    #[error("the string starting here has no closing '\"'")]
    UnterminatedString,
    /// A backslash escape JSON does not allow, or a lone UTF-16 surrogate.
    #[error(
        "invalid escape sequence in a string (JSON escapes are \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)"
    )]
    InvalidEscape,
    /// A raw control character inside a string literal (JSON requires it escaped).
    #[error("unescaped control character in a string")]
    ControlCharacter,
    /// A string literal holding U+0000 or a non-character, which no stored value can hold.
    #[error(
        "the string holds {code_point}, which SCIM strings may not contain (U+0000 and Unicode non-characters are refused)"
    )]
    RefusedCharacter { code_point: String },
    /// A number JSON does not allow (leading zeros, trailing letters) or cannot represent.
    #[error("invalid number {text}")]
    InvalidNumber { text: String },
    /// A `(` without a matching `)`.
    #[error("expected \"and\", \"or\" or \")\" to close the \"(\" at offset {open}, found {found}")]
    ExpectedCloseParen { open: usize, found: String },
    /// A `[` without a matching `]`.
    #[error("expected \"and\", \"or\" or \"]\" to close the \"[\" at offset {open}, found {found}")]
    ExpectedCloseBracket { open: usize, found: String },
    /// Something after a complete filter.
    #[error("expected \"and\", \"or\" or the end of the filter, found {found}")]
    ExpectedEnd { found: String },
    /// `emails[type eq "work"].value`: valid as a PATCH path (RFC 7644 §3.5.2), not as a filter.
    #[error("a sub-attribute after \"]\" is allowed in PATCH paths, not in filters")]
    SubAttributeAfterValueFilter,
    /// `a[b[…]]`: the grammar's valFilter holds sub-attribute expressions only.
    #[error("a value filter \"[...]\" cannot contain another value filter")]
    NestedValueFilter,

    // Schema (from `check`).
    /// The operator does not apply to the attribute's type (RFC 7644 §3.4.2.2). `ty` reads
    /// "a boolean", "an integer", ….
    #[error("the \"{op}\" operator cannot be used on \"{attr}\", {ty} attribute")]
    OperatorNotAllowed {
        op: CompareOp,
        attr: String,
        ty: &'static str,
    },
    /// `null` with an operator other than `eq`/`ne`.
    #[error("null can only be compared with \"eq\" or \"ne\", not \"{op}\"")]
    NullOperator { op: CompareOp },
    /// The literal's JSON type does not match the attribute's type.
    #[error("\"{attr}\" is {ty} attribute, so it is compared with {expected}, not {found}")]
    ValueMismatch {
        attr: String,
        ty: &'static str,
        expected: &'static str,
        found: String,
    },
    /// A dateTime attribute compared with a string that is not an RFC 3339 date-time.
    #[error(
        "\"{attr}\" is a dateTime attribute and {found} is not an RFC 3339 date-time such as \"2011-05-13T04:42:34Z\""
    )]
    InvalidDateTime { attr: String, found: String },
    /// A comparison on a complex attribute that has no `value` to compare by default.
    #[error(
        "\"{attr}\" is a complex attribute; compare one of its sub-attributes, such as \"{attr}.{example}\""
    )]
    ComplexComparison { attr: String, example: String },
    /// An attribute whose values are never returned (writeOnly): a filter on it would reveal them.
    #[error("\"{attr}\" is never returned, so it cannot be filtered or sorted on")]
    NeverReturned { attr: String },
    /// `attr[...]` on an attribute that is not complex.
    #[error("\"{attr}\" is not a complex attribute, so it cannot have a value filter \"[...]\"")]
    ValueFilterNotComplex { attr: String },
    /// `attr[...]` where the path inside the brackets is not a bare sub-attribute name.
    #[error(
        "inside \"{attr}[...]\", \"{path}\" must be the bare name of a sub-attribute of \"{attr}\""
    )]
    ValueFilterPath { attr: String, path: String },
    /// `attr.sub[...]`: a value filter applies to a whole attribute.
    #[error(
        "a value filter \"[...]\" applies to an attribute, not to the sub-attribute \"{path}\""
    )]
    ValueFilterOnSubAttribute { path: String },
}
