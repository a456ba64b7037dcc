//! Native micro-benchmarks of the DPoP bind stage (`cargo bench -p edgeward --bench dpop`): the
//! stateless proof checks of RFC 9449 §4.3 on the RFC's own §7.1 example proof, `htu`
//! normalisation, and the stateless nonce. Figures are for comparison between changes on one
//! machine, never asserted by tests.

use criterion::{criterion_group, criterion_main, Criterion};
use edgeward::crypto::RustCrypto;
use edgeward::internal::dpop::{self, NonceKey, ProofRequest, ProofRules, ReplayCache};
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

/// RFC 9449 §7.1, Figure 13.
const RFC_RESOURCE_PROOF: &str = concat!(
    "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6Ik",
    "VDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCR",
    "nMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JE",
    "QSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiJlMWozVl9iS2ljOC1MQUVCIiwiaHRtIj",
    "oiR0VUIiwiaHR1IjoiaHR0cHM6Ly9yZXNvdXJjZS5leGFtcGxlLm9yZy9wcm90ZWN0Z",
    "WRyZXNvdXJjZSIsImlhdCI6MTU2MjI2MjYxOCwiYXRoIjoiZlVIeU8ycjJaM0RaNTNF",
    "c05yV0JiMHhXWG9hTnk1OUlpS0NBcWtzbVFFbyJ9.2oW9RP35yRqzhrtNP86L-Ey71E",
    "OptxRimPPToA1plemAgR6pxHF8y6-yqyVnmcw6Fy1dqd-jfxSYoMxhAJpLjA",
);

fn proofs(c: &mut Criterion) {
    let htu =
        dpop::normalize_htu("https://resource.example.org/protectedresource").expect("example URL");
    let request = ProofRequest {
        method: "GET",
        htu: &htu,
        ath: Some("fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"),
    };
    let rules = ProofRules::default();
    c.bench_function(
        "dpop/verify_proof ES256 (RFC 9449 §7.1, RustCrypto), a client's first proof",
        |b| {
            b.iter(|| {
                block_on(dpop::verify_proof(
                    black_box(RFC_RESOURCE_PROOF),
                    &request,
                    (&rules, &dpop::ProofHeaders::default()),
                    1_562_262_618,
                    &RustCrypto,
                ))
                .expect("valid")
            })
        },
    );
    let memo = dpop::ProofHeaders::default();
    c.bench_function(
        "dpop/verify_proof ES256 (RFC 9449 §7.1, RustCrypto), header remembered",
        |b| {
            b.iter(|| {
                block_on(dpop::verify_proof(
                    black_box(RFC_RESOURCE_PROOF),
                    &request,
                    (&rules, &memo),
                    1_562_262_618,
                    &RustCrypto,
                ))
                .expect("valid")
            })
        },
    );
    c.bench_function("dpop/normalize_htu", |b| {
        b.iter(|| dpop::normalize_htu(black_box("HTTPS://API.example.com:443/a/%7euser/%2f?q#f")))
    });
    let key = NonceKey::new(&[7; 32], 300).expect("key");
    let nonce = key.issue(1_000_000);
    c.bench_function("dpop/nonce accept (previous bucket)", |b| {
        b.iter(|| key.accepts(black_box(&nonce), 1_000_300))
    });
    let cache = ReplayCache::new(10_000);
    let mut n: u64 = 0;
    c.bench_function("dpop/replay cache insert (full cache)", |b| {
        b.iter(|| {
            n += 1;
            let mut k = [0u8; 32];
            k[..8].copy_from_slice(&n.to_be_bytes());
            cache.first_use(k, u64::MAX, 0)
        })
    });
}

criterion_group!(benches, proofs);
criterion_main!(benches);
