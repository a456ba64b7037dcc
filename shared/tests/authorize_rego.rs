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
    opa_at(policy, NOW)
}

/// [`opa`] whose clock reads `now` (Unix seconds): regorus's own `time` builtins, with
/// `time.now_ns()` answering `now` as an OPA whose clock says `now` would.
fn opa_at(
    policy: &'static str,
    now: u64,
) -> impl Fn(&FetchRequest) -> Result<FetchResponse, edgeward::platform::FetchError> {
    move |request| {
        let mut engine = regorus::Engine::new();
        engine
            .add_policy("policy.rego".into(), policy.into())
            .expect("the policy compiles");
        let now_ns =
            move |_: Vec<regorus::Value>| Ok(regorus::Value::from(now as i64 * 1_000_000_000));
        engine
            .add_extension("time.now_ns".into(), 0, Box::new(now_ns))
            .unwrap();
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
    gateway_with(json!({
        "kind": "opa", "base": PDP, "path": path, "cache_ttl_seconds": 0, "negative_ttl_seconds": 0,
    }))
}

fn gateway_with(point: Value) -> Gateway {
    let config = config_with(point);
    Gateway::with_trust_anchors(Some(&config.to_string()), &|_| None, "test", &[])
}

/// A gateway configuration whose one route asks the decision point `rego` = `point`.
fn config_with(point: Value) -> Value {
    json!({
        "origin": "http://origin.test:8080",
        "routes": [{ "path": "/*", "authorize": "rego" }],
        "issuers": [{
            "issuer": "https://issuer.test", "audiences": ["https://api.test"], "algorithms": ["ES256"],
            "jwks": { "keys": [{ "kid": "k1", "use": "sig", "kty": "EC", "crv": "P-256",
                "x": jwk(&key(1))["x"], "y": jwk(&key(1))["y"] }] },
        }],
        "authorization": { "decision_points": { "rego": point } },
    })
}

/// OPA's "HTTP APIs" tutorial: (who, method, path, allowed?) — its cases and the ones its rules
/// imply.
const SALARY_CASES: [(&str, &str, &str, bool); 10] = [
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

/// Role by path and method: (roles, method, path, allowed with this `x-roles` / denied with this
/// reason).
fn claim_cases() -> Vec<(
    Value,
    &'static str,
    &'static str,
    Result<&'static str, &'static str>,
)> {
    vec![
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
    ]
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
    for (who, method, path, allowed) in SALARY_CASES {
        let (status, body) = ask(&gw, &fake, method, path, json!({ "sub": who }));
        let expected = if allowed { 200 } else { 403 };
        assert_eq!(status, expected, "{who} {method} {path}: {body}");
        if !allowed {
            assert_eq!(body["code"], "ERR_AUTHZ_DENIED");
        }
    }
    assert_eq!(
        fake.fetches.get(),
        SALARY_CASES.len(),
        "one decision per request (no cache)"
    );
}

/// Time of day (OPA's business-hours example, UTC): (request time, method, allowed with this
/// `x-time` / denied). Reads at any time, writes on business days 09:00-17:59.
const TIME_CASES: [(u64, &str, Option<&str>); 9] = [
    (1_796_639_400, "POST", Some("Monday 10:30")), // 2026-12-07T10:30:00Z
    (1_796_633_999, "POST", None),                 // Monday 08:59:59, before opening
    (1_796_634_000, "POST", Some("Monday 09:00")), // Monday 09:00:00
    (1_797_011_999, "POST", Some("Friday 17:59")), // Friday 17:59:59
    (1_797_012_000, "POST", None),                 // Friday 18:00:00, closed
    (1_797_076_800, "POST", None),                 // Saturday 12:00
    (1_797_076_800, "GET", Some("Saturday 12:00")), // reads at any time
    (1_797_130_800, "GET", Some("Sunday 03:00")),
    (1_798_200_000, "POST", None), // Friday 2026-12-25 12:00, a holiday (time.date)
];

/// `ask` at `now`: the token is valid then.
fn ask_at(gw: &Gateway, fake: &FakePlatform, now: u64, method: &str) -> (u16, Value) {
    let claims = json!({ "iat": now - 10, "exp": now + 600 });
    ask(gw, fake, method, "/orders/7", claims)
}

#[test]
fn time_of_day_decisions_read_the_request_time() {
    for (now, method, expected) in TIME_CASES {
        let source = include_str!("data/rego/time-of-day.rego");
        let fake = FakePlatform::new(now).answering(opa_at(source, now));
        let gw = gateway("timeofday/authz/decision");
        let (status, body) = ask_at(&gw, &fake, now, method);
        match expected {
            Some(time) => assert_eq!((status, &body["x-time"]), (200, &json!(time)), "{now}"),
            None => assert_eq!(status, 403, "{now} {method}: {body}"),
        }
    }
}

#[test]
fn role_by_path_and_method_from_verified_claims() {
    let fake = FakePlatform::new(NOW).answering(opa(include_str!("data/rego/claims.rego")));
    let gw = gateway("claims/authz/decision");
    for (roles, method, path, expected) in claim_cases() {
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

/// Embedded Rego (`policy` builds): the same policies compiled into the gateway.
#[cfg(feature = "policy")]
mod embedded {
    use super::*;
    use edgeward::error::AuthzFault;
    use edgeward::internal::rego;

    fn embedded(policy: &str, query: &str, timeout_ms: u32) -> Gateway {
        gateway_with(
            json!({ "kind": "rego", "policy": policy, "query": query, "timeout_ms": timeout_ms }),
        )
    }

    /// The input an embedded policy gets is built without JSON text in between: it equals the
    /// document a remote decision point is sent, parsed. A request with configured fields (one
    /// repeated), a query with repeated and percent-encoded names, a percent-encoded path, and
    /// claims of every JSON kind (negative, large and fractional numbers included); and an
    /// anonymous one (`token: null`).
    #[test]
    fn the_embedded_input_is_the_remote_input_parsed() {
        use edgeward::internal::authorize::input;
        use edgeward::internal::decision_point::{Endpoint, Facts, PointSettings};
        use edgeward::internal::token::{TokenKind, VerifiedToken};
        let settings = PointSettings {
            name: "p".into(),
            endpoint: Endpoint::Opa {
                url: format!("{PDP}/v1/data/p"),
            },
            timeout_ms: 500,
            cache_ttl: 0,
            negative_ttl: 0,
            cache_entries: 0,
            headers: vec!["x-tenant".into(), "accept".into(), "x-absent".into()],
            max_answer_bytes: 4096,
            bearer: None,
        };
        let url = url::Url::parse("https://api.test:8443/a%20b/c/?x=1&y=%C3%A9&x=2&z").unwrap();
        let mut headers = edgeward::Headers::new();
        headers.append("x-tenant", "acme");
        headers.append("accept", "text/plain");
        headers.append("accept", "application/json");
        headers.append("authorization", "Bearer secret");
        let facts = Facts {
            method: "PATCH",
            url: &url,
            headers: &headers,
            route: "/a b/*",
        };
        let claims = json!({
            "sub": "alice", "n": -7, "big": 18446744073709551615u64, "f": 1.5, "t": true,
            "nothing": null, "list": [1, "two", [3.25], {"k": false}], "obj": {"b": 1, "a": {}},
        });
        let token = VerifiedToken {
            issuer: "https://issuer.test".into(),
            claims: claims.as_object().unwrap().clone(),
            kind: TokenKind::Jwt,
            phantom_jwt: None,
            ath: None,
        };
        for token in [Some(&token), None] {
            let document = input(&settings, &facts, token);
            let text = serde_json::to_vec(&document).unwrap();
            let parsed: regorus::Value = serde_json::from_slice(&text).unwrap();
            assert_eq!(
                document.to_rego(),
                parsed,
                "{}",
                String::from_utf8_lossy(&text)
            );
        }
    }

    /// Differential: the embedded engine and the remote decision point give the same answer
    /// (status and body or forwarded fields) on every table case.
    #[test]
    fn embedded_and_remote_agree_on_every_table_case() {
        let policies = [
            (
                include_str!("data/rego/http-api.rego"),
                "httpapi/authz/allow",
            ),
            (
                include_str!("data/rego/claims.rego"),
                "claims/authz/decision",
            ),
        ];
        let mut cases: Vec<(Value, &str, &str)> = SALARY_CASES
            .iter()
            .map(|(who, method, path, _)| (json!({ "sub": who }), *method, *path))
            .collect();
        cases.extend(
            claim_cases()
                .into_iter()
                .map(|(roles, m, p, _)| (json!({ "roles": roles }), m, p)),
        );
        for (source, path) in policies {
            let fake = FakePlatform::new(NOW).answering(opa(source));
            let remote = gateway(path);
            let local = embedded(source, &format!("data.{}", path.replace('/', ".")), 500);
            let quiet = FakePlatform::new(NOW);
            for (claims, method, request_path) in &cases {
                let a = ask(&remote, &fake, method, request_path, claims.clone());
                let b = ask(&local, &quiet, method, request_path, claims.clone());
                assert_eq!(a, b, "{path}: {claims} {method} {request_path}");
            }
            assert_eq!(quiet.fetches.get(), 0, "the embedded engine makes no call");
        }
    }

    /// Which engine runs a policy: the interpreter first; from the second evaluation on,
    /// regorus's virtual machine for every policy its compiler takes, still the interpreter for
    /// one calling the time extensions.
    #[test]
    fn the_virtual_machine_runs_every_policy_but_those_calling_the_time_builtins() {
        let cases = [
            (
                include_str!("data/rego/http-api.rego"),
                "data.httpapi.authz.allow",
                true,
            ),
            (
                include_str!("data/rego/claims.rego"),
                "data.claims.authz.decision",
                true,
            ),
            (
                include_str!("../../bench/policy/rbac.rego"),
                "data.bench.rbac.allow",
                true,
            ),
            (
                include_str!("data/rego/time-of-day.rego"),
                "data.timeofday.authz.decision",
                false,
            ),
        ];
        for (source, query, on_vm) in cases {
            let policy = rego::compile(source, &[], query, LIMITS).expect(query);
            let input = json!({ "attributes": {}, "parsed_path": [], "token": null }).to_string();
            let mut tiers = vec![policy.runs_on_vm()];
            for _ in 0..2 {
                rego::evaluate_json(&policy, input.as_bytes(), NOW).expect(query);
                tiers.push(policy.runs_on_vm());
            }
            assert_eq!(tiers, [false, false, on_vm], "{query}");
        }
    }

    const LIMITS: rego::Limits = rego::Limits {
        time_ms: 50,
        output_bytes: 4096,
    };

    /// The evaluator is reused by every request of the isolate: a sequence of allowed, denied
    /// and runaway evaluations answers each input as a freshly compiled policy does (that is, as
    /// the interpreter on its first evaluation: for the first policy a differential test of the
    /// virtual machine), and a budget that ran out leaves nothing behind.
    #[test]
    fn a_reused_policy_answers_each_input_as_a_fresh_one() {
        let source = |extra: &str| {
            format!(
                "package seq\nimport rego.v1\ndefault allow := false\n\
                 allow if {{ input.user == \"alice\"{extra} }}\n\
                 allow if {{ input.big; count({{x | some a in numbers.range(1, 4000); some b in numbers.range(1, 4000); x := a * b}}) > 0 }}"
            )
        };
        let inputs = [
            json!({ "user": "alice" }),
            json!({ "user": "bob" }),
            json!({ "user": "bob", "big": true }),
            json!({ "user": "alice" }),
            json!({ "user": "bob" }),
        ];
        for (extra, on_vm) in [("", true), ("; time.now_ns() > 0", false)] {
            let source = source(extra);
            let reused = rego::compile(&source, &[], "data.seq.allow", LIMITS).expect("compile");
            let answers: Vec<_> = inputs
                .iter()
                .map(|input| rego::evaluate_json(&reused, input.to_string().as_bytes(), NOW))
                .collect();
            assert_eq!(reused.runs_on_vm(), on_vm);
            let fresh: Vec<_> = inputs
                .iter()
                .map(|input| {
                    let policy = rego::compile(&source, &[], "data.seq.allow", LIMITS).unwrap();
                    rego::evaluate_json(&policy, input.to_string().as_bytes(), NOW)
                })
                .collect();
            assert_eq!(format!("{answers:?}"), format!("{fresh:?}"), "vm: {on_vm}");
            let expected = "[Ok(Some(Bool(true))), Ok(Some(Bool(false))), Err(Limit), Ok(Some(Bool(true))), Ok(Some(Bool(false)))]";
            assert_eq!(format!("{answers:?}"), expected, "vm: {on_vm}");
        }
    }

    /// A builtin that fails on its arguments makes its expression undefined (OPA's default, not
    /// its `--strict-builtin-errors`), on the interpreter (first evaluation) and on the virtual
    /// machine (second) alike; so `default allow := false` answers. One known difference: an
    /// arithmetic operator on a non-number is an error on the interpreter (503) and undefined on
    /// the VM; pinned here so a regorus upgrade that changes it is noticed.
    #[test]
    fn a_failing_builtin_is_undefined_on_both_engines() {
        let input = json!({ "s": "abc", "n": 1, "z": 0 }).to_string();
        let cases = [
            ("to_number(input.s) > 0", Ok(false), Ok(false)),
            ("count(input.n) > 0", Ok(false), Ok(false)),
            ("input.n / input.z > 0", Ok(false), Ok(false)),
            ("upper(input.n) == \"X\"", Ok(false), Ok(false)),
            ("input.n < input.s", Ok(true), Ok(true)),
            ("input.s + 1 > 0", Err(AuthzFault::Invalid), Ok(false)),
        ];
        for (body, first, second) in cases {
            let source =
                format!("package e\nimport rego.v1\ndefault allow := false\nallow if {{ {body} }}");
            let policy = rego::compile(&source, &[], "data.e.allow", LIMITS).expect(body);
            let answers: Vec<Result<bool, AuthzFault>> = (0..2)
                .map(|_| {
                    let answer = rego::evaluate_json(&policy, input.as_bytes(), NOW)?;
                    Ok(answer == Some(Value::Bool(true)))
                })
                .collect();
            assert_eq!(answers, [first, second], "{body}");
            assert!(policy.runs_on_vm(), "{body}");
        }
    }

    /// The time-of-day table, embedded: the extensions answer from the request's time as
    /// regorus's own `time` builtins (chrono-tz) do behind the remote decision point.
    #[test]
    fn embedded_time_builtins_agree_with_regorus_time_on_the_time_of_day_table() {
        let source = include_str!("data/rego/time-of-day.rego");
        let local = embedded(source, "data.timeofday.authz.decision", 500);
        let remote = gateway("timeofday/authz/decision");
        for (now, method, expected) in TIME_CASES {
            let quiet = FakePlatform::new(now);
            let b = ask_at(&local, &quiet, now, method);
            let fake = FakePlatform::new(now).answering(opa_at(source, now));
            let a = ask_at(&remote, &fake, now, method);
            assert_eq!(a, b, "{now} {method}");
            assert_eq!(b.0, if expected.is_some() { 200 } else { 403 }, "{now}");
            assert_eq!(quiet.fetches.get(), 0);
        }
    }

    /// `time.*` with a time zone other than UTC, or an argument that is not nanoseconds: an
    /// evaluation error, 503, never a decision.
    #[test]
    fn a_time_zone_other_than_utc_is_an_evaluation_error() {
        let cases = [
            (r#"time.clock([time.now_ns(), "Europe/Paris"])"#, 503),
            (r#"time.weekday([time.now_ns(), "Local"])"#, 503),
            (r#"time.date("yesterday")"#, 503),
            (r#"time.clock([time.now_ns(), ""])"#, 200),
            (r#"time.date(time.now_ns())"#, 200),
        ];
        for (call, status) in cases {
            let policy = format!("package tz\nimport rego.v1\nallow if {{ x := {call}; x == x }}");
            let gw = embedded(&policy, "data.tz.allow", 500);
            let (got, body) = ask(&gw, &FakePlatform::new(NOW), "GET", "/x", json!({}));
            assert_eq!(got, status, "{call}: {body}");
            if status == 503 {
                assert_eq!(body["code"], "ERR_AUTHZ_ANSWER_INVALID", "{call}");
            }
        }
    }

    #[test]
    fn a_policy_that_does_not_compile_is_a_configuration_error_naming_the_field() {
        let gw = embedded("package x\nallow if {", "data.x.allow", 500);
        let (status, body) = ask(&gw, &FakePlatform::new(NOW), "GET", "/x", json!({}));
        assert_eq!(status, 500);
        assert_eq!(body["field"], "authorization.decision_points.rego.policy");
        // A query naming no rule of the policy: refused when it compiles, not a deny per request.
        let gw = embedded(
            "package x\nimport rego.v1\nallow := true",
            "data.x.nope",
            500,
        );
        let (status, body) = ask(&gw, &FakePlatform::new(NOW), "GET", "/x", json!({}));
        assert_eq!(
            (status, body["field"].as_str()),
            (500, Some("authorization.decision_points.rego.query")),
            "{body}"
        );
        let gw = embedded("package x\nimport rego.v1\nallow := true", "x.allow", 500);
        let (status, body) = ask(&gw, &FakePlatform::new(NOW), "GET", "/x", json!({}));
        assert_eq!(
            (status, body["field"].as_str()),
            (500, Some("authorization.decision_points.rego.query"))
        );
    }

    /// Evaluation limits, as a table: (policy's rule body, `timeout_ms`, `max_answer_bytes`,
    /// expected status and code). A result is measured as JSON; work is stopped by the budget.
    #[test]
    fn evaluation_limits() {
        let header = |n: u32| {
            format!(
                r#"decision := {{"allowed": true, "headers": {{"x-big": concat("", [s | some i in numbers.range(1, {n}); s := "x"])}}}}"#
            )
        };
        let runaway = "decision if count({x | some a in numbers.range(1, 4000); some b in numbers.range(1, 4000); x := a * b}) > 0";
        // (rule, timeout_ms, max_answer_bytes, (status, code))
        type Case = (String, u32, usize, (u16, Option<&'static str>));
        let cases: [Case; 6] = [
            (header(100), 500, 1024, (200, None)),
            // {"allowed":true,"headers":{"x-big":"x…"}}: 39 bytes around the value; 1024 in all.
            (header(985), 500, 1024, (200, None)),
            (header(986), 500, 1024, (503, Some("ERR_AUTHZ_ANSWER_TOO_LARGE"))),
            (header(100_000), 2000, 16 * 1024, (503, Some("ERR_AUTHZ_ANSWER_TOO_LARGE"))),
            (runaway.into(), 50, 16 * 1024, (503, Some("ERR_AUTHZ_EVALUATION_LIMIT"))),
            (
                "decision := [[a, b] | some a in numbers.range(1, 3000); some b in numbers.range(1, 3000)]".into(),
                50,
                16 * 1024,
                (503, Some("ERR_AUTHZ_EVALUATION_LIMIT")),
            ),
        ];
        for (rule, timeout_ms, max_answer_bytes, expected) in cases {
            let policy = format!("package limits\nimport rego.v1\n{rule}");
            let gw = gateway_with(json!({
                "kind": "rego", "policy": policy, "query": "data.limits.decision",
                "timeout_ms": timeout_ms, "max_answer_bytes": max_answer_bytes,
            }));
            let started = std::time::Instant::now();
            let (status, body) = ask(&gw, &FakePlatform::new(NOW), "GET", "/x", json!({}));
            let code = body.get("code").and_then(Value::as_str);
            let short = &rule[..rule.len().min(60)];
            assert_eq!((status, code), expected, "{short}…: {body}");
            assert!(
                started.elapsed() < std::time::Duration::from_secs(5),
                "{short}…"
            );
        }
    }

    /// `policy_var`: the policy's source from a platform variable, compiled when the gateway
    /// loads; a missing variable, one that does not compile, or both `policy` and `policy_var`
    /// are a 500 naming `…policy_var`.
    #[test]
    fn a_policy_from_a_platform_variable() {
        let point = |extra: Value| {
            let mut point = json!({ "kind": "rego", "policy_var": "EDGEWARD_POLICY",
                "query": "data.claims.authz.decision" });
            for (name, value) in extra.as_object().unwrap() {
                point[name] = value.clone();
            }
            config_with(point).to_string()
        };
        let load = |document: &str, source: Option<&'static str>| {
            let secrets = move |name: &str| {
                (name == "EDGEWARD_POLICY")
                    .then_some(source)
                    .flatten()
                    .map(String::from)
            };
            Gateway::with_trust_anchors(Some(document), &secrets, "test", &[])
        };
        let fake = FakePlatform::new(NOW);
        let gw = load(
            &point(json!({})),
            Some(include_str!("data/rego/claims.rego")),
        );
        let (status, body) = ask(
            &gw,
            &fake,
            "GET",
            "/orders/7",
            json!({ "roles": ["reader"] }),
        );
        assert_eq!(
            (status, &body["x-roles"]),
            (200, &json!("reader")),
            "{body}"
        );
        let (status, _) = ask(
            &gw,
            &fake,
            "DELETE",
            "/orders/7",
            json!({ "roles": ["reader"] }),
        );
        assert_eq!(status, 403);
        let field = "authorization.decision_points.rego.policy_var";
        let cases = [
            (point(json!({})), None),
            (point(json!({})), Some("package x\nallow if {")),
            (
                point(json!({ "policy": "package x" })),
                Some(include_str!("data/rego/claims.rego")),
            ),
            (point(json!({ "policy_var": "" })), None),
        ];
        for (document, source) in cases {
            let gw = load(&document, source);
            let (status, body) = ask(
                &gw,
                &fake,
                "GET",
                "/orders/7",
                json!({ "roles": ["reader"] }),
            );
            assert_eq!(
                (status, body["field"].as_str()),
                (500, Some(field)),
                "{source:?}: {body}"
            );
        }
        assert_eq!(fake.fetches.get(), 0);
    }

    /// Role grants from the build's `data.json` (a builtin policy's data).
    const GRANTS_POLICY: &str = "package builtin.rbac\nimport rego.v1\n\
        allow if { some role in input.token.claims.roles; \
        some grant in data.grants[role]; grant == input.attributes.request.http.method }";
    const GRANTS: &str = r#"{"grants": {"reader": ["GET"], "writer": ["GET", "POST"]}}"#;

    /// A gateway whose build has `policies` compiled in, with the decision point `point`.
    fn with_builtins(point: Value, policies: edgeward::BuiltinPolicies) -> Gateway {
        let config = config_with(point).to_string();
        Gateway::with_compiled_in(Some(&config), &|_| None, "test", &[], policies)
    }

    fn builtin(name: &str, query: &str) -> Value {
        json!({ "kind": "rego", "policy_builtin": name, "query": query })
    }

    /// `policy_builtin`: a policy compiled into the build (`EDGEWARD_POLICY_DIR/NAME.rego`, with
    /// the directory's `data.json`) decides like the same policy given in the document.
    #[test]
    fn a_builtin_policy_decides_with_the_builds_data() {
        let policies = edgeward::BuiltinPolicies {
            policies: &[
                ("claims", include_str!("data/rego/claims.rego")),
                ("rbac", GRANTS_POLICY),
            ],
            data: Some(GRANTS),
        };
        let fake = FakePlatform::new(NOW);
        let gw = with_builtins(builtin("claims", "data.claims.authz.decision"), policies);
        let local = embedded(
            include_str!("data/rego/claims.rego"),
            "data.claims.authz.decision",
            500,
        );
        for (roles, method, path, _) in claim_cases() {
            let claims = json!({ "roles": roles });
            let a = ask(&gw, &fake, method, path, claims.clone());
            let b = ask(&local, &fake, method, path, claims);
            assert_eq!(a, b, "{method} {path}");
        }
        let gw = with_builtins(builtin("rbac", "data.builtin.rbac.allow"), policies);
        let cases = [
            ("reader", "GET", 200),
            ("reader", "POST", 403),
            ("writer", "POST", 200),
            ("writer", "DELETE", 403),
            ("nobody", "GET", 403),
        ];
        for (role, method, status) in cases {
            let (got, body) = ask(&gw, &fake, method, "/x", json!({ "roles": [role] }));
            assert_eq!(got, status, "{role} {method}: {body}");
        }
        assert_eq!(fake.fetches.get(), 0);
    }

    /// A builtin policy that is not in the build, an empty name, two sources, or a build whose
    /// `data.json` is not a JSON object: every request 500 naming `…policy_builtin`.
    #[test]
    fn a_builtin_policy_missing_from_the_build_is_a_configuration_error() {
        let field = "authorization.decision_points.rego.policy_builtin";
        let rbac = edgeward::BuiltinPolicies {
            policies: &[("rbac", GRANTS_POLICY)],
            data: Some(GRANTS),
        };
        let bad_data = edgeward::BuiltinPolicies {
            data: Some("[1, 2]"),
            ..rbac
        };
        let query = "data.builtin.rbac.allow";
        let mut both = builtin("rbac", query);
        both["policy"] = json!(GRANTS_POLICY);
        let cases = [
            (
                builtin("nope", query),
                rbac,
                "no policy \"nope\" is compiled into this build",
            ),
            (
                builtin("", query),
                rbac,
                "names a platform variable or a builtin policy",
            ),
            (
                both,
                rbac,
                "exactly one of policy, policy_var and policy_builtin",
            ),
            (builtin("rbac", query), bad_data, "not a JSON object"),
            // This test build has no EDGEWARD_POLICY_DIR: nothing is compiled in.
            (
                builtin("rbac", query),
                edgeward::BuiltinPolicies::BUILD,
                "had: none",
            ),
        ];
        for (point, policies, message) in cases {
            let gw = with_builtins(point.clone(), policies);
            let (status, body) = ask(&gw, &FakePlatform::new(NOW), "GET", "/x", json!({}));
            assert_eq!(
                (status, body["field"].as_str()),
                (500, Some(field)),
                "{point}: {body}"
            );
            let description = body["problem"].as_str().unwrap_or_default();
            assert!(description.contains(message), "{point}: {body}");
        }
        // The build's own: the gateway's usual constructors read `BuiltinPolicies::BUILD`.
        let gw = gateway_with(builtin("rbac", query));
        let (status, body) = ask(&gw, &FakePlatform::new(NOW), "GET", "/x", json!({}));
        assert_eq!(
            (status, body["field"].as_str()),
            (500, Some(field)),
            "{body}"
        );
    }

    /// The build-time check (`edgeward policy check`): every builtin compiles with the data, or
    /// the error names the file.
    #[test]
    fn the_build_time_check_names_a_policy_that_does_not_compile() {
        let good = edgeward::BuiltinPolicies {
            policies: &[("rbac", GRANTS_POLICY)],
            data: Some(GRANTS),
        };
        assert_eq!(good.check(), Ok(()));
        let broken = edgeward::BuiltinPolicies {
            policies: &[("rbac", GRANTS_POLICY), ("broken", "package x\nallow if {")],
            data: None,
        };
        let error = broken.check().unwrap_err();
        assert!(error.starts_with("broken.rego does not compile"), "{error}");
        assert!(
            error.contains("--> broken.rego:2"),
            "the message names the file: {error}"
        );
        let bad_data = edgeward::BuiltinPolicies {
            data: Some("not json"),
            ..good
        };
        assert!(bad_data.check().unwrap_err().contains("data.json"));
    }

    /// The work counter Workers' budget reads (`rego::WorkClock`): non-decreasing, one
    /// `NANOS_PER_CHECK` per read, as regorus's `TimeSource` asks.
    #[test]
    fn the_work_clock_advances_one_check_per_read() {
        use edgeward::internal::rego::{WorkClock, NANOS_PER_CHECK};
        use regorus::utils::limits::TimeSource;
        let clock = WorkClock::default();
        let reads: Vec<u64> = (0..4)
            .map(|_| clock.now().map(|d| d.as_nanos() as u64).unwrap_or(u64::MAX))
            .collect();
        assert_eq!(reads, [0, 1, 2, 3].map(|n| n * NANOS_PER_CHECK));
    }

    /// A policy that builds a huge set is stopped by the evaluation budget: 503, not a hung
    /// isolate, and well before it would have finished.
    #[test]
    fn a_huge_evaluation_is_stopped_by_the_budget() {
        let policy = "package big\nimport rego.v1\n\
            allow if count({x | some a in numbers.range(1, 4000); some b in numbers.range(1, 4000); x := a * b}) > 0";
        let gw = embedded(policy, "data.big.allow", 50);
        let started = std::time::Instant::now();
        let (status, body) = ask(&gw, &FakePlatform::new(NOW), "GET", "/x", json!({}));
        let took = started.elapsed();
        assert_eq!(
            (status, body["code"].as_str()),
            (503, Some("ERR_AUTHZ_EVALUATION_LIMIT")),
            "{body}"
        );
        assert!(
            took < std::time::Duration::from_secs(5),
            "stopped after {took:?}"
        );
    }
}
