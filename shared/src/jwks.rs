//! Key sources for verifying access tokens: a remote JWK Set at an issuer's `jwks_uri`
//! (RFC 7517 §5; RFC 8414 §2 `jwks_uri`) cached per isolate, and inline keys from configuration.
//!
//! The rule for a remote set: *if the `kid` is unknown, refresh the keys; if it is still unknown,
//! the source is untrusted* ([`TokenFault::UnknownKey`]). Around that rule:
//!
//! - **Freshness.** A fetched set is fresh for `Cache-Control: max-age` (RFC 9111 §5.2.2.1) minus
//!   `Age` (RFC 9111 §5.1), clamped to [`JwksPolicy::min_ttl`]..=[`JwksPolicy::max_ttl`];
//!   [`JwksPolicy::default_ttl`] without `max-age`. `no-store`, `no-cache`, an invalid or repeated
//!   `max-age` all give `min_ttl`: the gateway cannot work without keys, so it caches for the
//!   shortest time it allows. `Expires` and `s-maxage` are ignored.
//! - **Budget.** Attacker-chosen `kid`s trigger at most one fetch per
//!   [`JwksPolicy::refresh_cooldown`] per source; failed fetches are retried no more often either.
//! - **Never replace good keys with nothing.** A failed refresh (fetch error, status other than
//!   200, body too large, not a JWK Set, no usable key) keeps the previous set, which keeps serving
//!   until [`JwksPolicy::max_stale`] after it expired; after that, and when no set was ever
//!   fetched, lookups fail closed with [`Error::UpstreamUnavailable`] (503).
//! - **Single flight.** The first caller that needs a refresh claims it; the others poll between
//!   short sleeps in their own request context (never on another request's wake-up, which Workers
//!   cancels as a hung request) and then use the refreshed set.
//!
//! `x5c` in a JWK (RFC 7517 §4.7): the first certificate's public key must equal the JWK's key,
//! otherwise the JWK is dropped. NOT checked: the `x5c` chain itself (validation of JWKS `x5c`
//! against trust anchors is an opt-in left for later), certificate validity dates, `x5t` /
//! `x5t#S256`, `x5u`, and the response's `Content-Type`. The `jwks_uri` is used as given; the
//! configuration is responsible for requiring `https`.

use crate::crypto::PublicKey;
use crate::error::{Error, TokenFault};
use crate::jwk::{Jwk, JwkSet, MAX_JWKS_BYTES};
use crate::jws::Alg;
use crate::platform::{FetchError, FetchRequest, FetchResponse, LogLevel, Platform};
use crate::single_flight::{Flights, Turn};
use crate::x5c::{public_key_from_spki, MAX_CERT_BYTES};
use der::{Decode, Encode};
use std::sync::{Mutex, MutexGuard, PoisonError};
use x509_cert::Certificate;

/// What a client is told when no usable key set is available.
const UNAVAILABLE: &str = "key source unavailable";

/// RFC 9111 §1.2.2: a delta-seconds value larger than 2^31 is taken as 2^31.
const DELTA_SECONDS_CAP: u64 = 1 << 31;

/// Caching and fetch budgets for one [`RemoteJwks`]. All durations in seconds unless named
/// otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwksPolicy {
    /// Shortest time a fetched set is fresh. Default 60 s: a `max-age=0` or `no-store` from the
    /// issuer must not turn every request into a fetch; a minute is short against any key
    /// rotation schedule.
    pub min_ttl: u64,
    /// Longest time a fetched set is fresh, whatever the issuer says. Default 1 h: new keys are
    /// picked up at once by the unknown-`kid` refresh, so this bound only matters for *removed*
    /// keys — it is how long a key the issuer withdrew (e.g. after a compromise) stays trusted.
    /// Issuers announce up to a day (Google ≈ 6 h, Microsoft 24 h); one refetch per hour per
    /// isolate is negligible load, so the shorter removal window wins.
    pub max_ttl: u64,
    /// Freshness when the response has no usable `Cache-Control: max-age`. Default 300 s, half of
    /// panva/jose `createRemoteJWKSet`'s 10 min `cacheMaxAge`.
    pub default_ttl: u64,
    /// Least time between two fetches of this source, whether triggered by an unknown `kid`, by
    /// expiry after a failed fetch, or by a cold cache after a failed fetch. This is the budget
    /// for attacker-driven refreshes. Default 30 s, panva/jose's `cooldownDuration`.
    pub refresh_cooldown: u64,
    /// How long after expiry a set keeps serving while refreshes fail. Default 6 h: rides out an
    /// identity provider outage of a few hours (the ones seen in practice) instead of failing
    /// every request. The price: a withdrawn key stays trusted up to `max_ttl + max_stale` if the
    /// endpoint is also unreachable from the edge. Set 0 to fail closed at expiry.
    pub max_stale: u64,
    /// Fetch timeout in milliseconds. Default 2000: a JWK Set is a small static document that
    /// normally arrives in well under 200 ms; the requests waiting on a refresh wait this long
    /// at most.
    pub fetch_timeout_ms: u32,
    /// Largest response body read. Default [`MAX_JWKS_BYTES`]; bodies beyond that limit are refused by the
    /// parser anyway.
    pub max_bytes: usize,
}

