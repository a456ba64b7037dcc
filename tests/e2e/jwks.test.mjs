// JWKS key source end to end, on both runtimes: keys fetched from an issuer's jwks_uri through the
// platform's HTTP client, selected by kid; an unknown kid is 401; a key source that is down is 503.
import { describe, before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { RUNTIMES, npm, freePort, startOrigin, startGateway, CLOSED_ORIGIN } from './lib/harness.mjs';

const ISSUER = 'https://jwks-issuer.e2e.test';
const AUDIENCE = 'api://orders';

async function startJwksServer(jwks) {
  const server = { hits: 0 };
  const http = createServer((req, res) => {
    server.hits += 1;
    res.writeHead(200, { 'content-type': 'application/jwk-set+json', 'cache-control': 'max-age=300' });
    res.end(JSON.stringify(jwks));
  });
  const port = await freePort();
  await new Promise((r) => http.listen(port, '127.0.0.1', r));
  server.url = `http://127.0.0.1:${port}/jwks.json`;
  server.close = () => new Promise((r) => http.close(r));
  return server;
}

for (const runtime of RUNTIMES) {
  describe(`JWKS issuer on ${runtime}`, () => {
    let jose, origin, jwksServer, gateway, downGateway, signingKey, p384Key;

    before(async () => {
      jose = await npm('jose', 'dist/webapi/index.js');
      const pair = await jose.generateKeyPair('ES256', { extractable: true });
      signingKey = pair.privateKey;
      const jwk = { ...(await jose.exportJWK(pair.publicKey)), kid: 'key-2026', use: 'sig', alg: 'ES256' };
      // P-384 keys are validated when parsed (the Workers build without `p384`, by the curve
      // equation): a point moved off the curve and coordinates ≥ p are dropped from the set.
      const p384 = await jose.generateKeyPair('ES384', { extractable: true });
      p384Key = p384.privateKey;
      const good = { ...(await jose.exportJWK(p384.publicKey)), use: 'sig', alg: 'ES384' };
      const y = Buffer.from(good.y, 'base64url');
      y[47] ^= 1;
      const ff = Buffer.alloc(48, 0xff).toString('base64url');
      const keys = [
        jwk,
        { ...good, kid: 'p384' },
        { ...good, kid: 'p384-off-curve', y: y.toString('base64url') },
        { ...good, kid: 'p384-out-of-range', x: ff, y: ff },
      ];
      jwksServer = await startJwksServer({ keys });
      origin = await startOrigin();
      const config = (jwksUri) => ({
        origin: origin.url,
        routes: [{ path: '/orders/*' }],
        issuers: [{ issuer: ISSUER, audiences: [AUDIENCE], algorithms: ['ES256', 'ES384'], jwks_uri: jwksUri }],
      });
      [gateway, downGateway] = await Promise.all([
        startGateway(runtime, config(jwksServer.url)),
        startGateway(runtime, config(`${CLOSED_ORIGIN}/jwks.json`)),
      ]);
    });

    after(async () => {
      await Promise.all([gateway?.stop(), downGateway?.stop()]);
      await Promise.all([origin?.close(), jwksServer?.close()]);
    });

    const mint = (kid = 'key-2026', alg = 'ES256', key = signingKey) => {
      const now = Math.floor(Date.now() / 1000);
      return new jose.SignJWT({ iss: ISSUER, aud: AUDIENCE, sub: 'bob', exp: now + 120, iat: now })
        .setProtectedHeader({ alg, kid })
        .sign(key);
    };

    async function call(url, token) {
      const before = origin.requests.length;
      const res = await fetch(`${url}/orders/7`, { headers: { authorization: `Bearer ${token}` } });
      return { res, body: await res.json(), originCalls: origin.requests.length - before };
    }

    test('a token whose kid is in the issuer JWKS reaches the origin (a cold burst shares one fetch)', async () => {
      const burst = await Promise.all(Array.from({ length: 16 }, async () => call(gateway.url, await mint())));
      for (const { res, body } of burst) assert.equal(res.status, 200, JSON.stringify(body));
      for (let i = 0; i < 3; i++) {
        const { res, body, originCalls } = await call(gateway.url, await mint());
        assert.equal(res.status, 200, JSON.stringify(body));
        assert.equal(originCalls, 1);
      }
      // A Worker isolate keeps the keys (one fetch); a Spin instance lives for one request.
      if (runtime === 'workers') assert.equal(jwksServer.hits, 1);
      else assert.ok(jwksServer.hits >= 1);
    });

    test('an unknown kid is 401 and the origin is not called', async () => {
      const { res, body, originCalls } = await call(gateway.url, await mint('not-a-key'));
      assert.equal(res.status, 401);
      assert.equal(body.code, 'ERR_JWKS_NO_MATCHING_KEY');
      assert.equal(originCalls, 0);
    });

    test('P-384 keys: a valid one verifies; one off the curve or out of range is no key (401)', async () => {
      const ok = await call(gateway.url, await mint('p384', 'ES384', p384Key));
      assert.equal(ok.res.status, 200, JSON.stringify(ok.body));
      for (const kid of ['p384-off-curve', 'p384-out-of-range']) {
        const { res, body, originCalls } = await call(gateway.url, await mint(kid, 'ES384', p384Key));
        assert.equal(res.status, 401, kid);
        assert.equal(body.code, 'ERR_JWKS_NO_MATCHING_KEY', kid);
        assert.equal(originCalls, 0);
      }
    });

    test('a key source that is down fails closed with 503 and Retry-After', async () => {
      const { res, body, originCalls } = await call(downGateway.url, await mint());
      assert.equal(res.status, 503);
      assert.ok(res.headers.get('retry-after'));
      assert.equal(body.code, 'ERR_UPSTREAM_UNAVAILABLE');
      assert.equal(originCalls, 0);
    });
  });
}

// Spin runs every request in a fresh instance, so nothing stays in memory between requests: the
// verified-token cache's shared tier in the key-value store is what spares a repeated token its
// verification. Observable here without any test hook: an issuer whose keys come from a JWKS URL
// costs one JWKS fetch per verification on Spin, and none when the verification comes from the store.
if (RUNTIMES.includes('spin')) {
  describe('verified-token tier in the key-value store on spin', () => {
    let jose, origin, signingKey;
    const gateways = {}, servers = {};

    before(async () => {
      jose = await npm('jose', 'dist/webapi/index.js');
      const pair = await jose.generateKeyPair('ES256', { extractable: true });
      signingKey = pair.privateKey;
      const jwk = { ...(await jose.exportJWK(pair.publicKey)), kid: 'key-2026', use: 'sig', alg: 'ES256' };
      origin = await startOrigin();
      const setups = {
        shared: [{}, {}],
        off: [{ token_cache_shared: 'off' }, {}],
        noStore: [{}, { keyValueStore: false }],
      };
      await Promise.all(Object.entries(setups).map(async ([name, [extra, options]]) => {
        servers[name] = await startJwksServer({ keys: [jwk] });
        gateways[name] = await startGateway('spin', {
          origin: origin.url,
          routes: [{ path: '/orders/*' }],
          issuers: [{ issuer: ISSUER, audiences: [AUDIENCE], algorithms: ['ES256'], leeway_seconds: 0,
            jwks_uri: servers[name].url }],
          ...extra,
        }, options);
      }));
    });

    after(async () => {
      await Promise.all(Object.values(gateways).map((g) => g?.stop()));
      await Promise.all([origin?.close(), ...Object.values(servers).map((s) => s.close())]);
    });

    const mint = (lifetime = 120) => {
      const now = Math.floor(Date.now() / 1000);
      return new jose.SignJWT({ iss: ISSUER, aud: AUDIENCE, sub: 'carol', exp: now + lifetime, iat: now })
        .setProtectedHeader({ alg: 'ES256', kid: 'key-2026' })
        .sign(signingKey);
    };

    /** Sends `token` `times` times; the statuses and the JWKS fetches they caused. */
    async function repeat(name, token, times) {
      const before = servers[name].hits;
      const statuses = [];
      for (let i = 0; i < times; i++) {
        const res = await fetch(`${gateways[name].url}/orders/7`, { headers: { authorization: `Bearer ${token}` } });
        await res.arrayBuffer();
        statuses.push(res.status);
      }
      return { statuses, fetches: servers[name].hits - before };
    }

    test('a repeated token is verified once: later requests fetch no keys', async () => {
      const token = await mint();
      const { statuses, fetches } = await repeat('shared', token, 4);
      assert.deepEqual(statuses, [200, 200, 200, 200]);
      assert.equal(fetches, 1);
      const another = await repeat('shared', await mint(119), 1);
      assert.deepEqual(another, { statuses: [200], fetches: 1 }, 'another token is verified in full');
    });

    test('with the tier off, or without a key-value store, every request verifies the token', async () => {
      const token = await mint();
      assert.deepEqual(await repeat('off', token, 3), { statuses: [200, 200, 200], fetches: 3 });
      assert.deepEqual(await repeat('noStore', token, 3), { statuses: [200, 200, 200], fetches: 3 });
      // In `auto` the tier is optional: a missing store is not worth a warning per request.
      assert.doesNotMatch(gateways.noStore.log(), /key-value store unavailable/);
    });

    test('a token verified from the store still expires on time', async () => {
      const token = await mint(2);
      assert.deepEqual((await repeat('shared', token, 2)).statuses, [200, 200]);
      await new Promise((r) => setTimeout(r, 3200));
      const res = await fetch(`${gateways.shared.url}/orders/7`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(res.status, 401);
      assert.equal((await res.json()).code, 'ERR_JWT_EXPIRED');
    });
  });
}
