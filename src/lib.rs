//! Scimitar: a SCIM 2.0 service provider (RFC 7643 / RFC 7644) that SaaS apps run beside
//! themselves, or mount into their own actix-web app, to receive users and groups from
//! JumpCloud, Okta, Microsoft Entra ID, OneLogin and Google Workspace.
//!
//! The API is what this page re-exports: build an [`AppState`] from [`Settings`] and a [`Db`],
//! mount it with [`configure`] (and [`configure_admin`], [`configure_portal`],
//! [`configure_metrics`], [`configure_health`]), run its [`BackgroundWork`] with your own
//! [`EventHandler`], and manage [`tenants`]. `examples/host_app.rs` puts it together. The
//! modules themselves are private; the `internals` feature opens them for Scimitar's own tests
//! and benchmarks, with no promise of stability.

#![cfg_attr(not(feature = "internals"), warn(missing_docs))]

/// Declares the crate's modules: private to the crate, or public with the `internals` feature.
macro_rules! internal {
    ($($name:ident),* $(,)?) => {
        $(
            #[cfg(feature = "internals")]
            pub mod $name;
            #[cfg(not(feature = "internals"))]
            mod $name;
        )*
    };
}

internal!(
    admin_token,
    app_roles,
    background,
    config,
    conformance,
    error,
    events,
    handlers,
    health,
    http,
    metrics,
    openapi,
    scim,
    service,
    startup,
    state,
    storage,
    telemetry,
    tenant,
    token,
);

pub mod cli;

pub use app_roles::{AppRole, RoleCatalog};
pub use background::BackgroundWork;
pub use config::{
    AdminAuth, AdminKey, BulkLimits, InvalidSettings, PortalSettings, RateLimits, Settings,
};
pub use error::ScimError;
pub use events::EventType;
pub use events::egress::Egress;
pub use events::handler::{Event, EventHandler, HandlerError};
pub use events::webhooks::DeliveryPolicy;
pub use handlers::portal::configure as configure_portal;
pub use http::metrics::RequestMetrics;
pub use scim::limits::Limits;
pub use service::tenants;
pub use startup::{
    Application, StopHandle, configure, configure_admin, configure_health, configure_jwks,
    configure_metrics, configure_openapi,
};
pub use state::AppState;
pub use storage::models::{CredentialRow, TenantRow};
pub use storage::{Db, Waits};
pub use token::ScimToken;
