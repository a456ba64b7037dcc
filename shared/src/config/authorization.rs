//! `authorization`: the decision points of the authorize stage, validated into the stage's typed
//! settings ([`PointSettings`]) once; `routes[].authorize` must name one of them.

use super::*;
use crate::authorize::{
    DecisionPointConfig, PointKind, MAX_CACHE_TTL, MAX_INPUT_HEADERS, MAX_TIMEOUT_MS,
};
use crate::decision_point::{BearerToken, Endpoint, PointSettings};
#[cfg(feature = "policy")]
use crate::rego::CompileError;
#[cfg(feature = "policy")]
use serde_json::Value;

/// Request fields a decision point never sees: credentials and cookies (RFC 9110 §11.6.2,
/// RFC 9449 §4.1, RFC 6265 §5.4), and the client-certificate fields a terminator may set.
const NEVER_IN_INPUT: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "dpop",
    "cookie",
    "set-cookie",
    "client-cert",
    "client-cert-chain",
    "x-forwarded-client-cert",
];

/// Largest answer a decision point may be allowed to send, in bytes.
const MAX_ANSWER_BYTES: usize = 1024 * 1024;

impl Authorization {
    /// Validates every decision point into its settings, in name order.
    pub(super) fn load(&self) -> Result<Vec<PointSettings>, ConfigError> {
        self.decision_points
            .iter()
            .map(|(name, point)| point.load(name, &format!("authorization.decision_points.{name}")))
            .collect()
    }
}

/// Reads what each decision point keeps in the platform or the build, when the gateway loads: the
/// source of a `policy_var` policy and of a `policy_builtin` one (from `builtins`, with their
/// `data`), compiled here, and the `authorization_secret` token. The token goes into a field value,
/// so it must be an RFC 6750 §2.1 `b64token`; a missing secret or another value, or a builtin
/// policy this build does not have, is an error naming the field (never the value).
pub(crate) fn decision_point_secrets(
    authorization: &Authorization,
    settings: &mut [PointSettings],
    secrets: SecretLookup<'_>,
    builtins: crate::builtin_policies::BuiltinPolicies,
) -> Result<(), ConfigError> {
    #[cfg(not(feature = "policy"))]
    let _ = builtins;
    for point in settings.iter_mut() {
        let Some(config) = authorization.decision_points.get(&point.name) else {
            continue;
        };
        #[cfg(feature = "policy")]
        if let Endpoint::RegoVariable { name } = &point.endpoint {
            let field = format!("authorization.decision_points.{}.policy_var", point.name);
            let source = secret(secrets, &field, name)?;
            let query = config.query.as_deref().unwrap_or_default();
            point.endpoint = config.compile(&source, None, query, &field)?;
        }
        #[cfg(feature = "policy")]
        if let Endpoint::RegoBuiltin { name } = &point.endpoint {
            let field = format!(
                "authorization.decision_points.{}.policy_builtin",
                point.name
            );
            let source = builtins.get(name).ok_or_else(|| {
                let message = format!(
                    "no policy {name:?} is compiled into this build (EDGEWARD_POLICY_DIR had: {})",
                    builtins.names()
                );
                ConfigError::new(&field, message)
            })?;
            let data = builtins.data_document().map_err(|_| {
                ConfigError::new(&field, "the build's data.json is not a JSON object")
            })?;
            let query = config.query.as_deref().unwrap_or_default();
            point.endpoint = config.compile(source, data.as_ref(), query, &field)?;
        }
        let Some(name) = &config.authorization_secret else {
            continue;
        };
        let field = format!(
            "authorization.decision_points.{}.authorization_secret",
            point.name
        );
        let token = secret(secrets, &field, name)?;
        let b64token = token.trim_end_matches('=');
        let ok = !b64token.is_empty()
            && b64token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b));
        if !ok {
            let message =
                format!("the platform secret {name} is not a bearer token (RFC 6750 b64token)");
            return Err(ConfigError::new(field, message));
        }
        point.bearer = Some(BearerToken(token));
    }
    Ok(())
}

