//! The request pipeline: extract → resolve → verify → bind → policy → authorize → forward.

use crate::access_token::{looks_like_jose, looks_like_jws, TokenVerifier, VerifiedToken};
use crate::authorize::DecisionPoints;
use crate::bearer::{self, Credential};
use crate::config::{self, Config, ConfigError, DpopMode, ReplayMode, Route, TokenKind, Unmatched};
use crate::decision_point::{Decision, Facts};
use crate::dpop::{self, NonceKey, ProofRequest, ProofRules, ReplayCache};
use crate::error::{AuthzFault, DpopFault, Error, Scheme, TokenFault};
use crate::forward::{self, Forwarder};
use crate::http::{Headers, Outcome, Request, Response};
use crate::introspection::Introspector;
use crate::mtls;
use crate::outline::outlined;
use crate::platform::{FetchError, LogLevel, Platform};
use crate::policy;
use crate::token_exchange::{self, Exchanger};
use crate::trace_context::{Context, TraceContext};
use serde_json::json;
use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, Ordering};
use token_handler::Agent;
use url::Url;

pub use crate::config::SecretLookup;

/// The token handler's hooks (issue #16); without the `token-handler` feature, stubs that never
/// answer.
#[cfg(feature = "token-handler")]
mod token_handler;
#[cfg(not(feature = "token-handler"))]
#[path = "pipeline/no_token_handler.rs"]
mod token_handler;

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
    introspector: Option<Introspector>,
    exchanger: Option<Exchanger>,
    split_tokens: Option<crate::split_token::SplitTokens>,
    public_base: Option<Url>,
    dpop: DpopState,
    forwarder: Forwarder,
    /// The token handler's OAuth agent (`token_handler`), if configured.
    agent: Option<Agent>,
    decision_points: DecisionPoints,
}

/// The DPoP rules and per-isolate state (RFC 9449).
struct DpopState {
    rules: ProofRules,
    headers: dpop::ProofHeaders,
    nonce: Option<NonceKey>,
    replay: ReplayMode,
    seen: ReplayCache,
}

impl DpopState {
    fn load(config: &crate::config::Dpop, secrets: SecretLookup<'_>) -> Result<Self, ConfigError> {
        let nonce = match &config.nonce_secret {
            None => None,
            Some(name) => {
                let field = "dpop.nonce_secret";
                let secret = config::secret(secrets, field, name)?;
                let key = NonceKey::new(secret.as_bytes(), config.nonce_bucket_seconds);
                Some(key.ok_or_else(|| ConfigError {
                    field: field.to_owned(),
                    message: format!(
                        "the platform secret {name} must be at least {} bytes",
                        dpop::MIN_NONCE_SECRET_BYTES
                    ),
                })?)
            }
        };
        Ok(DpopState {
            rules: ProofRules {
                algs: config.algs,
                max_proof_bytes: config.max_proof_bytes,
                iat_window: config.iat_window_seconds,
                iat_leeway: config.iat_leeway_seconds,
            },
            nonce,
            replay: config.replay,
            headers: dpop::ProofHeaders::default(),
            seen: ReplayCache::new(config.replay_cache_entries),
        })
    }
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
        Some(by_claim) => crate::http::parse_url(policy::origin_for(by_claim, &token.claims))
            .map_err(|e| {
                Error::Config(ConfigError {
                    field: "routes[].origin_by_claim".into(),
                    message: e.to_string(),
                })
            }),
    }
}

/// The authorize stage: the route's decision point, when it names one. A deny or a decision
/// point without a usable answer stops the request here (the origin is not called); an allow
/// may carry fields for the forwarded request.
async fn authorize_stage<P: Platform>(
    loaded: &Loaded,
    platform: &P,
    call: &Call<'_>,
    route: Option<&Route>,
    token: Option<&VerifiedToken>,
) -> Result<Option<Decision>, Error> {
    let Some((route, name)) = route.and_then(|r| Some((r, r.authorize.as_deref()?))) else {
        return Ok(None);
    };
    let point = loaded.decision_points.get(name).ok_or_else(|| {
        Error::Config(ConfigError {
            field: "routes[].authorize".into(),
            message: format!("no decision point {name:?}"),
        })
    })?;
    let facts = Facts {
        method: &call.request.method,
        url: call.url,
        headers: &call.request.headers,
        route: &route.path,
    };
    let decision = point
        .decide(platform, &facts, token, call.context.now)
        .await?;
    Ok(Some(decision))
}

