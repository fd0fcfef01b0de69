//! Builds and runs the server: database, state, listener and the route table.

use std::net::{SocketAddr, TcpListener};

use actix_web::dev::{HttpServiceFactory, Server, ServerHandle};
use actix_web::http::Method;
use actix_web::middleware::{NormalizePath, TrailingSlash, from_fn};
use actix_web::{App, HttpServer, Resource, Route, Scope, web};
use tracing_actix_web::TracingLogger;

use crate::background::BackgroundWork;
use crate::config::Settings;
use crate::error::AdminError;
use crate::events::log::LogWriter;
use crate::handlers::{self, admin, bulk, discovery, health, offered, resources};
use crate::http::metrics::RequestMetrics;
use crate::http::{auth, content, log as request_log};
use crate::scim::schema::ResourceType;
use crate::state::AppState;
use crate::storage::Db;
use crate::telemetry::ScimRootSpan;

/// Where the admin API is mounted.
pub const ADMIN_PATH: &str = "/admin/v1";

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
                .configure(|cfg| configure_jwks(cfg, app_state.clone()))
                .configure(|cfg| {
                    if admin_here {
                        configure_admin(cfg, app_state.clone());
                        configure_metrics(cfg, app_state.clone());
                        configure_openapi(cfg, app_state.clone());
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
                        .configure(|cfg| configure_jwks(cfg, app_state.clone()))
                        .configure(|cfg| configure_metrics(cfg, app_state.clone()))
                        .configure(|cfg| configure_openapi(cfg, app_state.clone()))
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
    let scope = scim_scope(&state.settings, &mut RouteTable::default().root());
    cfg.service(scope.app_data(web::Data::new(state)));
}

/// Mounts `/healthz` and `/readyz` (unauthenticated; see `handlers::health`).
pub fn configure_health(cfg: &mut web::ServiceConfig, state: AppState) {
    let (healthz, readyz) = health_resources(&mut RouteTable::default().root());
    cfg.service(healthz)
        .service(readyz.app_data(web::Data::new(state)));
}

/// Mounts `/.well-known/jwks.json`, the keys Security Event Tokens are signed with
/// (unauthenticated: receivers verify SETs with them). Served on every listener, as receivers
/// may reach either.
pub fn configure_jwks(cfg: &mut web::ServiceConfig, state: AppState) {
    let jwks = jwks_resource(&mut RouteTable::default().root());
    cfg.service(jwks.app_data(web::Data::new(state)));
}

/// Mounts `/metrics` (Prometheus text format, unauthenticated: serve it where the admin API is,
/// which the SCIM proxy does not expose).
pub fn configure_metrics(cfg: &mut web::ServiceConfig, state: AppState) {
    let metrics = metrics_resource(&mut RouteTable::default().root());
    cfg.service(metrics.app_data(web::Data::new(state)));
}

/// Mounts `/openapi.json`, the OpenAPI document of the SCIM and admin APIs (unauthenticated: it
/// describes, it shows no data). Served where the admin API is: a separate SCIM listener faces
/// the IdPs, which read no OpenAPI, and need not advertise the admin API it does not serve.
pub fn configure_openapi(cfg: &mut web::ServiceConfig, state: AppState) {
    let openapi = openapi_resource(&mut RouteTable::default().root());
    cfg.service(openapi.app_data(web::Data::new(state)));
}

/// Mounts the admin API (`/admin/v1/…`).
pub fn configure_admin(cfg: &mut web::ServiceConfig, state: AppState) {
    let scope = admin_scope(&state.settings, &mut RouteTable::default().root());
    cfg.service(scope.app_data(web::Data::new(state)));
}

/// The routes of the HTTP API — SCIM, admin, health, metrics and the OpenAPI document — as
/// (method, path pattern) pairs, each noted by the code that registers it with actix, so the
/// OpenAPI document can be checked against what is served (tests/api/openapi.rs). The portal's
/// pages, HTML for people, are not part of it.
#[derive(Debug, Default)]
pub struct RouteTable(Vec<(Method, String)>);

impl RouteTable {
    /// Every route [`configure`], [`configure_admin`], [`configure_health`],
    /// [`configure_jwks`], [`configure_metrics`] and [`configure_openapi`] register with these settings: the same
    /// functions build the same scopes, and only what they noted is kept.
    #[cfg(feature = "internals")]
    pub fn of(settings: &Settings) -> Self {
        let mut table = Self::default();
        let mut root = table.root();
        let _ = scim_scope(settings, &mut root);
        let _ = admin_scope(settings, &mut root);
        let _ = health_resources(&mut root);
        let _ = jwks_resource(&mut root);
        let _ = metrics_resource(&mut root);
        let _ = openapi_resource(&mut root);
        table
    }

    /// The (method, path pattern) pairs, in the order they were registered.
    #[cfg(feature = "internals")]
    pub fn routes(&self) -> &[(Method, String)] {
        &self.0
    }

    fn root(&mut self) -> Registrar<'_> {
        Registrar {
            table: self,
            prefix: String::new(),
        }
    }
}

/// Registers routes with actix under a path prefix, noting each in a [`RouteTable`].
struct Registrar<'t> {
    table: &'t mut RouteTable,
    prefix: String,
}

