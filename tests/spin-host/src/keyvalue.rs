//! `wasi:keyvalue/store` and `atomics` (`@0.2.0-draft2`, as in Spin) over one in-memory map that
//! every request of the process shares, so a value written by one instance is read by the next.
//! Like Spin, a component may open only the stores it was granted (`--key-value-store`; Spin:
//! `key_value_stores` in spin.toml), else `access-denied`; this host has only "default".
//!
//! **An outage** (`--key-value-outage MS`) models Spin's Redis store with Redis gone: Spin's
//! client (redis-rs `ConnectionManager`, no response or connection timeout) holds every call
//! until its reconnection gives up, then fails it; opening pings the server and ignores a failed
//! ping. So here every call waits `MS` milliseconds, then `open` succeeds and every other call
//! fails with `other`. The calls are async: a waiting instance holds no host thread, as in Spin.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use wasmtime::component::{HasData, Linker, Resource};

wasmtime::component::bindgen!({
    path: "wit/keyvalue.wit",
    world: "host",
    with: { "wasi:keyvalue/store.bucket": Bucket },
    imports: { default: async | trappable },
});

use wasi::keyvalue::store::{Error, KeyResponse};

/// The only store this host has, as in a Spin app without a runtime config.
pub const DEFAULT_STORE: &str = "default";

/// An open store. There is one map, so a handle carries nothing.
pub struct Bucket;

/// The map shared by every request, whether the component may open it, and an outage.
#[derive(Clone, Default)]
pub struct SharedStore {
    entries: Arc<Mutex<BTreeMap<String, Vec<u8>>>>,
    granted: bool,
    outage: Option<Duration>,
}

impl SharedStore {
    /// A store the component may open when `granted`; down for good with an `outage` (how long
    /// each call waits before it fails).
    pub fn new(granted: bool, outage: Option<Duration>) -> SharedStore {
        SharedStore {
            entries: Arc::default(),
            granted,
            outage,
        }
    }

    /// During an outage: waits as long as a call to a store that is down does, then says so.
    async fn down(&self) -> Option<Error> {
        let wait = self.outage?;
        tokio::time::sleep(wait).await;
        Some(Error::Other(format!(
            "the store did not answer within {} ms (--key-value-outage)",
            wait.as_millis()
        )))
    }

