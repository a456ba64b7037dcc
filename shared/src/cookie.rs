//! Encrypted cookies for the token handler: sealing and opening values with AES-256-GCM
//! (NIST SP 800-38D, through RustCrypto's `aes-gcm`), rendering `Set-Cookie` fields and reading the
//! `Cookie` field (RFC 6265bis).
//!
//! A sealed value is `v{version}.{base64url(nonce ‖ ciphertext ‖ tag)}`: a 96-bit random nonce
//! (from the platform, never a counter), the key's version so a rotated-out key still opens the
//! cookies it sealed during the overlap, and the cookie's name as associated data, so a value cut
//! from one cookie never opens as another. The plaintext starts with its own expiry (8 bytes, Unix
//! seconds, big-endian): a browser that ignores `Max-Age`, or a thief replaying a copied value,
//! gets nothing after it.
//!
//! A value opened once is remembered per isolate ([`OPENED_ENTRIES`] values, each until its
//! sealed expiry): the proxy path opens the same access-token cookie on every API call, and a
//! lookup of the exact value costs far less than decoding and decrypting it again (measured in
//! docs/decisions.md). Only values that opened are kept, under their cookie name, so an altered
//! value, or one sent under another name, still goes through the full check and is refused.
//!
//! Not done here: deciding what goes into a cookie (the OAuth agent), and binding a cookie to a
//! client (a stolen cookie works until its expiry: the threat model in `docs/security.md`).

use crate::aead::{AesKey, NONCE_BYTES, TAG_BYTES};
use crate::error::CookieFault;
use crate::lru::Lru;
use crate::platform::Platform;
use base64ct::{Base64UrlUnpadded, Encoding};
use std::sync::Mutex;

/// Largest `Set-Cookie` field (name, value and attributes) a browser keeps: RFC 6265bis §5.7 lets
/// user agents drop cookies whose name and value exceed 4096 bytes, and Chromium, Firefox and
/// Safari do; the attributes are counted too so the limit never depends on the browser's reading.
pub const MAX_SET_COOKIE_BYTES: usize = 4096;

/// Bytes of the expiry at the start of the plaintext.
const EXPIRY_BYTES: usize = 8;

/// Opened values remembered per isolate (module documentation). Cookies are at most 4 KiB, so
/// the cache holds at most about 2 MiB.
pub const OPENED_ENTRIES: usize = 512;

/// The cookie keys: the first seals, every one opens (key rotation: add the new key first, keep
/// the old one until the cookies it sealed have expired).
pub struct CookieKeys {
    keys: Vec<(u32, AesKey)>,
    /// Sealed value → what it opened to, for the cookie name it opened under.
    opened: Mutex<Lru<Box<str>, Opened>>,
}

/// A value that opened: under which cookie name, until when, to what.
struct Opened {
    name: Box<str>,
    expires: u64,
    plaintext: Vec<u8>,
}

impl std::fmt::Debug for CookieKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let versions: Vec<u32> = self.keys.iter().map(|(v, _)| *v).collect();
        f.debug_struct("CookieKeys")
            .field("versions", &versions)
            .finish()
    }
}

/// A sealed value taken apart, before its tag is checked: the key of its version, and
/// `nonce ‖ ciphertext ‖ tag`.
struct Parts<'k> {
    key: &'k AesKey,
    raw: Vec<u8>,
}

impl CookieKeys {
    /// Keys by version, the sealing key first; `None` when the list is empty.
    pub fn new(keys: &[(u32, [u8; 32])]) -> Option<CookieKeys> {
        if keys.is_empty() {
            return None;
        }
        let keys = keys
            .iter()
            .map(|(version, key)| (*version, AesKey::new(*key)))
            .collect();
        Some(CookieKeys {
            keys,
            opened: Mutex::new(Lru::default()),
        })
    }

    /// Seals `plaintext` for the cookie `name`, to be refused after `expires` (Unix seconds).
    /// `nonce` must be fresh random bytes ([`Platform::random`]). Always RustCrypto: sealing
    /// happens only on the agent's endpoints.
    pub fn seal(&self, name: &str, plaintext: &[u8], expires: u64, nonce: [u8; 12]) -> String {
        let Some((version, key)) = self.keys.first() else {
            return String::new();
        };
        let mut message = Vec::with_capacity(EXPIRY_BYTES + plaintext.len());
        message.extend_from_slice(&expires.to_be_bytes());
        message.extend_from_slice(plaintext);
        let sealed = key.seal(&nonce, &message, name.as_bytes());
        let mut raw = Vec::with_capacity(NONCE_BYTES + sealed.len());
        raw.extend_from_slice(&nonce);
        raw.extend_from_slice(&sealed);
        format!("v{version}.{}", Base64UrlUnpadded::encode_string(&raw))
    }

