//! edgeward as a wasi:http component (Spin, or any wasi:http host that also offers
//! `wasi:keyvalue@0.2.0-draft2`, such as the test host in `tests/spin-host`): translate the
//! request, provide the platform, read the config. All decisions are made by the `edgeward` core.
//!
//! Configuration comes from the `EDGEWARD_CONFIG` environment variable (wasi:cli/environment), the one
//! configuration interface that Spin and wasmtime-based hosts all offer at the same version: Spin 3
//! implements `wasi:config/store@0.2.0-draft-2024-09-27` and wasmtime's `wasmtime-wasi-config` another
//! draft (`@0.2.0-rc.1` when this was chosen), and a component importing either fails to instantiate
//! on the other; the test host (`tests/spin-host`, wasmtime 48 as a library) offers no `wasi:config`.

use edgeward::crypto::RustCrypto;
use edgeward::platform::{FetchError, FetchRequest, FetchResponse, LogLevel, Platform};
use edgeward::{Gateway, Outcome};
use futures::{SinkExt, StreamExt};
use spin_sdk::http::{
    Fields, IncomingRequest, IncomingResponse, OutgoingRequest, OutgoingResponse, ResponseOutparam,
    Scheme,
};
use spin_sdk::http_component;
use spin_sdk::wit::wasi::http0_2_0::types::FutureIncomingResponse;
use std::task::Poll;

mod key_value;
mod outbound;
mod preinit;

#[http_component]
async fn handle(request: IncomingRequest, out: ResponseOutparam) {
    let env = preinit::Environment::read();
    let config = env.get("EDGEWARD_CONFIG");
    let secrets = |name: &str| env.get(name);
    // The build's gateway when this is its configuration (`preinit`), else loaded here.
    let gateway = preinit::gateway(config.as_deref(), &secrets).unwrap_or_else(|| {
        preinit::Found::Made(Box::new(Gateway::new(config.as_deref(), &secrets, "spin")))
    });
    let gateway = gateway.get();
    let core_request = edgeward::Request {
        method: request.method().to_string(),
        url: request_url(&request),
        headers: request
            .headers()
            .entries()
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str(),
                    std::str::from_utf8(value).unwrap_or("\u{fffd}"),
                )
            })
            .collect(),
        // wasi:http does not expose the TLS client certificate: a TLS terminator in front forwards
        // it in the header named by `mtls.client_cert_header`, which the core reads.
        client_cert: None,
    };
    let spin = Spin::new();
    let response = match gateway.handle(&spin, &core_request).await {
        Outcome::Respond(response) => response,
        Outcome::ReadBody { max_bytes } => match read_body(request, max_bytes).await {
            Some(body) => gateway.handle_body(&spin, &core_request, &body).await,
            None => gateway.body_too_large(),
        },
        Outcome::Forward(forward) => match forward_to_origin(request, &forward).await {
            Ok(origin_response) => return stream_back(origin_response, &forward, out).await,
            Err(error) => gateway.origin_failed(error),
        },
    };
    respond(response, out).await;
}

/// Reads the request body, or `None` when it is longer than `max_bytes` or broken.
async fn read_body(request: IncomingRequest, max_bytes: usize) -> Option<Vec<u8>> {
    let mut stream = request.into_body_stream();
    let mut body = Vec::new();
    while let Some(chunk) = stream.next().await {
        body.extend_from_slice(&chunk.ok()?);
        if body.len() > max_bytes {
            return None;
        }
    }
    Some(body)
}

/// The URL the client used: wasi:http gives scheme and authority separately (authority from `Host`).
fn request_url(request: &IncomingRequest) -> String {
    let scheme = match request.scheme() {
        Some(Scheme::Https) => "https",
        _ => "http",
    };
    let authority = request.authority().unwrap_or_else(|| "localhost".into());
    let path = request.path_with_query().unwrap_or_else(|| "/".into());
    format!("{scheme}://{authority}{path}")
}

fn fields<'a>(headers: impl Iterator<Item = (&'a str, &'a str)>) -> Fields {
    let list: Vec<(String, Vec<u8>)> = headers
        .map(|(n, v)| (n.to_owned(), v.as_bytes().to_vec()))
        .collect();
    // Names and values come from a parsed request or from the core; an invalid one is dropped.
    Fields::from_list(&list).unwrap_or_else(|_| Fields::new())
}

/// Sends the request to the origin, streaming the client's body through.
async fn forward_to_origin(
    request: IncomingRequest,
    forward: &edgeward::Forward,
) -> Result<IncomingResponse, FetchError> {
    let url = edgeward::http::parse_url(&forward.url).map_err(|_| FetchError::Unreachable)?;
    let outgoing = OutgoingRequest::new(fields(forward.headers.iter()));
    let method = request.method();
    let scheme = if url.scheme() == "https" {
        Scheme::Https
    } else {
        Scheme::Http
    };
    let authority = match url.port() {
        Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
        None => url.host_str().unwrap_or_default().to_owned(),
    };
    let path = match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    };
    let set = [
        outgoing.set_method(&method),
        outgoing.set_scheme(Some(&scheme)),
        outgoing.set_authority(Some(&authority)),
        outgoing.set_path_with_query(Some(&path)),
    ];
    if set.iter().any(Result::is_err) {
        return Err(FetchError::Unreachable);
    }
    let mut sink = outgoing.take_body();
    let sends_bytes = forward.body.sends_bytes();
    let pump = async move {
        if sends_bytes {
            let mut body = request.into_body_stream();
            while let Some(Ok(chunk)) = body.next().await {
                if sink.send(chunk).await.is_err() {
                    break;
                }
            }
        }
        drop(sink);
    };
    let pending = outbound::send(outgoing, forward.timeout_ms)?;
    let ((), response) = futures::join!(pump, response_head(pending));
    response
}

