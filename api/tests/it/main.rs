//! Integration tests: the real server over HTTP, on SQLite and on PostgreSQL.

// A test's futures are awaited once each: their size costs nothing that matters here.
#![allow(clippy::large_futures)]

mod common;

mod accounts;
mod answer_paths;
mod audit;
mod cli;
mod consensus;
mod content;
mod errors;
mod exports;
mod imports;
mod layers;
mod mail;
mod openapi;
mod platform;
mod projects;
mod quality;
mod ratelimit;
mod resources;
mod security;
mod tasks;
mod uploads;
mod volunteer;
