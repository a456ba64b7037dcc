use super::cache::*;
use super::cert::*;
use super::names::*;
use super::path::*;
use super::signed::*;
use super::*;
use crate::crypto::{list_digest, verify_sync, BadSignature, RustCrypto};
use std::cell::Cell;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
    }
}

macro_rules! fixture {
    ($name:literal) => {
        der::pem::decode_vec(
            include_str!(concat!("../../tests/data/x5c/", $name, ".pem")).as_bytes(),
        )
        .unwrap()
        .1
    };
}

/// Counts signature checks, delegating to RustCrypto.
#[derive(Default)]
struct Counting(Cell<usize>);

impl SignatureVerifier for Counting {
    async fn verify(
        &self,
        scheme: Scheme,
        key: &PublicKey,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), BadSignature> {
        self.0.set(self.0.get() + 1);
        verify_sync(scheme, key, message, signature)
    }
}

/// A time inside every fixture's validity: an hour after the leaf was issued.
fn now() -> u64 {
    parse(&fixture!("leaf")).unwrap().not_before + 3600
}

fn run(
    chain: &[Vec<u8>],
    anchor: &[u8],
    now: u64,
    policy: &ChainPolicy,
) -> Result<ValidatedLeaf, ChainError> {
    block_on(validate(chain, &[anchor], now, policy, &RustCrypto))
}

fn good_chain() -> Vec<Vec<u8>> {
    vec![fixture!("leaf"), fixture!("int")]
}

#[test]
fn good_chain_validates_and_returns_leaf_key() {
    let root = fixture!("root");
    let leaf = run(&good_chain(), &root, now(), &ChainPolicy::default()).unwrap();
    let leaf_der = fixture!("leaf");
    let parsed = parse(&leaf_der).unwrap();
    assert_eq!(leaf.key, parsed.key.unwrap());
    assert!(leaf.not_after <= parsed.not_after);
    // Order of intermediates does not matter, and an extra copy of the anchor is ignored.
    let chain = vec![fixture!("leaf"), root.clone(), fixture!("int")];
    assert!(run(&chain, &root, now(), &ChainPolicy::default()).is_ok());
}

#[test]
fn expired_and_not_yet_valid() {
    let root = fixture!("root");
    let leaf_der = fixture!("leaf");
    let leaf = parse(&leaf_der).unwrap();
    let policy = ChainPolicy::default();
    assert_eq!(
        run(&good_chain(), &root, leaf.not_after + 1, &policy),
        Err(ChainError::Expired)
    );
    assert_eq!(
        run(&good_chain(), &root, leaf.not_before - 1, &policy),
        Err(ChainError::Expired)
    );
    assert!(run(&good_chain(), &root, leaf.not_after, &policy).is_ok());
}

#[test]
fn wrong_anchor_same_name() {
    let other = fixture!("other-root");
    assert!(run(&good_chain(), &other, now(), &ChainPolicy::default()).is_err());
    // No anchors at all: fail closed.
    let none: &[&[u8]] = &[];
    let result = block_on(validate(
        &good_chain(),
        none,
        now(),
        &ChainPolicy::default(),
        &RustCrypto,
    ));
    assert_eq!(result, Err(ChainError::NoPath));
}

#[test]
fn issuer_without_ca_bit() {
    let chain = vec![fixture!("leaf-under-not-ca"), fixture!("int-not-ca")];
    assert_eq!(
        run(&chain, &fixture!("root"), now(), &ChainPolicy::default()),
        Err(ChainError::Constraint)
    );
}

#[test]
fn path_len_exceeded() {
    let chain = vec![
        fixture!("leaf-pathlen"),
        fixture!("int-below-pathlen0"),
        fixture!("int-pathlen0"),
    ];
    assert_eq!(
        run(&chain, &fixture!("root"), now(), &ChainPolicy::default()),
        Err(ChainError::Constraint)
    );
}

#[test]
fn leaf_key_usage_without_digital_signature() {
    let chain = vec![fixture!("leaf-ku-agreement"), fixture!("int")];
    assert_eq!(
        run(&chain, &fixture!("root"), now(), &ChainPolicy::default()),
        Err(ChainError::Constraint)
    );
}

