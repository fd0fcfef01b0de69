//! Shared state of a running SCIM service.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::scim::schema::Registry;

use crate::admin_token::AdminVerifier;
use crate::app_roles::RoleCatalog;
use crate::config::Settings;
use crate::events::log::{self, LogSender, LogWriter};
use crate::events::secevent::Transmitter;
use crate::events::shape::ShapeKey;
use crate::health::Health;
use crate::http::throttle::Throttle;
use crate::metrics::Metrics;
use crate::openapi::Document;
use crate::startup::ADMIN_PATH;
use crate::storage::Db;
use crate::token::{Argon2Slots, TokenCache};

/// What every handler can reach; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The database pool.
    pub db: Db,
    /// Tokens already verified with argon2id.
    pub(crate) tokens: Arc<TokenCache>,
    /// The bound on concurrent argon2id work.
    pub(crate) argon2: Arc<Argon2Slots>,
    /// The request rate limits.
    pub(crate) throttle: Arc<Throttle>,
    /// The absolute SCIM base URL, for `meta.location` and `$ref`.
    pub(crate) base_url: Arc<str>,
    /// The absolute URL of the admin portal (`…/portal`), for setup links.
    pub(crate) portal_url: Arc<str>,
    /// The settings the service started with.
    pub settings: Arc<Settings>,
    /// The provisioning log queue.
    pub(crate) log: LogSender,
    /// Admin JWT verification; `None` when the admin API is off.
    pub(crate) admin: Option<Arc<AdminVerifier>>,
    /// Each tenant's schemas, as of the version its requests last brought.
    pub(crate) schemas: Arc<Registry>,
    /// The background tasks and the last readiness answer, for `/readyz`.
    pub(crate) health: Arc<Health>,
    /// The instance's Prometheus metrics, for `/metrics`.
    pub(crate) metrics: Arc<Metrics>,
    /// The host app's roles, when it supplies them (library mode).
    pub(crate) roles: Option<Arc<dyn RoleCatalog>>,
    /// The OpenAPI document, built on its first request.
    pub(crate) openapi: Arc<Document>,
    /// Issues events as signed Security Event Tokens.
    pub(crate) sets: Arc<Transmitter>,
    /// The deployment's key of the placeholders in logged request shapes.
    pub(crate) shapes: ShapeKey,
}

impl AppState {
    /// The state of a Scimitar mounted in a host's actix app (library mode): from settings,
    /// validated here, and a database opened with [`Db::open`] (which migrates it). SCIM
    /// locations start with `public_url` (else `http://LISTEN`) and `scim_path`. Hand the
    /// returned writer to [`BackgroundWork::start`](crate::background::BackgroundWork::start).
    pub fn new(settings: Settings, db: Db) -> anyhow::Result<(Self, LogWriter)> {
        let settings = settings.validated()?;
        Self::build(settings, db, None, None)
    }

    /// The same state, with role mappings held to the roles `catalog` says the host app
    /// offers each tenant, and the portal offering them to choose from.
    pub fn with_role_catalog(mut self, catalog: impl RoleCatalog) -> Self {
        self.roles = Some(Arc::new(catalog));
        self
    }

    /// The state from validated settings, given where the SCIM listener and the portal's
    /// listener are bound (for their default URLs).
    pub(crate) fn build(
        settings: Settings,
        db: Db,
        scim_addr: Option<SocketAddr>,
        portal_addr: Option<SocketAddr>,
    ) -> anyhow::Result<(Self, LogWriter)> {
        let admin = settings
            .admin
            .as_ref()
            .map(|a| AdminVerifier::new(a, settings.admin_token_max_ttl))
            .transpose()?
            .map(Arc::new);
        // Read once here, so shaping a request needs no database.
        let shapes = ShapeKey::new(&db.run_sync(|c| Ok(crate::storage::log::shape_secret(c)?))?);
        let (log, log_writer) =
            log::channel(db.clone(), settings.log_retention, settings.diagnosis);
        let base_url = settings.scim_base_url(scim_addr);
        let portal_url = settings.portal_url(portal_addr.or(scim_addr));
        let sets = Transmitter::new(
            base_url
                .strip_suffix(settings.scim_path.as_str())
                .unwrap_or(&base_url)
                .to_owned(),
            format!(
                "{}{ADMIN_PATH}",
                portal_url.strip_suffix("/portal").unwrap_or(&portal_url)
            ),
        );
        let state = Self {
            admin,
            log,
            db,
            tokens: Arc::new(TokenCache::new(settings.token_cache_capacity)),
            argon2: Arc::new(Argon2Slots::new(
                settings.rate_limits.argon2_slots,
                settings.rate_limits.argon2_queue,
            )),
            throttle: Arc::new(Throttle::new(&settings.rate_limits)),
            base_url: base_url.into(),
            portal_url: portal_url.into(),
            sets: Arc::new(sets),
            shapes,
            metrics: Arc::new(Metrics::new(settings.metrics_tenant_label)),
            settings: Arc::new(settings),
            schemas: Arc::default(),
            health: Arc::default(),
            roles: None,
            openapi: Arc::default(),
        };
        Ok((state, log_writer))
    }
}
