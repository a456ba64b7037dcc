//! AES-256-GCM (NIST SP 800-38D) as the token handler's cookies use it, with the interface of
//! RFC 5116 §2: a key, a 96-bit nonce, associated data, and `ciphertext ‖ tag` (16-byte tag).
//!
//! Pluggable like [`crate::crypto`]'s verifiers: [`crate::cookie`] decides the format, the key
//! version, the expiry and every error; a backend only runs the primitive and answers the
//! plaintext or [`BadTag`] (deliberately opaque). [`AesKey::open`] (RustCrypto `aes-gcm`) is the
//! default of [`Platform::aes_gcm_open`](crate::Platform::aes_gcm_open) everywhere; the Workers
//! shell opens with WebCrypto (`crypto.subtle.decrypt`), which runs natively there instead of as
//! software AES and GHASH in Wasm. Sealing stays RustCrypto: it happens only on the agent's
//! endpoints (login end, refresh), not on every API request.
//!
//! Checked here: the tag, over the associated data and the ciphertext. Not here: what the
//! plaintext means (the cookie's expiry) and which key to use (the cookie's version).

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};

/// Bytes of a key (AES-256).
pub const KEY_BYTES: usize = 32;
/// Bytes of a nonce (96 bits, SP 800-38D §8.2.2 with random nonces).
pub const NONCE_BYTES: usize = 12;
/// Bytes of the authentication tag (128 bits, the full tag: SP 800-38D §5.2.1.2).
pub const TAG_BYTES: usize = 16;

/// An AES-256-GCM key: its bytes (for backends that import it, such as WebCrypto) and RustCrypto's
/// expanded key. Never printed.
#[derive(Clone)]
pub struct AesKey {
    bytes: [u8; KEY_BYTES],
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for AesKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AesKey(..)")
    }
}

/// The tag did not verify (altered data, another key, other associated data), or the input is
/// shorter than a tag. Carries no detail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadTag;

impl AesKey {
    /// The key with these bytes.
    pub fn new(bytes: [u8; KEY_BYTES]) -> AesKey {
        AesKey {
            bytes,
            cipher: Aes256Gcm::new(&bytes.into()),
        }
    }

    /// The key's bytes, for a backend that imports them.
    pub fn bytes(&self) -> &[u8; KEY_BYTES] {
        &self.bytes
    }

    /// `ciphertext ‖ tag` of `plaintext` with `aad` (RustCrypto).
    pub fn seal(&self, nonce: &[u8; NONCE_BYTES], plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
        let payload = Payload {
            msg: plaintext,
            aad,
        };
        // Encryption only fails for messages beyond 2^36 bytes; cookies are far smaller.
        self.cipher
            .encrypt(Nonce::from_slice(nonce), payload)
            .unwrap_or_default()
    }

    /// The plaintext of `sealed` (`ciphertext ‖ tag`) with `aad`, or [`BadTag`] (RustCrypto; the
    /// default backend).
    pub fn open(
        &self,
        nonce: &[u8; NONCE_BYTES],
        sealed: &[u8],
        aad: &[u8],
    ) -> Result<Vec<u8>, BadTag> {
        let payload = Payload { msg: sealed, aad };
        self.cipher
            .decrypt(Nonce::from_slice(nonce), payload)
            .map_err(|_| BadTag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// NIST GCM test vector (gcmDecrypt256.rsp, [Keylen = 256] [IVlen = 96] [PTlen = 408]
    /// [AADlen = 160] [Taglen = 128], Count = 0), as also used by the `aes-gcm` crate's tests.
    const KEY: &str = "463b412911767d57a0b33969e674ffe7845d313b88c6fe312f3d724be68e1fca";
    const IV: &str = "611ce6f9a6880750de7da6cb";
    const PT: &str = "e7d1dcf668e2876861940e012fe52a98dacbd78ab63c08842cc9801ea581682ad54af0c34d0d7f6f59e8ee0bf4900e0fd85042";
    const AAD: &str = "0a682fbc6192e1b47a5e0868787ffdafe5a50cead3575849990cdd2ea9b3597749403efb4a56684f0c6bde352d4aeec5";
    const CT: &str = "8886e196010cb3849d9c1a182abe1eeab0a5f3ca423c3669a4a8703c0f146e8e956fb122e0d721b869d2b6fcd4216d7d4d3758";
    const TAG: &str = "2469cecd70fd98fec9264f71df1aee9a";

    fn hex(s: &str) -> Vec<u8> {
        base16ct::mixed::decode_vec(s).unwrap()
    }

    fn vector() -> (AesKey, [u8; 12], Vec<u8>, Vec<u8>) {
        let key = AesKey::new(hex(KEY).try_into().unwrap());
        let nonce: [u8; 12] = hex(IV).try_into().unwrap();
        let mut sealed = hex(CT);
        sealed.extend(hex(TAG));
        (key, nonce, sealed, hex(AAD))
    }

    #[test]
    fn the_nist_vector_opens_and_seals() {
        let (key, nonce, sealed, aad) = vector();
        assert_eq!(key.open(&nonce, &sealed, &aad), Ok(hex(PT)));
        assert_eq!(key.seal(&nonce, &hex(PT), &aad), sealed);
    }

    #[test]
    fn a_changed_tag_aad_ciphertext_or_length_is_a_bad_tag() {
        let (key, nonce, sealed, aad) = vector();
        for i in [0, sealed.len() - TAG_BYTES, sealed.len() - 1] {
            let mut altered = sealed.clone();
            altered[i] ^= 0x80;
            assert_eq!(key.open(&nonce, &altered, &aad), Err(BadTag), "byte {i}");
        }
        assert_eq!(key.open(&nonce, &sealed, &aad[1..]), Err(BadTag));
        assert_eq!(
            key.open(&nonce, &sealed[..sealed.len() - 1], &aad),
            Err(BadTag)
        );
        assert_eq!(
            key.open(&nonce, &sealed[..TAG_BYTES - 1], &aad),
            Err(BadTag)
        );
        assert_eq!(key.open(&nonce, &[], &aad), Err(BadTag));
        let other = AesKey::new([0; KEY_BYTES]);
        assert_eq!(other.open(&nonce, &sealed, &aad), Err(BadTag));
    }
}
