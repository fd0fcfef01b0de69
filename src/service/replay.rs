//! `scimitar conformance --from-log`: reads a window of a tenant's provisioning log and has
//! `conformance::replay` make the scenario that replays it.

use crate::conformance::replay::{self, Recorded, Replay, ReplayError, Window};
use crate::events::shape::{Shape, ShapeKey};
use crate::storage::log::{self as store, LogRow};
use crate::storage::{Db, Scope};
use crate::tenant::TenantId;

/// The most requests one scenario replays: the newest of a larger window.
pub const MAX_REQUESTS: i64 = 5_000;

/// A generated scenario, and whether the window held more requests than it replays.
#[derive(Debug)]
pub struct FromLog {
    pub replay: Replay,
    /// The window held more than [`MAX_REQUESTS`]; the oldest were left out.
    pub capped: bool,
}

/// The scenario replaying what the tenant `id_or_name` was sent from `since` (inclusive) to
/// `until` (exclusive), in milliseconds.
pub fn from_log(db: &Db, id_or_name: &str, since: i64, until: i64) -> Result<FromLog, ReplayError> {
    let tenant = super::tenants::get(db, id_or_name)?;
    let tenant_id = TenantId::from_stored(tenant.id.clone());
    let (secret, rows) = db.run_sync(|c| {
        let secret = store::shape_secret(c)?;
        let rows = store::window(c, &Scope::new(&tenant_id), since, until, MAX_REQUESTS)?;
        Ok((secret, rows))
    })?;
    let capped = rows.len() as i64 >= MAX_REQUESTS;
    let recorded: Vec<Recorded> = rows.into_iter().map(recorded).collect();
    let shaper = ShapeKey::new(&secret).tenant(&tenant.id);
    let window = Window {
        tenant_id: tenant.id,
        since,
        until,
    };
    Ok(FromLog {
        replay: replay::generate(&recorded, &shaper, &window)?,
        capped,
    })
}

fn recorded(r: LogRow) -> Recorded {
    Recorded {
        shape: r.shape.as_ref().and_then(Shape::to_json),
        id: r.id,
        at: r.at,
        method: r.method,
        path: r.path,
        status: u16::try_from(r.status).unwrap_or(0),
        resource_id: r.resource_id,
        scim_type: r.scim_type,
        user_agent: r.user_agent,
    }
}
