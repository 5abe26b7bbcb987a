//! One module per route.

mod about;
mod home;
mod not_found;
mod project;

pub use about::About;
pub use home::Home;
pub use not_found::NotFound;
pub use project::ProjectPage;
