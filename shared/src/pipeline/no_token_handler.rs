//! The token-handler hooks of a build without the `token-handler` feature: there is never an
//! agent (a configuration with `token_handler` is refused when it loads), so none of them answers.

use crate::config::{Config, ConfigError, SecretLookup};
use crate::error::Error;
use crate::http::{Headers, Outcome, Request, Response};
use crate::platform::Platform;
use url::Url;

/// No agent can exist in this build.
pub(super) enum Agent {}

pub(super) fn load(
    _: &Config,
    _: SecretLookup<'_>,
    _: &crate::forward::Forwarder,
) -> Result<Option<Agent>, ConfigError> {
    Ok(None)
}

pub(super) fn cors_fields(_: Option<&Agent>, _: &Request) -> Headers {
    Headers::new()
}

pub(super) fn owns(_: Option<&Agent>, _: &Request, _: &Url) -> bool {
    false
}

pub(super) async fn gate<P: Platform>(
    agent: &Agent,
    _: &P,
    _: &Request,
    _: &Url,
    _: u64,
) -> Result<Outcome, Error> {
    match *agent {}
}

pub(super) async fn body<P: Platform>(
    agent: &Agent,
    _: &P,
    _: &Request,
    _: &[u8],
) -> Option<Result<Response, Error>> {
    match *agent {}
}
