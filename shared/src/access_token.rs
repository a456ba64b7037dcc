//! The resolve and verify stages for JWT access tokens (RFC 9068, RFC 7519, RFC 8725):
//! parse the compact JWS strictly, pick the issuer by its exact `iss`, get the key (x5c chain to the
//! compiled-in trust anchors, or the issuer's JWKS), verify the signature, then check the claims.
//!
//! The `iss` claim is read before the signature is checked, but only to choose which keys and
//! rules apply; nothing else in the token is trusted until the signature verifies. Not checked
//! here: sender constraints (DPoP, mTLS: the bind stage) and scopes (the policy stage).

use crate::claims::{self, ClaimRules};
use crate::error::{Error, TokenFault};
use crate::jwk::JwkSet;
use crate::jwks::{InlineJwks, RemoteJwks};
use crate::jws::{self, Alg, HeaderMemo, Jws};
use crate::outline::outlined;
use crate::platform::Platform;
pub use crate::token::{TokenKind, VerifiedToken};
use crate::token_cache::SharedTokenCache;
use crate::token_cache::{self, TokenCache};
use crate::x5c::{self, ChainCache, ChainPolicy};
use serde_json::{Map, Value};

/// True when the credential has the shape of a compact JWS (three dot-separated segments); any
/// other credential is treated as opaque.
pub fn looks_like_jws(token: &str) -> bool {
    token.bytes().filter(|b| *b == b'.').count() == 2
}

/// True when a credential that is not a compact JWS still has the shape of a JOSE compact
/// serialization: dot-separated segments whose first one is base64url of a JSON object (a JWE,
/// RFC 7516 §7.1, has five; a JWS, RFC 7515 §7.1, three). The gateway accepts no such token other
/// than a JWS, and an authorization server would only refuse it (RFC 7662 introspection is for
/// the AS's own opaque tokens), so it is rejected locally without an introspection call.
pub fn looks_like_jose(token: &str) -> bool {
    let Some((first, _)) = token.split_once('.') else {
        return false;
    };
    crate::strict::b64url(first)
        .is_some_and(|header| serde_json::from_slice::<Map<String, Value>>(&header).is_ok())
}

/// Largest JWT an issuer signs for the gateway (an RFC 9701 introspection answer, a warm-up push)
/// that is parsed: the introspection answer budget ([`crate::introspection::MAX_RESPONSE_BYTES`]).
pub const MAX_SIGNED_ANSWER_BYTES: usize = 64 * 1024;

/// `typ` value of RFC 9701 §5 introspection responses.
const INTROSPECTION_TYP: &str = "token-introspection+jwt";

/// One issuer's settings, as the configuration loader produced them (`Config::from_json`): the
/// algorithm names and the inline JWK Set are parsed there, once.
#[derive(Debug, Clone)]
pub struct IssuerSettings {
    /// Accepted `alg` values.
    pub algorithms: Vec<Alg>,
    /// The claim checks (RFC 9068 §4).
    pub rules: ClaimRules,
    /// With an `x5c` key source: the chain pins and budgets.
    pub chain_policy: Option<ChainPolicy>,
    /// Inline verification keys.
    pub inline_keys: Option<JwkSet>,
    /// A JWKS URL and its caching policy.
    pub remote_keys: Option<(String, crate::jwks::JwksPolicy)>,
}

/// One configured issuer, ready to use.
struct TrustedIssuer {
    algorithms: Vec<Alg>,
    rules: ClaimRules,
    chain_policy: Option<ChainPolicy>,
    inline_keys: Option<InlineJwks>,
    remote_keys: Option<RemoteJwks>,
}

