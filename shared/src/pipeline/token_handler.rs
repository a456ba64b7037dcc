//! The pipeline's token-handler hooks (issue #16): the agent's endpoints and CORS preflights
//! answered before any route, the CORS fields of every answer to a trusted web origin, and the
//! access token from its cookie on `credential_cookie` routes. The decisions live in
//! [`crate::oauth_agent`] and [`crate::cors`]; this file only wires them in.

use crate::config::{Config, ConfigError, Route, SecretLookup};
use crate::cors::WebOrigins;
use crate::error::Error;
use crate::forward::Forwarder;
use crate::http::{Headers, Outcome, Request, Response};
pub(super) use crate::oauth_agent::Agent;
use crate::oauth_agent::{Endpoint, MAX_BODY_BYTES};
use crate::platform::Platform;
use url::Url;

/// The agent, when the configuration has a `token_handler` section (secrets read here, once;
/// the gateway key is the forward stage's, already loaded).
pub(super) fn load(
    config: &Config,
    secrets: SecretLookup<'_>,
    forwarder: &Forwarder,
) -> Result<Option<Agent>, ConfigError> {
    match &config.token_handler {
        Some(handler) => {
            let settings = handler.settings(secrets, forwarder.gateway_key())?;
            Ok(Some(Agent::new(settings)))
        }
        None => Ok(None),
    }
}

/// The CORS fields for an answer to this request: some only for a trusted web origin.
pub(super) fn cors_fields(agent: Option<&Agent>, request: &Request) -> Headers {
    match agent {
        Some(agent) => agent.web().response_fields(&request.headers),
        None => Headers::new(),
    }
}

/// True for requests the token handler answers itself: a CORS preflight (on every path: the
/// gateway decides CORS), or a path under the agent's base path.
pub(super) fn owns(agent: Option<&Agent>, request: &Request, url: &Url) -> bool {
    agent.is_some_and(|agent| {
        WebOrigins::is_preflight(&request.method, &request.headers)
            || agent.endpoint(&request.method, url.path()).is_some()
    })
}

/// A request [`owns`] accepted: the preflight's answer, or the agent endpoint's after the CSRF
/// checks (those with a JSON body ask the shell for it first).
pub(super) async fn gate<P: Platform>(
    agent: &Agent,
    platform: &P,
    request: &Request,
    url: &Url,
    now: u64,
) -> Result<Outcome, Error> {
    let headers = &request.headers;
    if WebOrigins::is_preflight(&request.method, headers) {
        return agent.web().preflight(headers).map(Outcome::Respond);
    }
    let endpoint = agent
        .endpoint(&request.method, url.path())
        .ok_or(Error::RouteNotFound)??;
    agent.web().check(headers)?;
    if endpoint.reads_body() {
        return Ok(Outcome::ReadBody {
            max_bytes: MAX_BODY_BYTES,
        });
    }
    let response = agent.respond(platform, endpoint, headers, &[], now).await?;
    Ok(Outcome::Respond(response))
}

/// An agent endpoint with its request body (`login/start`, `login/end`), CSRF-checked again
/// ([`Gateway::handle_body`](crate::Gateway::handle_body) is a separate call); `None` when the
/// request names no agent endpoint.
pub(super) async fn body<P: Platform>(
    agent: &Agent,
    platform: &P,
    request: &Request,
    body: &[u8],
) -> Option<Result<Response, Error>> {
    let url = crate::http::parse_url(&request.url).ok()?;
    let endpoint = agent.endpoint(&request.method, url.path())?;
    let answer = async {
        let endpoint: Endpoint = endpoint?;
        agent.web().check(&request.headers)?;
        let now = platform.now();
        agent
            .respond(platform, endpoint, &request.headers, body, now)
            .await
    };
    Some(answer.await)
}

/// The extract stage's cookie credential: on a `credential_cookie` route, after the CSRF checks,
/// the access token from its cookie (`None` without one).
pub(super) async fn cookie_token<P: Platform>(
    agent: Option<&Agent>,
    platform: &P,
    route: Option<&Route>,
    request: &Request,
    now: u64,
) -> Result<Option<String>, Error> {
    match agent {
        Some(agent) if route.is_some_and(|route| route.credential_cookie) => {
            agent.access_token(platform, &request.headers, now).await
        }
        _ => Ok(None),
    }
}
