//! Storage: one diesel model layer over SQLite (the embedded default) and PostgreSQL.
//!
//! Queries are written once against [`AnyConnection`]; a backend `match` appears only where the
//! SQL really differs (transactions that must take SQLite's write lock up front, migrations).

/// Runs `$body` with `$c` bound to the backend's own connection, for the statements on hot
/// paths (reads by key). Diesel's MultiConnection writes a statement out as SQL in every pass
/// over it (the statement cache lookup, the bind collection), even when the statement is
/// prepared already; the backend's own connection finds it in its cache by type.
macro_rules! native {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::storage::AnyConnection::Postgresql($c) => $body,
            $crate::storage::AnyConnection::Sqlite($c) => $body,
        }
    };
}

pub mod cursors;
pub mod events;
#[cfg(feature = "internals")]
mod explain;
pub mod filter_sql;
pub mod findings;
pub mod log;
pub(crate) mod migrate;
pub mod models;
pub mod portal;
pub mod resources;
pub mod schema;
pub mod schemas;
pub mod secevents;
pub mod shadow;
pub mod sql;
mod statement_clock;
pub mod statistics;
pub mod tenants;
pub mod transfer;
mod turns;
pub mod webhooks;
mod writer;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::r2d2::{self, ManageConnection, R2D2Connection};
use diesel::{Connection, PgConnection, SqliteConnection};

use crate::error::ScimError;
use crate::metrics::PoolUse;
use crate::tenant::TenantId;

/// A connection to whichever backend the database URL selected.
#[derive(diesel::MultiConnection)]
pub enum AnyConnection {
    Postgresql(PgConnection),
    Sqlite(SqliteConnection),
}

/// The backend named by a database URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite database file (`sqlite://path`, or a bare path).
    Sqlite(String),
    /// A PostgreSQL connection URL (`postgres://` or `postgresql://`).
    Postgres(String),
}

impl Backend {
    /// Picks the backend from the URL scheme. Diesel's `MultiConnection::establish` would try
    /// each backend in turn, and SQLite accepts any string as a file name, so a mistyped
    /// PostgreSQL URL would silently become a SQLite file.
    pub fn from_url(url: &str) -> Result<Self, String> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Self::Postgres(url.to_owned()));
        }
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .unwrap_or(url);
        if path.is_empty() || path.contains("://") {
            return Err(format!(
                "unsupported database URL {url:?}: use sqlite://PATH or postgres://USER@HOST/DB"
            ));
        }
        Ok(Self::Sqlite(path.to_owned()))
    }
}

/// How long a starting instance waits for another's migrations before it gives up.
const MIGRATION_WAIT: Duration = Duration::from_secs(600);

/// How long database work may wait before the request is answered 503.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Waits {
    /// How long a statement waits for a lock another writer holds: SQLite's busy timeout,
    /// PostgreSQL's `lock_timeout`.
    pub lock: Duration,
    /// How long a request waits for a pooled connection (and so for an unreachable server).
    pub connection: Duration,
    /// How long one statement may run (PostgreSQL's `statement_timeout`; on SQLite a progress
    /// handler that interrupts it), so one tenant's costly filter cannot hold a connection, the
    /// CPU or SQLite's write lock for long. Migrations run without it.
    pub statement: Duration,
}

impl Default for Waits {
    fn default() -> Self {
        Self {
            lock: Duration::from_secs(5),
            connection: Duration::from_secs(5),
            statement: Duration::from_secs(30),
        }
    }
}

/// Whether a database error means "busy or unreachable, retry later" rather than a bug: a lock
/// wait that timed out, a statement stopped after [`Waits::statement`], or a connection that
/// broke. Diesel reports SQLite's SQLITE_BUSY and SQLITE_INTERRUPT and PostgreSQL's timeouts
/// only by their message.
pub fn is_unavailable(e: &diesel::result::Error) -> bool {
    use diesel::result::{DatabaseErrorKind as Kind, Error};
    match e {
        Error::DatabaseError(Kind::ClosedConnection | Kind::UnableToSendCommand, _)
        | Error::DatabaseError(Kind::SerializationFailure, _)
        | Error::BrokenTransactionManager => true,
        Error::DatabaseError(_, info) => {
            let m = info.message();
            m.contains("database is locked")
                || m.contains("database table is locked")
                || m.contains("lock timeout")
                || m.contains("statement timeout")
                || m.contains("interrupted")
                || m.contains("terminating connection")
                || m.contains("server closed the connection")
                || m.contains("connection to server")
        }
        _ => false,
    }
}

