//! The gateway configuration: one JSON document, given to the Worker as its `EDGEWARD_CONFIG`
//! variable and to the Spin component as its `EDGEWARD_CONFIG` environment variable (spin.toml
//! `environment`). Every field is documented in `docs/configuration.md`; unknown fields are
//! rejected so that a typo never silently weakens policy.

use crate::access_token::IssuerSettings;
pub use crate::assertion::MAX_ASSERTION_TTL;
pub use crate::authorize::{Authorization, DecisionPointConfig, PointKind};
pub use crate::decision_point::{AuthzenMapping, PointSettings};
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
use objects::Objects;
use serde::Deserialize;
use url::Url;

mod authorization;
mod baked;
mod dpop;
mod forwarding;
mod introspection;
mod issuer;
mod mtls;
mod objects;
mod route;
mod split_token;
#[cfg(test)]
mod tests;
mod token_exchange;
#[cfg(feature = "token-handler")]
mod token_handler;

pub(crate) use authorization::decision_point_secrets;
pub use dpop::Dpop;
pub(crate) use forwarding::forwarding_secrets;
pub use introspection::Introspection;
pub use issuer::{Issuer, JwksCache, X5cSource};
pub use split_token::SplitToken;
pub use token_exchange::TokenExchange;
#[cfg(feature = "token-handler")]
pub use token_handler::{CookieKey, TokenHandler};
/// Without the `token-handler` feature the section is read but refused ([`Config::from_json`]).
#[cfg(not(feature = "token-handler"))]
pub type TokenHandler = serde::de::IgnoredAny;

/// Default limit on the size of a credential, in bytes. 16 KiB is well above the largest access
/// tokens seen in practice (x5c chains of three certificates are ≈ 3 KiB) and bounds parsing work.
pub const DEFAULT_MAX_TOKEN_BYTES: usize = 16 * 1024;

/// Reads a named platform secret (Workers secret or variable, Spin environment variable): how
/// fields that name a secret are resolved when the configuration loads.
pub type SecretLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The value of the platform secret `name`, which the configuration names in `field`; its absence
/// is an error naming the field and the secret, never a value. Every secret is read here, when the
/// configuration loads.
pub(crate) fn secret(
    secrets: SecretLookup<'_>,
    field: &str,
    name: &str,
) -> Result<String, ConfigError> {
    secrets(name)
        .ok_or_else(|| ConfigError::new(field, format!("the platform secret {name} is not set")))
}

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
    /// `origin` and `public_base_url`, parsed once by [`Config::from_json`] (not part of the
    /// document; `origin_url` is always set on a `Config` that loaded). The gateway moves both
    /// (and `issuer_settings`) into its own state when it is built.
    #[serde(skip)]
    pub origin_url: Option<Url>,
    /// See [`Config::origin_url`].
    #[serde(skip)]
    pub public_base: Option<Url>,
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
    /// Token exchange (RFC 8693): the AS token endpoint and the gateway's client, for routes with
    /// `exchange`.
    #[serde(default)]
    pub token_exchange: Option<TokenExchange>,
    /// The split-token pattern: credentials that are a JWT's signature part, reassembled from
    /// pushed `header.payload` entries.
    #[serde(default)]
    pub split_token: Option<SplitToken>,
    /// The token handler for single-page apps: an OAuth agent and cookie credentials.
    #[serde(default)]
    pub token_handler: Option<TokenHandler>,
    /// Externalized authorization: the decision points `routes[].authorize` names.
    #[serde(default)]
    pub authorization: Authorization,
    /// `authorization.decision_points`, validated into the authorize stage's typed settings by
    /// [`Config::from_json`] (not part of the document); the gateway moves them out.
    #[serde(skip)]
    pub decision_point_settings: Vec<PointSettings>,
}

crate::bake::bake_struct!(Config {
    origin, max_token_bytes, token_cache_entries, token_cache_shared, routes, unmatched, issuers,
    introspection, origin_timeout_ms, forwarding, public_base_url, dpop, mtls, token_exchange,
    split_token, token_handler, authorization,
} skip { issuer_settings, origin_url, public_base, decision_point_settings });

/// The verdict for requests no route matches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Unmatched {
    /// Reject with 404 (the safe default).
    #[default]
    Deny,
    /// Treat as a route that requires a valid token.
    RequireToken,
}