impl DecisionPointConfig {
    fn load(&self, name: &str, at: &str) -> Result<PointSettings, ConfigError> {
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
        {
            return Err(ConfigError::new(
                at,
                "names are letters, digits, '-' and '_'",
            ));
        }
        let remote = self.kind != PointKind::Rego;
        let rego_fields = [
            &self.policy,
            &self.policy_var,
            &self.policy_builtin,
            &self.query,
        ];
        if remote && (rego_fields.iter().any(|f| f.is_some()) || self.data.is_some()) {
            let message = "policy, policy_var, policy_builtin, query and data are for kind rego";
            return Err(ConfigError::new(at, message));
        }
        if let Some(name) = &self.authorization_secret {
            let field = format!("{at}.authorization_secret");
            if !remote {
                return Err(ConfigError::new(field, "for remote decision points only"));
            }
            if name.is_empty() {
                return Err(ConfigError::new(field, "names a platform secret"));
            }
        }
        let endpoint = self.endpoint(at)?;
        if self.timeout_ms == 0 || self.timeout_ms > MAX_TIMEOUT_MS {
            let message = format!("must be between 1 and {MAX_TIMEOUT_MS}");
            return Err(ConfigError::new(format!("{at}.timeout_ms"), message));
        }
        for (field, ttl) in [
            ("cache_ttl_seconds", self.cache_ttl_seconds),
            ("negative_ttl_seconds", self.negative_ttl_seconds),
        ] {
            if ttl > MAX_CACHE_TTL {
                let message = format!("must be between 0 and {MAX_CACHE_TTL}");
                return Err(ConfigError::new(format!("{at}.{field}"), message));
            }
        }
        if self.cache_entries > 100_000 {
            let message = "must be between 0 and 100000";
            return Err(ConfigError::new(format!("{at}.cache_entries"), message));
        }
        if self.max_answer_bytes == 0 || self.max_answer_bytes > MAX_ANSWER_BYTES {
            let message = format!("must be between 1 and {MAX_ANSWER_BYTES}");
            return Err(ConfigError::new(format!("{at}.max_answer_bytes"), message));
        }
        Ok(PointSettings {
            name: name.to_owned(),
            endpoint,
            timeout_ms: self.timeout_ms,
            cache_ttl: self.cache_ttl_seconds,
            negative_ttl: self.negative_ttl_seconds,
            cache_entries: self.cache_entries,
            headers: self.input_headers(at)?,
            max_answer_bytes: self.max_answer_bytes,
            bearer: None,
        })
    }

    /// The endpoint URL for the kind; `rego` needs the `policy` build of the function.
    fn endpoint(&self, at: &str) -> Result<Endpoint, ConfigError> {
        let base = || -> Result<String, ConfigError> {
            let field = format!("{at}.base");
            let base = self
                .base
                .as_deref()
                .ok_or_else(|| ConfigError::new(&field, "required for a remote decision point"))?;
            check_fetch_url(base).map_err(|m| ConfigError::new(&field, m))?;
            let url = crate::http::parse_url(base)
                .map_err(|e| ConfigError::new(&field, e.to_string()))?;
            if url.query().is_some() || url.fragment().is_some() {
                return Err(ConfigError::new(field, "must not have a query or fragment"));
            }
            Ok(base.trim_end_matches('/').to_owned())
        };
        match self.kind {
            PointKind::Opa => {
                let field = format!("{at}.path");
                let path = self.path.as_deref().unwrap_or_default().trim_matches('/');
                let segment_ok = |s: &str| {
                    !s.is_empty()
                        && s.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
                };
                if !path.split('/').all(segment_ok) {
                    let message =
                        "a rule path such as envoy/authz/allow (letters, digits, '-', '_')";
                    return Err(ConfigError::new(field, message));
                }
                Ok(Endpoint::Opa {
                    url: format!("{}/v1/data/{path}", base()?),
                })
            }
            PointKind::Authzen => {
                if self.path.is_some() {
                    return Err(ConfigError::new(format!("{at}.path"), "only for kind opa"));
                }
                Ok(Endpoint::Authzen {
                    url: format!("{}/access/v1/evaluation", base()?),
                    mapping: self.authzen.clone(),
                })
            }
            PointKind::Rego => self.embedded(at),
        }
    }

