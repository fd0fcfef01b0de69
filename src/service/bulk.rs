//! Bulk requests (RFC 7644 §3.7): each operation is the write its own request would be, with
//! the same validation, events and provisioning log entry, run in the order the plan gives.
//!
//! Operations are prepared one by one outside the write lock (validation, argon2id, a PATCH's
//! trial) and then written in groups of up to [`GROUP`]: one write transaction per group, each
//! operation in its own savepoint, so a failed operation rolls back alone and an initial sync
//! pays one commit per group instead of one per user. A group never holds the write lock for
//! long, so other tenants' writes are not kept waiting behind a large bulk request. An
//! operation that refers to a `bulkId` of the group being gathered first has that group
//! written, so it always sees the resource it names (or knows that its POST failed).

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::resources::{self, Creation, Patching, Replacement, Target, new_id};
use crate::diagnosis::Signals;
use crate::error::ScimError;
use crate::events::log;
use crate::scim::bulk::{self, Action, BULK_RESPONSE_URN, BulkRequest, Method, Operation};
use crate::scim::resource::{self as render, ETagMatch};
use crate::scim::schema::TenantSchemas;
use crate::scim::text;
use crate::state::AppState;
use crate::storage::Scope;
use crate::storage::log::LogRow;
use crate::storage::{self, now_millis};
use crate::storage::{AnyConnection, models::ResourceRow};
use crate::tenant::TenantId;

/// Operations written in one transaction.
const GROUP: usize = 50;
/// How long one operation may wait for the tenant's rate limit before the request stops there.
const RATE_WAIT: Duration = Duration::from_secs(5);

/// Who sent a bulk request, for the provisioning log entry of each of its operations.
#[derive(Debug, Clone)]
pub struct Origin {
    /// The path the SCIM service is mounted at (`/scim/v2`), before each operation's path.
    pub prefix: String,
    pub user_agent: Option<String>,
    /// The tenant whose log the operations go to: the token's, also in dry-run.
    pub tenant: TenantId,
}

/// Runs a bulk request and returns the bulk response: each operation's result, or its error,
/// in its own entry, in request order.
pub async fn run(
    state: &AppState,
    tenant: &TenantId,
    schemas: &TenantSchemas,
    request: BulkRequest,
    origin: Origin,
) -> Value {
    let BulkRequest {
        fail_on_errors,
        operations,
    } = request;
    let plan = bulk::plan(&operations);
    let mut run = Run {
        state,
        tenant,
        schemas,
        origin: &origin,
        operations: &operations,
        results: vec![None; operations.len()],
        ids: HashMap::new(),
        failed: HashMap::new(),
        errors: 0,
        fail_on_errors,
        group: Vec::new(),
        gathering: HashSet::new(),
        notes: HashMap::new(),
    };
    let mut stopped = false;
    for (index, refusal) in plan.refused {
        stopped = run.record(index, Err(refusal.into()), now_millis(), Instant::now());
        if stopped {
            break;
        }
    }
    // The request itself counted once against the tenant's rate; each further operation counts.
    let mut first = true;
    for index in plan.order {
        if stopped {
            break;
        }
        if !std::mem::take(&mut first)
            && let Err(t) = state.throttle.tenant_within(tenant, RATE_WAIT).await
        {
            run.group.push(Item::failed(index, t.into()));
            run.write_group().await;
            break;
        }
        stopped = run.add(index).await;
    }
    if !stopped {
        run.write_group().await;
    }
    json!({
        "schemas": [BULK_RESPONSE_URN],
        "Operations": run.results.into_iter().flatten().collect::<Vec<_>>(),
    })
}

/// The state of one bulk request as it runs.
struct Run<'a> {
    state: &'a AppState,
    tenant: &'a TenantId,
    /// The tenant's resource types, with its extensions.
    schemas: &'a TenantSchemas,
    origin: &'a Origin,
    operations: &'a [Operation],
    /// Each operation's response entry, in request order; `None` until it ran.
    results: Vec<Option<Value>>,
    /// The ids of the resources the request's POSTs created, by bulkId.
    ids: HashMap<String, String>,
    /// The bulkIds whose POST failed, with its status.
    failed: HashMap<String, u16>,
    errors: usize,
    fail_on_errors: Option<usize>,
    /// Prepared operations waiting to be written together.
    group: Vec<Item>,
    /// The bulkIds that the POSTs of `group` define.
    gathering: HashSet<String>,
    /// What an operation's log entry notes when it succeeds, by index (unregistered extensions
    /// it stored as sent).
    notes: HashMap<usize, String>,
}

/// One operation of a group: its work, or why it cannot be done.
struct Item {
    index: usize,
    work: Result<Work, ScimError>,
    /// When the operation started, for its log entry.
    at: i64,
    started: Instant,
}

impl Item {
    fn failed(index: usize, e: ScimError) -> Self {
        Self {
            index,
            work: Err(e),
            at: now_millis(),
            started: Instant::now(),
        }
    }
}

/// An operation ready for the write lock.
enum Work {
    Create(Creation),
    Replace(Replacement),
    Patch(Patching),
    Delete(Target),
}

