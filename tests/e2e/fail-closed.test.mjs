// Fail closed, round 2 (issue #13), on both runtimes, with the real authorization server
// (oidc-provider), a Python WSGI origin and the JavaScript origin verifier:
// - a JOSE-shaped credential that is not a JWS never reaches the AS (no 503 at will);
// - an AS that refuses a token with a 400 makes it a cached 401, one AS call per token;
// - an opaque token minted for another resource (RFC 8707) does not pass;
// - `x_edgeward_sub` cannot forge the identity a CGI/WSGI origin reads (HTTP_X_EDGEWARD_SUB);
// - the phantom JWT in a covered `authorization` verifies at the origin;
// - a client using the DPoP scheme gets DPoP challenges;
// - the client's Content-Length reaches the origin (no chunking of a known length).
import { describe, before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT, RUNTIMES, npm, freePort, startAuthServer, startOrigin, startGateway } from './lib/harness.mjs';

const JWE = 'eyJhbGciOiJkaXIiLCJlbmMiOiJBMTI4R0NNIn0..AAAAAAAAAAAAAAAA.AAAA.AAAAAAAAAAAAAAAAAAAAAA';
const SECRET = { EDGEWARD_INTROSPECTION_SECRET: 'edgeward-gateway-secret' };

/** An introspection endpoint that refuses every token with `400 invalid_token`, counting calls. */
async function startRefusingAs() {
  const port = await freePort();
  const calls = { count: 0 };
  const server = createServer((req, res) => {
    req.resume();
    calls.count += 1;
    res.writeHead(400, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: 'invalid_token', error_description: 'not a token of ours' }));
  });
  await new Promise((r) => server.listen(port, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${port}/introspect`, calls, close: () => new Promise((r) => server.close(r)) };
}

/** A WSGI origin (Python's wsgiref, which folds `-` and `_` like CGI): answers the HTTP_* environ. */
async function startWsgiOrigin() {
  const port = await freePort();
  const app = `
import json, sys
from wsgiref.simple_server import make_server, WSGIRequestHandler
class Quiet(WSGIRequestHandler):
    def log_message(self, *args): pass
def app(environ, start):
    seen = {k: v for k, v in environ.items() if k.startswith('HTTP_')}
    start('200 OK', [('content-type', 'application/json')])
    return [json.dumps(seen).encode()]
server = make_server('127.0.0.1', int(sys.argv[1]), app, handler_class=Quiet)
print('ready', flush=True)
server.serve_forever()
`;
  const child = spawn('python3', ['-c', app, String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise((resolve, reject) => {
    child.stdout.once('data', resolve);
    child.once('exit', (code) => reject(new Error(`wsgi origin exited with ${code}`)));
  });
  return { url: `http://127.0.0.1:${port}`, close: () => child.kill() };
}

for (const runtime of RUNTIMES) {
  describe(`fail closed, round 2, on ${runtime}`, () => {
    let as, origin, refusing, wsgi, jose, Verifier, opaque, refusal, cgi, jwks;

    before(async () => {
      jose = await npm('jose', 'dist/webapi/index.js');
      ({ Verifier } = await import(pathToFileURL(join(ROOT, 'verifier', 'js', 'edgeward-verifier.mjs')).href));
      [as, origin, refusing, wsgi] = await Promise.all([startAuthServer(), startOrigin(), startRefusingAs(), startWsgiOrigin()]);
      const gatewayKey = await jose.generateKeyPair('ES256', { extractable: true });
      const signingKey = JSON.stringify({ ...(await jose.exportJWK(gatewayKey.privateKey)), kid: 'gw-1' });
      const issuers = [{ issuer: as.issuer, audiences: [as.resources.jwt], algorithms: ['ES256'], jwks_uri: as.jwks_uri }];
      const introspection = (endpoint) => ({ endpoint, issuer: as.issuer, client_id: 'edgeward-gateway',
        client_secret_name: 'EDGEWARD_INTROSPECTION_SECRET', audiences: [as.resources.opaque], negative_ttl: 60 });
      [opaque, refusal, cgi] = await Promise.all([
        startGateway(runtime, {
          origin: origin.url,
          routes: [{ path: '/api/*' }, { path: '/admin/*', scopes_all: ['orders:admin'] }],
          issuers,
          introspection: introspection(as.introspection_endpoint),
          forwarding: {
            gateway_id: 'https://gw.fail-closed.test',
            claim_headers: { sub: 'x-edgeward-sub' },
            signing_key_secret: 'EDGEWARD_SIGNING_KEY',
            assertion: { claims: ['scope'] },
            message_signature: { algorithm: 'ecdsa-p256-sha256', cover: ['authorization'] },
          },
        }, { vars: { ...SECRET, EDGEWARD_SIGNING_KEY: signingKey } }),
        startGateway(runtime, {
          origin: origin.url, routes: [{ path: '/api/*' }], issuers, introspection: introspection(refusing.url),
        }, { vars: SECRET }),
        startGateway(runtime, {
          origin: wsgi.url,
          routes: [{ path: '/public/*', anonymous: true }, { path: '/api/*' }],
          issuers,
          forwarding: { claim_headers: { sub: 'x-edgeward-sub' } },
        }),
      ]);
      jwks = await (await fetch(`${opaque.url}/.well-known/edgeward/jwks.json`)).json();
    });

    after(async () => {
      await Promise.all([opaque, refusal, cgi].filter(Boolean).map((g) => g.stop()));
      await Promise.all([as?.stop(), origin?.close(), refusing?.close(), wsgi?.close()]);
    });

    async function call(gateway, path, headers = {}, init = {}) {
      const before = origin.requests.length;
      const res = await fetch(`${gateway.url}${path}`, { headers, ...init });
      const text = await res.text();
      let body;
      try { body = JSON.parse(text); } catch { throw new Error(`not JSON (${res.status}): ${text}\n${gateway.log().slice(-2000)}`); }
      return { res, body, seen: origin.requests.length > before ? origin.requests.at(-1) : undefined };
    }

    test('100 JOSE-shaped credentials (a JWE) are 401 without a single AS call', async () => {
      const before = (await as.stats()).introspections;
      for (let i = 0; i < 100; i++) {
        const { res, body, seen } = await call(opaque, '/api/orders', { authorization: `Bearer ${JWE}` });
        assert.equal(res.status, 401, JSON.stringify(body));
        assert.equal(body.code, 'ERR_JOSE_NOT_SUPPORTED');
        assert.match(res.headers.get('www-authenticate'), /error="invalid_token"/);
        assert.equal(seen, undefined);
      }
      assert.equal((await as.stats()).introspections - before, 0);
    });

    test('an AS refusing tokens with 400: 401 for each, cached, at most one AS call per distinct token', async () => {
      const before = refusing.calls.count;
      for (let t = 0; t < 10; t++) {
        for (let i = 0; i < 10; i++) {
          const { res, body } = await call(refusal, '/api/orders', { authorization: `Bearer not-ours-${runtime}-${t}` });
          assert.equal(res.status, 401, JSON.stringify(body));
          assert.equal(body.code, 'ERR_TOKEN_INACTIVE');
        }
      }
      const calls = refusing.calls.count - before;
      assert.ok(calls >= 1 && calls <= 10, `${calls} AS calls for 10 distinct tokens`);
    });

    test('an opaque token minted for another resource (RFC 8707) is 401; one for ours passes', async () => {
      const { access_token: other } = await as.token(as.resources.other);
      const refused = await call(opaque, '/api/orders', { authorization: `Bearer ${other}` });
      assert.equal(refused.res.status, 401, JSON.stringify(refused.body));
      assert.equal(refused.body.code, 'ERR_JWT_AUDIENCE_MISMATCH');
      assert.equal(refused.seen, undefined, 'the origin is not called');
      const { access_token: ours } = await as.token(as.resources.opaque);
      const passed = await call(opaque, '/api/orders', { authorization: `Bearer ${ours}` });
      assert.equal(passed.res.status, 200, JSON.stringify(passed.body));
    });

    test('the phantom JWT in a covered Authorization verifies at the origin (JS verifier)', async () => {
      const { access_token: token } = await as.token(as.resources.opaque);
      const { res, seen } = await call(opaque, '/api/orders?id=1', { authorization: `Bearer ${token}` });
      assert.equal(res.status, 200);
      assert.ok(!seen.headers.authorization.includes(token), 'the opaque token is not forwarded');
      const verifier = new Verifier({ jwks, gatewayId: 'https://gw.fail-closed.test', claimHeaders: ['x-edgeward-sub'] });
      const verified = await verifier.verify({ method: seen.method, targetUri: `${origin.url}${seen.url}`, headers: seen.headers });
      assert.ok(verified.covered.includes('authorization'), verified.covered.join(' '));
      const swapped = { ...seen.headers, authorization: `Bearer ${token}` };
      const fresh = new Verifier({ jwks, gatewayId: 'https://gw.fail-closed.test' });
      await assert.rejects(fresh.verify({ method: seen.method, targetUri: `${origin.url}${seen.url}`, headers: swapped }), /BadSignature/);
    });

    test('x_edgeward_sub cannot forge the identity a WSGI origin reads', async () => {
      const { access_token: token } = await as.token(as.resources.jwt);
      const sub = JSON.parse(Buffer.from(token.split('.')[1], 'base64url')).sub ?? null;
      const forged = { x_edgeward_sub: 'admin', 'X_Edgeward-Sub': 'root', x_edgeward_role: 'admin' };
      const res = await fetch(`${cgi.url}/api/whoami`, { headers: { authorization: `Bearer ${token}`, ...forged } });
      const environ = await res.json();
      assert.equal(res.status, 200, JSON.stringify(environ));
      assert.equal(environ.HTTP_X_EDGEWARD_SUB, sub ?? undefined, JSON.stringify(environ));
      assert.equal(environ.HTTP_X_EDGEWARD_ROLE, undefined);
      const anonymous = await fetch(`${cgi.url}/public/x`, { headers: forged });
      const seen = await anonymous.json();
      assert.equal(anonymous.status, 200);
      assert.equal(seen.HTTP_X_EDGEWARD_SUB, undefined, JSON.stringify(seen));
    });

    test('a client using the DPoP scheme is challenged with DPoP (RFC 9449 §7.1)', async () => {
      const { access_token: jwt } = await as.token(as.resources.jwt);
      const unbound = await call(opaque, '/api/orders', { authorization: `DPoP ${jwt}`, dpop: 'x.y.z' });
      assert.equal(unbound.res.status, 401);
      assert.equal(unbound.body.code, 'ERR_DPOP_TOKEN_NOT_BOUND');
      assert.match(unbound.res.headers.get('www-authenticate'), /^DPoP realm="edgeward", error="invalid_token".*algs="/);
      const broken = await call(opaque, '/api/orders', { authorization: 'DPoP a b' });
      assert.equal(broken.res.status, 400);
      assert.match(broken.res.headers.get('www-authenticate'), /^DPoP realm="edgeward", error="invalid_request"/);
      const bearer = await call(opaque, '/api/orders', { authorization: `Bearer ${JWE}` });
      assert.match(bearer.res.headers.get('www-authenticate'), /^Bearer /);
    });

    test("the client's Content-Length reaches the origin; nothing known is chunked", async () => {
      const { access_token: token } = await as.token(as.resources.opaque);
      const headers = { authorization: `Bearer ${token}`, 'content-type': 'text/plain' };
      const empty = await call(opaque, '/api/orders', headers, { method: 'POST', body: '' });
      assert.equal(empty.res.status, 200, JSON.stringify(empty.body));
      assert.equal(empty.seen.headers['content-length'], '0');
      assert.equal(empty.seen.headers['transfer-encoding'], undefined);
      const five = await call(opaque, '/api/orders', headers, { method: 'PUT', body: 'hello' });
      assert.equal(five.seen.headers['content-length'], '5');
      assert.equal(five.seen.headers['transfer-encoding'], undefined);
      assert.equal(five.seen.body, 'hello');
      const get = await call(opaque, '/api/orders', headers);
      assert.equal(get.seen.headers['transfer-encoding'], undefined);
      assert.equal(get.seen.body, '');
    });
  });
}
