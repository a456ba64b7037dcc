//! x5c chain validation (RFC 5280 path building, `x5c::validate`) on fuzzed DER chains with the
//! test root as the only anchor, plus the SPKI and ECDSA-signature decoders it uses.
//!
//! Input layout (seeds: `fuzz/gen-seeds.py`): 8 bytes big-endian `now`, 1 byte of policy flags
//! (bit 0: subject pin, bit 1: EKU pin, bit 2: tight budgets), then certificates, each a 2-byte
//! big-endian length and that many DER bytes. A truncated last certificate is kept as is.
#![no_main]

use edgeward::crypto::RustCrypto;
use edgeward::x5c::{self, ChainCache, ChainPolicy};
use edgeward_fuzz::{anchors, block_on};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((now, rest)) = data.split_first_chunk::<8>() else {
        return;
    };
    let now = u64::from_be_bytes(*now);
    let Some((&flags, mut rest)) = rest.split_first() else {
        return;
    };
    let mut chain = Vec::new();
    while let Some((len, tail)) = rest.split_first_chunk::<2>() {
        let len = usize::from(u16::from_be_bytes(*len)).min(tail.len());
        let (der, tail) = tail.split_at(len);
        chain.push(der.to_vec());
        rest = tail;
    }
    let mut policy = ChainPolicy::default();
    if flags & 1 != 0 {
        policy.leaf_subject = Some("O=Edgeward Test,CN=signer".into());
    }
    if flags & 2 != 0 {
        policy.leaf_eku = Some("1.3.6.1.5.5.7.3.3".into());
    }
    if flags & 4 != 0 {
        policy.max_path_len = 2;
        policy.max_signature_checks = 2;
    }
    let result = block_on(x5c::validate(&chain, anchors(), now, &policy, &RustCrypto));
    if let Ok(leaf) = &result {
        assert!(
            leaf.not_before <= now && now <= leaf.not_after,
            "validated outside validity"
        );
    }
    // The cached variant must agree with the uncached one.
    let cache = ChainCache::new(4);
    let key = ChainCache::key(&chain, anchors(), &policy);
    let cached = block_on(x5c::validate_cached(
        (&cache, key),
        &chain,
        anchors(),
        now,
        &policy,
        &RustCrypto,
    ));
    assert_eq!(result.is_ok(), cached.is_ok());

    for der in &chain {
        let _ = x5c::public_key_from_spki(der);
        for width in [32, 48] {
            if let Ok(p1363) = x5c::ecdsa_der_to_p1363(der, width) {
                assert_eq!(p1363.len(), 2 * width);
            }
        }
    }
});
