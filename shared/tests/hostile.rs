//! Hostile requests and upstream answers through `Gateway::handle`, with a verifier that counts
//! signature checks: size limits and structural checks must refuse before any expensive work, the
//! answer must be the RFC 6750 / RFC 9449 one, and the origin is never chosen. The end-to-end side
//! (what workerd and wasmtime do with the same requests) is `tests/e2e/hostile.test.mjs`.

mod common;

use base64ct::{Base64UrlUnpadded, Encoding};
use common::fake::FakePlatform;
use common::{block_on, get as request, p256_jwk as jwk, p256_key as key, Counting};
use edgeward::internal::dpop::access_token_hash;
use edgeward::jwk::Jwk;
use edgeward::platform::{FetchError, FetchResponse};
use edgeward::{Gateway, Outcome, Request};
use p256::ecdsa::{signature::Signer, Signature, SigningKey};
use serde_json::{json, Value};

const NOW: u64 = 1_800_000_000;
const ISS: &str = "https://issuer.test";
const REMOTE: &str = "https://remote.test";
const URL: &str = "https://gw.test/api/orders";

/// A platform whose every fetch gets `answer_body` (the JWKS of the remote issuer, the
/// introspection endpoint), refused as too large beyond the request's bound.
fn fake(answer_body: &[u8]) -> FakePlatform<Counting> {
    let answer = FetchResponse {
        status: 200,
        headers: vec![("content-type".into(), "application/json".into())],
        body: answer_body.to_vec(),
    };
    FakePlatform::counting(NOW).answering(move |request| {
        if answer.body.len() > request.max_body_bytes {
            return Err(FetchError::TooLarge);
        }
        Ok(answer.clone())
    })
}

fn b64(bytes: &[u8]) -> String {
    Base64UrlUnpadded::encode_string(bytes)
}

/// A compact JWS over the exact header and claims bytes.
fn sign(signing: &SigningKey, header: &[u8], claims: &[u8]) -> String {
    let input = format!("{}.{}", b64(header), b64(claims));
    let signature: Signature = signing.sign(input.as_bytes());
    format!("{input}.{}", b64(&signature.to_bytes()))
}

fn client_jkt() -> String {
    Jwk::from_object(jwk(&key(5)).as_object().unwrap())
        .unwrap()
        .thumbprint_sha256()
}

fn claims(extra: Value) -> Vec<u8> {
    let mut claims =
        json!({ "iss": ISS, "aud": "api", "sub": "alice", "exp": NOW + 300, "iat": NOW });
    claims
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    claims.to_string().into_bytes()
}

const HEADER: &[u8] = br#"{"alg":"ES256","kid":"k1","typ":"at+jwt"}"#;

fn token(extra: Value) -> String {
    sign(&key(1), HEADER, &claims(extra))
}

fn dpop_token() -> String {
    token(json!({ "cnf": { "jkt": client_jkt() } }))
}

fn proof(header: Value, access_token: &str, padding: usize) -> String {
    let claims = json!({ "jti": "j1", "htm": "GET", "htu": URL, "iat": NOW,
        "ath": access_token_hash(access_token), "pad": "p".repeat(padding) });
    sign(
        &key(5),
        header.to_string().as_bytes(),
        claims.to_string().as_bytes(),
    )
}

fn proof_header() -> Value {
    json!({ "typ": "dpop+jwt", "alg": "ES256", "jwk": jwk(&key(5)) })
}

/// `/api/*` needs a token from the inline issuer; `/remote/*` one from an issuer whose JWKS is
/// fetched; opaque tokens are introspected (the same fetch answer).
fn gateway() -> Gateway {
    let mut inline = jwk(&key(1));
    inline["kid"] = json!("k1");
    let config = json!({
        "origin": "http://origin.test",
        "routes": [{ "path": "/api/*" }, { "path": "/remote/*" }],
        "issuers": [
            { "issuer": ISS, "audiences": ["api"], "algorithms": ["ES256"], "jwks": { "keys": [inline] } },
            { "issuer": REMOTE, "audiences": ["api"], "algorithms": ["ES256"],
              "jwks_uri": "https://remote.test/jwks" },
        ],
        "introspection": { "endpoint": "https://as.test/introspect", "issuer": ISS,
            "client_id": "gw", "client_secret_name": "SECRET" },
    });
    let secrets = |name: &str| (name == "SECRET").then(|| "s3cret".to_owned());
    Gateway::with_trust_anchors(Some(&config.to_string()), &secrets, "test", &[])
}

