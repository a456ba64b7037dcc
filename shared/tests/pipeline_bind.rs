//! The bind stage through `Gateway::handle` with a fake platform: DPoP (RFC 9449) route modes,
//! replay, nonces, the public URL behind a proxy, and certificate-bound tokens (RFC 8705).

mod common;

use base64ct::{Base64UrlUnpadded, Encoding};
use common::fake::{FakePlatform, Replay};
use common::{block_on, get as request, p256_jwk as jwk, p256_key as key, sign_es256 as sign};
use edgeward::internal::dpop::access_token_hash;
use edgeward::jwk::Jwk;
use edgeward::{ClientCert, Forward, Gateway, Outcome, Request};
use p256::ecdsa::SigningKey;
use serde_json::{json, Value};

const NOW: u64 = 1_800_000_000;
const ISS: &str = "https://issuer.test";
const NONCE_SECRET: &str = "0123456789abcdef0123456789abcdef";

/// The fake platform at `NOW`, with `replay` as its shared replay store.
fn platform(replay: Replay) -> FakePlatform {
    FakePlatform {
        replay,
        ..FakePlatform::new(NOW)
    }
}

fn jkt(signing: &SigningKey) -> String {
    Jwk::parse(jwk(signing).to_string().as_bytes())
        .unwrap()
        .thumbprint_sha256()
}

/// An access token from the issuer (key 1), with `cnf` when given.
fn access_token(cnf: Option<Value>) -> String {
    let mut claims = json!({
        "iss": ISS, "aud": "https://api.test", "sub": "alice", "exp": NOW + 3600, "iat": NOW - 10,
    });
    if let Some(cnf) = cnf {
        claims["cnf"] = cnf;
    }
    let header = json!({ "alg": "ES256", "typ": "at+jwt", "kid": "k1" });
    sign(&key(1), &header, &claims)
}

/// A token bound to the DPoP key `seed`.
fn bound_token(seed: u8) -> String {
    access_token(Some(json!({ "jkt": jkt(&key(seed)) })))
}

/// A proof by key `seed` for `htu`, for `token`, with `jti` and an optional nonce.
fn proof(seed: u8, htu: &str, token: &str, jti: &str, nonce: Option<&str>) -> String {
    let header = json!({ "typ": "dpop+jwt", "alg": "ES256", "jwk": jwk(&key(seed)) });
    let mut claims = json!({
        "jti": jti, "htm": "GET", "htu": htu, "iat": NOW, "ath": access_token_hash(token),
    });
    if let Some(nonce) = nonce {
        claims["nonce"] = json!(nonce);
    }
    sign(&key(seed), &header, &claims)
}

fn gateway_with(extra: Value) -> Gateway {
    let mut config = json!({
        "origin": "http://origin.test:8080",
        "routes": [
            { "path": "/api/*" },
            { "path": "/strict/*", "dpop": "required" },
            { "path": "/legacy/*", "dpop": "disabled" },
        ],
        "issuers": [{
            "issuer": ISS, "audiences": ["https://api.test"], "algorithms": ["ES256"],
            "jwks": { "keys": [{ "kid": "k1", "use": "sig", "kty": "EC", "crv": "P-256",
                "x": jwk(&key(1))["x"], "y": jwk(&key(1))["y"] }] },
        }],
    });
    for (name, value) in extra.as_object().unwrap() {
        config[name] = value.clone();
    }
    let secrets = |name: &str| (name == "NONCE_KEY").then(|| NONCE_SECRET.to_owned());
    Gateway::with_trust_anchors(Some(&config.to_string()), &secrets, "test", &[])
}

fn gateway() -> Gateway {
    gateway_with(json!({}))
}