    /// Opens a value sealed for the cookie `name`, at `now`, the tag checked by the platform's
    /// AES-GCM backend ([`Platform::aes_gcm_open`]). Errors: [`CookieFault::Malformed`] (not
    /// `v<n>.<base64url>`, too short), [`CookieFault::UnknownKey`] (no key of that version),
    /// [`CookieFault::Tampered`] (the tag does not verify: altered, truncated, sealed with another
    /// key or for another cookie name), [`CookieFault::Expired`].
    pub async fn open<P: Platform>(
        &self,
        platform: &P,
        name: &str,
        value: &str,
        now: u64,
    ) -> Result<Vec<u8>, CookieFault> {
        if let Some(remembered) = self.remembered(name, value, now) {
            return remembered;
        }
        let Parts { key, raw } = self.parts(value)?;
        let (nonce, sealed) = raw
            .split_first_chunk::<NONCE_BYTES>()
            .ok_or(CookieFault::Malformed)?;
        let message = platform
            .aes_gcm_open(key, nonce, sealed, name.as_bytes())
            .await
            .map_err(|_| CookieFault::Tampered)?;
        let (expiry, plaintext) = message
            .split_first_chunk::<EXPIRY_BYTES>()
            .ok_or(CookieFault::Malformed)?;
        let expires = u64::from_be_bytes(*expiry);
        if expires <= now {
            return Err(CookieFault::Expired);
        }
        self.remember(name, value, expires, plaintext);
        Ok(plaintext.to_vec())
    }

    /// The plaintext `value` opened to under `name` before, or [`CookieFault::Expired`] once its
    /// expiry has passed; `None` when it has not been opened under that name (check it in full).
    fn remembered(
        &self,
        name: &str,
        value: &str,
        now: u64,
    ) -> Option<Result<Vec<u8>, CookieFault>> {
        let mut opened = self.opened.lock().ok()?;
        let entry = opened.get(value).filter(|entry| *entry.name == *name)?;
        if entry.expires <= now {
            return Some(Err(CookieFault::Expired));
        }
        Some(Ok(entry.plaintext.clone()))
    }

    fn remember(&self, name: &str, value: &str, expires: u64, plaintext: &[u8]) {
        if let Ok(mut opened) = self.opened.lock() {
            let entry = Opened {
                name: name.into(),
                expires,
                plaintext: plaintext.to_vec(),
            };
            opened.insert(value.into(), entry, OPENED_ENTRIES);
        }
    }

    /// The key and the decoded data of `v<version>.<base64url>`, at least a nonce and a tag long.
    fn parts(&self, value: &str) -> Result<Parts<'_>, CookieFault> {
        let (version, data) = value
            .strip_prefix('v')
            .and_then(|rest| rest.split_once('.'))
            .ok_or(CookieFault::Malformed)?;
        if version.is_empty() || !version.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CookieFault::Malformed);
        }
        let version: u32 = version.parse().map_err(|_| CookieFault::Malformed)?;
        let (_, key) = self
            .keys
            .iter()
            .find(|(v, _)| *v == version)
            .ok_or(CookieFault::UnknownKey)?;
        let raw = Base64UrlUnpadded::decode_vec(data).map_err(|_| CookieFault::Malformed)?;
        if raw.len() < NONCE_BYTES + TAG_BYTES {
            return Err(CookieFault::Malformed);
        }
        Ok(Parts { key, raw })
    }
}

/// The `Set-Cookie` value for a cookie the browser keeps for `max_age` seconds:
/// `HttpOnly; Secure; SameSite=Strict` always (RFC 6265bis §4.1.2), `Path` as given (`__Host-`
/// names need `/`, §4.1.3.2). Refused with [`CookieFault::TooLarge`] when the field would exceed
/// [`MAX_SET_COOKIE_BYTES`]: a browser would drop it silently.
pub fn set_cookie(
    name: &str,
    value: &str,
    path: &str,
    max_age: u64,
) -> Result<String, CookieFault> {
    let field = format!(
        "{name}={value}; Path={path}; Max-Age={max_age}; HttpOnly; Secure; SameSite=Strict"
    );
    match field.len() <= MAX_SET_COOKIE_BYTES {
        true => Ok(field),
        false => Err(CookieFault::TooLarge),
    }
}

