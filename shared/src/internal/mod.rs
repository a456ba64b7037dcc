//! The pipeline's stages and their helpers: crate-private modules, reachable from outside only
//! through here, for this crate's own tests, benchmarks and fuzz targets. Not part of the API (the
//! crate root lists what is); hidden from the docs. The files stay beside `lib.rs`.

#[path = "../access_token.rs"]
pub mod access_token;
#[path = "../bearer.rs"]
pub mod bearer;
#[cfg(feature = "token-handler")]
#[path = "../cors.rs"]
pub mod cors;
#[path = "../dpop.rs"]
pub mod dpop;
#[path = "../forward.rs"]
pub mod forward;
#[path = "../introspection.rs"]
pub mod introspection;
#[path = "../jwks.rs"]
pub mod jwks;
#[path = "../mtls.rs"]
pub mod mtls;
#[cfg(feature = "token-handler")]
#[path = "../oauth_agent.rs"]
pub mod oauth_agent;
#[path = "../policy.rs"]
pub mod policy;
#[path = "../single_flight.rs"]
pub mod single_flight;
#[path = "../split_token.rs"]
pub mod split_token;
#[path = "../token.rs"]
pub mod token;
#[path = "../token_cache.rs"]
pub mod token_cache;
#[path = "../token_exchange.rs"]
pub mod token_exchange;
#[path = "../trace_context.rs"]
pub mod trace_context;
#[path = "../trust_anchors.rs"]
pub mod trust_anchors;
#[path = "../warmup.rs"]
pub mod warmup;
