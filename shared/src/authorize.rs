//! The authorize stage: externalized authorization. After the policy stage and before the forward
//! stage, a route that names a decision point (`routes[].authorize`) asks it whether this request
//! may pass, with the verified token as policy information — the Open Policy Agent beside Envoy
//! (`ext_authz`) pattern, or an OpenID AuthZEN 1.0 policy decision point.
//!
//! The question is one input document shaped like OPA-Envoy's ([`input`]), so existing policies
//! carry over: `attributes.request.http.{method, path, host, scheme, headers}` (the configured
//! fields only; credentials and cookies never), `parsed_path`, `parsed_query`, and `token` (the
//! verified claims, token kind, issuer and binding). The wire formats live in
//! [`crate::decision_point`] (build the call, judge the answer).
//!
//! Fail closed: a deny is 403 `insufficient_scope`; a decision point that is down, slow or answers
//! something else than the API's JSON is 503 with `Retry-After`, never a pass. Decisions are cached
//! for `cache_ttl_seconds` (denials for `negative_ttl_seconds`) per isolate (LRU), keyed by the
//! canonical request body itself (serialized once from borrowed data, members in name order: the
//! claims `Map` is a `BTreeMap` without serde_json's `preserve_order`, pinned by a test), and in the
//! platform's shared tier under SHA-256 of it; a burst of one question costs one call per isolate
//! ([`crate::single_flight`]). Failures are never cached.
//!
//! Not done here: policy evaluation itself (the decision point's), the forward stage's stripping
//! (the fields a policy adds pass [`crate::forward`]'s rules or the answer is refused).

pub use crate::decision_point::AuthzenMapping;
use crate::decision_point::{self, Decision, Endpoint, Facts, PointSettings};
use crate::error::{AuthzFault, Error};
use crate::lru::Lru;
use crate::platform::{FetchError, LogLevel, Platform};
use crate::single_flight::{Flights, Turn};
use crate::token::VerifiedToken;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};
use url::Position;

/// Default time a decision point gets to answer, in milliseconds: an edge request cannot wait
/// long, and a policy decision is a local computation at the decision point.
pub const DEFAULT_TIMEOUT_MS: u32 = 500;
/// Longest `timeout_ms` accepted.
pub const MAX_TIMEOUT_MS: u32 = 10_000;
/// Default life of a cached allow, in seconds: short, so a changed policy or revoked role shows
/// within seconds, yet a burst of one question costs one call.
pub const DEFAULT_CACHE_TTL: u64 = 5;
/// Default life of a cached deny, in seconds.
pub const DEFAULT_NEGATIVE_TTL: u64 = 5;
/// Longest cache life accepted for either, in seconds.
pub const MAX_CACHE_TTL: u64 = 3600;
/// Default number of decisions kept per isolate and decision point.
pub const DEFAULT_CACHE_ENTRIES: usize = 1024;
/// Default largest answer read, in bytes: a decision with a few headers is well under 1 KiB.
pub const DEFAULT_MAX_ANSWER_BYTES: usize = 16 * 1024;
/// Most request fields a decision point may see.
pub const MAX_INPUT_HEADERS: usize = 32;

/// `authorization`: the decision points routes can name.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Authorization {
    /// Decision points by name (`routes[].authorize` names one).
    #[serde(default)]
    pub decision_points: BTreeMap<String, DecisionPointConfig>,
}

crate::bake::bake_struct!(Authorization { decision_points });

/// Which API a decision point speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PointKind {
    /// OPA's Data API: `POST {base}/v1/data/{path}` with `{"input": …}` → `{"result": …}`.
    Opa,
    /// OpenID AuthZEN 1.0 Access Evaluation: `POST {base}/access/v1/evaluation`.
    Authzen,
    /// Rego evaluated in the function (the `policy` build of the function only).
    Rego,
}

crate::by_name::deserialize_by_name!(PointKind {
    "opa" => PointKind::Opa,
    "authzen" => PointKind::Authzen,
    "rego" => PointKind::Rego,
});

