// Token validation end to end, on both runtimes: tokens signed by panva/jose (an independent JOSE
// implementation) with the signing certificate chain in `x5c`; the root is compiled into the
// functions. Every failure class is a 401 and the origin never sees the request.
import { describe, before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RUNTIMES, ROOT, npm, startOrigin, startGateway } from './lib/harness.mjs';

const ISSUER = 'https://issuer.e2e.test';
const AUDIENCE = 'https://api.e2e.test';

/** The CA whose root scripts/test compiled in, or a fresh one (then compiled in by serve). */
function caDir() {
  if (process.env.EDGEWARD_E2E_CA) return process.env.EDGEWARD_E2E_CA;
  const dir = join(mkdtempSync(join(tmpdir(), 'edgeward-ca-')), 'ca');
  execFileSync(join(ROOT, 'scripts', 'dev-ca'), [dir], { stdio: 'ignore' });
  process.env.EDGEWARD_E2E_CA = dir;
  return dir;
}

function derBase64(pemFile) {
  return readFileSync(pemFile, 'utf8').replace(/-----[A-Z ]+-----|\s/g, '');
}

async function signer(dir) {
  const jose = await npm('jose', 'dist/webapi/index.js');
  const key = await jose.importPKCS8(readFileSync(join(dir, 'signing.key'), 'utf8'), 'ES256');
  const x5c = [derBase64(join(dir, 'signing.pem')), derBase64(join(dir, 'intermediate.pem'))];
  return async (claims = {}, header = {}, options = {}) => {
    const now = Math.floor(Date.now() / 1000);
    return new jose.SignJWT({ iss: ISSUER, aud: AUDIENCE, sub: 'alice', iat: now, exp: now + 300, ...claims })
      .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', x5c, ...header })
      .sign(key, options);
  };
}

const b64url = (s) => Buffer.from(s).toString('base64url');

for (const runtime of RUNTIMES) {
  describe(`x5c tokens on ${runtime}`, () => {
    let origin, gateway, mint, foreignMint;

    before(async () => {
      const ca = caDir();
      const foreign = join(mkdtempSync(join(tmpdir(), 'edgeward-foreign-')), 'ca');
      execFileSync(join(ROOT, 'scripts', 'dev-ca'), [foreign], { stdio: 'ignore' });
      [mint, foreignMint] = await Promise.all([signer(ca), signer(foreign)]);
      origin = await startOrigin();
      gateway = await startGateway(runtime, {
        origin: origin.url,
        routes: [{ path: '/api/*' }],
        issuers: [{ issuer: ISSUER, audiences: [AUDIENCE], algorithms: ['ES256'], require_typ: 'at+jwt', x5c: {} }],
      }, { trustAnchors: join(ca, 'trust-anchors.pem') });
    });

    after(async () => {
      await gateway?.stop();
      await origin?.close();
    });

    async function call(token) {
      const before = origin.requests.length;
      const res = await fetch(`${gateway.url}/api/orders`, { headers: { authorization: `Bearer ${token}` } });
      const body = await res.json();
      return { res, body, originCalls: origin.requests.length - before };
    }

    test('a valid x5c token signed by jose reaches the origin', async () => {
      const { res, body, originCalls } = await call(await mint());
      assert.equal(res.status, 200, JSON.stringify(body));
      assert.equal(originCalls, 1);
      assert.equal(body.url, '/api/orders');
      assert.equal(body.headers.authorization, undefined);
    });

    test('the same token twice (warm chain cache) still passes', async () => {
      const token = await mint({ jti: 'warm' });
      for (let i = 0; i < 2; i++) assert.equal((await call(token)).res.status, 200);
    });

    const rejections = [
      ['expired', () => mint({ exp: Math.floor(Date.now() / 1000) - 3600 }), 'ERR_JWT_EXPIRED'],
      ['wrong audience', () => mint({ aud: 'https://elsewhere.test' }), 'ERR_JWT_AUDIENCE_MISMATCH'],
      ['unknown issuer', () => mint({ iss: 'https://evil.test' }), 'ERR_JWT_ISSUER_UNKNOWN'],
      ['chain from a foreign CA', () => foreignMint(), 'ERR_X5C_UNTRUSTED'],
      ['wrong typ', () => mint({}, { typ: 'JWT' }), 'ERR_JWT_TYPE_MISMATCH'],
      ['tampered payload', async () => {
        const [h, , s] = (await mint()).split('.');
        return `${h}.${b64url(JSON.stringify({ iss: ISSUER, aud: AUDIENCE, sub: 'admin', exp: 4102444800 }))}.${s}`;
      }, 'ERR_JWS_SIGNATURE_INVALID'],
      ['alg none', async () => `${b64url('{"alg":"none"}')}.${b64url(JSON.stringify({ iss: ISSUER, aud: AUDIENCE, exp: 4102444800 }))}.`, 'ERR_JOSE_ALG_NOT_ALLOWED'],
      ['unknown crit', () => mint({}, { crit: ['urn:example:ext'], 'urn:example:ext': 1 }, { crit: { 'urn:example:ext': true } }), 'ERR_JOSE_CRIT_UNSUPPORTED'],
    ];
    for (const [name, make, code] of rejections) {
      test(`rejected with 401 and the origin not called: ${name}`, async () => {
        const { res, body, originCalls } = await call(await make());
        assert.equal(res.status, 401, JSON.stringify(body));
        assert.match(res.headers.get('www-authenticate'), /^Bearer realm="edgeward", error="invalid_token", error_description="[^"]+"$/);
        assert.equal(body.code, code);
        assert.equal(originCalls, 0);
      });
    }

    test('a malformed Authorization header is 400 invalid_request', async () => {
      const res = await fetch(`${gateway.url}/api/orders`, { headers: { authorization: 'Bearer a b c' } });
      assert.equal(res.status, 400);
      assert.match(res.headers.get('www-authenticate'), /error="invalid_request"/);
    });
  });
}
