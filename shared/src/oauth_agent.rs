//! The token handler's OAuth agent: a confidential OpenID Connect client at the edge that runs the
//! authorization code flow for a single-page app and keeps every token in encrypted `HttpOnly`
//! cookies ([`crate::cookie`]), so JavaScript never holds one (the back-end-for-front-end pattern,
//! draft-ietf-oauth-browser-based-apps §6.1).
//!
//! Endpoints under `token_handler.base_path`, JSON in and out, never a redirect and never a token
//! in a body: `login/start`, `login/end`, `session`, `claims`, `refresh`, `logout`. Split like
//! [`crate::introspection`]: [`authorization_url`], [`token_request`] and [`discovery_request`]
//! build what is sent; [`judge_tokens`], [`judge_discovery`] and [`Agent::verify_id_token`] judge
//! what comes back.
//!
//! Checked: PKCE S256 (RFC 7636), `state` against the login cookie (RFC 6749 §10.12), `iss` in
//! the authorization response when present, and required when the AS advertises it (RFC 9207
//! §2.4), AS error responses (RFC 6749 §4.1.2.1), the ID token (OIDC Core §3.1.3.7: signature by
//! the AS's `jwks_uri` keys, `iss`, `aud`, `azp`, `exp`, `nonce`; after a refresh §12.2: same
//! `iss`, `sub`, `aud`), the discovery document's `issuer` (OIDC Discovery §4.3).
//! Client authentication at the token endpoint: `client_secret_basic` (RFC 6749 §2.3.1) or
//! `private_key_jwt` (RFC 7523 §2.2, OIDC Core §9) signed with the gateway's key.
//! Pushed authorization requests (RFC 9126) with `par: true`.
//! Not done: `at_hash` / `c_hash` (not needed for
//! the code flow with a confidential client, §3.1.3.8), `auth_time` / `max_age`, and single-flight
//! for discovery (a cold isolate under a burst may fetch the document a few times).

use crate::assertion::GatewayKey;
use crate::cookie::{self, CookieKeys};
use crate::cors::WebOrigins;
use crate::error::{AgentFault, CookieFault, Error};
use crate::http::{Headers, Response};
use crate::jwks::{JwksPolicy, RemoteJwks};
use crate::jws;
use crate::platform::{FetchError, FetchRequest, FetchResponse, LogLevel, Platform};
use base64ct::{Base64, Base64UrlUnpadded, Encoding};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::sync::{Arc, Mutex, PoisonError};

/// Largest agent request body read (`login/start`, `login/end`): a page URL with a code, state and
/// iss is a few hundred bytes; 16 KiB bounds what a client can make the gateway parse.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// Largest token-endpoint or discovery answer read: token sets with an ID token are a few KiB.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Largest ID token parsed (the same budget as access tokens by default).
const MAX_ID_TOKEN_BYTES: usize = 16 * 1024;

/// Life of the login cookie, in seconds: at most 10 minutes (issue #16), time for a person to log in.
pub const LOGIN_COOKIE_SECONDS: u64 = 600;

/// Accepted clock skew on the ID token's `exp`, in seconds.
const EXP_LEEWAY: u64 = 60;

/// How long a discovery document is used before it is fetched again, in seconds; a failed fetch
/// keeps the previous one for [`DISCOVERY_MAX_STALE`] more (like the JWKS cache).
const DISCOVERY_TTL: u64 = 60 * 60;
const DISCOVERY_MAX_STALE: u64 = 6 * 60 * 60;

/// Most `extraParams` entries in a `login/start` request, and the longest key or value.
const MAX_EXTRA_PARAMS: usize = 16;
const MAX_EXTRA_PARAM_BYTES: usize = 1024;

/// Authorization request parameters the agent sets itself: neither the configuration's
/// `authorization_params` nor a client's `extraParams` may set them.
pub const RESERVED_PARAMS: &[&str] = &[
    "client_id",
    "redirect_uri",
    "response_type",
    "response_mode",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "request",
    "request_uri",
];

/// The agent's settings, validated and with secrets resolved (`config::TokenHandler::settings`).
#[derive(Debug)]
pub struct Settings {
    /// Path prefix of the agent endpoints, e.g. `/oauth-agent` (no trailing `/`).
    pub base_path: String,
    /// The AS's issuer identifier; discovery is at `{issuer}/.well-known/openid-configuration`.
    pub issuer: String,
    /// The gateway's client id at the AS.
    pub client_id: String,
    /// How the agent authenticates at the token endpoint.
    pub client_auth: ClientAuth,
    /// Where the AS sends the browser back (the SPA's callback page).
    pub redirect_uri: String,
    /// Where the AS sends the browser after logout.
    pub post_logout_redirect_uri: Option<String>,
    /// Space-separated scopes requested.
    pub scope: String,
    /// Extra authorization request parameters from the configuration (`resource`, `acr_values`…).
    pub authorization_params: Vec<(String, String)>,
    /// The trusted web origins and the CSRF header.
    pub web: WebOrigins,
    /// The cookie keys (the first seals).
    pub keys: CookieKeys,
    /// The cookie name prefix, e.g. `ew` for `__Host-ew-at`.
    pub cookie_prefix: String,
    /// How long the session cookies live, in seconds (renewed by each refresh).
    pub session_seconds: u64,
    /// Timeout of calls to the AS, in milliseconds.
    pub timeout_ms: u32,
    /// Push the authorization request first (RFC 9126); the AS must advertise the endpoint.
    pub par: bool,
}

