//! The token-exchange stage: OAuth 2.0 Token Exchange (RFC 8693) for the next hop. After policy, a
//! route with `exchange` trades the client's verified token for one the authorization server
//! issues for the origin's own audience or resource, with reduced scope (and, with
//! `actor: gateway`, the gateway named as actor, RFC 8693 §4.1 `act`). The origin receives that
//! token in `Authorization`, never the client's.
//!
//! Split like [`crate::introspection`]: [`request`] builds the §2.1 request, [`process`] judges the
//! §2.2 answer, [`Exchanger`] caches (per isolate, then the platform's shared tier) and
//! de-duplicates (single-flight), so a burst with one new token costs one exchange per isolate.
//!
//! Checked in an answer (§2.2.1): `200`, `application/json`, a non-empty `access_token` made only
//! of RFC 6750 §2.1 `b64token` characters (it becomes a header value), `issued_token_type` equal to
//! the requested type, `token_type` `Bearer` or `N_A` (a `DPoP` token would need a proof the
//! gateway cannot make), `expires_in` a number when present. Not checked: the issued token's
//! content (it is the AS's statement to the origin, which verifies it; the gateway does not hold
//! the origin's audience) and `scope` in the answer (§2.2.1 only reports it).
//!
//! Failure policy (fail closed): a `400` whose `error` is `invalid_grant`, `invalid_target` or
//! `invalid_scope` (§2.2.2: the AS will not issue a token for this subject, target or scope) is
//! `403` [`Error::ExchangeRefused`], cached for `negative_ttl`; anything else (timeout, connection
//! error, 5xx, another `400` such as `invalid_client`, an answer that fails the checks above) is
//! `503` with `Retry-After`. The request is never forwarded without the exchanged token.

use crate::assertion::GatewayKey;
use crate::error::Error;
use crate::lru::Lru;
use crate::platform::{FetchError, FetchRequest, FetchResponse, LogLevel, Platform};
use crate::single_flight::{Flights, Turn};
use base64ct::{Base64, Base64UrlUnpadded, Encoding};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::sync::{Mutex, PoisonError};

/// RFC 8693 §2.1 `grant_type`.
pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";

/// RFC 8693 §3: the token type of an OAuth 2.0 access token (the default `requested_token_type`,
/// and the `subject_token_type` the gateway sends: the client's token is an access token, JWT or
/// opaque).
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

/// RFC 8693 §3: the token type of a JWT (the gateway's `actor_token`).
pub const JWT_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:jwt";

/// JOSE `typ` of the gateway's actor token, distinct from its assertion and from access tokens
/// (RFC 8725 §3.11).
pub const ACTOR_TYP: &str = "edgeward-actor+jwt";

/// Lifetime of an actor token, in seconds: it is used at once, in the same request.
pub const ACTOR_TTL: u64 = 60;

/// Largest token-exchange answer read: 64 KiB, as for introspection answers.
pub const MAX_RESPONSE_BYTES: usize = crate::access_token::MAX_SIGNED_ANSWER_BYTES;

/// `error` codes (RFC 8693 §2.2.2, RFC 6749 §5.2) by which the AS refuses this subject token,
/// target or scope: a fact about the client's token and this route, answered 403.
const REFUSALS: &[&str] = &["invalid_grant", "invalid_target", "invalid_scope"];

/// Who the exchanged token names as actor (RFC 8693 §4.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Actor {
    /// No `actor_token`: the exchanged token speaks for the subject alone.
    #[default]
    None,
    /// The gateway's own signed JWT as `actor_token` (`forwarding.signing_key_secret`).
    Gateway,
}

crate::by_name::deserialize_by_name!(Actor {
    "none" => Actor::None,
    "gateway" => Actor::Gateway,
});

