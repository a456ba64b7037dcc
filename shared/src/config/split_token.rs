//! `split_token`: the split-token pattern ([`crate::split_token`]): credentials that are only a
//! JWT's signature part, resolved from `header.payload` entries a publisher pushes to the warm-up
//! endpoint.

use super::*;

/// Split-token resolution and who may publish the entries.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplitToken {
    /// Resolve non-JWS credentials as signature parts (default true when the section is given).
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// The issuer whose keys sign the pushes (`iss` of the push); must be listed in `issuers`.
    pub publisher: String,
    /// The push's `aud`: names this gateway.
    pub audience: String,
    /// Entries kept per isolate in front of the shared tier (default 1024; 0: none).
    #[serde(default = "default_cache_entries")]
    pub cache_entries: usize,
    /// Longest time an isolate keeps an entry, in seconds (default 60; never past the token's
    /// `exp`): how long deleting the shared entry takes to revoke the token everywhere.
    #[serde(default = "default_isolate_ttl")]
    pub isolate_ttl_seconds: u64,
}

crate::bake::bake_struct!(SplitToken {
    enabled,
    publisher,
    audience,
    cache_entries,
    isolate_ttl_seconds,
});

fn default_cache_entries() -> usize {
    // 1024 entries of ≈1 KiB: about 1 MiB per isolate.
    1024
}

fn default_isolate_ttl() -> u64 {
    60
}

fn default_true() -> bool {
    true
}

impl SplitToken {
    pub(super) fn validate(&self, config: &Config) -> Result<(), ConfigError> {
        let at = "split_token";
        if !config.issuers.iter().any(|i| i.issuer == self.publisher) {
            return Err(ConfigError::new(
                format!("{at}.publisher"),
                "must be listed in issuers (its keys authenticate the pushes)",
            ));
        }
        if self.cache_entries > 100_000 {
            return Err(ConfigError::new(
                format!("{at}.cache_entries"),
                "must be between 0 and 100000",
            ));
        }
        if self.audience.is_empty() {
            return Err(ConfigError::new(
                format!("{at}.audience"),
                "must not be empty",
            ));
        }
        let warmup = config.introspection.as_ref().filter(|i| i.warmup);
        if let Some(introspection) = warmup {
            if introspection.issuer != self.publisher || introspection.client_id != self.audience {
                return Err(ConfigError::new(
                    at,
                    "one warm-up endpoint, one publisher: with introspection.warmup, publisher and audience must be introspection.issuer and introspection.client_id",
                ));
            }
        }
        Ok(())
    }
}