#[test]
fn unknown_critical_extension() {
    let chain = vec![fixture!("leaf-unknown-crit"), fixture!("int")];
    assert_eq!(
        run(&chain, &fixture!("root"), now(), &ChainPolicy::default()),
        Err(ChainError::Unsupported)
    );
}

#[test]
fn chain_too_long_for_budget() {
    let chain = vec![
        fixture!("leaf-long"),
        fixture!("int-c"),
        fixture!("int-b"),
        fixture!("int-a"),
    ];
    let root = fixture!("root");
    assert_eq!(
        run(&chain, &root, now(), &ChainPolicy::default()),
        Err(ChainError::OverBudget)
    );
    let roomy = ChainPolicy {
        max_path_len: 5,
        ..ChainPolicy::default()
    };
    assert!(run(&chain, &root, now(), &roomy).is_ok());
    let few_certs = ChainPolicy {
        max_chain_certs: 3,
        ..roomy.clone()
    };
    assert_eq!(
        run(&chain, &root, now(), &few_certs),
        Err(ChainError::OverBudget)
    );
    let few_checks = ChainPolicy {
        max_signature_checks: 3,
        ..roomy
    };
    assert_eq!(
        run(&chain, &root, now(), &few_checks),
        Err(ChainError::OverBudget)
    );
}

#[test]
fn tampered_signature() {
    let mut leaf = fixture!("leaf");
    // The last byte is inside the ECDSA `s` integer.
    if let Some(byte) = leaf.last_mut() {
        *byte ^= 0x01;
    }
    let chain = vec![leaf, fixture!("int")];
    assert_eq!(
        run(&chain, &fixture!("root"), now(), &ChainPolicy::default()),
        Err(ChainError::BadSignature)
    );
}

#[test]
fn eku_and_subject_pins() {
    let root = fixture!("root");
    let pinned = |subject: Option<&str>, eku: Option<&str>| ChainPolicy {
        leaf_subject: subject.map(str::to_owned),
        leaf_eku: eku.map(str::to_owned),
        ..ChainPolicy::default()
    };
    let ok = pinned(Some("CN=signer,O=Edgeward Test"), Some("1.3.6.1.5.5.7.3.2"));
    assert!(run(&good_chain(), &root, now(), &ok).is_ok());
    let wrong_eku = pinned(None, Some("1.3.6.1.5.5.7.3.1"));
    assert_eq!(
        run(&good_chain(), &root, now(), &wrong_eku),
        Err(ChainError::PinMismatch)
    );
    let wrong_subject = pinned(Some("CN=signer"), None);
    assert_eq!(
        run(&good_chain(), &root, now(), &wrong_subject),
        Err(ChainError::PinMismatch)
    );
    let garbage = pinned(None, Some("not an oid"));
    assert_eq!(
        run(&good_chain(), &root, now(), &garbage),
        Err(ChainError::PinMismatch)
    );
}

#[test]
fn cache_hit_costs_no_signature_checks() {
    let root = fixture!("root");
    let anchors: &[&[u8]] = &[&root];
    let cache = ChainCache::default();
    let verifier = Counting::default();
    let policy = ChainPolicy::default();
    let first = block_on(validate_cached(
        (&cache, ChainCache::key(&good_chain(), anchors, &policy)),
        &good_chain(),
        anchors,
        now(),
        &policy,
        &verifier,
    ))
    .unwrap();
    assert_eq!(verifier.0.get(), 2);
    let second = block_on(validate_cached(
        (&cache, ChainCache::key(&good_chain(), anchors, &policy)),
        &good_chain(),
        anchors,
        now(),
        &policy,
        &verifier,
    ))
    .unwrap();
    assert_eq!(verifier.0.get(), 2, "warm request must not verify");
    assert_eq!(first, second);
    // A different policy is a different key.
    let pinned = ChainPolicy {
        leaf_eku: Some("1.3.6.1.5.5.7.3.1".into()),
        ..ChainPolicy::default()
    };
    assert!(block_on(validate_cached(
        (&cache, ChainCache::key(&good_chain(), anchors, &pinned)),
        &good_chain(),
        anchors,
        now(),
        &pinned,
        &verifier
    ))
    .is_err());
}

