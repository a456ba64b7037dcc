//! Origin-side verification of what the edgeward gateway forwards.
//!
//! An origin behind edgeward trusts a request only when [`Verifier::verify`] accepts it:
//!
//! - **RFC 9421 message signature** (label `edgeward` by default): present; covering `@method`,
//!   `@target-uri`, the assertion header when the request has one, and every configured claim
//!   header the request has; `created` and `expires` present, `created` not in the future and not
//!   older than the replay window, `expires` not past (each with `max_skew`); a `nonce` not seen
//!   within the replay window (kept in memory); `keyid` naming a key of the gateway's JWKS
//!   (`ecdsa-p256-sha256`) or the shared HMAC key (`hmac-sha256`), and `alg`, when present,
//!   matching that key; the signature over the signature base (RFC 9421 §3.2).
//! - **Signed assertion** (header `x-edgeward-assertion` by default): a compact JWS with
//!   `alg` = `ES256`, `typ` = `edgeward-assertion+jwt`, `kid` in the gateway's JWKS; `iss` equal to
//!   the gateway id; `aud` equal to the Web origin of the target URI (or the configured audience);
//!   `iat` / `exp` fresh as above with `exp − iat` ≤ 60 s; `jti` not seen within the window.
//!
//! Not checked: the request body and `content-digest` (a streaming origin verifies the digest while
//! reading; see `verifier/README.md`), header fields the signature does not cover (use
//! [`VerifiedClaims::covered`]), and replay across origin instances (the nonce store is one
//! process's memory: give each instance its own gateway key or accept the window).
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

use edgeward::crypto::{self, PublicKey, Scheme};
use edgeward::jwk::JwkSet;
use edgeward::jws::{self, Alg};
use edgeward::message_signature::{self, Message, SignatureError, VerifyingKey};
pub use edgeward::Headers;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::Mutex;

/// Default tolerated clock difference between gateway and origin, in seconds.
pub const DEFAULT_MAX_SKEW: u64 = 5;
/// Default replay window in seconds: signatures and assertions older than this are refused, younger
/// ones are remembered. The gateway's default lifetimes are 30 s, so 60 s covers them with skew.
pub const DEFAULT_REPLAY_WINDOW: u64 = 60;
/// Most nonces remembered at once. At 60 s windows this admits ≈ 1600 requests/s per instance; when
/// full, requests are refused (fail closed) until entries expire.
pub const MAX_REMEMBERED_NONCES: usize = 100_000;
/// Largest assertion accepted, in bytes (the gateway's are ≈ 0.5–2 KiB).
pub const MAX_ASSERTION_BYTES: usize = 16 * 1024;
/// Longest assertion lifetime the gateway may issue (`exp − iat`).
pub const MAX_ASSERTION_TTL: u64 = 60;

/// Why a request was refused. Show the origin's clients nothing more than "unauthorized".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyError {
    /// The verifier's own inputs are unusable (JWKS, secret).
    Config(&'static str),
    /// No signature with the expected label.
    MissingSignature,
    /// No assertion header.
    MissingAssertion,
    /// A signature field or the assertion is malformed or uses something unsupported.
    Malformed(&'static str),
    /// A component that must be covered is not (names it).
    NotCovered(String),
    /// Outside its validity (created in the future, expired, or older than the replay window).
    Stale,
    /// The nonce or `jti` was seen within the replay window (or the replay store is full).
    Replayed,
    /// `keyid` / `kid` names no known key, or `alg` does not fit it.
    UnknownKey,
    /// The signature does not verify.
    BadSignature,
    /// An assertion claim (`iss`, `aud`, `typ`) is wrong.
    WrongClaim(&'static str),
}

impl std::fmt::Display for VerifyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}

impl std::error::Error for VerifyError {}

/// What a verified request carries.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedClaims {
    /// The assertion's claims (`iss`, `aud`, `sub`, selected claims, `jti`, `iat`, `exp`); empty
    /// when only the signature was required and no assertion came.
    pub claims: Map<String, Value>,
    /// Components the signature covers: only these header fields are vouched for by the gateway.
    pub covered: Vec<String>,
    /// The signature's `keyid`, when a signature was checked.
    pub keyid: Option<String>,
}

/// Checks requests forwarded by an edgeward gateway. Thread-safe; keep one per process.
pub struct Verifier {
    keys: JwkSet,
    hmac: Option<(String, Vec<u8>)>,
    max_skew: u64,
    window: u64,
    label: String,
    gateway_id: String,
    audience: Option<String>,
    assertion_header: String,
    claim_headers: Vec<String>,
    require_signature: bool,
    require_assertion: bool,
    seen: Mutex<HashMap<String, u64>>,
}

