//! Signature verification through the runtime's WebCrypto (`crypto.subtle`), about 14× faster on
//! workerd than RustCrypto compiled to Wasm (≈36 µs against ≈490 µs for one P-256 verify).
//!
//! Verdicts must equal RustCrypto's on every input (the core's [`verify_sync`] with every
//! algorithm, as built natively and for Spin), so the checks RustCrypto makes that
//! WebCrypto would not (or makes differently) run here first, in Rust:
//! - ECDSA signatures must be exactly 64 (P-256) or 96 (P-384) bytes of `r || s` (RFC 7518 §3.4);
//! - RSA moduli must be odd and within the size bounds, exponents odd and in 3..=2³³−1 (the `rsa`
//!   crate's checks, [`rsa_modulus_bytes`]), signatures exactly as long as the modulus;
//! - Ed25519 keys of small order and signatures whose `R` is a small-order point are refused, as
//!   `ed25519-dalek`'s `verify_strict` does (BoringSSL would accept them).
//!
//! One case goes to RustCrypto unchanged: P-256 points not in uncompressed SEC1 form (the gateway
//! itself only makes uncompressed ones: JWKs and X.509 keys are decoded to that form or refused),
//! and only with SHA-256; with SHA-384 such a key is a [`BadSignature`] in this build. Any JS
//! exception (a point off the curve, a malformed key) is a [`BadSignature`].
//!
//! The function is built without the core's `rustcrypto-full` feature: RustCrypto verifies only
//! ECDSA P-256 with SHA-256 here, and [`Backend::Rust`] hands P-256 with SHA-384 (X.509 only),
//! P-384, RSA and Ed25519 to WebCrypto too (≈ 30 KiB + 3.9 KB gzip of Wasm saved; same verdicts,
//! which `tests/e2e/webcrypto.test.mjs` checks against known answers).

use edgeward::crypto::{
    rsa_modulus_bytes, rustcrypto_verifies, verify_sync, BadSignature, PublicKey, RustCrypto,
    Scheme, SignatureVerifier,
};
use js_sys::{Array, Object, Promise, Reflect};
use std::cell::{OnceCell, RefCell};
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = ["crypto", "subtle"], js_name = importKey, catch)]
    fn import_key(
        format: &str,
        key_data: &JsValue,
        algorithm: &Object,
        extractable: bool,
        usages: &Array,
    ) -> Result<Promise, JsValue>;

    #[wasm_bindgen(js_namespace = ["crypto", "subtle"], js_name = verify, catch)]
    fn subtle_verify(
        algorithm: &Object,
        key: &JsValue,
        signature: &[u8],
        data: &[u8],
    ) -> Result<Promise, JsValue>;
}

/// Imported keys kept per isolate. A JWKS holds a handful of keys and x5c leaves change slowly, so
/// 64 covers several issuers with room to spare; each entry is one `CryptoKey` plus the key bytes
/// (≤ 1 KiB for RSA-8192). When full, the oldest entry goes (FIFO: no bookkeeping on hits).
const KEY_CACHE_ENTRIES: usize = 64;

thread_local! {
    static KEYS: RefCell<Vec<(Family, PublicKey, JsValue)>> = const { RefCell::new(Vec::new()) };
}

