//! `/.well-known/jwks.json`: the public keys Security Event Tokens are signed with
//! (unauthenticated: a receiver fetches them to verify what it is sent).

use actix_web::http::header;
use actix_web::{HttpResponse, web};

use crate::error::ScimError;
use crate::state::AppState;

/// The deployment's JWK Set (RFC 7517 §5).
///
/// Every key a SET may be signed with; each SET names its key by `kid`.
#[utoipa::path(
    get,
    path = "/.well-known/jwks.json",
    tag = "Operations",
    responses(
        (status = 200, description = "The JWK Set.", body = Object, example = json!({"keys": [{
            "kty": "EC", "crv": "P-256", "x": "…", "y": "…", "alg": "ES256", "use": "sig",
            "kid": "…",
        }]})),
        (status = 503, description = "The database is not reachable."),
    ),
)]
pub async fn jwks(state: web::Data<AppState>) -> Result<HttpResponse, ScimError> {
    let sets = state.sets.clone();
    let keys = state.db.run(move |c| sets.keys(c)).await?;
    Ok(HttpResponse::Ok()
        // A key added by a rotation signs within a minute; receivers refetch on an unknown kid.
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .json(keys.jwks()))
}