#[test]
fn cache_miss_after_not_after() {
    let cache = ChainCache::new(4);
    let key = [1u8; 32];
    let leaf = ValidatedLeaf {
        key: PublicKey::Ed25519([0; 32]),
        not_after: 100,
        not_before: 10,
    };
    cache.insert(key, leaf.clone());
    assert_eq!(cache.get(&key, 100), Some(leaf));
    assert_eq!(cache.get(&key, 101), None);
    assert_eq!(cache.get(&key, 9), None);
    assert_eq!(cache.get(&[2u8; 32], 50), None);
}

#[test]
fn cache_evicts_oldest_at_capacity() {
    let cache = ChainCache::new(2);
    let leaf = ValidatedLeaf {
        key: PublicKey::Ed25519([0; 32]),
        not_after: 100,
        not_before: 0,
    };
    for k in 1..=3u8 {
        cache.insert([k; 32], leaf.clone());
    }
    assert_eq!(cache.len(), 2);
    assert_eq!(cache.get(&[1; 32], 50), None);
    assert!(cache.get(&[2; 32], 50).is_some());
    assert!(cache.get(&[3; 32], 50).is_some());
    // Re-inserting an existing key does not grow the cache or change its age.
    cache.insert([2; 32], leaf.clone());
    cache.insert([4; 32], leaf);
    assert_eq!(cache.get(&[2; 32], 50), None);
    assert!(cache.get(&[4; 32], 50).is_some());
}

#[test]
fn ecdsa_der_conversion_is_strict() {
    // r = 1, s = 2
    assert_eq!(
        ecdsa_der_to_p1363(&[0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x02], 2).unwrap(),
        vec![0, 1, 0, 2]
    );
    // Trailing byte, non-minimal integer, negative integer, too wide.
    for bad in [
        &[0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x02, 0x00][..],
        &[0x30, 0x07, 0x02, 0x02, 0x00, 0x01, 0x02, 0x01, 0x02],
        &[0x30, 0x06, 0x02, 0x01, 0x81, 0x02, 0x01, 0x02],
        &[0x30, 0x08, 0x02, 0x03, 0x01, 0x01, 0x01, 0x02, 0x01, 0x02],
    ] {
        assert_eq!(
            ecdsa_der_to_p1363(bad, 2),
            Err(ChainError::Malformed),
            "{bad:02x?}"
        );
    }
}

#[test]
fn spki_extraction() {
    let cert = Certificate::from_der(&fixture!("root")).unwrap();
    let spki = cert
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .unwrap();
    assert!(matches!(public_key_from_spki(&spki), Ok(PublicKey::P256(p)) if p.len() == 65));
    assert_eq!(public_key_from_spki(&spki[1..]), Err(ChainError::Malformed));
}

/// The pin's table gives every attribute type the name x509-cert's `Display` gives it.
#[test]
fn subject_attribute_names_are_x509_certs() {
    for (oid, name) in SUBJECT_ATTRIBUTE_NAMES {
        let shortest = const_oid::db::DB
            .find_names_for_oid(*oid)
            .fold(None::<&str>, |best, n| match best {
                Some(b) if n.len() >= b.len() => Some(b),
                _ => Some(n),
            })
            .unwrap();
        assert_eq!(shortest.to_ascii_uppercase(), *name, "{oid}");
    }
}

