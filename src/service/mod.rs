//! Use cases. Each owns its transaction: validate → store → render.

pub mod admin;
pub mod bulk;
mod changes;
pub mod portal;
pub mod resources;
pub mod search;
pub mod tenants;