/// A route's `exchange`: what to ask the AS for (RFC 8693 §2.1). Checked when the configuration
/// loads (`config/token_exchange.rs`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExchangeRule {
    /// `audience`: logical names of the target services (RFC 8693 §2.1: the parameter may be
    /// repeated). A string or a list in the configuration.
    #[serde(default, deserialize_with = "one_or_many")]
    pub audience: Vec<String>,
    /// `resource`: the target services' absolute URIs (RFC 8707; may be repeated too).
    #[serde(default, deserialize_with = "one_or_many")]
    pub resource: Vec<String>,
    /// `scope`: space-separated scopes wanted for the exchanged token.
    #[serde(default)]
    pub scope: Option<String>,
    /// `requested_token_type` (default [`ACCESS_TOKEN_TYPE`]).
    #[serde(default = "default_requested_token_type")]
    pub requested_token_type: String,
    /// `none` (default) or `gateway`.
    #[serde(default)]
    pub actor: Actor,
}

crate::bake::bake_struct!(ExchangeRule {
    audience,
    resource,
    scope,
    requested_token_type,
    actor
});

/// A string or a list of strings, as a list. A visitor rather than an untagged enum: serde reads an
/// untagged enum by buffering the value in its `Content` tree first, ≈ 3 KB of Wasm for two shapes.
fn one_or_many<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    deserializer.deserialize_any(OneOrMany)
}

struct OneOrMany;

impl<'de> serde::de::Visitor<'de> for OneOrMany {
    type Value = Vec<String>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a string or a list of strings")
    }

    fn visit_str<E: serde::de::Error>(self, one: &str) -> Result<Vec<String>, E> {
        Ok(vec![one.to_owned()])
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<String>, A::Error> {
        let mut many = Vec::new();
        while let Some(one) = seq.next_element::<String>()? {
            many.push(one);
        }
        Ok(many)
    }
}

fn default_requested_token_type() -> String {
    ACCESS_TOKEN_TYPE.into()
}

/// How the gateway authenticates to the token endpoint.
#[derive(Clone)]
pub enum ClientAuth {
    /// `client_secret_basic` (RFC 6749 §2.3.1), with the secret from a platform secret.
    SecretBasic(String),
    /// `private_key_jwt` (RFC 7523 §2.2, OpenID Connect Core §9): a JWT signed with the gateway
    /// key (`forwarding.signing_key_secret`).
    PrivateKeyJwt,
}

impl std::fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ClientAuth::SecretBasic(_) => "SecretBasic(..)",
            ClientAuth::PrivateKeyJwt => "PrivateKeyJwt",
        })
    }
}

/// RFC 7523 §2.2 `client_assertion_type`.
pub const JWT_BEARER_ASSERTION: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// How the gateway reaches the AS token endpoint; built from the `token_exchange` section.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The AS token endpoint.
    pub token_endpoint: String,
    /// The gateway's client id.
    pub client_id: String,
    /// How it authenticates.
    pub auth: ClientAuth,
    /// Fetch timeout in milliseconds.
    pub timeout_ms: u32,
    /// Longest reuse of an exchanged token, in seconds, when the AS gives no `expires_in`.
    pub max_ttl: u64,
    /// How long a refusal is reused, in seconds.
    pub negative_ttl: u64,
    /// Seconds taken off an exchanged token's lifetime before it is no longer reused, so the origin
    /// never receives one about to expire.
    pub skew: u64,
    /// Most cached exchanges per isolate.
    pub capacity: usize,
}

/// One exchange to make: the rule, the client's token and what bounds the answer's life.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    /// The route's rule.
    pub rule: &'a ExchangeRule,
    /// The token sent as `subject_token`: the verified token as the client sent it (for an
    /// opaque token answered in `application_jwt` mode, the AS's JWT).
    pub token: &'a str,
    /// The subject token's `exp`: no exchanged token is reused past it.
    pub exp: Option<u64>,
}

/// The gateway as actor: its key and its id (`iss` and `sub` of the actor token).
#[derive(Clone, Copy)]
pub struct ActorKey<'a> {
    /// The gateway key (`forwarding.signing_key_secret`).
    pub key: &'a GatewayKey,
    /// `forwarding.gateway_id`.
    pub gateway_id: &'a str,
}

/// The AS's usable answer (RFC 8693 §2.2.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    /// `access_token`: the token the origin receives.
    pub token: String,
    /// `expires_in`, seconds.
    pub expires_in: Option<u64>,
}

