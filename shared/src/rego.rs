//! Embedded Rego (cargo feature `policy`): a decision point evaluated in the function by
//! `regorus` (Microsoft's Rego interpreter, pure Rust) instead of asked over the network. The
//! policy compiles once, when the configuration loads (a policy that does not compile makes the
//! configuration invalid); each request evaluates one rule on the prepared engine (see
//! `Evaluator`), with an input document the gateway builds as regorus's value.
//!
//! Budgets ([`AuthzFault::Limit`] and [`AuthzFault::TooLarge`], both 503):
//! - Time: regorus's cooperative execution timer ([`regorus::utils::limits::ExecutionTimerConfig`])
//!   stops an evaluation that runs longer than the decision point's `timeout_ms`. Rego has no
//!   unbounded loops and rejects recursive rules, so work grows only with comprehensions over large
//!   collections; the timer interrupts those between work units, not inside one builtin call. On
//!   the host and wasm32-wasip2 the timer reads the monotonic clock (`std::time::Instant`).
//!   wasm32-unknown-unknown (Workers) has no clock for it: `Instant::now` panics there, and a
//!   Worker's clocks do not advance while it computes. There regorus is built without `std` and its
//!   time source is [`WorkClock`], which counts the timer's checks: each check stands for
//!   [`NANOS_PER_CHECK`] of work, so `timeout_ms` becomes a deterministic work budget.
//! - Output: a result whose JSON is longer than `max_answer_bytes` is refused, as a remote
//!   decision point's answer would be.
//!
//! Time: a policy reads the request's time, never a clock. OPA's `time.now_ns()`, `time.clock`,
//! `time.weekday` and `time.date` (the builtins of its time-of-day examples) are extensions
//! ([`time_builtins`]) answering from the `now` the gateway read once for the request (second
//! resolution). Only UTC: an argument `[ns, tz]` with another zone than `"UTC"` or `""` is an
//! evaluation error (503 `ERR_AUTHZ_ANSWER_INVALID`): the policy function has no time-zone
//! database (regorus's own `time` feature links chrono-tz's, +170 KB gzip). Other `time.*`
//! builtins are not there.
//!
//! Not limited: memory (regorus's allocator limits need its own allocator, mimalloc, which is C
//! and not built for Workers), and the work inside one builtin call (e.g. `numbers.range` with a
//! huge bound): the policy is configuration, written by the operator.

use crate::error::AuthzFault;
use regorus::languages::rego::compiler::Compiler;
use regorus::rvm::program::Program;
use regorus::rvm::vm::{RegoVM, VmError};
use regorus::utils::limits::{ExecutionTimerConfig, LimitError};
use serde_json::Value;
use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// Work units between two clock reads of the execution timer.
const CHECK_INTERVAL: u32 = 256;

/// What one check of the execution timer ([`CHECK_INTERVAL`] work units) counts for in the work
/// budget of Workers ([`WorkClock`]): 50 µs. On workerd a check of the e2e runaway policy (a
/// comprehension over two ranges) took 60-70 µs of wall time on a loaded 2-core test machine
/// (docs/decisions.md), so a `timeout_ms` budget is about that much CPU time on a quiet one.
pub const NANOS_PER_CHECK: u64 = 50_000;

/// The execution timer's time source on wasm32-unknown-unknown: not a clock but a count of the
/// timer's reads, each [`NANOS_PER_CHECK`] later than the one before. Non-decreasing, as regorus
/// asks; shared by every evaluation of the isolate (each measures from its own start).
#[derive(Debug, Default)]
pub struct WorkClock(std::sync::atomic::AtomicU64);

impl regorus::utils::limits::TimeSource for WorkClock {
    fn now(&self) -> Option<Duration> {
        use std::sync::atomic::Ordering;
        let nanos = self.0.fetch_add(NANOS_PER_CHECK, Ordering::Relaxed);
        Some(Duration::from_nanos(nanos))
    }
}

/// Makes [`WorkClock`] regorus's time source (once per isolate; a second call changes nothing).
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
fn use_work_clock() {
    static CLOCK: WorkClock = WorkClock(std::sync::atomic::AtomicU64::new(0));
    // `AlreadySet` is the only error: the clock is in place either way.
    let _ = regorus::utils::limits::set_time_source(&CLOCK);
}

