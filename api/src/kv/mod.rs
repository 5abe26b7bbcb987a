//! Key-value services that may be lost without losing data: request stamps, task reservations
//! (locks) and idempotency keys. Redis through fred when `REDIS_URL` is set, an in-process store
//! otherwise; both behave the same and run the same tests.
//!
//! When Redis fails mid-run every operation degrades to "allow" (logged and counted): volunteers
//! keep getting tasks, and the database still enforces one answer per volunteer and exactly
//! `n_answers` answers per task.
//!
//! fred's command futures are kilobytes each, so each is awaited boxed where it is made (the
//! workspace denies `clippy::large_futures`).

mod memory;

use std::{
    sync::{
        Arc, LazyLock,
        atomic::{AtomicI64, Ordering},
    },
    time::Duration,
};

use fred::{prelude::*, types::scripts::Script};

use crate::ids::TaskId;

pub use memory::MemoryKv;

/// A volunteer's (by its key) request stamp on a task: when `newtask` handed it out. The scripts
/// below build the same key.
pub fn stamp_key(task_id: TaskId, volunteer_key: &str) -> String {
    format!("stamp:{task_id}:{volunteer_key}")
}

/// Why the store could not be asked. Callers degrade either way (compute the value, allow
/// the request, date an answer now): the store only holds what may be lost.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum KvError {
    /// It failed moments ago and is not asked again yet (see `Kv::tripped`).
    #[error("the key-value store failed moments ago")]
    Tripped,
    #[error("the key-value store failed: {0}")]
    Failed(String),
}

/// Written by [`Kv::reserve_first`] with the hold it grants, saving the hand-out's own round
/// trip: the task's request stamp and, optionally, the volunteer's cursor (set to the task).
pub struct OnGrant<'a> {
    pub stamp: &'a str,
    pub stamp_ttl: Duration,
    pub cursor: Option<(&'a str, Duration)>,
}

/// A hold just taken by [`Kv::reserve_first`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Held {
    /// Position among the candidates.
    pub index: usize,
    /// Expiry, epoch ms.
    pub until: i64,
    /// Live holders when it was granted, the caller included.
    pub holders: i64,
}

/// Outcome of asking to hold a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reservation {
    /// Held until this epoch time (ms).
    Granted(i64),
    /// As many volunteers as the task still needs hold it already.
    Full,
}

#[derive(Clone)]
pub struct Kv {
    inner: Inner,
    prefix: String,
    /// Redis calls that failed and were degraded.
    pub errors: prometheus_client::metrics::counter::Counter,
    /// Until when (epoch ms) Redis is skipped after a failure.
    down_until: Arc<AtomicI64>,
    /// Redis' clock less ours (ms), as last seen: a lower bound (it was read before we got
    /// the reply). `i64::MIN` until first seen.
    clock_offset: Arc<AtomicI64>,
}

/// How long Redis is skipped after a failure.
const BREAK_MS: i64 = 1000;
/// Taken off [`Kv::clock`]'s estimate, for the clocks drifting between two readings.
const CLOCK_MARGIN_MS: i64 = 5;

#[derive(Clone)]
enum Inner {
    Memory(Arc<MemoryKv>),
    Redis(Client),
}

