//! Process-wide state handed to every handler and worker: the infrastructure, the volunteer
//! loop's own state, and the accounts of signed-in callers.

use crate::{
    auth::Caller,
    domain::{
        Ctx,
        platform::cache::{AccountRows, LocalRows},
        volunteer::LoopState,
    },
    infra::Infra,
};

pub struct AppState {
    pub infra: Infra,
    pub volunteer: LoopState,
    /// Signed-in callers' account rows, kept for a second.
    pub accounts: AccountRows,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

impl AppState {
    /// What a domain operation acts with for this caller.
    pub fn ctx<'a>(&'a self, caller: &'a Caller) -> Ctx<'a> {
        Ctx {
            infra: &self.infra,
            local: self.local(),
            caller,
        }
    }

    /// The in-process rows a write must drop beside the shared cache entries.
    pub fn local(&self) -> LocalRows<'_> {
        LocalRows {
            projects: &self.volunteer.projects,
            accounts: &self.accounts,
        }
    }
}
