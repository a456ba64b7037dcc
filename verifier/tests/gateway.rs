//! The verifier against the gateway's real output: `Gateway::handle` with a fake platform, then
//! the `Forward` headers go to `Verifier::verify_at`. Also writes the fixture the JavaScript verifier's
//! test reads (`EDGEWARD_VERIFIER_FIXTURE=path`), and checks the committed fixture still verifies.

use base64ct::{Base64, Base64UrlUnpadded, Encoding};
use edgeward::crypto::RustCrypto;
use edgeward::platform::{FetchError, FetchRequest, FetchResponse, LogLevel, Platform};
use edgeward::{Gateway, Headers, Outcome, Request};
use edgeward_verifier::{Verifier, VerifyError};
use p256::ecdsa::{signature::Signer, Signature, SigningKey};
use serde_json::{json, Value};
use std::cell::Cell;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

const NOW: u64 = 1_800_000_000;
const ISS: &str = "https://issuer.test";
const HMAC: [u8; 32] = [9; 32];

fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
    }
}

struct Fake {
    counter: Cell<u8>,
    /// The introspection answer, for opaque tokens (none: the AS is unreachable).
    introspection: Option<Value>,
}

impl Fake {
    fn new() -> Fake {
        Fake {
            counter: Cell::new(1),
            introspection: None,
        }
    }
}

impl Platform for Fake {
    type Verifier = RustCrypto;
    fn verifier(&self) -> &RustCrypto {
        &RustCrypto
    }
    fn now(&self) -> u64 {
        NOW
    }
    fn log(&self, _level: LogLevel, _message: &str) {}
    fn random(&self, buf: &mut [u8]) {
        let n = self.counter.get();
        self.counter.set(n.wrapping_add(1));
        for (i, b) in buf.iter_mut().enumerate() {
            *b = n.wrapping_mul(37).wrapping_add(i as u8);
        }
    }
    async fn fetch(&self, _request: FetchRequest) -> Result<FetchResponse, FetchError> {
        let answer = self.introspection.as_ref().ok_or(FetchError::Unreachable)?;
        Ok(FetchResponse {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body: answer.to_string().into_bytes(),
        })
    }
}

fn key(seed: u8) -> SigningKey {
    SigningKey::from_slice(&[seed; 32]).unwrap()
}

fn jwk(signing: &SigningKey, kid: &str) -> Value {
    let point = signing.verifying_key().to_encoded_point(false);
    json!({
        "kty": "EC", "crv": "P-256", "kid": kid,
        "x": Base64UrlUnpadded::encode_string(point.x().unwrap()),
        "y": Base64UrlUnpadded::encode_string(point.y().unwrap()),
    })
}

fn token(claims: Value) -> String {
    let header = json!({ "alg": "ES256", "typ": "at+jwt", "kid": "k1" });
    let b64 = |v: &Value| Base64UrlUnpadded::encode_string(v.to_string().as_bytes());
    let input = format!("{}.{}", b64(&header), b64(&claims));
    let sig: Signature = key(1).sign(input.as_bytes());
    format!(
        "{input}.{}",
        Base64UrlUnpadded::encode_string(&sig.to_bytes())
    )
}

fn gateway(algorithm: &str) -> Gateway {
    gateway_with(algorithm, json!({}))
}

/// The gateway, with `extra` merged into its configuration (objects member by member).
fn gateway_with(algorithm: &str, extra: Value) -> Gateway {
    let mut config = json!({
        "origin": "https://origin.test",
        "routes": [{ "path": "/api/*" }],
        "issuers": [{ "issuer": ISS, "audiences": ["https://api.test"], "jwks": { "keys": [jwk(&key(1), "k1")] } }],
        "forwarding": {
            "gateway_id": "https://gw.test",
            "claim_headers": { "sub": "x-edgeward-sub", "tenant": "x-tenant" },
            "signing_key_secret": "EDGEWARD_SIGNING_KEY",
            "assertion": { "claims": ["tenant"] },
            "message_signature": { "algorithm": algorithm, "hmac_secret": "EDGEWARD_HMAC" },
        },
    });
    merge(&mut config, extra);
    let secrets = |name: &str| match name {
        "EDGEWARD_SIGNING_KEY" => {
            let mut private = jwk(&key(42), "gw-1");
            private["d"] = json!(Base64UrlUnpadded::encode_string(&key(42).to_bytes()));
            Some(private.to_string())
        }
        "EDGEWARD_HMAC" => Some(Base64::encode_string(&HMAC)),
        "AS_SECRET" => Some("as-secret".into()),
        _ => None,
    };
    Gateway::with_trust_anchors(Some(&config.to_string()), &secrets, "test", &[])
}

