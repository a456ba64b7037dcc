// Where a Worker's CPU goes, by step: reads a V8 CPU profile taken by `scripts/bench --profile`
// (bench/lib/profile.mjs) and the Worker's bundled index.js, and sums self time into the steps of
// a request (issue #19's per-step table).
//
//   node bench/lib/steps.mjs PROFILE.cpuprofile INDEX.js [CPU_US_PER_REQUEST]
//
// Attribution, by the frame that was on top of the stack when V8 sampled:
// - Wasm frames (url wasm://…) by crate or module path in the Rust name (keep the names:
//   EDGEWARD_KEEP_NAMES=1), wasm-bindgen's shims and the JS<->Wasm transitions as "crossing";
// - index.js frames before wasm-bindgen's generated code are edgeward's glue (src/glue.js), named
//   through the bundle's export map; the rest of index.js is wasm-bindgen's generated JS and the
//   entry (src/worker.js), except the `__wbg_<name>_<hash>` import shims, attributed by name;
// - frames without a url are the runtime's built-ins (fetch, timers, Headers, TextDecoder, ...).
// With CPU_US_PER_REQUEST (the same run's workerd CPU per request) each share is also given in µs;
// the profiler's own overhead inflates that run's CPU, so compare shares, not these µs with
// other runs'.
import { readFileSync } from "node:fs";

const [profilePath, indexPath, cpuPerRequest] = process.argv.slice(2);
if (!profilePath || !indexPath) {
  console.error("usage: steps.mjs PROFILE.cpuprofile INDEX.js [CPU_US_PER_REQUEST]");
  process.exit(2);
}
const profile = JSON.parse(readFileSync(profilePath, "utf8"));
const index = readFileSync(indexPath, "utf8");

// Offsets of line starts in index.js, so a frame's (line, column) is an offset in the file.
const lineStarts = [0];
for (let i = 0; i < index.length; i++) if (index[i] === "\n") lineStarts.push(i + 1);
// esbuild's namespace object for glue.js: `{editResponse:()=>de,forward:()=>V,...}` when minified,
// `{ editResponse: () => editResponse, ... }` over several lines when not (EDGEWARD_KEEP_NAMES=1);
// the glue is bundled before wasm-bindgen's generated code, whose first `__wbg_`/`__wbindgen` name
// ends it. A Worker without the glue (the F.rs floor) has none.
const exportMap = index.match(/\{\s*((?:[A-Za-z_$][\w$]*:\s*\(\)\s*=>\s*[\w$]+,?\s*)+)\}/);
const hasGlue = exportMap !== null && /\brequestHead:/.test(exportMap[1]);
const glueEnd = hasGlue ? index.search(/__wbg_|__wbindgen/) : 0;
const glueNames = new Map();
for (const pair of hasGlue ? exportMap[1].split(",") : []) {
  const [name, local] = pair.split(/:\s*\(\)\s*=>\s*/).map((part) => part.trim());
  if (local) glueNames.set(local, name);
}