/// Client authentication at the token endpoint.
#[derive(Clone)]
pub enum ClientAuth {
    /// `client_secret_basic` (RFC 6749 §2.3.1) with this secret.
    SecretBasic(String),
    /// `private_key_jwt` (RFC 7523 §2.2): an ES256 client assertion signed with the gateway's key,
    /// whose public half the AS knows (e.g. from `/.well-known/edgeward/jwks.json`).
    PrivateKeyJwt(GatewayKey),
}

impl std::fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientAuth::SecretBasic(_) => f.write_str("SecretBasic(..)"),
            ClientAuth::PrivateKeyJwt(key) => f.debug_tuple("PrivateKeyJwt").field(key).finish(),
        }
    }
}

/// Life of a client assertion, in seconds: it is used at once.
const CLIENT_ASSERTION_SECONDS: u64 = 60;

/// The agent endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `POST {base}/login/start`.
    LoginStart,
    /// `POST {base}/login/end`.
    LoginEnd,
    /// `GET {base}/session`.
    Session,
    /// `GET {base}/claims`.
    Claims,
    /// `POST {base}/refresh`.
    Refresh,
    /// `POST {base}/logout`.
    Logout,
}

impl Endpoint {
    /// Whether the endpoint reads a JSON request body.
    pub fn reads_body(self) -> bool {
        matches!(self, Endpoint::LoginStart | Endpoint::LoginEnd)
    }
}

/// The AS metadata the agent uses (RFC 8414 §2, OIDC Discovery §3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    /// `authorization_endpoint`.
    pub authorization_endpoint: String,
    /// `token_endpoint`.
    pub token_endpoint: String,
    /// `end_session_endpoint` (OIDC RP-Initiated Logout §2.1), if any.
    pub end_session_endpoint: Option<String>,
    /// `jwks_uri`.
    pub jwks_uri: String,
    /// `authorization_response_iss_parameter_supported` (RFC 9207 §3).
    pub iss_parameter_supported: bool,
    /// `pushed_authorization_request_endpoint` (RFC 9126 §5), if any.
    pub par_endpoint: Option<String>,
}

struct Discovered {
    metadata: Metadata,
    jwks: Arc<RemoteJwks>,
    fetched_at: u64,
}

/// The cookie names, from the prefix.
struct Names {
    login: String,
    access: String,
    id: String,
    refresh: String,
}

/// The tokens of a successful token-endpoint answer (RFC 6749 §5.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSet {
    /// `access_token`.
    pub access_token: String,
    /// `id_token`, when given.
    pub id_token: Option<String>,
    /// `refresh_token`, when given.
    pub refresh_token: Option<String>,
}

/// A grant sent to the token endpoint.
#[derive(Debug, Clone, Copy)]
pub enum Grant<'a> {
    /// RFC 6749 §4.1.3 with the PKCE verifier (RFC 7636 §4.5).
    Code {
        /// The authorization code.
        code: &'a str,
        /// The PKCE code verifier.
        verifier: &'a str,
    },
    /// RFC 6749 §6.
    Refresh(&'a str),
}

/// The OAuth agent with its per-isolate discovery cache.
pub struct Agent {
    settings: Settings,
    names: Names,
    discovered: Mutex<Option<Arc<Discovered>>>,
}

impl Agent {
    /// An agent with an empty discovery cache.
    pub fn new(settings: Settings) -> Agent {
        let prefix = &settings.cookie_prefix;
        let names = Names {
            login: format!("__Host-{prefix}-login"),
            access: format!("__Host-{prefix}-at"),
            id: format!("__Host-{prefix}-id"),
            refresh: format!("__Secure-{prefix}-rt"),
        };
        Agent {
            settings,
            names,
            discovered: Mutex::new(None),
        }
    }

    /// The trusted web origins (CSRF and CORS).
    pub fn web(&self) -> &WebOrigins {
        &self.settings.web
    }

    /// The endpoint at `path` for `method`: `None` when the path is not under the base path,
    /// `Some(Err(_))` when it is but names no endpoint (404).
    pub fn endpoint(&self, method: &str, path: &str) -> Option<Result<Endpoint, Error>> {
        let rest = path.strip_prefix(self.settings.base_path.as_str())?;
        if !(rest.is_empty() || rest.starts_with('/')) {
            return None;
        }
        let endpoint = match (method, rest) {
            ("POST", "/login/start") => Endpoint::LoginStart,
            ("POST", "/login/end") => Endpoint::LoginEnd,
            ("GET", "/session") => Endpoint::Session,
            ("GET", "/claims") => Endpoint::Claims,
            ("POST", "/refresh") => Endpoint::Refresh,
            ("POST", "/logout") => Endpoint::Logout,
            _ => return Some(Err(Error::RouteNotFound)),
        };
        Some(Ok(endpoint))
    }

    /// The access token from its cookie, for a cookie-authenticated API request: the CSRF checks
    /// first ([`WebOrigins::check`]), then the cookie. `Ok(None)` when there is no such cookie.
    pub async fn access_token<P: Platform>(
        &self,
        platform: &P,
        headers: &Headers,
        now: u64,
    ) -> Result<Option<String>, Error> {
        self.settings.web.check(headers)?;
        self.open(platform, headers, &self.names.access, now).await
    }

