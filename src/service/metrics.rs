//! The `/metrics` page: the counters the requests and the deliverer keep, with the gauges read
//! now (the pool, the provisioning log queue, the outbox's oldest undelivered event).

use std::time::Duration;

use crate::metrics::OutboxLag;
use crate::state::AppState;
use crate::storage::{now_millis, webhooks};

/// How long the outbox query may take before the page is served without it.
const OUTBOX_WAIT: Duration = Duration::from_secs(2);

/// The metrics in the OpenMetrics text format.
pub async fn render(state: &AppState) -> String {
    let outbox = match tokio::time::timeout(
        OUTBOX_WAIT,
        state.db.run(|c| Ok(webhooks::oldest_undelivered(c)?)),
    )
    .await
    {
        Ok(Ok(rows)) => rows,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "the outbox lag was not read for /metrics");
            Vec::new()
        }
        Err(_) => {
            tracing::warn!("the outbox lag was not read for /metrics within 2 s");
            Vec::new()
        }
    };
    let now = now_millis();
    let lag: OutboxLag = ["ok", "retrying", "disabled"].map(|name| {
        let oldest = outbox
            .iter()
            .find(|(state, _)| state == name)
            .and_then(|(_, oldest)| *oldest);
        let age = oldest.map(|at| Duration::from_millis(u64::try_from(now - at).unwrap_or(0)));
        (name, age)
    });
    state.metrics.render(
        state.db.pool_use(),
        lag,
        state.log.queued(),
        state.log.dropped_total(),
    )
}
