//! SeaORM entities, one per table.

pub mod announcement;
pub mod blogpost;
pub mod category;
pub mod helpingmaterial;
pub mod page;
pub mod project;
pub mod project_counter;
pub mod project_owner;
pub mod result;
pub mod task;
pub mod task_run;
pub mod user;