/// A compiled policy, the rule a decision reads and the longest result accepted. Prepared once,
/// when the configuration loads, then reused by every evaluation of the isolate, one at a time
/// (see [`evaluate`]).
pub struct Policy {
    evaluator: Mutex<Evaluator>,
    query: String,
    limits: Limits,
}

/// What evaluates a policy, in two tiers.
/// - regorus's tree-walking interpreter, on the engine analysed, scheduled and hoisted when the
///   policy compiled. It answers the first evaluation, and every one of a policy the virtual
///   machine's compiler refuses (e.g. one calling the time extensions: the VM runs only regorus's
///   own builtins). `eval_rule` clears every state of the evaluation first (data back to the
///   configured document, rule values, scopes, the builtin cache, the timer).
/// - regorus's virtual machine (RVM), from the second evaluation on: the policy compiled to its
///   bytecode then, with the data document. Natively ≈ 6× faster than the interpreter on the
///   benchmarks' RBAC policy, but compiling costs about a third of what preparing the engine
///   does, so an instance that evaluates once (a Spin component: one instance per request)
///   never pays for it. `execute` starts from the entry point with an empty rule cache, so
///   nothing of one evaluation reaches the next but the configured data.
struct Evaluator {
    engine: regorus::Engine,
    /// What the VM is compiled from, until the second evaluation takes it.
    compiled: Option<regorus::CompiledPolicy>,
    vm: Option<Box<RegoVM>>,
    evaluations: u32,
}

impl Evaluator {
    /// Counts an evaluation; the second compiles the VM when its compiler takes the policy.
    fn next(&mut self, query: &str, limits: Limits) {
        self.evaluations = self.evaluations.saturating_add(1);
        if self.evaluations < 2 {
            return;
        }
        let Some(compiled) = self.compiled.take() else {
            return;
        };
        if let Ok(program) = Compiler::compile_from_policy(&compiled, &[query]) {
            if !time_builtins::called_by(&program) {
                self.vm = vm(program, compiled, self.engine.get_data(), limits);
            }
        }
    }
}

impl std::fmt::Debug for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Policy")
            .field("query", &self.query)
            .field("vm", &self.runs_on_vm())
            .finish_non_exhaustive()
    }
}

impl Policy {
    /// True when the policy runs on regorus's virtual machine (from its second evaluation, when
    /// the VM's compiler takes it), false while it runs on the interpreter.
    pub fn runs_on_vm(&self) -> bool {
        self.evaluator().vm.is_some()
    }

