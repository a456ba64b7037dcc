//! `dpop`: the proof rules and replay handling (RFC 9449).

use super::issuer::algorithms;
use super::*;

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

crate::bake::bake_struct!(Dpop {
    algorithms, max_proof_bytes, iat_window_seconds, iat_leeway_seconds, replay,
    replay_cache_entries, nonce_secret, nonce_bucket_seconds,
} skip { algs });

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

impl Dpop {
    /// Checks the section and parses `algorithms` into [`Dpop::algs`], once.
    pub(super) fn validate(&mut self) -> Result<(), ConfigError> {
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
