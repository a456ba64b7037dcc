//! edgeward on Cloudflare Workers: translate the request, provide the platform, read the config.
//! All decisions are made by the `edgeward` core.
//!
//! Environment: `EDGEWARD_CONFIG` (the configuration JSON), `EDGEWARD_CRYPTO` (`webcrypto`, the
//! default, or `rustcrypto`), `EDGEWARD_SELFTEST=1` (enables the backend self-test, for tests only).
//! Binding: `EDGEWARD_REPLAY`, the Durable Object namespace of [`replay::ReplayStore`] (the shared
//! DPoP replay store; without it `dpop.replay: "strict"` answers 503).

mod replay;
mod selftest;
mod shared_cache;
mod webcrypto;

use edgeward::platform::{FetchError, FetchRequest, FetchResponse, LogLevel, Platform};
use edgeward::{Gateway, Outcome};
use futures_util::future::{select, Either};
use std::cell::OnceCell;
use std::time::Duration;
use webcrypto::{Backend, WebCrypto};
use worker::js_sys::Uint8Array;
use worker::wasm_bindgen::JsValue;
use worker::{
    console_error, console_log, console_warn, event, AbortController, Context, Date, Delay, Env,
    Fetch, Headers, Method, ObjectNamespace, Request, RequestInit, Response, Result,
};

/// What one isolate builds from the first request's environment.
struct Isolate {
    gateway: Gateway,
    platform: Workers,
    selftest: bool,
}

thread_local! {
    static ISOLATE: OnceCell<&'static Isolate> = const { OnceCell::new() };
}

fn isolate(env: &Env) -> &'static Isolate {
    ISOLATE.with(|cell| {
        *cell.get_or_init(|| {
            let var = |name: &str| env.var(name).map(|v| v.to_string()).ok();
            let config = var("EDGEWARD_CONFIG");
            let crypto = var("EDGEWARD_CRYPTO");
            let verifier = Backend::from_setting(crypto.as_deref()).unwrap_or_else(|message| {
                // Both backends give the same verdicts; only speed is at stake.
                console_error!("edgeward: {message}; using webcrypto");
                Backend::Web(WebCrypto)
            });
            Box::leak(Box::new(Isolate {
                gateway: Gateway::new(config.as_deref(), &|name| var(name), "cloudflare-workers"),
                platform: Workers {
                    verifier,
                    replay: env.durable_object(replay::BINDING).ok(),
                },
                selftest: var("EDGEWARD_SELFTEST").as_deref() == Some("1"),
            }))
        })
    })
}

#[event(fetch)]
async fn fetch(mut req: Request, env: Env, _ctx: Context) -> Result<Response> {
    let Isolate {
        gateway,
        platform,
        selftest,
    } = isolate(&env);
    if *selftest && req.method() == Method::Post && req.path() == selftest::PATH {
        return selftest::handle(req).await;
    }
    let core_request = edgeward::Request {
        method: req.method().to_string(),
        url: req.url()?.to_string(),
        headers: req
            .headers()
            .entries()
            .collect::<Vec<_>>()
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect(),
        client_cert: client_cert(&req),
    };
    match gateway.handle(platform, &core_request).await {
        Outcome::Respond(response) => to_worker_response(response),
        Outcome::ReadBody { max_bytes } => {
            let body = req.bytes().await?;
            let response = if body.len() > max_bytes {
                gateway.body_too_large()
            } else {
                gateway.handle_body(platform, &core_request, &body).await
            };
            to_worker_response(response)
        }
        Outcome::Forward(forward) => {
            let mut init = RequestInit::new();
            init.with_method(req.method())
                .with_headers(to_worker_headers(forward.headers.iter())?);
            if !matches!(req.method(), Method::Get | Method::Head) {
                // Stream the body through; it is never buffered.
                init.with_body(req.inner().body().map(JsValue::from));
            }
            let origin_request = Request::new_with_init(&forward.url, &init)?;
            match send_to_origin(origin_request, forward.timeout_ms).await {
                Ok(response) if forward.response_headers.is_empty() => Ok(response),
                Ok(response) => {
                    // A fetched response's headers are immutable: copy them, then add ours.
                    let headers = to_worker_headers(forward.response_headers.iter())?;
                    for (name, value) in response.headers().entries() {
                        if forward.response_headers.get_all(&name).next().is_none() {
                            headers.append(&name, &value)?;
                        }
                    }
                    Ok(response.with_headers(headers))
                }
                Err(error) => to_worker_response(gateway.origin_failed(error)),
            }
        }
    }
}

/// Sends the request to the origin; aborted after `timeout_ms` without a response head.
async fn send_to_origin(
    request: Request,
    timeout_ms: u32,
) -> std::result::Result<Response, FetchError> {
    let controller = AbortController::default();
    let signal = controller.signal();
    let fetch = Fetch::Request(request);
    let send = Box::pin(fetch.send_with_signal(&signal));
    let timer = Box::pin(Delay::from(Duration::from_millis(timeout_ms.into())));
    // Bound to a local so that the futures, which borrow `signal`, are dropped before it.
    let outcome = match select(send, timer).await {
        Either::Left((response, _)) => response.map_err(|_| FetchError::Unreachable),
        Either::Right(_) => {
            controller.abort();
            Err(FetchError::Timeout)
        }
    };
    outcome
}