impl Default for JwksPolicy {
    fn default() -> Self {
        Self {
            min_ttl: 60,
            max_ttl: 60 * 60,
            default_ttl: 300,
            refresh_cooldown: 30,
            max_stale: 6 * 60 * 60,
            fetch_timeout_ms: 2000,
            max_bytes: MAX_JWKS_BYTES,
        }
    }
}

/// A remote JWK Set, cached for the life of the isolate: one per issuer `jwks_uri`.
///
/// Interior state sits behind a `std::sync::Mutex` that is never held across an `.await`
/// (a poisoned lock is used as is: the state is consistent after every store), and an async mutex
/// serialises refreshes.
#[derive(Debug)]
pub struct RemoteJwks {
    uri: String,
    policy: JwksPolicy,
    state: Mutex<State>,
    flights: Flights,
}

#[derive(Debug, Default)]
struct State {
    cached: Option<Cached>,
    /// When the last fetch started, successful or not.
    last_attempt: Option<u64>,
    /// Fetches completed so far: lets a caller that queued for a refresh see that one happened.
    attempts: u64,
}

#[derive(Debug)]
struct Cached {
    keys: JwkSet,
    fetched_at: u64,
    ttl: u64,
}

impl Cached {
    fn fresh_until(&self) -> u64 {
        self.fetched_at.saturating_add(self.ttl)
    }
}

/// What a lookup does next.
enum Step {
    Done(Result<PublicKey, Error>),
    /// Refresh, unless the attempt counter has moved past this value meanwhile.
    Refresh(u64),
}

impl RemoteJwks {
    /// A source for the JWK Set at `uri`, empty until the first lookup fetches it.
    pub fn new(uri: String, policy: JwksPolicy) -> Self {
        Self {
            uri,
            policy,
            state: Mutex::new(State::default()),
            flights: Flights::default(),
        }
    }

