//! Tessera: a PYBOSSA-compatible crowdsourcing platform.
//!
//! Layers depend one way: `routes` (HTTP) → `domain` (rules) → `store`/`kv` (data).

pub mod app;
pub mod auth;
pub mod config;
pub mod domain;
pub mod error;
pub mod ids;
pub mod infra;
pub mod kv;
pub mod mailer;
pub mod metrics;
pub mod routes;
pub mod server;
pub mod state;
pub mod storage;
pub mod store;
pub mod workers;