/// A configuration [`Config::from_json`] accepted from `text`, loaded: its platform secrets
/// resolved through `secrets`, its parts moved to the stages that use them.
fn load(
    mut config: Config,
    text: &str,
    secrets: SecretLookup<'_>,
    runtime: &'static str,
    anchors: &'static [&'static [u8]],
    policies: crate::builtin_policies::BuiltinPolicies,
) -> Result<Loaded, ConfigError> {
    // Moved out of the document: the stages read them from here only.
    let origin = config.origin_url.take().ok_or_else(|| ConfigError {
        field: "origin".into(),
        message: "not loaded".into(),
    })?;
    let public_base = config.public_base.take();
    let dpop = DpopState::load(&config.dpop, secrets)?;
    let tokens = TokenVerifier::new(
        std::mem::take(&mut config.issuer_settings),
        anchors,
        config.max_token_bytes,
        config.token_cache_entries,
        (
            config.token_cache_shared,
            crate::token_cache::fingerprint(text, anchors),
        ),
    );
    let introspector = match &config.introspection {
        Some(introspection) => Some(Introspector::new(
            introspection.settings(&config.issuers, secrets)?,
        )),
        None => None,
    };
    let exchanger = match &config.token_exchange {
        Some(section) => Some(Exchanger::new(section.settings(secrets)?)),
        None => None,
    };
    let split_tokens = config
        .split_tokens()
        .map(|s| crate::split_token::SplitTokens::new(s.cache_entries, s.isolate_ttl_seconds));
    let forwarder = Forwarder::new(
        &config.forwarding,
        config::forwarding_secrets(&config.forwarding, secrets)?,
    )?
    .on_runtime(runtime)
    .stripping_cookies(config.token_handler.is_some());
    let agent = token_handler::load(&config, secrets, &forwarder)?;
    let mut points = std::mem::take(&mut config.decision_point_settings);
    config::decision_point_secrets(&config.authorization, &mut points, secrets, policies)?;
    let decision_points = DecisionPoints::new(points);
    Ok(Loaded {
        config,
        origin,
        tokens,
        introspector,
        exchanger,
        split_tokens,
        public_base,
        dpop,
        forwarder,
        agent,
        decision_points,
    })
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
        let policies = crate::builtin_policies::BuiltinPolicies::BUILD;
        Gateway::with_compiled_in(config_text, secrets, runtime, anchors, policies)
    }

    /// Like [`Gateway::new`], with explicit trust anchors (DER) and builtin Rego policies
    /// (`policy_builtin`) instead of the compiled-in ones.
    pub fn with_compiled_in(
        config_text: Option<&str>,
        secrets: SecretLookup<'_>,
        runtime: &'static str,
        anchors: &'static [&'static [u8]],
        policies: crate::builtin_policies::BuiltinPolicies,
    ) -> Gateway {
        let config = Config::for_function(config_text)
            .and_then(|(config, text)| load(config, text, secrets, runtime, anchors, policies));
        Gateway::of(config, runtime)
    }

    /// Like [`Gateway::new`], from a configuration [`Config::from_json`] accepted from `text`:
    /// the platform secrets it names are resolved now, through `secrets`. For a platform that
    /// parses a configuration once and binds its secrets per instance (the Spin component's
    /// pre-initialisation); the gateway is the one [`Gateway::new`] loads from `text`.
    pub fn from_parsed(
        config: Config,
        text: &str,
        secrets: SecretLookup<'_>,
        runtime: &'static str,
    ) -> Gateway {
        let anchors = crate::trust_anchors::TRUST_ANCHORS;
        let policies = crate::builtin_policies::BuiltinPolicies::BUILD;
        let loaded = load(config, text, secrets, runtime, anchors, policies);
        Gateway::of(loaded, runtime)
    }

    /// The gateway of a loaded configuration, or of the error that every request then answers.
    fn of(config: Result<Loaded, ConfigError>, runtime: &'static str) -> Gateway {
        Gateway {
            config,
            runtime,
            reported: AtomicBool::new(false),
        }
    }

    /// Decides what to do with a request.
    pub async fn handle<P: Platform>(&self, platform: &P, request: &Request) -> Outcome {
        let context = Context {
            now: platform.now(),
            trace: TraceContext::for_request(&request.headers, platform),
        };
        let outcome = match self.dispatch(platform, request, &context).await {
            Ok(outcome) => outcome,
            Err(error) => {
                self.log_error(platform, &error, &context.trace.request_id);
                Outcome::Respond(error.to_response_as(self.scheme(request)))
            }
        };
        self.with_cors(request, outcome)
    }

    /// Token handler: the CORS fields for a trusted web origin on every answer, the gateway's own
    /// and the origin's, errors included, so the page can read them ([`crate::cors`]).
    fn with_cors(&self, request: &Request, mut outcome: Outcome) -> Outcome {
        let agent = self.config.as_ref().ok().and_then(|l| l.agent.as_ref());
        let fields = token_handler::cors_fields(agent, request);
        if fields.is_empty() {
            return outcome;
        }
        let target = match &mut outcome {
            Outcome::Respond(response) => &mut response.headers,
            Outcome::Forward(forward) => &mut forward.response_headers,
            Outcome::ReadBody { .. } => return outcome,
        };
        for (name, value) in fields.iter() {
            target.set(name, value);
        }
        outcome
    }

    /// The scheme of the client's `Authorization` field, for its challenges (RFC 9449 §7.1:
    /// a request made with `DPoP` is answered with `DPoP` challenges).
    fn scheme(&self, request: &Request) -> Scheme {
        let algs = match &self.config {
            Ok(loaded) => loaded.dpop.rules.algs,
            Err(_) => crate::dpop::default_algs(),
        };
        match bearer::scheme_is_dpop(&request.headers) {
            true => Scheme::Dpop(algs),
            false => Scheme::Bearer,
        }
    }

    /// Finishes a request for which [`handle`](Gateway::handle) asked for the body
    /// ([`Outcome::ReadBody`]): the token handler's `login/start` and `login/end`, the
    /// introspection warm-up push.
    pub async fn handle_body<P: Platform>(
        &self,
        platform: &P,
        request: &Request,
        body: &[u8],
    ) -> Response {
        let agent = self.config.as_ref().ok().and_then(|l| l.agent.as_ref());
        let agent_answer = match agent {
            Some(agent) => outlined(token_handler::body(agent, platform, request, body)).await,
            None => None,
        };
        let answer = match (self.config.as_ref(), agent_answer) {
            (Err(e), _) => Err(Error::Config(e.clone())),
            (Ok(_), Some(answer)) => answer,
            (Ok(loaded), None) => match warmup_accepts(loaded) {
                Some(accepts) => {
                    let url = crate::http::parse_url(&request.url).ok();
                    if url.as_ref().map(Url::path) != Some(crate::warmup::WARMUP_PATH) {
                        Err(Error::RouteNotFound)
                    } else {
                        let now = platform.now();
                        outlined(crate::warmup::accept(
                            platform,
                            &loaded.tokens,
                            accepts,
                            body,
                            now,
                        ))
                        .await
                    }
                }
                None => Err(Error::RouteNotFound),
            },
        };
        let response = answer.unwrap_or_else(|error| {
            let trace = TraceContext::for_request(&request.headers, platform);
            self.log_error(platform, &error, &trace.request_id);
            error.to_response()
        });
        match self.with_cors(request, Outcome::Respond(response)) {
            Outcome::Respond(response) => response,
            _ => Error::RouteNotFound.to_response(),
        }
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

    /// The gateway's own endpoints (health, its JWK Set, the warm-up push), then the pipeline.
    async fn dispatch<P: Platform>(
        &self,
        platform: &P,
        request: &Request,
        context: &Context,
    ) -> Result<Outcome, Error> {
        let url = crate::http::parse_url(&request.url)
            .ok()
            .filter(|url| matches!(url.scheme(), "http" | "https"))
            .ok_or(Error::InvalidRequest("bad request URL"))?;
        let loaded = self.config.as_ref().map_err(|e| Error::Config(e.clone()))?;
        match (request.method.as_str(), url.path()) {
            ("GET", HEALTH_PATH) => Ok(Outcome::Respond(self.health())),
            ("GET", JWKS_PATH) => {
                let mut response = Response::json(200, &loaded.forwarder.jwks());
                response.headers.set("cache-control", "public, max-age=300");
                Ok(Outcome::Respond(response))
            }
            ("POST", crate::warmup::WARMUP_PATH) => warmup_gate(loaded, platform),
            _ if token_handler::owns(loaded.agent.as_ref(), request, &url) => {
                let agent = loaded.agent.as_ref().ok_or(Error::RouteNotFound)?;
                outlined(token_handler::gate(
                    agent,
                    platform,
                    request,
                    &url,
                    context.now,
                ))
                .await
            }
            _ => {
                let call = Call {
                    request,
                    url: &url,
                    context,
                };
                self.decide(loaded, platform, &call).await
            }
        }
    }

    /// The stages in order: route lookup → extract → resolve + verify → bind → policy →
    /// authorize → exchange → forward.
    async fn decide<P: Platform>(
        &self,
        loaded: &Loaded,
        platform: &P,
        call: &Call<'_>,
    ) -> Result<Outcome, Error> {
        let config = &loaded.config;
        let (method, path) = (&call.request.method, call.url.path());
        let route = config.routes.iter().find(|r| r.matches(method, path));
        let anonymous = match route {
            Some(route) => route.anonymous,
            None if config.unmatched == Unmatched::RequireToken => false,
            None => return Err(Error::RouteNotFound),
        };
        let (authenticated, response_headers) = match anonymous {
            true => (None, Headers::new()),
            false => {
                let mut found = outlined(authenticate(loaded, platform, call, route)).await?;
                let headers = std::mem::take(&mut found.headers);
                (Some(found), headers)
            }
        };
        let verified = authenticated.as_ref().map(|a| &a.token);
        let now = call.context.now;
        let origin = policy_stage(loaded, route, verified, now)?;
        let decision = outlined(authorize_stage(loaded, platform, call, route, verified)).await?;
        let subject = authenticated.as_ref().map(|a| (&a.token, a.sent.as_ref()));
        let exchanged = outlined(exchange_stage(loaded, platform, call, route, subject)).await?;
        let mut incoming = self.origin_fields(config, &call.request.headers);
        if let Some(decision) = decision.filter(|d| !d.headers.is_empty()) {
            let cert_field = config.mtls.client_cert_header.as_deref();
            loaded
                .forwarder
                .add_fields(incoming.to_mut(), &decision.headers, cert_field)
                .map_err(|()| Error::AuthorizationUnavailable(AuthzFault::Invalid))?;
        }
        let mut forward = loaded.forwarder.forward(
            platform,
            method,
            &origin,
            call.url,
            &incoming,
            config.mtls.client_cert_header.as_deref(),
            verified,
            exchanged.as_deref(),
            call.context,
        )?;
        forward.response_headers = response_headers;
        forward.timeout_ms = config.origin_timeout_ms;
        Ok(Outcome::Forward(forward))
    }

    /// The request's fields as the forward stage gets them: with the client's address in
    /// `forwarding.client_address` where the runtime reports it (read before the forward stage
    /// strips the runtime's own fields). Borrowed when there is nothing to add.
    fn origin_fields<'h>(&self, config: &Config, headers: &'h Headers) -> Cow<'h, Headers> {
        let address = config.forwarding.client_address.and_then(|field| {
            Some((
                field,
                forward::runtime_client_address(self.runtime, headers)?,
            ))
        });
        let Some((field, address)) = address else {
            return Cow::Borrowed(headers);
        };
        let mut fields = headers.clone();
        fields.append(field.name(), &forward::client_address_value(field, address));
        Cow::Owned(fields)
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

