//! The split-token pattern (Curity): the client holds only the signature part of a JWT (RFC 7515
//! §7.1, the third segment); the header and payload stay on the server side. The authorization
//! server (or an event listener of it) publishes `header.payload` through the signed warm-up push
//! ([`crate::warmup`], entry kind `split`) into the shared tier, named by
//! `base64url(SHA-256(signature part))` and expiring at the token's `exp`. The resolve stage looks a
//! credential up by the hash of its bytes, reassembles the compact JWS and hands it to the verify
//! stage, which checks it exactly like any JWT (issuer, key from `x5c` or JWKS, signature, every
//! claim).
//!
//! Not done here: verification (the verify stage), and revocation other than by deleting the
//! entry from the shared tier or letting it expire. What the client cannot do: read the claims (it
//! has none of them), or make a forged signature part resolve (the entry is named by the hash of
//! the signature, and the reassembled JWS must verify with the issuer's key).

use crate::lru::Lru;
use crate::platform::Platform;
use base64ct::{Base64UrlUnpadded, Encoding};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::sync::{Mutex, PoisonError};

/// Longest accepted signature part, in base64url characters: an RS512 / PS512 signature with a
/// 4096-bit key is 683; 1024 leaves room and bounds the hashing a client can cause.
pub const MAX_SIGNATURE_CHARS: usize = 1024;

/// Largest `header.payload` a push may publish: 16 KiB, the default `max_token_bytes`.
pub const MAX_HEADER_PAYLOAD_BYTES: usize = 16 * 1024;

/// True for a credential with the shape of a signature part: non-empty base64url characters only,
/// within [`MAX_SIGNATURE_CHARS`].
pub fn looks_like_signature(credential: &str) -> bool {
    !credential.is_empty()
        && credential.len() <= MAX_SIGNATURE_CHARS
        && credential
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Name of an entry in the shared tier, from the base64url SHA-256 of the signature part.
fn entry_key(signature_hash: &str) -> String {
    format!("edgeward/split/{signature_hash}")
}

/// `base64url(SHA-256(signature part))`, as the publisher names the entry.
pub fn signature_hash(signature: &str) -> String {
    Base64UrlUnpadded::encode_string(&Sha256::digest(signature.as_bytes()))
}

/// The name a verified split token is cached under in the verified-token cache
/// ([`crate::token_cache`]), from its [`signature_hash`]: never a compact JWS (a JWS has dots), so
/// it cannot meet a whole token's entry.
pub fn verified_key(hash: &str) -> String {
    format!("split/{hash}")
}

/// Published entries as this isolate knows them: a bounded LRU in front of the shared tier, so a
/// warm split token costs no shared-tier call, and an isolate that received a push has its entries
/// even where the shared tier is slow to show them. An entry lives here until the token's `exp`
/// and at most `isolate_ttl` seconds, which bounds how long deleting the shared entry (revocation)
/// takes to reach every isolate.
pub struct SplitTokens {
    entries: Mutex<Entries>,
    capacity: usize,
    isolate_ttl: u64,
}

/// The per-isolate entries: signature hash → (`header.payload`, kept until).
type Entries = Lru<String, (String, u64)>;

impl SplitTokens {
    /// An empty set keeping at most `capacity` entries, each at most `isolate_ttl` seconds.
    pub fn new(capacity: usize, isolate_ttl: u64) -> SplitTokens {
        SplitTokens {
            entries: Mutex::default(),
            capacity,
            isolate_ttl,
        }
    }

    /// The compact JWS for a signature part whose [`signature_hash`] is `hash`, reassembled from
    /// its published `header.payload` (this isolate's copy, else the shared tier's), with the time
    /// until which this isolate holds that copy (exclusive; `now` when it keeps none). `None` when
    /// nothing is published under the hash (unknown, expired or deleted) or the entry is not a
    /// `header.payload`.
    pub async fn reassemble<P: Platform>(
        &self,
        platform: &P,
        hash: &str,
        signature: &str,
        now: u64,
    ) -> Option<(String, u64)> {
        let (header_payload, until) = match self.local(hash, now) {
            Some(found) => found,
            None => {
                let stored = platform.cache_get(&entry_key(hash)).await?;
                let found = String::from_utf8(stored).ok()?;
                // The shared tier's expiry is the token's `exp`; this copy is held to the same.
                let exp = payload_exp(&found)?;
                if exp <= now {
                    return None;
                }
                let until = self.keep(hash.to_owned(), found.clone(), exp, now);
                (found, until)
            }
        };
        is_header_payload(&header_payload).then(|| (format!("{header_payload}.{signature}"), until))
    }

    /// Publishes an entry in this isolate and in the shared tier, until its `exp`.
    pub async fn publish<P: Platform>(&self, platform: &P, entry: Entry, now: u64) {
        let key = entry_key(&entry.signature_hash);
        self.keep(
            entry.signature_hash,
            entry.header_payload.clone(),
            entry.exp,
            now,
        );
        platform
            .cache_put(&key, entry.header_payload.into_bytes(), entry.exp)
            .await;
    }

    fn local(&self, hash: &str, now: u64) -> Option<(String, u64)> {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let (header_payload, until) = entries.get(&hash.to_owned())?;
        (now < *until).then(|| (header_payload.clone(), *until))
    }

    /// Keeps a copy until the token's `exp` and at most `isolate_ttl`; returns until when (`now`
    /// when this isolate keeps no copies).
    fn keep(&self, hash: String, header_payload: String, exp: u64, now: u64) -> u64 {
        if self.capacity == 0 {
            return now;
        }
        let until = exp.min(now.saturating_add(self.isolate_ttl));
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries.insert(hash, (header_payload, until), self.capacity);
        until
    }
}

/// The numeric `exp` of a `header.payload`'s payload.
fn payload_exp(header_payload: &str) -> Option<u64> {
    let (_, payload) = header_payload.split_once('.')?;
    let claims = crate::strict::object(&crate::strict::b64url(payload)?)?;
    claims.get("exp")?.as_u64()
}

/// One published entry: its signature hash, `header.payload` and `exp`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// `base64url(SHA-256(signature part))`, 32 bytes.
    pub signature_hash: String,
    /// The JWS header and payload segments, dot-separated.
    pub header_payload: String,
    /// The payload's `exp`: the entry is dropped then.
    pub exp: u64,
}

