//! edgeward on Cloudflare Workers: translate the request, provide the platform, read the config.
//! All decisions are made by the `edgeward` core.
//!
//! Environment: `EDGEWARD_CONFIG` (the configuration JSON), `EDGEWARD_CRYPTO` (`webcrypto`, the
//! default, or `rustcrypto`), `EDGEWARD_SELFTEST=1` (enables the backend self-test, for tests only).
//! Binding: `EDGEWARD_REPLAY`, the Durable Object namespace of [`replay::ReplayStore`] (the shared
//! DPoP replay store; without it `dpop.replay: "strict"` answers 503).

#[cfg(feature = "token-handler")]
mod aead;
mod entry;
mod glue;
mod replay;
mod selftest;
mod shared_cache;
mod webcrypto;

use edgeward::platform::{FetchError, FetchRequest, FetchResponse, LogLevel, Platform};
use edgeward::{Gateway, Outcome};
use std::cell::OnceCell;
use wasm_bindgen::{prelude::wasm_bindgen, JsValue};
use webcrypto::{Backend, WebCrypto};

/// What one isolate builds from the first request's environment.
struct Isolate {
    gateway: Gateway,
    platform: Workers,
    selftest: bool,
}

thread_local! {
    static ISOLATE: OnceCell<&'static Isolate> = const { OnceCell::new() };
}

fn isolate(env: &JsValue) -> &'static Isolate {
    ISOLATE.with(|cell| {
        *cell.get_or_init(|| {
            let var = |name: &str| glue::env_text(env, name);
            let config = var("EDGEWARD_CONFIG");
            let crypto = var("EDGEWARD_CRYPTO");
            let verifier = Backend::from_setting(crypto.as_deref()).unwrap_or_else(|message| {
                // Both backends give the same verdicts; only speed is at stake.
                glue::log(LogLevel::Error, &format!("{message}; using webcrypto"));
                Backend::Web(WebCrypto)
            });
            Box::leak(Box::new(Isolate {
                gateway: Gateway::new(config.as_deref(), &|name| var(name), "cloudflare-workers"),
                platform: Workers {
                    verifier,
                    replay: glue::env_namespace(env, replay::BINDING),
                },
                selftest: var("EDGEWARD_SELFTEST").as_deref() == Some("1"),
            }))
        })
    })
}

/// The fetch handler `src/worker.js` calls: a `Response`, or a promise of one. See [`entry`].
#[wasm_bindgen]
pub fn fetch(req: web_sys::Request, env: JsValue) -> JsValue {
    entry::run(handle(req, env))
}

/// One request: a `Response`, or the promise of the origin's `Response` (never awaited here).
async fn handle(req: web_sys::Request, env: JsValue) -> JsValue {
    respond(req, env).await.unwrap_or_else(|error| {
        glue::log(LogLevel::Error, &error.to_string());
        glue::internal_error()
    })
}

async fn respond(req: web_sys::Request, env: JsValue) -> Result<JsValue, glue::ShellError> {
    let Isolate {
        gateway,
        platform,
        selftest,
    } = isolate(&env);
    let core_request = glue::read_request(&req);
    if *selftest && core_request.method == "POST" {
        if let Some(test) = selftest::answers(&core_request) {
            let response = selftest::handle(test, &req, &core_request).await?;
            return Ok(glue::to_response(response)?.into());
        }
    }
    let response = match gateway.handle(platform, &core_request).await {
        Outcome::Respond(response) => glue::to_response(response)?,
        Outcome::ReadBody { max_bytes } => {
            let body = glue::body(&req).await?;
            let response = if body.len() > max_bytes {
                gateway.body_too_large()
            } else {
                gateway.handle_body(platform, &core_request, &body).await
            };
            glue::to_response(response)?
        }
        Outcome::Forward(forward) => {
            return Ok(glue::send_to_origin(gateway, &req, forward)?.into())
        }
    };
    Ok(response.into())
}

/// The Workers platform: JS clock, console, WebCrypto randomness, signatures and cookie AES-GCM
/// (or RustCrypto, by `EDGEWARD_CRYPTO`), `fetch`, timers and the Cache API through `glue.js`, the
/// replay store when it is bound.
struct Workers {
    verifier: Backend,
    replay: Option<JsValue>,
}

impl Platform for Workers {
    type Verifier = Backend;

    fn verifier(&self) -> &Backend {
        &self.verifier
    }

    fn now(&self) -> u64 {
        // The static `Date.now()`: no Date object per call.
        (js_sys::Date::now() / 1000.0) as u64
    }

    fn log(&self, level: LogLevel, message: &str) {
        glue::log(level, message);
    }

    #[cfg(feature = "token-handler")]
    async fn aes_gcm_open(
        &self,
        key: &edgeward::aead::AesKey,
        nonce: &[u8; edgeward::aead::NONCE_BYTES],
        sealed: &[u8],
        aad: &[u8],
    ) -> std::result::Result<Vec<u8>, edgeward::aead::BadTag> {
        self.verifier.aes_gcm_open(key, nonce, sealed, aad).await
    }

    fn random(&self, buf: &mut [u8]) {
        // Without randomness nothing secure can be made: fail loudly rather than return zeros.
        if !glue::random(buf) {
            panic!("crypto.getRandomValues is unavailable");
        }
    }

    async fn cache_get(&self, key: &str) -> Option<Vec<u8>> {
        shared_cache::get(key).await
    }

    async fn cache_put(&self, key: &str, value: Vec<u8>, expires: u64) {
        shared_cache::put(key, value, expires, self.now()).await
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
        expires: u64,
    ) -> std::result::Result<bool, FetchError> {
        // The Durable Object keeps a key for a lifetime from its own clock.
        let ttl = expires.saturating_sub(self.now()).max(1);
        match &self.replay {
            Some(namespace) => replay::check(namespace, key, ttl).await,
            None => Err(FetchError::Unreachable),
        }
    }

    async fn sleep(&self, ms: u32) {
        glue::sleep(ms).await
    }

    async fn fetch(&self, request: FetchRequest) -> std::result::Result<FetchResponse, FetchError> {
        glue::fetch(&request).await
    }
}
