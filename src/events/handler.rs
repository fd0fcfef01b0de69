//! A host app's own event handler (library mode): Scimitar's events, read from the outbox
//! after their change committed, each tenant's in order, at least once, with the ids the feed
//! and webhooks carry. Each handler has a name and keeps its own position per tenant in the
//! database, as a webhook consumer keeps a cursor, so a restart goes on where it stopped and
//! instances sharing a PostgreSQL database take turns (a lease per tenant) instead of running
//! an event twice at once.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio::sync::watch;

use super::EventType;
use super::outbox::{Reader, Rounds, retry_at};
use super::webhooks::DeliveryPolicy;
use crate::error::ScimError;
use crate::storage::cursors::{self as store, Step};
use crate::storage::events::EventRow;
use crate::storage::{Db, Scope, now_millis};
use crate::tenant::TenantId;

/// What a handler answers when it could not handle an event.
pub type HandlerError = Box<dyn std::error::Error + Send + Sync>;

/// An event, as the feed and webhooks carry it.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The event's id (`evt_…`), the same in the feed and in webhooks: the key to make
    /// handling idempotent, as an event may come more than once.
    pub id: String,
    /// Its place in the tenant's events, from 1.
    pub seq: i64,
    /// Its wire name, e.g. `user.deactivated`.
    pub event_type: String,
    /// When the change was made.
    pub occurred_at: DateTime<Utc>,
    /// The tenant whose directory changed.
    pub tenant_id: String,
    /// What changed, as in the feed (`{"user": {…}}`, `{"group": {…}, "member": {…}}`, …).
    pub data: Value,
}

impl Event {
    /// The kind of event, when this build knows its name.
    pub fn kind(&self) -> Option<EventType> {
        EventType::named(&self.event_type)
    }

    fn from_row(row: EventRow) -> Self {
        Self {
            occurred_at: DateTime::from_timestamp_millis(row.occurred_at).unwrap_or_default(),
            data: serde_json::from_str(&row.data).unwrap_or(Value::Null),
            id: row.id,
            seq: row.seq,
            event_type: row.event_type,
            tenant_id: row.tenant_id,
        }
    }
}

/// A host app's reaction to events. It runs on a blocking thread, so it may do blocking work
/// (a database write, an HTTP call); a call should end well within a minute, the lease a turn
/// holds on a tenant. An error, or a panic, ends the turn: the same event comes again after a
/// backoff (5 s doubling up to an hour), and the tenant's later events wait for it. Other
/// tenants' events go on meanwhile.
pub trait EventHandler: Send + Sync + 'static {
    /// Handles one event.
    fn handle(&self, event: &Event) -> Result<(), HandlerError>;
}

impl<F> EventHandler for F
where
    F: Fn(&Event) -> Result<(), HandlerError> + Send + Sync + 'static,
{
    fn handle(&self, event: &Event) -> Result<(), HandlerError> {
        self(event)
    }
}

/// Events handled per turn, so one busy tenant does not hold a slot for long.
const BATCH: i64 = 50;
/// Due tenants read per round.
const DUE_PER_ROUND: i64 = 100;
/// Tenants one handler works on at the same time, each on a blocking thread.
const CONCURRENCY: usize = 4;
/// How long a turn holds a tenant without a step; each handled event renews it.
const LEASE: Duration = Duration::from_secs(60);

/// The longest name a handler may have (it is stored with each tenant's position).
pub const MAX_NAME_LEN: usize = 64;

