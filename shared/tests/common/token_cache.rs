//! Helpers of the verified-token cache tests (`token_cache.rs`, per isolate; `token_cache_shared.rs`,
//! the shared tier): one issuer (key 1, inline JWKS), one protected route, Bearer requests.

use super::fake::FakePlatform;
use super::{block_on, p256_jwk as jwk, p256_key as key, sign_es256 as sign, Counting};
use edgeward::{Gateway, Outcome, Request};
use serde_json::{json, Value};

pub const NOW: u64 = 1_800_000_000;
pub const ISS: &str = "https://issuer.test";
pub const API: &str = "https://gw.test/api/orders";
pub const LEEWAY: u64 = 60;

/// A token of the issuer (key 1) expiring at `exp`, with extra claims.
pub fn token_with(exp: u64, extra: Value) -> String {
    let mut claims = json!({
        "iss": ISS, "aud": "https://api.test", "sub": "alice", "exp": exp, "iat": NOW - 10,
    });
    for (name, value) in extra.as_object().unwrap() {
        claims[name] = value.clone();
    }
    let header = json!({ "alg": "ES256", "typ": "at+jwt", "kid": "k1" });
    sign(&key(1), &header, &claims)
}

pub fn token(exp: u64) -> String {
    token_with(exp, json!({}))
}

/// A gateway (on Spin: a new instance), with issuer fields and top-level fields added.
pub fn gateway(issuer_extra: Value, extra: Value) -> Gateway {
    let mut config = json!({
        "origin": "http://origin.test:8080",
        "routes": [{ "path": "/api/*" }],
        "issuers": [{
            "issuer": ISS, "audiences": ["https://api.test"], "algorithms": ["ES256"],
            "leeway_seconds": LEEWAY,
            "jwks": { "keys": [{ "kid": "k1", "use": "sig", "kty": "EC", "crv": "P-256",
                "x": jwk(&key(1))["x"], "y": jwk(&key(1))["y"] }] },
        }],
    });
    for (name, value) in issuer_extra.as_object().unwrap() {
        config["issuers"][0][name] = value.clone();
    }
    for (name, value) in extra.as_object().unwrap() {
        config[name] = value.clone();
    }
    Gateway::with_trust_anchors(Some(&config.to_string()), &|_| None, "test", &[])
}

pub fn request(headers: &[(&str, &str)]) -> Request {
    super::get(API, headers)
}

pub fn bearer_via(gw: &Gateway, fake: &FakePlatform<Counting>, token: &str) -> Result<(), String> {
    let authorization = format!("Bearer {token}");
    outcome(block_on(
        gw.handle(fake, &request(&[("authorization", &authorization)])),
    ))
}

/// `Ok` when forwarded, else the error code.
pub fn outcome(outcome: Outcome) -> Result<(), String> {
    match outcome {
        Outcome::Forward(_) => Ok(()),
        Outcome::Respond(r) => {
            let body: Value = serde_json::from_slice(&r.body).unwrap();
            Err(body["code"].as_str().unwrap_or_default().to_owned())
        }
        other => panic!("unexpected {other:?}"),
    }
}
