//! The request and response crossings between workerd and the core, through `glue.js`: the
//! incoming request is read in one call, the origin fetch and the core's responses are made in one
//! call each. workers-rs' `Request`/`Response` cross once per header field and per property, and
//! rebuild every origin response; profiled, that was most of the shell's fixed cost per request.
//! The origin's answer is passed on as a promise: nothing in Rust waits for it.

use edgeward::platform::FetchError;
use edgeward::{ClientCert, Forward, Gateway, Headers};
use std::cell::Cell;
use wasm_bindgen::prelude::*;
use worker::web_sys;

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
        extra: &str,
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

use worker::js_sys;

/// Why a request or response could not cross: a header field that cannot be expressed.
#[derive(Debug)]
pub struct BadField;

impl From<BadField> for worker::Error {
    fn from(_: BadField) -> Self {
        worker::Error::RustError("a header field contains a line break".into())
    }
}

/// The incoming request as the core sees it.
pub fn read_request(request: &web_sys::Request) -> edgeward::Request {
    let head = request_head(request);
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
pub fn to_response(response: edgeward::Response) -> worker::Result<web_sys::Response> {
    let headers = flatten(response.headers.iter())?;
    Ok(respond(response.status, &headers, &response.body)?)
}

/// Sends the request to the origin as the core decided. The promise resolves to the origin's
/// answer, unchanged but for the core's response fields (if any), or to the core's answer for an
/// origin that is unreachable or gives no response head within `origin_timeout_ms`; it is
/// returned to workerd, not awaited here.
pub fn send_to_origin(
    gateway: &Gateway,
    request: &web_sys::Request,
    forward_to: Forward,
) -> worker::Result<js_sys::Promise> {
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
    let extra = flatten(forward_to.response_headers.iter())?;
    Ok(forward(
        request,
        &forward_to.url,
        &headers,
        forward_to.body.sends_bytes(),
        &extra,
        forward_to.timeout_ms,
    )?)
}

/// The request body, for the few requests the gateway reads itself.
pub async fn body(request: &web_sys::Request) -> worker::Result<Vec<u8>> {
    let buffer = crate::entry::wait(request.array_buffer()?).await?;
    Ok(js_sys::Uint8Array::new(&buffer).to_vec())
}