/// Waits, without blocking the body pump, until the origin's response head arrives or the
/// request fails (a timeout set by [`outbound::send`] fails it with a timeout error code).
async fn response_head(pending: FutureIncomingResponse) -> Result<IncomingResponse, FetchError> {
    let mut waiting: Option<spin_executor::CancelOnDropToken> = None;
    let response = std::future::poll_fn(|cx| match pending.get() {
        Some(Ok(Ok(response))) => Poll::Ready(Ok(response)),
        Some(Ok(Err(code))) => Poll::Ready(Err(outbound::map_error(code))),
        Some(Err(())) => Poll::Ready(Err(FetchError::Unreachable)),
        None => {
            let token =
                spin_executor::push_waker_and_get_token(pending.subscribe(), cx.waker().clone());
            // Replacing the token drops the previous pollable, which must go before `pending`.
            waiting = Some(token.into());
            Poll::Pending
        }
    })
    .await;
    drop(waiting);
    response
}

/// Streams the origin's response back to the client, with the fields the core says the client
/// gets (`Forward::client_response_fields`).
async fn stream_back(origin: IncomingResponse, forward: &edgeward::Forward, out: ResponseOutparam) {
    let entries: Vec<(String, String)> = origin
        .headers()
        .entries()
        .into_iter()
        .map(|(n, v)| (n, String::from_utf8_lossy(&v).into_owned()))
        .collect();
    let headers =
        forward.client_response_fields(entries.iter().map(|(n, v)| (n.as_str(), v.as_str())));
    let response = OutgoingResponse::new(fields(headers.iter()));
    let _ = response.set_status_code(origin.status());
    let mut sink = response.take_body();
    out.set(response);
    let mut body = origin.take_body_stream();
    while let Some(Ok(chunk)) = body.next().await {
        if sink.send(chunk).await.is_err() {
            break;
        }
    }
}

async fn respond(response: edgeward::Response, out: ResponseOutparam) {
    let outgoing = OutgoingResponse::new(fields(response.headers.iter()));
    let _ = outgoing.set_status_code(response.status);
    let _ = out.set_with_body(outgoing, response.body).await;
}

/// A log line on stderr, which Spin shows (or writes to `.spin/logs`).
fn log(level: LogLevel, message: &str) {
    eprintln!("edgeward {level:?}: {message}");
}

/// The wasi platform: wall clock, stderr logging, wasi:random, wasi:http outgoing requests, and
/// the key-value store as shared cache tier (introspection answers, verified tokens) and replay
/// store. Every request is a fresh instance.
struct Spin {
    /// The instance's time, read once (every request is a fresh instance): what the store's
    /// expiry checks and sweeps compare with. Entries are named by the absolute expiry the core
    /// gives (`edgeward::kv`).
    now: u64,
    /// The "default" key-value store, opened on first use; down for the rest of the request
    /// after a failing or slow call (`key_value`).
    store: key_value::Store,
}

impl Spin {
    fn new() -> Spin {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        Spin {
            now,
            store: key_value::Store::new(|message| log(LogLevel::Warn, message)),
        }
    }

    fn random_u32(&self) -> u32 {
        let mut bytes = [0; 4];
        self.random(&mut bytes);
        u32::from_le_bytes(bytes)
    }
}

impl Platform for Spin {
    type Verifier = RustCrypto;

    fn verifier(&self) -> &RustCrypto {
        &RustCrypto
    }

    fn now(&self) -> u64 {
        self.now
    }

    fn log(&self, level: LogLevel, message: &str) {
        log(level, message);
    }

    fn random(&self, buf: &mut [u8]) {
        // Without randomness nothing secure can be made: fail loudly rather than return zeros.
        if getrandom::fill(buf).is_err() {
            panic!("wasi:random is unavailable");
        }
    }

    async fn fetch(&self, request: FetchRequest) -> Result<FetchResponse, FetchError> {
        outbound::fetch(&request)
    }

    async fn cache_get(&self, key: &str) -> Option<Vec<u8>> {
        self.store.get(key, self.now)
    }

    async fn cache_put(&self, key: &str, value: Vec<u8>, expires: u64) {
        let random = self.random_u32();
        self.store.put(key, &value, expires, self.now, random);
    }

    fn has_shared_cache(&self) -> bool {
        self.store.available()
    }

    fn instance_per_request(&self) -> bool {
        true
    }

    fn has_replay_store(&self) -> bool {
        self.store.bucket().is_some()
    }

    async fn replay_check(&self, key: &[u8; 32], expires: u64) -> Result<bool, FetchError> {
        let random = self.random_u32();
        self.store.first_use(key, expires, self.now, random)
    }
}
