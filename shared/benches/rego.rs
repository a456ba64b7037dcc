//! Native micro-benchmarks of the embedded decision (`cargo bench -p edgeward --features policy
//! --bench rego`): the benchmarks' RBAC policy (bench/policy/rbac.rego) on an input shaped as the
//! gateway builds it: a decision on the virtual machine (every evaluation of an isolate but its
//! first), the compile a fresh instance pays, and the parse of the input. Figures compare changes
//! on one machine; never asserted by tests.

use criterion::{criterion_group, criterion_main, Criterion};
use edgeward::internal::rego::{self, Limits};
use std::hint::black_box;

const POLICY: &str = include_str!("../../bench/policy/rbac.rego");

/// An input as the gateway serializes it for `GET /rbac/orders?x=1` with a verified JWT.
const INPUT: &str = r#"{"attributes":{"request":{"http":{"headers":{},"host":"api.example","method":"GET","path":"/rbac/orders?x=1","scheme":"https"}}},"parsed_path":["rbac","orders"],"parsed_query":{"x":["1"]},"token":{"binding":"none","claims":{"aud":"https://api.example","exp":1900000000,"iat":1800000000,"iss":"https://issuer.example","scope":"orders:read profile","sub":"alice"},"issuer":"https://issuer.example","kind":"jwt"}}"#;

fn embedded(c: &mut Criterion) {
    let limits = Limits {
        time_ms: 50,
        output_bytes: 4096,
    };
    let policy = rego::compile(POLICY, &[], "data.bench.rbac.allow", limits).expect("compile");
    let now = 1_850_000_000;
    for _ in 0..2 {
        let answer = rego::evaluate_json(&policy, INPUT.as_bytes(), now).expect("evaluate");
        assert_eq!(answer, Some(serde_json::Value::Bool(true)));
    }
    assert!(policy.runs_on_vm(), "measured on the virtual machine");
    c.bench_function("rego/evaluate rbac (input JSON to decision)", |b| {
        b.iter(|| rego::evaluate_json(&policy, black_box(INPUT.as_bytes()), now).expect("evaluate"))
    });
    // What a fresh instance pays before its one evaluation (a Spin component's per request).
    c.bench_function("rego/compile rbac (parse, analyse, prepare)", |b| {
        b.iter(|| rego::compile(black_box(POLICY), &[], "data.bench.rbac.allow", limits).unwrap())
    });
    c.bench_function("rego/parse input into regorus", |b| {
        b.iter(|| regorus::Value::from_json_str(black_box(INPUT)).expect("parse"))
    });
    c.bench_function(
        "rego/deserialize input into regorus (no key interning)",
        |b| {
            b.iter(|| {
                serde_json::from_slice::<regorus::Value>(black_box(INPUT.as_bytes()))
                    .expect("parse")
            })
        },
    );
}

criterion_group!(benches, embedded);
criterion_main!(benches);
