//! Native micro-benchmark of opening a token-handler cookie (`cargo bench -p edgeward --bench
//! cookie`): a 2 KiB value (an x5c JWT's size) through `CookieKeys::open` with the default
//! (RustCrypto) backend, and its parts. For Wasm-like figures build with
//! `RUSTFLAGS="--cfg aes_force_soft --cfg polyval_force_soft"` (software AES and GHASH, as in Wasm);
//! docs/decisions.md, "Token handler: AES-GCM on Workers". Never asserted by tests.

use base64ct::{Base64UrlUnpadded, Encoding};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use edgeward::aead::AesKey;
use edgeward::cookie::CookieKeys;
use edgeward::crypto::RustCrypto;
use edgeward::platform::{FetchError, FetchRequest, FetchResponse, LogLevel, Platform};
use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

const NAME: &str = "__Host-ew-at";

fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
    }
}

/// Every default: AES-GCM by RustCrypto.
struct Host;

impl Platform for Host {
    type Verifier = RustCrypto;
    fn verifier(&self) -> &RustCrypto {
        &RustCrypto
    }
    fn now(&self) -> u64 {
        1
    }
    fn log(&self, _: LogLevel, _: &str) {}
    fn random(&self, buf: &mut [u8]) {
        buf.fill(3);
    }
    async fn fetch(&self, _: FetchRequest) -> Result<FetchResponse, FetchError> {
        Err(FetchError::Unreachable)
    }
}

fn open(c: &mut Criterion) {
    let keys = CookieKeys::new(&[(1, [7u8; 32])]).expect("a key");
    let sealed = keys.seal(NAME, &[b'a'; 2048], 2_000_000_000, [3; 12]);
    // The first open of a value: fresh keys (nothing remembered) for each iteration.
    c.bench_function("cookie open 2 KiB, first time", |b| {
        b.iter_batched(
            || CookieKeys::new(&[(1, [7u8; 32])]).expect("a key"),
            |fresh| block_on(fresh.open(&Host, NAME, black_box(&sealed), 1)),
            BatchSize::SmallInput,
        )
    });
    // Every later open of the same value (the proxy path's API calls): remembered.
    c.bench_function("cookie open 2 KiB, remembered", |b| {
        b.iter(|| block_on(keys.open(&Host, NAME, black_box(&sealed), 1)))
    });
    let data = sealed.trim_start_matches("v1.");
    c.bench_function("cookie base64url decode 2 KiB", |b| {
        b.iter(|| Base64UrlUnpadded::decode_vec(black_box(data)))
    });
    let raw = Base64UrlUnpadded::decode_vec(data).expect("base64url");
    let (nonce, message) = raw.split_first_chunk::<12>().expect("a nonce");
    let key = AesKey::new([7u8; 32]);
    c.bench_function("aes-256-gcm open 2 KiB", |b| {
        b.iter(|| key.open(nonce, black_box(message), NAME.as_bytes()))
    });
    c.bench_function("aes-256-gcm key schedule", |b| {
        b.iter(|| AesKey::new(black_box([7u8; 32])))
    });
}

criterion_group!(benches, open);
criterion_main!(benches);
