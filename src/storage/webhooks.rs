//! Webhook endpoints, their delivery position and lease, and delivery attempts.

use diesel::prelude::*;

use super::AnyConnection;
use super::Scope;
use super::StoreResult;
use super::events::EventRow;
use super::schema::{events, tenants, webhook_attempts, webhooks};

/// A tenant's webhook endpoint.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = webhooks)]
pub struct WebhookRow {
    pub tenant_id: String,
    pub url: String,
    pub secret: String,
    pub enabled: bool,
    pub delivered_seq: i64,
    pub failures: i32,
    pub next_attempt_at: i64,
    pub lease_owner: Option<String>,
    pub lease_until: Option<i64>,
    pub disabled_reason: Option<String>,
    pub created_at: i64,
    /// How events are sent: `standard_webhooks` or `set` (see `events::webhooks::Format`).
    pub format: String,
}

/// One delivery attempt.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = webhook_attempts)]
pub struct AttemptRow {
    pub tenant_id: String,
    pub id: String,
    pub event_seq: i64,
    pub attempted_at: i64,
    pub status_code: Option<i32>,
    pub error: Option<String>,
    pub duration_ms: i64,
}

/// A tenant's webhook, if it has one.
pub fn get(conn: &mut AnyConnection, scope: &Scope<'_>) -> StoreResult<Option<WebhookRow>> {
    let tenant_id = scope.id();
    Ok(webhooks::table
        .find(tenant_id)
        .select(WebhookRow::as_select())
        .first(conn)
        .optional()?)
}

/// Creates a tenant's webhook.
pub fn insert(conn: &mut AnyConnection, row: &WebhookRow) -> StoreResult<()> {
    Ok(diesel::insert_into(webhooks::table)
        .values(row)
        .execute(conn)
        .map(drop)?)
}

/// Applies an admin's change to a webhook. It also ends any delivery lease, so a deliverer in
/// the middle of a batch stops at its next step instead of writing old settings back; the
/// delivery position is left alone.
pub fn update_settings(conn: &mut AnyConnection, row: &WebhookRow) -> StoreResult<()> {
    Ok(diesel::update(webhooks::table.find(&row.tenant_id))
        .set((
            webhooks::url.eq(&row.url),
            webhooks::format.eq(&row.format),
            webhooks::secret.eq(&row.secret),
            webhooks::enabled.eq(row.enabled),
            webhooks::failures.eq(row.failures),
            webhooks::next_attempt_at.eq(row.next_attempt_at),
            webhooks::disabled_reason.eq(&row.disabled_reason),
            webhooks::lease_owner.eq(None::<String>),
            webhooks::lease_until.eq(None::<i64>),
        ))
        .execute(conn)
        .map(drop)?)
}

/// Moves a tenant's webhook back to just before event `seq`, so that event and every later one
/// are delivered again, in order; returns whether it moved (false: `seq` was not delivered yet).
/// A delivery in flight loses its lease and stops, as after a change of settings.
pub fn rewind(
    conn: &mut AnyConnection,
    scope: &Scope<'_>,
    seq: i64,
    now: i64,
) -> StoreResult<bool> {
    let tenant_id = scope.id();
    Ok(diesel::update(
        webhooks::table
            .find(tenant_id)
            .filter(webhooks::delivered_seq.ge(seq)),
    )
    .set((
        webhooks::delivered_seq.eq(seq - 1),
        webhooks::next_attempt_at.eq(now),
        webhooks::lease_owner.eq(None::<String>),
        webhooks::lease_until.eq(None::<i64>),
    ))
    .execute(conn)
    .map(|n| n == 1)?)
}

/// Removes a tenant's webhook; returns whether there was one.
pub fn delete(conn: &mut AnyConnection, scope: &Scope<'_>) -> StoreResult<bool> {
    let tenant_id = scope.id();
    Ok(diesel::delete(webhooks::table.find(tenant_id))
        .execute(conn)
        .map(|n| n > 0)?)
}

/// The last event sequence number a tenant has issued.
pub fn current_seq(conn: &mut AnyConnection, scope: &Scope<'_>) -> StoreResult<i64> {
    let tenant_id = scope.id();
    Ok(tenants::table
        .find(tenant_id)
        .select(tenants::event_seq)
        .first(conn)?)
}

/// Tenants whose webhook is enabled, due, not leased, and behind the event log.
pub fn due(conn: &mut AnyConnection, now: i64, limit: i64) -> StoreResult<Vec<String>> {
    Ok(webhooks::table
        .filter(webhooks::enabled.eq(true))
        .filter(webhooks::next_attempt_at.le(now))
        .filter(
            webhooks::lease_until
                .is_null()
                .or(webhooks::lease_until.lt(now)),
        )
        .filter(diesel::dsl::exists(
            events::table
                .filter(events::tenant_id.eq(webhooks::tenant_id))
                .filter(events::seq.gt(webhooks::delivered_seq)),
        ))
        .order(webhooks::next_attempt_at)
        .limit(limit)
        .select(webhooks::tenant_id)
        .load(conn)?)
}

/// Takes the delivery lease of a tenant's webhook; only one instance at a time holds it, which
/// is what keeps delivery in order and once per instance fleet.
pub fn claim(
    conn: &mut AnyConnection,
    scope: &Scope<'_>,
    owner: &str,
    now: i64,
    until: i64,
) -> StoreResult<bool> {
    let tenant_id = scope.id();
    Ok(diesel::update(
        webhooks::table.find(tenant_id).filter(
            webhooks::lease_until
                .is_null()
                .or(webhooks::lease_until.lt(now)),
        ),
    )
    .set((
        webhooks::lease_owner.eq(owner),
        webhooks::lease_until.eq(until),
    ))
    .execute(conn)
    .map(|n| n == 1)?)
}

