//! The request and response crossings between workerd and the core, through `glue.js`: the
//! incoming request is read in one call, the origin fetch and the core's responses are made in one
//! call each. workers-rs' `Request`/`Response` cross once per header field and per property, and
//! rebuild every origin response; profiled, that was most of the shell's fixed cost per request.
//! The origin's answer is passed on as a promise: nothing in Rust waits for it.
//!
//! The platform's services for the core (its own fetches, timers, the Cache API, the replay
//! store's client) are glue.js promises too, awaited through [`crate::entry::wait`]: one crossing
//! each way, no workers-rs `Request`/`Headers`/`Response` wrappers, no `AbortController`.
//!
//! So are the Worker's environment (its text variables and the replay store's binding), the
//! console, and the 500 of a request the shell could not translate: the shell links no workers-rs.

use edgeward::platform::{FetchError, FetchRequest, FetchResponse, LogLevel};
use edgeward::{ClientCert, Forward, Gateway, Headers};
use std::cell::Cell;
use std::fmt;
use wasm_bindgen::prelude::*;

#[wasm_bindgen(module = "/src/glue.js")]
extern "C" {
    #[wasm_bindgen(js_name = requestHead)]
    fn request_head(request: &web_sys::Request) -> String;

    #[wasm_bindgen(catch)]
    fn forward(
        request: &web_sys::Request,
        url: &str,
        headers: &str,
        stream_body: bool,
        remove: &str,
        add: &str,
        timeout_ms: u32,
    ) -> Result<js_sys::Promise, JsValue>;

    #[wasm_bindgen(js_name = setOriginFailure, catch)]
    fn set_origin_failure(
        kind: &str,
        status: u16,
        headers: &str,
        body: &[u8],
    ) -> Result<(), JsValue>;

    #[wasm_bindgen(catch)]
    fn respond(status: u16, headers: &str, body: &[u8]) -> Result<web_sys::Response, JsValue>;

    #[wasm_bindgen(js_name = fetchBytes)]
    fn fetch_bytes(
        method: &str,
        url: &str,
        headers: &str,
        body: &[u8],
        timeout_ms: u32,
        max_bytes: f64,
    ) -> js_sys::Promise;

    /// `fetchBytes`' answer.
    type Fetched;
    #[wasm_bindgen(method, getter)]
    fn status(this: &Fetched) -> u16;
    #[wasm_bindgen(method, getter)]
    fn fields(this: &Fetched) -> String;
    #[wasm_bindgen(method, getter)]
    fn body(this: &Fetched) -> Vec<u8>;

    #[wasm_bindgen(js_name = sleep)]
    fn sleep_promise(ms: u32) -> js_sys::Promise;

    #[wasm_bindgen(js_name = cacheGet)]
    fn cache_get(url: &str) -> js_sys::Promise;

    #[wasm_bindgen(js_name = cachePut)]
    fn cache_put(url: &str, body: &[u8], cache_control: &str) -> js_sys::Promise;

    #[wasm_bindgen(js_name = replayCheck)]
    fn replay_check(
        namespace: &JsValue,
        name: &str,
        body: &[u8],
        timeout_ms: u32,
    ) -> js_sys::Promise;

    /// A text variable or secret of the Worker's environment; `None` when absent or not text.
    #[wasm_bindgen(js_name = envText)]
    pub fn env_text(env: &JsValue, name: &str) -> Option<String>;

    /// A Durable Object namespace bound in the environment as `name`; `None` when there is none.
    #[wasm_bindgen(js_name = envNamespace)]
    pub fn env_namespace(env: &JsValue, name: &str) -> Option<JsValue>;

    #[wasm_bindgen(js_name = log)]
    fn log_line(level: u8, message: &str);

    /// One statement of the replay store's SQLite storage (`src/replay.rs`): the rows it wrote.
    #[wasm_bindgen(js_name = sqlExec, catch)]
    pub fn sql_exec(sql: &JsValue, query: &str, bindings: &js_sys::Array) -> Result<f64, JsValue>;

    /// The answer to a request the shell could not translate: a bare 500 with `body`. (The body
    /// crosses as text, so this import has a JS shim: an import without one would be passed to Wasm
    /// straight from a second namespace import of glue.js, a duplicate key in the import object.)
    #[wasm_bindgen(js_name = internalError)]
    fn internal_error_with(body: &str) -> JsValue;
}

/// The answer to a request the shell could not translate: a bare 500, as workers-rs gave.
pub fn internal_error() -> JsValue {
    internal_error_with("INTERNAL SERVER ERROR")
}

/// One line on the console, `edgeward: ` and `message`, at `level` (`console.error`, `.warn`,
/// `.log`).
pub fn log(level: LogLevel, message: &str) {
    let level = match level {
        LogLevel::Error => 2,
        LogLevel::Warn => 1,
        LogLevel::Info => 0,
    };
    log_line(level, &format!("edgeward: {message}"));
}

