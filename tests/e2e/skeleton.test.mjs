// Walking skeleton, on both runtimes: health, round trip to a real origin, header stripping, and the
// error paths (invalid config → 500 naming the field, origin down → 502, no token → 401).
import { describe, before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import { RUNTIMES, startOrigin, startGateway, CLOSED_ORIGIN } from './lib/harness.mjs';

// Workers twice: on bare workerd (as every other test file) and through `wrangler dev`, the path
// users take with scripts/serve --runtime workers.
const targets = RUNTIMES.flatMap((r) => (r === 'workers' ? [[r, 'workerd'], [r, 'wrangler']] : [[r]]));

for (const [runtime, engine] of targets) {
  describe(`skeleton on ${runtime}${engine ? ` (${engine})` : ''}`, () => {
    let origin, gateway, broken, orphan;

    before(async () => {
      origin = await startOrigin();
      const routes = [{ path: '/public/*', anonymous: true }, { path: '/api/*' }];
      [gateway, broken, orphan] = await Promise.all([
        startGateway(runtime, { origin: origin.url, routes }, { engine }),
        startGateway(runtime, { origin: origin.url, routes: [{ path: '/x', methods: ['get'] }] }, { engine }),
        startGateway(runtime, { origin: CLOSED_ORIGIN, routes }, { engine }),
      ]);
    });

    after(async () => {
      await Promise.all([gateway, broken, orphan].filter(Boolean).map((g) => g.stop()));
      await origin?.close();
    });

    test('health answers JSON with version and runtime, without touching the origin', async () => {
      const before = origin.requests.length;
      const res = await fetch(`${gateway.url}/.well-known/edgeward/health`);
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type'), /application\/json/);
      const body = await res.json();
      assert.equal(body.status, 'ok');
      assert.match(body.version, /^\d+\.\d+\.\d+/);
      assert.equal(body.runtime, runtime === 'workers' ? 'cloudflare-workers' : 'spin');
      assert.equal(origin.requests.length, before);
    });

    test('an anonymous route round-trips to the origin with path, query and body', async () => {
      const res = await fetch(`${gateway.url}/public/echo?a=1&b=two`, {
        method: 'POST', body: 'hello origin', headers: { 'content-type': 'text/plain' },
      });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('x-origin'), 'test');
      const seen = await res.json();
      assert.equal(seen.method, 'POST');
      assert.equal(seen.url, '/public/echo?a=1&b=two');
      assert.equal(seen.body, 'hello origin');
    });

    test('headers in the gateway namespace and credentials never reach the origin', async () => {
      const res = await fetch(`${gateway.url}/public/spoof`, {
        headers: { 'x-edgeward-sub': 'admin', 'X-Edgeward-Claims': '{}', authorization: 'Bearer abc', 'x-keep': 'yes' },
      });
      const seen = await res.json();
      assert.equal(seen.headers['x-edgeward-sub'], undefined);
      assert.equal(seen.headers['x-edgeward-claims'], undefined);
      assert.equal(seen.headers.authorization, undefined);
      assert.equal(seen.headers['x-keep'], 'yes');
    });

    test('a protected route without a token is 401 with a Bearer challenge; origin not called', async () => {
      const before = origin.requests.length;
      const res = await fetch(`${gateway.url}/api/orders`);
      assert.equal(res.status, 401);
      assert.equal(res.headers.get('www-authenticate'), 'Bearer realm="edgeward"');
      assert.equal(origin.requests.length, before);
    });

    test('an unmatched path is denied by default', async () => {
      const before = origin.requests.length;
      const res = await fetch(`${gateway.url}/elsewhere`);
      assert.equal(res.status, 404);
      assert.equal((await res.json()).code, 'ERR_ROUTE_NOT_FOUND');
      assert.equal(origin.requests.length, before);
    });

    test('an invalid config answers 500 JSON naming the bad field', async () => {
      for (const path of ['/x', '/.well-known/edgeward/health']) {
        const res = await fetch(`${broken.url}${path}`);
        assert.equal(res.status, 500);
        const body = await res.json();
        assert.equal(body.code, 'ERR_CONFIG_INVALID');
        assert.equal(body.field, 'routes[0].methods[0]');
      }
    });

    test('an unreachable origin answers 502 JSON', async () => {
      const res = await fetch(`${orphan.url}/public/x`);
      assert.equal(res.status, 502);
      const body = await res.json();
      assert.equal(body.code, 'ERR_ORIGIN_UNREACHABLE');
    });
  });
}