/// The refusal: status, `WWW-Authenticate` and the JSON `code`. Panics when forwarded.
fn refused(fake: &FakePlatform<Counting>, request: &Request) -> (u16, String, String) {
    match block_on(gateway().handle(fake, request)) {
        Outcome::Respond(r) => {
            let challenge = r.headers.get_single("www-authenticate").unwrap();
            let body: Value = serde_json::from_slice(&r.body).unwrap();
            (
                r.status,
                challenge.unwrap_or("").to_owned(),
                body["code"].as_str().unwrap_or("").to_owned(),
            )
        }
        other => panic!("not refused: {other:?}"),
    }
}

fn nested(depth: usize) -> String {
    format!("{}1{}", "[".repeat(depth), "]".repeat(depth))
}

#[test]
fn the_counter_counts() {
    // The baseline every other test compares with: a token that is checked costs one verification.
    let fake = fake(b"{}");
    let mut forged = token(json!({}));
    forged.truncate(forged.rfind('.').unwrap() + 1);
    forged.push_str(&b64(&[7; 64]));
    let (status, _, code) = refused(
        &fake,
        &request(URL, &[("authorization", &format!("Bearer {forged}"))]),
    );
    assert_eq!((status, code.as_str()), (401, "ERR_JWS_SIGNATURE_INVALID"));
    assert_eq!(fake.verifier.calls(), 1);
}

