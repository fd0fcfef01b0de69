//! Connection diagnosis: what a tenant's traffic says about its identity provider's setup.
//!
//! Each logged request carries [`Signals`]: habits of its body (read by `scim::dialect`) and
//! facts of its outcome. The provisioning log writer hands every batch to [`Memory`], which
//! tallies the signals per tenant and keeps one finding per [`Kind`] (in `storage::findings`):
//! `watching` while its evidence is below the kind's threshold, then `open`, announced once by a
//! `connection.finding` event, until the admin dismisses it or the traffic shows it fixed. So a
//! request pays for a few flag checks, and the database hears of a tenant only when its traffic
//! showed something, at most every couple of seconds.

pub mod advice;

use advice::Advice;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::BitOr;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Value, json};

use crate::error::ScimError;
use crate::events::{self, EventType};
use crate::scim::dialect;
use crate::scim::schema::{Links, ResourceType, USER_RESOURCE};
use crate::storage::findings::{self as store, FindingRow};
use crate::storage::log::{self, LogQuery, LogRow};
use crate::storage::{AnyConnection, Db, Scope, now_millis, read_snapshot};
use crate::tenant::TenantId;

/// How many log entries a finding keeps as its evidence, newest first.
const EVIDENCE: usize = 5;

/// How the diagnosis judges a tenant's traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// How long users may keep arriving without any group membership before that is a
    /// finding: an IdP's first sync may send its groups well after its users.
    pub membership_grace: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        // JumpCloud reconciles every five minutes or so; three rounds without a membership.
        Self {
            membership_grace: Duration::from_secs(15 * 60),
        }
    }
}

/// What one request showed, as a set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Signals(u16);

impl Signals {
    /// Nothing worth noting.
    pub const NONE: Self = Self(0);
    /// A PATCH in Entra ID's pre-2020 dialect.
    pub const ENTRA_LEGACY: Self = Self(1);
    /// A group's whole member list sent in a PUT.
    pub const MEMBERS_IN_PUT: Self = Self(1 << 1);
    /// A user sent without a userName, or with a blank one.
    pub const BLANK_USER_NAME: Self = Self(1 << 2);
    /// Group members sent: a group created or replaced with members, or a PATCH of members.
    pub const MEMBERSHIP: Self = Self(1 << 3);
    /// A user created.
    pub const USER_CREATED: Self = Self(1 << 4);
    /// A user refused because its userName is another user's.
    pub const USER_NAME_TAKEN: Self = Self(1 << 5);
    /// A token refused because its secret was regenerated.
    pub const REVOKED_TOKEN: Self = Self(1 << 6);
    /// Requests refused by the tenant's rate limit.
    pub const THROTTLED: Self = Self(1 << 7);

    /// Whether every signal of `other` is in this set.
    pub fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// What the body of a write (`POST`, `PUT`, `PATCH`) of `rt` shows.
    pub fn of_write(method: &str, rt: &ResourceType, body: &Value) -> Self {
        let is_group = rt.links == Links::Members;
        let is_user = rt.id == USER_RESOURCE.id;
        let mut signals = Self::NONE;
        match method {
            "PATCH" => {
                if dialect::entra_legacy_patch(body) {
                    signals = signals | Self::ENTRA_LEGACY;
                }
                if is_group && dialect::patches_members(body) {
                    signals = signals | Self::MEMBERSHIP;
                }
            }
            "POST" | "PUT" if is_group && dialect::lists_members(body) => {
                signals = signals | Self::MEMBERSHIP;
                if method == "PUT" {
                    signals = signals | Self::MEMBERS_IN_PUT;
                }
            }
            "POST" | "PUT" if is_user && dialect::blank_user_name(body) => {
                signals = signals | Self::BLANK_USER_NAME;
            }
            _ => {}
        }
        signals
    }