crate::by_name::deserialize_by_name!(Unmatched {
    "deny" => Unmatched::Deny,
    "require_token" => Unmatched::RequireToken,
});

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
        Config::finish(Config::deserialize_json(text)?)
    }

    /// Checks a document as read and fills in what loading derives from it.
    fn finish(mut config: Config) -> Result<Config, ConfigError> {
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
        let config = serde_path_to_error::deserialize(Objects(&mut de)).map_err(|e| {
            let field = e.path().to_string();
            let field = if field == "." { String::new() } else { field };
            ConfigError::new(field, e.inner().to_string())
        })?;
        de.end().map_err(|e| ConfigError::new("", e.to_string()))?;
        Ok(config)
    }

    /// Deserializes; a serde error gives line and column, not the field (see `config-paths`).
    /// From bytes, like every other JSON the core reads: one instance of serde_json's parser
    /// (`SliceRead`) in the Wasm functions instead of two (`StrRead` too).
    #[cfg(not(feature = "config-paths"))]
    fn deserialize_json(text: &str) -> Result<Config, ConfigError> {
        let mut de = serde_json::Deserializer::from_slice(text.as_bytes());
        Config::deserialize(Objects(&mut de))
            .and_then(|config| de.end().map(|()| config))
            .map_err(|e| ConfigError::new("", e.to_string()))
    }

    pub(super) fn validate(&mut self) -> Result<(), ConfigError> {
        let origin = check_origin_url(&self.origin).map_err(|m| ConfigError::new("origin", m))?;
        self.origin_url = Some(origin);
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
        self.decision_point_settings = self.authorization.load()?;
        for (i, route) in self.routes.iter().enumerate() {
            let Some(name) = &route.authorize else {
                continue;
            };
            if !self.authorization.decision_points.contains_key(name) {
                return Err(ConfigError::new(
                    format!("routes[{i}].authorize"),
                    format!("no decision point {name:?} in authorization.decision_points"),
                ));
            }
        }
        if let Some(introspection) = &self.introspection {
            introspection.validate(&self.issuers)?;
        }
        if let Some(base) = &self.public_base_url {
            let base = crate::dpop::parse_public_base(base)
                .map_err(|m| ConfigError::new("public_base_url", m))?;
            self.public_base = Some(base);
        }
        self.validate_token_handler()?;
        self.dpop.validate()?;
        self.mtls.validate()?;
        self.forwarding.validate("forwarding")?;
        token_exchange::validate(self)?;
        if let Some(split) = &self.split_token {
            split.validate(self)?;
        }
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
    /// The split-token settings when split tokens are enabled.
    pub fn split_tokens(&self) -> Option<&SplitToken> {
        self.split_token.as_ref().filter(|s| s.enabled)
    }

    /// Who authenticates warm-up pushes, `(iss, aud)`: introspection's issuer and client id with
    /// `introspection.warmup`, else the split-token publisher. `None`: no warm-up endpoint.
    pub fn warmup_publisher(&self) -> Option<(&str, &str)> {
        match (&self.introspection, self.split_tokens()) {
            (Some(i), _) if i.warmup => Some((i.issuer.as_str(), i.client_id.as_str())),
            (_, Some(split)) => Some((split.publisher.as_str(), split.audience.as_str())),
            _ => None,
        }
    }

    /// The `token_handler` section, and routes that take cookie credentials only with one.
    fn validate_token_handler(&self) -> Result<(), ConfigError> {
        #[cfg(feature = "token-handler")]
        if let Some(handler) = &self.token_handler {
            handler.validate(&self.forwarding)?;
        }
        #[cfg(not(feature = "token-handler"))]
        if self.token_handler.is_some() {
            return Err(ConfigError::new(
                "token_handler",
                "this build has no token handler (cargo feature token-handler)",
            ));
        }
        for (i, route) in self.routes.iter().enumerate() {
            if route.credential_cookie && self.token_handler.is_none() {
                return Err(ConfigError::new(
                    format!("routes[{i}].credential_cookie"),
                    "needs a token_handler section",
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
        #[cfg(feature = "token-handler")]
        if let Some(handler) = &self.token_handler {
            urls.push(("token_handler.issuer".to_owned(), handler.issuer.as_str()));
        }
        if let Some(introspection) = &self.introspection {
            urls.push((
                "introspection.endpoint".to_owned(),
                introspection.endpoint.as_str(),
            ));
        }
        if let Some(exchange) = &self.token_exchange {
            let field = "token_exchange.token_endpoint".to_owned();
            urls.push((field, exchange.token_endpoint.as_str()));
        }
        for (name, point) in &self.authorization.decision_points {
            if let Some(base) = &point.base {
                let field = format!("authorization.decision_points.{name}.base");
                urls.push((field, base.as_str()));
            }
        }
        urls
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
