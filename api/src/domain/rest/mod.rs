//! The REST engine: one flow (`crud`) for every PYBOSSA resource, the per-resource rules
//! (`resources`), which fields a caller may read and write (`fields`), and the filters and
//! related rows a listing takes.

pub mod crud;
pub mod fields;
pub mod json_filter;
pub mod related;
pub mod resources;