    /// Answers an agent endpoint (after the CSRF checks, which the caller ran). `body` is the
    /// request body for [`Endpoint::reads_body`] endpoints, else empty.
    pub async fn respond<P: Platform>(
        &self,
        platform: &P,
        endpoint: Endpoint,
        headers: &Headers,
        body: &[u8],
        now: u64,
    ) -> Result<Response, Error> {
        match endpoint {
            Endpoint::LoginStart => self.login_start(platform, body, now).await,
            Endpoint::LoginEnd => self.login_end(platform, headers, body, now).await,
            Endpoint::Session => {
                let logged_in = self
                    .open(platform, headers, &self.names.id, now)
                    .await?
                    .is_some();
                Ok(Response::json(200, &json!({ "isLoggedIn": logged_in })))
            }
            Endpoint::Claims => {
                let id_token = self
                    .open(platform, headers, &self.names.id, now)
                    .await?
                    .ok_or(Error::Agent(AgentFault::SessionMissing))?;
                let claims = jws::parse(&id_token, MAX_ID_TOKEN_BYTES)
                    .map_err(|_| Error::Cookie(CookieFault::Malformed))?
                    .claims;
                Ok(Response::json(200, &Value::Object(claims)))
            }
            Endpoint::Refresh => self.refresh(platform, headers, now).await,
            Endpoint::Logout => self.logout(platform, headers, now).await,
        }
    }

    /// `login/start`: a fresh `state`, PKCE verifier and `nonce` sealed in the login cookie, and
    /// the authorization request URL (RFC 6749 §4.1.1, RFC 7636 §4.3, OIDC Core §3.1.2.1).
    async fn login_start<P: Platform>(
        &self,
        platform: &P,
        body: &[u8],
        now: u64,
    ) -> Result<Response, Error> {
        let extra = extra_params(body)?;
        let discovered = self.discover(platform, now).await?;
        let login = Login {
            state: random_string(platform),
            verifier: random_string(platform),
            nonce: random_string(platform),
        };
        let params = authorization_params(&self.settings, &login, &extra);
        let url = self
            .authorization_request(platform, &discovered, &params, now)
            .await?;
        let sealed = json!({ "s": login.state, "v": login.verifier, "n": login.nonce });
        let cookie = self.seal(
            platform,
            &self.names.login,
            sealed.to_string().as_bytes(),
            "/",
            LOGIN_COOKIE_SECONDS,
            now,
        )?;
        let mut response = Response::json(200, &json!({ "authorizationRequestUrl": url }));
        response.headers.append("set-cookie", &cookie);
        Ok(response)
    }

    /// `login/end`: the authorization response in the page URL, checked against the login cookie,
    /// the code exchanged, the ID token verified, the session cookies set and the login cookie
    /// cleared. A page URL without `code`, `state` or `error` is not a callback: `handled: false`.
    async fn login_end<P: Platform>(
        &self,
        platform: &P,
        headers: &Headers,
        body: &[u8],
        now: u64,
    ) -> Result<Response, Error> {
        let bad = || Error::Agent(AgentFault::BadRequest);
        let page = crate::strict::object(body)
            .and_then(|b| b.get("pageUrl").and_then(Value::as_str).map(str::to_owned))
            .ok_or_else(bad)?;
        let callback = Callback::parse(&self.settings.redirect_uri, &page)?;
        if callback.state.is_none() && callback.code.is_none() && callback.error.is_none() {
            let logged_in = self
                .open(platform, headers, &self.names.id, now)
                .await?
                .is_some();
            let answer = json!({ "handled": false, "isLoggedIn": logged_in });
            return Ok(Response::json(200, &answer));
        }
        let invalid_state = || Error::Agent(AgentFault::InvalidState);
        let sealed = self
            .open(platform, headers, &self.names.login, now)
            .await
            .map_err(|_| invalid_state())?
            .ok_or_else(invalid_state)?;
        let login = Login::from_json(sealed.as_bytes()).ok_or_else(invalid_state)?;
        if callback.state.as_deref() != Some(login.state.as_str()) {
            return Err(invalid_state());
        }
        let discovered = self.discover(platform, now).await?;
        match &callback.iss {
            Some(iss) if *iss != self.settings.issuer => {
                return Err(Error::Agent(AgentFault::IssuerMismatch))
            }
            None if discovered.metadata.iss_parameter_supported => {
                return Err(Error::Agent(AgentFault::IssuerMismatch))
            }
            _ => {}
        }
        if let Some(error) = callback.error {
            return Err(Error::AuthorizationResponseError(error));
        }
        let code = callback.code.ok_or_else(bad)?;
        let grant = Grant::Code {
            code: &code,
            verifier: &login.verifier,
        };
        let tokens = self
            .call_token_endpoint(platform, &discovered, grant, now)
            .await?;
        let id_token = tokens
            .id_token
            .as_deref()
            .ok_or(Error::Agent(AgentFault::IdTokenInvalid))?;
        self.verify_id_token(
            platform,
            &discovered.jwks,
            id_token,
            Some(&login.nonce),
            now,
        )
        .await?;
        let mut response = Response::json(200, &json!({ "handled": true, "isLoggedIn": true }));
        self.set_session(platform, &mut response.headers, &tokens, None, now)?;
        response
            .headers
            .append("set-cookie", &cookie::clear_cookie(&self.names.login, "/"));
        Ok(response)
    }

