//! Webhook endpoints, their delivery position and lease, and delivery attempts.

use diesel::prelude::*;

use super::AnyConnection;
use super::events::EventRow;
use super::schema::{events, tenants, webhook_attempts, webhooks};

/// A tenant's webhook endpoint.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = webhooks, treat_none_as_null = true)]
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
pub fn get(conn: &mut AnyConnection, tenant_id: &str) -> QueryResult<Option<WebhookRow>> {
    webhooks::table
        .find(tenant_id)
        .select(WebhookRow::as_select())
        .first(conn)
        .optional()
}

/// Creates or replaces a tenant's webhook.
pub fn put(conn: &mut AnyConnection, row: &WebhookRow) -> QueryResult<()> {
    diesel::delete(webhooks::table.find(&row.tenant_id)).execute(conn)?;
    diesel::insert_into(webhooks::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

/// Removes a tenant's webhook; returns whether there was one.
pub fn delete(conn: &mut AnyConnection, tenant_id: &str) -> QueryResult<bool> {
    diesel::delete(webhooks::table.find(tenant_id))
        .execute(conn)
        .map(|n| n > 0)
}

/// The last event sequence number a tenant has issued.
pub fn current_seq(conn: &mut AnyConnection, tenant_id: &str) -> QueryResult<i64> {
    tenants::table
        .find(tenant_id)
        .select(tenants::event_seq)
        .first(conn)
}

/// Tenants whose webhook is enabled, due, not leased, and behind the event log.
pub fn due(conn: &mut AnyConnection, now: i64, limit: i64) -> QueryResult<Vec<String>> {
    webhooks::table
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
        .load(conn)
}

/// Takes the delivery lease of a tenant's webhook; only one instance at a time holds it, which
/// is what keeps delivery in order and once per instance fleet.
pub fn claim(
    conn: &mut AnyConnection,
    tenant_id: &str,
    owner: &str,
    now: i64,
    until: i64,
) -> QueryResult<bool> {
    diesel::update(
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
    .map(|n| n == 1)
}

/// The next undelivered events of a webhook held by `owner`.
pub fn pending(
    conn: &mut AnyConnection,
    tenant_id: &str,
    owner: &str,
    limit: i64,
) -> QueryResult<Option<(WebhookRow, Vec<EventRow>)>> {
    let Some(hook) = webhooks::table
        .find(tenant_id)
        .filter(webhooks::lease_owner.eq(owner))
        .select(WebhookRow::as_select())
        .first(conn)
        .optional()?
    else {
        return Ok(None);
    };
    let rows = super::events::after(conn, tenant_id, hook.delivered_seq, limit)?;
    Ok(Some((hook, rows)))
}

/// Saves the outcome of an attempt made under `owner`'s lease: the webhook's new state (unless
/// the lease was lost meanwhile) and the attempt itself.
pub fn record(
    conn: &mut AnyConnection,
    owner: &str,
    hook: &WebhookRow,
    attempt: &AttemptRow,
) -> QueryResult<()> {
    diesel::update(
        webhooks::table
            .find(&hook.tenant_id)
            .filter(webhooks::lease_owner.eq(owner)),
    )
    .set(hook)
    .execute(conn)?;
    diesel::insert_into(webhook_attempts::table)
        .values(attempt)
        .execute(conn)
        .map(drop)
}

/// The most recent attempts of a tenant's webhook, newest first.
pub fn attempts(
    conn: &mut AnyConnection,
    tenant_id: &str,
    limit: i64,
) -> QueryResult<Vec<AttemptRow>> {
    webhook_attempts::table
        .filter(webhook_attempts::tenant_id.eq(tenant_id))
        .order((
            webhook_attempts::attempted_at.desc(),
            webhook_attempts::id.desc(),
        ))
        .limit(limit)
        .select(AttemptRow::as_select())
        .load(conn)
}

/// Gives up a lease without recording an attempt.
pub fn release(conn: &mut AnyConnection, tenant_id: &str, owner: &str) -> QueryResult<()> {
    diesel::update(
        webhooks::table
            .find(tenant_id)
            .filter(webhooks::lease_owner.eq(owner)),
    )
    .set((
        webhooks::lease_owner.eq(None::<String>),
        webhooks::lease_until.eq(None::<i64>),
    ))
    .execute(conn)
    .map(drop)
}
