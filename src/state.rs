//! Shared state of a running SCIM service.

use std::sync::Arc;

use crate::scim::schema::Registry;

use crate::admin_token::AdminVerifier;
use crate::config::Settings;
use crate::events::log::LogSender;
use crate::health::Health;
use crate::http::throttle::Throttle;
use crate::metrics::Metrics;
use crate::storage::Db;
use crate::token::{Argon2Slots, TokenCache};

/// What every handler can reach; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The database pool.
    pub db: Db,
    /// Tokens already verified with argon2id.
    pub tokens: Arc<TokenCache>,
    /// The bound on concurrent argon2id work.
    pub argon2: Arc<Argon2Slots>,
    /// The request rate limits.
    pub throttle: Arc<Throttle>,
    /// The absolute SCIM base URL, for `meta.location` and `$ref`.
    pub base_url: Arc<str>,
    /// The absolute URL of the admin portal (`…/portal`), for setup links.
    pub portal_url: Arc<str>,
    /// The settings the service started with.
    pub settings: Arc<Settings>,
    /// The provisioning log queue.
    pub log: LogSender,
    /// Admin JWT verification; `None` when the admin API is off.
    pub admin: Option<Arc<AdminVerifier>>,
    /// Each tenant's schemas, as of the version its requests last brought.
    pub schemas: Arc<Registry>,
    /// The background tasks and the last readiness answer, for `/readyz`.
    pub health: Arc<Health>,
    /// The instance's Prometheus metrics, for `/metrics`.
    pub metrics: Arc<Metrics>,
}