fn merge(into: &mut Value, extra: Value) {
    match (into, extra) {
        (Value::Object(into), Value::Object(extra)) => {
            for (name, value) in extra {
                merge(into.entry(name).or_insert(Value::Null), value);
            }
        }
        (into, extra) => *into = extra,
    }
}

/// One request through the gateway: (method, target URI, forwarded headers, gateway JWKS text).
fn forwarded(algorithm: &str) -> (String, String, Headers, String) {
    let claims = json!({ "iss": ISS, "aud": "https://api.test", "sub": "alice", "tenant": "acme", "exp": NOW + 300 });
    through(&gateway(algorithm), &Fake::new(), &token(claims))
}

/// An opaque token introspected, with the signature covering `authorization`: what the origin
/// gets there is the phantom JWT, so that is what must be signed (the forward stage sets it before
/// signing).
fn phantom_forwarded() -> (String, String, Headers, String) {
    let gw = gateway_with(
        "ecdsa-p256-sha256",
        json!({
            "introspection": { "endpoint": "https://as.test/introspect", "issuer": ISS,
                "client_id": "gw", "client_secret_name": "AS_SECRET" },
            "forwarding": { "message_signature": { "cover": ["authorization"] } },
        }),
    );
    let fake = Fake {
        introspection: Some(
            json!({ "active": true, "iss": ISS, "aud": "https://api.test",
            "sub": "alice", "tenant": "acme", "exp": NOW + 300 }),
        ),
        ..Fake::new()
    };
    through(&gw, &fake, "opaque-token-for-the-phantom-case")
}

/// One request with `token` through `gw`: (method, target URI, forwarded headers, gateway JWKS).
fn through(gw: &Gateway, fake: &Fake, token: &str) -> (String, String, Headers, String) {
    let bearer = format!("Bearer {token}");
    let request = Request {
        method: "POST".into(),
        url: "https://gw.test/api/orders?id=7".into(),
        headers: [
            ("authorization", bearer.as_str()),
            ("x-tenant", "victim"),
            ("content-type", "application/json"),
        ]
        .into_iter()
        .collect(),
        client_cert: None,
    };
    let forward = match block_on(gw.handle(fake, &request)) {
        Outcome::Forward(f) => f,
        Outcome::Respond(r) => panic!("rejected: {}", String::from_utf8_lossy(&r.body)),
        other => panic!("unexpected {other:?}"),
    };
    let jwks_request = Request {
        method: "GET".into(),
        url: "https://gw.test/.well-known/edgeward/jwks.json".into(),
        headers: Headers::new(),
        client_cert: None,
    };
    let jwks = match block_on(gw.handle(fake, &jwks_request)) {
        Outcome::Respond(r) => String::from_utf8(r.body).unwrap(),
        other => panic!("jwks not answered: {other:?}"),
    };
    ("POST".into(), forward.url, forward.headers, jwks)
}

fn verifier(jwks: &str) -> Verifier {
    Verifier::new(jwks, Some(("edgeward-hmac", &HMAC)), 5, 60)
        .unwrap()
        .gateway_id("https://gw.test")
        .claim_headers(&["x-edgeward-sub", "x-tenant"])
}

