//! Webhook delivery from the outbox, signed as the Standard Webhooks specification describes
//! (`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256>`), in order
//! per tenant, at least once, retried with exponential backoff and jitter, and switched off after
//! repeated failure. With several instances on one PostgreSQL database, a lease on each tenant's
//! webhook makes one instance at a time deliver its events. Tenants are delivered to side by
//! side, so a slow endpoint holds up only its own tenant, and only to addresses the egress policy
//! allows, checked after resolution. A webhook may instead take the events as Security Event
//! Tokens, pushed as RFC 8935 describes (see [`Format`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::sync::watch;
use ureq::config::Config;
use ureq::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};

use super::egress::{Egress, Refusal};
use super::outbox::{Reader, Rounds, ms, retry_at};
use super::render;
use super::secevent::{self, Transmitter};
use crate::diagnosis;
use crate::error::ScimError;
use crate::metrics::Metrics;
use crate::storage::webhooks::{self as store, AttemptRow, Outcome, WebhookRow};
use crate::storage::{Db, Scope, now_millis, tenant_tx};
use crate::tenant::TenantId;

/// The prefix of a Standard Webhooks secret.
const SECRET_PREFIX: &str = "whsec_";

/// A fresh signing secret, `whsec_` and 24 random bytes in base64.
pub fn new_secret() -> String {
    format!("{SECRET_PREFIX}{}", B64.encode(rand::random::<[u8; 24]>()))
}

/// The `webhook-signature` value for a message: `v1,` and the base64 HMAC-SHA256 of
/// `{id}.{timestamp}.{body}` keyed with the decoded secret.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &str) -> anyhow::Result<String> {
    let key = B64.decode(secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret))?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key)?;
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    Ok(format!("v1,{}", B64.encode(mac.finalize().into_bytes())))
}

/// How a webhook carries events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// The event as JSON, signed with the webhook's secret as Standard Webhooks describes.
    StandardWebhooks,
    /// The event as a Security Event Token in the SCIM profile (RFC 9967), signed with the
    /// deployment's key, pushed as RFC 8935 describes: `application/secevent+jwt`, answered
    /// 202. Events SCIM has no URI for (roles changed, secret rotated) are passed over.
    Set,
}

impl Format {
    /// The format as stored; anything unknown reads as Standard Webhooks.
    pub fn stored(name: &str) -> Self {
        match name {
            "set" => Self::Set,
            _ => Self::StandardWebhooks,
        }
    }

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::StandardWebhooks => "standard_webhooks",
            Self::Set => "set",
        }
    }
}

/// One event as sent: its body and how it is typed and signed.
enum Message {
    /// A Standard Webhooks JSON body, signed with the webhook's secret.
    Webhook(String),
    /// A signed SET.
    Set(String),
}

/// The most of a refusing receiver's answer read, for its RFC 8935 §2.3 error.
const ERROR_BODY_LIMIT: u64 = 4096;
/// The most of a receiver's error description kept with an attempt.
const ERROR_DESCRIPTION_LIMIT: usize = 200;

/// How deliveries are paced.
#[derive(Debug, Clone)]
pub struct DeliveryPolicy {
    /// How often the outbox is polled for due webhooks.
    pub poll_interval: Duration,
    /// The first retry delay; each failure doubles it, up to `max_backoff`.
    pub backoff_base: Duration,
    /// The longest retry delay.
    pub max_backoff: Duration,
    /// Consecutive failures after which a webhook is switched off.
    pub max_failures: i32,
    /// Time allowed for one delivery.
    pub timeout: Duration,
    /// Where deliveries may go beyond public https endpoints.
    pub egress: Egress,
    /// Tenants one instance delivers to at the same time. Each takes a blocking thread for as
    /// long as its endpoint takes to answer, so this bounds the threads slow endpoints can hold.
    pub concurrency: usize,
}