fn forwarded(outcome: Outcome) -> Forward {
    match outcome {
        Outcome::Forward(f) => f,
        Outcome::Respond(r) => panic!(
            "rejected {}: {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        ),
        other => panic!("unexpected {other:?}"),
    }
}

/// Status, `WWW-Authenticate`, `DPoP-Nonce` and the JSON body of a rejection.
fn rejected(outcome: Outcome) -> (u16, String, Option<String>, Value) {
    match outcome {
        Outcome::Respond(r) => {
            let header = |name| r.headers.get_single(name).unwrap().map(str::to_owned);
            (
                r.status,
                header("www-authenticate").unwrap_or_default(),
                header("dpop-nonce"),
                serde_json::from_slice(&r.body).unwrap(),
            )
        }
        Outcome::Forward(f) => panic!("forwarded to {}", f.url),
        other => panic!("unexpected {other:?}"),
    }
}

const API: &str = "https://gw.test/api/orders";

fn dpop_request(url: &str, token: &str, proof: &str) -> Request {
    let authorization = format!("DPoP {token}");
    request(url, &[("authorization", &authorization), ("dpop", proof)])
}

#[test]
fn bound_token_with_a_valid_proof_is_forwarded_without_the_proof() {
    let token = bound_token(2);
    let p = proof(2, API, &token, "j1", None);
    let fake = platform(Replay::None);
    let f = forwarded(block_on(
        gateway().handle(&fake, &dpop_request(&format!("{API}?x=1"), &token, &p)),
    ));
    assert_eq!(f.url, "http://origin.test:8080/api/orders?x=1");
    assert!(f.headers.get_single("dpop").unwrap().is_none());
    assert!(f.headers.get_single("authorization").unwrap().is_none());
    assert!(f.response_headers.is_empty(), "no nonces configured");
}

#[test]
fn the_same_proof_twice_is_a_replay() {
    let gw = gateway();
    let fake = platform(Replay::None);
    let token = bound_token(2);
    let p = proof(2, API, &token, "j1", None);
    forwarded(block_on(gw.handle(&fake, &dpop_request(API, &token, &p))));
    let (status, challenge, _, body) =
        rejected(block_on(gw.handle(&fake, &dpop_request(API, &token, &p))));
    assert_eq!(status, 401);
    assert_eq!(body["code"], "ERR_DPOP_REPLAYED");
    assert!(
        challenge.starts_with(r#"DPoP realm="edgeward", error="invalid_dpop_proof""#),
        "{challenge}"
    );
    assert!(
        challenge.ends_with(r#"algs="ES256 ES384 RS256 PS256 EdDSA""#),
        "{challenge}"
    );
    // A new jti is a new proof.
    let p2 = proof(2, API, &token, "j2", None);
    forwarded(block_on(gw.handle(&fake, &dpop_request(API, &token, &p2))));
}

#[test]
fn proof_failures_through_the_pipeline() {
    let token = bound_token(2);
    let good = proof(2, API, &token, "j1", None);
    let authorization = format!("DPoP {token}");
    let cases: Vec<(&str, Request, &str)> = vec![
        (
            "no DPoP header",
            request(API, &[("authorization", &authorization)]),
            "ERR_DPOP_PROOF_MISSING",
        ),
        (
            "two DPoP headers",
            request(
                API,
                &[
                    ("authorization", &authorization),
                    ("dpop", &good),
                    ("DPoP", &good),
                ],
            ),
            "ERR_DPOP_PROOF_MULTIPLE",
        ),
        (
            "proof by another key than the token's cnf.jkt",
            dpop_request(API, &token, &proof(3, API, &token, "j1", None)),
            "ERR_DPOP_JKT_MISMATCH",
        ),
        (
            "ath of another token",
            dpop_request(API, &token, &proof(2, API, "other", "j1", None)),
            "ERR_DPOP_ATH_MISMATCH",
        ),
        (
            "htu of another path",
            dpop_request(
                API,
                &token,
                &proof(2, "https://gw.test/api/other", &token, "j1", None),
            ),
            "ERR_DPOP_HTU_MISMATCH",
        ),
    ];
    for (name, req, code) in cases {
        let (status, challenge, _, body) =
            rejected(block_on(gateway().handle(&platform(Replay::None), &req)));
        assert_eq!((status, body["code"].as_str()), (401, Some(code)), "{name}");
        assert!(
            challenge.contains(r#"error="invalid_dpop_proof""#),
            "{name}: {challenge}"
        );
    }
}

#[test]
fn ath_is_checked_against_the_presented_token_when_it_comes_from_the_cache() {
    // One gateway: the second request for each token is served from the verified-token cache,
    // which keeps the token's `ath`; a proof must still carry the `ath` of the token it comes with.
    let gw = gateway();
    let fake = platform(Replay::None);
    let token = bound_token(2);
    let claims = json!({
        "iss": ISS, "aud": "https://api.test", "sub": "bob", "exp": NOW + 3600, "iat": NOW - 10,
        "cnf": { "jkt": jkt(&key(2)) },
    });
    let header = json!({ "alg": "ES256", "typ": "at+jwt", "kid": "k1" });
    let other = sign(&key(1), &header, &claims);
    for (jti, t) in [("a1", &token), ("a2", &other)] {
        forwarded(block_on(gw.handle(
            &fake,
            &dpop_request(API, t, &proof(2, API, t, jti, None)),
        )));
    }
    for (jti, presented, hashed) in [("b1", &token, &other), ("b2", &other, &token)] {
        let p = proof(2, API, hashed, jti, None);
        let (status, _, _, body) = rejected(block_on(
            gw.handle(&fake, &dpop_request(API, presented, &p)),
        ));
        assert_eq!(
            (status, body["code"].as_str()),
            (401, Some("ERR_DPOP_ATH_MISMATCH"))
        );
    }
    for (jti, t) in [("c1", &token), ("c2", &other)] {
        forwarded(block_on(gw.handle(
            &fake,
            &dpop_request(API, t, &proof(2, API, t, jti, None)),
        )));
    }
}

#[test]
fn route_modes_and_no_downgrade() {
    let bound = bound_token(2);
    let unbound = access_token(None);
    let run = |url: &str, req: Request| {
        let mut req = req;
        req.url = url.into();
        block_on(gateway().handle(&platform(Replay::None), &req))
    };
    let bearer = |t: &str| request("", &[("authorization", &format!("Bearer {t}"))]);
    let strict = "https://gw.test/strict/x";
    let legacy = "https://gw.test/legacy/x";

    // optional (default): unbound Bearer passes; bound Bearer is a downgrade.
    forwarded(run(API, bearer(&unbound)));
    let (status, challenge, _, body) = rejected(run(API, bearer(&bound)));
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("ERR_DPOP_BOUND_TOKEN_AS_BEARER"))
    );
    assert!(
        challenge.contains(r#"error="invalid_token""#),
        "{challenge}"
    );
    // The DPoP scheme with an unbound token.
    let p = proof(2, API, &unbound, "j1", None);
    let (status, _, _, body) = rejected(run(API, dpop_request(API, &unbound, &p)));
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("ERR_DPOP_TOKEN_NOT_BOUND"))
    );

    // required, no credential at all: 401 without an error code, but a DPoP challenge with algs.
    let (status, challenge, _, body) = rejected(run(strict, request(strict, &[])));
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("ERR_CREDENTIAL_MISSING"))
    );
    assert!(
        challenge.starts_with(r#"DPoP realm="edgeward", algs=""#),
        "{challenge}"
    );
    assert!(!challenge.contains("error="), "{challenge}");

    // required: unbound Bearer gets the DPoP challenge; a bound token with its proof passes.
    let (status, challenge, _, body) = rejected(run(strict, bearer(&unbound)));
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("ERR_DPOP_REQUIRED"))
    );
    assert!(challenge.starts_with("DPoP "), "{challenge}");
    let p = proof(2, strict, &bound, "j1", None);
    forwarded(run(strict, dpop_request(strict, &bound, &p)));
    let (_, _, _, body) = rejected(run(strict, bearer(&bound)));
    assert_eq!(body["code"], "ERR_DPOP_BOUND_TOKEN_AS_BEARER");

    // disabled: unbound Bearer only.
    forwarded(run(legacy, bearer(&unbound)));
    let (_, _, _, body) = rejected(run(legacy, bearer(&bound)));
    assert_eq!(body["code"], "ERR_DPOP_BOUND_TOKEN_AS_BEARER");
    let p = proof(2, legacy, &bound, "j1", None);
    let (status, _, _, _) = rejected(run(legacy, dpop_request(legacy, &bound, &p)));
    assert_eq!(status, 400);
}

