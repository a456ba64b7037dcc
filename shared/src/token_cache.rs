//! A per-isolate cache of verified JWT access tokens: a token presented again costs a hash-map
//! lookup and the time checks instead of decoding, key resolution (x5c chain, JWKS) and a
//! signature check.
//!
//! What keeps it as strict as a full verification:
//! - Only a token that passed the whole verification (key source, signature, claims) is stored,
//!   by [`TokenVerifier`](crate::access_token::TokenVerifier) after the fact.
//! - The key is the exact compact serialization. A token that differs in any byte (another
//!   signature over the same header and claims, another encoding) is a miss, verified in full.
//! - Every hit re-runs the time-dependent claim checks (`exp`, `nbf`, `iat`, maximum age, with the
//!   issuer's leeway) at the current time ([`claims::check_times`](crate::claims::check_times)).
//! - An entry is served only inside the validity period of its key source (an x5c path's
//!   `notBefore`..`notAfter`) and for at most [`MAX_ENTRY_AGE`] seconds after it was verified, so
//!   a key withdrawn from a JWK Set stops being honoured through this cache within that time.
//! - Sender constraints (DPoP proof, certificate binding) and policy are per request and run after
//!   the cache, on every request.
//!
//! Bounded: at most `capacity` entries (least recently used evicted first), and tokens longer than
//! [`MAX_CACHED_TOKEN_BYTES`] are never stored. Like the chain cache, a `std::sync::Mutex` gives
//! interior mutability; it is never contended (one thread per isolate) nor held across an
//! `.await`, and a poisoned lock behaves as an empty cache.
//!
//! # Shared tier
//!
//! Where every request is a fresh instance (Spin), the per-isolate cache never hits; there the
//! same entries also go to the platform's shared tier (the key-value store, through
//! [`Platform::cache_put`](crate::platform::Platform::cache_put); `token_cache_shared`). The rules
//! above hold, plus:
//! - The name is [`shared_key`]: SHA-256 over a fingerprint of the configuration that verified the
//!   token (the configuration text, the trust anchors, the crate version: [`fingerprint`]) and the
//!   token. Never the token itself; and an entry written under other rules (another route set,
//!   audience, issuer list, CA, or a gateway sharing the store with another configuration) is never
//!   found.
//! - The entry expires at the earliest of the token's `exp`, [`MAX_ENTRY_AGE`] after the
//!   verification and the key source's `notAfter`; the reader checks that window itself and
//!   re-runs the time checks, whatever the store says about expiry.
//! - An entry that does not decode, or names an issuer that is not the configured one at its
//!   index, is a miss: the token is verified in full. A store that fails is a miss too.
//! - The store is trusted like the introspection tier and the DPoP replay store: whoever can write
//!   to it can make the gateway accept claims. Grant it to the gateway only.

use crate::token::{TokenKind, VerifiedToken};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;

/// Longest an entry is served after its verification, in seconds. The JWKS cache already keeps a
/// withdrawn key for up to its `max_ttl` (1 h by default); five minutes adds little to that.
pub const MAX_ENTRY_AGE: u64 = 300;

/// Longest token stored, in bytes. Real access tokens are 0.5–3 KiB; with the default capacity
/// this bounds the cache at a few MiB (token plus its decoded claims) in the worst case.
pub const MAX_CACHED_TOKEN_BYTES: usize = 4096;

/// Default capacity: well above the distinct tokens one isolate sees within [`MAX_ENTRY_AGE`] at
/// edge request rates, ≈ 1–2 MiB when full of typical tokens.
pub const DEFAULT_ENTRIES: usize = 512;

/// A verified token and when it may be served.
#[derive(Debug)]
struct Entry {
    /// Index of the issuer (in configuration order) whose rules verified it.
    issuer: usize,
    token: VerifiedToken,
    /// Served only while `valid_from <= now <= valid_until`.
    valid_from: u64,
    valid_until: u64,
    /// Recency stamp for eviction.
    used: u64,
}

#[derive(Debug, Default)]
struct Inner {
    entries: HashMap<Box<str>, Entry>,
    clock: u64,
}

/// The cache. See the module documentation for its rules.
#[derive(Debug)]
pub struct TokenCache {
    capacity: usize,
    inner: Mutex<Inner>,
}

