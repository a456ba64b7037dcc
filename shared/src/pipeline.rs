//! The request pipeline: extract → resolve → verify → bind → policy → forward.

use crate::access_token::{TokenVerifier, VerifiedToken};
use crate::bearer::{self, Credential};
use crate::config::{self, Config, ConfigError, Route, Unmatched};
use crate::error::Error;
use crate::forward::Forwarder;
use crate::http::{Outcome, Request, Response};
use crate::platform::{FetchError, LogLevel, Platform};
use crate::policy;
use crate::trace_context::TraceContext;
use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};
use url::Url;

/// Reads a named platform secret (Workers secret or variable, Spin environment variable).
pub type SecretLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Path of the health endpoint, answered by the gateway itself.
pub const HEALTH_PATH: &str = "/.well-known/edgeward/health";

/// Path of the gateway's own JWK Set (the assertion and `ecdsa-p256-sha256` signature keys).
pub const JWKS_PATH: &str = "/.well-known/edgeward/jwks.json";

/// A loaded gateway: configuration plus per-instance state. Shells keep one per isolate.
/// An invalid configuration does not stop construction: every request then gets a 500 naming the
/// bad field, and the problem is logged once.
pub struct Gateway {
    config: Result<Loaded, ConfigError>,
    runtime: &'static str,
    reported: AtomicBool,
}

struct Loaded {
    config: Config,
    origin: Url,
    tokens: TokenVerifier,
    forwarder: Forwarder,
}

/// The policy stage: the route's token requirements, then the origin (claim-based routing).
fn policy_stage(
    loaded: &Loaded,
    route: Option<&Route>,
    token: Option<&VerifiedToken>,
    now: u64,
) -> Result<Url, Error> {
    let (Some(route), Some(token)) = (route, token) else {
        return Ok(loaded.origin.clone());
    };
    policy::check(route, token, now)?;
    match &route.origin_by_claim {
        None => Ok(loaded.origin.clone()),
        Some(by_claim) => Url::parse(policy::origin_for(by_claim, &token.claims)).map_err(|e| {
            Error::Config(ConfigError {
                field: "routes[].origin_by_claim".into(),
                message: e.to_string(),
            })
        }),
    }
}

impl Gateway {
    /// Loads the configuration text (`None` when the platform has no such variable). Fields that
    /// name a platform secret (e.g. a signing key) are resolved through `secrets` at load time.
    pub fn new(
        config_text: Option<&str>,
        secrets: SecretLookup<'_>,
        runtime: &'static str,
    ) -> Gateway {
        let anchors = crate::trust_anchors::TRUST_ANCHORS;
        Gateway::with_trust_anchors(config_text, secrets, runtime, anchors)
    }

    /// Like [`Gateway::new`], with explicit trust anchors (DER) instead of the compiled-in ones.
    pub fn with_trust_anchors(
        config_text: Option<&str>,
        secrets: SecretLookup<'_>,
        runtime: &'static str,
        anchors: &'static [&'static [u8]],
    ) -> Gateway {
        let config = match config_text {
            None => Err(ConfigError {
                field: String::new(),
                message: "no configuration given (EDGEWARD_CONFIG / edgeward_config is unset)"
                    .into(),
            }),
            Some(text) => Config::from_json(text).and_then(|config| {
                let origin = Url::parse(&config.origin).map_err(|e| ConfigError {
                    field: "origin".into(),
                    message: e.to_string(),
                })?;
                let tokens = TokenVerifier::new(&config.issuers, anchors, config.max_token_bytes);
                let forwarder = Forwarder::new(
                    &config.forwarding,
                    config::forwarding_secrets(&config.forwarding, secrets)?,
                )?;
                Ok(Loaded {
                    config,
                    origin,
                    tokens,
                    forwarder,
                })
            }),
        };
        Gateway {
            config,
            runtime,
            reported: AtomicBool::new(false),
        }
    }

    /// Decides what to do with a request.
    pub async fn handle<P: Platform>(&self, platform: &P, request: &Request) -> Outcome {
        let trace = TraceContext::for_request(&request.headers, platform);
        match self.decide(platform, request, &trace).await {
            Ok(outcome) => outcome,
            Err(error) => {
                self.log_error(platform, &error, &trace.request_id);
                Outcome::Respond(error.to_response())
            }
        }
    }

    /// The response for an origin that could not be reached.
    pub fn origin_failed(&self, error: FetchError) -> Response {
        match error {
            FetchError::Timeout => Error::OriginTimeout.to_response(),
            FetchError::Unreachable | FetchError::TooLarge => {
                Error::OriginUnreachable.to_response()
            }
        }
    }

    async fn decide<P: Platform>(
        &self,
        platform: &P,
        request: &Request,
        trace: &TraceContext,
    ) -> Result<Outcome, Error> {
        let url = Url::parse(&request.url).map_err(|_| Error::InvalidRequest("bad request URL"))?;
        let loaded = self.config.as_ref().map_err(|e| Error::Config(e.clone()))?;
        if url.path() == HEALTH_PATH && request.method == "GET" {
            return Ok(Outcome::Respond(self.health()));
        }
        if url.path() == JWKS_PATH && request.method == "GET" {
            let mut response = Response::json(200, &loaded.forwarder.jwks());
            response.headers.set("cache-control", "public, max-age=300");
            return Ok(Outcome::Respond(response));
        }
        let config = &loaded.config;
        let route = config
            .routes
            .iter()
            .find(|route| route.matches(&request.method, url.path()));
        let anonymous = match route {
            Some(route) => route.anonymous,
            None if config.unmatched == Unmatched::RequireToken => false,
            None => return Err(Error::RouteNotFound),
        };
        let mut verified = None;
        if !anonymous {
            let token = match bearer::extract(&request.headers)? {
                Credential::None => return Err(Error::MissingCredential),
                Credential::Bearer(token) => token,
            };
            verified = Some(loaded.tokens.verify(platform, token).await?);
        }
        let origin = policy_stage(loaded, route, verified.as_ref(), platform.now())?;
        // The forward stage.
        let forward = loaded.forwarder.forward(
            platform,
            &request.method,
            &origin,
            &url,
            &request.headers,
            verified.as_ref(),
            trace,
        )?;
        Ok(Outcome::Forward(forward))
    }

    fn health(&self) -> Response {
        Response::json(
            200,
            &json!({ "status": "ok", "version": crate::VERSION, "runtime": self.runtime }),
        )
    }

    fn log_error<P: Platform>(&self, platform: &P, error: &Error, request_id: &str) {
        match error {
            Error::Config(e) => {
                if !self.reported.swap(true, Ordering::Relaxed) {
                    platform.log(LogLevel::Error, &format!("{e} request_id={request_id}"));
                }
            }
            other => platform.log(
                LogLevel::Info,
                &format!("rejected: {} request_id={request_id}", other.code()),
            ),
        }
    }
}
