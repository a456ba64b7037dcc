//! The gateway configuration: one JSON document, given to the Worker as its `EDGEWARD_CONFIG`
//! variable and to the Spin component as its `EDGEWARD_CONFIG` environment variable (spin.toml
//! `environment`). Every field is documented in `docs/configuration.md`; unknown fields are
//! rejected so that a typo never silently weakens policy.

use crate::access_token::IssuerSettings;
pub use crate::assertion::MAX_ASSERTION_TTL;
pub use crate::dpop::{DpopMode, ReplayMode};
pub use crate::error::ConfigError;
pub(crate) use crate::forward::ForwardingSecrets;
pub use crate::forward::{
    AssertionConfig, ClientAddressField, Forwarding, MessageSignatureConfig, SignatureAlgorithm,
    DEFAULT_ASSERTION_HEADER, DEFAULT_ASSERTION_TTL, DEFAULT_HMAC_KEYID,
    DEFAULT_MAX_CLAIM_HEADERS_BYTES, DEFAULT_MAX_CLAIM_HEADER_BYTES, DEFAULT_ORIGIN_TIMEOUT_MS,
    DEFAULT_SIGNATURE_LABEL, DEFAULT_SIGNATURE_TTL, MAX_ORIGIN_TIMEOUT_MS,
};
use crate::jwa::{Alg, AlgSet};
pub use crate::mtls::{CertEncoding, Mtls};
pub use crate::policy::{ClaimRule, OriginByClaim, Route};
pub use crate::token::TokenKind;
pub use crate::token_cache::SharedTokenCache;
use serde::Deserialize;
use url::Url;

/// Default limit on the size of a credential, in bytes. 16 KiB is well above the largest access
/// tokens seen in practice (x5c chains of three certificates are ≈ 3 KiB) and bounds parsing work.
pub const DEFAULT_MAX_TOKEN_BYTES: usize = 16 * 1024;

/// Reads a named platform secret (Workers secret or variable, Spin environment variable): how
/// fields that name a secret are resolved when the configuration loads.
pub type SecretLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The whole configuration document.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Base URL of the origin API, e.g. `https://api.internal.example`. Required.
    pub origin: String,
    /// The `issuers`, loaded into the verify stage's typed settings by [`Config::from_json`]
    /// (algorithms and JWK Sets parsed once, there; not part of the document).
    #[serde(skip)]
    pub issuer_settings: Vec<IssuerSettings>,
    /// Largest accepted credential, in bytes.
    #[serde(default = "default_max_token_bytes")]
    pub max_token_bytes: usize,
    /// Capacity of the per-isolate verified-token cache ([`crate::token_cache`]); 0 disables it.
    #[serde(default = "default_token_cache_entries")]
    pub token_cache_entries: usize,
    /// Whether verified JWTs are also kept in the platform's shared tier
    /// ([`crate::token_cache`], "Shared tier"): `auto` (default), `on` or `off`.
    #[serde(default)]
    pub token_cache_shared: SharedTokenCache,
    /// Routes, first match wins.
    #[serde(default)]
    pub routes: Vec<Route>,
    /// What happens to a request no route matches.
    #[serde(default)]
    pub unmatched: Unmatched,
    /// Token issuers the gateway trusts, each with its audiences, algorithms and key source.
    #[serde(default)]
    pub issuers: Vec<Issuer>,
    /// Introspection of opaque tokens (RFC 7662 / RFC 9701): the phantom-token pattern.
    #[serde(default)]
    pub introspection: Option<Introspection>,
    /// How long to wait for the origin's response head, in milliseconds (1 to
    /// [`MAX_ORIGIN_TIMEOUT_MS`]; default [`DEFAULT_ORIGIN_TIMEOUT_MS`]). Past it the client gets
    /// 504 `ERR_ORIGIN_TIMEOUT`. Platforms may cut requests sooner.
    #[serde(default = "default_origin_timeout_ms")]
    pub origin_timeout_ms: u32,
    /// What the origin receives: claim headers, the signed assertion, the message signature.
    #[serde(default)]
    pub forwarding: Forwarding,
    /// The URL clients use to reach the gateway when it sits behind a proxy or under a path
    /// prefix, e.g. `https://api.example.com/v1`. DPoP `htu` (RFC 9449 §4.3) is compared with this
    /// URL's scheme and authority, its path prepended to the request path. Default: the request URL.
    #[serde(default)]
    pub public_base_url: Option<String>,
    /// DPoP proof rules (RFC 9449).
    #[serde(default)]
    pub dpop: Dpop,
    /// Certificate-bound tokens (RFC 8705): where the client certificate comes from.
    #[serde(default)]
    pub mtls: Mtls,
}