/// Opens connections for the pool and prepares each connection.
#[derive(Debug)]
struct Manager {
    backend: Backend,
    lock_wait: Duration,
    statement_wait: Duration,
}

impl Manager {
    fn establish(&self) -> Result<AnyConnection, r2d2::Error> {
        match &self.backend {
            Backend::Postgres(url) => {
                let mut c = PgConnection::establish(url).map_err(r2d2::Error::ConnectionError)?;
                // A writer queued behind another on a tenant's lock, and any one statement, give
                // up in bounded time.
                c.batch_execute(&format!(
                    "SET lock_timeout = {}; SET statement_timeout = {}",
                    self.lock_wait.as_millis(),
                    self.statement_wait.as_millis()
                ))
                .map_err(r2d2::Error::QueryError)?;
                Ok(AnyConnection::Postgresql(c))
            }
            Backend::Sqlite(path) => {
                let mut c = statement_clock::establish(path, self.statement_wait)
                    .map_err(r2d2::Error::ConnectionError)?;
                // WAL lets readers run beside the writer; FULL makes each commit durable before it
                // is acknowledged; the busy timeout queues writers instead of failing them; the
                // savepoint of each write in a group commit keeps its undo pages in memory
                // rather than in a temporary file.
                c.batch_execute(&format!(
                    "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                     PRAGMA foreign_keys = ON; PRAGMA busy_timeout = {}; \
                     PRAGMA temp_store = MEMORY;",
                    self.lock_wait.as_millis()
                ))
                .map_err(r2d2::Error::QueryError)?;
                Ok(AnyConnection::Sqlite(c))
            }
        }
    }
}

impl ManageConnection for Manager {
    type Connection = AnyConnection;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<AnyConnection, r2d2::Error> {
        self.establish()
    }

    fn is_valid(&self, conn: &mut AnyConnection) -> Result<(), r2d2::Error> {
        conn.ping().map_err(r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut AnyConnection) -> bool {
        std::thread::panicking() || conn.is_broken()
    }
}

/// The connection pool; cheap to clone.
#[derive(Clone)]
pub struct Db {
    pool: Pool,
    /// SQLite has one writer at a time: every write goes through one thread that commits them
    /// in groups (a second writing connection would wait in SQLite's busy handler, which
    /// sleeps on past the lock's release). PostgreSQL needs none.
    sqlite: Option<writer::Writer>,
    /// PostgreSQL: a tenant's writers in this process, one at a time.
    turns: turns::Turns,
}

/// The r2d2 pool, counting the callers that wait on it (for `/metrics`); cheap to clone.
#[derive(Clone)]
struct Pool {
    inner: r2d2::Pool<Manager>,
    waiting: Arc<AtomicU64>,
}

impl Pool {
    fn get(&self) -> Result<r2d2::PooledConnection<Manager>, r2d2::PoolError> {
        self.waiting.fetch_add(1, Ordering::Relaxed);
        let got = self.inner.get();
        self.waiting.fetch_sub(1, Ordering::Relaxed);
        got
    }

    fn try_get(&self) -> Option<r2d2::PooledConnection<Manager>> {
        self.inner.try_get()
    }
}

impl Db {
    /// Connects to `url`, applies pending migrations and returns the pool.
    pub fn connect(url: &str, max_connections: u32) -> anyhow::Result<Self> {
        Self::open(url, max_connections, Waits::default())
    }