/// The client certificate from `request.cf.tlsClientAuth` (zones with mTLS enabled). Workers gives
/// its SHA-256 fingerprint (hex), not the DER, which is all RFC 8705 binding needs. Cloudflare sets
/// every `tlsClientAuth` field as a string (empty when no certificate was presented); workers-rs
/// unwraps them, so a runtime that left one out would fail this request, not answer 2xx.
fn client_cert(req: &Request) -> Option<edgeward::ClientCert> {
    let auth = req.cf()?.tls_client_auth()?;
    if auth.cert_presented() != "1" {
        return None;
    }
    edgeward::ClientCert::from_sha256_hex(&auth.cert_fingerprint_sha256())
}

fn to_worker_headers<'a>(fields: impl Iterator<Item = (&'a str, &'a str)>) -> Result<Headers> {
    let headers = Headers::new();
    for (name, value) in fields {
        headers.append(name, value)?;
    }
    Ok(headers)
}

fn to_worker_response(response: edgeward::Response) -> Result<Response> {
    Ok(Response::from_bytes(response.body)?
        .with_status(response.status)
        .with_headers(to_worker_headers(response.headers.iter())?))
}

/// The Workers platform: JS clock, console, WebCrypto randomness and signatures (or RustCrypto,
/// by `EDGEWARD_CRYPTO`), `fetch` with an abort timer, the replay store when it is bound.
struct Workers {
    verifier: Backend,
    replay: Option<ObjectNamespace>,
}

impl Platform for Workers {
    type Verifier = Backend;

    fn verifier(&self) -> &Backend {
        &self.verifier
    }

    fn now(&self) -> u64 {
        Date::now().as_millis() / 1000
    }

    fn log(&self, level: LogLevel, message: &str) {
        match level {
            LogLevel::Error => console_error!("edgeward: {message}"),
            LogLevel::Warn => console_warn!("edgeward: {message}"),
            LogLevel::Info => console_log!("edgeward: {message}"),
        }
    }

    fn random(&self, buf: &mut [u8]) {
        // Without randomness nothing secure can be made: fail loudly rather than return zeros.
        if getrandom::getrandom(buf).is_err() {
            panic!("crypto.getRandomValues is unavailable");
        }
    }

    async fn cache_get(&self, key: &str) -> Option<Vec<u8>> {
        shared_cache::get(key).await
    }

    async fn cache_put(&self, key: &str, value: Vec<u8>, ttl: u64) {
        shared_cache::put(key, value, ttl).await
    }

    fn has_shared_cache(&self) -> bool {
        true
    }

    fn has_replay_store(&self) -> bool {
        self.replay.is_some()
    }

    async fn replay_check(
        &self,
        key: &[u8; 32],
        ttl: u64,
    ) -> std::result::Result<bool, FetchError> {
        match &self.replay {
            Some(namespace) => replay::check(namespace, key, ttl).await,
            None => Err(FetchError::Unreachable),
        }
    }

    async fn sleep(&self, ms: u32) {
        Delay::from(Duration::from_millis(ms.into())).await
    }

    async fn fetch(&self, request: FetchRequest) -> std::result::Result<FetchResponse, FetchError> {
        let controller = AbortController::default();
        let signal = controller.signal();
        let send = Box::pin(send(request.clone(), signal));
        let timer = Box::pin(Delay::from(Duration::from_millis(
            request.timeout_ms.into(),
        )));
        match select(send, timer).await {
            Either::Left((result, _)) => {
                let response = result?;
                if response.body.len() > request.max_body_bytes {
                    return Err(FetchError::TooLarge);
                }
                Ok(response)
            }
            Either::Right(_) => {
                controller.abort();
                Err(FetchError::Timeout)
            }
        }
    }
}

async fn send(
    request: FetchRequest,
    signal: worker::AbortSignal,
) -> std::result::Result<FetchResponse, FetchError> {
    let unreachable = |_| FetchError::Unreachable;
    let headers = to_worker_headers(
        request
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str())),
    )
    .map_err(unreachable)?;
    let mut init = RequestInit::new();
    init.with_method(Method::from(request.method.to_owned()))
        .with_headers(headers);
    if !request.body.is_empty() {
        init.with_body(Some(Uint8Array::from(request.body.as_slice()).into()));
    }
    let req = Request::new_with_init(&request.url, &init).map_err(unreachable)?;
    let mut response = Fetch::Request(req)
        .send_with_signal(&signal)
        .await
        .map_err(unreachable)?;
    let body = response.bytes().await.map_err(unreachable)?;
    Ok(FetchResponse {
        status: response.status_code(),
        headers: response.headers().entries().collect(),
        body,
    })
}