/// One decision point as the document gives it (validated by `config`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionPointConfig {
    /// Which API it speaks.
    pub kind: PointKind,
    /// Base URL of the decision point (`opa`, `authzen`): https, or http on loopback.
    #[serde(default)]
    pub base: Option<String>,
    /// `opa`: the rule's path below `/v1/data/`, e.g. `envoy/authz/allow`.
    #[serde(default)]
    pub path: Option<String>,
    /// Milliseconds the decision point gets to answer.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u32,
    /// Seconds an allow is reused; 0 disables caching of allows.
    #[serde(default = "default_cache_ttl")]
    pub cache_ttl_seconds: u64,
    /// Seconds a deny is reused; 0 disables caching of denials.
    #[serde(default = "default_negative_ttl")]
    pub negative_ttl_seconds: u64,
    /// Decisions kept per isolate.
    #[serde(default = "default_cache_entries")]
    pub cache_entries: usize,
    /// Request fields (lower-case names) the decision point sees; credentials never.
    #[serde(default)]
    pub headers: Vec<String>,
    /// Largest answer read, in bytes.
    #[serde(default = "default_max_answer_bytes")]
    pub max_answer_bytes: usize,
    /// `opa`, `authzen`: the platform secret holding a bearer token for the decision point, sent as
    /// `Authorization: Bearer …` (OPA's `--authentication=token`).
    #[serde(default)]
    pub authorization_secret: Option<String>,
    /// `authzen`: how the request maps onto subject, action, resource and context.
    #[serde(default)]
    pub authzen: AuthzenMapping,
    /// `rego`: the policy's source (Rego v1).
    #[serde(default)]
    pub policy: Option<String>,
    /// `rego`: the name of a platform variable holding the policy's source, instead of `policy`
    /// (read and compiled when the gateway loads).
    #[serde(default)]
    pub policy_var: Option<String>,
    /// `rego`: the name of a policy compiled into the build (`EDGEWARD_POLICY_DIR/NAME.rego`),
    /// instead of `policy` (compiled when the gateway loads, with the directory's `data.json`).
    #[serde(default)]
    pub policy_builtin: Option<String>,
    /// `rego`: the rule a decision reads, e.g. `data.envoy.authz.allow`.
    #[serde(default)]
    pub query: Option<String>,
    /// `rego`: the `data` document the policy reads.
    #[serde(default)]
    pub data: Option<Value>,
}

crate::bake::bake_struct!(DecisionPointConfig {
    kind,
    base,
    path,
    timeout_ms,
    cache_ttl_seconds,
    negative_ttl_seconds,
    cache_entries,
    headers,
    max_answer_bytes,
    authorization_secret,
    authzen,
    policy,
    policy_var,
    policy_builtin,
    query,
    data,
});

fn default_timeout_ms() -> u32 {
    DEFAULT_TIMEOUT_MS
}
fn default_cache_ttl() -> u64 {
    DEFAULT_CACHE_TTL
}
fn default_negative_ttl() -> u64 {
    DEFAULT_NEGATIVE_TTL
}
fn default_cache_entries() -> usize {
    DEFAULT_CACHE_ENTRIES
}
fn default_max_answer_bytes() -> usize {
    DEFAULT_MAX_ANSWER_BYTES
}

/// The OPA-Envoy-shaped input document: `attributes.request.http` (method, path with query,
/// host, scheme, the configured fields as `name → value`, repeated fields joined with `", "` as
/// RFC 9110 §5.3 allows), `parsed_path` (the path's segments), `parsed_query` (name → every
/// value), and `token` (`null` on an anonymous route). Borrowed from the request and the token and
/// serialized once: its JSON is the question sent to a decision point, the cache key of the
/// isolate tier, and the input of an embedded policy. Members in name order at every level (the
/// struct fields are declared so; `claims` is a serde_json `Map`, sorted), so one question has one
/// serialization.
#[derive(Serialize)]
pub struct Input<'a> {
    attributes: Attributes<'a>,
    parsed_path: Vec<Cow<'a, str>>,
    parsed_query: Map<String, Value>,
    token: Option<TokenDocument<'a>>,
}

#[derive(Serialize)]
struct Attributes<'a> {
    request: HttpRequest<'a>,
}

#[derive(Serialize)]
struct HttpRequest<'a> {
    http: Http<'a>,
}

