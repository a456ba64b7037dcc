//! The policy stage: what a verified token must carry for the matched route, and which origin it
//! goes to. Pure functions of the route, the verified token and `now`.
//!
//! Checked, in this order (the first failure answers):
//! 1. allowed issuers (exact `iss`) and token kind → 403 `insufficient_scope`;
//! 2. scopes: `scopes_all` / `scopes_any` against the `scope` claim, a space-separated string
//!    (RFC 9068 §2.2.3, RFC 8693 §4.2), or, when there is no `scope`, the `scp` claim (an array of
//!    strings or a space-separated string) → 403 `insufficient_scope` with the route's scopes
//!    (RFC 6750 §3.1);
//! 3. claim rules (`equals`, `one_of`, `contains`, `exists`) → 403 `insufficient_scope`;
//! 4. step-up (RFC 9470 §3): `acr` one of `acr_values`, `auth_time` within `max_age` seconds of
//!    `now` → 401 `insufficient_user_authentication` with `acr_values` / `max_age`.
//!
//! Scopes and claims are checked before step-up: stepping up does not fix a missing scope, so the
//! final answer comes first. Not checked: scope semantics beyond exact string match (no wildcards,
//! no hierarchies), `amr`, and `auth_time` in the future beyond the issuer's own `iat` leeway (a
//! future `auth_time` counts as age 0). Values compared are JSON values: `"1"` is not `1`.

use crate::dpop::DpopMode;
use crate::error::Error;
use crate::token::TokenKind;
use crate::token::VerifiedToken;
use serde::Deserialize;
use serde_json::{Map, Value};

/// Checks `token` against the requirements of `route` at time `now` (Unix seconds).
pub fn check(route: &Route, token: &VerifiedToken, now: u64) -> Result<(), Error> {
    let forbidden = |description| Error::InsufficientScope {
        scope: required_scopes(route),
        description,
    };
    if !route.issuers.is_empty() && !route.issuers.contains(&token.issuer) {
        return Err(forbidden("issuer not accepted on this route"));
    }
    if route.token_kind.is_some_and(|kind| kind != token.kind) {
        return Err(forbidden("token kind not accepted on this route"));
    }
    let scopes = granted_scopes(&token.claims);
    if !route
        .scopes_all
        .iter()
        .all(|s| scopes.contains(&s.as_str()))
    {
        return Err(forbidden("insufficient scope"));
    }
    if !route.scopes_any.is_empty()
        && !route
            .scopes_any
            .iter()
            .any(|s| scopes.contains(&s.as_str()))
    {
        return Err(forbidden("insufficient scope"));
    }
    if !route.claims.iter().all(|rule| holds(rule, &token.claims)) {
        return Err(forbidden("claim requirement not met"));
    }
    step_up(route, &token.claims, now)
}

/// RFC 9470 §3: the authentication context class and age.
fn step_up(route: &Route, claims: &Map<String, Value>, now: u64) -> Result<(), Error> {
    let challenge = |description| Error::InsufficientUserAuthentication {
        description,
        acr_values: (!route.acr_values.is_empty()).then(|| route.acr_values.join(" ")),
        max_age: route.max_age,
    };
    if !route.acr_values.is_empty() {
        let acr = claims.get("acr").and_then(Value::as_str);
        if !acr.is_some_and(|acr| route.acr_values.iter().any(|v| v == acr)) {
            return Err(challenge("a different authentication level is required"));
        }
    }
    if let Some(max_age) = route.max_age {
        let auth_time = claims.get("auth_time").and_then(Value::as_f64);
        let fresh = auth_time.is_some_and(|t| t.is_finite() && (now as f64) - t <= max_age as f64);
        if !fresh {
            return Err(challenge("more recent authentication is required"));
        }
    }
    Ok(())
}

/// The scopes the route names, for the `scope` auth-param (RFC 6750 §3).
fn required_scopes(route: &Route) -> Option<String> {
    let all: Vec<&str> = route
        .scopes_all
        .iter()
        .chain(&route.scopes_any)
        .map(String::as_str)
        .collect();
    (!all.is_empty()).then(|| all.join(" "))
}

