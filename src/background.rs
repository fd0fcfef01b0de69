//! The application's background work (webhook delivery, the provisioning log writer, event and
//! rate-limit pruning, planner statistics), started on the caller's runtime and stopped by its
//! handle: the server runs it, and so can a host app that mounts Scimitar.

use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::events::log::LogWriter;
use crate::events::retention::EventPruner;
use crate::events::webhooks::Deliverer;
use crate::http::throttle;
use crate::state::AppState;
use crate::storage::statistics;

/// How long a stop waits for the provisioning log to write what is queued.
const LOG_FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// The running background work of one application.
pub struct BackgroundWork {
    stop_delivery: watch::Sender<bool>,
    delivering: JoinHandle<()>,
    logging: JoinHandle<()>,
    others: Vec<JoinHandle<()>>,
}

impl BackgroundWork {
    /// Starts the work on the current Tokio runtime (an actix app's), each task named in
    /// `/readyz`.
    pub fn start(state: &AppState, log_writer: LogWriter) -> Self {
        let (stop_delivery, stopped) = watch::channel(false);
        let deliverer = Deliverer::new(
            state.db.clone(),
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
            tracked.track(name, task.abort_handle());
        }
        Self {
            stop_delivery,
            delivering,
            logging,
            others: others.into_iter().map(|(_, task)| task).collect(),
        }
    }

    /// Stops the work: the deliverer finishes the event it is sending and gives up its lease,
    /// and the queued provisioning log is written (for up to 5 s). Call it once the server
    /// has stopped and the app's states are dropped: the log writer ends when its last sender
    /// goes.
    pub async fn stop(self) {
        for task in self.others {
            task.abort();
            // Awaited so that what the task holds (a pool handle) is dropped before returning.
            let _ = task.await;
        }
        self.stop_delivery.send_replace(true);
        if self.delivering.await.is_err() {
            tracing::warn!("the webhook deliverer ended abnormally");
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
