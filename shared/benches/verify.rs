//! Native micro-benchmarks of the verify stage (`cargo bench -p edgeward --bench verify`):
//! JWS parse, signature verification per algorithm, x5c chain validation cold and cached.
//! Figures are for comparison between changes on one machine, never asserted by tests.

use criterion::{criterion_group, criterion_main, Criterion};
use edgeward::crypto::RustCrypto;
use edgeward::jwk::Jwk;
use edgeward::jws;
use edgeward::x5c::{self, ChainCache, ChainPolicy};
use serde_json::Value;
use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
    }
}

/// Tokens and public keys made by an independent implementation (jwcrypto).
fn interop_vectors() -> Vec<(String, String, Jwk)> {
    let text = include_str!("../tests/data/interop/jwcrypto.json");
    let doc: Value = serde_json::from_str(text).expect("interop vectors");
    doc["vectors"]
        .as_array()
        .expect("vectors")
        .iter()
        .map(|v| {
            let jwk = Jwk::parse(v["jwk"].to_string().as_bytes()).expect("jwk");
            let alg = v["alg"].as_str().expect("alg").to_owned();
            (alg, v["token"].as_str().expect("token").to_owned(), jwk)
        })
        .collect()
}

fn pem(text: &str) -> Vec<u8> {
    der::pem::decode_vec(text.as_bytes()).expect("PEM").1
}

fn parse_and_verify(c: &mut Criterion) {
    let vectors = interop_vectors();
    let (_, es256, _) = vectors
        .iter()
        .find(|(alg, ..)| alg == "ES256")
        .expect("ES256");
    c.bench_function("jws/parse ES256 token", |b| {
        b.iter(|| jws::parse(black_box(es256), 16 * 1024).expect("parse"))
    });
    // An x5c access token's shape (leaf + intermediate in the header): parsed from scratch, and
    // with its header from the memo (what a token of the same issuer costs once one was seen).
    let x5c_token = x5c_shaped_token();
    c.bench_function("jws/parse x5c token", |b| {
        b.iter(|| jws::parse(black_box(&x5c_token), 16 * 1024).expect("parse"))
    });
    let memo = jws::HeaderMemo::default();
    c.bench_function("jws/parse x5c token, header memoized", |b| {
        b.iter(|| jws::parse_memoized(black_box(&x5c_token), 16 * 1024, &memo).expect("parse"))
    });
    for (alg, token, jwk) in &vectors {
        let parsed = jws::parse(token, 16 * 1024).expect("parse");
        c.bench_function(&format!("jws/verify {alg} (RustCrypto)"), |b| {
            b.iter(|| {
                block_on(parsed.verify(black_box(jwk.public_key()), &RustCrypto)).expect("verify")
            })
        });
    }
}

/// A token with the bench chain in `x5c`, typical claims and a 64-byte signature (not verified).
fn x5c_shaped_token() -> String {
    use base64ct::{Base64, Base64UrlUnpadded, Encoding};
    let certs: Vec<String> = [
        include_str!("../tests/data/x5c/leaf.pem"),
        include_str!("../tests/data/x5c/int.pem"),
    ]
    .iter()
    .map(|text| Base64::encode_string(&pem(text)))
    .collect();
    let header = serde_json::json!({ "alg": "ES256", "typ": "at+jwt", "x5c": certs });
    let claims = serde_json::json!({
        "iss": "https://issuer.example", "aud": "https://api.example", "sub": "alice",
        "scope": "orders:read", "iat": 1_700_000_000u64, "exp": 1_700_000_300u64, "jti": "b2c1"
    });
    let b64 = |v: &Value| Base64UrlUnpadded::encode_string(v.to_string().as_bytes());
    format!(
        "{}.{}.{}",
        b64(&header),
        b64(&claims),
        Base64UrlUnpadded::encode_string(&[7; 64])
    )
}

fn chains(c: &mut Criterion) {
    let leaf = pem(include_str!("../tests/data/x5c/leaf.pem"));
    let int = pem(include_str!("../tests/data/x5c/int.pem"));
    let root = pem(include_str!("../tests/data/x5c/root.pem"));
    let chain = vec![leaf, int];
    let anchors: Vec<&[u8]> = vec![&root];
    let policy = ChainPolicy::default();
    // One hour after the earliest notBefore: inside every fixture's validity.
    let probe = block_on(x5c::validate(
        &chain,
        &anchors,
        4_000_000_000,
        &policy,
        &RustCrypto,
    ));
    let now = match probe {
        Ok(_) => 4_000_000_000,
        Err(_) => {
            let cache = ChainCache::default();
            (1_700_000_000..4_000_000_000)
                .step_by(86_400 * 30)
                .find(|t| {
                    block_on(x5c::validate_cached(
                        (&cache, ChainCache::key(&chain, &anchors, &policy)),
                        &chain,
                        &anchors,
                        *t,
                        &policy,
                        &RustCrypto,
                    ))
                    .is_ok()
                })
                .expect("a time inside the fixtures' validity")
        }
    };
    c.bench_function("x5c/validate leaf+intermediate, cold", |b| {
        b.iter(|| {
            block_on(x5c::validate(
                black_box(&chain),
                &anchors,
                now,
                &policy,
                &RustCrypto,
            ))
            .expect("valid")
        })
    });
    let cache = ChainCache::default();
    let chain_digest = edgeward::crypto::list_digest(edgeward::jws::X5C_DIGEST_LABEL, &chain);
    let anchors_digest = edgeward::crypto::list_digest(x5c::ANCHORS_DIGEST_LABEL, &anchors);
    c.bench_function("x5c/validate leaf+intermediate, cached", |b| {
        b.iter(|| {
            // As the gateway keys it: from the chain's digest (kept with the parsed header) and
            // the anchors' (kept by the verifier).
            let key = ChainCache::key_of_digests(&chain_digest, &anchors_digest, &policy);
            block_on(x5c::validate_cached(
                (&cache, key),
                black_box(&chain),
                &anchors,
                now,
                &policy,
                &RustCrypto,
            ))
            .expect("valid")
        })
    });
}

criterion_group!(benches, parse_and_verify, chains);
criterion_main!(benches);
