//! Wycheproof ECDSA P-256 / SHA-256 vectors in IEEE P1363 form (`r || s`, the JWS ES256 encoding),
//! run through every verification path: the raw verifier, the group's JWK, and `Jws::verify`.
//!
//! Divergences from the file's verdicts live in `tests/data/wycheproof/exceptions.json` with a
//! reason. An unlisted divergence fails, and so does a listed one that no longer diverges. The
//! harness is generic over [`SignatureVerifier`] so every crypto backend can run the same suite.

use edgeward::crypto::{verify_sync, PublicKey, RustCrypto, Scheme, SignatureVerifier};
use edgeward::jwk::Jwk;
use edgeward::jws::{Header, Jws};
use futures_executor::block_on;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/wycheproof/");
const FILE: &str = "ecdsa_secp256r1_sha256_p1363_test.json";

fn hex(s: &str) -> Vec<u8> {
    assert!(s.len() % 2 == 0, "odd hex length: {s}");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

fn load(name: &str) -> Value {
    let text = std::fs::read_to_string(format!("{DATA}{name}")).expect("read vector file");
    serde_json::from_str(&text).expect("vector JSON")
}

/// Our listed verdicts for one vector file: tcId → (accept?, reason).
fn exceptions(file: &str) -> BTreeMap<u64, (bool, String)> {
    let doc = load("exceptions.json");
    let entries = doc["files"][file]
        .as_array()
        .unwrap_or_else(|| panic!("exceptions.json has no list for {file}"));
    let mut out = BTreeMap::new();
    for entry in entries {
        let id = entry["tcId"].as_u64().expect("tcId");
        let accept = match entry["verdict"].as_str() {
            Some("accept") => true,
            Some("reject") => false,
            other => panic!("tcId {id}: verdict must be accept or reject, got {other:?}"),
        };
        let reason = entry["reason"].as_str().unwrap_or_default().to_owned();
        assert!(
            !reason.trim().is_empty(),
            "tcId {id}: exception without a reason"
        );
        assert!(
            out.insert(id, (accept, reason)).is_none(),
            "tcId {id} listed twice"
        );
    }
    out
}

#[derive(Debug, Default)]
struct Summary {
    cases: usize,
    valid: usize,
    invalid: usize,
    acceptable: usize,
    jws_path: usize,
    jwk_path: usize,
    excepted: usize,
}

/// Runs the whole file against `verifier`; panics listing every unexpected verdict.
fn run_suite<V: SignatureVerifier>(backend: &str, verifier: &V) -> Summary {
    let doc = load(FILE);
    let listed = exceptions(FILE);
    let mut seen = BTreeSet::new();
    let mut failures = Vec::new();
    let mut summary = Summary::default();
    let es256 = std::sync::Arc::new(
        Header::from_raw(
            serde_json::from_str(r#"{"alg":"ES256"}"#).expect("header"),
            &[],
        )
        .expect("ES256 header"),
    );

    for group in doc["testGroups"].as_array().expect("testGroups") {
        let point = hex(group["publicKey"]["uncompressed"].as_str().expect("key"));
        let key = PublicKey::P256(point);
        // The same key via its JWK form must parse to exactly the same public key.
        if let Some(jwk) = group["publicKeyJwk"].as_object() {
            let parsed = Jwk::from_object(jwk).expect("group JWK parses");
            assert_eq!(parsed.public_key(), &key, "JWK and SEC1 forms differ");
            summary.jwk_path += 1;
        }
        for case in group["tests"].as_array().expect("tests") {
            let id = case["tcId"].as_u64().expect("tcId");
            let msg = hex(case["msg"].as_str().expect("msg"));
            let sig = hex(case["sig"].as_str().expect("sig"));
            let result = case["result"].as_str().expect("result");
            summary.cases += 1;
            let expected = match (result, listed.get(&id)) {
                (_, Some((accept, _))) => {
                    seen.insert(id);
                    summary.excepted += 1;
                    *accept
                }
                ("valid", None) => true,
                ("invalid", None) => false,
                (other, None) => {
                    failures.push(format!("tcId {id}: {other} case not in exceptions.json"));
                    continue;
                }
            };
            match result {
                "valid" => summary.valid += 1,
                "invalid" => summary.invalid += 1,
                _ => summary.acceptable += 1,
            }
            if let Some((accept, _)) = listed.get(&id) {
                let plain = match result {
                    "valid" => Some(true),
                    "invalid" => Some(false),
                    _ => None,
                };
                if plain == Some(*accept) {
                    failures.push(format!(
                        "tcId {id}: listed in exceptions.json but agrees with Wycheproof ({result})"
                    ));
                }
            }

            let direct =
                block_on(verifier.verify(Scheme::EcdsaP256Sha256, &key, &msg, &sig)).is_ok();
            if direct != expected {
                failures.push(format!(
                    "tcId {id} ({result}, {}): verifier said {}",
                    case["comment"],
                    if direct { "accept" } else { "reject" }
                ));
            }
            // The JWS path needs a textual signing input; most Wycheproof messages are ASCII.
            if let Ok(signing_input) = std::str::from_utf8(&msg) {
                let jws = Jws {
                    header: es256.clone(),
                    claims: Default::default(),
                    signing_input,
                    signature: sig.clone(),
                };
                let via_jws = block_on(jws.verify(&key, verifier)).is_ok();
                summary.jws_path += 1;
                if via_jws != expected {
                    failures.push(format!(
                        "tcId {id} ({result}): Jws::verify said {}",
                        if via_jws { "accept" } else { "reject" }
                    ));
                }
            }
        }
    }
    for id in listed.keys().filter(|id| !seen.contains(id)) {
        failures.push(format!(
            "exceptions.json names tcId {id}, which is not in {FILE}"
        ));
    }
    println!("wycheproof {FILE} [{backend}]: {summary:?}");
    assert!(
        failures.is_empty(),
        "{} unexpected verdicts:\n{}",
        failures.len(),
        failures.join("\n")
    );
    summary
}

#[test]
fn ecdsa_p256_sha256_p1363_rustcrypto() {
    let summary = run_suite("RustCrypto", &RustCrypto);
    let expected_total = load(FILE)["numberOfTests"].as_u64().expect("count") as usize;
    assert_eq!(summary.cases, expected_total, "every case must run");
    assert!(summary.valid > 0 && summary.invalid > 0);
}

/// The synchronous entry point gives the same verdicts as the async trait.
struct Sync;

impl SignatureVerifier for Sync {
    async fn verify(
        &self,
        scheme: Scheme,
        key: &PublicKey,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), edgeward::crypto::BadSignature> {
        verify_sync(scheme, key, message, signature)
    }
}

#[test]
fn ecdsa_p256_sha256_p1363_verify_sync() {
    run_suite("verify_sync", &Sync);
}

/// A backend that accepts everything: the harness must fail loudly on its unexpected passes.
struct AcceptAll;

impl SignatureVerifier for AcceptAll {
    async fn verify(
        &self,
        _: Scheme,
        _: &PublicKey,
        _: &[u8],
        _: &[u8],
    ) -> Result<(), edgeward::crypto::BadSignature> {
        Ok(())
    }
}

#[test]
#[should_panic(expected = "unexpected verdicts")]
fn harness_fails_on_unexpected_pass() {
    run_suite("accept-all", &AcceptAll);
}
