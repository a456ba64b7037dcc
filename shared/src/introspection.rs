//! The resolve stage for opaque access tokens — the phantom-token pattern: OAuth 2.0 Token
//! Introspection (RFC 7662), optionally answered as a signed JWT (RFC 9701), with a per-isolate
//! cache so that a warm token costs no call to the authorization server.
//!
//! Split like oauth4webapi's `introspectionRequest` / `processIntrospectionResponse`:
//! [`request`] builds the call, [`process`] judges the answer, [`Introspector`] caches and
//! de-duplicates. Not done here: minting the JWT the origin receives (the forward stage), and DPoP
//! binding (the bind stage reads `cnf.jkt` from the returned claims).
//!
//! Failure policy (fail closed): an inactive token, and a `400` whose error is about the token
//! ([`TOKEN_REFUSALS`]), is `401 invalid_token`, cached for `negative_ttl`; an answer that cannot be
//! trusted or understood (timeout, connection error, 5xx or another status, wrong content type,
//! unparsable body, bad signature) is `503` with `Retry-After`, never a pass. An active answer is
//! then held to the gateway's audiences, issuer and token type ([`check_claims`]).

use crate::access_token::TokenVerifier;
use crate::error::{Error, TokenFault};
use crate::lru::Lru;
use crate::platform::{FetchError, FetchRequest, FetchResponse, LogLevel, Platform};
use crate::single_flight::{Flights, Turn};
use base64ct::{Base64, Encoding};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::sync::{Mutex, PoisonError};

/// Largest introspection answer read, in bytes. RFC 7662 answers are a few hundred bytes; 64 KiB
/// leaves room for rich claim sets while bounding what a broken or hostile AS can make us parse.
pub const MAX_RESPONSE_BYTES: usize = crate::access_token::MAX_SIGNED_ANSWER_BYTES;

/// How the authorization server answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseMode {
    /// RFC 7662 JSON (`application/json`).
    Json,
    /// RFC 9701 signed JWT (`application/token-introspection+jwt`), verified with the AS's keys.
    Jwt,
    /// The phantom-token answer (Curity style, `Accept: application/jwt`): the AS returns the JWT
    /// to forward, verified here as an access token before use; `204` (or `active: false` JSON)
    /// means inactive.
    ApplicationJwt,
}

/// What the introspector needs to know; built from the validated configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The introspection endpoint URL.
    pub endpoint: String,
    /// The gateway's client id at the AS (`client_secret_basic`, and RFC 9701 `aud`).
    pub client_id: String,
    /// The client secret, from a platform secret.
    pub client_secret: String,
    /// The AS's issuer identifier; for [`ResponseMode::Jwt`] it must name a configured issuer,
    /// whose keys verify the answer.
    pub issuer: String,
    /// Response mode.
    pub mode: ResponseMode,
    /// Fetch timeout in milliseconds.
    pub timeout_ms: u32,
    /// Longest time an active answer is reused, in seconds (also bounded by the token's `exp`).
    pub max_ttl: u64,
    /// How long an inactive answer is reused, in seconds.
    pub negative_ttl: u64,
    /// Most cached answers per isolate.
    pub capacity: usize,
    /// Audiences an active token must name in `aud` (one is enough).
    pub audiences: Vec<String>,
    /// Whether an answer without `aud` is rejected.
    pub require_audience: bool,
}

/// `token_type` values (RFC 7662 §2.2: RFC 6749 §7.1 types; RFC 8693 §3 URIs) that mean an
/// access token, compared without case. An answer without `token_type` is accepted (the member is
/// optional); a refresh token or an ID token never is.
const ACCESS_TOKEN_TYPES: &[&str] = &[
    "bearer",
    "dpop",
    "access_token",
    "urn:ietf:params:oauth:token-type:access_token",
];