/// DPoP proof rules (RFC 9449). Defaults and their reasons: `docs/configuration.md` ("DPoP").
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Dpop {
    /// Allowed proof `alg` values (asymmetric only). Default: ES256, ES384, RS256, PS256, EdDSA.
    pub algorithms: Vec<String>,
    /// Largest accepted proof, in bytes, checked before decoding (default 8192).
    pub max_proof_bytes: usize,
    /// Oldest accepted proof: `iat` at most this many seconds in the past (default 300).
    pub iat_window_seconds: u64,
    /// Clock skew accepted for a proof from the future, in seconds (default 60).
    pub iat_leeway_seconds: u64,
    /// `best_effort` (per-isolate cache) or `strict` (the platform's shared store, fail closed).
    pub replay: ReplayMode,
    /// Capacity of the per-isolate `jti` cache (default 10000).
    pub replay_cache_entries: usize,
    /// Name of the platform secret keying stateless nonces; when set, nonces are required.
    pub nonce_secret: Option<String>,
    /// Nonce time bucket in seconds: a nonce is accepted for one to two buckets (default 300).
    pub nonce_bucket_seconds: u64,
    /// `algorithms`, parsed once by [`Config::from_json`] (not part of the document).
    #[serde(skip)]
    pub algs: AlgSet,
}

impl Default for Dpop {
    fn default() -> Self {
        Dpop {
            algorithms: crate::dpop::DEFAULT_ALGORITHMS
                .iter()
                .map(|a| a.name().to_owned())
                .collect(),
            max_proof_bytes: crate::dpop::DEFAULT_MAX_PROOF_BYTES,
            iat_window_seconds: crate::dpop::DEFAULT_IAT_WINDOW,
            iat_leeway_seconds: crate::dpop::DEFAULT_IAT_LEEWAY,
            replay: ReplayMode::BestEffort,
            replay_cache_entries: crate::dpop::DEFAULT_REPLAY_CACHE_ENTRIES,
            nonce_secret: None,
            nonce_bucket_seconds: crate::dpop::DEFAULT_NONCE_BUCKET,
            algs: crate::dpop::default_algs(),
        }
    }
}

/// A trusted token issuer (RFC 9068 §4: `iss` must match exactly).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Issuer {
    /// The exact `iss` value.
    pub issuer: String,
    /// Accepted `aud` values; a token must name at least one.
    pub audiences: Vec<String>,
    /// Allowed JWS algorithms (`ES256`, `ES384`, `RS256`, `PS256`, `EdDSA`). Default: `["ES256"]`.
    #[serde(default = "default_algorithms")]
    pub algorithms: Vec<String>,
    /// Accept tokens whose `x5c` chain validates to the compiled-in trust anchors.
    #[serde(default)]
    pub x5c: Option<X5cSource>,
    /// Fetch verification keys from this JWKS URL (cached; see docs/configuration.md).
    #[serde(default)]
    pub jwks_uri: Option<String>,
    /// How fetched JWKS are cached (TTL bounds, refresh cooldown, staleness, timeout).
    #[serde(default)]
    pub jwks_cache: JwksCache,
    /// Verification keys given inline as a JWK Set (`{"keys":[...]}`).
    #[serde(default)]
    pub jwks: Option<serde_json::Value>,
    /// Require this `typ` header, e.g. `at+jwt` (RFC 9068 §2.1). Default: not checked.
    #[serde(default)]
    pub require_typ: Option<String>,
    /// Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds.
    #[serde(default = "default_leeway")]
    pub leeway_seconds: u64,
    /// Reject tokens whose `iat` is older than this many seconds. Default: not checked.
    #[serde(default)]
    pub max_age_seconds: Option<u64>,
    /// Claims that must be present.
    #[serde(default)]
    pub required_claims: Vec<String>,
}

/// Where and how opaque tokens are introspected.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Introspection {
    /// The AS introspection endpoint (https; http only for localhost).
    pub endpoint: String,
    /// The AS issuer identifier. With `response: "jwt"` it must also be listed in `issuers`
    /// (its keys verify the signed answers). Active tokens are treated as issued by it.
    pub issuer: String,
    /// The gateway's client id at the AS (`client_secret_basic`).
    pub client_id: String,
    /// Name of the platform secret holding the client secret (never the secret itself).
    pub client_secret_name: String,
    /// `json` (RFC 7662), `jwt` (RFC 9701 signed answers) or `application_jwt` (the AS returns the
    /// JWT to forward, Curity's phantom-token style).
    #[serde(default = "default_introspection_response")]
    pub response: String,
    /// Fetch timeout in milliseconds (default 2000).
    #[serde(default = "default_introspection_timeout")]
    pub timeout_ms: u32,
    /// Longest reuse of an active answer, in seconds (default 300; never past the token's `exp`).
    #[serde(default = "default_introspection_max_ttl")]
    pub max_ttl: u64,
    /// Reuse of an inactive answer, in seconds (default 10).
    #[serde(default = "default_introspection_negative_ttl")]
    pub negative_ttl: u64,
    /// Most cached answers per isolate (default 1024).
    #[serde(default = "default_introspection_capacity")]
    pub cache_capacity: usize,
    /// Accept signed warm-up pushes at `/.well-known/edgeward/introspection/warm` (default false).
    /// The issuer must be listed in `issuers`: its keys authenticate the pushes.
    #[serde(default)]
    pub warmup: bool,
    /// Audiences an introspected token must name in `aud` (RFC 8707 resource indicators), like a
    /// JWT's. Default: every audience of the configured `issuers`; the list must not end up empty.
    #[serde(default)]
    pub audiences: Option<Vec<String>>,
    /// Whether an answer without `aud` is rejected (default true). RFC 7662 §2.2 makes `aud`
    /// optional; set false only for an AS that never reports it.
    #[serde(default = "default_true")]
    pub require_audience: bool,
}

