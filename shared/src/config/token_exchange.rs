//! `token_exchange` (how the gateway reaches the AS token endpoint) and each route's `exchange`
//! (what it asks for, RFC 8693 §2.1); the rule type lives with the token-exchange stage.

use super::route::is_scope_token;
use super::*;
use crate::token_exchange::{Actor, ExchangeRule};

/// How the gateway calls the authorization server's token endpoint for RFC 8693 exchanges.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenExchange {
    /// The AS token endpoint (https; http only for localhost).
    pub token_endpoint: String,
    /// The gateway's client id at the AS.
    pub client_id: String,
    /// `client_secret_basic` (default) or `private_key_jwt` (signed with
    /// `forwarding.signing_key_secret`).
    #[serde(default = "default_client_auth")]
    pub client_auth: String,
    /// Name of the platform secret holding the client secret (never the secret itself); required
    /// with `client_secret_basic`.
    #[serde(default)]
    pub client_secret_name: Option<String>,
    /// Fetch timeout in milliseconds (default 2000).
    #[serde(default = "default_timeout")]
    pub timeout_ms: u32,
    /// Longest reuse of an exchanged token when the AS gives no `expires_in`, in seconds
    /// (default 300; never past the subject token's `exp`).
    #[serde(default = "default_max_ttl")]
    pub max_ttl: u64,
    /// Reuse of a refusal, in seconds (default 10).
    #[serde(default = "default_negative_ttl")]
    pub negative_ttl: u64,
    /// Seconds before its end at which an exchanged token stops being reused (default 30).
    #[serde(default = "default_skew")]
    pub skew_seconds: u64,
    /// Most cached exchanges per isolate (default 1024).
    #[serde(default = "default_capacity")]
    pub cache_capacity: usize,
}

crate::bake::bake_struct!(TokenExchange {
    token_endpoint,
    client_id,
    client_auth,
    client_secret_name,
    timeout_ms,
    max_ttl,
    negative_ttl,
    skew_seconds,
    cache_capacity,
});

fn default_client_auth() -> String {
    "client_secret_basic".into()
}

fn default_timeout() -> u32 {
    2000
}

fn default_max_ttl() -> u64 {
    // As introspection's max_ttl: a revoked subject token's exchanged token lives at most this long.
    300
}

fn default_negative_ttl() -> u64 {
    10
}

fn default_skew() -> u64 {
    // Covers clock differences between the AS, the gateway and the origin, and the request's time
    // in flight.
    30
}

fn default_capacity() -> usize {
    // 1024 tokens of ≈1 KiB: about 1 MiB per isolate.
    1024
}

impl TokenExchange {
    fn validate(&self) -> Result<(), ConfigError> {
        let at = "token_exchange";
        check_fetch_url(&self.token_endpoint)
            .map_err(|m| ConfigError::new(format!("{at}.token_endpoint"), m))?;
        if self.client_id.is_empty() {
            return Err(ConfigError::new(format!("{at}.client_id"), "is required"));
        }
        let no_secret = self.client_secret_name.as_deref().unwrap_or("").is_empty();
        match self.client_auth.as_str() {
            "client_secret_basic" if no_secret => {
                return Err(ConfigError::new(
                    format!("{at}.client_secret_name"),
                    "required with client_secret_basic",
                ));
            }
            "client_secret_basic" | "private_key_jwt" => {}
            _ => {
                return Err(ConfigError::new(
                    format!("{at}.client_auth"),
                    "must be client_secret_basic or private_key_jwt",
                ));
            }
        }
        if self.timeout_ms == 0 || self.timeout_ms > 30_000 || self.cache_capacity == 0 {
            return Err(ConfigError::new(
                at,
                "needs 0 < timeout_ms <= 30000 and cache_capacity > 0",
            ));
        }
        Ok(())
    }