    /// `refresh`: the refresh-token grant (RFC 6749 §6); new cookies for what the AS returned
    /// (a rotated refresh token replaces the old one, RFC 9700 §4.14.2). A refused refresh token
    /// ends the session: 401 and every cookie cleared.
    async fn refresh<P: Platform>(
        &self,
        platform: &P,
        headers: &Headers,
        now: u64,
    ) -> Result<Response, Error> {
        let refresh_token = self
            .open(platform, headers, &self.names.refresh, now)
            .await?
            .ok_or(Error::Agent(AgentFault::SessionMissing))?;
        let old_id = self.open(platform, headers, &self.names.id, now).await?;
        let discovered = self.discover(platform, now).await?;
        let grant = Grant::Refresh(&refresh_token);
        let tokens = match self
            .call_token_endpoint(platform, &discovered, grant, now)
            .await
        {
            Err(Error::Agent(AgentFault::GrantRejected)) => {
                return Err(Error::Agent(AgentFault::SessionMissing))
            }
            other => other?,
        };
        if let Some(id_token) = &tokens.id_token {
            let claims = self
                .verify_id_token(platform, &discovered.jwks, id_token, None, now)
                .await?;
            let old_sub = old_id
                .as_deref()
                .and_then(|t| jws::parse(t, MAX_ID_TOKEN_BYTES).ok())
                .and_then(|old| old.claims.get("sub").cloned());
            if old_sub.is_some_and(|sub| claims.get("sub") != Some(&sub)) {
                return Err(Error::Agent(AgentFault::IdTokenInvalid));
            }
        }
        let mut response = Response {
            status: 204,
            headers: Headers::new(),
            body: Vec::new(),
        };
        response.headers.append("cache-control", "no-store");
        let kept = Kept {
            id_token: old_id.as_deref(),
            refresh_token: &refresh_token,
        };
        self.set_session(platform, &mut response.headers, &tokens, Some(kept), now)?;
        Ok(response)
    }

    /// `logout`: every cookie cleared, and the RP-initiated logout URL (OIDC RP-Initiated Logout
    /// §2) for the page to navigate to. The tokens are not revoked at the AS.
    async fn logout<P: Platform>(
        &self,
        platform: &P,
        headers: &Headers,
        now: u64,
    ) -> Result<Response, Error> {
        let id_token = self
            .open(platform, headers, &self.names.id, now)
            .await
            .ok()
            .flatten();
        let discovered = self.discover(platform, now).await?;
        let settings = &self.settings;
        let url = match &discovered.metadata.end_session_endpoint {
            Some(endpoint) => {
                let mut url = crate::http::parse_url(endpoint).map_err(|_| {
                    Error::UpstreamUnavailable("authorization server metadata unusable")
                })?;
                {
                    let mut query = url.query_pairs_mut();
                    if let Some(hint) = &id_token {
                        query.append_pair("id_token_hint", hint);
                    }
                    if let Some(uri) = &settings.post_logout_redirect_uri {
                        query.append_pair("post_logout_redirect_uri", uri);
                    }
                    query.append_pair("client_id", &settings.client_id);
                }
                Value::String(url.into())
            }
            None => settings
                .post_logout_redirect_uri
                .clone()
                .map_or(Value::Null, Value::String),
        };
        let mut response = Response::json(200, &json!({ "url": url }));
        self.clear_all(&mut response.headers);
        Ok(response)
    }

    /// Clears every cookie of the agent.
    pub fn clear_all(&self, fields: &mut Headers) {
        let names = &self.names;
        let refresh_path = format!("{}/refresh", self.settings.base_path);
        for (name, path) in [
            (&names.login, "/"),
            (&names.access, "/"),
            (&names.id, "/"),
            (&names.refresh, refresh_path.as_str()),
        ] {
            fields.append("set-cookie", &cookie::clear_cookie(name, path));
        }
    }

    /// The session cookies for a token set; what the AS did not return again (ID token, refresh
    /// token after a refresh without rotation) is taken from `kept`.
    fn set_session<P: Platform>(
        &self,
        platform: &P,
        fields: &mut Headers,
        tokens: &TokenSet,
        kept: Option<Kept<'_>>,
        now: u64,
    ) -> Result<(), Error> {
        let life = self.settings.session_seconds;
        let names = &self.names;
        let refresh_path = format!("{}/refresh", self.settings.base_path);
        let id_token = tokens.id_token.as_deref().or(kept.and_then(|k| k.id_token));
        let refresh_token = tokens
            .refresh_token
            .as_deref()
            .or(kept.map(|k| k.refresh_token));
        let mut set = vec![(&names.access, tokens.access_token.as_str(), "/")];
        if let Some(id_token) = id_token {
            set.push((&names.id, id_token, "/"));
        }
        if let Some(refresh_token) = refresh_token {
            set.push((&names.refresh, refresh_token, refresh_path.as_str()));
        }
        for (name, value, path) in set {
            let field = self.seal(platform, name, value.as_bytes(), path, life, now)?;
            fields.append("set-cookie", &field);
        }
        Ok(())
    }

    /// A sealed cookie's `Set-Cookie` field, living `life` seconds from `now`.
    fn seal<P: Platform>(
        &self,
        platform: &P,
        name: &str,
        value: &[u8],
        path: &str,
        life: u64,
        now: u64,
    ) -> Result<String, Error> {
        let mut nonce = [0u8; 12];
        platform.random(&mut nonce);
        let expires = now.saturating_add(life);
        let sealed = self.settings.keys.seal(name, value, expires, nonce);
        cookie::set_cookie(name, &sealed, path, life).map_err(|fault| {
            platform.log(
                LogLevel::Error,
                &format!("cookie {name} not set: {}", fault.description()),
            );
            Error::Cookie(fault)
        })
    }

