//! P-256 keys, randomness and ES256 compact JWS signing (RFC 7515 §7.1, RFC 7518 §3.4).

use crate::{failed, usage, Result};
use base64ct::{Base64UrlUnpadded, Encoding};
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use p256::SecretKey;
use rand_core::{OsRng, RngCore};
use serde_json::{Map, Value};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

/// A fresh P-256 key from the operating system's CSPRNG.
pub fn generate() -> SecretKey {
    SecretKey::random(&mut OsRng)
}

/// `n` random bytes from the operating system's CSPRNG.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    OsRng.fill_bytes(&mut bytes);
    bytes
}

/// A private key as PKCS#8 PEM (`PRIVATE KEY`), the format `openssl genpkey` writes.
pub fn to_pkcs8_pem(key: &SecretKey) -> Result<String> {
    key.to_pkcs8_pem(LineEnding::LF)
        .map(|pem| pem.to_string())
        .map_err(|e| failed(format!("cannot encode the private key: {e}")))
}

/// Loads a P-256 private key from PKCS#8 PEM, SEC1 PEM (`EC PRIVATE KEY`) or a private JWK.
pub fn load_private(path: &Path) -> Result<SecretKey> {
    let text = crate::files::read_text(path)?;
    let text = text.trim();
    let key = if text.starts_with('{') {
        SecretKey::from_jwk_str(text)
    } else {
        SecretKey::from_pkcs8_pem(text).or_else(|_| SecretKey::from_sec1_pem(text))
    };
    key.map_err(|_| {
        usage(format!(
            "{}: not a P-256 private key (PKCS#8 PEM, SEC1 PEM or JWK)",
            path.display()
        ))
    })
}

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// base64url without padding (RFC 7515 §2).
pub fn b64url(bytes: &[u8]) -> String {
    Base64UrlUnpadded::encode_string(bytes)
}

/// Signs `header` and `claims` with ES256 and returns the compact serialization
/// `BASE64URL(header) '.' BASE64URL(claims) '.' BASE64URL(r || s)`.
pub fn sign_compact(
    key: &SecretKey,
    header: &Map<String, Value>,
    claims: &Map<String, Value>,
) -> Result<String> {
    let encode = |map: &Map<String, Value>| {
        serde_json::to_vec(map)
            .map(|json| b64url(&json))
            .map_err(|e| failed(format!("cannot encode JSON: {e}")))
    };
    let signing_input = format!("{}.{}", encode(header)?, encode(claims)?);
    let signature: Signature = SigningKey::from(key).sign(signing_input.as_bytes());
    Ok(format!("{signing_input}.{}", b64url(&signature.to_bytes())))
}
