//! AES-256-GCM opening through the runtime's WebCrypto (`crypto.subtle.decrypt`), for the token
//! handler's cookies: native AES and GHASH in workerd instead of RustCrypto's software ones
//! compiled to Wasm (measured in docs/decisions.md, "Token handler: WebCrypto AES-GCM").
//!
//! The primitive only ([`edgeward::aead`]): the core parses the cookie, picks the key by version
//! and checks the expiry. The key is imported once per isolate (raw, not extractable, for
//! `decrypt` only) and kept with its bytes. Verdicts equal RustCrypto's: the nonce is always 96
//! bits and the tag always 128 (WebCrypto's defaults), and every rejection or JS exception (a
//! wrong tag, data shorter than a tag) is a [`BadTag`]; `tests/e2e/webcrypto.test.mjs` holds both
//! to the same vectors through the self-test.

use crate::webcrypto::{bytes, object};
use edgeward::aead::{AesKey, BadTag, KEY_BYTES, NONCE_BYTES};
use js_sys::{Array, Object, Promise, Uint8Array};
use std::cell::RefCell;
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = ["crypto", "subtle"], js_name = importKey, catch)]
    fn import_key(
        format: &str,
        key_data: &[u8],
        algorithm: &str,
        extractable: bool,
        usages: &Array,
    ) -> Result<Promise, JsValue>;

    #[wasm_bindgen(js_namespace = ["crypto", "subtle"], js_name = decrypt, catch)]
    fn subtle_decrypt(algorithm: &Object, key: &JsValue, data: &[u8]) -> Result<Promise, JsValue>;
}

/// Imported keys kept per isolate: a configuration has a handful of cookie keys (the current one
/// and those still in their rotation overlap). When full, the oldest goes.
const KEY_CACHE_ENTRIES: usize = 8;

thread_local! {
    static KEYS: RefCell<Vec<([u8; KEY_BYTES], JsValue)>> = const { RefCell::new(Vec::new()) };
}

/// The plaintext of `sealed` (`ciphertext ‖ tag`) with `aad`, or [`BadTag`].
pub async fn open(
    key: &AesKey,
    nonce: &[u8; NONCE_BYTES],
    sealed: &[u8],
    aad: &[u8],
) -> Result<Vec<u8>, BadTag> {
    let crypto_key = imported(key).await?;
    let algorithm = object(&[
        ("name", "AES-GCM".into()),
        ("iv", bytes(nonce)),
        ("additionalData", bytes(aad)),
    ]);
    let promise = subtle_decrypt(&algorithm, &crypto_key, sealed).map_err(|_| BadTag)?;
    let plaintext = crate::entry::wait(promise).await.map_err(|_| BadTag)?;
    Ok(Uint8Array::new(&plaintext).to_vec())
}

/// The cached `CryptoKey` for `key`, importing it on a miss.
async fn imported(key: &AesKey) -> Result<JsValue, BadTag> {
    let raw = key.bytes();
    let hit = KEYS.with(|keys| {
        let keys = keys.borrow();
        keys.iter().find(|(k, _)| k == raw).map(|(_, c)| c.clone())
    });
    if let Some(crypto_key) = hit {
        return Ok(crypto_key);
    }
    let usages = Array::of1(&"decrypt".into());
    let promise = import_key("raw", raw, "AES-GCM", false, &usages).map_err(|_| BadTag)?;
    let crypto_key = crate::entry::wait(promise).await.map_err(|_| BadTag)?;
    KEYS.with(|keys| {
        let mut keys = keys.borrow_mut();
        if keys.len() >= KEY_CACHE_ENTRIES {
            keys.remove(0);
        }
        keys.push((*raw, crypto_key.clone()));
    });
    Ok(crypto_key)
}
