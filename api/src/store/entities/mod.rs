//! SeaORM entities, one per table.

pub mod announcement;
pub mod blogpost;
pub mod category;
pub mod helpingmaterial;
pub mod job;
pub mod mail;
pub mod page;
pub mod project;
pub mod project_activity;
pub mod project_counter;
pub mod project_owner;
pub mod project_volunteer;
pub mod quality_model;
pub mod result;
pub mod site_setting;
pub mod task;
pub mod task_import;
pub mod task_import_rejected;
pub mod task_run;
pub mod upload;
pub mod user;
pub mod webhook_delivery;
pub mod webhook_endpoint;
