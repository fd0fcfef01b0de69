//! A time bound on each SQLite statement, like PostgreSQL's `statement_timeout`: a statement
//! still running after its bound is interrupted (SQLITE_INTERRUPT, "interrupted"), which the
//! request answers 503.
//!
//! Diesel 2.3 gives no access to a connection's `sqlite3` handle, so the clock is installed by
//! SQLite itself: `sqlite3_auto_extension` registers [`arm`], which SQLite calls inside every
//! `sqlite3_open` of the process. [`establish`] names the bound in a thread-local just around
//! diesel's open, so only the pool's connections get a clock. On each armed connection a trace
//! callback notes when a statement starts and ends, and a progress handler, called every
//! [`CHECK_EVERY`] virtual-machine instructions, interrupts the statement once it is past its
//! bound: one clock read per statement start and per 10,000 instructions.
//!
//! The same hook sets the query planner stability guarantee (SQLITE_DBCONFIG_ENABLE_QPSG):
//! without it, a statement whose plan looked at a bound value (`LIMIT ?`, a partial index's
//! condition) expires whenever that value is bound again, so diesel's cached statements were
//! parsed and planned anew on every request.

use std::cell::Cell;
use std::ffi::{c_char, c_int, c_uint, c_void};
use std::sync::Once;
use std::time::{Duration, Instant};

use diesel::{ConnectionResult, SqliteConnection};
use libsqlite3_sys as ffi;

/// Virtual-machine instructions between two looks at the clock (a few tens of microseconds).
const CHECK_EVERY: c_int = 10_000;

/// The name the clock is stored under in the connection's client data, which frees it when
/// the connection closes.
const CLIENT_DATA: &std::ffi::CStr = c"scimitar.statement_clock";

thread_local! {
    /// The bound for the connection this thread is opening, read by [`arm`].
    static ARMING: Cell<Option<Duration>> = const { Cell::new(None) };
    /// Set while this thread runs statements that may take as long as they need.
    static UNBOUNDED: Cell<bool> = const { Cell::new(false) };
}

/// One connection's clock. SQLite calls a connection's callbacks only from the thread that is
/// using the connection, one at a time, so plain cells suffice.
struct Clock {
    bound: Duration,
    started: Cell<Option<Instant>>,
}

/// Opens `path` with every statement bounded to `bound`.
pub fn establish(path: &str, bound: Duration) -> ConnectionResult<SqliteConnection> {
    static REGISTER: Once = Once::new();
    // SAFETY: `arm` has the signature SQLite calls an auto extension with.
    REGISTER.call_once(|| unsafe {
        ffi::sqlite3_auto_extension(Some(arm));
    });
    ARMING.set(Some(bound));
    let opened = diesel::Connection::establish(path);
    ARMING.set(None);
    opened
}

/// Runs `f` with no bound on the statements this thread runs, for migrations, which may
/// rightly take longer than any request (as on PostgreSQL).
pub fn unbounded<T>(f: impl FnOnce() -> T) -> T {
    let before = UNBOUNDED.replace(true);
    let out = f();
    UNBOUNDED.set(before);
    out
}

/// The auto extension: puts a clock on the connection being opened if [`establish`] asked.
unsafe extern "C" fn arm(
    db: *mut ffi::sqlite3,
    _error: *mut *mut c_char,
    _api: *const ffi::sqlite3_api_routines,
) -> c_int {
    let Some(bound) = ARMING.take() else {
        return ffi::SQLITE_OK;
    };
    let clock = Box::into_raw(Box::new(Clock {
        bound,
        started: Cell::new(None),
    }))
    .cast::<c_void>();
    // SAFETY: `db` is the connection being opened; the client data owns `clock` and frees it
    // with `free` when the connection closes, after its last callback.
    unsafe {
        ffi::sqlite3_db_config(
            db,
            ffi::SQLITE_DBCONFIG_ENABLE_QPSG,
            1 as c_int,
            std::ptr::null_mut::<c_int>(),
        );
        if ffi::sqlite3_set_clientdata(db, CLIENT_DATA.as_ptr(), clock, Some(free))
            != ffi::SQLITE_OK
        {
            free(clock);
            return ffi::SQLITE_OK;
        }
        ffi::sqlite3_trace_v2(
            db,
            ffi::SQLITE_TRACE_STMT | ffi::SQLITE_TRACE_PROFILE,
            Some(on_trace),
            clock,
        );
        ffi::sqlite3_progress_handler(db, CHECK_EVERY, Some(on_progress), clock);
    }
    ffi::SQLITE_OK
}

unsafe extern "C" fn free(clock: *mut c_void) {
    // SAFETY: `clock` came from `Box::into_raw` in `arm` and is freed once.
    drop(unsafe { Box::from_raw(clock.cast::<Clock>()) });
}

/// A statement starts (STMT; also each trigger it fires, which restarts the clock) or ends
/// (PROFILE), so a clock left over from the last statement never bounds the next prepare.
unsafe extern "C" fn on_trace(
    event: c_uint,
    clock: *mut c_void,
    _statement: *mut c_void,
    _detail: *mut c_void,
) -> c_int {
    // SAFETY: `clock` is the connection's live clock (see `arm`).
    let clock = unsafe { &*clock.cast::<Clock>() };
    let now = (event == ffi::SQLITE_TRACE_STMT).then(Instant::now);
    clock.started.set(now);
    0
}

/// Non-zero interrupts the running statement.
unsafe extern "C" fn on_progress(clock: *mut c_void) -> c_int {
    // SAFETY: `clock` is the connection's live clock (see `arm`).
    let clock = unsafe { &*clock.cast::<Clock>() };
    let late = clock
        .started
        .get()
        .is_some_and(|started| started.elapsed() > clock.bound);
    c_int::from(late && !UNBOUNDED.get())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use diesel::connection::SimpleConnection;
    use diesel::{Connection, SqliteConnection};

    use super::{establish, unbounded};

    /// Counts to ten million: seconds of work, far past the bound below.
    const LONG: &str = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c \
                        WHERE x < 10000000) SELECT count(*) FROM c";

    #[test]
    fn a_statement_past_its_bound_is_interrupted_and_the_connection_goes_on() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("clock.db");
        let path = path.to_str().expect("utf-8 path");
        let mut bounded = establish(path, Duration::from_millis(20)).expect("open");
        let err = bounded.batch_execute(LONG).expect_err("interrupted");
        assert!(err.to_string().contains("interrupted"), "{err}");
        assert!(super::super::is_unavailable(&err), "{err:?}");
        bounded
            .batch_execute("CREATE TABLE t (x); INSERT INTO t VALUES (1)")
            .expect("short statements still run");

        // Connections opened without `establish` have no clock.
        let mut plain = SqliteConnection::establish(path).expect("open");
        plain
            .batch_execute(
                "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c \
                            WHERE x < 200000) SELECT count(*) FROM c",
            )
            .expect("no bound");
    }

    #[test]
    fn unbounded_lifts_the_bound_on_this_thread() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("clock.db");
        let path = path.to_str().expect("utf-8 path");
        let mut bounded = establish(path, Duration::from_millis(1)).expect("open");
        let short = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c \
                     WHERE x < 200000) SELECT count(*) FROM c";
        unbounded(|| bounded.batch_execute(short)).expect("runs to its end");
        assert!(bounded.batch_execute(LONG).is_err(), "bounded again");
    }
}
