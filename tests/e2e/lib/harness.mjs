// End-to-end harness: a recording origin, gateways on real runtimes (workerd via scripts/serve, the
// Spin component on the Spin test host, tests/spin-host), free ports, and clean shutdown.
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
/** The policies compiled into the policy function the tests serve (`policy_builtin`): scripts/test
 * builds it with the same EDGEWARD_POLICY_DIR, so serving it does not build it again. */
export const POLICY_DIR = join(ROOT, 'tests', 'e2e', 'policies');
export const RUNTIMES = (process.env.EDGEWARD_E2E_RUNTIMES || 'workers,spin').split(',');

/** How the `workers` runtime is served in tests: bare workerd (default: starts in about a second,
 *  light enough to run several gateways at once) or `wrangler` (wrangler dev, the user path; the
 *  skeleton test always covers it too). */
export const WORKERS_ENGINE = process.env.EDGEWARD_E2E_WORKERS || 'workerd';

/** Every gateway process group started by this test file; all are killed when it exits, even
 *  when a `before` hook failed half-way. */
const live = new Set();
process.on('exit', () => {
  for (const pid of live) {
    try { process.kill(-pid, 'SIGKILL'); } catch { /* already gone */ }
  }
});

/** Imports a package from the pinned npm tool folder set up by scripts/setup. */
export async function npm(name, entry) {
  const root = process.env.EDGEWARD_NPM;
  if (!root) throw new Error('EDGEWARD_NPM is unset: run through scripts/test (it sources scripts/setup)');
  return import(pathToFileURL(join(root, name, entry)).href);
}

/** Ports already handed out by this test file: the kernel may offer a just-released port again,
 *  and two gateways (or a gateway and a "closed" port) must never share one. */
const handedOut = new Set();

/** A port that was free a moment ago and has not been handed out before in this process. */
export async function freePort() {
  for (;;) {
    const port = await new Promise((resolve, reject) => {
      const server = createServer();
      server.listen(0, '127.0.0.1', () => {
        const { port } = server.address();
        server.close(() => resolve(port));
      });
      server.on('error', reject);
    });
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
}

/** An address where nothing listens, ever: port 1 (tcpmux) is privileged and unused on test
 *  machines. A released ephemeral port is not: the runtimes started next may bind it, which turned
 *  an "origin down" test into a 404 from a neighbouring process. */
export const CLOSED_ORIGIN = 'http://127.0.0.1:1';

/** An origin that records every request it receives and echoes it back as JSON. */
export async function startOrigin() {
  const requests = [];
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const seen = { method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString() };
      requests.push(seen);
      res.writeHead(200, { 'content-type': 'application/json', 'x-origin': 'test' });
      res.end(JSON.stringify(seen));
    });
  });
  const port = await freePort();
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${port}`, requests, close: () => new Promise((r) => server.close(r)) };
}

/**
 * A token issuer for tests: an ES256 key whose public JWK (`kid` k1) goes into an inline JWK Set,
 * and `mint()`, a fresh token from `iss` for `aud` (sub alice, valid two minutes).
 */
export async function es256Issuer(iss, aud) {
  const jose = await npm('jose', 'dist/webapi/index.js');
  const key = await jose.generateKeyPair('ES256');
  const jwk = { ...(await jose.exportJWK(key.publicKey)), kid: 'k1', alg: 'ES256' };
  const mint = () => {
    const now = Math.floor(Date.now() / 1000);
    return new jose.SignJWT({ iss, aud, sub: 'alice', iat: now, exp: now + 120 })
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' }).sign(key.privateKey);
  };
  return { jwk, mint };
}

/**
 * An OPA Data API decision point that allows every request; `saw` records the Authorization field
 * of each, `url` is its base.
 */
export async function startRecordingPdp() {
  const saw = [];
  const server = createServer((req, res) => {
    saw.push(req.headers.authorization);
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{"result":true}'));
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${server.address().port}`, saw, close: () => server.close() };
}

/** GET `path` from a gateway, with `token` as a Bearer token if given: status, JSON body, challenge. */
export async function getJson(gateway, path, token) {
  const headers = token ? { authorization: `Bearer ${token}` } : {};
  const res = await fetch(`${gateway.url}${path}`, { headers, signal: AbortSignal.timeout(30_000) });
  return { status: res.status, body: await res.json(), auth: res.headers.get('www-authenticate') };
}

/**
 * Starts `scripts/serve` for a runtime with a config object; resolves once health answers.
 * `vars` ({ NAME: 'value' }) become extra environment variables: set in scripts/serve's
 * environment and named with `--var NAME`, so no value is on a command line.
 * Bare workerd only: `cfBlobHeader` names a request header whose JSON workerd turns into
 * `request.cf` (`--cf-blob-header`; how the tests present, e.g., `cf.tlsClientAuth`).
 * Bare workerd only: `replicas` more copies of the gateway, each its own isolate sharing the first
 * one's DPoP replay store (their URLs follow the first in `urls`); `replayStore: false` leaves the
 * store's binding out. Spin only: `keyValueStore: false` withholds the key-value store,
 * `keyValueOutage` (ms) makes it a store that is down (every call waits that long, then fails),
 * `manifest` (a file) replaces the repository's spin.toml, whose `allowed_outbound_hosts` the
 * Spin test host enforces.
 * `fn` names the function of the bundle to serve (`token-handler`, `policy`; default: the gateway);
 * `policy` is built with the builtin policies of `POLICY_DIR`.
 * Bare workerd only: `cacheApi: true` gives the gateway and its replicas one shared Cache API
 * (scripts/serve --cache-api-port), reachable by the test at the result's `cacheUrl` (e.g. `PURGE
 * ${cacheUrl}/<key path>` deletes an entry).
 * `port`: listen there (from `freePort()`: a publisher started first needs the URL); default: a free one.
 * The result's `pid` is the runtime's own process once it is up (scripts/serve execs it).
 * `preinit` (spin): serve the component pre-initialised with this configuration (scripts/serve
 * --preinit). One file per function holds it: start such gateways one after another.
 * `bake` (workerd, spin): serve the function with this configuration baked in (scripts/serve --bake);
 * `config` may then be null (no EDGEWARD_CONFIG). One build per function holds it, as for `preinit`.
 */