impl Verifier {
    /// A verifier for the gateway's JWK Set (the body of `GET /.well-known/edgeward/jwks.json`), an
    /// optional HMAC key (`keyid`, secret bytes) for `hmac-sha256`, the tolerated clock skew and the
    /// replay window in seconds. Defaults: label `edgeward`, gateway id `edgeward`, assertion header
    /// `x-edgeward-assertion`, both signature and assertion required.
    pub fn new(
        jwks: &str,
        hmac: Option<(&str, &[u8])>,
        max_skew: u64,
        replay_window: u64,
    ) -> Result<Verifier, VerifyError> {
        let keys = JwkSet::parse(jwks.as_bytes()).map_err(|_| VerifyError::Config("bad JWKS"))?;
        if hmac.is_some_and(|(_, secret)| secret.len() < 32) {
            return Err(VerifyError::Config("HMAC key shorter than 32 bytes"));
        }
        if replay_window == 0 {
            return Err(VerifyError::Config("the replay window must be positive"));
        }
        Ok(Verifier {
            keys,
            hmac: hmac.map(|(id, secret)| (id.to_owned(), secret.to_vec())),
            max_skew,
            window: replay_window,
            label: "edgeward".into(),
            gateway_id: "edgeward".into(),
            audience: None,
            assertion_header: "x-edgeward-assertion".into(),
            claim_headers: Vec::new(),
            require_signature: true,
            require_assertion: true,
            seen: Mutex::new(HashMap::new()),
        })
    }

    /// The gateway id (`forwarding.gateway_id`), the assertion's expected `iss`.
    pub fn gateway_id(mut self, id: &str) -> Self {
        self.gateway_id = id.to_owned();
        self
    }

    /// The assertion's expected `aud`. Default: the Web origin of the target URI.
    pub fn audience(mut self, audience: &str) -> Self {
        self.audience = Some(audience.to_owned());
        self
    }

    /// The RFC 9421 signature label (`forwarding.message_signature.label`).
    pub fn label(mut self, label: &str) -> Self {
        self.label = label.to_owned();
        self
    }

    /// The assertion header (`forwarding.assertion.header`).
    pub fn assertion_header(mut self, name: &str) -> Self {
        self.assertion_header = name.to_ascii_lowercase();
        self
    }

    /// Claim headers (`forwarding.claim_headers` values) the signature must cover when present.
    pub fn claim_headers(mut self, names: &[&str]) -> Self {
        self.claim_headers = names.iter().map(|n| n.to_ascii_lowercase()).collect();
        self
    }

    /// Which proofs must be present: the RFC 9421 signature, the assertion, or both (default).
    pub fn require(mut self, signature: bool, assertion: bool) -> Self {
        self.require_signature = signature;
        self.require_assertion = assertion;
        self
    }

