//! Spin's key-value store (`wasi:keyvalue` store + atomics, the store named "default") as the
//! shared tier of the introspection and verified-token caches and as the DPoP replay store. The
//! store has no expiry: names, expiry and sweeping follow `edgeward::kv`, and this module only
//! moves the bytes.
//!
//! **A store that is down.** A `wasi:keyvalue` call blocks the instance until the host answers,
//! and the component cannot cancel it: only the host bounds one call. Spin's Redis store has no
//! connection or response timeout (its runtime configuration takes only `url`), so with Redis
//! gone a call waits for the client's reconnection, minutes (docs/operations.md, "When the store
//! is down"). What this module bounds is how many such calls a request makes: **one**. A call
//! that fails, or that takes longer than [`SLOW_CALL_MS`], puts the store down for the rest of
//! the request: every later use is a cache miss, a skipped write, or (replay) a store error, which
//! `dpop.replay: "strict"` answers with 503. The first such call logs a warning. A sweep, which
//! is best effort, also stops after [`SWEEP_BUDGET_MS`].

use edgeward::kv;
use edgeward::platform::FetchError;
use spin_sdk::wit::wasi::keyvalue::atomics;
use spin_sdk::wit::wasi::keyvalue::store::{self, Bucket, Error};
use std::cell::{Cell, OnceCell};
use std::time::{Duration, Instant};

/// The store the component asks for: `key_value_stores = ["default"]` in spin.toml.
const STORE: &str = "default";

/// Pages of a key listing one sweep looks at (Spin answers a listing in one page).
const MAX_LISTING_PAGES: usize = 8;

/// A store call slower than this puts the store down for the rest of the request (its answer is
/// still used). A healthy store answers in about a millisecond (SQLite on local disk, Redis on the
/// local network); with Redis gone, Spin's Redis client waits 1–2 s before it tries to connect
/// again, so a call held by a reconnection is always over this.
pub const SLOW_CALL_MS: u64 = 500;

/// How long one sweep may run (listing, deletes, reads) before it stops where it is: a full sweep
/// (`kv::plan_sweep`: up to 256 deletes and 32 reads) fits at under a millisecond a call.
pub const SWEEP_BUDGET_MS: u64 = 250;

/// The store as one request sees it: opened on first use, down after a failing or slow call.
pub struct Store {
    opened: OnceCell<Opened>,
    down: Cell<bool>,
    told: Cell<bool>,
    warn: fn(&str),
}

enum Opened {
    Bucket(Bucket),
    /// Not granted (`key_value_stores`) or not defined: the store is absent, not down.
    Absent(String),
    /// The open call failed.
    Failed,
}

impl Store {
    /// A store that logs its warnings (absent when wanted, down) through `warn`.
    pub fn new(warn: fn(&str)) -> Store {
        Store {
            opened: OnceCell::new(),
            down: Cell::new(false),
            told: Cell::new(false),
            warn,
        }
    }

    /// Whether the store can be used; asks quietly when it is absent (an optional use, such as
    /// the verified-token tier in `auto` mode, is simply skipped without one). False once down.
    pub fn available(&self) -> bool {
        matches!(self.open(), Opened::Bucket(_)) && !self.down.get()
    }

    /// The store for a use that wants it: `None` when absent (logged once) or down.
    pub fn bucket(&self) -> Option<&Bucket> {
        match self.open() {
            _ if self.down.get() => None,
            Opened::Bucket(bucket) => Some(bucket),
            Opened::Absent(why) => {
                self.tell(&format!("key-value store unavailable: {why}"));
                None
            }
            Opened::Failed => None,
        }
    }

    fn open(&self) -> &Opened {
        self.opened.get_or_init(|| {
            let started = Instant::now();
            let opened = store::open(STORE);
            match opened {
                Err(error @ (Error::AccessDenied | Error::NoSuchStore)) => {
                    Opened::Absent(format!("{error:?}"))
                }
                other => match self.judge("open", started, other) {
                    Some(bucket) => Opened::Bucket(bucket),
                    None => Opened::Failed,
                },
            }
        })
    }

    /// Runs one call unless the store is down; `None` when skipped or failed.
    fn timed<T>(&self, what: &str, call: impl FnOnce() -> Result<T, Error>) -> Option<T> {
        if self.down.get() {
            return None;
        }
        let started = Instant::now();
        let result = call();
        self.judge(what, started, result)
    }

