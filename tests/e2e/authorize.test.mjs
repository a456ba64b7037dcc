// The authorize stage end to end, on both runtimes: JWTs of the real authorization server
// (oidc-provider), a real policy engine (tests/decision-point: Rego by regorus behind the OPA Data
// API and AuthZEN 1.0, built by scripts/setup), and the recording origin. Allow, deny (the origin
// is not called), headers from the policy, token authentication to the decision point (a platform
// secret as its bearer token), every decision-point fault → 503 with the origin not
// called, and a burst of identical requests against the decision cache.
import { describe, before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { RUNTIMES, ROOT, CLOSED_ORIGIN, startAuthServer, startOrigin, startGateway } from './lib/harness.mjs';

const POLICIES = join(ROOT, 'tests', 'decision-point', 'policies');
// The slow decision point's budget; the others get more, so a loaded test machine does not turn an
// answer into a timeout.
const TIMEOUT_MS = 500;
const RELAXED_MS = 3000;
const SLOW_MS = 5000;
// The token the decision point wants below /auth/ (OPA's --authentication=token); the gateway reads
// it from a platform secret (`authorization_secret`). Neither process gets it on a command line.
const PDP_TOKEN = randomBytes(24).toString('base64url');

/** Starts the test decision point; resolves with its URL, `stats()` and `stop()`. */
async function startDecisionPoint() {
  const binary = process.env.EDGEWARD_DECISION_POINT;
  assert.ok(binary, 'EDGEWARD_DECISION_POINT is set by scripts/setup (source it first)');
  const child = spawn(binary, [
    '--policy', join(POLICIES, 'e2e.rego'), '--policy', join(POLICIES, 'e2e-authzen.rego'),
    '--slow-ms', String(SLOW_MS), '--token-env', 'PDP_TOKEN',
  ], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, PDP_TOKEN } });
  const port = await new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line) resolve(JSON.parse(line).port);
    });
    child.on('exit', (code) => reject(new Error(`decision point exited with ${code}`)));
  });
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    async stats() { return (await fetch(`${url}/_stats`)).json(); },
    stop: () => new Promise((r) => { child.once('exit', r); child.kill('SIGTERM'); }),
  };
}

/** Calls to the decision point so far, over every path. */
const totalCalls = (stats) => Object.values(stats.calls).reduce((a, b) => a + b, 0);

