//! Spin's key-value store (`wasi:keyvalue` store + atomics, the store named "default") as the
//! shared tier of the introspection and verified-token caches and as the DPoP replay store. The store has no expiry:
//! names, expiry and sweeping follow `edgeward::kv`, and this module only moves the bytes.

use edgeward::kv;
use edgeward::platform::FetchError;
use spin_sdk::wit::wasi::keyvalue::atomics;
use spin_sdk::wit::wasi::keyvalue::store::{self, Bucket};
use std::cell::{Cell, OnceCell};

/// The store the component asks for: `key_value_stores = ["default"]` in spin.toml.
const STORE: &str = "default";

/// Pages of a key listing one sweep looks at (Spin answers a listing in one page).
const MAX_LISTING_PAGES: usize = 8;

/// The store of one request, opened on first use.
#[derive(Default)]
pub struct Store {
    opened: OnceCell<Result<Bucket, String>>,
    warned: Cell<bool>,
}

impl Store {
    /// Whether the store can be used; asks quietly (an optional use, such as the verified-token
    /// tier in `auto` mode, is simply skipped without one).
    pub fn available(&self) -> bool {
        self.open().is_ok()
    }

    /// The store for a use that wants it; when it cannot be opened, `warn` is told why, once.
    pub fn bucket(&self, warn: impl FnOnce(&str)) -> Option<&Bucket> {
        match self.open() {
            Ok(bucket) => Some(bucket),
            Err(why) => {
                if !self.warned.replace(true) {
                    warn(&format!("key-value store unavailable: {why}"));
                }
                None
            }
        }
    }

    /// The error says why (not granted, not configured, backend down).
    fn open(&self) -> &Result<Bucket, String> {
        self.opened
            .get_or_init(|| store::open(STORE).map_err(|error| format!("{error:?}")))
    }
}

/// A cache entry still valid at `now`; a missing, expired or broken one is a miss.
pub fn get(bucket: &Bucket, key: &str, now: u64) -> Option<Vec<u8>> {
    let stored = bucket.get(key).ok()??;
    kv::live_value(&stored, now).map(<[u8]>::to_vec)
}

/// Stores a cache entry for `ttl` seconds; a failing store is ignored (the next reader asks the
/// authorization server). `random` decides whether this write also sweeps.
pub fn put(bucket: &Bucket, key: &str, value: &[u8], ttl: u64, now: u64, random: u32) {
    let _ = bucket.set(key, &kv::encode_entry(value, now.saturating_add(ttl)));
    if kv::sweep_due(random) {
        sweep(bucket, now, random);
    }
}

/// Records a proof's replay key: `Ok(true)` for the first use anywhere, `Ok(false)` after that.
/// One atomic increment on a name that carries the proof's expiry (`now + ttl`, the same for
/// every request with that proof), so two instances can never both see a first use.
pub fn first_use(
    bucket: &Bucket,
    key: &[u8; 32],
    ttl: u64,
    now: u64,
    random: u32,
) -> Result<bool, FetchError> {
    let name = kv::replay_name(key, now.saturating_add(ttl));
    let uses = atomics::increment(bucket, &name, 1).map_err(|_| FetchError::Unreachable)?;
    if uses == 1 && kv::sweep_due(random) {
        sweep(bucket, now, random);
    }
    Ok(uses == 1)
}

/// Deletes expired (and surplus) entries found in one key listing; best effort, bounded.
fn sweep(bucket: &Bucket, now: u64, start: u32) {
    let plan = kv::plan_sweep(&list(bucket), now, start as usize);
    for name in &plan.delete {
        let _ = bucket.delete(name);
    }
    for name in &plan.read {
        let Ok(Some(stored)) = bucket.get(name) else {
            continue;
        };
        if kv::entry_expiry(&stored).is_none_or(|expires| expires <= now) {
            let _ = bucket.delete(name);
        }
    }
}

/// The store's key names, at most [`MAX_LISTING_PAGES`] pages of them.
fn list(bucket: &Bucket) -> Vec<String> {
    let mut names = Vec::new();
    let mut cursor = None;
    for _ in 0..MAX_LISTING_PAGES {
        let Ok(page) = bucket.list_keys(cursor.as_deref()) else {
            break;
        };
        names.extend(page.keys);
        cursor = page.cursor;
        if cursor.is_none() {
            break;
        }
    }
    names
}
