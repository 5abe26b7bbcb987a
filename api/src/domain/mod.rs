//! Rules with no HTTP in them.

pub mod platform;
pub mod rest;
pub mod volunteer;

use crate::{auth::Caller, infra::Infra};

/// What a domain operation acts with: the infrastructure, the in-process rows its writes must
/// drop, and the caller.
#[derive(Clone, Copy)]
pub struct Ctx<'a> {
    pub infra: &'a Infra,
    pub local: platform::cache::LocalRows<'a>,
    pub caller: &'a Caller,
}
