//! `token_handler`: the OAuth agent and the cookie credential for single-page apps (issue #16).

use super::*;
use crate::cookie::CookieKeys;
use crate::cors::WebOrigins;
use std::collections::BTreeMap;

/// The token handler: an OAuth agent under `base_path` and encrypted cookies as API credentials.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenHandler {
    /// Path prefix of the agent endpoints, e.g. `/oauth-agent` (default).
    #[serde(default = "default_base_path")]
    pub base_path: String,
    /// The AS's issuer identifier (https; http only for localhost); its metadata is discovered
    /// at `{issuer}/.well-known/openid-configuration`.
    pub issuer: String,
    /// The gateway's client id at the AS.
    pub client_id: String,
    /// Client authentication at the token endpoint: `client_secret_basic` (default) or
    /// `private_key_jwt` (RFC 7523, signed with `forwarding.signing_key_secret`).
    #[serde(default = "default_client_auth")]
    pub client_auth: String,
    /// Name of the platform secret holding the client secret (`client_secret_basic`).
    #[serde(default)]
    pub client_secret_name: Option<String>,
    /// The SPA's callback page, registered at the AS.
    pub redirect_uri: String,
    /// Where the AS sends the browser after logout (registered at the AS).
    #[serde(default)]
    pub post_logout_redirect_uri: Option<String>,
    /// Scopes requested (space-separated; default `openid`). Must include `openid`.
    #[serde(default = "default_scope")]
    pub scope: String,
    /// Extra authorization request parameters (`resource`, `acr_values`, `prompt`…).
    #[serde(default)]
    pub authorization_params: BTreeMap<String, String>,
    /// Web origins (`scheme://host[:port]`) allowed to call the agent and cookie routes.
    pub trusted_web_origins: Vec<String>,
    /// The cookie keys: each a version and the name of a platform secret holding 32 bytes as 64
    /// hex characters. The first seals; all open (rotation).
    pub cookie_keys: Vec<CookieKey>,
    /// Cookie name prefix: `__Host-{prefix}-at`, … (default `ew`).
    #[serde(default = "default_cookie_prefix")]
    pub cookie_name_prefix: String,
    /// The custom CSRF header whose value must be `1` (default `token-handler-version`).
    #[serde(default = "default_csrf_header")]
    pub csrf_header: String,
    /// `Access-Control-Max-Age` of preflight answers (default 600).
    #[serde(default = "default_cors_max_age")]
    pub cors_max_age_seconds: u64,
    /// Life of the session cookies in seconds, renewed by each refresh (default 28800, 8 h).
    #[serde(default = "default_session_seconds")]
    pub session_lifetime_seconds: u64,
    /// Timeout of calls to the AS in milliseconds (default 5000).
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u32,
    /// Push the authorization request to the AS first (RFC 9126 PAR; default false). The AS must
    /// advertise `pushed_authorization_request_endpoint`, else `login/start` answers 503.
    #[serde(default)]
    pub par: bool,
}

crate::bake::bake_struct!(TokenHandler {
    base_path,
    issuer,
    client_id,
    client_auth,
    client_secret_name,
    redirect_uri,
    post_logout_redirect_uri,
    scope,
    authorization_params,
    trusted_web_origins,
    cookie_keys,
    cookie_name_prefix,
    csrf_header,
    cors_max_age_seconds,
    session_lifetime_seconds,
    timeout_ms,
    par,
});

/// One cookie key: its version (in every cookie it seals) and the secret holding it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CookieKey {
    /// The version, written into cookie values as `v{version}.`.
    pub version: u32,
    /// Name of the platform secret: 32 bytes as 64 hex characters.
    pub secret: String,
}

crate::bake::bake_struct!(CookieKey { version, secret });

fn default_base_path() -> String {
    "/oauth-agent".into()
}
fn default_client_auth() -> String {
    "client_secret_basic".into()
}
fn default_scope() -> String {
    "openid".into()
}
fn default_cookie_prefix() -> String {
    "ew".into()
}
fn default_csrf_header() -> String {
    "token-handler-version".into()
}
fn default_cors_max_age() -> u64 {
    600
}
fn default_session_seconds() -> u64 {
    // A working day; the AS's refresh-token policy may end a session sooner.
    8 * 60 * 60
}
fn default_timeout_ms() -> u32 {
    5000
}

