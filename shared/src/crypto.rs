//! Pluggable signature verification, in the spirit of rustls' `CryptoProvider`: the core asks a
//! [`SignatureVerifier`] whether a signature is good and learns only yes or no ([`BadSignature`] is
//! deliberately opaque). [`RustCrypto`] works everywhere; the Workers shell adds a WebCrypto backend.
//!
//! Every ECDSA signature handed to a verifier is in the fixed-length IEEE P1363 form `r || s`
//! (RFC 7518 §3.4). X.509's DER-encoded signatures are converted by the caller, strictly.

use std::future::Future;

/// SHA-256 over `label` and then each of `items`, every part prefixed with its length (u64,
/// big-endian), so that concatenation is unambiguous: two different lists never hash the same
/// input. Names a list of DER certificates (an `x5c` chain, the trust anchors) in cache keys.
pub fn list_digest<T: AsRef<[u8]>>(label: &[u8], items: &[T]) -> [u8; 32] {
    use sha2::Digest;
    let mut hash = sha2::Sha256::new();
    let mut part = |bytes: &[u8]| {
        hash.update((bytes.len() as u64).to_be_bytes());
        hash.update(bytes);
    };
    part(label);
    part(&(items.len() as u64).to_be_bytes());
    for item in items {
        part(item.as_ref());
    }
    hash.finalize().into()
}

/// A signature scheme: algorithm, curve or padding, and hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// ECDSA on P-256 with SHA-256 (JWS `ES256`).
    EcdsaP256Sha256,
    /// ECDSA on P-256 with SHA-384 (X.509 only).
    EcdsaP256Sha384,
    /// ECDSA on P-384 with SHA-384 (JWS `ES384`).
    EcdsaP384Sha384,
    /// ECDSA on P-384 with SHA-256 (X.509 only).
    EcdsaP384Sha256,
    /// RSASSA-PKCS1-v1_5 with SHA-256 (JWS `RS256`).
    RsaPkcs1Sha256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RsaPkcs1Sha384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RsaPkcs1Sha512,
    /// RSASSA-PSS with SHA-256, MGF1-SHA-256, 32-byte salt (JWS `PS256`).
    RsaPssSha256,
    /// RSASSA-PSS with SHA-384, MGF1-SHA-384, 48-byte salt.
    RsaPssSha384,
    /// RSASSA-PSS with SHA-512, MGF1-SHA-512, 64-byte salt.
    RsaPssSha512,
    /// Ed25519 (JWS `EdDSA` with `crv` = `Ed25519`, RFC 8037).
    Ed25519,
}

/// A public key in the form each algorithm family needs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PublicKey {
    /// A P-256 point, SEC1 uncompressed (`04 || x || y`).
    P256(Vec<u8>),
    /// A P-384 point, SEC1 uncompressed.
    P384(Vec<u8>),
    /// An RSA key: big-endian modulus and exponent, no leading zeros.
    Rsa {
        /// Modulus.
        n: Vec<u8>,
        /// Public exponent.
        e: Vec<u8>,
    },
    /// An Ed25519 key.
    Ed25519([u8; 32]),
}

/// Smallest RSA modulus accepted, in bits (RFC 7518 §3.3 requires 2048 or larger).
pub const MIN_RSA_BITS: usize = 2048;
/// Largest RSA modulus accepted, in bits: bounds the work one signature check can cost.
pub const MAX_RSA_BITS: usize = 8192;

/// The length in bytes of the RSA modulus `n` (big-endian, leading zeros ignored) when `n` and `e`
/// pass the checks of the `rsa` crate's `RsaPublicKey::new_with_max_size` as this crate uses it:
/// `n` odd and of [`MIN_RSA_BITS`]..=[`MAX_RSA_BITS`], `e` odd and in 3..=2³³−1 (so below `n`).
/// For builds and backends that do not link `rsa` (the Workers function: WebCrypto verifies RSA);
/// a test holds the verdicts to `rsa`'s.
pub fn rsa_modulus_bytes(n: &[u8], e: &[u8]) -> Option<usize> {
    let trim = |b: &[u8]| -> Vec<u8> { b.iter().copied().skip_while(|&x| x == 0).collect() };
    let (n, e) = (trim(n), trim(e));
    let bits = n
        .first()
        .map_or(0, |&top| n.len() * 8 - top.leading_zeros() as usize);
    let exponent = (e.len() <= 8).then(|| e.iter().fold(0u64, |acc, &b| acc << 8 | u64::from(b)));
    let odd = |b: &[u8]| b.last().is_some_and(|x| x & 1 == 1);
    match exponent {
        Some(3..=0x1_ffff_ffff)
            if odd(&e) && odd(&n) && (MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits) =>
        {
            Some(n.len())
        }
        _ => None,
    }
}

/// The signature did not verify, or the key/scheme pair is unusable. Deliberately carries no detail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadSignature;