/// The next undelivered events of a webhook held by `owner`.
pub fn pending(
    conn: &mut AnyConnection,
    scope: &Scope<'_>,
    owner: &str,
    limit: i64,
) -> StoreResult<Option<(WebhookRow, Vec<EventRow>)>> {
    let tenant_id = scope.id();
    let Some(hook) = webhooks::table
        .find(tenant_id)
        .filter(webhooks::lease_owner.eq(owner))
        .select(WebhookRow::as_select())
        .first(conn)
        .optional()?
    else {
        return Ok(None);
    };
    let rows = super::events::after(conn, scope, hook.delivered_seq, limit)?;
    Ok(Some((hook, rows)))
}

/// What one delivery attempt did to a webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The event was accepted: the position moves on and the lease is renewed until `lease_until`.
    Delivered { seq: i64, lease_until: i64 },
    /// The event was not accepted: retry at `next_attempt_at`, or switch the webhook off with
    /// the given reason. The lease ends.
    Failed {
        failures: i32,
        next_attempt_at: i64,
        switch_off: Option<String>,
    },
    /// The batch ended: the lease ends.
    Done,
}

/// Saves an attempt and its outcome, made under `owner`'s lease. Returns whether the lease was
/// still held: when it was not (an admin changed or removed the webhook, or the lease lapsed),
/// nothing but the attempt is written and the caller must stop.
pub fn record(
    conn: &mut AnyConnection,
    scope: &Scope<'_>,
    owner: &str,
    outcome: &Outcome,
    attempt: Option<&AttemptRow>,
) -> StoreResult<bool> {
    let tenant_id = scope.id();
    let held = webhooks::table
        .find(tenant_id)
        .filter(webhooks::lease_owner.eq(owner));
    let released = (
        webhooks::lease_owner.eq(None::<String>),
        webhooks::lease_until.eq(None::<i64>),
    );
    let n = match outcome {
        Outcome::Delivered { seq, lease_until } => diesel::update(held)
            .set((
                webhooks::delivered_seq.eq(seq),
                webhooks::failures.eq(0),
                webhooks::lease_until.eq(lease_until),
            ))
            .execute(conn)?,
        Outcome::Failed {
            failures,
            next_attempt_at,
            switch_off: None,
        } => diesel::update(held)
            .set((
                webhooks::failures.eq(failures),
                webhooks::next_attempt_at.eq(next_attempt_at),
                released,
            ))
            .execute(conn)?,
        Outcome::Failed {
            failures,
            switch_off: Some(reason),
            ..
        } => diesel::update(held)
            .set((
                webhooks::failures.eq(failures),
                webhooks::enabled.eq(false),
                webhooks::disabled_reason.eq(reason),
                released,
            ))
            .execute(conn)?,
        Outcome::Done => diesel::update(held).set(released).execute(conn)?,
    };
    if let Some(a) = attempt {
        diesel::insert_into(webhook_attempts::table)
            .values(a)
            .execute(conn)?;
    }
    Ok(n == 1)
}

/// The most recent attempts of a tenant's webhook, newest first.
pub fn attempts(
    conn: &mut AnyConnection,
    scope: &Scope<'_>,
    limit: i64,
) -> StoreResult<Vec<AttemptRow>> {
    let tenant_id = scope.id();
    Ok(webhook_attempts::table
        .filter(webhook_attempts::tenant_id.eq(tenant_id))
        .order((
            webhook_attempts::attempted_at.desc(),
            webhook_attempts::id.desc(),
        ))
        .limit(limit)
        .select(AttemptRow::as_select())
        .load(conn)?)
}

/// Deletes delivery attempts older than `cutoff`; returns how many.
pub fn prune_attempts(conn: &mut AnyConnection, cutoff: i64) -> StoreResult<usize> {
    Ok(
        diesel::delete(webhook_attempts::table.filter(webhook_attempts::attempted_at.lt(cutoff)))
            .execute(conn)?,
    )
}

#[derive(QueryableByName)]
struct Oldest {
    #[diesel(sql_type = diesel::sql_types::Text)]
    state: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::BigInt>)]
    oldest: Option<i64>,
}

/// When the oldest event not yet delivered to a webhook occurred (epoch ms), by the webhooks'
/// state: `ok`, `retrying` (failed last time) or `disabled`; states without webhooks are left
/// out. Every tenant's webhook, one primary-key probe of its events each: for `/metrics`.
pub fn oldest_undelivered(conn: &mut AnyConnection) -> StoreResult<Vec<(String, Option<i64>)>> {
    let rows: Vec<Oldest> = diesel::sql_query(
        "SELECT state, MIN(oldest) AS oldest FROM ( \
           SELECT CASE WHEN NOT w.enabled THEN 'disabled' \
                       WHEN w.failures > 0 THEN 'retrying' ELSE 'ok' END AS state, \
                  (SELECT e.occurred_at FROM events e \
                    WHERE e.tenant_id = w.tenant_id AND e.seq > w.delivered_seq \
                    ORDER BY e.seq LIMIT 1) AS oldest \
           FROM webhooks w) pending \
         GROUP BY state",
    )
    .load(conn)?;
    Ok(rows.into_iter().map(|r| (r.state, r.oldest)).collect())
}