impl Default for DeliveryPolicy {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_secs(1),
            backoff_base: Duration::from_secs(5),
            max_backoff: Duration::from_secs(3600),
            max_failures: 12,
            timeout: Duration::from_secs(10),
            egress: Egress::default(),
            concurrency: 16,
        }
    }
}

/// Delivers the outbox to tenants' webhooks until it is told to stop.
pub struct Deliverer {
    db: Db,
    sets: Arc<Transmitter>,
    policy: DeliveryPolicy,
    owner: String,
    agent: ureq::Agent,
    metrics: Arc<Metrics>,
    rounds: Arc<Rounds>,
}

/// Events delivered per claim, so one busy tenant does not hold a slot for long.
const BATCH: i64 = 50;

/// Due webhooks read per round; more than the slots, as some are claimed by other instances.
const DUE_PER_ROUND: i64 = 100;

/// Slack added to a lease beyond the slowest delivery.
const LEASE_MARGIN_MS: i64 = 5_000;

impl Deliverer {
    /// A deliverer with a fresh instance identity, issuing SETs with `sets` and counting its
    /// failures in `metrics`; it stops when `stop` turns true or its sender is dropped.
    pub fn new(
        db: Db,
        sets: Arc<Transmitter>,
        policy: DeliveryPolicy,
        metrics: Arc<Metrics>,
        stop: watch::Receiver<bool>,
    ) -> Self {
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(policy.timeout))
            .http_status_as_error(false)
            // A redirect could point anywhere, inward included: a 3xx is a failed attempt.
            .max_redirects(0)
            .https_only(!policy.egress.allow_http)
            // A proxy would resolve the host itself, past the address check.
            .proxy(None)
            .build();
        let resolver = CheckedResolver {
            egress: policy.egress,
            inner: DefaultResolver::default(),
        };
        Self {
            db,
            sets,
            owner: uuid::Uuid::new_v4().to_string(),
            agent: ureq::Agent::with_parts(config, DefaultConnector::default(), resolver),
            rounds: Arc::new(Rounds::new(policy.poll_interval, policy.concurrency, stop)),
            policy,
            metrics,
        }
    }

    /// Polls and delivers until stopped. A stop takes effect after the event each delivery is
    /// sending, and `run` returns once every delivery in flight has ended (and so let go of its
    /// lease).
    pub async fn run(self) {
        let rounds = self.rounds.clone();
        rounds.run(Arc::new(self)).await;
    }

    /// How long a lease lasts: one delivery at its slowest, with room to spare. Each delivered
    /// event renews it, so a long batch keeps it and a crashed instance loses it soon.
    fn lease(&self) -> i64 {
        2 * ms(self.policy.timeout) + LEASE_MARGIN_MS
    }

    /// Delivers a tenant's pending events in order, stopping at the first failure, or as soon as
    /// the lease is no longer this instance's.
    fn deliver(&self, tenant: &str) -> Result<(), ScimError> {
        let id = TenantId::from_stored(tenant.to_owned());
        let scope = Scope::new(&id);
        let Some((mut hook, events)) = self
            .db
            .run_sync(|c| Ok(store::pending(c, &scope, &self.owner, BATCH)?))?
        else {
            return Ok(());
        };
        let format = Format::stored(&hook.format);
        let keys = match format {
            Format::Set if !events.is_empty() => Some(self.db.run_sync(|c| self.sets.keys(c))?),
            _ => None,
        };
        for event in &events {
            // Stopping ends the batch here, and the lease with it, so another instance can go on.
            if self.rounds.stopping() {
                break;
            }
            let message = match &keys {
                None => Message::Webhook(render(event).to_string()),
                Some(keys) => match self.sets.token(keys, event)? {
                    Some(token) => Message::Set(token),
                    None => {
                        // No SCIM event URI: nothing to send, and the stream moves past it.
                        let passed = Outcome::Delivered {
                            seq: event.seq,
                            lease_until: now_millis() + self.lease(),
                        };
                        let held = self.db.run_sync(|c| {
                            Ok(store::record(c, &scope, &self.owner, &passed, None)?)
                        })?;
                        if !held {
                            return Ok(());
                        }
                        continue;
                    }
                },
            };
            let started = Instant::now();
            let outcome = self.post(&hook, &event.id, &message);
            let error = match (&outcome, &message) {
                (Ok((s, _)), Message::Webhook(_)) if (200..300).contains(s) => None,
                // RFC 8935 §2.2: a SET receiver acknowledges with 202 and nothing else.
                (Ok((202, _)), Message::Set(_)) => None,
                (Ok((s, _)), _) if (300..400).contains(s) => {
                    Some(format!("HTTP {s} (redirects are not followed)"))
                }
                (Ok((s, _)), Message::Set(_)) if (200..300).contains(s) => Some(format!(
                    "HTTP {s} (a SET receiver answers 202 Accepted, RFC 8935 §2.2)"
                )),
                (Ok((s, Some(said))), _) => Some(format!("HTTP {s}: {said}")),
                (Ok((s, None)), _) => Some(format!("HTTP {s}")),
                (Err(e), _) => Some(e.clone()),
            };
            let attempt = AttemptRow {
                tenant_id: tenant.to_owned(),
                id: format!("{:013}-{}", now_millis(), uuid::Uuid::new_v4().simple()),
                event_seq: event.seq,
                attempted_at: now_millis(),
                status_code: outcome.as_ref().ok().map(|(s, _)| i32::from(*s)),
                error: error.clone(),
                duration_ms: i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX),
            };
            let result = match &error {
                None => {
                    // Failures count in a row: a delivery ends the run, here as in the row.
                    hook.failures = 0;
                    Outcome::Delivered {
                        seq: event.seq,
                        lease_until: now_millis() + self.lease(),
                    }
                }
                Some(e) => {
                    self.metrics.webhook_failed();
                    self.failure(&mut hook, e)
                }
            };
            let held = self.db.run_sync(|c| {
                Ok(store::record(
                    c,
                    &scope,
                    &self.owner,
                    &result,
                    Some(&attempt),
                )?)
            })?;
            if let (
                true,
                Outcome::Failed {
                    switch_off: Some(reason),
                    ..
                },
            ) = (held, &result)
            {
                self.db.run_sync(|c| {
                    tenant_tx(c, &scope, |c| {
                        diagnosis::webhook_switched_off(c, &scope, reason)
                    })
                })?;
            }
            if !held || error.is_some() {
                return Ok(());
            }
        }
        self.db
            .run_sync(|c| Ok(store::record(c, &scope, &self.owner, &Outcome::Done, None)?))
            .map(drop)
    }

    /// The retry schedule after a failure, or switching off after too many in a row.
    fn failure(&self, hook: &mut WebhookRow, error: &str) -> Outcome {
        hook.failures += 1;
        if hook.failures >= self.policy.max_failures {
            let reason = format!(
                "switched off after {} failed deliveries in a row; the last: {error}",
                hook.failures
            );
            return Outcome::Failed {
                failures: hook.failures,
                next_attempt_at: hook.next_attempt_at,
                switch_off: Some(reason),
            };
        }
        Outcome::Failed {
            failures: hook.failures,
            next_attempt_at: retry_at(&self.policy, hook.failures),
            switch_off: None,
        }
    }

    /// Sends one event; `Ok((status, error))` when the endpoint answered (with the error a SET
    /// receiver stated, RFC 8935 §2.3), `Err` when it could not be reached.
    fn post(
        &self,
        hook: &WebhookRow,
        id: &str,
        message: &Message,
    ) -> Result<(u16, Option<String>), String> {
        let request = self.agent.post(&hook.url);
        let sent = match message {
            Message::Webhook(body) => {
                let timestamp = now_millis() / 1000;
                let signature = sign(&hook.secret, id, timestamp, body)
                    .map_err(|e| format!("cannot sign: {e}"))?;
                request
                    .header("content-type", "application/json")
                    .header("webhook-id", id)
                    .header("webhook-timestamp", timestamp.to_string())
                    .header("webhook-signature", signature)
                    .send(body)
            }
            // RFC 8935 §2.1: the SET is the body, typed, and errors come back as JSON.
            Message::Set(token) => request
                .header("content-type", secevent::MEDIA_TYPE)
                .header("accept", "application/json")
                .send(token),
        };
        sent.map(|mut res| {
            let status = res.status().as_u16();
            let said = match message {
                Message::Set(_) if status != 202 => receiver_error(&mut res),
                _ => None,
            };
            (status, said)
        })
        .map_err(|e| {
            // The tenant sees plain words; the operator's log keeps the detail.
            tracing::debug!(tenant = %hook.tenant_id, error = %e, "webhook delivery failed");
            plain_words(&e)
        })
    }
}

