//! DPoP proofs (RFC 9449): the bind stage's check that the client holds the key its access token
//! is bound to.
//!
//! [`verify_proof`] runs the RFC 9449 §4.3 checks that need no state, in this order: size budget,
//! strict compact JWS (check 2; `crit` refused), `typ` = `dpop+jwt` (check 4), `alg` in the
//! configured asymmetric allow-list (check 5; `none` and `HS*` can never be listed), the `jwk` header
//! is a public key (check 7), the signature verifies with it (check 6), `jti` / `htm` / `htu` / `iat`
//! present (check 3), `htm` (check 8), `htu` per §4.3 and RFC 3986 §6.2.2 (check 9), `iat` within the
//! window (check 11) and `ath` (check 12). The caller then checks, with state: the nonce
//! ([`NonceKey`], check 10), `cnf.jkt` against [`VerifiedProof::jkt`] (check 12) and `jti` replay
//! ([`ReplayCache`] and the platform's shared store, §11.1).
//!
//! Not checked: a proof's `x5c`, `kid` or any claim beyond those named (ignored); whether the token
//! was issued to this client beyond the key binding; nonce-based freshness in place of `iat`
//! (§11.1 allows it; here `iat` is always checked). Nonces are stateless: a nonce stays valid for its
//! whole time bucket and may be used for any number of proofs (their `jti`s still must differ).

use crate::crypto::SignatureVerifier;
use crate::error::{DpopFault, TokenFault};
pub use crate::jwa::AlgSet;
use crate::jwk::Jwk;
use crate::jws::{self, Alg};
use crate::lru::Lru;
use crate::strict;
use base64ct::{Base64UrlUnpadded, Encoding};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex};
use url::Url;

/// Proof algorithms accepted by default: every asymmetric algorithm the crate verifies
/// (RFC 9449 §4.3 check 5 asks for asymmetric, supported, acceptable).
pub const DEFAULT_ALGORITHMS: &[Alg] =
    &[Alg::ES256, Alg::ES384, Alg::RS256, Alg::PS256, Alg::EdDSA];

/// [`DEFAULT_ALGORITHMS`] as a set.
pub fn default_algs() -> AlgSet {
    AlgSet::new(DEFAULT_ALGORITHMS.iter().copied())
}

/// Default proof size limit. An RSA-4096 `jwk` (≈ 700 base64url characters of modulus) with the
/// claims and a 512-byte signature stays under 2 KiB; 8 KiB leaves room for RSA-8192 and extra
/// claims while bounding the JSON and base64 work an attacker can ask for.
pub const DEFAULT_MAX_PROOF_BYTES: usize = 8 * 1024;

/// Default age limit of a proof's `iat`, in seconds. RFC 9449 §11.1 asks for "a relatively brief
/// period"; five minutes tolerates slow clients, retries and client clocks a few minutes behind, and
/// bounds how long a captured proof (already tied to one method, URL and token) could be replayed
/// to another isolate in best-effort mode.
pub const DEFAULT_IAT_WINDOW: u64 = 300;

/// Default tolerance for an `iat` in the future, in seconds: only clock skew explains it, and the
/// same 60 s as the access-token leeway ([`crate::claims::DEFAULT_LEEWAY`]).
pub const DEFAULT_IAT_LEEWAY: u64 = 60;

/// Default capacity of the per-isolate `jti` cache. An entry costs ≈ 100 bytes, so ≈ 1 MB; at the
/// default window this remembers every proof of an isolate serving up to ≈ 30 DPoP requests a second.
pub const DEFAULT_REPLAY_CACHE_ENTRIES: usize = 10_000;

/// Default nonce bucket, in seconds. A nonce is accepted in its own bucket and the next, so it lives
/// 5–10 minutes: never shorter than the `iat` window, and the gateway hands out a fresh one on
/// every DPoP response, so an active client never sees `use_dpop_nonce` twice in a row.
pub const DEFAULT_NONCE_BUCKET: u64 = 300;

/// Shortest nonce secret accepted, in bytes: HMAC-SHA256 keys below the hash size weaken it.
pub const MIN_NONCE_SECRET_BYTES: usize = 32;

/// The stateless proof rules (from `config::Dpop`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProofRules {
    /// Accepted `alg` values.
    pub algs: AlgSet,
    /// Size budget, checked before decoding.
    pub max_proof_bytes: usize,
    /// Oldest accepted `iat`: `now - iat_window`.
    pub iat_window: u64,
    /// Latest accepted `iat`: `now + iat_leeway`.
    pub iat_leeway: u64,
}