/// Holds an active answer to what the gateway expects of an access token for its APIs, as the
/// verify stage does for a JWT (RFC 9068 §4): `aud` names one of `settings.audiences` (RFC 8707:
/// a token minted for another resource is not for us; an answer without `aud` only passes with
/// `require_audience: false`), `iss`, when given, is the configured AS, and `token_type`, when
/// given, is an access token's. Not checked here: `exp` (checked when the answer arrives and
/// bounds its cache life), scopes and other claims (the policy stage), `cnf` (the bind stage).
pub fn check_claims(settings: &Settings, claims: &Map<String, Value>) -> Result<(), Error> {
    let fault = |fault| Err(Error::InvalidToken(fault));
    match claims.get("aud") {
        None if !settings.require_audience => {}
        None => return fault(TokenFault::MissingClaim),
        Some(aud) if !names_audience(aud, &settings.audiences) => {
            return fault(TokenFault::WrongAudience)
        }
        Some(_) => {}
    }
    match claims.get("iss") {
        None => {}
        Some(Value::String(iss)) if *iss == settings.issuer => {}
        Some(_) => return fault(TokenFault::UnknownIssuer),
    }
    match claims.get("token_type") {
        None => Ok(()),
        Some(Value::String(kind))
            if ACCESS_TOKEN_TYPES
                .iter()
                .any(|t| t.eq_ignore_ascii_case(kind)) =>
        {
            Ok(())
        }
        Some(_) => fault(TokenFault::WrongType),
    }
}

/// RFC 7519 §4.1.3: `aud` is one string or an array of strings; one accepted value suffices.
fn names_audience(aud: &Value, accepted: &[String]) -> bool {
    let accepts = |value: &Value| {
        value
            .as_str()
            .is_some_and(|a| accepted.iter().any(|x| x == a))
    };
    match aud {
        Value::Array(values) => values.iter().any(accepts),
        other => accepts(other),
    }
}

/// The trusted facts about an active opaque token.
#[derive(Debug, Clone, PartialEq)]
pub struct Introspected {
    /// The introspection claims (`active`, `sub`, `scope`, `client_id`, `exp`, `cnf`, …).
    pub claims: Map<String, Value>,
    /// With [`ResponseMode::ApplicationJwt`]: the verified JWT the AS gave for the origin.
    pub jwt: Option<String>,
}

/// Builds the RFC 7662 §2.1 request: a form POST authenticated with `client_secret_basic`
/// (RFC 6749 §2.3.1: id and secret are form-urlencoded before base64).
pub fn request(settings: &Settings, token: &str) -> FetchRequest {
    let credentials = format!(
        "{}:{}",
        form_encode(&settings.client_id),
        form_encode(&settings.client_secret)
    );
    let accept = match settings.mode {
        ResponseMode::Json => "application/json",
        ResponseMode::Jwt => "application/token-introspection+jwt",
        ResponseMode::ApplicationJwt => "application/jwt",
    };
    FetchRequest {
        method: "POST",
        url: settings.endpoint.clone(),
        headers: vec![
            (
                "authorization".into(),
                format!("Basic {}", Base64::encode_string(credentials.as_bytes())),
            ),
            (
                "content-type".into(),
                "application/x-www-form-urlencoded".into(),
            ),
            ("accept".into(), accept.into()),
        ],
        body: format!("token={}&token_type_hint=access_token", form_encode(token)).into_bytes(),
        timeout_ms: settings.timeout_ms,
        max_body_bytes: MAX_RESPONSE_BYTES,
    }
}