    /// [`Db::connect`] with the given waits.
    pub fn open(url: &str, max_connections: u32, waits: Waits) -> anyhow::Result<Self> {
        let backend = Backend::from_url(url).map_err(anyhow::Error::msg)?;
        let manager = || Manager {
            backend: backend.clone(),
            lock_wait: waits.lock,
            statement_wait: waits.statement,
        };
        let pool = Pool {
            inner: r2d2::Pool::builder()
                .max_size(max_connections)
                .connection_timeout(waits.connection)
                .build(manager())
                .map_err(|e| anyhow::anyhow!("cannot open the database: {e}"))?,
            waiting: Arc::default(),
        };
        let mut conn = pool.get()?;
        // A migration (an index on a large table) may rightly take longer than any request,
        // and so may the wait for another instance's migrations (bounded, so an instance
        // stuck holding the lock is reported rather than waited on for ever).
        let (unbounded, bounded) = match &*conn {
            AnyConnection::Postgresql(_) => (
                format!(
                    "SET statement_timeout = 0; SET lock_timeout = {}",
                    MIGRATION_WAIT.as_millis()
                ),
                format!(
                    "SET statement_timeout = {}; SET lock_timeout = {}",
                    waits.statement.as_millis(),
                    waits.lock.as_millis()
                ),
            ),
            AnyConnection::Sqlite(_) => (
                format!("PRAGMA busy_timeout = {}", MIGRATION_WAIT.as_millis()),
                format!("PRAGMA busy_timeout = {}", waits.lock.as_millis()),
            ),
        };
        conn.batch_execute(&unbounded)?;
        statement_clock::unbounded(|| migrate::run(&mut conn))?;
        conn.batch_execute(&bounded)?;
        let sqlite = match backend {
            Backend::Sqlite(_) => Some(writer::Writer::start(manager())?),
            Backend::Postgres(_) => None,
        };
        Ok(Self {
            pool,
            sqlite,
            turns: turns::Turns::default(),
        })
    }

    /// Runs `f` in a write transaction under `tenant`'s lock (see `storage::tenant_tx`; on SQLite the
    /// database's one write lock) and answers once it is durable. On SQLite concurrent writes
    /// share one commit (group commit).
    pub async fn write<R, F>(&self, tenant: &str, f: F) -> Result<R, ScimError>
    where
        F: FnOnce(&mut AnyConnection) -> Result<R, ScimError> + Send + 'static,
        R: Send + 'static,
    {
        match &self.sqlite {
            Some(writer) => writer.write(f).await,
            None => {
                let _turn = self.turns.take(tenant).await;
                let tenant = TenantId::from_stored(tenant.to_owned());
                self.run(move |c| tenant_tx(c, &Scope::new(&tenant), f))
                    .await
            }
        }
    }

    /// Runs `f` in a write transaction whose commit need not wait for the disk: for records
    /// whose last moments may be lost in a crash (the provisioning log, a credential's last
    /// use), never for SCIM writes. On SQLite it joins the writer's next group commit, durable
    /// like the writes beside it (a log batch alone costs one fsync, at most a few a second);
    /// on PostgreSQL it commits without waiting for the WAL flush.
    pub async fn write_relaxed<R, F>(&self, f: F) -> Result<R, ScimError>
    where
        F: FnOnce(&mut AnyConnection) -> Result<R, ScimError> + Send + 'static,
        R: Send + 'static,
    {
        match &self.sqlite {
            Some(writer) => writer.write(f).await,
            None => {
                self.run(move |c| {
                    write_tx(c, |c| {
                        c.batch_execute("SET LOCAL synchronous_commit = off")?;
                        f(c)
                    })
                })
                .await
            }
        }
    }

    /// Runs a read of a few rows by primary key. On SQLite it runs on the calling thread when a
    /// pooled connection is idle: such a read takes microseconds and, in WAL mode, never waits
    /// for a writer, so handing it to another thread would cost more than the read. Otherwise,
    /// and always on PostgreSQL (a network round trip), it runs like [`Db::run`].
    pub async fn read_by_key<R, F>(&self, f: F) -> Result<R, ScimError>
    where
        F: FnOnce(&mut AnyConnection) -> Result<R, ScimError> + Send + 'static,
        R: Send + 'static,
    {
        if self.sqlite.is_some()
            && let Some(mut conn) = self.pool.try_get()
        {
            return f(&mut conn);
        }
        self.run(f).await
    }

    /// The pool's connections in use and idle, and the callers waiting for one.
    pub fn pool_use(&self) -> PoolUse {
        let state = self.pool.inner.state();
        PoolUse {
            in_use: state.connections - state.idle_connections,
            idle: state.idle_connections,
            waiting: self.pool.waiting.load(Ordering::Relaxed),
        }
    }

    /// The SQL dialect of the database.
    pub fn dialect(&self) -> sql::Dialect {
        match self.sqlite {
            Some(_) => sql::Dialect::Sqlite,
            None => sql::Dialect::Postgres,
        }
    }

    /// Runs blocking database work on the blocking thread pool.
    pub async fn run<R, F>(&self, f: F) -> Result<R, ScimError>
    where
        F: FnOnce(&mut AnyConnection) -> Result<R, ScimError> + Send + 'static,
        R: Send + 'static,
    {
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || f(&mut *pool.get()?))
            .await
            .map_err(ScimError::internal)?
    }