/// The gateway's actor token: an ES256 JWT, `iss` = `sub` = the gateway id, `aud` = the token
/// endpoint, `iat`, `exp` ([`ACTOR_TTL`] later) and a random `jti`.
pub fn actor_token<P: Platform>(
    platform: &P,
    actor: ActorKey<'_>,
    audience: &str,
    now: u64,
) -> String {
    let mut jti = [0u8; 16];
    platform.random(&mut jti);
    let header = json!({ "alg": "ES256", "typ": ACTOR_TYP, "kid": actor.key.kid() });
    let claims = json!({
        "iss": actor.gateway_id, "sub": actor.gateway_id, "aud": audience,
        "iat": now, "exp": now.saturating_add(ACTOR_TTL),
        "jti": Base64UrlUnpadded::encode_string(&jti),
    });
    actor.key.sign_jws(&header, &claims)
}

/// The gateway's `private_key_jwt` client assertion (RFC 7523 §3): ES256, `iss` = `sub` = the
/// client id, `aud` = the token endpoint, `iat`, `exp` ([`ACTOR_TTL`] later), a random `jti`.
pub fn client_assertion<P: Platform>(
    platform: &P,
    key: &GatewayKey,
    client_id: &str,
    token_endpoint: &str,
    now: u64,
) -> String {
    let mut jti = [0u8; 16];
    platform.random(&mut jti);
    let header = json!({ "alg": "ES256", "kid": key.kid() });
    let claims = json!({
        "iss": client_id, "sub": client_id, "aud": token_endpoint,
        "iat": now, "exp": now.saturating_add(ACTOR_TTL),
        "jti": Base64UrlUnpadded::encode_string(&jti),
    });
    key.sign_jws(&header, &claims)
}

/// The tokens the gateway signs for one exchange request.
#[derive(Debug, Clone, Copy, Default)]
pub struct Signed<'a> {
    /// `actor_token` (`actor: gateway`).
    pub actor_token: Option<&'a str>,
    /// `client_assertion` (`private_key_jwt`).
    pub client_assertion: Option<&'a str>,
}

/// Builds the RFC 8693 §2.1 request: a form POST to the token endpoint, authenticated with
/// `client_secret_basic` (RFC 6749 §2.3.1: id and secret form-urlencoded before base64) or, with a
/// `client_assertion`, `private_key_jwt` (`client_id`, `client_assertion_type`,
/// `client_assertion` in the form, RFC 7523 §2.2).
pub fn request(settings: &Settings, subject: &Subject<'_>, signed: Signed<'_>) -> FetchRequest {
    let rule = subject.rule;
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.append_pair("grant_type", GRANT_TYPE);
    form.append_pair("subject_token", subject.token);
    form.append_pair("subject_token_type", ACCESS_TOKEN_TYPE);
    form.append_pair("requested_token_type", &rule.requested_token_type);
    for (name, values) in [("audience", &rule.audience), ("resource", &rule.resource)] {
        for value in values {
            form.append_pair(name, value);
        }
    }
    if let Some(scope) = &rule.scope {
        form.append_pair("scope", scope);
    }
    if let Some(actor) = signed.actor_token {
        form.append_pair("actor_token", actor);
        form.append_pair("actor_token_type", JWT_TOKEN_TYPE);
    }
    let mut headers = vec![
        (
            "content-type".into(),
            "application/x-www-form-urlencoded".into(),
        ),
        ("accept".into(), "application/json".into()),
    ];
    match (&settings.auth, signed.client_assertion) {
        (ClientAuth::SecretBasic(secret), _) => {
            let id = form_encode(&settings.client_id);
            let credentials = format!("{id}:{}", form_encode(secret));
            let basic = format!("Basic {}", Base64::encode_string(credentials.as_bytes()));
            headers.insert(0, ("authorization".into(), basic));
        }
        (ClientAuth::PrivateKeyJwt, assertion) => {
            form.append_pair("client_id", &settings.client_id);
            form.append_pair("client_assertion_type", JWT_BEARER_ASSERTION);
            form.append_pair("client_assertion", assertion.unwrap_or_default());
        }
    }
    FetchRequest {
        method: "POST",
        url: settings.token_endpoint.clone(),
        headers,
        body: form.finish().into_bytes(),
        timeout_ms: settings.timeout_ms,
        max_body_bytes: MAX_RESPONSE_BYTES,
    }
}

