// DPoP end to end with a real authorization server (oidc-provider issues DPoP-bound tokens) and
// client proofs made by panva/jose, an independent implementation, on both runtimes.
import { describe, before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { RUNTIMES, npm, startAuthServer, startOrigin, startGateway } from './lib/harness.mjs';

for (const runtime of RUNTIMES) {
  describe(`DPoP on ${runtime}`, () => {
    let jose, as, origin, gateway, clientKey, otherKey;

    const proof = async (key, htm, htu, accessToken) => {
      const claims = { htm, htu, jti: randomUUID(), iat: Math.floor(Date.now() / 1000) };
      if (accessToken) claims.ath = createHash('sha256').update(accessToken).digest('base64url');
      return new jose.SignJWT(claims)
        .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: await jose.exportJWK(key.publicKey) })
        .sign(key.privateKey);
    };

    /** A DPoP-bound access token from the AS for `resource`, bound to `key`. */
    const boundToken = async (resource, key = clientKey) => {
      const dpop = await proof(key, 'POST', as.token_endpoint);
      const body = await as.token(resource, 'orders:read', { dpop });
      assert.equal(body.token_type, 'DPoP');
      return body.access_token;
    };

    before(async () => {
      jose = await npm('jose', 'dist/webapi/index.js');
      [clientKey, otherKey] = await Promise.all([jose.generateKeyPair('ES256'), jose.generateKeyPair('ES256')]);
      as = await startAuthServer();
      origin = await startOrigin();
      gateway = await startGateway(runtime, {
        origin: origin.url,
        routes: [{ path: '/orders/*', dpop: 'required' }, { path: '/optional/*' }],
        issuers: [{ issuer: as.issuer, audiences: [as.resources.jwt], algorithms: ['ES256'], jwks_uri: as.jwks_uri }],
        introspection: { endpoint: as.introspection_endpoint, issuer: as.issuer, client_id: 'edgeward-gateway',
          client_secret_name: 'EDGEWARD_INTROSPECTION_SECRET', audiences: [as.resources.opaque] },
      }, { vars: { EDGEWARD_INTROSPECTION_SECRET: 'edgeward-gateway-secret' } });
    });

    after(async () => {
      await gateway?.stop();
      await Promise.all([origin?.close(), as?.stop()]);
    });

    async function call(path, headers) {
      const before = origin.requests.length;
      const res = await fetch(`${gateway.url}${path}`, { headers });
      return { res, body: await res.json(), originCalls: origin.requests.length - before };
    }

    test('a DPoP-bound JWT with a fresh jose proof reaches the origin', async () => {
      const token = await boundToken(as.resources.jwt);
      const url = `${gateway.url}/orders/1`;
      const { res, body, originCalls } = await call('/orders/1', {
        authorization: `DPoP ${token}`, dpop: await proof(clientKey, 'GET', url, token) });
      assert.equal(res.status, 200, JSON.stringify(body));
      assert.equal(originCalls, 1);
      assert.equal(body.headers.dpop, undefined, 'the proof is not forwarded');
    });

    test('a DPoP-bound opaque token (cnf.jkt from introspection) with its proof reaches the origin', async () => {
      const token = await boundToken(as.resources.opaque);
      const url = `${gateway.url}/orders/2`;
      const ok = await call('/orders/2', { authorization: `DPoP ${token}`, dpop: await proof(clientKey, 'GET', url, token) });
      assert.equal(ok.res.status, 200, JSON.stringify(ok.body));
      const wrong = await call('/orders/2', { authorization: `DPoP ${token}`, dpop: await proof(otherKey, 'GET', url, token) });
      assert.equal(wrong.res.status, 401);
      assert.equal(wrong.originCalls, 0);
    });

    const rejections = [
      ['without a proof', async (token) => ({ authorization: `DPoP ${token}` })],
      ['as a Bearer token (downgrade)', async (token) => ({ authorization: `Bearer ${token}` })],
      ['with another key\'s proof', async (token, url) => ({ authorization: `DPoP ${token}`, dpop: await proof(otherKey, 'GET', url, token) })],
      ['with a proof for another URL', async (token) => ({ authorization: `DPoP ${token}`, dpop: await proof(clientKey, 'GET', `${gateway.url}/elsewhere`, token) })],
      ['with a proof for another method', async (token, url) => ({ authorization: `DPoP ${token}`, dpop: await proof(clientKey, 'POST', url, token) })],
      ['with a proof for another token (ath)', async (token, url) => ({ authorization: `DPoP ${token}`, dpop: await proof(clientKey, 'GET', url, 'not-this-token') })],
    ];
    for (const [name, headers] of rejections) {
      test(`rejected with 401 and the origin not called: bound token ${name}`, async () => {
        const token = await boundToken(as.resources.jwt);
        const url = `${gateway.url}/orders/3`;
        const { res, body, originCalls } = await call('/orders/3', await headers(token, url));
        assert.equal(res.status, 401, JSON.stringify(body));
        assert.match(res.headers.get('www-authenticate') || '', /^(DPoP|Bearer) /);
        assert.equal(originCalls, 0);
      });
    }

    test('a replayed proof is rejected (per-isolate cache on Workers, key-value store on Spin)', async () => {
      // On Spin every request is a fresh instance: only the shared store can see the replay.
      const token = await boundToken(as.resources.jwt);
      const url = `${gateway.url}/orders/4`;
      const headers = { authorization: `DPoP ${token}`, dpop: await proof(clientKey, 'GET', url, token) };
      assert.equal((await call('/orders/4', headers)).res.status, 200);
      const replay = await call('/orders/4', headers);
      assert.equal(replay.res.status, 401);
      assert.equal(replay.body.code, 'ERR_DPOP_REPLAYED');
      assert.equal(replay.originCalls, 0);
    });

    // Both runtimes: Spin's key-value store (every request a fresh instance) and, on Workers, the
    // ReplayStore Durable Object (cross-isolate and wrangler dev cases: the block further down).
    describe('dpop.replay "strict"', () => {
      let strict, storeless;
      const strictConfig = () => ({
        origin: origin.url,
        routes: [{ path: '/orders/*', dpop: 'required' }],
        issuers: [{ issuer: as.issuer, audiences: [as.resources.jwt], algorithms: ['ES256'], jwks_uri: as.jwks_uri }],
        dpop: { replay: 'strict' },
      });

      before(async () => {
        [strict, storeless] = await Promise.all([
          startGateway(runtime, strictConfig()),
          startGateway(runtime, strictConfig(), runtime === 'spin' ? { keyValueStore: false } : { replayStore: false }),
        ]);
      });

      after(async () => {
        await Promise.all([strict?.stop(), storeless?.stop()]);
      });

      async function callAt(gw, headers) {
        const before = origin.requests.length;
        const res = await fetch(`${gw.url}/orders/6`, { headers });
        return { res, body: await res.json(), originCalls: origin.requests.length - before };
      }

      test('the same proof twice: the second is a replay (on Spin, seen by another instance)', async () => {
        const token = await boundToken(as.resources.jwt);
        const headers = { authorization: `DPoP ${token}`, dpop: await proof(clientKey, 'GET', `${strict.url}/orders/6`, token) };
        const first = await callAt(strict, headers);
        assert.equal(first.res.status, 200, JSON.stringify(first.body));
        const replay = await callAt(strict, headers);
        assert.equal(replay.res.status, 401);
        assert.equal(replay.body.code, 'ERR_DPOP_REPLAYED');
        assert.equal(replay.originCalls, 0);
      });

      test('the same proof 8 times at once: exactly one passes (atomic first use)', async () => {
        const token = await boundToken(as.resources.jwt);
        const headers = { authorization: `DPoP ${token}`, dpop: await proof(clientKey, 'GET', `${strict.url}/orders/6`, token) };
        const before = origin.requests.length;
        const results = await Promise.all(Array.from({ length: 8 }, () => callAt(strict, headers)));
        const statuses = results.map((r) => r.res.status).sort();
        assert.deepEqual(statuses, [200, 401, 401, 401, 401, 401, 401, 401]);
        assert.equal(origin.requests.length - before, 1);
      });

      test('without the shared store, strict fails closed: 503, origin not called', async () => {
        const token = await boundToken(as.resources.jwt);
        const headers = { authorization: `DPoP ${token}`, dpop: await proof(clientKey, 'GET', `${storeless.url}/orders/6`, token) };
        const { res, body, originCalls } = await callAt(storeless, headers);
        assert.equal(res.status, 503, JSON.stringify(body));
        assert.equal(body.code, 'ERR_UPSTREAM_UNAVAILABLE');
        assert.ok(res.headers.get('retry-after'));
        assert.equal(originCalls, 0);
      });
    });

    test('a route that requires DPoP refuses an unbound Bearer token', async () => {
      const { access_token: token } = await as.token(as.resources.jwt);
      const { res, originCalls } = await call('/orders/5', { authorization: `Bearer ${token}` });
      assert.equal(res.status, 401);
      assert.equal(originCalls, 0);
    });
  });
}

