//! Native benchmark of the whole pipeline with a fake platform (`cargo bench -p edgeward --bench
//! pipeline`): `Gateway::handle` from request to `Outcome`, for an anonymous route (no token work),
//! a valid ES256 token from inline JWKS (extract → verify → claims → forward), an expired token
//! (the 401 path), and opaque tokens: a new one each time (the RFC 7662 JSON answer, served by the
//! fake platform, is parsed and judged) and a cached one. Then RFC 9421 signing of a forwarded
//! request (signature base + HMAC-SHA256 or ECDSA P-256). The next hop (issue #18): a JWT route
//! without exchange against the same route with a cached token exchange (RFC 8693), and a verified
//! JWT's cache hit against a split token's hit. Figures compare changes on one machine; nothing
//! here is asserted by tests.

use base64ct::{Base64UrlUnpadded, Encoding};
use criterion::{criterion_group, criterion_main, Criterion};
use edgeward::crypto::RustCrypto;
use edgeward::platform::{FetchError, FetchRequest, FetchResponse, LogLevel, Platform};
use edgeward::{Gateway, Headers, Outcome, Request};
use p256::ecdsa::{signature::Signer, Signature, SigningKey};
use serde_json::{json, Value};
use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

const NOW: u64 = 1_800_000_000;
const ISS: &str = "https://issuer.test";

fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
    }
}

/// Fixed clock, no network, logs dropped.
struct Fake;

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
        buf.fill(7);
    }
    /// The introspection endpoint: every token is active (RFC 7662 JSON); the decision point
    /// (OPA Data API) allows everything.
    async fn fetch(&self, request: FetchRequest) -> Result<FetchResponse, FetchError> {
        if request.url.starts_with("https://pdp.test/") {
            return Ok(FetchResponse {
                status: 200,
                headers: vec![("content-type".into(), "application/json".into())],
                body: br#"{"result": true}"#.to_vec(),
            });
        }
        let answer = json!({
            "active": true, "sub": "alice", "scope": "orders:read orders:write",
            "client_id": "bench-client", "iss": ISS, "exp": NOW + 300, "iat": NOW - 10,
            "token_type": "access_token", "aud": "https://api.test",
        });
        Ok(FetchResponse {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body: answer.to_string().into_bytes(),
        })
    }
}

fn signing_key() -> SigningKey {
    SigningKey::from_slice(&[1; 32]).expect("key")
}

fn token(claims: Value) -> String {
    let b64 = |v: &Value| Base64UrlUnpadded::encode_string(v.to_string().as_bytes());
    let header = json!({ "alg": "ES256", "typ": "at+jwt", "kid": "k1" });
    let input = format!("{}.{}", b64(&header), b64(&claims));
    let sig: Signature = signing_key().sign(input.as_bytes());
    format!(
        "{input}.{}",
        Base64UrlUnpadded::encode_string(&sig.to_bytes())
    )
}

fn gateway() -> Gateway {
    let point = signing_key().verifying_key().to_encoded_point(false);
    let jwk = json!({
        "kty": "EC", "crv": "P-256", "kid": "k1", "use": "sig",
        "x": Base64UrlUnpadded::encode_string(point.x().expect("x")),
        "y": Base64UrlUnpadded::encode_string(point.y().expect("y")),
    });
    let config = json!({
        "origin": "http://origin.test:8080",
        "routes": [{ "path": "/public/*", "anonymous": true }, { "path": "/api/*" },
            { "path": "/authz/*", "authorize": "pdp" }],
        "issuers": [{
            "issuer": ISS, "audiences": ["https://api.test"], "algorithms": ["ES256"],
            "require_typ": "at+jwt", "jwks": { "keys": [jwk] },
        }],
        "introspection": {
            "endpoint": "https://as.test/introspect", "issuer": ISS, "client_id": "gateway",
            "client_secret_name": "BENCH_SECRET", "response": "json",
        },
        "authorization": { "decision_points": { "pdp": {
            "kind": "opa", "base": "https://pdp.test", "path": "envoy/authz/allow",
            "headers": ["x-tenant"], "cache_ttl_seconds": 3600,
        } } },
    });
    let secret = |name: &str| (name == "BENCH_SECRET").then(|| "bench-secret".to_owned());
    Gateway::with_trust_anchors(Some(&config.to_string()), &secret, "bench", &[])
}

fn request(path: &str, token: Option<&str>) -> Request {
    let mut headers = Headers::new();
    headers.append("host", "gw.test");
    headers.append("user-agent", "bench");
    if let Some(t) = token {
        headers.append("authorization", &format!("Bearer {t}"));
    }
    Request {
        method: "GET".into(),
        url: format!("https://gw.test{path}"),
        headers,
        client_cert: None,
    }
}

