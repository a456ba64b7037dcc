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

pub mod access_token;
pub mod assertion;
pub mod bearer;
pub mod claims;
pub mod config;
pub mod crypto;
pub mod dpop;
pub mod error;
pub mod forward;
pub mod http;
pub mod introspection;
pub mod jwa;
pub mod jwk;
pub mod jwks;
pub mod jws;
pub mod kv;
pub mod message_signature;
pub mod mtls;
mod pipeline;
pub mod platform;
pub mod policy;
pub mod single_flight;
mod strict;
pub mod token;
pub mod token_cache;
pub mod trace_context;
pub mod trust_anchors;
pub mod warmup;
pub mod x5c;

pub use config::{Config, ConfigError};
pub use error::Error;
pub use http::{BodyFraming, ClientCert, Forward, Headers, Outcome, Request, Response};
pub use pipeline::verify_token;
pub use pipeline::{Gateway, SecretLookup};
pub use platform::Platform;

/// The crate version, reported by the health endpoint.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