/// The WebCrypto algorithm a key is imported for; WebCrypto binds RSA keys to their hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    P256,
    P384,
    RsaPkcs1(&'static str),
    RsaPss(&'static str, u32),
    Ed25519,
}

/// The WebCrypto backend. Stateless; the key cache is per isolate.
#[derive(Debug, Clone, Copy, Default)]
pub struct WebCrypto;

impl SignatureVerifier for WebCrypto {
    async fn verify(
        &self,
        scheme: Scheme,
        key: &PublicKey,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), BadSignature> {
        let Some((family, hash)) = precheck(scheme, key, signature)? else {
            return verify_sync(scheme, key, message, signature);
        };
        let crypto_key = imported(family, key).await?;
        let algorithm = verify_algorithm(family, hash);
        let promise =
            subtle_verify(&algorithm, &crypto_key, signature, message).map_err(|_| BadSignature)?;
        match crate::entry::wait(promise).await {
            Ok(verdict) if verdict.as_bool() == Some(true) => Ok(()),
            _ => Err(BadSignature),
        }
    }
}

/// The `verify` call's algorithm for (family, hash): made once per isolate and reused (WebCrypto
/// reads it at the call and keeps nothing of it). At most a dozen combinations exist.
fn verify_algorithm(family: Family, hash: &'static str) -> Object {
    thread_local! {
        static ALGORITHMS: RefCell<Vec<(Family, &'static str, Object)>> =
            const { RefCell::new(Vec::new()) };
    }
    ALGORITHMS.with(|cache| {
        let found = cache
            .borrow()
            .iter()
            .find(|(f, h, _)| *f == family && *h == hash)
            .map(|(_, _, algorithm)| algorithm.clone());
        found.unwrap_or_else(|| {
            let made = match family {
                Family::P256 | Family::P384 => {
                    object(&[("name", "ECDSA".into()), ("hash", hash.into())])
                }
                Family::RsaPkcs1(_) => object(&[("name", "RSASSA-PKCS1-v1_5".into())]),
                Family::RsaPss(_, salt) => {
                    object(&[("name", "RSA-PSS".into()), ("saltLength", salt.into())])
                }
                Family::Ed25519 => object(&[("name", "Ed25519".into())]),
            };
            cache.borrow_mut().push((family, hash, made.clone()));
            made
        })
    })
}

/// `Ok(None)`: leave this one to RustCrypto. `Err`: RustCrypto would refuse it too.
fn precheck(
    scheme: Scheme,
    key: &PublicKey,
    sig: &[u8],
) -> Result<Option<(Family, &'static str)>, BadSignature> {
    use Scheme::*;
    let exact = |len: usize| {
        if sig.len() == len {
            Ok(())
        } else {
            Err(BadSignature)
        }
    };
    let uncompressed = |point: &[u8], len: usize| point.len() == len && point.first() == Some(&4);
    Ok(Some(match (scheme, key) {
        (EcdsaP256Sha256 | EcdsaP256Sha384, PublicKey::P256(p)) if uncompressed(p, 65) => {
            exact(64)?;
            // As for P-384 below: WebCrypto takes any SHA-2 with any curve.
            let hash = if scheme == EcdsaP256Sha384 {
                "SHA-384"
            } else {
                "SHA-256"
            };
            (Family::P256, hash)
        }
        (EcdsaP384Sha384 | EcdsaP384Sha256, PublicKey::P384(p)) if uncompressed(p, 97) => {
            exact(96)?;
            // WebCrypto takes any SHA-2 with any curve (checked in workerd for P-384/SHA-256).
            let hash = if scheme == EcdsaP384Sha384 {
                "SHA-384"
            } else {
                "SHA-256"
            };
            (Family::P384, hash)
        }
        (EcdsaP256Sha256 | EcdsaP256Sha384, PublicKey::P256(_))
        | (EcdsaP384Sha384 | EcdsaP384Sha256, PublicKey::P384(_)) => return Ok(None),
        (_, PublicKey::Rsa { n, e }) => {
            exact(rsa_modulus_bytes(n, e).ok_or(BadSignature)?)?;
            let (hash, salt) = match scheme {
                RsaPkcs1Sha256 | RsaPssSha256 => ("SHA-256", 32),
                RsaPkcs1Sha384 | RsaPssSha384 => ("SHA-384", 48),
                RsaPkcs1Sha512 | RsaPssSha512 => ("SHA-512", 64),
                _ => return Err(BadSignature),
            };
            match scheme {
                RsaPkcs1Sha256 | RsaPkcs1Sha384 | RsaPkcs1Sha512 => (Family::RsaPkcs1(hash), hash),
                _ => (Family::RsaPss(hash, salt), hash),
            }
        }
        (Ed25519, PublicKey::Ed25519(_)) => {
            exact(64)?;
            if small_order(&sig[..32]) {
                return Err(BadSignature);
            }
            (Family::Ed25519, "")
        }
        _ => return Err(BadSignature),
    }))
}

/// Whether `r` is the canonical encoding of one of the eight points of small order. A
/// non-canonical encoding never equals the `R` both libraries recompute, so both reject it anyway.
fn small_order(r: &[u8]) -> bool {
    thread_local! {
        static TORSION: OnceCell<Vec<[u8; 32]>> = const { OnceCell::new() };
    }
    TORSION.with(|cell| {
        cell.get_or_init(|| {
            curve25519_dalek::constants::EIGHT_TORSION
                .iter()
                .map(|p| p.compress().to_bytes())
                .collect()
        })
        .iter()
        .any(|t| t.as_slice() == r)
    })
}

/// The cached `CryptoKey` for (family, key), importing it on a miss.
async fn imported(family: Family, key: &PublicKey) -> Result<JsValue, BadSignature> {
    let hit = KEYS.with(|keys| {
        let keys = keys.borrow();
        keys.iter()
            .find(|(f, k, _)| *f == family && k == key)
            .map(|(_, _, c)| c.clone())
    });
    if let Some(crypto_key) = hit {
        return Ok(crypto_key);
    }
    let (format, data, algorithm): (&str, JsValue, Object) = match (family, key) {
        (Family::P256 | Family::P384, PublicKey::P256(p) | PublicKey::P384(p)) => {
            let curve = if family == Family::P256 {
                "P-256"
            } else {
                "P-384"
            };
            let algorithm = object(&[("name", "ECDSA".into()), ("namedCurve", curve.into())]);
            ("raw", bytes(p), algorithm)
        }
        (Family::RsaPkcs1(hash) | Family::RsaPss(hash, _), PublicKey::Rsa { n, e }) => {
            let name = if matches!(family, Family::RsaPss(..)) {
                "RSA-PSS"
            } else {
                "RSASSA-PKCS1-v1_5"
            };
            // RFC 7518 §6.3.1: base64url of the unsigned big-endian value, no leading zeros.
            let b64 = |b: &[u8]| {
                let start = b.iter().position(|&x| x != 0).unwrap_or(b.len());
                JsValue::from(base64url(&b[start..]))
            };
            let jwk = object(&[("kty", "RSA".into()), ("n", b64(n)), ("e", b64(e))]);
            let algorithm = object(&[("name", name.into()), ("hash", hash.into())]);
            ("jwk", jwk.into(), algorithm)
        }
        (Family::Ed25519, PublicKey::Ed25519(k)) => {
            // Small-order keys make forgeries easy; `verify_strict` refuses them, and so do we.
            match ed25519_dalek::VerifyingKey::from_bytes(k) {
                Ok(vk) if !vk.is_weak() => {}
                _ => return Err(BadSignature),
            }
            ("raw", bytes(k), object(&[("name", "Ed25519".into())]))
        }
        _ => return Err(BadSignature),
    };
    let usages = Array::of1(&"verify".into());
    let promise =
        import_key(format, &data, &algorithm, false, &usages).map_err(|_| BadSignature)?;
    let crypto_key = crate::entry::wait(promise)
        .await
        .map_err(|_| BadSignature)?;
    KEYS.with(|keys| {
        let mut keys = keys.borrow_mut();
        if keys.len() >= KEY_CACHE_ENTRIES {
            keys.remove(0);
        }
        keys.push((family, key.clone(), crypto_key.clone()));
    });
    Ok(crypto_key)
}

pub(crate) fn object(fields: &[(&str, JsValue)]) -> Object {
    let object = Object::new();
    for (name, value) in fields {
        // Setting a property on a fresh plain object cannot throw.
        let _ = Reflect::set(&object, &JsValue::from_str(name), value);
    }
    object
}

pub(crate) fn bytes(b: &[u8]) -> JsValue {
    js_sys::Uint8Array::from(b).into()
}

fn base64url(b: &[u8]) -> String {
    use base64ct::{Base64UrlUnpadded, Encoding};
    Base64UrlUnpadded::encode_string(b)
}

/// The backend chosen by `EDGEWARD_CRYPTO`: `webcrypto` (the default) or `rustcrypto`.
#[derive(Debug, Clone, Copy)]
pub enum Backend {
    /// [`WebCrypto`].
    Web(WebCrypto),
    /// [`RustCrypto`], the core's portable backend: P-256 only in this build, WebCrypto for the
    /// rest.
    Rust(RustCrypto),
}

impl Backend {
    /// Parses the `EDGEWARD_CRYPTO` value; `None` (unset) is the default.
    pub fn from_setting(value: Option<&str>) -> Result<Backend, String> {
        match value.map(str::trim) {
            None | Some("" | "webcrypto") => Ok(Backend::Web(WebCrypto)),
            Some("rustcrypto") => Ok(Backend::Rust(RustCrypto)),
            Some(other) => Err(format!(
                "EDGEWARD_CRYPTO={other:?} is not webcrypto or rustcrypto"
            )),
        }
    }
}

#[cfg(feature = "token-handler")]
impl Backend {
    /// AES-256-GCM opening ([`edgeward::Platform::aes_gcm_open`]) by the chosen backend.
    pub async fn aes_gcm_open(
        &self,
        key: &edgeward::aead::AesKey,
        nonce: &[u8; edgeward::aead::NONCE_BYTES],
        sealed: &[u8],
        aad: &[u8],
    ) -> Result<Vec<u8>, edgeward::aead::BadTag> {
        match self {
            Backend::Web(_) => crate::aead::open(key, nonce, sealed, aad).await,
            Backend::Rust(_) => key.open(nonce, sealed, aad),
        }
    }
}

impl SignatureVerifier for Backend {
    async fn verify(
        &self,
        scheme: Scheme,
        key: &PublicKey,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), BadSignature> {
        match self {
            Backend::Rust(v) if rustcrypto_verifies(scheme) => {
                v.verify(scheme, key, message, signature).await
            }
            // Not compiled in (see the module documentation).
            Backend::Rust(_) | Backend::Web(_) => {
                WebCrypto.verify(scheme, key, message, signature).await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p256() -> PublicKey {
        let mut point = vec![4u8];
        point.extend([1u8; 64]);
        PublicKey::P256(point)
    }

    #[test]
    fn uncompressed_p256_with_a_64_byte_signature_goes_to_webcrypto() {
        let routed = precheck(Scheme::EcdsaP256Sha256, &p256(), &[0; 64]);
        assert_eq!(routed, Ok(Some((Family::P256, "SHA-256"))));
    }

    #[test]
    fn a_signature_of_the_wrong_length_is_refused_before_any_crossing() {
        for len in [0, 63, 65, 72] {
            let sig = vec![0u8; len];
            assert_eq!(
                precheck(Scheme::EcdsaP256Sha256, &p256(), &sig),
                Err(BadSignature),
                "{len} bytes"
            );
        }
    }

    #[test]
    fn a_compressed_point_is_left_to_rustcrypto() {
        let mut compressed = vec![2u8];
        compressed.extend([1u8; 32]);
        let key = PublicKey::P256(compressed);
        assert_eq!(precheck(Scheme::EcdsaP256Sha256, &key, &[0; 64]), Ok(None));
    }

    #[test]
    fn p256_with_sha384_goes_to_webcrypto_with_its_hash() {
        assert_eq!(
            precheck(Scheme::EcdsaP256Sha384, &p256(), &[0; 64]),
            Ok(Some((Family::P256, "SHA-384")))
        );
        assert_eq!(
            precheck(Scheme::EcdsaP256Sha384, &p256(), &[0; 63]),
            Err(BadSignature)
        );
    }

    #[test]
    fn a_scheme_that_does_not_fit_the_key_is_refused() {
        assert_eq!(
            precheck(Scheme::Ed25519, &p256(), &[0; 64]),
            Err(BadSignature)
        );
    }

    #[test]
    fn ed25519_signatures_with_a_small_order_r_are_refused_like_verify_strict() {
        let key = PublicKey::Ed25519([9u8; 32]);
        let identity = curve25519_dalek::edwards::EdwardsPoint::default()
            .compress()
            .to_bytes();
        let mut sig = identity.to_vec();
        sig.extend([0u8; 32]);
        assert_eq!(precheck(Scheme::Ed25519, &key, &sig), Err(BadSignature));
        assert!(small_order(&identity));
        let mut other = [0u8; 64];
        other[0] = 0x58;
        other[1..32].fill(0x66);
        assert!(
            !small_order(&other[..32]),
            "the base point is of large order"
        );
        assert_eq!(
            precheck(Scheme::Ed25519, &key, &other),
            Ok(Some((Family::Ed25519, "")))
        );
    }
}
