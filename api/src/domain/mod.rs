//! Rules with no HTTP in them.

pub mod platform;
pub mod rest;
pub mod volunteer;

use crate::{auth::Caller, state::AppState};

/// What a domain operation acts with: the application and the caller.
#[derive(Clone, Copy)]
pub struct Ctx<'a> {
    pub state: &'a AppState,
    pub caller: &'a Caller,
}