    /// The opened value of the cookie `name`: `Ok(None)` without one; an unusable one is an
    /// [`Error::Cookie`] (logged by the caller's error path by code, never by value).
    async fn open<P: Platform>(
        &self,
        platform: &P,
        headers: &Headers,
        name: &str,
        now: u64,
    ) -> Result<Option<String>, Error> {
        let value = cookie::find(headers.get_all("cookie"), name)
            .map_err(|()| Error::Cookie(CookieFault::Duplicate))?;
        let Some(value) = value else {
            return Ok(None);
        };
        let plain = self
            .settings
            .keys
            .open(platform, name, value, now)
            .await
            .map_err(Error::Cookie)?;
        String::from_utf8(plain)
            .map(Some)
            .map_err(|_| Error::Cookie(CookieFault::Malformed))
    }

    /// The AS metadata and its key set: cached for [`DISCOVERY_TTL`], a failed fetch keeping the
    /// previous document up to [`DISCOVERY_MAX_STALE`]; with none usable, 503.
    async fn discover<P: Platform>(
        &self,
        platform: &P,
        now: u64,
    ) -> Result<Arc<Discovered>, Error> {
        let cached = self
            .discovered
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if let Some(found) = &cached {
            if now < found.fetched_at.saturating_add(DISCOVERY_TTL) {
                return Ok(found.clone());
            }
        }
        let response = platform.fetch(discovery_request(&self.settings)).await;
        match judge_discovery(&self.settings, response) {
            Ok(metadata) => {
                let jwks = match &cached {
                    Some(old) if old.metadata.jwks_uri == metadata.jwks_uri => old.jwks.clone(),
                    _ => Arc::new(RemoteJwks::new(
                        metadata.jwks_uri.clone(),
                        JwksPolicy::default(),
                    )),
                };
                let found = Arc::new(Discovered {
                    metadata,
                    jwks,
                    fetched_at: now,
                });
                *self
                    .discovered
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = Some(found.clone());
                Ok(found)
            }
            Err(error) => {
                platform.log(LogLevel::Warn, "authorization server discovery failed");
                match cached {
                    Some(old)
                        if now
                            < old
                                .fetched_at
                                .saturating_add(DISCOVERY_TTL + DISCOVERY_MAX_STALE) =>
                    {
                        Ok(old)
                    }
                    _ => Err(error),
                }
            }
        }
    }

    /// The URL the page navigates to: with `par`, the parameters are pushed first (RFC 9126) and
    /// the URL carries only `client_id` and the `request_uri`; else they are all in its query.
    async fn authorization_request<P: Platform>(
        &self,
        platform: &P,
        discovered: &Discovered,
        params: &[(String, String)],
        now: u64,
    ) -> Result<String, Error> {
        let metadata = &discovered.metadata;
        if !self.settings.par {
            return authorization_url(metadata, params);
        }
        let endpoint = metadata
            .par_endpoint
            .as_deref()
            .ok_or(Error::UpstreamUnavailable("the AS does not advertise PAR"))?;
        let assertion = self.client_assertion(platform, now);
        let request = par_request(&self.settings, endpoint, params, assertion.as_deref());
        let request_uri = judge_par(platform.fetch(request).await)?;
        let pushed = [
            ("client_id".to_owned(), self.settings.client_id.clone()),
            ("request_uri".to_owned(), request_uri),
        ];
        authorization_url(metadata, &pushed)
    }

    /// A fresh client assertion with `private_key_jwt`; `None` with `client_secret_basic`.
    fn client_assertion<P: Platform>(&self, platform: &P, now: u64) -> Option<String> {
        let settings = &self.settings;
        match &settings.client_auth {
            ClientAuth::PrivateKeyJwt(key) => {
                let jti = random_string(platform);
                Some(client_assertion(
                    key,
                    &settings.client_id,
                    &settings.issuer,
                    now,
                    &jti,
                ))
            }
            ClientAuth::SecretBasic(_) => None,
        }
    }

    async fn call_token_endpoint<P: Platform>(
        &self,
        platform: &P,
        discovered: &Discovered,
        grant: Grant<'_>,
        now: u64,
    ) -> Result<TokenSet, Error> {
        let assertion = self.client_assertion(platform, now);
        let request = token_request(
            &self.settings,
            &discovered.metadata,
            grant,
            assertion.as_deref(),
        );
        let answer = judge_tokens(platform.fetch(request).await);
        if let Err(error) = &answer {
            let message = format!("token endpoint refused the grant: {}", error.code());
            platform.log(LogLevel::Warn, &message);
        }
        answer
    }

