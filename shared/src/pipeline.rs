//! The request pipeline: extract → resolve → verify → bind → policy → forward.

use crate::access_token::{looks_like_jws, TokenKind, TokenVerifier, VerifiedToken};
use crate::bearer::{self, Credential};
use crate::config::{Config, ConfigError, Unmatched};
use crate::error::Error;
use crate::forward;
use crate::http::{Outcome, Request, Response};
use crate::introspection::Introspector;
use crate::platform::{FetchError, LogLevel, Platform};
use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};
use url::Url;

/// Reads a named platform secret (Workers secret or variable, Spin environment variable).
pub type SecretLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Path of the health endpoint, answered by the gateway itself.
pub const HEALTH_PATH: &str = "/.well-known/edgeward/health";

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
    introspector: Option<Introspector>,
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
                let introspector = match &config.introspection {
                    Some(introspection) => {
                        Some(Introspector::new(introspection.settings(secrets)?))
                    }
                    None => None,
                };
                Ok(Loaded {
                    config,
                    origin,
                    tokens,
                    introspector,
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
        match self.decide(platform, request).await {
            Ok(outcome) => outcome,
            Err(error) => {
                self.log_error(platform, &error);
                Outcome::Respond(error.to_response())
            }
        }
    }

    /// Finishes a request for which [`handle`](Gateway::handle) asked for the body
    /// ([`Outcome::ReadBody`]): the introspection warm-up push.
    pub async fn handle_body<P: Platform>(
        &self,
        platform: &P,
        request: &Request,
        body: &[u8],
    ) -> Response {
        let answer = match self.config.as_ref() {
            Err(e) => Err(Error::Config(e.clone())),
            Ok(loaded) => match (&loaded.introspector, &loaded.config.introspection) {
                (Some(introspector), Some(settings)) if settings.warmup => {
                    let url = Url::parse(&request.url).ok();
                    if url.as_ref().map(Url::path) != Some(crate::warmup::WARMUP_PATH) {
                        Err(Error::RouteNotFound)
                    } else {
                        crate::warmup::accept(
                            platform,
                            &loaded.tokens,
                            introspector,
                            &settings.issuer,
                            &settings.client_id,
                            body,
                        )
                        .await
                    }
                }
                _ => Err(Error::RouteNotFound),
            },
        };
        answer.unwrap_or_else(|error| {
            self.log_error(platform, &error);
            error.to_response()
        })
    }

    /// The response for a body longer than [`Outcome::ReadBody`] allowed.
    pub fn body_too_large(&self) -> Response {
        Error::InvalidRequest("request body too large").to_response()
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

    async fn decide<P: Platform>(&self, platform: &P, request: &Request) -> Result<Outcome, Error> {
        let url = Url::parse(&request.url).map_err(|_| Error::InvalidRequest("bad request URL"))?;
        let loaded = self.config.as_ref().map_err(|e| Error::Config(e.clone()))?;
        if url.path() == HEALTH_PATH && request.method == "GET" {
            return Ok(Outcome::Respond(self.health()));
        }
        if url.path() == crate::warmup::WARMUP_PATH && request.method == "POST" {
            return warmup_gate(loaded, platform);
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
        if !anonymous {
            let token = match bearer::extract(&request.headers)? {
                Credential::None => return Err(Error::MissingCredential),
                Credential::Bearer(token) => token,
            };
            let _verified = resolve(loaded, platform, token).await?;
        }
        Ok(Outcome::Forward(forward::to_origin(
            &loaded.origin,
            &url,
            &request.headers,
        )))
    }

    fn health(&self) -> Response {
        Response::json(
            200,
            &json!({ "status": "ok", "version": crate::VERSION, "runtime": self.runtime }),
        )
    }

    fn log_error<P: Platform>(&self, platform: &P, error: &Error) {
        match error {
            Error::Config(e) => {
                if !self.reported.swap(true, Ordering::Relaxed) {
                    platform.log(LogLevel::Error, &e.to_string());
                }
            }
            other => platform.log(LogLevel::Info, &format!("rejected: {}", other.code())),
        }
    }
}

/// The resolve and verify stages: a JWS is verified locally; any other credential is opaque and
/// introspected when introspection is configured (else it is malformed).
async fn resolve<P: Platform>(
    loaded: &Loaded,
    platform: &P,
    token: &str,
) -> Result<VerifiedToken, Error> {
    if token.len() > loaded.config.max_token_bytes {
        return Err(Error::InvalidToken(crate::error::TokenFault::TooLarge));
    }
    if looks_like_jws(token) {
        return loaded.tokens.verify(platform, token).await;
    }
    let introspector = loaded
        .introspector
        .as_ref()
        .ok_or(Error::InvalidToken(crate::error::TokenFault::Malformed))?;
    let found = introspector
        .introspect(platform, &loaded.tokens, token)
        .await?;
    let issuer = loaded
        .config
        .introspection
        .as_ref()
        .map(|i| i.issuer.clone())
        .unwrap_or_default();
    Ok(VerifiedToken {
        issuer,
        claims: found.claims,
        kind: TokenKind::Opaque,
    })
}

/// The warm-up endpoint exists only when enabled, and only where a shared cache tier exists.
fn warmup_gate<P: Platform>(loaded: &Loaded, platform: &P) -> Result<Outcome, Error> {
    let enabled = loaded
        .config
        .introspection
        .as_ref()
        .is_some_and(|i| i.warmup);
    if !enabled {
        return Err(Error::RouteNotFound);
    }
    if !platform.has_shared_cache() {
        return Err(Error::UpstreamUnavailable(
            "no shared cache tier on this platform",
        ));
    }
    Ok(Outcome::ReadBody {
        max_bytes: crate::warmup::MAX_PUSH_BYTES,
    })
}
