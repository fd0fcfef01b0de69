//! Group commit for SQLite: tenant writes that arrive together share one transaction, so one
//! fsync makes a whole batch durable instead of one fsync per request.
//!
//! SQLite has one write lock per database, so its writers queue anyway; here they queue in a
//! channel instead of on the busy timeout. One thread takes every waiting write (up to
//! [`MAX_BATCH`]), opens `BEGIN IMMEDIATE`, runs each write in its own savepoint (a write that
//! fails rolls back alone and gets its own error), commits once at `synchronous = FULL`, and only
//! then answers each caller. A write is acknowledged after its batch is durable, never before;
//! when the commit fails, every write of the batch gets the error and none is acknowledged.
//! Under light load a batch holds one write and this is a plain transaction.

use std::panic::{AssertUnwindSafe, catch_unwind};

use diesel::RunQueryDsl;
use diesel::connection::SimpleConnection;
use diesel::connection::{AnsiTransactionManager, TransactionManager};
use diesel::r2d2::R2D2Connection;
use tokio::sync::{mpsc, oneshot};

use super::sql::Fixed;
use super::{AnyConnection, Manager};
use crate::error::ScimError;

/// Writes one transaction takes at most, so one batch's commit is never far away.
const MAX_BATCH: usize = 64;
/// The writer connection's page cache, in KiB.
const WRITER_CACHE_KIB: u32 = 32 * 1024;
/// Writes waiting for the writer; past this, callers wait to queue (backpressure).
const QUEUE: usize = 1024;

/// The sending side: cheap to clone, kept in [`super::Db`].
#[derive(Clone)]
pub(super) struct Writer {
    tx: mpsc::Sender<Box<dyn Job>>,
}

impl Writer {
    /// Starts the writer thread; it ends once every sender is gone.
    pub(super) fn start(manager: Manager) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel(QUEUE);
        std::thread::Builder::new()
            .name("scimitar-writer".into())
            .spawn(move || run(&manager, rx))?;
        Ok(Self { tx })
    }

    /// Runs `f` in the next batch and answers once that batch commits.
    pub(super) async fn write<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut AnyConnection) -> Result<R, ScimError> + Send + 'static,
    ) -> Result<R, ScimError> {
        let (reply, answer) = oneshot::channel();
        let job = Pending { f, reply };
        if self.tx.send(Box::new(job)).await.is_err() {
            return Err(stopped());
        }
        answer.await.map_err(|_| stopped())?
    }
}

fn stopped() -> ScimError {
    ScimError::Unavailable("the database writer has stopped; nothing was changed".into())
}

/// A write waiting for its batch.
trait Job: Send {
    /// Runs the write in a savepoint of the open batch; the result waits for the commit. `Err`:
    /// its savepoint could not be undone, so the batch cannot go on.
    fn apply(self: Box<Self>, c: &mut AnyConnection) -> Result<Box<dyn Applied>, Box<dyn Applied>>;
    /// Answers without running: the batch could not start.
    fn refuse(self: Box<Self>, e: ScimError);
}

/// A write that ran and waits for its batch's commit.
trait Applied: Send {
    /// Answers the caller: with the write's own result if the batch committed.
    fn answer(self: Box<Self>, commit: Result<(), ScimError>);
}

struct Pending<F, R> {
    f: F,
    reply: oneshot::Sender<Result<R, ScimError>>,
}

impl<F, R> Job for Pending<F, R>
where
    F: FnOnce(&mut AnyConnection) -> Result<R, ScimError> + Send,
    R: Send + 'static,
{
    fn apply(self: Box<Self>, c: &mut AnyConnection) -> Result<Box<dyn Applied>, Box<dyn Applied>> {
        let Self { f, reply } = *self;
        // The tenant lock of `tenant_tx` is not taken: `BEGIN IMMEDIATE` already holds the
        // database's one write lock.
        match in_savepoint(c, f) {
            Ok(out) => Ok(Box::new(Done { out, reply })),
            Err(e) => Err(Box::new(Done { out: Err(e), reply })),
        }
    }

    fn refuse(self: Box<Self>, e: ScimError) {
        let _ = self.reply.send(Err(e));
    }
}