    /// The exchanger settings, with the client secret resolved from the platform.
    pub fn settings(
        &self,
        secrets: SecretLookup<'_>,
    ) -> Result<crate::token_exchange::Settings, ConfigError> {
        let field = "token_exchange.client_secret_name";
        let auth = match &self.client_secret_name {
            Some(name) if self.client_auth == "client_secret_basic" => {
                crate::token_exchange::ClientAuth::SecretBasic(secret(secrets, field, name)?)
            }
            _ => crate::token_exchange::ClientAuth::PrivateKeyJwt,
        };
        Ok(crate::token_exchange::Settings {
            token_endpoint: self.token_endpoint.clone(),
            client_id: self.client_id.clone(),
            auth,
            timeout_ms: self.timeout_ms,
            max_ttl: self.max_ttl,
            negative_ttl: self.negative_ttl,
            skew: self.skew_seconds,
            capacity: self.cache_capacity,
        })
    }
}

/// Most audiences and resources one exchange names: each is a form parameter of every exchange
/// request and part of its cache key; a token for more services than this is hardly down-scoped.
const MAX_TARGETS: usize = 16;

/// A route's `exchange` (RFC 8693 §2.1): at least one of `audience` / `resource` (each a string or
/// a list), at most [`MAX_TARGETS`] together; every `resource` an absolute URI without fragment; `scope` RFC 6749 §3.3 scope tokens; `requested_token_type` a URI.
fn validate_rule(rule: &ExchangeRule, at: &str) -> Result<(), ConfigError> {
    if rule.audience.is_empty() && rule.resource.is_empty() {
        return Err(ConfigError::new(
            at,
            "needs an audience or a resource: the target the exchanged token is for",
        ));
    }
    if rule.audience.len() + rule.resource.len() > MAX_TARGETS {
        return Err(ConfigError::new(
            at,
            format!("at most {MAX_TARGETS} audiences and resources together"),
        ));
    }
    if let Some(i) = rule.audience.iter().position(String::is_empty) {
        return Err(ConfigError::new(
            format!("{at}.audience[{i}]"),
            "must not be empty",
        ));
    }
    for (i, resource) in rule.resource.iter().enumerate() {
        let url = crate::http::parse_url(resource).ok();
        if url.is_none_or(|u| u.fragment().is_some()) {
            return Err(ConfigError::new(
                format!("{at}.resource[{i}]"),
                "must be an absolute URI without a fragment (RFC 8693 §2.1)",
            ));
        }
    }
    if let Some(scope) = &rule.scope {
        if scope.split(' ').any(|s| !is_scope_token(s)) {
            return Err(ConfigError::new(
                format!("{at}.scope"),
                "space-separated scope tokens (RFC 6749 §3.3)",
            ));
        }
    }
    if crate::http::parse_url(&rule.requested_token_type).is_err() {
        return Err(ConfigError::new(
            format!("{at}.requested_token_type"),
            "must be a token type URI (RFC 8693 §3)",
        ));
    }
    Ok(())
}

/// Every route's `exchange`, and what it needs elsewhere: the `token_exchange` section, a token
/// (not on an anonymous route), and for `actor: gateway` the gateway's signing key.
pub(super) fn validate(config: &Config) -> Result<(), ConfigError> {
    if let Some(section) = &config.token_exchange {
        section.validate()?;
        let keyless = config.forwarding.signing_key_secret.is_none();
        if section.client_auth == "private_key_jwt" && keyless {
            return Err(ConfigError::new(
                "token_exchange.client_auth",
                "private_key_jwt signs with forwarding.signing_key_secret, which is not set",
            ));
        }
    }
    for (i, route) in config.routes.iter().enumerate() {
        let Some(rule) = &route.exchange else {
            continue;
        };
        let at = format!("routes[{i}].exchange");
        validate_rule(rule, &at)?;
        if route.anonymous {
            return Err(ConfigError::new(
                at,
                "an anonymous route has no token to exchange",
            ));
        }
        if config.token_exchange.is_none() {
            return Err(ConfigError::new(
                "token_exchange",
                format!("required by {at}: the token endpoint and the gateway's client"),
            ));
        }
        if rule.actor == Actor::Gateway && config.forwarding.signing_key_secret.is_none() {
            return Err(ConfigError::new(
                format!("{at}.actor"),
                "actor gateway signs with forwarding.signing_key_secret, which is not set",
            ));
        }
    }
    Ok(())
}