    /// What a request's outcome shows: its method, resource type id, status and scimType.
    pub fn of_outcome(
        method: &str,
        resource_type: Option<&str>,
        status: u16,
        scim_type: Option<&str>,
    ) -> Self {
        let is_user = resource_type == Some(USER_RESOURCE.id);
        match (method, status, scim_type) {
            ("POST", 201, _) if is_user => Self::USER_CREATED,
            // A User's only unique attribute is its userName.
            ("POST" | "PUT" | "PATCH", 409, Some("uniqueness")) if is_user => Self::USER_NAME_TAKEN,
            _ => Self::NONE,
        }
    }
}

impl BitOr for Signals {
    type Output = Self;

    fn bitor(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }
}

/// The identity providers Scimitar tells apart, by the user agent their SCIM clients send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idp {
    Entra,
    Okta,
    JumpCloud,
    OneLogin,
    Google,
    Unknown,
}

impl Idp {
    const ALL: [Self; 6] = [
        Self::Entra,
        Self::Okta,
        Self::JumpCloud,
        Self::OneLogin,
        Self::Google,
        Self::Unknown,
    ];

    /// The IdP a `User-Agent` names, e.g. `Okta SCIM Client 1.0.0` or `Microsoft Azure AD SCIM
    /// provisioning 1.0.0`.
    pub fn of_user_agent(agent: Option<&str>) -> Self {
        let Some(agent) = agent.map(str::to_ascii_lowercase) else {
            return Self::Unknown;
        };
        let names: [(&[&str], Self); 5] = [
            (&["azure ad", "entra", "microsoft"], Self::Entra),
            (&["okta"], Self::Okta),
            (&["jumpcloud"], Self::JumpCloud),
            (&["onelogin"], Self::OneLogin),
            (&["google"], Self::Google),
        ];
        names
            .into_iter()
            .find(|(words, _)| words.iter().any(|w| agent.contains(w)))
            .map_or(Self::Unknown, |(_, idp)| idp)
    }

    /// The stored name, e.g. `entra`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Entra => "entra",
            Self::Okta => "okta",
            Self::JumpCloud => "jumpcloud",
            Self::OneLogin => "onelogin",
            Self::Google => "google",
            Self::Unknown => "unknown",
        }
    }

    /// The IdP of a stored name.
    pub fn named(name: &str) -> Self {
        Self::ALL
            .into_iter()
            .find(|i| i.as_str() == name)
            .unwrap_or(Self::Unknown)
    }

    /// What a person calls it.
    pub fn display(self) -> &'static str {
        match self {
            Self::Entra => "Microsoft Entra ID",
            Self::Okta => "Okta",
            Self::JumpCloud => "JumpCloud",
            Self::OneLogin => "OneLogin",
            Self::Google => "Google Workspace",
            Self::Unknown => "your identity provider",
        }
    }
}

/// The kinds of finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// Entra ID without `aadOptscim062020`.
    EntraLegacyDialect,
    /// Group memberships sent as whole-group PUTs.
    MembersInPut,
    /// Requests with a token whose secret was regenerated.
    RevokedToken,
    /// Users arrive, group memberships never do.
    NoMemberships,
    /// userNames that are empty or another user's.
    UserNameMapping,
    /// Requests refused by the tenant's rate limit.
    RateLimited,
    /// The app's webhook endpoint was switched off.
    WebhookDisabled,
}

impl Kind {
    /// Every kind.
    pub const ALL: [Self; 7] = [
        Self::EntraLegacyDialect,
        Self::MembersInPut,
        Self::RevokedToken,
        Self::NoMemberships,
        Self::UserNameMapping,
        Self::RateLimited,
        Self::WebhookDisabled,
    ];