fn default_true() -> bool {
    true
}

fn default_introspection_response() -> String {
    "json".into()
}

fn default_introspection_timeout() -> u32 {
    2000
}

fn default_introspection_max_ttl() -> u64 {
    // 5 minutes: how long a revoked token may still pass (documented in docs/configuration.md).
    300
}

fn default_introspection_negative_ttl() -> u64 {
    10
}

fn default_introspection_capacity() -> usize {
    // 1024 answers of ≈1 KiB: about 1 MiB per isolate, well inside the Workers 128 MiB limit.
    1024
}

impl Introspection {
    fn validate(&self, issuers: &[Issuer]) -> Result<(), ConfigError> {
        let at = "introspection";
        check_fetch_url(&self.endpoint)
            .map_err(|m| ConfigError::new(format!("{at}.endpoint"), m))?;
        if !matches!(self.response.as_str(), "json" | "jwt" | "application_jwt") {
            return Err(ConfigError::new(
                format!("{at}.response"),
                "must be json, jwt or application_jwt",
            ));
        }
        if (self.response != "json" || self.warmup)
            && !issuers.iter().any(|i| i.issuer == self.issuer)
        {
            return Err(ConfigError::new(
                format!("{at}.issuer"),
                "with response jwt or warmup, the issuer must also be listed in issuers (its keys verify signed answers)",
            ));
        }
        if self.client_id.is_empty() || self.client_secret_name.is_empty() {
            return Err(ConfigError::new(
                format!("{at}.client_id"),
                "client_id and client_secret_name are required",
            ));
        }
        if self.timeout_ms == 0 || self.timeout_ms > 30_000 || self.cache_capacity == 0 {
            return Err(ConfigError::new(
                at,
                "needs 0 < timeout_ms <= 30000 and cache_capacity > 0",
            ));
        }
        let audiences = self.audiences(issuers);
        if audiences.is_empty() || audiences.iter().any(String::is_empty) {
            return Err(ConfigError::new(
                format!("{at}.audiences"),
                "introspected tokens need an audience to be held to: list introspection.audiences (or give issuers audiences)",
            ));
        }
        Ok(())
    }

    /// The audiences introspected tokens are held to: as configured, else the issuers' union.
    fn audiences(&self, issuers: &[Issuer]) -> Vec<String> {
        match &self.audiences {
            Some(list) => list.clone(),
            None => {
                let mut all: Vec<String> = Vec::new();
                for audience in issuers.iter().flat_map(|i| &i.audiences) {
                    if !all.contains(audience) {
                        all.push(audience.clone());
                    }
                }
                all
            }
        }
    }

    /// The introspector settings, with the client secret resolved from the platform.
    pub fn settings(
        &self,
        issuers: &[Issuer],
        secrets: SecretLookup<'_>,
    ) -> Result<crate::introspection::Settings, ConfigError> {
        let client_secret = secrets(&self.client_secret_name).ok_or_else(|| {
            ConfigError::new(
                "introspection.client_secret_name",
                format!("platform secret {} is not set", self.client_secret_name),
            )
        })?;
        Ok(crate::introspection::Settings {
            endpoint: self.endpoint.clone(),
            client_id: self.client_id.clone(),
            client_secret,
            issuer: self.issuer.clone(),
            mode: match self.response.as_str() {
                "jwt" => crate::introspection::ResponseMode::Jwt,
                "application_jwt" => crate::introspection::ResponseMode::ApplicationJwt,
                _ => crate::introspection::ResponseMode::Json,
            },
            timeout_ms: self.timeout_ms,
            max_ttl: self.max_ttl,
            negative_ttl: self.negative_ttl,
            capacity: self.cache_capacity,
            audiences: self.audiences(issuers),
            require_audience: self.require_audience,
        })
    }
}

/// Options for the x5c key source.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct X5cSource {
    /// Pin: the leaf certificate's subject (RFC 4514 string, e.g. `CN=signer,O=Example`).
    #[serde(default)]
    pub leaf_subject: Option<String>,
    /// Pin: a dotted OID the leaf's extendedKeyUsage must contain.
    #[serde(default)]
    pub leaf_eku: Option<String>,
}

/// JWKS caching bounds, in seconds (milliseconds for the timeout). Defaults and their reasons:
/// `docs/decisions.md` ("JWKS caching defaults").
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JwksCache {
    /// Shortest cache lifetime, whatever `Cache-Control` says (default 60).
    pub min_ttl: u64,
    /// Longest cache lifetime (default 3600).
    pub max_ttl: u64,
    /// Lifetime when the response has no `max-age` (default 300).
    pub default_ttl: u64,
    /// At most one refetch per this many seconds, e.g. for unknown `kid`s (default 30).
    pub refresh_cooldown: u64,
    /// How long expired keys keep serving while the endpoint is down (default 21600).
    pub max_stale: u64,
    /// Fetch timeout in milliseconds (default 2000).
    pub timeout_ms: u32,
}