/// One request as the stages see it: the request, its parsed URL and its context.
struct Call<'a> {
    request: &'a Request,
    url: &'a Url,
    context: &'a Context,
}

/// What [`authenticate`] established: the verified token, the credential as the client sent it
/// (the exchange stage's subject token, so a cookie is opened once per request), and the fields
/// for the client's response.
struct Authenticated<'r> {
    token: VerifiedToken,
    sent: Cow<'r, str>,
    headers: Headers,
}

/// extract → resolve + verify → bind, on a route that needs a token.
async fn authenticate<'r, P: Platform>(
    loaded: &Loaded,
    platform: &P,
    call: &Call<'r>,
    route: Option<&Route>,
) -> Result<Authenticated<'r>, Error> {
    let dpop_mode = route.map(|route| route.dpop).unwrap_or_default();
    let from_header = bearer::extract(&call.request.headers)?;
    // Token handler builds only: the access token from its cookie when there is no other
    // credential (opening it may wait on the platform; the gateway function has no await here).
    #[cfg(feature = "token-handler")]
    let from_cookie = match from_header {
        Credential::None => {
            let agent = loaded.agent.as_ref();
            let now = call.context.now;
            outlined(token_handler::cookie_token(
                agent,
                platform,
                route,
                call.request,
                now,
            ))
            .await?
        }
        _ => None,
    };
    #[cfg(not(feature = "token-handler"))]
    let from_cookie: Option<String> = None;
    let credential = match &from_cookie {
        Some(token) => Credential::Bearer(token),
        None => from_header,
    };
    let sent = match credential.token() {
        Some(token) => token,
        None if dpop_mode == DpopMode::Required => {
            let algs = loaded.dpop.rules.algs;
            return Err(Error::MissingDpopCredential { algs });
        }
        None => return Err(Error::MissingCredential),
    };
    let token = outlined(resolve(loaded, platform, sent, call.context.now)).await?;
    let headers = outlined(bind(loaded, platform, call, dpop_mode, credential, &token)).await?;
    let sent = match from_cookie {
        Some(token) => Cow::Owned(token),
        None => Cow::Borrowed(from_header.token().unwrap_or_default()),
    };
    Ok(Authenticated {
        token,
        sent,
        headers,
    })
}