    /// The wire name, e.g. `revoked_token`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EntraLegacyDialect => "entra_legacy_dialect",
            Self::MembersInPut => "group_members_in_put",
            Self::RevokedToken => "revoked_token",
            Self::NoMemberships => "no_group_memberships",
            Self::UserNameMapping => "user_name_mapping",
            Self::RateLimited => "rate_limited",
            Self::WebhookDisabled => "webhook_disabled",
        }
    }

    /// The kind of a wire name.
    pub fn named(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// How many times it must be seen before it is shown: once is proof for a request's shape;
    /// refusals must repeat, so one request in flight during a change is not a finding.
    fn threshold(self) -> i64 {
        match self {
            Self::EntraLegacyDialect | Self::MembersInPut | Self::WebhookDisabled => 1,
            Self::RevokedToken | Self::UserNameMapping | Self::RateLimited => 3,
            // Users created with no membership anywhere: a first sync would have sent some.
            Self::NoMemberships => 5,
        }
    }

    /// The kind a signal is evidence of.
    fn of_signal(signal: Signals) -> Option<Self> {
        [
            (Signals::ENTRA_LEGACY, Self::EntraLegacyDialect),
            (Signals::MEMBERS_IN_PUT, Self::MembersInPut),
            (Signals::REVOKED_TOKEN, Self::RevokedToken),
            (Signals::USER_CREATED, Self::NoMemberships),
            (Signals::BLANK_USER_NAME, Self::UserNameMapping),
            (Signals::USER_NAME_TAKEN, Self::UserNameMapping),
            (Signals::THROTTLED, Self::RateLimited),
        ]
        .into_iter()
        .find(|(s, _)| *s == signal)
        .map(|(_, k)| k)
    }
}

/// What one batch showed of one kind in one tenant.
#[derive(Debug, Default)]
struct Tally {
    seen: i64,
    /// Newest first, at most [`EVIDENCE`].
    evidence: Vec<String>,
    agent: Option<String>,
    first: i64,
    last: i64,
}

/// What one batch showed of one tenant.
#[derive(Debug, Default)]
struct TenantBatch {
    kinds: BTreeMap<Kind, Tally>,
    /// Group members arrived: users are no longer without memberships.
    memberships: bool,
}

/// Tallies the signals of a batch of log entries, per tenant; entries without signals cost a
/// check each and nothing more.
fn tally(rows: &[LogRow], signals: &[Signals]) -> BTreeMap<String, TenantBatch> {
    let mut tenants: BTreeMap<String, TenantBatch> = BTreeMap::new();
    let signalled = rows
        .iter()
        .zip(signals)
        .filter(|(_, s)| **s != Signals::NONE);
    for (row, signals) in signalled {
        let batch = tenants.entry(row.tenant_id.clone()).or_default();
        batch.memberships |= signals.contains(Signals::MEMBERSHIP);
        for bit in (0..16)
            .map(|b| Signals(1 << b))
            .filter(|b| signals.contains(*b))
        {
            let Some(kind) = Kind::of_signal(bit) else {
                continue;
            };
            let t = batch.kinds.entry(kind).or_default();
            if t.seen == 0 {
                t.first = row.at;
            }
            t.seen += 1;
            t.last = t.last.max(row.at);
            t.evidence.insert(0, row.id.clone());
            t.evidence.truncate(EVIDENCE);
            if row.user_agent.is_some() {
                t.agent.clone_from(&row.user_agent);
            }
        }
    }
    tenants
}

impl Tally {
    /// Adds a later tally of the same kind and tenant.
    fn merge(&mut self, later: Self) {
        if self.seen == 0 {
            self.first = later.first;
        }
        self.seen += later.seen;
        self.last = self.last.max(later.last);
        let mut evidence = later.evidence;
        evidence.append(&mut self.evidence);
        evidence.truncate(EVIDENCE);
        self.evidence = evidence;
        if later.agent.is_some() {
            self.agent = later.agent;
        }
    }
}

impl TenantBatch {
    /// Adds a later batch's tally of the same tenant.
    fn merge(&mut self, later: Self) {
        self.memberships |= later.memberships;
        for (kind, tally) in later.kinds {
            self.kinds.entry(kind).or_default().merge(tally);
        }
    }
}

