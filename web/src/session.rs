//! Who is signed in, shared by every page through a context.

use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api::{self, Account};

#[derive(Clone, Copy)]
pub struct Session {
    /// The signed-in account, once known.
    pub account: RwSignal<Option<Account>>,
    /// Whether a stored token has been checked with the server yet.
    pub checked: RwSignal<bool>,
}

impl Session {
    pub fn signed_in(&self) -> bool {
        self.account.with(Option::is_some)
    }

    pub fn sign_out(&self) {
        api::logout();
        self.account.set(None);
    }
}

/// Creates the session (checking a stored token with the server) and provides it.
pub fn provide_session() -> Session {
    let session = Session {
        account: RwSignal::new(None),
        checked: RwSignal::new(api::stored_token().is_none()),
    };
    if api::stored_token().is_some() {
        spawn_local(async move {
            if let Ok(account) = api::me().await {
                session.account.set(Some(account));
            }
            session.checked.set(true);
        });
    }
    provide_context(session);
    session
}

pub fn use_session() -> Session {
    use_context::<Session>().unwrap_or_else(|| Session {
        account: RwSignal::new(None),
        checked: RwSignal::new(true),
    })
}