// dpop.replay "strict" on Workers: the ReplayStore Durable Object is the shared store. Bare workerd
// runs the gateway and a replica (another isolate sharing the store); `wrangler dev` runs it the way
// wrangler.toml binds it. A gateway without the binding fails closed.
const strictEngines = RUNTIMES.includes('workers') ? ['workerd', 'wrangler'] : [];
for (const engine of strictEngines) {
  describe(`strict DPoP replay on workers (${engine}): the Durable Object store`, () => {
    let jose, as, origin, gateway, noStore, clientKey, clientJwk;
    // Every isolate serves the same public URL (as behind one hostname), so one proof fits them all.
    const PUBLIC = 'https://api.example.test';

    const proof = (htm, htu, accessToken) => {
      const claims = { htm, htu, jti: randomUUID(), iat: Math.floor(Date.now() / 1000) };
      if (accessToken) claims.ath = createHash('sha256').update(accessToken).digest('base64url');
      return new jose.SignJWT(claims)
        .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: clientJwk })
        .sign(clientKey.privateKey);
    };

    /** A DPoP-bound JWT for the client key, and a proof for GET `path` (public URL) with it. */
    const boundRequest = async (path) => {
      const dpop = await proof('POST', as.token_endpoint);
      const { access_token: token } = await as.token(as.resources.jwt, 'orders:read', { dpop });
      return { authorization: `DPoP ${token}`, dpop: await proof('GET', `${PUBLIC}${path}`, token) };
    };

    async function call(base, path, headers) {
      const before = origin.requests.length;
      const res = await fetch(`${base}${path}`, { headers });
      return { res, body: await res.json(), originCalls: origin.requests.length - before };
    }

    function assertReplayed({ res, body, originCalls }) {
      assert.equal(res.status, 401, JSON.stringify(body));
      assert.equal(body.code, 'ERR_DPOP_REPLAYED');
      assert.match(res.headers.get('www-authenticate') || '', /^DPoP /);
      assert.equal(originCalls, 0);
    }

    before(async () => {
      jose = await npm('jose', 'dist/webapi/index.js');
      clientKey = await jose.generateKeyPair('ES256');
      clientJwk = await jose.exportJWK(clientKey.publicKey);
      as = await startAuthServer();
      origin = await startOrigin();
      const config = {
        origin: origin.url,
        routes: [{ path: '/orders/*', dpop: 'required' }],
        issuers: [{ issuer: as.issuer, audiences: [as.resources.jwt], algorithms: ['ES256'], jwks_uri: as.jwks_uri }],
        public_base_url: PUBLIC,
        dpop: { replay: 'strict' },
      };
      const bare = engine === 'workerd';
      [gateway, noStore] = await Promise.all([
        startGateway('workers', config, { engine, replicas: bare ? 1 : 0 }),
        bare ? startGateway('workers', config, { engine, replayStore: false }) : undefined,
      ]);
    });

    after(async () => {
      await Promise.all([gateway?.stop(), noStore?.stop()]);
      await Promise.all([origin?.close(), as?.stop()]);
    });

    test('the same proof twice: the second is rejected and the origin not called', async () => {
      const headers = await boundRequest('/orders/1');
      const first = await call(gateway.url, '/orders/1', headers);
      assert.equal(first.res.status, 200, JSON.stringify(first.body));
      assert.equal(first.originCalls, 1);
      assertReplayed(await call(gateway.url, '/orders/1', headers));
    });

    // Replicas and a gateway without the binding are bare workerd setups (wrangler.toml binds it).
    if (engine !== 'workerd') return;

    test('a proof used on one isolate is rejected on another sharing the store', async () => {
      const [a, b] = gateway.urls;
      const fresh = await call(b, '/orders/2', await boundRequest('/orders/2'));
      assert.equal(fresh.res.status, 200, `the replica accepts a fresh proof: ${JSON.stringify(fresh.body)}`);
      const headers = await boundRequest('/orders/3');
      assert.equal((await call(a, '/orders/3', headers)).res.status, 200);
      assertReplayed(await call(b, '/orders/3', headers));
      assertReplayed(await call(a, '/orders/3', headers));
    });

    test('without the store binding strict mode fails closed with 503', async () => {
      const headers = await boundRequest('/orders/4');
      const { res, body, originCalls } = await call(noStore.url, '/orders/4', headers);
      assert.equal(res.status, 503, JSON.stringify(body));
      assert.equal(body.code, 'ERR_UPSTREAM_UNAVAILABLE');
      assert.ok(res.headers.get('retry-after'), 'a 503 says when to retry');
      assert.equal(originCalls, 0);
    });
  });
}

