//! The admin portal's way in: single-use setup links, exchanged for a browser session scoped to
//! the link's tenant. One code path for the CLI and the admin API.

use std::time::Duration;

use rand::Rng;
use rand::distr::Alphanumeric;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::{LinkRefused, ScimError};
use crate::events::roles::RoleMap;
use crate::scim::schema::ResourceType;
use crate::storage::Scope;
use crate::storage::log::{LogQuery, LogRow};
use crate::storage::models::TenantRow;
use crate::storage::portal::{self as store, LinkRow, MemberLine, SessionRow};
use crate::storage::{self, AnyConnection, Db, now_millis, write_tx};
use crate::tenant::TenantId;

/// How long a link from the admin API lives when the caller does not say.
pub const DEFAULT_LINK_TTL: Duration = Duration::from_secs(3600);
/// The longest a link may live: a setup link mailed to a customer's IT admin.
pub const MAX_LINK_TTL: Duration = Duration::from_secs(30 * 86_400);
/// How long a portal session lasts after the link is opened: a working day.
pub const SESSION_TTL: Duration = Duration::from_secs(8 * 3600);

const LINK_PREFIX: &str = "pl_";
const ID_LEN: usize = 16;
const SECRET_LEN: usize = 43;

/// A link just made; its token (the secret part of the URL) is shown once and never stored.
#[derive(Debug)]
pub struct IssuedLink {
    pub row: LinkRow,
    pub token: String,
}

/// A session just opened: the cookie value carries its secret, shown to the browser only.
#[derive(Debug)]
pub struct Opened {
    pub session: Session,
    pub cookie: String,
}

/// A live portal session.
#[derive(Debug, Clone)]
pub struct Session {
    pub id: String,
    pub tenant: TenantId,
    /// The anti-forgery token of this session's forms, derived from its secret.
    pub csrf: String,
    /// The tenant's name, shown on every page.
    pub tenant_name: String,
}

/// The resource types the portal shows as users and as groups.
fn users() -> &'static ResourceType {
    ResourceType::in_groups()
}

fn groups() -> &'static ResourceType {
    ResourceType::holding_members()
}

/// How many resources of `rt` the tenant has, from its resource counts.
fn count(counts: &[(String, i64)], rt: &ResourceType) -> i64 {
    counts
        .iter()
        .find(|(t, _)| t == rt.id)
        .map_or(0, |(_, n)| *n)
}

fn random(n: usize) -> String {
    rand::rng()
        .sample_iter(Alphanumeric)
        .take(n)
        .map(char::from)
        .collect()
}