impl Work {
    /// Runs under the write lock; the row written (none for a delete).
    fn apply(
        self,
        scope: &Scope<'_>,
        c: &mut AnyConnection,
        base: &str,
    ) -> Result<Option<ResourceRow>, ScimError> {
        match self {
            Self::Create(w) => w.apply(scope, c, base).map(Some),
            Self::Replace(w) => w.apply(scope, c, base).map(Some),
            Self::Patch(w) => w.apply(scope, c, base).map(Some),
            Self::Delete(target) => resources::remove(scope, c, &target).map(|()| None),
        }
    }
}

/// What a written operation reports: its row's id and version, or its error.
type Written = Result<Option<(String, i64)>, ScimError>;

impl Run<'_> {
    /// Prepares the operation at `index` and adds it to the group (writing the group first when
    /// the operation needs what it creates); true when the request must stop.
    async fn add(&mut self, index: usize) -> bool {
        let (at, started) = (now_millis(), Instant::now());
        let op = &self.operations[index];
        let action = match &op.action {
            Ok(a) => a,
            Err(v) => {
                self.group.push(Item::failed(index, v.clone().into()));
                return self.write_if_full().await;
            }
        };
        if action.refers_to.iter().any(|b| self.gathering.contains(b)) && self.write_group().await {
            return true;
        }
        let work = match self.dependency_failure(action) {
            Some(e) => Err(e),
            None => self.prepare(action).await,
        };
        if let (Ok(Work::Create(_)), Some(b)) = (&work, &op.bulk_id) {
            self.gathering.insert(b.clone());
        }
        let unregistered = match &work {
            Ok(Work::Create(w)) => w.unregistered(),
            Ok(Work::Replace(w)) => w.unregistered(),
            Ok(Work::Patch(w)) => w.unregistered(),
            _ => &[],
        };
        if let Some(note) = crate::events::log::kept_unregistered(unregistered) {
            self.notes.insert(index, note);
        }
        self.group.push(Item {
            index,
            work,
            at,
            started,
        });
        self.write_if_full().await
    }

    /// A 409 when a POST this operation refers to failed (RFC 7644 §3.7.3).
    fn dependency_failure(&self, action: &Action) -> Option<ScimError> {
        let (bulk_id, status) = action
            .refers_to
            .iter()
            .find_map(|b| self.failed.get(b).map(|s| (b, s)))?;
        Some(ScimError::Conflict(format!(
            "the POST with bulkId {bulk_id:?} failed ({status}), so this operation, which \
             refers to it, was not run"
        )))
    }

    async fn prepare(&self, action: &Action) -> Result<Work, ScimError> {
        let (state, tenant) = (self.state, self.tenant);
        let rt = self.schemas.resource_type(action.rt);
        let mut data = action.data.clone().unwrap_or(Value::Null);
        bulk::resolve(&mut data, &self.ids);
        let target = || -> Result<Target, ScimError> {
            let id = self.target_id(action).ok_or_else(|| {
                ScimError::internal(anyhow::anyhow!(
                    "a bulk operation's target was not resolved"
                ))
            })?;
            Ok(Target {
                rt: rt.clone(),
                id,
                if_match: action.version.as_deref().map(ETagMatch::parse),
            })
        };
        Ok(match action.method {
            Method::Post => {
                Work::Create(Creation::prepare(state, tenant, rt.clone(), data, new_id()).await?)
            }
            Method::Put => {
                Work::Replace(Replacement::prepare(state, tenant, target()?, data).await?)
            }
            Method::Patch => Work::Patch(Patching::prepare(state, tenant, target()?, data).await?),
            Method::Delete => Work::Delete(target()?),
        })
    }

    /// The id of the resource a PUT, PATCH or DELETE acts on, its bulkId resolved.
    fn target_id(&self, action: &Action) -> Option<String> {
        match action.target.as_ref()? {
            bulk::Target::Id(id) => Some(id.clone()),
            bulk::Target::BulkId(b) => self.ids.get(b).cloned(),
        }
    }

    async fn write_if_full(&mut self) -> bool {
        self.group.len() >= GROUP && self.write_group().await
    }

    /// Writes the gathered operations in one transaction and records their results; true when
    /// `failOnErrors` stopped the request.
    async fn write_group(&mut self) -> bool {
        let group = std::mem::take(&mut self.group);
        self.gathering.clear();
        if group.is_empty() {
            return false;
        }
        let allowance = self.fail_on_errors.map(|f| f.saturating_sub(self.errors));
        let mut meta = Vec::with_capacity(group.len());
        let mut work = Vec::with_capacity(group.len());
        for item in group {
            meta.push((item.index, item.at, item.started));
            work.push(item.work);
        }
        let base = self.state.base_url.clone();
        let count = work.len();
        let written = resources::write(self.state, self.tenant, move |scope, c| {
            write_in_savepoints(scope, c, &base, work, allowance)
        })
        .await;
        let outcomes: Vec<Written> = match written {
            Ok(outcomes) => outcomes,
            // Nothing of the group was written: every operation in it gets the reason.
            Err(e) => (0..count).map(|_| Err(clone_error(&e))).collect(),
        };
        for ((index, at, started), outcome) in meta.into_iter().zip(outcomes) {
            if self.record(index, outcome, at, started) {
                return true;
            }
        }
        false
    }

    /// Records one operation's result, its log entry and, for a POST, its id or failure; true
    /// when this was the error `failOnErrors` allows no more of.
    fn record(&mut self, index: usize, outcome: Written, at: i64, started: Instant) -> bool {
        let op = &self.operations[index];
        let action = op.action.as_ref().ok();
        let rt = action.map(|a| a.rt);
        let is_post = action.is_some_and(|a| a.method == Method::Post);
        let (status, id, version, error) = match outcome {
            Ok(Some((id, version))) => (
                if is_post { 201 } else { 200 },
                Some(id),
                Some(version),
                None,
            ),
            Ok(None) => (204, None, None, None),
            Err(e) => {
                let status = actix_web::ResponseError::status_code(&e).as_u16();
                (status, None, None, Some(e))
            }
        };
        let target_id = id
            .clone()
            .or_else(|| action.and_then(|a| self.target_id(a)));
        if let Some(b) = &op.bulk_id
            && is_post
        {
            match &id {
                Some(id) if error.is_none() => {
                    self.ids.insert(b.clone(), id.clone());
                }
                _ => {
                    self.failed.insert(b.clone(), status);
                }
            }
        }
        let location = match (rt, &target_id) {
            (Some(rt), Some(id)) if !(error.is_some() && is_post) => {
                Some(render::location(&self.state.base_url, rt, id))
            }
            _ => None,
        };
        let (scim_type, detail) = log::refusal(error.as_ref());
        let note = self.notes.remove(&index);
        let detail = detail.or(note.filter(|_| error.is_none()));
        let method = op
            .method
            .as_deref()
            .map_or_else(|| "?".to_owned(), |m| text::scrub(m).to_ascii_uppercase());
        let shown = action
            .and_then(|a| Some(Signals::of_write(&method, a.rt, a.data.as_ref()?)))
            .unwrap_or_default();
        let signals =
            shown | Signals::of_outcome(&method, rt.map(|rt| rt.id), status, scim_type.as_deref());
        // Each operation's entry keeps the shape of its own data, as its own request would.
        let shape = action.and_then(|a| a.data.as_ref()).map(|data| {
            self.state
                .shapes
                .tenant(self.origin.tenant.as_str())
                .shape(data)
        });
        let row = LogRow {
            shape,
            status: i32::from(status),
            resource_type: rt.map(|rt| rt.id.to_owned()),
            resource_id: target_id.clone(),
            latency_ms: i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX),
            scim_type,
            detail,
            user_agent: self.origin.user_agent.clone(),
            ..LogRow::new(
                self.origin.tenant.as_str().to_owned(),
                at,
                method,
                log_path(&self.origin.prefix, action, target_id.as_deref()),
            )
        };
        self.state.log.send_with(row, signals);
        self.results[index] = Some(bulk::result(
            op.method.as_deref(),
            op.bulk_id.as_deref(),
            location.as_deref(),
            version.map(render::etag).as_deref(),
            status,
            error.as_ref().map(ScimError::body),
        ));
        if error.is_some() {
            self.errors += 1;
        }
        self.fail_on_errors.is_some_and(|f| self.errors >= f)
    }
}