/// The `Set-Cookie` value that removes a cookie set by [`set_cookie`] with the same name and path
/// (RFC 6265bis §5.7: an expiry in the past evicts it).
pub fn clear_cookie(name: &str, path: &str) -> String {
    format!("{name}=; Path={path}; Max-Age=0; HttpOnly; Secure; SameSite=Strict")
}

/// The value of the cookie `name` in the request's `Cookie` fields (RFC 6265bis §5.8.3:
/// `name=value` pairs separated by `; `, HTTP/2 may split them over several fields). Names compare
/// exactly. `Err(())` when the name occurs more than once: a cookie planted for another path or by
/// a sibling domain must not be chosen by the order the browser sends them in.
#[allow(clippy::result_unit_err)]
pub fn find<'a>(fields: impl Iterator<Item = &'a str>, name: &str) -> Result<Option<&'a str>, ()> {
    let mut found = None;
    for pair in fields.flat_map(|field| field.split(';')) {
        let Some((key, value)) = pair.trim().split_once('=') else {
            continue;
        };
        if key.trim() == name {
            if found.is_some() {
                return Err(());
            }
            found = Some(value.trim());
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aead::BadTag;
    use crate::crypto::RustCrypto;
    use crate::platform::{FetchError, FetchRequest, FetchResponse, LogLevel};
    use futures_executor::block_on;
    use std::cell::RefCell;

    const NAME: &str = "__Host-ew-at";

    /// What the core handed the backend: key bytes, nonce, `ciphertext ‖ tag`, associated data.
    type Call = (Vec<u8>, [u8; NONCE_BYTES], Vec<u8>, Vec<u8>);

    /// A host whose AES-GCM backend is RustCrypto, or answers `forced`, and records each call.
    #[derive(Default)]
    struct Host {
        forced: Option<Result<Vec<u8>, BadTag>>,
        calls: RefCell<Vec<Call>>,
    }

    impl Platform for Host {
        type Verifier = RustCrypto;
        fn verifier(&self) -> &RustCrypto {
            &RustCrypto
        }
        fn now(&self) -> u64 {
            0
        }
        fn log(&self, _: LogLevel, _: &str) {}
        fn random(&self, buf: &mut [u8]) {
            buf.fill(0);
        }
        async fn fetch(&self, _: FetchRequest) -> Result<FetchResponse, FetchError> {
            Err(FetchError::Unreachable)
        }
        async fn aes_gcm_open(
            &self,
            key: &AesKey,
            nonce: &[u8; NONCE_BYTES],
            sealed: &[u8],
            aad: &[u8],
        ) -> Result<Vec<u8>, BadTag> {
            let call = (key.bytes().to_vec(), *nonce, sealed.to_vec(), aad.to_vec());
            self.calls.borrow_mut().push(call);
            match &self.forced {
                Some(answer) => answer.clone(),
                None => key.open(nonce, sealed, aad),
            }
        }
    }

    /// A host with every default: AES-GCM by RustCrypto ([`AesKey::open`]).
    struct Bare;

    impl Platform for Bare {
        type Verifier = RustCrypto;
        fn verifier(&self) -> &RustCrypto {
            &RustCrypto
        }
        fn now(&self) -> u64 {
            0
        }
        fn log(&self, _: LogLevel, _: &str) {}
        fn random(&self, buf: &mut [u8]) {
            buf.fill(0);
        }
        async fn fetch(&self, _: FetchRequest) -> Result<FetchResponse, FetchError> {
            Err(FetchError::Unreachable)
        }
    }

    impl CookieKeys {
        fn open_with_default(
            &self,
            name: &str,
            value: &str,
            now: u64,
        ) -> Result<Vec<u8>, CookieFault> {
            block_on(self.open(&Bare, name, value, now))
        }
    }

    fn keys(list: &[(u32, u8)]) -> CookieKeys {
        let list: Vec<(u32, [u8; 32])> = list.iter().map(|(v, b)| (*v, [*b; 32])).collect();
        CookieKeys::new(&list).unwrap()
    }

    #[test]
    fn round_trip() {
        let k = keys(&[(1, 7)]);
        let sealed = k.seal(NAME, b"token", 1000, [3; 12]);
        assert!(sealed.starts_with("v1."));
        assert_eq!(k.open_with_default(NAME, &sealed, 999).unwrap(), b"token");
    }

    #[test]
    fn each_seal_with_a_fresh_nonce_differs() {
        let k = keys(&[(1, 7)]);
        assert_ne!(
            k.seal(NAME, b"token", 1000, [3; 12]),
            k.seal(NAME, b"token", 1000, [4; 12])
        );
    }

    #[test]
    fn tampered_values_are_refused() {
        let k = keys(&[(1, 7)]);
        let sealed = k.seal(NAME, b"token", 1000, [3; 12]);
        let (prefix, data) = sealed.split_at(3);
        let mut raw = Base64UrlUnpadded::decode_vec(data).unwrap();
        for i in [0, 12, raw.len() - 1] {
            raw[i] ^= 1;
            let altered = format!("{prefix}{}", Base64UrlUnpadded::encode_string(&raw));
            assert_eq!(
                k.open_with_default(NAME, &altered, 1),
                Err(CookieFault::Tampered),
                "byte {i}"
            );
            raw[i] ^= 1;
        }
    }

    #[test]
    fn truncated_values_are_refused() {
        let k = keys(&[(1, 7)]);
        let sealed = k.seal(NAME, b"token", 1000, [3; 12]);
        for cut in [sealed.len() - 1, sealed.len() - 4, 20, 4, 3, 2, 1, 0] {
            let truncated = &sealed[..cut];
            assert!(
                k.open_with_default(NAME, truncated, 1).is_err(),
                "cut at {cut}"
            );
        }
        for junk in [
            "", "v", "v1", "v1.", "vx.AAAA", "1.AAAA", "v1.!!!!", "v-1.AAAA",
        ] {
            assert!(k.open_with_default(NAME, junk, 1).is_err(), "{junk:?}");
        }
    }

    #[test]
    fn wrong_key_is_refused() {
        let sealed = keys(&[(1, 7)]).seal(NAME, b"token", 1000, [3; 12]);
        assert_eq!(
            keys(&[(1, 8)]).open_with_default(NAME, &sealed, 1),
            Err(CookieFault::Tampered)
        );
        assert_eq!(
            keys(&[(2, 7)]).open_with_default(NAME, &sealed, 1),
            Err(CookieFault::UnknownKey)
        );
    }

    #[test]
    fn rotated_key_still_opens_and_new_cookies_use_the_first_key() {
        let old = keys(&[(1, 7)]);
        let sealed = old.seal(NAME, b"token", 1000, [3; 12]);
        let rotated = keys(&[(2, 9), (1, 7)]);
        assert_eq!(
            rotated.open_with_default(NAME, &sealed, 1).unwrap(),
            b"token"
        );
        let fresh = rotated.seal(NAME, b"token", 1000, [3; 12]);
        assert!(fresh.starts_with("v2."));
        assert_eq!(
            old.open_with_default(NAME, &fresh, 1),
            Err(CookieFault::UnknownKey)
        );
    }

    #[test]
    fn expired_values_are_refused() {
        let k = keys(&[(1, 7)]);
        let sealed = k.seal(NAME, b"token", 1000, [3; 12]);
        assert_eq!(
            k.open_with_default(NAME, &sealed, 1000),
            Err(CookieFault::Expired)
        );
        assert_eq!(
            k.open_with_default(NAME, &sealed, 5000),
            Err(CookieFault::Expired)
        );
    }

    #[test]
    fn value_for_another_cookie_name_is_refused() {
        let k = keys(&[(1, 7)]);
        let sealed = k.seal("__Host-ew-id", b"token", 1000, [3; 12]);
        assert_eq!(
            k.open_with_default(NAME, &sealed, 1),
            Err(CookieFault::Tampered)
        );
    }

    #[test]
    fn the_core_decides_and_the_backend_only_checks_the_tag() {
        let k = keys(&[(2, 9), (1, 7)]);
        let sealed = keys(&[(1, 7)]).seal(NAME, b"token", 1000, [3; 12]);
        let host = Host::default();
        assert_eq!(
            block_on(k.open(&host, NAME, &sealed, 999)).unwrap(),
            b"token"
        );
        let calls = host.calls.borrow();
        let (key, nonce, data, aad) = &calls[0];
        assert_eq!(key, &[7; 32], "the key of the value's version");
        assert_eq!(nonce, &[3; 12]);
        assert_eq!(data.len(), 8 + b"token".len() + TAG_BYTES);
        assert_eq!(
            aad,
            NAME.as_bytes(),
            "the cookie name is the associated data"
        );
        // A backend's refusal is a tampered cookie; its plaintext still has to be in date.
        let refusing = Host {
            forced: Some(Err(BadTag)),
            ..Host::default()
        };
        // Fresh keys for each: a value that opened is remembered (the next test).
        let open = |host: &Host, now| block_on(keys(&[(1, 7)]).open(host, NAME, &sealed, now));
        assert_eq!(open(&refusing, 1), Err(CookieFault::Tampered));
        let stale = Host {
            forced: Some(Ok(10u64.to_be_bytes().to_vec())),
            ..Host::default()
        };
        assert_eq!(open(&stale, 10), Err(CookieFault::Expired));
        let short = Host {
            forced: Some(Ok(vec![0; 7])),
            ..Host::default()
        };
        assert_eq!(open(&short, 1), Err(CookieFault::Malformed));
        // Malformed values and unknown versions never reach the backend.
        let counting = Host::default();
        for value in ["v3.AAAA", "v1.AAAA", "x", &sealed[..20]] {
            assert!(
                block_on(k.open(&counting, NAME, value, 1)).is_err(),
                "{value}"
            );
        }
        assert!(counting.calls.borrow().is_empty());
    }

    #[test]
    fn a_value_that_opened_is_remembered_for_its_name_until_its_expiry() {
        let k = keys(&[(1, 7)]);
        let sealed = k.seal(NAME, b"token", 1000, [3; 12]);
        let host = Host::default();
        for now in [1, 2, 999] {
            assert_eq!(
                block_on(k.open(&host, NAME, &sealed, now)).unwrap(),
                b"token"
            );
        }
        assert_eq!(host.calls.borrow().len(), 1, "opened once, then remembered");
        // Past its sealed expiry the remembered value is refused like the value itself.
        assert_eq!(
            block_on(k.open(&host, NAME, &sealed, 1000)),
            Err(CookieFault::Expired)
        );
        // Under another cookie name it is checked in full, and the name (the AAD) does not match.
        assert_eq!(
            block_on(k.open(&host, "__Host-ew-id", &sealed, 1)),
            Err(CookieFault::Tampered)
        );
        // An altered copy of a remembered value is another value: checked in full, refused.
        let mut altered = sealed.clone();
        let last = altered.pop().unwrap();
        altered.push(if last == 'A' { 'B' } else { 'A' });
        assert!(block_on(k.open(&host, NAME, &altered, 1)).is_err());
        assert_eq!(host.calls.borrow().len(), 3);
    }

    #[test]
    fn set_cookie_has_the_attributes_and_refuses_oversize() {
        let field = set_cookie(NAME, "v1.abc", "/", 600).unwrap();
        assert_eq!(
            field,
            "__Host-ew-at=v1.abc; Path=/; Max-Age=600; HttpOnly; Secure; SameSite=Strict"
        );
        let overhead = field.len() - "v1.abc".len();
        let fits = "a".repeat(MAX_SET_COOKIE_BYTES - overhead);
        assert!(set_cookie(NAME, &fits, "/", 600).is_ok());
        let over = "a".repeat(MAX_SET_COOKIE_BYTES - overhead + 1);
        assert_eq!(
            set_cookie(NAME, &over, "/", 600),
            Err(CookieFault::TooLarge)
        );
        assert_eq!(
            clear_cookie("__Secure-ew-rt", "/oauth-agent/refresh"),
            "__Secure-ew-rt=; Path=/oauth-agent/refresh; Max-Age=0; HttpOnly; Secure; SameSite=Strict"
        );
    }

    #[test]
    fn cookie_fields_are_parsed_and_duplicates_refused() {
        let fields = ["a=1; __Host-ew-at=v1.x; b=2", "c=3"];
        assert_eq!(find(fields.iter().copied(), NAME), Ok(Some("v1.x")));
        assert_eq!(find(fields.iter().copied(), "c"), Ok(Some("3")));
        assert_eq!(find(fields.iter().copied(), "d"), Ok(None));
        assert_eq!(find(fields.iter().copied(), "__Host-ew"), Ok(None));
        let twice = ["__Host-ew-at=v1.x", "__Host-ew-at=v1.y"];
        assert_eq!(find(twice.iter().copied(), NAME), Err(()));
        assert_eq!(find(["x; =; ;a=b"].into_iter(), "a"), Ok(Some("b")));
    }
}