    /// The `jwks_uri` this source fetches.
    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// The key for a token with header `kid` and `alg`: the first key of the set whose `kid` is
    /// exactly equal (any key without a `kid` in the token) and that is usable for `alg`
    /// ([`JwkSet::find`]). When a token has no `kid` and several keys fit, the first in document
    /// order is returned; issuers that publish several signing keys set `kid`.
    ///
    /// Fetches only when the cached set is missing or expired, or the key is not in it (then at
    /// most once per [`JwksPolicy::refresh_cooldown`]). Errors: [`TokenFault::UnknownKey`] when a
    /// usable set has no such key; [`Error::UpstreamUnavailable`] when there is no usable set.
    pub async fn key<P: Platform>(
        &self,
        platform: &P,
        kid: Option<&str>,
        alg: Alg,
        now: u64,
    ) -> Result<PublicKey, Error> {
        let seen = match self.decide(now, kid, alg) {
            Step::Done(result) => return result,
            Step::Refresh(seen) => seen,
        };
        // One refresh per source at a time; waiters poll (see `single_flight`) and then read the
        // set the claimant stored — or, when it failed, whatever the cache still allows.
        let deadline = self.policy.fetch_timeout_ms.saturating_add(1000);
        if let Turn::Claimed(_claim) = self
            .flights
            .claim_or_wait(platform, [0; 32], deadline)
            .await
        {
            if self.lock().attempts == seen {
                self.refresh(platform, now).await;
            }
        }
        let state = self.lock();
        self.answer(&state, now, kid, alg)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn decide(&self, now: u64, kid: Option<&str>, alg: Alg) -> Step {
        let state = self.lock();
        let cooled = state
            .last_attempt
            .is_none_or(|at| now >= at.saturating_add(self.policy.refresh_cooldown));
        match &state.cached {
            Some(cached) if now < cached.fresh_until() => match lookup(&cached.keys, kid, alg) {
                Some(key) => Step::Done(Ok(key)),
                None if cooled => Step::Refresh(state.attempts),
                None => Step::Done(Err(Error::InvalidToken(TokenFault::UnknownKey))),
            },
            _ if cooled => Step::Refresh(state.attempts),
            _ => Step::Done(self.answer(&state, now, kid, alg)),
        }
    }

    /// The answer from the cache as it stands, fresh or within `max_stale`; never fetches.
    fn answer(
        &self,
        state: &State,
        now: u64,
        kid: Option<&str>,
        alg: Alg,
    ) -> Result<PublicKey, Error> {
        match &state.cached {
            Some(cached) if now < cached.fresh_until().saturating_add(self.policy.max_stale) => {
                lookup(&cached.keys, kid, alg).ok_or(Error::InvalidToken(TokenFault::UnknownKey))
            }
            _ => Err(Error::UpstreamUnavailable(UNAVAILABLE)),
        }
    }

    /// The GET for the key set: JWK Set media type first (RFC 7517 §8.5.1), plain JSON as
    /// issuers commonly serve it.
    fn request(&self) -> FetchRequest {
        FetchRequest {
            method: "GET",
            url: self.uri.clone(),
            headers: vec![(
                "accept".to_owned(),
                "application/jwk-set+json, application/json".to_owned(),
            )],
            body: Vec::new(),
            timeout_ms: self.policy.fetch_timeout_ms,
            max_body_bytes: self.policy.max_bytes,
        }
    }

    /// One fetch; the new set replaces the cached one only when it is usable.
    async fn refresh<P: Platform>(&self, platform: &P, started: u64) {
        let outcome = match platform.fetch(self.request()).await {
            Ok(response) => process_response(&response, &self.policy),
            Err(FetchError::Unreachable) => Err("unreachable"),
            Err(FetchError::Timeout) => Err("timed out"),
            Err(FetchError::TooLarge) => Err("body too large"),
        };
        let mut state = self.lock();
        state.attempts = state.attempts.wrapping_add(1);
        state.last_attempt = Some(started);
        let reason = match outcome {
            Ok((keys, ttl)) => {
                state.cached = Some(Cached {
                    keys,
                    fetched_at: started,
                    ttl,
                });
                return;
            }
            Err(reason) => reason,
        };
        let fallback = match &state.cached {
            Some(cached) => {
                let until = cached.fresh_until().saturating_add(self.policy.max_stale);
                if started < until {
                    format!("serving cached keys until {until}")
                } else {
                    "cached keys too stale, failing closed".to_owned()
                }
            }
            None => "no cached keys, failing closed".to_owned(),
        };
        drop(state);
        platform.log(
            LogLevel::Warn,
            &format!(
                "JWKS refresh from {} failed ({reason}); {fallback}",
                without_query(&self.uri)
            ),
        );
    }
}

/// Checks a JWKS response and returns the usable keys and their freshness lifetime, or why the
/// response is unusable.
fn process_response(
    response: &FetchResponse,
    policy: &JwksPolicy,
) -> Result<(JwkSet, u64), &'static str> {
    if response.status != 200 {
        return Err("unexpected status");
    }
    if response.body.len() > policy.max_bytes {
        return Err("body too large");
    }
    let mut set = JwkSet::parse(&response.body).map_err(|_| "not a valid JWK Set")?;
    set.keys.retain(x5c_consistent);
    if set.keys.is_empty() {
        return Err("no usable keys");
    }
    Ok((set, ttl(&response.headers, policy)))
}

/// Freshness lifetime (RFC 9111 §4.2.1) from `Cache-Control` and `Age`, clamped by the policy.
fn ttl(headers: &[(String, String)], policy: &JwksPolicy) -> u64 {
    let mut max_age = None;
    let mut shortest = false;
    let values = headers
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case("cache-control"))
        .flat_map(|(_, value)| value.split(','));
    for directive in values {
        let (name, argument) = match directive.split_once('=') {
            Some((name, argument)) => (name.trim(), Some(argument.trim())),
            None => (directive.trim(), None),
        };
        if name.eq_ignore_ascii_case("no-store") || name.eq_ignore_ascii_case("no-cache") {
            shortest = true;
        } else if name.eq_ignore_ascii_case("max-age") {
            // RFC 9111 §4.2.1: invalid or repeated freshness information means stale.
            let seconds = argument.and_then(|a| delta_seconds(a.trim_matches('"')));
            match (max_age, seconds) {
                (None, Some(seconds)) => max_age = Some(seconds),
                _ => shortest = true,
            }
        }
    }
    let lifetime = match max_age {
        _ if shortest => policy.min_ttl,
        Some(max_age) => {
            let age = headers
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case("age"))
                .and_then(|(_, value)| delta_seconds(value.trim()))
                .unwrap_or(0);
            max_age.saturating_sub(age)
        }
        None => policy.default_ttl,
    };
    // Not `clamp`, which panics when a misconfigured policy has min_ttl > max_ttl.
    lifetime.max(policy.min_ttl).min(policy.max_ttl)
}

