//! `introspection`: where and how opaque tokens are introspected (RFC 7662 / RFC 9701).

use super::*;

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

crate::bake::bake_struct!(Introspection {
    endpoint,
    issuer,
    client_id,
    client_secret_name,
    response,
    timeout_ms,
    max_ttl,
    negative_ttl,
    cache_capacity,
    warmup,
    audiences,
    require_audience,
});

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
    pub(super) fn validate(&self, issuers: &[Issuer]) -> Result<(), ConfigError> {
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
        let field = "introspection.client_secret_name";
        let client_secret = secret(secrets, field, &self.client_secret_name)?;
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