/// The path an operation's log entry shows: where its own request would have gone.
fn log_path(prefix: &str, action: Option<&Action>, id: Option<&str>) -> String {
    match (action, id) {
        (Some(a), Some(id)) if a.method != Method::Post => {
            format!("{prefix}{}/{id}", a.rt.endpoint)
        }
        (Some(a), _) => format!("{prefix}{}", a.rt.endpoint),
        (None, _) => format!("{prefix}/Bulk"),
    }
}

/// Writes each operation in its own savepoint, in order, until `allowance` errors (when set)
/// have happened; the operations after that are not run and get no result. A busy or
/// unreachable database fails the whole group, which is then rolled back.
fn write_in_savepoints(
    scope: &Scope<'_>,
    c: &mut AnyConnection,
    base: &str,
    work: Vec<Result<Work, ScimError>>,
    allowance: Option<usize>,
) -> Result<Vec<Written>, ScimError> {
    let mut out = Vec::with_capacity(work.len());
    let mut errors = 0;
    for w in work {
        if allowance.is_some_and(|a| errors >= a) {
            break;
        }
        let written = w.and_then(|w| {
            storage::savepoint(c, |c| w.apply(scope, c, base))
                .map(|row| row.map(|r| (r.id, r.version)))
        });
        if let Err(e @ ScimError::Unavailable(_)) = written {
            return Err(e);
        }
        errors += usize::from(written.is_err());
        out.push(written);
    }
    Ok(out)
}

/// The same failure for each operation of a group that could not be written.
fn clone_error(e: &ScimError) -> ScimError {
    match e {
        ScimError::Unavailable(d) => ScimError::Unavailable(d.clone()),
        ScimError::TooManyRequests(t) => ScimError::TooManyRequests(t.clone()),
        other => ScimError::internal(anyhow::anyhow!("{other}")),
    }
}
