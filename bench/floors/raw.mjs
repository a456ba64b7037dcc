// Benchmark floors F.raw, F.init and F.timer (issue #19): a JS Worker that hands the request head to
// one Wasm export (bench/floors/raw, no wasm-bindgen, no workers-rs) and returns the origin's answer
// for the same path. MODE says how the origin request is made, so that the steps of edgeward's own
// origin request (functions/cloudflare/src/glue.js `forward`) are priced one at a time:
// - "-" (F.raw): `fetch(url)`, a GET without an init;
// - "init" (F.init): the client's method, the head's fields in a new `Headers`, `redirect: "manual"`;
// - "timer" (F.timer): "init" raced against a `setTimeout` that is cleared when the head arrives.
// Compare with A (no Wasm at all) and F.rs (the same through workers-rs).
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
    const target = env.ORIGIN + url.pathname + url.search;
    if (env.MODE === "-") return fetch(target);
    const headers = new Headers();
    for (const [name, value] of request.headers) headers.append(name, value);
    const init = { method: request.method, headers, redirect: "manual" };
    if (env.MODE === "init") return fetch(target, init);
    if (env.MODE === "wait") {
      let answered = false;
      const timeout = scheduler.wait(30000).then(() => (answered ? undefined : new Response("timeout", { status: 504 })));
      const origin = fetch(target, init).then((response) => {
        answered = true;
        return response;
      });
      return Promise.race([origin, timeout]);
    }
    let timer;
    const timeout = new Promise((resolve) => {
      timer = setTimeout(resolve, 30000);
    }).then(() => new Response("timeout", { status: 504 }));
    const origin = fetch(target, init).then((response) => {
      clearTimeout(timer);
      return response;
    });
    return Promise.race([origin, timeout]);
  },
};