#[test]
fn untouched_request_verifies_and_returns_the_claims() {
    for algorithm in ["ecdsa-p256-sha256", "hmac-sha256"] {
        let (method, uri, headers, jwks) = forwarded(algorithm);
        let verified = verifier(&jwks)
            .verify_at(NOW + 1, &method, &uri, &headers)
            .unwrap();
        assert_eq!(verified.claims["sub"], "alice", "{algorithm}");
        assert_eq!(verified.claims["tenant"], "acme");
        assert_eq!(verified.claims["aud"], "https://origin.test");
        assert!(verified.covered.contains(&"x-tenant".to_owned()));
        assert_eq!(headers.get_single("x-tenant"), Ok(Some("acme")));
    }
}

#[test]
fn a_phantom_jwt_in_covered_authorization_verifies() {
    let (method, uri, headers, jwks) = phantom_forwarded();
    let authorization = headers.get_single("authorization").unwrap().unwrap();
    let phantom = authorization.strip_prefix("Bearer ").unwrap();
    assert_eq!(phantom.split('.').count(), 3, "the origin gets a JWT");
    assert!(!authorization.contains("opaque-token"));
    let verified = verifier(&jwks)
        .verify_at(NOW + 1, &method, &uri, &headers)
        .unwrap();
    assert!(verified.covered.contains(&"authorization".to_owned()));
    assert_eq!(verified.claims["sub"], "alice");
    let mut swapped = headers.clone();
    swapped.set("authorization", "Bearer opaque-token-for-the-phantom-case");
    assert_eq!(
        verifier(&jwks).verify_at(NOW + 1, &method, &uri, &swapped),
        Err(VerifyError::BadSignature)
    );
}

#[test]
fn tampering_is_rejected() {
    for algorithm in ["ecdsa-p256-sha256", "hmac-sha256"] {
        let (method, uri, headers, jwks) = forwarded(algorithm);
        let v = verifier(&jwks);
        let mut tenant = headers.clone();
        tenant.set("x-tenant", "victim");
        assert_eq!(
            v.verify_at(NOW, &method, &uri, &tenant),
            Err(VerifyError::BadSignature)
        );
        assert_eq!(
            v.verify_at(NOW, "DELETE", &uri, &headers),
            Err(VerifyError::BadSignature)
        );
        let other_uri = uri.replace("id=7", "id=8");
        assert_eq!(
            v.verify_at(NOW, &method, &other_uri, &headers),
            Err(VerifyError::BadSignature)
        );
        // A swapped-in assertion breaks the signature, which covers it.
        let mut assertion = headers.clone();
        let jwt = headers.get_single("x-edgeward-assertion").unwrap().unwrap();
        let (head, _) = jwt.rsplit_once('.').unwrap();
        assertion.set(
            "x-edgeward-assertion",
            &format!("{head}.{}", "A".repeat(86)),
        );
        assert_eq!(
            v.verify_at(NOW, &method, &uri, &assertion),
            Err(VerifyError::BadSignature)
        );
        // Dropping the covered claim header breaks the base.
        let mut dropped = headers.clone();
        dropped.remove("x-tenant");
        assert!(v.verify_at(NOW, &method, &uri, &dropped).is_err());
        // An uncovered claim header the origin relies on.
        let mut extra = headers.clone();
        extra.append("x-role", "admin");
        let strict = verifier(&jwks).claim_headers(&["x-edgeward-sub", "x-tenant", "x-role"]);
        assert_eq!(
            strict.verify_at(NOW, &method, &uri, &extra),
            Err(VerifyError::NotCovered("x-role".into()))
        );
        // Assertion alone (signature not required) still checks its own signature.
        let only_assertion = verifier(&jwks).require(false, true);
        let mut stripped = assertion.clone();
        stripped.remove("signature");
        stripped.remove("signature-input");
        assert_eq!(
            only_assertion.verify_at(NOW, &method, &uri, &stripped),
            Err(VerifyError::BadSignature)
        );
    }
}

