//! RFC 9421 HTTP Message Signatures, the parts that read input. The gateway only signs, but its
//! `message_signature` module also parses `Signature-Input` and `Signature` (RFC 8941 Dictionaries)
//! and builds signature bases for the origin-side verifier (`edgeward-verifier`), which faces
//! whatever reaches the origin. Driven: `parse_signature_input`, `parse_signature`, `find`,
//! `signature_base`, HMAC sign/verify, and `Verifier::verify_at` with the gateway key and HMAC
//! secret of `verifier/js/test/fixture.json` (requests the gateway really forwarded).
//!
//! Properties: what parses re-serialises to something that parses to the same value; a base has
//! one line per component plus `@signature-params` and no CR; an HMAC signature made over a base
//! verifies and fails under another key; a request the verifier accepts covers `@method` and
//! `@target-uri` and is a replay the second time.
//!
//! Input: one flag byte, then UTF-8 lines: `METHOD TARGET-URI`, then `name: value` header lines.
//! Flag 1: re-sign with the fixture's HMAC secret (label `edgeward`), so the fuzzer reaches the
//! checks behind the signature. Flag 2: the verifier also accepts HMAC-only requests.
#![no_main]

use base64ct::{Base64, Encoding};
use edgeward::message_signature::{
    self, parse_signature, parse_signature_input, signature_base, signature_input_member,
    signature_member, Message, SigningKey, VerifyingKey,
};
use edgeward::Headers;
use edgeward_verifier::Verifier;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use std::sync::OnceLock;

struct Fixture {
    now: u64,
    jwks: String,
    hmac_keyid: String,
    hmac: Vec<u8>,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let doc: Value =
            serde_json::from_str(include_str!("../../verifier/js/test/fixture.json")).unwrap();
        Fixture {
            now: doc["now"].as_u64().unwrap(),
            jwks: doc["ecdsa"]["jwks"].to_string(),
            hmac_keyid: doc["hmac_keyid"].as_str().unwrap().to_owned(),
            hmac: Base64::decode_vec(doc["hmac_secret"].as_str().unwrap()).unwrap(),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let mut lines = text.split('\n');
    let Some((method, target_uri)) = lines.next().and_then(|l| l.split_once(' ')) else {
        return;
    };
    let mut headers: Headers = lines.filter_map(|l| l.split_once(": ")).collect();
    let message = Message {
        method,
        target_uri,
        headers: &headers,
        status: None,
    };
    for value in headers.get_all("signature-input") {
        check_input(&message, value);
    }
    for value in headers.get_all("signature") {
        if let Ok(parsed) = parse_signature(value) {
            for (label, bytes) in parsed {
                let again = parse_signature(&signature_member(&label, &bytes));
                assert_eq!(again, Ok(vec![(label, bytes)]));
            }
        }
    }
    if flags & 1 != 0 {
        resign(method, target_uri, &mut headers);
    }
    verify_twice(flags, method, target_uri, &headers);
});

/// Round trip and base construction for every signature a `Signature-Input` value declares.
fn check_input(message: &Message<'_>, value: &str) {
    let Ok(parsed) = parse_signature_input(value) else {
        return;
    };
    for (label, params) in parsed {
        let member = signature_input_member(&label, &params);
        let again = parse_signature_input(&member);
        assert_eq!(again, Ok(vec![(label, params.clone())]), "{member}");
        let Ok(base) = signature_base(message, &params) else {
            continue;
        };
        assert!(!base.contains('\r'));
        assert_eq!(base.split('\n').count(), params.components.len() + 1);
        let secret = &fixture().hmac;
        let signature = message_signature::sign(&SigningKey::Hmac(secret), &base);
        let key = VerifyingKey::Hmac(secret.clone());
        assert!(message_signature::verify(&key, &base, &signature).is_ok());
        let other = VerifyingKey::Hmac(vec![0; 32]);
        assert!(message_signature::verify(&other, &base, &signature).is_err());
    }
}

/// Replaces the `edgeward` signature with a valid HMAC one over the declared components.
fn resign(method: &str, target_uri: &str, headers: &mut Headers) {
    let Ok((params, _)) = message_signature::find(headers, "edgeward") else {
        return;
    };
    let message = Message {
        method,
        target_uri,
        headers,
        status: None,
    };
    let Ok(base) = signature_base(&message, &params) else {
        return;
    };
    let signature = message_signature::sign(&SigningKey::Hmac(&fixture().hmac), &base);
    headers.remove("signature");
    headers.append("signature", &signature_member("edgeward", &signature));
}

/// The origin-side verifier: an accepted request covers the essentials and cannot be replayed.
fn verify_twice(flags: u8, method: &str, target_uri: &str, headers: &Headers) {
    let f = fixture();
    let Ok(verifier) = Verifier::new(&f.jwks, Some((&f.hmac_keyid, &f.hmac)), 5, 60) else {
        return;
    };
    let verifier = verifier
        .gateway_id("https://gw.test")
        .claim_headers(&["x-edgeward-sub", "x-tenant"])
        .require(true, flags & 2 == 0);
    let Ok(claims) = verifier.verify_at(f.now, method, target_uri, headers) else {
        return;
    };
    assert!(claims.covered.iter().any(|c| c == "@method"));
    assert!(claims.covered.iter().any(|c| c == "@target-uri"));
    assert!(
        verifier
            .verify_at(f.now, method, target_uri, headers)
            .is_err(),
        "a verified request must not verify twice (nonce replay)"
    );
}