/// The AS's answer, judged (see the module documentation): the issued token, a refusal (403) or
/// an unusable answer (503).
pub fn process(
    rule: &ExchangeRule,
    response: Result<FetchResponse, FetchError>,
) -> Result<Issued, Error> {
    let unavailable = || Error::UpstreamUnavailable("token exchange unavailable");
    let response = response.map_err(|_| unavailable())?;
    if !is_json(&response) {
        return Err(unavailable());
    }
    let body = crate::strict::object(&response.body).ok_or_else(unavailable)?;
    match response.status {
        200 => {}
        400 => {
            return match body.get("error").and_then(Value::as_str) {
                Some(code) if REFUSALS.contains(&code) => Err(Error::ExchangeRefused(
                    "the authorization server refused the exchange",
                )),
                _ => Err(unavailable()),
            }
        }
        _ => return Err(unavailable()),
    }
    issued(rule, &body).ok_or_else(unavailable)
}

/// RFC 8693 §2.2.1 members of a `200` answer.
fn issued(rule: &ExchangeRule, body: &Map<String, Value>) -> Option<Issued> {
    let token = body.get("access_token")?.as_str()?;
    if !is_b64token(token) {
        return None;
    }
    if body.get("issued_token_type")?.as_str()? != rule.requested_token_type {
        return None;
    }
    let kind = body.get("token_type")?.as_str()?;
    if !kind.eq_ignore_ascii_case("bearer") && !kind.eq_ignore_ascii_case("n_a") {
        return None;
    }
    let expires_in = match body.get("expires_in") {
        None => None,
        Some(value) => Some(value.as_u64()?),
    };
    Some(Issued {
        token: token.to_owned(),
        expires_in,
    })
}

/// RFC 6750 §2.1 `b64token`: `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
fn is_b64token(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
}

fn is_json(response: &FetchResponse) -> bool {
    response
        .headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("content-type"))
        .and_then(|(_, value)| value.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"))
}

fn form_encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// The cache key: SHA-256 over the subject token, every audience and resource (in order, each
/// list count-prefixed), scope, requested type and actor, each value length-prefixed so that no
/// two different requests share a key.
pub fn cache_key(subject: &Subject<'_>) -> [u8; 32] {
    let rule = subject.rule;
    let actor = rule.actor.name();
    let mut hash = Sha256::new();
    let text = |hash: &mut Sha256, text: &str| {
        hash.update((text.len() as u64).to_be_bytes());
        hash.update(text.as_bytes());
    };
    text(&mut hash, subject.token);
    for list in [&rule.audience, &rule.resource] {
        hash.update((list.len() as u64).to_be_bytes());
        for value in list {
            text(&mut hash, value);
        }
    }
    match &rule.scope {
        None => hash.update([0u8]),
        Some(scope) => {
            hash.update([1u8]);
            text(&mut hash, scope);
        }
    }
    text(&mut hash, &rule.requested_token_type);
    text(&mut hash, actor);
    hash.finalize().into()
}

/// Key of an exchange in the shared tier: the cache key in hex, never a token.
fn shared_key(key: &[u8; 32]) -> String {
    let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    format!("edgeward/exchange/{hex}")
}

#[derive(Debug, Clone)]
enum Entry {
    Issued { token: String, until: u64 },
    Refused { until: u64 },
}

impl Entry {
    fn until(&self) -> u64 {
        match self {
            Entry::Issued { until, .. } | Entry::Refused { until } => *until,
        }
    }
}

/// The per-isolate tier, keyed by SHA-256 (no raw token is a key).
type Cache = Lru<[u8; 32], Entry>;

/// Exchanges tokens with a bounded per-isolate LRU cache and the shared tier (both keyed by
/// [`cache_key`], so no raw token is a key), and single-flight per key.
pub struct Exchanger {
    settings: Settings,
    cache: Mutex<Cache>,
    flights: Flights,
}

impl Exchanger {
    /// A new exchanger with an empty cache.
    pub fn new(settings: Settings) -> Exchanger {
        Exchanger {
            settings,
            cache: Mutex::default(),
            flights: Flights::default(),
        }
    }