    /// The evaluator, for one evaluation at a time. A panic during an earlier evaluation leaves
    /// nothing behind that the next one depends on (each starts from the prepared state and
    /// replaces the input), so a poisoned lock is taken as it is.
    fn evaluator(&self) -> MutexGuard<'_, Evaluator> {
        self.evaluator
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// True when `query` names a rule: `data.` and dot-separated identifiers.
pub fn is_rule_path(query: &str) -> bool {
    query.strip_prefix("data.").is_some_and(|path| {
        path.split('.')
            .all(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
    })
}

/// Why a policy was refused, in regorus's words, by the field at fault.
#[derive(Debug)]
pub enum CompileError {
    /// The source (or its `data`) does not compile.
    Policy(String),
    /// The query names no rule of the policy.
    Query(String),
}

impl CompileError {
    fn policy(error: impl std::fmt::Display) -> CompileError {
        CompileError::Policy(error.to_string())
    }
}

/// What bounds an evaluation: its time (or work) budget and the largest result, as JSON.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Milliseconds an evaluation may run (on Workers: the work they stand for).
    pub time_ms: u32,
    /// Longest result accepted, in bytes of JSON.
    pub output_bytes: usize,
}

/// Compiles `source` (Rego v1) with the `data` documents (merged, in order); `query` is the rule a
/// decision reads, e.g. `data.envoy.authz.allow`. `Err` says why and which part is at fault.
pub fn compile(
    source: &str,
    data: &[&Value],
    query: &str,
    limits: Limits,
) -> Result<Policy, CompileError> {
    if !is_rule_path(query) {
        let message = "must name a rule, e.g. data.envoy.authz.allow";
        return Err(CompileError::Query(message.into()));
    }
    let mut engine = engine("policy.rego", source, data)?;
    time_builtins::add(&mut engine).map_err(CompileError::policy)?;
    #[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
    use_work_clock();
    engine.set_execution_timer_config(timer(limits));
    // OPA's default: a builtin that fails on its arguments (`to_number("x")`, `count(1)`, a
    // division by zero) makes its expression undefined, not the evaluation an error. It is also
    // what the virtual machine does, so both tiers answer alike (docs/configuration.md lists what
    // still raises: an unknown builtin, the time extensions, arithmetic on a non-number).
    engine.set_strict_builtin_errors(false);
    // regorus analyses, schedules and hoists a policy on its first evaluation and keeps the result
    // in the engine: done once here, every request's evaluation starts prepared (natively 42 → 22
    // µs per evaluation of bench/policy/rbac.rego). Also checks that `query` names a rule.
    let entrypoint: regorus::Rc<str> = query.into();
    let compiled = engine
        .compile_with_entrypoint(&entrypoint)
        .map_err(|e| CompileError::Query(e.to_string()))?;
    let evaluator = Evaluator {
        engine,
        compiled: Some(compiled),
        vm: None,
        evaluations: 0,
    };
    Ok(Policy {
        evaluator: Mutex::new(evaluator),
        query: query.to_owned(),
        limits,
    })
}

/// A virtual machine loaded with `program`, the policy's `data` and its time budget; `None` when
/// the data does not fit the program's rules (the interpreter then goes on answering). The
/// policy itself answers a rule that is undefined but has a `default`.
fn vm(
    program: std::sync::Arc<Program>,
    policy: regorus::CompiledPolicy,
    data: regorus::Value,
    limits: Limits,
) -> Option<Box<RegoVM>> {
    let mut vm = RegoVM::new_with_policy(policy);
    vm.load_program(program);
    vm.set_data(data).ok()?;
    vm.set_execution_timer_config(Some(timer(limits)));
    // The time budget bounds the work; no second, instruction-count limit (regorus's default,
    // 25,000 instructions, would refuse a policy over a data document of a few thousand entries).
    vm.set_max_instructions(usize::MAX);
    vm.set_strict_builtin_errors(false);
    Some(Box::new(vm))
}

/// The execution timer of `limits`: checked every [`CHECK_INTERVAL`] work units.
fn timer(limits: Limits) -> ExecutionTimerConfig {
    ExecutionTimerConfig {
        limit: Duration::from_millis(u64::from(limits.time_ms)),
        check_interval: NonZeroU32::new(CHECK_INTERVAL).unwrap_or(NonZeroU32::MIN),
    }
}

/// An engine with `source` (Rego v1; `file` in messages) and the `data` documents added.
fn engine(file: &str, source: &str, data: &[&Value]) -> Result<regorus::Engine, CompileError> {
    let mut engine = regorus::Engine::new();
    engine.set_rego_v0(false);
    engine
        .add_policy(file.into(), source.into())
        .map_err(CompileError::policy)?;
    for data in data {
        let data =
            regorus::Value::from_json_str(&data.to_string()).map_err(CompileError::policy)?;
        engine.add_data(data).map_err(CompileError::policy)?;
    }
    Ok(engine)
}

/// The build-time check of a builtin policy (`edgeward policy check`): `source` (the file `file`)
/// parses as Rego v1 and the `data` documents merge. Not checked: the rule a configuration's
/// `query` will name (checked when the gateway loads, as for every policy).
pub fn check(file: &str, source: &str, data: &[&Value]) -> Result<(), CompileError> {
    engine(file, source, data).map(drop)
}

/// Evaluates the policy's rule with `input` given as JSON text (see [`evaluate`]); text that is
/// not JSON is [`AuthzFault::Invalid`].
pub fn evaluate_json(policy: &Policy, input: &[u8], now: u64) -> Result<Option<Value>, AuthzFault> {
    // serde_json straight into regorus's `Value`: `Value::from_json_str` would first install a
    // table interning object keys, which pays only for arrays of many like objects.
    let input: regorus::Value = serde_json::from_slice(input).map_err(|_| AuthzFault::Invalid)?;
    evaluate(policy, input, now)
}

/// Evaluates the policy's rule with `input` at the request's time `now` (Unix seconds):
/// `Ok(None)` when it is undefined; a result longer than the policy's output limit is
/// [`AuthzFault::TooLarge`].
pub fn evaluate(
    policy: &Policy,
    input: regorus::Value,
    now: u64,
) -> Result<Option<Value>, AuthzFault> {
    let mut evaluator = policy.evaluator();
    evaluator.next(&policy.query, policy.limits);
    let Evaluator { engine, vm, .. } = &mut *evaluator;
    let value = match vm {
        Some(vm) => {
            vm.set_input(input);
            vm.execute().map_err(|e| vm_fault(&e))
        }
        None => {
            engine.set_input(input);
            let value = time_builtins::at(now, || engine.eval_rule(policy.query.clone()));
            value.map_err(|e| fault(&e))
        }
    };
    drop(evaluator);
    let value = value?;
    if value == regorus::Value::Undefined {
        return Ok(None);
    }
    // Measured as a remote answer is: the length of its compact JSON (regorus's own
    // `to_json_str` pretty-prints).
    let mut length = Length(0);
    serde_json::to_writer(&mut length, &value).map_err(|_| AuthzFault::Invalid)?;
    if length.0 > policy.limits.output_bytes {
        return Err(AuthzFault::TooLarge);
    }
    serde_json::to_value(&value)
        .map(Some)
        .map_err(|_| AuthzFault::Invalid)
}

/// Counts the bytes written to it.
struct Length(usize);

impl std::io::Write for Length {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0 = self.0.saturating_add(bytes.len());
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `value` as regorus's value, built directly (no JSON text in between): the same value
/// `serde_json` would parse its text into, numbers of each kind (`u64`, `i64`, `f64`) included.
pub fn from_json(value: &Value) -> regorus::Value {
    match value {
        Value::Null => regorus::Value::Null,
        Value::Bool(b) => regorus::Value::Bool(*b),
        Value::Number(n) => number(n),
        Value::String(s) => regorus::Value::from(s.as_str()),
        Value::Array(items) => {
            regorus::Value::from(items.iter().map(from_json).collect::<Vec<_>>())
        }
        Value::Object(members) => from_json_object(members),
    }
}

/// A JSON object as regorus's object (see [`from_json`]).
pub fn from_json_object(members: &serde_json::Map<String, Value>) -> regorus::Value {
    object(members.iter().map(|(k, v)| (k.as_str(), from_json(v))))
}

/// A regorus object of `members` (name → value).
pub fn object<'a>(members: impl IntoIterator<Item = (&'a str, regorus::Value)>) -> regorus::Value {
    let members = members
        .into_iter()
        .map(|(name, value)| (regorus::Value::from(name), value));
    regorus::Value::from(members.collect::<BTreeMap<_, _>>())
}

