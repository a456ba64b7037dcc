//! Opaque tokens through the pipeline with a scripted authorization server: RFC 7662 JSON and
//! RFC 9701 JWT answers, caching (positive and negative), single-flight, and fail-closed faults.

mod common;

use base64ct::{Base64UrlUnpadded, Encoding};
use common::block_on;
use common::fake::{FakePlatform, Random, SharedCache};
use edgeward::crypto::RustCrypto;
use edgeward::platform::{FetchError, FetchRequest, FetchResponse};
use edgeward::{Gateway, Headers, Outcome, Request};
use p256::ecdsa::{signature::Signer, Signature, SigningKey};
use serde_json::{json, Value};

const NOW: u64 = 1_800_000_000;
const AS: &str = "https://as.test";

/// The fake platform at `NOW` with `script` as the authorization server; an opaque token
/// (`opaque-…`) in a log line or a cache key fails the test.
fn platform(
    script: impl Fn(&FetchRequest) -> Result<FetchResponse, FetchError> + 'static,
) -> FakePlatform {
    FakePlatform {
        random: Random::Fill(1),
        secret: Some("opaque-"),
        ..FakePlatform::new(NOW)
    }
    .answering(script)
}

fn json_answer(body: Value) -> Result<FetchResponse, FetchError> {
    Ok(FetchResponse {
        status: 200,
        headers: vec![(
            "content-type".into(),
            "application/json; charset=utf-8".into(),
        )],
        body: body.to_string().into_bytes(),
    })
}

fn active() -> Value {
    json!({ "active": true, "sub": "alice", "scope": "orders:read", "client_id": "app", "exp": NOW + 600, "iss": AS, "aud": "api" })
}

fn as_key() -> SigningKey {
    SigningKey::from_slice(&[9; 32]).unwrap()
}

fn config(mode: &str) -> String {
    let point = as_key().verifying_key().to_encoded_point(false);
    let jwk = json!({ "kty": "EC", "crv": "P-256", "kid": "as1",
        "x": Base64UrlUnpadded::encode_string(point.x().unwrap()),
        "y": Base64UrlUnpadded::encode_string(point.y().unwrap()) });
    json!({
        "origin": "http://origin.test",
        "routes": [{ "path": "/*" }],
        "issuers": [{ "issuer": AS, "audiences": ["api"], "jwks": { "keys": [jwk] } }],
        "introspection": { "endpoint": "https://as.test/introspect", "issuer": AS, "client_id": "gw",
            "client_secret_name": "GW_SECRET", "response": mode, "max_ttl": 300, "negative_ttl": 10 },
    })
    .to_string()
}

fn gateway(mode: &str) -> Gateway {
    gateway_from(&config(mode))
}

fn gateway_from(config: &str) -> Gateway {
    let secrets = |name: &str| (name == "GW_SECRET").then(|| "s3cret".to_owned());
    Gateway::with_trust_anchors(Some(config), &secrets, "test", &[])
}

fn request(token: &str) -> Request {
    let mut headers = Headers::new();
    headers.append("authorization", &format!("Bearer {token}"));
    Request {
        method: "GET".into(),
        url: "https://gw.test/orders".into(),
        headers,
        client_cert: None,
    }
}

fn status(outcome: &Outcome) -> (u16, String) {
    match outcome {
        Outcome::Forward(_) => (200, String::new()),
        Outcome::ReadBody { .. } => (0, "read body".into()),
        Outcome::Respond(r) => {
            let body: Value = serde_json::from_slice(&r.body).unwrap();
            (
                r.status,
                body["code"].as_str().unwrap_or_default().to_owned(),
            )
        }
    }
}

