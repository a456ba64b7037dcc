//! Remote decision points for the authorize stage ([`crate::authorize`]): the OPA Data API and
//! the OpenID AuthZEN 1.0 Access Evaluation API. Split like [`crate::introspection`]: [`request`]
//! builds the call, [`judge_opa`] / [`judge_authzen`] judge the answer into a [`Decision`] or an
//! [`AuthzFault`]; caching and single-flight are the stage's.
//!
//! - OPA Data API (`POST /v1/data/{path}`): the answer is `200 application/json`
//!   `{"result": …}`; the result is a boolean, or an OPA-Envoy-style object
//!   `{"allowed": bool, "headers": {name: value | [values]}, "http_status": n, "body": "…"}`
//!   (`body`, or a string `reason`, is the deny reason; `http_status` is read as nothing: a deny is
//!   always 403, so a policy can never make the gateway answer 2xx or 5xx). An undefined result
//!   (`{}`: no rule at that path matched) is a deny, as OPA-Envoy treats it.
//! - AuthZEN 1.0 (§6, Access Evaluation API): the answer is `200 application/json`
//!   `{"decision": bool, "context": {…}}`; `context.reason_user` (a string, or an object of
//!   strings by language, `en` first) is the deny reason, `context.headers` like OPA's `headers`.
//!
//! Everything else is a fault (fail closed, 503): another status, another content type, invalid
//! JSON or duplicate member names, a result of another shape, a header name that is not an RFC
//! 9110 token or a value with control characters, more than [`MAX_DECISION_HEADERS`] headers.
//! Not checked here: whether the headers may reach the origin (the forward stage's strip rules,
//! applied by the pipeline).

use crate::error::AuthzFault;
use crate::http::Headers;
use crate::platform::{FetchRequest, FetchResponse};
use crate::token::VerifiedToken;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::borrow::Cow;
use url::Url;

/// Most header fields one decision may add to the forwarded request.
pub const MAX_DECISION_HEADERS: usize = 32;
/// Longest deny reason passed to the client, in bytes.
pub const MAX_REASON_BYTES: usize = 200;

/// How an AuthZEN 1.0 Access Evaluation request is built (§6.1): subject = the token's subject
/// with selected claims, action = the method, resource = the path with the route.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthzenMapping {
    /// `subject.type`.
    pub subject_type: String,
    /// The claim whose string value is `subject.id` (`""` when the token has none).
    pub subject_id_claim: String,
    /// Claims copied into `subject.properties` when present.
    pub subject_claims: Vec<String>,
    /// `resource.type`.
    pub resource_type: String,
}

crate::bake::bake_struct!(AuthzenMapping {
    subject_type,
    subject_id_claim,
    subject_claims,
    resource_type,
});

impl Default for AuthzenMapping {
    fn default() -> Self {
        AuthzenMapping {
            subject_type: "user".into(),
            subject_id_claim: "sub".into(),
            subject_claims: Vec::new(),
            resource_type: "route".into(),
        }
    }
}

/// Where a decision point is asked, and in which format.
#[derive(Debug, Clone)]
pub enum Endpoint {
    /// OPA Data API: the full `{base}/v1/data/{path}` URL.
    Opa {
        /// The URL the input is posted to.
        url: String,
    },
    /// AuthZEN Access Evaluation: the full `{base}/access/v1/evaluation` URL and the mapping.
    Authzen {
        /// The URL the request is posted to.
        url: String,
        /// How the request is built.
        mapping: AuthzenMapping,
    },
    /// Embedded Rego (feature `policy`): the compiled policy, evaluated in the function.
    #[cfg(feature = "policy")]
    Rego(std::sync::Arc<crate::rego::Policy>),
    /// Embedded Rego whose source is in a platform variable (`policy_var`): replaced by
    /// [`Endpoint::Rego`] when the gateway loads (`config::decision_point_secrets`).
    #[cfg(feature = "policy")]
    RegoVariable {
        /// The variable's name.
        name: String,
    },
    /// Embedded Rego compiled into the build (`policy_builtin`): replaced by [`Endpoint::Rego`]
    /// when the gateway loads (`config::decision_point_secrets`).
    #[cfg(feature = "policy")]
    RegoBuiltin {
        /// The policy's name.
        name: String,
    },
}

