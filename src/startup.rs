//! Builds and runs the server: database, state, listener and the route table.

use std::net::{SocketAddr, TcpListener};

use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::{NormalizePath, TrailingSlash, from_fn};
use actix_web::{App, HttpServer, web};
use tracing_actix_web::TracingLogger;

use crate::background::BackgroundWork;
use crate::config::Settings;
use crate::error::AdminError;
use crate::events::log::LogWriter;
use crate::handlers::{self, admin, bulk, discovery, health, resources};
use crate::http::metrics::RequestMetrics;
use crate::http::{auth, content, log as request_log};
use crate::scim::schema::ResourceType;
use crate::state::AppState;
use crate::storage::Db;
use crate::telemetry::ScimRootSpan;

/// A bound, ready-to-run server.
pub struct Application {
    port: u16,
    state: AppState,
    server: Server,
    /// The admin API's own server, when `admin_listen` is set.
    admin_server: Option<Server>,
    /// Where the admin API answers: the admin listener, or the SCIM listener.
    admin_addr: SocketAddr,
    log_writer: LogWriter,
}

impl Application {
    /// Opens and migrates the database, binds the listener and builds the server.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let settings = settings.validated().map_err(anyhow::Error::msg)?;
        let db = {
            let (url, size, waits) = (
                settings.database_url.clone(),
                settings.db_pool_size,
                settings.db_waits,
            );
            tokio::task::spawn_blocking(move || Db::open(&url, size, waits)).await??
        };
        let listener = TcpListener::bind(&settings.listen)
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", settings.listen))?;
        let addr = listener.local_addr()?;
        let admin_listener = settings
            .admin_listen
            .as_ref()
            .map(|a| {
                TcpListener::bind(a)
                    .map_err(|e| anyhow::anyhow!("cannot listen on {a} for the admin API: {e}"))
            })
            .transpose()?;
        let admin_addr = admin_listener
            .as_ref()
            .map(TcpListener::local_addr)
            .transpose()?;
        let (state, log_writer) = AppState::build(settings, db, Some(addr), admin_addr)?;
        let app_state = state.clone();
        // With an admin listener, the SCIM listener does not serve the admin API at all.
        let admin_here = admin_listener.is_none();
        let server = HttpServer::new(move || {
            App::new()
                .wrap(NormalizePath::new(TrailingSlash::Trim))
                .wrap(TracingLogger::<ScimRootSpan>::new())
                .wrap(RequestMetrics::new(&app_state))
                .configure(|cfg| configure(cfg, app_state.clone()))
                .configure(|cfg| configure_health(cfg, app_state.clone()))
                .configure(|cfg| {
                    if admin_here {
                        configure_admin(cfg, app_state.clone());
                        configure_metrics(cfg, app_state.clone());
                        handlers::portal::configure(cfg, app_state.clone());
                    }
                })
                .default_service(web::to(handlers::not_found))
        })
        .listen(listener)?
        .run();
        let (admin_server, admin_addr) = match admin_listener {
            Some(l) => {
                let admin_addr = l.local_addr()?;
                let app_state = state.clone();
                let server = HttpServer::new(move || {
                    App::new()
                        .wrap(NormalizePath::new(TrailingSlash::Trim))
                        .wrap(TracingLogger::<ScimRootSpan>::new())
                        .wrap(RequestMetrics::new(&app_state))
                        .configure(|cfg| configure_admin(cfg, app_state.clone()))
                        .configure(|cfg| configure_health(cfg, app_state.clone()))
                        .configure(|cfg| configure_metrics(cfg, app_state.clone()))
                        .configure(|cfg| handlers::portal::configure(cfg, app_state.clone()))
                        .default_service(web::to(admin::not_found))
                })
                .listen(l)?
                .run();
                tracing::info!(%admin_addr, "admin API listening");
                (Some(server), admin_addr)
            }
            None => (None, addr),
        };
        tracing::info!(%addr, scim_base_url = %state.base_url, "listening");
        Ok(Self {
            port: addr.port(),
            state,
            server,
            admin_server,
            admin_addr,
            log_writer,
        })
    }

    /// The origin (`http://ADDR`) the admin API answers on: the admin listener when one is
    /// set, else the SCIM listener.
    pub fn admin_url(&self) -> String {
        format!("http://{}", self.admin_addr)
    }

    /// The port the server listens on (useful with port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The absolute SCIM base URL.
    pub fn scim_base_url(&self) -> &str {
        &self.state.base_url
    }

    /// A handle that stops this application (both listeners) from any thread or task.
    pub fn stop_handle(&self) -> StopHandle {
        StopHandle(
            std::iter::once(&self.server)
                .chain(&self.admin_server)
                .map(Server::handle)
                .collect(),
        )
    }

    /// Serves, and delivers webhooks, until the process gets SIGINT or SIGTERM or a
    /// [`StopHandle`] stops it. Before it returns, the webhook deliverer has finished the event
    /// it was sending (and given up its lease), the queued provisioning log is written and the
    /// application's database pool is dropped.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let Self {
            state,
            server,
            admin_server,
            log_writer,
            ..
        } = self;
        let work = BackgroundWork::start(&state, log_writer);
        let served = match admin_server {
            Some(admin) => {
                let (scim, admin) = tokio::join!(server, admin);
                scim.and(admin)
            }
            None => server.await,
        };
        // The log writer ends once every sender is gone: this state's and the server workers'.
        drop(state);
        work.stop().await;
        tracing::info!("stopped");
        served
    }
}