/// The resolve and verify stages: a JWS is verified locally; any other credential is opaque and
/// introspected when introspection is configured (else it is malformed).
async fn resolve<P: Platform>(
    loaded: &Loaded,
    platform: &P,
    token: &str,
    now: u64,
) -> Result<VerifiedToken, Error> {
    if token.len() > loaded.config.max_token_bytes {
        return Err(Error::InvalidToken(crate::error::TokenFault::TooLarge));
    }
    if looks_like_jws(token) {
        return outlined(loaded.tokens.verify(platform, token, now)).await;
    }
    if looks_like_jose(token) {
        return Err(Error::InvalidToken(TokenFault::UnsupportedJose));
    }
    if let Some(found) = outlined(resolve_split(loaded, platform, token, now)).await? {
        return Ok(found);
    }
    let introspector = loaded
        .introspector
        .as_ref()
        .ok_or(Error::InvalidToken(crate::error::TokenFault::Malformed))?;
    let found = outlined(introspector.introspect(platform, &loaded.tokens, token, now)).await?;
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
        phantom_jwt: found.jwt,
        ath: None,
    })
}

/// The token-exchange stage (RFC 8693), after policy and authorize, for a route with `exchange`: the token the
/// origin receives instead of the client's. The subject token is the verified token as the client
/// sent it (`sent`: from `Authorization`, or the token handler's cookie as the extract stage opened
/// it), or, for an opaque token answered in `application_jwt` mode, the AS's own JWT for it (a
/// JWT the gateway mints itself is re-signed per request and not the AS's to judge, so the opaque
/// token goes instead); for a split token, the reassembled JWT. `None` on routes without `exchange`.
async fn exchange_stage<P: Platform>(
    loaded: &Loaded,
    platform: &P,
    call: &Call<'_>,
    route: Option<&Route>,
    verified: Option<(&VerifiedToken, &str)>,
) -> Result<Option<String>, Error> {
    let (Some(rule), Some((token, sent))) = (route.and_then(|r| r.exchange.as_ref()), verified)
    else {
        return Ok(None);
    };
    let exchanger = loaded
        .exchanger
        .as_ref()
        .ok_or_else(|| Error::Config(ConfigError::new("token_exchange", "not loaded")))?;
    let subject = token_exchange::Subject {
        rule,
        token: token.phantom_jwt.as_deref().unwrap_or(sent),
        exp: token.claims.get("exp").and_then(serde_json::Value::as_u64),
    };
    // The gateway key signs the actor token and a private_key_jwt assertion; the configuration
    // loads only when it is there for those.
    let gateway = loaded.forwarder.actor();
    let now = call.context.now;
    exchanger
        .exchange(platform, &subject, gateway, now)
        .await
        .map(Some)
}

