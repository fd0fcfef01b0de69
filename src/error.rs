//! The one error type of the SCIM surface, mapped once to RFC 7644 §3.12 error JSON.
//!
//! Policy: every failure a client can see is a `ScimError`. Client mistakes get a 4xx with a
//! `scimType` and a `detail` a person understands; anything else is `Internal`, logged in full
//! here and answered with a generic detail so no internals (SQL, paths, secrets) leak.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

/// The SCIM error message schema URN.
pub const ERROR_URN: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// The media type of every SCIM response (RFC 7644 §3.1).
pub const SCIM_CONTENT_TYPE: &str = "application/scim+json";

/// A request refused by a rate limit or a full work queue: which limit, and when to retry.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{limit}; retry after {retry_after} second(s)")]
pub struct Throttled {
    /// The limit that was reached, in words a person understands.
    pub limit: String,
    /// Whole seconds until a retry can succeed; at least 1.
    pub retry_after: u64,
}

/// Why an admin portal setup link could not be opened, in words for the person holding it.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LinkRefused {
    #[error("this setup link is not valid: ask your app's administrator for a new one")]
    Unknown,
    #[error("this setup link was already used; setup links open the portal once")]
    Used,
    #[error("this setup link was revoked")]
    Revoked,
    #[error("this setup link has expired")]
    Expired,
}

/// A failure answered as an RFC 7644 §3.12 error response.
#[derive(Debug, thiserror::Error)]
pub enum ScimError {
    /// 400 `invalidFilter`.
    #[error("{0}")]
    InvalidFilter(String),
    /// 400 `invalidPath`.
    #[error("{0}")]
    InvalidPath(String),
    /// 400 `noTarget`.
    #[error("{0}")]
    NoTarget(String),
    /// 400 `invalidValue`.
    #[error("{0}")]
    InvalidValue(String),
    /// 400 `invalidSyntax`.
    #[error("{0}")]
    InvalidSyntax(String),
    /// 400 `mutability`.
    #[error("{0}")]
    Mutability(String),
    /// 409 `uniqueness`.
    #[error("{0}")]
    Uniqueness(String),
    /// 409 without a `scimType`: a conflict that is not about a unique value.
    #[error("{0}")]
    Conflict(String),
    /// 400 `invalidCursor`.
    #[error("{0}")]
    InvalidCursor(String),
    /// 404.
    #[error("{0}")]
    NotFound(String),
    /// 412: the `If-Match` version is not the current one.
    #[error("{0}")]
    PreconditionFailed(String),
    /// 401.
    #[error("{0}")]
    Unauthorized(String),
    /// 405.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// 413: the body is over the configured size.
    #[error("the request body is larger than the limit of {0} bytes")]
    PayloadTooLarge(usize),
    /// A request within the body limit that asks for more than another bound allows.
    #[error("{0}")]
    LimitExceeded(String),
    /// The database is busy or unreachable: the client should retry after a pause.
    #[error("{0}")]
    Unavailable(String),
    /// 503 for a tenant its admin paused: the identity provider should retry much later.
    #[error("{0}")]
    Paused(String),
    /// 415.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 501.
    #[error("{0}")]
    NotImplemented(String),
    /// 429 (RFC 6585 §4) with `Retry-After`; RFC 7644 has no scimType for it.
    #[error("{0}")]
    TooManyRequests(#[from] Throttled),
    /// 500; the cause goes to the log, never to the client.
    #[error("the server could not complete the request; the details are in its log")]
    Internal(#[from] anyhow::Error),
}

impl ScimError {
    /// The RFC 7644 §3.12 `scimType` keyword, for the errors that have one.
    pub fn scim_type(&self) -> Option<&'static str> {
        match self {
            Self::InvalidFilter(_) => Some("invalidFilter"),
            Self::InvalidPath(_) => Some("invalidPath"),
            Self::NoTarget(_) => Some("noTarget"),
            Self::InvalidValue(_) => Some("invalidValue"),
            Self::InvalidSyntax(_) => Some("invalidSyntax"),
            Self::Mutability(_) => Some("mutability"),
            Self::Uniqueness(_) => Some("uniqueness"),
            Self::InvalidCursor(_) => Some("invalidCursor"),
            Self::NotFound(_)
            | Self::Conflict(_)
            | Self::PreconditionFailed(_)
            | Self::Unauthorized(_)
            | Self::MethodNotAllowed(_)
            | Self::PayloadTooLarge(_)
            | Self::LimitExceeded(_)
            | Self::Unavailable(_)
            | Self::Paused(_)
            | Self::UnsupportedMediaType(_)
            | Self::NotImplemented(_)
            | Self::TooManyRequests(_)
            | Self::Internal(_) => None,
        }
    }

    /// The RFC 7644 §3.12 error body; an internal error is logged in full here, once.
    pub fn body(&self) -> serde_json::Value {
        if let Self::Internal(e) = self {
            tracing::error!(error = ?e, "internal error");
        }
        let mut body = json!({
            "schemas": [ERROR_URN],
            "status": self.status_code().as_u16().to_string(),
            "detail": self.to_string(),
        });
        if let Some(t) = self.scim_type() {
            body["scimType"] = t.into();
        }
        body
    }

    /// Shorthand for an internal error from anything displayable.
    pub fn internal(e: impl Into<anyhow::Error>) -> Self {
        Self::Internal(e.into())
    }
}

impl ResponseError for ScimError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::InvalidFilter(_)
            | Self::InvalidPath(_)
            | Self::NoTarget(_)
            | Self::InvalidValue(_)
            | Self::InvalidSyntax(_)
            | Self::Mutability(_)
            | Self::InvalidCursor(_) => StatusCode::BAD_REQUEST,
            Self::Uniqueness(_) | Self::Conflict(_) => StatusCode::CONFLICT,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::PayloadTooLarge(_) | Self::LimitExceeded(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unavailable(_) | Self::Paused(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
            Self::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let body = self.body();
        let mut res = HttpResponse::build(status);
        res.content_type(SCIM_CONTENT_TYPE);
        let wait = match self {
            Self::Unavailable(_) => Some(RETRY_AFTER_SECONDS),
            Self::Paused(_) => Some(PAUSED_RETRY_AFTER_SECONDS),
            Self::TooManyRequests(t) => Some(t.retry_after),
            _ => None,
        };
        let challenge = matches!(self, Self::Unauthorized(_)).then_some("Bearer realm=\"scim\"");
        refusal_headers(&mut res, challenge, wait);
        res.body(body.to_string())
    }
}

/// The headers of a refusal, for the SCIM and the admin API alike: the scheme to authenticate
/// with (RFC 6750 §3) and, for 429 and 503, how many seconds to wait before a retry.
fn refusal_headers(
    res: &mut actix_web::HttpResponseBuilder,
    challenge: Option<&'static str>,
    wait: Option<u64>,
) {
    if let Some(c) = challenge {
        res.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static(c)));
    }
    if let Some(seconds) = wait {
        res.insert_header((header::RETRY_AFTER, HeaderValue::from(seconds)));
    }
}