/// The AS's answer, judged: `Ok(Some(_))` active, `Ok(None)` inactive, `Err(_)` unusable (503).
pub async fn process<P: Platform>(
    settings: &Settings,
    keys: &TokenVerifier,
    platform: &P,
    response: Result<FetchResponse, FetchError>,
    now: u64,
) -> Result<Option<Introspected>, Error> {
    let unavailable = || Error::UpstreamUnavailable("introspection unavailable");
    let response = response.map_err(|_| unavailable())?;
    if refuses_token(&response) {
        return Ok(None);
    }
    if settings.mode == ResponseMode::ApplicationJwt {
        return phantom_jwt(keys, platform, &response, now).await;
    }
    if response.status != 200 {
        return Err(unavailable());
    }
    let claims = match settings.mode {
        ResponseMode::Json | ResponseMode::ApplicationJwt => {
            if !content_type_is(&response, "application/json") {
                return Err(unavailable());
            }
            crate::strict::object(&response.body).ok_or_else(unavailable)?
        }
        ResponseMode::Jwt => {
            if !content_type_is(&response, "application/token-introspection+jwt") {
                return Err(unavailable());
            }
            let text = std::str::from_utf8(&response.body).map_err(|_| unavailable())?;
            let claims = keys
                .verify_introspection_jwt(
                    platform,
                    text.trim(),
                    &settings.issuer,
                    &settings.client_id,
                    now,
                )
                .await
                .map_err(|_| unavailable())?;
            match claims.get("token_introspection") {
                Some(Value::Object(inner)) => inner.clone(),
                _ => return Err(unavailable()),
            }
        }
    };
    match claims.get("active") {
        Some(Value::Bool(true)) => Ok(Some(Introspected { claims, jwt: None })),
        Some(Value::Bool(false)) => Ok(None),
        _ => Err(unavailable()),
    }
}

/// The phantom-token answer: `204` is inactive; `200 application/jwt` is the JWT for the origin,
/// verified like any access token (issuer, signature, audience, expiry); `200 application/json`
/// with `active: false` is inactive. Anything else cannot be trusted (503).
async fn phantom_jwt<P: Platform>(
    keys: &TokenVerifier,
    platform: &P,
    response: &FetchResponse,
    now: u64,
) -> Result<Option<Introspected>, Error> {
    let unavailable = || Error::UpstreamUnavailable("introspection unavailable");
    match response.status {
        204 => return Ok(None),
        200 => {}
        _ => return Err(unavailable()),
    }
    if content_type_is(response, "application/json") {
        return match crate::strict::object(&response.body).and_then(|m| m.get("active").cloned()) {
            Some(Value::Bool(false)) => Ok(None),
            _ => Err(unavailable()),
        };
    }
    if !content_type_is(response, "application/jwt") {
        return Err(unavailable());
    }
    let jwt = std::str::from_utf8(&response.body)
        .map_err(|_| unavailable())?
        .trim();
    let verified = keys
        .verify(platform, jwt, now)
        .await
        .map_err(|_| Error::UpstreamUnavailable("introspection answer not trusted"))?;
    let mut claims = verified.claims;
    claims.insert("active".into(), Value::Bool(true));
    Ok(Some(Introspected {
        claims,
        jwt: Some(jwt.to_owned()),
    }))
}

/// Error codes by which an AS says the request was about a token it will not introspect
/// (RFC 6749 §5.2 `invalid_request`, RFC 7009 §2.2.1 `unsupported_token_type`, RFC 6750 §3.1
/// `invalid_token`): the token is not active for us. Anything else in a `400` (`invalid_client`,
/// `unauthorized_client`, …) is about the gateway's own client registration, a fault the client
/// cannot cause or cure, so it stays a `503`.
const TOKEN_REFUSALS: &[&str] = &["invalid_request", "unsupported_token_type", "invalid_token"];

/// True for a `400` JSON error answer whose `error` is one of [`TOKEN_REFUSALS`]. RFC 7662 §2.2
/// wants `active: false` for tokens the AS does not know, but ASes also refuse some token shapes
/// outright (oidc-provider answers `unsupported_token_type` for JWT-shaped tokens); either way the
/// token is rejected (401) and the answer cached like an inactive one, so a client cannot make the
/// gateway answer 503 or call the AS at will.
fn refuses_token(response: &FetchResponse) -> bool {
    if response.status != 400 || !content_type_is(response, "application/json") {
        return false;
    }
    let error = crate::strict::object(&response.body).and_then(|body| match body.get("error") {
        Some(Value::String(code)) => Some(code.clone()),
        _ => None,
    });
    error.is_some_and(|code| TOKEN_REFUSALS.contains(&code.as_str()))
}

