//! Tenant lifecycle and SCIM secrets; one code path for the CLI and (later) the admin API.

use crate::error::ScimError;
use crate::storage::models::{CredentialRow, TenantRow};
use crate::storage::{self, AnyConnection, Db, now_millis, write_tx};
use crate::tenant::TenantId;
use crate::token::ScimToken;

/// A tenant and the token just issued for it; the token is shown once and never stored.
#[derive(Debug)]
pub struct Issued {
    pub tenant: TenantRow,
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
            storage::tenants::insert_credential(c, &credential(&tenant.id, &token, hash, now))?;
            Ok(())
        })
    })?;
    Ok(Issued { tenant, token })
}

/// Issues a new SCIM token for a tenant; every earlier token stops working at once.
pub fn rotate_secret(db: &Db, id_or_name: &str) -> Result<Issued, ScimError> {
    let token = ScimToken::generate();
    let hash = token.hash_secret()?;
    let now = now_millis();
    let tenant = db.run_sync(|c| {
        write_tx(c, |c| {
            let tenant = find(c, id_or_name)?;
            storage::tenants::revoke_credentials(c, &tenant.id, now)?;
            storage::tenants::insert_credential(c, &credential(&tenant.id, &token, hash, now))?;
            Ok(tenant)
        })
    })?;
    Ok(Issued { tenant, token })
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

fn find(c: &mut AnyConnection, id_or_name: &str) -> Result<TenantRow, ScimError> {
    storage::tenants::find(c, id_or_name)?
        .ok_or_else(|| ScimError::NotFound(format!("no tenant has the id or name {id_or_name:?}")))
}

fn credential(tenant_id: &str, token: &ScimToken, secret_hash: String, now: i64) -> CredentialRow {
    CredentialRow {
        id: token.key_id().to_owned(),
        tenant_id: tenant_id.to_owned(),
        secret_hash,
        created_at: now,
        revoked_at: None,
    }
}