/// Reads a push entry of kind `split`:
/// `{"signature_hash":"<base64url SHA-256>","header_payload":"<header>.<payload>"}`. The payload
/// must be a JSON object with a numeric `exp` (the entry's lifetime). Nothing else is checked here:
/// every use verifies the reassembled token in full.
pub fn parse_entry(entry: &Value) -> Option<Entry> {
    let hash = entry.get("signature_hash")?.as_str()?;
    let decoded = Base64UrlUnpadded::decode_vec(hash).ok()?;
    if decoded.len() != 32 {
        return None;
    }
    let header_payload = entry.get("header_payload")?.as_str()?;
    if header_payload.len() > MAX_HEADER_PAYLOAD_BYTES || !is_header_payload(header_payload) {
        return None;
    }
    let exp = payload_exp(header_payload)?;
    Some(Entry {
        signature_hash: hash.to_owned(),
        header_payload: header_payload.to_owned(),
        exp,
    })
}

/// Two non-empty base64url segments separated by one dot.
fn is_header_payload(text: &str) -> bool {
    let segment = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    text.split_once('.')
        .is_some_and(|(header, payload)| segment(header) && segment(payload))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn b64(value: &Value) -> String {
        Base64UrlUnpadded::encode_string(value.to_string().as_bytes())
    }

    #[test]
    fn entries_need_a_32_byte_hash_and_a_header_payload_with_exp() {
        let hp = format!(
            "{}.{}",
            b64(&json!({"alg":"ES256"})),
            b64(&json!({"exp": 5}))
        );
        let hash = signature_hash("sig");
        let good = json!({ "signature_hash": hash, "header_payload": hp });
        assert_eq!(parse_entry(&good).map(|e| e.exp), Some(5));
        let short = json!({ "signature_hash": "AAAA", "header_payload": hp });
        assert_eq!(parse_entry(&short), None);
        let three = json!({ "signature_hash": hash, "header_payload": format!("{hp}.sig") });
        assert_eq!(parse_entry(&three), None);
        let no_exp = format!("{}.{}", b64(&json!({})), b64(&json!({"sub": "a"})));
        let no_exp = json!({ "signature_hash": hash, "header_payload": no_exp });
        assert_eq!(parse_entry(&no_exp), None);
    }

    #[test]
    fn only_base64url_credentials_look_like_signatures() {
        assert!(looks_like_signature("abc-_09"));
        assert!(!looks_like_signature("a.b"));
        assert!(!looks_like_signature("a+b/="));
        assert!(!looks_like_signature(""));
        assert!(!looks_like_signature(&"a".repeat(MAX_SIGNATURE_CHARS + 1)));
    }
}
