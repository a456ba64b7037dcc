//! A test decision point for edgeward's authorize stage: Rego policies evaluated natively by
//! regorus behind two APIs, so the e2e tests ask a real policy engine.
//!
//! - OPA Data API: `POST /v1/data/{path}` with `{"input": …}` → `{"result": …}` (the rule
//!   `data.{path with / as .}`), `{}` when the rule is undefined.
//! - AuthZEN 1.0 Access Evaluation: `POST /access/v1/evaluation` with the request as `input` of the
//!   rule named by `--authzen-rule` (a boolean, or an object with `decision`) → `{"decision": …}`.
//! - Faults, by path prefix: `/fault/slow/…` answers after `--slow-ms` (default 3000),
//!   `/fault/500/…` answers 500, `/fault/garbage/…` answers 200 `application/json` that is not JSON,
//!   `/fault/huge/…` answers 2 MiB of valid JSON. (A decision point that is down is a closed port.)
//! - Authentication, as OPA's `--authentication=token`: below `/auth/…` every call must carry
//!   `Authorization: Bearer T`, where T is the value of the environment variable named by
//!   `--token-env` (never on the command line); a missing or other token answers 401.
//! - `GET /_stats`: `{"calls": {path: n}, "last": {"path", "body"}}`: every POST counted by its
//!   path (faults included), and the last one's body as received.
//!
//! Usage: `edgeward-decision-point --policy FILE [--policy FILE…] [--authzen-rule data.x.y]
//! [--port N] [--slow-ms N] [--token-env NAME]`; prints `{"port": N}` on stdout once listening (port 0: any).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tiny_http::{Header, Request, Response, Server};

struct Options {
    policies: Vec<String>,
    authzen_rule: String,
    port: u16,
    slow_ms: u64,
    token: Option<String>,
}

