// bench/lib/coldstart.mjs RUNS URL AUTHORIZATION COMMAND... — cold start: spawn a fresh gateway
// process RUNS times and time from spawn to the first 200 answer to a request with that
// Authorization field (none when it is ""), so the time includes loading and compiling the Wasm,
// reading the configuration and, for a token, the first verification. Polls every 2 ms. Prints
// JSON {runs_ms:[…], median_ms, min_ms, max_ms}.
import { spawn } from 'node:child_process';

const [runs, url, authorization, cmd, ...args] = process.argv.slice(2);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const times = [];
let child = null;
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => { child?.kill('SIGKILL'); process.exit(130); }); // never leave a gateway behind
}
for (let i = 0; i < Number(runs); i++) {
  const started = performance.now();
  child = spawn(cmd, args, { stdio: 'ignore' });
  let ms = null;
  try {
    while (performance.now() - started < 30_000) {
      if (child.exitCode !== null) throw new Error(`${cmd} exited with ${child.exitCode}`);
      try {
        const res = await fetch(url, { headers: authorization ? { authorization } : {}, signal: AbortSignal.timeout(5000) });
        await res.arrayBuffer();
        if (res.status === 200) { ms = performance.now() - started; break; }
        throw new Error(`first answer was ${res.status}`);
      } catch (e) {
        if (e.message?.startsWith('first answer')) throw e;
        await sleep(2); // not listening yet
      }
    }
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => (child.exitCode !== null ? r() : child.once('exit', r)));
  }
  if (ms === null) throw new Error('no answer within 30 s');
  times.push(Math.round(ms * 10) / 10);
}
const sorted = [...times].sort((a, b) => a - b);
console.log(JSON.stringify({ runs_ms: times, median_ms: sorted[Math.floor(sorted.length / 2)], min_ms: sorted[0], max_ms: sorted.at(-1) }));
