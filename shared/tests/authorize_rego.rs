//! The authorize stage against a real Rego engine: the scripted decision point evaluates the
//! policies in `tests/data/rego/` with regorus (Microsoft's Rego interpreter) behind the OPA Data
//! API, on the input document the gateway builds. Table tests from OPA's "HTTP APIs" tutorial
//! (own salary, a manager's reports, HR; its decisions as the tutorial states them) and a
//! role-by-path-and-method policy over verified claims with a reason and headers.

mod common;

use common::block_on;
use common::fake::FakePlatform;
use common::token_cache::{token_with, NOW};
use common::{p256_jwk as jwk, p256_key as key};
use edgeward::platform::{FetchRequest, FetchResponse};
use edgeward::{Gateway, Outcome};
use serde_json::{json, Value};

const PDP: &str = "https://pdp.test";

/// A decision point running `policy` with regorus: `POST /v1/data/{path}` → `{"result": …}`.
fn opa(
    policy: &'static str,
) -> impl Fn(&FetchRequest) -> Result<FetchResponse, edgeward::platform::FetchError> {
    move |request| {
        let mut engine = regorus::Engine::new();
        engine
            .add_policy("policy.rego".into(), policy.into())
            .expect("the policy compiles");
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        let input = regorus::Value::from_json_str(&body["input"].to_string()).unwrap();
        engine.set_input(input);
        let rule = request
            .url
            .strip_prefix(&format!("{PDP}/v1/data/"))
            .unwrap();
        let result = engine
            .eval_rule(format!("data.{}", rule.replace('/', ".")))
            .unwrap();
        let answer = match result {
            regorus::Value::Undefined => json!({}),
            value => {
                json!({ "result": serde_json::from_str::<Value>(&value.to_json_str().unwrap()).unwrap() })
            }
        };
        Ok(FetchResponse {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body: answer.to_string().into_bytes(),
        })
    }
}

fn gateway(path: &str) -> Gateway {
    let config = json!({
        "origin": "http://origin.test:8080",
        "routes": [{ "path": "/*", "authorize": "rego" }],
        "issuers": [{
            "issuer": "https://issuer.test", "audiences": ["https://api.test"], "algorithms": ["ES256"],
            "jwks": { "keys": [{ "kid": "k1", "use": "sig", "kty": "EC", "crv": "P-256",
                "x": jwk(&key(1))["x"], "y": jwk(&key(1))["y"] }] },
        }],
        "authorization": { "decision_points": { "rego": {
            "kind": "opa", "base": PDP, "path": path, "cache_ttl_seconds": 0, "negative_ttl_seconds": 0,
        } } },
    });
    Gateway::with_trust_anchors(Some(&config.to_string()), &|_| None, "test", &[])
}

/// The outcome of `method path` with a token carrying `claims`: (status, forwarded headers or the
/// error body).
fn ask(gw: &Gateway, fake: &FakePlatform, method: &str, path: &str, claims: Value) -> (u16, Value) {
    let authorization = format!("Bearer {}", token_with(NOW + 600, claims));
    let request = edgeward::Request {
        method: method.into(),
        url: format!("https://gw.test{path}"),
        headers: [("authorization", authorization.as_str())]
            .into_iter()
            .collect(),
        client_cert: None,
    };
    match block_on(gw.handle(fake, &request)) {
        Outcome::Forward(forward) => {
            let headers: serde_json::Map<String, Value> = forward
                .headers
                .iter()
                .map(|(n, v)| (n.to_owned(), Value::String(v.to_owned())))
                .collect();
            (200, Value::Object(headers))
        }
        Outcome::Respond(response) => (
            response.status,
            serde_json::from_slice(&response.body).unwrap(),
        ),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn opa_http_api_tutorial_decisions() {
    let fake = FakePlatform::new(NOW).answering(opa(include_str!("data/rego/http-api.rego")));
    let gw = gateway("httpapi/authz/allow");
    // (who, method, path, allowed?) — the tutorial's cases and the ones its rules imply.
    let table = [
        ("alice", "GET", "/finance/salary/alice", true), // own salary
        ("bob", "GET", "/finance/salary/alice", true),   // bob manages alice
        ("betty", "GET", "/finance/salary/charlie", true), // betty manages charlie
        ("david", "GET", "/finance/salary/bob", true),   // HR sees everybody's
        ("alice", "GET", "/finance/salary/charlie", false), // not hers, not her report
        ("bob", "GET", "/finance/salary/charlie", false), // not his report
        ("charlie", "GET", "/finance/salary/alice", false),
        ("alice", "POST", "/finance/salary/alice", false), // GET only
        ("david", "GET", "/finance/salary", false),        // not a salary path
        ("alice", "GET", "/finance/salary/alice/extra", false),
    ];
    for (who, method, path, allowed) in table {
        let (status, body) = ask(&gw, &fake, method, path, json!({ "sub": who }));
        let expected = if allowed { 200 } else { 403 };
        assert_eq!(status, expected, "{who} {method} {path}: {body}");
        if !allowed {
            assert_eq!(body["code"], "ERR_AUTHZ_DENIED");
        }
    }
    assert_eq!(
        fake.fetches.get(),
        table.len(),
        "one decision per request (no cache)"
    );
}

#[test]
fn role_by_path_and_method_from_verified_claims() {
    let fake = FakePlatform::new(NOW).answering(opa(include_str!("data/rego/claims.rego")));
    let gw = gateway("claims/authz/decision");
    let table: [(Value, &str, &str, Result<&str, &str>); 6] = [
        (json!(["reader"]), "GET", "/orders/7", Ok("reader")),
        (
            json!(["writer", "reader"]),
            "POST",
            "/orders",
            Ok("reader,writer"),
        ),
        (
            json!(["reader"]),
            "DELETE",
            "/orders/7",
            Err(r#"DELETE /orders/7 is not allowed for roles ["reader"]"#),
        ),
        (
            json!([]),
            "GET",
            "/orders/7",
            Err("GET /orders/7 is not allowed for roles []"),
        ),
        // admin needs a DPoP-bound token (`input.token.binding`); a bearer token is not enough.
        (
            json!(["admin"]),
            "GET",
            "/admin/users",
            Err(r#"GET /admin/users is not allowed for roles ["admin"]"#),
        ),
        (
            json!(["reader"]),
            "GET",
            "/admin/users",
            Err(r#"GET /admin/users is not allowed for roles ["reader"]"#),
        ),
    ];
    for (roles, method, path, expected) in table {
        let (status, body) = ask(&gw, &fake, method, path, json!({ "roles": roles }));
        match expected {
            Ok(header) => {
                assert_eq!(status, 200, "{method} {path}: {body}");
                assert_eq!(body["x-roles"], header);
            }
            Err(reason) => {
                assert_eq!(status, 403, "{method} {path}: {body}");
                // A reason with `"` cannot go into the challenge: the gateway's own text instead.
                let shown = if reason.contains('"') {
                    "denied by policy"
                } else {
                    reason
                };
                assert_eq!(body["error_description"], shown, "{method} {path}");
            }
        }
    }
}
