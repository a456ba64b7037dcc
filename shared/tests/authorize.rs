//! The authorize stage through the pipeline with a scripted decision point (OPA Data API and
//! AuthZEN 1.0): the input document, allow / deny / headers, every fault failing closed (503,
//! origin not called, never cached), the decision cache (TTL, negative entries, LRU, shared tier)
//! and single-flight, and the configuration checks.

mod common;

use common::block_on;
use common::fake::{FakePlatform, SharedCache};
use common::token_cache::{token_with, NOW};
use common::{p256_jwk as jwk, p256_key as key};
use edgeward::platform::{FetchError, FetchRequest, FetchResponse};
use edgeward::{Gateway, Outcome, Request};
use serde_json::{json, Value};

const PDP: &str = "https://pdp.test";

fn config(point: Value, route_extra: Value) -> Value {
    let mut route = json!({ "path": "/api/*", "authorize": "main" });
    for (name, value) in route_extra.as_object().unwrap() {
        route[name] = value.clone();
    }
    json!({
        "origin": "http://origin.test:8080",
        "routes": [route],
        "issuers": [{
            "issuer": "https://issuer.test", "audiences": ["https://api.test"], "algorithms": ["ES256"],
            "jwks": { "keys": [{ "kid": "k1", "use": "sig", "kty": "EC", "crv": "P-256",
                "x": jwk(&key(1))["x"], "y": jwk(&key(1))["y"] }] },
        }],
        "authorization": { "decision_points": { "main": point } },
    })
}

fn opa() -> Value {
    json!({ "kind": "opa", "base": PDP, "path": "envoy/authz/decision", "headers": ["x-tenant"] })
}

fn gateway(config: &Value) -> Gateway {
    Gateway::with_trust_anchors(Some(&config.to_string()), &|_| None, "test", &[])
}

fn token() -> String {
    token_with(
        NOW + 600,
        json!({ "scope": "orders:read", "roles": ["clerk"] }),
    )
}

fn request(path: &str, extra: &[(&str, &str)]) -> Request {
    let authorization = format!("Bearer {}", token());
    let mut headers = vec![
        ("authorization", authorization.as_str()),
        ("cookie", "session=secret"),
    ];
    headers.extend_from_slice(extra);
    common::get(&format!("https://gw.test{path}"), &headers)
}

fn answer(status: u16, body: &str) -> Result<FetchResponse, FetchError> {
    Ok(FetchResponse {
        status,
        headers: vec![("content-type".into(), "application/json".into())],
        body: body.as_bytes().to_vec(),
    })
}

fn result(result: Value) -> Result<FetchResponse, FetchError> {
    answer(200, &json!({ "result": result }).to_string())
}

fn platform(
    script: impl Fn(&FetchRequest) -> Result<FetchResponse, FetchError> + 'static,
) -> FakePlatform {
    FakePlatform::new(NOW).answering(script)
}

/// (status, code) of the outcome; 200 and "" when forwarded.
fn status(outcome: &Outcome) -> (u16, String) {
    match outcome {
        Outcome::Forward(_) => (200, String::new()),
        Outcome::Respond(r) => {
            let body: Value = serde_json::from_slice(&r.body).unwrap();
            (
                r.status,
                body["code"].as_str().unwrap_or_default().to_owned(),
            )
        }
        other => panic!("unexpected {other:?}"),
    }
}

fn sent(fake: &FakePlatform, i: usize) -> Value {
    serde_json::from_slice(&fake.requests.borrow()[i].body).unwrap()
}