/// What a 503 asks the client to wait before it retries: a busy database clears in moments,
/// and an IdP's provisioning job retries a failed operation on a later pass in any case.
const RETRY_AFTER_SECONDS: u64 = 2;

/// What a 503 of a paused tenant asks the client to wait: an incident takes minutes, and the
/// IdPs' provisioning jobs retry on their next pass in any case.
const PAUSED_RETRY_AFTER_SECONDS: u64 = 300;

/// The detail of a 503 for a busy or unreachable database.
pub(crate) const BUSY: &str =
    "the database is busy or unreachable right now; nothing was changed, retry in a few seconds";

impl From<crate::scim::Violation> for ScimError {
    fn from(v: crate::scim::Violation) -> Self {
        use crate::scim::Violation;
        match v {
            Violation::InvalidValue(d) => Self::InvalidValue(d),
            Violation::InvalidSyntax(d) => Self::InvalidSyntax(d),
            Violation::Mutability(d) => Self::Mutability(d),
            Violation::InvalidPath(d) => Self::InvalidPath(d),
            Violation::NoTarget(d) => Self::NoTarget(d),
            Violation::InvalidFilter(d) => Self::InvalidFilter(d),
            Violation::LimitExceeded(d) => Self::LimitExceeded(d),
            Violation::Conflict(d) => Self::Conflict(d),
        }
    }
}

impl From<crate::scim::filter::FilterError> for ScimError {
    fn from(e: crate::scim::filter::FilterError) -> Self {
        Self::InvalidFilter(e.to_string())
    }
}

