//! The in-process store used when no Redis is configured (one API instance).

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use super::Reservation;

#[derive(Default)]
pub struct MemoryKv {
    values: Mutex<HashMap<String, (String, Instant)>>,
    holds: Mutex<HashMap<i32, HashMap<String, i64>>>,
}

/// Expired entries are swept when a map grows past this many since the last sweep.
const SWEEP_EVERY: usize = 4096;
/// How long an answer's mark is kept (as in Redis).
const MARK_MS: i64 = 60_000;

impl MemoryKv {
    pub fn set(&self, key: &str, value: &str, ttl: Duration) {
        let mut values = self.values.lock().unwrap_or_else(|p| p.into_inner());
        if values.len() % SWEEP_EVERY == SWEEP_EVERY - 1 {
            let now = Instant::now();
            values.retain(|_, (_, until)| *until > now);
        }
        values.insert(key.to_string(), (value.to_string(), Instant::now() + ttl));
    }

    pub fn get(&self, key: &str) -> Option<String> {
        let values = self.values.lock().unwrap_or_else(|p| p.into_inner());
        values
            .get(key)
            .filter(|(_, until)| *until > Instant::now())
            .map(|(v, _)| v.clone())
    }

    /// Adds one to a counter (created with `ttl` when new) and returns the new value.
    pub fn incr(&self, key: &str, ttl: Duration) -> u64 {
        let mut values = self.values.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let entry = values
            .entry(key.to_string())
            .or_insert_with(|| ("0".into(), now + ttl));
        if entry.1 <= now {
            *entry = ("0".into(), now + ttl);
        }
        let n = entry.0.parse::<u64>().unwrap_or(0) + 1;
        entry.0 = n.to_string();
        n
    }

    pub fn delete(&self, key: &str) {
        self.values
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }

    /// Holds `task` for `uid` while fewer than `capacity` others do. Marks of answers (negative,
    /// see [`MemoryKv::mark_answered`]) made at or after `since` take a place too; the
    /// volunteer's own mark means they answered it, and it is never held for them again.
    pub fn reserve(
        &self,
        task: i32,
        uid: &str,
        capacity: i64,
        now: i64,
        until: i64,
        since: Option<i64>,
    ) -> Reservation {
        let live = |t: i64| t > now || (t < 0 && -t > now - MARK_MS);
        let mut holds = self.holds.lock().unwrap_or_else(|p| p.into_inner());
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
    pub fn mark_answered(&self, task: i32, uid: &str, now: i64) {
        let mut holds = self.holds.lock().unwrap_or_else(|p| p.into_inner());
        holds.entry(task).or_default().insert(uid.to_string(), -now);
    }

    pub fn holds(&self, task: i32, uid: &str, now: i64) -> bool {
        let holds = self.holds.lock().unwrap_or_else(|p| p.into_inner());
        holds
            .get(&task)
            .and_then(|h| h.get(uid))
            .is_some_and(|t| *t > now)
    }

    pub fn holders(&self, task: i32, now: i64) -> i64 {
        let holds = self.holds.lock().unwrap_or_else(|p| p.into_inner());
        holds
            .get(&task)
            .map_or(0, |h| h.values().filter(|t| **t > now).count() as i64)
    }

    pub fn release(&self, task: i32, uid: &str) {
        let mut holds = self.holds.lock().unwrap_or_else(|p| p.into_inner());
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
        match kv.reserve(1, uid, cap, now, now + 100, since) {
            Reservation::Granted(until) => Some(until),
            Reservation::Full => None,
        }
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
        assert_eq!(kv.holders(1, 120), 2);
        kv.release(1, "a");
        assert!(!kv.holds(1, "a", 120));
        assert!(kv.holds(1, "c", 120));
    }

    #[test]
    fn answered_marks_count_for_scans_read_before_them() {
        let kv = MemoryKv::default();
        assert_eq!(hold(&kv, "a", 1, 0, None), Some(100));
        kv.mark_answered(1, "a", 50);
        assert!(!kv.holds(1, "a", 60));
        // Counts read at 40 miss that answer: its mark keeps the place taken.
        assert_eq!(hold(&kv, "b", 1, 60, Some(40)), None);
        // Counts read at 55 include it (the caller's capacity already says so).
        assert_eq!(hold(&kv, "b", 1, 60, Some(55)), Some(160));
        // Never again for the volunteer who answered it, however much room it has.
        assert_eq!(hold(&kv, "a", 5, 60, None), None);
    }
}
