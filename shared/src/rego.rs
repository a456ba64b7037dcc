//! Embedded Rego (cargo feature `policy`): a decision point evaluated in the function by
//! `regorus` (Microsoft's Rego interpreter, pure Rust) instead of asked over the network. The
//! policy compiles once, when the configuration loads (a policy that does not compile makes the
//! configuration invalid); each request evaluates one rule on a copy of the compiled engine.
//!
//! Budget: regorus's cooperative execution timer ([`regorus::utils::limits::ExecutionTimerConfig`])
//! stops an evaluation that runs longer than the decision point's `timeout_ms`
//! ([`AuthzFault::Limit`], 503). Rego has no unbounded loops and rejects recursive rules, so work
//! grows only with comprehensions over large collections; the timer interrupts those between work
//! units, not inside one builtin call. The timer reads the host's monotonic clock (`std::time::Instant`),
//! which wasm32-unknown-unknown (Workers) does not have: the `policy` feature is built and tested
//! on the host and for wasm32-wasip2 only. Not limited: memory (regorus's allocator limits need its
//! own allocator).

use crate::error::AuthzFault;
use regorus::utils::limits::{ExecutionTimerConfig, LimitError};
use serde_json::Value;
use std::num::NonZeroU32;
use std::time::Duration;

/// Work units between two clock reads of the execution timer.
const CHECK_INTERVAL: u32 = 256;

/// A compiled policy and the rule a decision reads.
#[derive(Clone)]
pub struct Policy {
    engine: regorus::Engine,
    query: String,
}

impl std::fmt::Debug for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Policy")
            .field("query", &self.query)
            .finish_non_exhaustive()
    }
}

/// True when `query` names a rule: `data.` and dot-separated identifiers.
pub fn is_rule_path(query: &str) -> bool {
    query.strip_prefix("data.").is_some_and(|path| {
        path.split('.')
            .all(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
    })
}

/// Compiles `source` (Rego v1) with the optional `data` document; `query` is the rule a decision
/// reads, e.g. `data.envoy.authz.allow`; evaluations stop after `limit_ms`. `Err` says why, in
/// regorus's words (line and column).
pub fn compile(
    source: &str,
    data: Option<&Value>,
    query: &str,
    limit_ms: u32,
) -> Result<Policy, String> {
    if !is_rule_path(query) {
        return Err("query must name a rule, e.g. data.envoy.authz.allow".into());
    }
    let mut engine = regorus::Engine::new();
    engine.set_rego_v0(false);
    engine
        .add_policy("policy.rego".into(), source.into())
        .map_err(|e| e.to_string())?;
    if let Some(data) = data {
        let data = regorus::Value::from_json_str(&data.to_string()).map_err(|e| e.to_string())?;
        engine.add_data(data).map_err(|e| e.to_string())?;
    }
    let interval = NonZeroU32::new(CHECK_INTERVAL).unwrap_or(NonZeroU32::MIN);
    engine.set_execution_timer_config(ExecutionTimerConfig {
        limit: Duration::from_millis(u64::from(limit_ms)),
        check_interval: interval,
    });
    Ok(Policy {
        engine,
        query: query.to_owned(),
    })
}

/// Evaluates the policy's rule with `input`: `Ok(None)` when it is undefined.
pub fn evaluate(policy: &Policy, input: &Value) -> Result<Option<Value>, AuthzFault> {
    let mut engine = policy.engine.clone();
    let input =
        regorus::Value::from_json_str(&input.to_string()).map_err(|_| AuthzFault::Invalid)?;
    engine.set_input(input);
    let value = engine.eval_rule(policy.query.clone()).map_err(|e| {
        match e.downcast_ref::<LimitError>() {
            Some(_) => AuthzFault::Limit,
            None if e.to_string().contains("execution exceeded") => AuthzFault::Limit,
            None => AuthzFault::Invalid,
        }
    })?;
    if value == regorus::Value::Undefined {
        return Ok(None);
    }
    let text = value.to_json_str().map_err(|_| AuthzFault::Invalid)?;
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|_| AuthzFault::Invalid)
}
