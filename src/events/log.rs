//! The provisioning log writer: requests are queued without waiting and written in batches, so
//! logging never adds a database round trip to a SCIM request, and each batch commits without
//! waiting for the disk (a crash may lose the last moments of the log, never a SCIM write). Old entries are pruned, and so
//! are old webhook delivery attempts.

use std::time::Duration;

use tokio::sync::mpsc;

use crate::storage::log::{self as store, LogRow};
use crate::storage::{Db, now_millis, webhooks};

/// Entries waiting to be written; past this, new entries are dropped (and counted in the logs).
const QUEUE: usize = 10_000;
/// How often queued entries are written.
const FLUSH_EVERY: Duration = Duration::from_millis(200);
/// How often old entries are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(600);

/// The sending side, kept in the app state.
#[derive(Clone)]
pub struct LogSender(mpsc::Sender<LogRow>);

impl LogSender {
    /// Queues an entry; never blocks a request.
    pub fn send(&self, row: LogRow) {
        if self.0.try_send(row).is_err() {
            tracing::warn!("the provisioning log queue is full; an entry was dropped");
        }
    }
}

/// The writing side, run by the application.
pub struct LogWriter {
    rx: mpsc::Receiver<LogRow>,
    db: Db,
    retention: Duration,
}

/// A connected sender and writer.
pub fn channel(db: Db, retention: Duration) -> (LogSender, LogWriter) {
    let (tx, rx) = mpsc::channel(QUEUE);
    (LogSender(tx), LogWriter { rx, db, retention })
}

impl LogWriter {
    /// Writes batches until every sender is gone.
    pub async fn run(mut self) {
        let mut last_prune: Option<tokio::time::Instant> = None;
        loop {
            let mut batch = Vec::new();
            let open = tokio::time::timeout(FLUSH_EVERY, self.rx.recv_many(&mut batch, 500))
                .await
                .map_or(true, |n| n > 0);
            if !batch.is_empty()
                && let Err(e) = self
                    .db
                    .write_relaxed(move |c| Ok(store::insert(c, &batch)?))
                    .await
            {
                tracing::warn!(error = %e, "provisioning log entries were not written");
            }
            if last_prune.is_none_or(|t| t.elapsed() > PRUNE_EVERY) {
                last_prune = Some(tokio::time::Instant::now());
                let cutoff =
                    now_millis() - i64::try_from(self.retention.as_millis()).unwrap_or(i64::MAX);
                let pruned = self
                    .db
                    .run(move |c| {
                        Ok((
                            store::prune(c, cutoff)?,
                            webhooks::prune_attempts(c, cutoff)?,
                        ))
                    })
                    .await;
                if let Err(e) = pruned {
                    tracing::warn!(error = %e, "old provisioning log entries and webhook attempts were not pruned");
                }
            }
            if !open {
                return;
            }
        }
    }
}
