//! Compact JWS / JWT: `jws::parse` (and `parse_with_critical`), `Jws::verify` with the interop key
//! of the header's algorithm, and `claims::check` under ordinary and extreme rules (leeway and
//! max_age at u64::MAX, now at 0 and u64::MAX) so arithmetic on input-driven times is exercised.
#![no_main]

use edgeward::claims::{self, ClaimRules};
use edgeward::crypto::RustCrypto;
use edgeward::jwk::Jwk;
use edgeward::jws;
use edgeward_fuzz::{block_on, vectors, INTEROP_AUD, INTEROP_ISS, NOW};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    let _ = jws::parse_with_critical(token, 16 * 1024, &["ext"]);
    let Ok(parsed) = jws::parse(token, 16 * 1024) else {
        return;
    };
    if let Some(vector) = vectors().iter().find(|v| v.alg == parsed.header.alg.name()) {
        let jwk = Jwk::from_object(vector.jwk.as_object().unwrap()).unwrap();
        let _ = block_on(parsed.verify(jwk.public_key(), &RustCrypto));
    }
    // A key of another family must never verify.
    let other = vectors()
        .iter()
        .find(|v| v.alg != parsed.header.alg.name())
        .unwrap();
    let other = Jwk::from_object(other.jwk.as_object().unwrap()).unwrap();
    if !parsed.header.alg.fits(other.public_key()) {
        assert!(block_on(parsed.verify(other.public_key(), &RustCrypto)).is_err());
    }

    let mut rules = ClaimRules::new(INTEROP_ISS, vec![INTEROP_AUD.to_owned()]);
    rules.require_typ = Some("at+jwt".into());
    rules.required_claims = vec!["sub".into()];
    for now in [0, NOW, u64::MAX] {
        let _ = claims::check(&parsed.header, &parsed.claims, &rules, now);
    }
    rules.leeway = u64::MAX;
    rules.max_age = Some(u64::MAX);
    for now in [0, NOW, u64::MAX] {
        let _ = claims::check(&parsed.header, &parsed.claims, &rules, now);
    }
    rules.leeway = 0;
    rules.max_age = Some(0);
    let _ = claims::check(&parsed.header, &parsed.claims, &rules, NOW);
});
