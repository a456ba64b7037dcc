//! One configurable fake [`Platform`] for the integration tests: a settable clock, scripted
//! fetches that are counted and recorded, captured logs, an optional shared cache tier, an
//! optional replay store, deterministic randomness, and any verifier (RustCrypto or the counting
//! one). Every field is public so a test sets up what it needs and inspects what happened.

use super::Counting;
use edgeward::crypto::{RustCrypto, SignatureVerifier};
use edgeward::platform::{FetchError, FetchRequest, FetchResponse, LogLevel, Platform};
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashSet};
use std::rc::Rc;

/// Answers a fetch: the scripted authorization server, JWKS endpoint or upstream.
pub type Responder = Box<dyn FnMut(&FetchRequest) -> Result<FetchResponse, FetchError>>;

/// The shared cache tier: key to (value, ttl). An `Rc` so several fakes (isolates, instances) can
/// share one. It keeps what it is given and ignores expiry, so the core's own checks are tested.
pub type SharedCache = Rc<RefCell<BTreeMap<String, (Vec<u8>, u64)>>>;

/// What [`Platform::random`] gives.
pub enum Random {
    /// Every byte this value.
    Fill(u8),
    /// Distinct per call (so nonces and ids differ), deterministic across runs: call `n` (from 1)
    /// fills byte `i` with `n * 31 + i`.
    Counter(Cell<u8>),
}

impl Random {
    /// A counter starting at call 1.
    pub fn counter() -> Random {
        Random::Counter(Cell::new(1))
    }
}

/// What the shared replay store (`Platform::replay_check`) does.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Replay {
    /// No store: `has_replay_store` is false.
    None,
    /// A store that remembers every key.
    Works,
    /// A store that is there but times out.
    Fails,
}

/// The fake host.
pub struct FakePlatform<V = RustCrypto> {
    /// The signature verifier.
    pub verifier: V,
    /// The clock.
    pub now: Cell<u64>,
    /// Randomness.
    pub random: Random,
    /// Every log line, in order.
    pub logs: RefCell<Vec<(LogLevel, String)>>,
    /// Text that must never reach a log line or a cache key (a raw token): panics if it does.
    pub secret: Option<&'static str>,
    /// Answers every fetch. Default: `Unreachable`.
    pub responder: RefCell<Responder>,
    /// Fetches so far.
    pub fetches: Cell<usize>,
    /// Every fetch request, in order.
    pub requests: RefCell<Vec<FetchRequest>>,
    /// The fetch returns `Pending` once before answering, like a real subrequest, so concurrent
    /// requests interleave.
    pub yield_in_fetch: bool,
    /// Whether [`cache`](FakePlatform::cache) is a shared tier; without one `cache_get` finds
    /// nothing and `cache_put` keeps nothing.
    pub has_shared_cache: bool,
    /// The shared cache tier.
    pub cache: SharedCache,
    /// `cache_get` calls so far.
    pub cache_gets: Cell<usize>,
    /// A fresh instance per request (Spin) rather than long-lived isolates (Workers).
    pub instance_per_request: bool,
    /// The shared replay store.
    pub replay: Replay,
    /// Keys the replay store has seen.
    pub replay_seen: RefCell<HashSet<[u8; 32]>>,
    /// `now() + ttl` of every replay check: the expiry a key-value store names the entry by.
    pub replay_expiries: RefCell<Vec<u64>>,
    /// `aes_gcm_open` calls so far (cookies opened).
    pub aes_opens: Cell<usize>,
}

impl FakePlatform {
    /// RustCrypto, the clock at `now`, nothing else.
    pub fn new(now: u64) -> FakePlatform {
        FakePlatform::with_verifier(RustCrypto, now)
    }
}

impl FakePlatform<Counting> {
    /// The counting verifier, the clock at `now`, nothing else.
    pub fn counting(now: u64) -> FakePlatform<Counting> {
        FakePlatform::with_verifier(Counting::default(), now)
    }

    /// Signature checks so far.
    pub fn checks(&self) -> usize {
        self.verifier.calls()
    }
}

impl<V> FakePlatform<V> {
    /// `verifier`, the clock at `now`, random bytes all 7, fetches unreachable, no shared cache,
    /// no replay store, isolates that live across requests.
    pub fn with_verifier(verifier: V, now: u64) -> FakePlatform<V> {
        FakePlatform {
            verifier,
            now: Cell::new(now),
            random: Random::Fill(7),
            logs: RefCell::default(),
            secret: None,
            responder: RefCell::new(Box::new(|_| Err(FetchError::Unreachable))),
            fetches: Cell::new(0),
            requests: RefCell::default(),
            yield_in_fetch: false,
            has_shared_cache: false,
            cache: SharedCache::default(),
            cache_gets: Cell::new(0),
            instance_per_request: false,
            replay: Replay::None,
            replay_seen: RefCell::default(),
            replay_expiries: RefCell::default(),
            aes_opens: Cell::new(0),
        }
    }

