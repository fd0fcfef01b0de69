//! Webhook delivery from the outbox, signed as the Standard Webhooks specification describes
//! (`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256>`), in order
//! per tenant, at least once, retried with exponential backoff and jitter, and switched off after
//! repeated failure. With several instances on one PostgreSQL database, a lease on each tenant's
//! webhook makes one instance at a time deliver its events.

use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use rand::Rng;
use sha2::Sha256;
use tokio::sync::watch;

use super::render;
use crate::error::ScimError;
use crate::storage::webhooks::{self as store, AttemptRow, Outcome, WebhookRow};
use crate::storage::{Db, now_millis};

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

/// How deliveries are paced.
#[derive(Debug, Clone)]
pub struct DeliveryPolicy {
    /// How often the outbox is polled for due webhooks.
    pub poll_interval: Duration,
    /// The first retry delay; each failure doubles it, up to `max_backoff`.
    pub backoff_base: Duration,
    pub max_backoff: Duration,
    /// Consecutive failures after which a webhook is switched off.
    pub max_failures: i32,
    /// Time allowed for one delivery.
    pub timeout: Duration,
}

impl Default for DeliveryPolicy {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_secs(1),
            backoff_base: Duration::from_secs(5),
            max_backoff: Duration::from_secs(3600),
            max_failures: 12,
            timeout: Duration::from_secs(10),
        }
    }
}

/// Delivers the outbox to tenants' webhooks until it is told to stop.
pub struct Deliverer {
    db: Db,
    policy: DeliveryPolicy,
    owner: String,
    agent: ureq::Agent,
    stop: watch::Receiver<bool>,
}

/// Events delivered per claim, so one busy tenant does not hold a worker for long.
const BATCH: i64 = 50;

/// Slack added to a lease beyond the slowest delivery.
const LEASE_MARGIN_MS: i64 = 5_000;

impl Deliverer {
    /// A deliverer with a fresh instance identity; it stops when `stop` turns true or its
    /// sender is dropped.
    pub fn new(db: Db, policy: DeliveryPolicy, stop: watch::Receiver<bool>) -> Self {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(policy.timeout))
            .http_status_as_error(false)
            .build()
            .into();
        Self {
            db,
            policy,
            owner: uuid::Uuid::new_v4().to_string(),
            agent,
            stop,
        }
    }

    /// Polls and delivers until stopped; a stop takes effect after the event being sent.
    pub async fn run(self) {
        let this = std::sync::Arc::new(self);
        let mut stop = this.stop.clone();
        while !this.stopping() {
            let worker = this.clone();
            if let Err(e) = tokio::task::spawn_blocking(move || worker.tick())
                .await
                .map_err(ScimError::internal)
                .and_then(|r| r)
            {
                tracing::warn!(error = %e, "webhook delivery round failed");
            }
            tokio::select! {
                () = tokio::time::sleep(this.policy.poll_interval) => {}
                _ = stop.changed() => {}
            }
        }
    }

    fn stopping(&self) -> bool {
        self.stop
            .has_changed()
            .map_or(true, |_| *self.stop.borrow())
    }

    /// One round: every due webhook whose lease this instance wins gets a batch.
    fn tick(&self) -> Result<(), ScimError> {
        let due = self
            .db
            .run_sync(|c| Ok(store::due(c, now_millis(), 100)?))?;
        for tenant in due {
            if self.stopping() {
                break;
            }
            // The time is read per claim: delivering earlier tenants takes time.
            let now = now_millis();
            if self.db.run_sync(|c| {
                Ok(store::claim(
                    c,
                    &tenant,
                    &self.owner,
                    now,
                    now + self.lease(),
                )?)
            })? {
                self.deliver(&tenant)?;
            }
        }
        Ok(())
    }

    /// How long a lease lasts: one delivery at its slowest, with room to spare. Each delivered
    /// event renews it, so a long batch keeps it and a crashed instance loses it soon.
    fn lease(&self) -> i64 {
        2 * ms(self.policy.timeout) + LEASE_MARGIN_MS
    }

    /// Delivers a tenant's pending events in order, stopping at the first failure, or as soon as
    /// the lease is no longer this instance's.
    fn deliver(&self, tenant: &str) -> Result<(), ScimError> {
        let Some((mut hook, events)) = self
            .db
            .run_sync(|c| Ok(store::pending(c, tenant, &self.owner, BATCH)?))?
        else {
            return Ok(());
        };
        for event in &events {
            // Stopping ends the batch here, and the lease with it, so another instance can go on.
            if self.stopping() {
                break;
            }
            let body = render(event).to_string();
            let started = Instant::now();
            let outcome = self.post(&hook, &event.id, &body);
            let error = match &outcome {
                Ok(s) if (200..300).contains(s) => None,
                Ok(s) => Some(format!("the endpoint answered {s}")),
                Err(e) => Some(e.clone()),
            };
            let attempt = AttemptRow {
                tenant_id: tenant.to_owned(),
                id: format!("{:013}-{}", now_millis(), uuid::Uuid::new_v4().simple()),
                event_seq: event.seq,
                attempted_at: now_millis(),
                status_code: outcome.as_ref().ok().map(|s| i32::from(*s)),
                error: error.clone(),
                duration_ms: i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX),
            };
            let result = match &error {
                None => Outcome::Delivered {
                    seq: event.seq,
                    lease_until: now_millis() + self.lease(),
                },
                Some(e) => self.failure(&mut hook, e),
            };
            let held = self.db.run_sync(|c| {
                Ok(store::record(
                    c,
                    tenant,
                    &self.owner,
                    &result,
                    Some(&attempt),
                )?)
            })?;
            if !held || error.is_some() {
                return Ok(());
            }
        }
        self.db
            .run_sync(|c| Ok(store::record(c, tenant, &self.owner, &Outcome::Done, None)?))
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
        let exp =
            ms(self.policy.backoff_base).saturating_mul(1 << (hook.failures - 1).clamp(0, 20));
        let delay = exp.min(ms(self.policy.max_backoff));
        // Jitter (±20%) keeps retries from many tenants from arriving in lockstep.
        let jitter = rand::rng().random_range(0.8..1.2);
        Outcome::Failed {
            failures: hook.failures,
            next_attempt_at: now_millis() + (delay as f64 * jitter) as i64,
            switch_off: None,
        }
    }

    /// Sends one event; `Ok(status)` when the endpoint answered, `Err` when it could not be reached.
    fn post(&self, hook: &WebhookRow, id: &str, body: &str) -> Result<u16, String> {
        let timestamp = now_millis() / 1000;
        let signature =
            sign(&hook.secret, id, timestamp, body).map_err(|e| format!("cannot sign: {e}"))?;
        self.agent
            .post(&hook.url)
            .header("content-type", "application/json")
            .header("webhook-id", id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .send(body)
            .map(|res| res.status().as_u16())
            .map_err(|e| e.to_string())
    }
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
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
    fn secrets_have_the_standard_prefix() {
        let s = new_secret();
        assert!(s.starts_with("whsec_"));
        assert_eq!(B64.decode(&s[6..]).expect("base64").len(), 24);
    }
}