/// The scopes a token grants: `scope` (space-separated string), else `scp` (array or string).
pub fn granted_scopes(claims: &Map<String, Value>) -> Vec<&str> {
    match (claims.get("scope"), claims.get("scp")) {
        (Some(Value::String(scope)), _) => scope.split(' ').filter(|s| !s.is_empty()).collect(),
        (Some(_), _) => Vec::new(),
        (None, Some(Value::String(scp))) => scp.split(' ').filter(|s| !s.is_empty()).collect(),
        (None, Some(Value::Array(items))) => items.iter().filter_map(Value::as_str).collect(),
        (None, _) => Vec::new(),
    }
}

/// A claim by name, or by JSON Pointer (RFC 6901) when the name starts with `/`.
pub fn claim<'a>(claims: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    if name.starts_with('/') {
        let (first, rest) = match name.get(1..)?.split_once('/') {
            Some((first, rest)) => (first, Some(rest)),
            None => (name.get(1..)?, None),
        };
        let first = first.replace("~1", "/").replace("~0", "~");
        let top = claims.get(&first)?;
        match rest {
            None => Some(top),
            Some(rest) => top.pointer(&format!("/{rest}")),
        }
    } else {
        claims.get(name)
    }
}

fn holds(rule: &ClaimRule, claims: &Map<String, Value>) -> bool {
    let value = claim(claims, &rule.claim);
    if let Some(exists) = rule.exists {
        return value.is_some() == exists;
    }
    let Some(value) = value else {
        return false;
    };
    if let Some(expected) = &rule.equals {
        return value == expected;
    }
    if let Some(options) = &rule.one_of {
        return options.contains(value);
    }
    if let Some(member) = &rule.contains {
        return value.as_array().is_some_and(|items| items.contains(member));
    }
    false
}

/// Claim-based routing: `origins[value of the claim]` when the claim is a string with an entry,
/// else `default`. The URLs were validated when the configuration loaded.
pub fn origin_for<'a>(by_claim: &'a OriginByClaim, claims: &Map<String, Value>) -> &'a str {
    claim(claims, &by_claim.claim)
        .and_then(Value::as_str)
        .and_then(|value| by_claim.origins.get(value))
        .unwrap_or(&by_claim.default)
}

/// One route: which requests it matches and what they need.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// `/exact/path`, or a prefix ending in `/*` (`/api/*` matches `/api` and everything below).
    pub path: String,
    /// Methods this route matches; empty means all.
    #[serde(default)]
    pub methods: Vec<String>,
    /// True for routes that need no token (health checks, public docs). Must be explicit.
    #[serde(default)]
    pub anonymous: bool,
    /// DPoP on this route (RFC 9449): `required`, `optional` (the default) or `disabled`.
    #[serde(default)]
    pub dpop: DpopMode,
    /// Every one of these scopes is required (`scope` / `scp` claim, RFC 9068 §2.2.3).
    #[serde(default)]
    pub scopes_all: Vec<String>,
    /// At least one of these scopes is required (when non-empty).
    #[serde(default)]
    pub scopes_any: Vec<String>,
    /// Claim rules, all of which must hold.
    #[serde(default)]
    pub claims: Vec<ClaimRule>,
    /// Only tokens from these issuers (exact `iss`); empty means any configured issuer.
    #[serde(default)]
    pub issuers: Vec<String>,
    /// The kind of access token this route accepts. Default: any.
    #[serde(default)]
    pub token_kind: Option<TokenKind>,
    /// Step-up (RFC 9470 §3): the token's `acr` must be one of these (when non-empty).
    #[serde(default)]
    pub acr_values: Vec<String>,
    /// Step-up (RFC 9470 §3): the token's `auth_time` must be at most this many seconds ago.
    #[serde(default)]
    pub max_age: Option<u64>,
    /// Pick the origin from a claim value (data sovereignty). Default: the top-level `origin`.
    #[serde(default)]
    pub origin_by_claim: Option<OriginByClaim>,
    /// Token exchange for the origin (RFC 8693): the origin receives a token issued for it, not
    /// the client's. Needs the top-level `token_exchange` section.
    #[serde(default)]
    pub exchange: Option<crate::token_exchange::ExchangeRule>,
    /// Token handler: without an `Authorization` field, take the access token from the encrypted
    /// access-token cookie (after the CSRF checks). Needs a `token_handler` section.
    #[serde(default)]
    pub credential_cookie: bool,
    /// The decision point (`authorization.decision_points`) asked after this stage, before
    /// forwarding (the authorize stage). Default: none.
    #[serde(default)]
    pub authorize: Option<String>,
}