#[wasm_bindgen]
extern "C" {
    /// `crypto.getRandomValues` filling Wasm memory in place (getrandom's `js` backend makes a JS
    /// array and copies it over: three crossings a call).
    #[wasm_bindgen(js_namespace = crypto, js_name = getRandomValues, catch)]
    fn get_random_values(buf: &mut [u8]) -> Result<JsValue, JsValue>;
}

/// Fills `buf` from the runtime's CSPRNG; `false` if it refused (e.g. over 65536 bytes).
pub fn random(buf: &mut [u8]) -> bool {
    buf.chunks_mut(65536)
        .all(|chunk| get_random_values(chunk).is_ok())
}

/// Why a request or response could not cross: a header field that cannot be expressed.
#[derive(Debug)]
pub struct BadField;

/// Why the shell could not translate a request or a response (logged, then a 500).
#[derive(Debug)]
pub enum ShellError {
    /// A header field that cannot be expressed.
    BadField,
    /// What JavaScript threw.
    Js(JsValue),
}

impl fmt::Display for ShellError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShellError::BadField => f.write_str("a header field contains a line break"),
            ShellError::Js(thrown) => match thrown.as_string() {
                Some(text) => f.write_str(&text),
                None => write!(f, "{thrown:?}"),
            },
        }
    }
}

impl From<BadField> for ShellError {
    fn from(_: BadField) -> Self {
        ShellError::BadField
    }
}

impl From<JsValue> for ShellError {
    fn from(thrown: JsValue) -> Self {
        ShellError::Js(thrown)
    }
}

/// The incoming request as the core sees it.
pub fn read_request(request: &web_sys::Request) -> edgeward::Request {
    parse_head(&request_head(request))
}

/// `requestHead`'s string (see glue.js) as the core's request. Missing lines read as empty: the
/// core then refuses the request (no method, no URL), the shell decides nothing.
fn parse_head(head: &str) -> edgeward::Request {
    let mut lines = head.split('\n');
    let fingerprint = lines.next().unwrap_or_default();
    let verified = lines.next().unwrap_or_default();
    let revoked = lines.next().unwrap_or_default();
    let method = lines.next().unwrap_or_default().to_owned();
    let url = lines.next().unwrap_or_default().to_owned();
    let mut headers = Headers::new();
    while let (Some(name), Some(value)) = (lines.next(), lines.next()) {
        headers.append(name, value);
    }
    edgeward::Request {
        method,
        url,
        headers,
        client_cert: ClientCert::from_tls_client_auth(fingerprint, verified, revoked),
    }
}

/// `name\nvalue\n...`; a field containing a line break cannot be expressed (JS would refuse it).
fn flatten<'a>(fields: impl Iterator<Item = (&'a str, &'a str)>) -> Result<String, BadField> {
    let mut flat = String::new();
    for (name, value) in fields {
        if name.contains('\n') || value.contains('\n') {
            return Err(BadField);
        }
        if !flat.is_empty() {
            flat.push('\n');
        }
        flat.push_str(name);
        flat.push('\n');
        flat.push_str(value);
    }
    Ok(flat)
}

/// A response made by the core.
pub fn to_response(response: edgeward::Response) -> Result<web_sys::Response, ShellError> {
    let headers = flatten(response.headers.iter())?;
    Ok(respond(response.status, &headers, &response.body)?)
}

/// Sends the request to the origin as the core decided. The promise resolves to the origin's
/// answer, unchanged but for the core's edit of its fields (`Forward::response_edit`), or to the core's answer for an
/// origin that is unreachable or gives no response head within `origin_timeout_ms`; it is
/// returned to workerd, not awaited here.
pub fn send_to_origin(
    gateway: &Gateway,
    request: &web_sys::Request,
    forward_to: Forward,
) -> Result<js_sys::Promise, ShellError> {
    thread_local! {
        static FAILURE_SET: Cell<bool> = const { Cell::new(false) };
    }
    if !FAILURE_SET.get() {
        for (kind, error) in [
            ("unreachable", FetchError::Unreachable),
            ("timeout", FetchError::Timeout),
        ] {
            let failure = gateway.origin_failed(error);
            set_origin_failure(
                kind,
                failure.status,
                &flatten(failure.headers.iter())?,
                &failure.body,
            )?;
        }
        FAILURE_SET.set(true);
    }
    let headers = flatten(forward_to.headers.iter())?;
    // workerd frames responses itself: it drops connection-specific fields.
    let (remove, add) = match forward_to.response_edit(true) {
        None => (String::new(), String::new()),
        Some(edit) => (edit.remove.join("\n"), flatten(edit.add.iter())?),
    };
    Ok(forward(
        request,
        &forward_to.url,
        &headers,
        forward_to.body.sends_bytes(),
        &remove,
        &add,
        forward_to.timeout_ms,
    )?)
}

