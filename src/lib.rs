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

// The crate's modules: private, or public with the `internals` feature. Each is declared twice
// rather than by a macro, so that rustfmt (which does not expand macros) reaches their files.
#[cfg(feature = "internals")]
pub mod admin_token;
#[cfg(not(feature = "internals"))]
mod admin_token;
#[cfg(feature = "internals")]
pub mod app_roles;
#[cfg(not(feature = "internals"))]
mod app_roles;
#[cfg(feature = "internals")]
pub mod background;
#[cfg(not(feature = "internals"))]
mod background;
#[cfg(feature = "internals")]
pub mod config;
#[cfg(not(feature = "internals"))]
mod config;
#[cfg(feature = "internals")]
pub mod conformance;
#[cfg(not(feature = "internals"))]
mod conformance;
#[cfg(feature = "internals")]
pub mod diagnosis;
#[cfg(not(feature = "internals"))]
mod diagnosis;
#[cfg(feature = "internals")]
pub mod error;
#[cfg(not(feature = "internals"))]
mod error;
#[cfg(feature = "internals")]
pub mod events;
#[cfg(not(feature = "internals"))]
mod events;
#[cfg(feature = "internals")]
pub mod handlers;
#[cfg(not(feature = "internals"))]
mod handlers;
#[cfg(feature = "internals")]
pub mod health;
#[cfg(not(feature = "internals"))]
mod health;
#[cfg(feature = "internals")]
pub mod http;
#[cfg(not(feature = "internals"))]
mod http;
#[cfg(feature = "internals")]
pub mod metrics;
#[cfg(not(feature = "internals"))]
mod metrics;
#[cfg(feature = "internals")]
pub mod openapi;
#[cfg(not(feature = "internals"))]
mod openapi;
#[cfg(feature = "internals")]
pub mod scim;
#[cfg(not(feature = "internals"))]
mod scim;
#[cfg(feature = "internals")]
pub mod service;
#[cfg(not(feature = "internals"))]
mod service;
#[cfg(feature = "internals")]
pub mod startup;
#[cfg(not(feature = "internals"))]
mod startup;
#[cfg(feature = "internals")]
pub mod state;
#[cfg(not(feature = "internals"))]
mod state;
#[cfg(feature = "internals")]
pub mod storage;
#[cfg(not(feature = "internals"))]
mod storage;
#[cfg(feature = "internals")]
pub mod telemetry;
#[cfg(not(feature = "internals"))]
mod telemetry;
#[cfg(feature = "internals")]
pub mod tenant;
#[cfg(not(feature = "internals"))]
mod tenant;
#[cfg(feature = "internals")]
pub mod token;
#[cfg(not(feature = "internals"))]
mod token;

pub mod cli;

pub use app_roles::{AppEntitlement, AppRole, RoleCatalog};
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