/// RFC 9111 §1.2.2 `delta-seconds = 1*DIGIT`, capped at 2^31.
fn delta_seconds(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(text.parse().unwrap_or(u64::MAX).min(DELTA_SECONDS_CAP))
}

/// The URI without query or fragment, for logs (a query could carry a credential).
fn without_query(uri: &str) -> &str {
    uri.split(['?', '#']).next().unwrap_or_default()
}

fn lookup(set: &JwkSet, kid: Option<&str>, alg: Alg) -> Option<PublicKey> {
    set.find(kid, alg)
        .next()
        .map(|jwk| jwk.public_key().clone())
}

/// RFC 7517 §4.7: "The key in the first certificate MUST match the public key represented by
/// other members of the JWK." True when the JWK has no `x5c`, or its first certificate parses and
/// carries exactly the JWK's key. The chain, validity dates and extensions are NOT checked.
pub fn x5c_consistent(jwk: &Jwk) -> bool {
    let Some(chain) = &jwk.x5c else {
        return true;
    };
    chain
        .first()
        .and_then(|der| certificate_key(der))
        .is_some_and(|key| &key == jwk.public_key())
}

fn certificate_key(der: &[u8]) -> Option<PublicKey> {
    if der.len() > MAX_CERT_BYTES {
        return None;
    }
    let cert = Certificate::from_der(der).ok()?;
    let spki = cert.tbs_certificate.subject_public_key_info.to_der().ok()?;
    public_key_from_spki(&spki).ok()
}

/// Keys configured inline for an issuer: a fixed JWK Set, never refreshed. JWKs whose `x5c` does
/// not match their key are dropped, as for [`RemoteJwks`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InlineJwks {
    keys: JwkSet,
}

impl InlineJwks {
    /// The usable keys of `keys`.
    pub fn new(mut keys: JwkSet) -> Self {
        keys.keys.retain(x5c_consistent);
        Self { keys }
    }

    /// The keys kept.
    pub fn keys(&self) -> &JwkSet {
        &self.keys
    }

    /// The key for `kid` and `alg`, chosen as by [`RemoteJwks::key`];
    /// [`TokenFault::UnknownKey`] when there is none.
    pub fn key(&self, kid: Option<&str>, alg: Alg) -> Result<PublicKey, Error> {
        lookup(&self.keys, kid, alg).ok_or(Error::InvalidToken(TokenFault::UnknownKey))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn ttl_follows_max_age_within_bounds() {
        let p = JwksPolicy::default();
        let ttl_of = |pairs: &[(&str, &str)]| ttl(&headers(pairs), &p);
        assert_eq!(ttl_of(&[]), 300);
        assert_eq!(ttl_of(&[("cache-control", "public, max-age=900")]), 900);
        assert_eq!(ttl_of(&[("cache-control", "max-age=5")]), 60);
        assert_eq!(ttl_of(&[("cache-control", "max-age=86400")]), 3600);
        assert_eq!(
            ttl_of(&[("cache-control", "max-age=99999999999999999999999")]),
            3600
        );
        assert_eq!(ttl_of(&[("Cache-Control", "MAX-AGE=\"120\"")]), 120);
        assert_eq!(
            ttl_of(&[("cache-control", "max-age=900"), ("age", "600")]),
            300
        );
        assert_eq!(
            ttl_of(&[("cache-control", "max-age=900"), ("age", "6000")]),
            60
        );
        assert_eq!(ttl_of(&[("cache-control", "no-store, max-age=900")]), 60);
        assert_eq!(ttl_of(&[("cache-control", "no-cache")]), 60);
        assert_eq!(ttl_of(&[("cache-control", "max-age=-1")]), 60);
        assert_eq!(ttl_of(&[("cache-control", "max-age=")]), 60);
        assert_eq!(
            ttl_of(&[
                ("cache-control", "max-age=900"),
                ("cache-control", "max-age=100")
            ]),
            60
        );
        let odd = JwksPolicy {
            min_ttl: 100,
            max_ttl: 10,
            ..JwksPolicy::default()
        };
        assert_eq!(ttl(&[], &odd), 10, "a misconfigured policy does not panic");
    }

    #[test]
    fn logs_never_show_the_query() {
        assert_eq!(
            without_query("https://idp.example/jwks?key=secret#x"),
            "https://idp.example/jwks"
        );
        assert_eq!(
            without_query("https://idp.example/jwks"),
            "https://idp.example/jwks"
        );
    }
}