#[test]
fn nonce_flow() {
    let gw = gateway_with(
        json!({ "dpop": { "nonce_secret": "NONCE_KEY", "nonce_bucket_seconds": 60 } }),
    );
    let fake = platform(Replay::None);
    let token = bound_token(2);

    // No nonce: use_dpop_nonce with a fresh DPoP-Nonce.
    let p = proof(2, API, &token, "j1", None);
    let (status, challenge, nonce, body) =
        rejected(block_on(gw.handle(&fake, &dpop_request(API, &token, &p))));
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("ERR_DPOP_NONCE_REQUIRED"))
    );
    assert!(
        challenge.contains(r#"error="use_dpop_nonce""#),
        "{challenge}"
    );
    let nonce = nonce.expect("a DPoP-Nonce header");

    // With it: forwarded, and the response carries the current nonce for the next proof.
    let p = proof(2, API, &token, "j2", Some(&nonce));
    let f = forwarded(block_on(gw.handle(&fake, &dpop_request(API, &token, &p))));
    assert_eq!(
        f.response_headers.get_single("dpop-nonce").unwrap(),
        Some(nonce.as_str())
    );

    // A nonce from the previous bucket is still accepted (iat within the window).
    fake.now.set(NOW + 60);
    let p = proof(2, API, &token, "j3", Some(&nonce));
    let f = forwarded(block_on(gw.handle(&fake, &dpop_request(API, &token, &p))));
    let rotated = f
        .response_headers
        .get_single("dpop-nonce")
        .unwrap()
        .unwrap()
        .to_owned();
    assert_ne!(rotated, nonce);

    // Two buckets on, it is stale.
    fake.now.set(NOW + 120);
    let p = proof(2, API, &token, "j4", Some(&nonce));
    let (_, _, fresh, body) = rejected(block_on(gw.handle(&fake, &dpop_request(API, &token, &p))));
    assert_eq!(body["code"], "ERR_DPOP_NONCE_REQUIRED");
    assert_ne!(fresh.as_deref(), Some(nonce.as_str()));

    // A made-up nonce is rejected like a missing one.
    let p = proof(2, API, &token, "j5", Some("bm90LWEtbm9uY2U"));
    let (_, _, _, body) = rejected(block_on(gw.handle(&fake, &dpop_request(API, &token, &p))));
    assert_eq!(body["code"], "ERR_DPOP_NONCE_REQUIRED");
}

