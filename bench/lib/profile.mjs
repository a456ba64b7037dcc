// A V8 CPU profile of a running workerd, through its inspector (Chrome DevTools Protocol).
//
//   workerd serve --inspector-addr=127.0.0.1:9230 config.capnp &
//   node bench/lib/profile.mjs 127.0.0.1:9230 SECONDS OUT.cpuprofile [TOP]
//
// Starts the sampling profiler, waits SECONDS (run the load meanwhile), stops it, writes the
// profile (open it in Chrome DevTools or speedscope) and prints the TOP functions by self time and
// by inclusive time, as % of all samples. Keep the name section in the Wasm module
// (EDGEWARD_KEEP_NAMES=1 scripts/build) to see Rust function names instead of wasm-function[N].
import { writeFileSync } from "node:fs";

const [addr, seconds = "10", out = "profile.cpuprofile", top = "30"] = process.argv.slice(2);
if (!addr) {
  console.error("usage: profile.mjs HOST:PORT [SECONDS] [OUT.cpuprofile] [TOP]");
  process.exit(2);
}

const targets = await (await fetch(`http://${addr}/json/list`)).json();
if (!targets.length) throw new Error(`no inspector targets at ${addr}`);
const ws = new WebSocket(targets[0].webSocketDebuggerUrl);
await new Promise((resolve, reject) => {
  ws.onopen = resolve;
  ws.onerror = () => reject(new Error(`cannot connect to ${targets[0].webSocketDebuggerUrl}`));
});
let next = 0;
const pending = new Map();
ws.onmessage = (event) => {
  const message = JSON.parse(event.data);
  const waiter = pending.get(message.id);
  if (!waiter) return;
  pending.delete(message.id);
  message.error ? waiter.reject(new Error(JSON.stringify(message.error))) : waiter.resolve(message.result);
};
const send = (method, params = {}) =>
  new Promise((resolve, reject) => {
    const id = ++next;
    pending.set(id, { resolve, reject });
    ws.send(JSON.stringify({ id, method, params }));
  });

await send("Profiler.enable");
await send("Profiler.setSamplingInterval", { interval: 50 });
await send("Profiler.start");
await new Promise((r) => setTimeout(r, Number(seconds) * 1000));
const { profile } = await send("Profiler.stop");
ws.close();
writeFileSync(out, JSON.stringify(profile));

// Self time per node from the samples, then per function (name + location), self and inclusive.
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const selfUs = new Map();
profile.samples.forEach((id, i) => {
  selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i + 1] ?? 0));
});
const label = (n) => {
  const f = n.callFrame;
  const where = f.url ? ` ${f.url.replace(/^.*\//, "")}:${f.lineNumber + 1}:${f.columnNumber + 1}` : "";
  return `${f.functionName || "(anonymous)"}${where}`;
};
const self = new Map();
const incl = new Map();
let total = 0;
for (const [id, us] of selfUs) {
  total += us;
  const node = byId.get(id);
  self.set(label(node), (self.get(label(node)) ?? 0) + us);
  const seen = new Set();
  for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
    const l = label(byId.get(cur));
    if (seen.has(l)) continue;
    seen.add(l);
    incl.set(l, (incl.get(l) ?? 0) + us);
  }
}
const idle = self.get("(idle)") ?? 0;
const busy = total - idle;
const show = (title, map) => {
  console.log(`\n${title} (% of non-idle samples, ${(busy / 1000).toFixed(0)} ms busy of ${(total / 1000).toFixed(0)} ms)`);
  [...map]
    .filter(([l]) => l !== "(idle)" && l !== "(root)")
    .sort((a, b) => b[1] - a[1])
    .slice(0, Number(top))
    .forEach(([l, us]) => console.log(`${((100 * us) / busy).toFixed(1).padStart(6)}%  ${l.slice(0, 160)}`));
};
show("self time", self);
show("inclusive time", incl);
