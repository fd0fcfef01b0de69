//! What `/readyz` reads and reports: the application's background tasks (webhook delivery, the
//! provisioning log writer, pruning, statistics), named so it can say which one stopped, and
//! its last answer. `service::health` makes the checks.

use std::borrow::Cow;
use std::sync::Mutex;
use std::time::Instant;

use tokio::task::AbortHandle;

/// The state of an instance's health that the app state holds.
#[derive(Default)]
pub struct Health {
    /// The background tasks started.
    pub background: Background,
    /// The last readiness answer and when it was made, shared by the probes that follow it.
    pub last: tokio::sync::Mutex<Option<(Instant, Readiness)>>,
}

/// One check of `/readyz`: its name and, when it fails, why, in words an operator acts on.
#[derive(Debug, Clone)]
pub struct Check {
    /// `database`, `migrations` or `background`.
    pub name: &'static str,
    /// Why the check fails; `None` when it holds.
    pub problem: Option<String>,
}

/// The checks of one readiness answer.
#[derive(Debug, Clone)]
pub struct Readiness {
    /// Each check, in a fixed order.
    pub checks: Vec<Check>,
}

impl Readiness {
    /// Whether every check holds.
    pub fn ready(&self) -> bool {
        self.checks.iter().all(|c| c.problem.is_none())
    }
}

/// The background tasks an application has started; empty until it runs.
#[derive(Default)]
pub struct Background {
    tasks: Mutex<Vec<(Cow<'static, str>, AbortHandle)>>,
}

/// What the background tasks are doing, as `/readyz` reports it.
#[derive(Debug, PartialEq, Eq)]
pub enum Liveness {
    /// None has been started yet (the application is built but not running).
    NotStarted,
    /// Every task started is still running.
    Running,
    /// These tasks have ended (a panic, or a loop that returned).
    Stopped(Vec<String>),
}

impl Background {
    /// Records a started task under a name a person reads in `/readyz`.
    pub fn track(&self, name: impl Into<Cow<'static, str>>, task: AbortHandle) {
        self.lock().push((name.into(), task));
    }

    /// Whether the tasks started are all still running.
    pub fn liveness(&self) -> Liveness {
        let tasks = self.lock();
        if tasks.is_empty() {
            return Liveness::NotStarted;
        }
        let stopped: Vec<_> = tasks
            .iter()
            .filter(|(_, t)| t.is_finished())
            .map(|(name, _)| name.to_string())
            .collect();
        if stopped.is_empty() {
            Liveness::Running
        } else {
            Liveness::Stopped(stopped)
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(Cow<'static, str>, AbortHandle)>> {
        // A panic elsewhere while holding the list leaves it whole: the names and handles stay.
        self.tasks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_task_that_ended_is_named() {
        let background = Background::default();
        assert_eq!(background.liveness(), Liveness::NotStarted);
        let forever = tokio::spawn(std::future::pending::<()>());
        let ended = tokio::spawn(async {});
        background.track("forever", forever.abort_handle());
        background.track("short-lived", ended.abort_handle());
        ended.await.expect("the task ends");
        assert_eq!(
            background.liveness(),
            Liveness::Stopped(vec!["short-lived".to_owned()])
        );
        forever.abort();
        let _ = forever.await;
        assert_eq!(
            background.liveness(),
            Liveness::Stopped(vec!["forever".to_owned(), "short-lived".to_owned()])
        );
    }

    #[tokio::test]
    async fn running_tasks_are_running() {
        let background = Background::default();
        let forever = tokio::spawn(std::future::pending::<()>());
        background.track("forever", forever.abort_handle());
        assert_eq!(background.liveness(), Liveness::Running);
        forever.abort();
    }
}
