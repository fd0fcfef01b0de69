//! Poll-based SET delivery (RFC 8936) of a tenant's events: the receiver acknowledges the SETs
//! it has kept and gets those it has not acknowledged yet, again until it does. Acknowledged
//! SETs are not sent again; the receiver's position moves past them in order.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::error::ScimError;
use crate::events::secevent::{POLL_CONSUMER, scim_event};
use crate::state::AppState;
use crate::storage::events::EventRow;
use crate::storage::secevents as store;
use crate::storage::{Scope, now_millis, tenant_tx};
use crate::tenant::TenantId;

/// The most SETs one answer holds, whatever `maxEvents` asks.
pub const MAX_EVENTS: usize = 100;
/// The most acknowledgements and errors one request may carry together.
pub const MAX_ACKS: usize = 1000;
/// The longest `jti` a request may name (this service's are 36 characters).
const MAX_JTI_LEN: usize = 64;
/// The most of a receiver's error kept in the log.
const MAX_ERROR_LEN: usize = 200;
/// Events after the receiver's position read per poll: acknowledgements of SETs beyond them
/// name nothing this service has sent, and the SETs returned come from them.
const SCAN: i64 = 1000;
/// How long a poll with `returnImmediately: false` waits for a SET (RFC 8936 §2.4.1 long
/// polling), and how often it looks meanwhile.
const LONG_POLL: Duration = Duration::from_secs(10);
const LONG_POLL_STEP: Duration = Duration::from_millis(250);

/// A poll request (RFC 8936 §2.1).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct PollRequest {
    /// The most SETs to return (up to 100); 0 only acknowledges. Left out, up to 100.
    #[serde(rename = "maxEvents")]
    pub max_events: Option<u32>,
    /// Answer at once even when no SET is available; else the poll waits up to 10 seconds
    /// for one.
    #[serde(rename = "returnImmediately", default)]
    pub return_immediately: bool,
    /// The `jti` of each SET the receiver has kept: it is not sent again.
    #[serde(default)]
    pub ack: Vec<String>,
    /// SETs the receiver could not accept, by `jti`: not sent again either (RFC 8936 §2.2);
    /// each error is logged.
    #[serde(rename = "setErrs", default)]
    pub set_errs: BTreeMap<String, SetError>,
}

/// Why a receiver could not accept a SET (RFC 8936 §2.2, the error of RFC 8935 §2.3).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct SetError {
    /// An error code such as `invalid_key`.
    pub err: String,
    /// What went wrong, in words.
    #[serde(default)]
    pub description: Option<String>,
}

/// What one poll does inside the tenant's transaction: the events to send, and whether more
/// wait beyond them.
struct Pending {
    rows: Vec<EventRow>,
    more_available: bool,
}

/// Takes a poll: records its acknowledgements and errors, and answers with the SETs the
/// receiver has not acknowledged (RFC 8936 §2.3: `{"sets": {jti: SET}, "moreAvailable": …}`).
pub async fn poll(
    state: &AppState,
    tenant: &TenantId,
    request: PollRequest,
) -> Result<Value, ScimError> {
    let named = request.ack.len() + request.set_errs.len();
    if named > MAX_ACKS {
        return Err(ScimError::LimitExceeded(format!(
            "a poll acknowledges at most {MAX_ACKS} SETs (ack and setErrs together), not {named}"
        )));
    }
    if let Some(long) = request
        .ack
        .iter()
        .chain(request.set_errs.keys())
        .find(|j| j.len() > MAX_JTI_LEN)
    {
        return Err(ScimError::InvalidValue(format!(
            "{:?}… is not the jti of a SET this service sent",
            long.chars().take(16).collect::<String>()
        )));
    }
    for (jti, e) in &request.set_errs {
        let said = format!(
            "{}: {}",
            e.err,
            e.description.as_deref().unwrap_or_default()
        );
        let said: String = said.chars().take(MAX_ERROR_LEN).collect();
        tracing::warn!(tenant = %tenant, jti = %jti, error = ?said, "a SET poll receiver could not accept a SET");
    }
    let max = request
        .max_events
        .map_or(MAX_EVENTS, |m| (m as usize).min(MAX_EVENTS));
    let mut acks: Vec<String> = request.ack;
    acks.extend(request.set_errs.into_keys());
    let deadline = tokio::time::Instant::now() + LONG_POLL;
    loop {
        let (sets, more_available) = take(state, tenant, std::mem::take(&mut acks), max).await?;
        let wait = !request.return_immediately && max > 0 && sets.is_empty();
        if !wait || tokio::time::Instant::now() + LONG_POLL_STEP > deadline {
            return Ok(json!({"sets": sets, "moreAvailable": more_available}));
        }
        tokio::time::sleep(LONG_POLL_STEP).await;
    }
}

/// One look at the tenant's stream: acknowledges `acks`, then signs up to `max` of the SETs
/// not acknowledged.
async fn take(
    state: &AppState,
    tenant: &TenantId,
    acks: Vec<String>,
    max: usize,
) -> Result<(Map<String, Value>, bool), ScimError> {
    let (tenant, sets) = (tenant.clone(), state.sets.clone());
    state
        .db
        .run(move |c| {
            let keys = sets.keys(c)?;
            let pending = tenant_tx(c, &Scope::new(&tenant), |c| {
                let scope = Scope::new(&tenant);
                Ok(acknowledge_and_read(c, &scope, &acks, max)?)
            })?;
            let mut out = Map::new();
            for row in &pending.rows {
                if let Some(token) = sets.token(&keys, row)? {
                    out.insert(row.id.clone(), token.into());
                }
            }
            Ok((out, pending.more_available))
        })
        .await
}

/// Records acknowledgements of events after the receiver's position, moves the position past
/// every acknowledged event (and every one that is no SET) at its head, and reads up to `max`
/// of the events still owed.
fn acknowledge_and_read(
    c: &mut crate::storage::AnyConnection,
    scope: &Scope<'_>,
    acks: &[String],
    max: usize,
) -> crate::storage::StoreResult<Pending> {
    let (position, rows, mut acked) = store::window(c, scope, POLL_CONSUMER, SCAN)?;
    let window_full = rows.len() as i64 == SCAN;
    let seq_of: HashMap<&str, i64> = rows.iter().map(|r| (r.id.as_str(), r.seq)).collect();
    let fresh: Vec<i64> = acks
        .iter()
        .filter_map(|jti| seq_of.get(jti.as_str()).copied())
        .filter(|seq| acked.insert(*seq))
        .collect();
    let owed = |r: &EventRow| !acked.contains(&r.seq) && scim_event(r).is_some();
    let head = rows.iter().take_while(|r| !owed(r)).count();
    let to = head.checked_sub(1).map_or(position, |i| rows[i].seq);
    let ahead: Vec<i64> = fresh.into_iter().filter(|seq| *seq > to).collect();
    store::acknowledge(c, scope, &ahead)?;
    // Written on every poll, moved or not: retention keeps what a live receiver is owed.
    store::advance(c, scope, POLL_CONSUMER, to, now_millis())?;
    let mut owed_rows = rows.into_iter().skip(head).filter(|r| owed(r));
    let taken: Vec<EventRow> = owed_rows.by_ref().take(max).collect();
    let more_available = owed_rows.next().is_some() || window_full;
    Ok(Pending {
        rows: taken,
        more_available,
    })
}
