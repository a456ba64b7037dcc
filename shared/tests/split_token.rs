//! The split-token pattern through the pipeline: a signed warm-up push publishes `header.payload`
//! under the hash of the signature part; a client presenting only the signature part is verified
//! like any JWT and the origin gets the full JWT. Unknown, tampered and expired → 401.

mod common;

use base64ct::{Base64UrlUnpadded, Encoding};
use common::block_on;
use common::fake::{FakePlatform, SharedCache};
use common::{p256_jwk, p256_key, sign_es256};
use edgeward::crypto::SignatureVerifier;
use edgeward::{Gateway, Headers, Outcome, Request};
use serde_json::{json, Value};
use sha2::Digest;

const NOW: u64 = 1_800_000_000;
const ISS: &str = "https://issuer.test";
const PUBLISHER: &str = "https://publisher.test";

fn jwt(sub: &str, exp: u64) -> String {
    let claims =
        json!({ "iss": ISS, "aud": "https://api.test", "sub": sub, "exp": exp, "iat": NOW - 10 });
    sign_es256(
        &p256_key(1),
        &json!({ "alg": "ES256", "kid": "k1" }),
        &claims,
    )
}

fn key_set(seed: u8, kid: &str) -> Value {
    let jwk = p256_jwk(&p256_key(seed));
    json!({ "keys": [{ "kid": kid, "kty": "EC", "crv": "P-256", "x": jwk["x"], "y": jwk["y"] }] })
}

fn config(split: Value) -> String {
    let mut config = json!({
        "origin": "http://origin.test",
        "routes": [{ "path": "/api/*" }],
        "issuers": [
            { "issuer": ISS, "audiences": ["https://api.test"], "jwks": key_set(1, "k1") },
            { "issuer": PUBLISHER, "audiences": ["unused"], "jwks": key_set(2, "p1") },
        ],
        "forwarding": { "claim_headers": { "sub": "x-edgeward-sub" } },
    });
    if !split.is_null() {
        config["split_token"] = split;
    }
    config.to_string()
}

fn gateway() -> Gateway {
    let config = config(json!({ "publisher": PUBLISHER, "audience": "edgeward-gw" }));
    Gateway::with_trust_anchors(Some(&config), &|_| None, "test", &[])
}

fn parts(jwt: &str) -> (String, String) {
    let (header_payload, signature) = jwt.rsplit_once('.').unwrap();
    (header_payload.to_owned(), signature.to_owned())
}

fn hash(signature: &str) -> String {
    Base64UrlUnpadded::encode_string(&sha2::Sha256::digest(signature.as_bytes()))
}

/// A push signed by the publisher (key 2) with `entries`.
fn push(entries: Value, seed: u8) -> Vec<u8> {
    let claims = json!({ "iss": PUBLISHER, "aud": "edgeward-gw", "iat": NOW, "entries": entries });
    let header = json!({ "alg": "ES256", "kid": "p1", "typ": "edgeward-warmup+jwt" });
    sign_es256(&p256_key(seed), &header, &claims).into_bytes()
}

fn entry(header_payload: &str, signature: &str) -> Value {
    json!({ "signature_hash": hash(signature), "header_payload": header_payload })
}

fn warm_request() -> Request {
    Request {
        method: "POST".into(),
        url: "https://gw.test/.well-known/edgeward/introspection/warm".into(),
        headers: Headers::new(),
        client_cert: None,
    }
}

fn request(credential: &str) -> Request {
    let mut headers = Headers::new();
    headers.append("authorization", &format!("Bearer {credential}"));
    Request {
        method: "GET".into(),
        url: "https://gw.test/api/orders".into(),
        headers,
        client_cert: None,
    }
}

fn platform(shared: &SharedCache) -> FakePlatform {
    FakePlatform::new(NOW).sharing(shared)
}

