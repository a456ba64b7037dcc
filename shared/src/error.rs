//! One error type for every stage, and the one place where errors become HTTP responses
//! (RFC 6750 §3 for bearer tokens; 5xx for upstream and configuration faults).

use crate::http::Response;
use crate::jwa::AlgSet;
use serde_json::json;
use std::fmt;

/// A configuration problem, naming the field at fault (`issuers[0].audiences`, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Path of the offending field; empty for a document-level problem.
    pub field: String,
    /// What is wrong, in plain words.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "invalid configuration: {}", self.message)
        } else {
            write!(f, "invalid configuration: {}: {}", self.field, self.message)
        }
    }
}

impl ConfigError {
    pub(crate) fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Everything that stops a request, grouped by who is at fault. Each variant has a stable
/// [`code`](Error::code); the description sent to clients never echoes token content.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// No credential where one is required (RFC 6750 §3.1: answer without an error code).
    MissingCredential,
    /// The request is malformed, e.g. a broken `Authorization` header (RFC 6750 `invalid_request`).
    InvalidRequest(&'static str),
    /// The access token fails a check (RFC 6750 `invalid_token`).
    InvalidToken(TokenFault),
    /// The DPoP proof fails a check (RFC 9449 §7.1 `invalid_dpop_proof`). `algs` are the proof
    /// algorithms accepted, announced in the challenge (RFC 9449 §7.1).
    InvalidDpopProof {
        /// What is wrong with the proof.
        fault: DpopFault,
        /// Accepted proof algorithms.
        algs: AlgSet,
    },
    /// The proof lacks the current server nonce (RFC 9449 §9 `use_dpop_nonce`): the response
    /// carries a fresh one in `DPoP-Nonce`.
    UseDpopNonce {
        /// The nonce the client must put in its next proof.
        nonce: String,
        /// Accepted proof algorithms.
        algs: AlgSet,
    },
    /// The route requires a DPoP-bound token and got something else (RFC 9449 §7.1).
    DpopRequired {
        /// Accepted proof algorithms.
        algs: AlgSet,
    },
    /// No credential on a route that requires DPoP: like [`Error::MissingCredential`] (no error
    /// code, RFC 6750 §3.1), but the challenge is `DPoP` with the accepted `algs` (RFC 9449 §7.1).
    MissingDpopCredential {
        /// Accepted proof algorithms.
        algs: AlgSet,
    },
    /// No route admits this request.
    RouteNotFound,
    /// A key or introspection source did not answer usably (fail closed: 503).
    UpstreamUnavailable(&'static str),
    /// The origin could not be reached (502).
    OriginUnreachable,
    /// The origin did not answer in time (504).
    OriginTimeout,
    /// The gateway configuration is invalid (500).
    Config(ConfigError),
    /// A valid token that does not meet the route's scopes, claim rules, issuers or token kind
    /// (RFC 6750 §3.1 `insufficient_scope`, 403). `scope` lists the scopes the route needs.
    InsufficientScope {
        /// Space-separated scopes the route requires, if it requires any.
        scope: Option<String>,
        /// Which requirement failed, safe to show the client.
        description: &'static str,
    },
    /// Step-up authentication needed (RFC 9470 §3 `insufficient_user_authentication`, 401).
    InsufficientUserAuthentication {
        /// Which requirement failed.
        description: &'static str,
        /// Space-separated acceptable `acr` values.
        acr_values: Option<String>,
        /// The required maximum authentication age in seconds.
        max_age: Option<u64>,
    },
    /// A claim cannot be forwarded as a header: over budget or not representable (403).
    ClaimNotForwardable(&'static str),
    /// The authorization server refused to exchange the client's valid token for this route's
    /// origin (RFC 8693 §2.2.2 `invalid_grant`, `invalid_target`, `invalid_scope`): 403
    /// `insufficient_scope` (RFC 6750 §3.1), the token may not reach this origin.
    ExchangeRefused(&'static str),
    /// A token-handler cookie cannot be used (401; 502 for one too large to set). Cookie
    /// credentials have no RFC 6750 scheme: no challenge, the JSON only.
    Cookie(CookieFault),
    /// A token-handler (OAuth agent, CSRF / CORS) refusal.
    Agent(AgentFault),
    /// The authorization server answered the authorization request with an error (RFC 6749
    /// §4.1.2.1): 400 carrying its `error` code (checked to be RFC 6749 §A.7 characters).
    AuthorizationResponseError(String),
    /// The route's decision point denied the request (the authorize stage): 403
    /// `insufficient_scope` (RFC 6750 §3.1), with the policy's reason when it gave a printable one.
    AuthorizationDenied {
        /// The policy's reason, reduced to what a quoted challenge parameter may carry.
        reason: Option<String>,
    },
    /// The route's decision point gave no usable decision (fail closed: 503 with `Retry-After`).
    AuthorizationUnavailable(AuthzFault),
}

/// Why a token-handler cookie was refused. Descriptions never carry the cookie's value.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CookieFault {
    /// Not `v<version>.<base64url>`, or too short to hold a nonce and a tag.
    Malformed,
    /// Sealed with a key version that is not configured (any more).
    UnknownKey,
    /// The AES-GCM tag does not verify: altered, truncated, another key, another cookie's name.
    Tampered,
    /// Past the expiry sealed inside it.
    Expired,
    /// The same cookie name twice in the request.
    Duplicate,
    /// The `Set-Cookie` field would exceed 4096 bytes and be dropped by browsers.
    TooLarge,
}

impl CookieFault {
    /// Stable machine-readable code.
    pub fn code(self) -> &'static str {
        match self {
            CookieFault::Malformed => "ERR_COOKIE_MALFORMED",
            CookieFault::UnknownKey => "ERR_COOKIE_KEY_UNKNOWN",
            CookieFault::Tampered => "ERR_COOKIE_INVALID",
            CookieFault::Expired => "ERR_COOKIE_EXPIRED",
            CookieFault::Duplicate => "ERR_COOKIE_DUPLICATE",
            CookieFault::TooLarge => "ERR_COOKIE_TOO_LARGE",
        }
    }

    /// A short description that reveals nothing about the cookie.
    pub fn description(self) -> &'static str {
        match self {
            CookieFault::Malformed => "session cookie malformed",
            CookieFault::UnknownKey => "session cookie sealed with an unknown key",
            CookieFault::Tampered => "session cookie invalid",
            CookieFault::Expired => "session cookie expired",
            CookieFault::Duplicate => "session cookie sent more than once",
            CookieFault::TooLarge => {
                "a session cookie would exceed 4096 bytes: use opaque tokens (phantom-token pattern)"
            }
        }
    }
}

/// Why the token handler refused a request. Descriptions never carry tokens or cookies.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentFault {
    /// No session cookie where one is needed, or the AS refused the refresh token (401).
    SessionMissing,
    /// The agent request is malformed: body, `pageUrl`, reserved extra parameters (400).
    BadRequest,
    /// No login cookie, or its `state` is not the one in the page URL (400, RFC 6749 §10.12).
    InvalidState,
    /// The authorization response's `iss` is not the issuer, or missing where the AS promised it
    /// (400, RFC 9207 §2.4).
    IssuerMismatch,
    /// The token endpoint refused the grant (`invalid_grant`, RFC 6749 §5.2): a used or foreign
    /// code (400).
    GrantRejected,
    /// The token endpoint refused the gateway's client (`invalid_client`, `unauthorized_client`):
    /// 400, not 401, so an SPA does not loop into a login.
    ClientRejected,
    /// The ID token fails OIDC Core §3.1.3.7 (signature, `iss`, `aud`, `nonce`, `exp`) (400).
    IdTokenInvalid,
    /// No `Origin`, or one not in `trusted_web_origins` (403).
    OriginUntrusted,
    /// The custom CSRF header is missing or not `1` (403).
    CsrfHeaderMissing,
}

