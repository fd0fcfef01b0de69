//! The integration suite: one binary, the real app on port 0, on SQLite and on PostgreSQL.

mod helpers;

mod admin;
mod admin_bounds;
mod app_user;
mod browser;
mod bulk;
mod citus;
mod cli;
mod conformance;
mod discovery;
mod durability;
mod errors;
mod filter_props;
mod filters;
mod groups;
mod health;
mod input;
mod isolation;
mod library;
mod lifecycle;
mod limits;
mod metrics;
mod openapi;
mod patch;
mod portal;
mod queries;
mod rate_limits;
mod scale_out;
mod schemas;
mod secevents;
mod secrets;
mod tenancy;
mod transfer;
mod users;
mod webhooks;
