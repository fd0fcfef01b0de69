//! The SCIM protocol core: pure data in, pure data out (serde_json, nom, thiserror and the
//! PRECIS tables of precis-profiles only; no web or database code), so it can be tested, fuzzed
//! and reused on its own.

pub mod bulk;
pub mod compat;
pub mod dialect;
pub mod filter;
pub mod limits;
pub mod mapping;
pub mod offered;
pub mod patch;
pub mod patch_path;
pub mod path;
pub mod project;
pub mod query;
pub mod resource;
pub mod schema;
pub mod text;
pub mod user_name;
pub mod validate;

/// Folds case for attributes that are not `caseExact` (RFC 7643 §2.1). ASCII folding, because
/// the same fold must be computable in SQL on both backends (SQLite's `lower` and PostgreSQL's
/// `lower(… COLLATE "C")` fold ASCII only), so storage, SQL and in-memory evaluation agree.
pub fn fold_case(s: &str) -> String {
    s.to_ascii_lowercase()
}

/// A protocol violation in a request, with the RFC 7644 §3.12 `scimType` it maps to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Violation {
    /// `invalidValue`: a required value is missing, or a value has the wrong type or shape.
    #[error("{0}")]
    InvalidValue(String),
    /// `invalidSyntax`: the request body is not a valid SCIM message.
    #[error("{0}")]
    InvalidSyntax(String),
    /// `mutability`: the request tried to change an attribute that cannot change.
    #[error("{0}")]
    Mutability(String),
    /// `invalidPath`: a PATCH path is malformed or names no attribute of the resource type.
    #[error("{0}")]
    InvalidPath(String),
    /// `noTarget`: a PATCH operation selects nothing to act on.
    #[error("{0}")]
    NoTarget(String),
    /// `invalidFilter`: the value filter in a PATCH path is malformed or does not fit the schema.
    #[error("{0}")]
    InvalidFilter(String),
    /// The request asks for more work than a configured bound allows (answered 413).
    #[error("{0}")]
    LimitExceeded(String),
    /// The request conflicts with itself or with the resource's state (answered 409 with no
    /// `scimType`): a cycle of bulkId references, say (RFC 7644 §3.7.1).
    #[error("{0}")]
    Conflict(String),
}