/// A JSON number as regorus's deserializer makes it: by the kind serde_json parsed.
fn number(n: &serde_json::Number) -> regorus::Value {
    match (n.as_u64(), n.as_i64(), n.as_f64()) {
        (Some(u), _, _) => regorus::Value::from(u),
        (None, Some(i), _) => regorus::Value::from(i),
        (None, None, Some(f)) => regorus::Value::from(f),
        (None, None, None) => regorus::Value::Null,
    }
}

/// A virtual machine's evaluation error as a fault: a budget running out is
/// [`AuthzFault::Limit`].
fn vm_fault(error: &VmError) -> AuthzFault {
    match error {
        VmError::TimeLimitExceeded { .. }
        | VmError::InstructionLimitExceeded { .. }
        | VmError::MemoryLimitExceeded { .. } => AuthzFault::Limit,
        _ => AuthzFault::Invalid,
    }
}

/// An interpreter's evaluation error as a fault: a budget running out is [`AuthzFault::Limit`].
fn fault(error: &anyhow::Error) -> AuthzFault {
    match error.downcast_ref::<LimitError>() {
        Some(_) => AuthzFault::Limit,
        None if error.to_string().contains("execution exceeded") => AuthzFault::Limit,
        None => AuthzFault::Invalid,
    }
}

/// OPA's time builtins of the time-of-day examples, answered from the request's time (see the
/// module documentation): `time.now_ns()`, and `time.clock(x)` → `[hour, minute, second]`,
/// `time.weekday(x)` → `"Monday"`…, `time.date(x)` → `[year, month, day]`, where `x` is
/// nanoseconds since the epoch or `[ns, "UTC"]`. The calendar is chrono's.
pub mod time_builtins {
    use anyhow::{anyhow, Result};
    use chrono::{DateTime, Datelike, Timelike, Utc, Weekday};
    use regorus::Value;
    use std::cell::Cell;