impl TokenCache {
    /// An empty cache holding at most `capacity` entries; 0 disables it.
    pub fn new(capacity: usize) -> TokenCache {
        TokenCache {
            capacity,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// The cached verification of exactly `token`, with the index of its issuer, if it may be
    /// served at `now`. The caller must still run the time-dependent claim checks.
    pub fn get(&self, token: &str, now: u64) -> Option<(usize, VerifiedToken)> {
        if self.capacity == 0 {
            return None;
        }
        let mut inner = self.inner.lock().ok()?;
        inner.clock += 1;
        let clock = inner.clock;
        let entry = inner.entries.get_mut(token)?;
        if now < entry.valid_from || now > entry.valid_until {
            inner.entries.remove(token);
            return None;
        }
        entry.used = clock;
        Some((entry.issuer, entry.token.clone()))
    }

    /// Stores a token that has just been verified in full at `now` by issuer number `issuer`.
    /// `key_valid` is the validity period of its key source (`None`: unlimited, e.g. a JWK Set).
    pub fn insert(
        &self,
        token: &str,
        issuer: usize,
        verified: &VerifiedToken,
        now: u64,
        key_valid: Option<(u64, u64)>,
    ) {
        if self.capacity == 0 || token.len() > MAX_CACHED_TOKEN_BYTES {
            return;
        }
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        let (from, until) = key_valid.unwrap_or((0, u64::MAX));
        inner.clock += 1;
        let entry = Entry {
            issuer,
            token: verified.clone(),
            valid_from: from,
            valid_until: until.min(now.saturating_add(MAX_ENTRY_AGE)),
            used: inner.clock,
        };
        if !inner.entries.contains_key(token) && inner.entries.len() >= self.capacity {
            // Evicting scans the entries: only on an insert into a full cache, which follows a
            // full verification that costs far more.
            let oldest = inner
                .entries
                .iter()
                .min_by_key(|(_, e)| e.used)
                .map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                inner.entries.remove(&oldest);
            }
        }
        inner.entries.insert(token.into(), entry);
    }

    /// Stores `verified` under `key` too: the entry held for `token` (its issuer and key window),
    /// served under `key` until `until` at the latest (inclusive). For a split token
    /// ([`crate::split_token`]): its whole JWS is verified and stored under its compact
    /// serialization, and the next request finds it by the hash of its signature part, for no
    /// longer than the isolate keeps the published entry. Nothing is stored when `token` has no
    /// usable entry (the cache is disabled, the token too long) or `until` has passed.
    pub fn alias(&self, token: &str, key: &str, verified: &VerifiedToken, now: u64, until: u64) {
        if until < now {
            return;
        }
        let Ok(inner) = self.inner.lock() else {
            return;
        };
        let Some(held) = inner.entries.get(token) else {
            return;
        };
        let (issuer, window) = (held.issuer, (held.valid_from, held.valid_until.min(until)));
        drop(inner);
        self.insert(key, issuer, verified, now, Some(window));
    }

    /// Forgets `token` (e.g. when a time check fails on a hit).
    pub fn remove(&self, token: &str) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.entries.remove(token);
        }
    }

    /// Number of entries held.
    pub fn len(&self) -> usize {
        self.inner.lock().map(|i| i.entries.len()).unwrap_or(0)
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Names of shared-tier entries start with this (under [`crate::kv::PREFIX`], so the key-value
/// store's sweep bounds and expires them with the introspection entries).
const SHARED_PREFIX: &str = "edgeward/token/";

/// Format version of a shared-tier value; another version is a miss.
const SHARED_VERSION: u64 = 1;

/// What a shared-tier entry is bound to: SHA-256 over the crate version, the configuration text
/// and the trust anchors (each length-prefixed). Computed once per loaded configuration.
pub fn fingerprint(config_text: &str, anchors: &[&[u8]]) -> [u8; 32] {
    let mut hash = Sha256::new();
    let mut field = |bytes: &[u8]| {
        hash.update((bytes.len() as u64).to_be_bytes());
        hash.update(bytes);
    };
    field(b"edgeward verified-token cache");
    field(crate::VERSION.as_bytes());
    field(config_text.as_bytes());
    for anchor in anchors {
        field(anchor);
    }
    hash.finalize().into()
}

/// The shared-tier name of `token` verified under the configuration `fingerprint`.
pub fn shared_key(fingerprint: &[u8; 32], token: &str) -> String {
    let digest = Sha256::new()
        .chain_update(fingerprint)
        .chain_update(token.as_bytes())
        .finalize();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("{SHARED_PREFIX}{hex}")
}

/// A verified token as read from the shared tier.
#[derive(Debug, Clone, PartialEq)]
pub struct SharedEntry {
    /// Index of the issuer (in configuration order) whose rules verified it.
    pub issuer: usize,
    /// The verified token (a JWT: no phantom JWT).
    pub token: VerifiedToken,
    /// Served only while `valid_from <= now <= valid_until`.
    pub valid_from: u64,
    /// See `valid_from`.
    pub valid_until: u64,
}

/// The shared-tier value for a token just verified at `now` by issuer number `issuer`, with the
/// number of seconds to keep it: until the earliest of its `exp`, `now + MAX_ENTRY_AGE` and the
/// end of `key_valid`. `None` when it must not be stored (too long, no time left).
pub fn encode_shared(
    token: &str,
    issuer: usize,
    verified: &VerifiedToken,
    now: u64,
    key_valid: Option<(u64, u64)>,
) -> Option<(Vec<u8>, u64)> {
    if token.len() > MAX_CACHED_TOKEN_BYTES || verified.kind != TokenKind::Jwt {
        return None;
    }
    let (from, until) = key_valid.unwrap_or((0, u64::MAX));
    // `exp` is required by the claim checks; a fractional one is rounded down.
    let exp = verified.claims.get("exp").and_then(Value::as_f64)?;
    let exp = if exp >= 0.0 { exp as u64 } else { 0 };
    let until = until.min(now.saturating_add(MAX_ENTRY_AGE)).min(exp);
    if until <= now || from > now {
        return None;
    }
    let value = json!({
        "v": SHARED_VERSION, "issuer": issuer, "iss": verified.issuer,
        "from": from, "until": until, "claims": verified.claims,
    });
    Some((value.to_string().into_bytes(), until - now))
}

/// A shared-tier value read back; `None` for anything that is not exactly what
/// [`encode_shared`] writes (a miss, never an accept).
pub fn decode_shared(bytes: &[u8]) -> Option<SharedEntry> {
    let mut value = crate::strict::object(bytes)?;
    if value.get("v").and_then(Value::as_u64) != Some(SHARED_VERSION) {
        return None;
    }
    let number = |name: &str| value.get(name).and_then(Value::as_u64);
    let (issuer, valid_from, valid_until) = (number("issuer")?, number("from")?, number("until")?);
    let iss = value.get("iss").and_then(Value::as_str)?.to_owned();
    let claims: Map<String, Value> = match value.remove("claims")? {
        Value::Object(claims) => claims,
        _ => return None,
    };
    Some(SharedEntry {
        issuer: usize::try_from(issuer).ok()?,
        token: VerifiedToken {
            issuer: iss,
            claims,
            kind: TokenKind::Jwt,
            phantom_jwt: None,
            ath: None,
        },
        valid_from,
        valid_until,
    })
}

/// Whether verified JWTs are kept in the platform's shared tier as well as per isolate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SharedTokenCache {
    /// Where every request runs in a fresh instance (so the per-isolate cache never hits) and the
    /// platform has a shared store: Spin with its key-value store. Not on Workers, whose isolates
    /// keep their own cache.
    #[default]
    Auto,
    /// Wherever the platform has a shared tier (on Workers: a Cache API lookup when a token is
    /// not in the isolate's cache).
    On,
    /// Never.
    Off,
}

crate::by_name::deserialize_by_name!(SharedTokenCache {
    "auto" => SharedTokenCache::Auto,
    "on" => SharedTokenCache::On,
    "off" => SharedTokenCache::Off,
});

#[cfg(test)]
mod tests {
    use super::*;

    fn verified(sub: &str) -> VerifiedToken {
        let claims = json!({ "sub": sub });
        VerifiedToken {
            issuer: "https://issuer.test".into(),
            claims: claims.as_object().unwrap().clone(),
            kind: TokenKind::Jwt,
            phantom_jwt: None,
            ath: None,
        }
    }

    #[test]
    fn serves_only_the_exact_token_inside_its_window() {
        let cache = TokenCache::new(8);
        cache.insert("a.b.c", 0, &verified("alice"), 1_000, Some((900, 1_200)));
        assert_eq!(cache.get("a.b.c", 1_100).unwrap().1, verified("alice"));
        assert!(cache.get("a.b.d", 1_100).is_none(), "another signature");
        assert!(
            cache.get("a.b.c", 899).is_none(),
            "before the key's notBefore"
        );
        cache.insert("a.b.c", 0, &verified("alice"), 1_000, Some((900, 1_200)));
        assert!(
            cache.get("a.b.c", 1_201).is_none(),
            "after the key's notAfter"
        );
        assert!(cache.is_empty(), "an entry found stale is dropped");
    }

    #[test]
    fn entries_age_out_even_with_an_unlimited_key() {
        let cache = TokenCache::new(8);
        cache.insert("t", 3, &verified("bob"), 1_000, None);
        assert_eq!(cache.get("t", 1_000 + MAX_ENTRY_AGE).unwrap().0, 3);
        assert!(cache.get("t", 1_001 + MAX_ENTRY_AGE).is_none());
    }

    #[test]
    fn bounded_least_recently_used_first() {
        let cache = TokenCache::new(2);
        cache.insert("one", 0, &verified("1"), 10, None);
        cache.insert("two", 0, &verified("2"), 10, None);
        assert!(cache.get("one", 10).is_some()); // "two" is now the least recently used
        cache.insert("three", 0, &verified("3"), 10, None);
        assert_eq!(cache.len(), 2);
        assert!(cache.get("two", 10).is_none());
        assert!(cache.get("one", 10).is_some());
        assert!(cache.get("three", 10).is_some());
    }

    #[test]
    fn shared_entries_round_trip_and_expire_by_exp_age_or_key() {
        let mut token = verified("carol");
        token.claims.insert("exp".into(), json!(1_100));
        let (bytes, ttl) = encode_shared("t", 2, &token, 1_000, Some((900, 2_000))).unwrap();
        assert_eq!(ttl, 100, "until exp");
        let entry = decode_shared(&bytes).unwrap();
        assert_eq!(
            (entry.issuer, entry.valid_from, entry.valid_until),
            (2, 900, 1_100)
        );
        assert_eq!(entry.token, token);
        let (_, ttl) = encode_shared("t", 0, &token, 1_000, Some((900, 1_010))).unwrap();
        assert_eq!(ttl, 10, "until the key's notAfter");
        token.claims.insert("exp".into(), json!(5_000.5));
        let (_, ttl) = encode_shared("t", 0, &token, 1_000, None).unwrap();
        assert_eq!(ttl, MAX_ENTRY_AGE);
        assert!(
            encode_shared("t", 0, &token, 5_000, None).is_none(),
            "no time left"
        );
        let long = "x".repeat(MAX_CACHED_TOKEN_BYTES + 1);
        assert!(encode_shared(&long, 0, &token, 1_000, None).is_none());
    }

    #[test]
    fn a_broken_shared_entry_is_a_miss() {
        let mut token = verified("dave");
        token.claims.insert("exp".into(), json!(2_000));
        let (bytes, _) = encode_shared("t", 0, &token, 1_000, None).unwrap();
        assert!(decode_shared(&bytes[..bytes.len() - 1]).is_none());
        assert!(decode_shared(b"").is_none());
        let text = String::from_utf8(bytes).unwrap();
        for broken in [
            text.replace("\"v\":1", "\"v\":2"),
            text.replace("\"claims\":{", "\"claims\":\"x\",\"c\":{"),
            text.replacen('{', "{\"v\":1,", 1),
            text.replace("\"issuer\":0", "\"issuer\":-1"),
        ] {
            assert!(decode_shared(broken.as_bytes()).is_none(), "{broken}");
        }
    }

    #[test]
    fn shared_keys_hash_the_token_and_the_configuration() {
        let a = fingerprint("{\"origin\":\"a\"}", &[b"ca"]);
        let key = shared_key(&a, "header.claims.sig");
        assert!(key.starts_with("edgeward/token/") && key.len() == SHARED_PREFIX.len() + 64);
        assert!(!key.contains("claims"));
        assert_ne!(key, shared_key(&a, "header.claims.sig2"));
        let b = fingerprint("{\"origin\":\"b\"}", &[b"ca"]);
        assert_ne!(key, shared_key(&b, "header.claims.sig"));
        assert_ne!(a, fingerprint("{\"origin\":\"a\"}", &[b"other ca"]));
        assert_ne!(a, fingerprint("{\"origin\":\"a\"}", &[]));
    }

    #[test]
    fn disabled_or_oversized_tokens_are_not_stored() {
        let off = TokenCache::new(0);
        off.insert("t", 0, &verified("x"), 10, None);
        assert!(off.get("t", 10).is_none());
        let cache = TokenCache::new(4);
        let long = "x".repeat(MAX_CACHED_TOKEN_BYTES + 1);
        cache.insert(&long, 0, &verified("x"), 10, None);
        assert!(cache.is_empty());
    }
}
