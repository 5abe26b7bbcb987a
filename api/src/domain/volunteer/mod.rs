//! The volunteer loop: who is answering (`identity`), which task they get next (`scheduler`,
//! `candidates`), and recording their answer (`answers`, `batch`) up to the task's result
//! (`aggregate`).

pub mod aggregate;
pub mod answers;
pub mod batch;
pub mod candidates;
pub mod identity;
pub mod scheduler;