#[test]
fn the_opa_input_is_shaped_like_opa_envoy_and_carries_no_credential() {
    let fake = platform(|_| result(json!(true)));
    let gw = gateway(&config(opa(), json!({})));
    let outcome = block_on(gw.handle(
        &fake,
        &request(
            "/api/orders/a%20b?x=1&x=2&y=",
            &[("x-tenant", "acme"), ("x-other", "no")],
        ),
    ));
    assert_eq!(status(&outcome).0, 200);
    let call = &fake.requests.borrow()[0];
    assert_eq!(call.method, "POST");
    assert_eq!(call.url, "https://pdp.test/v1/data/envoy/authz/decision");
    let input = &sent(&fake, 0)["input"];
    let http = &input["attributes"]["request"]["http"];
    assert_eq!(http["method"], "GET");
    assert_eq!(http["path"], "/api/orders/a%20b?x=1&x=2&y=");
    assert_eq!(http["host"], "gw.test");
    assert_eq!(http["scheme"], "https");
    assert_eq!(http["headers"], json!({ "x-tenant": "acme" }));
    assert_eq!(input["parsed_path"], json!(["api", "orders", "a b"]));
    assert_eq!(input["parsed_query"], json!({ "x": ["1", "2"], "y": [""] }));
    assert_eq!(input["token"]["claims"]["roles"], json!(["clerk"]));
    assert_eq!(input["token"]["kind"], "jwt");
    assert_eq!(input["token"]["issuer"], "https://issuer.test");
    assert_eq!(input["token"]["binding"], "none");
    let text = String::from_utf8(call.body.clone()).unwrap();
    assert!(!text.contains(&token()), "the token itself is never sent");
    assert!(!text.contains("session=secret"), "cookies are never sent");
}

