//! The policy and forward stages through `Gateway::handle` with a fake platform: per-route
//! requirements, the RFC 6750 / RFC 9470 answers, claim-based routing, claim headers, the signed
//! assertion and the RFC 9421 signature the origin receives.

mod common;

use base64ct::{Base64, Base64UrlUnpadded, Encoding};
use common::block_on;
use edgeward::crypto::RustCrypto;
use edgeward::platform::{FetchError, FetchRequest, FetchResponse, LogLevel, Platform};
use edgeward::{Forward, Gateway, Outcome, Request, Response};
use p256::ecdsa::{signature::Signer, Signature, SigningKey};
use serde_json::{json, Value};
use std::cell::{Cell, RefCell};

const NOW: u64 = 1_800_000_000;
const ISS: &str = "https://issuer.test";

struct Fake {
    logs: RefCell<Vec<String>>,
    counter: Cell<u8>,
}

impl Fake {
    fn new() -> Fake {
        Fake {
            logs: RefCell::default(),
            counter: Cell::new(1),
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
    fn log(&self, _level: LogLevel, message: &str) {
        self.logs.borrow_mut().push(message.to_owned());
    }
    fn random(&self, buf: &mut [u8]) {
        // Distinct per call so that nonces and ids differ; deterministic across runs.
        let n = self.counter.get();
        self.counter.set(n.wrapping_add(1));
        for (i, b) in buf.iter_mut().enumerate() {
            *b = n.wrapping_mul(31).wrapping_add(i as u8);
        }
    }
    async fn fetch(&self, _request: FetchRequest) -> Result<FetchResponse, FetchError> {
        Err(FetchError::Unreachable)
    }
}

fn key(seed: u8) -> SigningKey {
    SigningKey::from_slice(&[seed; 32]).unwrap()
}

fn jwk(signing: &SigningKey, kid: &str) -> Value {
    let point = signing.verifying_key().to_encoded_point(false);
    json!({
        "kty": "EC", "crv": "P-256", "kid": kid, "use": "sig",
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

fn claims(extra: Value) -> Value {
    let mut claims = json!({ "iss": ISS, "aud": "https://api.test", "sub": "alice", "exp": NOW + 300, "iat": NOW - 10 });
    for (k, v) in extra.as_object().unwrap() {
        claims[k] = v.clone();
    }
    claims
}

fn config(routes: Value, forwarding: Value) -> Value {
    json!({
        "origin": "http://origin.test:8080",
        "routes": routes,
        "issuers": [{
            "issuer": ISS, "audiences": ["https://api.test"],
            "jwks": { "keys": [jwk(&key(1), "k1")] },
        }],
        "forwarding": forwarding,
    })
}

fn gateway(config: &Value) -> Gateway {
    let secrets = |name: &str| match name {
        "EDGEWARD_SIGNING_KEY" => Some(gateway_private_jwk().to_string()),
        "EDGEWARD_HMAC" => Some(Base64::encode_string(&[9u8; 32])),
        _ => None,
    };
    Gateway::with_trust_anchors(Some(&config.to_string()), &secrets, "test", &[])
}

/// The gateway's signing key as a private JWK (the platform secret's format).
fn gateway_private_jwk() -> Value {
    let mut jwk = jwk(&key(42), "gw-1");
    jwk["d"] = json!(Base64UrlUnpadded::encode_string(&key(42).to_bytes()));
    jwk
}

fn get(path: &str, headers: &[(&str, &str)]) -> Request {
    Request {
        method: "GET".into(),
        url: format!("https://gw.test{path}"),
        headers: headers.iter().copied().collect(),
    }
}

fn run(gw: &Gateway, request: &Request) -> Outcome {
    block_on(gw.handle(&Fake::new(), request))
}

fn forwarded(outcome: Outcome) -> Forward {
    match outcome {
        Outcome::Forward(f) => f,
        Outcome::Respond(r) => panic!(
            "rejected {}: {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        ),
    }
}

fn responded(outcome: Outcome) -> Response {
    match outcome {
        Outcome::Respond(r) => r,
        Outcome::Forward(f) => panic!("forwarded to {}", f.url),
    }
}

fn challenge(r: &Response) -> String {
    r.headers
        .get_single("www-authenticate")
        .unwrap()
        .unwrap_or("")
        .to_owned()
}

fn bearer(claims: Value) -> String {
    format!("Bearer {}", token(claims))
}

#[test]
fn insufficient_scope_is_403_with_rfc6750_challenge() {
    let gw = gateway(&config(
        json!([{ "path": "/api/*", "scopes_all": ["orders:read"], "scopes_any": ["eu", "us"] }]),
        json!({}),
    ));
    let ok = bearer(claims(json!({ "scope": "orders:read eu" })));
    forwarded(run(&gw, &get("/api/orders", &[("authorization", &ok)])));
    let weak = bearer(claims(json!({ "scope": "orders:write" })));
    let r = responded(run(&gw, &get("/api/orders", &[("authorization", &weak)])));
    assert_eq!(r.status, 403);
    assert_eq!(
        challenge(&r),
        r#"Bearer realm="edgeward", error="insufficient_scope", error_description="insufficient scope", scope="orders:read eu us""#
    );
    let body: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(body["code"], "ERR_POLICY_INSUFFICIENT_SCOPE");
}

#[test]
fn claim_rule_and_issuer_failures_are_403_without_scope_param() {
    let gw = gateway(&config(
        json!([{ "path": "/a", "claims": [{ "claim": "tenant", "equals": "acme" }] },
               { "path": "/b", "issuers": ["https://other.test"] }]),
        json!({}),
    ));
    let t = bearer(claims(json!({ "tenant": "evil" })));
    let r = responded(run(&gw, &get("/a", &[("authorization", &t)])));
    assert_eq!(r.status, 403);
    assert_eq!(
        challenge(&r),
        r#"Bearer realm="edgeward", error="insufficient_scope", error_description="claim requirement not met""#
    );
    let r = responded(run(&gw, &get("/b", &[("authorization", &t)])));
    assert_eq!(r.status, 403);
    let good = bearer(claims(json!({ "tenant": "acme" })));
    forwarded(run(&gw, &get("/a", &[("authorization", &good)])));
}

#[test]
fn step_up_is_401_with_rfc9470_challenge() {
    let gw = gateway(&config(
        json!([{ "path": "/pay", "acr_values": ["urn:mfa"], "max_age": 300 }]),
        json!({}),
    ));
    let t = bearer(claims(json!({ "acr": "urn:pwd", "auth_time": NOW })));
    let r = responded(run(&gw, &get("/pay", &[("authorization", &t)])));
    assert_eq!(r.status, 401);
    assert_eq!(
        challenge(&r),
        r#"Bearer realm="edgeward", error="insufficient_user_authentication", error_description="a different authentication level is required", acr_values="urn:mfa", max_age="300""#
    );
    let stale = bearer(claims(json!({ "acr": "urn:mfa", "auth_time": NOW - 301 })));
    let r = responded(run(&gw, &get("/pay", &[("authorization", &stale)])));
    assert_eq!(r.status, 401);
    assert!(challenge(&r).contains(r#"error_description="more recent authentication is required""#));
    let fresh = bearer(claims(json!({ "acr": "urn:mfa", "auth_time": NOW - 30 })));
    forwarded(run(&gw, &get("/pay", &[("authorization", &fresh)])));
}

#[test]
fn claim_based_routing_picks_the_origin() {
    let gw = gateway(&config(
        json!([{ "path": "/api/*", "origin_by_claim": { "claim": "region",
            "origins": { "eu": "https://eu.api.test", "us": "https://us.api.test/v1" },
            "default": "https://us.api.test/v1" } }]),
        json!({}),
    ));
    for (region, url) in [
        (json!("eu"), "https://eu.api.test/api/x?q=1"),
        (json!("us"), "https://us.api.test/v1/api/x?q=1"),
        (json!("mars"), "https://us.api.test/v1/api/x?q=1"),
        (json!(null), "https://us.api.test/v1/api/x?q=1"),
    ] {
        let t = bearer(claims(json!({ "region": region })));
        let f = forwarded(run(&gw, &get("/api/x?q=1", &[("authorization", &t)])));
        assert_eq!(f.url, url, "{region}");
    }
}

#[test]
fn bad_route_config_is_named() {
    let cases = [
        (
            json!([{ "path": "/a", "origin_by_claim": { "claim": "r", "origins": { "eu": "ftp://x" }, "default": "https://d" } }]),
            "routes[0].origin_by_claim.origins.eu",
        ),
        (
            json!([{ "path": "/a", "anonymous": true, "scopes_all": ["x"] }]),
            "routes[0]",
        ),
        (
            json!([{ "path": "/a", "claims": [{ "claim": "x", "equals": 1, "exists": true }] }]),
            "routes[0].claims[0]",
        ),
        (
            json!([{ "path": "/a", "scopes_all": ["a b"] }]),
            "routes[0].scopes_all",
        ),
    ];
    for (routes, field) in cases {
        let gw = gateway(&config(routes, json!({})));
        let r = responded(run(&gw, &get("/a", &[])));
        assert_eq!(r.status, 500);
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(body["field"], field, "{body}");
    }
}
