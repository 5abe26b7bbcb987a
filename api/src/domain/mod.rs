//! Rules with no HTTP in them.

pub mod accounts;
pub mod aggregate;
pub mod answers;
pub mod batch;
pub mod cache;
pub mod candidates;
pub mod crud;
pub mod export;
pub mod fields;
pub mod identity;
pub mod json_filter;
pub mod outbound;
pub mod related;
pub mod resources;
pub mod scheduler;
pub mod stats;
pub mod uploads;
pub mod webhooks;

use crate::{auth::Caller, state::AppState};

/// What a domain operation acts with: the application and the caller.
#[derive(Clone, Copy)]
pub struct Ctx<'a> {
    pub state: &'a AppState,
    pub caller: &'a Caller,
}