/// A decision point's typed settings, built once by `config` from `DecisionPointConfig`.
#[derive(Debug, Clone)]
pub struct PointSettings {
    /// The name routes use.
    pub name: String,
    /// Where and how it is asked.
    pub endpoint: Endpoint,
    /// Fetch timeout in milliseconds.
    pub timeout_ms: u32,
    /// Seconds an allow is reused.
    pub cache_ttl: u64,
    /// Seconds a deny is reused.
    pub negative_ttl: u64,
    /// Decisions kept per isolate.
    pub cache_entries: usize,
    /// Lower-case names of the request fields put in the input.
    pub headers: Vec<String>,
    /// Largest answer read, in bytes.
    pub max_answer_bytes: usize,
    /// The bearer token the decision point wants (`authorization_secret`), read when the
    /// configuration loads.
    pub bearer: Option<BearerToken>,
}

/// A decision point's bearer token (a platform secret): its `Debug` never shows the value.
#[derive(Clone)]
pub struct BearerToken(pub String);

impl std::fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BearerToken(…)")
    }
}

/// The request as the decision point sees it (before the token).
pub struct Facts<'a> {
    /// The request method.
    pub method: &'a str,
    /// The request URL as the gateway received it.
    pub url: &'a Url,
    /// The client's fields (only the configured ones are read).
    pub headers: &'a Headers,
    /// The matched route's `path` pattern.
    pub route: &'a str,
}

/// The configured fields the request has, `name → value`. Maps here are filled by `insert`, not
/// `collect`: collecting into a `BTreeMap` links a stable sort per element type (≈ 30 KB of Wasm).
pub(crate) fn selected_headers(names: &[String], headers: &Headers) -> Map<String, Value> {
    let mut selected = Map::new();
    for name in names {
        let values: Vec<&str> = headers.get_all(name).collect();
        if !values.is_empty() {
            selected.insert(name.clone(), Value::String(values.join(", ")));
        }
    }
    selected
}

/// A decision point's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request may pass.
    pub allowed: bool,
    /// Fields to add to the forwarded request (lower-case names; only on an allow).
    pub headers: Vec<(String, String)>,
    /// A deny reason fit for a quoted challenge parameter.
    pub reason: Option<String>,
}

impl Decision {
    /// The shared-tier form.
    pub(crate) fn to_json(&self) -> Value {
        let headers: Vec<Value> = self.headers.iter().map(|(n, v)| json!([n, v])).collect();
        json!({ "allowed": self.allowed, "headers": headers, "reason": self.reason })
    }

    /// Reads the shared-tier form back; `None` for anything else.
    pub(crate) fn from_json(value: &Value) -> Option<Decision> {
        let allowed = value.get("allowed")?.as_bool()?;
        let mut headers = Vec::new();
        for pair in value.get("headers")?.as_array()? {
            let name = pair.get(0)?.as_str()?;
            let field = pair.get(1)?.as_str()?;
            if !is_token(name) || !is_field_value(field) {
                return None;
            }
            headers.push((name.to_owned(), field.to_owned()));
        }
        let reason = value
            .get("reason")
            .and_then(Value::as_str)
            .map(str::to_owned);
        Some(Decision {
            allowed,
            headers,
            reason: reason.filter(|r| printable(r)),
        })
    }
}

/// The call: `POST` of `body` (JSON) to the decision point's endpoint.
pub fn request(settings: &PointSettings, body: Vec<u8>) -> FetchRequest {
    let url = match &settings.endpoint {
        Endpoint::Opa { url } | Endpoint::Authzen { url, .. } => url.clone(),
        #[cfg(feature = "policy")]
        Endpoint::Rego(_) | Endpoint::RegoVariable { .. } | Endpoint::RegoBuiltin { .. } => {
            String::new()
        }
    };
    let mut headers = vec![
        ("content-type".into(), "application/json".into()),
        ("accept".into(), "application/json".into()),
    ];
    if let Some(BearerToken(token)) = &settings.bearer {
        headers.push(("authorization".into(), format!("Bearer {token}")));
    }
    FetchRequest {
        method: "POST",
        url,
        headers,
        body,
        timeout_ms: settings.timeout_ms,
        max_body_bytes: settings.max_answer_bytes,
    }
}

