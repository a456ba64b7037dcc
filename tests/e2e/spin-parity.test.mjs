// What a user meets on real `spin up` that a laxer host would hide (issue #14), on the Spin test
// host, which models each of them: Spin's own `spin-*` request fields, the manifest's
// `allowed_outbound_hosts`, and a key-value store that is down (Spin's Redis store with Redis gone
// holds each call for minutes; the host's `--key-value-outage` holds it for OUTAGE_MS, then fails).
import { describe, before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, RUNTIMES, freePort, npm, startOrigin, startGateway } from './lib/harness.mjs';

const ISSUER = 'https://issuer.parity.test';
const AUDIENCE = 'https://api.parity.test';
/** How long each call to the store that is down waits before it fails. */
const OUTAGE_MS = 2000;

/** GET through a gateway; the client gives up after 30 s, far beyond any bounded answer. */
async function get(gateway, path, headers = {}) {
  const started = Date.now();
  const res = await fetch(`${gateway.url}${path}`, { headers, signal: AbortSignal.timeout(30_000) });
  const body = await res.json();
  return { res, body, ms: Date.now() - started };
}

/** A server answering GET /jwks with `keys`, counting the requests. */
async function startJwks(keys) {
  const seen = [];
  const server = createServer((req, res) => {
    seen.push(req.url);
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=60' });
    res.end(JSON.stringify({ keys }));
  });
  const port = await freePort();
  await new Promise((r) => server.listen(port, '127.0.0.1', r));
  return { port, seen, close: () => new Promise((r) => server.close(r)) };
}

/** The repository's spin.toml with `allowed_outbound_hosts` replaced. */
function manifestAllowing(hosts) {
  const text = readFileSync(join(ROOT, 'spin.toml'), 'utf8')
    .replace(/^allowed_outbound_hosts = .*$/m, `allowed_outbound_hosts = ${JSON.stringify(hosts)}`);
  const file = join(mkdtempSync(join(tmpdir(), 'edgeward-manifest-')), 'spin.toml');
  writeFileSync(file, text);
  return file;
}