/// What the warm-up endpoint accepts on this gateway (`None`: it does not exist): introspection
/// answers with `introspection.warmup`, split-token entries with `split_token`.
fn warmup_accepts(loaded: &Loaded) -> Option<crate::warmup::Accepts<'_>> {
    let config = &loaded.config;
    let introspection = match &config.introspection {
        Some(settings) if settings.warmup => loaded.introspector.as_ref(),
        _ => None,
    };
    Some(crate::warmup::Accepts {
        introspection,
        split_tokens: loaded.split_tokens.as_ref(),
        publisher: config.warmup_publisher()?,
    })
}

/// The split-token pattern ([`crate::split_token`]), when `split_token` is enabled: a credential
/// shaped like a signature part is looked up by its hash in the shared tier, reassembled and
/// verified like any JWT; the origin receives the full JWT (`phantom_jwt`, sent as
/// `Authorization: Bearer`). `Ok(None)`: not a split token here (introspection may still know it).
/// Unknown with no introspection to ask: 401 `invalid_token` (inactive).
///
/// A hit costs the SHA-256 of the credential and one verified-token cache lookup: the verified
/// token is cached under the hash ([`crate::split_token::verified_key`]) with its time checks
/// re-run on every hit, and for no longer than this isolate holds the published entry (the
/// token's `exp`, at most `split_token.isolate_ttl_seconds`), so deleting the entry revokes the
/// token within that bound, as before the cache.
async fn resolve_split<P: Platform>(
    loaded: &Loaded,
    platform: &P,
    token: &str,
    now: u64,
) -> Result<Option<VerifiedToken>, Error> {
    let Some(split) = &loaded.split_tokens else {
        return Ok(None);
    };
    if !crate::split_token::looks_like_signature(token) {
        return Ok(None);
    }
    let hash = crate::split_token::signature_hash(token);
    let key = crate::split_token::verified_key(&hash);
    if let Some(answer) = loaded.tokens.cached(&key, now) {
        return answer.map(Some);
    }
    if !platform.has_shared_cache() {
        return Err(Error::UpstreamUnavailable(
            "no shared cache tier on this platform",
        ));
    }
    let Some((jws, until)) = split.reassemble(platform, &hash, token, now).await else {
        return match loaded.introspector {
            Some(_) => Ok(None),
            None => Err(Error::InvalidToken(TokenFault::Inactive)),
        };
    };
    let mut verified = loaded.tokens.verify(platform, &jws, now).await?;
    // The client's access token is the signature part: a DPoP proof's `ath` is its hash.
    verified.ath = None;
    verified.phantom_jwt = Some(jws);
    if let Some(jws) = &verified.phantom_jwt {
        let last = until.saturating_sub(1);
        loaded.tokens.cache_as(jws, &key, &verified, now, last);
    }
    Ok(Some(verified))
}

