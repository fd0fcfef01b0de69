//! Request bodies (`application/scim+json` or `application/json`) and SCIM JSON responses.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::error::JsonPayloadError;
use actix_web::http::StatusCode;
use actix_web::http::header::{CONTENT_TYPE, ETAG, LOCATION};
use actix_web::{FromRequest, HttpRequest, HttpResponse, HttpResponseBuilder, web};
use serde::Serialize;
use serde_json::Value;

use crate::error::{SCIM_CONTENT_TYPE, ScimError};
use crate::scim::Violation;
use crate::scim::limits::Limits;
use crate::state::AppState;

/// A JSON request body sent as `application/scim+json` or `application/json` (or with no
/// content type, which some IdP clients omit), within the structural bounds of
/// [`Limits::check_body`].
#[derive(Debug)]
pub struct ScimJson(pub Value);

impl FromRequest for ScimJson {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, actix_web::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        read_json(req, payload, Limits::check_body, Self)
    }
}

/// A bulk request body (RFC 7644 §3.7): as [`ScimJson`], with each operation's `data` bounded
/// as the body of its own request would be ([`Limits::check_bulk`]). Its size limit is the
/// route's own JSON configuration.
#[derive(Debug)]
pub struct BulkJson(pub Value);

impl FromRequest for BulkJson {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, actix_web::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        read_json(req, payload, Limits::check_bulk, Self)
    }
}

/// Reads a JSON body of an accepted media type and checks its structure with `check`.
fn read_json<T: 'static>(
    req: &HttpRequest,
    payload: &mut Payload,
    check: fn(&Limits, &Value) -> Result<(), Violation>,
    wrap: fn(Value) -> T,
) -> Pin<Box<dyn Future<Output = Result<T, actix_web::Error>>>> {
    // actix's own content-type check lets any type through once a missing one is allowed.
    let accepted = req.headers().get(CONTENT_TYPE).is_none_or(|v| {
        let essence = v
            .to_str()
            .unwrap_or_default()
            .split(';')
            .next()
            .unwrap_or_default()
            .trim();
        essence.eq_ignore_ascii_case("application/scim+json")
            || essence.eq_ignore_ascii_case("application/json")
    });
    if !accepted {
        return Box::pin(std::future::ready(Err(ScimError::UnsupportedMediaType(
            "send the body as application/scim+json or application/json".into(),
        )
        .into())));
    }
    let limits = req
        .app_data::<web::Data<AppState>>()
        .map(|s| s.settings.limits)
        .unwrap_or_default();
    let body = web::Json::<Value>::from_request(req, payload);
    Box::pin(async move {
        let body = body.await?.into_inner();
        check(&limits, &body).map_err(ScimError::from)?;
        Ok(wrap(body))
    })
}

/// The JSON extractor configuration of the SCIM routes: both media types, a size limit, and
/// every failure answered as a SCIM error.
pub fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limit)
        .content_type_required(false)
        .content_type(|_| true)
        .error_handler(move |err, _req| {
            match err {
                JsonPayloadError::OverflowKnownLength { .. }
                | JsonPayloadError::Overflow { .. } => ScimError::PayloadTooLarge(limit),
                JsonPayloadError::Deserialize(e) => {
                    ScimError::InvalidSyntax(format!("the request body is not valid JSON: {e}"))
                }
                other => {
                    ScimError::InvalidSyntax(format!("the request body could not be read: {other}"))
                }
            }
            .into()
        })
}

/// Query strings that cannot be decoded are answered as SCIM errors too.
pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, _req| {
        ScimError::InvalidValue(format!("the query string could not be read: {err}")).into()
    })
}

/// A SCIM JSON response with the given status.
pub fn scim_json(status: StatusCode, body: &impl Serialize) -> HttpResponse {
    builder(status).body(bytes(body))
}

/// A single-resource response carrying its ETag, and its Location when it was just created.
pub fn resource_response(
    status: StatusCode,
    body: &impl Serialize,
    etag: &str,
    location: Option<&str>,
) -> HttpResponse {
    let mut b = builder(status);
    b.insert_header((ETAG, etag));
    if let Some(l) = location {
        b.insert_header((LOCATION, l));
    }
    b.body(bytes(body))
}

/// A body as bytes: serde_json's writer, not its `Display`, which goes through `fmt`.
fn bytes(body: &impl Serialize) -> Vec<u8> {
    serde_json::to_vec(body).unwrap_or_default()
}

fn builder(status: StatusCode) -> HttpResponseBuilder {
    let mut b = HttpResponse::build(status);
    b.content_type(SCIM_CONTENT_TYPE);
    b
}