/// Verifies signatures. Implementations must give the same verdict for the same input.
pub trait SignatureVerifier {
    /// `Ok(())` when `signature` is a valid signature of `message` under `key` with `scheme`.
    fn verify(
        &self,
        scheme: Scheme,
        key: &PublicKey,
        message: &[u8],
        signature: &[u8],
    ) -> impl Future<Output = Result<(), BadSignature>>;
}

/// The pure-Rust backend (RustCrypto `p256`, `p384`, `rsa`, `ed25519-dalek`).
#[derive(Debug, Clone, Copy, Default)]
pub struct RustCrypto;

impl SignatureVerifier for RustCrypto {
    async fn verify(
        &self,
        scheme: Scheme,
        key: &PublicKey,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), BadSignature> {
        verify_sync(scheme, key, message, signature)
    }
}

/// Whether this build's RustCrypto backend ([`verify_sync`]) verifies `scheme`: ECDSA P-256 with
/// SHA-256 always; P-256 with SHA-384 (X.509 only), P-384, RSA and Ed25519 with the
/// `rustcrypto-full` feature (on by default). A build without it must verify those schemes
/// another way: the Workers function uses WebCrypto. Without the feature, no SHA-384 or SHA-512
/// is linked at all (3.9 KB gzip of Wasm, measured: `sha2`'s 64-bit compression function).
pub const fn rustcrypto_verifies(scheme: Scheme) -> bool {
    matches!(scheme, Scheme::EcdsaP256Sha256) || cfg!(feature = "rustcrypto-full")
}

/// The RustCrypto verification, synchronous. A scheme this build does not verify
/// ([`rustcrypto_verifies`]) is a [`BadSignature`].
pub fn verify_sync(
    scheme: Scheme,
    key: &PublicKey,
    message: &[u8],
    signature: &[u8],
) -> Result<(), BadSignature> {
    use Scheme::*;
    match (scheme, key) {
        (EcdsaP256Sha256, PublicKey::P256(point)) => ecdsa_p256(scheme, point, message, signature),
        #[cfg(feature = "rustcrypto-full")]
        (EcdsaP256Sha384, PublicKey::P256(point)) => ecdsa_p256(scheme, point, message, signature),
        #[cfg(feature = "rustcrypto-full")]
        (EcdsaP384Sha384 | EcdsaP384Sha256, PublicKey::P384(point)) => {
            ecdsa_p384(scheme, point, message, signature)
        }
        #[cfg(feature = "rustcrypto-full")]
        (
            RsaPkcs1Sha256 | RsaPkcs1Sha384 | RsaPkcs1Sha512 | RsaPssSha256 | RsaPssSha384
            | RsaPssSha512,
            PublicKey::Rsa { n, e },
        ) => rsa_verify(scheme, n, e, message, signature),
        #[cfg(feature = "rustcrypto-full")]
        (Ed25519, PublicKey::Ed25519(bytes)) => ed25519(bytes, message, signature),
        _ => Err(BadSignature),
    }
}

#[cfg(feature = "rustcrypto-full")]
fn digest(scheme: Scheme, message: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    use Scheme::*;
    match scheme {
        EcdsaP256Sha256 | EcdsaP384Sha256 | RsaPkcs1Sha256 | RsaPssSha256 => {
            sha2::Sha256::digest(message).to_vec()
        }
        EcdsaP256Sha384 | EcdsaP384Sha384 | RsaPkcs1Sha384 | RsaPssSha384 => {
            sha2::Sha384::digest(message).to_vec()
        }
        RsaPkcs1Sha512 | RsaPssSha512 | Ed25519 => sha2::Sha512::digest(message).to_vec(),
    }
}

/// Without `rustcrypto-full` only ECDSA P-256 with SHA-256 is verified here ([`verify_sync`]).
#[cfg(not(feature = "rustcrypto-full"))]
fn digest(_: Scheme, message: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(message).to_vec()
}

fn ecdsa_p256(
    scheme: Scheme,
    point: &[u8],
    message: &[u8],
    sig: &[u8],
) -> Result<(), BadSignature> {
    use p256::ecdsa::signature::hazmat::PrehashVerifier;
    let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(point).map_err(|_| BadSignature)?;
    let sig = p256::ecdsa::Signature::from_slice(sig).map_err(|_| BadSignature)?;
    key.verify_prehash(&digest(scheme, message), &sig)
        .map_err(|_| BadSignature)
}

#[cfg(feature = "rustcrypto-full")]
fn ecdsa_p384(
    scheme: Scheme,
    point: &[u8],
    message: &[u8],
    sig: &[u8],
) -> Result<(), BadSignature> {
    use p384::ecdsa::signature::hazmat::PrehashVerifier;
    let key = p384::ecdsa::VerifyingKey::from_sec1_bytes(point).map_err(|_| BadSignature)?;
    let sig = p384::ecdsa::Signature::from_slice(sig).map_err(|_| BadSignature)?;
    key.verify_prehash(&digest(scheme, message), &sig)
        .map_err(|_| BadSignature)
}