#[test]
fn active_opaque_token_is_forwarded_and_cached_until_ttl() {
    let fake = platform(|req| {
        assert_eq!(req.url, "https://as.test/introspect");
        assert!(req
            .headers
            .iter()
            .any(|(n, v)| n == "authorization" && v.starts_with("Basic ")));
        assert!(String::from_utf8_lossy(&req.body).starts_with("token=opaque-1&"));
        json_answer(active())
    });
    let gw = gateway("json");
    for _ in 0..3 {
        assert_eq!(
            status(&block_on(gw.handle(&fake, &request("opaque-1")))).0,
            200
        );
    }
    assert_eq!(
        fake.fetches.get(),
        1,
        "warm requests are served from the cache"
    );
    fake.now.set(NOW + 301);
    assert_eq!(
        status(&block_on(gw.handle(&fake, &request("opaque-1")))).0,
        200
    );
    assert_eq!(fake.fetches.get(), 2, "max_ttl bounds the reuse");
}

#[test]
fn positive_ttl_never_outlives_exp() {
    let fake = platform(|_| json_answer(json!({ "active": true, "exp": NOW + 20, "aud": "api" })));
    let gw = gateway("json");
    assert_eq!(
        status(&block_on(gw.handle(&fake, &request("opaque-2")))).0,
        200
    );
    fake.now.set(NOW + 21);
    block_on(gw.handle(&fake, &request("opaque-2")));
    assert_eq!(fake.fetches.get(), 2);
}

#[test]
fn inactive_is_401_and_negatively_cached() {
    let fake = platform(|_| json_answer(json!({ "active": false })));
    let gw = gateway("json");
    for _ in 0..3 {
        assert_eq!(
            status(&block_on(gw.handle(&fake, &request("opaque-3")))),
            (401, "ERR_TOKEN_INACTIVE".into())
        );
    }
    assert_eq!(fake.fetches.get(), 1);
    fake.now.set(NOW + 11);
    block_on(gw.handle(&fake, &request("opaque-3")));
    assert_eq!(fake.fetches.get(), 2, "negative_ttl bounds the reuse");
}

#[test]
fn every_authorization_server_fault_is_503_and_not_cached() {
    let faults: Vec<Box<dyn Fn() -> Result<FetchResponse, FetchError>>> = vec![
        Box::new(|| Err(FetchError::Unreachable)),
        Box::new(|| Err(FetchError::Timeout)),
        Box::new(|| Err(FetchError::TooLarge)),
        Box::new(|| {
            Ok(FetchResponse {
                status: 500,
                headers: vec![],
                body: b"oops".to_vec(),
            })
        }),
        Box::new(|| {
            Ok(FetchResponse {
                status: 200,
                headers: vec![("content-type".into(), "application/json".into())],
                body: b"{garbage".to_vec(),
            })
        }),
        Box::new(|| {
            Ok(FetchResponse {
                status: 200,
                headers: vec![("content-type".into(), "text/html".into())],
                body: br#"{"active":true}"#.to_vec(),
            })
        }),
        Box::new(|| json_answer(json!({ "active": "yes" }))),
        Box::new(|| {
            Ok(FetchResponse {
                status: 200,
                headers: vec![("content-type".into(), "application/json".into())],
                body: br#"{"active":false,"active":true}"#.to_vec(),
            })
        }),
    ];
    for (i, fault) in faults.into_iter().enumerate() {
        let fake = platform(move |_| fault());
        let gw = gateway("json");
        let outcome = block_on(gw.handle(&fake, &request("opaque-4")));
        assert_eq!(
            status(&outcome),
            (503, "ERR_UPSTREAM_UNAVAILABLE".into()),
            "fault #{i}"
        );
        if let Outcome::Respond(r) = &outcome {
            assert!(r.headers.get_single("retry-after").unwrap().is_some());
        }
        block_on(gw.handle(&fake, &request("opaque-4")));
        assert_eq!(fake.fetches.get(), 2, "fault #{i}: failures are not cached");
        // Recovery once the AS answers again.
        fake.respond(|_| json_answer(active()));
        assert_eq!(
            status(&block_on(gw.handle(&fake, &request("opaque-4")))).0,
            200,
            "fault #{i}"
        );
    }
}