    /// Verifies a request at the current system time.
    pub fn verify(
        &self,
        method: &str,
        target_uri: &str,
        headers: &Headers,
    ) -> Result<VerifiedClaims, VerifyError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        self.verify_at(now, method, target_uri, headers)
    }

    /// Verifies a request at time `now` (Unix seconds).
    pub fn verify_at(
        &self,
        now: u64,
        method: &str,
        target_uri: &str,
        headers: &Headers,
    ) -> Result<VerifiedClaims, VerifyError> {
        let mut result = VerifiedClaims {
            claims: Map::new(),
            covered: Vec::new(),
            keyid: None,
        };
        let mut fresh_ids = Vec::new();
        let has_signature = headers.get_all("signature-input").next().is_some();
        if has_signature || self.require_signature {
            let (keyid, covered, nonce) = self.check_signature(now, method, target_uri, headers)?;
            result.keyid = Some(keyid);
            result.covered = covered;
            fresh_ids.push(format!("nonce:{nonce}"));
        }
        let assertion = headers
            .get_single(&self.assertion_header)
            .map_err(|_| VerifyError::Malformed("assertion header repeated"))?;
        match assertion {
            Some(jwt) => {
                let claims = self.check_assertion(now, target_uri, jwt)?;
                if let Some(jti) = claims.get("jti").and_then(Value::as_str) {
                    fresh_ids.push(format!("jti:{jti}"));
                }
                result.claims = claims;
            }
            None if self.require_assertion => return Err(VerifyError::MissingAssertion),
            None => {}
        }
        self.remember(now, &fresh_ids)?;
        Ok(result)
    }

    fn check_signature(
        &self,
        now: u64,
        method: &str,
        target_uri: &str,
        headers: &Headers,
    ) -> Result<(String, Vec<String>, String), VerifyError> {
        let (params, signature) =
            message_signature::find(headers, &self.label).map_err(|e| match e {
                SignatureError::NoSuchLabel => VerifyError::MissingSignature,
                _ => VerifyError::Malformed("signature fields"),
            })?;
        let mut required: Vec<&str> = vec!["@method", "@target-uri"];
        if headers.get_all(&self.assertion_header).next().is_some() {
            required.push(&self.assertion_header);
        }
        for name in &self.claim_headers {
            if headers.get_all(name).next().is_some() {
                required.push(name);
            }
        }
        if let Some(missing) = required
            .iter()
            .find(|r| !params.components.iter().any(|c| c == *r))
        {
            return Err(VerifyError::NotCovered((*missing).to_owned()));
        }
        let created = params
            .integer("created")
            .ok_or(VerifyError::Malformed("no created"))?;
        let expires = params
            .integer("expires")
            .ok_or(VerifyError::Malformed("no expires"))?;
        self.fresh(now, created, expires)?;
        let nonce = params
            .string("nonce")
            .ok_or(VerifyError::Malformed("no nonce"))?
            .to_owned();
        let keyid = params
            .string("keyid")
            .ok_or(VerifyError::Malformed("no keyid"))?
            .to_owned();
        let key = self.signature_key(&keyid)?;
        if let Some(alg) = params.string("alg") {
            if message_signature::Algorithm::from_name(alg) != Some(key.algorithm()) {
                return Err(VerifyError::UnknownKey);
            }
        }
        let message = Message {
            method,
            target_uri,
            headers,
            status: None,
        };
        let base = message_signature::signature_base(&message, &params)
            .map_err(|_| VerifyError::Malformed("covered component missing"))?;
        message_signature::verify(&key, &base, &signature)
            .map_err(|_| VerifyError::BadSignature)?;
        Ok((keyid, params.components, nonce))
    }

    fn signature_key(&self, keyid: &str) -> Result<VerifyingKey, VerifyError> {
        if let Some((id, secret)) = &self.hmac {
            if id == keyid {
                return Ok(VerifyingKey::Hmac(secret.clone()));
            }
        }
        self.es256_key(keyid).map(VerifyingKey::EcdsaP256)
    }

    fn es256_key(&self, kid: &str) -> Result<PublicKey, VerifyError> {
        self.keys
            .find(Some(kid), Alg::ES256)
            .next()
            .map(|jwk| jwk.public_key().clone())
            .ok_or(VerifyError::UnknownKey)
    }

    /// `created` / `iat` not in the future, not older than the window; `expires` / `exp` not past.
    fn fresh(&self, now: u64, created: i64, expires: i64) -> Result<(), VerifyError> {
        let now = i128::from(now);
        let (created, expires) = (i128::from(created), i128::from(expires));
        let skew = i128::from(self.max_skew);
        if created > now + skew
            || expires + skew < now
            || created + i128::from(self.window) + skew < now
        {
            return Err(VerifyError::Stale);
        }
        Ok(())
    }

    fn check_assertion(
        &self,
        now: u64,
        target_uri: &str,
        jwt: &str,
    ) -> Result<Map<String, Value>, VerifyError> {
        let jws = jws::parse(jwt, MAX_ASSERTION_BYTES)
            .map_err(|_| VerifyError::Malformed("assertion"))?;
        if jws.header.alg != Alg::ES256 {
            return Err(VerifyError::UnknownKey);
        }
        if jws.header.typ.as_deref() != Some(edgeward::assertion::ASSERTION_TYP) {
            return Err(VerifyError::WrongClaim("typ"));
        }
        let kid = jws.header.kid.as_deref().ok_or(VerifyError::UnknownKey)?;
        let key = self.es256_key(kid)?;
        if jws.signature.len() != 64 {
            return Err(VerifyError::BadSignature);
        }
        crypto::verify_sync(
            Scheme::EcdsaP256Sha256,
            &key,
            jws.signing_input.as_bytes(),
            &jws.signature,
        )
        .map_err(|_| VerifyError::BadSignature)?;
        let claims = jws.claims;
        if claims.get("iss").and_then(Value::as_str) != Some(self.gateway_id.as_str()) {
            return Err(VerifyError::WrongClaim("iss"));
        }
        let audience = match &self.audience {
            Some(audience) => audience.clone(),
            None => edgeward::http::parse_url(target_uri)
                .map_err(|_| VerifyError::Malformed("target URI"))?
                .origin()
                .ascii_serialization(),
        };
        if claims.get("aud").and_then(Value::as_str) != Some(audience.as_str()) {
            return Err(VerifyError::WrongClaim("aud"));
        }
        let iat = claims.get("iat").and_then(Value::as_i64);
        let exp = claims.get("exp").and_then(Value::as_i64);
        let (Some(iat), Some(exp)) = (iat, exp) else {
            return Err(VerifyError::Malformed("iat / exp"));
        };
        if exp < iat || (exp - iat) as u64 > MAX_ASSERTION_TTL {
            return Err(VerifyError::Stale);
        }
        self.fresh(now, iat, exp)?;
        if claims.get("jti").and_then(Value::as_str).is_none() {
            return Err(VerifyError::Malformed("no jti"));
        }
        Ok(claims)
    }

    /// Records nonces / `jti`s, refusing any already seen within the window.
    fn remember(&self, now: u64, ids: &[String]) -> Result<(), VerifyError> {
        let mut seen = self
            .seen
            .lock()
            .map_err(|_| VerifyError::Config("replay store poisoned"))?;
        seen.retain(|_, until| *until >= now);
        if ids.iter().any(|id| seen.contains_key(id)) {
            return Err(VerifyError::Replayed);
        }
        if seen.len() + ids.len() > MAX_REMEMBERED_NONCES {
            return Err(VerifyError::Replayed);
        }
        let until = now + self.window + 2 * self.max_skew;
        for id in ids {
            seen.insert(id.clone(), until);
        }
        Ok(())
    }
}
