//! The verified-token cache through `Gateway::handle`: what a hit skips (the signature check) and
//! what it never skips (expiry at the current time, another token's signature, DPoP proofs, the
//! certificate binding).

mod common;

use base64ct::{Base64UrlUnpadded, Encoding};
use common::fake::FakePlatform;
use common::{block_on, p256_jwk as jwk, p256_key as key, sign_es256 as sign, Counting};
use edgeward::dpop::access_token_hash;
use edgeward::jwk::Jwk;
use edgeward::{Gateway, Outcome, Request};
use serde_json::{json, Value};

const NOW: u64 = 1_800_000_000;
const ISS: &str = "https://issuer.test";
const API: &str = "https://gw.test/api/orders";
const LEEWAY: u64 = 60;

/// A token of the issuer (key 1) expiring at `exp`, with extra claims.
fn token_with(exp: u64, extra: Value) -> String {
    let mut claims = json!({
        "iss": ISS, "aud": "https://api.test", "sub": "alice", "exp": exp, "iat": NOW - 10,
    });
    for (name, value) in extra.as_object().unwrap() {
        claims[name] = value.clone();
    }
    let header = json!({ "alg": "ES256", "typ": "at+jwt", "kid": "k1" });
    sign(&key(1), &header, &claims)
}

fn token(exp: u64) -> String {
    token_with(exp, json!({}))
}

fn gateway_with(extra: Value) -> Gateway {
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
    for (name, value) in extra.as_object().unwrap() {
        config[name] = value.clone();
    }
    Gateway::with_trust_anchors(Some(&config.to_string()), &|_| None, "test", &[])
}

fn request(headers: &[(&str, &str)]) -> Request {
    Request {
        method: "GET".into(),
        url: API.into(),
        headers: headers.iter().copied().collect(),
        client_cert: None,
    }
}

fn bearer(gw: &Gateway, fake: &FakePlatform<Counting>, token: &str) -> Result<(), String> {
    let authorization = format!("Bearer {token}");
    outcome(block_on(
        gw.handle(fake, &request(&[("authorization", &authorization)])),
    ))
}