#[test]
fn deny_is_403_insufficient_scope_with_the_policy_reason_and_no_forward() {
    let fake =
        platform(|_| result(json!({ "allowed": false, "body": "only the owner may read this" })));
    let gw = gateway(&config(opa(), json!({})));
    let outcome = block_on(gw.handle(&fake, &request("/api/orders/1", &[])));
    let Outcome::Respond(response) = outcome else {
        panic!("a deny must not forward")
    };
    assert_eq!(response.status, 403);
    let body: Value = serde_json::from_slice(&response.body).unwrap();
    assert_eq!(body["code"], "ERR_AUTHZ_DENIED");
    assert_eq!(body["error"], "insufficient_scope");
    assert_eq!(body["error_description"], "only the owner may read this");
    let challenge = response
        .headers
        .get_single("www-authenticate")
        .unwrap()
        .unwrap();
    assert!(
        challenge.contains(r#"error="insufficient_scope""#),
        "{challenge}"
    );
}

#[test]
fn boolean_false_and_an_undefined_result_deny() {
    for answer_body in [json!({ "result": false }), json!({})] {
        let body = answer_body.to_string();
        let fake = platform(move |_| answer(200, &body));
        let gw = gateway(&config(opa(), json!({})));
        let outcome = block_on(gw.handle(&fake, &request("/api/orders/1", &[])));
        assert_eq!(
            status(&outcome),
            (403, "ERR_AUTHZ_DENIED".into()),
            "{answer_body}"
        );
    }
}

#[test]
fn a_reason_that_cannot_be_quoted_is_dropped_not_echoed() {
    let fake = platform(|_| result(json!({ "allowed": false, "body": "say \"no\"\r\n" })));
    let gw = gateway(&config(opa(), json!({})));
    let Outcome::Respond(response) = block_on(gw.handle(&fake, &request("/api/x", &[]))) else {
        panic!()
    };
    let body: Value = serde_json::from_slice(&response.body).unwrap();
    assert_eq!(body["error_description"], "denied by policy");
}

#[test]
fn policy_headers_reach_the_origin_replacing_the_clients_own() {
    let fake = platform(|_| {
        result(
            json!({ "allowed": true, "headers": { "x-tenant-tier": "gold", "x-list": ["a", "b"] } }),
        )
    });
    let gw = gateway(&config(opa(), json!({})));
    let outcome = block_on(gw.handle(
        &fake,
        &request(
            "/api/orders/1",
            &[("x_tenant_tier", "forged"), ("x-tenant-tier", "forged")],
        ),
    ));
    let Outcome::Forward(forward) = outcome else {
        panic!("{outcome:?}")
    };
    let tiers: Vec<&str> = forward.headers.get_all("x-tenant-tier").collect();
    assert_eq!(tiers, ["gold"]);
    assert_eq!(forward.headers.get_all("x_tenant_tier").count(), 0);
    let list: Vec<&str> = forward.headers.get_all("x-list").collect();
    assert_eq!(list, ["a", "b"]);
}

#[test]
fn policy_headers_in_protected_namespaces_are_refused_fail_closed() {
    for name in [
        "x-edgeward-sub",
        "authorization",
        "dpop",
        "traceparent",
        "signature-input",
        "x_edgeward_sub",
        "host",
    ] {
        let headers = json!({ name: "forged" });
        let fake = platform(move |_| result(json!({ "allowed": true, "headers": headers })));
        let gw = gateway(&config(opa(), json!({})));
        let outcome = block_on(gw.handle(&fake, &request("/api/orders/1", &[])));
        assert_eq!(
            status(&outcome),
            (503, "ERR_AUTHZ_ANSWER_INVALID".into()),
            "{name}"
        );
    }
}

#[test]
fn every_fault_is_503_with_retry_after_never_forwarded_never_cached() {
    type Script = fn(&FetchRequest) -> Result<FetchResponse, FetchError>;
    let faults: [(Script, &str); 10] = [
        (|_| Err(FetchError::Unreachable), "ERR_AUTHZ_UNREACHABLE"),
        (|_| Err(FetchError::Timeout), "ERR_AUTHZ_TIMEOUT"),
        (|_| Err(FetchError::TooLarge), "ERR_AUTHZ_ANSWER_TOO_LARGE"),
        (|_| answer(500, r#"{"result":true}"#), "ERR_AUTHZ_STATUS"),
        (|_| answer(404, "{}"), "ERR_AUTHZ_STATUS"),
        (|_| answer(200, "not json"), "ERR_AUTHZ_ANSWER_INVALID"),
        (
            |_| answer(200, r#"{"result":true,"result":false}"#),
            "ERR_AUTHZ_ANSWER_INVALID",
        ),
        (
            |_| answer(200, r#"{"result":"yes"}"#),
            "ERR_AUTHZ_ANSWER_INVALID",
        ),
        (
            |_| answer(200, r#"{"result":{"headers":{}}}"#),
            "ERR_AUTHZ_ANSWER_INVALID",
        ),
        (
            |_| {
                Ok(FetchResponse {
                    status: 200,
                    headers: vec![("content-type".into(), "text/plain".into())],
                    body: br#"{"result":true}"#.to_vec(),
                })
            },
            "ERR_AUTHZ_ANSWER_INVALID",
        ),
    ];
    for (script, code) in faults {
        let fake = platform(script);
        let gw = gateway(&config(opa(), json!({})));
        for _ in 0..2 {
            let outcome = block_on(gw.handle(&fake, &request("/api/orders/1", &[])));
            let Outcome::Respond(response) = &outcome else {
                panic!("{code}: forwarded")
            };
            assert_eq!(status(&outcome), (503, code.into()));
            assert_eq!(response.headers.get_single("retry-after"), Ok(Some("5")));
        }
        assert_eq!(fake.fetches.get(), 2, "{code}: a failure is never cached");
    }
}

#[test]
fn the_fetch_is_bounded_by_timeout_and_answer_size() {
    let point = json!({ "kind": "opa", "base": PDP, "path": "a", "timeout_ms": 250, "max_answer_bytes": 2048 });
    let fake = platform(|_| result(json!(true)));
    let gw = gateway(&config(point, json!({})));
    block_on(gw.handle(&fake, &request("/api/orders/1", &[])));
    let call = &fake.requests.borrow()[0];
    assert_eq!((call.timeout_ms, call.max_body_bytes), (250, 2048));
}

#[test]
fn allows_and_denials_are_cached_for_their_ttls() {
    let point = json!({ "kind": "opa", "base": PDP, "path": "a", "cache_ttl_seconds": 30, "negative_ttl_seconds": 5 });
    let fake = platform(|r: &FetchRequest| {
        let input: Value = serde_json::from_slice(&r.body).unwrap();
        let allowed = input["input"]["parsed_path"][1] == "open";
        result(json!(allowed))
    });
    let gw = gateway(&config(point, json!({})));
    let call = |path| status(&block_on(gw.handle(&fake, &request(path, &[])))).0;
    assert_eq!((call("/api/open"), call("/api/open")), (200, 200));
    assert_eq!((call("/api/shut"), call("/api/shut")), (403, 403));
    assert_eq!(fake.fetches.get(), 2, "one call per distinct question");
    fake.advance(5);
    assert_eq!((call("/api/open"), call("/api/shut")), (200, 403));
    assert_eq!(fake.fetches.get(), 3, "the deny expired first");
    fake.advance(25);
    call("/api/open");
    assert_eq!(fake.fetches.get(), 4, "then the allow");
}

#[test]
fn zero_ttls_and_zero_entries_disable_the_cache() {
    for point in [
        json!({ "kind": "opa", "base": PDP, "path": "a", "cache_ttl_seconds": 0 }),
        json!({ "kind": "opa", "base": PDP, "path": "a", "cache_entries": 0 }),
    ] {
        let shared = SharedCache::default();
        let fake = platform(|_| result(json!(true))).sharing(&shared);
        let gw = gateway(&config(point.clone(), json!({})));
        for _ in 0..3 {
            block_on(gw.handle(&fake, &request("/api/orders/1", &[])));
        }
        assert_eq!(fake.fetches.get(), 3, "{point}");
        assert!(
            shared.borrow().is_empty(),
            "{point}: nothing in the shared tier"
        );
    }
}

#[test]
fn the_isolate_cache_evicts_the_least_recently_used() {
    let point = json!({ "kind": "opa", "base": PDP, "path": "a", "cache_entries": 2 });
    let fake = platform(|_| result(json!(true)));
    let gw = gateway(&config(point, json!({})));
    let call = |path| block_on(gw.handle(&fake, &request(path, &[])));
    call("/api/a");
    call("/api/b");
    call("/api/a"); // a is now the most recently used
    call("/api/c"); // evicts b
    assert_eq!(fake.fetches.get(), 3);
    call("/api/a");
    assert_eq!(fake.fetches.get(), 3, "a stayed");
    call("/api/b");
    assert_eq!(fake.fetches.get(), 4, "b was evicted");
}

#[test]
fn the_shared_tier_serves_a_fresh_instance_and_keeps_no_question() {
    let shared = SharedCache::default();
    let first = platform(|_| result(json!({ "allowed": true, "headers": { "x-tier": "gold" } })))
        .sharing(&shared);
    let gw = gateway(&config(opa(), json!({})));
    block_on(gw.handle(&first, &request("/api/orders/1", &[])));
    assert_eq!(first.fetches.get(), 1);
    let keys: Vec<String> = shared.borrow().keys().cloned().collect();
    assert_eq!(keys.len(), 1);
    assert!(keys[0].starts_with("edgeward/authz/"), "{keys:?}");
    let (value, expires) = shared.borrow().values().next().cloned().unwrap();
    assert_eq!(expires, NOW + 5, "absolute expiry: now + cache_ttl_seconds");
    assert!(
        !String::from_utf8(value).unwrap().contains("alice"),
        "the question is not stored"
    );
    // A fresh instance (Spin) with the same shared tier: no call, same headers.
    let fresh = platform(|_| Err(FetchError::Unreachable)).sharing(&shared);
    let gw = gateway(&config(opa(), json!({})));
    let Outcome::Forward(forward) = block_on(gw.handle(&fresh, &request("/api/orders/1", &[])))
    else {
        panic!("the shared decision was not used")
    };
    assert_eq!(fresh.fetches.get(), 0);
    assert_eq!(forward.headers.get_single("x-tier"), Ok(Some("gold")));
    // Past its expiry the shared entry is not used (the fake keeps what it is given).
    fresh.advance(5);
    let gw = gateway(&config(opa(), json!({})));
    let outcome = block_on(gw.handle(&fresh, &request("/api/orders/1", &[])));
    assert_eq!(status(&outcome).0, 503);
    assert_eq!(fresh.fetches.get(), 1);
}

#[test]
fn a_burst_of_one_question_costs_one_call_per_isolate() {
    let mut fake = platform(|_| result(json!(true)));
    fake.yield_in_fetch = true;
    let gw = gateway(&config(opa(), json!({})));
    let requests: Vec<Request> = (0..64).map(|_| request("/api/orders/1", &[])).collect();
    let outcomes = block_on(futures_util::future::join_all(
        requests.iter().map(|r| gw.handle(&fake, r)),
    ));
    assert!(outcomes.iter().all(|o| status(o).0 == 200));
    assert_eq!(fake.fetches.get(), 1);
}

#[test]
fn a_failed_burst_shares_the_503_instead_of_retrying() {
    let mut fake = platform(|_| Err(FetchError::Timeout));
    fake.yield_in_fetch = true;
    let gw = gateway(&config(opa(), json!({})));
    let requests: Vec<Request> = (0..16).map(|_| request("/api/orders/1", &[])).collect();
    let outcomes = block_on(futures_util::future::join_all(
        requests.iter().map(|r| gw.handle(&fake, r)),
    ));
    assert!(outcomes.iter().all(|o| status(o).0 == 503));
    assert_eq!(fake.fetches.get(), 1);
}

#[test]
fn the_cache_key_does_not_depend_on_member_order() {
    // Two gateways whose tokens carry the same claims inserted in different orders share one
    // shared-tier entry: the key is over the canonical (sorted) document.
    let shared = SharedCache::default();
    let a = platform(|_| result(json!(true))).sharing(&shared);
    let gw = gateway(&config(opa(), json!({})));
    let token_a = token_with(NOW + 600, json!({ "scope": "s", "roles": ["r"] }));
    let token_b = {
        // Same claims, members serialized in another order.
        let claims = r#"{"roles":["r"],"scope":"s","sub":"alice","iat":1799999990,"exp":1800000600,"aud":"https://api.test","iss":"https://issuer.test"}"#;
        let header = json!({ "alg": "ES256", "typ": "at+jwt", "kid": "k1" });
        common::sign_es256(
            &key(1),
            &header,
            &serde_json::from_str::<Value>(claims).unwrap(),
        )
    };
    let get = |token: &str| {
        let auth = format!("Bearer {token}");
        common::get("https://gw.test/api/x", &[("authorization", auth.as_str())])
    };
    block_on(gw.handle(&a, &get(&token_a)));
    let b = platform(|_| Err(FetchError::Unreachable)).sharing(&shared);
    let gw = gateway(&config(opa(), json!({})));
    assert_eq!(status(&block_on(gw.handle(&b, &get(&token_b)))).0, 200);
    assert_eq!(b.fetches.get(), 0);
    assert_eq!(shared.borrow().len(), 1);
}

/// The isolate tier is keyed by the question sent, so a change to any part of it — a claim, the
/// method, the path, a selected field, the query, the host — is a new decision call, and the same
/// question again is a hit; a field the decision point does not see changes nothing. For both APIs.
#[test]
fn every_part_of_the_question_is_in_the_cache_key() {
    let authzen = json!({ "kind": "authzen", "base": PDP, "headers": ["x-tenant"],
        "authzen": { "subject_claims": ["roles", "scope"] } });
    for point in [opa(), authzen] {
        let fake = platform(|_| answer(200, r#"{"result": true, "decision": true}"#));
        let gw = gateway(&config(point.clone(), json!({})));
        let claims = json!({ "scope": "orders:read", "roles": ["clerk"] });
        let ask = |method: &str, url: &str, claims: &Value, tenant: &str| {
            let authorization = format!("Bearer {}", token_with(NOW + 600, claims.clone()));
            let mut request = common::get(
                url,
                &[
                    ("authorization", authorization.as_str()),
                    ("x-tenant", tenant),
                ],
            );
            request.method = method.into();
            status(&block_on(gw.handle(&fake, &request))).0
        };
        let base = "https://gw.test/api/orders/1?x=1";
        let other_claim = json!({ "scope": "orders:read", "roles": ["admin"] });
        let other_scope = json!({ "scope": "orders:write", "roles": ["clerk"] });
        let questions = [
            ("GET", base, &claims, "acme"),
            ("GET", base, &other_claim, "acme"),
            ("GET", base, &other_scope, "acme"),
            ("POST", base, &claims, "acme"),
            ("GET", "https://gw.test/api/orders/2?x=1", &claims, "acme"),
            ("GET", base, &claims, "other"),
            ("GET", "https://gw.test/api/orders/1?x=2", &claims, "acme"),
            ("GET", "https://gw.test/api/orders/1?y=1", &claims, "acme"),
        ];
        for (n, (method, url, claims, tenant)) in questions.iter().enumerate() {
            assert_eq!(ask(method, url, claims, tenant), 200);
            assert_eq!(
                fake.fetches.get(),
                n + 1,
                "{point}: a new question: {method} {url} {claims} {tenant}"
            );
        }
        let bodies: Vec<Vec<u8>> = fake
            .requests
            .borrow()
            .iter()
            .map(|r| r.body.clone())
            .collect();
        for (i, body) in bodies.iter().enumerate() {
            assert!(
                !bodies[..i].contains(body),
                "{point}: question {i} was sent before"
            );
        }
        for (method, url, claims, tenant) in questions {
            assert_eq!(ask(method, url, claims, tenant), 200);
        }
        assert_eq!(
            fake.fetches.get(),
            questions.len(),
            "{point}: every question again: a hit"
        );
        // A field outside `headers` is not part of the question.
        let authorization = format!("Bearer {}", token_with(NOW + 600, claims.clone()));
        let request = common::get(
            base,
            &[
                ("authorization", authorization.as_str()),
                ("x-tenant", "acme"),
                ("x-other", "1"),
            ],
        );
        assert_eq!(status(&block_on(gw.handle(&fake, &request))).0, 200);
        assert_eq!(fake.fetches.get(), questions.len(), "{point}");
        // The host is in OPA's input (`http.host`), not in an AuthZEN request (the resource is
        // the path): a new question for OPA only.
        ask("GET", "https://gw2.test/api/orders/1?x=1", &claims, "acme");
        let opa_only = if point["kind"] == "opa" { 1 } else { 0 };
        assert_eq!(fake.fetches.get(), questions.len() + opa_only, "{point}");
        // A repeated query parameter is in both (`parsed_query` has every value): a new question.
        ask(
            "GET",
            "https://gw.test/api/orders/1?x=1&x=1",
            &claims,
            "acme",
        );
        assert_eq!(
            fake.fetches.get(),
            questions.len() + opa_only + 1,
            "{point}"
        );
    }
}

#[test]
fn authzen_request_and_answers() {
    let point = json!({ "kind": "authzen", "base": "https://pdp.test/", "headers": ["x-tenant"],
        "authzen": { "subject_claims": ["roles"], "resource_type": "invoice" } });
    let fake = platform(|r: &FetchRequest| {
        let request: Value = serde_json::from_slice(&r.body).unwrap();
        let allowed = request["resource"]["properties"]["parsed_path"][1] == "open";
        answer(
            200,
            &json!({ "decision": allowed, "context": { "reason_user": { "en": "not yours" }, "headers": { "x-pdp": "yes" } } })
                .to_string(),
        )
    });
    let gw = gateway(&config(point, json!({})));
    let outcome = block_on(gw.handle(
        &fake,
        &request("/api/open?a=1&a=%202", &[("x-tenant", "acme")]),
    ));
    let Outcome::Forward(forward) = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(forward.headers.get_single("x-pdp"), Ok(Some("yes")));
    assert_eq!(
        fake.requests.borrow()[0].url,
        "https://pdp.test/access/v1/evaluation"
    );
    assert_eq!(
        sent(&fake, 0),
        json!({
            "subject": { "type": "user", "id": "alice",
                "properties": { "roles": ["clerk"], "issuer": "https://issuer.test" } },
            "action": { "name": "GET" },
            "resource": { "type": "invoice", "id": "/api/open",
                "properties": { "route": "/api/*", "parsed_path": ["api", "open"], "parsed_query": { "a": ["1", " 2"] } } },
            "context": { "headers": { "x-tenant": "acme" } },
        })
    );
    // Segments percent-decoded, as in OPA's input; the resource id is the path as sent.
    let outcome = block_on(gw.handle(&fake, &request("/api/open/a%20b", &[])));
    assert!(matches!(outcome, Outcome::Forward(_)), "{outcome:?}");
    let resource = &sent(&fake, 1)["resource"];
    assert_eq!(
        resource["properties"]["parsed_path"],
        json!(["api", "open", "a b"])
    );
    assert_eq!(resource["id"], "/api/open/a%20b");
    let Outcome::Respond(denied) = block_on(gw.handle(&fake, &request("/api/shut", &[]))) else {
        panic!()
    };
    let body: Value = serde_json::from_slice(&denied.body).unwrap();
    assert_eq!(
        (denied.status, body["error_description"].as_str()),
        (403, Some("not yours"))
    );
    for bad in [
        r#"{"decision":"true"}"#,
        r#"{}"#,
        r#"{"decision":true,"context":[]}"#,
    ] {
        let fake = platform(move |_| answer(200, bad));
        let gw = gateway(&config(
            json!({ "kind": "authzen", "base": PDP }),
            json!({}),
        ));
        let outcome = block_on(gw.handle(&fake, &request("/api/x", &[])));
        assert_eq!(
            status(&outcome),
            (503, "ERR_AUTHZ_ANSWER_INVALID".into()),
            "{bad}"
        );
    }
}

#[test]
fn an_anonymous_route_is_authorized_with_a_null_token() {
    let fake = platform(|_| result(json!(true)));
    let gw = gateway(&config(opa(), json!({ "anonymous": true })));
    let outcome = block_on(gw.handle(&fake, &common::get("https://gw.test/api/x", &[])));
    assert_eq!(status(&outcome).0, 200);
    assert_eq!(sent(&fake, 0)["input"]["token"], Value::Null);
}

#[test]
fn routes_without_authorize_never_call_a_decision_point() {
    let fake = platform(|_| result(json!(false)));
    let mut cfg = config(opa(), json!({}));
    cfg["routes"][0]
        .as_object_mut()
        .unwrap()
        .remove("authorize");
    let outcome = block_on(gateway(&cfg).handle(&fake, &request("/api/x", &[])));
    assert_eq!(status(&outcome).0, 200);
    assert_eq!(fake.fetches.get(), 0);
}

#[test]
fn the_token_is_verified_before_the_decision_point_is_asked() {
    let fake = platform(|_| result(json!(true)));
    let gw = gateway(&config(opa(), json!({})));
    let forged = format!("{}x", &token()[..token().len() - 1]);
    let auth = format!("Bearer {forged}");
    let outcome = block_on(gw.handle(
        &fake,
        &common::get("https://gw.test/api/x", &[("authorization", &auth)]),
    ));
    assert_eq!(status(&outcome).0, 401);
    assert_eq!(fake.fetches.get(), 0);
}

/// Without the `policy` feature embedded Rego is refused by kind; with it, the policy is required.
const REGO_FIELD: &str = if cfg!(feature = "policy") {
    "authorization.decision_points.main.policy"
} else {
    "authorization.decision_points.main.kind"
};

/// Every configuration mistake is a 500 naming the field.
#[test]
fn bad_configuration_names_the_field() {
    let cases = [
        (
            json!({ "kind": "opa", "path": "a" }),
            json!({}),
            "authorization.decision_points.main.base",
        ),
        (
            json!({ "kind": "opa", "base": "http://pdp.example", "path": "a" }),
            json!({}),
            "authorization.decision_points.main.base",
        ),
        (
            json!({ "kind": "opa", "base": PDP, "path": "a/../b" }),
            json!({}),
            "authorization.decision_points.main.path",
        ),
        (
            json!({ "kind": "opa", "base": PDP }),
            json!({}),
            "authorization.decision_points.main.path",
        ),
        (
            json!({ "kind": "authzen", "base": PDP, "path": "a" }),
            json!({}),
            "authorization.decision_points.main.path",
        ),
        (
            json!({ "kind": "opa", "base": PDP, "path": "a", "timeout_ms": 0 }),
            json!({}),
            "authorization.decision_points.main.timeout_ms",
        ),
        (
            json!({ "kind": "opa", "base": PDP, "path": "a", "cache_ttl_seconds": 86400 }),
            json!({}),
            "authorization.decision_points.main.cache_ttl_seconds",
        ),
        (
            json!({ "kind": "opa", "base": PDP, "path": "a", "headers": ["Authorization"] }),
            json!({}),
            "authorization.decision_points.main.headers",
        ),
        (
            json!({ "kind": "opa", "base": PDP, "path": "a", "headers": ["cookie"] }),
            json!({}),
            "authorization.decision_points.main.headers",
        ),
        (
            json!({ "kind": "opa", "base": PDP, "path": "a", "headers": ["proxy_authorization"] }),
            json!({}),
            "authorization.decision_points.main.headers",
        ),
        (json!({ "kind": "rego" }), json!({}), REGO_FIELD),
        (
            json!({ "kind": "opa", "base": PDP, "path": "a", "query": "data.a" }),
            json!({}),
            "authorization.decision_points.main",
        ),
        (
            opa(),
            json!({ "authorize": "other" }),
            "routes[0].authorize",
        ),
    ];
    for (point, route, field) in cases {
        let fake = platform(|_| result(json!(true)));
        let gw = gateway(&config(point.clone(), route));
        let Outcome::Respond(response) = block_on(gw.handle(&fake, &request("/api/x", &[]))) else {
            panic!("{point}: loaded")
        };
        let body: Value = serde_json::from_slice(&response.body).unwrap();
        assert_eq!(
            (response.status, body["field"].as_str()),
            (500, Some(field)),
            "{point}"
        );
        assert_eq!(fake.fetches.get(), 0);
    }
}

/// `authorization_secret`: the platform secret reaches the decision point as `Authorization:
/// Bearer …` (OPA's `--authentication=token`) and nothing else sees it (not the input, not a log);
/// a point that refuses it (401) is 503 `ERR_AUTHZ_STATUS`; a missing secret, a value that is not
/// an RFC 6750 b64token, or the field on an embedded point is a 500 naming the field.
#[test]
fn the_decision_point_token_comes_from_a_platform_secret() {
    let point = json!({ "kind": "opa", "base": PDP, "path": "a", "cache_ttl_seconds": 0,
        "negative_ttl_seconds": 0, "authorization_secret": "PDP_TOKEN" });
    let document = config(point, json!({})).to_string();
    let with = |value: Option<&'static str>| {
        let secrets = move |name: &str| {
            (name == "PDP_TOKEN")
                .then_some(value)
                .flatten()
                .map(String::from)
        };
        Gateway::with_trust_anchors(Some(&document), &secrets, "test", &[])
    };
    // The point: OPA with token authentication.
    let pdp = || {
        platform(|r: &FetchRequest| {
            let bearer = r.headers.iter().find(|(n, _)| n == "authorization");
            match bearer.map(|(_, v)| v.as_str()) {
                Some("Bearer s3cr3t-T0ken.x") => result(json!(true)),
                _ => answer(
                    401,
                    r#"{"code":"unauthorized","message":"authentication required"}"#,
                ),
            }
        })
    };
    let fake = pdp();
    let outcome = block_on(with(Some("s3cr3t-T0ken.x")).handle(&fake, &request("/api/x", &[])));
    assert_eq!(status(&outcome), (200, String::new()));
    let body = String::from_utf8_lossy(&fake.requests.borrow()[0].body).into_owned();
    assert!(!body.contains("s3cr3t"), "the token is not in the input");
    let fake = pdp();
    let outcome = block_on(with(Some("another")).handle(&fake, &request("/api/x", &[])));
    assert_eq!(status(&outcome), (503, "ERR_AUTHZ_STATUS".into()));
    assert_eq!(fake.fetches.get(), 1);
    assert!(
        fake.messages().iter().all(|m| !m.contains("another")),
        "never logged"
    );
    let field = "authorization.decision_points.main.authorization_secret";
    for value in [None, Some("two words"), Some("")] {
        let fake = pdp();
        let Outcome::Respond(response) =
            block_on(with(value).handle(&fake, &request("/api/x", &[])))
        else {
            panic!("{value:?}: loaded")
        };
        let body: Value = serde_json::from_slice(&response.body).unwrap();
        assert_eq!(
            (response.status, body["field"].as_str()),
            (500, Some(field)),
            "{value:?}"
        );
        assert!(
            !body.to_string().contains("two words"),
            "the value is never shown"
        );
        assert_eq!(fake.fetches.get(), 0);
    }
    let embedded = json!({ "kind": "rego", "policy": "package a\nallow := true", "query": "data.a.allow",
        "authorization_secret": "PDP_TOKEN" });
    let gw = gateway(&config(embedded, json!({})));
    let Outcome::Respond(response) = block_on(gw.handle(&pdp(), &request("/api/x", &[]))) else {
        panic!("loaded")
    };
    let body: Value = serde_json::from_slice(&response.body).unwrap();
    assert_eq!(
        (response.status, body["field"].as_str()),
        (500, Some(field))
    );
}

#[test]
fn decision_points_are_outbound_urls() {
    let config = edgeward::Config::from_json(&config(opa(), json!({})).to_string()).unwrap();
    assert!(config
        .outbound_urls()
        .contains(&("authorization.decision_points.main.base".into(), PDP)));
}
