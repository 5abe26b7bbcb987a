//! Services the rest of the platform shares: accounts, caches, statistics, exports, webhooks,
//! uploaded files and the guard every outbound request passes.

pub mod accounts;
pub mod bulk;
pub mod cache;
pub mod content;
pub mod export;
pub mod import;
pub mod jobs;
pub mod mail;
pub mod outbound;
pub mod presenter;
pub mod recovery;
pub mod stats;
pub mod uploads;
pub mod webhooks;
