//! Token exchange (RFC 8693) through the pipeline with a scripted authorization server: the origin
//! gets the exchanged token (never the client's), the cache (isolate, shared tier, lifetime),
//! single-flight, the actor token, refusals (403) and faults (503, origin not called).

mod common;

use base64ct::Encoding;
use common::block_on;
use common::fake::{FakePlatform, Random, SharedCache};
use common::{p256_jwk, p256_key, sign_es256};
use edgeward::platform::{FetchError, FetchRequest, FetchResponse};
use edgeward::{Forward, Gateway, Headers, Outcome, Request};
use serde_json::{json, Value};

const NOW: u64 = 1_800_000_000;
const ISS: &str = "https://issuer.test";
const TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

fn client_token(exp: u64) -> String {
    let claims = json!({ "iss": ISS, "aud": "https://api.test", "sub": "alice",
        "scope": "orders:read orders:write", "exp": exp, "iat": NOW - 10 });
    sign_es256(
        &p256_key(1),
        &json!({ "alg": "ES256", "kid": "k1" }),
        &claims,
    )
}

fn gateway_key_jwk() -> String {
    let mut jwk = p256_jwk(&p256_key(7));
    jwk["d"] = json!(base64ct::Base64UrlUnpadded::encode_string(
        &p256_key(7).to_bytes()
    ));
    jwk["kid"] = json!("gw");
    jwk.to_string()
}

fn config(extra: Value) -> Value {
    let mut config = json!({
        "origin": "http://origin.test",
        "routes": [
            { "path": "/orders/*", "exchange": { "audience": "orders", "scope": "orders:read" } },
            { "path": "/billing/*", "exchange": { "resource": "https://billing.test/", "actor": "gateway" } },
            { "path": "/plain/*" },
        ],
        "issuers": [{ "issuer": ISS, "audiences": ["https://api.test"],
            "jwks": { "keys": [{ "kid": "k1", "kty": "EC", "crv": "P-256",
                "x": p256_jwk(&p256_key(1))["x"], "y": p256_jwk(&p256_key(1))["y"] }] } }],
        "token_exchange": { "token_endpoint": "https://as.test/token", "client_id": "gw",
            "client_secret_name": "EX_SECRET", "timeout_ms": 1000, "skew_seconds": 30 },
        "forwarding": { "signing_key_secret": "GW_KEY", "claim_headers": { "sub": "x-edgeward-sub" } },
    });
    for (name, value) in extra.as_object().unwrap() {
        config[name] = value.clone();
    }
    config
}

fn gateway_from(config: &Value) -> Gateway {
    let key = gateway_key_jwk();
    let secrets = move |name: &str| match name {
        "EX_SECRET" => Some("ex-secret".to_owned()),
        "GW_KEY" => Some(key.clone()),
        _ => None,
    };
    Gateway::with_trust_anchors(Some(&config.to_string()), &secrets, "test", &[])
}

fn gateway() -> Gateway {
    gateway_from(&config(json!({})))
}

/// A scripted authorization server.
type Script = dyn Fn(&FetchRequest) -> Result<FetchResponse, FetchError>;

/// The form fields of an exchange request.
fn form(request: &FetchRequest) -> Vec<(String, String)> {
    url::form_urlencoded::parse(&request.body)
        .into_owned()
        .collect()
}

