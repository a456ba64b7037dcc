//! The verified-token cache's shared tier through `Gateway::handle`, as on Spin: every request a
//! fresh gateway (instance), one store shared by all. What a hit skips (decoding, key source,
//! signature) and what it never skips (the time checks at the current time, DPoP proofs), and that
//! whatever is not exactly a stored verification is a miss.

mod common;

use common::fake::{FakePlatform, SharedCache};
use common::token_cache::*;
use common::{block_on, p256_jwk as jwk, p256_key as key, sign_es256 as sign, Counting};
use edgeward::internal::dpop::access_token_hash;
use edgeward::jwk::Jwk;
use serde_json::json;

/// A host like Spin: a fresh instance per request (unless `instance_per_request` is turned off,
/// like Workers) and a shared store that keeps what it is given and, unlike the real one, ignores
/// expiry, so the core's own checks are what is tested.
fn platform() -> FakePlatform<Counting> {
    FakePlatform {
        instance_per_request: true,
        ..FakePlatform::counting(NOW).sharing(&SharedCache::default())
    }
}

/// Rewrites every stored value.
fn tamper(fake: &FakePlatform<Counting>, change: impl Fn(&str) -> String) {
    for (value, _) in fake.cache.borrow_mut().values_mut() {
        *value = change(std::str::from_utf8(value).unwrap()).into_bytes();
    }
}

/// One request in a fresh instance with the default configuration.
fn bearer(fake: &FakePlatform<Counting>, token: &str) -> Result<(), String> {
    bearer_via(&gateway(json!({}), json!({})), fake, token)
}

#[test]
fn a_fresh_instance_reuses_a_verification_from_the_store() {
    let fake = platform();
    let t = token(NOW + 3600);
    assert_eq!(bearer(&fake, &t), Ok(()));
    assert_eq!(fake.checks(), 1);
    {
        let store = fake.cache.borrow();
        assert_eq!(store.len(), 1);
        let (name, (value, expires)) = store.iter().next().unwrap();
        assert!(name.starts_with("edgeward/token/"), "{name}");
        let max_age = edgeward::internal::token_cache::MAX_ENTRY_AGE;
        assert_eq!(*expires, NOW + max_age);
        let (_, signature) = t.rsplit_once('.').unwrap();
        let value = std::str::from_utf8(value).unwrap();
        assert!(!name.contains(signature) && !value.contains(signature) && !value.contains(&t));
    }
    for _ in 0..3 {
        assert_eq!(bearer(&fake, &t), Ok(()));
    }
    assert_eq!(fake.checks(), 1, "served from the store");
    // Another token is verified in full.
    assert_eq!(bearer(&fake, &token(NOW + 3599)), Ok(()));
    assert_eq!(fake.checks(), 2);
}

#[test]
fn an_entry_lives_until_the_token_expires_and_the_time_checks_run_at_every_hit() {
    let fake = platform();
    let exp = NOW + 120;
    let t = token(exp);
    assert_eq!(bearer(&fake, &t), Ok(()));
    assert_eq!(
        fake.cache.borrow().values().next().unwrap().1,
        exp,
        "expires with the token"
    );
    // Past the entry's own window (exp), the token is verified again: inside the leeway it passes.
    fake.now.set(exp + LEEWAY);
    assert_eq!(bearer(&fake, &t), Ok(()));
    assert_eq!(fake.checks(), 2);
    fake.now.set(exp + LEEWAY + 1);
    assert_eq!(bearer(&fake, &t), Err("ERR_JWT_EXPIRED".into()));
    // An entry that claims a longer life (a store that lies) still fails the time checks.
    fake.now.set(NOW);
    fake.cache.borrow_mut().clear();
    assert_eq!(bearer(&fake, &t), Ok(()));
    let checks = fake.checks();
    tamper(&fake, |v| {
        v.replace(&format!("\"until\":{exp}"), "\"until\":99999999999")
    });
    fake.now.set(exp + LEEWAY + 1);
    assert_eq!(bearer(&fake, &t), Err("ERR_JWT_EXPIRED".into()));
    assert_eq!(fake.checks(), checks, "rejected by the hit's time checks");
}

#[test]
fn a_maximum_age_is_enforced_on_a_hit() {
    let fake = platform();
    let max_age = json!({ "max_age_seconds": 10 });
    let t = token(NOW + 3600);
    assert_eq!(
        bearer_via(&gateway(max_age.clone(), json!({})), &fake, &t),
        Ok(())
    );
    fake.now.set(NOW + LEEWAY + 1); // iat (NOW - 10) + 10 + leeway has passed
    assert_eq!(
        bearer_via(&gateway(max_age, json!({})), &fake, &t),
        Err("ERR_JWT_TOO_OLD".into())
    );
    assert_eq!(
        fake.checks(),
        1,
        "the entry was found, its times were not good"
    );
}