impl AgentFault {
    /// Stable machine-readable code.
    pub fn code(self) -> &'static str {
        match self {
            AgentFault::SessionMissing => "ERR_SESSION_EXPIRED",
            AgentFault::BadRequest => "ERR_AGENT_REQUEST_INVALID",
            AgentFault::InvalidState => "ERR_INVALID_STATE",
            AgentFault::IssuerMismatch => "ERR_AUTHORIZATION_ISSUER_MISMATCH",
            AgentFault::GrantRejected => "ERR_GRANT_INVALID",
            AgentFault::ClientRejected => "ERR_AGENT_CLIENT_REJECTED",
            AgentFault::IdTokenInvalid => "ERR_ID_TOKEN_INVALID",
            AgentFault::OriginUntrusted => "ERR_ORIGIN_UNTRUSTED",
            AgentFault::CsrfHeaderMissing => "ERR_CSRF_HEADER_MISSING",
        }
    }

    /// Status, `error` and description of the answer.
    fn answer(self) -> (u16, &'static str, &'static str) {
        match self {
            AgentFault::SessionMissing => (401, "unauthorized", "no valid session"),
            AgentFault::BadRequest => (400, "invalid_request", "malformed token-handler request"),
            AgentFault::InvalidState => {
                (400, "invalid_request", "state missing, replayed or foreign")
            }
            AgentFault::IssuerMismatch => (
                400,
                "invalid_request",
                "authorization response from another issuer",
            ),
            AgentFault::GrantRejected => (400, "invalid_grant", "authorization code refused"),
            AgentFault::ClientRejected => (
                400,
                "invalid_client",
                "the authorization server refused the gateway's client",
            ),
            AgentFault::IdTokenInvalid => (400, "invalid_request", "ID token invalid"),
            AgentFault::OriginUntrusted => (403, "access_denied", "origin not trusted"),
            AgentFault::CsrfHeaderMissing => (403, "access_denied", "CSRF header missing"),
        }
    }
}

/// Why a decision point gave no usable decision (the authorize stage). Never a pass.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthzFault {
    /// Connection refused, reset, DNS or TLS failure.
    Unreachable,
    /// No complete answer within the decision point's `timeout_ms`.
    Timeout,
    /// An HTTP status other than 200.
    Status,
    /// Not the JSON the API defines (content type, syntax, duplicate members, result shape,
    /// a header the gateway may not add).
    Invalid,
    /// An answer longer than `max_answer_bytes`.
    TooLarge,
    /// Another request of this isolate asked the same question and got no usable answer.
    Unavailable,
    /// An embedded policy ran past its evaluation budget (`timeout_ms`).
    Limit,
}

impl AuthzFault {
    /// Stable machine-readable code.
    pub fn code(self) -> &'static str {
        match self {
            AuthzFault::Unreachable => "ERR_AUTHZ_UNREACHABLE",
            AuthzFault::Timeout => "ERR_AUTHZ_TIMEOUT",
            AuthzFault::Status => "ERR_AUTHZ_STATUS",
            AuthzFault::Invalid => "ERR_AUTHZ_ANSWER_INVALID",
            AuthzFault::TooLarge => "ERR_AUTHZ_ANSWER_TOO_LARGE",
            AuthzFault::Unavailable => "ERR_AUTHZ_UNAVAILABLE",
            AuthzFault::Limit => "ERR_AUTHZ_EVALUATION_LIMIT",
        }
    }

    /// Human-readable description, safe to show a client.
    pub fn description(self) -> &'static str {
        match self {
            AuthzFault::Unreachable => "decision point unreachable",
            AuthzFault::Timeout => "decision point timed out",
            AuthzFault::Status => "decision point answered an error status",
            AuthzFault::Invalid => "decision point answer not understood",
            AuthzFault::TooLarge => "decision point answer too large",
            AuthzFault::Unavailable => "decision point unavailable",
            AuthzFault::Limit => "policy evaluation over its budget",
        }
    }
}