fn field(request: &FetchRequest, name: &str) -> Option<String> {
    form(request)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

fn answer(status: u16, body: Value) -> Result<FetchResponse, FetchError> {
    Ok(FetchResponse {
        status,
        headers: vec![("content-type".into(), "application/json".into())],
        body: body.to_string().into_bytes(),
    })
}

/// An AS that issues `exchanged-<n>-<audience or resource>` for each call, valid `expires_in`.
fn issuing(expires_in: u64) -> impl FnMut(&FetchRequest) -> Result<FetchResponse, FetchError> {
    let mut n = 0;
    move |request| {
        n += 1;
        let target = field(request, "audience")
            .or_else(|| field(request, "resource"))
            .unwrap_or_default()
            .replace([':', '/'], "_");
        answer(
            200,
            json!({ "access_token": format!("exchanged-{n}-{target}"), "issued_token_type": TOKEN_TYPE,
                "token_type": "Bearer", "expires_in": expires_in }),
        )
    }
}

fn platform() -> FakePlatform {
    FakePlatform {
        random: Random::counter(),
        ..FakePlatform::new(NOW)
    }
}

fn request(path: &str, token: &str) -> Request {
    let mut headers = Headers::new();
    headers.append("authorization", &format!("Bearer {token}"));
    Request {
        method: "GET".into(),
        url: format!("https://gw.test{path}"),
        headers,
        client_cert: None,
    }
}

fn forwarded(outcome: Outcome) -> Forward {
    match outcome {
        Outcome::Forward(forward) => forward,
        Outcome::Respond(r) => panic!(
            "expected a forward, got {}: {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        ),
        Outcome::ReadBody { .. } => panic!("expected a forward"),
    }
}

fn refused(outcome: Outcome) -> (u16, String, Option<String>) {
    match outcome {
        Outcome::Respond(r) => {
            let body: Value = serde_json::from_slice(&r.body).unwrap();
            let retry = r
                .headers
                .get_single("retry-after")
                .unwrap()
                .map(str::to_owned);
            (r.status, body["code"].as_str().unwrap().to_owned(), retry)
        }
        _ => panic!("expected a refusal"),
    }
}

fn authorization(forward: &Forward) -> String {
    forward
        .headers
        .get_single("authorization")
        .unwrap()
        .unwrap()
        .to_owned()
}

#[test]
fn the_origin_gets_the_exchanged_token_and_the_original_claims() {
    let fake = platform().answering(issuing(600));
    let token = client_token(NOW + 3600);
    let forward = forwarded(block_on(
        gateway().handle(&fake, &request("/orders/1", &token)),
    ));
    assert_eq!(authorization(&forward), "Bearer exchanged-1-orders");
    assert_eq!(
        forward.headers.get_single("x-edgeward-sub"),
        Ok(Some("alice"))
    );
    let sent = fake.requests.borrow()[0].clone();
    assert_eq!(sent.url, "https://as.test/token");
    assert_eq!(
        field(&sent, "grant_type").as_deref(),
        Some("urn:ietf:params:oauth:grant-type:token-exchange")
    );
    assert_eq!(field(&sent, "subject_token"), Some(token.clone()));
    assert_eq!(
        field(&sent, "subject_token_type").as_deref(),
        Some(TOKEN_TYPE)
    );
    assert_eq!(field(&sent, "scope").as_deref(), Some("orders:read"));
    assert_eq!(field(&sent, "actor_token"), None);
    // A route without `exchange` never calls the AS, and forwards no token.
    let plain = forwarded(block_on(
        gateway().handle(&fake, &request("/plain/1", &token)),
    ));
    assert!(plain.headers.get_single("authorization").unwrap().is_none());
    assert_eq!(fake.fetches.get(), 1);
}

#[test]
fn exchanges_are_cached_per_target_and_bounded_by_both_lifetimes() {
    let fake = platform().answering(issuing(120));
    let gw = gateway();
    let token = client_token(NOW + 3600);
    let first = authorization(&forwarded(block_on(
        gw.handle(&fake, &request("/orders/1", &token)),
    )));
    let again = authorization(&forwarded(block_on(
        gw.handle(&fake, &request("/orders/2", &token)),
    )));
    assert_eq!(first, again);
    assert_eq!(fake.fetches.get(), 1);
    // The same client token to another route: another exchange, another token.
    let billing = authorization(&forwarded(block_on(
        gw.handle(&fake, &request("/billing/1", &token)),
    )));
    assert_ne!(billing, first);
    assert_eq!(fake.fetches.get(), 2);
    // expires_in 120 less the 30 s skew: reused for 89 s, exchanged again at 90 s.
    fake.advance(89);
    block_on(gw.handle(&fake, &request("/orders/3", &token)));
    assert_eq!(fake.fetches.get(), 2);
    fake.advance(1);
    let renewed = authorization(&forwarded(block_on(
        gw.handle(&fake, &request("/orders/4", &token)),
    )));
    assert_ne!(renewed, first);
    assert_eq!(fake.fetches.get(), 3);

    // A subject token that ends before `expires_in`: its own exp (less the skew) bounds reuse.
    let short = client_token(NOW + 40);
    let fake = platform().answering(issuing(600));
    block_on(gw.handle(&fake, &request("/orders/1", &short)));
    fake.advance(9);
    block_on(gw.handle(&fake, &request("/orders/1", &short)));
    assert_eq!(
        fake.fetches.get(),
        1,
        "9 s later: cached (until exp − 30 s)"
    );
    fake.advance(1);
    block_on(gw.handle(&fake, &request("/orders/1", &short)));
    assert_eq!(fake.fetches.get(), 2, "10 s later: exp − skew reached");
}

#[test]
fn a_burst_with_one_new_token_costs_one_exchange() {
    let mut fake = platform().answering(issuing(600));
    fake.yield_in_fetch = true;
    let gw = gateway();
    let token = client_token(NOW + 3600);
    let requests: Vec<Request> = (0..64).map(|_| request("/orders/1", &token)).collect();
    let outcomes = block_on(futures_util::future::join_all(
        requests.iter().map(|r| gw.handle(&fake, r)),
    ));
    for outcome in outcomes {
        assert_eq!(
            authorization(&forwarded(outcome)),
            "Bearer exchanged-1-orders"
        );
    }
    assert_eq!(fake.fetches.get(), 1);
}

#[test]
fn another_isolate_finds_the_exchange_in_the_shared_tier() {
    let shared = SharedCache::default();
    let token = client_token(NOW + 3600);
    let first = platform().answering(issuing(600)).sharing(&shared);
    let a = authorization(&forwarded(block_on(
        gateway().handle(&first, &request("/orders/1", &token)),
    )));
    let key = shared.borrow().keys().next().cloned().unwrap();
    assert!(key.starts_with("edgeward/exchange/") && !key.contains(&token));
    assert_eq!(
        shared.borrow()[&key].1,
        NOW + 600 - 30,
        "stored until its reuse ends"
    );
    let second = platform().answering(issuing(600)).sharing(&shared);
    let b = authorization(&forwarded(block_on(
        gateway().handle(&second, &request("/orders/1", &token)),
    )));
    assert_eq!(a, b);
    assert_eq!(second.fetches.get(), 0);
}

#[test]
fn actor_gateway_sends_the_gateways_signed_actor_token() {
    let fake = platform().answering(issuing(600));
    let token = client_token(NOW + 3600);
    block_on(gateway().handle(&fake, &request("/billing/1", &token)));
    let sent = fake.requests.borrow()[0].clone();
    assert_eq!(
        field(&sent, "resource").as_deref(),
        Some("https://billing.test/")
    );
    assert_eq!(
        field(&sent, "actor_token_type").as_deref(),
        Some("urn:ietf:params:oauth:token-type:jwt")
    );
    let actor = field(&sent, "actor_token").unwrap();
    let jws = edgeward::jws::parse(&actor, 10_000).unwrap();
    assert_eq!(jws.header.typ.as_deref(), Some("edgeward-actor+jwt"));
    let public =
        edgeward::jwk::Jwk::from_object(p256_jwk(&p256_key(7)).as_object().unwrap()).unwrap();
    edgeward::crypto::verify_sync(
        edgeward::crypto::Scheme::EcdsaP256Sha256,
        public.public_key(),
        jws.signing_input.as_bytes(),
        &jws.signature,
    )
    .unwrap();
    assert_eq!(jws.claims["sub"], json!("edgeward"));
    assert_eq!(jws.claims["aud"], json!("https://as.test/token"));
    assert_eq!(jws.claims["exp"], json!(NOW + 60));
}

#[test]
fn a_refusal_is_403_and_cached_briefly() {
    for error in ["invalid_grant", "invalid_target", "invalid_scope"] {
        let fake = platform().answering(move |_| answer(400, json!({ "error": error })));
        let gw = gateway();
        let token = client_token(NOW + 3600);
        for _ in 0..2 {
            let (status, code, _) =
                refused(block_on(gw.handle(&fake, &request("/orders/1", &token))));
            assert_eq!(
                (status, code.as_str()),
                (403, "ERR_EXCHANGE_REFUSED"),
                "{error}"
            );
        }
        assert_eq!(
            fake.fetches.get(),
            1,
            "the refusal is reused for negative_ttl"
        );
        fake.advance(10);
        block_on(gw.handle(&fake, &request("/orders/1", &token)));
        assert_eq!(fake.fetches.get(), 2);
    }
}

#[test]
fn an_unusable_as_is_503_with_retry_after_and_nothing_is_forwarded() {
    let token = client_token(NOW + 3600);
    let faults: Vec<Box<Script>> = vec![
        Box::new(|_| Err(FetchError::Unreachable)),
        Box::new(|_| Err(FetchError::Timeout)),
        Box::new(|_| answer(500, json!({}))),
        Box::new(|_| answer(400, json!({ "error": "invalid_client" }))),
        Box::new(|_| {
            Ok(FetchResponse {
                status: 200,
                headers: vec![("content-type".into(), "application/json".into())],
                body: b"{\"access_token\":".to_vec(),
            })
        }),
        Box::new(|_| answer(200, json!({ "access_token": "x", "token_type": "Bearer" }))),
    ];
    for fault in faults {
        let fake = platform().answering(fault);
        let gw = gateway();
        let (status, code, retry) =
            refused(block_on(gw.handle(&fake, &request("/orders/1", &token))));
        assert_eq!((status, code.as_str()), (503, "ERR_UPSTREAM_UNAVAILABLE"));
        assert!(retry.is_some());
        // Not cached: the next request asks again.
        block_on(gw.handle(&fake, &request("/orders/1", &token)));
        assert_eq!(fake.fetches.get(), 2);
    }
}

#[test]
fn exchange_needs_its_section_a_target_and_for_an_actor_the_key() {
    let field_of = |config: Value| match block_on(
        gateway_from(&config).handle(&platform(), &request("/orders/1", "x")),
    ) {
        Outcome::Respond(r) => {
            let body: Value = serde_json::from_slice(&r.body).unwrap();
            assert_eq!(r.status, 500);
            body["field"].as_str().unwrap().to_owned()
        }
        _ => panic!("expected 500"),
    };
    let mut no_section = config(json!({}));
    no_section.as_object_mut().unwrap().remove("token_exchange");
    assert_eq!(field_of(no_section), "token_exchange");
    let no_target =
        config(json!({ "routes": [{ "path": "/orders/*", "exchange": { "scope": "a" } }] }));
    assert_eq!(field_of(no_target), "routes[0].exchange");
    let bad_resource =
        config(json!({ "routes": [{ "path": "/o", "exchange": { "resource": "rel/x" } }] }));
    assert_eq!(field_of(bad_resource), "routes[0].exchange.resource[0]");
    let bad_in_list = config(
        json!({ "routes": [{ "path": "/o", "exchange": { "resource": ["https://a.test/", "#f"] } }] }),
    );
    assert_eq!(field_of(bad_in_list), "routes[0].exchange.resource[1]");
    let empty_lists = config(
        json!({ "routes": [{ "path": "/o", "exchange": { "audience": [], "resource": [] } }] }),
    );
    assert_eq!(field_of(empty_lists), "routes[0].exchange");
    let empty_audience =
        config(json!({ "routes": [{ "path": "/o", "exchange": { "audience": ["a", ""] } }] }));
    assert_eq!(field_of(empty_audience), "routes[0].exchange.audience[1]");
    let many: Vec<String> = (0..17).map(|i| format!("api-{i}")).collect();
    let too_many =
        config(json!({ "routes": [{ "path": "/o", "exchange": { "audience": many } }] }));
    assert_eq!(field_of(too_many), "routes[0].exchange");
    let no_key = config(json!({ "forwarding": {} }));
    assert_eq!(field_of(no_key), "routes[1].exchange.actor");
    let anonymous = config(
        json!({ "routes": [{ "path": "/o", "anonymous": true, "exchange": { "audience": "a" } }] }),
    );
    assert_eq!(field_of(anonymous), "routes[0].exchange");
}

#[test]
fn forward_credentials_never_lets_the_clients_token_through_an_exchange_route() {
    let gw = gateway_from(&config(
        json!({ "forwarding": { "signing_key_secret": "GW_KEY",
        "forward_credentials": true } }),
    ));
    let fake = platform().answering(issuing(600));
    let token = client_token(NOW + 3600);
    let mut req = request("/orders/1", &token);
    req.headers.append("dpop", "a-proof-for-the-clients-token");
    let forward = forwarded(block_on(gw.handle(&fake, &req)));
    assert_eq!(authorization(&forward), "Bearer exchanged-1-orders");
    assert_eq!(forward.headers.get_all("authorization").count(), 1);
    assert!(forward.headers.get_single("dpop").unwrap().is_none());
    // Without exchange, forward_credentials passes both along (the control).
    let plain = forwarded(block_on(gw.handle(&fake, &{
        let mut r = request("/plain/1", &token);
        r.headers.append("dpop", "p");
        r
    })));
    assert_eq!(authorization(&plain), format!("Bearer {token}"));
}

#[test]
fn an_opaque_token_is_exchanged_as_the_client_sent_it() {
    let introspection = json!({ "endpoint": "https://as.test/introspect", "issuer": ISS,
        "client_id": "gw", "client_secret_name": "EX_SECRET", "audiences": ["https://api.test"] });
    let gw = gateway_from(&config(json!({ "introspection": introspection })));
    let mut exchange = issuing(600);
    let fake = platform().answering(move |request| match request.url.as_str() {
        "https://as.test/introspect" => answer(
            200,
            json!({ "active": true, "sub": "alice", "aud": "https://api.test", "exp": NOW + 600 }),
        ),
        _ => exchange(request),
    });
    let forward = forwarded(block_on(
        gw.handle(&fake, &request("/orders/1", "opaque-abc")),
    ));
    assert_eq!(authorization(&forward), "Bearer exchanged-1-orders");
    let requests = fake.requests.borrow();
    let sent = requests
        .iter()
        .find(|r| r.url == "https://as.test/token")
        .unwrap();
    assert_eq!(field(sent, "subject_token").as_deref(), Some("opaque-abc"));
    assert_eq!(
        field(sent, "subject_token_type").as_deref(),
        Some(TOKEN_TYPE)
    );
}

#[test]
fn private_key_jwt_authenticates_with_an_assertion_signed_by_the_gateway_key() {
    let section = json!({ "token_endpoint": "https://as.test/token", "client_id": "gw",
        "client_auth": "private_key_jwt" });
    let gw = gateway_from(&config(json!({ "token_exchange": section })));
    let fake = platform().answering(issuing(600));
    let token = client_token(NOW + 3600);
    forwarded(block_on(gw.handle(&fake, &request("/orders/1", &token))));
    let sent = fake.requests.borrow()[0].clone();
    assert!(sent.headers.iter().all(|(name, _)| name != "authorization"));
    assert_eq!(field(&sent, "client_id").as_deref(), Some("gw"));
    assert_eq!(
        field(&sent, "client_assertion_type").as_deref(),
        Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
    );
    let assertion = field(&sent, "client_assertion").unwrap();
    let jws = edgeward::jws::parse(&assertion, 10_000).unwrap();
    let public =
        edgeward::jwk::Jwk::from_object(p256_jwk(&p256_key(7)).as_object().unwrap()).unwrap();
    edgeward::crypto::verify_sync(
        edgeward::crypto::Scheme::EcdsaP256Sha256,
        public.public_key(),
        jws.signing_input.as_bytes(),
        &jws.signature,
    )
    .unwrap();
    assert_eq!(jws.claims["iss"], json!("gw"));
    assert_eq!(jws.claims["sub"], json!("gw"));
    assert_eq!(jws.claims["aud"], json!("https://as.test/token"));
    assert!(jws.claims["jti"].is_string());

    // Each client authentication needs what it signs or sends with.
    let field_of = |config: Value| match block_on(
        gateway_from(&config).handle(&platform(), &request("/orders/1", "x")),
    ) {
        Outcome::Respond(r) => {
            let body: Value = serde_json::from_slice(&r.body).unwrap();
            body["field"].as_str().unwrap().to_owned()
        }
        _ => panic!("expected 500"),
    };
    let keyless = config(json!({ "token_exchange": section,
        "routes": [{ "path": "/o", "exchange": { "audience": "a" } }], "forwarding": {} }));
    assert_eq!(field_of(keyless), "token_exchange.client_auth");
    let secretless = config(
        json!({ "token_exchange": { "token_endpoint": "https://as.test/token",
        "client_id": "gw" } }),
    );
    assert_eq!(field_of(secretless), "token_exchange.client_secret_name");
}

/// RFC 8693 §2.1: `audience` and `resource` may repeat. A route naming several sends each as a
/// parameter of its own, and every one of them is part of the cache key: the same client token to
/// a route with one target more is another exchange.
#[test]
fn several_audiences_and_resources_are_all_sent_and_all_in_the_cache_key() {
    let both = json!({ "audience": ["orders", "billing"], "resource": ["https://a.test/", "https://b.test/"] });
    let gw = gateway_from(&config(json!({ "routes": [
        { "path": "/both/*", "exchange": both },
        { "path": "/one/*", "exchange": { "audience": ["orders"], "resource": ["https://a.test/", "https://b.test/"] } },
    ] })));
    let fake = platform().answering(issuing(600));
    let token = client_token(NOW + 3600);
    let both = authorization(&forwarded(block_on(
        gw.handle(&fake, &request("/both/1", &token)),
    )));
    let sent = form(&fake.requests.borrow()[0]);
    let all = |name: &str| -> Vec<String> {
        sent.iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    };
    assert_eq!(all("audience"), ["orders", "billing"]);
    assert_eq!(all("resource"), ["https://a.test/", "https://b.test/"]);
    let again = authorization(&forwarded(block_on(
        gw.handle(&fake, &request("/both/2", &token)),
    )));
    assert_eq!((again, fake.fetches.get()), (both.clone(), 1));
    let one = authorization(&forwarded(block_on(
        gw.handle(&fake, &request("/one/1", &token)),
    )));
    assert_ne!(one, both);
    assert_eq!(fake.fetches.get(), 2);
}
