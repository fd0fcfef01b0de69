//! Moving a tenant between databases, and between SQLite and PostgreSQL: `tenant export` writes
//! its rows as JSON lines (a header, one stored row per line, an end line with the count), read
//! in one consistent snapshot; `tenant import` writes them into another database in one
//! transaction, or nothing. The tenant keeps its id, its SCIM tokens (their argon2id hashes
//! travel; no token does), every resource with its version (so IdPs' ETags still match) and its
//! event numbering. A webhook travels without its secret and arrives switched off.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};

use serde::{Deserialize, Serialize};

use crate::error::ScimError;
use crate::events::{rfc3339, webhooks};
use crate::storage::transfer::{self as store, Row};
use crate::storage::{
    self, AnyConnection, Db, Scope, StoreError, migrate, now_millis, read_snapshot, write_tx_with,
};
use crate::tenant::{Mode, TenantId};

/// What the file's first line says it is.
const FORMAT: &str = "scimitar-tenant-export";
/// Rows inserted per statement.
const BATCH: usize = 200;
/// Why an imported webhook is switched off.
const WEBHOOK_SWITCHED_OFF: &str = "moved from another database without its secret: PUT it with \"rotate_secret\": true to get a new secret and switch it on";

/// Why an export or import did not happen.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    #[error("no tenant has the id or name {0:?}")]
    NoSuchTenant(String),
    #[error("this database has a tenant {0} already: delete it first to import it again")]
    Exists(String),
    #[error(
        "the file follows schema {found}, this build follows {expected}: export and import with the same Scimitar version"
    )]
    Schema { found: String, expected: String },
    #[error("line {line} of the file: {reason}")]
    BadFile { line: usize, reason: String },
    #[error(
        "the file ends before its end line (after {0} lines): it was cut short, import a whole export"
    )]
    Truncated(u64),
    #[error(
        "a row of the file is in this database already (a token's key id, most likely): was the tenant imported under another name?"
    )]
    Conflict,
    #[error("reading or writing the file: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Store(#[from] ScimError),
}

impl From<StoreError> for TransferError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Duplicate => Self::Conflict,
            e => Self::Store(e.into()),
        }
    }
}

/// The file's first line.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    format: String,
    /// The last migration of the exporting build: the rows' columns.
    schema: String,
    exported_at: String,
    tenant_id: String,
    tenant_name: String,
}

/// One line of the file.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Line {
    Export(Header),
    End {
        rows: u64,
    },
    #[serde(untagged)]
    Row(Row),
}

/// What moved: the tenant, and its rows by table.
#[derive(Debug, Default)]
pub struct Moved {
    pub tenant_id: String,
    pub tenant_name: String,
    pub rows: BTreeMap<&'static str, u64>,
}

impl Moved {
    fn count(&mut self, row: &Row) {
        let table = match row {
            Row::Tenant(_) => "tenant",
            Row::Credential(_) => "credentials",
            Row::Schema(_) => "schemas",
            Row::Resource(r) if r.resource_type == "User" => "users",
            Row::Resource(r) if r.resource_type == "Group" => "groups",
            Row::Resource(_) => "other resources",
            Row::Member(_) => "memberships",
            Row::UniqueValue(_) => "unique values",
            Row::RoleMapping(_) => "role mappings",
            Row::Event(_) => "events",
            Row::Cursor(_) => "event handler positions",
            Row::SetAck(_) => "acknowledged security event tokens",
            Row::Webhook(_) => "webhooks",
        };
        *self.rows.entry(table).or_default() += 1;
    }

    fn total(&self) -> u64 {
        self.rows.values().sum()
    }
}

/// Writes the tenant named or identified by `id_or_name` to `out`, from one snapshot of the
/// database (a running server may go on writing meanwhile).
pub fn export(db: &Db, id_or_name: &str, out: &mut impl Write) -> Result<Moved, TransferError> {
    db.run_sync(|c| Ok(export_from(c, id_or_name, out)))?
}

fn export_from(
    conn: &mut AnyConnection,
    id_or_name: &str,
    out: &mut impl Write,
) -> Result<Moved, TransferError> {
    read_snapshot(conn, |c| {
        let tenant = storage::tenants::find(c, id_or_name)?
            .ok_or_else(|| TransferError::NoSuchTenant(id_or_name.to_owned()))?;
        let header = Header {
            format: FORMAT.into(),
            schema: migrate::latest_version(),
            exported_at: rfc3339(now_millis()),
            tenant_id: tenant.id.clone(),
            tenant_name: tenant.name.clone(),
        };
        write_line(out, &Line::Export(header))?;
        let mut moved = Moved {
            tenant_id: tenant.id.clone(),
            tenant_name: tenant.name,
            ..Moved::default()
        };
        let id = TenantId::from_stored(tenant.id);
        store::each_row(c, &Scope::new(&id), |row| {
            moved.count(&row);
            write_line(out, &Line::Row(row))
        })?;
        write_line(
            out,
            &Line::End {
                rows: moved.total(),
            },
        )?;
        out.flush()?;
        Ok(moved)
    })
}