/// Stops a running [`Application`]; cheap to clone, usable from any thread.
#[derive(Clone)]
pub struct StopHandle(Vec<ServerHandle>);

impl StopHandle {
    /// Asks the application to stop accepting connections. With `graceful`, requests in flight
    /// are answered first (for up to 30 seconds); without it, open connections are closed at
    /// once. [`Application::run_until_stopped`] returns once everything has stopped.
    pub fn stop(&self, graceful: bool) {
        for server in &self.0 {
            // The command is sent here; the future would only report the server's end, which
            // run_until_stopped waits for anyway.
            drop(server.stop(graceful));
        }
    }
}

/// Mounts the SCIM service (under `scim_path`, `/scim/v2` by default) on an actix `App`; host
/// applications call this to serve SCIM beside their own routes.
pub fn configure(cfg: &mut web::ServiceConfig, state: AppState) {
    let limit = state.settings.max_body_bytes;
    let bulk_limit = state.settings.bulk.max_payload_bytes;
    cfg.service(
        web::scope(&state.settings.scim_path)
            .app_data(web::Data::new(state))
            .app_data(content::json_config(limit))
            .app_data(content::query_config())
            .service(
                web::resource("/ServiceProviderConfig")
                    .get(discovery::config)
                    .default_service(web::to(handlers::method_not_allowed)),
            )
            .service(
                web::resource("/ResourceTypes")
                    .get(discovery::resource_types)
                    .default_service(web::to(handlers::method_not_allowed))
                    .wrap(from_fn(auth::tenant_if_named)),
            )
            .service(
                web::resource("/ResourceTypes/{id}")
                    .get(discovery::resource_type)
                    .default_service(web::to(handlers::method_not_allowed))
                    .wrap(from_fn(auth::tenant_if_named)),
            )
            .service(
                web::resource("/Schemas")
                    .get(discovery::schemas)
                    .default_service(web::to(handlers::method_not_allowed))
                    .wrap(from_fn(auth::tenant_if_named)),
            )
            .service(
                web::resource("/Schemas/{id}")
                    .get(discovery::schema)
                    .default_service(web::to(handlers::method_not_allowed))
                    .wrap(from_fn(auth::tenant_if_named)),
            )
            .service(
                web::resource("/.search")
                    .wrap(from_fn(auth::require_tenant))
                    .wrap(from_fn(request_log::record))
                    .post(resources::search_all)
                    .default_service(web::to(handlers::method_not_allowed)),
            )
            .service(
                web::resource("/Bulk")
                    .app_data(content::json_config(bulk_limit))
                    .wrap(from_fn(auth::require_tenant))
                    .wrap(from_fn(request_log::record))
                    .post(bulk::bulk)
                    .default_service(web::to(handlers::method_not_allowed)),
            )
            .configure(|c| {
                for rt in ResourceType::ALL {
                    resource_routes(c, rt);
                }
            })
            .default_service(web::to(handlers::not_found)),
    );
}

/// Mounts `/healthz` and `/readyz` (unauthenticated; see `handlers::health`).
pub fn configure_health(cfg: &mut web::ServiceConfig, state: AppState) {
    cfg.service(
        web::resource("/healthz")
            .get(health::healthz)
            .default_service(web::to(handlers::method_not_allowed)),
    )
    .service(
        web::resource("/readyz")
            .app_data(web::Data::new(state))
            .get(health::readyz)
            .default_service(web::to(handlers::method_not_allowed)),
    );
}

/// Mounts `/metrics` (Prometheus text format, unauthenticated: serve it where the admin API is,
/// which the SCIM proxy does not expose).
pub fn configure_metrics(cfg: &mut web::ServiceConfig, state: AppState) {
    cfg.service(
        web::resource("/metrics")
            .app_data(web::Data::new(state))
            .get(handlers::metrics::metrics)
            .default_service(web::to(handlers::method_not_allowed)),
    );
}

