//! Whether this instance can serve, as `/readyz` tells a load balancer or an orchestrator.

use std::time::{Duration, Instant};

use crate::health::{Check, Liveness, Readiness};
use crate::state::AppState;
use crate::storage::migrate;

/// How long the database may take to answer the readiness check.
const DATABASE_WAIT: Duration = Duration::from_secs(2);
/// How long one readiness answer is reused: a flood of probes costs one database query a second.
const REUSE_FOR: Duration = Duration::from_secs(1);

/// Checks the database (reachable, every migration of this build applied) and the background
/// tasks (started and running); at most once a second, however many probes come.
pub async fn readiness(state: &AppState) -> Readiness {
    // Probes that come while one checks wait for its answer instead of checking again.
    let mut last = state.health.last.lock().await;
    if let Some((at, answer)) = last.as_ref()
        && at.elapsed() < REUSE_FOR
    {
        return answer.clone();
    }
    let (database, migrations) =
        match tokio::time::timeout(DATABASE_WAIT, state.db.run(migrate::unapplied)).await {
            Err(_) => (
                Some(format!("no answer within {} s", DATABASE_WAIT.as_secs())),
                Some("not read: the database did not answer".to_owned()),
            ),
            Ok(Err(e)) => (
                Some(format!("unreachable: {e}")),
                Some("not read: the database did not answer".to_owned()),
            ),
            Ok(Ok(0)) => (None, None),
            Ok(Ok(n)) => (
                None,
                Some(format!(
                    "{n} migration(s) of this build not applied: run `scimitar migrate`"
                )),
            ),
        };
    let background = match state.health.background.liveness() {
        Liveness::Running => None,
        Liveness::NotStarted => Some("not started".to_owned()),
        Liveness::Stopped(names) => Some(format!("stopped: {}", names.join(", "))),
    };
    let answer = Readiness {
        checks: vec![
            Check {
                name: "database",
                problem: database,
            },
            Check {
                name: "migrations",
                problem: migrations,
            },
            Check {
                name: "background",
                problem: background,
            },
        ],
    };
    *last = Some((Instant::now(), answer.clone()));
    answer
}