#[derive(Serialize)]
struct Http<'a> {
    headers: Map<String, Value>,
    host: &'a str,
    method: &'a str,
    path: &'a str,
    scheme: &'a str,
}

/// `input.token`: the verified claims, `kind` (`jwt` / `opaque`), `issuer`, and `binding`
/// (`dpop` for `cnf.jkt`, `mtls` for `cnf["x5t#S256"]`, else `none`; checked by the bind stage).
#[derive(Serialize)]
struct TokenDocument<'a> {
    binding: &'static str,
    claims: &'a Map<String, Value>,
    issuer: &'a str,
    kind: &'static str,
}

/// The OPA Data API request body: `{"input": …}`.
#[derive(Serialize)]
struct OpaRequest<'a> {
    input: &'a Input<'a>,
}

/// The input document of this request (see [`Input`]).
pub fn input<'a>(
    settings: &PointSettings,
    facts: &Facts<'a>,
    token: Option<&'a VerifiedToken>,
) -> Input<'a> {
    let url = facts.url;
    Input {
        attributes: Attributes {
            request: HttpRequest {
                http: Http {
                    headers: decision_point::selected_headers(&settings.headers, facts.headers),
                    // `host[:port]` as the `Host` field would say it, and the path with the query.
                    host: &url[Position::BeforeHost..Position::AfterPort],
                    method: facts.method,
                    path: &url[Position::BeforePath..Position::AfterQuery],
                    scheme: url.scheme(),
                },
            },
        },
        parsed_path: decision_point::parsed_path(url),
        parsed_query: decision_point::parsed_query(url),
        token: token.map(token_document),
    }
}

fn token_document(token: &VerifiedToken) -> TokenDocument<'_> {
    let cnf = token.claims.get("cnf").and_then(Value::as_object);
    let binding = match cnf {
        Some(cnf) if cnf.contains_key("jkt") => "dpop",
        Some(cnf) if cnf.contains_key("x5t#S256") => "mtls",
        _ => "none",
    };
    let kind = token.kind.name();
    TokenDocument {
        binding,
        claims: &token.claims,
        issuer: &token.issuer,
        kind,
    }
}

#[cfg(feature = "policy")]
impl Input<'_> {
    /// The document as regorus's value, built from the request and the claims directly: the
    /// same value as its JSON serialization parsed (pinned by a test), without the text.
    pub fn to_rego(&self) -> regorus::Value {
        use crate::rego::{from_json_object, object};
        let http = &self.attributes.request.http;
        let http = object([
            ("headers", from_json_object(&http.headers)),
            ("host", http.host.into()),
            ("method", http.method.into()),
            ("path", http.path.into()),
            ("scheme", http.scheme.into()),
        ]);
        let segments = self.parsed_path.iter().map(|s| s.as_ref().into());
        let token = match &self.token {
            Some(token) => object([
                ("binding", token.binding.into()),
                ("claims", from_json_object(token.claims)),
                ("issuer", token.issuer.into()),
                ("kind", token.kind.into()),
            ]),
            None => regorus::Value::Null,
        };
        object([
            (
                "attributes",
                object([("request", object([("http", http)]))]),
            ),
            (
                "parsed_path",
                segments.collect::<Vec<regorus::Value>>().into(),
            ),
            ("parsed_query", from_json_object(&self.parsed_query)),
            ("token", token),
        ])
    }
}

/// A cached decision and when it stops being valid.
#[derive(Debug, Clone)]
struct Entry {
    decision: Decision,
    until: u64,
}

/// The per-isolate tier, keyed by the question itself (the request body sent to the decision
/// point): a hit costs its serialization and one hash-map lookup, no SHA-256, and two different
/// questions can never share an entry. The body holds the verified claims, never the raw token.
type Cache = Lru<Box<[u8]>, Entry>;

/// One remote decision point with its per-isolate cache and single-flight.
pub struct Authorizer {
    settings: PointSettings,
    cache: Mutex<Cache>,
    flights: Flights,
}

impl Authorizer {
    /// A decision point with an empty cache.
    pub fn new(settings: PointSettings) -> Authorizer {
        Authorizer {
            settings,
            cache: Mutex::default(),
            flights: Flights::default(),
        }
    }

