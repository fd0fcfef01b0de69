//! SCIM filters (RFC 7644 §3.4.2.2): parse text into a [`Filter`], [`check`] it against a
//! resource type into a [`CheckedFilter`], then evaluate it in memory with [`matches()`] (or
//! compile it to SQL in the storage layer).
//!
//! ```text
//! parse("userName eq \"bjensen\"")? ──check(_, &USER_RESOURCE)?──▶ CheckedFilter ──▶ matches(&f, &json)
//! ```

mod ast;
mod check;
mod datetime;
mod error;
mod eval;
mod parser;

pub use ast::{CompareOp, Filter};
pub use check::{CheckedFilter, CheckedNode, Operand, check, never_returned};
pub use error::FilterError;
pub use eval::{attribute, matches, matches_value, member};
pub use parser::parse;

/// Longest filter text accepted, in bytes. IdP filters are one or two comparisons; this leaves
/// room for an `or` of a few dozen ids while bounding the work per request.
pub const MAX_INPUT_LEN: usize = 4096;

/// Deepest nesting of parentheses, `not (…)` and value filters `[…]`; bounds the parser's
/// recursion.
pub const MAX_DEPTH: usize = 32;

/// Most nodes (comparisons, `pr`, `and`, `or`, `not`, value paths) in one filter; bounds the
/// work of checking, evaluating and the size of the generated SQL.
pub const MAX_NODES: usize = 200;

#[cfg(test)]
mod test_support;
