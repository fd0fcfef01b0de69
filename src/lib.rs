//! Scimitar: a SCIM 2.0 service provider (RFC 7643 / RFC 7644) that SaaS apps run beside
//! themselves, or mount into their own actix-web app, to receive users and groups from
//! JumpCloud, Okta, Microsoft Entra ID, OneLogin and Google Workspace.

pub mod admin_token;
pub mod app_roles;
pub mod background;
pub mod config;
pub mod conformance;
pub mod error;
pub mod events;
pub mod handlers;
pub mod health;
pub mod http;
pub mod metrics;
pub mod openapi;
pub mod scim;
pub mod service;
pub mod startup;
pub mod state;
pub mod storage;
pub mod telemetry;
pub mod tenant;
pub mod token;

pub use app_roles::{AppRole, RoleCatalog};
pub use background::BackgroundWork;
pub use config::Settings;
pub use events::EventType;
pub use events::handler::{Event, EventHandler, HandlerError};
pub use service::tenants;
pub use startup::{Application, StopHandle, configure, configure_admin, configure_openapi};
pub use state::AppState;
pub use storage::{Db, Waits};