fn pipeline(c: &mut Criterion) {
    let gw = gateway();
    let claims = |exp: u64| {
        json!({ "iss": ISS, "aud": "https://api.test", "sub": "alice", "exp": exp, "iat": NOW - 10,
        "scope": "orders:read orders:write", "client_id": "bench-client", "roles": ["reader", "writer"] })
    };
    let cases = [
        ("anonymous route", request("/public/doc", None), true),
        (
            "inline JWKS ES256, valid",
            request("/api/orders?x=1", Some(&token(claims(NOW + 300)))),
            true,
        ),
        // The same with a remote decision (OPA Data API) from the isolate cache: the difference is
        // the authorize stage's cost on a cache hit.
        (
            "inline JWKS ES256, valid, cached remote decision",
            request("/authz/orders?x=1", Some(&token(claims(NOW + 300)))),
            true,
        ),
        (
            "inline JWKS ES256, expired (401)",
            request("/api/orders", Some(&token(claims(NOW - 600)))),
            false,
        ),
    ];
    for (name, req, forwards) in &cases {
        // The outcome is checked once, outside the timed loop.
        let forwarded = matches!(block_on(gw.handle(&Fake, req)), Outcome::Forward(_));
        assert_eq!(forwarded, *forwards, "{name}");
        c.bench_function(&format!("pipeline/{name}"), |b| {
            b.iter(|| block_on(gw.handle(&Fake, black_box(req))))
        });
    }
}

/// Opaque tokens: a new one on every iteration (introspection answer parsed), and a cached one.
fn opaque(c: &mut Criterion) {
    let gw = gateway();
    let cached = request("/api/orders", Some("opaque-cached-0000"));
    let forwarded = matches!(block_on(gw.handle(&Fake, &cached)), Outcome::Forward(_));
    assert!(forwarded, "opaque token forwarded");
    let mut n = 0u64;
    c.bench_function("pipeline/opaque token, introspection answer parsed", |b| {
        b.iter(|| {
            n += 1;
            let req = request("/api/orders", Some(&format!("opaque-{n:016}")));
            block_on(gw.handle(&Fake, black_box(&req)))
        })
    });
    c.bench_function("pipeline/opaque token, cached answer", |b| {
        b.iter(|| block_on(gw.handle(&Fake, black_box(&cached))))
    });
}

/// RFC 9421 signing of a forwarded request: the signature base, then the signature.
fn message_signature(c: &mut Criterion) {
    use edgeward::message_signature::{
        sign, signature_base, Message, Param, SignatureParams, SigningKey as Rfc9421Key,
    };
    let mut headers = Headers::new();
    headers.append("content-type", "application/json");
    headers.append("x-edgeward-sub", "alice");
    headers.append("x-edgeward-scope", "orders:read orders:write");
    let message = Message {
        method: "POST",
        target_uri: "https://origin.test:8080/api/orders?x=1",
        headers: &headers,
        status: None,
    };
    let params = SignatureParams {
        components: [
            "@method",
            "@target-uri",
            "content-type",
            "x-edgeward-sub",
            "x-edgeward-scope",
        ]
        .map(String::from)
        .to_vec(),
        params: vec![
            ("created".into(), Param::Integer(NOW as i64)),
            ("keyid".into(), Param::String("edgeward-gateway".into())),
        ],
    };
    let ecdsa = signing_key();
    for (name, key) in [
        (
            "hmac-sha256",
            Rfc9421Key::Hmac(b"0123456789abcdef0123456789abcdef"),
        ),
        ("ecdsa-p256-sha256", Rfc9421Key::EcdsaP256(&ecdsa)),
    ] {
        c.bench_function(&format!("rfc9421/sign forwarded request ({name})"), |b| {
            b.iter(|| {
                let base = signature_base(black_box(&message), &params).expect("base");
                sign(&key, &base)
            })
        });
    }
}

/// [`Fake`] with a shared tier (an in-memory map) and a token endpoint that exchanges every token.
#[derive(Default)]
struct NextHopFake {
    shared: std::cell::RefCell<std::collections::HashMap<String, Vec<u8>>>,
}