fn content_type_is(response: &FetchResponse, expected: &str) -> bool {
    response
        .headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("content-type"))
        .and_then(|(_, value)| value.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case(expected))
}

/// `application/x-www-form-urlencoded` encoding of one value (WHATWG URL §5.2).
fn form_encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// Key of an answer in the shared tier: the token's SHA-256, never the token.
fn shared_key(key: &[u8; 32]) -> String {
    let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    format!("edgeward/introspection/{hex}")
}

#[derive(Debug, Clone)]
enum Entry {
    Active {
        claims: Map<String, Value>,
        jwt: Option<String>,
        until: u64,
    },
    Inactive {
        until: u64,
    },
}

/// The per-isolate tier, keyed by SHA-256 (no raw token is a key).
type Cache = Lru<[u8; 32], Entry>;

/// Introspects opaque tokens with a bounded per-isolate cache (keyed by SHA-256 of the token, so
/// raw tokens are never stored) and single-flight: a burst of the same new token costs one call.
pub struct Introspector {
    settings: Settings,
    cache: Mutex<Cache>,
    flights: Flights,
}

impl Introspector {
    /// A new introspector with an empty cache.
    pub fn new(settings: Settings) -> Introspector {
        Introspector {
            settings,
            cache: Mutex::default(),
            flights: Flights::default(),
        }
    }

    /// Resolves an opaque token to its introspection claims, or says why not.
    pub async fn introspect<P: Platform>(
        &self,
        platform: &P,
        keys: &TokenVerifier,
        token: &str,
        now: u64,
    ) -> Result<Introspected, Error> {
        let found = self.lookup(platform, keys, token, now).await?;
        check_claims(&self.settings, &found.claims)?;
        Ok(found)
    }

    /// The answer for a token: cached (isolate, then shared tier) or asked for.
    async fn lookup<P: Platform>(
        &self,
        platform: &P,
        keys: &TokenVerifier,
        token: &str,
        now: u64,
    ) -> Result<Introspected, Error> {
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(hit) = self.cached(&key, now) {
            return hit;
        }
        // Waiters give up a little after the claimant's own call would have timed out.
        let deadline = self.settings.timeout_ms.saturating_add(1000);
        match self.flights.claim_or_wait(platform, key, deadline).await {
            Turn::Claimed(_claim) => match self.shared_get(platform, &key, now).await {
                Some(hit) => hit,
                None => self.call(platform, keys, token, key, now).await,
            },
            // The claimant stored its answer, unless its call failed: then share its 503.
            Turn::Finished | Turn::TimedOut => self
                .cached(&key, now)
                .unwrap_or(Err(Error::UpstreamUnavailable("introspection unavailable"))),
        }
    }

    async fn call<P: Platform>(
        &self,
        platform: &P,
        keys: &TokenVerifier,
        token: &str,
        key: [u8; 32],
        now: u64,
    ) -> Result<Introspected, Error> {
        let response = platform.fetch(request(&self.settings, token)).await;
        match process(&self.settings, keys, platform, response, now).await {
            Ok(Some(found)) => {
                let exp = found.claims.get("exp").and_then(Value::as_u64);
                let until = now
                    .saturating_add(self.settings.max_ttl)
                    .min(exp.unwrap_or(u64::MAX));
                if exp.is_some_and(|exp| exp <= now) {
                    return Err(Error::InvalidToken(TokenFault::Expired));
                }
                let (claims, jwt) = (found.claims.clone(), found.jwt.clone());
                self.remember(platform, key, Entry::Active { claims, jwt, until }, now)
                    .await;
                Ok(found)
            }
            Ok(None) => {
                let until = now.saturating_add(self.settings.negative_ttl);
                self.remember(platform, key, Entry::Inactive { until }, now)
                    .await;
                Err(Error::InvalidToken(TokenFault::Inactive))
            }
            Err(error) => {
                platform.log(LogLevel::Warn, "introspection failed; answering 503");
                Err(error)
            }
        }
    }

