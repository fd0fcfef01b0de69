//! The provisioning log writer: requests are queued without waiting and written in batches, so
//! logging never adds a database round trip to a SCIM request, and each batch commits without
//! waiting for the disk (a crash may lose the last moments of the log, never a SCIM write). Old
//! entries are pruned, and so are old webhook delivery attempts. Each written batch then goes
//! to the connection diagnosis, with what each request showed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::diagnosis::{self, Signals};
use crate::error::ScimError;
use crate::scim::text;
use crate::storage::log::{self as store, LogRow};
use crate::storage::{Db, now_millis, webhooks};

/// Entries waiting to be written; past this, new entries are dropped (and counted in the logs).
const QUEUE: usize = 10_000;
/// How long the writer waits for an entry before checking whether pruning is due.
const FLUSH_EVERY: Duration = Duration::from_millis(200);
/// How long entries are gathered after the first one arrives: a busy server commits its log a
/// few times a second, not once per request.
const GATHER: Duration = Duration::from_millis(100);
/// Entries one commit writes at most: SQLite has one write lock, and a long log transaction
/// would hold the SCIM writes queued behind it.
const PER_COMMIT: usize = 128;
/// How often old entries are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(600);

/// What an entry keeps of a refusal: its scimType and its detail. Details quote what the client
/// sent, and PostgreSQL cannot store a NUL, so the detail is scrubbed.
pub fn refusal(error: Option<&ScimError>) -> (Option<String>, Option<String>) {
    (
        error.and_then(ScimError::scim_type).map(str::to_owned),
        error.map(|e| text::scrub(&e.to_string()).into_owned()),
    )
}

/// An entry as the admin API shows it.
pub fn render(r: &LogRow) -> Value {
    json!({
        "at": super::rfc3339(r.at),
        "method": r.method,
        "path": r.path,
        "status": r.status,
        "resource_type": r.resource_type,
        "resource_id": r.resource_id,
        "latency_ms": r.latency_ms,
        "scim_type": r.scim_type,
        "detail": r.detail,
        "user_agent": r.user_agent,
        "shape": r.shape.as_deref().and_then(|s| serde_json::from_str::<Value>(s).ok()),
    })
}

/// The note a successful write's log entry carries when it stored extensions the tenant has
/// not registered; `None` when it stored none.
pub fn kept_unregistered(unregistered: &[String]) -> Option<String> {
    (!unregistered.is_empty()).then(|| {
        format!(
            "stored as sent, unchecked: {} (not registered for this tenant)",
            unregistered.join(", ")
        )
    })
}

/// An entry on its way to the writer, with what its request showed the diagnosis.
type Entry = (LogRow, Signals);

/// Requests refused by a tenant's rate limit since the writer last looked, per tenant: the
/// first one's entry and how many there were. A throttled tenant gets one log entry per batch,
/// not one per refused request, so flooding costs it nothing in the database.
type Refused = Arc<Mutex<HashMap<String, (LogRow, u64)>>>;

/// The sending side, kept in the app state.
#[derive(Clone)]
pub struct LogSender {
    tx: mpsc::Sender<Entry>,
    refused: Refused,
    dropped: Arc<AtomicU64>,
    /// Entries dropped since the start, for `/metrics` (`dropped` is reset as it is reported).
    dropped_total: Arc<AtomicU64>,
}

impl LogSender {
    /// Queues an entry; never blocks a request. A full queue drops the entry and counts it; the
    /// writer reports the count once per batch, not once per entry.
    pub fn send(&self, row: LogRow) {
        self.send_with(row, Signals::NONE);
    }

    /// [`send`](Self::send), with what the request showed the connection diagnosis.
    pub fn send_with(&self, row: LogRow, signals: Signals) {
        if self.tx.try_send((row, signals)).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            self.dropped_total.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts a request refused by its tenant's rate limit; `row` is its entry, written (with
    /// the count) for the first such request of each batch.
    pub fn throttled(&self, row: LogRow) {
        let mut refused = self.refused.lock().unwrap_or_else(PoisonError::into_inner);
        refused.entry(row.tenant_id.clone()).or_insert((row, 0)).1 += 1;
    }

    /// Entries waiting for the writer.
    pub fn queued(&self) -> u64 {
        (self.tx.max_capacity() - self.tx.capacity()) as u64
    }

    /// Entries dropped since the start because the queue was full.
    pub fn dropped_total(&self) -> u64 {
        self.dropped_total.load(Ordering::Relaxed)
    }
}

/// The writing side, run by the application.
pub struct LogWriter {
    rx: mpsc::Receiver<Entry>,
    refused: Refused,
    dropped: Arc<AtomicU64>,
    db: Db,
    retention: Duration,
    diagnosis: diagnosis::Memory,
}

/// A connected sender and writer.
pub fn channel(
    db: Db,
    retention: Duration,
    diagnosis: diagnosis::Policy,
) -> (LogSender, LogWriter) {
    let (tx, rx) = mpsc::channel(QUEUE);
    let dropped = Arc::new(AtomicU64::new(0));
    let refused = Refused::default();
    let sender = LogSender {
        tx,
        refused: refused.clone(),
        dropped: dropped.clone(),
        dropped_total: Arc::default(),
    };
    let writer = LogWriter {
        rx,
        refused,
        dropped,
        db,
        retention,
        diagnosis: diagnosis::Memory::new(diagnosis),
    };
    (sender, writer)
}

impl LogWriter {
    /// Writes batches until every sender is gone.
    pub async fn run(mut self) {
        let mut last_prune: Option<tokio::time::Instant> = None;
        loop {
            let mut batch = Vec::new();
            let open = tokio::time::timeout(FLUSH_EVERY, self.rx.recv_many(&mut batch, QUEUE))
                .await
                .map_or(true, |n| n > 0);
            if open && !batch.is_empty() {
                // Sleeping, rather than waking for each entry, keeps the gathering off the CPU.
                tokio::time::sleep(GATHER).await;
                while batch.len() < QUEUE
                    && let Ok(row) = self.rx.try_recv()
                {
                    batch.push(row);
                }
            }
            batch.extend(self.take_refused());
            let dropped = self.dropped.swap(0, Ordering::Relaxed);
            if dropped > 0 {
                tracing::warn!(
                    dropped,
                    "the provisioning log queue was full; entries were dropped"
                );
            }
            if !batch.is_empty() {
                let mut batch = batch.into_iter().peekable();
                while batch.peek().is_some() {
                    let (rows, signals): (Vec<LogRow>, Vec<Signals>) =
                        batch.by_ref().take(PER_COMMIT).unzip();
                    // The rows come back from the write: the diagnosis reads them after it.
                    let written = self
                        .db
                        .write_relaxed(move |c| {
                            store::insert(c, &rows)?;
                            Ok(rows)
                        })
                        .await;
                    match written {
                        Ok(rows) => self.diagnosis.note(&rows, &signals),
                        Err(e) => {
                            tracing::warn!(error = %e, "provisioning log entries were not written");
                        }
                    }
                }
            }
            // Also without new entries: what was held back for a busy tenant is written soon.
            self.diagnosis.flush(&self.db).await;
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

    /// One entry per tenant for the requests its rate limit refused since the last batch.
    fn take_refused(&self) -> Vec<Entry> {
        let refused =
            std::mem::take(&mut *self.refused.lock().unwrap_or_else(PoisonError::into_inner));
        refused
            .into_values()
            .map(|(mut row, n)| {
                if n > 1 {
                    row.detail = row.detail.map(|d| format!("{n} requests refused: {d}"));
                }
                (row, Signals::THROTTLED)
            })
            .collect()
    }
}
