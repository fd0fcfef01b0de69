//! The outbox's events as Security Event Tokens (RFC 8417) in the SCIM profile of RFC 9967, so a
//! host that speaks the Shared Signals framework can consume them: pushed to a tenant's webhook
//! (RFC 8935) or polled by the tenant's receiver (RFC 8936). Each SET is signed (ES256) with
//! the deployment's key, which every instance on the database shares and `/.well-known/jwks.json`
//! publishes.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use jsonwebtoken::jwk::{Jwk, PublicKeyUse, ThumbprintHash};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use p256::pkcs8::EncodePrivateKey;
use serde_json::{Value, json};

use super::EventType;
use crate::error::ScimError;
use crate::storage::events::EventRow;
use crate::storage::secevents::{self as store, SigningKeyRow};
use crate::storage::{AnyConnection, now_millis};

/// The media type of a SET in an HTTP body (RFC 8417 §7.2, RFC 8935 §2).
pub const MEDIA_TYPE: &str = "application/secevent+jwt";

/// Where the deployment's JWK Set is served, at the root of each listener.
pub const JWKS_PATH: &str = "/.well-known/jwks.json";

/// The `typ` header of a SET (RFC 8417 §2.3).
const TYP: &str = "secevent+jwt";

/// The name of the tenant poll receiver's position among the event cursors. Host handler names
/// cannot hold a colon, so it is never one of theirs.
pub const POLL_CONSUMER: &str = "set:poll";

/// How long an instance signs with the keys it read before it reads them again: a key added
/// by a rotation is used everywhere within this time.
const KEYS_FRESH_FOR: Duration = Duration::from_secs(60);

/// The SCIM event URIs this service issues (RFC 9967 §2.4, registered in §7.4).
pub mod uri {
    /// A resource was created; `data` is its representation (§2.4.1).
    pub const CREATE_FULL: &str = "urn:ietf:params:scim:event:prov:create:full";
    /// A resource was replaced; `data` is its new representation, a PUT body (§2.4.3).
    pub const PUT_FULL: &str = "urn:ietf:params:scim:event:prov:put:full";
    /// A resource was patched; `data` is the PATCH request (§2.4.2).
    pub const PATCH_FULL: &str = "urn:ietf:params:scim:event:prov:patch:full";
    /// A resource was deleted (§2.4.4).
    pub const DELETE: &str = "urn:ietf:params:scim:event:prov:delete";
    /// A user became active (§2.4.5).
    pub const ACTIVATE: &str = "urn:ietf:params:scim:event:prov:activate";
    /// A user was deactivated: revoke its sessions (§2.4.6).
    pub const DEACTIVATE: &str = "urn:ietf:params:scim:event:prov:deactivate";
    /// Every URI above, for `ServiceProviderConfig.securityEvents.eventUris` (§4).
    pub const ALL: [&str; 6] = [
        CREATE_FULL,
        PUT_FULL,
        PATCH_FULL,
        DELETE,
        ACTIVATE,
        DEACTIVATE,
    ];
}