    /// The decision for this request: cached (isolate, then shared tier) or asked for. A deny is
    /// [`Error::AuthorizationDenied`]; no usable answer is [`Error::AuthorizationUnavailable`].
    pub async fn decide<P: Platform>(
        &self,
        platform: &P,
        facts: &Facts<'_>,
        token: Option<&VerifiedToken>,
        now: u64,
    ) -> Result<Decision, Error> {
        #[cfg(feature = "policy")]
        match &self.settings.endpoint {
            Endpoint::Rego(policy) => {
                let input = input(&self.settings, facts, token).to_rego();
                return embedded(policy, input, now);
            }
            // Never here: the gateway compiles it when it loads, or does not load.
            Endpoint::RegoVariable { .. } | Endpoint::RegoBuiltin { .. } => {
                return Err(Error::AuthorizationUnavailable(AuthzFault::Invalid))
            }
            Endpoint::Opa { .. } | Endpoint::Authzen { .. } => {}
        }
        let body = self.body(facts, token);
        let decision = match self.cached(&body, now) {
            Some(hit) => hit,
            None => self.lookup(platform, body, now).await?,
        };
        match decision.allowed {
            true => Ok(decision),
            false => Err(Error::AuthorizationDenied {
                reason: decision.reason,
            }),
        }
    }

    /// The request body, the question: the OPA `{"input": …}` or the AuthZEN evaluation request.
    fn body(&self, facts: &Facts<'_>, token: Option<&VerifiedToken>) -> Vec<u8> {
        let body = match &self.settings.endpoint {
            Endpoint::Opa { .. } => serde_json::to_vec(&OpaRequest {
                input: &input(&self.settings, facts, token),
            }),
            Endpoint::Authzen { mapping, .. } => serde_json::to_vec(
                &decision_point::authzen_request(mapping, &self.settings.headers, facts, token),
            ),
            #[cfg(feature = "policy")]
            Endpoint::Rego(_) | Endpoint::RegoVariable { .. } | Endpoint::RegoBuiltin { .. } => {
                serde_json::to_vec(&input(&self.settings, facts, token))
            }
        };
        // Serializing borrowed strings, maps with string keys and `Value`s cannot fail.
        body.unwrap_or_default()
    }

    /// The shared tier's and single-flight's key: SHA-256 over the decision point's name and the
    /// question.
    fn key(&self, body: &[u8]) -> [u8; 32] {
        let mut hash = Sha256::new();
        hash.update(self.settings.name.as_bytes());
        hash.update([0]);
        hash.update(body);
        hash.finalize().into()
    }

    async fn lookup<P: Platform>(
        &self,
        platform: &P,
        body: Vec<u8>,
        now: u64,
    ) -> Result<Decision, Error> {
        let key = self.key(&body);
        // Waiters give up a little after the claimant's own call would have timed out.
        let deadline = self.settings.timeout_ms.saturating_add(1000);
        match self.flights.claim_or_wait(platform, key, deadline).await {
            Turn::Claimed(_claim) => match self.shared_get(platform, &key, &body, now).await {
                Some(hit) => Ok(hit),
                None => self.call(platform, key, body, now).await,
            },
            // The claimant stored its decision, unless its call failed: then share its 503.
            Turn::Finished | Turn::TimedOut => self
                .cached(&body, now)
                .ok_or(Error::AuthorizationUnavailable(AuthzFault::Unavailable)),
        }
    }

    async fn call<P: Platform>(
        &self,
        platform: &P,
        key: [u8; 32],
        body: Vec<u8>,
        now: u64,
    ) -> Result<Decision, Error> {
        let request = decision_point::request(&self.settings, body.clone());
        let answer = platform.fetch(request).await.map_err(|e| match e {
            FetchError::Timeout => AuthzFault::Timeout,
            FetchError::TooLarge => AuthzFault::TooLarge,
            FetchError::Unreachable => AuthzFault::Unreachable,
        });
        let judged = answer.and_then(|answer| match &self.settings.endpoint {
            Endpoint::Opa { .. } => decision_point::judge_opa(&answer),
            Endpoint::Authzen { .. } => decision_point::judge_authzen(&answer),
            #[cfg(feature = "policy")]
            Endpoint::Rego(_) | Endpoint::RegoVariable { .. } | Endpoint::RegoBuiltin { .. } => {
                Err(AuthzFault::Invalid)
            }
        });
        match judged {
            Ok(decision) => {
                self.remember(platform, key, body, &decision, now).await;
                Ok(decision)
            }
            Err(fault) => {
                platform.log(
                    LogLevel::Warn,
                    &format!(
                        "decision point {} failed ({}); answering 503",
                        self.settings.name,
                        fault.code()
                    ),
                );
                Err(Error::AuthorizationUnavailable(fault))
            }
        }
    }