    /// Runs database work on the current thread (for the CLI).
    pub fn run_sync<R>(
        &self,
        f: impl FnOnce(&mut AnyConnection) -> Result<R, ScimError>,
    ) -> Result<R, ScimError> {
        f(&mut *self.pool.get()?)
    }
}

/// Runs `f` in a write transaction. On SQLite it starts with `BEGIN IMMEDIATE`, taking the write
/// lock up front: a deferred transaction that reads first and then writes can fail with
/// SQLITE_BUSY instead of waiting for the busy timeout.
pub fn write_tx<T>(
    conn: &mut AnyConnection,
    f: impl FnOnce(&mut AnyConnection) -> Result<T, ScimError>,
) -> Result<T, ScimError> {
    // An interrupted write ends SQLite's transaction itself, so ROLLBACK finds none; the 503 is
    // what the client needs to hear.
    immediate_tx(conn, f, |e| matches!(e, ScimError::Unavailable(_)))
}

/// [`write_tx`] for work with its own error type; a failed rollback is reported unless
/// `ended_already` says the work's error ended the transaction itself.
pub fn write_tx_with<T, E: From<StoreError>>(
    conn: &mut AnyConnection,
    f: impl FnOnce(&mut AnyConnection) -> Result<T, E>,
    ended_already: impl FnOnce(&E) -> bool,
) -> Result<T, E> {
    immediate_tx(
        conn,
        |c| f(c).map_err(TxError::Work),
        |e| matches!(e, TxError::Work(w) if ended_already(w)),
    )
    .map_err(TxError::into_work)
}

/// Runs `f` in a read-only transaction that sees one snapshot of the database throughout (on
/// PostgreSQL `REPEATABLE READ`, where each statement would otherwise see its own; SQLite's
/// transactions read one snapshot already), while writers go on.
pub fn read_snapshot<T, E: From<StoreError>>(
    conn: &mut AnyConnection,
    f: impl FnOnce(&mut AnyConnection) -> Result<T, E>,
) -> Result<T, E> {
    conn.transaction::<_, TxError<E>, _>(|c| {
        if let AnyConnection::Postgresql(pg) = c {
            pg.batch_execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")?;
        }
        f(c).map_err(TxError::Work)
    })
    .map_err(TxError::into_work)
}

/// What a transaction around work with its own error type ends with: the database's error
/// (beginning, committing) or the work's.
enum TxError<E> {
    Db(diesel::result::Error),
    Work(E),
}

impl<E> From<diesel::result::Error> for TxError<E> {
    fn from(e: diesel::result::Error) -> Self {
        Self::Db(e)
    }
}

impl<E: From<StoreError>> TxError<E> {
    fn into_work(self) -> E {
        match self {
            Self::Db(e) => StoreError::from(e).into(),
            Self::Work(e) => e,
        }
    }
}

/// A write transaction; on SQLite begun with `BEGIN IMMEDIATE` (see [`write_tx`]).
fn immediate_tx<T, E: From<diesel::result::Error>>(
    conn: &mut AnyConnection,
    f: impl FnOnce(&mut AnyConnection) -> Result<T, E>,
    ended_already: impl FnOnce(&E) -> bool,
) -> Result<T, E> {
    let AnyConnection::Sqlite(sqlite) = conn else {
        return conn.transaction(f);
    };
    AnsiTransactionManager::begin_transaction_sql(sqlite, "BEGIN IMMEDIATE")?;
    let out = f(conn);
    let AnyConnection::Sqlite(sqlite) = conn else {
        unreachable!("a connection does not change its backend");
    };
    match out {
        Ok(v) => {
            AnsiTransactionManager::commit_transaction(sqlite)?;
            Ok(v)
        }
        Err(e) => {
            let rolled_back = AnsiTransactionManager::rollback_transaction(sqlite);
            if !ended_already(&e) {
                rolled_back?;
            }
            Err(e)
        }
    }
}