    /// `rego`: the policy compiled once, here (`policy` builds only).
    #[cfg(feature = "policy")]
    fn embedded(&self, at: &str) -> Result<Endpoint, ConfigError> {
        if self.base.is_some() || self.path.is_some() {
            return Err(ConfigError::new(
                at,
                "base and path are for remote decision points",
            ));
        }
        let sources = [
            ("policy", &self.policy),
            ("policy_var", &self.policy_var),
            ("policy_builtin", &self.policy_builtin),
        ];
        let given: Vec<_> = sources.iter().filter(|(_, f)| f.is_some()).collect();
        let query = self
            .query
            .as_deref()
            .ok_or_else(|| ConfigError::new(format!("{at}.query"), "required for kind rego"));
        let (source, value) = match given[..] {
            [] => {
                let message = "required for kind rego (or policy_var, or policy_builtin)";
                return Err(ConfigError::new(format!("{at}.policy"), message));
            }
            [(source, Some(value))] => (*source, value),
            [.., (last, _)] => {
                let message = "exactly one of policy, policy_var and policy_builtin";
                return Err(ConfigError::new(format!("{at}.{last}"), message));
            }
        };
        let field = format!("{at}.{source}");
        let query = query?;
        if !crate::rego::is_rule_path(query) {
            let message = "must name a rule, e.g. data.envoy.authz.allow";
            return Err(ConfigError::new(format!("{at}.query"), message));
        }
        let name = value.clone();
        match source {
            "policy" => self.compile(value, None, query, &field),
            _ if name.is_empty() => Err(ConfigError::new(
                field,
                "names a platform variable or a builtin policy",
            )),
            "policy_var" => Ok(Endpoint::RegoVariable { name }),
            _ => Ok(Endpoint::RegoBuiltin { name }),
        }
    }

    /// Compiles the policy `source` for `query`, with the build's `data` (builtin policies) and the
    /// document's; an error names `field`.
    #[cfg(feature = "policy")]
    fn compile(
        &self,
        source: &str,
        data: Option<&Value>,
        query: &str,
        field: &str,
    ) -> Result<Endpoint, ConfigError> {
        let limits = crate::rego::Limits {
            time_ms: self.timeout_ms,
            output_bytes: self.max_answer_bytes,
        };
        let data: Vec<&Value> = data.into_iter().chain(self.data.as_ref()).collect();
        let policy = crate::rego::compile(source, &data, query, limits).map_err(|e| match e {
            CompileError::Policy(m) => ConfigError::new(field, format!("does not compile: {m}")),
            CompileError::Query(m) => {
                let at = field.rsplit_once('.').map_or(field, |(at, _)| at);
                ConfigError::new(format!("{at}.query"), format!("no such rule: {m}"))
            }
        })?;
        Ok(Endpoint::Rego(std::sync::Arc::new(policy)))
    }

    #[cfg(not(feature = "policy"))]
    fn embedded(&self, at: &str) -> Result<Endpoint, ConfigError> {
        Err(ConfigError::new(
            format!("{at}.kind"),
            "embedded Rego needs the policy build of the function (feature `policy`)",
        ))
    }

    /// The request fields the decision point sees: lower-case names, never a credential.
    fn input_headers(&self, at: &str) -> Result<Vec<String>, ConfigError> {
        let field = format!("{at}.headers");
        if self.headers.len() > MAX_INPUT_HEADERS {
            let message = format!("at most {MAX_INPUT_HEADERS} fields");
            return Err(ConfigError::new(field, message));
        }
        let mut names = Vec::new();
        for name in &self.headers {
            let lower = name.to_ascii_lowercase().replace('_', "-");
            let token = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b));
            if !token || NEVER_IN_INPUT.contains(&lower.as_str()) {
                let message = format!("{name:?}: a field name, never a credential or cookie");
                return Err(ConfigError::new(field, message));
            }
            names.push(name.to_ascii_lowercase());
        }
        Ok(names)
    }
}