/// Why a token was rejected. The description is safe to show a client.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenFault {
    /// Larger than the configured limit.
    TooLarge,
    /// Not a well-formed compact JWS (segments, base64url, JSON objects, duplicate members).
    Malformed,
    /// A JOSE serialization other than the compact JWS, e.g. an encrypted JWT (JWE, RFC 7516):
    /// refused locally, never sent to introspection.
    UnsupportedJose,
    /// The header names an algorithm not allowed for this issuer.
    AlgorithmNotAllowed,
    /// The header carries a `crit` member naming an extension we do not understand.
    UnsupportedCritical,
    /// No key could be found for the token.
    UnknownKey,
    /// The signature does not verify.
    BadSignature,
    /// The x5c chain does not validate to a compiled-in trust anchor.
    UntrustedChain,
    /// The `iss` claim names no configured issuer.
    UnknownIssuer,
    /// The `aud` claim does not contain a configured audience.
    WrongAudience,
    /// The `exp` claim is in the past (or missing).
    Expired,
    /// The `nbf` or `iat` claim is in the future.
    NotYetValid,
    /// The token is older than the configured maximum age.
    TooOld,
    /// The `typ` header is not the required one.
    WrongType,
    /// A required claim is missing or has the wrong type.
    MissingClaim,
    /// The authorization server says the (opaque) token is not active (RFC 7662 §2.2).
    Inactive,
    /// A DPoP-bound token (`cnf.jkt`) presented as a Bearer token, or on a route with DPoP
    /// disabled (RFC 9449 §7.2: no downgrade).
    DpopBoundAsBearer,
    /// The `DPoP` scheme with a token that is not DPoP-bound (no `cnf.jkt`, RFC 9449 §6).
    NotDpopBound,
    /// A certificate-bound token (`cnf["x5t#S256"]`) without a client certificate (RFC 8705 §3).
    CertificateMissing,
    /// The client certificate is not the one the token is bound to (RFC 8705 §3).
    CertificateMismatch,
}

/// Why a DPoP proof was rejected (RFC 9449 §4.3). The description is safe to show a client.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DpopFault {
    /// `Authorization: DPoP` without a `DPoP` header field.
    Missing,
    /// More than one `DPoP` header field (§4.3 check 1).
    Multiple,
    /// Larger than the configured limit.
    TooLarge,
    /// Not a well-formed compact JWS, or a claim of the wrong type (§4.3 check 2).
    Malformed,
    /// `typ` is not `dpop+jwt` (§4.3 check 4).
    WrongType,
    /// `alg` is not an allowed asymmetric algorithm (§4.3 check 5), or does not fit the `jwk`.
    AlgorithmNotAllowed,
    /// The `jwk` header is missing or not a usable public key.
    BadKey,
    /// The `jwk` header contains private key members (§4.3 check 7).
    PrivateKey,
    /// The signature does not verify with the `jwk` (§4.3 check 6).
    BadSignature,
    /// `jti`, `htm`, `htu`, `iat` or (with an access token) `ath` is missing (§4.3 check 3).
    MissingClaim,
    /// `htm` is not the request method (§4.3 check 8).
    MethodMismatch,
    /// `htu` is not the request URL (§4.3 check 9).
    UrlMismatch,
    /// `iat` is outside the accepted window (§4.3 check 11).
    OutsideWindow,
    /// `ath` is not the hash of the access token (§4.3 check 12).
    AthMismatch,
    /// The proof's key is not the one the token is bound to (`cnf.jkt`, §4.3 check 12).
    KeyMismatch,
    /// The `jti` was seen before (§11.1).
    Replayed,
}

impl DpopFault {
    /// Stable machine-readable code.
    pub fn code(self) -> &'static str {
        match self {
            DpopFault::Missing => "ERR_DPOP_PROOF_MISSING",
            DpopFault::Multiple => "ERR_DPOP_PROOF_MULTIPLE",
            DpopFault::TooLarge => "ERR_DPOP_PROOF_TOO_LARGE",
            DpopFault::Malformed => "ERR_DPOP_PROOF_MALFORMED",
            DpopFault::WrongType => "ERR_DPOP_TYPE_MISMATCH",
            DpopFault::AlgorithmNotAllowed => "ERR_DPOP_ALG_NOT_ALLOWED",
            DpopFault::BadKey => "ERR_DPOP_JWK_INVALID",
            DpopFault::PrivateKey => "ERR_DPOP_JWK_PRIVATE",
            DpopFault::BadSignature => "ERR_DPOP_SIGNATURE_INVALID",
            DpopFault::MissingClaim => "ERR_DPOP_CLAIM_MISSING",
            DpopFault::MethodMismatch => "ERR_DPOP_HTM_MISMATCH",
            DpopFault::UrlMismatch => "ERR_DPOP_HTU_MISMATCH",
            DpopFault::OutsideWindow => "ERR_DPOP_IAT_OUTSIDE_WINDOW",
            DpopFault::AthMismatch => "ERR_DPOP_ATH_MISMATCH",
            DpopFault::KeyMismatch => "ERR_DPOP_JKT_MISMATCH",
            DpopFault::Replayed => "ERR_DPOP_REPLAYED",
        }
    }

    /// A short description that reveals nothing about keys or proof content.
    pub fn description(self) -> &'static str {
        match self {
            DpopFault::Missing => "DPoP proof missing",
            DpopFault::Multiple => "more than one DPoP proof",
            DpopFault::TooLarge => "DPoP proof too large",
            DpopFault::Malformed => "DPoP proof is not a well-formed JWT",
            DpopFault::WrongType => "DPoP proof typ must be dpop+jwt",
            DpopFault::AlgorithmNotAllowed => "DPoP proof algorithm not allowed",
            DpopFault::BadKey => "DPoP proof jwk missing or invalid",
            DpopFault::PrivateKey => "DPoP proof jwk contains a private key",
            DpopFault::BadSignature => "DPoP proof signature invalid",
            DpopFault::MissingClaim => "DPoP proof claim missing",
            DpopFault::MethodMismatch => "DPoP proof htm does not match the request",
            DpopFault::UrlMismatch => "DPoP proof htu does not match the request",
            DpopFault::OutsideWindow => "DPoP proof iat outside the accepted window",
            DpopFault::AthMismatch => "DPoP proof ath does not match the access token",
            DpopFault::KeyMismatch => "DPoP proof key does not match the token binding",
            DpopFault::Replayed => "DPoP proof replayed",
        }
    }
}