/// Verifies access tokens for all configured issuers. Holds per-isolate caches.
pub struct TokenVerifier {
    issuers: Vec<TrustedIssuer>,
    anchors: &'static [&'static [u8]],
    /// [`crate::crypto::list_digest`] of `anchors`, the anchors' part of every chain-cache key.
    anchors_digest: [u8; 32],
    chains: ChainCache,
    /// Parsed headers of tokens verified in full (one issuer's tokens share theirs).
    headers: HeaderMemo,
    verified: TokenCache,
    /// Whether verified tokens also go to the platform's shared tier, and the configuration
    /// fingerprint their names are bound to ([`token_cache`], "Shared tier").
    shared: SharedTokenCache,
    fingerprint: [u8; 32],
    max_token_bytes: usize,
}

impl TokenVerifier {
    /// Builds the verifier from validated configuration; `token_cache_entries` sizes the
    /// verified-token cache ([`crate::token_cache`]; 0 disables it), `shared` says whether its
    /// shared tier is used, for entries bound to `fingerprint` ([`token_cache::fingerprint`]).
    pub(crate) fn new(
        issuers: Vec<IssuerSettings>,
        anchors: &'static [&'static [u8]],
        max_token_bytes: usize,
        token_cache_entries: usize,
        (shared, fingerprint): (SharedTokenCache, [u8; 32]),
    ) -> TokenVerifier {
        TokenVerifier {
            issuers: issuers.into_iter().map(TrustedIssuer::new).collect(),
            anchors,
            anchors_digest: crate::crypto::list_digest(x5c::ANCHORS_DIGEST_LABEL, anchors),
            chains: ChainCache::default(),
            headers: HeaderMemo::default(),
            verified: TokenCache::new(token_cache_entries),
            shared,
            fingerprint,
            max_token_bytes,
        }
    }

    /// Verifies `token` completely, or says why not. A token verified before is taken from the
    /// verified-token cache (this isolate's, then the shared tier), with its time checks run
    /// again at `now`.
    pub(crate) async fn verify<P: Platform>(
        &self,
        platform: &P,
        token: &str,
        now: u64,
    ) -> Result<VerifiedToken, Error> {
        if let Some(answer) = self.cached(token, now) {
            return answer;
        }
        // Longer tokens are never stored (as per isolate): no lookup for them, and the platform
        // is not even asked for its shared tier (on Spin that opens the key-value store).
        let shared = token.len() <= token_cache::MAX_CACHED_TOKEN_BYTES
            && match self.shared {
                SharedTokenCache::Auto => {
                    platform.instance_per_request() && platform.has_shared_cache()
                }
                SharedTokenCache::On => platform.has_shared_cache(),
                SharedTokenCache::Off => false,
            };
        let shared_key = shared.then(|| token_cache::shared_key(&self.fingerprint, token));
        if let Some(key) = &shared_key {
            if let Some(answer) = outlined(self.shared_hit(platform, key, token, now)).await {
                return answer;
            }
        }
        let jws = jws::parse_memoized(token, self.max_token_bytes, &self.headers)
            .map_err(Error::InvalidToken)?;
        let (index, issuer) = self.issuer_for(&jws)?;
        if !issuer.algorithms.contains(&jws.header.alg) {
            return Err(Error::InvalidToken(TokenFault::AlgorithmNotAllowed));
        }
        let (key, key_valid) = outlined(self.key_for(platform, issuer, &jws, now)).await?;
        outlined(jws.verify(&key, platform.verifier()))
            .await
            .map_err(Error::InvalidToken)?;
        claims::check(&jws.header, &jws.claims, &issuer.rules, now).map_err(Error::InvalidToken)?;
        let dpop_bound = matches!(crate::dpop::bound_jkt(&jws.claims), Ok(Some(_)));
        let verified = VerifiedToken {
            issuer: issuer.rules.issuer.clone(),
            claims: jws.claims,
            kind: TokenKind::Jwt,
            phantom_jwt: None,
            ath: dpop_bound.then(|| crate::dpop::access_token_hash(token)),
        };
        self.verified
            .insert(token, index, &verified, now, key_valid);
        if let Some(key) = &shared_key {
            if let Some((value, ttl)) =
                token_cache::encode_shared(token, index, &verified, now, key_valid)
            {
                platform
                    .cache_put(key, value, now.saturating_add(ttl))
                    .await;
            }
        }
        Ok(verified)
    }

    /// This isolate's verified-token cache for `key` (a token, or a split token's name): `None` on
    /// a miss, else the verdict of the time checks re-run at `now` (an entry that fails them is
    /// dropped).
    pub(crate) fn cached(&self, key: &str, now: u64) -> Option<Result<VerifiedToken, Error>> {
        let (index, verified) = self.verified.get(key, now)?;
        let rules = self.issuers.get(index).map(|issuer| &issuer.rules);
        match rules.map(|rules| claims::check_times(&verified.claims, rules, now)) {
            Some(Ok(())) => Some(Ok(verified)),
            Some(Err(fault)) => {
                self.verified.remove(key);
                Some(Err(Error::InvalidToken(fault)))
            }
            None => {
                self.verified.remove(key);
                None
            }
        }
    }

    /// Keeps `verified` (just verified as `token`) in this isolate's cache under `key` as well,
    /// until `until` at the latest ([`TokenCache::alias`]).
    pub(crate) fn cache_as(
        &self,
        token: &str,
        key: &str,
        verified: &VerifiedToken,
        now: u64,
        until: u64,
    ) {
        self.verified.alias(token, key, verified, now, until);
    }

    /// The shared tier's answer for `token` (named `key`): `None` for a miss (nothing stored, a
    /// broken entry, an issuer that does not match, outside its window), else the time checks'
    /// verdict at `now`. A usable entry is also kept in this isolate's cache.
    async fn shared_hit<P: Platform>(
        &self,
        platform: &P,
        key: &str,
        token: &str,
        now: u64,
    ) -> Option<Result<VerifiedToken, Error>> {
        let bytes = platform.cache_get(key).await?;
        let entry = token_cache::decode_shared(&bytes)?;
        let issuer = self.issuers.get(entry.issuer)?;
        if issuer.rules.issuer != entry.token.issuer
            || now < entry.valid_from
            || now > entry.valid_until
        {
            return None;
        }
        if let Err(fault) = claims::check_times(&entry.token.claims, &issuer.rules, now) {
            return Some(Err(Error::InvalidToken(fault)));
        }
        let window = Some((entry.valid_from, entry.valid_until));
        self.verified
            .insert(token, entry.issuer, &entry.token, now, window);
        Some(Ok(entry.token))
    }

    /// Verifies an RFC 9701 introspection response: signed by `issuer`'s keys, `typ`
    /// `token-introspection+jwt`, `iss` = `issuer`, `aud` containing `audience` (the gateway's
    /// client id). Returns its claims (the answer is in `token_introspection`). Not checked: `exp`
    /// (RFC 9701 responses need not carry one) and encryption (not supported).
    pub(crate) async fn verify_introspection_jwt<P: Platform>(
        &self,
        platform: &P,
        jwt: &str,
        issuer: &str,
        audience: &str,
        now: u64,
    ) -> Result<Map<String, Value>, Error> {
        let typ = INTROSPECTION_TYP;
        self.verify_signed_answer(platform, jwt, (issuer, audience, typ), now)
            .await
    }

    /// Verifies a JWT the issuer signed for the gateway: `typ` (case-insensitive, optional
    /// `application/` prefix), signature with the issuer's keys, `iss`, `aud` containing `audience`.
    pub(crate) async fn verify_signed_answer<P: Platform>(
        &self,
        platform: &P,
        jwt: &str,
        (issuer, audience, expected_typ): (&str, &str, &str),
        now: u64,
    ) -> Result<Map<String, Value>, Error> {
        let bad = Error::UpstreamUnavailable("introspection answer not trusted");
        let jws = jws::parse(jwt, MAX_SIGNED_ANSWER_BYTES).map_err(|_| bad.clone())?;
        let typ = jws
            .header
            .typ
            .as_deref()
            .unwrap_or_default()
            .to_ascii_lowercase();
        if typ.strip_prefix("application/").unwrap_or(&typ) != expected_typ {
            return Err(bad);
        }
        let trusted = self
            .issuers
            .iter()
            .find(|i| i.rules.issuer == issuer)
            .ok_or_else(|| bad.clone())?;
        if !trusted.algorithms.contains(&jws.header.alg) {
            return Err(bad);
        }
        let (key, _) = self.key_for(platform, trusted, &jws, now).await?;
        jws.verify(&key, platform.verifier())
            .await
            .map_err(|_| bad.clone())?;
        let iss_ok = jws.claims.get("iss").and_then(Value::as_str) == Some(issuer);
        let aud_ok = match jws.claims.get("aud") {
            Some(Value::String(aud)) => aud == audience,
            Some(Value::Array(auds)) => auds.iter().any(|a| a.as_str() == Some(audience)),
            _ => false,
        };
        if !iss_ok || !aud_ok {
            return Err(bad);
        }
        Ok(jws.claims)
    }

    /// The token's issuer, with its index in configuration order.
    fn issuer_for(&self, jws: &Jws<'_>) -> Result<(usize, &TrustedIssuer), Error> {
        let iss = match jws.claims.get("iss") {
            Some(Value::String(iss)) => iss,
            Some(_) => return Err(Error::InvalidToken(TokenFault::Malformed)),
            None => return Err(Error::InvalidToken(TokenFault::MissingClaim)),
        };
        self.issuers
            .iter()
            .enumerate()
            .find(|(_, issuer)| &issuer.rules.issuer == iss)
            .ok_or(Error::InvalidToken(TokenFault::UnknownIssuer))
    }

    /// The verification key: from the x5c chain when the issuer accepts x5c and the token carries
    /// one, otherwise by `kid` from the inline keys, then from the issuer's JWKS endpoint. With it,
    /// the period in which the key source is valid (`notBefore`, `notAfter` over an x5c path;
    /// `None` for JWK Sets).
    async fn key_for<P: Platform>(
        &self,
        platform: &P,
        issuer: &TrustedIssuer,
        jws: &Jws<'_>,
        now: u64,
    ) -> Result<(crate::crypto::PublicKey, Option<(u64, u64)>), Error> {
        if let (Some(policy), Some(chain)) = (&issuer.chain_policy, &jws.header.x5c) {
            let chain_digest = jws
                .header
                .x5c_digest
                .unwrap_or_else(|| crate::crypto::list_digest(crate::jws::X5C_DIGEST_LABEL, chain));
            let key = ChainCache::key_of_digests(&chain_digest, &self.anchors_digest, policy);
            let leaf = outlined(x5c::validate_cached(
                (&self.chains, key),
                chain,
                self.anchors,
                now,
                policy,
                platform.verifier(),
            ))
            .await?;
            return Ok((leaf.key, Some((leaf.not_before, leaf.not_after))));
        }
        let kid = jws.header.kid.as_deref();
        let alg = jws.header.alg;
        if let Some(keys) = &issuer.inline_keys {
            let found = keys.key(kid, alg);
            if found.is_ok() || issuer.remote_keys.is_none() {
                return found.map(|key| (key, None));
            }
        }
        match &issuer.remote_keys {
            Some(remote) => outlined(remote.key(platform, kid, alg, now))
                .await
                .map(|key| (key, None)),
            None => Err(Error::InvalidToken(TokenFault::UnknownKey)),
        }
    }
}

impl TrustedIssuer {
    /// Assumes `config.validate()` accepted the issuer (algorithms and JWKS parse).
    fn new(settings: IssuerSettings) -> TrustedIssuer {
        TrustedIssuer {
            algorithms: settings.algorithms,
            rules: settings.rules,
            chain_policy: settings.chain_policy,
            inline_keys: settings.inline_keys.map(InlineJwks::new),
            remote_keys: settings
                .remote_keys
                .map(|(uri, policy)| RemoteJwks::new(uri, policy)),
        }
    }
}