    fn with<R>(&self, f: impl FnOnce(&mut BTreeMap<String, Vec<u8>>) -> R) -> R {
        f(&mut self.entries.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn open(&self, name: &str) -> Result<(), Error> {
        match (self.granted, name == DEFAULT_STORE) {
            (true, true) => Ok(()),
            _ => Err(Error::AccessDenied),
        }
    }

    /// Adds `delta` to the counter at `key` (absent: 0) under one lock, so concurrent increments
    /// never see the same result. Counters are stored as 8 little-endian bytes.
    fn increment(&self, key: String, delta: i64) -> Result<i64, Error> {
        self.with(|entries| {
            let current = match entries.get(&key) {
                None => 0,
                Some(bytes) => counter(bytes)?,
            };
            let next = current
                .checked_add(delta)
                .ok_or_else(|| Error::Other("counter overflow".into()))?;
            entries.insert(key, next.to_le_bytes().to_vec());
            Ok(next)
        })
    }
}

fn counter(bytes: &[u8]) -> Result<i64, Error> {
    let array: [u8; 8] = bytes
        .try_into()
        .map_err(|_| Error::Other("the value is not a counter".into()))?;
    Ok(i64::from_le_bytes(array))
}

struct KeyValue;

impl HasData for KeyValue {
    type Data<'a> = &'a SharedStore;
}

/// Adds both interfaces to `linker`; `get` finds the shared store in the store data.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &SharedStore,
) -> wasmtime::Result<()> {
    wasi::keyvalue::store::add_to_linker::<T, KeyValue>(linker, get)?;
    wasi::keyvalue::atomics::add_to_linker::<T, KeyValue>(linker, get)
}

impl wasi::keyvalue::store::Host for &SharedStore {
    /// In an outage, opening waits and then succeeds, as Spin's Redis store does.
    async fn open(
        &mut self,
        identifier: String,
    ) -> wasmtime::Result<Result<Resource<Bucket>, Error>> {
        let opened = SharedStore::open(self, &identifier);
        if opened.is_ok() {
            self.down().await;
        }
        Ok(opened.map(|()| Resource::new_own(0)))
    }
}

impl wasi::keyvalue::store::HostBucket for &SharedStore {
    async fn get(
        &mut self,
        _: Resource<Bucket>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, Error>> {
        if let Some(error) = self.down().await {
            return Ok(Err(error));
        }
        Ok(Ok(self.with(|entries| entries.get(&key).cloned())))
    }

    async fn set(
        &mut self,
        _: Resource<Bucket>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), Error>> {
        if let Some(error) = self.down().await {
            return Ok(Err(error));
        }
        self.with(|entries| entries.insert(key, value));
        Ok(Ok(()))
    }

    async fn delete(
        &mut self,
        _: Resource<Bucket>,
        key: String,
    ) -> wasmtime::Result<Result<(), Error>> {
        if let Some(error) = self.down().await {
            return Ok(Err(error));
        }
        self.with(|entries| entries.remove(&key));
        Ok(Ok(()))
    }

    async fn exists(
        &mut self,
        _: Resource<Bucket>,
        key: String,
    ) -> wasmtime::Result<Result<bool, Error>> {
        if let Some(error) = self.down().await {
            return Ok(Err(error));
        }
        Ok(Ok(self.with(|entries| entries.contains_key(&key))))
    }

    /// Every key in one page, as Spin answers; a cursor is refused.
    async fn list_keys(
        &mut self,
        _: Resource<Bucket>,
        cursor: Option<String>,
    ) -> wasmtime::Result<Result<KeyResponse, Error>> {
        if let Some(error) = self.down().await {
            return Ok(Err(error));
        }
        if cursor.is_some() {
            return Ok(Err(Error::Other("cursors are not supported".into())));
        }
        let keys = self.with(|entries| entries.keys().cloned().collect());
        Ok(Ok(KeyResponse { keys, cursor: None }))
    }

    async fn drop(&mut self, _: Resource<Bucket>) -> wasmtime::Result<()> {
        Ok(())
    }
}

impl wasi::keyvalue::atomics::Host for &SharedStore {
    async fn increment(
        &mut self,
        _: Resource<Bucket>,
        key: String,
        delta: i64,
    ) -> wasmtime::Result<Result<i64, Error>> {
        if let Some(error) = self.down().await {
            return Ok(Err(error));
        }
        Ok(SharedStore::increment(self, key, delta))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_granted_default_store_opens() {
        assert!(SharedStore::new(true, None).open(DEFAULT_STORE).is_ok());
        assert!(matches!(
            SharedStore::new(true, None).open("other"),
            Err(Error::AccessDenied)
        ));
        assert!(matches!(
            SharedStore::new(false, None).open(DEFAULT_STORE),
            Err(Error::AccessDenied)
        ));
    }

    #[tokio::test]
    async fn in_an_outage_every_call_waits_then_open_succeeds_and_the_rest_fail() {
        use wasi::keyvalue::atomics::Host as Atomics;
        use wasi::keyvalue::store::{Host as Store, HostBucket as Bucket};
        let wait = Duration::from_millis(50);
        let store = SharedStore::new(true, Some(wait));
        let mut host = &store;
        let started = std::time::Instant::now();
        let opened = Store::open(&mut host, DEFAULT_STORE.into()).await;
        let bucket = opened.unwrap().unwrap();
        assert!(started.elapsed() >= wait);
        let started = std::time::Instant::now();
        let got = Bucket::get(&mut host, Resource::new_borrow(bucket.rep()), "k".into()).await;
        assert!(matches!(got.unwrap(), Err(Error::Other(_))));
        let counted =
            Atomics::increment(&mut host, Resource::new_borrow(bucket.rep()), "n".into(), 1).await;
        assert!(matches!(counted.unwrap(), Err(Error::Other(_))));
        assert!(started.elapsed() >= 2 * wait);
        // Not granted stays an immediate answer.
        let denied = SharedStore::new(false, Some(Duration::from_secs(60)));
        let opened = Store::open(&mut &denied, DEFAULT_STORE.into()).await;
        assert!(matches!(opened.unwrap(), Err(Error::AccessDenied)));
    }

    #[test]
    fn increments_from_many_threads_each_see_a_different_count() {
        let store = SharedStore::new(true, None);
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let store = store.clone();
                std::thread::spawn(move || {
                    (0..500)
                        .map(|_| store.increment("k".into(), 1).unwrap())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut seen: Vec<i64> = threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect();
        seen.sort_unstable();
        assert_eq!(seen, (1..=4000).collect::<Vec<_>>());
    }

    #[test]
    fn a_counter_is_a_value_and_a_value_is_not_a_counter() {
        let store = SharedStore::new(true, None);
        assert_eq!(store.increment("n".into(), 5).ok(), Some(5));
        assert_eq!(store.increment("n".into(), -2).ok(), Some(3));
        assert_eq!(
            store.with(|e| e.get("n").cloned()),
            Some(3i64.to_le_bytes().to_vec())
        );
        store.with(|e| e.insert("text".into(), b"hello".to_vec()));
        assert!(matches!(
            store.increment("text".into(), 1),
            Err(Error::Other(_))
        ));
        store.with(|e| e.insert("max".into(), i64::MAX.to_le_bytes().to_vec()));
        assert!(store.increment("max".into(), 1).is_err());
    }
}
