//! JWK and JWK Set parsing (RFC 7517 / 7518 / 8037), RFC 7638 thumbprints, key selection and the
//! x5c-versus-key consistency check.
#![no_main]

use edgeward::jwk::{Jwk, JwkSet};
use edgeward::internal::jwks::x5c_consistent;
use edgeward::jws::Alg;
use libfuzzer_sys::fuzz_target;

const ALGS: [Alg; 5] = [Alg::ES256, Alg::ES384, Alg::RS256, Alg::PS256, Alg::EdDSA];

fuzz_target!(|data: &[u8]| {
    if let Ok(jwk) = Jwk::parse(data) {
        let thumbprint = jwk.thumbprint_sha256();
        assert_eq!(thumbprint.len(), 43, "SHA-256 in unpadded base64url");
        for alg in ALGS {
            let _ = jwk.usable_for(alg);
        }
        let _ = x5c_consistent(&jwk);
    }
    if let Ok(set) = JwkSet::parse(data) {
        let kids: Vec<Option<String>> = set.keys.iter().map(|k| k.kid.clone()).collect();
        for alg in ALGS {
            for kid in kids.iter().map(Option::as_deref).chain([None, Some("")]) {
                for key in set.find(kid, alg) {
                    assert!(key.usable_for(alg));
                    assert!(!key.has_private_members());
                    let _ = key.thumbprint_sha256();
                }
            }
        }
    }
});