if (RUNTIMES.includes('spin')) {
  describe('Spin parity: the test host is as strict as spin up', () => {
    let jose, signer, jwk, origin, jwks, anonymous, byName, byNameAllowed, keysByName, keysByAddress;

    const mint = (claims = {}) => {
      const now = Math.floor(Date.now() / 1000);
      return new jose.SignJWT({ iss: ISSUER, aud: AUDIENCE, sub: 'alice', iat: now, exp: now + 120, ...claims })
        .setProtectedHeader({ alg: 'ES256', kid: 'k1' }).sign(signer);
    };

    before(async () => {
      jose = await npm('jose', 'dist/webapi/index.js');
      const key = await jose.generateKeyPair('ES256');
      signer = key.privateKey;
      jwk = { ...(await jose.exportJWK(key.publicKey)), kid: 'k1', alg: 'ES256' };
      [origin, jwks] = await Promise.all([startOrigin(), startJwks([jwk])]);
      const port = new URL(origin.url).port;
      const open = { routes: [{ path: '/*', anonymous: true }] };
      const jwtAt = (host) => ({
        origin: origin.url,
        routes: [{ path: '/*' }],
        issuers: [{ issuer: ISSUER, audiences: [AUDIENCE], algorithms: ['ES256'],
          jwks_uri: `http://${host}:${jwks.port}/jwks` }],
      });
      [anonymous, byName, byNameAllowed, keysByName, keysByAddress] = await Promise.all([
        startGateway('spin', { origin: origin.url, ...open, forwarding: { client_address: 'x-forwarded-for' } }),
        // `localhost` is not 127.0.0.1 to Spin: the repository's manifest allows only the latter.
        startGateway('spin', { origin: `http://localhost:${port}`, ...open }),
        startGateway('spin', { origin: `http://localhost:${port}`, ...open },
          { manifest: manifestAllowing(['http://localhost:*']) }),
        startGateway('spin', jwtAt('localhost')),
        startGateway('spin', jwtAt('127.0.0.1')),
      ]);
    });

    after(async () => {
      await Promise.all([anonymous, byName, byNameAllowed, keysByName, keysByAddress].filter(Boolean).map((g) => g.stop()));
      await Promise.all([origin?.close(), jwks?.close()]);
    });

    test("Spin's spin-* fields, and a client's, never reach the origin; the address Spin saw can", async () => {
      const { res, body } = await get(anonymous, '/a/b?x=1', {
        'spin-client-addr': '203.0.113.9:4444', 'spin-full-url': 'https://evil.example/', 'spin_path_info': '/evil',
        'x-spin-note': 'an ordinary field',
      });
      assert.equal(res.status, 200, JSON.stringify(body));
      const names = Object.keys(body.headers);
      assert.deepEqual(names.filter((n) => /^spin[-_]/.test(n)), [], `the origin saw ${names.join(', ')}`);
      assert.equal(body.headers['x-spin-note'], 'an ordinary field');
      // forwarding.client_address: Spin's spin-client-addr (not the client's) as x-forwarded-for.
      assert.equal(body.headers['x-forwarded-for'], '127.0.0.1');
    });

    test('an origin the manifest does not allow is refused as on Spin: 502, never called', async () => {
      const before = origin.requests.length;
      const { res, body } = await get(byName, '/a');
      assert.equal(res.status, 502, JSON.stringify(body));
      assert.equal(body.code, 'ERR_ORIGIN_UNREACHABLE');
      assert.equal(origin.requests.length, before, 'the origin was not called');
      assert.match(byName.log(), /disallowed destination 'http:\/\/localhost:\d+'/);
      // The same configuration with a manifest that allows the name reaches it.
      const allowed = await get(byNameAllowed, '/a');
      assert.equal(allowed.res.status, 200, JSON.stringify(allowed.body));
    });

    test('a key source the manifest does not allow is refused as on Spin: 503, never called', async () => {
      const before = jwks.seen.length;
      const token = await mint();
      const denied = await get(keysByName, '/a', { authorization: `Bearer ${token}` });
      assert.equal(denied.res.status, 503, JSON.stringify(denied.body));
      assert.equal(denied.body.code, 'ERR_UPSTREAM_UNAVAILABLE');
      assert.equal(jwks.seen.length, before, 'the key source was not called');
      const allowed = await get(keysByAddress, '/a', { authorization: `Bearer ${token}` });
      assert.equal(allowed.res.status, 200, JSON.stringify(allowed.body));
    });
  });

  describe('Spin parity: a key-value store that is down costs one bounded wait, not one per call', () => {
    let jose, signer, clientKey, clientJwk, origin, gateway;

    const mint = async (claims = {}) => {
      const now = Math.floor(Date.now() / 1000);
      return new jose.SignJWT({ iss: ISSUER, aud: AUDIENCE, sub: 'alice', iat: now, exp: now + 120, ...claims })
        .setProtectedHeader({ alg: 'ES256', kid: 'k1', typ: 'at+jwt' }).sign(signer);
    };
    const proof = (htu, token) => new jose.SignJWT({
      htm: 'GET', htu, jti: randomUUID(), iat: Math.floor(Date.now() / 1000),
      ath: createHash('sha256').update(token).digest('base64url'),
    }).setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: clientJwk }).sign(clientKey.privateKey);

    before(async () => {
      jose = await npm('jose', 'dist/webapi/index.js');
      const [issuerKey, client] = await Promise.all([jose.generateKeyPair('ES256'), jose.generateKeyPair('ES256')]);
      signer = issuerKey.privateKey;
      clientKey = client;
      clientJwk = await jose.exportJWK(client.publicKey);
      const jwk = { ...(await jose.exportJWK(issuerKey.publicKey)), kid: 'k1', alg: 'ES256' };
      origin = await startOrigin();
      gateway = await startGateway('spin', {
        origin: origin.url,
        routes: [{ path: '/public/*', anonymous: true }, { path: '/dpop/*', dpop: 'required' }, { path: '/*' }],
        issuers: [{ issuer: ISSUER, audiences: [AUDIENCE], algorithms: ['ES256'], jwks: { keys: [jwk] } }],
        dpop: { replay: 'strict' },
      }, { keyValueOutage: OUTAGE_MS });
    });

    after(async () => {
      await gateway?.stop();
      await origin?.close();
    });

    test('health and anonymous routes never touch the store', async () => {
      for (const path of ['/.well-known/edgeward/health', '/public/x']) {
        const { res, ms } = await get(gateway, path);
        assert.equal(res.status, 200);
        assert.ok(ms < OUTAGE_MS, `${path} answered after ${ms} ms`);
      }
    });

    test('a Bearer JWT (token_cache_shared: auto) is verified in full after one wait: 200', async () => {
      const { res, body, ms } = await get(gateway, '/orders/1', { authorization: `Bearer ${await mint()}` });
      assert.equal(res.status, 200, JSON.stringify(body));
      // One call waits (opening the store); a request that kept using the store would wait for its
      // read and its write too (3 × OUTAGE_MS).
      assert.ok(ms >= OUTAGE_MS - 100 && ms < 2 * OUTAGE_MS, `answered after ${ms} ms`);
    });

    test('strict DPoP replay answers 503 after one wait, origin not called', async () => {
      const thumbprint = await jose.calculateJwkThumbprint(clientJwk);
      const token = await mint({ cnf: { jkt: thumbprint } });
      const before = origin.requests.length;
      const { res, body, ms } = await get(gateway, '/dpop/1', {
        authorization: `DPoP ${token}`, dpop: await proof(`${gateway.url}/dpop/1`, token),
      });
      assert.equal(res.status, 503, JSON.stringify(body));
      assert.equal(body.code, 'ERR_UPSTREAM_UNAVAILABLE');
      assert.ok(res.headers.get('retry-after'));
      assert.equal(origin.requests.length, before, 'the origin was not called');
      assert.ok(ms < 2 * OUTAGE_MS, `answered after ${ms} ms`);
    });

    test('each request that met the outage says so in the log, once', () => {
      const lines = gateway.log().split('\n').filter((l) => l.includes('key-value store down'));
      assert.equal(lines.length, 2, lines.join('\n'));
      for (const line of lines) assert.match(line, /^edgeward Warn: key-value store down: open took \d+ ms; not used again in this request$/);
    });
  });
}