/// Pushes `entries`; returns the status and body.
fn publish<V: SignatureVerifier>(
    gw: &Gateway,
    fake: &FakePlatform<V>,
    body: &[u8],
) -> (u16, Value) {
    assert!(matches!(
        block_on(gw.handle(fake, &warm_request())),
        Outcome::ReadBody { .. }
    ));
    let answer = block_on(gw.handle_body(fake, &warm_request(), body));
    let json = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
    (answer.status, json)
}

/// The status and, when forwarded, the `authorization` and `x-edgeward-sub` the origin gets; when
/// refused, the code.
fn call<V: SignatureVerifier>(
    gw: &Gateway,
    fake: &FakePlatform<V>,
    credential: &str,
) -> (u16, String, String) {
    match block_on(gw.handle(fake, &request(credential))) {
        Outcome::Forward(f) => {
            let get = |n| f.headers.get_single(n).unwrap().unwrap_or("").to_owned();
            (200, get("authorization"), get("x-edgeward-sub"))
        }
        Outcome::Respond(r) => {
            let body: Value = serde_json::from_slice(&r.body).unwrap();
            (
                r.status,
                body["code"].as_str().unwrap().to_owned(),
                String::new(),
            )
        }
        Outcome::ReadBody { .. } => panic!("unexpected"),
    }
}

#[test]
fn a_published_split_token_is_reassembled_verified_and_forwarded_whole() {
    let shared = SharedCache::default();
    let token = jwt("alice", NOW + 600);
    let (header_payload, signature) = parts(&token);
    let publisher = platform(&shared);
    let (status, body) = publish(
        &gateway(),
        &publisher,
        &push(json!([entry(&header_payload, &signature)]), 2),
    );
    assert_eq!((status, body), (200, json!({ "stored": 1 })));
    let stored = shared.borrow();
    let (key, (value, expires)) = stored.iter().next().unwrap();
    assert_eq!(key, &format!("edgeward/split/{}", hash(&signature)));
    assert_eq!(
        (value.as_slice(), *expires),
        (header_payload.as_bytes(), NOW + 600)
    );
    drop(stored);
    // Another isolate, holding only the signature part.
    let user = platform(&shared);
    let (status, authorization, sub) = call(&gateway(), &user, &signature);
    assert_eq!(status, 200, "{authorization}");
    assert_eq!(authorization, format!("Bearer {token}"));
    assert_eq!(sub, "alice");
    assert_eq!(user.fetches.get(), 0);
}

#[test]
fn an_isolate_keeps_entries_for_isolate_ttl_so_deleting_the_shared_entry_revokes_within_it() {
    let shared = SharedCache::default();
    let fake = platform(&shared);
    let gw = gateway();
    let (hp, sig) = parts(&jwt("alice", NOW + 600));
    assert_eq!(
        publish(&gw, &fake, &push(json!([entry(&hp, &sig)]), 2)).0,
        200
    );
    let gets = fake.cache_gets.get();
    assert_eq!(call(&gw, &fake, &sig).0, 200);
    assert_eq!(
        fake.cache_gets.get(),
        gets,
        "the pushing isolate needs no shared-tier call"
    );
    // Revocation: the entry is deleted from the shared tier.
    shared.borrow_mut().clear();
    fake.advance(59);
    assert_eq!(
        call(&gw, &fake, &sig).0,
        200,
        "this isolate's copy, within isolate_ttl"
    );
    fake.advance(1);
    assert_eq!(call(&gw, &fake, &sig).1, "ERR_TOKEN_INACTIVE");
}