fn write_line(out: &mut impl Write, line: &Line) -> Result<(), TransferError> {
    serde_json::to_writer(&mut *out, line).map_err(std::io::Error::from)?;
    out.write_all(b"\n")?;
    Ok(())
}

/// Writes an exported tenant into this database, all of it in one transaction or nothing.
pub fn import(db: &Db, input: impl BufRead) -> Result<Moved, TransferError> {
    db.run_sync(|c| Ok(write_tx_with(c, |c| import_into(c, input), |_| false)))?
}

fn import_into(conn: &mut AnyConnection, input: impl BufRead) -> Result<Moved, TransferError> {
    let mut lines = input.lines().enumerate().map(|(i, l)| (i + 1, l));
    let bad = |line: usize, reason: String| TransferError::BadFile { line, reason };
    let Some((_, first)) = lines.next() else {
        return Err(bad(1, "the file is empty".into()));
    };
    let header = match serde_json::from_str::<Line>(&first?) {
        Ok(Line::Export(h)) if h.format == FORMAT => h,
        _ => {
            return Err(bad(
                1,
                format!(
                    "this is not a tenant export (its first line must be {{\"export\": {{\"format\": \"{FORMAT}\", …}}}})"
                ),
            ));
        }
    };
    if header.schema != migrate::latest_version() {
        return Err(TransferError::Schema {
            found: header.schema,
            expected: migrate::latest_version(),
        });
    }
    for key in [&header.tenant_id, &header.tenant_name] {
        if storage::tenants::find(conn, key)?.is_some() {
            return Err(TransferError::Exists(format!(
                "{} ({})",
                header.tenant_name, header.tenant_id
            )));
        }
    }
    let mut moved = Moved {
        tenant_id: header.tenant_id.clone(),
        tenant_name: header.tenant_name.clone(),
        ..Moved::default()
    };
    let mut batch: Vec<Row> = Vec::with_capacity(BATCH);
    // Rows read so far.
    let mut seen: u64 = 0;
    for (n, text) in lines {
        let row = match serde_json::from_str::<Line>(&text?) {
            Ok(Line::Row(row)) => row,
            Ok(Line::End { rows }) if rows == seen => {
                store::insert(conn, batch)?;
                return Ok(moved);
            }
            Ok(Line::End { rows }) => {
                return Err(bad(
                    n,
                    format!("the end line counts {rows} rows, the file has {seen}"),
                ));
            }
            Ok(Line::Export(_)) => return Err(bad(n, "a second header".into())),
            Err(e) => return Err(bad(n, e.to_string())),
        };
        if row.tenant_id() != header.tenant_id {
            return Err(bad(
                n,
                format!(
                    "the row belongs to tenant {}, not to the exported {}",
                    row.tenant_id(),
                    header.tenant_id
                ),
            ));
        }
        match (seen, &row) {
            (0, Row::Tenant(_)) => {}
            (0, _) => return Err(bad(n, "the tenant's own row must come first".into())),
            (_, Row::Tenant(_)) => return Err(bad(n, "a second tenant row".into())),
            _ => {}
        }
        seen += 1;
        moved.count(&row);
        let row = arriving(row);
        if batch.len() == BATCH || batch.first().is_some_and(|b| !b.same_table(&row)) {
            store::insert(conn, std::mem::take(&mut batch))?;
        }
        batch.push(row);
    }
    Err(TransferError::Truncated(seen + 1))
}

/// A row as this database keeps it: leases taken in the other database end, a webhook gets a
/// secret no one knows and is switched off until its admin sets one, and the tenant arrives
/// live (a dry-run's shadow stays behind).
fn arriving(row: Row) -> Row {
    match row {
        Row::Credential(mut credential) => {
            credential.mode = Mode::Live.as_str().to_owned();
            Row::Credential(credential)
        }
        Row::Webhook(mut hook) => {
            hook.secret = webhooks::new_secret();
            hook.enabled = false;
            hook.disabled_reason = Some(WEBHOOK_SWITCHED_OFF.into());
            Row::Webhook(hook)
        }
        Row::Cursor(mut cursor) => {
            cursor.lease_owner = None;
            cursor.lease_until = None;
            Row::Cursor(cursor)
        }
        row => row,
    }
}