impl Reader for Deliverer {
    fn label(&self) -> &str {
        "webhook delivery"
    }

    async fn due(&self) -> Result<Vec<String>, ScimError> {
        self.db
            .run(|c| Ok(store::due(c, now_millis(), DUE_PER_ROUND)?))
            .await
    }

    async fn claim(&self, tenant: String) -> Result<bool, ScimError> {
        let (owner, lease) = (self.owner.clone(), self.lease());
        self.db
            .run(move |c| {
                let now = now_millis();
                let id = TenantId::from_stored(tenant);
                Ok(store::claim(c, &Scope::new(&id), &owner, now, now + lease)?)
            })
            .await
    }

    fn take_turn(&self, tenant: &str) -> Result<(), ScimError> {
        self.deliver(tenant)
    }
}

/// The error a SET receiver states in its answer (RFC 8935 §2.3: `{"err": …, "description":
/// …}`), as `err: description` in printable characters, bounded; `None` when the answer holds
/// no such error.
fn receiver_error(res: &mut ureq::http::Response<ureq::Body>) -> Option<String> {
    let text = res
        .body_mut()
        .with_config()
        .limit(ERROR_BODY_LIMIT)
        .read_to_string()
        .ok()?;
    let said: serde_json::Value = serde_json::from_str(&text).ok()?;
    let err = said.get("err")?.as_str()?;
    let stated = match said.get("description").and_then(|d| d.as_str()) {
        Some(d) => format!("{err}: {d}"),
        None => err.to_owned(),
    };
    Some(
        stated
            .chars()
            .filter(|c| !c.is_control())
            .take(ERROR_DESCRIPTION_LIMIT)
            .collect(),
    )
}

