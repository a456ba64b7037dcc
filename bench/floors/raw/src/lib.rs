//! Benchmark floor F.raw (issue #19): the least a Rust Worker can cost. `bench/floors/raw.mjs`
//! writes the request head (method, URL, header fields, as the gateway's glue flattens them) into
//! this module's memory and calls [`decide`] once; the module has no imports and no wasm-bindgen.
//! What it measures is entering Wasm with the head, nothing of edgeward's.

use std::cell::UnsafeCell;

/// Room for a request head; the JS side never writes more.
const HEAD_BYTES: usize = 32 * 1024;

struct Head(UnsafeCell<[u8; HEAD_BYTES]>);

// Wasm instances here are single-threaded.
unsafe impl Sync for Head {}

static HEAD: Head = Head(UnsafeCell::new([0; HEAD_BYTES]));

/// Where the JS side writes the head, and how much room there is.
#[no_mangle]
pub extern "C" fn head_buffer() -> *mut u8 {
    HEAD.0.get().cast()
}

#[no_mangle]
pub extern "C" fn head_capacity() -> u32 {
    HEAD_BYTES as u32
}

/// Reads the `len` bytes of the head and answers 1 ("forward") when it has a method line, as a
/// decision would; the count of line breaks keeps the read from being optimised away.
#[no_mangle]
pub extern "C" fn decide(len: u32) -> u32 {
    // SAFETY: single-threaded; the JS side is not writing while this runs.
    let head = unsafe { &*HEAD.0.get() };
    let head = &head[..(len as usize).min(HEAD_BYTES)];
    let lines = head.iter().filter(|b| **b == b'\n').count();
    u32::from(lines > 0)
}
