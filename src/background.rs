//! The application's background work (webhook delivery, the provisioning log writer, event and
//! rate-limit pruning, planner statistics, and a host app's event handlers), started on the caller's runtime and stopped by its
//! handle: the server runs it, and so can a host app that mounts Scimitar.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::events::handler::{self, Consumer, EventHandler};
use crate::events::log::LogWriter;
use crate::events::retention::EventPruner;
use crate::events::webhooks::{Deliverer, DeliveryPolicy};
use crate::health::Health;
use crate::http::throttle;
use crate::state::AppState;
use crate::storage::{Db, statistics};

/// How long a stop waits for the provisioning log to write what is queued.
const LOG_FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// The running background work of one application.
pub struct BackgroundWork {
    db: Db,
    policy: DeliveryPolicy,
    health: Arc<Health>,
    stop_outbox: watch::Sender<bool>,
    delivering: JoinHandle<()>,
    handlers: Vec<JoinHandle<()>>,
    logging: JoinHandle<()>,
    others: Vec<JoinHandle<()>>,
}

impl BackgroundWork {
    /// Starts the work on the current Tokio runtime (an actix app's), each task named in
    /// `/readyz`.
    pub fn start(state: &AppState, log_writer: LogWriter) -> Self {
        let (stop_outbox, stopped) = watch::channel(false);
        let deliverer = Deliverer::new(
            state.db.clone(),
            state.sets.clone(),
            state.settings.webhooks.clone(),
            state.metrics.clone(),
            stopped,
        );
        let delivering = tokio::spawn(deliverer.run());
        let logging = tokio::spawn(log_writer.run());
        let mut others = vec![
            (
                "rate limit pruning",
                tokio::spawn(throttle::prune_every_minute(state.throttle.clone())),
            ),
            (
                "event pruning",
                tokio::spawn(
                    EventPruner::new(state.db.clone(), state.settings.event_retention).run(),
                ),
            ),
        ];
        if statistics::needed(&state.db) {
            others.push((
                "planner statistics",
                tokio::spawn(statistics::keep_fresh(state.db.clone())),
            ));
        }
        let tracked = &state.health.background;
        tracked.track("webhook delivery", delivering.abort_handle());
        tracked.track("provisioning log writer", logging.abort_handle());
        for (name, task) in &others {
            tracked.track(*name, task.abort_handle());
        }
        Self {
            db: state.db.clone(),
            policy: state.settings.webhooks.clone(),
            health: state.health.clone(),
            stop_outbox,
            delivering,
            handlers: Vec::new(),
            logging,
            others: others.into_iter().map(|(_, task)| task).collect(),
        }
    }

    /// Runs every tenant's events through `handler` after their change committed, in order,
    /// at least once, with the feed's event ids (see [`EventHandler`]). `name` keys where the
    /// handler is in each tenant's events, kept in the database: a restart goes on from there,
    /// instances sharing a database take turns, and a handler first started under a name
    /// begins with the oldest event still kept. While it keeps trying, events it has not
    /// handled are kept past the event retention.
    ///
    /// # Panics
    ///
    /// When `name` is not 1 to 64 ASCII letters, digits, `-`, `_` or `.`.
    pub fn handle_events(mut self, name: &str, handler: impl EventHandler) -> Self {
        assert!(
            handler::valid_name(name),
            "event handler name {name:?}: use 1 to 64 ASCII letters, digits, '-', '_' or '.'"
        );
        let consumer = Consumer::new(
            self.db.clone(),
            name.to_owned(),
            Arc::new(handler),
            self.policy.clone(),
            self.stop_outbox.subscribe(),
        );
        let task = tokio::spawn(consumer.run());
        self.health
            .background
            .track(format!("event handler {name}"), task.abort_handle());
        self.handlers.push(task);
        self
    }

    /// Stops the work: the deliverer and each event handler finish the event in hand and give
    /// up their leases, and the queued provisioning log is written (for up to 5 s). Call it
    /// once the server has stopped and the app's states are dropped: the log writer ends when
    /// its last sender goes.
    pub async fn stop(self) {
        for task in self.others {
            task.abort();
            // Awaited so that what the task holds (a pool handle) is dropped before returning.
            let _ = task.await;
        }
        self.stop_outbox.send_replace(true);
        if self.delivering.await.is_err() {
            tracing::warn!("the webhook deliverer ended abnormally");
        }
        for task in self.handlers {
            if task.await.is_err() {
                tracing::warn!("an event handler's consumer ended abnormally");
            }
        }
        let flushing = self.logging.abort_handle();
        if tokio::time::timeout(LOG_FLUSH_TIMEOUT, self.logging)
            .await
            .is_err()
        {
            flushing.abort();
            tracing::warn!("queued provisioning log entries were not all written before the stop");
        }
    }
}
