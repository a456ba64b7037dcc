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