for (const runtime of RUNTIMES) {
  describe(`authorize stage on ${runtime}`, () => {
    let as, origin, pdp, gateway, reader, writer;

    before(async () => {
      [as, origin, pdp] = await Promise.all([startAuthServer(), startOrigin(), startDecisionPoint()]);
      const opa = (base, extra = {}) => ({
        kind: 'opa', base, path: 'edgeward/authz/decision', headers: ['x-tenant'], timeout_ms: RELAXED_MS,
        cache_ttl_seconds: 0, negative_ttl_seconds: 0, ...extra,
      });
      const route = (name) => ({ path: `/${name}/*`, authorize: name });
      gateway = await startGateway(runtime, {
        origin: origin.url,
        issuers: [{ issuer: as.issuer, audiences: [as.resources.jwt], jwks_uri: as.jwks_uri }],
        routes: ['opa', 'authzen', 'burst', 'down', 'slow', 'error', 'garbage', 'huge', 'authed', 'wrongtoken', 'notoken']
          .map(route),
        authorization: {
          decision_points: {
            opa: opa(pdp.url),
            burst: opa(pdp.url, { cache_ttl_seconds: 300 }),
            authzen: { kind: 'authzen', base: pdp.url, timeout_ms: RELAXED_MS, cache_ttl_seconds: 0,
              negative_ttl_seconds: 0, authzen: { subject_id_claim: 'client_id', subject_claims: ['scope'] } },
            down: opa(CLOSED_ORIGIN),
            slow: opa(`${pdp.url}/fault/slow`, { timeout_ms: TIMEOUT_MS }),
            error: opa(`${pdp.url}/fault/500`),
            garbage: opa(`${pdp.url}/fault/garbage`),
            huge: opa(`${pdp.url}/fault/huge`),
            authed: opa(`${pdp.url}/auth`, { authorization_secret: 'EDGEWARD_PDP_TOKEN' }),
            wrongtoken: opa(`${pdp.url}/auth`, { authorization_secret: 'EDGEWARD_PDP_WRONG' }),
            notoken: opa(`${pdp.url}/auth`),
          },
        },
      }, { vars: { EDGEWARD_PDP_TOKEN: PDP_TOKEN, EDGEWARD_PDP_WRONG: randomBytes(24).toString('base64url') } });
      [reader, writer] = await Promise.all([
        as.token(as.resources.jwt, 'orders:read'),
        as.token(as.resources.jwt, 'orders:read orders:write'),
      ]).then((answers) => answers.map((a) => a.access_token));
    });

    after(async () => {
      await gateway?.stop();
      await Promise.all([origin?.close(), as?.stop(), pdp?.stop()]);
    });

    async function call(path, token, { method = 'GET', headers = {} } = {}) {
      const before = origin.requests.length;
      const res = await fetch(`${gateway.url}${path}`, {
        method, headers: { authorization: `Bearer ${token}`, ...headers }, signal: AbortSignal.timeout(20_000),
      });
      const text = await res.text();
      let body;
      try { body = JSON.parse(text); } catch {
        throw new Error(`not JSON (${res.status}): ${text}\n--- gateway log ---\n${gateway.log().slice(-3000)}`);
      }
      return { res, body, originCalls: origin.requests.length - before, seen: origin.requests.at(-1) };
    }

    test('an allow forwards with the headers the policy added, replacing forged ones', async () => {
      const before = totalCalls(await pdp.stats());
      const answer = await call('/opa/orders/1', reader, { headers: { 'x-tenant': 'acme', 'x-policy-tier': 'forged' } });
      assert.equal(answer.res.status, 200, JSON.stringify(answer.body));
      assert.equal(answer.originCalls, 1);
      assert.equal(answer.seen.headers['x-policy-tier'], 'reader');
      assert.equal(answer.seen.headers['x-policy-client'], as.clients.app.client_id);
      assert.equal(answer.seen.headers['x-policy-tenant'], 'acme', 'the configured field reached the policy');
      const stats = await pdp.stats();
      assert.equal(totalCalls(stats), before + 1);
      // What the decision point saw: the OPA-Envoy input, without the token or other fields.
      const input = JSON.parse(stats.last.body).input;
      assert.equal(input.attributes.request.http.method, 'GET');
      assert.equal(input.attributes.request.http.path, '/opa/orders/1');
      assert.deepEqual(input.attributes.request.http.headers, { 'x-tenant': 'acme' });
      assert.deepEqual(input.parsed_path, ['opa', 'orders', '1']);
      assert.equal(input.token.issuer, as.issuer);
      assert.equal(input.token.kind, 'jwt');
      assert.ok(!stats.last.body.includes(reader), 'the access token itself never reaches the decision point');
    });

    test('a deny is 403 ERR_AUTHZ_DENIED with the policy reason; the origin is not called', async () => {
      const denied = await call('/opa/orders/1', reader, { method: 'POST' });
      assert.equal(denied.res.status, 403);
      assert.equal(denied.body.code, 'ERR_AUTHZ_DENIED');
      assert.equal(denied.body.error, 'insufficient_scope');
      assert.equal(denied.body.error_description, 'this client may not do that to orders');
      assert.match(denied.res.headers.get('www-authenticate'), /error="insufficient_scope"/);
      assert.equal(denied.originCalls, 0);
      const allowed = await call('/opa/orders/1', writer, { method: 'POST' });
      assert.equal(allowed.res.status, 200);
      assert.equal(allowed.seen.headers['x-policy-tier'], 'writer');
      const secret = await call('/opa/secret/1', writer);
      assert.equal(secret.res.status, 403);
      assert.equal(secret.originCalls, 0);
    });

    test('AuthZEN: the evaluation API decides, with its reason and headers', async () => {
      const allowed = await call('/authzen/orders/a%20b?x=1&x=2', reader);
      assert.equal(allowed.res.status, 200);
      assert.equal(allowed.seen.headers['x-pdp'], 'authzen');
      const request = JSON.parse((await pdp.stats()).last.body);
      assert.equal(request.subject.id, as.clients.app.client_id);
      assert.equal(request.action.name, 'GET');
      assert.equal(request.resource.id, '/authzen/orders/a%20b');
      assert.equal(request.resource.properties.route, '/authzen/*');
      // The OPA input's parsed path and query: decoded segments, every value of a repeated name.
      assert.deepEqual(request.resource.properties.parsed_path, ['authzen', 'orders', 'a b']);
      assert.deepEqual(request.resource.properties.parsed_query, { x: ['1', '2'] });
      const denied = await call('/authzen/orders/1', reader, { method: 'DELETE' });
      assert.equal(denied.res.status, 403);
      assert.equal(denied.body.error_description, 'orders:read is needed');
      assert.equal(denied.originCalls, 0);
    });

    const faults = [
      ['down', 'ERR_AUTHZ_UNREACHABLE'],
      ['slow', 'ERR_AUTHZ_TIMEOUT'],
      ['error', 'ERR_AUTHZ_STATUS'],
      ['garbage', 'ERR_AUTHZ_ANSWER_INVALID'],
      ['huge', 'ERR_AUTHZ_ANSWER_TOO_LARGE'],
    ];
    for (const [fault, code] of faults) {
      test(`a decision point that is ${fault} gives 503 ${code} with Retry-After; the origin is not called`, async () => {
        const started = Date.now();
        const answer = await call(`/${fault}/orders/1`, writer);
        assert.equal(answer.res.status, 503, JSON.stringify(answer.body));
        assert.equal(answer.body.code, code);
        assert.equal(answer.body.error, 'temporarily_unavailable');
        assert.equal(answer.res.headers.get('retry-after'), '5');
        assert.equal(answer.originCalls, 0);
        if (fault === 'slow') {
          const ms = Date.now() - started;
          assert.ok(ms >= TIMEOUT_MS - 50 && ms < SLOW_MS, `answered after ${ms} ms`);
        }
      });
    }

    test('a decision point with token authentication: the platform secret is its bearer token; a wrong or missing one is 503, never logged', async () => {
      const allowed = await call('/authed/orders/1', reader);
      assert.equal(allowed.res.status, 200, JSON.stringify(allowed.body));
      assert.equal(allowed.seen.headers['x-policy-tier'], 'reader');
      assert.equal((await pdp.stats()).last.path, '/auth/v1/data/edgeward/authz/decision');
      for (const name of ['wrongtoken', 'notoken']) {
        const refused = await call(`/${name}/orders/1`, reader);
        assert.equal(refused.res.status, 503, `${name}: ${JSON.stringify(refused.body)}`);
        assert.equal(refused.body.code, 'ERR_AUTHZ_STATUS', name);
        assert.equal(refused.originCalls, 0);
      }
      assert.ok(!gateway.log().includes(PDP_TOKEN), 'the token is never in the gateway log');
    });

    test('64 parallel identical requests: at most one decision call per isolate (Workers); the shared tier after a burst (Spin)', async (t) => {
      const path = '/burst/orders/42';
      const key = `/v1/data/edgeward/authz/decision`;
      const before = (await pdp.stats()).calls[key] ?? 0;
      const answers = await Promise.all(Array.from({ length: 64 }, () => call(path, reader)));
      for (const answer of answers) assert.equal(answer.res.status, 200);
      const burst = ((await pdp.stats()).calls[key] ?? 0) - before;
      t.diagnostic(`${runtime}: ${burst} decision call(s) for 64 identical requests`);
      if (runtime === 'workers') {
        // One isolate: single-flight lets one request ask; the others wait for its decision.
        assert.equal(burst, 1, `${burst} decision calls for 64 identical requests`);
      } else {
        // Spin runs a fresh instance per request: nothing in memory is shared, so a cold burst may
        // ask once per instance (bounded by the burst); the key-value shared tier holds the answer.
        assert.ok(burst >= 1 && burst <= 64, `${burst} decision calls`);
      }
      // Once decided, the cache answers: no further call, on either runtime.
      const again = await Promise.all(Array.from({ length: 8 }, () => call(path, reader)));
      for (const answer of again) assert.equal(answer.res.status, 200);
      assert.equal(((await pdp.stats()).calls[key] ?? 0) - before, burst, 'the cached decision was used');
    });
  });
}