impl Default for JwksCache {
    fn default() -> Self {
        let p = crate::jwks::JwksPolicy::default();
        JwksCache {
            min_ttl: p.min_ttl,
            max_ttl: p.max_ttl,
            default_ttl: p.default_ttl,
            refresh_cooldown: p.refresh_cooldown,
            max_stale: p.max_stale,
            timeout_ms: p.fetch_timeout_ms,
        }
    }
}

impl JwksCache {
    /// The policy the JWKS source uses.
    pub fn policy(&self) -> crate::jwks::JwksPolicy {
        crate::jwks::JwksPolicy {
            min_ttl: self.min_ttl,
            max_ttl: self.max_ttl,
            default_ttl: self.default_ttl,
            refresh_cooldown: self.refresh_cooldown,
            max_stale: self.max_stale,
            fetch_timeout_ms: self.timeout_ms,
            ..crate::jwks::JwksPolicy::default()
        }
    }
}

fn default_algorithms() -> Vec<String> {
    vec!["ES256".into()]
}

fn default_leeway() -> u64 {
    crate::claims::DEFAULT_LEEWAY
}

/// Fields the gateway controls or that must never be configured as claim / assertion headers.
const RESERVED_HEADERS: &[&str] = &[
    "authorization",
    "dpop",
    "host",
    "content-length",
    "connection",
    "transfer-encoding",
    "te",
    "upgrade",
    "trailer",
    "keep-alive",
    "proxy-connection",
    "proxy-authorization",
    "proxy-authenticate",
    "signature",
    "signature-input",
    "traceparent",
    "tracestate",
    "x-request-id",
    "content-type",
    "content-digest",
    "cookie",
];

/// RFC 9110 §5.1 field name (`token`), lower-case.
fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || b"!#$%&'*+-.^_`|~".contains(&b)
        })
}

impl Forwarding {
    fn validate(&self, at: &str) -> Result<(), ConfigError> {
        if self.gateway_id.is_empty() {
            return Err(ConfigError::new(
                format!("{at}.gateway_id"),
                "must not be empty",
            ));
        }
        let budget = 1..=64 * 1024;
        if !budget.contains(&self.max_claim_header_bytes)
            || !budget.contains(&self.max_claim_headers_bytes)
        {
            return Err(ConfigError::new(
                format!("{at}.max_claim_header_bytes"),
                "budgets must be between 1 and 65536",
            ));
        }
        let mut names: Vec<&str> = Vec::new();
        if let Some(field) = self.client_address {
            // The gateway's own field: a claim or assertion header of that name would replace it.
            names.push(field.name());
        }
        for (claim, header) in &self.claim_headers {
            let field = format!("{at}.claim_headers.{claim}");
            if claim.is_empty()
                || !is_header_name(header)
                || RESERVED_HEADERS.contains(&header.as_str())
            {
                return Err(ConfigError::new(
                    field,
                    "must map a claim to a lower-case header name the gateway does not reserve",
                ));
            }
            if names.contains(&header.as_str()) {
                return Err(ConfigError::new(field, "header name used twice"));
            }
            names.push(header);
        }
        let needs_key = self.assertion.is_some()
            || self
                .message_signature
                .as_ref()
                .is_some_and(|m| m.algorithm == SignatureAlgorithm::EcdsaP256Sha256);
        if needs_key && self.signing_key_secret.is_none() {
            return Err(ConfigError::new(
                format!("{at}.signing_key_secret"),
                "required by the assertion and by ecdsa-p256-sha256 signatures",
            ));
        }
        if let Some(assertion) = &self.assertion {
            let header = assertion.header.as_str();
            if !is_header_name(header)
                || RESERVED_HEADERS.contains(&header)
                || names.contains(&header)
            {
                return Err(ConfigError::new(
                    format!("{at}.assertion.header"),
                    "must be a lower-case header name not otherwise used",
                ));
            }
            if !(1..=MAX_ASSERTION_TTL).contains(&assertion.ttl_seconds) {
                return Err(ConfigError::new(
                    format!("{at}.assertion.ttl_seconds"),
                    "must be between 1 and 60",
                ));
            }
        }
        if let Some(sig) = &self.message_signature {
            let at = format!("{at}.message_signature");
            if !is_header_name(&sig.label) {
                return Err(ConfigError::new(
                    format!("{at}.label"),
                    "must be a lower-case token",
                ));
            }
            if !(1..=MAX_ASSERTION_TTL).contains(&sig.ttl_seconds) {
                return Err(ConfigError::new(
                    format!("{at}.ttl_seconds"),
                    "must be between 1 and 60",
                ));
            }
            if sig.algorithm == SignatureAlgorithm::HmacSha256 && sig.hmac_secret.is_none() {
                return Err(ConfigError::new(
                    format!("{at}.hmac_secret"),
                    "required by hmac-sha256",
                ));
            }
            if !is_scope_token(&sig.hmac_keyid) {
                return Err(ConfigError::new(
                    format!("{at}.hmac_keyid"),
                    "must be printable ASCII without spaces or quotes",
                ));
            }
            if sig.cover.iter().any(|h| !is_header_name(h)) {
                return Err(ConfigError::new(
                    format!("{at}.cover"),
                    "must list lower-case header names",
                ));
            }
        }
        Ok(())
    }
}