/// Resolves a webhook's host and keeps only the addresses the egress policy allows, so the
/// connection goes to an address that was checked: a name that resolves to a public address
/// when set and to an internal one later (DNS rebinding) is refused at delivery.
#[derive(Debug)]
struct CheckedResolver {
    egress: Egress,
    inner: DefaultResolver,
}

impl Resolver for CheckedResolver {
    fn resolve(
        &self,
        uri: &Uri,
        config: &Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let found = self
            .inner
            .resolve(uri, config, timeout)
            .map_err(|e| match e {
                // The system resolver's failures come as I/O errors.
                ureq::Error::Io(_) => ureq::Error::HostNotFound,
                e => e,
            })?;
        keep_allowed(&self.egress, &found, self.inner.empty())
            .map_err(|r| ureq::Error::Other(Box::new(r)))
    }
}

/// The resolved addresses delivery may connect to, added to `kept`, or why there are none.
fn keep_allowed(
    egress: &Egress,
    found: &ResolvedSocketAddrs,
    mut kept: ResolvedSocketAddrs,
) -> Result<ResolvedSocketAddrs, Refusal> {
    let mut refused = None;
    for addr in found.iter() {
        match egress.check(addr.ip()) {
            Ok(()) => kept.push(*addr),
            Err(r) => refused = refused.or(Some(r)),
        }
    }
    match refused {
        Some(r) if kept.is_empty() => Err(r),
        _ => Ok(kept),
    }
}