const GLUE_STEP = {
  requestHead: "read the request head (glue)",
  forward: "build and send the origin request (glue)",
  toHeaders: "build and send the origin request (glue)",
  editResponse: "return: response edit (glue)",
  respond: "return: a response made by the core (glue)",
  taskPromise: "executor: a request that waits",
  taskDone: "executor: a request that waits",
  schedulePoll: "executor: a request that waits",
  watchPromise: "executor: a request that waits",
  fetchBytes: "the core's own fetches: key sets, introspection (glue)",
  exchange: "the core's own fetches: key sets, introspection (glue)",
  cacheGet: "shared cache tier: Cache API (glue)",
  cachePut: "shared cache tier: Cache API (glue)",
  replayCheck: "DPoP replay store (glue)",
  sleep: "executor: a request that waits",
};
const BUILTIN_STEP = {
  fetch: "runtime: fetch and the HTTP exchange (built-in)",
  setTimeout: "build and send the origin request: timeout timer (built-in)",
  clearTimeout: "build and send the origin request: timeout timer (built-in)",
  "#clearTimeout": "build and send the origin request: timeout timer (built-in)",
  Timeout: "build and send the origin request: timeout timer (built-in)",
  Headers: "build and send the origin request (built-in Headers)",
  URL: "runtime: URL (built-in)",
  decode: "crossing: strings Wasm -> JS (TextDecoder)",
  encode: "crossing: strings JS -> Wasm (TextEncoder)",
  "(garbage collector)": "runtime: garbage collection",
  "(program)": "runtime: unattributed (V8 and workerd)",
  "(anonymous)": "runtime: unattributed (V8 and workerd)",
  "": "runtime: unattributed (V8 and workerd)",
};
const WASM_STEP = [
  [/base64ct/, "Wasm: base64url"],
  [/sha2::|sha256/, "Wasm: SHA-256"],
  [/serde|strict::|NoDuplicates/, "Wasm: JSON"],
  [/\burl::|idna/, "Wasm: URL parsing"],
  [/dlmalloc|alloc::alloc|__rust_alloc|__rust_dealloc|memcpy|memmove|memset/, "Wasm: allocation and copies"],
  [/p256|ecdsa|elliptic_curve|primeorder|crypto_bigint/, "Wasm: RustCrypto P-256"],
  [/externref|__wbindgen|wasm_bindgen|js_sys|web_sys|shim/, "crossing: wasm-bindgen in Wasm"],
  [/x5c|x509|der::|spki/, "Wasm: x5c / X.509"],
  [/edgeward_worker::entry/, "executor: a request that waits"],
  [/edgeward_worker::/, "Wasm: Workers shell"],
  [/edgeward::/, "Wasm: core pipeline"],
];

function step(frame) {
  const { functionName: name, url } = frame;
  if (name === "(idle)") return null;
  if (name === "wasm-to-js" || name === "js-to-wasm" || name.startsWith("js-to-wasm")) {
    return "crossing: JS <-> Wasm transitions";
  }
  if (url.startsWith("wasm://")) {
    for (const [pattern, label] of WASM_STEP) if (pattern.test(name)) return label;
    return "Wasm: other (core, std)";
  }
  if (url.endsWith("index.js")) {
    const offset = (lineStarts[frame.lineNumber] ?? 0) + frame.columnNumber;
    if (offset < glueEnd) {
      // Exported functions by their export name; others by their own name (builds kept unminified).
      const glue = glueNames.get(name) ?? name;
      return GLUE_STEP[glue] ?? "glue: helpers (flat field lists, origin failures)";
    }
    if (name.startsWith("__wbg_verify")) return "WebCrypto verify (crypto.subtle.verify call)";
    if (name.startsWith("__wbg_importKey")) return "WebCrypto key import";
    if (name.startsWith("__wbg_")) return "crossing: wasm-bindgen import shims";
    return "crossing: wasm-bindgen / entry JS";
  }
  if (url === "" || url.startsWith("node-internal")) return BUILTIN_STEP[name] ?? `runtime: ${name} (built-in)`;
  return `other JS: ${name}`;
}

const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const totals = new Map();
let busy = 0;
profile.samples.forEach((id, i) => {
  const label = step(byId.get(id).callFrame);
  if (label === null) return;
  const us = profile.timeDeltas[i + 1] ?? 0;
  busy += us;
  totals.set(label, (totals.get(label) ?? 0) + us);
});

const rows = [...totals].sort((a, b) => b[1] - a[1]);
const perRequest = Number(cpuPerRequest) || 0;
console.log(`| step | share of busy time |${perRequest ? " µs / request |" : ""}`);
console.log(`|---|---:|${perRequest ? "---:|" : ""}`);
for (const [label, us] of rows) {
  const share = us / busy;
  const micros = perRequest ? ` ${(share * perRequest).toFixed(1)} |` : "";
  console.log(`| ${label} | ${(share * 100).toFixed(1)} % |${micros}`);
}