    /// OIDC Core §3.1.3.7: the ID token's signature with the AS's keys (through the JWKS cache),
    /// `iss`, `aud` (and `azp` when present), `exp` (with [`EXP_LEEWAY`]), `iat` present, and,
    /// after a login, `nonce`. Returns the claims.
    pub async fn verify_id_token<P: Platform>(
        &self,
        platform: &P,
        jwks: &RemoteJwks,
        id_token: &str,
        nonce: Option<&str>,
        now: u64,
    ) -> Result<Map<String, Value>, Error> {
        let invalid = Error::Agent(AgentFault::IdTokenInvalid);
        let parsed = jws::parse(id_token, MAX_ID_TOKEN_BYTES).map_err(|_| invalid.clone())?;
        let header = &parsed.header;
        let key = match jwks
            .key(platform, header.kid.as_deref(), header.alg, now)
            .await
        {
            Ok(key) => key,
            Err(error @ Error::UpstreamUnavailable(_)) => return Err(error),
            Err(_) => return Err(invalid),
        };
        parsed
            .verify(&key, platform.verifier())
            .await
            .map_err(|_| invalid.clone())?;
        let claims = parsed.claims;
        let settings = &self.settings;
        let text = |name: &str| claims.get(name).and_then(Value::as_str);
        let aud_ok = match claims.get("aud") {
            Some(Value::String(aud)) => *aud == settings.client_id,
            Some(Value::Array(list)) => {
                list.iter().any(|a| a.as_str() == Some(&settings.client_id))
            }
            _ => false,
        };
        let exp_ok = claims
            .get("exp")
            .and_then(Value::as_u64)
            .is_some_and(|exp| exp.saturating_add(EXP_LEEWAY) > now);
        let ok = text("iss") == Some(settings.issuer.as_str())
            && aud_ok
            && claims
                .get("azp")
                .is_none_or(|azp| azp.as_str() == Some(&settings.client_id))
            && exp_ok
            && claims.get("iat").is_some_and(Value::is_u64)
            && text("sub").is_some()
            && nonce.is_none_or(|nonce| text("nonce") == Some(nonce));
        match ok {
            true => Ok(claims),
            false => Err(invalid),
        }
    }
}

/// What a refresh keeps when the AS does not return it again.
#[derive(Clone, Copy)]
struct Kept<'a> {
    id_token: Option<&'a str>,
    refresh_token: &'a str,
}

/// What the login cookie holds.
struct Login {
    state: String,
    verifier: String,
    nonce: String,
}

impl Login {
    fn from_json(bytes: &[u8]) -> Option<Login> {
        let object = crate::strict::object(bytes)?;
        let field = |name: &str| object.get(name)?.as_str().map(str::to_owned);
        Some(Login {
            state: field("s")?,
            verifier: field("v")?,
            nonce: field("n")?,
        })
    }
}

/// The authorization response parameters in the page URL (RFC 6749 §4.1.2, RFC 9207 §2).
#[derive(Debug, Default)]
struct Callback {
    code: Option<String>,
    state: Option<String>,
    iss: Option<String>,
    error: Option<String>,
}

impl Callback {
    /// The page URL must be the redirect URI (same scheme, authority and path); a parameter
    /// given twice is malformed (RFC 6749 §3.1).
    fn parse(redirect_uri: &str, page: &str) -> Result<Callback, Error> {
        let bad = || Error::Agent(AgentFault::BadRequest);
        let page = crate::http::parse_url(page).map_err(|_| bad())?;
        let redirect = crate::http::parse_url(redirect_uri).map_err(|_| bad())?;
        if page.origin() != redirect.origin() || page.path() != redirect.path() {
            return Err(bad());
        }
        let mut callback = Callback::default();
        for (name, value) in page.query_pairs() {
            let slot = match name.as_ref() {
                "code" => &mut callback.code,
                "state" => &mut callback.state,
                "iss" => &mut callback.iss,
                "error" => &mut callback.error,
                _ => continue,
            };
            if slot.replace(value.into_owned()).is_some() {
                return Err(bad());
            }
        }
        if let Some(error) = &mut callback.error {
            // RFC 6749 §4.1.2.1: error is %x20-21 / %x23-5B / %x5D-7E; anything else is not
            // repeated to the client.
            let valid = !error.is_empty()
                && error.len() <= 64
                && error
                    .bytes()
                    .all(|b| matches!(b, 0x20..=0x21 | 0x23..=0x5b | 0x5d..=0x7e));
            if !valid {
                *error = "invalid_request".into();
            }
        }
        Ok(callback)
    }
}

/// The `extraParams` of a `login/start` body (`[{"key","value"}]`): at most
/// [`MAX_EXTRA_PARAMS`], none of [`RESERVED_PARAMS`]. An empty body has none.
fn extra_params(body: &[u8]) -> Result<Vec<(String, String)>, Error> {
    let bad = || Error::Agent(AgentFault::BadRequest);
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Vec::new());
    }
    let object = crate::strict::object(body).ok_or_else(bad)?;
    let list = match object.get("extraParams") {
        None => return Ok(Vec::new()),
        Some(Value::Array(list)) if list.len() <= MAX_EXTRA_PARAMS => list,
        Some(_) => return Err(bad()),
    };
    list.iter()
        .map(|entry| {
            let key = entry.get("key").and_then(Value::as_str).ok_or_else(bad)?;
            let value = entry.get("value").and_then(Value::as_str).ok_or_else(bad)?;
            if key.is_empty()
                || key.len() > MAX_EXTRA_PARAM_BYTES
                || value.len() > MAX_EXTRA_PARAM_BYTES
                || RESERVED_PARAMS.contains(&key)
            {
                return Err(bad());
            }
            Ok((key.to_owned(), value.to_owned()))
        })
        .collect()
}

/// 32 random bytes as base64url (43 characters): `state`, `nonce`, and the PKCE verifier
/// (RFC 7636 §4.1: 43 to 128 unreserved characters, 256 bits of entropy recommended).
fn random_string<P: Platform>(platform: &P) -> String {
    let mut bytes = [0u8; 32];
    platform.random(&mut bytes);
    Base64UrlUnpadded::encode_string(&bytes)
}