#[test]
fn a_missing_nonce_secret_is_a_config_error_naming_the_field() {
    let gw = gateway_with(json!({ "dpop": { "nonce_secret": "NOT_SET" } }));
    let (status, _, _, body) = rejected(block_on(
        gw.handle(&platform(Replay::None), &request(API, &[])),
    ));
    assert_eq!(status, 500);
    assert_eq!(body["field"], "dpop.nonce_secret");
    assert!(body["problem"].as_str().unwrap().contains("NOT_SET"));
}

#[test]
fn strict_replay_needs_the_shared_store_and_fails_closed() {
    let token = bound_token(2);
    let strict = json!({ "dpop": { "replay": "strict" } });
    let p = proof(2, API, &token, "j1", None);
    let req = dpop_request(API, &token, &p);

    let (status, _, _, body) = rejected(block_on(
        gateway_with(strict.clone()).handle(&platform(Replay::None), &req),
    ));
    assert_eq!(
        (status, body["code"].as_str()),
        (503, Some("ERR_UPSTREAM_UNAVAILABLE"))
    );
    let (status, _, _, _) = rejected(block_on(
        gateway_with(strict.clone()).handle(&platform(Replay::Fails), &req),
    ));
    assert_eq!(status, 503);

    // The shared store sees a replay that lands on another isolate (a fresh gateway).
    let fake = platform(Replay::Works);
    forwarded(block_on(gateway_with(strict.clone()).handle(&fake, &req)));
    let (status, _, _, body) = rejected(block_on(gateway_with(strict).handle(&fake, &req)));
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("ERR_DPOP_REPLAYED"))
    );

    // Best effort ignores a failing store.
    forwarded(block_on(gateway().handle(&platform(Replay::Fails), &req)));
}

