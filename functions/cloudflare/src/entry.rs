//! How a request's future is run, and how it waits on JavaScript promises: a small executor in
//! place of wasm-bindgen-futures' for the fetch handler.
//!
//! Most requests never wait inside the gateway: an anonymous route, or a token found in the
//! verified-token cache without DPoP, is decided in the first poll and its value (a `Response`, or
//! the origin fetch's promise, returned unawaited) goes back to workerd at once. A request that
//! waits (a WebCrypto signature check, a key fetch, the replay store) becomes a task:
//! - its result is a promise made in `glue.js`, settled when the task completes;
//! - a wake-up polls it again from a promise reaction (`Promise.then`), not `queueMicrotask`,
//!   which workerd wraps for async-context propagation (several times dearer, measured);
//! - a promise it awaits through [`wait`] is watched by two callbacks made once per isolate, not
//!   by two closures per await with finalizer bookkeeping, as `JsFuture` does.
//!
//! The platform's services (`glue.rs`: fetch, timers, the Cache API, the replay store) are promises
//! awaited through [`wait`]. A future from another crate that uses `JsFuture` would work unchanged:
//! it wakes the task through its [`Waker`]. The task's waker exists before the first poll, so a
//! future that keeps only its first waker still wakes the task.
//!
//! Single-threaded (one isolate, one thread): the slabs are thread-locals, never borrowed across a
//! poll. An exception while polling a task rejects the request's promise (`glue.js`), so workerd
//! answers it with an error instead of waiting forever.

use js_sys::Promise;
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use wasm_bindgen::prelude::*;

#[wasm_bindgen(module = "/src/glue.js")]
extern "C" {
    #[wasm_bindgen(js_name = startTasks)]
    fn start_tasks(poll: &JsValue, settled: &JsValue);
    #[wasm_bindgen(js_name = taskPromise)]
    fn task_promise(id: u32) -> Promise;
    #[wasm_bindgen(js_name = taskDone)]
    fn task_done(id: u32, value: JsValue);
    #[wasm_bindgen(js_name = schedulePoll)]
    fn schedule_poll(id: u32);
    #[wasm_bindgen(js_name = watchPromise)]
    fn watch_promise(promise: &Promise, id: u32);
}

type BoxedFuture = Pin<Box<dyn Future<Output = JsValue>>>;

/// A request that had to wait: its future (out of the slab while it is being polled) and waker.
struct Task {
    future: Option<BoxedFuture>,
    waker: Arc<TaskWaker>,
}

/// A promise awaited through [`wait`]: who to wake, then its outcome.
enum Watched {
    Waiting(Option<Waker>),
    Settled(Result<JsValue, JsValue>),
    /// Its [`Waiting`] future was dropped; the slot is freed when the promise settles.
    Abandoned,
}

/// Slots reused by index; `None` is free.
struct Slab<T> {
    slots: Vec<Option<T>>,
    free: Vec<u32>,
}

impl<T> Slab<T> {
    const fn new() -> Self {
        Slab {
            slots: Vec::new(),
            free: Vec::new(),
        }
    }

    fn insert(&mut self, value: T) -> u32 {
        match self.free.pop() {
            Some(id) => {
                self.slots[id as usize] = Some(value);
                id
            }
            None => {
                self.slots.push(Some(value));
                (self.slots.len() - 1) as u32
            }
        }
    }

    /// The id the next [`insert`](Self::insert) returns.
    fn next_id(&self) -> u32 {
        self.free.last().copied().unwrap_or(self.slots.len() as u32)
    }

    fn get_mut(&mut self, id: u32) -> Option<&mut T> {
        self.slots.get_mut(id as usize).and_then(Option::as_mut)
    }

    fn remove(&mut self, id: u32) -> Option<T> {
        let value = self.slots.get_mut(id as usize).and_then(Option::take);
        if value.is_some() {
            self.free.push(id);
        }
        value
    }
}

thread_local! {
    static TASKS: RefCell<Slab<Task>> = const { RefCell::new(Slab::new()) };
    static WATCHED: RefCell<Slab<Watched>> = const { RefCell::new(Slab::new()) };
    static STARTED: Cell<bool> = const { Cell::new(false) };
}

/// Wakes task `id` by scheduling one poll (further wakes before it runs are folded into it).
struct TaskWaker {
    id: u32,
    queued: AtomicBool,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if !self.queued.swap(true, Ordering::Relaxed) {
            schedule_poll(self.id);
        }
    }
}

/// Hands `glue.js` the two callbacks it calls back into Rust with; once per isolate.
fn start() {
    if STARTED.replace(true) {
        return;
    }
    let poll = Closure::<dyn Fn(u32)>::new(poll_task);
    let settled = Closure::<dyn Fn(u32, JsValue, bool)>::new(promise_settled);
    start_tasks(poll.as_ref(), settled.as_ref());
    // They live as long as the isolate.
    poll.forget();
    settled.forget();
}