/// How often one tenant's findings are written at most: a busy tenant's batches are gathered
/// in memory in between, so its sync costs a write every few seconds, not one per batch.
const WRITE_EVERY: Duration = Duration::from_secs(2);
/// Tenants whose findings one flush writes at most, so the log writer is never held up long;
/// the others wait for the next flush, a fifth of a second later.
const FLUSH_TENANTS: usize = 32;

/// What the diagnosis keeps between batches.
#[derive(Debug, Default)]
pub struct Memory {
    policy: Policy,
    /// Tenants seen to have group memberships, which users without one cannot be a finding of.
    with_memberships: HashSet<String>,
    /// What batches showed that is not written yet, per tenant.
    pending: BTreeMap<String, TenantBatch>,
    /// When each tenant's findings were last written, for the last [`WRITE_EVERY`].
    written: HashMap<String, Instant>,
}

impl Memory {
    /// Nothing remembered yet, judging by `policy`.
    pub fn new(policy: Policy) -> Self {
        Self {
            policy,
            ..Self::default()
        }
    }

    /// Tallies what a batch of log entries (written already: the evidence names them) showed;
    /// entries without signals cost a check each and nothing more.
    pub fn note(&mut self, rows: &[LogRow], signals: &[Signals]) {
        for (tenant, mut batch) in tally(rows, signals) {
            // Users created in a tenant known to have memberships show nothing.
            if self.with_memberships.contains(&tenant) {
                batch.kinds.remove(&Kind::NoMemberships);
                batch.memberships = false;
            }
            if !batch.kinds.is_empty() || batch.memberships {
                self.pending.entry(tenant).or_default().merge(batch);
            }
        }
    }

    /// Writes the findings of each tenant (up to [`FLUSH_TENANTS`]) with something pending and
    /// no write in the last [`WRITE_EVERY`]: one write per such tenant.
    pub async fn flush(&mut self, db: &Db) {
        let now = Instant::now();
        self.written.retain(|_, at| now - *at < WRITE_EVERY);
        let due: Vec<String> = self
            .pending
            .keys()
            .filter(|t| !self.written.contains_key(*t))
            .take(FLUSH_TENANTS)
            .cloned()
            .collect();
        for tenant in due {
            let Some(batch) = self.pending.remove(&tenant) else {
                continue;
            };
            self.written.insert(tenant.clone(), now);
            let id = TenantId::from_stored(tenant.clone());
            let policy = self.policy;
            let written = db
                .write(&tenant, move |c| apply(c, &Scope::new(&id), batch, &policy))
                .await;
            match written {
                Ok(true) => {
                    self.with_memberships.insert(tenant);
                }
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(tenant = %tenant, error = %e, "connection findings were not updated");
                }
            }
        }
    }
}

/// Updates a tenant's findings with a batch's tally; returns whether the tenant has group
/// memberships, when the batch made that worth asking.
fn apply(
    c: &mut AnyConnection,
    scope: &Scope<'_>,
    mut batch: TenantBatch,
    policy: &Policy,
) -> Result<bool, ScimError> {
    let has_memberships = batch.memberships
        || (batch.kinds.contains_key(&Kind::NoMemberships) && store::has_memberships(c, scope)?);
    if has_memberships {
        resolve(c, scope, Kind::NoMemberships)?;
        batch.kinds.remove(&Kind::NoMemberships);
    }
    for (kind, t) in batch.kinds {
        let idp = Idp::of_user_agent(t.agent.as_deref());
        let evidence = Evidence {
            seen: t.seen,
            first: t.first,
            last: t.last,
            ids: t.evidence,
            note: None,
        };
        see(c, scope, kind, idp, evidence, policy)?;
    }
    Ok(has_memberships)
}

/// New evidence of a finding.
struct Evidence {
    seen: i64,
    first: i64,
    last: i64,
    ids: Vec<String>,
    note: Option<String>,
}