/// Resolves the platform secrets [`Forwarding`] names through the shell's lookup.
pub(crate) fn forwarding_secrets(
    forwarding: &Forwarding,
    secrets: SecretLookup<'_>,
) -> Result<ForwardingSecrets, ConfigError> {
    let read = |field: &str, name: &Option<String>| match name {
        None => Ok(None),
        Some(name) => secrets(name).map(Some).ok_or_else(|| {
            ConfigError::new(field, format!("the platform secret {name} is not set"))
        }),
    };
    Ok(ForwardingSecrets {
        signing_key: read(
            "forwarding.signing_key_secret",
            &forwarding.signing_key_secret,
        )?,
        hmac_key: read(
            "forwarding.message_signature.hmac_secret",
            &forwarding
                .message_signature
                .as_ref()
                .and_then(|m| m.hmac_secret.clone()),
        )?,
    })
}

/// The verdict for requests no route matches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unmatched {
    /// Reject with 404 (the safe default).
    #[default]
    Deny,
    /// Treat as a route that requires a valid token.
    RequireToken,
}

fn default_max_token_bytes() -> usize {
    DEFAULT_MAX_TOKEN_BYTES
}

fn default_token_cache_entries() -> usize {
    crate::token_cache::DEFAULT_ENTRIES
}

fn default_origin_timeout_ms() -> u32 {
    DEFAULT_ORIGIN_TIMEOUT_MS
}

impl Config {
    /// Parses and validates a JSON document.
    pub fn from_json(text: &str) -> Result<Config, ConfigError> {
        let mut config = Config::deserialize_json(text)?;
        config.validate()?;
        config.issuer_settings = config
            .issuers
            .iter()
            .enumerate()
            .map(|(i, issuer)| issuer.load(&format!("issuers[{i}]")))
            .collect::<Result<_, _>>()?;
        Ok(config)
    }

    /// Deserializes, naming the field of a serde error (`a.b[0].c`).
    #[cfg(feature = "config-paths")]
    fn deserialize_json(text: &str) -> Result<Config, ConfigError> {
        let mut de = serde_json::Deserializer::from_slice(text.as_bytes());
        serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let field = e.path().to_string();
            let field = if field == "." { String::new() } else { field };
            ConfigError::new(field, e.inner().to_string())
        })
    }

    /// Deserializes; a serde error gives line and column, not the field (see `config-paths`).
    /// From bytes, like every other JSON the core reads: one instance of serde_json's parser
    /// (`SliceRead`) in the Wasm functions instead of two (`StrRead` too).
    #[cfg(not(feature = "config-paths"))]
    fn deserialize_json(text: &str) -> Result<Config, ConfigError> {
        serde_json::from_slice(text.as_bytes()).map_err(|e| ConfigError::new("", e.to_string()))
    }

    fn validate(&mut self) -> Result<(), ConfigError> {
        check_origin_url(&self.origin).map_err(|m| ConfigError::new("origin", m))?;
        if self.origin_timeout_ms == 0 || self.origin_timeout_ms > MAX_ORIGIN_TIMEOUT_MS {
            return Err(ConfigError::new(
                "origin_timeout_ms",
                format!("must be between 1 and {MAX_ORIGIN_TIMEOUT_MS}"),
            ));
        }
        if self.max_token_bytes == 0 || self.max_token_bytes > 1024 * 1024 {
            return Err(ConfigError::new(
                "max_token_bytes",
                "must be between 1 and 1048576",
            ));
        }
        if self.token_cache_entries > 100_000 {
            return Err(ConfigError::new(
                "token_cache_entries",
                "must be between 0 and 100000",
            ));
        }
        for (i, route) in self.routes.iter().enumerate() {
            route.validate(&format!("routes[{i}]"))?;
        }
        if let Some(introspection) = &self.introspection {
            introspection.validate(&self.issuers)?;
        }
        if let Some(base) = &self.public_base_url {
            crate::dpop::parse_public_base(base)
                .map_err(|m| ConfigError::new("public_base_url", m))?;
        }
        self.dpop.validate()?;
        self.mtls.validate()?;
        self.forwarding.validate("forwarding")?;
        for (i, issuer) in self.issuers.iter().enumerate() {
            if self
                .issuers
                .iter()
                .take(i)
                .any(|other| other.issuer == issuer.issuer)
            {
                return Err(ConfigError::new(
                    format!("issuers[{i}].issuer"),
                    "the same issuer is configured twice",
                ));
            }
        }
        Ok(())
    }
}