/// Mounts the admin API (`/admin/v1/…`).
pub fn configure_admin(cfg: &mut web::ServiceConfig, state: AppState) {
    let json = web::JsonConfig::default()
        .limit(state.settings.max_body_bytes)
        .error_handler(|err, _req| {
            AdminError::BadRequest(format!(
                "the request body is not the JSON this endpoint takes: {err}"
            ))
            .into()
        });
    let query = web::QueryConfig::default().error_handler(|err, _req| {
        AdminError::BadRequest(format!("the query string could not be read: {err}")).into()
    });
    cfg.service(
        web::scope("/admin/v1")
            .app_data(web::Data::new(state))
            .app_data(json)
            .app_data(query)
            .route("/tenants", web::post().to(admin::create_tenant))
            .route("/tenants", web::get().to(admin::list_tenants))
            .route("/tenants/{id}", web::get().to(admin::get_tenant))
            .route("/tenants/{id}", web::delete().to(admin::delete_tenant))
            .route("/tenants/{id}/secret", web::post().to(admin::rotate_secret))
            .route(
                "/tenants/{id}/credentials",
                web::get().to(admin::credentials),
            )
            .route(
                "/tenants/{id}/role-mappings",
                web::get().to(admin::get_role_mappings),
            )
            .route(
                "/tenants/{id}/role-mappings",
                web::put().to(admin::put_role_mappings),
            )
            .route("/tenants/{id}/roles", web::get().to(admin::get_roles))
            .route(
                "/tenants/{id}/attribute-mapping",
                web::get().to(admin::get_attribute_mapping),
            )
            .route(
                "/tenants/{id}/attribute-mapping",
                web::put().to(admin::put_attribute_mapping),
            )
            .route("/tenants/{id}/schemas", web::get().to(admin::schemas))
            .route(
                "/tenants/{id}/schemas/{urn}",
                web::get().to(admin::get_schema),
            )
            .route(
                "/tenants/{id}/schemas/{urn}",
                web::put().to(admin::put_schema),
            )
            .route(
                "/tenants/{id}/schemas/{urn}",
                web::delete().to(admin::delete_schema),
            )
            .route(
                "/tenants/{id}/schemas/{urn}/data",
                web::delete().to(admin::purge_schema_data),
            )
            .route(
                "/tenants/{id}/schema-settings",
                web::put().to(admin::put_schema_settings),
            )
            .route("/tenants/{id}/users", web::get().to(admin::users))
            .route("/tenants/{id}/users/{user_id}", web::get().to(admin::user))
            .route("/tenants/{id}/events", web::get().to(admin::tenant_events))
            .route("/tenants/{id}/webhooks", web::get().to(admin::get_webhooks))
            .route("/tenants/{id}/webhooks", web::put().to(admin::put_webhook))
            .route(
                "/tenants/{id}/webhooks",
                web::delete().to(admin::delete_webhook),
            )
            .route(
                "/tenants/{id}/webhooks/resend",
                web::post().to(admin::resend_webhook),
            )
            .route("/tenants/{id}/logs", web::get().to(admin::logs))
            .route(
                "/tenants/{id}/portal-links",
                web::post().to(admin::create_portal_link),
            )
            .route(
                "/tenants/{id}/portal-links",
                web::get().to(admin::portal_links),
            )
            .route(
                "/tenants/{id}/portal-links/{link_id}",
                web::delete().to(admin::revoke_portal_link),
            )
            .route("/events", web::get().to(admin::own_events))
            .default_service(web::to(admin::not_found)),
    );
}

/// The authenticated routes of one resource type.
fn resource_routes(cfg: &mut web::ServiceConfig, rt: &'static ResourceType) {
    cfg.service(
        web::scope(rt.endpoint)
            .app_data(web::Data::new(rt))
            .wrap(from_fn(auth::require_tenant))
            .wrap(from_fn(request_log::record))
            .service(
                web::resource("")
                    .get(resources::list)
                    .post(resources::create)
                    .default_service(web::to(handlers::method_not_allowed)),
            )
            .service(
                web::resource("/.search")
                    .post(resources::search)
                    .default_service(web::to(handlers::method_not_allowed)),
            )
            .service(
                web::resource("/{id}")
                    .get(resources::get)
                    .put(resources::replace)
                    .delete(resources::delete)
                    .patch(resources::patch)
                    .default_service(web::to(handlers::method_not_allowed)),
            )
            .default_service(web::to(handlers::not_found)),
    );
}