#[test]
fn unknown_tampered_and_expired_split_tokens_are_401() {
    let shared = SharedCache::default();
    let fake = platform(&shared);
    let gw = gateway();
    let alice = jwt("alice", NOW + 600);
    let mallory = jwt("mallory", NOW + 600);
    let short = jwt("bob", NOW + 5);
    let (alice_hp, alice_sig) = parts(&alice);
    let (mallory_hp, _) = parts(&mallory);
    let (short_hp, short_sig) = parts(&short);
    // Mallory's header.payload published under Alice's signature: the reassembled JWS is forged.
    let entries = json!([entry(&mallory_hp, &alice_sig), entry(&short_hp, &short_sig)]);
    assert_eq!(publish(&gw, &fake, &push(entries, 2)).0, 200);
    assert_eq!(call(&gw, &fake, &alice_sig).1, "ERR_JWS_SIGNATURE_INVALID");
    assert_eq!(call(&gw, &fake, &alice_sig).0, 401);
    // Never published.
    let (_, never) = parts(&jwt("carol", NOW + 600));
    assert_eq!(call(&gw, &fake, &never).1, "ERR_TOKEN_INACTIVE");
    // A signature part with one character changed is another (unknown) name.
    let mut flipped = short_sig.clone().into_bytes();
    flipped[3] = if flipped[3] == b'A' { b'B' } else { b'A' };
    assert_eq!(
        call(&gw, &fake, &String::from_utf8(flipped).unwrap()).0,
        401
    );
    // Past exp the entry is gone: the isolate's copy ends at exp, and the gateway holds what the
    // shared tier returns to the payload's exp too (this fake store never expires anything).
    assert_eq!(call(&gw, &fake, &short_sig).0, 200);
    fake.advance(5);
    assert_eq!(call(&gw, &fake, &short_sig).1, "ERR_TOKEN_INACTIVE");
    // A push of an already expired entry stores nothing.
    let fresh = platform(&SharedCache::default());
    let (old_hp, old_sig) = parts(&jwt("dave", NOW));
    let entries = json!([entry(&old_hp, &old_sig), entry(&alice_hp, &alice_sig)]);
    assert_eq!(
        publish(&gw, &fresh, &push(entries, 2)),
        (200, json!({ "stored": 1 }))
    );
}

#[test]
fn split_pushes_must_be_authentic_and_enabled() {
    let shared = SharedCache::default();
    let fake = platform(&shared);
    let (hp, sig) = parts(&jwt("alice", NOW + 600));
    let entries = json!([entry(&hp, &sig)]);
    // Signed by another key than the publisher's.
    assert_eq!(publish(&gateway(), &fake, &push(entries.clone(), 3)).0, 401);
    assert!(shared.borrow().is_empty());
    // A header.payload that is not two segments.
    let bad = json!([{ "signature_hash": hash(&sig), "header_payload": "only-one-segment" }]);
    assert_eq!(publish(&gateway(), &fake, &push(bad, 2)).0, 400);
    // Without split_token the endpoint does not exist, and the credential is just malformed.
    let plain = Gateway::with_trust_anchors(Some(&config(Value::Null)), &|_| None, "test", &[]);
    let answer = block_on(plain.handle(&fake, &warm_request()));
    assert!(matches!(answer, Outcome::Respond(r) if r.status == 404));
    assert_eq!(call(&plain, &fake, &sig).1, "ERR_JWS_MALFORMED");
    // Without a shared tier split tokens cannot resolve anywhere: 503, not a pass or a 401.
    let alone = FakePlatform::new(NOW);
    assert_eq!(call(&gateway(), &alone, &sig).0, 503);
}

#[test]
fn the_publisher_must_be_a_configured_issuer() {
    let config = config(json!({ "publisher": "https://nobody.test", "audience": "gw" }));
    let gw = Gateway::with_trust_anchors(Some(&config), &|_| None, "test", &[]);
    match block_on(gw.handle(&FakePlatform::new(NOW), &request("x"))) {
        Outcome::Respond(r) => {
            let body: Value = serde_json::from_slice(&r.body).unwrap();
            assert_eq!(
                (r.status, body["field"].as_str()),
                (500, Some("split_token.publisher"))
            );
        }
        _ => panic!("expected 500"),
    }
}