    /// The token the origin receives for `subject`: cached (isolate, then shared tier) or
    /// exchanged now. `gateway` is the gateway's key, used for `actor: gateway` and
    /// `private_key_jwt` (configuration validation makes sure it is there when needed).
    pub async fn exchange<P: Platform>(
        &self,
        platform: &P,
        subject: &Subject<'_>,
        gateway: Option<ActorKey<'_>>,
        now: u64,
    ) -> Result<String, Error> {
        let key = cache_key(subject);
        if let Some(hit) = self.cached(&key, now) {
            return hit;
        }
        // Waiters give up a little after the claimant's own call would have timed out.
        let deadline = self.settings.timeout_ms.saturating_add(1000);
        match self.flights.claim_or_wait(platform, key, deadline).await {
            Turn::Claimed(_claim) => match self.shared_get(platform, &key, now).await {
                Some(hit) => hit,
                None => self.call(platform, subject, gateway, key, now).await,
            },
            // The claimant stored its answer, unless its call failed: then share its 503.
            Turn::Finished | Turn::TimedOut => {
                self.cached(&key, now)
                    .unwrap_or(Err(Error::UpstreamUnavailable(
                        "token exchange unavailable",
                    )))
            }
        }
    }

    async fn call<P: Platform>(
        &self,
        platform: &P,
        subject: &Subject<'_>,
        gateway: Option<ActorKey<'_>>,
        key: [u8; 32],
        now: u64,
    ) -> Result<String, Error> {
        let settings = &self.settings;
        let endpoint = &settings.token_endpoint;
        let actor = match subject.rule.actor {
            Actor::Gateway => gateway.map(|g| actor_token(platform, g, endpoint, now)),
            Actor::None => None,
        };
        let assertion = match settings.auth {
            ClientAuth::PrivateKeyJwt => gateway
                .map(|g| client_assertion(platform, g.key, &settings.client_id, endpoint, now)),
            ClientAuth::SecretBasic(_) => None,
        };
        let signed = Signed {
            actor_token: actor.as_deref(),
            client_assertion: assertion.as_deref(),
        };
        let response = platform.fetch(request(settings, subject, signed)).await;
        match process(subject.rule, response) {
            Ok(issued) => {
                let until = self.until(&issued, subject.exp, now);
                let entry = Entry::Issued {
                    token: issued.token.clone(),
                    until,
                };
                self.remember(platform, key, entry, now).await;
                Ok(issued.token)
            }
            Err(refused @ Error::ExchangeRefused(_)) => {
                let until = now.saturating_add(self.settings.negative_ttl);
                self.remember(platform, key, Entry::Refused { until }, now)
                    .await;
                Err(refused)
            }
            Err(error) => {
                platform.log(LogLevel::Warn, "token exchange failed; answering 503");
                Err(error)
            }
        }
    }

    /// How long an issued token is reused: `min(expires_in (else max_ttl), subject exp)` less
    /// the skew. At or before `now` it is used for this request only.
    fn until(&self, issued: &Issued, subject_exp: Option<u64>, now: u64) -> u64 {
        let lifetime = issued.expires_in.unwrap_or(self.settings.max_ttl);
        now.saturating_add(lifetime)
            .min(subject_exp.unwrap_or(u64::MAX))
            .saturating_sub(self.settings.skew)
    }

    /// Keeps an answer in this isolate and in the shared tier, while it is still usable.
    async fn remember<P: Platform>(&self, platform: &P, key: [u8; 32], entry: Entry, now: u64) {
        let until = entry.until();
        if until <= now {
            return;
        }
        let value = match &entry {
            Entry::Issued { token, until } => json!({ "token": token, "until": until }),
            Entry::Refused { until } => json!({ "refused": true, "until": until }),
        };
        self.store(key, entry);
        platform
            .cache_put(&shared_key(&key), value.to_string().into_bytes(), until)
            .await;
    }

