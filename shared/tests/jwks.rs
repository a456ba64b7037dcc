//! RemoteJwks behaviour against a fake platform: caching, refresh budget, rotation, staleness,
//! fail-closed, single flight, x5c consistency.

mod common;

use base64ct::{Base64, Base64UrlUnpadded, Encoding};
use common::fake::{FakePlatform, Random};
use edgeward::crypto::PublicKey;
use edgeward::error::{Error, TokenFault};
use edgeward::internal::jwks::{InlineJwks, JwksPolicy, RemoteJwks};
use edgeward::jwk::JwkSet;
use edgeward::jws::Alg;
use edgeward::platform::{FetchError, FetchResponse, LogLevel, Platform};
use futures_executor::block_on;
use futures_util::future::join_all;

/// A clock at 1 000 000 s, a fetch that answers `Unreachable` until told otherwise.
fn platform() -> FakePlatform {
    FakePlatform {
        random: Random::Fill(4),
        ..FakePlatform::new(1_000_000)
    }
}

/// Every fetch answers 200 with `doc` and the given Cache-Control (if any).
fn serve(p: &FakePlatform, doc: String, cache_control: Option<&str>) {
    let headers: Vec<(String, String)> = cache_control
        .map(|cc| vec![("cache-control".to_owned(), cc.to_owned())])
        .unwrap_or_default();
    p.serve(FetchResponse {
        status: 200,
        headers,
        body: doc.into_bytes(),
    });
}

const URI: &str = "https://idp.example/.well-known/jwks.json?tenant=t1";

/// The P-256 test key number `n` as (uncompressed point, JWK members without the closing brace).
fn p256_key(n: u8) -> (Vec<u8>, String) {
    let sk = p256::ecdsa::SigningKey::from_slice(&[n; 32]).unwrap();
    let point = sk
        .verifying_key()
        .to_encoded_point(false)
        .as_bytes()
        .to_vec();
    let members = format!(
        r#"{{"kty":"EC","crv":"P-256","x":"{}","y":"{}""#,
        Base64UrlUnpadded::encode_string(&point[1..33]),
        Base64UrlUnpadded::encode_string(&point[33..65])
    );
    (point, members)
}

fn jwk(n: u8, kid: &str) -> String {
    format!(
        r#"{},"kid":"{kid}","alg":"ES256","use":"sig"}}"#,
        p256_key(n).1
    )
}