impl Platform for NextHopFake {
    type Verifier = RustCrypto;
    fn verifier(&self) -> &RustCrypto {
        &RustCrypto
    }
    fn now(&self) -> u64 {
        NOW
    }
    fn log(&self, _level: LogLevel, _message: &str) {}
    fn random(&self, buf: &mut [u8]) {
        buf.fill(7);
    }
    async fn fetch(&self, _request: FetchRequest) -> Result<FetchResponse, FetchError> {
        let answer = json!({ "access_token": "exchanged.token.value", "token_type": "Bearer",
            "issued_token_type": "urn:ietf:params:oauth:token-type:access_token", "expires_in": 300 });
        Ok(FetchResponse {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body: answer.to_string().into_bytes(),
        })
    }
    async fn cache_get(&self, key: &str) -> Option<Vec<u8>> {
        self.shared.borrow().get(key).cloned()
    }
    async fn cache_put(&self, key: &str, value: Vec<u8>, _expires: u64) {
        self.shared.borrow_mut().insert(key.to_owned(), value);
    }
    fn has_shared_cache(&self) -> bool {
        true
    }
}

/// The gateway of [`gateway`] with an exchange route and split tokens (published by `ISS`).
fn next_hop_gateway() -> Gateway {
    let point = signing_key().verifying_key().to_encoded_point(false);
    let jwk = json!({
        "kty": "EC", "crv": "P-256", "kid": "k1", "use": "sig",
        "x": Base64UrlUnpadded::encode_string(point.x().expect("x")),
        "y": Base64UrlUnpadded::encode_string(point.y().expect("y")),
    });
    let config = json!({
        "origin": "http://origin.test:8080",
        "routes": [{ "path": "/exchange/*", "exchange": { "audience": "orders-api" } }, { "path": "/api/*" }],
        "issuers": [{
            "issuer": ISS, "audiences": ["https://api.test"], "algorithms": ["ES256"],
            "require_typ": "at+jwt", "jwks": { "keys": [jwk] },
        }],
        "token_exchange": { "token_endpoint": "https://as.test/token", "client_id": "gateway",
            "client_secret_name": "BENCH_SECRET" },
        "split_token": { "publisher": ISS, "audience": "gateway" },
    });
    let secret = |name: &str| (name == "BENCH_SECRET").then(|| "bench-secret".to_owned());
    Gateway::with_trust_anchors(Some(&config.to_string()), &secret, "bench", &[])
}

/// Issue #18's two comparisons: a cached exchange against the same request without one, and a
/// split token's hit against a whole JWT's verified-token cache hit.
fn next_hop(c: &mut Criterion) {
    let gw = next_hop_gateway();
    let fake = NextHopFake::default();
    let jwt = token(
        json!({ "iss": ISS, "aud": "https://api.test", "sub": "alice", "exp": NOW + 300, "iat": NOW - 10 }),
    );
    let (header_payload, signature) = jwt.rsplit_once('.').expect("three segments");
    // The publisher's push (here the issuer's own key signs it), as the warm-up endpoint wants.
    let push = {
        let b64 = |v: &Value| Base64UrlUnpadded::encode_string(v.to_string().as_bytes());
        let header = json!({ "alg": "ES256", "typ": "edgeward-warmup+jwt", "kid": "k1" });
        let claims = json!({ "iss": ISS, "aud": "gateway", "iat": NOW, "entries": [{
            "signature_hash": Base64UrlUnpadded::encode_string(&<sha2::Sha256 as sha2::Digest>::digest(signature.as_bytes())),
            "header_payload": header_payload }] });
        let input = format!("{}.{}", b64(&header), b64(&claims));
        let sig: Signature = signing_key().sign(input.as_bytes());
        format!(
            "{input}.{}",
            Base64UrlUnpadded::encode_string(&sig.to_bytes())
        )
    };
    let warm = Request {
        method: "POST".into(),
        url: "https://gw.test/.well-known/edgeward/introspection/warm".into(),
        headers: Headers::new(),
        client_cert: None,
    };
    let stored = block_on(gw.handle_body(&fake, &warm, push.as_bytes()));
    assert_eq!(stored.status, 200, "split-token push");
    let cases = [
        ("JWT, no exchange", request("/api/orders", Some(&jwt))),
        (
            "JWT, cached exchange",
            request("/exchange/orders", Some(&jwt)),
        ),
        ("split token hit", request("/api/orders", Some(signature))),
    ];
    for (name, req) in &cases {
        // Warms every cache, and checks the outcome once, outside the timed loop.
        let forwarded = matches!(block_on(gw.handle(&fake, req)), Outcome::Forward(_));
        assert!(forwarded, "{name}");
        c.bench_function(&format!("next hop/{name}"), |b| {
            b.iter(|| block_on(gw.handle(&fake, black_box(req))))
        });
    }
}

criterion_group!(benches, pipeline, opaque, message_signature, next_hop);
criterion_main!(benches);
