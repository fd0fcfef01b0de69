//! The provisioning log writer: requests are queued without waiting and written in batches, so
//! logging never adds a database round trip to a SCIM request (a crash may lose the last
//! moments of the log, never a SCIM write; see `Db::write_relaxed`). Old entries are pruned,
//! and so are old webhook delivery attempts. Each written batch then goes
//! to the connection diagnosis, with what each request showed.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::diagnosis::{self, Signals};
use crate::error::ScimError;
use crate::events::shape::Shape;
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
/// Entries one write takes at most: on SQLite a batch shares a group commit with SCIM writes,
/// and a long one would delay them.
const PER_COMMIT: usize = 128;
/// How often old entries are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(600);
/// How long the writer goes on using a skeleton it stored before it marks it seen again (one
/// write per skeleton per hour, not one per entry). Pruning keeps a skeleton twice this long
/// past the entries' retention, so no entry kept outlives its skeleton.
const SKELETON_REFRESH: i64 = 3_600_000;
/// Skeletons the writer remembers having stored; past this it forgets them all (and stores
/// each once more as it meets it), so a tenant sending ever new structures cannot grow it.
const SKELETONS_REMEMBERED: usize = 10_000;

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
        "shape": r.shape.as_ref().and_then(Shape::to_json),
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
    skeletons: Skeletons,
}

/// The skeletons the writer stored lately: when, per tenant and skeleton id.
#[derive(Default)]
struct Skeletons {
    stored: HashMap<String, HashMap<String, i64>>,
    count: usize,
}

impl Skeletons {
    /// The entries of `rows` whose skeletons to store, by index: the first of each skeleton
    /// not stored lately.
    fn due(&self, rows: &[LogRow], now: i64) -> Vec<usize> {
        let mut listed: HashSet<(&str, &str)> = HashSet::new();
        (0..rows.len())
            .filter(|&i| {
                let r = &rows[i];
                let Some(shape) = &r.shape else { return false };
                let fresh = self
                    .stored
                    .get(&r.tenant_id)
                    .and_then(|t| t.get(&shape.skeleton_id))
                    .is_some_and(|at| now - at < SKELETON_REFRESH);
                !fresh && listed.insert((&r.tenant_id, &shape.skeleton_id))
            })
            .collect()
    }

    /// Notes the skeletons of the entries `due` of `rows` as stored at `now`.
    fn stored(&mut self, rows: &[LogRow], due: &[usize], now: i64) {
        if self.count + due.len() > SKELETONS_REMEMBERED {
            self.stored.clear();
            self.count = 0;
        }
        for r in due.iter().map(|&i| &rows[i]) {
            let Some(shape) = &r.shape else { continue };
            let ids = self.stored.entry(r.tenant_id.clone()).or_default();
            if ids.insert(shape.skeleton_id.clone(), now).is_none() {
                self.count += 1;
            }
        }
    }
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
        skeletons: Skeletons::default(),
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
                    let now = now_millis();
                    let due = self.skeletons.due(&rows, now);
                    // The rows come back from the write: the diagnosis reads them after it.
                    let written = self
                        .db
                        .write_relaxed(move |c| {
                            // One time for the table and the writer's memory of it.
                            store::insert(c, &rows, &due, now)?;
                            Ok((rows, due))
                        })
                        .await;
                    match written {
                        Ok((rows, due)) => {
                            self.skeletons.stored(&rows, &due, now);
                            self.diagnosis.note(&rows, &signals);
                        }
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
                            store::prune(c, cutoff, cutoff - 2 * SKELETON_REFRESH)?,
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::events::shape::ShapeKey;

    fn row(tenant: &str, user: &str) -> LogRow {
        let shape = ShapeKey::new("k")
            .tenant(tenant)
            .shape(&json!({"userName": user}));
        LogRow {
            shape: Some(shape),
            ..LogRow::new(tenant.into(), 1, "POST".into(), "/Users".into())
        }
    }

    #[test]
    fn a_skeleton_is_stored_once_per_tenant_and_again_after_an_hour() {
        let mut skeletons = Skeletons::default();
        let rows = [
            row("acme", "ann@example.com"),
            row("acme", "bob@example.com"),
            row("globex", "ann@example.com"),
            LogRow::new("acme".into(), 1, "GET".into(), "/Users".into()),
        ];
        let due = skeletons.due(&rows, 0);
        assert_eq!(
            due,
            [0, 2],
            "acme's first and globex's; the bodiless entry has none"
        );
        skeletons.stored(&rows, &due, 0);
        assert!(skeletons.due(&rows, SKELETON_REFRESH - 1).is_empty());
        assert_eq!(skeletons.due(&rows, SKELETON_REFRESH).len(), 2);
    }

    #[test]
    fn the_remembered_skeletons_are_bounded() {
        let mut skeletons = Skeletons::default();
        let rows: Vec<LogRow> = (0..SKELETONS_REMEMBERED + 1)
            .map(|n| {
                let mut r = row("acme", "ann@example.com");
                if let Some(s) = r.shape.as_mut() {
                    s.skeleton_id = n.to_string();
                }
                r
            })
            .collect();
        let (first, last) = rows.split_at(SKELETONS_REMEMBERED);
        skeletons.stored(first, &skeletons.due(first, 0), 0);
        assert_eq!(skeletons.count, SKELETONS_REMEMBERED);
        skeletons.stored(last, &skeletons.due(last, 0), 0);
        assert_eq!(skeletons.count, 1, "forgotten, then the newest one noted");
    }
}