impl Registrar<'_> {
    /// A scope at `path`, and the registrar of the routes inside it.
    fn scope(&mut self, path: &str) -> (Scope, Registrar<'_>) {
        let inner = Registrar {
            prefix: format!("{}{path}", self.prefix),
            table: self.table,
        };
        (web::scope(path), inner)
    }

    /// A resource at `path` answering `routes`, and a SCIM 405 to any other method.
    fn resource<const N: usize>(&mut self, path: &str, routes: [(Method, Route); N]) -> Resource {
        routes
            .into_iter()
            .fold(web::resource(path), |resource, (method, route)| {
                self.note(&method, path);
                resource.route(route.method(method))
            })
            .default_service(web::to(handlers::method_not_allowed))
    }

    /// `scope` with `route` added at `path` for `method`.
    fn route(&mut self, scope: Scope, method: Method, path: &str, route: Route) -> Scope {
        self.note(&method, path);
        scope.route(path, route.method(method))
    }

    fn note(&mut self, method: &Method, path: &str) {
        self.table
            .0
            .push((method.clone(), format!("{}{path}", self.prefix)));
    }
}

/// The SCIM service's scope, without its state.
fn scim_scope(settings: &Settings, routes: &mut Registrar) -> Scope {
    let (scope, mut routes) = routes.scope(&settings.scim_path);
    let scope = scope
        .app_data(content::json_config(settings.max_body_bytes))
        .app_data(content::query_config());
    // The resource types first: the router tries each service in turn, and nearly every
    // request is for /Users or /Groups.
    let scope = ResourceType::ALL.into_iter().fold(scope, |scope, rt| {
        scope.service(resource_scope(rt, &mut routes))
    });
    scope
        .service(routes.resource(
            "/ServiceProviderConfig",
            [(Method::GET, web::to(discovery::config))],
        ))
        .service(discovery_resource(
            &mut routes,
            "/ResourceTypes",
            web::to(discovery::resource_types),
        ))
        .service(discovery_resource(
            &mut routes,
            "/ResourceTypes/{id}",
            web::to(discovery::resource_type),
        ))
        .service(discovery_resource(
            &mut routes,
            "/Schemas",
            web::to(discovery::schemas),
        ))
        .service(discovery_resource(
            &mut routes,
            "/Schemas/{id}",
            web::to(discovery::schema),
        ))
        .service(
            routes
                .resource("/.search", [(Method::POST, web::to(resources::search_all))])
                .wrap(from_fn(auth::require_tenant))
                .wrap(from_fn(request_log::record)),
        )
        .service(
            routes
                .resource("/Bulk", [(Method::POST, web::to(bulk::bulk))])
                .app_data(content::json_config(settings.bulk.max_payload_bytes))
                .wrap(from_fn(auth::require_tenant))
                .wrap(from_fn(request_log::record)),
        )
        .service(offered_resource(
            &mut routes,
            "/Roles",
            web::to(offered::roles),
        ))
        .service(offered_resource(
            &mut routes,
            "/Roles/{id}",
            web::to(offered::role),
        ))
        .service(offered_resource(
            &mut routes,
            "/Entitlements",
            web::to(offered::entitlements),
        ))
        .service(offered_resource(
            &mut routes,
            "/Entitlements/{id}",
            web::to(offered::entitlement),
        ))
        .default_service(web::to(handlers::not_found))
}