impl Default for ProofRules {
    fn default() -> Self {
        ProofRules {
            algs: default_algs(),
            max_proof_bytes: DEFAULT_MAX_PROOF_BYTES,
            iat_window: DEFAULT_IAT_WINDOW,
            iat_leeway: DEFAULT_IAT_LEEWAY,
        }
    }
}

/// What the proof must match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProofRequest<'a> {
    /// The request method, compared exactly with `htm`.
    pub method: &'a str,
    /// The public request URL, already normalised by [`normalize_htu`] / [`public_htu`].
    pub htu: &'a str,
    /// The `ath` the proof must carry: [`access_token_hash`] of the access token presented with
    /// it. `None` for a proof without an access token (e.g. at a token endpoint).
    pub ath: Option<&'a str>,
}

/// A proof that passed the stateless checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedProof {
    /// RFC 7638 SHA-256 thumbprint of the proof's `jwk`, base64url: compare with `cnf.jkt`.
    pub jkt: String,
    /// The `jti`.
    pub jti: String,
    /// The `iat`.
    pub iat: u64,
    /// The `nonce` claim, if any (not checked here: see [`NonceKey::accepts`]).
    pub nonce: Option<String>,
}

impl VerifiedProof {
    /// The replay-detection key: SHA-256 over the key thumbprint and the `jti`, so a `jti` is
    /// unique per client key (a client cannot burn another key's `jti`s; it cannot sign for them).
    pub fn replay_key(&self) -> [u8; 32] {
        let mut hash = Sha256::new();
        hash.update(b"edgeward/dpop/jti\0");
        hash.update(self.jkt.as_bytes());
        hash.update(b"\0");
        hash.update(self.jti.as_bytes());
        hash.finalize().into()
    }
}

/// `ath` (RFC 9449 §4.2): base64url of the SHA-256 of the ASCII access token.
pub fn access_token_hash(access_token: &str) -> String {
    Base64UrlUnpadded::encode_string(&Sha256::digest(access_token.as_bytes()))
}

/// The proof headers of an isolate's DPoP clients, parsed, with their keys read from `jwk` and
/// thumbprinted (RFC 7638). A client signs every proof with the same key, so every proof it sends
/// has the same header text; proofs after the first skip decoding, JSON, the key's validation and
/// the thumbprint's hash. Keyed by the header's exact base64url text: all of it is a pure function
/// of that text, so a hit gives exactly what parsing would. Holds [`ProofHeaders::ENTRIES`].
#[derive(Debug, Default)]
pub struct ProofHeaders {
    headers: jws::HeaderMemo,
    keys: Mutex<Lru<Box<str>, Arc<ProofKey>>>,
}

/// A proof header's key and its RFC 7638 thumbprint.
#[derive(Debug)]
struct ProofKey {
    jwk: Jwk,
    jkt: String,
}

impl ProofHeaders {
    /// Client keys remembered per isolate (each entry is a header of ≈ 200 bytes and a key).
    pub const ENTRIES: usize = 256;

    /// The key of header `header_b64` (whose parsed `jwk` is `jwk`) and its thumbprint.
    fn key(
        &self,
        header_b64: &str,
        jwk: &serde_json::Map<String, Value>,
    ) -> Result<Arc<ProofKey>, DpopFault> {
        let remembered = self
            .keys
            .lock()
            .ok()
            .and_then(|mut keys| keys.get(header_b64).cloned());
        if let Some(hit) = remembered {
            return Ok(hit);
        }
        let jwk = Jwk::from_object(jwk).map_err(|_| DpopFault::BadKey)?;
        if jwk.has_private_members() {
            return Err(DpopFault::PrivateKey);
        }
        let jkt = jwk.thumbprint_sha256();
        let key = Arc::new(ProofKey { jwk, jkt });
        if let Ok(mut keys) = self.keys.lock() {
            keys.insert(header_b64.into(), key.clone(), Self::ENTRIES);
        }
        Ok(key)
    }
}