/// The warm-up endpoint exists only when enabled, and only where a shared cache tier exists.
fn warmup_gate<P: Platform>(loaded: &Loaded, platform: &P) -> Result<Outcome, Error> {
    if warmup_accepts(loaded).is_none() {
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

/// The bind stage: sender constraints of a verified token. DPoP (RFC 9449 §7) by the route's mode,
/// then the certificate binding (RFC 8705 §3), which applies whenever the token has
/// `cnf["x5t#S256"]`. Returns the header fields for the client's response (a fresh `DPoP-Nonce`).
async fn bind<P: Platform>(
    loaded: &Loaded,
    platform: &P,
    call: &Call<'_>,
    mode: DpopMode,
    credential: Credential<'_>,
    token: &VerifiedToken,
) -> Result<Headers, Error> {
    let mut response_headers = Headers::new();
    let algs = loaded.dpop.rules.algs;
    let jkt = dpop::bound_jkt(&token.claims).map_err(Error::InvalidToken)?;
    match (mode, credential, jkt) {
        (DpopMode::Disabled, Credential::Dpop(_), _) => {
            return Err(Error::InvalidRequest("DPoP is not accepted on this route"));
        }
        (_, Credential::Bearer(_), Some(_)) => {
            return Err(Error::InvalidToken(TokenFault::DpopBoundAsBearer));
        }
        (DpopMode::Required, Credential::Bearer(_), None) => {
            return Err(Error::DpopRequired { algs });
        }
        (_, Credential::Dpop(_), None) => {
            return Err(Error::InvalidToken(TokenFault::NotDpopBound));
        }
        (_, Credential::Dpop(access_token), Some(jkt)) => {
            // The token's `ath`: kept with a verified JWT, else hashed now.
            let hashed;
            let ath = match &token.ath {
                Some(ath) => ath.as_str(),
                None => {
                    hashed = dpop::access_token_hash(access_token);
                    hashed.as_str()
                }
            };
            outlined(check_proof(loaded, platform, call, ath, jkt)).await?;
            if let Some(key) = &loaded.dpop.nonce {
                response_headers.append("dpop-nonce", &key.issue(call.context.now));
            }
        }
        (_, Credential::Bearer(_) | Credential::None, None) => {}
        (_, Credential::None, Some(_)) => return Err(Error::MissingCredential),
    }
    bind_certificate(loaded, call.request, token)?;
    Ok(response_headers)
}

/// RFC 9449 §4.3 for one request: the stateless checks, then `cnf.jkt`, the nonce and replay.
async fn check_proof<P: Platform>(
    loaded: &Loaded,
    platform: &P,
    call: &Call<'_>,
    ath: &str,
    jkt: &str,
) -> Result<(), Error> {
    let (request, url, now) = (call.request, call.url, call.context.now);
    let state = &loaded.dpop;
    let algs = state.rules.algs;
    let invalid = |fault| Error::InvalidDpopProof { fault, algs };
    let proof = match request.headers.get_single("dpop") {
        Err(()) => return Err(invalid(DpopFault::Multiple)),
        Ok(None) => return Err(invalid(DpopFault::Missing)),
        Ok(Some(proof)) => proof,
    };
    let htu = dpop::public_htu(url, loaded.public_base.as_ref())
        .ok_or(Error::InvalidRequest("bad request URL"))?;
    let expected = ProofRequest {
        method: &request.method,
        htu: &htu,
        ath: Some(ath),
    };
    let rules = (&state.rules, &state.headers);
    let proof = dpop::verify_proof(proof, &expected, rules, now, platform.verifier())
        .await
        .map_err(invalid)?;
    if proof.jkt != jkt {
        return Err(invalid(DpopFault::KeyMismatch));
    }
    if let Some(key) = &state.nonce {
        if !proof.nonce.as_deref().is_some_and(|n| key.accepts(n, now)) {
            let nonce = key.issue(now);
            return Err(Error::UseDpopNonce { nonce, algs });
        }
    }
    let key = proof.replay_key();
    let expires = proof.iat.saturating_add(state.rules.iat_window);
    if !state.seen.first_use(key, expires, now) {
        return Err(invalid(DpopFault::Replayed));
    }
    let strict = state.replay == ReplayMode::Strict;
    if !platform.has_replay_store() {
        return match strict {
            true => Err(Error::UpstreamUnavailable("replay store unavailable")),
            false => Ok(()),
        };
    }
    match platform
        .replay_check(&key, expires.max(now.saturating_add(1)))
        .await
    {
        Ok(true) => Ok(()),
        Ok(false) => Err(invalid(DpopFault::Replayed)),
        Err(_) if strict => Err(Error::UpstreamUnavailable("replay store unavailable")),
        Err(_) => Ok(()),
    }
}

/// RFC 8705 §3: a token with `cnf["x5t#S256"]` needs that client certificate. The certificate the
/// platform saw wins; the configured `mtls.client_cert_header` is read only when there is none. A
/// certificate the platform reports revoked, or (unless `mtls.accept_unverified_client_certs`)
/// with a chain it did not validate, counts as no certificate ([`mtls::usable`]); the header is
/// not read in its place.
fn bind_certificate(
    loaded: &Loaded,
    request: &Request,
    token: &VerifiedToken,
) -> Result<(), Error> {
    let Some(x5t) = mtls::bound_thumbprint(&token.claims).map_err(Error::InvalidToken)? else {
        return Ok(());
    };
    let mtls_config = &loaded.config.mtls;
    let from_header = match &mtls_config.client_cert_header {
        Some(name) if request.client_cert.is_none() => match request.headers.get_single(name) {
            Err(()) => return Err(Error::InvalidRequest("more than one client certificate")),
            Ok(value) => value.and_then(|v| mtls::from_header(v, mtls_config.client_cert_encoding)),
        },
        _ => None,
    };
    let cert = request.client_cert.or(from_header);
    let cert = mtls::usable(cert.as_ref(), mtls_config);
    mtls::check(x5t, cert).map_err(Error::InvalidToken)
}

/// Verifies one JWT access token against a configuration document exactly as the gateway's verify
/// stage does, for tools that must judge a token the way the gateway would (`edgeward inspect`):
/// the same [`TokenVerifier::verify`] the pipeline runs — issuer by exact `iss`, its allowed
/// algorithms, the key (an `x5c` chain to `anchors`, the first inline key for the `kid`, or the
/// issuer's `jwks_uri` fetched through `platform`), the signature, then the claims at
/// `platform.now()`. The document is loaded and validated as by [`Gateway::new`](crate::Gateway::new)
/// (an invalid one is [`Error::Config`]); nothing is cached between calls.
///
/// Not done here: the request's stages (extract, bind — DPoP and certificate binding —, policy)
/// and introspection: a credential that is not a compact JWS is [`TokenFault::Malformed`], as on a
/// gateway without `introspection`.
pub async fn verify_token<P: Platform>(
    config_text: &str,
    anchors: &'static [&'static [u8]],
    platform: &P,
    token: &str,
) -> Result<VerifiedToken, Error> {
    let config = Config::from_json(config_text).map_err(Error::Config)?;
    let verifier = TokenVerifier::new(
        config.issuer_settings,
        anchors,
        config.max_token_bytes,
        0,
        (crate::token_cache::SharedTokenCache::Off, [0; 32]),
    );
    verifier.verify(platform, token, platform.now()).await
}