/// What an attempt's failure says in the attempts list: plain words, never an OS error, which
/// would tell a tenant admin more about the network than a webhook needs.
fn plain_words(e: &ureq::Error) -> String {
    use std::io::ErrorKind;
    match e {
        ureq::Error::Other(inner) => match inner.downcast_ref::<Refusal>() {
            Some(r) => format!("refused: {r}"),
            None => "connection failed".into(),
        },
        ureq::Error::RequireHttpsOnly(_) => "refused: http is not allowed, use https".into(),
        ureq::Error::Timeout(_) => "timeout".into(),
        ureq::Error::HostNotFound => "host not found".into(),
        ureq::Error::Tls(_) | ureq::Error::Rustls(_) | ureq::Error::Pem(_) => "TLS error".into(),
        ureq::Error::Protocol(_) | ureq::Error::LargeResponseHeader(..) => {
            "the answer is not valid HTTP".into()
        }
        ureq::Error::TooManyRedirects | ureq::Error::RedirectFailed => {
            "redirects are not followed".into()
        }
        ureq::Error::Io(io) => match io.kind() {
            ErrorKind::ConnectionRefused => "connection refused",
            ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted | ErrorKind::BrokenPipe => {
                "connection reset"
            }
            // rustls reports a failed handshake or certificate as invalid data; a certificate
            // problem is worth naming, as it is the endpoint owner's to fix.
            ErrorKind::InvalidData => {
                return match io.get_ref().map(ToString::to_string) {
                    Some(m) if m.starts_with("invalid peer certificate") => {
                        format!("TLS error: {m}")
                    }
                    _ => "TLS error".into(),
                };
            }
            ErrorKind::UnexpectedEof => "connection closed before an answer",
            ErrorKind::TimedOut | ErrorKind::WouldBlock => "timeout",
            ErrorKind::HostUnreachable | ErrorKind::NetworkUnreachable => "host unreachable",
            _ => "connection failed",
        }
        .into(),
        _ => "delivery failed".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_like_the_standard_webhooks_reference() {
        // The example of the Standard Webhooks specification (standard-webhooks.com,
        // spec/standard-webhooks.md, "Signature scheme").
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = r#"{"test": 2432232314}"#;
        let sig = sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body).expect("sign");
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn failures_read_in_plain_words() {
        let refused = std::io::Error::from_raw_os_error(111);
        assert!(refused.to_string().contains("os error"));
        assert_eq!(plain_words(&ureq::Error::Io(refused)), "connection refused");
        assert_eq!(
            plain_words(&ureq::Error::Other(Box::new(Refusal::Private))),
            "refused: private address"
        );
        assert_eq!(
            plain_words(&ureq::Error::Timeout(ureq::Timeout::Global)),
            "timeout"
        );
        assert_eq!(
            plain_words(&ureq::Error::Tls("bad certificate")),
            "TLS error"
        );
    }

    #[test]
    fn only_allowed_addresses_are_connected_to() {
        let addrs = |list: &[&str]| {
            let mut v = DefaultResolver::default().empty();
            for a in list {
                v.push(a.parse().expect("socket address"));
            }
            v
        };
        let empty = || DefaultResolver::default().empty();
        let strict = Egress::default();
        let mixed = addrs(&["10.0.0.1:443", "93.184.216.34:443", "[::1]:443"]);
        let kept = keep_allowed(&strict, &mixed, empty()).expect("one public address");
        assert_eq!(&kept[..], &addrs(&["93.184.216.34:443"])[..]);
        let inward = addrs(&["127.0.0.1:443", "[::1]:443"]);
        assert_eq!(
            keep_allowed(&strict, &inward, empty()),
            Err(Refusal::Loopback)
        );
        let open = Egress {
            allow_http: true,
            allow_private: true,
        };
        assert_eq!(
            keep_allowed(&open, &inward, empty()).map(|k| k.len()),
            Ok(2)
        );
    }

    #[test]
    fn secrets_have_the_standard_prefix() {
        let s = new_secret();
        assert!(s.starts_with("whsec_"));
        assert_eq!(B64.decode(&s[6..]).expect("base64").len(), 24);
    }
}