#[test]
fn oversized_tokens_are_refused_before_any_signature_check() {
    for size in [16 * 1024 + 1, 1024 * 1024] {
        let fake = fake(b"{}");
        // A real, validly signed token padded past the limit by a long claim.
        let padded = token(json!({ "pad": "p".repeat(size) }));
        assert!(padded.len() > size);
        let auth = format!("Bearer {padded}");
        let (status, challenge, code) = refused(&fake, &request(URL, &[("authorization", &auth)]));
        assert_eq!(status, 401, "{size}");
        assert_eq!(code, "ERR_TOKEN_TOO_LARGE");
        assert!(challenge.starts_with(r#"Bearer realm="edgeward", error="invalid_token""#));
        assert_eq!(fake.verifier.calls(), 0, "no signature checked");
        assert_eq!(fake.fetches.get(), 0, "no introspection or JWKS fetch");
    }
}

#[test]
fn oversized_dpop_proofs_are_refused_before_their_signature_is_checked() {
    let fake = fake(b"{}");
    let access = dpop_token();
    let auth = format!("DPoP {access}");
    let big = proof(proof_header(), &access, 9 * 1024);
    let (status, challenge, code) = refused(
        &fake,
        &request(URL, &[("authorization", &auth), ("dpop", &big)]),
    );
    assert_eq!((status, code.as_str()), (401, "ERR_DPOP_PROOF_TOO_LARGE"));
    assert!(challenge.starts_with(r#"DPoP realm="edgeward", error="invalid_dpop_proof""#));
    assert_eq!(fake.verifier.calls(), 1, "the access token only");
}

#[test]
fn many_dpop_fields_are_refused_without_checking_any_proof() {
    let fake = fake(b"{}");
    let access = dpop_token();
    let auth = format!("DPoP {access}");
    let one = proof(proof_header(), &access, 0);
    let mut headers = vec![("authorization", auth.as_str())];
    headers.extend(std::iter::repeat_n(("DPoP", one.as_str()), 100));
    let (status, challenge, code) = refused(&fake, &request(URL, &headers));
    assert_eq!((status, code.as_str()), (401, "ERR_DPOP_PROOF_MULTIPLE"));
    assert!(challenge.contains(r#"error="invalid_dpop_proof""#));
    assert_eq!(fake.verifier.calls(), 1, "the access token only");
}

#[test]
fn deeply_nested_json_in_a_token_is_malformed_before_any_signature_check() {
    let deep_header = format!(
        r#"{{"alg":"ES256","kid":"k1","typ":"at+jwt","x":{}}}"#,
        nested(5000)
    );
    let deep_claims = format!(r#"{{"iss":"{ISS}","x":{}}}"#, nested(5000));
    for (header, claims) in [
        (deep_header.into_bytes(), claims(json!({}))),
        (HEADER.to_vec(), deep_claims.into_bytes()),
    ] {
        let fake = fake(b"{}");
        let deep = sign(&key(1), &header, &claims);
        assert!(deep.len() < 16 * 1024, "inside the size limit");
        let auth = format!("Bearer {deep}");
        let (status, challenge, code) = refused(&fake, &request(URL, &[("authorization", &auth)]));
        assert_eq!((status, code.as_str()), (401, "ERR_JWS_MALFORMED"));
        assert!(challenge.contains(r#"error="invalid_token""#));
        assert_eq!(fake.verifier.calls(), 0);
    }
}

#[test]
fn deeply_nested_json_in_a_dpop_jwk_is_refused_before_its_signature_is_checked() {
    let fake = fake(b"{}");
    let access = dpop_token();
    let auth = format!("DPoP {access}");
    let mut header = proof_header();
    header["jwk"]["ext"] = serde_json::from_str(&nested(100)).unwrap();
    let deeper = header.to_string().replace(&nested(100), &nested(1000));
    let claims = json!({ "jti": "j1", "htm": "GET", "htu": URL, "iat": NOW,
        "ath": access_token_hash(&access) });
    let deep = sign(&key(5), deeper.as_bytes(), claims.to_string().as_bytes());
    let (status, _, code) = refused(
        &fake,
        &request(URL, &[("authorization", &auth), ("dpop", &deep)]),
    );
    assert_eq!((status, code.as_str()), (401, "ERR_DPOP_PROOF_MALFORMED"));
    assert_eq!(fake.verifier.calls(), 1, "the access token only");
}

#[test]
fn deeply_nested_upstream_answers_fail_closed_with_503() {
    // A JWKS and an introspection answer nested far deeper than any real one.
    for (url, credential) in [
        (
            "https://gw.test/remote/orders",
            sign(&key(1), HEADER, &claims(json!({ "iss": REMOTE }))),
        ),
        (URL, "opaque-token-value".to_owned()),
    ] {
        // 10 000 levels in 40 KB: under the body limits (JWKS 256 KiB, introspection 64 KiB), so
        // it is the nesting that gets refused.
        let body = format!(r#"{{"keys":{n},"active":{n}}}"#, n = nested(10_000));
        assert!(body.len() < 64 * 1024);
        let fake = fake(body.as_bytes());
        let auth = format!("Bearer {credential}");
        let (status, _, code) = refused(&fake, &request(url, &[("authorization", &auth)]));
        assert_eq!(
            (status, code.as_str()),
            (503, "ERR_UPSTREAM_UNAVAILABLE"),
            "{url}"
        );
        assert!(fake.fetches.get() >= 1, "the upstream was asked");
        assert_eq!(fake.verifier.calls(), 0);
    }
}

#[test]
fn invalid_utf8_inside_a_token_segment_is_malformed() {
    let fake = fake(b"{}");
    for (header, claims) in [
        (
            b"{\"alg\":\"ES256\",\"kid\":\"\xff\xfe\"}".to_vec(),
            claims(json!({})),
        ),
        (HEADER.to_vec(), b"{\"iss\":\"\xc3\x28\"}".to_vec()),
    ] {
        let t = sign(&key(1), &header, &claims);
        let auth = format!("Bearer {t}");
        let (status, _, code) = refused(&fake, &request(URL, &[("authorization", &auth)]));
        assert_eq!((status, code.as_str()), (401, "ERR_JWS_MALFORMED"));
    }
    assert_eq!(fake.verifier.calls(), 0);
}

#[test]
fn replacement_characters_in_the_authorization_field_are_invalid_request() {
    // What the Spin shell hands the core for a field that is not UTF-8 ("\u{fffd}"), and what
    // Workers hands it (bytes read as Latin-1).
    for value in ["\u{fffd}", "Bearer \u{ff}\u{fe}", "Bearer abc\u{fffd}def"] {
        let fake = fake(b"{}");
        let (status, challenge, code) = refused(&fake, &request(URL, &[("authorization", value)]));
        assert_eq!(
            (status, code.as_str()),
            (400, "ERR_REQUEST_INVALID"),
            "{value:?}"
        );
        assert!(challenge.contains(r#"error="invalid_request""#));
        assert_eq!(fake.verifier.calls(), 0);
        assert_eq!(fake.fetches.get(), 0);
    }
}

#[test]
fn two_hundred_fields_do_not_change_the_verdict() {
    let fake = fake(b"{}");
    let names: Vec<String> = (0..200).map(|i| format!("x-h-{i}")).collect();
    let auth = format!("Bearer {}", token(json!({})));
    let mut headers: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "v")).collect();
    headers.push(("authorization", &auth));
    match block_on(gateway().handle(&fake, &request(URL, &headers))) {
        Outcome::Forward(f) => {
            assert_eq!(f.headers.get_all("x-h-199").collect::<Vec<_>>(), ["v"]);
            assert!(f.headers.get_single("authorization").unwrap().is_none());
        }
        other => panic!("refused: {other:?}"),
    }
    headers.pop();
    let (status, _, code) = refused(&fake, &request(URL, &headers));
    assert_eq!((status, code.as_str()), (401, "ERR_CREDENTIAL_MISSING"));
    // The verdicts never cost more than the one token's check.
    assert_eq!(fake.verifier.calls(), 1);
}