// Server nonces (RFC 9449 §8–9) through a whole exchange, and the response the client gets: the
// gateway's fresh DPoP-Nonce replaces one the origin sent (the core's
// Forward::client_response_fields; mirrored by the Workers glue), the origin's other fields pass.
for (const runtime of RUNTIMES) {
  describe(`DPoP nonces on ${runtime}`, () => {
    let jose, as, origin, gateway, clientKey;
    const NONCE_SECRET = 'e2e-nonce-secret-of-at-least-32-bytes!';

    before(async () => {
      jose = await npm('jose', 'dist/webapi/index.js');
      clientKey = await jose.generateKeyPair('ES256');
      as = await startAuthServer();
      const { createServer } = await import('node:http');
      const { freePort } = await import('./lib/harness.mjs');
      const port = await freePort();
      const server = createServer((req, res) => {
        req.resume();
        res.writeHead(200, { 'content-type': 'application/json', 'dpop-nonce': 'origin-nonce', 'x-origin': 'kept' });
        res.end('{"ok":true}');
      });
      await new Promise((r) => server.listen(port, '127.0.0.1', r));
      origin = { url: `http://127.0.0.1:${port}`, close: () => new Promise((r) => server.close(r)) };
      gateway = await startGateway(runtime, {
        origin: origin.url,
        routes: [{ path: '/orders/*', dpop: 'required' }],
        issuers: [{ issuer: as.issuer, audiences: [as.resources.jwt], algorithms: ['ES256'], jwks_uri: as.jwks_uri }],
        dpop: { nonce_secret: 'EDGEWARD_NONCE_SECRET' },
      }, { vars: { EDGEWARD_NONCE_SECRET: NONCE_SECRET } });
    });

    after(async () => {
      await gateway?.stop();
      await Promise.all([origin?.close(), as?.stop()]);
    });

    const proof = async (htm, htu, accessToken, nonce) => {
      const claims = { htm, htu, jti: randomUUID(), iat: Math.floor(Date.now() / 1000) };
      if (accessToken) claims.ath = createHash('sha256').update(accessToken).digest('base64url');
      if (nonce) claims.nonce = nonce;
      return new jose.SignJWT(claims)
        .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: await jose.exportJWK(clientKey.publicKey) })
        .sign(clientKey.privateKey);
    };

    test('use_dpop_nonce, then a proof with the nonce passes; the gateway nonce replaces the origin one', async () => {
      const body = await as.token(as.resources.jwt, 'orders:read', { dpop: await proof('POST', as.token_endpoint) });
      const token = body.access_token;
      const url = `${gateway.url}/orders/1`;
      const first = await fetch(url, { headers: { authorization: `DPoP ${token}`, dpop: await proof('GET', url, token) } });
      assert.equal(first.status, 401);
      assert.match(first.headers.get('www-authenticate'), /^DPoP .*error="use_dpop_nonce"/);
      const nonce = first.headers.get('dpop-nonce');
      assert.ok(nonce, 'a nonce to use');
      await first.arrayBuffer();
      const second = await fetch(url, { headers: { authorization: `DPoP ${token}`, dpop: await proof('GET', url, token, nonce) } });
      assert.equal(second.status, 200, await second.clone().text());
      const next = second.headers.get('dpop-nonce');
      assert.ok(next && !next.includes('origin-nonce'), `the gateway's nonce, not the origin's: ${next}`);
      assert.equal(second.headers.get('x-origin'), 'kept');
      assert.deepEqual(await second.json(), { ok: true });
    });
  });
}
