//! A report, not a test: the x509-limbo subset of `tests/x509_limbo.rs` through rustls-webpki
//! (ring backend), to compare with our validator (`docs/decisions.md`, "x5c path validation").
//! It prints how many cases webpki decides as expected and lists the divergences; it has no
//! verdict of its own, so it is not in the test suite, where a test that cannot fail would pass
//! whatever webpki does. Run it with
//!
//! ```text
//! cargo run -p edgeward --example webpki_limbo
//! ```
//!
//! Mapping: chain, anchors and time as in `x509_limbo.rs`; usage is `KeyUsage::server_auth()`
//! for every case (all non-name-dependent cases are SERVER); `max_chain_depth` cannot be
//! expressed through webpki's API and is ignored; CRLs are not passed (as for our validator).

// The limbo helpers of the tests (PEM, RFC 3339 times, the default validation time).
#[path = "../tests/common/mod.rs"]
mod common;

use rustls_pki_types::{CertificateDer, UnixTime};
use serde_json::Value;
use std::time::Duration;

fn run_webpki(case: &Value) -> bool {
    let pem = |v: &Value| common::pem_to_der(v.as_str().expect("PEM string"));
    let leaf = pem(&case["peer_certificate"]);
    let intermediates: Vec<CertificateDer<'static>> = case["untrusted_intermediates"]
        .as_array()
        .expect("array")
        .iter()
        .map(|v| CertificateDer::from(pem(v)))
        .collect();
    let anchor_ders: Vec<CertificateDer<'static>> = case["trusted_certs"]
        .as_array()
        .expect("array")
        .iter()
        .map(|v| CertificateDer::from(pem(v)))
        .collect();
    let anchors: Vec<_> = anchor_ders
        .iter()
        .filter_map(|der| webpki::anchor_from_trusted_cert(der).ok())
        .collect();
    let now = case["validation_time"]
        .as_str()
        .map_or(common::DEFAULT_LIMBO_TIME, common::rfc3339_to_unix);
    let leaf = CertificateDer::from(leaf);
    let Ok(ee) = webpki::EndEntityCert::try_from(&leaf) else {
        return false;
    };
    ee.verify_for_usage(
        webpki::ALL_VERIFICATION_ALGS,
        &anchors,
        &intermediates,
        UnixTime::since_unix_epoch(Duration::from_secs(now)),
        webpki::KeyUsage::server_auth(),
        None,
        None,
    )
    .is_ok()
}

fn main() {
    let suite: Value = serde_json::from_str(include_str!("../tests/data/limbo/limbo-p256.json"))
        .expect("limbo JSON");
    let (mut agree, mut skipped) = (0, 0);
    let mut disagree = Vec::new();
    for case in suite["testcases"].as_array().expect("testcases") {
        if case["kit_name_dependent"]
            .as_bool()
            .expect("kit_name_dependent")
        {
            skipped += 1;
            continue;
        }
        let id = case["id"].as_str().expect("id");
        let expected = case["expected_result"].as_str().expect("expected_result") == "SUCCESS";
        let got = run_webpki(case);
        if got == expected {
            agree += 1;
        } else {
            disagree.push(format!("{id}: expected {expected}, got {got}"));
        }
    }
    println!(
        "limbo (rustls-webpki 0.103/ring): {agree} as expected, {skipped} skipped \
         (name-dependent), {} diverging:\n  {}",
        disagree.len(),
        disagree.join("\n  ")
    );
}