/// The first of several tasks the caller may hold, held atomically. ARGV = uid, now ms, expiry
/// ms, candidate count n, stamp value ('' for none), stamp ttl ms, cursor ttl ms, `since` (see
/// [`Kv::reserve_first`]; -1 for none), the key prefix, then n capacities and n task ids;
/// KEYS = the cursor's key, when it is to be set. Returns the 1-based index of the task now
/// held, its live holders (the caller included) and Redis' clock (ms), or {0, 0, clock}. When
/// stamping, the held task's stamp is written and the cursor set to it, in the same round trip.
/// A negative field is an answer's mark (see [`ANSWERED_LUA`]); the caller's own mark means
/// they answered the task lately, which is then never held for them again.
///
/// The scripts build the hold and stamp keys from the prefix rather than take them as KEYS:
/// Redis parsing two keys per candidate cost more than the candidates' own work (the scripts
/// run on standalone Redis and Sentinel, not on Cluster).
const RESERVE_FIRST_LUA: &str = r#"
local t = redis.call('TIME')
local clock = t[1] * 1000 + math.floor(t[2] / 1000)
local now = tonumber(ARGV[2])
local n = tonumber(ARGV[4])
local since = tonumber(ARGV[8])
local prefix = ARGV[9]
for k = 1, n do
  local id = ARGV[9 + n + k]
  local key = prefix .. 'hold:' .. id
  local holders = redis.call('HGETALL', key)
  local live = 0
  local mine = false
  local answered = false
  for i = 1, #holders, 2 do
    local v = tonumber(holders[i + 1])
    if v < 0 then
      if holders[i] == ARGV[1] then answered = true
      elseif since >= 0 and -v >= since then live = live + 1 end
    elseif v <= now then
      redis.call('HDEL', key, holders[i])
    elseif holders[i] == ARGV[1] then
      mine = true
    else
      live = live + 1
    end
  end
  if not answered and (mine or live < tonumber(ARGV[9 + k])) then
    redis.call('HSET', key, ARGV[1], ARGV[3])
    local ttl = tonumber(ARGV[3]) - now
    if redis.call('PTTL', key) < ttl then redis.call('PEXPIRE', key, ttl) end
    if ARGV[5] ~= '' then
      redis.call('SET', prefix .. 'stamp:' .. id .. ':' .. ARGV[1], ARGV[5], 'PX', ARGV[6])
      if #KEYS > 0 then redis.call('SET', KEYS[1], id, 'PX', ARGV[7]) end
    end
    return {k, live + 1, clock}
  end
end
return {0, 0, clock}
"#;

/// After answers committed: each one's hold becomes a mark, `-(Redis time in ms)`, kept a
/// minute, so a scan whose counts were read before the answer still counts it (see `since`);
/// then the stamps and the stale cache keys go. ARGV = n, the key prefix, then n task ids and
/// n volunteers; KEYS = the cache keys to delete.
const ANSWERED_LUA: &str = r#"
local t = redis.call('TIME')
local mark = -(t[1] * 1000 + math.floor(t[2] / 1000))
local n = tonumber(ARGV[1])
local prefix = ARGV[2]
for k = 1, n do
  local id, uid = ARGV[2 + k], ARGV[2 + n + k]
  local hold = prefix .. 'hold:' .. id
  redis.call('HSET', hold, uid, mark)
  if redis.call('PTTL', hold) < 60000 then redis.call('PEXPIRE', hold, 60000) end
  redis.call('DEL', prefix .. 'stamp:' .. id .. ':' .. uid)
end
if #KEYS > 0 then redis.call('DEL', unpack(KEYS)) end
return 1
"#;

/// A value and Redis' clock (ms), in one round trip. KEYS[1] = the value's key.
const GET_WITH_CLOCK_LUA: &str = r#"
local t = redis.call('TIME')
return {redis.call('GET', KEYS[1]) or '', t[1] * 1000 + math.floor(t[2] / 1000)}
"#;

/// One request in a fixed rate-limit window: KEYS[1] = window counter, ARGV[1] = window end
/// (epoch s). Returns the count so far.
const HIT_LUA: &str = r#"
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIREAT', KEYS[1], tonumber(ARGV[1]) + 10) end
return n
"#;

/// Live holders of a task. KEYS[1] = hash, ARGV[1] = now ms.
const HOLDERS_LUA: &str = r#"
local holders = redis.call('HGETALL', KEYS[1])
local live = 0
for i = 1, #holders, 2 do
  if tonumber(holders[i + 1]) > tonumber(ARGV[1]) then live = live + 1 end
end
return live
"#;

