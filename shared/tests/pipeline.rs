//! The whole pipeline with a fake platform: extract → verify (inline JWKS) → forward, and the
//! HTTP answer for each failure class.

mod common;

use base64ct::{Base64UrlUnpadded, Encoding};
use common::{block_on, fake::FakePlatform, p256_jwk_kid as jwk, p256_key as key, sign_es256};
use edgeward::platform::FetchError;
use edgeward::{Gateway, Headers, Outcome, Request};
use p256::ecdsa::SigningKey;
use serde_json::{json, Value};

const NOW: u64 = 1_800_000_000;
const ISS: &str = "https://issuer.test";

/// A compact ES256 JWS over the header and claims.
fn token(signing: &SigningKey, header: Value, claims: Value) -> String {
    sign_es256(signing, &header, &claims)
}

fn good_claims() -> Value {
    json!({ "iss": ISS, "aud": "https://api.test", "sub": "alice", "exp": NOW + 300, "iat": NOW - 10 })
}

fn gateway() -> Gateway {
    let config = json!({
        "origin": "http://origin.test:8080",
        "routes": [{ "path": "/public/*", "anonymous": true }, { "path": "/api/*" }],
        "issuers": [{
            "issuer": ISS, "audiences": ["https://api.test"], "algorithms": ["ES256"],
            "require_typ": "at+jwt", "jwks": { "keys": [jwk(&key(1), "k1")] },
        }],
    });
    Gateway::with_trust_anchors(Some(&config.to_string()), &|_| None, "test", &[])
}

fn request(authorization: Option<&str>) -> Request {
    let mut headers = Headers::new();
    headers.append("x-edgeward-sub", "mallory");
    if let Some(value) = authorization {
        headers.append("authorization", value);
    }
    Request {
        method: "GET".into(),
        url: "https://gw.test/api/orders?x=1".into(),
        headers,
        client_cert: None,
    }
}

fn run(authorization: Option<&str>) -> Outcome {
    let fake = FakePlatform::new(NOW);
    block_on(gateway().handle(&fake, &request(authorization)))
}

fn rejected(outcome: Outcome) -> (u16, String, Value) {
    match outcome {
        Outcome::Respond(r) => {
            let challenge = r
                .headers
                .get_single("www-authenticate")
                .unwrap()
                .unwrap_or("")
                .to_owned();
            (
                r.status,
                challenge,
                serde_json::from_slice(&r.body).unwrap(),
            )
        }
        Outcome::Forward(f) => panic!("forwarded to {}", f.url),
        other => panic!("unexpected {other:?}"),
    }
}

fn at_jwt() -> Value {
    json!({ "alg": "ES256", "typ": "at+jwt", "kid": "k1" })
}