#[test]
fn the_expiry_of_a_replay_check_is_the_proofs_at_any_time() {
    // A store without expiry (Spin, edgeward::kv::replay_name) names a replay entry by its
    // expiry: it must not depend on when the proof arrives, or a replay would get a new name.
    let token = bound_token(2);
    let req = dpop_request(API, &token, &proof(2, API, &token, "j1", None));
    let fake = platform(Replay::Works);
    forwarded(block_on(gateway().handle(&fake, &req)));
    fake.now.set(NOW + 200);
    let (status, _, _, _) = rejected(block_on(gateway().handle(&fake, &req)));
    assert_eq!(status, 401);
    assert_eq!(*fake.replay_expiries.borrow(), vec![NOW + 300, NOW + 300]);
}

#[test]
fn htu_is_the_public_url_behind_a_proxy() {
    let gw = gateway_with(json!({ "public_base_url": "https://api.example.com/v1" }));
    let token = bound_token(2);
    let internal = "http://10.0.0.7:8080/api/orders?x=1";
    let p = proof(
        2,
        "https://api.example.com/v1/api/orders",
        &token,
        "j1",
        None,
    );
    let f = forwarded(block_on(
        gw.handle(&platform(Replay::None), &dpop_request(internal, &token, &p)),
    ));
    assert_eq!(f.url, "http://origin.test:8080/api/orders?x=1");
    // The internal URL is not the public one.
    let p = proof(2, "http://10.0.0.7:8080/api/orders", &token, "j2", None);
    let (_, _, _, body) = rejected(block_on(
        gw.handle(&platform(Replay::None), &dpop_request(internal, &token, &p)),
    ));
    assert_eq!(body["code"], "ERR_DPOP_HTU_MISMATCH");
}

fn cert_bound_token(cert: &ClientCert) -> String {
    access_token(Some(
        json!({ "x5t#S256": Base64UrlUnpadded::encode_string(&cert.sha256) }),
    ))
}

