//! Warm-up push for the introspection cache: the authorization server (or a job acting for it)
//! pushes `token → claims` entries into the shared cache tier ahead of use, so that a new gateway
//! instance never starts cold. Disabled by default (`introspection.warmup`).
//!
//! The request is authenticated by its body: a compact JWS signed with the introspection issuer's
//! keys (the same keys that sign RFC 9701 answers), `typ` `edgeward-warmup+jwt`, `iss` = the issuer,
//! `aud` = the gateway's client id, `iat` within [`MAX_SKEW`] of now. Claims:
//! `{"entries":[{"token_hash":"<base64url SHA-256 of the token>","claims":{"active":true,"exp":…,…}}]}`.
//! Raw tokens never travel in a push. Not checked: `jti` replay — a replayed push only re-stores
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

/// Verifies a push and stores its entries. Answers 200 with the count stored, 401 when the push
/// is not authentic, 400 when it is malformed.
pub async fn accept<P: Platform>(
    platform: &P,
    tokens: &TokenVerifier,
    introspector: &Introspector,
    issuer: &str,
    client_id: &str,
    body: &[u8],
    now: u64,
) -> Result<Response, Error> {
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
        let (hash, claims) = parse_entry(entry).ok_or(Error::InvalidRequest("malformed entry"))?;
        let exp = claims.get("exp").and_then(Value::as_u64).unwrap_or(0);
        if exp > now {
            introspector.warm(platform, hash, claims, exp, now).await;
            stored += 1;
        }
    }
    Ok(Response::json(200, &json!({ "stored": stored })))
}

fn parse_entry(entry: &Value) -> Option<([u8; 32], serde_json::Map<String, Value>)> {
    let hash = Base64UrlUnpadded::decode_vec(entry.get("token_hash")?.as_str()?).ok()?;
    let hash: [u8; 32] = hash.try_into().ok()?;
    let claims = entry.get("claims")?.as_object()?.clone();
    (claims.get("active") == Some(&Value::Bool(true))).then_some((hash, claims))
}
