//! The SCIM protocol core: pure data in, pure data out (serde_json, nom and thiserror only; no
//! web or database code), so it can be tested, fuzzed and reused on its own.

pub mod compat;
pub mod resource;
pub mod schema;
pub mod validate;

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
}