impl TokenFault {
    /// Stable machine-readable code.
    pub fn code(self) -> &'static str {
        match self {
            TokenFault::TooLarge => "ERR_TOKEN_TOO_LARGE",
            TokenFault::Malformed => "ERR_JWS_MALFORMED",
            TokenFault::UnsupportedJose => "ERR_JOSE_NOT_SUPPORTED",
            TokenFault::AlgorithmNotAllowed => "ERR_JOSE_ALG_NOT_ALLOWED",
            TokenFault::UnsupportedCritical => "ERR_JOSE_CRIT_UNSUPPORTED",
            TokenFault::UnknownKey => "ERR_JWKS_NO_MATCHING_KEY",
            TokenFault::BadSignature => "ERR_JWS_SIGNATURE_INVALID",
            TokenFault::UntrustedChain => "ERR_X5C_UNTRUSTED",
            TokenFault::UnknownIssuer => "ERR_JWT_ISSUER_UNKNOWN",
            TokenFault::WrongAudience => "ERR_JWT_AUDIENCE_MISMATCH",
            TokenFault::Expired => "ERR_JWT_EXPIRED",
            TokenFault::NotYetValid => "ERR_JWT_NOT_YET_VALID",
            TokenFault::TooOld => "ERR_JWT_TOO_OLD",
            TokenFault::WrongType => "ERR_JWT_TYPE_MISMATCH",
            TokenFault::MissingClaim => "ERR_JWT_CLAIM_MISSING",
            TokenFault::Inactive => "ERR_TOKEN_INACTIVE",
            TokenFault::DpopBoundAsBearer => "ERR_DPOP_BOUND_TOKEN_AS_BEARER",
            TokenFault::NotDpopBound => "ERR_DPOP_TOKEN_NOT_BOUND",
            TokenFault::CertificateMissing => "ERR_MTLS_CERT_MISSING",
            TokenFault::CertificateMismatch => "ERR_MTLS_CERT_MISMATCH",
        }
    }

    /// A short description that reveals nothing about keys or token content.
    pub fn description(self) -> &'static str {
        match self {
            TokenFault::TooLarge => "token too large",
            TokenFault::Malformed => "token is not a well-formed JWS",
            TokenFault::UnsupportedJose => "only compact JWS tokens are accepted (no JWE)",
            TokenFault::AlgorithmNotAllowed => "signing algorithm not allowed",
            TokenFault::UnsupportedCritical => "unsupported critical header",
            TokenFault::UnknownKey => "no matching key",
            TokenFault::BadSignature => "signature invalid",
            TokenFault::UntrustedChain => "certificate chain not trusted",
            TokenFault::UnknownIssuer => "issuer not accepted",
            TokenFault::WrongAudience => "audience not accepted",
            TokenFault::Expired => "token expired",
            TokenFault::NotYetValid => "token not yet valid",
            TokenFault::TooOld => "token too old",
            TokenFault::WrongType => "token type not accepted",
            TokenFault::MissingClaim => "required claim missing",
            TokenFault::Inactive => "token is not active",
            TokenFault::DpopBoundAsBearer => "DPoP-bound token must be presented with DPoP",
            TokenFault::NotDpopBound => "token is not DPoP-bound",
            TokenFault::CertificateMissing => "certificate-bound token without client certificate",
            TokenFault::CertificateMismatch => "client certificate does not match the token",
        }
    }
}