    /// A call's result as this request uses it: a failure, or an answer slower than
    /// [`SLOW_CALL_MS`], puts the store down for the rest of the request (a slow answer is still
    /// used); a failure is `None`.
    fn judge<T>(&self, what: &str, started: Instant, result: Result<T, Error>) -> Option<T> {
        let ms = started.elapsed().as_millis();
        match result {
            Err(error) => {
                self.put_down(&format!("{what} failed after {ms} ms: {error:?}"));
                None
            }
            Ok(value) => {
                if ms > u128::from(SLOW_CALL_MS) {
                    self.put_down(&format!("{what} took {ms} ms"));
                }
                Some(value)
            }
        }
    }

    fn put_down(&self, why: &str) {
        self.down.set(true);
        self.tell(&format!(
            "key-value store down: {why}; not used again in this request"
        ));
    }

    fn tell(&self, message: &str) {
        if !self.told.replace(true) {
            (self.warn)(message);
        }
    }

    /// A cache entry still valid at `now`; a missing, expired or broken one is a miss, and so is a
    /// store that is absent or down.
    pub fn get(&self, key: &str, now: u64) -> Option<Vec<u8>> {
        let bucket = self.bucket()?;
        let stored = self.timed("get", || bucket.get(key))??;
        kv::live_value(&stored, now).map(<[u8]>::to_vec)
    }

    /// Stores a cache entry until `expires` (Unix seconds); a failing store is ignored (the next
    /// reader asks the authorization server). `random` decides whether this write also sweeps.
    pub fn put(&self, key: &str, value: &[u8], expires: u64, now: u64, random: u32) {
        let Some(bucket) = self.bucket() else {
            return;
        };
        let entry = kv::encode_entry(value, expires);
        if self.timed("set", || bucket.set(key, &entry)).is_some() && kv::sweep_due(random) {
            self.sweep(bucket, now, random);
        }
    }

    /// Records a proof's replay key: `Ok(true)` for the first use anywhere, `Ok(false)` after
    /// that, an error when the store is absent, down or fails. One atomic increment on a name that
    /// carries the proof's expiry (`expires`, the same for every request with that proof), so
    /// two instances can never both see a first use.
    pub fn first_use(
        &self,
        key: &[u8; 32],
        expires: u64,
        now: u64,
        random: u32,
    ) -> Result<bool, FetchError> {
        let bucket = self.bucket().ok_or(FetchError::Unreachable)?;
        let name = kv::replay_name(key, expires);
        let uses = self
            .timed("increment", || atomics::increment(bucket, &name, 1))
            .ok_or(FetchError::Unreachable)?;
        if uses == 1 && kv::sweep_due(random) {
            self.sweep(bucket, now, random);
        }
        Ok(uses == 1)
    }

    /// Deletes expired (and surplus) entries found in one key listing; best effort, bounded in
    /// calls (`kv::plan_sweep`) and in time ([`SWEEP_BUDGET_MS`]).
    fn sweep(&self, bucket: &Bucket, now: u64, start: u32) {
        let deadline = Instant::now() + Duration::from_millis(SWEEP_BUDGET_MS);
        let in_time = || Instant::now() < deadline;
        let plan = kv::plan_sweep(&self.list(bucket, &in_time), now, start as usize);
        for name in &plan.delete {
            if !in_time() || self.timed("delete", || bucket.delete(name)).is_none() {
                return;
            }
        }
        for name in &plan.read {
            if !in_time() {
                return;
            }
            let Some(Some(stored)) = self.timed("get", || bucket.get(name)) else {
                continue;
            };
            if kv::entry_expiry(&stored).is_none_or(|expires| expires <= now)
                && self.timed("delete", || bucket.delete(name)).is_none()
            {
                return;
            }
        }
    }

    /// The store's key names, at most [`MAX_LISTING_PAGES`] pages of them.
    fn list(&self, bucket: &Bucket, in_time: &impl Fn() -> bool) -> Vec<String> {
        let mut names = Vec::new();
        let mut cursor = None;
        for _ in 0..MAX_LISTING_PAGES {
            let Some(page) = self.timed("list", || bucket.list_keys(cursor.as_deref())) else {
                break;
            };
            names.extend(page.keys);
            cursor = page.cursor;
            if cursor.is_none() || !in_time() {
                break;
            }
        }
        names
    }
}
