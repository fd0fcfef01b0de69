//! What the outbox's readers (webhook delivery, host event handlers) share: one turn at a time
//! per tenant on this instance, and the retry schedule after a failure.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rand::Rng;
use tokio::sync::OwnedSemaphorePermit;

use super::webhooks::DeliveryPolicy;
use crate::storage::now_millis;

/// A tenant's turn: holds a slot and marks its tenant busy until it is dropped, whichever way
/// the turn ends. A lease already keeps other instances away; this also covers a lease that
/// lapsed while its turn is still running here.
pub(crate) struct Turn {
    busy: Arc<Mutex<HashSet<String>>>,
    pub(crate) tenant: String,
    _slot: OwnedSemaphorePermit,
}

impl Turn {
    /// A turn for `tenant`, or `None` when this instance is already taking one.
    pub(crate) fn start(
        busy: &Arc<Mutex<HashSet<String>>>,
        tenant: String,
        slot: OwnedSemaphorePermit,
    ) -> Option<Self> {
        let fresh = busy
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(tenant.clone());
        fresh.then(|| Self {
            busy: busy.clone(),
            tenant,
            _slot: slot,
        })
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        self.busy
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.tenant);
    }
}

/// When to try again after the `failures`-th failure in a row: the base delay doubled for each
/// earlier failure, up to the maximum, with ±20% jitter so that retries from many tenants do
/// not arrive in lockstep.
pub(crate) fn retry_at(policy: &DeliveryPolicy, failures: i32) -> i64 {
    let exp = ms(policy.backoff_base).saturating_mul(1 << (failures - 1).clamp(0, 20));
    let delay = exp.min(ms(policy.max_backoff));
    let jitter = rand::rng().random_range(0.8..1.2);
    now_millis() + (delay as f64 * jitter) as i64
}

/// A duration in milliseconds, saturating.
pub(crate) fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