fn jwks(keys: &[String]) -> String {
    format!(r#"{{"keys":[{}]}}"#, keys.join(","))
}

fn key_of(n: u8) -> PublicKey {
    PublicKey::P256(p256_key(n).0)
}

fn source() -> RemoteJwks {
    RemoteJwks::new(URI.to_owned(), JwksPolicy::default())
}

fn get(jwks: &RemoteJwks, p: &FakePlatform, kid: &str) -> Result<PublicKey, Error> {
    block_on(jwks.key(p, Some(kid), Alg::ES256, p.now()))
}

const UNKNOWN: Error = Error::InvalidToken(TokenFault::UnknownKey);
const DOWN: Error = Error::UpstreamUnavailable("key source unavailable");

#[test]
fn first_lookup_fetches_then_fresh_cache_costs_nothing() {
    let p = platform();
    serve(&p, jwks(&[jwk(1, "k1")]), Some("max-age=600"));
    let src = source();
    assert_eq!(get(&src, &p, "k1"), Ok(key_of(1)));
    assert_eq!(p.fetches.get(), 1);
    for _ in 0..50 {
        p.advance(10);
        assert_eq!(get(&src, &p, "k1"), Ok(key_of(1)));
    }
    assert_eq!(p.fetches.get(), 1, "500 s < 600 s max-age: no refetch");
    // The request itself.
    let requests = p.requests.borrow();
    let request = &requests[0];
    assert_eq!(request.method, "GET");
    assert_eq!(request.url, URI);
    assert_eq!(
        request.headers,
        [(
            "accept".to_owned(),
            "application/jwk-set+json, application/json".to_owned()
        )]
    );
    assert_eq!(request.timeout_ms, 2000);
    assert_eq!(request.max_body_bytes, edgeward::jwk::MAX_JWKS_BYTES);
    assert!(request.body.is_empty());
}

#[test]
fn key_without_kid_and_alg_filtering() {
    let p = platform();
    serve(&p, jwks(&[jwk(1, "k1")]), None);
    let src = source();
    assert_eq!(
        block_on(src.key(&p, None, Alg::ES256, p.now())),
        Ok(key_of(1))
    );
    // An ES256 key is never handed out for RS256, and no refresh storm follows.
    assert_eq!(
        block_on(src.key(&p, Some("k1"), Alg::RS256, p.now())),
        Err(UNKNOWN)
    );
    assert_eq!(p.fetches.get(), 1, "within the cooldown of the first fetch");
}

/// Fetches needed to see the set change, given a Cache-Control header.
fn lifetime_with(cache_control: Option<&str>) -> u64 {
    let p = platform();
    serve(&p, jwks(&[jwk(1, "k1")]), cache_control);
    let src = source();
    assert_eq!(get(&src, &p, "k1"), Ok(key_of(1)));
    let start = p.now();
    loop {
        p.advance(1);
        get(&src, &p, "k1").unwrap();
        if p.fetches.get() == 2 {
            return p.now() - start;
        }
    }
}

#[test]
fn ttl_from_cache_control_clamped_at_both_ends() {
    assert_eq!(lifetime_with(Some("max-age=600")), 600);
    assert_eq!(lifetime_with(Some("max-age=1")), 60, "min_ttl");
    assert_eq!(lifetime_with(Some("no-store")), 60, "no-store is min_ttl");
    assert_eq!(
        lifetime_with(Some("public, max-age=604800")),
        3600,
        "max_ttl"
    );
    assert_eq!(lifetime_with(None), 300, "default_ttl");
}

#[test]
fn expiry_refetches_and_picks_up_changes() {
    let p = platform();
    serve(&p, jwks(&[jwk(1, "k1")]), Some("max-age=120"));
    let src = source();
    assert_eq!(get(&src, &p, "k1"), Ok(key_of(1)));
    // Same kid, new key material: visible only after expiry.
    serve(&p, jwks(&[jwk(2, "k1")]), Some("max-age=120"));
    p.advance(119);
    assert_eq!(get(&src, &p, "k1"), Ok(key_of(1)));
    p.advance(1);
    assert_eq!(get(&src, &p, "k1"), Ok(key_of(2)));
    assert_eq!(p.fetches.get(), 2);
}

#[test]
fn unknown_kid_refreshes_once_then_is_unknown() {
    let p = platform();
    serve(&p, jwks(&[jwk(1, "k1")]), Some("max-age=3600"));
    let src = source();
    assert_eq!(get(&src, &p, "k1"), Ok(key_of(1)));
    p.advance(31);
    assert_eq!(get(&src, &p, "nope"), Err(UNKNOWN));
    assert_eq!(
        p.fetches.get(),
        2,
        "exactly one refresh for the unknown kid"
    );
    assert_eq!(get(&src, &p, "nope"), Err(UNKNOWN));
    assert_eq!(p.fetches.get(), 2, "no second refresh within the cooldown");
}

#[test]
fn bogus_kid_flood_costs_one_fetch_per_cooldown() {
    let p = platform();
    serve(&p, jwks(&[jwk(1, "k1")]), Some("max-age=3600"));
    let src = source();
    assert_eq!(get(&src, &p, "k1"), Ok(key_of(1)));
    p.advance(60);
    for i in 0..100 {
        assert_eq!(get(&src, &p, &format!("bogus-{i}")), Err(UNKNOWN));
        assert_eq!(get(&src, &p, "k1"), Ok(key_of(1)));
    }
    assert_eq!(p.fetches.get(), 2, "one refresh for the whole flood");
    // The next cooldown window allows exactly one more; a failing refresh keeps the good keys.
    p.fail(FetchError::Timeout);
    p.advance(30);
    for i in 0..100 {
        assert_eq!(get(&src, &p, &format!("bogus-{i}")), Err(UNKNOWN));
        assert_eq!(get(&src, &p, "k1"), Ok(key_of(1)));
    }
    assert_eq!(p.fetches.get(), 3);
    // An empty (or unusable) set is a failure too: never replaces the good keys.
    serve(&p, r#"{"keys":[]}"#.to_owned(), None);
    p.advance(30);
    assert_eq!(get(&src, &p, "bogus"), Err(UNKNOWN));
    assert_eq!(p.fetches.get(), 4);
    assert_eq!(get(&src, &p, "k1"), Ok(key_of(1)));
}

#[test]
fn rotation_new_kid_appears_old_kid_disappears() {
    let p = platform();
    serve(&p, jwks(&[jwk(1, "old")]), Some("max-age=3600"));
    let src = source();
    assert_eq!(get(&src, &p, "old"), Ok(key_of(1)));
    // The issuer publishes the next key and starts signing with it.
    serve(
        &p,
        jwks(&[jwk(1, "old"), jwk(2, "new")]),
        Some("max-age=3600"),
    );
    p.advance(30);
    assert_eq!(get(&src, &p, "new"), Ok(key_of(2)));
    assert_eq!(p.fetches.get(), 2);
    // Then withdraws the old one: gone after the next refresh (here: expiry).
    serve(&p, jwks(&[jwk(2, "new")]), Some("max-age=3600"));
    p.advance(3600);
    assert_eq!(get(&src, &p, "new"), Ok(key_of(2)));
    assert_eq!(get(&src, &p, "old"), Err(UNKNOWN));
    assert_eq!(p.fetches.get(), 3);
}

#[test]
fn endpoint_down_serves_stale_keys_within_max_stale_then_fails_closed() {
    let p = platform();
    serve(&p, jwks(&[jwk(1, "k1")]), Some("max-age=600"));
    let src = source();
    assert_eq!(get(&src, &p, "k1"), Ok(key_of(1)));
    p.fail(FetchError::Unreachable);
    p.advance(600);
    assert_eq!(get(&src, &p, "k1"), Ok(key_of(1)), "stale but served");
    assert_eq!(p.fetches.get(), 2);
    assert_eq!(get(&src, &p, "k1"), Ok(key_of(1)));
    assert_eq!(
        p.fetches.get(),
        2,
        "failed refresh retried only after the cooldown"
    );
    p.advance(30);
    assert_eq!(get(&src, &p, "k1"), Ok(key_of(1)));
    assert_eq!(p.fetches.get(), 3);
    {
        let logs = p.logs.borrow();
        assert!(logs.iter().all(|(level, _)| *level == LogLevel::Warn));
        let (_, message) = logs.last().unwrap();
        assert!(message.contains("serving cached keys"), "{message}");
        assert!(message.contains("https://idp.example/.well-known/jwks.json"));
        assert!(!message.contains("tenant"), "query not logged: {message}");
    }
    // Just before 600 + 6 h the stale keys still serve; at that point they stop.
    let stale_end = 1_000_000 + 600 + 6 * 3600;
    p.now.set(stale_end - 1);
    assert_eq!(get(&src, &p, "k1"), Ok(key_of(1)));
    p.now.set(stale_end);
    assert_eq!(
        get(&src, &p, "k1"),
        Err(DOWN),
        "no fetch (cooldown), too stale"
    );
    let calls = p.fetches.get();
    p.advance(30);
    assert_eq!(get(&src, &p, "k1"), Err(DOWN));
    assert_eq!(p.fetches.get(), calls + 1);
    assert!(p
        .logs
        .borrow()
        .last()
        .unwrap()
        .1
        .contains("too stale, failing closed"));
    // Recovery.
    serve(&p, jwks(&[jwk(1, "k1")]), None);
    p.advance(30);
    assert_eq!(get(&src, &p, "k1"), Ok(key_of(1)));
}

#[test]
fn no_keys_ever_fails_closed() {
    let huge = format!(
        r#"{{"keys":[],"pad":"{}"}}"#,
        "a".repeat(edgeward::jwk::MAX_JWKS_BYTES)
    );
    type Setup = Box<dyn Fn(&FakePlatform)>;
    let cases: Vec<(&str, Setup)> = vec![
        ("unreachable", Box::new(|p| p.fail(FetchError::Unreachable))),
        ("timeout", Box::new(|p| p.fail(FetchError::Timeout))),
        (
            "too large (platform)",
            Box::new(|p| p.fail(FetchError::TooLarge)),
        ),
        (
            "500",
            Box::new(|p| {
                p.respond(|_| {
                    Ok(FetchResponse {
                        status: 500,
                        headers: vec![],
                        body: jwks(&[jwk(1, "k1")]).into_bytes(),
                    })
                })
            }),
        ),
        (
            "garbage",
            Box::new(|p| serve(p, "<html>oops</html>".to_owned(), None)),
        ),
        (
            "duplicate keys member",
            Box::new(|p| serve(p, r#"{"keys":[],"keys":[]}"#.to_owned(), None)),
        ),
        (
            "no usable key",
            Box::new(|p| {
                serve(
                    p,
                    r#"{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}"#.to_owned(),
                    None,
                )
            }),
        ),
        (
            "huge body (platform ignored the bound)",
            Box::new(move |p| serve(p, huge.clone(), None)),
        ),
    ];
    for (name, setup) in cases {
        let p = platform();
        setup(&p);
        let src = source();
        assert_eq!(get(&src, &p, "k1"), Err(DOWN), "{name}");
        assert_eq!(get(&src, &p, "k1"), Err(DOWN), "{name}");
        assert_eq!(
            p.fetches.get(),
            1,
            "{name}: retried only after the cooldown"
        );
        assert_eq!(p.logs.borrow().len(), 1, "{name}");
        assert!(p.logs.borrow()[0].1.contains("no cached keys"), "{name}");
        p.advance(30);
        assert_eq!(get(&src, &p, "k1"), Err(DOWN), "{name}");
        assert_eq!(p.fetches.get(), 2, "{name}");
        let response = DOWN.to_response();
        assert_eq!(response.status, 503);
    }
}

#[test]
fn policy_max_bytes_is_enforced_in_the_core_too() {
    let p = platform();
    serve(&p, jwks(&[jwk(1, "k1")]), None);
    let src = RemoteJwks::new(
        URI.to_owned(),
        JwksPolicy {
            max_bytes: 64,
            ..JwksPolicy::default()
        },
    );
    assert_eq!(get(&src, &p, "k1"), Err(DOWN));
    assert_eq!(p.requests.borrow()[0].max_body_bytes, 64);
}

fn concurrent(
    n: usize,
    kid: &str,
    p: &FakePlatform,
    src: &RemoteJwks,
) -> Vec<Result<PublicKey, Error>> {
    block_on(join_all(
        (0..n).map(|_| src.key(p, Some(kid), Alg::ES256, p.now())),
    ))
}

#[test]
fn single_flight_cold_cache() {
    let mut p = platform();
    p.yield_in_fetch = true;
    serve(&p, jwks(&[jwk(1, "k1")]), None);
    let src = source();
    let results = concurrent(10, "k1", &p, &src);
    assert!(results.iter().all(|r| *r == Ok(key_of(1))), "{results:?}");
    assert_eq!(p.fetches.get(), 1);
}

#[test]
fn single_flight_unknown_kid_and_expiry_and_failure() {
    let mut p = platform();
    p.yield_in_fetch = true;
    serve(&p, jwks(&[jwk(1, "k1")]), Some("max-age=600"));
    let src = source();
    assert_eq!(get(&src, &p, "k1"), Ok(key_of(1)));
    // Ten concurrent tokens with the freshly rotated kid: one refresh serves them all.
    serve(&p, jwks(&[jwk(1, "k1"), jwk(2, "k2")]), Some("max-age=600"));
    p.advance(30);
    let results = concurrent(10, "k2", &p, &src);
    assert!(results.iter().all(|r| *r == Ok(key_of(2))), "{results:?}");
    assert_eq!(p.fetches.get(), 2);
    // Expiry with the endpoint down: one failed fetch, everyone gets the stale key.
    p.fail(FetchError::Timeout);
    p.advance(600);
    let results = concurrent(10, "k1", &p, &src);
    assert!(results.iter().all(|r| *r == Ok(key_of(1))), "{results:?}");
    assert_eq!(p.fetches.get(), 3);
    // Cold cache, endpoint down: one fetch, everyone gets 503.
    let cold = source();
    let results = concurrent(10, "k1", &p, &cold);
    assert!(results.iter().all(|r| *r == Err(DOWN)), "{results:?}");
    assert_eq!(p.fetches.get(), 4);
}

#[test]
fn single_flight_even_without_cooldown() {
    let mut p = platform();
    p.yield_in_fetch = true;
    serve(&p, jwks(&[jwk(1, "k1")]), None);
    let src = RemoteJwks::new(
        URI.to_owned(),
        JwksPolicy {
            refresh_cooldown: 0,
            ..JwksPolicy::default()
        },
    );
    let results = concurrent(10, "missing", &p, &src);
    assert!(results.iter().all(|r| *r == Err(UNKNOWN)), "{results:?}");
    assert_eq!(p.fetches.get(), 1);
}

/// tests/data/x5c/leaf.pem (P-256) as DER and as JWK members.
fn leaf() -> (Vec<u8>, PublicKey, String) {
    let pem = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/x5c/leaf.pem"
    ))
    .unwrap();
    let (_, der) = der::pem::decode_vec(pem.as_bytes()).unwrap();
    let cert = <x509_cert::Certificate as der::Decode>::from_der(&der).unwrap();
    let spki = der::Encode::to_der(&cert.tbs_certificate.subject_public_key_info).unwrap();
    let key = edgeward::x5c::public_key_from_spki(&spki).unwrap();
    let PublicKey::P256(point) = &key else {
        panic!("leaf.pem is P-256")
    };
    let members = format!(
        r#"{{"kty":"EC","crv":"P-256","x":"{}","y":"{}""#,
        Base64UrlUnpadded::encode_string(&point[1..33]),
        Base64UrlUnpadded::encode_string(&point[33..65])
    );
    (der, key, members)
}

#[test]
fn jwk_with_mismatching_x5c_is_skipped() {
    let (der, leaf_key, leaf_members) = leaf();
    let x5c = Base64::encode_string(&der);
    let matching = format!(r#"{leaf_members},"kid":"good","x5c":["{x5c}"]}}"#);
    let mismatching = format!(r#"{},"kid":"bad","x5c":["{x5c}"]}}"#, p256_key(1).1);
    let not_a_cert = format!(
        r#"{},"kid":"junk","x5c":["{}"]}}"#,
        p256_key(2).1,
        Base64::encode_string(b"not a certificate")
    );
    let doc = jwks(&[matching, mismatching, not_a_cert, jwk(3, "plain")]);

    let p = platform();
    serve(&p, doc.clone(), None);
    let src = source();
    assert_eq!(get(&src, &p, "good"), Ok(leaf_key.clone()));
    assert_eq!(get(&src, &p, "bad"), Err(UNKNOWN));
    assert_eq!(get(&src, &p, "junk"), Err(UNKNOWN));
    assert_eq!(get(&src, &p, "plain"), Ok(key_of(3)));

    let inline = InlineJwks::new(JwkSet::parse(doc.as_bytes()).unwrap());
    let kids: Vec<_> = inline
        .keys()
        .keys
        .iter()
        .filter_map(|k| k.kid.as_deref())
        .collect();
    assert_eq!(kids, ["good", "plain"]);

    // A set whose only key has a mismatching x5c is unusable: fail closed.
    let p = platform();
    serve(
        &p,
        jwks(&[format!(
            r#"{},"kid":"bad","x5c":["{x5c}"]}}"#,
            p256_key(1).1
        )]),
        None,
    );
    assert_eq!(get(&source(), &p, "bad"), Err(DOWN));
}

#[test]
fn inline_keys() {
    let set = JwkSet::parse(jwks(&[jwk(1, "a"), jwk(2, "b")]).as_bytes()).unwrap();
    let inline = InlineJwks::new(set);
    assert_eq!(inline.key(Some("b"), Alg::ES256), Ok(key_of(2)));
    assert_eq!(inline.key(None, Alg::ES256), Ok(key_of(1)));
    assert_eq!(inline.key(Some("c"), Alg::ES256), Err(UNKNOWN));
    assert_eq!(inline.key(Some("a"), Alg::EdDSA), Err(UNKNOWN));
}

#[test]
fn returned_key_verifies_a_signature() {
    use p256::ecdsa::signature::Signer;
    let p = platform();
    serve(&p, jwks(&[jwk(7, "k7")]), None);
    let key = get(&source(), &p, "k7").unwrap();
    let sk = p256::ecdsa::SigningKey::from_slice(&[7; 32]).unwrap();
    let sig: p256::ecdsa::Signature = sk.sign(b"header.payload");
    let verdict = block_on(edgeward::crypto::SignatureVerifier::verify(
        p.verifier(),
        Alg::ES256.scheme(),
        &key,
        b"header.payload",
        &sig.to_bytes(),
    ));
    assert_eq!(verdict, Ok(()));
}
