//! Helpers shared by the vector harnesses.
#![allow(dead_code)]

use base64ct::{Base64UrlUnpadded, Encoding};
use edgeward::crypto::{BadSignature, PublicKey, Scheme, SignatureVerifier};
use p256::ecdsa::{signature::Signer, Signature, SigningKey};
use serde_json::{json, Value};
use std::cell::Cell;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

pub mod fake;
pub mod token_cache;

/// A GET of `url` with these header fields and no client certificate.
pub fn get(url: &str, headers: &[(&str, &str)]) -> edgeward::Request {
    edgeward::Request {
        method: "GET".into(),
        url: url.into(),
        headers: headers.iter().copied().collect(),
        client_cert: None,
    }
}

/// Drives a future that never waits on I/O (the RustCrypto verifier is always ready).
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
    }
}

/// PEM CERTIFICATE block to DER.
pub fn pem_to_der(pem: &str) -> Vec<u8> {
    let (label, der) = der::pem::decode_vec(pem.as_bytes()).expect("PEM");
    assert_eq!(label, "CERTIFICATE");
    der
}

/// `YYYY-MM-DDTHH:MM:SS[.fff]+00:00` to Unix seconds (fraction truncated).
pub fn rfc3339_to_unix(s: &str) -> u64 {
    assert!(s.ends_with("+00:00") || s.ends_with('Z'), "UTC only: {s}");
    let num = |a: usize, b: usize| -> i64 { s[a..b].parse().expect("digits") };
    let (y, m, d) = (num(0, 4), num(5, 7), num(8, 10));
    let (hh, mm, ss) = (num(11, 13), num(14, 16), num(17, 19));
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    u64::try_from(days * 86400 + hh * 3600 + mm * 60 + ss).expect("after 1970")
}

/// Validation time used when a limbo case gives none: 2024-06-01T00:00:00Z (limbo's
/// time-independent certificates are valid from 1970 to 2969).
pub const DEFAULT_LIMBO_TIME: u64 = 1_717_200_000;

#[test]
fn rfc3339_epoch_and_known_date() {
    assert_eq!(rfc3339_to_unix("1970-01-01T00:00:03+00:00"), 3);
    assert_eq!(
        rfc3339_to_unix("2024-06-01T00:00:00+00:00"),
        DEFAULT_LIMBO_TIME
    );
    assert_eq!(
        rfc3339_to_unix("2024-03-01T00:00:00.999+00:00"),
        1_709_251_200
    );
}

/// A P-256 signing key whose scalar is `seed` repeated.
pub fn p256_key(seed: u8) -> SigningKey {
    SigningKey::from_slice(&[seed; 32]).unwrap()
}

/// The public JWK (`kty`, `crv`, `x`, `y`) of a P-256 key.
pub fn p256_jwk(signing: &SigningKey) -> Value {
    let point = signing.verifying_key().to_encoded_point(false);
    json!({
        "kty": "EC", "crv": "P-256",
        "x": Base64UrlUnpadded::encode_string(point.x().unwrap()),
        "y": Base64UrlUnpadded::encode_string(point.y().unwrap()),
    })
}

/// The public JWK of a P-256 key with `kid` and `"use": "sig"`, as a JWKS lists it.
pub fn p256_jwk_kid(signing: &SigningKey, kid: &str) -> Value {
    let mut jwk = p256_jwk(signing);
    jwk["kid"] = json!(kid);
    jwk["use"] = json!("sig");
    jwk
}

/// A compact ES256 JWS over the JSON header and claims.
pub fn sign_es256(signing: &SigningKey, header: &Value, claims: &Value) -> String {
    let b64 = |v: &Value| Base64UrlUnpadded::encode_string(v.to_string().as_bytes());
    let input = format!("{}.{}", b64(header), b64(claims));
    let sig: Signature = signing.sign(input.as_bytes());
    format!(
        "{input}.{}",
        Base64UrlUnpadded::encode_string(&sig.to_bytes())
    )
}

/// RustCrypto, counting every signature check.
#[derive(Default)]
pub struct Counting {
    calls: Cell<usize>,
}

impl Counting {
    /// Signature checks so far.
    pub fn calls(&self) -> usize {
        self.calls.get()
    }
}

impl SignatureVerifier for Counting {
    async fn verify(
        &self,
        scheme: Scheme,
        key: &PublicKey,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), BadSignature> {
        self.calls.set(self.calls.get() + 1);
        edgeward::crypto::verify_sync(scheme, key, message, signature)
    }
}