fn digest(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn matches(secret: &str, stored: &str) -> bool {
    bool::from(digest(secret).as_bytes().ct_eq(stored.as_bytes()))
}

/// Splits `ID_SECRET` (the shape of link tokens after their prefix and of session cookies).
fn split(value: &str) -> Option<(&str, &str)> {
    let (id, secret) = value.split_once('_')?;
    let ok = |part: &str, len: usize| {
        part.len() == len && part.bytes().all(|b| b.is_ascii_alphanumeric())
    };
    (ok(id, ID_LEN) && ok(secret, SECRET_LEN)).then_some((id, secret))
}

/// Makes a setup link for a tenant, valid for `ttl` (default one hour, at most 30 days).
pub fn create_link(
    db: &Db,
    tenant: &TenantRow,
    ttl: Option<Duration>,
) -> Result<IssuedLink, ScimError> {
    let ttl = ttl.unwrap_or(DEFAULT_LINK_TTL);
    if ttl.is_zero() || ttl > MAX_LINK_TTL {
        return Err(ScimError::InvalidValue(format!(
            "a setup link lives from 1 second to {} seconds (30 days)",
            MAX_LINK_TTL.as_secs()
        )));
    }
    let (id, secret) = (random(ID_LEN), random(SECRET_LEN));
    let now = now_millis();
    // Bounded by MAX_LINK_TTL above.
    let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
    let row = LinkRow {
        id: id.clone(),
        tenant_id: tenant.id.clone(),
        secret_hash: digest(&secret),
        created_at: now,
        expires_at: now + ttl_ms,
        used_at: None,
        revoked_at: None,
    };
    db.run_sync(|c| write_tx(c, |c| Ok(store::insert_link(c, &row)?)))?;
    Ok(IssuedLink {
        row,
        token: format!("{LINK_PREFIX}{id}_{secret}"),
    })
}

/// The address a setup link opens, under the portal's URL (`…/portal`).
pub fn link_url(portal_url: &str, token: &str) -> String {
    format!("{portal_url}/enter?link={token}")
}

/// A tenant's links, newest first (never their secrets).
pub fn links(db: &Db, tenant_id: &str) -> Result<Vec<LinkRow>, ScimError> {
    let id = TenantId::from_stored(tenant_id.to_owned());
    db.run_sync(|c| Ok(store::links(c, &Scope::new(&id))?))
}

/// Revokes a link and ends the sessions opened with it; false when the tenant has no such link.
pub fn revoke_link(db: &Db, tenant_id: &str, link_id: &str) -> Result<bool, ScimError> {
    let id = TenantId::from_stored(tenant_id.to_owned());
    db.run_sync(|c| {
        write_tx(c, |c| {
            Ok(store::revoke_link(
                c,
                &Scope::new(&id),
                link_id,
                now_millis(),
            )?)
        })
    })
}

/// Exchanges a setup link's token for a new session: once, before the link expires.
pub fn open(db: &Db, token: &str) -> Result<Result<Opened, LinkRefused>, ScimError> {
    let Some((link_id, secret)) = token.strip_prefix(LINK_PREFIX).and_then(split) else {
        return Ok(Err(LinkRefused::Unknown));
    };
    let now = now_millis();
    db.run_sync(|c| {
        write_tx(c, |c| {
            let Some(link) = store::link(c, link_id)? else {
                return Ok(Err(LinkRefused::Unknown));
            };
            if !matches(secret, &link.secret_hash) {
                return Ok(Err(LinkRefused::Unknown));
            }
            if let Some(refused) = refusal(&link, now) {
                return Ok(Err(refused));
            }
            if !store::use_link(c, &link.id, now)? {
                return Ok(Err(LinkRefused::Used));
            }
            Ok(Ok(start_session(c, &link, now)?))
        })
    })
}

fn refusal(link: &LinkRow, now: i64) -> Option<LinkRefused> {
    if link.revoked_at.is_some() {
        Some(LinkRefused::Revoked)
    } else if link.used_at.is_some() {
        Some(LinkRefused::Used)
    } else if link.expires_at <= now {
        Some(LinkRefused::Expired)
    } else {
        None
    }
}

fn start_session(c: &mut AnyConnection, link: &LinkRow, now: i64) -> Result<Opened, ScimError> {
    let (id, secret) = (random(ID_LEN), random(SECRET_LEN));
    let ttl_ms = i64::try_from(SESSION_TTL.as_millis()).unwrap_or(i64::MAX);
    let row = SessionRow {
        id: id.clone(),
        tenant_id: link.tenant_id.clone(),
        link_id: link.id.clone(),
        secret_hash: digest(&secret),
        created_at: now,
        expires_at: now + ttl_ms,
    };
    store::insert_session(c, &row)?;
    let tenant_name = storage::tenants::find(c, &row.tenant_id)?
        .map(|t| t.name)
        .unwrap_or_default();
    Ok(Opened {
        session: Session {
            csrf: csrf_of(&secret),
            id,
            tenant: TenantId::from_stored(row.tenant_id),
            tenant_name,
        },
        cookie: format!("{}_{secret}", row.id),
    })
}

/// The anti-forgery token of a session: a digest of its secret under its own label, so it can
/// be put in a page without revealing the cookie.
fn csrf_of(secret: &str) -> String {
    digest(&format!("scimitar portal csrf {secret}"))
}

/// The live session a cookie value names, if any.
pub fn session(conn: &mut AnyConnection, cookie: &str) -> Result<Option<Session>, ScimError> {
    let Some((id, secret)) = split(cookie) else {
        return Ok(None);
    };
    let Some(row) = store::session(conn, id, now_millis())? else {
        return Ok(None);
    };
    if !matches(secret, &row.secret_hash) {
        return Ok(None);
    }
    // Deleting a tenant deletes its sessions; this read finds the name.
    let Some(tenant) = storage::tenants::find(conn, &row.tenant_id)? else {
        return Ok(None);
    };
    Ok(Some(Session {
        id: row.id,
        tenant: TenantId::from_stored(row.tenant_id),
        csrf: csrf_of(secret),
        tenant_name: tenant.name,
    }))
}

/// Ends a session (sign out).
pub fn close(conn: &mut AnyConnection, session: &Session) -> Result<(), ScimError> {
    Ok(storage::portal::end_session(conn, &session.id)?)
}

/// Whether a submitted anti-forgery token is this session's.
pub fn csrf_ok(session: &Session, submitted: &str) -> bool {
    bool::from(session.csrf.as_bytes().ct_eq(submitted.as_bytes()))
}

/// How many of the newest log entries the checklist looks through: a bounded read, however
/// busy the tenant.
const RECENT: i64 = 200;

/// What the SCIM Provisioning tab's checklist shows of a tenant's connection.
#[derive(Debug, Default)]
pub struct Connection {
    /// The newest SCIM request.
    pub last_request: Option<LogRow>,
    /// The newest `GET /Users` (an IdP's Test Connection), among the recent requests.
    pub test: Option<LogRow>,
    pub users: i64,
    pub groups: i64,
    /// The newest failed requests, newest first.
    pub errors: Vec<LogRow>,
}

/// Reads the checklist's state: the counts kept beside the resources and the newest entries of
/// the provisioning log.
pub fn connection(conn: &mut AnyConnection, tenant: &TenantId) -> Result<Connection, ScimError> {
    let recent = storage::log::read(
        conn,
        &Scope::new(tenant),
        &LogQuery {
            status: None,
            since: None,
            until: None,
            before: None,
            limit: RECENT,
        },
    )?;
    let counts = store::counts(conn, &Scope::new(tenant))?;
    let is_test = |r: &LogRow| r.method == "GET" && r.resource_type.as_deref() == Some(users().id);
    // The portal's own entries (its opening) are not the IdP's traffic.
    let recent: Vec<LogRow> = recent
        .into_iter()
        .filter(|r| !r.path.starts_with("/portal"))
        .collect();
    Ok(Connection {
        test: recent.iter().find(|r| is_test(r)).cloned(),
        errors: recent
            .iter()
            .filter(|r| r.status >= 400)
            .take(5)
            .cloned()
            .collect(),
        last_request: recent.into_iter().next(),
        users: count(&counts, users()),
        groups: count(&counts, groups()),
    })
}

/// Member counts stop here: "10000+" is enough to know a group is large, and the count stays
/// a bounded read.
pub const MEMBER_COUNT_CAP: i64 = 10_000;

/// One group as the Groups tab shows it.
#[derive(Debug)]
pub struct GroupLine {
    pub id: String,
    pub name: String,
    /// Counted up to [`MEMBER_COUNT_CAP`].
    pub members: i64,
    pub roles: Vec<String>,
}

fn group_line(
    c: &mut AnyConnection,
    tenant: &TenantId,
    map: &RoleMap,
    id: String,
    name: String,
) -> Result<GroupLine, ScimError> {
    let members = store::member_count(c, &Scope::new(tenant), &id, MEMBER_COUNT_CAP)?;
    let mut roles: Vec<String> = map.roles_of(&id, Some(&name)).cloned().collect();
    roles.sort_unstable();
    roles.dedup();
    Ok(GroupLine {
        id,
        name,
        members,
        roles,
    })
}

/// The groups listed (id, displayName) with their member counts and mapped roles.
pub fn group_lines(
    c: &mut AnyConnection,
    tenant: &TenantId,
    listed: Vec<(String, String)>,
) -> Result<Vec<GroupLine>, ScimError> {
    let map = RoleMap::load(c, &Scope::new(tenant))?;
    listed
        .into_iter()
        .map(|(id, name)| group_line(c, tenant, &map, id, name))
        .collect()
}

/// A group of the tenant and up to `limit` of its members after `after`; `None` when the
/// tenant has no such group.
pub fn group_members(
    c: &mut AnyConnection,
    tenant: &TenantId,
    id: &str,
    after: Option<&str>,
    limit: i64,
) -> Result<Option<(GroupLine, Vec<MemberLine>)>, ScimError> {
    let Some(group) = Scope::new(tenant).get(c, groups().id, id)? else {
        return Ok(None);
    };
    let map = RoleMap::load(c, &Scope::new(tenant))?;
    let name = group.display.clone().unwrap_or_default();
    let line = group_line(c, tenant, &map, group.id, name)?;
    let members = store::members_page(c, &Scope::new(tenant), &line.id, after, limit)?;
    Ok(Some((line, members)))
}

/// How many users each role of a proposed mapping would reach, before it is saved.
#[derive(Debug, Default)]
pub struct Preview {
    /// Each role and the users under its groups (nested groups included).
    pub roles: Vec<(String, usize)>,
    /// The default role and the users no mapped group reaches.
    pub default_role: Option<(String, i64)>,
    /// Group references that name no synced group.
    pub unknown: Vec<String>,
}

/// Counts what `mappings` (group reference, role) and `default_role` would give the tenant's
/// users: work in proportion to the members of the mapped groups, not to the tenant.
pub fn preview(
    conn: &mut AnyConnection,
    tenant: &TenantId,
    mappings: &[(String, String)],
    default_role: Option<&str>,
) -> Result<Preview, ScimError> {
    let mut by_role: std::collections::BTreeMap<&str, Vec<String>> = Default::default();
    let mut unknown = Vec::new();
    for (group, role) in mappings {
        let ids = store::groups_named(conn, &Scope::new(tenant), groups().id, group)?;
        if ids.is_empty() {
            unknown.push(group.clone());
        }
        by_role.entry(role).or_default().extend(ids);
    }
    let mut reached = std::collections::HashSet::new();
    let mut roles = Vec::new();
    for (role, groups) in by_role {
        let users = storage::events::users_under(conn, &Scope::new(tenant), &groups)?;
        roles.push((role.to_owned(), users.len()));
        reached.extend(users);
    }
    let default_role = match default_role {
        Some(role) => {
            let users = count(&store::counts(conn, &Scope::new(tenant))?, users());
            Some((role.to_owned(), users - reached.len() as i64))
        }
        None => None,
    };
    Ok(Preview {
        roles,
        default_role,
        unknown,
    })
}

/// What a tenant admin can do about a failed request, in plain words; `None` when the status
/// needs no action (the IdP retries on its own, or it is not a failure).
pub fn advice(status: i32, scim_type: Option<&str>) -> Option<&'static str> {
    Some(match (status, scim_type) {
        (401, _) => {
            "The identity provider sent a wrong or replaced secret. Generate a new secret on the SCIM Provisioning tab and paste it into the provider's settings."
        }
        (403, _) => {
            "The request reached a tenant it may not: check the Endpoint URL in the provider."
        }
        (404, _) => {
            "The provider refers to a user or group that is not here (deleted here, or never provisioned). Re-provision it from the provider, or remove and assign it again."
        }
        (409, _) => {
            "A user or group with this userName, externalId or displayName already exists. Make the provider match existing users by userName instead of creating them again, or remove the duplicate in the provider."
        }
        (412, _) => {
            "The user or group changed since the provider read it; the provider reads it again and retries."
        }
        (413, _) => {
            "The request is larger than this server's limits allow. Send fewer members or values at once (most providers batch on their own), or ask the app's operator to raise the limit named in the detail."
        }
        (429, _) => {
            "The provider sends faster than this organisation's rate limit; it waits as asked and retries. If this persists, ask the app's operator for a higher limit."
        }
        (400, Some("invalidFilter")) => {
            "The provider searched with a filter this server cannot read. Check the attribute mappings the provider matches users by (userName, externalId)."
        }
        (400, Some("mutability")) => {
            "The provider tried to change an attribute that cannot change (such as id). Check the provider's attribute mappings."
        }
        (400, Some("uniqueness")) => {
            "The value must be unique and is already taken: remove the duplicate in the provider."
        }
        (400, Some("invalidPath" | "noTarget")) => {
            "The provider's change names an attribute this server does not have. Check the provider's attribute mappings for custom attributes."
        }
        (400, _) => {
            "The provider sent data this server refused; the detail says which attribute. Check the provider's attribute mappings (an empty userName is the usual cause)."
        }
        (500..=599, _) => {
            "The server could not answer at that moment; the provider retries. If it persists, tell the app's operator the time shown."
        }
        _ => return None,
    })
}