    /// With `responder` answering every fetch.
    pub fn answering(
        self,
        responder: impl FnMut(&FetchRequest) -> Result<FetchResponse, FetchError> + 'static,
    ) -> Self {
        self.respond(responder);
        self
    }

    /// With every fetch getting `response`.
    pub fn serving(self, response: FetchResponse) -> Self {
        self.serve(response);
        self
    }

    /// With `cache` as its shared tier (shared with every other fake given the same one).
    pub fn sharing(mut self, cache: &SharedCache) -> Self {
        self.has_shared_cache = true;
        self.cache = cache.clone();
        self
    }

    /// From now on `responder` answers every fetch.
    pub fn respond(
        &self,
        responder: impl FnMut(&FetchRequest) -> Result<FetchResponse, FetchError> + 'static,
    ) {
        *self.responder.borrow_mut() = Box::new(responder);
    }

    /// From now on every fetch gets `response`.
    pub fn serve(&self, response: FetchResponse) {
        self.respond(move |_| Ok(response.clone()));
    }

    /// From now on every fetch fails with `error`.
    pub fn fail(&self, error: FetchError) {
        self.respond(move |_| Err(error));
    }

    /// Moves the clock on.
    pub fn advance(&self, seconds: u64) {
        self.now.set(self.now.get() + seconds);
    }

    /// The messages logged so far, without their levels.
    pub fn messages(&self) -> Vec<String> {
        self.logs.borrow().iter().map(|(_, m)| m.clone()).collect()
    }

    fn no_secret_in(&self, text: &str, what: &str) {
        if let Some(secret) = self.secret {
            assert!(!text.contains(secret), "a token reached {what}: {text}");
        }
    }
}

impl<V: SignatureVerifier> Platform for FakePlatform<V> {
    type Verifier = V;
    fn verifier(&self) -> &V {
        &self.verifier
    }
    fn now(&self) -> u64 {
        self.now.get()
    }
    fn log(&self, level: LogLevel, message: &str) {
        self.no_secret_in(message, "the log");
        self.logs.borrow_mut().push((level, message.to_owned()));
    }
    fn random(&self, buf: &mut [u8]) {
        match &self.random {
            Random::Fill(byte) => buf.fill(*byte),
            Random::Counter(counter) => {
                let n = counter.get();
                counter.set(n.wrapping_add(1));
                for (i, b) in buf.iter_mut().enumerate() {
                    *b = n.wrapping_mul(31).wrapping_add(i as u8);
                }
            }
        }
    }
    async fn fetch(&self, request: FetchRequest) -> Result<FetchResponse, FetchError> {
        self.fetches.set(self.fetches.get() + 1);
        self.requests.borrow_mut().push(request.clone());
        if self.yield_in_fetch {
            edgeward::platform::yield_now().await;
        }
        (self.responder.borrow_mut())(&request)
    }
    async fn cache_get(&self, key: &str) -> Option<Vec<u8>> {
        self.no_secret_in(key, "a cache key");
        self.cache_gets.set(self.cache_gets.get() + 1);
        if !self.has_shared_cache {
            return None;
        }
        self.cache.borrow().get(key).map(|(value, _)| value.clone())
    }
    async fn cache_put(&self, key: &str, value: Vec<u8>, expires: u64) {
        self.no_secret_in(key, "a cache key");
        if self.has_shared_cache {
            self.cache
                .borrow_mut()
                .insert(key.to_owned(), (value, expires));
        }
    }
    fn has_shared_cache(&self) -> bool {
        self.has_shared_cache
    }
    fn instance_per_request(&self) -> bool {
        self.instance_per_request
    }
    fn has_replay_store(&self) -> bool {
        self.replay != Replay::None
    }
    async fn replay_check(&self, key: &[u8; 32], expires: u64) -> Result<bool, FetchError> {
        self.replay_expiries.borrow_mut().push(expires);
        match self.replay {
            Replay::Fails => Err(FetchError::Timeout),
            _ => Ok(self.replay_seen.borrow_mut().insert(*key)),
        }
    }
    #[cfg(feature = "token-handler")]
    async fn aes_gcm_open(
        &self,
        key: &edgeward::aead::AesKey,
        nonce: &[u8; edgeward::aead::NONCE_BYTES],
        sealed: &[u8],
        aad: &[u8],
    ) -> Result<Vec<u8>, edgeward::aead::BadTag> {
        self.aes_opens.set(self.aes_opens.get() + 1);
        key.open(nonce, sealed, aad)
    }
}