/// `Ok` when forwarded, else the error code.
fn outcome(outcome: Outcome) -> Result<(), String> {
    match outcome {
        Outcome::Forward(_) => Ok(()),
        Outcome::Respond(r) => {
            let body: Value = serde_json::from_slice(&r.body).unwrap();
            Err(body["code"].as_str().unwrap_or_default().to_owned())
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn a_token_seen_before_costs_no_signature_check() {
    let gw = gateway_with(json!({}));
    let fake = FakePlatform::counting(NOW);
    let t = token(NOW + 3600);
    assert_eq!(bearer(&gw, &fake, &t), Ok(()));
    assert_eq!(fake.checks(), 1);
    for _ in 0..3 {
        assert_eq!(bearer(&gw, &fake, &t), Ok(()));
    }
    assert_eq!(fake.checks(), 1, "served from the cache");
}

#[test]
fn expiry_is_checked_at_every_hit_with_the_leeway() {
    let gw = gateway_with(json!({}));
    let fake = FakePlatform::counting(NOW);
    let exp = NOW + 120;
    let t = token(exp);
    assert_eq!(bearer(&gw, &fake, &t), Ok(()));
    fake.now.set(exp + LEEWAY);
    assert_eq!(bearer(&gw, &fake, &t), Ok(()), "inside the leeway");
    assert_eq!(fake.checks(), 1);
    fake.now.set(exp + LEEWAY + 1);
    assert_eq!(bearer(&gw, &fake, &t), Err("ERR_JWT_EXPIRED".into()));
    assert_eq!(bearer(&gw, &fake, &t), Err("ERR_JWT_EXPIRED".into()));
}

#[test]
fn the_same_claims_with_a_bad_signature_are_not_a_hit() {
    let gw = gateway_with(json!({}));
    let fake = FakePlatform::counting(NOW);
    let t = token(NOW + 3600);
    assert_eq!(bearer(&gw, &fake, &t), Ok(()));
    // Same header and claims, signed by another key: verified, and refused.
    let (input, _) = t.rsplit_once('.').unwrap();
    let header = json!({ "alg": "ES256", "typ": "at+jwt", "kid": "k1" });
    let claims: Value = serde_json::from_slice(
        &Base64UrlUnpadded::decode_vec(input.split('.').nth(1).unwrap()).unwrap(),
    )
    .unwrap();
    let forged = sign(&key(9), &header, &claims);
    assert_eq!(forged.rsplit_once('.').unwrap().0, input);
    assert_eq!(
        bearer(&gw, &fake, &forged),
        Err("ERR_JWS_SIGNATURE_INVALID".into())
    );
    assert_eq!(fake.checks(), 2);
    // A rejected token never enters: it is checked again each time.
    assert_eq!(
        bearer(&gw, &fake, &forged),
        Err("ERR_JWS_SIGNATURE_INVALID".into())
    );
    assert_eq!(fake.checks(), 3);
    // The good one is still a hit.
    assert_eq!(bearer(&gw, &fake, &t), Ok(()));
    assert_eq!(fake.checks(), 3);
}

#[test]
fn entries_are_reverified_after_their_maximum_age() {
    let gw = gateway_with(json!({}));
    let fake = FakePlatform::counting(NOW);
    let t = token(NOW + 7200);
    assert_eq!(bearer(&gw, &fake, &t), Ok(()));
    fake.now.set(NOW + edgeward::token_cache::MAX_ENTRY_AGE + 1);
    assert_eq!(bearer(&gw, &fake, &t), Ok(()));
    assert_eq!(fake.checks(), 2, "verified again");
}

#[test]
fn a_zero_capacity_turns_the_cache_off() {
    let gw = gateway_with(json!({ "token_cache_entries": 0 }));
    let fake = FakePlatform::counting(NOW);
    let t = token(NOW + 3600);
    assert_eq!(bearer(&gw, &fake, &t), Ok(()));
    assert_eq!(bearer(&gw, &fake, &t), Ok(()));
    assert_eq!(fake.checks(), 2);
    let too_big = gateway_with(json!({ "token_cache_entries": 100_001 }));
    assert_eq!(
        bearer(&too_big, &fake, &t),
        Err("ERR_CONFIG_INVALID".into())
    );
}

#[test]
fn every_dpop_proof_is_still_checked_on_a_hit() {
    let gw = gateway_with(json!({}));
    let fake = FakePlatform::counting(NOW);
    let thumbprint = Jwk::parse(jwk(&key(2)).to_string().as_bytes())
        .unwrap()
        .thumbprint_sha256();
    let t = token_with(NOW + 3600, json!({ "cnf": { "jkt": thumbprint } }));
    let proof = |seed: u8, jti: &str| {
        let header = json!({ "typ": "dpop+jwt", "alg": "ES256", "jwk": jwk(&key(seed)) });
        let claims = json!({
            "jti": jti, "htm": "GET", "htu": API, "iat": NOW, "ath": access_token_hash(&t),
        });
        sign(&key(seed), &header, &claims)
    };
    let authorization = format!("DPoP {t}");
    let run = |proof: Option<&str>| {
        let mut headers = vec![("authorization", authorization.as_str())];
        headers.extend(proof.map(|p| ("dpop", p)));
        outcome(block_on(gw.handle(&fake, &request(&headers))))
    };
    let first = proof(2, "j1");
    assert_eq!(run(Some(&first)), Ok(()));
    assert_eq!(fake.checks(), 2, "token and proof");
    assert_eq!(run(Some(&proof(2, "j2"))), Ok(()));
    assert_eq!(
        fake.checks(),
        3,
        "the token from the cache, the proof checked"
    );
    assert_eq!(run(None), Err("ERR_DPOP_PROOF_MISSING".into()));
    assert_eq!(run(Some(&first)), Err("ERR_DPOP_REPLAYED".into()));
    assert_eq!(
        run(Some(&proof(3, "j3"))),
        Err("ERR_DPOP_JKT_MISMATCH".into()),
        "a proof by another key"
    );
    // Presented as a bearer token, the bound token is refused whether cached or not.
    assert_eq!(
        bearer(&gw, &fake, &t),
        Err("ERR_DPOP_BOUND_TOKEN_AS_BEARER".into())
    );
}