/// Adds evidence to a finding, opening it (and announcing it) once it reaches its threshold.
/// A resolved finding counts again from zero, and stays resolved (and shown) until it reaches
/// the threshold again.
fn see(
    c: &mut AnyConnection,
    scope: &Scope<'_>,
    kind: Kind,
    idp: Idp,
    new: Evidence,
    policy: &Policy,
) -> Result<(), ScimError> {
    let existing = store::get(c, scope, kind.as_str())?;
    let existed = existing.is_some();
    let mut row = match existing {
        Some(row) => row,
        None => FindingRow {
            tenant_id: scope.id().to_owned(),
            kind: kind.as_str().to_owned(),
            state: "watching".into(),
            idp: idp.as_str().into(),
            seen: 0,
            first_seen: new.first,
            last_seen: new.last,
            opened_at: None,
            resolved_at: None,
            evidence: "[]".into(),
            note: None,
        },
    };
    row.seen += new.seen;
    row.last_seen = row.last_seen.max(new.last);
    if idp != Idp::Unknown {
        row.idp = idp.as_str().into();
    }
    if new.note.is_some() {
        row.note = new.note;
    }
    let mut ids = new.ids;
    ids.extend(serde_json::from_str::<Vec<String>>(&row.evidence).unwrap_or_default());
    ids.truncate(EVIDENCE);
    row.evidence = serde_json::to_string(&ids).map_err(ScimError::internal)?;
    let opens = row.state != "open"
        && row.seen >= kind.threshold()
        && (kind != Kind::NoMemberships || past_grace(&row, policy));
    if opens {
        row.state = "open".into();
        row.opened_at = Some(now_millis());
        events::record(
            c,
            scope,
            EventType::ConnectionFinding,
            announcement(kind, &row),
        )?;
    }
    Ok(store::save(c, &row, existed)?)
}

/// Whether users have kept arriving (in a tenant without memberships, which `apply` has
/// checked) for the whole grace period.
fn past_grace(row: &FindingRow, policy: &Policy) -> bool {
    let grace = i64::try_from(policy.membership_grace.as_millis()).unwrap_or(i64::MAX);
    row.last_seen - row.first_seen >= grace
}

/// Marks a finding resolved, if it is open or being watched; returns whether it was. Its
/// evidence stays, to show what it was.
fn resolve(c: &mut AnyConnection, scope: &Scope<'_>, kind: Kind) -> Result<bool, ScimError> {
    let Some(mut row) = store::get(c, scope, kind.as_str())? else {
        return Ok(false);
    };
    if row.state == "resolved" {
        return Ok(false);
    }
    row.state = "resolved".into();
    row.resolved_at = Some(now_millis());
    row.seen = 0;
    store::save(c, &row, true)?;
    Ok(true)
}

/// Records that the tenant's webhook was switched off; run it in the tenant's write transaction.
pub fn webhook_switched_off(
    c: &mut AnyConnection,
    scope: &Scope<'_>,
    reason: &str,
) -> Result<(), ScimError> {
    let now = now_millis();
    let evidence = Evidence {
        seen: 1,
        first: now,
        last: now,
        ids: Vec::new(),
        note: Some(reason.to_owned()),
    };
    see(
        c,
        scope,
        Kind::WebhookDisabled,
        Idp::Unknown,
        evidence,
        &Policy::default(),
    )
}

/// Records that the tenant's webhook is on again, or removed; run it in the tenant's write
/// transaction.
pub fn webhook_fixed(c: &mut AnyConnection, scope: &Scope<'_>) -> Result<(), ScimError> {
    resolve(c, scope, Kind::WebhookDisabled).map(drop)
}

