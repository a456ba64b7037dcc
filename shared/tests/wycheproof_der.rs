//! Wycheproof ECDSA P-256/SHA-256 vectors with DER signatures: strict DER → P1363 conversion
//! (`edgeward::x5c::ecdsa_der_to_p1363`) followed by `verify_sync`.
//!
//! "valid" must verify, "invalid" must fail (at conversion or verification). "acceptable"
//! cases, and any case we deliberately diverge on, must be listed with a reason in
//! `tests/data/wycheproof/der-exceptions.json` (keyed by tcId); an unexpected verdict, an
//! unlisted acceptable case, or an exception that no longer diverges fails the test.

use edgeward::crypto::{verify_sync, PublicKey, Scheme};
use edgeward::x5c::ecdsa_der_to_p1363;
use serde_json::Value;
use std::collections::BTreeMap;

fn hex(s: &str) -> Vec<u8> {
    assert!(s.len() % 2 == 0, "odd hex");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

#[test]
fn wycheproof_ecdsa_p256_sha256_der() {
    let suite: Value = serde_json::from_str(include_str!(
        "data/wycheproof/ecdsa_secp256r1_sha256_test.json"
    ))
    .expect("wycheproof JSON");
    let exceptions: BTreeMap<String, String> =
        serde_json::from_str(include_str!("data/wycheproof/der-exceptions.json"))
            .expect("exceptions");
    let (mut total, mut valid, mut invalid, mut excepted) = (0, 0, 0, 0);
    let mut failures = Vec::new();
    let mut seen = Vec::new();
    for group in suite["testGroups"].as_array().expect("groups") {
        let point = hex(group["publicKey"]["uncompressed"].as_str().expect("key"));
        let key = PublicKey::P256(point);
        for case in group["tests"].as_array().expect("tests") {
            total += 1;
            let id = case["tcId"].as_u64().expect("tcId").to_string();
            seen.push(id.clone());
            let msg = hex(case["msg"].as_str().expect("msg"));
            let sig = hex(case["sig"].as_str().expect("sig"));
            let result = case["result"].as_str().expect("result");
            let got = ecdsa_der_to_p1363(&sig, 32).ok().is_some_and(|p1363| {
                verify_sync(Scheme::EcdsaP256Sha256, &key, &msg, &p1363).is_ok()
            });
            let agrees = match result {
                "valid" => got,
                "invalid" => !got,
                // No verdict is "right"; the case must be listed with what we do and why.
                _ => false,
            };
            match (agrees, exceptions.contains_key(&id)) {
                (true, false) => {
                    if got {
                        valid += 1
                    } else {
                        invalid += 1
                    }
                }
                (false, true) => excepted += 1,
                (false, false) => failures.push(format!(
                    "tcId {id} ({result}, {}): got {}",
                    case["comment"],
                    if got { "accept" } else { "reject" }
                )),
                (true, true) => failures.push(format!("tcId {id}: listed as exception but agrees")),
            }
        }
    }
    for id in exceptions.keys() {
        if !seen.contains(id) {
            failures.push(format!(
                "tcId {id}: exception for a case that does not exist"
            ));
        }
    }
    println!(
        "wycheproof DER: {total} cases, {valid} valid accepted, {invalid} invalid rejected, \
         {excepted} excepted, {} unexpected",
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "unexpected verdicts:\n{}",
        failures.join("\n")
    );
}