    std::thread_local! {
        /// The time of the evaluation running on this thread, in nanoseconds since the epoch.
        static NOW_NS: Cell<Option<i64>> = const { Cell::new(None) };
    }

    /// Runs `evaluate` with `time.now_ns()` answering `now` (Unix seconds). Evaluations are
    /// synchronous, so one thread runs one at a time.
    pub fn at<T>(now: u64, evaluate: impl FnOnce() -> T) -> T {
        let ns = i64::try_from(now)
            .ok()
            .and_then(|s| s.checked_mul(1_000_000_000));
        NOW_NS.with(|cell| cell.set(ns));
        let result = evaluate();
        NOW_NS.with(|cell| cell.set(None));
        result
    }

    /// The builtins' names.
    const NAMES: [&str; 4] = ["time.now_ns", "time.clock", "time.weekday", "time.date"];

    /// True when `program` calls one of the builtins. Builds of regorus without its `time`
    /// feature (the functions) do not compile such a program for the virtual machine at all;
    /// builds with it (this crate's tests, through a dev-dependency) would run regorus's own
    /// clock-reading builtins there instead of these.
    pub fn called_by(program: &regorus::rvm::program::Program) -> bool {
        let names = program.builtin_info_table.iter().map(|b| b.name.as_str());
        names.into_iter().any(|name| NAMES.contains(&name))
    }

    /// Adds the four builtins to `engine` as extensions.
    pub fn add(engine: &mut regorus::Engine) -> Result<()> {
        let [now_name, clock_name, weekday_name, date_name] = NAMES.map(String::from);
        engine.add_extension(now_name, 0, Box::new(now_ns))?;
        engine.add_extension(clock_name, 1, Box::new(clock))?;
        engine.add_extension(weekday_name, 1, Box::new(weekday))?;
        engine.add_extension(date_name, 1, Box::new(date))
    }

    fn now_ns(_: Vec<Value>) -> Result<Value> {
        let ns = NOW_NS
            .with(Cell::get)
            .ok_or_else(|| anyhow!("no request time"))?;
        Ok(Value::from(ns))
    }

    fn clock(args: Vec<Value>) -> Result<Value> {
        let time = utc("time.clock", &args)?;
        let parts = [time.hour(), time.minute(), time.second()];
        Ok(Value::from(
            parts.map(|n| Value::from(i64::from(n))).to_vec(),
        ))
    }

    fn weekday(args: Vec<Value>) -> Result<Value> {
        let name = match utc("time.weekday", &args)?.weekday() {
            Weekday::Mon => "Monday",
            Weekday::Tue => "Tuesday",
            Weekday::Wed => "Wednesday",
            Weekday::Thu => "Thursday",
            Weekday::Fri => "Friday",
            Weekday::Sat => "Saturday",
            Weekday::Sun => "Sunday",
        };
        Ok(Value::from(name))
    }

    fn date(args: Vec<Value>) -> Result<Value> {
        let time = utc("time.date", &args)?;
        let parts = [
            i64::from(time.year()),
            i64::from(time.month()),
            i64::from(time.day()),
        ];
        Ok(Value::from(parts.map(Value::from).to_vec()))
    }

    /// The UTC time of the one argument: nanoseconds, or `[ns, "UTC"]` (`""` is UTC too).
    fn utc(name: &str, args: &[Value]) -> Result<DateTime<Utc>> {
        let ns = match args.first() {
            Some(Value::Array(pair)) if pair.len() == 2 => {
                let zone = pair[1]
                    .as_string()
                    .map_err(|_| anyhow!("{name}: a time zone is a string"))?;
                if !matches!(zone.as_ref(), "UTC" | "") {
                    return Err(anyhow!(
                        "{name}: time zone {zone:?} is not supported (UTC only: the policy function has no time-zone database)"
                    ));
                }
                pair[0].as_i64()
            }
            Some(value) => value.as_i64(),
            None => return Err(anyhow!("{name}: one argument")),
        };
        let ns = ns.map_err(|_| anyhow!("{name}: nanoseconds since the epoch, as an integer"))?;
        Ok(DateTime::from_timestamp_nanos(ns))
    }
}
