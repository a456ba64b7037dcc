//! DPoP proofs (RFC 9449 §4.3): `dpop::verify_proof` on its own, and the bind stage through
//! `Gateway::handle` with a DPoP-bound access token (`cnf.jkt`, nonce, replay, duplicate `DPoP`
//! fields). In "sign" mode the target signs the fuzzed header and claims bytes with the fixed
//! client key, so the fuzzer reaches the claim checks behind the signature.
//!
//! Input: one flag byte, then UTF-8 text. The first line is `METHOD URL NOW`; the rest is the proof
//! (raw mode) or the header JSON, a newline and the claims JSON (sign mode). Flags: 1 sign mode,
//! 2 an access token is presented (so `ath` is required), 4 through the gateway, 8 two `DPoP`
//! fields, 16 a nonce secret, 32 DPoP `required` (else `optional`), 64 a public base URL.
#![no_main]

use edgeward::crypto::RustCrypto;
use edgeward::internal::dpop::{self, NonceKey, ProofRequest, ProofRules, ReplayCache};
use edgeward::{Headers, Outcome, Request};
use edgeward_fuzz::{block_on, dpop_access_token, dpop_gateway, dpop_jkt, es256, Fake, DPOP_KEY};
use libfuzzer_sys::fuzz_target;

struct Input<'a> {
    flags: u8,
    method: &'a str,
    url: &'a str,
    now: u64,
    proof: String,
}

fn decode(data: &[u8]) -> Option<Input<'_>> {
    let (&flags, rest) = data.split_first()?;
    let text = std::str::from_utf8(rest).ok()?;
    let (request, body) = text.split_once('\n')?;
    let mut parts = request.splitn(3, ' ');
    let method = parts.next()?;
    let url = parts.next()?;
    let now = parts.next()?.parse().ok()?;
    let proof = if flags & 1 == 0 {
        body.to_owned()
    } else {
        let (header, claims) = body.split_once('\n')?;
        es256(&DPOP_KEY, header.as_bytes(), claims.as_bytes())
    };
    Some(Input {
        flags,
        method,
        url,
        now,
        proof,
    })
}

fuzz_target!(|data: &[u8]| {
    let Some(input) = decode(data) else {
        return;
    };
    standalone(&input);
    if input.flags & 4 != 0 {
        through_gateway(&input);
    }
});

/// `verify_proof` alone: whatever it accepts must match the request it was checked against.
fn standalone(input: &Input<'_>) {
    let Some(htu) = dpop::normalize_htu(input.url) else {
        return;
    };
    let ath = dpop::access_token_hash(dpop_access_token());
    let request = ProofRequest {
        method: input.method,
        htu: &htu,
        ath: (input.flags & 2 != 0).then_some(ath.as_str()),
    };
    let rules = ProofRules::default();
    let verified = block_on(dpop::verify_proof(
        &input.proof,
        &request,
        (&rules, &dpop::ProofHeaders::default()),
        input.now,
        &RustCrypto,
    ));
    let Ok(proof) = verified else {
        return;
    };
    assert_eq!(proof.jkt.len(), 43, "SHA-256 thumbprint, base64url");
    assert!(!proof.jti.is_empty());
    assert!(proof.iat.saturating_add(rules.iat_window) >= input.now);
    assert!(proof.iat <= input.now.saturating_add(rules.iat_leeway));
    if input.flags & 1 != 0 {
        // Signed here with DPOP_KEY: no other key can have verified it.
        assert_eq!(proof.jkt, dpop_jkt());
    }
    // A jti is remembered: the same proof is a replay the second time.
    let cache = ReplayCache::new(4);
    let expires = proof.iat.saturating_add(rules.iat_window);
    assert!(cache.first_use(proof.replay_key(), expires, input.now));
    assert!(!cache.first_use(proof.replay_key(), expires, input.now));
    if let Some(nonce) = &proof.nonce {
        let key = NonceKey::new(&[1; 32], 300).unwrap();
        let issued = key.issue(input.now);
        assert_eq!(
            key.accepts(nonce, input.now),
            *nonce == issued || {
                // A nonce of the previous bucket is accepted too.
                input.now >= 300 && *nonce == key.issue(input.now - 300)
            }
        );
    }
}

/// The bind stage: `Authorization: DPoP <bound token>` plus the proof on a DPoP route.
fn through_gateway(input: &Input<'_>) {
    let flags = input.flags;
    let gateway = dpop_gateway(flags & 32 != 0, flags & 16 != 0, flags & 64 != 0);
    let mut platform = Fake::offline();
    platform.now = input.now;
    let mut headers = Headers::new();
    headers.append("authorization", &format!("DPoP {}", dpop_access_token()));
    headers.append("dpop", &input.proof);
    if flags & 8 != 0 {
        headers.append("DPoP", &input.proof);
    }
    let request = Request {
        method: input.method.to_owned(),
        url: input.url.to_owned(),
        headers,
        client_cert: None,
    };
    let first = block_on(gateway.handle(&platform, &request));
    match first {
        Outcome::Forward(forward) => {
            assert!(
                flags & 8 == 0,
                "two DPoP fields must be refused (§4.3 check 1)"
            );
            assert!(forward.url.starts_with("http://origin.test/base"));
            for (name, _) in forward.headers.iter() {
                assert!(
                    !matches!(name, "authorization" | "dpop"),
                    "{name} forwarded"
                );
            }
            // The same proof again is a replay (§11.1).
            match block_on(gateway.handle(&platform, &request)) {
                Outcome::Respond(r) => assert_eq!(r.status, 401, "replay not refused"),
                other => panic!("replayed proof accepted: {other:?}"),
            }
        }
        Outcome::Respond(r) => assert!((400..600).contains(&r.status), "{}", r.status),
        Outcome::ReadBody { .. } => panic!("a DPoP request never asks for the body"),
    }
}
