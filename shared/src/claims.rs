//! JWT claim checks for access tokens (RFC 7519 §4.1, RFC 9068 §4), as pure functions of the
//! header, the claims and a `now` the caller supplies (seconds since the Unix epoch).
//!
//! Checked: `typ`, `iss`, `aud`, `exp`, `nbf`, `iat`, a maximum age and the presence of required
//! claims. Not checked: `sub`, `client_id`, `jti` replay, `scope` / authorization — name them in
//! [`ClaimRules::required_claims`] to require their presence; their values are policy's business.

use crate::error::TokenFault;
use crate::jws::Header;
use serde_json::{Map, Value};

/// Default clock-skew allowance in seconds. RFC 7519 §4.1.4 allows "some small leeway, usually no
/// more than a few minutes"; 60 s covers NTP-synced edge nodes and issuers without widening the
/// replay window much.
pub const DEFAULT_LEEWAY: u64 = 60;

/// What one issuer's tokens must satisfy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimRules {
    /// The exact `iss` value (RFC 7519 §4.1.1; compared as a plain string, no URL normalization).
    pub issuer: String,
    /// Accepted audiences; a token's `aud` must contain at least one. An empty list accepts none.
    pub audiences: Vec<String>,
    /// Clock-skew allowance in seconds for `exp`, `nbf`, `iat` and `max_age`.
    pub leeway: u64,
    /// Required `typ`, e.g. `at+jwt` (RFC 9068 §2.1). Compared case-insensitively, ignoring an
    /// `application/` prefix on either side (RFC 7515 §4.1.9).
    pub require_typ: Option<String>,
    /// Largest accepted age (`now - iat`) in seconds; when set, `iat` is required.
    pub max_age: Option<u64>,
    /// Claims that must be present (any value).
    pub required_claims: Vec<String>,
}

impl ClaimRules {
    /// Rules for one issuer and its audiences, with [`DEFAULT_LEEWAY`] and nothing else required.
    pub fn new(issuer: impl Into<String>, audiences: Vec<String>) -> ClaimRules {
        ClaimRules {
            issuer: issuer.into(),
            audiences,
            leeway: DEFAULT_LEEWAY,
            require_typ: None,
            max_age: None,
            required_claims: Vec::new(),
        }
    }
}

/// Checks the header's `typ` and the claims against `rules` at time `now`.
///
/// Faults: [`TokenFault::WrongType`] for a missing or different `typ`; [`TokenFault::UnknownIssuer`];
/// [`TokenFault::WrongAudience`]; [`TokenFault::Expired`] when `now > exp + leeway` or `exp` is
/// missing; [`TokenFault::NotYetValid`] when `nbf` or `iat` is later than `now + leeway`;
/// [`TokenFault::TooOld`] when `now > iat + max_age + leeway`; [`TokenFault::MissingClaim`] for a
/// missing `iss`, `aud`, required claim, or `iat` when `max_age` is set; [`TokenFault::Malformed`]
/// when `iss`, `aud`, `exp`, `nbf` or `iat` has the wrong JSON type.
pub fn check(
    header: &Header,
    claims: &Map<String, Value>,
    rules: &ClaimRules,
    now: u64,
) -> Result<(), TokenFault> {
    if let Some(required) = &rules.require_typ {
        let typ = header.typ.as_deref().ok_or(TokenFault::WrongType)?;
        if !media_type_eq(typ, required) {
            return Err(TokenFault::WrongType);
        }
    }

    match claims.get("iss") {
        None => return Err(TokenFault::MissingClaim),
        Some(Value::String(iss)) if *iss == rules.issuer => {}
        Some(Value::String(_)) => return Err(TokenFault::UnknownIssuer),
        Some(_) => return Err(TokenFault::Malformed),
    }

    let accepted = |aud: &str| rules.audiences.iter().any(|a| a == aud);
    let audience_ok = match claims.get("aud") {
        None => return Err(TokenFault::MissingClaim),
        Some(Value::String(aud)) => accepted(aud),
        Some(Value::Array(items)) => {
            let mut any = false;
            for item in items {
                any |= accepted(item.as_str().ok_or(TokenFault::Malformed)?);
            }
            any
        }
        Some(_) => return Err(TokenFault::Malformed),
    };
    if !audience_ok {
        return Err(TokenFault::WrongAudience);
    }
    check_times(claims, rules, now)?;

    if rules
        .required_claims
        .iter()
        .any(|name| !claims.contains_key(name))
    {
        return Err(TokenFault::MissingClaim);
    }
    Ok(())
}

/// The checks of [`check`] that depend on `now`: `exp` (required), `nbf`, `iat` and the maximum
/// age, with the rules' leeway. A token that passed [`check`] once is still valid at `now` exactly
/// when these pass (the verified-token cache re-runs them on every hit).
pub fn check_times(
    claims: &Map<String, Value>,
    rules: &ClaimRules,
    now: u64,
) -> Result<(), TokenFault> {
    let now_f = now as f64;
    let leeway = rules.leeway as f64;
    let exp = numeric_date(claims, "exp")?.ok_or(TokenFault::Expired)?;
    if now_f > exp + leeway {
        return Err(TokenFault::Expired);
    }
    if numeric_date(claims, "nbf")?.is_some_and(|nbf| nbf > now_f + leeway) {
        return Err(TokenFault::NotYetValid);
    }
    let iat = numeric_date(claims, "iat")?;
    if iat.is_some_and(|iat| iat > now_f + leeway) {
        return Err(TokenFault::NotYetValid);
    }
    if let Some(max_age) = rules.max_age {
        let iat = iat.ok_or(TokenFault::MissingClaim)?;
        if now_f > iat + max_age as f64 + leeway {
            return Err(TokenFault::TooOld);
        }
    }
    Ok(())
}

/// RFC 7519 §2 NumericDate: a JSON number, integer or not. Integers are exact below 2^53 s
/// (year 285 million); beyond that the rounding cannot matter.
fn numeric_date(claims: &Map<String, Value>, name: &str) -> Result<Option<f64>, TokenFault> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => n.as_f64().map(Some).ok_or(TokenFault::Malformed),
        Some(_) => Err(TokenFault::Malformed),
    }
}

/// RFC 7515 §4.1.9: `typ` is a media type, compared case-insensitively, where `application/` may be
/// omitted.
fn media_type_eq(a: &str, b: &str) -> bool {
    fn short(t: &str) -> &str {
        match t.get(..12) {
            Some(prefix) if prefix.eq_ignore_ascii_case("application/") => t.get(12..).unwrap_or(t),
            _ => t,
        }
    }
    short(a).eq_ignore_ascii_case(short(b))
}
