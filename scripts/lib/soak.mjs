// The soak driver behind scripts/soak: the Worker on bare workerd, a real authorization server
// (oidc-provider, scripts/lib/auth-server.mjs) and a local origin; CONNECTIONS keep-alive
// connections send a fixed mix of valid, invalid, DPoP and opaque requests, plus two injected
// origin faults, for SECONDS. Every answer is checked against the verdict its scenario expects.
// Usage: node soak.mjs SECONDS CONNECTIONS. Exits 1 on any wrong decision or unexpected 5xx.
import { createServer, request as httpRequest, Agent } from 'node:http';
import { createHash, generateKeyPairSync, randomUUID, sign as cryptoSign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { freePort, startAuthServer, startGateway, CLOSED_ORIGIN } from '../../tests/e2e/lib/harness.mjs';

const SECONDS = Number(process.argv[2] || 60);
const CONNECTIONS = Number(process.argv[3] || 64);
const ORIGIN_TIMEOUT_MS = 1000;
const SLOW_ORIGIN_MS = 3000;
const RSS_EVERY_MS = 10_000;

const b64u = (data) => Buffer.from(data).toString('base64url');
const sha256 = (text) => createHash('sha256').update(text).digest('base64url');

/** ES256 compact JWS with node:crypto (fast enough to make a fresh DPoP proof per request). */
function es256(header, claims, privateKey) {
  const input = `${b64u(JSON.stringify(header))}.${b64u(JSON.stringify(claims))}`;
  const signature = cryptoSign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' });
  return `${input}.${b64u(signature)}`;
}

function keyPair() {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = publicKey.export({ format: 'jwk' });
  return { privateKey, jwk: { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y } };
}

const proof = (client, htm, htu, accessToken, jti = randomUUID()) => es256(
  { typ: 'dpop+jwt', alg: 'ES256', jwk: client.jwk },
  { jti, htm, htu, iat: Math.floor(Date.now() / 1000), ...(accessToken ? { ath: sha256(accessToken) } : {}) },
  client.privateKey,
);

/** The origin: echoes the claim header and whether credentials leaked; /slow/ answers late. */
async function startOrigin() {
  const stats = { requests: 0 };
  const server = createServer((req, res) => {
    stats.requests += 1;
    req.resume();
    const answer = () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ origin: true, sub: req.headers['x-sub'] ?? null,
        leaked: ['authorization', 'dpop'].filter((h) => h in req.headers) }));
    };
    if (req.url.includes('/slow/')) setTimeout(answer, SLOW_ORIGIN_MS).unref();
    else answer();
  });
  server.keepAliveTimeout = 60_000;
  const port = await freePort();
  await new Promise((r) => server.listen(port, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${port}`, stats, close: () => new Promise((r) => { server.closeAllConnections(); server.close(r); }) };
}

/** RSS and its high-water mark of a process, in MiB, from /proc/PID/status. */
function memory(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field) => Number(status.match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'))[1]);
  return { rss: +(kib('VmRSS') / 1024).toFixed(1), hwm: +(kib('VmHWM') / 1024).toFixed(1) };
}

const as = await startAuthServer();
const origin = await startOrigin();
const gateway = await startGateway('workers', {
  origin: origin.url,
  origin_timeout_ms: ORIGIN_TIMEOUT_MS,
  routes: [
    { path: '/orders/*' },
    { path: '/dpop/*', dpop: 'required' },
    { path: '/write/*', scopes_all: ['orders:write'] },
    { path: '/down/*', origin_by_claim: { claim: 'sub', origins: {}, default: CLOSED_ORIGIN } },
  ],
  issuers: [{ issuer: as.issuer, audiences: [as.resources.jwt], algorithms: ['ES256'], jwks_uri: as.jwks_uri }],
  introspection: { endpoint: as.introspection_endpoint, issuer: as.issuer, client_id: as.clients.gateway.client_id,
    client_secret_name: 'EDGEWARD_INTROSPECTION_SECRET', audiences: [as.resources.opaque] },
  forwarding: { claim_headers: { sub: 'x-sub' } },
}, { engine: 'workerd', vars: { EDGEWARD_INTROSPECTION_SECRET: as.clients.gateway.client_secret } });
const comm = readFileSync(`/proc/${gateway.pid}/comm`, 'utf8').trim();
if (comm !== 'workerd') throw new Error(`pid ${gateway.pid} is ${comm}, not workerd`);

// ---- credentials (renewed every 5 minutes: the AS issues 10-minute tokens) ----------------------
const client = keyPair();
const stranger = keyPair();
const creds = {};
async function mint() {
  const jwt = (await as.token(as.resources.jwt, 'orders:read')).access_token;
  const dpopToken = (await as.token(as.resources.jwt, 'orders:read',
    { dpop: proof(client, 'POST', as.token_endpoint) })).access_token;
  const opaque = await Promise.all([1, 2, 3, 4].map(async () => (await as.token(as.resources.opaque, 'orders:read')).access_token));
  const revoked = (await as.token(as.resources.opaque, 'orders:read')).access_token;
  await as.revoke(revoked);
  const [header, payload] = jwt.split('.');
  const forged = `${header}.${payload}.${b64u(cryptoSign('sha256', Buffer.from(`${header}.${payload}`),
    { key: stranger.privateKey, dsaEncoding: 'ieee-p1363' }))}`;
  Object.assign(creds, { jwt, dpopToken, opaque, revoked, forged });
}
await mint();
const renew = setInterval(() => mint().catch((e) => console.error(`token renewal failed: ${e.message}`)), 300_000);
// What the origin must see in x-sub: the JWT's `sub`, and for opaque tokens the `sub` the AS
// itself gives the gateway's client on introspection (absent for client credentials: no header).
const SUB = JSON.parse(Buffer.from(creds.jwt.split('.')[1], 'base64url')).sub;
const OPAQUE_SUB = await introspectedSub(creds.opaque[0]);

async function introspectedSub(token) {
  const { client_id: id, client_secret: secret } = as.clients.gateway;
  const res = await fetch(as.introspection_endpoint, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token }),
  });
  const answer = await res.json();
  if (!answer.active) throw new Error('a fresh opaque token is not active at the AS');
  return answer.sub ?? null;
}

// ---- scenarios: [name, weight, run(n) → list of [request, expected verdict]] --------------------
const ok = { status: 200, sub: SUB };
const refused = (status, code, challenge) => ({ status, code, challenge });
const bearer = (token) => ({ authorization: `Bearer ${token}` });
const dpopHeaders = (path, token = creds.dpopToken, jti) => ({
  authorization: `DPoP ${token}`, dpop: proof(client, 'GET', `${gateway.url}${path}`, token, jti) });
const SCENARIOS = [
  ['jwt valid', 30, (n) => [[`/orders/${n}`, bearer(creds.jwt), ok]]],
  ['opaque valid (introspected, cached)', 15, (n) => [[`/orders/${n}`, bearer(creds.opaque[n % 4]), { status: 200, sub: OPAQUE_SUB }]]],
  ['dpop valid (fresh proof)', 15, (n) => [[`/dpop/${n}`, dpopHeaders(`/dpop/${n}`), ok]]],
  ['no token', 5, (n) => [[`/orders/${n}`, {}, refused(401, 'ERR_CREDENTIAL_MISSING', /^Bearer realm="edgeward"$/)]]],
  ['garbage token', 4, (n) => [[`/orders/${n}`, bearer('a.b.c'), refused(401, 'ERR_JWS_MALFORMED', /^Bearer .*error="invalid_token"/)]]],
  ['forged signature', 4, (n) => [[`/orders/${n}`, bearer(creds.forged), refused(401, 'ERR_JWS_SIGNATURE_INVALID', /error="invalid_token"/)]]],
  ['insufficient scope', 3, (n) => [[`/write/${n}`, bearer(creds.jwt), refused(403, 'ERR_POLICY_INSUFFICIENT_SCOPE', /error="insufficient_scope"/)]]],
  ['dpop-bound token as Bearer', 3, (n) => [[`/orders/${n}`, bearer(creds.dpopToken), refused(401, 'ERR_DPOP_BOUND_TOKEN_AS_BEARER', /error="invalid_token"/)]]],
  ['dpop proof for another URL', 3, (n) => [[`/dpop/${n}`, { ...dpopHeaders(`/dpop/${n}`), dpop: proof(client, 'GET', `${gateway.url}/elsewhere`, creds.dpopToken) },
    refused(401, 'ERR_DPOP_HTU_MISMATCH', /^DPoP .*error="invalid_dpop_proof"/)]]],
  ['dpop proof replayed', 3, (n) => {
    const headers = dpopHeaders(`/dpop/r${n}`);
    return [[`/dpop/r${n}`, headers, ok], [`/dpop/r${n}`, headers, refused(401, 'ERR_DPOP_REPLAYED', /^DPoP .*error="invalid_dpop_proof"/)]];
  }],
  ['Bearer on a DPoP-only route', 2, (n) => [[`/dpop/${n}`, bearer(creds.jwt), refused(401, 'ERR_DPOP_REQUIRED', /^DPoP /)]]],
  ['opaque revoked', 3, (n) => [[`/orders/${n}`, bearer(creds.revoked), refused(401, 'ERR_TOKEN_INACTIVE', /error="invalid_token"/)]]],
  ['opaque unknown (asks the AS)', 2, (n) => [[`/orders/${n}`, bearer(`unknown-${randomUUID()}`), refused(401, 'ERR_TOKEN_INACTIVE', /error="invalid_token"/)]]],
  ['fault: origin down', 2, (n) => [[`/down/${n}`, bearer(creds.jwt), { ...refused(502, 'ERR_ORIGIN_UNREACHABLE'), fault: true }]]],
  ['fault: origin slow', 1, (n) => [[`/orders/slow/${n}`, bearer(creds.jwt), { ...refused(504, 'ERR_ORIGIN_TIMEOUT'), fault: true }]]],
];
const WHEEL = SCENARIOS.flatMap((s, i) => Array(s[1]).fill(i));

// ---- load -------------------------------------------------------------------------------------
const agent = new Agent({ keepAlive: true, maxSockets: CONNECTIONS });
const { port } = new URL(gateway.url);
function send(path, headers) {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, headers, agent, timeout: 30_000 }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('no answer in 30 s')));
    req.on('error', reject);
    req.end();
  });
}

/** Why `answer` is not `expected`, or null when it is. */
function judge(answer, expected) {
  if (answer.status !== expected.status) return `status ${answer.status}, expected ${expected.status}: ${answer.body.slice(0, 200)}`;
  let body;
  try { body = JSON.parse(answer.body); } catch { return `not JSON: ${answer.body.slice(0, 200)}`; }
  if (expected.status === 200) {
    if (!body.origin) return 'a 200 that did not come from the origin';
    if (body.sub !== expected.sub) return `origin saw x-sub ${body.sub}, expected ${expected.sub}`;
    if (body.leaked.length) return `credentials reached the origin: ${body.leaked}`;
    return null;
  }
  if (body.code !== expected.code) return `code ${body.code}, expected ${expected.code}`;
  const challenge = answer.headers['www-authenticate'] || '';
  if (expected.challenge && !expected.challenge.test(challenge)) return `challenge ${JSON.stringify(challenge)}`;
  return null;
}

const counts = SCENARIOS.map(() => ({ requests: 0, wrong: 0 }));
const wrong = [];
const latencies = [];
let unexpected5xx = 0, faults5xx = 0, errors = 0, seq = 0;
const started = Date.now();
const deadline = started + SECONDS * 1000;
// The first 2 s warm the isolate and the caches; RSS is measured from then on.
const rss = [];
setTimeout(() => rss.push({ t: 2, ...memory(gateway.pid) }), 2000).unref();
const sampler = setInterval(() => rss.push({ t: Math.round((Date.now() - started) / 1000), ...memory(gateway.pid) }), RSS_EVERY_MS);

async function worker() {
  while (Date.now() < deadline) {
    const n = seq++;
    const scenario = WHEEL[n % WHEEL.length];
    for (const [path, headers, expected] of SCENARIOS[scenario][2](n)) {
      const t0 = performance.now();
      let answer;
      try {
        answer = await send(path, headers);
      } catch (e) {
        errors += 1;
        wrong.push(`${SCENARIOS[scenario][0]} ${path}: ${e.message}`);
        counts[scenario].wrong += 1;
        break;
      }
      latencies.push(performance.now() - t0);
      counts[scenario].requests += 1;
      if (answer.status >= 500) expected.fault ? (faults5xx += 1) : (unexpected5xx += 1);
      const why = judge(answer, expected);
      if (why) {
        counts[scenario].wrong += 1;
        if (wrong.length < 20) wrong.push(`${SCENARIOS[scenario][0]} ${path}: ${why}`);
        break;
      }
    }
  }
}

console.error(`soak: ${SECONDS}s, ${CONNECTIONS} connections, workerd pid ${gateway.pid}, AS ${as.issuer}`);
await Promise.all(Array.from({ length: CONNECTIONS }, worker));
const elapsed = (Date.now() - started) / 1000;
clearInterval(sampler);
clearInterval(renew);
const end = memory(gateway.pid);
rss.push({ t: Math.round(elapsed), ...end });
agent.destroy();
const introspections = (await as.stats()).introspections;
await gateway.stop();
await Promise.all([origin.close(), as.stop()]);

latencies.sort((a, b) => a - b);
const pct = (p) => +latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))].toFixed(1);
const total = counts.reduce((s, c) => s + c.requests, 0);
const wrongDecisions = counts.reduce((s, c) => s + c.wrong, 0);
const summary = {
  seconds: +elapsed.toFixed(1), connections: CONNECTIONS, requests: total, rps: Math.round(total / elapsed),
  wrong_decisions: wrongDecisions, unexpected_5xx: unexpected5xx, injected_fault_5xx: faults5xx, transport_errors: errors,
  latency_ms: { p50: pct(0.5), p99: pct(0.99), max: pct(1) },
  origin_requests: origin.stats.requests, as_introspections: introspections,
  workerd_rss_mib: { start: rss[0]?.rss, end: end.rss, peak: end.hwm, samples: rss.map((s) => `${s.t}s:${s.rss}`) },
  scenarios: Object.fromEntries(SCENARIOS.map((s, i) => [s[0], counts[i]])),
};
for (const line of wrong) console.error(`WRONG: ${line}`);
console.log(JSON.stringify(summary, null, 2));
process.exit(wrongDecisions === 0 && unexpected5xx === 0 && errors === 0 ? 0 : 1);