/// AuthZEN 1.0 §6.1 Access Evaluation request: `subject` (`type`, `id` from the configured claim,
/// `properties` with the selected claims and the token's issuer), `action` (`name` = method),
/// `resource` (`type`, `id` = path, `properties.route` = the route pattern, `parsed_path`,
/// `parsed_query`), `context` (`headers`: the configured fields).
pub fn authzen_request(
    mapping: &AuthzenMapping,
    header_names: &[String],
    facts: &Facts<'_>,
    token: Option<&VerifiedToken>,
) -> Value {
    let claims = token.map(|t| &t.claims);
    let id = claims
        .and_then(|c| c.get(&mapping.subject_id_claim))
        .and_then(Value::as_str)
        .unwrap_or_default();
    let mut properties = Map::new();
    for name in &mapping.subject_claims {
        if let Some(value) = claims.and_then(|c| c.get(name)) {
            properties.insert(name.clone(), value.clone());
        }
    }
    if let Some(token) = token {
        properties.insert("issuer".into(), Value::String(token.issuer.clone()));
    }
    let segments = parsed_path(facts.url);
    let query = parsed_query(facts.url);
    json!({
        "subject": { "type": mapping.subject_type, "id": id, "properties": properties },
        "action": { "name": facts.method },
        "resource": {
            "type": mapping.resource_type,
            "id": facts.url.path(),
            "properties": { "route": facts.route, "parsed_path": segments, "parsed_query": query },
        },
        "context": {
            "headers": selected_headers(header_names, facts.headers),
        },
    })
}

/// The path's segments, percent-decoded, without the empty ones (`/a/b` → `["a", "b"]`): the
/// OPA input's `parsed_path` and the AuthZEN request's `resource.properties.parsed_path`.
pub(crate) fn parsed_path(url: &Url) -> Vec<Cow<'_, str>> {
    url.path_segments()
        .map(|segments| {
            segments
                .filter(|s| !s.is_empty())
                .map(|s| percent_encoding::percent_decode_str(s).decode_utf8_lossy())
                .collect()
        })
        .unwrap_or_default()
}

/// Query parameters, name → every value in order (`application/x-www-form-urlencoded`): the OPA
/// input's `parsed_query` and the AuthZEN request's `resource.properties.parsed_query`. Every value:
/// a policy that saw one of several would judge `x=2` where the origin may read `x=1`. A
/// serde_json `Map` (sorted), as the other maps of the documents: a map type of its own here
/// would link its own code (≈ 1 KB of Wasm).
pub(crate) fn parsed_query(url: &Url) -> Map<String, Value> {
    let mut query: Map<String, Value> = Map::new();
    for (name, value) in url.query_pairs() {
        let values = query
            .entry(name.into_owned())
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(values) = values {
            values.push(Value::String(value.into_owned()));
        }
    }
    query
}

/// The JSON object of a `200 application/json` answer.
fn answer_object(answer: &FetchResponse) -> Result<Map<String, Value>, AuthzFault> {
    if answer.status != 200 {
        return Err(AuthzFault::Status);
    }
    let json = answer
        .headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("content-type"))
        .and_then(|(_, value)| value.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return Err(AuthzFault::Invalid);
    }
    crate::strict::object(&answer.body).ok_or(AuthzFault::Invalid)
}

/// Judges an OPA Data API answer (see the module documentation).
pub fn judge_opa(answer: &FetchResponse) -> Result<Decision, AuthzFault> {
    let body = answer_object(answer)?;
    judge_result(body.get("result"))
}

