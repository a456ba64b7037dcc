//! Warm-up push into the shared cache tier, ahead of use, so that a new gateway instance never
//! starts cold. Two kinds of entry: introspection answers (`introspection.warmup`): the
//! authorization server (or a job acting for it) pushes `token → claims`; and split-token entries
//! (`split_token`, [`crate::split_token`]): it publishes a JWT's `header.payload` under the hash of
//! its signature part. Disabled by default.
//!
//! The request is authenticated by its body: a compact JWS signed with the publisher's keys (with
//! `introspection.warmup` the introspection issuer, whose keys also sign RFC 9701 answers; else
//! `split_token.publisher`), `typ` `edgeward-warmup+jwt`, `iss` = the publisher, `aud` = the
//! gateway's client id (`split_token.audience`), `iat` within [`MAX_SKEW`] of now. Claims:
//! `{"entries":[{"token_hash":"<base64url SHA-256 of the token>","claims":{"active":true,"exp":…,…}},
//! {"signature_hash":"<base64url SHA-256 of a signature part>","header_payload":"<header>.<payload>"}]}`.
//! An entry of a kind this gateway does not enable is a `400`. Raw tokens never travel in a push. Not checked: `jti` replay — a replayed push only re-stores
//! the same entries, each bounded by its own `exp` and `max_ttl`.

use crate::access_token::TokenVerifier;
use crate::error::Error;
use crate::http::Response;
use crate::introspection::Introspector;
use crate::platform::Platform;
use base64ct::{Base64UrlUnpadded, Encoding};
use serde_json::{json, Value};

/// Path of the warm-up endpoint (`POST`, body `application/jwt`).
pub const WARMUP_PATH: &str = "/.well-known/edgeward/introspection/warm";
/// Largest accepted push body: 64 KiB holds a few hundred entries.
pub const MAX_PUSH_BYTES: usize = 64 * 1024;
/// Most entries in one push: bounds the work of one request.
pub const MAX_ENTRIES: usize = 256;
/// Accepted distance between the push's `iat` and now, in seconds.
pub const MAX_SKEW: u64 = 60;
/// `typ` of a push.
pub const WARMUP_TYP: &str = "edgeward-warmup+jwt";

/// The entry kinds a gateway accepts, and who signs its pushes.
#[derive(Clone, Copy)]
pub struct Accepts<'a> {
    /// Introspection answers, stored through this introspector (`introspection.warmup`).
    pub introspection: Option<&'a Introspector>,
    /// Split-token entries, published through this isolate's set (`split_token`).
    pub split_tokens: Option<&'a crate::split_token::SplitTokens>,
    /// `(iss, aud)` of an authentic push.
    pub publisher: (&'a str, &'a str),
}

/// Verifies a push and stores its entries. Answers 200 with the count stored, 401 when the push
/// is not authentic, 400 when it is malformed or carries a kind not accepted here.
pub async fn accept<P: Platform>(
    platform: &P,
    tokens: &TokenVerifier,
    accepts: Accepts<'_>,
    body: &[u8],
    now: u64,
) -> Result<Response, Error> {
    let (issuer, client_id) = accepts.publisher;
    let text = std::str::from_utf8(body).map_err(|_| Error::InvalidRequest("push is not a JWS"))?;
    let claims = tokens
        .verify_signed_answer(platform, text.trim(), (issuer, client_id, WARMUP_TYP), now)
        .await
        .map_err(|_| Error::InvalidToken(crate::error::TokenFault::BadSignature))?;
    let fresh = claims
        .get("iat")
        .and_then(Value::as_u64)
        .is_some_and(|iat| iat.abs_diff(now) <= MAX_SKEW);
    if !fresh {
        return Err(Error::InvalidToken(crate::error::TokenFault::TooOld));
    }
    let entries = match claims.get("entries") {
        Some(Value::Array(entries)) if entries.len() <= MAX_ENTRIES => entries,
        _ => return Err(Error::InvalidRequest("push needs at most 256 entries")),
    };
    let mut stored = 0;
    for entry in entries {
        if store(platform, accepts, entry, now).await? {
            stored += 1;
        }
    }
    Ok(Response::json(200, &json!({ "stored": stored })))
}

/// Stores one entry of an accepted kind: `Ok(true)` when stored, `Ok(false)` when already expired.
async fn store<P: Platform>(
    platform: &P,
    accepts: Accepts<'_>,
    entry: &Value,
    now: u64,
) -> Result<bool, Error> {
    let malformed = Error::InvalidRequest("malformed entry");
    if entry.get("signature_hash").is_some() {
        let split = accepts
            .split_tokens
            .ok_or(Error::InvalidRequest("split-token entries are not enabled"))?;
        let entry = crate::split_token::parse_entry(entry).ok_or(malformed)?;
        let fresh = entry.exp > now;
        if fresh {
            split.publish(platform, entry, now).await;
        }
        return Ok(fresh);
    }
    let introspector = accepts.introspection.ok_or(Error::InvalidRequest(
        "introspection entries are not enabled",
    ))?;
    let (hash, claims) = parse_entry(entry).ok_or(malformed)?;
    let exp = claims.get("exp").and_then(Value::as_u64).unwrap_or(0);
    if exp > now {
        introspector.warm(platform, hash, claims, exp, now).await;
    }
    Ok(exp > now)
}

fn parse_entry(entry: &Value) -> Option<([u8; 32], serde_json::Map<String, Value>)> {
    let hash = Base64UrlUnpadded::decode_vec(entry.get("token_hash")?.as_str()?).ok()?;
    let hash: [u8; 32] = hash.try_into().ok()?;
    let claims = entry.get("claims")?.as_object()?.clone();
    (claims.get("active") == Some(&Value::Bool(true))).then_some((hash, claims))
}
