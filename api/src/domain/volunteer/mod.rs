//! The volunteer loop: who is answering (`identity`), which task they get next (`scheduler`,
//! `candidates`), and recording their answer (`answers`, `batch`) up to the task's result
//! (`completion`, `consensus`), and keeping results right (`refit`, `review`).

pub mod answers;
pub mod batch;
pub mod candidates;
pub mod completion;
pub mod consensus;
pub mod gold;
pub mod identity;
pub mod quality;
pub mod refit;
pub mod review;
pub mod scheduler;
pub mod skills;

use crate::store::hot::HotReads;

/// The loop's own state in this process: caches and tunings no other part of the platform
/// reads. Losing it loses nothing (each piece is rebuilt from the database or the store).
pub struct LoopState {
    /// Project rows the loop reads, kept for a second.
    pub projects: crate::domain::platform::cache::ProjectRows,
    /// How deep newtask scans find a task, per project.
    pub scan_depth: scheduler::ScanDepth,
    /// Volunteers' places in oldest-first scans and their holds, as this instance set them.
    pub volunteers: scheduler::Volunteers,
    /// Tasks found full lately, left out of scans.
    pub full_tasks: scheduler::FullTasks,
    /// The SQL of newtask's candidate reads, per shape.
    pub candidate_sql: candidates::CandidateSql,
    /// Connections for the candidate reads, on the read database.
    pub hot_reads: HotReads,
    /// Project tokens found valid lately.
    pub checked_tokens: identity::CheckedTokens,
    /// Group commit of answers, on PostgreSQL unless turned off.
    pub batcher: Option<batch::Batcher>,
    /// Which projects have gold tasks, found lately.
    pub gold_projects: gold::ProjectFlags,
    /// Gold tasks handed out lately.
    pub gold_tasks: gold::GoldTasks,
    /// Projects' gold id ranges, found lately.
    pub gold_ranges: gold::GoldRanges,
    /// Which projects have excluded volunteers, found lately.
    pub excluding: gold::ProjectFlags,
    /// Projects whose refit this instance queued lately.
    pub refits: gold::ProjectFlags,
}

impl LoopState {
    pub fn new(hot_reads: HotReads, batcher: Option<batch::Batcher>) -> Self {
        Self {
            projects: Default::default(),
            scan_depth: Default::default(),
            volunteers: Default::default(),
            full_tasks: Default::default(),
            candidate_sql: Default::default(),
            hot_reads,
            checked_tokens: Default::default(),
            batcher,
            gold_projects: Default::default(),
            gold_tasks: Default::default(),
            gold_ranges: gold::gold_ranges(),
            excluding: Default::default(),
            refits: Default::default(),
        }
    }
}