#[test]
fn a_burst_of_the_same_new_token_costs_one_call() {
    let mut fake = platform(|_| json_answer(active()));
    fake.yield_in_fetch = true;
    let gw = gateway("json");
    let requests: Vec<Request> = (0..64).map(|_| request("opaque-5")).collect();
    let outcomes = block_on(futures_util::future::join_all(
        requests.iter().map(|r| gw.handle(&fake, r)),
    ));
    assert!(outcomes.iter().all(|o| status(o).0 == 200));
    assert_eq!(fake.fetches.get(), 1);
}

fn signed(header: Value, claims: Value) -> String {
    let b64 = |v: &Value| Base64UrlUnpadded::encode_string(v.to_string().as_bytes());
    let input = format!("{}.{}", b64(&header), b64(&claims));
    let sig: Signature = as_key().sign(input.as_bytes());
    format!(
        "{input}.{}",
        Base64UrlUnpadded::encode_string(&sig.to_bytes())
    )
}

fn jwt_answer(jwt: String) -> Result<FetchResponse, FetchError> {
    Ok(FetchResponse {
        status: 200,
        headers: vec![(
            "content-type".into(),
            "application/token-introspection+jwt".into(),
        )],
        body: jwt.into_bytes(),
    })
}

#[test]
fn rfc9701_signed_answers_are_verified() {
    let header = json!({ "alg": "ES256", "kid": "as1", "typ": "token-introspection+jwt" });
    let good = json!({ "iss": AS, "aud": "gw", "iat": NOW, "token_introspection": active() });
    let fake = platform(move |req| {
        assert!(req
            .headers
            .iter()
            .any(|(n, v)| n == "accept" && v == "application/token-introspection+jwt"));
        jwt_answer(signed(header.clone(), good.clone()))
    });
    assert_eq!(
        status(&block_on(
            gateway("jwt").handle(&fake, &request("opaque-6"))
        ))
        .0,
        200
    );

    let bad_cases = [
        (
            json!({ "alg": "ES256", "kid": "as1", "typ": "JWT" }),
            json!({ "iss": AS, "aud": "gw", "token_introspection": active() }),
        ),
        (
            json!({ "alg": "ES256", "kid": "as1", "typ": "token-introspection+jwt" }),
            json!({ "iss": AS, "aud": "other", "token_introspection": active() }),
        ),
        (
            json!({ "alg": "ES256", "kid": "as1", "typ": "token-introspection+jwt" }),
            json!({ "iss": "https://evil.test", "aud": "gw", "token_introspection": active() }),
        ),
        (
            json!({ "alg": "ES256", "kid": "as1", "typ": "token-introspection+jwt" }),
            json!({ "iss": AS, "aud": "gw" }),
        ),
    ];
    for (i, (h, c)) in bad_cases.into_iter().enumerate() {
        let fake = platform(move |_| jwt_answer(signed(h.clone(), c.clone())));
        assert_eq!(
            status(&block_on(
                gateway("jwt").handle(&fake, &request("opaque-7"))
            ))
            .0,
            503,
            "case {i}"
        );
    }
    // A JSON answer where a signed one is expected is not trusted.
    let fake = platform(|_| json_answer(active()));
    assert_eq!(
        status(&block_on(
            gateway("jwt").handle(&fake, &request("opaque-8"))
        ))
        .0,
        503
    );
}