    /// Keeps a decision in this isolate and in the platform's shared tier for its TTL.
    async fn remember<P: Platform>(
        &self,
        platform: &P,
        key: [u8; 32],
        body: Vec<u8>,
        decision: &Decision,
        now: u64,
    ) {
        let ttl = match decision.allowed {
            true => self.settings.cache_ttl,
            false => self.settings.negative_ttl,
        };
        if ttl == 0 || self.settings.cache_entries == 0 {
            return;
        }
        let until = now.saturating_add(ttl);
        let entry = Entry {
            decision: decision.clone(),
            until,
        };
        self.store(body, entry);
        let value = json!({ "decision": decision.to_json(), "until": until });
        platform
            .cache_put(&shared_key(&key), value.to_string().into_bytes(), until)
            .await;
    }

    /// A still-valid decision from the shared tier, copied into this isolate.
    async fn shared_get<P: Platform>(
        &self,
        platform: &P,
        key: &[u8; 32],
        body: &[u8],
        now: u64,
    ) -> Option<Decision> {
        let bytes = platform.cache_get(&shared_key(key)).await?;
        let value = crate::strict::object(&bytes)?;
        let until = value.get("until").and_then(Value::as_u64)?;
        let decision = Decision::from_json(value.get("decision")?)?;
        // A shared entry never outlives what this isolate would have kept.
        let ttl = match decision.allowed {
            true => self.settings.cache_ttl,
            false => self.settings.negative_ttl,
        };
        let until = until.min(now.saturating_add(ttl));
        if now >= until {
            return None;
        }
        self.store(
            body.to_vec(),
            Entry {
                decision: decision.clone(),
                until,
            },
        );
        Some(decision)
    }

    fn cached(&self, body: &[u8], now: u64) -> Option<Decision> {
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = cache.get(body)?;
        (now < entry.until).then(|| entry.decision.clone())
    }

    fn store(&self, body: Vec<u8>, entry: Entry) {
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        cache.insert(body.into_boxed_slice(), entry, self.settings.cache_entries);
    }
}

/// An embedded policy's decision: evaluated on every request, never cached (an evaluation costs
/// less than a shared-tier round trip) and never shared between requests.
#[cfg(feature = "policy")]
fn embedded(
    policy: &crate::rego::Policy,
    input: regorus::Value,
    now: u64,
) -> Result<Decision, Error> {
    let result =
        crate::rego::evaluate(policy, input, now).map_err(Error::AuthorizationUnavailable)?;
    let decision =
        decision_point::judge_result(result.as_ref()).map_err(Error::AuthorizationUnavailable)?;
    match decision.allowed {
        true => Ok(decision),
        false => Err(Error::AuthorizationDenied {
            reason: decision.reason,
        }),
    }
}

/// Key of a decision in the shared tier: the SHA-256 of the question, never the question.
fn shared_key(key: &[u8; 32]) -> String {
    let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    format!("edgeward/authz/{hex}")
}

/// Every decision point of the configuration, by name.
#[derive(Default)]
pub struct DecisionPoints {
    points: Vec<Authorizer>,
}

impl DecisionPoints {
    /// One [`Authorizer`] per decision point.
    pub fn new(settings: Vec<PointSettings>) -> DecisionPoints {
        let points = settings.into_iter().map(Authorizer::new).collect();
        DecisionPoints { points }
    }

    /// The decision point named `name` (validated to exist when the configuration loaded). A
    /// linear search: configurations name a handful, and a map would link another sort.
    pub fn get(&self, name: &str) -> Option<&Authorizer> {
        self.points.iter().find(|p| p.settings.name == name)
    }
}