/// The core's own fetch (`Platform::fetch`), through `fetchBytes` in glue.js: one crossing out,
/// one promise, one crossing back with the status, the fields and the whole body.
pub async fn fetch(request: &FetchRequest) -> Result<FetchResponse, FetchError> {
    let headers = flatten(
        request
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str())),
    )
    .map_err(|_| FetchError::Unreachable)?;
    let promise = fetch_bytes(
        request.method,
        &request.url,
        &headers,
        &request.body,
        request.timeout_ms,
        request.max_body_bytes as f64,
    );
    match crate::entry::wait(promise).await {
        Ok(answer) => {
            let answer: Fetched = answer.unchecked_into();
            Ok(FetchResponse {
                status: answer.status(),
                headers: unflatten(&answer.fields()),
                body: answer.body(),
            })
        }
        Err(reason) => Err(match reason.as_string().as_deref() {
            Some("timeout") => FetchError::Timeout,
            Some("too-large") => FetchError::TooLarge,
            _ => FetchError::Unreachable,
        }),
    }
}

/// Waits `ms` milliseconds (`setTimeout`).
pub async fn sleep(ms: u32) {
    let _ = crate::entry::wait(sleep_promise(ms)).await;
}

/// A shared-cache entry (the Cache API); any failure is a miss.
pub async fn cache_read(url: &str) -> Option<Vec<u8>> {
    let value = crate::entry::wait(cache_get(url)).await.ok()?;
    value
        .dyn_into::<js_sys::Uint8Array>()
        .ok()
        .map(|bytes| bytes.to_vec())
}

/// Stores a shared-cache entry; a failure leaves it absent.
pub async fn cache_write(url: &str, body: &[u8], cache_control: &str) {
    let _ = crate::entry::wait(cache_put(url, body, cache_control)).await;
}

/// Posts `body` to the replay store's object `name`: its status, or why there is none.
pub async fn replay_ask(
    namespace: &JsValue,
    name: &str,
    body: &[u8],
    timeout_ms: u32,
) -> Result<u16, FetchError> {
    match crate::entry::wait(replay_check(namespace, name, body, timeout_ms)).await {
        Ok(status) => status
            .as_f64()
            .map(|status| status as u16)
            .ok_or(FetchError::Unreachable),
        Err(reason) if reason.as_string().as_deref() == Some("timeout") => Err(FetchError::Timeout),
        Err(_) => Err(FetchError::Unreachable),
    }
}

/// A flat list (`name\nvalue\n...`) as pairs; a trailing name without a value is dropped.
fn unflatten(flat: &str) -> Vec<(String, String)> {
    let mut lines = flat.split('\n');
    let mut fields = Vec::new();
    while let (Some(name), Some(value)) = (lines.next(), lines.next()) {
        fields.push((name.to_owned(), value.to_owned()));
    }
    fields
}

/// The request body, for the few requests the gateway reads itself.
pub async fn body(request: &web_sys::Request) -> Result<Vec<u8>, ShellError> {
    let buffer = crate::entry::wait(request.array_buffer()?).await?;
    Ok(js_sys::Uint8Array::new(&buffer).to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_head_keeps_repeated_fields_and_the_certificate_facts() {
        let fingerprint = "ab".repeat(32);
        let head = format!("{fingerprint}\nSUCCESS\n0\nPOST\nhttps://gw.test/a?b=1\ncookie\na=1\ncookie\nb=2\nx-y\n");
        let request = parse_head(&head);
        assert_eq!(request.method, "POST");
        assert_eq!(request.url, "https://gw.test/a?b=1");
        let cookies: Vec<&str> = request.headers.get_all("cookie").collect();
        assert_eq!(cookies, ["a=1", "b=2"]);
        assert_eq!(request.headers.get_all("x-y").collect::<Vec<_>>(), [""]);
        let cert = request.client_cert.expect("a certificate");
        assert_eq!(cert.sha256, [0xab; 32]);
    }

    #[test]
    fn a_request_head_without_a_certificate_or_lines_is_no_certificate_and_no_method() {
        let request = parse_head("\n\n\nGET\nhttps://gw.test/");
        assert!(request.client_cert.is_none());
        assert_eq!(request.method, "GET");
        let empty = parse_head("");
        assert_eq!((empty.method.as_str(), empty.url.as_str()), ("", ""));
        assert!(empty.headers.is_empty());
    }

    #[test]
    fn flattening_refuses_a_line_break_and_keeps_order() {
        let flat = flatten([("a", "1"), ("b", ""), ("a", "2")].into_iter());
        assert_eq!(flat.ok().as_deref(), Some("a\n1\nb\n\na\n2"));
        assert!(flatten([("a", "x\ny")].into_iter()).is_err());
        assert!(flatten([("a\n", "x")].into_iter()).is_err());
        assert_eq!(flatten(std::iter::empty()).ok().as_deref(), Some(""));
    }

    #[test]
    fn a_flat_list_reads_back_as_the_pairs_it_was_made_of() {
        let pairs = [
            ("content-type", "application/json"),
            ("x-e", ""),
            ("set-cookie", "a=1"),
        ];
        let flat = flatten(pairs.into_iter()).expect("no line breaks");
        let read = unflatten(&flat);
        let read: Vec<(&str, &str)> = read.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        assert_eq!(read, pairs);
        assert!(unflatten("").is_empty(), "no fields");
        assert_eq!(unflatten("a\n1\nb"), [("a".to_owned(), "1".to_owned())]);
    }
}