fn options() -> Result<Options, String> {
    let mut options = Options {
        policies: Vec::new(),
        authzen_rule: "data.edgeward.authzen.decision".into(),
        port: 0,
        slow_ms: 3000,
        token: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--policy" => options.policies.push(value),
            "--authzen-rule" => options.authzen_rule = value,
            "--port" => options.port = value.parse().map_err(|_| "bad --port")?,
            "--slow-ms" => options.slow_ms = value.parse().map_err(|_| "bad --slow-ms")?,
            "--token-env" => {
                let token = std::env::var(&value).map_err(|_| format!("{value} is not set"))?;
                options.token = Some(token);
            }
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    Ok(options)
}

/// An engine with every policy loaded; cloned per request (regorus engines are not shared).
fn engine(policies: &[String]) -> Result<regorus::Engine, String> {
    let mut engine = regorus::Engine::new();
    for file in policies {
        engine
            .add_policy_from_file(file)
            .map_err(|e| format!("{file}: {e}"))?;
    }
    Ok(engine)
}

/// Evaluates `rule` with `input`; `None` when it is undefined.
fn evaluate(
    engine: &regorus::Engine,
    rule: &str,
    input: &serde_json::Value,
) -> Result<Option<serde_json::Value>, String> {
    let mut engine = engine.clone();
    let input = regorus::Value::from_json_str(&input.to_string()).map_err(|e| e.to_string())?;
    engine.set_input(input);
    let value = engine.eval_rule(rule.into()).map_err(|e| e.to_string())?;
    if value == regorus::Value::Undefined {
        return Ok(None);
    }
    let json = value.to_json_str().map_err(|e| e.to_string())?;
    serde_json::from_str(&json)
        .map(Some)
        .map_err(|e| e.to_string())
}

fn json(status: u16, body: String) -> Response<std::io::Cursor<Vec<u8>>> {
    let header = Header::from_bytes("content-type", "application/json").expect("static header");
    Response::from_string(body)
        .with_status_code(status)
        .with_header(header)
}

/// The answer to one API call (after the fault prefix is removed).
fn answer(engine: &regorus::Engine, authzen_rule: &str, path: &str, body: &[u8]) -> (u16, String) {
    let request: serde_json::Value = match serde_json::from_slice(body) {
        Ok(value) => value,
        Err(e) => {
            return (
                400,
                serde_json::json!({ "error": e.to_string() }).to_string(),
            )
        }
    };
    if let Some(rule) = path.strip_prefix("/v1/data/") {
        let rule = format!("data.{}", rule.trim_matches('/').replace('/', "."));
        return match evaluate(engine, &rule, &request["input"]) {
            Ok(Some(result)) => (200, serde_json::json!({ "result": result }).to_string()),
            // OPA answers an undefined document (no rule at the path) with an empty object.
            Ok(None) => (200, "{}".into()),
            Err(e) if e.contains("not a valid rule path") => (200, "{}".into()),
            Err(e) => (500, serde_json::json!({ "error": e }).to_string()),
        };
    }
    if path == "/access/v1/evaluation" {
        return match evaluate(engine, authzen_rule, &request) {
            Ok(Some(serde_json::Value::Bool(decision))) => {
                (200, serde_json::json!({ "decision": decision }).to_string())
            }
            Ok(Some(object @ serde_json::Value::Object(_))) => (200, object.to_string()),
            Ok(_) => (200, r#"{"decision":false}"#.into()),
            Err(e) => (500, serde_json::json!({ "error": e }).to_string()),
        };
    }
    (404, r#"{"error":"not found"}"#.into())
}

struct State {
    engine: regorus::Engine,
    authzen_rule: String,
    slow_ms: u64,
    token: Option<String>,
    calls: Mutex<BTreeMap<String, u64>>,
    last: Mutex<serde_json::Value>,
}

fn serve(state: &State, mut request: Request) {
    let path = request
        .url()
        .split('?')
        .next()
        .unwrap_or_default()
        .to_owned();
    if request.method().as_str() == "GET" && path == "/_stats" {
        let calls = state.calls.lock().expect("not poisoned").clone();
        let last = state.last.lock().expect("not poisoned").clone();
        let stats = serde_json::json!({ "calls": calls, "last": last });
        let _ = request.respond(json(200, stats.to_string()));
        return;
    }
    *state
        .calls
        .lock()
        .expect("not poisoned")
        .entry(path.clone())
        .or_default() += 1;
    let mut body = Vec::new();
    if request.as_reader().read_to_end(&mut body).is_err() {
        return;
    }
    let text = String::from_utf8_lossy(&body).into_owned();
    *state.last.lock().expect("not poisoned") = serde_json::json!({ "path": path, "body": text });
    let path = match path.strip_prefix("/auth/") {
        Some(rest) => {
            if !authenticated(state, &request) {
                let _ = request.respond(json(401, r#"{"code":"unauthorized"}"#.into()));
                return;
            }
            format!("/{rest}")
        }
        None => path,
    };
    let (fault, api_path) = match path.strip_prefix("/fault/") {
        Some(rest) => match rest.split_once('/') {
            Some((mode, api)) => (Some(mode.to_owned()), format!("/{api}")),
            None => (Some(rest.to_owned()), String::new()),
        },
        None => (None, path.clone()),
    };
    let response = match fault.as_deref() {
        None => {
            let (status, text) = answer(&state.engine, &state.authzen_rule, &api_path, &body);
            json(status, text)
        }
        Some("slow") => {
            std::thread::sleep(Duration::from_millis(state.slow_ms));
            let (status, text) = answer(&state.engine, &state.authzen_rule, &api_path, &body);
            json(status, text)
        }
        Some("500") => json(500, r#"{"result":true,"decision":true}"#.into()),
        Some("garbage") => json(200, "<html>not json".into()),
        Some("huge") => {
            let pad = "x".repeat(2 * 1024 * 1024);
            json(
                200,
                format!(r#"{{"result":true,"decision":true,"pad":"{pad}"}}"#),
            )
        }
        Some(_) => json(404, r#"{"error":"unknown fault"}"#.into()),
    };
    let _ = request.respond(response);
}

/// True when the request carries `Authorization: Bearer` with the configured token.
fn authenticated(state: &State, request: &Request) -> bool {
    let Some(token) = &state.token else {
        return false;
    };
    let expected = format!("Bearer {token}");
    request
        .headers()
        .iter()
        .any(|h| h.field.equiv("authorization") && h.value.as_str() == expected)
}

fn main() {
    let options = match options() {
        Ok(options) => options,
        Err(e) => {
            eprintln!("edgeward-decision-point: {e}");
            std::process::exit(2);
        }
    };
    let engine = match engine(&options.policies) {
        Ok(engine) => engine,
        Err(e) => {
            eprintln!("edgeward-decision-point: policy does not compile: {e}");
            std::process::exit(2);
        }
    };
    let server = match Server::http(("127.0.0.1", options.port)) {
        Ok(server) => server,
        Err(e) => {
            eprintln!("edgeward-decision-point: cannot listen: {e}");
            std::process::exit(1);
        }
    };
    let port = server.server_addr().to_ip().map(|a| a.port()).unwrap_or(0);
    println!("{}", serde_json::json!({ "port": port }));
    let state = Arc::new(State {
        engine,
        authzen_rule: options.authzen_rule,
        slow_ms: options.slow_ms,
        token: options.token,
        calls: Mutex::default(),
        last: Mutex::default(),
    });
    for request in server.incoming_requests() {
        let state = Arc::clone(&state);
        std::thread::spawn(move || serve(&state, request));
    }
}