crate::bake::bake_struct!(Route {
    path,
    methods,
    anonymous,
    dpop,
    scopes_all,
    scopes_any,
    claims,
    issuers,
    token_kind,
    acr_values,
    max_age,
    origin_by_claim,
    exchange,
    credential_cookie,
    authorize,
});

/// One claim requirement: the claim (a top-level name, or a JSON Pointer such as
/// `/realm_access/roles` when it starts with `/`) and exactly one test.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimRule {
    /// Claim name, or a JSON Pointer (RFC 6901) starting with `/`.
    pub claim: String,
    /// The claim equals this JSON value exactly.
    #[serde(default)]
    pub equals: Option<serde_json::Value>,
    /// The claim equals one of these JSON values.
    #[serde(default)]
    pub one_of: Option<Vec<serde_json::Value>>,
    /// The claim is an array that contains this JSON value.
    #[serde(default)]
    pub contains: Option<serde_json::Value>,
    /// `true`: the claim is present; `false`: it is absent.
    #[serde(default)]
    pub exists: Option<bool>,
}

crate::bake::bake_struct!(ClaimRule {
    claim,
    equals,
    one_of,
    contains,
    exists
});

/// Claim-based origin selection: `origins[claim value]`, else `default`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OriginByClaim {
    /// The claim whose string value selects the origin.
    pub claim: String,
    /// Claim value → origin base URL.
    pub origins: std::collections::BTreeMap<String, String>,
    /// Origin when the claim is absent, not a string, or not in `origins`.
    pub default: String,
}

