//! One module per route.

mod about;
mod account;
mod admin;
mod blog;
mod content_editor;
mod contribute;
mod home;
mod manage;
mod not_found;
mod owner;
mod project;
mod quality;
mod review;
mod task;

pub use about::About;
pub use account::{AccountPage, ConfirmEmail, ForgotPassword, ResetPassword, SignIn, SignUp};
pub use admin::Admin;
pub use blog::{BlogPage, ContentPage, PostPage, TutorialPage};
pub use contribute::Contribute;
pub use home::Home;
pub use manage::{Manage, Section};
pub use not_found::NotFound;
pub use owner::{ImportTasks, ProjectEditorPage};
pub use project::ProjectPage;
pub use task::TaskPage;