/// A page of the tenant's provisioning log, newest first.
pub async fn log_page(
    db: &Db,
    tenant: &TenantId,
    query: LogQuery,
) -> Result<Vec<LogRow>, ScimError> {
    let tenant = tenant.clone();
    db.run(move |c| Ok(storage::log::read(c, &Scope::new(&tenant), &query)?))
        .await
}

/// The displayNames of up to `most` of the tenant's groups, for the role mapping's choices.
pub async fn group_names(db: &Db, tenant: &TenantId, most: i64) -> Result<Vec<String>, ScimError> {
    let tenant = tenant.clone();
    db.run(move |c| {
        Ok(store::group_names(
            c,
            &Scope::new(&tenant),
            groups().id,
            most,
        )?)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_have_one_shape() {
        let (id, secret) = (random(ID_LEN), random(SECRET_LEN));
        assert_eq!(
            split(&format!("{id}_{secret}")),
            Some((id.as_str(), secret.as_str()))
        );
        assert_eq!(split(&format!("{id}_{secret}x")), None);
        assert_eq!(split(&format!("{id}-{secret}")), None);
        assert_eq!(split(""), None);
    }

    #[test]
    fn the_csrf_token_is_not_the_secret_and_is_checked_in_full() {
        let secret = random(SECRET_LEN);
        let s = Session {
            id: random(ID_LEN),
            tenant: TenantId::from_stored("t".into()),
            csrf: csrf_of(&secret),
            tenant_name: "t".into(),
        };
        assert!(!s.csrf.contains(&secret));
        assert!(csrf_ok(&s, &s.csrf.clone()));
        assert!(!csrf_ok(&s, &s.csrf[1..]));
        assert!(!csrf_ok(&s, ""));
    }
}