export async function startGateway(runtime, config, {
  trustAnchors, vars = {}, engine, replicas = 0, replayStore = true, keyValueStore = true, cfBlobHeader,
  keyValueOutage, manifest, fn, port: chosenPort, cacheApi = false, preinit, bake,
} = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'edgeward-e2e-'));
  const writeConfig = (name, value) => {
    const file = join(dir, name);
    writeFileSync(file, typeof value === 'string' ? value : JSON.stringify(value));
    return file;
  };
  const port = chosenPort ?? await freePort();
  const serveAs = runtime === 'workers' ? (engine || WORKERS_ENGINE).replace('wrangler', 'workers') : runtime;
  const args = ['--runtime', serveAs, '--port', String(port)];
  if (config !== null) args.push('--config', writeConfig('config.json', config));
  if (bake) args.push('--bake', writeConfig('bake.json', bake));
  if (trustAnchors) args.push('--trust-anchors', trustAnchors);
  for (const name of Object.keys(vars)) args.push('--var', name);
  const replicaPorts = [];
  for (let i = 0; i < replicas; i++) replicaPorts.push(await freePort());
  for (const replicaPort of replicaPorts) args.push('--replica-port', String(replicaPort));
  if (!replayStore) args.push('--no-replay-store');
  if (!keyValueStore) args.push('--no-key-value-store');
  if (cfBlobHeader) args.push('--cf-blob-header', cfBlobHeader);
  if (fn) args.push('--function', fn);
  const cachePort = cacheApi ? await freePort() : undefined;
  if (cachePort) args.push('--cache-api-port', String(cachePort));
  if (keyValueOutage !== undefined) args.push('--key-value-outage', String(keyValueOutage));
  if (manifest) args.push('--spin-manifest', manifest);
  if (preinit) args.push('--preinit', writeConfig('preinit.json', preinit));
  const child = spawn(join(ROOT, 'scripts', 'serve'), args, {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...vars, ...(fn === 'policy' ? { EDGEWARD_POLICY_DIR: POLICY_DIR } : {}) },
  });
  live.add(child.pid);
  child.on('exit', () => live.delete(child.pid));
  let log = '';
  child.stdout.on('data', (d) => { log += d; });
  child.stderr.on('data', (d) => { log += d; });
  const urls = [port, ...replicaPorts].map((p) => `http://127.0.0.1:${p}`);
  const deadline = Date.now() + 180_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`gateway (${runtime}) exited early:\n${log}`);
    if ((await Promise.all(urls.map(answersHealth))).every(Boolean)) {
      const cacheUrl = cachePort && `http://127.0.0.1:${cachePort}`;
      return { url: urls[0], urls, cacheUrl, runtime, pid: child.pid, log: () => log, stop: () => stopGroup(child) };
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  stopGroup(child);
  throw new Error(`gateway (${runtime}) did not come up in time:\n${log}`);
}

/** True when the gateway at `url` serves its health endpoint (200, or 500 for a bad config). */
async function answersHealth(url) {
  try {
    const res = await fetch(`${url}/.well-known/edgeward/health`, { signal: AbortSignal.timeout(2000) });
    await res.arrayBuffer();
    return res.status === 200 || res.status === 500;
  } catch {
    return false; // not up yet
  }
}

function stopGroup(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.on('exit', () => resolve());
    try { process.kill(-child.pid, 'SIGTERM'); } catch { resolve(); }
    setTimeout(() => { try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ } }, 3000).unref();
  });
}

/** Starts the oidc-provider authorization server (scripts/lib/auth-server.mjs); resolves with its
 *  metadata (issuer, endpoints, clients, resources) plus `token(resource, scope)` and `stop()`.
 *  `env`: extra environment variables for it (e.g. EDGEWARD_AS_SPA_ORIGIN). */
export async function startAuthServer({ env = {} } = {}) {
  const port = await freePort();
  const child = spawn(process.execPath, [join(ROOT, 'scripts', 'lib', 'auth-server.mjs'), String(port)],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  const meta = await new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line) resolve(JSON.parse(line));
    });
    child.on('exit', (code) => reject(new Error(`auth server exited with ${code}`)));
  });
  const basic = (c) => 'Basic ' + Buffer.from(`${c.client_id}:${c.client_secret}`).toString('base64');
  return {
    ...meta,
    async token(resource, scope = 'orders:read', headers = {}) {
      const res = await fetch(meta.token_endpoint, {
        method: 'POST',
        headers: { authorization: basic(meta.clients.app), 'content-type': 'application/x-www-form-urlencoded', ...headers },
        body: new URLSearchParams({ grant_type: 'client_credentials', resource, scope }),
      });
      const body = await res.json();
      if (!res.ok) throw new Error(`token request failed: ${JSON.stringify(body)}`);
      return body;
    },
    async stats() { return (await fetch(`${meta.issuer}/_stats`)).json(); },
    async revoke(token) {
      const res = await fetch(meta.revocation_endpoint, {
        method: 'POST',
        headers: { authorization: basic(meta.clients.app), 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token, token_type_hint: 'access_token' }),
      });
      if (!res.ok) throw new Error(`revocation failed: ${res.status}`);
    },
    stop: () => new Promise((r) => { child.once('exit', r); child.kill('SIGTERM'); }),
  };
}