/// A serialized web origin: `http(s)://host[:port]`, nothing else (Fetch / RFC 6454 §6.2).
fn check_web_origin(text: &str) -> Result<(), String> {
    let url = crate::http::parse_url(text).map_err(|e| format!("not an origin: {e}"))?;
    let serialized = url.origin().ascii_serialization();
    match matches!(url.scheme(), "http" | "https") && serialized == text {
        true => Ok(()),
        false => Err(format!(
            "must be a serialized origin like https://app.example (no path or trailing slash): {serialized}"
        )),
    }
}

/// RFC 7230 `token` characters, lower case (a header name as the core stores it).
fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || b"!#$%&'*+-.^_`|~".contains(&b)
        })
}

impl TokenHandler {
    pub(super) fn validate(&self, forwarding: &Forwarding) -> Result<(), ConfigError> {
        let at = |field: &str| format!("token_handler.{field}");
        let base = &self.base_path;
        if !base.starts_with('/') || base.ends_with('/') || base.contains(['?', '#', '*']) {
            return Err(ConfigError::new(
                at("base_path"),
                "must start with '/' and not end with '/'",
            ));
        }
        check_fetch_url(&self.issuer).map_err(|m| ConfigError::new(at("issuer"), m))?;
        let secret_named = self
            .client_secret_name
            .as_ref()
            .is_some_and(|n| !n.is_empty());
        match self.client_auth.as_str() {
            "client_secret_basic" if !secret_named => {
                return Err(ConfigError::new(
                    at("client_secret_name"),
                    "client_secret_basic needs client_secret_name",
                ))
            }
            "private_key_jwt" if forwarding.signing_key_secret.is_none() => {
                return Err(ConfigError::new(
                    at("client_auth"),
                    "private_key_jwt signs with the gateway key: set forwarding.signing_key_secret",
                ))
            }
            "client_secret_basic" | "private_key_jwt" => {}
            _ => {
                return Err(ConfigError::new(
                    at("client_auth"),
                    "must be client_secret_basic or private_key_jwt",
                ))
            }
        }
        if self.client_id.is_empty() {
            return Err(ConfigError::new(at("client_id"), "must not be empty"));
        }
        for (field, uri) in [
            ("redirect_uri", Some(&self.redirect_uri)),
            (
                "post_logout_redirect_uri",
                self.post_logout_redirect_uri.as_ref(),
            ),
        ] {
            if let Some(uri) = uri {
                let url = crate::http::parse_url(uri)
                    .map_err(|e| ConfigError::new(at(field), e.to_string()))?;
                if !matches!(url.scheme(), "http" | "https") || url.fragment().is_some() {
                    return Err(ConfigError::new(
                        at(field),
                        "must be an http(s) URL without fragment",
                    ));
                }
            }
        }
        if !self.scope.split(' ').any(|s| s == "openid")
            || !self.scope.split(' ').all(route::is_scope_token)
        {
            return Err(ConfigError::new(
                at("scope"),
                "space-separated scope tokens including openid",
            ));
        }
        for key in self.authorization_params.keys() {
            if key.is_empty() || crate::oauth_agent::RESERVED_PARAMS.contains(&key.as_str()) {
                return Err(ConfigError::new(
                    at(&format!("authorization_params.{key}")),
                    "reserved: the agent sets this parameter itself",
                ));
            }
        }
        if self.trusted_web_origins.is_empty() {
            return Err(ConfigError::new(
                at("trusted_web_origins"),
                "at least one origin is required",
            ));
        }
        for (i, origin) in self.trusted_web_origins.iter().enumerate() {
            check_web_origin(origin)
                .map_err(|m| ConfigError::new(at(&format!("trusted_web_origins[{i}]")), m))?;
        }
        if self.cookie_keys.is_empty() {
            return Err(ConfigError::new(
                at("cookie_keys"),
                "at least one key is required",
            ));
        }
        for (i, key) in self.cookie_keys.iter().enumerate() {
            if self
                .cookie_keys
                .iter()
                .take(i)
                .any(|k| k.version == key.version)
            {
                return Err(ConfigError::new(
                    at(&format!("cookie_keys[{i}].version")),
                    "the same version is configured twice",
                ));
            }
        }
        let prefix = &self.cookie_name_prefix;
        if prefix.is_empty()
            || prefix.len() > 16
            || !prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(ConfigError::new(
                at("cookie_name_prefix"),
                "1 to 16 characters of A-Z, a-z, 0-9, '-' and '_'",
            ));
        }
        if !is_header_name(&self.csrf_header) {
            return Err(ConfigError::new(
                at("csrf_header"),
                "a lower-case header field name",
            ));
        }
        if self.session_lifetime_seconds == 0
            || self.timeout_ms == 0
            || self.timeout_ms > 30_000
            || self.cors_max_age_seconds > 86_400
        {
            return Err(ConfigError::new(
                at("timeout_ms"),
                "needs session_lifetime_seconds > 0, 0 < timeout_ms <= 30000, cors_max_age_seconds <= 86400",
            ));
        }
        Ok(())
    }

    /// The agent's settings, with the client secret and the cookie keys read from the platform;
    /// `gateway_key` is the forward stage's loaded signing key (for `private_key_jwt`).
    pub fn settings(
        &self,
        secrets: SecretLookup<'_>,
        gateway_key: Option<&crate::assertion::GatewayKey>,
    ) -> Result<crate::oauth_agent::Settings, ConfigError> {
        use crate::oauth_agent::ClientAuth;
        let client_auth = match (
            self.client_auth.as_str(),
            &self.client_secret_name,
            gateway_key,
        ) {
            ("private_key_jwt", _, Some(key)) => ClientAuth::PrivateKeyJwt(key.clone()),
            ("private_key_jwt", _, None) => {
                return Err(ConfigError::new(
                    "token_handler.client_auth",
                    "private_key_jwt needs forwarding.signing_key_secret",
                ))
            }
            (_, name, _) => {
                let field = "token_handler.client_secret_name";
                ClientAuth::SecretBasic(secret(
                    secrets,
                    field,
                    name.as_deref().unwrap_or_default(),
                )?)
            }
        };
        let mut keys = Vec::with_capacity(self.cookie_keys.len());
        for (i, key) in self.cookie_keys.iter().enumerate() {
            let field = format!("token_handler.cookie_keys[{i}].secret");
            let text = secret(secrets, &field, &key.secret)?;
            let mut bytes = [0u8; 32];
            match base16ct::mixed::decode(text.trim(), &mut bytes) {
                Ok(decoded) if decoded.len() == 32 => keys.push((key.version, bytes)),
                _ => {
                    return Err(ConfigError::new(
                        field,
                        format!(
                            "the platform secret {} must be 32 bytes as 64 hex characters",
                            key.secret
                        ),
                    ))
                }
            }
        }
        let keys = CookieKeys::new(&keys)
            .ok_or_else(|| ConfigError::new("token_handler.cookie_keys", "at least one key"))?;
        Ok(crate::oauth_agent::Settings {
            base_path: self.base_path.clone(),
            issuer: self.issuer.clone(),
            client_id: self.client_id.clone(),
            client_auth,
            redirect_uri: self.redirect_uri.clone(),
            post_logout_redirect_uri: self.post_logout_redirect_uri.clone(),
            scope: self.scope.clone(),
            authorization_params: self
                .authorization_params
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            web: WebOrigins {
                trusted: self.trusted_web_origins.clone(),
                csrf_header: self.csrf_header.clone(),
                max_age: self.cors_max_age_seconds,
            },
            keys,
            cookie_prefix: self.cookie_name_prefix.clone(),
            session_seconds: self.session_lifetime_seconds,
            timeout_ms: self.timeout_ms,
            par: self.par,
        })
    }
}