#[test]
fn a_broken_or_foreign_entry_is_a_miss_never_an_accept() {
    let fake = platform();
    let t = token(NOW + 3600);
    assert_eq!(bearer(&fake, &t), Ok(()));
    tamper(&fake, |_| "not json".into());
    assert_eq!(bearer(&fake, &t), Ok(()));
    assert_eq!(fake.checks(), 2, "verified in full");
    // The full verification wrote a good entry again; one naming another issuer is a miss.
    tamper(&fake, |v| v.replace(ISS, "https://evil.test"));
    assert_eq!(bearer(&fake, &t), Ok(()));
    assert_eq!(fake.checks(), 3);
    tamper(&fake, |v| v.replace("\"issuer\":0", "\"issuer\":1"));
    assert_eq!(bearer(&fake, &t), Ok(()));
    assert_eq!(fake.checks(), 4);
    // The same header and claims signed by another key are another token: verified, refused.
    let claims = json!({
        "iss": ISS, "aud": "https://api.test", "sub": "alice", "exp": NOW + 3600, "iat": NOW - 10,
    });
    let forged = sign(
        &key(9),
        &json!({ "alg": "ES256", "typ": "at+jwt", "kid": "k1" }),
        &claims,
    );
    assert_eq!(
        forged.rsplit_once('.').unwrap().0,
        t.rsplit_once('.').unwrap().0
    );
    assert_eq!(
        bearer(&fake, &forged),
        Err("ERR_JWS_SIGNATURE_INVALID".into())
    );
    assert_eq!(fake.checks(), 5);
}

#[test]
fn an_entry_is_bound_to_the_configuration_that_verified_it() {
    let fake = platform();
    let t = token(NOW + 3600);
    assert_eq!(bearer(&fake, &t), Ok(()));
    // Same store, another audience: the entry is not found, and the token does not pass.
    let other = gateway(json!({ "audiences": ["https://other.test"] }), json!({}));
    assert_eq!(
        bearer_via(&other, &fake, &t),
        Err("ERR_JWT_AUDIENCE_MISMATCH".into())
    );
    assert_eq!(fake.checks(), 2);
    assert_eq!(fake.cache.borrow().len(), 1);
}

#[test]
fn the_shared_tier_follows_the_configuration_and_the_platform() {
    let t = token(NOW + 3600);
    let off = json!({ "token_cache_shared": "off" });
    let fake = platform();
    assert_eq!(
        bearer_via(&gateway(json!({}), off.clone()), &fake, &t),
        Ok(())
    );
    assert_eq!(bearer_via(&gateway(json!({}), off), &fake, &t), Ok(()));
    assert_eq!((fake.checks(), fake.cache_gets.get()), (2, 0));
    assert!(fake.cache.borrow().is_empty());
    // Auto on a platform whose isolates live across requests (Workers): per isolate only.
    let fake = FakePlatform {
        instance_per_request: false,
        ..platform()
    };
    assert_eq!(bearer(&fake, &t), Ok(()));
    assert_eq!((fake.cache_gets.get(), fake.cache.borrow().len()), (0, 0));
    // "on" uses the shared tier there too.
    let on = json!({ "token_cache_shared": "on" });
    assert_eq!(
        bearer_via(&gateway(json!({}), on.clone()), &fake, &t),
        Ok(())
    );
    assert_eq!(bearer_via(&gateway(json!({}), on), &fake, &t), Ok(()));
    assert_eq!((fake.checks(), fake.cache.borrow().len()), (2, 1));
    let bad = gateway(json!({}), json!({ "token_cache_shared": "always" }));
    assert_eq!(
        bearer_via(&bad, &fake, &t),
        Err("ERR_CONFIG_INVALID".into())
    );
}

#[test]
fn every_dpop_proof_is_still_checked_on_a_hit() {
    let fake = platform();
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
        let gw = gateway(json!({}), json!({}));
        outcome(block_on(gw.handle(&fake, &request(&headers))))
    };
    assert_eq!(run(Some(&proof(2, "j1"))), Ok(()));
    assert_eq!(fake.checks(), 2, "token and proof");
    assert_eq!(run(Some(&proof(2, "j2"))), Ok(()));
    assert_eq!(
        fake.checks(),
        3,
        "the token from the store, the proof checked"
    );
    assert_eq!(run(None), Err("ERR_DPOP_PROOF_MISSING".into()));
    assert_eq!(
        run(Some(&proof(3, "j3"))),
        Err("ERR_DPOP_JKT_MISMATCH".into()),
        "a proof by another key"
    );
    assert_eq!(fake.checks(), 4, "the mismatching proof's signature");
    assert_eq!(
        bearer(&fake, &t),
        Err("ERR_DPOP_BOUND_TOKEN_AS_BEARER".into())
    );
}
