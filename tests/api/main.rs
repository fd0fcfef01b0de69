//! The integration suite: one binary, the real app on port 0, on SQLite and on PostgreSQL.

mod helpers;

mod admin;
mod cli;
mod conformance;
mod discovery;
mod durability;
mod errors;
mod filter_props;
mod filters;
mod groups;
mod isolation;
mod lifecycle;
mod patch;
mod queries;
mod secrets;
mod tenancy;
mod users;
mod webhooks;