/// A discovery resource: open to anyone, answered for the tenant of a token when one is sent.
fn discovery_resource(
    routes: &mut Registrar,
    path: &str,
    handler: Route,
) -> impl HttpServiceFactory + use<> {
    routes
        .resource(path, [(Method::GET, handler)])
        .wrap(from_fn(auth::tenant_if_named))
}

/// A read-only resource of what the app offers (draft-ietf-scim-roles-entitlements): for the
/// tenant of the token only, logged like every SCIM request; other methods are 405.
fn offered_resource(
    routes: &mut Registrar,
    path: &str,
    handler: Route,
) -> impl HttpServiceFactory + use<> {
    routes
        .resource(path, [(Method::GET, handler)])
        .wrap(from_fn(auth::require_tenant))
        .wrap(from_fn(request_log::record))
}

/// `/healthz` and `/readyz`, without their state.
fn health_resources(routes: &mut Registrar) -> (Resource, Resource) {
    (
        routes.resource("/healthz", [(Method::GET, web::to(health::healthz))]),
        routes.resource("/readyz", [(Method::GET, web::to(health::readyz))]),
    )
}

/// `/.well-known/jwks.json`, without its state.
fn jwks_resource(routes: &mut Registrar) -> Resource {
    routes.resource(
        crate::events::secevent::JWKS_PATH,
        [(Method::GET, web::to(handlers::jwks::jwks))],
    )
}

/// `/metrics`, without its state.
fn metrics_resource(routes: &mut Registrar) -> Resource {
    routes.resource(
        "/metrics",
        [(Method::GET, web::to(handlers::metrics::metrics))],
    )
}

/// `/openapi.json`, without its state.
fn openapi_resource(routes: &mut Registrar) -> Resource {
    routes.resource(
        "/openapi.json",
        [(Method::GET, web::to(handlers::openapi::document))],
    )
}

