//! A future polled by a function of its own, never inlined into the future that awaits it.
//!
//! Why: an `async fn` is one state machine, and the compiler inlines the `poll` of every future it
//! awaits once into its own. The request's future thus became one function of ≈ 113 KB of Wasm
//! (all stages). V8 compiles Wasm lazily, a whole function at its first call: workerd's first
//! request compiled all of it whatever route it took (≈ 4.7 ms; docs/decisions.md, "Cold start
//! on workerd"). The stages' futures awaited through [`outlined`] stay functions of their own,
//! compiled when a request first runs them. The Workers build also keeps binaryen from inlining
//! them again (`functions/cloudflare/Cargo.toml`). Behaviour is unchanged: the wrapper only polls
//! what it holds.

use pin_project_lite::pin_project;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

pin_project! {
    /// See [`outlined`].
    pub(crate) struct Outlined<F> {
        #[pin]
        future: F,
    }
}

impl<F: Future> Future for Outlined<F> {
    type Output = F::Output;

    #[inline(never)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.project().future.poll(cx)
    }
}

/// `future`, polled by a function of its own (see the module documentation).
pub(crate) fn outlined<F: Future>(future: F) -> Outlined<F> {
    Outlined { future }
}

#[cfg(test)]
mod tests {
    use super::outlined;
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    /// Pending once, then its value: the wrapper passes both through.
    struct Twice(bool);

    impl Future for Twice {
        type Output = u8;
        fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u8> {
            if std::mem::replace(&mut self.0, true) {
                Poll::Ready(7)
            } else {
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        }
    }

    #[test]
    fn an_outlined_future_polls_as_the_future_it_holds() {
        let mut cx = Context::from_waker(Waker::noop());
        let mut future = pin!(outlined(Twice(false)));
        assert_eq!(future.as_mut().poll(&mut cx), Poll::Pending);
        assert_eq!(future.as_mut().poll(&mut cx), Poll::Ready(7));
    }
}