/// The SCIM event of an outbox event: the subject's `sub_id` (RFC 9967 §2.1) and the `events`
/// claim. `None` for an event SCIM has no URI for (`user.roles_changed`,
/// `tenant.secret_rotated`, `connection.finding`): a SET stream passes over it.
pub fn scim_event(row: &EventRow) -> Option<(Value, Value)> {
    use EventType as E;
    let kind = EventType::named(&row.event_type)?;
    let (key, endpoint) = match kind {
        E::UserCreated
        | E::UserUpdated
        | E::UserDeactivated
        | E::UserReactivated
        | E::UserDeleted => ("user", "/Users"),
        E::GroupCreated
        | E::GroupUpdated
        | E::GroupDeleted
        | E::GroupMemberAdded
        | E::GroupMemberRemoved => ("group", "/Groups"),
        E::UserRolesChanged | E::TenantSecretRotated | E::ConnectionFinding => return None,
    };
    let data: Value = serde_json::from_str(&row.data).ok()?;
    let resource = data.get(key)?;
    let id = resource.get("id")?.as_str()?;
    let mut sub_id = json!({"format": "scim", "uri": format!("{endpoint}/{id}")});
    if let Some(external) = resource.get("externalId").filter(|v| v.is_string()) {
        sub_id["externalId"] = external.clone();
    }
    let version = || resource.pointer("/meta/version").cloned();
    let full = |uri: &str| {
        let mut payload = json!({"data": resource});
        if let Some(v) = version() {
            payload["version"] = v;
        }
        json!({uri: payload})
    };
    let members = || {
        data.get("members")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let patch = |operations: Vec<Value>| {
        json!({uri::PATCH_FULL: {"data": {
            "schemas": [crate::scim::patch::PATCH_OP_URN],
            "Operations": operations,
        }}})
    };
    let events = match kind {
        E::UserCreated | E::GroupCreated => full(uri::CREATE_FULL),
        E::UserUpdated | E::GroupUpdated => full(uri::PUT_FULL),
        E::UserDeactivated => json!({uri::DEACTIVATE: {}}),
        E::UserReactivated => json!({uri::ACTIVATE: {}}),
        E::UserDeleted | E::GroupDeleted => json!({uri::DELETE: {}}),
        E::GroupMemberAdded => {
            let added: Vec<Value> = members().into_iter().map(|m| json!({"value": m})).collect();
            patch(vec![
                json!({"op": "add", "path": "members", "value": added}),
            ])
        }
        E::GroupMemberRemoved => patch(
            members()
                .iter()
                .filter_map(Value::as_str)
                .map(|m| {
                    let filter = serde_json::to_string(m).unwrap_or_default();
                    json!({"op": "remove", "path": format!("members[value eq {filter}]")})
                })
                .collect(),
        ),
        E::UserRolesChanged | E::TenantSecretRotated | E::ConnectionFinding => return None,
    };
    Some((sub_id, events))
}

/// The claims of an event's SET (RFC 8417 §2.2, RFC 9967 §2): `jti` is the event's id, the
/// same each time the event is sent, so receivers de-duplicate by it; `toe` is when the change
/// was made. `None` when the event has no SCIM event URI.
pub fn claims(row: &EventRow, issuer: &str, audience: &str, issued_at: i64) -> Option<Value> {
    let (sub_id, events) = scim_event(row)?;
    Some(json!({
        "iss": issuer,
        "iat": issued_at,
        "jti": row.id,
        "aud": audience,
        // Each outbox event is one change of one resource, so its id names the transaction.
        "txn": row.id,
        "toe": row.occurred_at / 1000,
        "sub_id": sub_id,
        "events": events,
    }))
}

/// The keys as one instance read them: the newest signs, all are published.
pub struct PublishedKeys {
    kid: String,
    signer: EncodingKey,
    jwks: Value,
}

impl PublishedKeys {
    /// The JWK Set of every published key (RFC 7517 §5).
    pub fn jwks(&self) -> &Value {
        &self.jwks
    }

    /// A compact JWS of `claims`, typed `secevent+jwt`, naming the signing key.
    pub fn sign(&self, claims: &Value) -> Result<String, ScimError> {
        let mut header = Header::new(Algorithm::ES256);
        header.typ = Some(TYP.into());
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.signer).map_err(ScimError::internal)
    }
}

/// Issues a tenant's events as SETs: the issuer, the audience of each tenant's stream, and the
/// deployment's signing keys, read from the database (and made there the first time).
pub struct Transmitter {
    /// The service's public origin, `iss`.
    issuer: String,
    /// Where the admin API is (`…/admin/v1`): a tenant's stream is named after its poll
    /// endpoint there.
    admin_base: String,
    keys: Mutex<Option<(Instant, Arc<PublishedKeys>)>>,
}

impl Transmitter {
    /// A transmitter issuing as `issuer`, naming streams under `admin_base`.
    pub fn new(issuer: String, admin_base: String) -> Self {
        Self {
            issuer,
            admin_base,
            keys: Mutex::default(),
        }
    }

    /// The `iss` of every SET.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The `aud` of a tenant's SETs: its stream, named by its poll endpoint (as RFC 9967's
    /// examples name a feed), the same whether the SETs are pushed or polled.
    pub fn audience(&self, tenant_id: &str) -> String {
        format!("{}/tenants/{tenant_id}/sets", self.admin_base)
    }

    /// The event's SET, signed; `None` when the event has no SCIM event URI.
    pub fn token(&self, keys: &PublishedKeys, row: &EventRow) -> Result<Option<String>, ScimError> {
        let audience = self.audience(&row.tenant_id);
        claims(row, &self.issuer, &audience, now_millis() / 1000)
            .map(|c| keys.sign(&c))
            .transpose()
    }

    /// The published keys, as read within the last minute; the first call on an empty
    /// database makes the deployment's key.
    pub fn keys(&self, conn: &mut AnyConnection) -> Result<Arc<PublishedKeys>, ScimError> {
        {
            let cached = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some((read, keys)) = cached.as_ref()
                && read.elapsed() < KEYS_FRESH_FOR
            {
                return Ok(keys.clone());
            }
        }
        let mut rows = store::published_keys(conn, now_millis())?;
        if rows.is_empty() {
            store::insert_key(conn, &new_key()?)?;
            rows = store::published_keys(conn, now_millis())?;
        }
        let keys = Arc::new(published(&rows)?);
        *self.keys.lock().unwrap_or_else(PoisonError::into_inner) =
            Some((Instant::now(), keys.clone()));
        Ok(keys)
    }
}

/// The keys of these rows (newest first), ready to sign and publish.
fn published(rows: &[SigningKeyRow]) -> Result<PublishedKeys, ScimError> {
    let mut jwks = Vec::with_capacity(rows.len());
    let mut signer = None;
    for row in rows {
        let der = B64.decode(&row.private_key).map_err(ScimError::internal)?;
        let key = EncodingKey::from_ec_der(&der);
        let mut jwk =
            Jwk::from_encoding_key(&key, Algorithm::ES256).map_err(ScimError::internal)?;
        jwk.common.key_id = Some(row.kid.clone());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        jwks.push(jwk);
        signer.get_or_insert((row.kid.clone(), key));
    }
    let (kid, signer) = signer
        .ok_or_else(|| ScimError::internal(anyhow::anyhow!("no signing key is published")))?;
    Ok(PublishedKeys {
        kid,
        signer,
        jwks: json!({"keys": jwks}),
    })
}