struct Done<R> {
    out: Result<R, ScimError>,
    reply: oneshot::Sender<Result<R, ScimError>>,
}

impl<R: Send> Applied for Done<R> {
    fn answer(self: Box<Self>, commit: Result<(), ScimError>) {
        let result = match (self.out, commit) {
            (Err(e), _) | (Ok(_), Err(e)) => Err(e),
            (Ok(v), Ok(())) => Ok(v),
        };
        // The caller may have gone (its client hung up); the write stands all the same.
        let _ = self.reply.send(result);
    }
}

fn run(manager: &Manager, mut rx: mpsc::Receiver<Box<dyn Job>>) {
    let mut conn: Option<AnyConnection> = None;
    while let Some(first) = rx.blocking_recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let c = match conn.take().map_or_else(|| open(manager), Ok) {
            Ok(c) => conn.insert(c),
            Err(e) => {
                tracing::warn!(error = %e, "the database writer cannot connect");
                for job in batch {
                    job.refuse(ScimError::Unavailable(
                        "the database cannot be opened right now; nothing was changed".into(),
                    ));
                }
                continue;
            }
        };
        // A write that panicked with its savepoint open, or a transaction diesel could not end,
        // leaves the connection unusable: closing it rolls the batch back, and the next batch
        // starts on a fresh one.
        if !commit_batch(c, batch) || c.is_broken() {
            conn = None;
        }
    }
}

/// The writer's connection. Its page cache is larger than a reader's: every write walks the
/// same index pages (one per index at least), and a large tenant's indexes outgrow SQLite's
/// default 2 MB, after which each insert reads its pages back from the file.
fn open(manager: &Manager) -> Result<AnyConnection, diesel::r2d2::Error> {
    let mut c = manager.establish()?;
    c.batch_execute(&format!("PRAGMA cache_size = -{}", WRITER_CACHE_KIB))
        .map_err(diesel::r2d2::Error::QueryError)?;
    Ok(c)
}

/// Runs a batch in one transaction and answers every write; false if a write panicked.
fn commit_batch(conn: &mut AnyConnection, batch: Vec<Box<dyn Job>>) -> bool {
    let AnyConnection::Sqlite(sqlite) = conn else {
        unreachable!("the writer serves SQLite only");
    };
    if let Err(e) = AnsiTransactionManager::begin_transaction_sql(sqlite, "BEGIN IMMEDIATE") {
        let failed = failure(&e);
        batch.into_iter().for_each(|job| job.refuse(failed()));
        return true;
    }
    let mut applied = Vec::with_capacity(batch.len());
    let mut jobs = batch.into_iter();
    for job in jobs.by_ref() {
        let broken = match catch_unwind(AssertUnwindSafe(|| job.apply(conn))) {
            Ok(Ok(done)) => {
                applied.push(done);
                continue;
            }
            Ok(Err(done)) => {
                tracing::error!(
                    "a write's savepoint could not be undone; its batch is rolled back"
                );
                Some(done)
            }
            Err(_) => {
                tracing::error!("a database write panicked; its batch is rolled back");
                None
            }
        };
        let retry = || {
            ScimError::Unavailable(
                "a write failed on the server; nothing was changed, retry".into(),
            )
        };
        applied
            .into_iter()
            .chain(broken)
            .for_each(|a| a.answer(Err(retry())));
        jobs.for_each(|j| j.refuse(retry()));
        return false;
    }
    let AnyConnection::Sqlite(sqlite) = conn else {
        unreachable!("a connection does not change its backend");
    };
    match AnsiTransactionManager::commit_transaction(sqlite) {
        Ok(()) => applied.into_iter().for_each(|a| a.answer(Ok(()))),
        Err(e) => {
            let failed = failure(&e);
            let _ = AnsiTransactionManager::rollback_transaction(sqlite);
            applied.into_iter().for_each(|a| a.answer(Err(failed())));
        }
    }
    true
}