#[cfg(feature = "rustcrypto-full")]
fn rsa_key(n: &[u8], e: &[u8]) -> Result<rsa::RsaPublicKey, BadSignature> {
    let n = rsa::BigUint::from_bytes_be(n);
    let bits = n.bits();
    if !(MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits) {
        return Err(BadSignature);
    }
    rsa::RsaPublicKey::new_with_max_size(n, rsa::BigUint::from_bytes_be(e), MAX_RSA_BITS)
        .map_err(|_| BadSignature)
}

#[cfg(feature = "rustcrypto-full")]
fn rsa_verify(
    scheme: Scheme,
    n: &[u8],
    e: &[u8],
    message: &[u8],
    sig: &[u8],
) -> Result<(), BadSignature> {
    use Scheme::*;
    let key = rsa_key(n, e)?;
    let hashed = digest(scheme, message);
    let result = match scheme {
        RsaPkcs1Sha256 => key.verify(rsa::Pkcs1v15Sign::new::<sha2::Sha256>(), &hashed, sig),
        RsaPkcs1Sha384 => key.verify(rsa::Pkcs1v15Sign::new::<sha2::Sha384>(), &hashed, sig),
        RsaPkcs1Sha512 => key.verify(rsa::Pkcs1v15Sign::new::<sha2::Sha512>(), &hashed, sig),
        // RFC 7518 §3.5: the salt is as long as the hash output.
        RsaPssSha256 => key.verify(rsa::Pss::new_with_salt::<sha2::Sha256>(32), &hashed, sig),
        RsaPssSha384 => key.verify(rsa::Pss::new_with_salt::<sha2::Sha384>(48), &hashed, sig),
        RsaPssSha512 => key.verify(rsa::Pss::new_with_salt::<sha2::Sha512>(64), &hashed, sig),
        _ => return Err(BadSignature),
    };
    result.map_err(|_| BadSignature)
}

#[cfg(feature = "rustcrypto-full")]
fn ed25519(key: &[u8; 32], message: &[u8], sig: &[u8]) -> Result<(), BadSignature> {
    let key = ed25519_dalek::VerifyingKey::from_bytes(key).map_err(|_| BadSignature)?;
    let sig = ed25519_dalek::Signature::from_slice(sig).map_err(|_| BadSignature)?;
    key.verify_strict(message, &sig).map_err(|_| BadSignature)
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::signature::Signer;

    /// [`rsa_modulus_bytes`] accepts exactly what `rsa` accepts within the size bounds.
    #[test]
    fn rsa_checks_agree_with_rsa() {
        let rsa_says = crate::jwk::rsa_crate_accepts;
        let modulus = |bytes: usize, top: u8, last: u8| {
            let mut n = vec![0xa5; bytes];
            n[0] = top;
            n[bytes - 1] = last;
            n
        };
        let moduli = [
            modulus(256, 0x80, 0x01),
            modulus(256, 0x7f, 0x01), // 2047 bits
            modulus(256, 0xff, 0x02), // even
            modulus(1024, 0xff, 0xff),
            modulus(1025, 0x01, 0x01), // 8193 bits
            modulus(384, 0x00, 0x01),  // leading zero: 3064 bits
            vec![],
            vec![0x03],
        ];
        let exponents: [&[u8]; 12] = [
            &[0x01, 0x00, 0x01],
            &[0x03],
            &[0x01],
            &[0x02],
            &[0x04],
            &[],
            &[0x00, 0x03],
            &[0x01, 0xff, 0xff, 0xff, 0xff],
            &[0x02, 0x00, 0x00, 0x00, 0x01],
            &[0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01],
            &[0xff; 8],
            &[0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03],
        ];
        for n in &moduli {
            for e in exponents {
                assert_eq!(
                    rsa_modulus_bytes(n, e).is_some(),
                    rsa_says(n, e),
                    "n: {} bytes from {:02x?}, e: {e:02x?}",
                    n.len(),
                    n.first()
                );
            }
        }
        assert_eq!(rsa_modulus_bytes(&moduli[5], &[3]), Some(383));
    }

    #[test]
    fn p256_round_trip_and_tamper() {
        let secret = p256::ecdsa::SigningKey::from_slice(&[7u8; 32]).unwrap();
        let point = secret
            .verifying_key()
            .to_encoded_point(false)
            .as_bytes()
            .to_vec();
        let sig: p256::ecdsa::Signature = secret.sign(b"hello");
        let key = PublicKey::P256(point);
        assert_eq!(
            verify_sync(Scheme::EcdsaP256Sha256, &key, b"hello", &sig.to_bytes()),
            Ok(())
        );
        assert_eq!(
            verify_sync(Scheme::EcdsaP256Sha256, &key, b"hellp", &sig.to_bytes()),
            Err(BadSignature)
        );
        // A key of the wrong family never verifies.
        assert_eq!(
            verify_sync(Scheme::RsaPkcs1Sha256, &key, b"hello", &sig.to_bytes()),
            Err(BadSignature)
        );
    }
}