    /// A still-valid answer from the shared tier, copied into this isolate.
    async fn shared_get<P: Platform>(
        &self,
        platform: &P,
        key: &[u8; 32],
        now: u64,
    ) -> Option<Result<String, Error>> {
        let bytes = platform.cache_get(&shared_key(key)).await?;
        let value = crate::strict::object(&bytes)?;
        let until = value.get("until").and_then(Value::as_u64)?;
        let entry = match (value.get("token"), value.get("refused")) {
            (Some(Value::String(token)), None) if is_b64token(token) => Entry::Issued {
                token: token.clone(),
                until,
            },
            (None, Some(Value::Bool(true))) => Entry::Refused { until },
            _ => return None,
        };
        self.store(*key, entry);
        self.cached(key, now)
    }

    fn cached(&self, key: &[u8; 32], now: u64) -> Option<Result<String, Error>> {
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = cache.get(key)?;
        match entry {
            Entry::Issued { token, until } if now < *until => Some(Ok(token.clone())),
            Entry::Refused { until } if now < *until => Some(Err(Error::ExchangeRefused(
                "the authorization server refused the exchange",
            ))),
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
    fn audience_and_resource_take_a_string_or_a_list_of_strings() {
        let read = |exchange: Value| serde_json::from_value::<ExchangeRule>(exchange);
        let one = read(serde_json::json!({ "audience": "orders", "resource": [] })).unwrap();
        assert_eq!(
            (one.audience, one.resource),
            (vec!["orders".to_owned()], vec![])
        );
        let many = read(serde_json::json!({ "audience": ["a", "b"] })).unwrap();
        assert_eq!(many.audience, ["a", "b"]);
        assert!(many.resource.is_empty());
        for bad in [
            serde_json::json!(1),
            serde_json::json!(["a", 2]),
            serde_json::json!({}),
        ] {
            let error = read(serde_json::json!({ "audience": bad }))
                .unwrap_err()
                .to_string();
            assert!(error.contains("invalid type"), "{error}");
        }
        let error = read(serde_json::json!({ "resource": null }))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("expected a string or a list of strings"),
            "{error}"
        );
    }

    fn rule() -> ExchangeRule {
        ExchangeRule {
            audience: vec!["orders api".into()],
            resource: vec!["https://orders.test/".into()],
            scope: Some("orders:read".into()),
            requested_token_type: ACCESS_TOKEN_TYPE.into(),
            actor: Actor::None,
        }
    }

    fn answer(status: u16, body: Value) -> Result<FetchResponse, FetchError> {
        Ok(FetchResponse {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.to_string().into_bytes(),
        })
    }

    #[test]
    fn request_is_an_rfc8693_form_with_basic_auth() {
        let settings = Settings {
            token_endpoint: "https://as.test/token".into(),
            client_id: "gw".into(),
            auth: ClientAuth::SecretBasic("s&c".into()),
            timeout_ms: 1000,
            max_ttl: 300,
            negative_ttl: 10,
            skew: 30,
            capacity: 8,
        };
        let rule = rule();
        let subject = Subject {
            rule: &rule,
            token: "a.b+c",
            exp: None,
        };
        let signed = Signed {
            actor_token: Some("x.y.z"),
            client_assertion: None,
        };
        let req = request(&settings, &subject, signed);
        let form: Vec<(String, String)> = url::form_urlencoded::parse(&req.body)
            .into_owned()
            .collect();
        let get = |n: &str| form.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
        assert_eq!(get("grant_type"), Some(GRANT_TYPE));
        assert_eq!(get("subject_token"), Some("a.b+c"));
        assert_eq!(get("subject_token_type"), Some(ACCESS_TOKEN_TYPE));
        assert_eq!(get("audience"), Some("orders api"));
        assert_eq!(get("resource"), Some("https://orders.test/"));
        // Several targets: each one a parameter of its own, in order (RFC 8693 §2.1).
        let mut several = rule.clone();
        several.audience.push("billing".into());
        several.resource.push("https://billing.test/".into());
        let req = request(
            &settings,
            &Subject {
                rule: &several,
                ..subject
            },
            Signed::default(),
        );
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(&req.body)
            .into_owned()
            .collect();
        let all = |n: &str| -> Vec<&str> {
            pairs
                .iter()
                .filter(|(k, _)| k == n)
                .map(|(_, v)| v.as_str())
                .collect()
        };
        assert_eq!(all("audience"), ["orders api", "billing"]);
        assert_eq!(
            all("resource"),
            ["https://orders.test/", "https://billing.test/"]
        );
        assert_eq!(get("scope"), Some("orders:read"));
        assert_eq!(get("actor_token"), Some("x.y.z"));
        assert_eq!(get("actor_token_type"), Some(JWT_TOKEN_TYPE));
        let auth = &req.headers[0].1;
        let decoded = Base64::decode_vec(auth.trim_start_matches("Basic ")).unwrap();
        assert_eq!(decoded, b"gw:s%26c");
        let without = request(&settings, &subject, Signed::default());
        assert!(!String::from_utf8(without.body)
            .unwrap()
            .contains("actor_token"));
        // private_key_jwt: the assertion in the form, no Basic credentials.
        let jwt = Settings {
            auth: ClientAuth::PrivateKeyJwt,
            ..settings
        };
        let signed = Signed {
            actor_token: None,
            client_assertion: Some("a.b.c"),
        };
        let req = request(&jwt, &subject, signed);
        let body = String::from_utf8(req.body).unwrap();
        assert!(body.contains("&client_id=gw&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=a.b.c"));
        assert!(req.headers.iter().all(|(name, _)| name != "authorization"));
    }

    #[test]
    fn answers_are_judged_per_rfc8693() {
        let rule = rule();
        let ok = json!({ "access_token": "ey.J9.x-_", "issued_token_type": ACCESS_TOKEN_TYPE,
            "token_type": "Bearer", "expires_in": 60 });
        assert_eq!(
            process(&rule, answer(200, ok.clone())),
            Ok(Issued {
                token: "ey.J9.x-_".into(),
                expires_in: Some(60)
            })
        );
        for code in REFUSALS {
            let refused = process(&rule, answer(400, json!({ "error": code })));
            assert_eq!(refused.unwrap_err().code(), "ERR_EXCHANGE_REFUSED");
        }
        let unavailable =
            |r: Result<Issued, Error>| r.unwrap_err().code() == "ERR_UPSTREAM_UNAVAILABLE";
        assert!(unavailable(process(
            &rule,
            answer(400, json!({ "error": "invalid_client" }))
        )));
        assert!(unavailable(process(&rule, answer(500, ok.clone()))));
        assert!(unavailable(process(&rule, Err(FetchError::Timeout))));
        let mut bad = ok.clone();
        bad["access_token"] = "a b\r\nx-injected: 1".into();
        assert!(unavailable(process(&rule, answer(200, bad))));
        let mut bad = ok.clone();
        bad["issued_token_type"] = JWT_TOKEN_TYPE.into();
        assert!(unavailable(process(&rule, answer(200, bad))));
        let mut bad = ok.clone();
        bad["token_type"] = "DPoP".into();
        assert!(unavailable(process(&rule, answer(200, bad))));
        let mut bad = ok;
        bad["expires_in"] = "soon".into();
        assert!(unavailable(process(&rule, answer(200, bad))));
    }

    #[test]
    fn cache_key_separates_every_part() {
        let rule = rule();
        let base = Subject {
            rule: &rule,
            token: "t",
            exp: None,
        };
        let mut other = rule.clone();
        other.actor = Actor::Gateway;
        let mut moved = rule.clone();
        moved.audience = Vec::new();
        moved.scope = Some("orders api orders:read".into());
        let mut two = rule.clone();
        two.audience.push("billing".into());
        let mut swapped = two.clone();
        swapped.audience.reverse();
        let mut shifted = rule.clone();
        shifted.audience = vec!["orders".into(), " api".into()];
        let keys = [
            cache_key(&base),
            cache_key(&Subject { token: "u", ..base }),
            cache_key(&Subject {
                rule: &other,
                ..base
            }),
            cache_key(&Subject {
                rule: &moved,
                ..base
            }),
            cache_key(&Subject { rule: &two, ..base }),
            cache_key(&Subject {
                rule: &swapped,
                ..base
            }),
            cache_key(&Subject {
                rule: &shifted,
                ..base
            }),
        ];
        for (i, a) in keys.iter().enumerate() {
            for b in keys.iter().skip(i + 1) {
                assert_ne!(a, b);
            }
        }
    }
}
