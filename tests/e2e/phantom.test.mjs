// The phantom-token pattern against a real authorization server (oidc-provider), on both runtimes:
// opaque access tokens are introspected (RFC 7662 JSON and RFC 9701 signed JWT), cached (per isolate
// on Workers, in the shared key-value store on Spin, where every request is a fresh instance), and
// an AS that is down or broken fails closed with 503.
import { describe, before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { createHash } from 'node:crypto';
import { RUNTIMES, npm, freePort, startAuthServer, CLOSED_ORIGIN, startOrigin, startGateway } from './lib/harness.mjs';

/** A fake AS introspection endpoint that misbehaves in a chosen way. */
async function startBrokenAs(mode) {
  const port = await freePort();
  const server = createServer((req, res) => {
    req.resume();
    if (mode === 'slow') return setTimeout(() => res.end('{"active":true}'), 5000);
    if (mode === 'error') { res.writeHead(500); return res.end('boom'); }
    if (mode === 'garbage') { res.writeHead(200, { 'content-type': 'application/json' }); return res.end('{"active":tr'); }
    res.writeHead(200, { 'content-type': 'application/json' });
    return res.end(JSON.stringify({ active: true, padding: 'x'.repeat(200_000) }));
  });
  await new Promise((r) => server.listen(port, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${port}/introspect`, close: () => new Promise((r) => { server.closeAllConnections(); server.close(r); }) };
}

for (const runtime of RUNTIMES) {
  describe(`phantom token on ${runtime}`, () => {
    let as, origin, json, signed, shortLived, warm, pusherKey, jose, broken = {}, faulty = {};
    const secretVar = { EDGEWARD_INTROSPECTION_SECRET: 'edgeward-gateway-secret' };

    const config = (endpoint, response, issuers = [], maxTtl = 60) => ({
      origin: origin.url,
      routes: [{ path: '/orders/*' }],
      issuers,
      introspection: { endpoint, issuer: as.issuer, client_id: 'edgeward-gateway',
        client_secret_name: 'EDGEWARD_INTROSPECTION_SECRET', response, timeout_ms: 1000, max_ttl: maxTtl, negative_ttl: 5,
        audiences: [as.resources.opaque] },
    });

    before(async () => {
      as = await startAuthServer();
      origin = await startOrigin();
      const asIssuer = { issuer: as.issuer, audiences: [as.resources.jwt], jwks_uri: as.jwks_uri };
      for (const mode of ['slow', 'error', 'garbage', 'huge']) broken[mode] = await startBrokenAs(mode);
      const stopped = `${CLOSED_ORIGIN}/introspect`;
      jose = await npm('jose', 'dist/webapi/index.js');
      const pair = await jose.generateKeyPair('ES256');
      pusherKey = pair.privateKey;
      const pusherJwk = { ...(await jose.exportJWK(pair.publicKey)), kid: 'pusher' };
      const warmConfig = config(as.introspection_endpoint, 'json',
        [{ issuer: 'https://pusher.e2e.test', audiences: ['unused'], jwks: { keys: [pusherJwk] } }]);
      warmConfig.introspection.issuer = 'https://pusher.e2e.test';
      warmConfig.introspection.warmup = true;
      const gateways = await Promise.all([
        startGateway(runtime, config(as.introspection_endpoint, 'json'), { vars: secretVar }),
        startGateway(runtime, config(as.introspection_endpoint, 'jwt', [asIssuer]), { vars: secretVar }),
        startGateway(runtime, config(stopped, 'json'), { vars: secretVar }),
        startGateway(runtime, config(as.introspection_endpoint, 'json', [], 2), { vars: secretVar }),
        startGateway(runtime, warmConfig, { vars: secretVar }),
        ...Object.values(broken).map((b) => startGateway(runtime, config(b.url, 'json'), { vars: secretVar })),
      ]);
      [json, signed, faulty.stopped, shortLived, warm, faulty.slow, faulty.error, faulty.garbage, faulty.huge] = gateways;
    });

    after(async () => {
      await Promise.all([json, signed, shortLived, warm, ...Object.values(faulty)].filter(Boolean).map((g) => g.stop()));
      await Promise.all([origin?.close(), as?.stop(), ...Object.values(broken).map((b) => b.close())]);
    });

    async function call(gateway, token) {
      const before = origin.requests.length;
      const res = await fetch(`${gateway.url}/orders/1`, { headers: { authorization: `Bearer ${token}` } });
      const text = await res.text();
      let body;
      try { body = JSON.parse(text); } catch {
        throw new Error(`not JSON (${res.status}): ${text}\n--- gateway log ---\n${gateway.log().slice(-3000)}`);
      }
      return { res, body, originCalls: origin.requests.length - before };
    }

    test('an opaque token is introspected (RFC 7662 JSON) and the request reaches the origin', async () => {
      const { access_token: token } = await as.token(as.resources.opaque);
      const { res, body, originCalls } = await call(json, token);
      assert.equal(res.status, 200, JSON.stringify(body));
      assert.equal(originCalls, 1);
      assert.equal(body.headers.authorization, undefined, 'the opaque token is not forwarded');
    });

    test('with RFC 9701 signed introspection answers, verified with the AS keys', async () => {
      const { access_token: token } = await as.token(as.resources.opaque);
      const { res, body } = await call(signed, token);
      assert.equal(res.status, 200, JSON.stringify(body));
    });

    test('a second request with the same token costs no AS call (isolate cache; key-value store on Spin)', async () => {
      const { access_token: token } = await as.token(as.resources.opaque);
      const before = (await as.stats()).introspections;
      assert.equal((await call(json, token)).res.status, 200);
      assert.equal((await as.stats()).introspections - before, 1);
      const again = await call(json, token);
      assert.equal(again.res.status, 200);
      assert.equal(again.originCalls, 1);
      assert.equal((await as.stats()).introspections - before, 1, 'answered from the cache');
    });

    test('a revoked token passes from the cache until max_ttl (the documented bound), then never', async () => {
      const { access_token: token } = await as.token(as.resources.opaque);
      assert.equal((await call(json, token)).res.status, 200);
      await as.revoke(token);
      const before = (await as.stats()).introspections;
      assert.equal((await call(json, token)).res.status, 200, 'cached answer, within max_ttl (60 s)');
      assert.equal((await as.stats()).introspections - before, 0);

      const { access_token: shortToken } = await as.token(as.resources.opaque);
      assert.equal((await call(shortLived, shortToken)).res.status, 200);
      await as.revoke(shortToken);
      // max_ttl is 2 s here: after it, the cached answer (isolate or shared tier) is gone.
      await new Promise((r) => setTimeout(r, 2500));
      const { res, body, originCalls } = await call(shortLived, shortToken);
      assert.equal(res.status, 401, JSON.stringify(body));
      assert.equal(body.code, 'ERR_TOKEN_INACTIVE');
      assert.equal(originCalls, 0);
    });

    test('a signed warm-up push makes a token pass without any AS call (shared tier: Cache API, key-value store)', async () => {
      const token = `pushed-${Date.now()}-token`;
      const now = Math.floor(Date.now() / 1000);
      const entry = { token_hash: createHash('sha256').update(token).digest('base64url'),
        claims: { active: true, sub: 'pushed-user', scope: 'orders:read', exp: now + 120, aud: as.resources.opaque } };
      const body = await new jose.SignJWT({ entries: [entry] })
        .setProtectedHeader({ alg: 'ES256', kid: 'pusher', typ: 'edgeward-warmup+jwt' })
        .setIssuer('https://pusher.e2e.test').setAudience('edgeward-gateway').setIssuedAt()
        .sign(pusherKey);
      const pushed = await fetch(`${warm.url}/.well-known/edgeward/introspection/warm`, {
        method: 'POST', headers: { 'content-type': 'application/jwt' }, body });
      assert.equal(pushed.status, 200, await pushed.clone().text());
      assert.deepEqual(await pushed.json(), { stored: 1 });
      const before = (await as.stats()).introspections;
      assert.equal((await call(warm, token)).res.status, 200);
      assert.equal((await as.stats()).introspections - before, 0);
      const forged = await fetch(`${warm.url}/.well-known/edgeward/introspection/warm`, {
        method: 'POST', body: body.slice(0, -4) + 'AAAA' });
      assert.equal(forged.status, 401);
    });

    test('an unknown opaque token is 401 invalid_token (inactive)', async () => {
      const { res, body, originCalls } = await call(json, 'this-token-was-never-issued-by-the-as');
      assert.equal(res.status, 401);
      assert.equal(body.code, 'ERR_TOKEN_INACTIVE');
      assert.match(res.headers.get('www-authenticate'), /error="invalid_token"/);
      assert.equal(originCalls, 0);
    });

    test('64 parallel requests with the same fresh token cost one AS call per isolate', async () => {
      const { access_token: token } = await as.token(as.resources.opaque);
      const before = (await as.stats()).introspections;
      const results = await Promise.all(Array.from({ length: 64 }, () => call(json, token)));
      assert.ok(results.every((r) => r.res.status === 200));
      const calls = (await as.stats()).introspections - before;
      // A Worker isolate shares one cache and single-flight; Spin instances share only the store,
      // so instances that start before the first answer is stored each ask the AS.
      if (runtime === 'workers') assert.equal(calls, 1);
      else assert.ok(calls >= 1 && calls <= 64);
    });

    for (const fault of ['stopped', 'slow', 'error', 'garbage', 'huge']) {
      test(`an AS that is ${fault} fails closed: 503 with Retry-After, origin not called`, async () => {
        const { res, body, originCalls } = await call(faulty[fault], `opaque-${fault}-token`);
        assert.equal(res.status, 503, JSON.stringify(body));
        assert.ok(res.headers.get('retry-after'));
        assert.equal(originCalls, 0);
      });
    }
  });
}
