// Benchmark floor F.raw (issue #19): a JS Worker that hands the request head to one Wasm export
// (bench/floors/raw, no wasm-bindgen, no workers-rs) and returns the origin's answer for the same
// path. Compare with A (no Wasm at all) and F.rs (the same through workers-rs).
import module from "./floor_raw.wasm";

const instance = new WebAssembly.Instance(module, {});
const { memory, head_buffer, head_capacity, decide } = instance.exports;
const encoder = new TextEncoder();

export default {
  async fetch(request, env) {
    let head = request.method + "\n" + request.url;
    for (const [name, value] of request.headers) head += "\n" + name + "\n" + value;
    const room = new Uint8Array(memory.buffer, head_buffer(), head_capacity());
    const { written } = encoder.encodeInto(head, room);
    if (decide(written) !== 1) return new Response("no decision", { status: 500 });
    const url = new URL(request.url);
    return fetch(env.ORIGIN + url.pathname + url.search);
  },
};