impl Config {
    /// Every URL this configuration makes the gateway send requests to, with the field that names
    /// it (paths as in [`ConfigError::field`]): the origin, claim-routed origins, JWKS endpoints
    /// and the introspection endpoint. Inline keys and x5c chains need no request. For checking a
    /// platform's egress rules, such as Spin's `allowed_outbound_hosts`
    /// (`edgeward config check --spin-manifest`).
    pub fn outbound_urls(&self) -> Vec<(String, &str)> {
        let mut urls = vec![("origin".to_owned(), self.origin.as_str())];
        for (i, route) in self.routes.iter().enumerate() {
            if let Some(by_claim) = &route.origin_by_claim {
                let at = format!("routes[{i}].origin_by_claim");
                urls.push((format!("{at}.default"), by_claim.default.as_str()));
                for (value, url) in &by_claim.origins {
                    urls.push((format!("{at}.origins.{value}"), url.as_str()));
                }
            }
        }
        for (i, issuer) in self.issuers.iter().enumerate() {
            if let Some(uri) = &issuer.jwks_uri {
                urls.push((format!("issuers[{i}].jwks_uri"), uri.as_str()));
            }
        }
        if let Some(introspection) = &self.introspection {
            urls.push((
                "introspection.endpoint".to_owned(),
                introspection.endpoint.as_str(),
            ));
        }
        urls
    }
}

impl Issuer {
    /// Checks the issuer and turns it into the verify stage's settings: each algorithm name and
    /// the inline JWK Set are parsed here, once.
    fn load(&self, at: &str) -> Result<IssuerSettings, ConfigError> {
        if self.issuer.is_empty() {
            return Err(ConfigError::new(
                format!("{at}.issuer"),
                "must not be empty",
            ));
        }
        if self.audiences.is_empty() || self.audiences.iter().any(String::is_empty) {
            return Err(ConfigError::new(
                format!("{at}.audiences"),
                "must list at least one non-empty audience",
            ));
        }
        if self.algorithms.is_empty() {
            return Err(ConfigError::new(
                format!("{at}.algorithms"),
                "must not be empty",
            ));
        }
        let algorithms = algorithms(&self.algorithms, &format!("{at}.algorithms"))?;
        if self.x5c.is_none() && self.jwks_uri.is_none() && self.jwks.is_none() {
            return Err(ConfigError::new(
                at,
                "needs a key source: x5c, jwks_uri or jwks",
            ));
        }
        let cache = &self.jwks_cache;
        if cache.min_ttl > cache.max_ttl || cache.timeout_ms == 0 || cache.timeout_ms > 30_000 {
            return Err(ConfigError::new(
                format!("{at}.jwks_cache"),
                "needs min_ttl <= max_ttl and 0 < timeout_ms <= 30000",
            ));
        }
        if let Some(uri) = &self.jwks_uri {
            check_fetch_url(uri).map_err(|m| ConfigError::new(format!("{at}.jwks_uri"), m))?;
        }
        let inline_keys = match &self.jwks {
            None => None,
            Some(jwks) => Some(
                crate::jwk::JwkSet::parse(jwks.to_string().as_bytes()).map_err(|e| {
                    ConfigError::new(format!("{at}.jwks"), format!("not a usable JWK Set: {e:?}"))
                })?,
            ),
        };
        let mut rules = crate::claims::ClaimRules::new(self.issuer.clone(), self.audiences.clone());
        rules.leeway = self.leeway_seconds;
        rules.require_typ = self.require_typ.clone();
        rules.max_age = self.max_age_seconds;
        rules.required_claims = self.required_claims.clone();
        Ok(IssuerSettings {
            algorithms,
            rules,
            chain_policy: self.x5c.as_ref().map(|pins| crate::x5c::ChainPolicy {
                leaf_subject: pins.leaf_subject.clone(),
                leaf_eku: pins.leaf_eku.clone(),
                ..crate::x5c::ChainPolicy::default()
            }),
            inline_keys,
            remote_keys: self
                .jwks_uri
                .as_ref()
                .map(|uri| (uri.clone(), self.jwks_cache.policy())),
        })
    }
}

/// JWS algorithm names parsed (RFC 7518 §3.1 names; `none` and `HS*` are never an [`Alg`]), each
/// error naming its index below `at`.
fn algorithms(names: &[String], at: &str) -> Result<Vec<Alg>, ConfigError> {
    names
        .iter()
        .enumerate()
        .map(|(j, name)| {
            Alg::from_name(name).ok_or_else(|| {
                ConfigError::new(
                    format!("{at}[{j}]"),
                    "must be one of ES256, ES384, RS256, PS256, EdDSA (none and HS* are never allowed)",
                )
            })
        })
        .collect()
}

impl Dpop {
    /// Checks the section and parses `algorithms` into [`Dpop::algs`], once.
    fn validate(&mut self) -> Result<(), ConfigError> {
        if self.algorithms.is_empty() {
            return Err(ConfigError::new("dpop.algorithms", "must not be empty"));
        }
        self.algs = AlgSet::new(algorithms(&self.algorithms, "dpop.algorithms")?);
        let checks: [(&str, bool, &str); 5] = [
            (
                "dpop.max_proof_bytes",
                (256..=65_536).contains(&self.max_proof_bytes),
                "must be between 256 and 65536",
            ),
            (
                "dpop.iat_window_seconds",
                (1..=3600).contains(&self.iat_window_seconds),
                "must be between 1 and 3600",
            ),
            (
                "dpop.iat_leeway_seconds",
                self.iat_leeway_seconds <= 600,
                "must be at most 600",
            ),
            (
                "dpop.replay_cache_entries",
                (1..=1_000_000).contains(&self.replay_cache_entries),
                "must be between 1 and 1000000",
            ),
            (
                "dpop.nonce_bucket_seconds",
                (10..=3600).contains(&self.nonce_bucket_seconds),
                "must be between 10 and 3600",
            ),
        ];
        for (field, ok, message) in checks {
            if !ok {
                return Err(ConfigError::new(field, message));
            }
        }
        if self.nonce_secret.as_deref() == Some("") {
            return Err(ConfigError::new(
                "dpop.nonce_secret",
                "must name a platform secret",
            ));
        }
        Ok(())
    }
}