    /// Stores an answer pushed ahead of use (the warm-up endpoint): `token_hash` is SHA-256 of
    /// the token, `claims` its introspection claims (must be active), kept until `until`.
    pub async fn warm<P: Platform>(
        &self,
        platform: &P,
        token_hash: [u8; 32],
        claims: Map<String, Value>,
        until: u64,
        now: u64,
    ) {
        let until = until.min(now.saturating_add(self.settings.max_ttl));
        let jwt = None;
        self.remember(
            platform,
            token_hash,
            Entry::Active { claims, jwt, until },
            now,
        )
        .await;
    }

    /// Keeps an answer in this isolate and in the platform's shared tier.
    async fn remember<P: Platform>(&self, platform: &P, key: [u8; 32], entry: Entry, now: u64) {
        let (value, until) = match &entry {
            Entry::Active { claims, jwt, until } => (
                serde_json::json!({ "active": true, "claims": claims, "jwt": jwt, "until": until }),
                *until,
            ),
            Entry::Inactive { until } => (
                serde_json::json!({ "active": false, "until": until }),
                *until,
            ),
        };
        self.store(key, entry);
        if until > now {
            platform
                .cache_put(&shared_key(&key), value.to_string().into_bytes(), until)
                .await;
        }
    }

    /// A still-valid answer from the shared tier, copied into this isolate.
    async fn shared_get<P: Platform>(
        &self,
        platform: &P,
        key: &[u8; 32],
        now: u64,
    ) -> Option<Result<Introspected, Error>> {
        let bytes = platform.cache_get(&shared_key(key)).await?;
        let value = crate::strict::object(&bytes)?;
        let until = value.get("until").and_then(Value::as_u64)?;
        let entry = match (value.get("active"), value.get("claims")) {
            (Some(Value::Bool(true)), Some(Value::Object(claims))) => Entry::Active {
                claims: claims.clone(),
                jwt: value.get("jwt").and_then(Value::as_str).map(str::to_owned),
                until,
            },
            (Some(Value::Bool(false)), _) => Entry::Inactive { until },
            _ => return None,
        };
        self.store(*key, entry);
        self.cached(key, now)
    }

    fn cached(&self, key: &[u8; 32], now: u64) -> Option<Result<Introspected, Error>> {
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = cache.get(key)?;
        match entry {
            Entry::Active { claims, jwt, until } if now < *until => Some(Ok(Introspected {
                claims: claims.clone(),
                jwt: jwt.clone(),
            })),
            Entry::Inactive { until } if now < *until => {
                Some(Err(Error::InvalidToken(TokenFault::Inactive)))
            }
            _ => None,
        }
    }

    fn store(&self, key: [u8; 32], entry: Entry) {
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        cache.insert(key, entry, self.settings.capacity);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_form_encoded_before_base64() {
        let settings = Settings {
            endpoint: "https://as.test/introspect".into(),
            client_id: "gw id".into(),
            client_secret: "s:e&c".into(),
            issuer: "https://as.test".into(),
            mode: ResponseMode::Json,
            timeout_ms: 2000,
            max_ttl: 300,
            negative_ttl: 10,
            capacity: 8,
            audiences: vec!["api".into()],
            require_audience: true,
        };
        let req = request(&settings, "tok+en/=");
        let auth = &req.headers[0].1;
        let decoded = Base64::decode_vec(auth.trim_start_matches("Basic ")).unwrap();
        assert_eq!(decoded, b"gw+id:s%3Ae%26c");
        assert_eq!(
            req.body,
            b"token=tok%2Ben%2F%3D&token_type_hint=access_token"
        );
        assert_eq!(req.method, "POST");
    }
}