/// Why an admin portal page cannot be shown; the portal renders each as a page
/// (`handlers::portal`).
#[derive(Debug, thiserror::Error)]
pub enum PortalError {
    #[error(
        "your portal session has ended or was signed out; open the portal again with a new setup link from your app"
    )]
    SignedOut,
    #[error("{0}")]
    Refused(LinkRefused),
    #[error(
        "this form was not sent from the page the portal gave you; reload the page and try again"
    )]
    Forged,
    #[error("{0}")]
    BadForm(String),
    #[error("{0}")]
    NotFound(String),
    #[error(transparent)]
    Scim(#[from] ScimError),
}

impl PortalError {
    /// The heading of the page that explains the failure.
    pub fn title(&self) -> &'static str {
        match self {
            Self::SignedOut => "Your session has ended",
            Self::Refused(_) => "This link cannot be used",
            Self::Forged => "The form has expired",
            Self::BadForm(_) => "The form could not be read",
            Self::NotFound(_) => "Not found",
            Self::Scim(ScimError::TooManyRequests(_)) => "Too many requests",
            Self::Scim(_) => "Something went wrong",
        }
    }
}

/// The status and headers of a portal failure; the portal's error-page middleware gives it the
/// page in the host app's look.
impl ResponseError for PortalError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::SignedOut => StatusCode::UNAUTHORIZED,
            Self::Refused(LinkRefused::Unknown) | Self::BadForm(_) => StatusCode::BAD_REQUEST,
            Self::Refused(_) => StatusCode::GONE,
            Self::Forged => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Scim(s) => s.status_code(),
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let Self::Scim(ScimError::Internal(e)) = self {
            tracing::error!(error = ?e, "internal error in the portal");
        }
        let mut res = HttpResponse::build(self.status_code());
        let wait = match self {
            Self::Scim(ScimError::TooManyRequests(t)) => Some(t.retry_after),
            Self::Scim(ScimError::Unavailable(_)) => Some(RETRY_AFTER_SECONDS),
            _ => None,
        };
        refusal_headers(&mut res, None, wait);
        res.body(self.to_string())
    }
}

/// A failure of the admin API, answered as `{"error": code, "message": detail}`.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    TooManyRequests(#[from] Throttled),
    #[error("the server could not complete the request; the details are in its log")]
    Internal(#[from] anyhow::Error),
}

impl AdminError {
    fn code(&self) -> &'static str {
        match self {
            Self::Unauthorized(_) => "unauthorized",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound(_) => "not_found",
            Self::BadRequest(_) => "bad_request",
            Self::Conflict(_) => "conflict",
            Self::TooLarge(_) => "too_large",
            Self::Unavailable(_) => "unavailable",
            Self::TooManyRequests(_) => "too_many_requests",
            Self::Internal(_) => "internal",
        }
    }
}

impl From<ScimError> for AdminError {
    fn from(e: ScimError) -> Self {
        match e {
            ScimError::NotFound(d) => Self::NotFound(d),
            ScimError::Uniqueness(d) | ScimError::Conflict(d) => Self::Conflict(d),
            ScimError::Unauthorized(d) => Self::Unauthorized(d),
            ScimError::TooManyRequests(t) => Self::TooManyRequests(t),
            ScimError::Internal(e) => Self::Internal(e),
            ScimError::PayloadTooLarge(_) | ScimError::LimitExceeded(_) => {
                Self::TooLarge(e.to_string())
            }
            ScimError::Unavailable(d) => Self::Unavailable(d),
            other => Self::BadRequest(other.to_string()),
        }
    }
}

impl ResponseError for AdminError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let Self::Internal(e) = self {
            tracing::error!(error = ?e, "internal error");
        }
        let mut res = HttpResponse::build(self.status_code());
        let wait = match self {
            Self::Unavailable(_) => Some(RETRY_AFTER_SECONDS),
            Self::TooManyRequests(t) => Some(t.retry_after),
            _ => None,
        };
        let challenge = matches!(self, Self::Unauthorized(_)).then_some("Bearer realm=\"admin\"");
        refusal_headers(&mut res, challenge, wait);
        res.json(json!({"error": self.code(), "message": self.to_string()}))
    }
}