#[test]
fn certificate_bound_tokens() {
    let der = [0x30u8, 0x03, 0x02, 0x01, 0x01];
    let cert = ClientCert::from_der(&der);
    let token = cert_bound_token(&cert);
    let authorization = format!("Bearer {token}");
    let run = |gw: &Gateway, client_cert: Option<ClientCert>, headers: &[(&str, &str)]| {
        let mut req = request(API, headers);
        req.headers.append("authorization", &authorization);
        req.client_cert = client_cert;
        block_on(gw.handle(&platform(Replay::None), &req))
    };
    let gw = gateway();
    forwarded(run(&gw, Some(cert), &[]));
    let (status, challenge, _, body) =
        rejected(run(&gw, Some(ClientCert::from_der(b"other")), &[]));
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("ERR_MTLS_CERT_MISMATCH"))
    );
    assert!(challenge.contains(r#"error="invalid_token""#));
    let (_, _, _, body) = rejected(run(&gw, None, &[]));
    assert_eq!(body["code"], "ERR_MTLS_CERT_MISSING");

    // The header is not trusted unless configured...
    let rfc9440 = ":MAMCAQE=:";
    let (_, _, _, body) = rejected(run(&gw, None, &[("client-cert", rfc9440)]));
    assert_eq!(body["code"], "ERR_MTLS_CERT_MISSING");
    // ...and is never forwarded.
    let unbound = format!("Bearer {}", access_token(None));
    let f = forwarded(block_on(gw.handle(
        &platform(Replay::None),
        &request(
            API,
            &[("authorization", &unbound), ("client-cert", rfc9440)],
        ),
    )));
    assert!(f.headers.get_single("client-cert").unwrap().is_none());

    // Configured: read from the header, and still stripped.
    let trusting = gateway_with(json!({ "mtls": { "client_cert_header": "client-cert" } }));
    let f = forwarded(run(&trusting, None, &[("client-cert", rfc9440)]));
    assert!(f.headers.get_single("client-cert").unwrap().is_none());
    let (_, _, _, body) = rejected(run(&trusting, None, &[("client-cert", ":b3RoZXI=:")]));
    assert_eq!(body["code"], "ERR_MTLS_CERT_MISMATCH");
    let (status, _, _, _) = rejected(run(
        &trusting,
        None,
        &[("client-cert", rfc9440), ("client-cert", rfc9440)],
    ));
    assert_eq!(status, 400);

    // URL-encoded PEM, under a custom name.
    let pem = "-----BEGIN%20CERTIFICATE-----%0AMAMCAQE%3D%0A-----END%20CERTIFICATE-----%0A";
    let nginx = gateway_with(json!({ "mtls": {
        "client_cert_header": "X-SSL-Cert", "client_cert_encoding": "pem_url_encoded" } }));
    let f = forwarded(run(&nginx, None, &[("x-ssl-cert", pem)]));
    assert!(f.headers.get_single("x-ssl-cert").unwrap().is_none());
}

/// RFC 8705 §2.1 / §2.2 with the platform's word on the certificate (Workers'
/// `tlsClientAuth.certVerified` / `certRevoked`): a revoked certificate never binds; one whose
/// chain the platform did not validate binds only with `mtls.accept_unverified_client_certs`.
#[test]
fn revoked_and_unverified_platform_certificates() {
    use edgeward::http::ChainCheck::{NotPassed, Passed};
    let good = ClientCert::from_der(&[0x30u8, 0x03, 0x02, 0x01, 0x01]);
    let authorization = format!("Bearer {}", cert_bound_token(&good));
    let strict = gateway();
    let lenient = gateway_with(json!({ "mtls": { "accept_unverified_client_certs": true } }));
    let run = |gw: &Gateway, cert: ClientCert, headers: &[(&str, &str)]| {
        let mut req = request(API, headers);
        req.headers.append("authorization", &authorization);
        req.client_cert = Some(cert);
        block_on(gw.handle(&platform(Replay::None), &req))
    };
    let status = |chain, revoked| ClientCert {
        chain,
        revoked,
        ..good
    };
    for (name, gw, cert, forwarded_expected) in [
        ("verified", &strict, status(Passed, false), true),
        ("verified, lenient", &lenient, status(Passed, false), true),
        ("unverified", &strict, status(NotPassed, false), false),
        (
            "unverified, lenient",
            &lenient,
            status(NotPassed, false),
            true,
        ),
        ("revoked", &strict, status(Passed, true), false),
        ("revoked, lenient", &lenient, status(Passed, true), false),
        (
            "revoked and unverified",
            &strict,
            status(NotPassed, true),
            false,
        ),
        (
            "revoked and unverified, lenient",
            &lenient,
            status(NotPassed, true),
            false,
        ),
    ] {
        match run(gw, cert, &[]) {
            Outcome::Forward(_) => assert!(forwarded_expected, "{name}: forwarded"),
            outcome => {
                assert!(!forwarded_expected, "{name}: rejected");
                let (status, challenge, _, body) = rejected(outcome);
                assert_eq!(status, 401, "{name}");
                assert_eq!(body["code"], "ERR_MTLS_CERT_MISSING", "{name}");
                assert!(challenge.contains(r#"error="invalid_token""#), "{name}");
            }
        }
    }
    // The status never rescues a certificate of another thumbprint.
    let other = ClientCert {
        sha256: [9; 32],
        ..good
    };
    let (_, _, _, body) = rejected(run(&lenient, other, &[]));
    assert_eq!(body["code"], "ERR_MTLS_CERT_MISMATCH");
    // An unusable platform certificate is not replaced by a configured header's.
    let header = gateway_with(json!({ "mtls": {
        "client_cert_header": "client-cert", "accept_unverified_client_certs": true } }));
    let (_, _, _, body) = rejected(run(
        &header,
        status(Passed, true),
        &[("client-cert", ":MAMCAQE=:")],
    ));
    assert_eq!(body["code"], "ERR_MTLS_CERT_MISSING");
    // Through the Workers field reader: the strings Cloudflare sends.
    let hex: String = good.sha256.iter().map(|b| format!("{b:02x}")).collect();
    for (verified, revoked, forwarded_expected) in [
        ("SUCCESS", "0", true),
        ("SUCCESS", "1", false),
        ("FAILED:self signed certificate", "0", false),
        ("NONE", "0", false),
    ] {
        let cert = ClientCert::from_tls_client_auth(&hex, verified, revoked).unwrap();
        let forwarded = matches!(run(&strict, cert, &[]), Outcome::Forward(_));
        assert_eq!(forwarded, forwarded_expected, "{verified} {revoked}");
    }
}

#[test]
fn dpop_config_is_validated() {
    for (extra, field) in [
        (
            json!({ "dpop": { "algorithms": ["HS256"] } }),
            "dpop.algorithms[0]",
        ),
        (json!({ "dpop": { "algorithms": [] } }), "dpop.algorithms"),
        (
            json!({ "dpop": { "iat_window_seconds": 0 } }),
            "dpop.iat_window_seconds",
        ),
        (json!({ "dpop": { "replay": "sometimes" } }), "dpop.replay"),
        (
            json!({ "public_base_url": "https://api.example.com/v1?x=1" }),
            "public_base_url",
        ),
        (
            json!({ "mtls": { "client_cert_header": "Authorization" } }),
            "mtls.client_cert_header",
        ),
        (
            json!({ "mtls": { "accept_unverified_client_certs": "yes" } }),
            "mtls.accept_unverified_client_certs",
        ),
        (
            json!({ "mtls": { "accept_unverified_certs": true } }),
            "mtls.accept_unverified_certs",
        ),
        (
            json!({ "routes": [{ "path": "/a", "dpop": "maybe" }] }),
            "routes[0].dpop",
        ),
    ] {
        let (status, _, _, body) = rejected(block_on(
            gateway_with(extra.clone()).handle(&platform(Replay::None), &request(API, &[])),
        ));
        assert_eq!(status, 500, "{extra}");
        assert_eq!(body["field"], field, "{extra}");
    }
}

#[test]
fn anonymous_routes_ignore_dpop() {
    let gw = gateway_with(
        json!({ "routes": [{ "path": "/public/*", "anonymous": true, "dpop": "required" }] }),
    );
    let f = forwarded(block_on(gw.handle(
        &platform(Replay::None),
        &request("https://gw.test/public/x", &[("dpop", "junk")]),
    )));
    assert!(f.headers.get_single("dpop").unwrap().is_none());
}

/// RFC 9449 §7.1: a client that used the `DPoP` scheme is challenged with `DPoP` (and `algs`) on
/// every refusal: a policy failure (403 `insufficient_scope`), a bad token and a bad request, not
/// only on proof errors. A `Bearer` client keeps `Bearer` challenges.
#[test]
fn refusals_challenge_with_the_scheme_the_client_used() {
    let gw = gateway_with(json!({
        "routes": [{ "path": "/api/*", "scopes_all": ["orders:write"] }],
    }));
    let fake = platform(Replay::None);
    let token = bound_token(7);
    let dpop = proof(7, API, &token, "jti-scheme-1", None);
    let (status, challenge, _, body) = rejected(block_on(
        gw.handle(&fake, &dpop_request(API, &token, &dpop)),
    ));
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("ERR_POLICY_INSUFFICIENT_SCOPE"))
    );
    assert!(challenge.starts_with("DPoP "), "{challenge}");
    assert!(
        challenge.contains(r#"error="insufficient_scope""#),
        "{challenge}"
    );
    assert!(challenge.contains(r#"scope="orders:write""#), "{challenge}");
    assert!(challenge.contains(r#"algs="ES256"#), "{challenge}");

    let expired = sign(
        &key(1),
        &json!({ "alg": "ES256", "typ": "at+jwt", "kid": "k1" }),
        &json!({ "iss": ISS, "aud": "https://api.test", "exp": NOW - 600, "cnf": { "jkt": jkt(&key(7)) } }),
    );
    let dpop = proof(7, API, &expired, "jti-scheme-2", None);
    let (status, challenge, _, _) = rejected(block_on(
        gw.handle(&fake, &dpop_request(API, &expired, &dpop)),
    ));
    assert_eq!(status, 401);
    assert!(challenge.starts_with("DPoP "), "{challenge}");
    assert!(
        challenge.contains(r#"error="invalid_token""#),
        "{challenge}"
    );

    let broken = request(API, &[("authorization", "DPoP a b")]);
    let (status, challenge, _, _) = rejected(block_on(gw.handle(&fake, &broken)));
    assert_eq!(status, 400);
    assert!(challenge.starts_with("DPoP "), "{challenge}");

    let bearer = request(
        API,
        &[("authorization", &format!("Bearer {}", access_token(None)))],
    );
    let (status, challenge, _, _) = rejected(block_on(gw.handle(&fake, &bearer)));
    assert_eq!(status, 403);
    assert!(challenge.starts_with("Bearer "), "{challenge}");
    assert!(!challenge.contains("algs="), "{challenge}");
}