#[test]
fn valid_token_is_forwarded_without_credentials_or_spoofed_headers() {
    let t = token(&key(1), at_jwt(), good_claims());
    match run(Some(&format!("Bearer {t}"))) {
        Outcome::Forward(f) => {
            assert_eq!(f.url, "http://origin.test:8080/api/orders?x=1");
            assert!(f.headers.get_single("authorization").unwrap().is_none());
            assert!(f.headers.get_single("x-edgeward-sub").unwrap().is_none());
        }
        Outcome::Respond(r) => panic!("rejected: {}", String::from_utf8_lossy(&r.body)),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn each_failure_class_gets_its_rfc6750_answer() {
    let mut expired = good_claims();
    expired["exp"] = json!(NOW - 120);
    let mut wrong_aud = good_claims();
    wrong_aud["aud"] = json!("https://other.test");
    let mut other_iss = good_claims();
    other_iss["iss"] = json!("https://evil.test");
    let cases = [
        (
            "expired",
            token(&key(1), at_jwt(), expired),
            "ERR_JWT_EXPIRED",
        ),
        (
            "audience",
            token(&key(1), at_jwt(), wrong_aud),
            "ERR_JWT_AUDIENCE_MISMATCH",
        ),
        (
            "issuer",
            token(&key(1), at_jwt(), other_iss),
            "ERR_JWT_ISSUER_UNKNOWN",
        ),
        (
            "other key",
            token(&key(2), at_jwt(), good_claims()),
            "ERR_JWS_SIGNATURE_INVALID",
        ),
        (
            "unknown kid",
            token(
                &key(1),
                json!({"alg":"ES256","typ":"at+jwt","kid":"k9"}),
                good_claims(),
            ),
            "ERR_JWKS_NO_MATCHING_KEY",
        ),
        (
            "typ",
            token(&key(1), json!({"alg":"ES256","kid":"k1"}), good_claims()),
            "ERR_JWT_TYPE_MISMATCH",
        ),
        (
            "alg none",
            format!(
                "{}.{}.",
                Base64UrlUnpadded::encode_string(br#"{"alg":"none"}"#),
                Base64UrlUnpadded::encode_string(good_claims().to_string().as_bytes())
            ),
            "ERR_JOSE_ALG_NOT_ALLOWED",
        ),
        ("garbage", "not.a.jwt".to_owned(), "ERR_JWS_MALFORMED"),
    ];
    for (name, t, code) in cases {
        let (status, challenge, body) = rejected(run(Some(&format!("Bearer {t}"))));
        assert_eq!(status, 401, "{name}");
        assert!(
            challenge.starts_with(r#"Bearer realm="edgeward", error="invalid_token""#),
            "{name}: {challenge}"
        );
        assert_eq!(body["code"], code, "{name}");
        assert!(
            !challenge.contains(&t),
            "{name}: the challenge must not echo the token"
        );
    }
}

#[test]
fn oversized_token_is_rejected_before_decoding() {
    let huge = "a".repeat(20_000);
    let (status, _, body) = rejected(run(Some(&format!("Bearer {huge}.b.c"))));
    assert_eq!(status, 401);
    assert_eq!(body["code"], "ERR_TOKEN_TOO_LARGE");
}

#[test]
fn missing_and_malformed_authorization() {
    let (status, challenge, _) = rejected(run(None));
    assert_eq!(
        (status, challenge.as_str()),
        (401, r#"Bearer realm="edgeward""#)
    );
    let (status, challenge, _) = rejected(run(Some("Basic dXNlcjpwdw==")));
    assert_eq!(status, 400);
    assert!(challenge.contains(r#"error="invalid_request""#));
}

#[test]
fn config_errors_name_issuer_fields() {
    let bad = json!({ "origin": "http://o", "issuers": [{ "issuer": ISS, "audiences": ["a"], "algorithms": ["HS256"], "x5c": {} }] });
    let fake = FakePlatform::new(NOW);
    let gw = Gateway::with_trust_anchors(Some(&bad.to_string()), &|_| None, "test", &[]);
    let (status, _, body) = rejected(block_on(gw.handle(&fake, &request(None))));
    assert_eq!(status, 500);
    assert_eq!(body["field"], "issuers[0].algorithms[0]");
    // Logged once, however many requests see it.
    block_on(gw.handle(&fake, &request(None)));
    assert_eq!(
        fake.logs
            .borrow()
            .iter()
            .filter(|(_, l)| l.contains("algorithms"))
            .count(),
        1
    );
}

#[test]
fn origin_timeout_reaches_the_shell_and_origin_faults_answer_json() {
    let fake = FakePlatform::new(NOW);
    let anonymous = |extra: Value| {
        let mut config =
            json!({ "origin": "http://o.test", "routes": [{ "path": "/*", "anonymous": true }] });
        config
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        Gateway::with_trust_anchors(Some(&config.to_string()), &|_| None, "test", &[])
    };
    for (extra, want) in [
        (json!({}), edgeward::config::DEFAULT_ORIGIN_TIMEOUT_MS),
        (json!({ "origin_timeout_ms": 1234 }), 1234),
    ] {
        match block_on(anonymous(extra).handle(&fake, &request(None))) {
            Outcome::Forward(f) => assert_eq!(f.timeout_ms, want),
            other => panic!("not forwarded: {other:?}"),
        }
    }
    let gw = anonymous(json!({}));
    for (error, status, code) in [
        (FetchError::Timeout, 504, "ERR_ORIGIN_TIMEOUT"),
        (FetchError::Unreachable, 502, "ERR_ORIGIN_UNREACHABLE"),
        (FetchError::TooLarge, 502, "ERR_ORIGIN_UNREACHABLE"),
    ] {
        let response = gw.origin_failed(error);
        assert_eq!(response.status, status);
        assert_eq!(
            response.headers.get_single("content-type"),
            Ok(Some("application/json"))
        );
        let body: Value = serde_json::from_slice(&response.body).unwrap();
        assert_eq!(body["code"], code);
    }
}

#[test]
fn encrypted_tokens_are_not_decrypted_and_are_refused() {
    // RFC 9068 §4 step 2 (decrypt with the keys agreed with the AS) is not implemented: a compact
    // JWE (five segments, RFC 7516 §7.1) is refused as such, never taken for a JWS.
    let header = Base64UrlUnpadded::encode_string(br#"{"alg":"RSA-OAEP","enc":"A256GCM"}"#);
    let jwe = format!("{header}.a2V5.aXY.Y2lwaGVy.dGFn");
    let (status, challenge, body) = rejected(run(Some(&format!("Bearer {jwe}"))));
    assert_eq!(status, 401);
    assert!(challenge.contains(r#"error="invalid_token""#));
    assert_eq!(body["code"], "ERR_JOSE_NOT_SUPPORTED");
}

#[test]
fn other_kinds_of_jwt_from_the_same_issuer_key_are_not_access_tokens() {
    // RFC 8725 §3.11–3.12: a DPoP proof, an RFC 9701 introspection answer or the gateway's own
    // assertion, even signed by a trusted key with good claims, is told apart by `typ`.
    for typ in [
        "dpop+jwt",
        "token-introspection+jwt",
        "edgeward-assertion+jwt",
        "JWT",
    ] {
        let header = json!({ "alg": "ES256", "typ": typ, "kid": "k1" });
        let t = token(&key(1), header, good_claims());
        let (status, _, body) = rejected(run(Some(&format!("Bearer {t}"))));
        assert_eq!(
            (status, body["code"].as_str()),
            (401, Some("ERR_JWT_TYPE_MISMATCH")),
            "{typ}"
        );
    }
}

#[test]
fn a_token_in_the_query_string_is_not_a_credential() {
    // RFC 6750 §2.3 is not supported (RFC 9700 §4.3.2): a valid token in `access_token` is ignored,
    // so the request has no credential (§3.1: 401 without an error code).
    let t = token(&key(1), at_jwt(), good_claims());
    let mut request = request(None);
    request.url = format!("https://gw.test/api/orders?access_token={t}");
    let fake = FakePlatform::new(NOW);
    let (status, challenge, body) = rejected(block_on(gateway().handle(&fake, &request)));
    assert_eq!(
        (status, challenge.as_str()),
        (401, r#"Bearer realm="edgeward""#)
    );
    assert_eq!(body["code"], "ERR_CREDENTIAL_MISSING");
}

/// Spin's HTTP trigger adds `spin-*` fields (and passes a client's along): on Spin none reaches
/// the origin, `_` spelled or not; on other runtimes they are ordinary client fields.
#[test]
fn spin_fields_never_reach_the_origin_on_spin() {
    let config =
        json!({ "origin": "http://origin.test", "routes": [{ "path": "/*", "anonymous": true }] });
    let fields = [
        ("spin-client-addr", "10.0.0.7:5123"),
        ("spin-full-url", "http://gw.test/a"),
        ("spin-path-info", "/a"),
        ("spin-matched-route", "/..."),
        ("spin-base-path", "/"),
        ("spin-raw-component-route", "/..."),
        ("spin-component-route", ""),
        ("spin-path-match-id", "7"),
        ("spin_client_addr", "1.2.3.4:1"),
        ("accept", "text/plain"),
        ("x-spin-note", "kept"),
    ];
    let forwarded = |runtime: &'static str| {
        let gw = Gateway::with_trust_anchors(Some(&config.to_string()), &|_| None, runtime, &[]);
        let request = common::get("http://gw.test/a", &fields);
        match block_on(gw.handle(&FakePlatform::new(NOW), &request)) {
            Outcome::Forward(f) => f
                .headers
                .iter()
                .map(|(n, _)| n.to_owned())
                .filter(|n| !matches!(n.as_str(), "traceparent" | "x-request-id"))
                .collect::<Vec<_>>(),
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(forwarded("spin"), ["accept", "x-spin-note"]);
    assert_eq!(forwarded("cloudflare-workers").len(), fields.len());
}

/// `forwarding.client_address`: on Spin, Spin's own `spin-client-addr` (the last one: a client's
/// comes first) is appended as `x-forwarded-for` or `forwarded`; elsewhere nothing is added.
#[test]
fn the_client_address_is_forwarded_from_spins_field_when_asked() {
    let forwarded = |runtime: &'static str, field: &str| {
        let config = json!({
            "origin": "http://origin.test", "routes": [{ "path": "/*", "anonymous": true }],
            "forwarding": { "client_address": field },
        });
        let gw = Gateway::with_trust_anchors(Some(&config.to_string()), &|_| None, runtime, &[]);
        let request = common::get(
            "http://gw.test/a",
            &[
                ("x-forwarded-for", "198.51.100.1"),
                ("spin-client-addr", "203.0.113.66:1"),
                ("spin-client-addr", "[2001:db8::7]:5123"),
            ],
        );
        match block_on(gw.handle(&FakePlatform::new(NOW), &request)) {
            Outcome::Forward(f) => f
                .headers
                .iter()
                .filter(|(n, _)| matches!(*n, "x-forwarded-for" | "forwarded"))
                .map(|(n, v)| format!("{n}: {v}"))
                .collect::<Vec<_>>(),
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(
        forwarded("spin", "x-forwarded-for"),
        [
            "x-forwarded-for: 198.51.100.1",
            "x-forwarded-for: 2001:db8::7"
        ]
    );
    assert_eq!(
        forwarded("spin", "forwarded"),
        [
            "x-forwarded-for: 198.51.100.1",
            "forwarded: for=\"[2001:db8::7]\""
        ]
    );
    assert_eq!(
        forwarded("cloudflare-workers", "forwarded"),
        ["x-forwarded-for: 198.51.100.1"]
    );
    // Only the two field names; a claim header may not take the gateway's field.
    let config = |forwarding: Value| {
        let text = json!({ "origin": "http://o", "forwarding": forwarding }).to_string();
        edgeward::Config::from_json(&text)
            .map(|_| ())
            .map_err(|e| e.field)
    };
    assert!(config(json!({ "client_address": "x-real-ip" })).is_err());
    assert_eq!(
        config(json!({ "client_address": "forwarded", "claim_headers": { "sub": "forwarded" } })),
        Err("forwarding.claim_headers.sub".into())
    );
    assert!(
        config(json!({ "client_address": "forwarded", "claim_headers": { "sub": "x-sub" } }))
            .is_ok()
    );
}