impl Error {
    /// Stable machine-readable code, e.g. `ERR_JWT_EXPIRED`.
    pub fn code(&self) -> &'static str {
        match self {
            Error::MissingCredential | Error::MissingDpopCredential { .. } => {
                "ERR_CREDENTIAL_MISSING"
            }
            Error::InvalidRequest(_) => "ERR_REQUEST_INVALID",
            Error::InvalidToken(fault) => fault.code(),
            Error::InvalidDpopProof { fault, .. } => fault.code(),
            Error::UseDpopNonce { .. } => "ERR_DPOP_NONCE_REQUIRED",
            Error::DpopRequired { .. } => "ERR_DPOP_REQUIRED",
            Error::RouteNotFound => "ERR_ROUTE_NOT_FOUND",
            Error::UpstreamUnavailable(_) => "ERR_UPSTREAM_UNAVAILABLE",
            Error::OriginUnreachable => "ERR_ORIGIN_UNREACHABLE",
            Error::OriginTimeout => "ERR_ORIGIN_TIMEOUT",
            Error::Config(_) => "ERR_CONFIG_INVALID",
            Error::InsufficientScope { .. } => "ERR_POLICY_INSUFFICIENT_SCOPE",
            Error::InsufficientUserAuthentication { .. } => "ERR_POLICY_STEP_UP_REQUIRED",
            Error::ClaimNotForwardable(_) => "ERR_FORWARD_CLAIM_HEADER",
            Error::ExchangeRefused(_) => "ERR_EXCHANGE_REFUSED",
            Error::Cookie(fault) => fault.code(),
            Error::Agent(fault) => fault.code(),
            Error::AuthorizationResponseError(_) => "ERR_AUTHORIZATION_DENIED",
            Error::AuthorizationDenied { .. } => "ERR_AUTHZ_DENIED",
            Error::AuthorizationUnavailable(fault) => fault.code(),
        }
    }

    /// Renders the error as the HTTP response the client receives, with `Bearer` challenges.
    pub fn to_response(&self) -> Response {
        self.to_response_as(Scheme::Bearer)
    }

    /// Renders the error as the HTTP response for a client that used `scheme`: token, request
    /// and policy refusals challenge with that scheme (RFC 6750 §3; RFC 9449 §7.1 for `DPoP`,
    /// whose challenges also carry `algs`). Proof and nonce errors are always `DPoP`.
    pub fn to_response_as(&self, scheme: Scheme) -> Response {
        let bearer = |status, error, description: &str, code: &str| {
            challenge(scheme, status, error, description, code)
        };
        match self {
            Error::MissingCredential => bearer(401, None, "access token required", self.code()),
            Error::MissingDpopCredential { algs } => challenge(
                Scheme::Dpop(*algs),
                401,
                None,
                "DPoP-bound access token required",
                self.code(),
            ),
            Error::InvalidRequest(why) => bearer(400, Some("invalid_request"), why, self.code()),
            Error::InvalidToken(fault) => {
                bearer(401, Some("invalid_token"), fault.description(), self.code())
            }
            Error::InvalidDpopProof { fault, algs } => dpop(
                "invalid_dpop_proof",
                fault.description(),
                *algs,
                self.code(),
            ),
            Error::UseDpopNonce { nonce, algs } => {
                let mut response = dpop(
                    "use_dpop_nonce",
                    "DPoP proof must carry the server nonce",
                    *algs,
                    self.code(),
                );
                response.headers.append("dpop-nonce", nonce);
                response
            }
            Error::DpopRequired { algs } => dpop(
                "invalid_token",
                "DPoP-bound token required",
                *algs,
                self.code(),
            ),
            Error::RouteNotFound => plain(404, "not_found", "no route", self.code()),
            Error::UpstreamUnavailable(what) => {
                let mut response = plain(503, "temporarily_unavailable", what, self.code());
                response.headers.append("retry-after", "5");
                response
            }
            Error::OriginUnreachable => {
                plain(502, "bad_gateway", "origin unreachable", self.code())
            }
            Error::OriginTimeout => plain(504, "gateway_timeout", "origin timed out", self.code()),
            Error::Config(e) => {
                let body = json!({
                    "error": "server_error",
                    "error_description": "gateway configuration invalid",
                    "code": self.code(),
                    "field": e.field,
                    "problem": e.message,
                });
                Response::json(500, &body)
            }
            Error::InsufficientScope { scope, description } => {
                let mut response =
                    bearer(403, Some("insufficient_scope"), description, self.code());
                if let Some(scope) = scope {
                    extend_challenge(&mut response, &format!(r#", scope="{scope}""#));
                }
                response
            }
            Error::InsufficientUserAuthentication {
                description,
                acr_values,
                max_age,
            } => {
                let error = "insufficient_user_authentication";
                let mut response = bearer(401, Some(error), description, self.code());
                if let Some(acr_values) = acr_values {
                    extend_challenge(&mut response, &format!(r#", acr_values="{acr_values}""#));
                }
                if let Some(max_age) = max_age {
                    extend_challenge(&mut response, &format!(r#", max_age="{max_age}""#));
                }
                response
            }
            Error::ClaimNotForwardable(why) => plain(403, "access_denied", why, self.code()),
            Error::ExchangeRefused(why) => {
                bearer(403, Some("insufficient_scope"), why, self.code())
            }
            Error::Cookie(CookieFault::TooLarge) => plain(
                502,
                "server_error",
                CookieFault::TooLarge.description(),
                self.code(),
            ),
            Error::Cookie(fault) => plain(401, "unauthorized", fault.description(), self.code()),
            Error::Agent(fault) => {
                let (status, error, description) = fault.answer();
                plain(status, error, description, self.code())
            }
            Error::AuthorizationResponseError(error) => plain(
                400,
                error,
                "the authorization server refused the authorization request",
                self.code(),
            ),
            Error::AuthorizationDenied { reason } => {
                let why = reason.as_deref().unwrap_or("denied by policy");
                bearer(403, Some("insufficient_scope"), why, self.code())
            }
            Error::AuthorizationUnavailable(fault) => {
                let mut response = plain(
                    503,
                    "temporarily_unavailable",
                    fault.description(),
                    self.code(),
                );
                response.headers.append("retry-after", "5");
                response
            }
        }
    }
}

/// Appends auth-params to the `WWW-Authenticate` challenge of a response built by [`challenge`].
/// Values come from validated configuration (RFC 6749 §3.3 scope tokens, integers): never quoted
/// strings that would need escaping, never client input.
fn extend_challenge(response: &mut Response, params: &str) {
    let challenge = response
        .headers
        .get_all("www-authenticate")
        .next()
        .unwrap_or_default()
        .to_owned();
    response
        .headers
        .set("www-authenticate", &format!("{challenge}{params}"));
}

fn plain(status: u16, error: &str, description: &str, code: &str) -> Response {
    let body = json!({ "error": error, "error_description": description, "code": code });
    Response::json(status, &body)
}

/// The authentication scheme of a refusal's challenge: the one the client used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `Bearer` (RFC 6750 §3), also when the client sent no credential.
    Bearer,
    /// `DPoP` (RFC 9449 §7.1), announcing the accepted proof algorithms.
    Dpop(AlgSet),
}

/// RFC 6750 §3 / RFC 9449 §7.1: a `WWW-Authenticate` challenge in `scheme`, plus the same facts
/// as JSON.
fn challenge(
    scheme: Scheme,
    status: u16,
    error: Option<&str>,
    description: &str,
    code: &str,
) -> Response {
    let mut challenge = match scheme {
        Scheme::Bearer => r#"Bearer realm="edgeward""#.to_owned(),
        Scheme::Dpop(_) => r#"DPoP realm="edgeward""#.to_owned(),
    };
    if let Some(error) = error {
        challenge.push_str(&format!(
            r#", error="{error}", error_description="{description}""#
        ));
    }
    if let Scheme::Dpop(algs) = scheme {
        challenge.push_str(&format!(r#", algs="{algs}""#));
    }
    let body = json!({
        "error": error.unwrap_or("unauthorized"),
        "error_description": description,
        "code": code,
    });
    let mut response = Response::json(status, &body);
    response.headers.append("www-authenticate", &challenge);
    response
}

/// RFC 9449 §7.1: a `WWW-Authenticate: DPoP` challenge with the accepted `algs`, plus the JSON.
fn dpop(error: &str, description: &str, algs: AlgSet, code: &str) -> Response {
    challenge(Scheme::Dpop(algs), 401, Some(error), description, code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_token_renders_rfc6750_challenge() {
        let response = Error::InvalidToken(TokenFault::Expired).to_response();
        assert_eq!(response.status, 401);
        let challenge = response
            .headers
            .get_single("www-authenticate")
            .unwrap()
            .unwrap();
        assert_eq!(
            challenge,
            r#"Bearer realm="edgeward", error="invalid_token", error_description="token expired""#
        );
    }

    #[test]
    fn dpop_errors_render_rfc9449_challenges() {
        let algs = crate::dpop::default_algs();
        let response = Error::InvalidDpopProof {
            fault: DpopFault::AthMismatch,
            algs,
        }
        .to_response();
        assert_eq!(response.status, 401);
        assert_eq!(
            response.headers.get_single("www-authenticate"),
            Ok(Some(
                r#"DPoP realm="edgeward", error="invalid_dpop_proof", error_description="DPoP proof ath does not match the access token", algs="ES256 ES384 RS256 PS256 EdDSA""#
            ))
        );
        let response = Error::UseDpopNonce {
            nonce: "n0nce".into(),
            algs,
        }
        .to_response();
        assert_eq!(response.status, 401);
        assert_eq!(response.headers.get_single("dpop-nonce"), Ok(Some("n0nce")));
        let challenge = response.headers.get_single("www-authenticate");
        assert!(challenge
            .unwrap()
            .unwrap()
            .contains(r#"error="use_dpop_nonce""#));
    }

    #[test]
    fn missing_credential_has_no_error_code() {
        let response = Error::MissingCredential.to_response();
        assert_eq!(response.status, 401);
        let challenge = response
            .headers
            .get_single("www-authenticate")
            .unwrap()
            .unwrap();
        assert_eq!(challenge, r#"Bearer realm="edgeward""#);
    }

    /// One value of every variant of [`Error`], with every [`TokenFault`] and [`DpopFault`]. Checked
    /// against the enums' declarations in this file by `every_variant_is_listed`, and classified by
    /// [`answer`] (a `match` without a wildcard), so a new variant can escape neither the list nor
    /// the classification.
    fn every_error() -> Vec<Error> {
        use DpopFault as D;
        use TokenFault as T;
        let algs = crate::dpop::default_algs();
        let tokens = [
            T::TooLarge,
            T::Malformed,
            T::UnsupportedJose,
            T::AlgorithmNotAllowed,
            T::UnsupportedCritical,
            T::UnknownKey,
            T::BadSignature,
            T::UntrustedChain,
            T::UnknownIssuer,
            T::WrongAudience,
            T::Expired,
            T::NotYetValid,
            T::TooOld,
            T::WrongType,
            T::MissingClaim,
            T::Inactive,
            T::DpopBoundAsBearer,
            T::NotDpopBound,
            T::CertificateMissing,
            T::CertificateMismatch,
        ];
        let proofs = [
            D::Missing,
            D::Multiple,
            D::TooLarge,
            D::Malformed,
            D::WrongType,
            D::AlgorithmNotAllowed,
            D::BadKey,
            D::PrivateKey,
            D::BadSignature,
            D::MissingClaim,
            D::MethodMismatch,
            D::UrlMismatch,
            D::OutsideWindow,
            D::AthMismatch,
            D::KeyMismatch,
            D::Replayed,
        ];
        let authz = [
            AuthzFault::Unreachable,
            AuthzFault::Timeout,
            AuthzFault::Status,
            AuthzFault::Invalid,
            AuthzFault::TooLarge,
            AuthzFault::Unavailable,
            AuthzFault::Limit,
        ];
        let mut all = vec![
            Error::MissingCredential,
            Error::MissingDpopCredential { algs },
            Error::InvalidRequest("malformed Authorization header"),
            Error::UseDpopNonce {
                nonce: "n".into(),
                algs,
            },
            Error::DpopRequired { algs },
            Error::RouteNotFound,
            Error::UpstreamUnavailable("key source unavailable"),
            Error::OriginUnreachable,
            Error::OriginTimeout,
            Error::Config(ConfigError {
                field: "origin".into(),
                message: "missing".into(),
            }),
            Error::InsufficientScope {
                scope: Some("a b".into()),
                description: "scope",
            },
            Error::InsufficientScope {
                scope: None,
                description: "claim",
            },
            Error::InsufficientUserAuthentication {
                description: "acr",
                acr_values: Some("urn:mace:incommon:iap:silver".into()),
                max_age: Some(300),
            },
            Error::InsufficientUserAuthentication {
                description: "auth_time",
                acr_values: None,
                max_age: None,
            },
            Error::ClaimNotForwardable("claim header over budget"),
            Error::ExchangeRefused("refused"),
            Error::AuthorizationDenied { reason: None },
            Error::AuthorizationDenied {
                reason: Some("only the owner may read this".into()),
            },
        ];
        all.extend(
            [
                CookieFault::Malformed,
                CookieFault::UnknownKey,
                CookieFault::Tampered,
                CookieFault::Expired,
                CookieFault::Duplicate,
                CookieFault::TooLarge,
            ]
            .map(Error::Cookie),
        );
        all.extend(
            [
                AgentFault::SessionMissing,
                AgentFault::BadRequest,
                AgentFault::InvalidState,
                AgentFault::IssuerMismatch,
                AgentFault::GrantRejected,
                AgentFault::ClientRejected,
                AgentFault::IdTokenInvalid,
                AgentFault::OriginUntrusted,
                AgentFault::CsrfHeaderMissing,
            ]
            .map(Error::Agent),
        );
        all.push(Error::AuthorizationResponseError("access_denied".into()));
        all.extend(authz.map(Error::AuthorizationUnavailable));
        all.extend(tokens.map(Error::InvalidToken));
        all.extend(proofs.map(|fault| Error::InvalidDpopProof { fault, algs }));
        all
    }

    /// How the client must be answered.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Answer {
        /// A refusal of the credential: `WWW-Authenticate` with this scheme and this `error`
        /// (none when no credential was sent, RFC 6750 §3.1).
        Challenge {
            status: u16,
            scheme: &'static str,
            error: Option<&'static str>,
        },
        /// Not about the credential: no challenge.
        Plain { status: u16 },
    }

    /// The answer each variant must get (RFC 6750 §3, RFC 9449 §7.1, RFC 9470 §3). No wildcard:
    /// a new variant does not compile until it is classified here.
    fn answer(error: &Error) -> Answer {
        use Answer::{Challenge, Plain};
        let challenge = |status, scheme, error| Challenge {
            status,
            scheme,
            error,
        };
        match error {
            Error::MissingCredential => challenge(401, "Bearer", None),
            Error::MissingDpopCredential { .. } => challenge(401, "DPoP", None),
            Error::InvalidRequest(_) => challenge(400, "Bearer", Some("invalid_request")),
            Error::InvalidToken(_) => challenge(401, "Bearer", Some("invalid_token")),
            Error::InvalidDpopProof { .. } => challenge(401, "DPoP", Some("invalid_dpop_proof")),
            Error::UseDpopNonce { .. } => challenge(401, "DPoP", Some("use_dpop_nonce")),
            Error::DpopRequired { .. } => challenge(401, "DPoP", Some("invalid_token")),
            Error::InsufficientScope { .. } => challenge(403, "Bearer", Some("insufficient_scope")),
            // RFC 8693 §2.2.2 refusal: this valid token may not reach this origin.
            Error::ExchangeRefused(_) => challenge(403, "Bearer", Some("insufficient_scope")),
            Error::InsufficientUserAuthentication { .. } => {
                challenge(401, "Bearer", Some("insufficient_user_authentication"))
            }
            // A valid token whose claims cannot become header fields: re-authenticating or more
            // scope would not help, so no RFC 6750 error code fits.
            Error::ClaimNotForwardable(_) => Plain { status: 403 },
            Error::RouteNotFound => Plain { status: 404 },
            Error::UpstreamUnavailable(_) => Plain { status: 503 },
            Error::OriginUnreachable => Plain { status: 502 },
            Error::OriginTimeout => Plain { status: 504 },
            Error::Config(_) => Plain { status: 500 },
            // Cookie credentials have no RFC 6750 scheme to challenge with.
            Error::Cookie(CookieFault::TooLarge) => Plain { status: 502 },
            Error::Cookie(_) => Plain { status: 401 },
            Error::Agent(fault) => Plain {
                status: fault.answer().0,
            },
            Error::AuthorizationResponseError(_) => Plain { status: 400 },
            Error::AuthorizationDenied { .. } => {
                challenge(403, "Bearer", Some("insufficient_scope"))
            }
            Error::AuthorizationUnavailable(_) => Plain { status: 503 },
        }
    }

    /// Every fault a client can cause that refuses its credential, with the answer RFC 6750 §3.1 /
    /// RFC 9449 §7.1 / RFC 9470 §3 give it.
    fn client_errors() -> Vec<(Error, Answer)> {
        every_error()
            .into_iter()
            .map(|error| {
                let answer = answer(&error);
                (error, answer)
            })
            .filter(|(_, answer)| matches!(answer, Answer::Challenge { .. }))
            .collect()
    }

    /// The variant names declared by `pub enum NAME { ... }` in this file.
    fn declared_variants(name: &str) -> Vec<String> {
        let source = include_str!("error.rs");
        let start = format!("pub enum {name} {{\n");
        let body = source
            .split_once(&start)
            .and_then(|(_, rest)| rest.split_once("\n}\n"))
            .map(|(body, _)| body)
            .unwrap_or_else(|| panic!("no `pub enum {name}` in error.rs"));
        body.lines()
            .filter_map(|line| line.strip_prefix("    "))
            .filter(|line| line.starts_with(|c: char| c.is_ascii_uppercase()))
            .map(|line| {
                let end = line.find([',', '(', ' ', '{']).unwrap_or(line.len());
                line[..end].to_owned()
            })
            .collect()
    }

    /// A value's variant name, as `Debug` starts it.
    fn variant_name(value: &impl std::fmt::Debug) -> String {
        let text = format!("{value:?}");
        let end = text.find(['(', ' ', '{']).unwrap_or(text.len());
        text[..end].to_owned()
    }

    #[test]
    fn every_variant_is_listed() {
        use std::collections::BTreeSet;
        let all = every_error();
        let listed = |names: Vec<String>| names.into_iter().collect::<BTreeSet<_>>();
        let errors = listed(all.iter().map(variant_name).collect());
        let tokens = listed(
            all.iter()
                .filter_map(|e| match e {
                    Error::InvalidToken(fault) => Some(variant_name(fault)),
                    _ => None,
                })
                .collect(),
        );
        let proofs = listed(
            all.iter()
                .filter_map(|e| match e {
                    Error::InvalidDpopProof { fault, .. } => Some(variant_name(fault)),
                    _ => None,
                })
                .collect(),
        );
        let authz = listed(
            all.iter()
                .filter_map(|e| match e {
                    Error::AuthorizationUnavailable(fault) => Some(variant_name(fault)),
                    _ => None,
                })
                .collect(),
        );
        for (name, listed) in [
            ("Error", errors),
            ("TokenFault", tokens),
            ("DpopFault", proofs),
            ("AuthzFault", authz),
        ] {
            let declared = declared_variants(name);
            assert!(declared.len() > 5, "{name}: the declaration did not parse");
            assert_eq!(
                listed,
                declared.into_iter().collect::<BTreeSet<_>>(),
                "every_error() must list every {name} variant, and only those"
            );
        }
    }

    #[test]
    fn every_challenge_follows_rfc6750_section_3() {
        let all = client_errors();
        assert!(all.len() > 40, "every client fault is checked");
        for (error, expected) in all {
            let Answer::Challenge {
                status,
                scheme: expected_scheme,
                error: expected_code,
            } = expected
            else {
                unreachable!()
            };
            let response = error.to_response();
            assert_eq!(response.status, status, "{error:?}");
            // §3: a challenge on every refusal, exactly one, with the Bearer or DPoP scheme.
            let challenge = response.headers.get_single("www-authenticate");
            let challenge = challenge.unwrap().unwrap();
            let (scheme, params) = challenge.split_once(' ').unwrap();
            assert_eq!(scheme, expected_scheme, "{error:?}: {challenge}");
            let mut names = Vec::new();
            let mut error_param = None;
            for param in params.split(", ") {
                let (name, value) = param.split_once('=').unwrap();
                // §3: each attribute at most once; quoted values of %x20-21 / %x23-5B / %x5D-7E.
                assert!(!names.contains(&name), "{name} twice in {challenge}");
                names.push(name);
                let inner = value.strip_prefix('"').and_then(|v| v.strip_suffix('"'));
                let inner = inner.unwrap_or_else(|| panic!("unquoted {param}"));
                assert!(
                    inner
                        .bytes()
                        .all(|b| matches!(b, 0x20..=0x21 | 0x23..=0x5b | 0x5d..=0x7e)),
                    "{param}"
                );
                if name == "error" {
                    error_param = Some(inner);
                }
            }
            assert_eq!(names.first(), Some(&"realm"), "{challenge}");
            // §3.1: the error code by status; none when no credential was sent.
            assert_eq!(error_param, expected_code, "{error:?}: {challenge}");
            // The JSON body carries the same facts.
            let body: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
            assert_eq!(body["code"], error.code());
        }
    }

    /// RFC 9449 §7.1: a client that used the `DPoP` scheme gets `DPoP` challenges, with `algs`,
    /// for every refusal with a challenge, with the same status and error code as with `Bearer`.
    #[test]
    fn a_dpop_client_gets_dpop_challenges() {
        let algs = crate::dpop::default_algs();
        for (error, answer) in client_errors() {
            let Answer::Challenge { status, .. } = answer else {
                continue;
            };
            let bearer = error.to_response();
            let response = error.to_response_as(Scheme::Dpop(algs));
            assert_eq!(response.status, status, "{error:?}");
            let challenge = response.headers.get_single("www-authenticate");
            let challenge = challenge.unwrap().unwrap();
            assert!(
                challenge.starts_with(r#"DPoP realm="edgeward""#),
                "{challenge}"
            );
            assert!(
                challenge.contains(&format!(r#"algs="{algs}""#)),
                "{challenge}"
            );
            assert_eq!(challenge.matches("algs=").count(), 1, "{challenge}");
            let bearer_challenge = bearer.headers.get_single("www-authenticate");
            let error_param = |c: &str| {
                c.split(", ")
                    .find(|p| p.starts_with("error="))
                    .map(str::to_owned)
            };
            assert_eq!(
                error_param(challenge),
                error_param(bearer_challenge.unwrap().unwrap()),
                "{error:?}"
            );
            assert_eq!(response.body, bearer.body, "{error:?}");
        }
    }

    #[test]
    fn errors_that_are_not_about_the_credential_carry_no_challenge() {
        for error in every_error() {
            let Answer::Plain { status } = answer(&error) else {
                continue;
            };
            let response = error.to_response();
            assert_eq!(response.status, status, "{error:?}");
            assert_eq!(
                response.headers.get_single("www-authenticate"),
                Ok(None),
                "{error:?}"
            );
            let body: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
            assert_eq!(body["code"], error.code());
        }
    }

    /// `docs/configuration.md`, "Error codes": the table names every code `Error::code` gives, with
    /// the status `to_response` answers, and no other code.
    #[test]
    fn the_error_code_table_in_the_docs_matches_every_code() {
        use std::collections::BTreeMap;
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/configuration.md");
        let doc = std::fs::read_to_string(path).unwrap();
        let table = doc
            .split_once("\n## Error codes\n")
            .map(|(_, rest)| rest.split("\n## ").next().unwrap_or(rest))
            .expect("docs/configuration.md has an \"## Error codes\" section");
        let mut documented = BTreeMap::new();
        for row in table.lines().filter(|line| line.starts_with("| `")) {
            let cells: Vec<&str> = row.split(" | ").collect();
            let (codes, status) = (cells[0].trim_start_matches("| "), cells[1]);
            let status: u16 = status.parse().unwrap_or_else(|_| panic!("status in {row}"));
            for code in codes.split(" / ") {
                let code = code
                    .strip_prefix('`')
                    .and_then(|c| c.strip_suffix('`'))
                    .filter(|c| c.starts_with("ERR_"))
                    .unwrap_or_else(|| panic!("not a full `ERR_…` code: {code:?} in {row}"));
                assert!(
                    documented.insert(code.to_owned(), status).is_none(),
                    "{code} documented twice"
                );
            }
        }
        let mut actual = BTreeMap::new();
        for error in every_error() {
            let status = error.to_response().status;
            if let Some(other) = actual.insert(error.code().to_owned(), status) {
                assert_eq!(other, status, "{} answers two statuses", error.code());
            }
        }
        let missing: Vec<_> = actual
            .keys()
            .filter(|c| !documented.contains_key(*c))
            .collect();
        let unknown: Vec<_> = documented
            .keys()
            .filter(|c| !actual.contains_key(*c))
            .collect();
        assert!(
            missing.is_empty(),
            "codes missing from docs/configuration.md: {missing:?}"
        );
        assert!(
            unknown.is_empty(),
            "docs/configuration.md lists codes no error has: {unknown:?}"
        );
        assert_eq!(documented, actual, "documented statuses");
    }

    #[test]
    fn upstream_unavailable_is_503_with_retry_after() {
        let response = Error::UpstreamUnavailable("key source unavailable").to_response();
        assert_eq!(response.status, 503);
        assert_eq!(response.headers.get_single("retry-after"), Ok(Some("5")));
    }
}
