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

    pub fn reserve(
        &self,
        task: i32,
        uid: &str,
        capacity: i64,
        now: i64,
        until: i64,
    ) -> Reservation {
        let mut holds = self.holds.lock().unwrap_or_else(|p| p.into_inner());
        if holds.len() % SWEEP_EVERY == SWEEP_EVERY - 1 {
            holds.retain(|_, h| {
                h.retain(|_, t| *t > now);
                !h.is_empty()
            });
        }
        let holders = holds.entry(task).or_default();
        holders.retain(|_, t| *t > now);
        let others = holders.keys().filter(|k| k.as_str() != uid).count() as i64;
        if holders.contains_key(uid) || others < capacity {
            holders.insert(uid.to_string(), until);
            Reservation::Granted(until)
        } else {
            Reservation::Full
        }
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

    #[test]
    fn never_more_holders_than_capacity() {
        let kv = MemoryKv::default();
        assert_eq!(kv.reserve(1, "a", 2, 0, 100), Reservation::Granted(100));
        assert_eq!(kv.reserve(1, "b", 2, 0, 100), Reservation::Granted(100));
        assert_eq!(kv.reserve(1, "c", 2, 0, 100), Reservation::Full);
        // A holder may renew; an expired hold frees its place.
        assert_eq!(kv.reserve(1, "a", 2, 50, 150), Reservation::Granted(150));
        assert_eq!(kv.reserve(1, "c", 2, 120, 220), Reservation::Granted(220));
        assert_eq!(kv.holders(1, 120), 2);
        kv.release(1, "a");
        assert!(!kv.holds(1, "a", 120));
        assert!(kv.holds(1, "c", 120));
    }
}
