//! The in-process store used when no Redis is configured (one API instance).
//!
//! Values (stamps, idempotency records, rate-limit counters) live in a bounded cache: at most
//! [`VALUES_WEIGHT`] bytes of keys and values, each entry dropped when its time is up. Holds
//! are the loop's state rather than a cache, and are bounded by the tasks and their capacity.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use moka::sync::Cache;

use super::Reservation;
use crate::ids::TaskId;

/// The most the values may weigh, in bytes of keys and values; past it the least used go.
pub const VALUES_WEIGHT: u64 = 64 * 1024 * 1024;

/// A value and when it expires.
type Timed = (String, Instant);

/// Each value expires at its own time.
struct Until;

impl moka::Expiry<String, Timed> for Until {
    fn expire_after_create(&self, _key: &String, value: &Timed, now: Instant) -> Option<Duration> {
        Some(value.1.saturating_duration_since(now))
    }

    fn expire_after_update(
        &self,
        _key: &String,
        value: &Timed,
        now: Instant,
        _left: Option<Duration>,
    ) -> Option<Duration> {
        Some(value.1.saturating_duration_since(now))
    }
}

pub struct MemoryKv {
    values: Cache<String, Timed>,
    /// Per task, its holders and answer marks with their expiry: the twin of the Redis hash per
    /// task. A map under a lock rather than a cache crate, because a live hold must never be
    /// evicted (a task would be handed to more volunteers than it needs) and granting one is a
    /// check of the whole set and an insert in one step; expired entries are swept by hand.
    holds: Mutex<HashMap<TaskId, HashMap<String, i64>>>,
}

impl Default for MemoryKv {
    fn default() -> Self {
        Self {
            values: Cache::builder()
                .max_capacity(VALUES_WEIGHT)
                .weigher(|k: &String, v: &Timed| {
                    u32::try_from(k.len() + v.0.len() + 32).unwrap_or(u32::MAX)
                })
                .expire_after(Until)
                .build(),
            holds: Mutex::default(),
        }
    }
}

/// Expired holds are swept when the map grows past this many since the last sweep.
const SWEEP_EVERY: usize = 4096;
/// How long an answer's mark is kept (as in Redis).
const MARK_MS: i64 = 60_000;

impl MemoryKv {
    pub fn set(&self, key: &str, value: &str, ttl: Duration) {
        self.values
            .insert(key.to_string(), (value.to_string(), Instant::now() + ttl));
    }

    pub fn get(&self, key: &str) -> Option<String> {
        self.values
            .get(key)
            .filter(|(_, until)| *until > Instant::now())
            .map(|(v, _)| v)
    }

    /// Adds one to a counter (created with `ttl` when new) and returns the new value.
    pub fn incr(&self, key: &str, ttl: Duration) -> u64 {
        let entry = self.values.entry(key.to_string()).and_upsert_with(|found| {
            let now = Instant::now();
            match found.map(moka::Entry::into_value) {
                Some((n, until)) if until > now => {
                    ((n.parse::<u64>().unwrap_or(0) + 1).to_string(), until)
                }
                _ => ("1".to_string(), now + ttl),
            }
        });
        entry.into_value().0.parse().unwrap_or(1)
    }

    pub fn delete(&self, key: &str) {
        self.values.invalidate(key);
    }

    /// Holds `task` for `uid` while fewer than `capacity` others do. Marks of answers (negative,
    /// see [`MemoryKv::mark_answered`]) made at or after `since` take a place too; the
    /// volunteer's own mark means they answered it, and it is never held for them again.
    pub fn reserve(
        &self,
        task: TaskId,
        uid: &str,
        capacity: i64,
        now: i64,
        until: i64,
        since: Option<i64>,
    ) -> Reservation {
        let live = |t: i64| t > now || (t < 0 && -t > now - MARK_MS);
        let mut holds = self
            .holds
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if holds.len() % SWEEP_EVERY == SWEEP_EVERY - 1 {
            holds.retain(|_, h| {
                h.retain(|_, t| live(*t));
                !h.is_empty()
            });
        }
        let holders = holds.entry(task).or_default();
        holders.retain(|_, t| live(*t));
        // Their own mark: they answered it lately.
        if holders.get(uid).is_some_and(|t| *t < 0) {
            return Reservation::Full;
        }
        let others = holders
            .iter()
            .filter(|(k, t)| k.as_str() != uid && (**t > 0 || since.is_some_and(|s| -**t >= s)))
            .count() as i64;
        let mine = holders.get(uid).is_some_and(|t| *t > 0);
        if mine || others < capacity {
            holders.insert(uid.to_string(), until);
            Reservation::Granted(until)
        } else {
            Reservation::Full
        }
    }