crate::bake::bake_struct!(OriginByClaim {
    claim,
    origins,
    default
});

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::TokenKind;
    use serde_json::json;

    const NOW: u64 = 1_800_000_000;

    fn token(claims: Value) -> VerifiedToken {
        VerifiedToken {
            issuer: "https://issuer.test".into(),
            claims: claims.as_object().unwrap().clone(),
            kind: TokenKind::Jwt,
            phantom_jwt: None,
            ath: None,
        }
    }

    fn route(json: Value) -> Route {
        let mut value = json;
        value["path"] = json!("/x");
        serde_json::from_value(value).unwrap()
    }

    fn code(result: Result<(), Error>) -> &'static str {
        match result {
            Ok(()) => "ok",
            Err(e) => e.code(),
        }
    }

    #[test]
    fn scopes_from_scope_string_or_scp_array() {
        let r = route(json!({"scopes_all": ["read", "write"]}));
        assert_eq!(
            code(check(
                &r,
                &token(json!({"scope": "write  read other"})),
                NOW
            )),
            "ok"
        );
        assert_eq!(
            code(check(&r, &token(json!({"scp": ["read", "write"]})), NOW)),
            "ok"
        );
        assert_eq!(
            code(check(&r, &token(json!({"scp": "read write"})), NOW)),
            "ok"
        );
        let missing = check(&r, &token(json!({"scope": "read"})), NOW).unwrap_err();
        assert_eq!(
            missing,
            Error::InsufficientScope {
                scope: Some("read write".into()),
                description: "insufficient scope"
            }
        );
        // `scope` wins over `scp`; a non-string `scope` grants nothing.
        assert_ne!(
            code(check(
                &r,
                &token(json!({"scope": "read", "scp": ["write"]})),
                NOW
            )),
            "ok"
        );
        assert_ne!(
            code(check(&r, &token(json!({"scope": ["read", "write"]})), NOW)),
            "ok"
        );
        let any = route(json!({"scopes_any": ["admin", "ops"]}));
        assert_eq!(
            code(check(&any, &token(json!({"scope": "ops"})), NOW)),
            "ok"
        );
        assert_eq!(
            code(check(&any, &token(json!({"scope": "opsx"})), NOW)),
            "ERR_POLICY_INSUFFICIENT_SCOPE"
        );
    }

    #[test]
    fn claim_rules() {
        let claims =
            json!({"tenant": "acme", "roles": ["a", "b"], "n": 1, "realm": {"roles": ["x"]}});
        let t = token(claims);
        let cases = [
            (json!({"claim": "tenant", "equals": "acme"}), true),
            (json!({"claim": "tenant", "equals": "other"}), false),
            (json!({"claim": "n", "equals": "1"}), false),
            (json!({"claim": "tenant", "one_of": ["x", "acme"]}), true),
            (json!({"claim": "tenant", "one_of": ["x"]}), false),
            (json!({"claim": "roles", "contains": "b"}), true),
            (json!({"claim": "roles", "contains": "c"}), false),
            (json!({"claim": "tenant", "contains": "acme"}), false),
            (json!({"claim": "roles", "exists": true}), true),
            (json!({"claim": "missing", "exists": true}), false),
            (json!({"claim": "missing", "exists": false}), true),
            (json!({"claim": "missing", "equals": null}), false),
            (json!({"claim": "/realm/roles", "contains": "x"}), true),
            (json!({"claim": "/realm/nope", "exists": true}), false),
        ];
        for (rule, ok) in cases {
            let r = route(json!({ "claims": [rule.clone()] }));
            assert_eq!(check(&r, &t, NOW).is_ok(), ok, "{rule}");
        }
    }

    #[test]
    fn issuers_and_token_kind() {
        let t = token(json!({}));
        assert!(check(&route(json!({"issuers": ["https://issuer.test"]})), &t, NOW).is_ok());
        assert!(check(&route(json!({"issuers": ["https://other.test"]})), &t, NOW).is_err());
        assert!(check(&route(json!({"token_kind": "jwt"})), &t, NOW).is_ok());
        assert!(check(&route(json!({"token_kind": "opaque"})), &t, NOW).is_err());
    }

    #[test]
    fn step_up_acr_and_max_age() {
        let r = route(json!({"acr_values": ["urn:mfa", "phr"], "max_age": 300}));
        let good = json!({"acr": "phr", "auth_time": NOW - 300});
        assert!(check(&r, &token(good), NOW).is_ok());
        let err = check(&r, &token(json!({"acr": "pwd", "auth_time": NOW})), NOW).unwrap_err();
        assert_eq!(
            err,
            Error::InsufficientUserAuthentication {
                description: "a different authentication level is required",
                acr_values: Some("urn:mfa phr".into()),
                max_age: Some(300),
            }
        );
        let old = check(
            &r,
            &token(json!({"acr": "phr", "auth_time": NOW - 301})),
            NOW,
        );
        assert_eq!(code(old), "ERR_POLICY_STEP_UP_REQUIRED");
        let none = check(&r, &token(json!({"acr": "phr"})), NOW);
        assert_eq!(code(none), "ERR_POLICY_STEP_UP_REQUIRED");
        // Scope failures answer first: stepping up would not help.
        let both = route(json!({"scopes_all": ["a"], "acr_values": ["urn:mfa"]}));
        assert_eq!(
            code(check(&both, &token(json!({})), NOW)),
            "ERR_POLICY_INSUFFICIENT_SCOPE"
        );
    }

    #[test]
    fn claim_based_origin() {
        let r = route(json!({"origin_by_claim": {"claim": "region",
            "origins": {"eu": "https://eu.api", "us": "https://us.api"}, "default": "https://us.api"}}));
        let by = r.origin_by_claim.as_ref().unwrap();
        let pick = |claims: Value| origin_for(by, claims.as_object().unwrap()).to_owned();
        assert_eq!(pick(json!({"region": "eu"})), "https://eu.api");
        assert_eq!(pick(json!({"region": "us"})), "https://us.api");
        assert_eq!(pick(json!({"region": "mars"})), "https://us.api");
        assert_eq!(pick(json!({"region": ["eu"]})), "https://us.api");
        assert_eq!(pick(json!({})), "https://us.api");
    }
}
