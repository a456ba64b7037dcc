//! edgeward core: the sans-IO gateway pipeline.
//!
//! The core sees a request as plain data ([`Request`]) and asks a [`Platform`] for the few effects it
//! needs (clock, HTTP fetch, cache, randomness, logging, signature verification). It never does I/O and
//! never reads a clock itself, so everything here runs natively under test with a fake platform.
//!
//! The pipeline, one stage a module (see `docs/architecture.md`):
//! extract credential → resolve → verify (x5c / JWKS) → bind (DPoP, mTLS) → policy → forward.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

#[cfg(feature = "token-handler")]
pub mod aead;
pub mod assertion;
mod bake;
mod by_name;
pub mod claims;
pub mod config;
#[cfg(feature = "token-handler")]
pub mod cookie;
pub mod crypto;
pub mod error;
pub mod http;
pub mod jwa;
pub mod jwk;
pub mod jws;
pub mod kv;
pub mod message_signature;
mod outline;
mod pipeline;
pub mod platform;
mod strict;
pub mod x5c;

pub use builtin_policies::BuiltinPolicies;
pub use config::{Config, ConfigError};
pub use error::Error;
pub use http::{
    BodyFraming, ClientCert, Forward, Headers, Outcome, Request, Response, ResponseEdit,
};
pub use pipeline::verify_token;
pub use pipeline::{Gateway, SecretLookup};
pub use platform::Platform;

/// The pipeline's stages and their helpers, for this crate's own tests, benchmarks and fuzz targets.
/// Not part of the API: shells, the CLI and origin verifiers use the items above (the [`Gateway`],
/// the [`Platform`] they implement, the request and response types, the configuration, and the
/// JOSE, X.509 and RFC 9421 building blocks an origin verifier needs).
#[doc(hidden)]
pub mod internal;
#[cfg(feature = "policy")]
pub(crate) use internal::rego;
pub(crate) use internal::{
    access_token, authorize, bearer, builtin_policies, decision_point, dpop, forward,
    introspection, jwks, lru, mtls, policy, single_flight, split_token, token, token_cache,
    token_exchange, trace_context, trust_anchors, warmup,
};
#[cfg(feature = "token-handler")]
pub(crate) use internal::{cors, oauth_agent};

/// The crate version, reported by the health endpoint.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
