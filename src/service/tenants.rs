//! Tenant lifecycle and SCIM secrets; one code path for the CLI and the admin API.

use std::time::Duration;

use serde_json::json;

use crate::error::ScimError;
use crate::events::{self, EventType, rfc3339};
use crate::scim::text;
use crate::storage::models::{CredentialRow, TenantRow};
use crate::storage::{self, AnyConnection, Db, Scope, now_millis, write_tx};
use crate::tenant::{Mode, TenantId};
use crate::token::ScimToken;

/// The longest grace period a rotation may give earlier tokens: long enough to switch an IdP
/// over, short enough that a leaked token does not outlive its rotation by more than a week.
pub const MAX_GRACE: Duration = Duration::from_secs(7 * 86_400);

/// A tenant and the token just issued for it; the token is shown once and never stored.
#[derive(Debug)]
pub struct Issued {
    /// The tenant.
    pub tenant: TenantRow,
    /// Its new SCIM bearer token, in clear this once.
    pub token: ScimToken,
}

/// Creates a tenant with a fresh SCIM token.
pub fn create(db: &Db, name: &str) -> Result<Issued, ScimError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ScimError::InvalidValue(
            "a tenant name must have 1 to 200 characters".into(),
        ));
    }
    if let Some(c) = text::first_refused(name) {
        return Err(ScimError::InvalidValue(format!(
            "a tenant name may not contain {} (U+0000 and Unicode non-characters are refused)",
            text::code_point(c)
        )));
    }
    let token = ScimToken::generate();
    let hash = token.hash_secret()?;
    let now = now_millis();
    let tenant = TenantRow {
        id: TenantId::generate().to_string(),
        name: name.to_owned(),
        created_at: now,
    };
    db.run_sync(|c| {
        write_tx(c, |c| {
            if storage::tenants::find(c, name)?.is_some() {
                return Err(ScimError::Uniqueness(format!(
                    "a tenant named {name:?} already exists"
                )));
            }
            storage::tenants::insert(c, &tenant)?;
            storage::tenants::insert_credential(c, &credential(&tenant, 0, &token, hash, now))?;
            Ok(())
        })
    })?;
    Ok(Issued { tenant, token })
}

/// Issues a new SCIM token for a tenant. Every earlier token stops working at once, or, with a
/// grace period, when it ends (so an IdP can be switched over without a gap).
pub fn rotate_secret(
    db: &Db,
    id_or_name: &str,
    grace: Option<Duration>,
) -> Result<Issued, ScimError> {
    if grace.is_some_and(|g| g > MAX_GRACE) {
        return Err(ScimError::InvalidValue(format!(
            "the grace period can be at most {} seconds (7 days)",
            MAX_GRACE.as_secs()
        )));
    }
    let token = ScimToken::generate();
    let hash = token.hash_secret()?;
    let now = now_millis();
    // Bounded by MAX_GRACE above, so neither the conversion nor `now + grace` can overflow.
    let grace_ms = grace.map(|g| i64::try_from(g.as_millis()).unwrap_or(i64::MAX));
    let tenant = db.run_sync(|c| {
        write_tx(c, |c| {
            let tenant = find(c, id_or_name)?;
            // Under the tenant's lock, so a schema change cannot pass between reading the
            // version and storing the credential that carries it.
            let id = TenantId::from_stored(tenant.id.clone());
            let scope = Scope::new(&id);
            let version = storage::schemas::locked_version(c, &scope)?;
            let (mode, _) = storage::tenants::locked_mode(c, &scope)?;
            storage::tenants::retire_credentials(c, &scope, now, grace_ms)?;
            let mut new = credential(&tenant, version, &token, hash, now);
            new.mode = mode;
            storage::tenants::insert_credential(c, &new)?;
            let old_valid_until = grace_ms.map(|g| rfc3339(now + g));
            events::record(
                c,
                &scope,
                EventType::TenantSecretRotated,
                json!({"credential_id": token.key_id(), "previous_credentials_valid_until": old_valid_until}),
            )?;
            Ok(tenant)
        })
    })?;
    Ok(Issued { tenant, token })
}

/// A tenant's credentials (never their secrets).
pub fn credentials(db: &Db, id_or_name: &str) -> Result<Vec<CredentialRow>, ScimError> {
    db.run_sync(|c| {
        let tenant = find(c, id_or_name)?;
        let id = TenantId::from_stored(tenant.id);
        Ok(storage::tenants::credentials_of(c, &Scope::new(&id))?)
    })
}

/// Finds a tenant by id or name.
pub fn get(db: &Db, id_or_name: &str) -> Result<TenantRow, ScimError> {
    db.run_sync(|c| find(c, id_or_name))
}

/// Every tenant, oldest first.
pub fn list(db: &Db) -> Result<Vec<TenantRow>, ScimError> {
    db.run_sync(|c| Ok(storage::tenants::list(c)?))
}

/// Deletes a tenant with all its users, groups and credentials.
pub fn delete(db: &Db, id_or_name: &str) -> Result<TenantRow, ScimError> {
    db.run_sync(|c| {
        write_tx(c, |c| {
            let tenant = find(c, id_or_name)?;
            storage::tenants::delete(c, &tenant.id)?;
            Ok(tenant)
        })
    })
}

/// The id of the tenant with this id or name.
pub(crate) fn find_id(c: &mut AnyConnection, id_or_name: &str) -> Result<TenantId, ScimError> {
    Ok(TenantId::from_stored(find(c, id_or_name)?.id))
}

fn find(c: &mut AnyConnection, id_or_name: &str) -> Result<TenantRow, ScimError> {
    // No tenant can be named with a refused character, and PostgreSQL cannot compare one.
    let found = match text::first_refused(id_or_name) {
        Some(_) => None,
        None => storage::tenants::find(c, id_or_name)?,
    };
    found.ok_or_else(|| ScimError::NotFound(format!("no tenant has the id or name {id_or_name:?}")))
}

/// A new credential of a tenant whose schema version is `schema_version`.
fn credential(
    tenant: &TenantRow,
    schema_version: i64,
    token: &ScimToken,
    secret_hash: String,
    now: i64,
) -> CredentialRow {
    CredentialRow {
        id: token.key_id().to_owned(),
        tenant_id: tenant.id.clone(),
        secret_hash,
        created_at: now,
        revoked_at: None,
        expires_at: None,
        last_used_at: None,
        schema_version,
        mode: Mode::Live.as_str().to_owned(),
    }
}
