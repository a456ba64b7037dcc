// Embedded Rego end to end, on both runtimes: the `policy` function of the bundle (scripts/build
// --function policy: the gateway with regorus inside) deciding on JWTs of the real authorization
// server (oidc-provider), in front of the recording origin. The policy is the remote decision
// point's own (tests/decision-point/policies/e2e.rego), so both paths run the same Rego. Allow with
// the policy's headers, deny with its reason (the origin is not called), a policy that runs past its
// budget and one whose result is too large → 503 (and the function still answers), a policy read
// from a platform variable (`policy_var`), a policy compiled into the function at build time
// (`policy_builtin`: tests/e2e/policies, with its data.json), and a policy that does not compile or
// a builtin the build lacks → 500 naming the field; the time builtins (time.now_ns, time.clock,
// time.weekday, time.date) answer the request time.
import { describe, before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RUNTIMES, ROOT, startAuthServer, startOrigin, startGateway } from './lib/harness.mjs';

const POLICY = readFileSync(join(ROOT, 'tests', 'decision-point', 'policies', 'e2e.rego'), 'utf8');
// Work that grows with the square of a range: 16 million iterations, far past any budget below.
const RUNAWAY = `package runaway
import rego.v1
allow if count({x | some a in numbers.range(1, 4000); some b in numbers.range(1, 4000); x := a * b}) > 0`;
// A result of about 110 KB: within the work budget, over the 16 KiB output limit (max_answer_bytes).
const HUGE = `package huge
import rego.v1
decision := {"allowed": true, "headers": {"x-big": concat(",", [sprintf("%d", [i]) | some i in numbers.range(1, 20000)])}}`;
// A budget a loaded test machine still meets for the small policies (the Spin build measures it in
// time, the Workers build in work: shared/src/rego.rs).
const RELAXED_MS = 3000;
const BUDGET_MS = 100;

