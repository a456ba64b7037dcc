//! The policy and forward stages through `Gateway::handle` with a fake platform: per-route
//! requirements, the RFC 6750 / RFC 9470 answers, claim-based routing, claim headers, the signed
//! assertion and the RFC 9421 signature the origin receives.

mod common;

use base64ct::{Base64, Base64UrlUnpadded, Encoding};
use common::fake::{FakePlatform, Random};
use common::{block_on, p256_jwk_kid as jwk, p256_key as key, sign_es256};
use edgeward::{Forward, Gateway, Outcome, Request, Response};
use serde_json::{json, Value};

const NOW: u64 = 1_800_000_000;
const ISS: &str = "https://issuer.test";

/// Random bytes distinct per call, so that nonces and ids differ; deterministic across runs.
fn fake() -> FakePlatform {
    FakePlatform {
        random: Random::counter(),
        ..FakePlatform::new(NOW)
    }
}

fn token(claims: Value) -> String {
    let header = json!({ "alg": "ES256", "typ": "at+jwt", "kid": "k1" });
    sign_es256(&key(1), &header, &claims)
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
        client_cert: None,
    }
}

fn run(gw: &Gateway, request: &Request) -> Outcome {
    block_on(gw.handle(&fake(), request))
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

fn responded(outcome: Outcome) -> Response {
    match outcome {
        Outcome::Respond(r) => r,
        Outcome::Forward(f) => panic!("forwarded to {}", f.url),
        other => panic!("unexpected {other:?}"),
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

fn signed_forwarding(algorithm: &str) -> Value {
    json!({
        "gateway_id": "https://gw.test",
        "claim_headers": { "sub": "x-edgeward-sub", "tenant": "x-tenant", "roles": "x-roles" },
        "signing_key_secret": "EDGEWARD_SIGNING_KEY",
        "assertion": { "claims": ["tenant", "scope"] },
        "message_signature": { "algorithm": algorithm, "hmac_secret": "EDGEWARD_HMAC", "cover": ["content-digest"] },
    })
}

fn routes() -> Value {
    json!([{ "path": "/public/*", "anonymous": true }, { "path": "/api/*" }])
}

#[test]
fn claim_headers_are_stripped_with_and_without_a_token_and_set_from_the_token() {
    let gw = gateway(&config(routes(), signed_forwarding("ecdsa-p256-sha256")));
    let spoofed = [
        ("x-tenant", "victim"),
        ("X-Roles", "admin"),
        ("x-edgeward-sub", "root"),
        ("x-edgeward-assertion", "forged"),
        ("signature", "edgeward=:AAAA:"),
        ("signature-input", "edgeward=();created=1"),
    ];
    // Anonymous route: no token, every spoofed field gone, no claim headers.
    let f = forwarded(run(&gw, &get("/public/doc", &spoofed)));
    for (name, _) in spoofed.iter().take(4) {
        assert!(
            f.headers
                .get_all(name)
                .all(|v| v != "victim" && v != "admin" && v != "root" && v != "forged"),
            "{name} leaked"
        );
    }
    assert!(f.headers.get_single("x-tenant").unwrap().is_none());
    // Protected route: claim headers come from the token only.
    let t = bearer(claims(
        json!({ "tenant": "acme corp", "roles": ["a", "b"] }),
    ));
    let mut with_token = spoofed.to_vec();
    with_token.push(("authorization", &t));
    let f = forwarded(run(&gw, &get("/api/x", &with_token)));
    assert_eq!(f.headers.get_single("x-tenant"), Ok(Some("acme%20corp")));
    assert_eq!(f.headers.get_single("x-roles"), Ok(Some("a,b")));
    assert_eq!(f.headers.get_single("x-edgeward-sub"), Ok(Some("alice")));
    assert_eq!(f.headers.get_single("authorization"), Ok(None));
    assert_eq!(f.headers.get_all("signature").count(), 1);
    assert_ne!(
        f.headers.get_single("x-edgeward-assertion"),
        Ok(Some("forged"))
    );
}

#[test]
fn credentials_forwarded_only_when_configured() {
    let t = bearer(claims(json!({})));
    let gw = gateway(&config(routes(), json!({ "forward_credentials": true })));
    let f = forwarded(run(
        &gw,
        &get("/api/x", &[("authorization", &t), ("dpop", "p")]),
    ));
    assert_eq!(f.headers.get_single("authorization"), Ok(Some(t.as_str())));
    assert_eq!(f.headers.get_single("dpop"), Ok(Some("p")));
}

#[test]
fn claim_header_budgets_and_unrepresentable_values_refuse_the_request() {
    let forwarding = json!({ "claim_headers": { "a": "x-a", "b": "x-b", "o": "x-o" },
        "max_claim_header_bytes": 10, "max_claim_headers_bytes": 15 });
    let gw = gateway(&config(routes(), forwarding));
    let send = |extra: Value| {
        let t = bearer(claims(extra));
        run(&gw, &get("/api/x", &[("authorization", &t)]))
    };
    forwarded(send(json!({ "a": "0123456789", "b": "01234" })));
    let code = |o: Outcome| {
        let r = responded(o);
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        (r.status, body["code"].as_str().unwrap().to_owned())
    };
    let over = (403, "ERR_FORWARD_CLAIM_HEADER".to_owned());
    assert_eq!(code(send(json!({ "a": "0123456789a" }))), over);
    assert_eq!(
        code(send(json!({ "a": "0123456789", "b": "012345" }))),
        over
    );
    // Encoding counts: 4 spaces become 12 bytes.
    assert_eq!(code(send(json!({ "a": "    " }))), over);
    assert_eq!(code(send(json!({ "o": { "nested": true } }))), over);
}

#[test]
fn signature_and_assertion_verify_with_the_published_jwks() {
    use edgeward::message_signature::{find, signature_base, verify, Message, VerifyingKey};
    let gw = gateway(&config(routes(), signed_forwarding("ecdsa-p256-sha256")));
    let jwks = responded(run(&gw, &get("/.well-known/edgeward/jwks.json", &[])));
    assert_eq!(jwks.status, 200);
    assert_eq!(
        jwks.headers.get_single("cache-control"),
        Ok(Some("public, max-age=300"))
    );
    let jwks: Value = serde_json::from_slice(&jwks.body).unwrap();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);
    assert!(jwks["keys"][0].get("d").is_none());
    let public = edgeward::jwk::JwkSet::parse(jwks.to_string().as_bytes()).unwrap();
    let key = public.keys[0].public_key().clone();

    let t = bearer(claims(json!({ "tenant": "acme", "scope": "a b" })));
    let f = forwarded(run(
        &gw,
        &get(
            "/api/x?q=1",
            &[("authorization", &t), ("content-digest", "sha-256=:AAAA:")],
        ),
    ));
    let (params, signature) = find(&f.headers, "edgeward").unwrap();
    assert_eq!(
        params.components,
        [
            "@method",
            "@target-uri",
            "x-edgeward-sub",
            "x-tenant",
            "x-edgeward-assertion",
            "content-digest"
        ]
    );
    assert_eq!(params.integer("created"), Some(NOW as i64));
    assert_eq!(params.integer("expires"), Some(NOW as i64 + 30));
    assert_eq!(params.string("keyid"), Some("gw-1"));
    assert_eq!(params.string("alg"), Some("ecdsa-p256-sha256"));
    assert!(params.string("nonce").is_some_and(|n| n.len() == 22));
    let message = Message {
        method: "GET",
        target_uri: &f.url,
        headers: &f.headers,
        status: None,
    };
    let base = signature_base(&message, &params).unwrap();
    verify(&VerifyingKey::EcdsaP256(key.clone()), &base, &signature).unwrap();
    let mut tampered = f.headers.clone();
    tampered.set("x-tenant", "other");
    let message = Message {
        headers: &tampered,
        ..message
    };
    let base = signature_base(&message, &params).unwrap();
    assert!(verify(&VerifyingKey::EcdsaP256(key.clone()), &base, &signature).is_err());

    let jwt = f
        .headers
        .get_single("x-edgeward-assertion")
        .unwrap()
        .unwrap();
    let jws = edgeward::jws::parse(jwt, 10_000).unwrap();
    assert_eq!(jws.header.typ.as_deref(), Some("edgeward-assertion+jwt"));
    edgeward::crypto::verify_sync(
        edgeward::crypto::Scheme::EcdsaP256Sha256,
        &key,
        jws.signing_input.as_bytes(),
        &jws.signature,
    )
    .unwrap();
    assert_eq!(jws.claims["iss"], "https://gw.test");
    assert_eq!(jws.claims["aud"], "http://origin.test:8080");
    assert_eq!(jws.claims["sub"], "alice");
    assert_eq!(jws.claims["tenant"], "acme");
    assert_eq!(jws.claims["scope"], "a b");
    assert_eq!(jws.claims["exp"], NOW + 30);
}

#[test]
fn hmac_signature_verifies_with_the_shared_secret() {
    use edgeward::message_signature::{find, signature_base, verify, Message, VerifyingKey};
    let gw = gateway(&config(routes(), signed_forwarding("hmac-sha256")));
    let t = bearer(claims(json!({})));
    let f = forwarded(run(&gw, &get("/api/x", &[("authorization", &t)])));
    let (params, signature) = find(&f.headers, "edgeward").unwrap();
    assert_eq!(params.string("keyid"), Some("edgeward-hmac"));
    let message = Message {
        method: "GET",
        target_uri: &f.url,
        headers: &f.headers,
        status: None,
    };
    let base = signature_base(&message, &params).unwrap();
    verify(&VerifyingKey::Hmac(vec![9; 32]), &base, &signature).unwrap();
    assert!(verify(&VerifyingKey::Hmac(vec![8; 32]), &base, &signature).is_err());
}

#[test]
fn missing_or_bad_secrets_are_config_errors_that_never_show_the_value() {
    let mut cfg = config(routes(), signed_forwarding("ecdsa-p256-sha256"));
    cfg["forwarding"]["signing_key_secret"] = json!("NOT_SET");
    let r = responded(run(&gateway(&cfg), &get("/api/x", &[])));
    assert_eq!(r.status, 500);
    let body: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(body["field"], "forwarding.signing_key_secret");
    let secrets = |_: &str| Some("{\"kty\":\"EC\",\"d\":\"c2VjcmV0\"}".to_owned());
    let text = config(routes(), signed_forwarding("ecdsa-p256-sha256")).to_string();
    let gw = Gateway::with_trust_anchors(Some(&text), &secrets, "test", &[]);
    let r = responded(run(&gw, &get("/api/x", &[])));
    let body = String::from_utf8(r.body).unwrap();
    assert!(body.contains("forwarding.signing_key_secret"), "{body}");
    assert!(!body.contains("c2VjcmV0"), "{body}");
}

#[test]
fn traceparent_is_continued_or_created_and_request_id_is_logged() {
    let gw = gateway(&config(routes(), json!({})));
    let incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let f = forwarded(run(
        &gw,
        &get(
            "/public/x",
            &[
                ("traceparent", incoming),
                ("tracestate", "k=v"),
                ("x-request-id", "req-1"),
            ],
        ),
    ));
    let tp = f.headers.get_single("traceparent").unwrap().unwrap();
    assert!(
        tp.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"),
        "{tp}"
    );
    assert!(
        tp.ends_with("-01") && !tp.contains("00f067aa0ba902b7"),
        "{tp}"
    );
    assert_eq!(f.headers.get_single("tracestate"), Ok(Some("k=v")));
    assert_eq!(f.headers.get_single("x-request-id"), Ok(Some("req-1")));

    let f = forwarded(run(
        &gw,
        &get(
            "/public/x",
            &[
                ("traceparent", "garbage"),
                ("tracestate", "k=v"),
                ("x-request-id", "bad id"),
            ],
        ),
    ));
    let tp = f
        .headers
        .get_single("traceparent")
        .unwrap()
        .unwrap()
        .to_owned();
    assert!(
        edgeward::internal::trace_context::parse(&tp).is_some(),
        "{tp}"
    );
    assert_eq!(f.headers.get_single("tracestate"), Ok(None));
    let trace_id = tp.split('-').nth(1).unwrap();
    assert_eq!(f.headers.get_single("x-request-id"), Ok(Some(trace_id)));

    let fake = fake();
    block_on(gw.handle(&fake, &get("/api/x", &[("x-request-id", "req-42")])));
    assert!(fake
        .logs
        .borrow()
        .iter()
        .any(|(_, l)| l.contains("ERR_CREDENTIAL_MISSING") && l.contains("request_id=req-42")));
}

#[test]
fn an_hmac_secret_shorter_than_32_bytes_is_a_config_error() {
    // RFC 8725 §3.5 / RFC 9421 §3.3.3: the shared secret must have enough entropy.
    let text = config(routes(), signed_forwarding("hmac-sha256")).to_string();
    for (bytes, ok) in [(31, false), (32, true)] {
        let secrets = move |name: &str| match name {
            "EDGEWARD_SIGNING_KEY" => Some(gateway_private_jwk().to_string()),
            "EDGEWARD_HMAC" => Some(Base64::encode_string(&vec![9u8; bytes])),
            _ => None,
        };
        let gw = Gateway::with_trust_anchors(Some(&text), &secrets, "test", &[]);
        match run(&gw, &get("/public/x", &[])) {
            Outcome::Forward(_) => assert!(ok, "{bytes} bytes accepted"),
            Outcome::Respond(r) => {
                assert!(!ok, "{bytes} bytes refused");
                assert_eq!(r.status, 500);
                let body: Value = serde_json::from_slice(&r.body).unwrap();
                assert_eq!(body["field"], "forwarding.message_signature.hmac_secret");
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}

/// `Gateway::from_parsed` (the Spin component's pre-initialisation keeps a parsed configuration
/// and binds its secrets per instance) gives the gateway `Gateway::new` loads from the same text:
/// the same published key, derived from the secret, the same forwarded request, and the same
/// configuration error when the secret is missing.
#[test]
fn a_parsed_configuration_binds_its_secrets_as_loading_the_text_does() {
    let text = config(routes(), signed_forwarding("ecdsa-p256-sha256")).to_string();
    let parsed = edgeward::Config::from_json(&text).unwrap();
    let secrets = |name: &str| match name {
        "EDGEWARD_SIGNING_KEY" => Some(gateway_private_jwk().to_string()),
        "EDGEWARD_HMAC" => Some(Base64::encode_string(&[9u8; 32])),
        _ => None,
    };
    let loaded = Gateway::new(Some(&text), &secrets, "test");
    let bound = Gateway::from_parsed(parsed.clone(), &text, &secrets, "test");
    let jwks = |gw: &Gateway| responded(run(gw, &get("/.well-known/edgeward/jwks.json", &[]))).body;
    let published: Value = serde_json::from_slice(&jwks(&bound)).unwrap();
    assert_eq!(published["keys"][0]["kid"], "gw-1", "{published}");
    assert_eq!(jwks(&bound), jwks(&loaded));
    let t = bearer(claims(json!({ "tenant": "acme" })));
    let request = get("/api/orders", &[("authorization", &t)]);
    let (from_bound, from_loaded) = (
        forwarded(run(&bound, &request)),
        forwarded(run(&loaded, &request)),
    );
    assert!(from_bound
        .headers
        .get_single("signature")
        .unwrap()
        .is_some());
    assert_eq!(from_bound.headers, from_loaded.headers);

    let none = |_: &str| None;
    let missing = responded(run(
        &Gateway::from_parsed(parsed, &text, &none, "test"),
        &request,
    ));
    assert_eq!(missing.status, 500);
    let body: Value = serde_json::from_slice(&missing.body).unwrap();
    assert_eq!(body["field"], "forwarding.signing_key_secret");
}
