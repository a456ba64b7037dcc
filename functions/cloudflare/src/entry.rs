//! How a request's future is run: polled once at once, and only handed to wasm-bindgen-futures'
//! executor when it has to wait.
//!
//! Most requests never wait inside the gateway: an anonymous route, or a token found in the
//! verified-token cache without DPoP, is decided synchronously, and the origin fetch's promise is
//! returned to workerd unawaited. Spawning such a request as a future (what `#[event(fetch)]` does)
//! costs a promise, a task and two microtask rounds through `queueMicrotask` (slow in workerd:
//! it wraps each callback for async-context propagation), about a tenth of the shell's CPU per
//! request in profiles.
//!
//! The first poll happens before the future has an executor, so its waker is a placeholder.
//! Futures must take the waker of every poll, but `worker::Delay` (platform sleeps and fetch
//! timeouts) keeps the one of its first poll only; every poll therefore goes through a waker that
//! forwards to the waker of the latest poll, so a timer started during the first poll still wakes
//! the executor's task.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use worker::js_sys::Promise;
use worker::wasm_bindgen::JsValue;

/// Runs `future`: its value at once if it is ready on the first poll, else a promise of it.
pub fn run(future: impl Future<Output = JsValue> + 'static) -> Promise {
    let mut future = Forwarding::new(future);
    let first = Pin::new(&mut future).poll(&mut Context::from_waker(Waker::noop()));
    match first {
        Poll::Ready(value) => Promise::resolve(&value),
        Poll::Pending => wasm_bindgen_futures::future_to_promise(async move { Ok(future.await) }),
    }
}

/// The waker of the latest poll.
#[derive(Default)]
struct Latest(Mutex<Option<Waker>>);

impl Wake for Latest {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let latest = self.0.lock().ok().and_then(|waker| waker.clone());
        if let Some(waker) = latest {
            waker.wake();
        }
    }
}

/// `future`, polled with a waker that forwards to the latest poll's.
struct Forwarding<F> {
    future: Pin<Box<F>>,
    latest: Arc<Latest>,
    waker: Waker,
}

impl<F: Future> Forwarding<F> {
    fn new(future: F) -> Self {
        let latest = Arc::new(Latest::default());
        Forwarding {
            future: Box::pin(future),
            waker: Waker::from(latest.clone()),
            latest,
        }
    }
}

impl<F: Future> Future for Forwarding<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        if let Ok(mut latest) = self.latest.0.lock() {
            if !latest.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                *latest = Some(cx.waker().clone());
            }
        }
        let this = &mut *self;
        this.future
            .as_mut()
            .poll(&mut Context::from_waker(&this.waker))
    }
}