#[test]
fn missing_client_secret_is_a_config_error_naming_the_field() {
    let fake = platform(|_| json_answer(active()));
    let gw = Gateway::with_trust_anchors(Some(&config("json")), &|_| None, "test", &[]);
    let outcome = block_on(gw.handle(&fake, &request("opaque-9")));
    match outcome {
        Outcome::Respond(r) => {
            let body: Value = serde_json::from_slice(&r.body).unwrap();
            assert_eq!(r.status, 500);
            assert_eq!(body["field"], "introspection.client_secret_name");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(fake.fetches.get(), 0);
}

#[test]
fn the_shared_tier_serves_a_new_isolate_without_an_as_call() {
    let shared = SharedCache::default();
    let first = platform(|_| json_answer(active())).sharing(&shared);
    assert_eq!(
        status(&block_on(
            gateway("json").handle(&first, &request("opaque-10"))
        ))
        .0,
        200
    );
    assert_eq!(first.fetches.get(), 1);
    let second = platform(|_| panic!("the AS must not be called")).sharing(&shared);
    assert_eq!(
        status(&block_on(
            gateway("json").handle(&second, &request("opaque-10"))
        ))
        .0,
        200
    );
}

fn warm_config() -> String {
    let mut config: Value = serde_json::from_str(&config("json")).unwrap();
    config["introspection"]["warmup"] = json!(true);
    config.to_string()
}

fn push(token: &str, key: &SigningKey, iat: u64) -> Vec<u8> {
    use sha2::Digest;
    let hash = Base64UrlUnpadded::encode_string(&sha2::Sha256::digest(token.as_bytes()));
    let claims = json!({ "iss": AS, "aud": "gw", "iat": iat,
        "entries": [{ "token_hash": hash, "claims": active() }] });
    let header = json!({ "alg": "ES256", "kid": "as1", "typ": "edgeward-warmup+jwt" });
    let b64 = |v: &Value| Base64UrlUnpadded::encode_string(v.to_string().as_bytes());
    let input = format!("{}.{}", b64(&header), b64(&claims));
    let sig: Signature = key.sign(input.as_bytes());
    format!(
        "{input}.{}",
        Base64UrlUnpadded::encode_string(&sig.to_bytes())
    )
    .into_bytes()
}

fn warm_request() -> Request {
    Request {
        method: "POST".into(),
        url: "https://gw.test/.well-known/edgeward/introspection/warm".into(),
        headers: Headers::new(),
        client_cert: None,
    }
}

#[test]
fn a_signed_warmup_push_fills_the_shared_tier_ahead_of_use() {
    let shared = SharedCache::default();
    let pusher = platform(|_| panic!("no AS call during a push")).sharing(&shared);
    let gw = gateway_from(&warm_config());
    assert!(matches!(
        block_on(gw.handle(&pusher, &warm_request())),
        Outcome::ReadBody { .. }
    ));
    let answer =
        block_on(gw.handle_body(&pusher, &warm_request(), &push("opaque-11", &as_key(), NOW)));
    assert_eq!(
        answer.status,
        200,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    // A new isolate: the pushed entry is used, the AS never asked.
    let user = platform(|_| panic!("the AS must not be called")).sharing(&shared);
    assert_eq!(
        status(&block_on(
            gateway_from(&warm_config()).handle(&user, &request("opaque-11"))
        ))
        .0,
        200
    );
}

#[test]
fn warmup_pushes_must_be_authentic_fresh_enabled_and_shared() {
    let fake = platform(|_| panic!("no AS call")).sharing(&SharedCache::default());
    let gw = gateway_from(&warm_config());
    let other_key = SigningKey::from_slice(&[3; 32]).unwrap();
    let forged =
        block_on(gw.handle_body(&fake, &warm_request(), &push("opaque-12", &other_key, NOW)));
    assert_eq!(forged.status, 401);
    let stale = block_on(gw.handle_body(
        &fake,
        &warm_request(),
        &push("opaque-12", &as_key(), NOW - 600),
    ));
    assert_eq!(stale.status, 401);
    let garbage = block_on(gw.handle_body(&fake, &warm_request(), b"\xff\xfe"));
    assert_eq!(garbage.status, 400);
    // Disabled by default: the endpoint does not exist.
    assert_eq!(
        status(&block_on(gateway("json").handle(&fake, &warm_request()))).0,
        404
    );
    // Without a shared tier (Spin today) a push could not help anyone.
    let no_shared = platform(|_| panic!("no AS call"));
    assert_eq!(
        status(&block_on(gw.handle(&no_shared, &warm_request()))).0,
        503
    );
}

fn phantom_answer(
    status: u16,
    content_type: &str,
    body: Vec<u8>,
) -> Result<FetchResponse, FetchError> {
    Ok(FetchResponse {
        status,
        headers: vec![("content-type".into(), content_type.into())],
        body,
    })
}

#[test]
fn application_jwt_mode_forwards_the_verified_as_jwt_instead_of_the_opaque_token() {
    let header = json!({ "alg": "ES256", "kid": "as1", "typ": "at+jwt" });
    let claims = json!({ "iss": AS, "aud": "api", "sub": "alice", "exp": NOW + 600 });
    let jwt = signed(header.clone(), claims);
    let answer = jwt.clone();
    let fake = platform(move |req| {
        assert!(req
            .headers
            .iter()
            .any(|(n, v)| n == "accept" && v == "application/jwt"));
        phantom_answer(200, "application/jwt", answer.clone().into_bytes())
    });
    let gw = gateway("application_jwt");
    for _ in 0..2 {
        match block_on(gw.handle(&fake, &request("opaque-20"))) {
            Outcome::Forward(f) => {
                let auth = f.headers.get_single("authorization").unwrap().unwrap();
                assert_eq!(
                    auth,
                    format!("Bearer {jwt}"),
                    "the origin gets the AS's JWT"
                );
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(fake.fetches.get(), 1, "the JWT is cached with the answer");

    let inactive = platform(|_| phantom_answer(204, "text/plain", vec![]));
    assert_eq!(
        status(&block_on(
            gateway("application_jwt").handle(&inactive, &request("opaque-21"))
        )),
        (401, "ERR_TOKEN_INACTIVE".into())
    );

    // A JWT the gateway cannot verify (wrong audience, forged) is never forwarded: 503.
    let bad_claims = json!({ "iss": AS, "aud": "elsewhere", "sub": "alice", "exp": NOW + 600 });
    let forged = signed(header, bad_claims);
    let untrusted =
        platform(move |_| phantom_answer(200, "application/jwt", forged.clone().into_bytes()));
    assert_eq!(
        status(&block_on(
            gateway("application_jwt").handle(&untrusted, &request("opaque-22"))
        ))
        .0,
        503
    );
}

#[test]
fn json_mode_origin_gets_a_gateway_minted_jwt_of_the_introspected_claims() {
    let gw_key = SigningKey::from_slice(&[5; 32]).unwrap();
    let point = gw_key.verifying_key().to_encoded_point(false);
    let b64 = |b: &[u8]| Base64UrlUnpadded::encode_string(b);
    let private_jwk = json!({ "kty": "EC", "crv": "P-256", "kid": "gw-1",
        "x": b64(point.x().unwrap()), "y": b64(point.y().unwrap()), "d": b64(&gw_key.to_bytes()) })
    .to_string();
    let mut config: Value = serde_json::from_str(&config("json")).unwrap();
    config["forwarding"] = json!({ "gateway_id": "gw-test", "signing_key_secret": "GW_KEY" });
    let secrets = move |name: &str| match name {
        "GW_SECRET" => Some("s3cret".to_owned()),
        "GW_KEY" => Some(private_jwk.clone()),
        _ => None,
    };
    let gw = Gateway::with_trust_anchors(Some(&config.to_string()), &secrets, "test", &[]);
    let fake = platform(|_| json_answer(active()));
    let forward = match block_on(gw.handle(&fake, &request("opaque-30"))) {
        Outcome::Forward(f) => f,
        other => panic!("unexpected {other:?}"),
    };
    let auth = forward
        .headers
        .get_single("authorization")
        .unwrap()
        .unwrap()
        .to_owned();
    let jwt = auth.strip_prefix("Bearer ").unwrap();
    assert_ne!(
        jwt, "opaque-30",
        "the opaque token never reaches the origin"
    );
    let parsed = edgeward::jws::parse(jwt, 16 * 1024).unwrap();
    let key = edgeward::crypto::PublicKey::P256(point.as_bytes().to_vec());
    block_on(parsed.verify(&key, &RustCrypto)).expect("signed by the gateway key");
    assert_eq!(parsed.header.kid.as_deref(), Some("gw-1"));
    assert_eq!(parsed.header.typ.as_deref(), Some("at+jwt"));
    assert_eq!(parsed.claims["iss"], "gw-test");
    assert_eq!(parsed.claims["token_iss"], AS);
    assert_eq!(parsed.claims["sub"], "alice");
    assert_eq!(parsed.claims["scope"], "orders:read");
    assert_eq!(parsed.claims["exp"], NOW + 600);
    assert!(parsed.claims.get("active").is_none());
}

/// A JWE or other JOSE-shaped credential is not a JWS and not the AS's opaque token: refused
/// locally, so a client cannot make the gateway call the AS (or answer 503) at will.
#[test]
fn jose_shaped_credentials_are_refused_without_an_as_call() {
    let fake = platform(|_| panic!("the AS must not be called"));
    let gw = gateway("json");
    let jwe =
        "eyJhbGciOiJkaXIiLCJlbmMiOiJBMTI4R0NNIn0..AAAAAAAAAAAAAAAA.AAAA.AAAAAAAAAAAAAAAAAAAAAA";
    let four = "eyJhbGciOiJFUzI1NiJ9.e30.e30.AAAA";
    let one = "eyJhbGciOiJub25lIn0.AAAA";
    for _ in 0..100 {
        for token in [jwe, four, one] {
            assert_eq!(
                status(&block_on(gw.handle(&fake, &request(token)))),
                (401, "ERR_JOSE_NOT_SUPPORTED".into()),
                "{token}"
            );
        }
    }
    assert_eq!(fake.fetches.get(), 0);
}

fn answer(status: u16, body: &str) -> Result<FetchResponse, FetchError> {
    Ok(FetchResponse {
        status,
        headers: vec![("content-type".into(), "application/json".into())],
        body: body.as_bytes().to_vec(),
    })
}

/// RFC 7662 §2.2 says inactive; some ASes refuse a token with a 400 instead. Either is about the
/// token: 401, cached like an inactive answer (one AS call per distinct token).
#[test]
fn an_as_refusing_the_token_is_401_and_negatively_cached() {
    for code in ["invalid_request", "unsupported_token_type", "invalid_token"] {
        for mode in ["json", "jwt", "application_jwt"] {
            let body = format!(r#"{{"error":"{code}","error_description":"no"}}"#);
            let fake = platform(move |_| answer(400, &body));
            let gw = gateway(mode);
            for token in ["opaque-r1", "opaque-r2"] {
                for _ in 0..50 {
                    let outcome = block_on(gw.handle(&fake, &request(token)));
                    assert_eq!(
                        status(&outcome),
                        (401, "ERR_TOKEN_INACTIVE".into()),
                        "{code} {mode}"
                    );
                }
            }
            assert_eq!(fake.fetches.get(), 2, "{code} {mode}: one call per token");
        }
    }
}

/// A 400 about the gateway's own client registration, or any other unusable answer, is not the
/// client's fault: 503, not cached.
#[test]
fn an_as_refusing_the_gateway_is_503() {
    for (status_code, body) in [
        (400, r#"{"error":"invalid_client"}"#),
        (400, r#"{"error":"unauthorized_client"}"#),
        (401, r#"{"error":"invalid_token"}"#),
        (400, "not json"),
        (400, r#"{"error":["invalid_token"]}"#),
        (404, r#"{"error":"invalid_request"}"#),
        (502, r#"{"error":"invalid_request"}"#),
    ] {
        let fake = platform(move |_| answer(status_code, body));
        let gw = gateway("json");
        for _ in 0..2 {
            assert_eq!(
                status(&block_on(gw.handle(&fake, &request("opaque-c")))),
                (503, "ERR_UPSTREAM_UNAVAILABLE".into()),
                "{status_code} {body}"
            );
        }
        assert_eq!(fake.fetches.get(), 2, "{status_code} {body}: not cached");
    }
}

fn with_claims(change: impl Fn(&mut Value)) -> Value {
    let mut claims = active();
    change(&mut claims);
    claims
}

/// An active answer is held to the gateway's audiences (RFC 8707), its AS and the access-token
/// type, from the AS and from the cache alike.
#[test]
fn introspected_tokens_are_held_to_audience_issuer_and_type() {
    let cases = [
        (
            with_claims(|c| c["aud"] = json!("https://other.example")),
            "ERR_JWT_AUDIENCE_MISMATCH",
        ),
        (
            with_claims(|c| c["aud"] = json!(["x", "y"])),
            "ERR_JWT_AUDIENCE_MISMATCH",
        ),
        (
            with_claims(|c| c["aud"] = json!(7)),
            "ERR_JWT_AUDIENCE_MISMATCH",
        ),
        (
            with_claims(|c| drop(c.as_object_mut().unwrap().remove("aud"))),
            "ERR_JWT_CLAIM_MISSING",
        ),
        (
            with_claims(|c| c["iss"] = json!("https://evil.test")),
            "ERR_JWT_ISSUER_UNKNOWN",
        ),
        (
            with_claims(|c| c["token_type"] = json!("refresh_token")),
            "ERR_JWT_TYPE_MISMATCH",
        ),
        (
            with_claims(|c| c["token_type"] = json!("urn:ietf:params:oauth:token-type:id_token")),
            "ERR_JWT_TYPE_MISMATCH",
        ),
    ];
    for (claims, code) in cases {
        let answer_claims = claims.clone();
        let fake = platform(move |_| json_answer(answer_claims.clone()));
        let gw = gateway("json");
        for _ in 0..2 {
            assert_eq!(
                status(&block_on(gw.handle(&fake, &request("opaque-a")))),
                (401, code.into()),
                "{claims}"
            );
        }
    }
    let fine = [
        with_claims(|c| c["aud"] = json!(["x", "api"])),
        with_claims(|c| c["token_type"] = json!("Bearer")),
        with_claims(|c| c["token_type"] = json!("DPoP")),
        with_claims(|c| drop(c.as_object_mut().unwrap().remove("iss"))),
    ];
    for claims in fine {
        let fake = platform(move |_| json_answer(claims.clone()));
        let outcome = block_on(gateway("json").handle(&fake, &request("opaque-f")));
        assert_eq!(status(&outcome).0, 200);
    }
}

#[test]
fn introspection_audiences_are_configurable_and_never_empty() {
    let mut settings: Value = serde_json::from_str(&config("json")).unwrap();
    settings["introspection"]["audiences"] = json!(["https://api.opaque.test"]);
    let gw = gateway_from(&settings.to_string());
    let ours = with_claims(|c| c["aud"] = json!("https://api.opaque.test"));
    let fake = platform(move |_| json_answer(ours.clone()));
    assert_eq!(
        status(&block_on(gw.handle(&fake, &request("opaque-o")))).0,
        200
    );
    let theirs = platform(|_| json_answer(active()));
    assert_eq!(
        status(&block_on(gw.handle(&theirs, &request("opaque-t")))),
        (401, "ERR_JWT_AUDIENCE_MISMATCH".into()),
        "the issuers' audiences no longer count once the list is given"
    );

    settings["introspection"]["require_audience"] = json!(false);
    let gw = gateway_from(&settings.to_string());
    let no_aud = with_claims(|c| drop(c.as_object_mut().unwrap().remove("aud")));
    let fake = platform(move |_| json_answer(no_aud.clone()));
    assert_eq!(
        status(&block_on(gw.handle(&fake, &request("opaque-n")))).0,
        200
    );

    for empty in [json!([]), json!([""])] {
        settings["introspection"]["audiences"] = empty;
        let gw = gateway_from(&settings.to_string());
        let fake = platform(|_| panic!("no AS call"));
        let outcome = block_on(gw.handle(&fake, &request("opaque-e")));
        let Outcome::Respond(response) = outcome else {
            panic!("not refused")
        };
        let body: Value = serde_json::from_slice(&response.body).unwrap();
        assert_eq!(body["field"], "introspection.audiences");
    }
    let mut bare: Value = serde_json::from_str(&config("json")).unwrap();
    bare["issuers"] = json!([]);
    let fake = platform(|_| panic!("no AS call"));
    let Outcome::Respond(response) =
        block_on(gateway_from(&bare.to_string()).handle(&fake, &request("opaque-e")))
    else {
        panic!()
    };
    assert_eq!(
        response.status, 500,
        "no issuers and no audiences: nothing to hold tokens to"
    );
}