/// The authorization request parameters (RFC 6749 §4.1.1, OIDC Core §3.1.2.1) with the PKCE S256
/// challenge (RFC 7636 §4.2), the configured parameters, then the client's extra ones.
fn authorization_params(
    settings: &Settings,
    login: &Login,
    extra: &[(String, String)],
) -> Vec<(String, String)> {
    let challenge = Base64UrlUnpadded::encode_string(&Sha256::digest(login.verifier.as_bytes()));
    let mut params: Vec<(String, String)> = [
        ("client_id", settings.client_id.as_str()),
        ("redirect_uri", &settings.redirect_uri),
        ("response_type", "code"),
        ("scope", &settings.scope),
        ("state", &login.state),
        ("nonce", &login.nonce),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    params.extend(settings.authorization_params.iter().cloned());
    params.extend(extra.iter().cloned());
    params
}

/// The authorization endpoint URL with `params` in its query.
fn authorization_url(metadata: &Metadata, params: &[(String, String)]) -> Result<String, Error> {
    let mut url = crate::http::parse_url(&metadata.authorization_endpoint)
        .map_err(|_| Error::UpstreamUnavailable("authorization server metadata unusable"))?;
    url.query_pairs_mut().extend_pairs(params);
    Ok(url.into())
}

/// The pushed authorization request (RFC 9126 §2.1): the parameters, `client_id` included (it is
/// an authorization request parameter; oidc-provider insists), as a form POST to the PAR
/// endpoint, with the same client authentication as the token endpoint.
pub fn par_request(
    settings: &Settings,
    endpoint: &str,
    params: &[(String, String)],
    assertion: Option<&str>,
) -> FetchRequest {
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.extend_pairs(params.iter().filter(|(k, _)| k != "client_id"));
    let headers = authenticate_client(settings, &mut form, assertion);
    if let ClientAuth::SecretBasic(_) = settings.client_auth {
        // With private_key_jwt, authenticate_client has added it.
        form.append_pair("client_id", &settings.client_id);
    }
    form_post(settings, endpoint.to_owned(), headers, form.finish())
}

/// The PAR answer, judged (RFC 9126 §2.2 / §2.3): `201` JSON with a `request_uri`;
/// `invalid_client` is [`AgentFault::ClientRejected`], another error answer
/// [`AgentFault::BadRequest`] (the parameters); anything else 503.
pub fn judge_par(response: Result<FetchResponse, FetchError>) -> Result<String, Error> {
    let unavailable = || Error::UpstreamUnavailable("pushed authorization request failed");
    let response = response.map_err(|_| unavailable())?;
    let body = crate::strict::object(&response.body);
    let text = |name: &str| {
        body.as_ref()
            .and_then(|b| b.get(name))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    match (response.status, text("error").as_deref()) {
        (201, _) => text("request_uri").ok_or_else(unavailable),
        (400..=499, Some("invalid_client" | "unauthorized_client")) => {
            Err(Error::Agent(AgentFault::ClientRejected))
        }
        (400..=499, Some(_)) => Err(Error::Agent(AgentFault::BadRequest)),
        _ => Err(unavailable()),
    }
}

/// The discovery request: `GET {issuer}/.well-known/openid-configuration` (OIDC Discovery §4).
pub fn discovery_request(settings: &Settings) -> FetchRequest {
    let issuer = settings.issuer.trim_end_matches('/');
    FetchRequest {
        method: "GET",
        url: format!("{issuer}/.well-known/openid-configuration"),
        headers: vec![("accept".into(), "application/json".into())],
        body: Vec::new(),
        timeout_ms: settings.timeout_ms,
        max_body_bytes: MAX_ANSWER_BYTES,
    }
}

/// The discovery answer, judged: 200 JSON whose `issuer` is exactly the configured one (OIDC
/// Discovery §4.3, RFC 8414 §3.3) with https (or loopback http) endpoints; anything else is 503.
pub fn judge_discovery(
    settings: &Settings,
    response: Result<FetchResponse, FetchError>,
) -> Result<Metadata, Error> {
    let unusable = || Error::UpstreamUnavailable("authorization server metadata unavailable");
    let response = response.map_err(|_| unusable())?;
    if response.status != 200 {
        return Err(unusable());
    }
    let document = crate::strict::object(&response.body).ok_or_else(unusable)?;
    let text = |name: &str| document.get(name).and_then(Value::as_str);
    if text("issuer") != Some(settings.issuer.as_str()) {
        return Err(unusable());
    }
    let endpoint = |name: &str| {
        text(name)
            .filter(|url| fetchable(url))
            .map(str::to_owned)
            .ok_or_else(unusable)
    };
    Ok(Metadata {
        authorization_endpoint: endpoint("authorization_endpoint")?,
        token_endpoint: endpoint("token_endpoint")?,
        jwks_uri: endpoint("jwks_uri")?,
        end_session_endpoint: endpoint("end_session_endpoint").ok(),
        par_endpoint: endpoint("pushed_authorization_request_endpoint").ok(),
        iss_parameter_supported: document
            .get("authorization_response_iss_parameter_supported")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    })
}

/// https, or http on loopback (local development), like the configuration's fetch URLs.
fn fetchable(url: &str) -> bool {
    let Ok(url) = crate::http::parse_url(url) else {
        return false;
    };
    let loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    url.scheme() == "https" || (url.scheme() == "http" && loopback)
}

/// An RFC 7523 §2.2 client assertion for `private_key_jwt` (OIDC Core §9): ES256 with the
/// gateway key's `kid`; `iss` and `sub` the client id, `aud` the AS's issuer identifier (as
/// draft-ietf-oauth-rfc7523bis requires; oidc-provider also accepts it), a random `jti`, and
/// `exp` [`CLIENT_ASSERTION_SECONDS`] after `iat`.
pub fn client_assertion(
    key: &GatewayKey,
    client_id: &str,
    issuer: &str,
    now: u64,
    jti: &str,
) -> String {
    let header = json!({ "alg": "ES256", "kid": key.kid() });
    let claims = json!({
        "iss": client_id,
        "sub": client_id,
        "aud": issuer,
        "jti": jti,
        "iat": now,
        "exp": now.saturating_add(CLIENT_ASSERTION_SECONDS),
    });
    key.sign_jws(&header, &claims)
}

/// The token request (RFC 6749 §4.1.3 / §6), authenticated with `client_secret_basic`
/// (§2.3.1: id and secret form-encoded before base64), or with `private_key_jwt` and the
/// `assertion` ([`client_assertion`]) in the form (RFC 7523 §2.2).
pub fn token_request(
    settings: &Settings,
    metadata: &Metadata,
    grant: Grant<'_>,
    assertion: Option<&str>,
) -> FetchRequest {
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    match grant {
        Grant::Code { code, verifier } => form
            .append_pair("grant_type", "authorization_code")
            .append_pair("code", code)
            .append_pair("redirect_uri", &settings.redirect_uri)
            .append_pair("code_verifier", verifier),
        Grant::Refresh(token) => form
            .append_pair("grant_type", "refresh_token")
            .append_pair("refresh_token", token),
    };
    let headers = authenticate_client(settings, &mut form, assertion);
    form_post(
        settings,
        metadata.token_endpoint.clone(),
        headers,
        form.finish(),
    )
}

/// Client authentication of a form POST to the AS: the `Authorization: Basic` field
/// (`client_secret_basic`, RFC 6749 §2.3.1: id and secret form-encoded before base64), or
/// `client_id`, `client_assertion_type` and the `assertion` in the form (RFC 7523 §2.2).
fn authenticate_client(
    settings: &Settings,
    form: &mut url::form_urlencoded::Serializer<'_, String>,
    assertion: Option<&str>,
) -> Vec<(String, String)> {
    let encode = |value: &str| -> String {
        url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
    };
    match &settings.client_auth {
        ClientAuth::SecretBasic(secret) => {
            let credentials = format!("{}:{}", encode(&settings.client_id), encode(secret));
            let basic = format!("Basic {}", Base64::encode_string(credentials.as_bytes()));
            vec![("authorization".into(), basic)]
        }
        ClientAuth::PrivateKeyJwt(_) => {
            form.append_pair("client_id", &settings.client_id)
                .append_pair(
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                );
            if let Some(assertion) = assertion {
                form.append_pair("client_assertion", assertion);
            }
            Vec::new()
        }
    }
}

/// A form POST to the AS expecting JSON.
fn form_post(
    settings: &Settings,
    url: String,
    mut headers: Vec<(String, String)>,
    body: String,
) -> FetchRequest {
    headers.push((
        "content-type".into(),
        "application/x-www-form-urlencoded".into(),
    ));
    headers.push(("accept".into(), "application/json".into()));
    FetchRequest {
        method: "POST",
        url,
        headers,
        body: body.into_bytes(),
        timeout_ms: settings.timeout_ms,
        max_body_bytes: MAX_ANSWER_BYTES,
    }
}

/// The token endpoint's answer, judged (RFC 6749 §5.1 / §5.2): 200 JSON with a `Bearer`
/// `access_token`; `invalid_client` / `unauthorized_client` is [`AgentFault::ClientRejected`];
/// any other error answer is [`AgentFault::GrantRejected`]; no answer, a 5xx or an answer that
/// cannot be read is 503.
pub fn judge_tokens(response: Result<FetchResponse, FetchError>) -> Result<TokenSet, Error> {
    let unavailable = || Error::UpstreamUnavailable("token endpoint unavailable");
    let response = response.map_err(|_| unavailable())?;
    let body = crate::strict::object(&response.body);
    if response.status != 200 {
        let error = body
            .as_ref()
            .and_then(|b| b.get("error"))
            .and_then(Value::as_str);
        return Err(match (response.status, error) {
            (400..=499, Some("invalid_client" | "unauthorized_client")) => {
                Error::Agent(AgentFault::ClientRejected)
            }
            (400..=499, Some(_)) => Error::Agent(AgentFault::GrantRejected),
            _ => unavailable(),
        });
    }
    let body = body.ok_or_else(unavailable)?;
    let text = |name: &str| body.get(name).and_then(Value::as_str).map(str::to_owned);
    let bearer = text("token_type").is_some_and(|t| t.eq_ignore_ascii_case("bearer"));
    match (text("access_token"), bearer) {
        (Some(access_token), true) if !access_token.is_empty() => Ok(TokenSet {
            access_token,
            id_token: text("id_token"),
            refresh_token: text("refresh_token"),
        }),
        _ => Err(unavailable()),
    }
}
