//! What the outbox's readers (webhook delivery, host event handlers) share: rounds that find
//! the tenants with events due, claim each one's lease and give it a turn on a blocking thread,
//! at most so many at once and one at a time per tenant; and the retry schedule after a failure.

use std::collections::HashSet;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rand::Rng;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

use super::webhooks::DeliveryPolicy;
use crate::error::ScimError;
use crate::storage::now_millis;

/// A reader of the outbox that works tenant by tenant, in turns.
pub(crate) trait Reader: Send + Sync + 'static {
    /// What the logs call it, e.g. `webhook delivery`.
    fn label(&self) -> &str;

    /// The tenants with events for it, due now.
    fn due(&self) -> impl Future<Output = Result<Vec<String>, ScimError>> + Send;

    /// Takes the tenant's lease; false when another instance holds it.
    fn claim(&self, tenant: String) -> impl Future<Output = Result<bool, ScimError>> + Send;

    /// Works through the tenant's next events (blocking: it runs on its own thread), checking
    /// [`Rounds::stopping`] between events.
    fn take_turn(&self, tenant: &str) -> Result<(), ScimError>;
}

/// The pacing of one reader: its poll interval, its slots, the tenants it is working on here,
/// and the signal to stop.
pub(crate) struct Rounds {
    poll_interval: Duration,
    concurrency: usize,
    /// One permit per tenant being worked on.
    slots: Arc<Semaphore>,
    /// Tenants this instance is working on. Their lease already keeps other instances away;
    /// this also covers a lease that lapsed while its turn is still running here.
    busy: Arc<Mutex<HashSet<String>>>,
    stop: watch::Receiver<bool>,
}

impl Rounds {
    /// Rounds every `poll_interval`, `concurrency` tenants at a time, until `stop` turns true or
    /// its sender is dropped.
    pub(crate) fn new(
        poll_interval: Duration,
        concurrency: usize,
        stop: watch::Receiver<bool>,
    ) -> Self {
        Self {
            poll_interval,
            concurrency,
            slots: Arc::new(Semaphore::new(concurrency)),
            busy: Arc::default(),
            stop,
        }
    }

    /// Whether the reader has been told to stop.
    pub(crate) fn stopping(&self) -> bool {
        self.stop
            .has_changed()
            .map_or(true, |_| *self.stop.borrow())
    }

    /// Runs rounds until stopped. A stop takes effect after the event each turn is on, and this
    /// returns once every turn in flight has ended (and so let go of its lease).
    pub(crate) async fn run<R: Reader>(self: Arc<Self>, reader: Arc<R>) {
        let mut stop = self.stop.clone();
        while !self.stopping() {
            if let Err(e) = self.start_due(&reader).await {
                tracing::warn!(reader = reader.label(), error = %e, "a round of the outbox failed");
            }
            tokio::select! {
                () = tokio::time::sleep(self.poll_interval) => {}
                _ = stop.changed() => {}
            }
        }
        // Every turn holds a slot until it ends.
        let all = u32::try_from(self.concurrency).unwrap_or(u32::MAX);
        let _ = self.slots.acquire_many(all).await;
    }

    /// One round: each due tenant whose lease this instance wins, while slots are free, gets a
    /// turn on its own blocking thread, so the round waits for no endpoint and no handler.
    async fn start_due<R: Reader>(&self, reader: &Arc<R>) -> Result<(), ScimError> {
        if self.slots.available_permits() == 0 {
            return Ok(());
        }
        for tenant in reader.due().await? {
            if self.stopping() {
                break;
            }
            let Ok(slot) = self.slots.clone().try_acquire_owned() else {
                break;
            };
            let Some(turn) = Turn::start(&self.busy, tenant, slot) else {
                continue;
            };
            if reader.claim(turn.tenant.clone()).await? {
                let reader = reader.clone();
                tokio::task::spawn_blocking(move || {
                    if let Err(e) = reader.take_turn(&turn.tenant) {
                        tracing::warn!(reader = reader.label(), tenant = %turn.tenant, error = %e, "a turn of the outbox failed");
                    }
                });
            }
        }
        Ok(())
    }
}

/// A tenant's turn: holds a slot and marks its tenant busy until it is dropped, whichever way
/// the turn ends.
struct Turn {
    busy: Arc<Mutex<HashSet<String>>>,
    tenant: String,
    _slot: OwnedSemaphorePermit,
}

impl Turn {
    /// A turn for `tenant`, or `None` when this instance is already taking one.
    fn start(
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