#[test]
fn a_dpop_bound_split_token_needs_a_proof_over_the_signature_part_the_client_sent() {
    use edgeward::internal::dpop::access_token_hash;
    let holder = p256_key(5);
    let jkt = edgeward::jwk::Jwk::parse(p256_jwk(&holder).to_string().as_bytes())
        .unwrap()
        .thumbprint_sha256();
    let claims = json!({ "iss": ISS, "aud": "https://api.test", "sub": "alice", "exp": NOW + 600,
        "iat": NOW - 10, "cnf": { "jkt": jkt } });
    let token = sign_es256(
        &p256_key(1),
        &json!({ "alg": "ES256", "kid": "k1" }),
        &claims,
    );
    let (hp, sig) = parts(&token);
    let shared = SharedCache::default();
    let fake = platform(&shared);
    let gw = gateway();
    assert_eq!(
        publish(&gw, &fake, &push(json!([entry(&hp, &sig)]), 2)).0,
        200
    );
    let dpop_call = |ath_over: &str, jti: &str| {
        let proof_claims = json!({ "jti": jti, "htm": "GET", "htu": "https://gw.test/api/orders",
            "iat": NOW, "ath": access_token_hash(ath_over) });
        let header = json!({ "typ": "dpop+jwt", "alg": "ES256", "jwk": p256_jwk(&holder) });
        let proof = sign_es256(&holder, &header, &proof_claims);
        let mut req = request("unused");
        req.headers.set("authorization", &format!("DPoP {sig}"));
        req.headers.append("dpop", &proof);
        block_on(gw.handle(&fake, &req))
    };
    match dpop_call(&sig, "j1") {
        Outcome::Forward(f) => assert_eq!(
            f.headers.get_single("authorization").unwrap(),
            Some(format!("Bearer {token}").as_str())
        ),
        Outcome::Respond(r) => panic!("{}: {}", r.status, String::from_utf8_lossy(&r.body)),
        Outcome::ReadBody { .. } => panic!("unexpected"),
    }
    match dpop_call(&token, "j2") {
        Outcome::Respond(r) => {
            let body: Value = serde_json::from_slice(&r.body).unwrap();
            assert_eq!(
                (r.status, body["code"].as_str()),
                (401, Some("ERR_DPOP_ATH_MISMATCH"))
            );
        }
        _ => panic!("a proof over the whole JWT is not over what the client sent"),
    }
    // Bearer is a downgrade of a bound token, split or not.
    assert_eq!(call(&gw, &fake, &sig).1, "ERR_DPOP_BOUND_TOKEN_AS_BEARER");
}

/// Issue #18: a split token's hit is served from the verified-token cache by the hash of the
/// credential (no shared-tier read, no signature check), and that entry never outlives the
/// isolate's copy of the published entry: with no copies (`cache_entries: 0`) every request reads
/// the shared tier, and deleting the entry revokes the token at the next request.
#[test]
fn a_hit_is_served_by_the_hash_and_never_outlives_the_isolate_copy() {
    let shared = SharedCache::default();
    let fake = FakePlatform::counting(NOW).sharing(&shared);
    let gw = gateway();
    let (hp, sig) = parts(&jwt("alice", NOW + 600));
    assert_eq!(
        publish(&gw, &fake, &push(json!([entry(&hp, &sig)]), 2)).0,
        200
    );
    assert_eq!(call(&gw, &fake, &sig).0, 200);
    let (checks, gets) = (fake.checks(), fake.cache_gets.get());
    for _ in 0..3 {
        assert_eq!(call(&gw, &fake, &sig).0, 200);
    }
    assert_eq!((fake.checks(), fake.cache_gets.get()), (checks, gets));

    let no_copies = config(json!({ "publisher": PUBLISHER, "audience": "edgeward-gw",
        "cache_entries": 0 }));
    let gw = Gateway::with_trust_anchors(Some(&no_copies), &|_| None, "test", &[]);
    let (hp, sig) = parts(&jwt("bob", NOW + 600));
    assert_eq!(
        publish(&gw, &fake, &push(json!([entry(&hp, &sig)]), 2)).0,
        200
    );
    for _ in 0..2 {
        let gets = fake.cache_gets.get();
        assert_eq!(call(&gw, &fake, &sig).0, 200);
        assert_eq!(fake.cache_gets.get(), gets + 1, "read from the shared tier");
    }
    shared.borrow_mut().clear();
    assert_eq!(call(&gw, &fake, &sig).1, "ERR_TOKEN_INACTIVE");
}