/// A fresh P-256 key for ES256, named by its RFC 7638 thumbprint.
fn new_key() -> Result<SigningKeyRow, ScimError> {
    // A random 32-byte string is a valid private scalar unless it is zero or not below the
    // group order, which happens with probability about 2^-32: another draw settles it.
    let secret = std::iter::repeat_with(rand::random::<[u8; 32]>)
        .take(8)
        .find_map(|bytes| p256::SecretKey::from_slice(&bytes).ok())
        .ok_or_else(|| ScimError::internal(anyhow::anyhow!("could not make a P-256 key")))?;
    let der = secret.to_pkcs8_der().map_err(ScimError::internal)?;
    let key = EncodingKey::from_ec_der(der.as_bytes());
    let jwk = Jwk::from_encoding_key(&key, Algorithm::ES256).map_err(ScimError::internal)?;
    Ok(SigningKeyRow {
        kid: jwk.thumbprint(ThumbprintHash::SHA256),
        algorithm: "ES256".into(),
        private_key: B64.encode(der.as_bytes()),
        created_at: now_millis(),
        retired_at: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Map;

    fn uris(events: &Map<String, Value>) -> Vec<&str> {
        events.keys().map(String::as_str).collect()
    }

    fn row(event_type: &str, data: Value) -> EventRow {
        EventRow {
            tenant_id: "t1".into(),
            seq: 7,
            id: "evt_1".into(),
            event_type: event_type.into(),
            occurred_at: 1_700_000_000_123,
            data: data.to_string(),
        }
    }

    #[test]
    fn events_map_to_the_rfc_9967_uris() {
        let user = json!({"user": {"id": "u1", "externalId": "jdoe", "userName": "jdoe",
            "meta": {"version": "W/\"2\""}}});
        let cases = [
            ("user.created", user.clone(), uri::CREATE_FULL),
            ("user.updated", user.clone(), uri::PUT_FULL),
            ("user.deactivated", user.clone(), uri::DEACTIVATE),
            ("user.reactivated", user.clone(), uri::ACTIVATE),
            ("user.deleted", json!({"user": {"id": "u1"}}), uri::DELETE),
            (
                "group.member_added",
                json!({"group": {"id": "g1"}, "members": ["u1"]}),
                uri::PATCH_FULL,
            ),
        ];
        for (kind, data, expected) in cases {
            let (sub_id, events) = scim_event(&row(kind, data)).expect(kind);
            assert_eq!(events.as_object().map(uris), Some(vec![expected]), "{kind}");
            assert_eq!(sub_id["format"], "scim");
        }
        let (sub_id, events) = scim_event(&row("user.updated", user)).expect("updated");
        assert_eq!(
            sub_id,
            json!({"format": "scim", "uri": "/Users/u1", "externalId": "jdoe"})
        );
        assert_eq!(events[uri::PUT_FULL]["version"], "W/\"2\"");
        assert_eq!(events[uri::PUT_FULL]["data"]["userName"], "jdoe");
        assert!(scim_event(&row("user.roles_changed", json!({"user": {"id": "u1"}}))).is_none());
    }

    #[test]
    fn a_removed_member_is_a_patch_remove_by_value_filter() {
        let data = json!({"group": {"id": "g1"}, "members": ["u\"1"]});
        let (_, events) = scim_event(&row("group.member_removed", data)).expect("event");
        assert_eq!(
            events[uri::PATCH_FULL]["data"]["Operations"],
            json!([{"op": "remove", "path": "members[value eq \"u\\\"1\"]"}])
        );
    }

    #[test]
    fn a_fresh_key_signs_and_is_published() {
        let keys = published(&[new_key().expect("key")]).expect("published");
        let claims = claims(
            &row("user.deleted", json!({"user": {"id": "u1"}})),
            "https://scim.example.com",
            "aud",
            1,
        )
        .expect("claims");
        let token = keys.sign(&claims).expect("signed");
        let jwk: Jwk = serde_json::from_value(keys.jwks()["keys"][0].clone()).expect("jwk");
        let header = jsonwebtoken::decode_header(&token).expect("header");
        assert_eq!(header.typ.as_deref(), Some("secevent+jwt"));
        assert_eq!(header.kid, jwk.common.key_id);
        let mut validation = jsonwebtoken::Validation::new(Algorithm::ES256);
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        validation.set_audience(&["aud"]);
        let key = jsonwebtoken::DecodingKey::from_jwk(&jwk).expect("decoding key");
        let got = jsonwebtoken::decode::<Value>(&token, &key, &validation).expect("verifies");
        assert_eq!(got.claims["toe"], 1_700_000_000);
    }
}
