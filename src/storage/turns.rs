//! PostgreSQL writers of one tenant take turns here, in this process, before they ask the
//! database for the tenant's row lock.
//!
//! A backend that waits for a row lock holds a snapshot. While one of a tenant's writers always
//! waits (a busy sync on several connections), no old version of the rows every write of that
//! tenant updates (its event counter, its resource counts) can be pruned, the rows' version
//! chains grow without end, and each write walks them: a bulk sync on 4 connections ran at 210
//! users/s against 2,105 on one (BENCHMARKS.md, run 19). Waiting here holds no snapshot. Writers
//! on other instances still queue in the database, as before.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{Mutex as Turn, OwnedMutexGuard};

/// The turns of every tenant that has a writer now; cheap to clone.
#[derive(Clone, Default)]
pub(super) struct Turns {
    tenants: Arc<Mutex<HashMap<String, Arc<Turn<()>>>>>,
}

/// A writer's turn; the next writer of its tenant goes once it is dropped.
pub(super) struct Held {
    turns: Turns,
    tenant: String,
    guard: Option<OwnedMutexGuard<()>>,
}

impl Turns {
    /// Waits for `tenant`'s turn (first come, first served).
    pub(super) async fn take(&self, tenant: &str) -> Held {
        let turn = self.map().entry(tenant.to_owned()).or_default().clone();
        Held {
            turns: self.clone(),
            tenant: tenant.to_owned(),
            guard: Some(turn.lock_owned().await),
        }
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Turn<()>>>> {
        self.tenants.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut map = self.turns.map();
        // The map's and this guard's are the only references: nobody else waits, so the entry
        // goes and the map holds only tenants with a writer.
        if map
            .get(&self.tenant)
            .is_some_and(|t| Arc::strong_count(t) == 2)
        {
            map.remove(&self.tenant);
        }
        drop(self.guard.take());
    }
}

#[cfg(test)]
mod tests {
    use super::Turns;

    #[tokio::test]
    async fn a_tenant_waits_for_its_own_turn_only_and_leaves_nothing_behind() {
        let turns = Turns::default();
        let first = turns.take("a").await;
        // Another tenant goes at once.
        let other = turns.take("b").await;
        let waiting = {
            let turns = turns.clone();
            tokio::spawn(async move { turns.take("a").await })
        };
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "the second writer of a waits");
        drop(first);
        let second = waiting.await.expect("task");
        drop((second, other));
        assert!(turns.map().is_empty());
    }
}