/// Runs `f` in a savepoint of the open batch, so an error rolls back this write alone. Its
/// statements are prepared once and reused (diesel's nested transactions have SQLite parse
/// them again for every write). `Ok` holds the write's own result; `Err`, the savepoint
/// could not be released or undone.
fn in_savepoint<R>(
    c: &mut AnyConnection,
    f: impl FnOnce(&mut AnyConnection) -> Result<R, ScimError>,
) -> Result<Result<R, ScimError>, ScimError> {
    let run = |c: &mut AnyConnection, sql: &'static str| {
        let AnyConnection::Sqlite(sqlite) = c else {
            unreachable!("the writer serves SQLite only");
        };
        Fixed(sql).execute(sqlite).map(drop)
    };
    if let Err(e) = run(c, "SAVEPOINT write") {
        // Nothing of this write ran; the batch goes on.
        return Ok(Err(e.into()));
    }
    match f(c) {
        Ok(v) => match run(c, "RELEASE write") {
            Ok(()) => Ok(Ok(v)),
            Err(e) => Err(e.into()),
        },
        Err(e) => match run(c, "ROLLBACK TO write").and_then(|()| run(c, "RELEASE write")) {
            Ok(()) => Ok(Err(e)),
            Err(undo) => Err(undo.into()),
        },
    }
}

/// The error each write of a batch gets when the batch cannot start or commit.
fn failure(e: &diesel::result::Error) -> impl Fn() -> ScimError {
    let busy = super::is_unavailable(e);
    tracing::warn!(error = %e, "a batch of writes did not commit");
    move || {
        if busy {
            ScimError::Unavailable(crate::error::BUSY.into())
        } else {
            ScimError::internal(anyhow::anyhow!("a batch of writes did not commit"))
        }
    }
}

#[cfg(test)]
mod tests {
    use diesel::connection::SimpleConnection;
    use diesel::{Connection, RunQueryDsl, SqliteConnection};

    use crate::error::ScimError;
    use crate::storage::Db;

    #[test]
    fn a_failing_write_rolls_back_alone_and_the_rest_of_its_batch_commits() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("writer.db");
        let url = path.to_str().expect("utf-8 path").to_owned();
        let db = Db::connect(&url, 2).expect("open");
        db.run_sync(|c| Ok(c.batch_execute("CREATE TABLE t (x INTEGER UNIQUE)")?))
            .expect("table");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        // Another connection holds the write lock while the writes queue up, so they meet in
        // one batch once it lets go.
        let mut holder = SqliteConnection::establish(&url).expect("open");
        holder.batch_execute("BEGIN IMMEDIATE").expect("lock");
        let results = rt.block_on(async {
            let writes: Vec<_> = (0..20)
                .map(|i| {
                    let db = db.clone();
                    // Write 7 inserts a value that write 3 inserts too, and fails.
                    let x = if i == 7 { 3 } else { i };
                    tokio::spawn(async move {
                        db.write("t", move |c| {
                            diesel::sql_query(format!("INSERT INTO t VALUES ({x})")).execute(c)?;
                            Ok(x)
                        })
                        .await
                    })
                })
                .collect();
            tokio::task::yield_now().await;
            holder.batch_execute("COMMIT").expect("unlock");
            let mut out = Vec::new();
            for w in writes {
                out.push(w.await.expect("task"));
            }
            out
        });
        let failed: Vec<usize> = results
            .iter()
            .enumerate()
            .filter(|(_, r)| r.is_err())
            .map(|(i, _)| i)
            .collect();
        assert_eq!(failed, [7], "{results:?}");
        assert!(matches!(results[7], Err(ScimError::Internal(_))));
        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let stored = db
            .run_sync(|c| {
                Ok(diesel::sql_query("SELECT count(*) AS n FROM t").get_result::<Count>(c)?)
            })
            .expect("count");
        assert_eq!(stored.n, 19);
    }
}