/// Whether `name` may name a handler: 1 to 64 ASCII letters, digits, `-`, `_` or `.`.
pub fn valid_name(name: &str) -> bool {
    (1..=MAX_NAME_LEN).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Runs the outbox through one named handler until told to stop.
pub(crate) struct Consumer {
    db: Db,
    name: String,
    /// `event handler NAME`, for the logs.
    label: String,
    handler: Arc<dyn EventHandler>,
    policy: DeliveryPolicy,
    owner: String,
    rounds: Arc<Rounds>,
}

impl Consumer {
    /// A consumer of `name` (checked with [`valid_name`] by its caller), polling and backing
    /// off as webhook delivery does.
    pub(crate) fn new(
        db: Db,
        name: String,
        handler: Arc<dyn EventHandler>,
        policy: DeliveryPolicy,
        stop: watch::Receiver<bool>,
    ) -> Self {
        Self {
            db,
            label: format!("event handler {name}"),
            name,
            handler,
            rounds: Arc::new(Rounds::new(policy.poll_interval, CONCURRENCY, stop)),
            policy,
            owner: uuid::Uuid::new_v4().to_string(),
        }
    }

    /// Polls and hands events to the handler until stopped; returns once every turn in flight
    /// has ended (after the event it was handling) and let go of its lease.
    pub(crate) async fn run(self) {
        let rounds = self.rounds.clone();
        rounds.run(Arc::new(self)).await;
    }

    /// Hands a tenant's next events to the handler in order, stopping at the first failure or
    /// as soon as the lease is no longer this instance's.
    fn hand_over(&self, tenant: &str) -> Result<(), ScimError> {
        let id = TenantId::from_stored(tenant.to_owned());
        let scope = Scope::new(&id);
        let (name, owner) = (self.name.as_str(), self.owner.as_str());
        let Some((cursor, last, events)) = self
            .db
            .run_sync(|c| Ok(store::pending(c, &scope, name, owner, BATCH)?))?
        else {
            return Ok(());
        };
        if events.is_empty() && last > cursor.handled_seq {
            // The events it has not seen were pruned before this handler first met the tenant.
            let step = Step::Handled {
                seq: last,
                lease_until: now_millis() + lease_ms(),
            };
            self.record(&scope, &step)?;
        }
        // Failures in a row: a handled event ends the run.
        let mut failures = cursor.failures;
        for row in events {
            if self.rounds.stopping() {
                break;
            }
            let (seq, event) = (row.seq, Event::from_row(row));
            let step = match self.call(&event) {
                Ok(()) => {
                    failures = 0;
                    Step::Handled {
                        seq,
                        lease_until: now_millis() + lease_ms(),
                    }
                }
                Err(error) => {
                    tracing::warn!(handler = %self.name, tenant, event = %event.id, %error, "event handler failed; it will be tried again");
                    failures = failures.saturating_add(1);
                    Step::Failed {
                        failures,
                        next_attempt_at: retry_at(&self.policy, failures),
                        error,
                    }
                }
            };
            let failed = matches!(step, Step::Failed { .. });
            if !self.record(&scope, &step)? || failed {
                return Ok(());
            }
        }
        self.record(&scope, &Step::Done).map(drop)
    }

    /// Calls the handler, a panic counting as a failure.
    fn call(&self, event: &Event) -> Result<(), String> {
        let handler = &self.handler;
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handler.handle(event))) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("the handler panicked".into()),
        }
    }

    fn record(&self, scope: &Scope<'_>, step: &Step) -> Result<bool, ScimError> {
        self.db.run_sync(|c| {
            Ok(store::record(
                c,
                scope,
                &self.name,
                &self.owner,
                step,
                now_millis(),
            )?)
        })
    }
}

impl Reader for Consumer {
    fn label(&self) -> &str {
        &self.label
    }

    async fn due(&self) -> Result<Vec<String>, ScimError> {
        let name = self.name.clone();
        self.db
            .run(move |c| Ok(store::due(c, &name, now_millis(), DUE_PER_ROUND)?))
            .await
    }

    async fn claim(&self, tenant: String) -> Result<bool, ScimError> {
        let (name, owner) = (self.name.clone(), self.owner.clone());
        self.db
            .run(move |c| {
                let now = now_millis();
                let id = TenantId::from_stored(tenant);
                Ok(store::claim(
                    c,
                    &Scope::new(&id),
                    &name,
                    &owner,
                    now,
                    now + lease_ms(),
                )?)
            })
            .await
    }

    fn take_turn(&self, tenant: &str) -> Result<(), ScimError> {
        self.hand_over(tenant)
    }
}

fn lease_ms() -> i64 {
    super::outbox::ms(LEASE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_short_and_plain() {
        assert!(valid_name("sessions"));
        assert!(valid_name("crm.sync-v2_1"));
        assert!(!valid_name(""));
        assert!(!valid_name("two words"));
        assert!(!valid_name("é"));
        assert!(!valid_name(&"x".repeat(MAX_NAME_LEN + 1)));
    }
}
