// Replaces worker-build's entry in a Workers build (scripts/build; issue #19). Usage:
//   node scripts/lib/worker-entry.mjs BUILD_DIR/index.js   (a NO_MINIFY=1 worker-build output)
//
// worker-build 0.8.7 exports the fetch handler as a `WorkerEntrypoint` class behind a Proxy whose
// `construct` trap, on every request, builds a Proxy of the instance (spreading a dozen traps into a
// new handler object), then a Proxy of `fetch` with an `async` apply trap (one more promise and
// await). Measured on workerd (docs/decisions.md, "Performance round 2"), that costs ≈ 20 µs of CPU
// per request. The replacement is a plain module Worker object with the same two duties the Proxy
// had: `checkReinitialize()` before the call (a fresh Wasm instance after a Rust panic) and
// `handleMaybeCritical()` for a trap thrown by the call. A trap inside a later poll is handled by
// wasm-bindgen itself (`--force-enable-abort-handler`: the instance is reset at the next call).
//
// The text replaced is worker-build's own; anything else fails the build loudly, so a worker-build
// upgrade that changes it cannot go unnoticed.
import { readFileSync, writeFileSync } from "node:fs";

const [file] = process.argv.slice(2);
const PROXIED = "var shim_default = new Proxy(Entrypoint, classProxyHooks);";
const PLAIN = `var shim_default = {
  fetch(request, env, ctx) {
    checkReinitialize();
    try {
      return Entrypoint.prototype.fetch.call({ env, ctx }, request);
    } catch (e) {
      handleMaybeCritical(e);
      throw e;
    }
  }
};`;

const source = readFileSync(file, "utf8");
const found = source.split(PROXIED).length - 1;
if (found !== 1) {
  console.error(`worker-entry: expected worker-build's entry once in ${file}, found it ${found} times`);
  process.exit(1);
}
for (const needed of ["function checkReinitialize()", "function handleMaybeCritical(", "Entrypoint.prototype.fetch = "]) {
  if (!source.includes(needed)) {
    console.error(`worker-entry: ${file} has no "${needed}": worker-build's shim changed`);
    process.exit(1);
  }
}
writeFileSync(file, source.replace(PROXIED, PLAIN));
