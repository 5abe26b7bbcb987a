//! One module per route.

mod about;
mod account;
mod contribute;
mod home;
mod not_found;
mod project;

pub use about::About;
pub use account::{AccountPage, SignIn, SignUp};
pub use contribute::Contribute;
pub use home::Home;
pub use not_found::NotFound;
pub use project::ProjectPage;