for (const runtime of RUNTIMES) {
  describe(`embedded Rego (policy function) on ${runtime}`, () => {
    let as, origin, gateway, broken, missing, reader, writer;

    before(async () => {
      [as, origin] = await Promise.all([startAuthServer(), startOrigin()]);
      const issuers = [{ issuer: as.issuer, audiences: [as.resources.jwt], jwks_uri: as.jwks_uri }];
      const rego = (policy, query, extra = {}) => ({ kind: 'rego', policy, query, timeout_ms: RELAXED_MS, ...extra });
      gateway = await startGateway(runtime, {
        origin: origin.url,
        issuers,
        routes: ['rego', 'runaway', 'huge', 'fromvar', 'builtin', 'hours'].map((name) => ({ path: `/${name}/*`, authorize: name })),
        authorization: {
          decision_points: {
            rego: rego(POLICY, 'data.edgeward.authz.decision', { headers: ['x-tenant'] }),
            runaway: rego(RUNAWAY, 'data.runaway.allow', { timeout_ms: BUDGET_MS }),
            huge: rego(HUGE, 'data.huge.decision'),
            fromvar: { kind: 'rego', policy_var: 'EDGEWARD_E2E_POLICY', query: 'data.edgeward.authz.decision',
              timeout_ms: RELAXED_MS },
            builtin: { kind: 'rego', policy_builtin: 'rbac', query: 'data.builtin.rbac.decision', timeout_ms: RELAXED_MS },
            hours: { kind: 'rego', policy_builtin: 'hours', query: 'data.builtin.hours.decision', timeout_ms: RELAXED_MS },
          },
        },
      }, { fn: 'policy', vars: { EDGEWARD_E2E_POLICY: POLICY } });
      broken = await startGateway(runtime, {
        origin: origin.url,
        issuers,
        routes: [{ path: '/*', authorize: 'rego' }],
        authorization: { decision_points: { rego: rego('package x\nallow if {', 'data.x.allow') } },
      }, { fn: 'policy' });
      missing = await startGateway(runtime, {
        origin: origin.url,
        issuers,
        routes: [{ path: '/*', authorize: 'builtin' }],
        authorization: { decision_points: { builtin: { kind: 'rego', policy_builtin: 'nope', query: 'data.x.allow' } } },
      }, { fn: 'policy' });
      [reader, writer] = await Promise.all([
        as.token(as.resources.jwt, 'orders:read'),
        as.token(as.resources.jwt, 'orders:read orders:write'),
      ]).then((answers) => answers.map((a) => a.access_token));
    });

    after(async () => {
      await Promise.all([gateway?.stop(), broken?.stop(), missing?.stop()]);
      await Promise.all([origin?.close(), as?.stop()]);
    });

    async function call(url, path, token, { method = 'GET', headers = {} } = {}) {
      const before = origin.requests.length;
      const started = Date.now();
      const res = await fetch(`${url}${path}`, {
        method, headers: { authorization: `Bearer ${token}`, ...headers }, signal: AbortSignal.timeout(30_000),
      });
      const text = await res.text();
      const ms = Date.now() - started;
      let body;
      try { body = JSON.parse(text); } catch {
        throw new Error(`not JSON (${res.status}): ${text.slice(0, 300)}\n--- gateway log ---\n${gateway.log().slice(-3000)}`);
      }
      return { res, body, ms, originCalls: origin.requests.length - before, seen: origin.requests.at(-1) };
    }

    test('an allow forwards with the headers the policy added, replacing forged ones', async () => {
      const answer = await call(gateway.url, '/rego/orders/1', reader, {
        headers: { 'x-tenant': 'acme', 'x-policy-tier': 'forged' },
      });
      assert.equal(answer.res.status, 200, JSON.stringify(answer.body));
      assert.equal(answer.originCalls, 1);
      assert.equal(answer.seen.headers['x-policy-tier'], 'reader');
      assert.equal(answer.seen.headers['x-policy-client'], as.clients.app.client_id);
      assert.equal(answer.seen.headers['x-policy-tenant'], 'acme', 'the configured field reached the policy');
      const writes = await call(gateway.url, '/rego/orders/1', writer, { method: 'POST' });
      assert.equal(writes.res.status, 200);
      assert.equal(writes.seen.headers['x-policy-tier'], 'writer');
      assert.equal(writes.seen.headers['x-policy-tenant'], 'none', 'a field the request lacks');
    });

    test('a policy from a platform variable (policy_var) decides the same way', async () => {
      const allowed = await call(gateway.url, '/fromvar/orders/1', reader);
      assert.equal(allowed.res.status, 200, JSON.stringify(allowed.body));
      assert.equal(allowed.seen.headers['x-policy-tier'], 'reader');
      const denied = await call(gateway.url, '/fromvar/orders/1', reader, { method: 'DELETE' });
      assert.equal(denied.res.status, 403);
      assert.equal(denied.body.error_description, 'this client may not do that to orders');
    });

    test('a policy compiled in at build time (policy_builtin) decides with the build\'s data.json', async () => {
      const reads = await call(gateway.url, '/builtin/orders/1', reader);
      assert.equal(reads.res.status, 200, JSON.stringify(reads.body));
      assert.equal(reads.seen.headers['x-policy-grants'], 'orders:read');
      const writes = await call(gateway.url, '/builtin/orders', writer, { method: 'POST' });
      assert.equal(writes.res.status, 200, JSON.stringify(writes.body));
      assert.equal(writes.seen.headers['x-policy-grants'], 'orders:write');
      const denied = await call(gateway.url, '/builtin/orders', reader, { method: 'POST' });
      assert.equal(denied.res.status, 403);
      assert.equal(denied.body.code, 'ERR_AUTHZ_DENIED');
      assert.equal(denied.body.error_description, 'no grant for this request');
      assert.equal(denied.originCalls, 0);
    });

    test('time.now_ns, time.clock, time.weekday and time.date read the request time (UTC)', async () => {
      const utc = (ms) => {
        const d = new Date(ms);
        const two = (n) => String(n).padStart(2, '0');
        const weekday = d.toLocaleDateString('en-US', { weekday: 'long', timeZone: 'UTC' });
        return [`${weekday} ${two(d.getUTCHours())}:${two(d.getUTCMinutes())}`,
          `${d.getUTCFullYear()}-${two(d.getUTCMonth() + 1)}-${two(d.getUTCDate())}`];
      };
      const before = utc(Date.now());
      const answer = await call(gateway.url, '/hours/x', reader);
      const after = utc(Date.now());
      assert.equal(answer.res.status, 200, JSON.stringify(answer.body));
      const seen = [answer.seen.headers['x-policy-time'], answer.seen.headers['x-policy-date']];
      assert.ok([before.join(), after.join()].includes(seen.join()), `${seen} not within ${before} .. ${after}`);
    });

    test('a builtin policy this build lacks: every request 500 naming the field', async () => {
      const answer = await call(missing.url, '/orders/1', reader);
      assert.equal(answer.res.status, 500);
      assert.equal(answer.body.field, 'authorization.decision_points.builtin.policy_builtin');
      assert.match(answer.body.problem, /had: hours, rbac/);
      assert.equal(answer.originCalls, 0);
    });

    test('a deny is 403 ERR_AUTHZ_DENIED with the policy reason; the origin is not called', async () => {
      for (const [path, token, method] of [['/rego/orders/1', reader, 'POST'], ['/rego/secret/1', writer, 'GET']]) {
        const denied = await call(gateway.url, path, token, { method });
        assert.equal(denied.res.status, 403, `${method} ${path}`);
        assert.equal(denied.body.code, 'ERR_AUTHZ_DENIED');
        assert.equal(denied.body.error, 'insufficient_scope');
        assert.equal(denied.body.error_description, 'this client may not do that to orders');
        assert.match(denied.res.headers.get('www-authenticate'), /error="insufficient_scope"/);
        assert.equal(denied.originCalls, 0);
      }
    });

    test('a runaway policy is stopped by its budget: 503 ERR_AUTHZ_EVALUATION_LIMIT, and the function still answers', async (t) => {
      // Twice: an isolate's first evaluation of a policy runs on regorus's interpreter, the next
      // ones on its virtual machine (Workers; a Spin instance evaluates once).
      for (const attempt of ['first', 'second']) {
        const stopped = await call(gateway.url, '/runaway/x', reader);
        assert.equal(stopped.res.status, 503, `${attempt}: ${JSON.stringify(stopped.body)}`);
        assert.equal(stopped.body.code, 'ERR_AUTHZ_EVALUATION_LIMIT');
        assert.equal(stopped.body.error, 'temporarily_unavailable');
        assert.ok(stopped.res.headers.get('retry-after'));
        assert.equal(stopped.originCalls, 0);
        t.diagnostic(`${runtime}: a ${BUDGET_MS} ms budget answered the ${attempt} time after ${stopped.ms} ms`);
        // Unbounded, 16 million iterations take minutes; stopped, well under the 30 s fetch timeout.
        assert.ok(stopped.ms < 10_000, `answered after ${stopped.ms} ms`);
        const next = await call(gateway.url, '/rego/orders/1', reader);
        assert.equal(next.res.status, 200, 'the next request is served');
      }
    });

    test('a policy whose result is too large: 503 ERR_AUTHZ_ANSWER_TOO_LARGE; the origin is not called', async () => {
      const answer = await call(gateway.url, '/huge/x', reader);
      assert.equal(answer.res.status, 503, JSON.stringify(answer.body));
      assert.equal(answer.body.code, 'ERR_AUTHZ_ANSWER_TOO_LARGE');
      assert.equal(answer.originCalls, 0);
    });

    test('a policy that does not compile: every request 500 naming the field', async () => {
      const answer = await call(broken.url, '/orders/1', reader);
      assert.equal(answer.res.status, 500);
      assert.equal(answer.body.field, 'authorization.decision_points.rego.policy');
      assert.equal(answer.originCalls, 0);
    });
  });
}