/// Scripts are hashed once, not on every call.
static RESERVE_FIRST: LazyLock<Script> = LazyLock::new(|| Script::from_lua(RESERVE_FIRST_LUA));
static ANSWERED: LazyLock<Script> = LazyLock::new(|| Script::from_lua(ANSWERED_LUA));
static GET_WITH_CLOCK: LazyLock<Script> = LazyLock::new(|| Script::from_lua(GET_WITH_CLOCK_LUA));
static HIT: LazyLock<Script> = LazyLock::new(|| Script::from_lua(HIT_LUA));
static HOLDERS: LazyLock<Script> = LazyLock::new(|| Script::from_lua(HOLDERS_LUA));

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Kv {
    pub fn memory() -> Self {
        Self {
            inner: Inner::Memory(Arc::new(MemoryKv::default())),
            prefix: String::new(),
            errors: Default::default(),
            down_until: Default::default(),
            clock_offset: Arc::new(AtomicI64::new(i64::MIN)),
        }
    }

    /// Connects to Redis when `url` is set (standalone URL, or Sentinel when `sentinels` lists
    /// `host:port` pairs and `service` names the master).
    pub async fn connect(
        url: Option<&str>,
        sentinels: Option<&str>,
        service: Option<&str>,
        prefix: &str,
    ) -> Result<Self, Error> {
        let config = match (
            sentinels.filter(|s| !s.is_empty()),
            url.filter(|u| !u.is_empty()),
        ) {
            (Some(list), _) => {
                let hosts = list
                    .split(',')
                    .filter_map(|h| {
                        let (host, port) = h.trim().rsplit_once(':')?;
                        Some(Server::new(host, port.parse().ok()?))
                    })
                    .collect();
                Config {
                    server: ServerConfig::Sentinel {
                        hosts,
                        service_name: service.unwrap_or("mymaster").to_string(),
                    },
                    ..Config::default()
                }
            }
            (None, Some(url)) => Config::from_url(url)?,
            (None, None) => return Ok(Self::memory()),
        };
        let client = Builder::from_config(config)
            .with_connection_config(|c| {
                c.connection_timeout = Duration::from_secs(2);
                c.internal_command_timeout = Duration::from_secs(2);
            })
            .with_performance_config(|p| {
                p.default_command_timeout = Duration::from_secs(2);
            })
            .set_policy(ReconnectPolicy::new_exponential(0, 100, 5_000, 2))
            .build()?;
        // Connect in the background: an unreachable Redis must not stop the API from starting
        // (readiness reports it, and the client keeps reconnecting).
        let _task = client.connect();
        match tokio::time::timeout(Duration::from_secs(3), client.wait_for_connect()).await {
            Ok(Ok(())) => tracing::info!("connected to Redis"),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "Redis unreachable; retrying in the background");
            }
            Err(_) => tracing::warn!("Redis did not answer in 3 s; retrying in the background"),
        }
        Ok(Self {
            inner: Inner::Redis(client),
            prefix: prefix.to_string(),
            errors: Default::default(),
            down_until: Default::default(),
            clock_offset: Arc::new(AtomicI64::new(i64::MIN)),
        })
    }

    /// Redis' clock (ms) read in a reply that arrived just now.
    fn saw_clock(&self, clock: i64) {
        self.clock_offset.store(clock - now_ms(), Ordering::Relaxed);
    }

    /// The store's clock (epoch ms), without asking it: at most what it reads now. From the
    /// offset seen in Redis' last reply that carried its clock; `None` before any did, or while
    /// Redis is failing.
    pub fn clock(&self) -> Option<i64> {
        match &self.inner {
            Inner::Memory(_) => Some(now_ms()),
            Inner::Redis(_) if now_ms() < self.down_until.load(Ordering::Relaxed) => None,
            Inner::Redis(_) => match self.clock_offset.load(Ordering::Relaxed) {
                i64::MIN => None,
                offset => Some(now_ms() + offset - CLOCK_MARGIN_MS),
            },
        }
    }

    fn key(&self, k: &str) -> String {
        format!("{}{k}", self.prefix)
    }

    fn degraded(&self, op: &str, err: &Error) -> KvError {
        self.errors.inc();
        self.down_until
            .store(now_ms() + BREAK_MS, Ordering::Relaxed);
        tracing::warn!(op, error = %err, "Redis failed; degrading");
        KvError::Failed(err.to_string())
    }

    /// Whether Redis failed moments ago: then calls degrade at once (counted) instead of each
    /// waiting for a timeout, so a dead Redis costs one timeout per `BREAK_MS`, not per call.
    fn tripped(&self) -> bool {
        let tripped = now_ms() < self.down_until.load(Ordering::Relaxed);
        if tripped {
            self.errors.inc();
        }
        tripped
    }

    /// Readiness: `Ok` when the store answers (always, for the in-process one).
    pub async fn ping(&self) -> Result<(), Error> {
        match &self.inner {
            Inner::Memory(_) => Ok(()),
            Inner::Redis(client) => {
                let ping = client.ping::<String>(None);
                match Box::pin(tokio::time::timeout(Duration::from_secs(2), ping)).await {
                    Ok(result) => result.map(|_| ()),
                    Err(_) => Err(Error::new(
                        ErrorKind::Timeout,
                        "Redis did not answer in 2 s",
                    )),
                }
            }
        }
    }

    pub fn describe(&self) -> &'static str {
        match &self.inner {
            Inner::Memory(_) => "memory",
            Inner::Redis(_) => "redis",
        }
    }

    /// Stores a value with a time to live.
    pub async fn set(&self, key: &str, value: &str, ttl: Duration) {
        match &self.inner {
            Inner::Memory(m) => m.set(key, value, ttl),
            Inner::Redis(_) if self.tripped() => (),
            Inner::Redis(c) => {
                let ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX).max(1);
                let res: Result<(), Error> =
                    Box::pin(c.set(self.key(key), value, Some(Expiration::PX(ms)), None, false))
                        .await;
                if let Err(e) = res {
                    self.degraded("set", &e);
                }
            }
        }
    }

    /// The value, if present.
    pub async fn get(&self, key: &str) -> Result<Option<String>, KvError> {
        match &self.inner {
            Inner::Memory(m) => Ok(m.get(key)),
            Inner::Redis(_) if self.tripped() => Err(KvError::Tripped),
            Inner::Redis(c) => Box::pin(c.get::<Option<String>, _>(self.key(key)))
                .await
                .map_err(|e| self.degraded("get", &e)),
        }
    }

    pub async fn delete(&self, key: &str) {
        match &self.inner {
            Inner::Memory(m) => m.delete(key),
            Inner::Redis(_) if self.tripped() => (),
            Inner::Redis(c) => {
                if let Err(e) = Box::pin(c.del::<i64, _>(self.key(key))).await {
                    self.degraded("del", &e);
                }
            }
        }
    }

    /// Deletes several keys in one round trip.
    pub async fn delete_many(&self, keys: &[String]) {
        match &self.inner {
            Inner::Memory(m) => keys.iter().for_each(|k| m.delete(k)),
            Inner::Redis(_) if self.tripped() => (),
            Inner::Redis(c) => {
                if keys.is_empty() {
                    return;
                }
                let keys: Vec<String> = keys.iter().map(|k| self.key(k)).collect();
                if let Err(e) = Box::pin(c.del::<i64, _>(keys)).await {
                    self.degraded("del", &e);
                }
            }
        }
    }

    /// Asks to hold `task` for `uid` while at most `capacity` volunteers hold it. Degrades to
    /// granted when Redis fails.
    pub async fn reserve(
        &self,
        task: TaskId,
        uid: &str,
        capacity: i64,
        ttl: Duration,
    ) -> Reservation {
        if capacity <= 0 {
            return Reservation::Full;
        }
        match self
            .reserve_first(&[(task, capacity)], uid, ttl, None, None)
            .await
        {
            Some(held) => Reservation::Granted(held.until),
            None => Reservation::Full,
        }
    }

    /// Holds the first task of `candidates` (id, capacity) that has room, in one round trip,
    /// writing `on_grant` with it. Returns its position in `candidates`, the hold's expiry, and
    /// how many hold it now (the caller included; 0 when degraded to the first candidate).
    ///
    /// With `since` (the store's clock, from [`Kv::get_with_clock`] or [`Kv::clock`], taken before the
    /// capacities were read from the database), answers marked at or after it take a place too:
    /// their count may be missing from the capacities. Without it, marks are ignored and the
    /// caller must re-check the count after the hold.
    pub async fn reserve_first(
        &self,
        candidates: &[(TaskId, i64)],
        uid: &str,
        ttl: Duration,
        on_grant: Option<&OnGrant<'_>>,
        since: Option<i64>,
    ) -> Option<Held> {
        if candidates.is_empty() {
            return None;
        }
        let now = now_ms();
        let until = now + i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX / 2);
        let ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX).max(1);
        match &self.inner {
            Inner::Memory(m) => {
                let held =
                    candidates
                        .iter()
                        .enumerate()
                        .find_map(|(index, (task, capacity))| {
                            let granted = *capacity > 0
                                && m.reserve(*task, uid, *capacity, now, until, since)
                                    != Reservation::Full;
                            granted.then(|| Held {
                                index,
                                until,
                                holders: m.holders(*task, now),
                            })
                        })?;
                if let Some(g) = on_grant {
                    let task = candidates[held.index].0;
                    m.set(&stamp_key(task, uid), g.stamp, g.stamp_ttl);
                    if let Some((cursor, ttl)) = g.cursor {
                        m.set(cursor, &candidates[held.index].0.to_string(), ttl);
                    }
                }
                Some(held)
            }
            Inner::Redis(_) if self.tripped() => Some(Held {
                index: 0,
                until,
                holders: 0,
            }),
            Inner::Redis(c) => {
                let mut keys: Vec<String> = vec![];
                let mut args: Vec<Value> = vec![
                    uid.into(),
                    now.into(),
                    until.into(),
                    Value::from(candidates.len() as i64),
                ];
                match on_grant {
                    Some(g) => {
                        if let Some((cursor, _)) = g.cursor {
                            keys.push(self.key(cursor));
                        }
                        args.push(g.stamp.into());
                        args.push(ms(g.stamp_ttl).into());
                        args.push(g.cursor.map_or(1, |(_, t)| ms(t)).into());
                    }
                    None => args.extend([Value::from(""), 1.into(), 1.into()]),
                }
                args.push(since.unwrap_or(-1).into());
                args.push(self.prefix.as_str().into());
                args.extend(candidates.iter().map(|(_, cap)| Value::from(*cap)));
                args.extend(candidates.iter().map(|(t, _)| Value::from(i64::from(t.0))));
                match Box::pin(
                    RESERVE_FIRST.evalsha_with_reload::<(i64, i64, i64), _, _>(c, keys, args),
                )
                .await
                {
                    Ok((0, _, clock)) => {
                        self.saw_clock(clock);
                        None
                    }
                    Ok((k, holders, clock)) => {
                        self.saw_clock(clock);
                        usize::try_from(k - 1).ok().map(|index| Held {
                            index,
                            until,
                            holders,
                        })
                    }
                    Err(e) => {
                        self.degraded("reserve_first", &e);
                        Some(Held {
                            index: 0,
                            until,
                            holders: 0,
                        })
                    }
                }
            }
        }
    }

    /// Stores several values with their lifetimes in one round trip.
    pub async fn set_many(&self, entries: &[(String, String, Duration)]) {
        match &self.inner {
            Inner::Memory(m) => {
                for (k, v, ttl) in entries {
                    m.set(k, v, *ttl);
                }
            }
            Inner::Redis(_) if self.tripped() => (),
            Inner::Redis(c) => {
                let pipeline = c.pipeline();
                for (k, v, ttl) in entries {
                    let ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX).max(1);
                    let _: Result<(), Error> = Box::pin(pipeline.set(
                        self.key(k),
                        v.as_str(),
                        Some(Expiration::PX(ms)),
                        None,
                        false,
                    ))
                    .await;
                }
                if let Err(e) = Box::pin(pipeline.all::<Vec<Value>>()).await {
                    self.degraded("set_many", &e);
                }
            }
        }
    }

    /// After answers committed (`(task, volunteer)` each): their holds become marks (see
    /// [`ANSWERED_LUA`]), and their stamps and the cache entries they made stale go, in one
    /// round trip however many answers (a batch's).
    pub async fn answered(&self, answers: &[(TaskId, &str)], stale: &[String]) {
        if answers.is_empty() {
            return;
        }
        match &self.inner {
            Inner::Memory(m) => {
                let now = now_ms();
                for (task, uid) in answers {
                    m.delete(&stamp_key(*task, uid));
                    m.mark_answered(*task, uid, now);
                }
                stale.iter().for_each(|k| m.delete(k));
            }
            Inner::Redis(_) if self.tripped() => (),
            Inner::Redis(c) => {
                let keys: Vec<String> = stale.iter().map(|k| self.key(k)).collect();
                let mut args: Vec<Value> = vec![
                    Value::from(answers.len() as i64),
                    self.prefix.as_str().into(),
                ];
                args.extend(
                    answers
                        .iter()
                        .map(|(task, _)| Value::from(i64::from(task.0))),
                );
                args.extend(answers.iter().map(|(_, uid)| Value::from(*uid)));
                if let Err(e) =
                    Box::pin(ANSWERED.evalsha_with_reload::<i64, _, _>(c, keys, args)).await
                {
                    self.degraded("answered", &e);
                }
            }
        }
    }

    /// The value of `key` and the store's clock (epoch ms), in one round trip.
    pub async fn get_with_clock(&self, key: &str) -> Result<(Option<String>, i64), KvError> {
        match &self.inner {
            Inner::Memory(m) => Ok((m.get(key), now_ms())),
            Inner::Redis(_) if self.tripped() => Err(KvError::Tripped),
            Inner::Redis(c) => {
                match Box::pin(GET_WITH_CLOCK.evalsha_with_reload::<(String, i64), _, _>(
                    c,
                    self.key(key),
                    Vec::<Value>::new(),
                ))
                .await
                {
                    Ok((value, clock)) => {
                        self.saw_clock(clock);
                        Ok(((!value.is_empty()).then_some(value), clock))
                    }
                    Err(e) => Err(self.degraded("get_with_clock", &e)),
                }
            }
        }
    }

    /// Forgets the count of `bucket` in the window ending at `window_end`.
    pub async fn reset_hits(&self, bucket: &str, window_end: i64) {
        self.delete(&format!("rl:{bucket}:{window_end}")).await;
    }

    /// Counts a request against `bucket` in the window ending at `window_end` (epoch s) and
    /// returns the count. Degrades to 1 (allowed) when Redis fails.
    pub async fn hit(&self, bucket: &str, window_end: i64) -> u64 {
        let key = format!("rl:{bucket}:{window_end}");
        match &self.inner {
            Inner::Memory(m) => {
                let ttl = Duration::from_secs(
                    u64::try_from(window_end - chrono::Utc::now().timestamp()).unwrap_or(0) + 10,
                );
                m.incr(&key, ttl)
            }
            Inner::Redis(_) if self.tripped() => 1,
            Inner::Redis(c) => {
                match Box::pin(HIT.evalsha_with_reload::<i64, _, _>(
                    c,
                    self.key(&key),
                    vec![Value::from(window_end)],
                ))
                .await
                {
                    Ok(n) => u64::try_from(n).unwrap_or(0),
                    Err(e) => {
                        self.degraded("rate_limit", &e);
                        1
                    }
                }
            }
        }
    }

    /// Whether `uid` holds `task` now. Degrades to `true`.
    pub async fn holds(&self, task: TaskId, uid: &str) -> bool {
        let now = now_ms();
        match &self.inner {
            Inner::Memory(m) => m.holds(task, uid, now),
            Inner::Redis(_) if self.tripped() => true,
            Inner::Redis(c) => {
                let key = self.key(&format!("hold:{task}"));
                match Box::pin(c.hget::<Option<i64>, _, _>(key, uid)).await {
                    Ok(expiry) => expiry.is_some_and(|t| t > now),
                    Err(e) => {
                        self.degraded("hget", &e);
                        true
                    }
                }
            }
        }
    }

    /// Live holders of `task`. Degrades to 0.
    pub async fn holders(&self, task: TaskId) -> i64 {
        let now = now_ms();
        match &self.inner {
            Inner::Memory(m) => m.holders(task, now),
            Inner::Redis(_) if self.tripped() => 0,
            Inner::Redis(c) => {
                let key = self.key(&format!("hold:{task}"));
                match Box::pin(HOLDERS.evalsha_with_reload::<i64, _, _>(
                    c,
                    key,
                    vec![Value::from(now)],
                ))
                .await
                {
                    Ok(n) => n,
                    Err(e) => {
                        self.degraded("holders", &e);
                        0
                    }
                }
            }
        }
    }

    pub async fn release(&self, task: TaskId, uid: &str) {
        match &self.inner {
            Inner::Memory(m) => m.release(task, uid),
            Inner::Redis(_) if self.tripped() => (),
            Inner::Redis(c) => {
                let key = self.key(&format!("hold:{task}"));
                if let Err(e) = Box::pin(c.hdel::<i64, _, _>(key, uid)).await {
                    self.degraded("hdel", &e);
                }
            }
        }
    }
}
