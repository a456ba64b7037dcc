//! The verified-token cache through `Gateway::handle`: what a hit skips (the signature check) and
//! what it never skips (expiry at the current time, another token's signature, DPoP proofs, the
//! certificate binding).

mod common;

use base64ct::{Base64UrlUnpadded, Encoding};
use common::fake::FakePlatform;
use common::token_cache::*;
use common::{block_on, p256_jwk as jwk, p256_key as key, sign_es256 as sign, Counting};
use edgeward::internal::dpop::access_token_hash;
use edgeward::jwk::Jwk;
use edgeward::Gateway;
use serde_json::{json, Value};

fn gateway_with(extra: Value) -> Gateway {
    gateway(json!({}), extra)
}

fn bearer(gw: &Gateway, fake: &FakePlatform<Counting>, token: &str) -> Result<(), String> {
    bearer_via(gw, fake, token)
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
    fake.now
        .set(NOW + edgeward::internal::token_cache::MAX_ENTRY_AGE + 1);
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
