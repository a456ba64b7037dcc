//! `issuers[]`: trusted token issuers, their key sources and claim rules, loaded into the verify
//! stage's settings (docs/configuration.md, "Issuer").

use super::*;

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

crate::bake::bake_struct!(Issuer {
    issuer,
    audiences,
    algorithms,
    x5c,
    jwks_uri,
    jwks_cache,
    jwks,
    require_typ,
    leeway_seconds,
    max_age_seconds,
    required_claims,
});

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

crate::bake::bake_struct!(X5cSource {
    leaf_subject,
    leaf_eku
});

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

crate::bake::bake_struct!(JwksCache {
    min_ttl,
    max_ttl,
    default_ttl,
    refresh_cooldown,
    max_stale,
    timeout_ms,
});

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

impl Issuer {
    /// Checks the issuer and turns it into the verify stage's settings: each algorithm name and
    /// the inline JWK Set are parsed here, once.
    pub(super) fn load(&self, at: &str) -> Result<IssuerSettings, ConfigError> {
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
pub(super) fn algorithms(names: &[String], at: &str) -> Result<Vec<Alg>, ConfigError> {
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