impl Mtls {
    fn validate(&self) -> Result<(), ConfigError> {
        let Some(name) = &self.client_cert_header else {
            return Ok(());
        };
        let token = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'));
        let lower = name.to_ascii_lowercase();
        if !token
            || matches!(lower.as_str(), "authorization" | "dpop" | "host")
            || lower.starts_with(crate::forward::NAMESPACE)
        {
            return Err(ConfigError::new(
                "mtls.client_cert_header",
                "must be a header name (letters, digits, '-', '_'), not a credential or x-edgeward-* field",
            ));
        }
        Ok(())
    }
}

/// An origin base URL: absolute, http or https, no query or fragment.
fn check_origin_url(text: &str) -> Result<Url, String> {
    let origin = crate::http::parse_url(text).map_err(|e| format!("not an absolute URL: {e}"))?;
    if !matches!(origin.scheme(), "http" | "https") {
        return Err("scheme must be http or https".into());
    }
    if origin.query().is_some() || origin.fragment().is_some() {
        return Err("must not have a query or fragment".into());
    }
    Ok(origin)
}

/// Key and introspection endpoints must use https, except on loopback (local development).
fn check_fetch_url(uri: &str) -> Result<(), String> {
    let url = crate::http::parse_url(uri).map_err(|e| format!("not an absolute URL: {e}"))?;
    let loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    match url.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err("must be an https URL (http is allowed only for localhost)".into()),
    }
}

impl Route {
    fn validate(&self, at: &str) -> Result<(), ConfigError> {
        if !self.path.starts_with('/') {
            return Err(ConfigError::new(
                format!("{at}.path"),
                "must start with '/'",
            ));
        }
        if self.path.contains('*') && !self.path.ends_with("/*") {
            return Err(ConfigError::new(
                format!("{at}.path"),
                "'*' is only allowed as a final '/*' segment",
            ));
        }
        for (j, method) in self.methods.iter().enumerate() {
            if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
                return Err(ConfigError::new(
                    format!("{at}.methods[{j}]"),
                    "must be an upper-case HTTP method",
                ));
            }
        }
        let requires_token = !self.scopes_all.is_empty()
            || !self.scopes_any.is_empty()
            || !self.claims.is_empty()
            || !self.issuers.is_empty()
            || self.token_kind.is_some()
            || !self.acr_values.is_empty()
            || self.max_age.is_some()
            || self.origin_by_claim.is_some();
        if self.anonymous && requires_token {
            return Err(ConfigError::new(
                at,
                "an anonymous route cannot have token requirements or claim-based routing",
            ));
        }
        for (field, scopes) in [
            ("scopes_all", &self.scopes_all),
            ("scopes_any", &self.scopes_any),
        ] {
            if scopes.iter().any(|s| !is_scope_token(s)) {
                return Err(ConfigError::new(
                    format!("{at}.{field}"),
                    "scopes are non-empty printable ASCII without spaces, '\\' or '\"' (RFC 6749 §3.3)",
                ));
            }
        }
        if self.acr_values.iter().any(|v| !is_scope_token(v)) {
            return Err(ConfigError::new(
                format!("{at}.acr_values"),
                "values are non-empty printable ASCII without spaces, '\\' or '\"'",
            ));
        }
        for (j, rule) in self.claims.iter().enumerate() {
            let tests = usize::from(rule.equals.is_some())
                + usize::from(rule.one_of.is_some())
                + usize::from(rule.contains.is_some())
                + usize::from(rule.exists.is_some());
            if rule.claim.is_empty() || tests != 1 {
                return Err(ConfigError::new(
                    format!("{at}.claims[{j}]"),
                    "needs a non-empty claim and exactly one of equals, one_of, contains, exists",
                ));
            }
        }
        if let Some(by_claim) = &self.origin_by_claim {
            let at = format!("{at}.origin_by_claim");
            if by_claim.claim.is_empty() {
                return Err(ConfigError::new(format!("{at}.claim"), "must not be empty"));
            }
            check_origin_url(&by_claim.default)
                .map_err(|m| ConfigError::new(format!("{at}.default"), m))?;
            for (value, url) in &by_claim.origins {
                check_origin_url(url)
                    .map_err(|m| ConfigError::new(format!("{at}.origins.{value}"), m))?;
            }
        }
        Ok(())
    }

    /// True when this route matches the method and path.
    pub fn matches(&self, method: &str, path: &str) -> bool {
        let method_ok = self.methods.is_empty() || self.methods.iter().any(|m| m == method);
        let path_ok = match self.path.strip_suffix("/*") {
            Some(prefix) => {
                path == prefix
                    || path
                        .strip_prefix(prefix)
                        .is_some_and(|rest| rest.starts_with('/'))
            }
            None => path == self.path,
        };
        method_ok && path_ok
    }
}

