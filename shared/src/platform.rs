//! The few effects the core asks of its host. Each shell implements [`Platform`]; tests use a fake.

#[cfg(feature = "token-handler")]
use crate::aead::{AesKey, BadTag, NONCE_BYTES};
use crate::crypto::SignatureVerifier;
use std::future::Future;

/// Severity of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    /// Something an operator must fix (bad configuration, unreachable upstream).
    Error,
    /// A rejected request or a degraded dependency.
    Warn,
    /// Normal operation.
    Info,
}

/// An outgoing HTTP request the core wants made (JWKS, introspection).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchRequest {
    /// `GET` or `POST`.
    pub method: &'static str,
    /// Absolute URL.
    pub url: String,
    /// Header fields.
    pub headers: Vec<(String, String)>,
    /// Request body (empty for GET).
    pub body: Vec<u8>,
    /// Give up after this many milliseconds.
    pub timeout_ms: u32,
    /// Read at most this many body bytes; a longer body is an error.
    pub max_body_bytes: usize,
}

/// The answer to a [`FetchRequest`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchResponse {
    /// Status code.
    pub status: u16,
    /// Header fields, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// Body, at most `max_body_bytes`.
    pub body: Vec<u8>,
}

/// Why a fetch produced no response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchError {
    /// Connection refused, reset, DNS failure, TLS failure.
    Unreachable,
    /// No complete answer within the timeout.
    Timeout,
    /// The body was longer than `max_body_bytes`.
    TooLarge,
}

/// The host's effects. Futures need not be `Send`: both edge runtimes run one request per thread.
pub trait Platform {
    /// The signature verification backend (RustCrypto everywhere, WebCrypto on Workers).
    type Verifier: SignatureVerifier;
    /// The verifier to use for every signature check of this request.
    fn verifier(&self) -> &Self::Verifier;
    /// Seconds since the Unix epoch, from the host clock.
    fn now(&self) -> u64;
    /// Writes a log line. Callers never pass tokens, proofs or secrets.
    fn log(&self, level: LogLevel, message: &str);
    /// Fills `buf` with cryptographically secure random bytes.
    fn random(&self, buf: &mut [u8]);
    /// Performs an HTTP request.
    fn fetch(
        &self,
        request: FetchRequest,
    ) -> impl Future<Output = Result<FetchResponse, FetchError>>;

    /// Reads an entry of the shared cache tier (shared by all isolates/instances of a location:
    /// the Cache API on Workers). Default: no shared tier.
    fn cache_get(&self, _key: &str) -> impl Future<Output = Option<Vec<u8>>> {
        async { None }
    }

    /// Writes an entry of the shared cache tier that expires at `expires` (Unix seconds, an
    /// absolute time: the core computed it from the request's one clock reading). Default: no
    /// shared tier.
    fn cache_put(&self, _key: &str, _value: Vec<u8>, _expires: u64) -> impl Future<Output = ()> {
        async {}
    }

    /// Waits about `ms` milliseconds, in this request's own context. Used by single-flight waiters:
    /// on Workers a request must never wait on a wake-up from another request (the runtime cancels
    /// it as hung), so waiters poll the shared state between short sleeps. Default: yield once
    /// (hosts that serve one request per instance never have waiters).
    fn sleep(&self, _ms: u32) -> impl Future<Output = ()> {
        yield_now()
    }

    /// Opens AES-256-GCM `sealed` (`ciphertext ‖ tag`) with `aad` under `key` ([`crate::aead`]):
    /// the primitive only, the caller decides what the plaintext means. Default: RustCrypto
    /// ([`AesKey::open`]); the Workers shell uses WebCrypto. Every backend must give the same
    /// answer for the same input.
    #[cfg(feature = "token-handler")]
    fn aes_gcm_open(
        &self,
        key: &AesKey,
        nonce: &[u8; NONCE_BYTES],
        sealed: &[u8],
        aad: &[u8],
    ) -> impl Future<Output = Result<Vec<u8>, BadTag>> {
        std::future::ready(key.open(nonce, sealed, aad))
    }

    /// True when [`cache_put`](Platform::cache_put) stores somewhere other requests can read.
    fn has_shared_cache(&self) -> bool {
        false
    }
    /// True when every request runs in a fresh instance (Spin), so per-isolate caches never hit
    /// and verified tokens are worth keeping in the shared tier (`token_cache_shared: "auto"`).
    /// Default: `false` (isolates serve many requests, as on Workers).
    fn instance_per_request(&self) -> bool {
        false
    }
    /// True when [`replay_check`](Platform::replay_check) is backed by a store shared by every
    /// instance (a Durable Object, a key-value store). `dpop.replay: "strict"` needs one and
    /// answers 503 without it. Default: `false`.
    fn has_replay_store(&self) -> bool {
        false
    }

    /// Records `key` (a SHA-256 over a DPoP proof's key thumbprint and `jti`) until `expires` (Unix
    /// seconds: the proof's own expiry, the same for every request carrying it) in the shared store: `Ok(true)` when this is its first use, `Ok(false)` when it was seen before
    /// (RFC 9449 §11.1). Must be atomic across instances. The default has no store and says
    /// `Ok(true)`: the per-isolate cache is then the only replay check.
    fn replay_check(
        &self,
        key: &[u8; 32],
        expires: u64,
    ) -> impl Future<Output = Result<bool, FetchError>> {
        let _ = (key, expires);
        std::future::ready(Ok(true))
    }
}

/// A future that is pending once, waking itself: lets other tasks on the same thread run (the
/// default [`Platform::sleep`]; test platforms use it to interleave requests like an isolate does).
pub fn yield_now() -> impl Future<Output = ()> {
    YieldOnce(false)
}

struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        if self.0 {
            std::task::Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    }
}