/// Runs the stateless RFC 9449 §4.3 checks (see the module documentation) on one `DPoP` header
/// value. `now` is Unix seconds. Parsed headers and keys come from (and go to) `memo`.
pub async fn verify_proof<V: SignatureVerifier>(
    proof: &str,
    request: &ProofRequest<'_>,
    (rules, memo): (&ProofRules, &ProofHeaders),
    now: u64,
    verifier: &V,
) -> Result<VerifiedProof, DpopFault> {
    let jws =
        jws::parse_memoized(proof, rules.max_proof_bytes, &memo.headers).map_err(|fault| {
            match fault {
                TokenFault::TooLarge => DpopFault::TooLarge,
                TokenFault::AlgorithmNotAllowed => DpopFault::AlgorithmNotAllowed,
                _ => DpopFault::Malformed,
            }
        })?;
    let typ_ok = jws.header.typ.as_deref().is_some_and(|typ| {
        typ.eq_ignore_ascii_case("dpop+jwt") || typ.eq_ignore_ascii_case("application/dpop+jwt")
    });
    if !typ_ok {
        return Err(DpopFault::WrongType);
    }
    if !rules.algs.contains(jws.header.alg) {
        return Err(DpopFault::AlgorithmNotAllowed);
    }
    let jwk = jws.header.jwk.as_ref().ok_or(DpopFault::BadKey)?;
    let header_b64 = proof.split('.').next().unwrap_or_default();
    let key = memo.key(header_b64, jwk)?;
    jws.verify(key.jwk.public_key(), verifier)
        .await
        .map_err(|fault| match fault {
            TokenFault::AlgorithmNotAllowed => DpopFault::AlgorithmNotAllowed,
            _ => DpopFault::BadSignature,
        })?;

    let claims = &jws.claims;
    let jti = required_string(claims.get("jti"))?;
    let htm = required_string(claims.get("htm"))?;
    let htu = required_string(claims.get("htu"))?;
    let iat = match claims.get("iat") {
        None => return Err(DpopFault::MissingClaim),
        Some(Value::Number(n)) => n
            .as_u64()
            .or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64))
            .ok_or(DpopFault::Malformed)?,
        Some(_) => return Err(DpopFault::Malformed),
    };
    if jti.is_empty() {
        return Err(DpopFault::MissingClaim);
    }
    if htm != request.method {
        return Err(DpopFault::MethodMismatch);
    }
    // `request.htu` is in normal form and normalising is idempotent (fuzzed), so an identical `htu`
    // (what clients send) normalises to it: the URL parse is needed only for other spellings.
    if htu != request.htu && normalize_htu(htu).as_deref() != Some(request.htu) {
        return Err(DpopFault::UrlMismatch);
    }
    if iat.saturating_add(rules.iat_window) < now || iat > now.saturating_add(rules.iat_leeway) {
        return Err(DpopFault::OutsideWindow);
    }
    if let Some(expected) = request.ath {
        let ath = required_string(claims.get("ath"))?;
        if ath != expected {
            return Err(DpopFault::AthMismatch);
        }
    }
    let nonce = match claims.get("nonce") {
        None => None,
        Some(Value::String(nonce)) => Some(nonce.clone()),
        Some(_) => return Err(DpopFault::Malformed),
    };
    Ok(VerifiedProof {
        jkt: key.jkt.clone(),
        jti: jti.to_owned(),
        iat,
        nonce,
    })
}

/// The `jkt` confirmation method of a `cnf` claim (RFC 9449 §6.1), if the token has one. A `cnf`
/// that is not an object, or a `jkt` that is not a string, is malformed.
pub fn bound_jkt(claims: &serde_json::Map<String, Value>) -> Result<Option<&str>, TokenFault> {
    match claims.get("cnf") {
        None => Ok(None),
        Some(Value::Object(cnf)) => match cnf.get("jkt") {
            None => Ok(None),
            Some(Value::String(jkt)) => Ok(Some(jkt)),
            Some(_) => Err(TokenFault::Malformed),
        },
        Some(_) => Err(TokenFault::Malformed),
    }
}

fn required_string(value: Option<&Value>) -> Result<&str, DpopFault> {
    match value {
        None => Err(DpopFault::MissingClaim),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(DpopFault::Malformed),
    }
}

/// The `htu` comparison form (RFC 9449 §4.3 check 9): an absolute `http`/`https` URI without query
/// and fragment, with scheme and host lower-cased, the default port removed, dot segments removed
/// and an empty path made `/` (RFC 3986 §6.2.2.1, §6.2.2.3, §6.2.3), and percent-encoding
/// normalised: hex digits upper-cased and unreserved characters decoded (§6.2.2.2). `None` for
/// anything else, including a URI with user information.
pub fn normalize_htu(uri: &str) -> Option<String> {
    normal_form(&crate::http::parse_url(uri).ok()?)
}

/// [`normalize_htu`] of a parsed URL.
fn normal_form(url: &Url) -> Option<String> {
    if !matches!(url.scheme(), "http" | "https")
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return None;
    }
    let mut out = format!("{}://{}", url.scheme(), url.host_str()?);
    if let Some(port) = url.port() {
        out.push_str(&format!(":{port}"));
    }
    out.push_str(&normalize_percent(url.path()));
    Some(out)
}