/// RFC 6749 §3.3 `scope-token`: `%x21 / %x23-5B / %x5D-7E`, so it can also sit inside a quoted
/// `WWW-Authenticate` parameter without escaping.
fn is_scope_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_config_parses_with_defaults() {
        let config = Config::from_json(r#"{"origin":"http://127.0.0.1:9000"}"#).unwrap();
        assert_eq!(config.max_token_bytes, DEFAULT_MAX_TOKEN_BYTES);
        assert_eq!(config.unmatched, Unmatched::Deny);
    }

    #[test]
    fn missing_origin_names_the_field() {
        let err = Config::from_json(r#"{"routes":[]}"#).unwrap_err();
        assert!(err.message.contains("origin"), "{err}");
    }

    #[test]
    #[cfg(feature = "config-paths")] // without it, serde errors carry line and column only
    fn unknown_nested_field_is_named_with_its_path() {
        let err = Config::from_json(
            r#"{"origin":"http://o","routes":[{"path":"/a"},{"path":"/b","anonymus":true}]}"#,
        )
        .unwrap_err();
        assert_eq!(err.field, "routes[1].anonymus");
        assert!(err.message.contains("anonymus"), "{err}");
    }

    #[test]
    fn origin_timeout_defaults_and_bounds() {
        let config = Config::from_json(r#"{"origin":"http://o"}"#).unwrap();
        assert_eq!(config.origin_timeout_ms, DEFAULT_ORIGIN_TIMEOUT_MS);
        let config = Config::from_json(r#"{"origin":"http://o","origin_timeout_ms":300000}"#);
        assert_eq!(config.unwrap().origin_timeout_ms, MAX_ORIGIN_TIMEOUT_MS);
        for bad in [0, MAX_ORIGIN_TIMEOUT_MS + 1] {
            let text = format!(r#"{{"origin":"http://o","origin_timeout_ms":{bad}}}"#);
            let err = Config::from_json(&text).unwrap_err();
            assert_eq!(err.field, "origin_timeout_ms", "{bad}");
        }
    }

    #[test]
    fn outbound_urls_name_every_host_the_gateway_calls() {
        let text = r#"{"origin":"http://o:1",
            "routes":[{"path":"/a"},{"path":"/b/*","origin_by_claim":{"claim":"r","origins":{"eu":"http://eu:2"},"default":"http://d:3"}}],
            "issuers":[{"issuer":"https://i","audiences":["a"],"jwks":{"keys":[]}},
                       {"issuer":"https://j","audiences":["a"],"jwks_uri":"https://j/keys"}],
            "introspection":{"endpoint":"https://as/introspect","issuer":"https://j","client_id":"gw","client_secret_name":"S"}}"#;
        let config = Config::from_json(text).unwrap();
        let urls = config.outbound_urls();
        let urls: Vec<(&str, &str)> = urls.iter().map(|(f, u)| (f.as_str(), *u)).collect();
        assert_eq!(
            urls,
            [
                ("origin", "http://o:1"),
                ("routes[1].origin_by_claim.default", "http://d:3"),
                ("routes[1].origin_by_claim.origins.eu", "http://eu:2"),
                ("issuers[1].jwks_uri", "https://j/keys"),
                ("introspection.endpoint", "https://as/introspect"),
            ]
        );
    }

    #[test]
    fn introspection_and_key_endpoints_need_https_except_on_loopback() {
        // RFC 7662 §4 and RFC 8725 §3.10: tokens and keys travel only over TLS.
        let config = |url: &str| {
            format!(
                r#"{{"origin":"http://o","issuers":[{{"issuer":"https://i","audiences":["a"],"jwks_uri":"{url}/jwks"}}],
                  "introspection":{{"endpoint":"{url}/introspect","issuer":"https://i","client_id":"gw","client_secret_name":"S"}}}}"#
            )
        };
        for ok in [
            "https://as.example",
            "http://127.0.0.1:9000",
            "http://localhost:1",
            "http://[::1]:2",
        ] {
            assert!(Config::from_json(&config(ok)).is_ok(), "{ok}");
        }
        for bad in ["http://as.example", "http://10.0.0.1", "ftp://as.example"] {
            let err = Config::from_json(&config(bad)).unwrap_err();
            assert!(err.message.contains("https"), "{bad}: {err}");
        }
    }

    #[test]
    fn bad_origin_is_rejected() {
        let err = Config::from_json(r#"{"origin":"ftp://o"}"#).unwrap_err();
        assert_eq!(err.field, "origin");
        let err = Config::from_json(r#"{"origin":"not a url"}"#).unwrap_err();
        assert_eq!(err.field, "origin");
    }

    #[test]
    fn route_patterns_match_prefixes_on_segment_boundaries() {
        let route = Route {
            path: "/api/*".into(),
            ..Route::default()
        };
        assert!(route.matches("GET", "/api"));
        assert!(route.matches("GET", "/api/x/y"));
        assert!(!route.matches("GET", "/apix"));
        let err =
            Config::from_json(r#"{"origin":"http://o","routes":[{"path":"/a*"}]}"#).unwrap_err();
        assert_eq!(err.field, "routes[0].path");
    }
}
