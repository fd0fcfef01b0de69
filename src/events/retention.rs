//! Event retention: events carry whole user documents, so they are deleted once older than the
//! retention, and a deleted user's data leaves the feed with them. Events an enabled webhook
//! has not delivered yet are kept until it delivers them or is switched off, and those a host
//! event handler has not handled while it keeps trying.

use std::time::Duration;

use crate::error::ScimError;
use crate::storage::{self, Db, Scope, now_millis};
use crate::tenant::TenantId;

/// How often old events are looked for (more often when the retention is shorter than this).
const PRUNE_EVERY: Duration = Duration::from_secs(600);
/// Events deleted per statement, so pruning holds the write lock only briefly.
const BATCH: i64 = 1000;

/// Deletes old events, tenant by tenant, in bounded batches.
pub struct EventPruner {
    db: Db,
    retention: Duration,
}

impl EventPruner {
    /// A pruner keeping events for `retention`.
    pub fn new(db: Db, retention: Duration) -> Self {
        Self { db, retention }
    }

    /// Prunes until the process stops; at least four rounds per retention, so nothing outlives
    /// it by much more.
    pub async fn run(self) {
        let every = PRUNE_EVERY.min(self.retention / 4);
        loop {
            match self.round().await {
                Ok(0) => {}
                Ok(n) => tracing::debug!(events = n, "old events pruned"),
                Err(e) => tracing::warn!(error = %e, "old events were not pruned"),
            }
            tokio::time::sleep(every).await;
        }
    }

    /// One pass over every tenant; returns how many events went.
    async fn round(&self) -> Result<usize, ScimError> {
        let cutoff = now_millis()
            .saturating_sub(i64::try_from(self.retention.as_millis()).unwrap_or(i64::MAX));
        let tenants = self.db.run(|c| Ok(storage::tenants::list(c)?)).await?;
        let mut pruned = 0;
        for tenant in tenants {
            // Each batch is its own statement and transaction: writers wait for one batch at most.
            loop {
                let id = tenant.id.clone();
                let n = self
                    .db
                    .run(move |c| {
                        Ok(storage::events::prune(
                            c,
                            &Scope::new(&TenantId::from_stored(id)),
                            cutoff,
                            BATCH,
                        )?)
                    })
                    .await?;
                pruned += n;
                if i64::try_from(n).map_or(true, |n| n < BATCH) {
                    break;
                }
            }
        }
        Ok(pruned)
    }
}