/// RFC 3986 §6.2.2.2: `%xx` of an unreserved character becomes the character, other `%xx` get
/// upper-case hex digits. A `%` not followed by two hex digits is data, so it becomes `%25`
/// (§2.4): kept bare, it could pair with a decoded character into a new escape (`%%615` would
/// become `%a5`), and the result would not be in normal form.
fn normalize_percent(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let escaped = match (b, bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) => crate::http::hex_digit(h)
                .zip(crate::http::hex_digit(l))
                .map(|(h, l)| h << 4 | l),
            _ => None,
        };
        match escaped {
            Some(v) if v.is_ascii_alphanumeric() || matches!(v, b'-' | b'.' | b'_' | b'~') => {
                out.push(v);
                i += 3;
            }
            Some(v) => {
                out.extend_from_slice(format!("%{v:02X}").as_bytes());
                i += 3;
            }
            None if b == b'%' => {
                out.extend_from_slice(b"%25");
                i += 1;
            }
            None => {
                out.push(b);
                i += 1;
            }
        }
    }
    // Only ASCII was rewritten, and only into ASCII: the result is still UTF-8.
    String::from_utf8(out).unwrap_or_default()
}

/// Validates `public_base_url`: absolute `http`/`https`, no user information, query or fragment.
pub fn parse_public_base(base: &str) -> Result<Url, String> {
    let url = crate::http::parse_url(base).map_err(|e| format!("not an absolute URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("scheme must be http or https".into());
    }
    if !url.username().is_empty()
        || url.password().is_some()
        || url.query().is_some()
        || url.fragment().is_some()
    {
        return Err("must not have user information, a query or a fragment".into());
    }
    Ok(url)
}

/// The URL the client addressed, in [`normalize_htu`] form. Without `public_base` it is the
/// request URL; with it, `public_base`'s scheme and authority replace the request's and its path
/// (without a trailing `/`) is put in front of the request path: request
/// `http://10.0.0.7:8080/orders?x=1` with base `https://api.example.com/v1` is
/// `https://api.example.com/v1/orders`.
pub fn public_htu(request_url: &Url, public_base: Option<&Url>) -> Option<String> {
    match public_base {
        None => normal_form(request_url),
        Some(base) => {
            let prefix = base.as_str().trim_end_matches('/');
            normalize_htu(&format!("{prefix}{}", request_url.path()))
        }
    }
}

/// Stateless DPoP nonces (RFC 9449 §8, §9): HMAC-SHA256 under a secret over a time bucket
/// (`now / bucket_seconds`), base64url. A nonce from the current or the previous bucket is
/// accepted; nothing is stored. Not checked: single use (a nonce is shared by every proof of its
/// bucket; `jti` replay detection covers single use of proofs).
#[derive(Clone)]
pub struct NonceKey {
    mac: Hmac<Sha256>,
    bucket_seconds: u64,
}

impl fmt::Debug for NonceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NonceKey")
            .field("bucket_seconds", &self.bucket_seconds)
            .finish_non_exhaustive()
    }
}

impl NonceKey {
    /// A key from the secret bytes; `None` when the secret is shorter than
    /// [`MIN_NONCE_SECRET_BYTES`] or `bucket_seconds` is 0.
    pub fn new(secret: &[u8], bucket_seconds: u64) -> Option<NonceKey> {
        if secret.len() < MIN_NONCE_SECRET_BYTES || bucket_seconds == 0 {
            return None;
        }
        let mac = Hmac::<Sha256>::new_from_slice(secret).ok()?;
        Some(NonceKey {
            mac,
            bucket_seconds,
        })
    }

    fn tagged(&self, bucket: u64) -> Hmac<Sha256> {
        let mut mac = self.mac.clone();
        mac.update(b"edgeward/dpop/nonce/v1\0");
        mac.update(&bucket.to_be_bytes());
        mac
    }

    /// The nonce for the bucket of `now`.
    pub fn issue(&self, now: u64) -> String {
        let tag = self
            .tagged(now / self.bucket_seconds)
            .finalize()
            .into_bytes();
        Base64UrlUnpadded::encode_string(&tag)
    }

    /// True when `nonce` was issued in the bucket of `now` or the one before (constant-time
    /// comparison).
    pub fn accepts(&self, nonce: &str, now: u64) -> bool {
        let Some(tag) = strict::b64url(nonce) else {
            return false;
        };
        let bucket = now / self.bucket_seconds;
        let current = self.tagged(bucket).verify_slice(&tag).is_ok();
        let previous = bucket
            .checked_sub(1)
            .is_some_and(|b| self.tagged(b).verify_slice(&tag).is_ok());
        current | previous
    }
}