/// Runs `f` in a write transaction that first locks the tenant's row. Every tenant write takes
/// this lock before any resource lock, and recording an event needs it anyway, so on PostgreSQL
/// two writers of one tenant queue up instead of deadlocking (resource lock then tenant lock in
/// one, the reverse in the other). SQLite's `BEGIN IMMEDIATE` already serialises writers.
pub fn tenant_tx<T>(
    conn: &mut AnyConnection,
    scope: &Scope<'_>,
    f: impl FnOnce(&mut AnyConnection) -> Result<T, ScimError>,
) -> Result<T, ScimError> {
    write_tx(conn, |c| {
        events::lock_tenant(c, scope)?;
        f(c)
    })
}

/// One tenant's storage: every table a tenant owns is reached through a scope, made from a
/// [`TenantId`], so no query on those tables is written without its tenant. The resources'
/// queries are its methods (in `resources`); the other tables' functions take it first.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    tenant: &'a TenantId,
}

impl<'a> Scope<'a> {
    /// Scopes every following query to `tenant`.
    pub fn new(tenant: &'a TenantId) -> Self {
        Self { tenant }
    }

    /// The tenant this scope reaches.
    pub fn tenant(&self) -> &'a TenantId {
        self.tenant
    }

    /// The tenant's key, as its tables hold it.
    pub fn id(&self) -> &'a str {
        self.tenant.as_str()
    }
}

/// A storage failure, in the terms the use cases act on.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique key of the tenant (a userName's key) is taken by another resource.
    #[error("a unique value of the tenant is taken")]
    Duplicate,
    /// The database is busy or unreachable: a lock or statement timeout, a broken connection.
    #[error("the database is busy or unreachable")]
    Busy,
    /// Anything else, as the database reported it.
    #[error(transparent)]
    Failed(diesel::result::Error),
}

/// What storage's functions return.
pub type StoreResult<T> = Result<T, StoreError>;

impl From<diesel::result::Error> for StoreError {
    fn from(e: diesel::result::Error) -> Self {
        match e {
            diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _,
            ) => Self::Duplicate,
            e if is_unavailable(&e) => {
                tracing::warn!(error = %e, "the database is busy or unreachable");
                Self::Busy
            }
            other => Self::Failed(other),
        }
    }
}

impl From<StoreError> for ScimError {
    /// What is left once the use case has said what a duplicate means.
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Duplicate => {
                ScimError::Uniqueness("a unique value of this tenant is taken".into())
            }
            StoreError::Busy => ScimError::Unavailable(crate::error::BUSY.into()),
            StoreError::Failed(e) => ScimError::Internal(e.into()),
        }
    }
}

impl From<diesel::result::Error> for ScimError {
    fn from(e: diesel::result::Error) -> Self {
        if is_unavailable(&e) {
            tracing::warn!(error = %e, "the database is busy or unreachable");
            return Self::Unavailable(crate::error::BUSY.into());
        }
        Self::Internal(e.into())
    }
}

impl From<r2d2::PoolError> for ScimError {
    fn from(e: r2d2::PoolError) -> Self {
        // The pool waited its whole timeout: every connection is busy, or none can be opened.
        tracing::warn!(error = %e, "no database connection became available");
        Self::Unavailable(crate::error::BUSY.into())
    }
}

/// Runs `f` in a savepoint of the open transaction: when it fails, its writes alone are undone
/// and the transaction goes on.
pub fn savepoint<T>(
    conn: &mut AnyConnection,
    f: impl FnOnce(&mut AnyConnection) -> Result<T, ScimError>,
) -> Result<T, ScimError> {
    conn.transaction(f)
}

/// Milliseconds since the Unix epoch: the portable timestamp stored in every table.
pub fn now_millis() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[cfg(test)]
mod tests {
    use super::Backend;

    #[test]
    fn backend_follows_the_url_scheme() {
        assert_eq!(
            Backend::from_url("sqlite://scimitar.db"),
            Ok(Backend::Sqlite("scimitar.db".into()))
        );
        assert_eq!(
            Backend::from_url("sqlite:///var/lib/s.db"),
            Ok(Backend::Sqlite("/var/lib/s.db".into()))
        );
        assert_eq!(
            Backend::from_url("data/s.db"),
            Ok(Backend::Sqlite("data/s.db".into()))
        );
        assert!(matches!(
            Backend::from_url("postgres://u@h/db"),
            Ok(Backend::Postgres(_))
        ));
        assert!(matches!(
            Backend::from_url("postgresql://u@h/db"),
            Ok(Backend::Postgres(_))
        ));
        assert!(Backend::from_url("mysql://u@h/db").is_err());
        assert!(Backend::from_url("").is_err());
    }
}
