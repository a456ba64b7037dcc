// The Worker's entry module: scripts/build bundles it with wasm-bindgen's output (./index.js, which
// instantiates the Wasm module at load) and src/glue.js into build/index.js.
//
// It has the two duties worker-build's shim had, without its per-request Proxies (≈ 20 µs of CPU a
// request, measured: docs/decisions.md "Performance round 2"):
// - a Wasm trap (a Rust panic) marks the instance as broken; the next call first gets a fresh
//   instance (`__wbg_reset_state`, from wasm-bindgen's --experimental-reset-state-function), so one
//   bad request cannot leave an isolate that answers errors from then on. A trap inside a later poll
//   of a request's future is caught by wasm-bindgen's abort handler (--force-enable-abort-handler),
//   which resets at the next call too;
// - the replay store's Durable Object class (src/replay.rs decides; this class only carries the
//   request body in and the status out).
import { DurableObject } from "cloudflare:workers";
import * as wasm from "./index.js";

let broken = false;

function freshIfBroken() {
  if (broken) {
    console.log("edgeward: a fresh Wasm instance after a trap");
    wasm.__wbg_reset_state();
    broken = false;
  }
}

function noteTrap(error) {
  if (error instanceof WebAssembly.RuntimeError) {
    console.error("edgeward: Wasm trap", error);
    broken = true;
  }
}

// Calls into Wasm with the recovery above.
function guarded(call) {
  freshIfBroken();
  try {
    return call();
  } catch (error) {
    noteTrap(error);
    throw error;
  }
}

addEventListener("error", (event) => noteTrap(event.error));

export default {
  fetch(request, env) {
    return guarded(() => wasm.fetch(request, env));
  },
};

export class ReplayStore extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    guarded(() => wasm.replayOpen(this.sql));
  }

  async fetch(request) {
    const body = new Uint8Array(await request.arrayBuffer());
    const status = guarded(() => wasm.replayRecord(this.sql, body, Date.now()));
    return new Response(null, { status });
  }
}