/// A bounded per-isolate memory of `jti`s (RFC 9449 §11.1), best effort: a replay to another
/// isolate is not seen (use the platform's shared store, `dpop.replay: "strict"`, for that). When
/// full, the oldest entries are forgotten first, so a flood of proofs can push a remembered `jti`
/// out before it expires; the flood needs valid signatures from the flooder's own keys.
#[derive(Debug)]
pub struct ReplayCache {
    capacity: usize,
    inner: Mutex<ReplayInner>,
}

#[derive(Debug, Default)]
struct ReplayInner {
    seen: HashMap<[u8; 32], u64>,
    order: VecDeque<([u8; 32], u64)>,
}

impl ReplayCache {
    /// An empty cache holding at most `capacity` (at least 1) entries.
    pub fn new(capacity: usize) -> ReplayCache {
        ReplayCache {
            capacity: capacity.max(1),
            inner: Mutex::default(),
        }
    }

    /// Records `key` until `expires` (Unix seconds): true when it was not already recorded.
    pub fn first_use(&self, key: [u8; 32], expires: u64, now: u64) -> bool {
        let mut inner = self
            .inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if inner.seen.get(&key).is_some_and(|until| *until >= now) {
            return false;
        }
        while let Some(&(old, until)) = inner.order.front() {
            let full = inner.seen.len() >= self.capacity || inner.order.len() >= 2 * self.capacity;
            if until >= now && !full {
                break;
            }
            inner.order.pop_front();
            if inner.seen.get(&old) == Some(&until) {
                inner.seen.remove(&old);
            }
        }
        inner.seen.insert(key, expires);
        inner.order.push_back((key, expires));
        true
    }

    /// Number of remembered entries.
    pub fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .seen
            .len()
    }

    /// True when nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// How `jti` replay is detected (RFC 9449 §11.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ReplayMode {
    /// A bounded per-isolate cache: catches replays that land on the same isolate.
    #[default]
    BestEffort,
    /// The platform's shared store as well; without one, or when it fails, answer 503.
    Strict,
}

crate::by_name::deserialize_by_name!(ReplayMode {
    "best_effort" => ReplayMode::BestEffort,
    "strict" => ReplayMode::Strict,
});

/// Per-route DPoP mode.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DpopMode {
    /// Only DPoP-bound tokens presented with `Authorization: DPoP` and a valid proof.
    Required,
    /// A DPoP-bound token (`cnf.jkt`) needs its proof; an unbound Bearer token is accepted.
    #[default]
    Optional,
    /// Only unbound Bearer tokens; the DPoP scheme and DPoP-bound tokens are refused.
    Disabled,
}

crate::by_name::deserialize_by_name!(DpopMode {
    "required" => DpopMode::Required,
    "optional" => DpopMode::Optional,
    "disabled" => DpopMode::Disabled,
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alg_set_renders_in_a_fixed_order() {
        assert_eq!(default_algs().to_string(), "ES256 ES384 RS256 PS256 EdDSA");
        let set = AlgSet::new([Alg::EdDSA, Alg::ES256]);
        assert_eq!(set.to_string(), "ES256 EdDSA");
        assert!(!set.contains(Alg::RS256));
    }

    #[test]
    fn nonce_buckets() {
        let key = NonceKey::new(&[9; 32], 300).unwrap();
        let nonce = key.issue(1000);
        assert!(key.accepts(&nonce, 1000));
        assert!(key.accepts(&nonce, 1199), "same bucket");
        assert!(key.accepts(&nonce, 1499), "previous bucket");
        assert!(!key.accepts(&nonce, 1500), "two buckets on: stale");
        assert!(!key.accepts(&nonce, 899), "from the future");
        assert!(!key.accepts("not-a-nonce", 1000));
        let other = NonceKey::new(&[8; 32], 300).unwrap();
        assert!(!other.accepts(&nonce, 1000));
        assert!(NonceKey::new(&[9; 31], 300).is_none());
    }

    #[test]
    fn replay_cache_is_bounded_and_expires() {
        let cache = ReplayCache::new(2);
        assert!(cache.first_use([1; 32], 100, 10));
        assert!(!cache.first_use([1; 32], 100, 11));
        assert!(cache.first_use([2; 32], 100, 12));
        assert!(cache.first_use([3; 32], 100, 13));
        assert_eq!(cache.len(), 2, "oldest forgotten when full");
        assert!(cache.first_use([1; 32], 100, 14));
        assert!(cache.first_use([2; 32], 100, 101), "expired entries go");
    }
}