#[test]
fn replay_within_and_after_the_window_is_rejected() {
    let (method, uri, headers, jwks) = forwarded("ecdsa-p256-sha256");
    let v = verifier(&jwks);
    v.verify_at(NOW, &method, &uri, &headers).unwrap();
    assert_eq!(
        v.verify_at(NOW + 2, &method, &uri, &headers),
        Err(VerifyError::Replayed)
    );
    // After the window the nonce is forgotten, but the message is stale.
    assert_eq!(
        v.verify_at(NOW + 120, &method, &uri, &headers),
        Err(VerifyError::Stale)
    );
    // A fresh verifier (another instance) still refuses it after expiry.
    assert_eq!(
        verifier(&jwks).verify_at(NOW + 36, &method, &uri, &headers),
        Err(VerifyError::Stale)
    );
    assert_eq!(
        verifier(&jwks).verify_at(NOW - 30, &method, &uri, &headers),
        Err(VerifyError::Stale)
    );
}

#[test]
fn wrong_keys_are_rejected() {
    let (method, uri, headers, _) = forwarded("ecdsa-p256-sha256");
    let other_same_kid = json!({ "keys": [jwk(&key(43), "gw-1")] }).to_string();
    assert_eq!(
        verifier(&other_same_kid).verify_at(NOW, &method, &uri, &headers),
        Err(VerifyError::BadSignature)
    );
    let other_kid = json!({ "keys": [jwk(&key(42), "gw-2")] }).to_string();
    assert_eq!(
        verifier(&other_kid).verify_at(NOW, &method, &uri, &headers),
        Err(VerifyError::UnknownKey)
    );
    let (method, uri, headers, jwks) = forwarded("hmac-sha256");
    let wrong = Verifier::new(&jwks, Some(("edgeward-hmac", &[8; 32])), 5, 60)
        .unwrap()
        .gateway_id("https://gw.test");
    assert_eq!(
        wrong.verify_at(NOW, &method, &uri, &headers),
        Err(VerifyError::BadSignature)
    );
    let wrong_gateway = verifier(&jwks).gateway_id("https://other-gw.test");
    assert_eq!(
        wrong_gateway.verify_at(NOW, &method, &uri, &headers),
        Err(VerifyError::WrongClaim("iss"))
    );
}

fn fixture_case((method, uri, headers, jwks): (String, String, Headers, String)) -> Value {
    let headers: Vec<[&str; 2]> = headers.iter().map(|(n, v)| [n, v]).collect();
    json!({ "method": method, "target_uri": uri, "headers": headers, "jwks": serde_json::from_str::<Value>(&jwks).unwrap() })
}

fn fixture() -> Value {
    json!({
        "generated_by": "verifier/tests/gateway.rs (EDGEWARD_VERIFIER_FIXTURE=path cargo test -p edgeward-verifier)",
        "now": NOW,
        "gateway_id": "https://gw.test",
        "label": "edgeward",
        "max_skew": 5,
        "replay_window": 60,
        "claim_headers": ["x-edgeward-sub", "x-tenant"],
        "hmac_keyid": "edgeward-hmac",
        "hmac_secret": Base64::encode_string(&HMAC),
        "ecdsa": fixture_case(forwarded("ecdsa-p256-sha256")),
        "hmac": fixture_case(forwarded("hmac-sha256")),
        "phantom": fixture_case(phantom_forwarded()),
    })
}

/// Writes the JS verifier's fixture when asked, and checks the committed one is the gateway's
/// current output (deterministic: fake clock and randomness, RFC 6979 ECDSA).
#[test]
fn js_fixture_is_current() {
    let fresh = serde_json::to_string_pretty(&fixture()).unwrap() + "\n";
    if let Some(path) = std::env::var_os("EDGEWARD_VERIFIER_FIXTURE") {
        std::fs::write(path, &fresh).unwrap();
    }
    let committed = include_str!("../js/test/fixture.json");
    assert_eq!(
        committed, fresh,
        "regenerate: EDGEWARD_VERIFIER_FIXTURE=verifier/js/test/fixture.json cargo test -p edgeward-verifier"
    );
}