/// The admin API's scope, without its state. Each route is its own resource, so a method a
/// path does not have is answered as an unknown admin endpoint (404).
fn admin_scope(settings: &Settings, routes: &mut Registrar) -> Scope {
    const GET: Method = Method::GET;
    const PUT: Method = Method::PUT;
    const POST: Method = Method::POST;
    const DELETE: Method = Method::DELETE;
    let json = web::JsonConfig::default()
        .limit(settings.max_body_bytes)
        .error_handler(|err, _req| {
            AdminError::BadRequest(format!(
                "the request body is not the JSON this endpoint takes: {err}"
            ))
            .into()
        });
    let query = web::QueryConfig::default().error_handler(|err, _req| {
        AdminError::BadRequest(format!("the query string could not be read: {err}")).into()
    });
    let (scope, mut routes) = routes.scope(ADMIN_PATH);
    let table = [
        (POST, "/tenants", web::to(admin::create_tenant)),
        (GET, "/tenants", web::to(admin::list_tenants)),
        (GET, "/tenants/{id}", web::to(admin::get_tenant)),
        (DELETE, "/tenants/{id}", web::to(admin::delete_tenant)),
        (POST, "/tenants/{id}/secret", web::to(admin::rotate_secret)),
        (
            GET,
            "/tenants/{id}/credentials",
            web::to(admin::credentials),
        ),
        (
            GET,
            "/tenants/{id}/role-mappings",
            web::to(admin::get_role_mappings),
        ),
        (
            PUT,
            "/tenants/{id}/role-mappings",
            web::to(admin::put_role_mappings),
        ),
        (GET, "/tenants/{id}/roles", web::to(admin::get_roles)),
        (
            GET,
            "/tenants/{id}/entitlements",
            web::to(admin::get_entitlements),
        ),
        (
            PUT,
            "/tenants/{id}/entitlements",
            web::to(admin::put_entitlements),
        ),
        (
            GET,
            "/tenants/{id}/attribute-mapping",
            web::to(admin::get_attribute_mapping),
        ),
        (
            PUT,
            "/tenants/{id}/attribute-mapping",
            web::to(admin::put_attribute_mapping),
        ),
        (GET, "/tenants/{id}/schemas", web::to(admin::schemas)),
        (
            GET,
            "/tenants/{id}/schemas/{urn}",
            web::to(admin::get_schema),
        ),
        (
            PUT,
            "/tenants/{id}/schemas/{urn}",
            web::to(admin::put_schema),
        ),
        (
            DELETE,
            "/tenants/{id}/schemas/{urn}",
            web::to(admin::delete_schema),
        ),
        (
            DELETE,
            "/tenants/{id}/schemas/{urn}/data",
            web::to(admin::purge_schema_data),
        ),
        (
            PUT,
            "/tenants/{id}/schema-settings",
            web::to(admin::put_schema_settings),
        ),
        (GET, "/tenants/{id}/users", web::to(admin::users)),
        (GET, "/tenants/{id}/users/{user_id}", web::to(admin::user)),
        (GET, "/tenants/{id}/events", web::to(admin::tenant_events)),
        (GET, "/tenants/{id}/webhooks", web::to(admin::get_webhooks)),
        (PUT, "/tenants/{id}/webhooks", web::to(admin::put_webhook)),
        (
            DELETE,
            "/tenants/{id}/webhooks",
            web::to(admin::delete_webhook),
        ),
        (
            POST,
            "/tenants/{id}/webhooks/resend",
            web::to(admin::resend_webhook),
        ),
        (POST, "/tenants/{id}/sets", web::to(admin::poll_sets)),
        (GET, "/tenants/{id}/logs", web::to(admin::logs)),
        (GET, "/tenants/{id}/mode", web::to(admin::get_mode)),
        (PUT, "/tenants/{id}/mode", web::to(admin::put_mode)),
        (GET, "/tenants/{id}/dry-run", web::to(admin::dry_run_diff)),
        (
            POST,
            "/tenants/{id}/dry-run/promote",
            web::to(admin::promote_dry_run),
        ),
        (
            DELETE,
            "/tenants/{id}/dry-run",
            web::to(admin::discard_dry_run),
        ),
        (GET, "/tenants/{id}/findings", web::to(admin::findings)),
        (
            DELETE,
            "/tenants/{id}/findings/{kind}",
            web::to(admin::dismiss_finding),
        ),
        (
            POST,
            "/tenants/{id}/portal-links",
            web::to(admin::create_portal_link),
        ),
        (
            GET,
            "/tenants/{id}/portal-links",
            web::to(admin::portal_links),
        ),
        (
            DELETE,
            "/tenants/{id}/portal-links/{link_id}",
            web::to(admin::revoke_portal_link),
        ),
        (GET, "/events", web::to(admin::own_events)),
    ];
    table
        .into_iter()
        .fold(
            scope.app_data(json).app_data(query),
            |scope, (method, path, route)| routes.route(scope, method, path, route),
        )
        .default_service(web::to(admin::not_found))
}

/// The authenticated routes of one resource type.
fn resource_scope(
    rt: &'static ResourceType,
    routes: &mut Registrar,
) -> impl HttpServiceFactory + use<> {
    let (scope, mut routes) = routes.scope(rt.endpoint);
    scope
        .app_data(web::Data::new(rt))
        .wrap(from_fn(auth::require_tenant))
        .wrap(from_fn(request_log::record))
        .service(routes.resource(
            "",
            [
                (Method::GET, web::to(resources::list)),
                (Method::POST, web::to(resources::create)),
            ],
        ))
        .service(routes.resource("/.search", [(Method::POST, web::to(resources::search))]))
        .service(routes.resource(
            "/{id}",
            [
                (Method::GET, web::to(resources::get)),
                (Method::PUT, web::to(resources::replace)),
                (Method::DELETE, web::to(resources::delete)),
                (Method::PATCH, web::to(resources::patch)),
            ],
        ))
        .default_service(web::to(handlers::not_found))
}