    /// After an answer: the hold becomes a mark of when it was answered (negative), kept
    /// `MARK_MS`.
    pub fn mark_answered(&self, task: TaskId, uid: &str, now: i64) {
        let mut holds = self
            .holds
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        holds.entry(task).or_default().insert(uid.to_string(), -now);
    }

    pub fn holds(&self, task: TaskId, uid: &str, now: i64) -> bool {
        let holds = self
            .holds
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        holds
            .get(&task)
            .and_then(|h| h.get(uid))
            .is_some_and(|t| *t > now)
    }

    pub fn holders(&self, task: TaskId, now: i64) -> i64 {
        let holds = self
            .holds
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        holds
            .get(&task)
            .map_or(0, |h| h.values().filter(|t| **t > now).count() as i64)
    }

    pub fn release(&self, task: TaskId, uid: &str) {
        let mut holds = self
            .holds
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(h) = holds.get_mut(&task) {
            h.remove(uid);
            if h.is_empty() {
                holds.remove(&task);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `Some(until)` when granted.
    fn hold(kv: &MemoryKv, uid: &str, cap: i64, now: i64, since: Option<i64>) -> Option<i64> {
        match kv.reserve(TaskId(1), uid, cap, now, now + 100, since) {
            Reservation::Granted(until) => Some(until),
            Reservation::Full => None,
        }
    }

    #[test]
    fn values_expire_and_count() {
        let kv = MemoryKv::default();
        kv.set("a", "1", Duration::from_secs(60));
        kv.set("gone", "1", Duration::ZERO);
        assert_eq!(kv.get("a").as_deref(), Some("1"));
        assert_eq!(kv.get("gone"), None);
        assert_eq!(kv.incr("n", Duration::from_secs(60)), 1);
        assert_eq!(kv.incr("n", Duration::from_secs(60)), 2);
        kv.delete("n");
        assert_eq!(kv.incr("n", Duration::from_secs(60)), 1);
    }

    #[test]
    fn values_are_bounded_by_weight() {
        let kv = MemoryKv::default();
        let big = "x".repeat(1024 * 1024);
        for i in 0..(VALUES_WEIGHT / (1024 * 1024)) * 2 {
            kv.set(&format!("k{i}"), &big, Duration::from_secs(600));
        }
        kv.values.run_pending_tasks();
        assert!(kv.values.weighted_size() <= VALUES_WEIGHT);
    }

    #[test]
    fn never_more_holders_than_capacity() {
        let kv = MemoryKv::default();
        assert_eq!(hold(&kv, "a", 2, 0, None), Some(100));
        assert_eq!(hold(&kv, "b", 2, 0, None), Some(100));
        assert_eq!(hold(&kv, "c", 2, 0, None), None);
        // A holder may renew; an expired hold frees its place.
        assert_eq!(hold(&kv, "a", 2, 50, None), Some(150));
        assert_eq!(hold(&kv, "c", 2, 120, None), Some(220));
        assert_eq!(kv.holders(TaskId(1), 120), 2);
        kv.release(TaskId(1), "a");
        assert!(!kv.holds(TaskId(1), "a", 120));
        assert!(kv.holds(TaskId(1), "c", 120));
    }

    #[test]
    fn answered_marks_count_for_scans_read_before_them() {
        let kv = MemoryKv::default();
        assert_eq!(hold(&kv, "a", 1, 0, None), Some(100));
        kv.mark_answered(TaskId(1), "a", 50);
        assert!(!kv.holds(TaskId(1), "a", 60));
        // Counts read at 40 miss that answer: its mark keeps the place taken.
        assert_eq!(hold(&kv, "b", 1, 60, Some(40)), None);
        // Counts read at 55 include it (the caller's capacity already says so).
        assert_eq!(hold(&kv, "b", 1, 60, Some(55)), Some(160));
        // Never again for the volunteer who answered it, however much room it has.
        assert_eq!(hold(&kv, "a", 5, 60, None), None);
    }
}