/// Dismisses a finding the admin has dealt with; `false` when the tenant has no such finding
/// or it was resolved already. Seen again, it opens again.
pub async fn dismiss(db: &Db, tenant: &TenantId, kind: Kind) -> Result<bool, ScimError> {
    let id = tenant.clone();
    db.write(tenant.as_str(), move |c| resolve(c, &Scope::new(&id), kind))
        .await
}

/// How many of the newest log entries are searched for the identity provider's user agent.
const RECENT: i64 = 50;

/// A finding as the admin API and the portal show it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Shown {
    /// e.g. `revoked_token`.
    pub kind: String,
    /// `open`, or `resolved` once dismissed or fixed.
    pub state: String,
    /// The identity provider the evidence came from, e.g. `okta`.
    pub idp: String,
    #[serde(flatten)]
    #[schema(inline)]
    pub advice: Advice,
    /// Times seen since it was last resolved.
    pub seen: i64,
    pub first_seen: String,
    pub last_seen: String,
    pub opened_at: Option<String>,
    pub resolved_at: Option<String>,
    /// A fact the log does not hold, e.g. what the webhook endpoint answered.
    pub note: Option<String>,
    /// The newest provisioning log entries that showed it (entries past the log's retention
    /// are gone), as `GET …/logs` shows them.
    #[serde(serialize_with = "rendered")]
    #[schema(value_type = Vec<Object>)]
    pub evidence: Vec<LogRow>,
}

fn rendered<S: serde::Serializer>(rows: &[LogRow], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(rows.iter().map(events::log::render))
}

/// Who the tenant's identity provider is, from its newest request.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Identity {
    /// e.g. `entra`, or `unknown`.
    pub idp: String,
    /// e.g. `Microsoft Entra ID`.
    pub name: String,
    pub user_agent: String,
    pub last_request_at: String,
}

/// A tenant's connection diagnosis.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Report {
    /// `null` until the identity provider has sent a request.
    pub identity_provider: Option<Identity>,
    /// Open findings first, then resolved ones; newest first within each.
    pub findings: Vec<Shown>,
}

/// Reads a tenant's connection diagnosis: three reads, whatever the traffic.
pub async fn report(db: &Db, tenant: &TenantId) -> Result<Report, ScimError> {
    let tenant = tenant.clone();
    db.run(move |c| read_snapshot(c, |c| read_report(c, &Scope::new(&tenant))))
        .await
}

fn read_report(c: &mut AnyConnection, scope: &Scope<'_>) -> Result<Report, ScimError> {
    // A kind this version does not know (written by a newer one) is left out.
    let mut rows: Vec<(Kind, FindingRow)> = store::of_tenant(c, scope)?
        .into_iter()
        .filter(|r| r.state != "watching")
        .filter_map(|r| Some((Kind::named(&r.kind)?, r)))
        .collect();
    rows.sort_by_key(|(_, r)| (r.state != "open", std::cmp::Reverse(r.last_seen)));
    let ids: Vec<Vec<String>> = rows
        .iter()
        .map(|(_, r)| serde_json::from_str(&r.evidence).unwrap_or_default())
        .collect();
    let entries = log::by_ids(c, scope, &ids.concat())?;
    let recent = log::read(
        c,
        scope,
        &LogQuery {
            status: None,
            since: None,
            until: None,
            before: None,
            limit: RECENT,
        },
    )?;
    let identity_provider = recent
        .into_iter()
        .filter(|r| !r.path.starts_with("/portal"))
        .find_map(|r| {
            let idp = Idp::of_user_agent(r.user_agent.as_deref());
            Some(Identity {
                idp: idp.as_str().into(),
                name: idp.display().into(),
                user_agent: r.user_agent?,
                last_request_at: events::rfc3339(r.at),
            })
        });
    let by_id: HashMap<&str, &LogRow> = entries.iter().map(|e| (e.id.as_str(), e)).collect();
    let findings = rows
        .into_iter()
        .zip(ids)
        .map(|((kind, row), ids)| {
            // In the order the finding saw them, newest first: entry ids of one millisecond
            // do not sort by arrival.
            let evidence = ids
                .iter()
                .filter_map(|id| by_id.get(id.as_str()).map(|e| (*e).clone()))
                .collect();
            Shown {
                advice: advice::of(kind, Idp::named(&row.idp)),
                kind: row.kind,
                state: row.state,
                idp: row.idp,
                seen: row.seen,
                first_seen: events::rfc3339(row.first_seen),
                last_seen: events::rfc3339(row.last_seen),
                opened_at: row.opened_at.map(events::rfc3339),
                resolved_at: row.resolved_at.map(events::rfc3339),
                note: row.note,
                evidence,
            }
        })
        .collect();
    Ok(Report {
        identity_provider,
        findings,
    })
}