/// Judges a Rego result (`None`: undefined), as OPA's Data API returns it or as an embedded policy
/// evaluates it.
pub fn judge_result(result: Option<&Value>) -> Result<Decision, AuthzFault> {
    match result {
        None => Ok(Decision {
            allowed: false,
            headers: Vec::new(),
            reason: Some("decision undefined".into()),
        }),
        Some(Value::Bool(allowed)) => Ok(Decision {
            allowed: *allowed,
            headers: Vec::new(),
            reason: None,
        }),
        Some(Value::Object(result)) => {
            let allowed = result
                .get("allowed")
                .and_then(Value::as_bool)
                .ok_or(AuthzFault::Invalid)?;
            let reason = match result.get("body") {
                Some(Value::String(body)) => Some(body.as_str()),
                _ => result.get("reason").and_then(Value::as_str),
            };
            decision(allowed, result.get("headers"), reason)
        }
        Some(_) => Err(AuthzFault::Invalid),
    }
}

/// Judges an AuthZEN 1.0 Access Evaluation answer (see the module documentation).
pub fn judge_authzen(answer: &FetchResponse) -> Result<Decision, AuthzFault> {
    let body = answer_object(answer)?;
    let allowed = body
        .get("decision")
        .and_then(Value::as_bool)
        .ok_or(AuthzFault::Invalid)?;
    let context = match body.get("context") {
        None => None,
        Some(Value::Object(context)) => Some(context),
        Some(_) => return Err(AuthzFault::Invalid),
    };
    let reason = context
        .and_then(|c| c.get("reason_user"))
        .and_then(|r| match r {
            Value::String(text) => Some(text.as_str()),
            Value::Object(by_language) => by_language
                .get("en")
                .or_else(|| by_language.values().next())
                .and_then(Value::as_str),
            _ => None,
        });
    decision(allowed, context.and_then(|c| c.get("headers")), reason)
}

/// A decision from its parts; headers are kept only on an allow, the reason only on a deny.
fn decision(
    allowed: bool,
    headers: Option<&Value>,
    reason: Option<&str>,
) -> Result<Decision, AuthzFault> {
    let headers = match headers {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Object(fields)) => decision_headers(fields)?,
        Some(_) => return Err(AuthzFault::Invalid),
    };
    Ok(Decision {
        allowed,
        headers: if allowed { headers } else { Vec::new() },
        reason: reason.filter(|_| !allowed).and_then(shown_reason),
    })
}

/// `name → value` or `name → [values]`, each a valid field (RFC 9110 §5.1, §5.5).
fn decision_headers(fields: &Map<String, Value>) -> Result<Vec<(String, String)>, AuthzFault> {
    let mut headers = Vec::new();
    for (name, value) in fields {
        if !is_token(name) {
            return Err(AuthzFault::Invalid);
        }
        let values = match value {
            Value::String(one) => vec![one.as_str()],
            Value::Array(many) => many
                .iter()
                .map(Value::as_str)
                .collect::<Option<Vec<_>>>()
                .ok_or(AuthzFault::Invalid)?,
            _ => return Err(AuthzFault::Invalid),
        };
        for value in values {
            if !is_field_value(value) {
                return Err(AuthzFault::Invalid);
            }
            headers.push((name.to_ascii_lowercase(), value.to_owned()));
        }
    }
    if headers.len() > MAX_DECISION_HEADERS {
        return Err(AuthzFault::Invalid);
    }
    Ok(headers)
}

/// The reason as the client sees it: printable ASCII without `"` and `\` (it goes into a quoted
/// `error_description` challenge parameter, RFC 6750 §3), at most [`MAX_REASON_BYTES`]; any other
/// reason is dropped, not rewritten.
fn shown_reason(reason: &str) -> Option<String> {
    (printable(reason) && !reason.is_empty() && reason.len() <= MAX_REASON_BYTES)
        .then(|| reason.to_owned())
}

fn printable(text: &str) -> bool {
    text.bytes()
        .all(|b| matches!(b, 0x20..=0x21 | 0x23..=0x5b | 0x5d..=0x7e))
}

/// RFC 9110 §5.6.2 `token`.
fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// RFC 9110 §5.5 field value: visible ASCII, spaces and tabs inside, at most 8 KiB.
fn is_field_value(value: &str) -> bool {
    value.len() <= 8192
        && value.trim_matches([' ', '\t']) == value
        && value
            .bytes()
            .all(|b| b == b' ' || b == b'\t' || (0x21..=0x7e).contains(&b))
}
