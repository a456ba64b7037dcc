//! x509-limbo (P-256 subset) through `edgeward::x5c::validate` with the RustCrypto backend.
//!
//! Every case that does not depend on peer-name matching (`kit_name_dependent`) is run; the
//! verdict must equal `expected_result` unless the case is listed in
//! `tests/data/limbo/exceptions.json` with a reason. An unexpected verdict, or an exception
//! whose case no longer diverges (or no longer exists), fails the test.
//!
//! Mapping from a limbo case to a call:
//! - chain = `[peer_certificate] + untrusted_intermediates`, anchors = `trusted_certs`;
//! - now = `validation_time`, or [`common::DEFAULT_LIMBO_TIME`] when absent;
//! - `max_chain_depth` (intermediates allowed) becomes `max_path_len = depth + 2`;
//! - `extended_key_usage` = `[serverAuth]` becomes the leaf EKU pin 1.3.6.1.5.5.7.3.1 (the
//!   gateway's equivalent is an operator-configured pin); an empty list means no pin.
//!   `validation_kind` SERVER alone does not imply serverAuth: JWT signing certificates are not
//!   TLS server certificates.

mod common;

use edgeward::crypto::RustCrypto;
use edgeward::x5c::{validate, ChainPolicy};
use serde_json::Value;
use std::collections::BTreeMap;

const SERVER_AUTH: &str = "1.3.6.1.5.5.7.3.1";
const CLIENT_AUTH: &str = "1.3.6.1.5.5.7.3.2";

/// Runs one case through our validator: `true` for SUCCESS.
fn run_ours(case: &Value) -> bool {
    let (chain, anchors, now, depth, eku) = common_inputs(case);
    let anchor_refs: Vec<&[u8]> = anchors.iter().map(Vec::as_slice).collect();
    let mut policy = ChainPolicy::default();
    if let Some(depth) = depth {
        policy.max_path_len = depth + 2;
    }
    policy.leaf_eku = eku.map(str::to_owned);
    common::block_on(validate(&chain, &anchor_refs, now, &policy, &RustCrypto)).is_ok()
}

type Inputs = (
    Vec<Vec<u8>>,
    Vec<Vec<u8>>,
    u64,
    Option<usize>,
    Option<&'static str>,
);

fn common_inputs(case: &Value) -> Inputs {
    let pem = |v: &Value| common::pem_to_der(v.as_str().expect("PEM string"));
    let mut chain = vec![pem(&case["peer_certificate"])];
    chain.extend(
        case["untrusted_intermediates"]
            .as_array()
            .expect("array")
            .iter()
            .map(pem),
    );
    let anchors = case["trusted_certs"]
        .as_array()
        .expect("array")
        .iter()
        .map(pem)
        .collect();
    let now = case["validation_time"]
        .as_str()
        .map_or(common::DEFAULT_LIMBO_TIME, common::rfc3339_to_unix);
    let depth = case["max_chain_depth"].as_u64().map(|d| d as usize);
    let ekus: Vec<&str> = case["extended_key_usage"]
        .as_array()
        .expect("array")
        .iter()
        .map(|v| v.as_str().expect("string"))
        .collect();
    let eku = match ekus.as_slice() {
        [] => None,
        ["serverAuth"] => Some(SERVER_AUTH),
        ["clientAuth"] => Some(CLIENT_AUTH),
        other => panic!("unmapped EKU expectation {other:?}"),
    };
    (chain, anchors, now, depth, eku)
}

#[test]
fn limbo_p256() {
    let suite: Value =
        serde_json::from_str(include_str!("data/limbo/limbo-p256.json")).expect("limbo JSON");
    let exceptions: BTreeMap<String, String> =
        serde_json::from_str(include_str!("data/limbo/exceptions.json")).expect("exceptions");
    let cases = suite["testcases"].as_array().expect("testcases");
    let (mut passed, mut skipped, mut excepted) = (0, 0, 0);
    let mut failures = Vec::new();
    let mut seen = Vec::new();
    for case in cases {
        let id = case["id"].as_str().expect("id");
        seen.push(id);
        if case["kit_name_dependent"]
            .as_bool()
            .expect("kit_name_dependent")
        {
            skipped += 1;
            continue;
        }
        let expected = case["expected_result"].as_str().expect("expected_result") == "SUCCESS";
        let got = run_ours(case);
        match (got == expected, exceptions.contains_key(id)) {
            (true, false) => passed += 1,
            (false, true) => excepted += 1,
            (false, false) => failures.push(format!("{id}: expected {expected}, got {got}")),
            (true, true) => failures.push(format!("{id}: listed as exception but now agrees")),
        }
    }
    for id in exceptions.keys() {
        if !seen.contains(&id.as_str()) {
            failures.push(format!("{id}: exception for a case that does not exist"));
        }
    }
    println!(
        "limbo (edgeward): {} cases, {passed} passed, {skipped} skipped (name-dependent), \
         {excepted} excepted, {} unexpected",
        cases.len(),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "unexpected verdicts:\n{}",
        failures.join("\n")
    );
}