/// The data of a `connection.finding` event.
fn announcement(kind: Kind, row: &FindingRow) -> Value {
    let advice = advice::of(kind, Idp::named(&row.idp));
    json!({
        "kind": row.kind,
        "idp": row.idp,
        "severity": advice.severity,
        "title": advice.title,
        "seen": row.seen,
        "first_seen": events::rfc3339(row.first_seen),
        "evidence": serde_json::from_str::<Value>(&row.evidence).unwrap_or(Value::Null),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::scim::schema::GROUP_RESOURCE;

    #[test]
    fn idps_are_told_apart_by_user_agent() {
        for (agent, idp) in [
            ("Microsoft Azure AD SCIM provisioning 1.0.0", Idp::Entra),
            ("Okta SCIM Client 1.0.0", Idp::Okta),
            ("JumpCloud SCIM", Idp::JumpCloud),
            ("curl/8.0", Idp::Unknown),
        ] {
            assert_eq!(Idp::of_user_agent(Some(agent)), idp, "{agent}");
            assert_eq!(Idp::named(idp.as_str()), idp);
        }
        assert_eq!(Idp::of_user_agent(None), Idp::Unknown);
    }

    #[test]
    fn a_write_shows_its_habits() {
        let put = json!({"displayName": "g", "members": [{"value": "1"}]});
        assert_eq!(
            Signals::of_write("PUT", &GROUP_RESOURCE, &put),
            Signals::MEMBERSHIP | Signals::MEMBERS_IN_PUT
        );
        assert_eq!(
            Signals::of_write("POST", &GROUP_RESOURCE, &put),
            Signals::MEMBERSHIP
        );
        assert_eq!(
            Signals::of_write("POST", &USER_RESOURCE, &json!({"userName": ""})),
            Signals::BLANK_USER_NAME
        );
        assert_eq!(
            Signals::of_outcome("POST", Some("User"), 409, Some("uniqueness")),
            Signals::USER_NAME_TAKEN
        );
        assert_eq!(
            Signals::of_outcome("POST", Some("Group"), 201, None),
            Signals::NONE
        );
    }

    #[test]
    fn a_batch_is_tallied_per_tenant_and_kind_with_the_newest_evidence_first() {
        let entry = |tenant: &str, at: i64, signals| {
            let mut row = LogRow::new(tenant.into(), at, "POST".into(), "/Users".into());
            row.user_agent = Some("Okta SCIM Client 1.0.0".into());
            (row, signals)
        };
        let (rows, signals): (Vec<LogRow>, Vec<Signals>) = (0..7)
            .map(|i| entry("a", i, Signals::USER_CREATED))
            .chain([entry("b", 9, Signals::NONE)])
            .chain([entry("b", 10, Signals::MEMBERSHIP)])
            .unzip();
        let tenants = tally(&rows, &signals);
        let a = &tenants["a"].kinds[&Kind::NoMemberships];
        assert_eq!((a.seen, a.first, a.last), (7, 0, 6));
        assert_eq!(a.evidence.len(), EVIDENCE);
        assert_eq!(a.evidence[0], rows[6].id);
        assert!(tenants["b"].memberships && tenants["b"].kinds.is_empty());
    }
}