/// Runs `future`: its value at once if the first poll completes it, else a promise of it.
pub fn run(future: impl Future<Output = JsValue> + 'static) -> JsValue {
    start();
    // The id the task gets if it has to wait: nothing else is inserted before this poll ends.
    let id = TASKS.with(|tasks| tasks.borrow().next_id());
    let waker = Arc::new(TaskWaker {
        id,
        queued: AtomicBool::new(false),
    });
    let mut future: BoxedFuture = Box::pin(future);
    let first = future
        .as_mut()
        .poll(&mut Context::from_waker(&Waker::from(waker.clone())));
    match first {
        Poll::Ready(value) => value,
        Poll::Pending => {
            let task = Task {
                future: Some(future),
                waker,
            };
            TASKS.with(|tasks| tasks.borrow_mut().insert(task));
            task_promise(id).into()
        }
    }
}

/// Polls task `id` (called from `glue.js` after a wake); settles its promise when it completes.
fn poll_task(id: u32) {
    let taken = TASKS.with(|tasks| {
        let mut tasks = tasks.borrow_mut();
        let task = tasks.get_mut(id)?;
        task.waker.queued.store(false, Ordering::Relaxed);
        Some((task.future.take()?, task.waker.clone()))
    });
    // A wake for a finished task (or one being polled) needs nothing.
    let Some((mut future, waker)) = taken else {
        return;
    };
    match future
        .as_mut()
        .poll(&mut Context::from_waker(&Waker::from(waker)))
    {
        Poll::Ready(value) => {
            TASKS.with(|tasks| tasks.borrow_mut().remove(id));
            task_done(id, value);
        }
        Poll::Pending => TASKS.with(|tasks| {
            if let Some(task) = tasks.borrow_mut().get_mut(id) {
                task.future = Some(future);
            }
        }),
    }
}

/// Records the outcome of watched promise `id` and wakes its waiter.
fn promise_settled(id: u32, value: JsValue, fulfilled: bool) {
    let outcome = if fulfilled { Ok(value) } else { Err(value) };
    let waker = WATCHED.with(|watched| {
        let mut watched = watched.borrow_mut();
        let slot = watched.get_mut(id)?;
        match std::mem::replace(slot, Watched::Settled(outcome)) {
            Watched::Waiting(waker) => waker,
            Watched::Abandoned => {
                watched.remove(id);
                None
            }
            Watched::Settled(_) => None,
        }
    });
    if let Some(waker) = waker {
        waker.wake();
    }
}

/// The outcome of `promise`: `Ok` with its value, `Err` with its rejection reason.
pub fn wait(promise: Promise) -> Waiting {
    let id = WATCHED.with(|watched| watched.borrow_mut().insert(Watched::Waiting(None)));
    watch_promise(&promise, id);
    Waiting { id, done: false }
}

/// A promise being awaited; see [`wait`].
pub struct Waiting {
    id: u32,
    done: bool,
}

impl Future for Waiting {
    type Output = Result<JsValue, JsValue>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let id = self.id;
        let outcome = WATCHED.with(|watched| {
            let mut watched = watched.borrow_mut();
            match watched.get_mut(id) {
                Some(Watched::Waiting(waker)) => {
                    *waker = Some(cx.waker().clone());
                    None
                }
                Some(Watched::Settled(_)) => match watched.remove(id) {
                    Some(Watched::Settled(outcome)) => Some(outcome),
                    _ => None,
                },
                // Not reachable: the slot is ours until `done`.
                _ => Some(Err(JsValue::UNDEFINED)),
            }
        });
        match outcome {
            Some(outcome) => {
                self.done = true;
                Poll::Ready(outcome)
            }
            None => Poll::Pending,
        }
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        WATCHED.with(|watched| {
            let mut watched = watched.borrow_mut();
            match watched.get_mut(self.id) {
                Some(Watched::Settled(_)) => {
                    watched.remove(self.id);
                }
                Some(slot) => *slot = Watched::Abandoned,
                None => {}
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::Slab;

    #[test]
    fn slab_ids_are_reused_and_next_id_predicts_insert() {
        let mut slab = Slab::new();
        assert_eq!(slab.next_id(), 0);
        let a = slab.insert("a");
        let b = slab.insert("b");
        assert_eq!((a, b), (0, 1));
        assert_eq!(slab.remove(a), Some("a"));
        assert_eq!(slab.remove(a), None, "removed once");
        assert_eq!(slab.get_mut(a), None);
        assert_eq!(slab.next_id(), a);
        assert_eq!(slab.insert("c"), a, "a free slot is reused");
        assert_eq!(slab.next_id(), 2);
        assert_eq!(slab.get_mut(b).map(|v| *v), Some("b"));
        assert_eq!(slab.remove(7), None, "an unknown id is nothing");
    }
}