/// The pin renders subjects exactly as x509-cert's `Display` did for the attribute types of
/// its table and for types const-oid has no name for; other named types are written as a
/// dotted OID with the DER value (RFC 4514 §2.4).
#[test]
fn subject_string_matches_x509_cert_display() {
    use der::asn1::{Any, SetOfVec};
    use proptest::prelude::*;
    use x509_cert::attr::AttributeTypeAndValue;
    use x509_cert::name::{Name, RelativeDistinguishedName};

    let oids: Vec<ObjectIdentifier> = SUBJECT_ATTRIBUTE_NAMES
        .iter()
        .map(|(oid, _)| *oid)
        .chain(
            [
                "2.5.4.13",
                "2.5.4.41",
                "1.2.3.4",
                "1.3.6.1.4.1.311.60.2.1.3",
            ]
            .map(ObjectIdentifier::new_unwrap),
        )
        .collect();
    let tags = [
        Tag::PrintableString,
        Tag::Utf8String,
        Tag::Ia5String,
        Tag::TeletexString,
        Tag::OctetString,
        Tag::BmpString,
    ];
    let value = proptest::collection::vec(
        prop::sample::select(vec![
            'a', 'Z', '0', ' ', '#', '"', '+', ',', ';', '<', '>', '\\', '=', '\x00', '\x1f',
            '\x7f', 'é', '€', '.',
        ]),
        0..6,
    )
    .prop_map(|chars| chars.into_iter().collect::<String>());
    let atv = (0..oids.len(), 0..tags.len(), value);
    let rdn = proptest::collection::vec(atv, 0..3);
    let name = proptest::collection::vec(rdn, 0..4);
    proptest!(ProptestConfig::with_cases(2000), |(spec in name)| {
        let mut rdns = Vec::new();
        for atvs in &spec {
            let mut set = Vec::new();
            for (o, t, v) in atvs {
                let value = Any::new(tags[*t], v.as_bytes()).unwrap();
                set.push(AttributeTypeAndValue { oid: oids[*o], value });
            }
            let Ok(set) = SetOfVec::try_from(set) else { return Ok(()) };
            rdns.push(RelativeDistinguishedName(set));
        }
        let name = Name::from(rdns);
        let ours = subject_string(&name).unwrap();
        let mut named_elsewhere = false;
        for atv in name.0.iter().flat_map(|rdn| rdn.0.iter()) {
            if const_oid::db::DB.by_oid(&atv.oid).is_some()
                && !SUBJECT_ATTRIBUTE_NAMES.iter().any(|(oid, _)| *oid == atv.oid)
            {
                named_elsewhere = true;
                let dotted = format!("{}=#", atv.oid);
                prop_assert!(ours.contains(&dotted), "{}", ours);
            }
        }
        if !named_elsewhere {
            prop_assert_eq!(ours, name.to_string());
        }
    });
}

#[test]
fn subject_string_examples() {
    let leaf = Certificate::from_der(&fixture!("leaf")).unwrap();
    assert_eq!(
        subject_string(&leaf.tbs_certificate.subject).unwrap(),
        leaf.tbs_certificate.subject.to_string()
    );
}

#[test]
fn the_key_from_digests_is_the_key_of_the_lists_and_covers_each_part() {
    let root = fixture!("root");
    let anchors: &[&[u8]] = &[&root];
    let chain = good_chain();
    let policy = ChainPolicy::default();
    let of = |chain: &[Vec<u8>], anchors: &[&[u8]], policy: &ChainPolicy| {
        ChainCache::key_of_digests(
            &list_digest(crate::jws::X5C_DIGEST_LABEL, chain),
            &list_digest(ANCHORS_DIGEST_LABEL, anchors),
            policy,
        )
    };
    let key = ChainCache::key(&chain, anchors, &policy);
    assert_eq!(of(&chain, anchors, &policy), key);
    // Another chain (one certificate fewer, or the two certificates' bytes moved across the
    // boundary between them), other anchors, another policy: another key.
    assert_ne!(ChainCache::key(&chain[..1], anchors, &policy), key);
    let mut moved = chain.clone();
    let byte = moved[0].pop().unwrap();
    moved[1].insert(0, byte);
    assert_ne!(ChainCache::key(&moved, anchors, &policy), key);
    assert_ne!(ChainCache::key(&chain, &[&root, &root], &policy), key);
    let pinned = ChainPolicy {
        leaf_subject: Some("CN=x".into()),
        ..ChainPolicy::default()
    };
    assert_ne!(ChainCache::key(&chain, anchors, &pinned), key);
}

#[test]
fn a_parsed_header_carries_the_digest_of_its_x5c() {
    use base64ct::{Base64, Base64UrlUnpadded, Encoding};
    let chain = good_chain();
    let x5c: Vec<String> = chain.iter().map(|der| Base64::encode_string(der)).collect();
    let header = serde_json::json!({"alg": "ES256", "x5c": x5c});
    let b64 = Base64UrlUnpadded::encode_string(header.to_string().as_bytes());
    let token = format!("{b64}.e30.{}", Base64UrlUnpadded::encode_string(&[0u8; 64]));
    let jws = crate::jws::parse(&token, 64 * 1024).unwrap();
    assert_eq!(jws.header.x5c.as_deref(), Some(&chain[..]));
    assert_eq!(
        jws.header.x5c_digest,
        Some(list_digest(crate::jws::X5C_DIGEST_LABEL, &chain))
    );
}
