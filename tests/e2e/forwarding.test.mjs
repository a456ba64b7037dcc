// Policy and signed forwarding end to end, on both runtimes: what the origin receives is checked
// with the JavaScript origin verifier (verifier/js); spoofed claim headers never arrive; policy
// outcomes, step-up answers and claim-based routing.
import { describe, before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT, RUNTIMES, npm, startOrigin, startGateway } from './lib/harness.mjs';

const ISSUER = 'https://issuer.fwd.test';
const AUDIENCE = 'https://api.fwd.test';

for (const runtime of RUNTIMES) {
  describe(`policy and signed forwarding on ${runtime}`, () => {
    let jose, Verifier, signer, eu, us, gateway, jwks;

    before(async () => {
      jose = await npm('jose', 'dist/webapi/index.js');
      ({ Verifier } = await import(pathToFileURL(join(ROOT, 'verifier', 'js', 'edgeward-verifier.mjs')).href));
      const issuerKey = await jose.generateKeyPair('ES256');
      signer = issuerKey.privateKey;
      const issuerJwk = { ...(await jose.exportJWK(issuerKey.publicKey)), kid: 'iss-1' };
      const gatewayKey = await jose.generateKeyPair('ES256', { extractable: true });
      const gatewayJwk = { ...(await jose.exportJWK(gatewayKey.privateKey)), kid: 'gw-1' };
      [eu, us] = await Promise.all([startOrigin(), startOrigin()]);
      gateway = await startGateway(runtime, {
        origin: us.url,
        routes: [
          { path: '/public/*', anonymous: true },
          { path: '/orders/*', scopes_all: ['orders:read'] },
          { path: '/admin/*', scopes_any: ['admin'], claims: [{ claim: 'tenant', equals: 'acme' }] },
          { path: '/payments/*', acr_values: ['urn:mfa'], max_age: 300 },
          { path: '/profile/*', origin_by_claim: { claim: 'region', origins: { eu: eu.url, us: us.url }, default: us.url } },
        ],
        issuers: [{ issuer: ISSUER, audiences: [AUDIENCE], jwks: { keys: [issuerJwk] } }],
        forwarding: {
          gateway_id: 'https://gw.fwd.test',
          claim_headers: { sub: 'x-edgeward-sub', tenant: 'x-tenant' },
          signing_key_secret: 'EDGEWARD_SIGNING_KEY',
          assertion: { claims: ['tenant', 'scope'] },
          message_signature: { algorithm: 'ecdsa-p256-sha256' },
        },
      }, { vars: { EDGEWARD_SIGNING_KEY: JSON.stringify(gatewayJwk) } });
      jwks = await (await fetch(`${gateway.url}/.well-known/edgeward/jwks.json`)).json();
    });

    after(async () => {
      await gateway?.stop();
      await Promise.all([eu?.close(), us?.close()]);
    });

    const mint = (claims = {}) => {
      const now = Math.floor(Date.now() / 1000);
      return new jose.SignJWT({ iss: ISSUER, aud: AUDIENCE, sub: 'alice', tenant: 'acme', scope: 'orders:read',
        iat: now, exp: now + 120, ...claims }).setProtectedHeader({ alg: 'ES256', kid: 'iss-1' }).sign(signer);
    };

    async function call(path, token, extra = {}, origin = us) {
      const before = origin.requests.length;
      const headers = { ...extra };
      if (token) headers.authorization = `Bearer ${token}`;
      const res = await fetch(`${gateway.url}${path}`, { headers });
      const body = await res.json();
      return { res, body, seen: origin.requests.length > before ? origin.requests.at(-1) : undefined };
    }

    /** Verifies what the origin received as the origin would, with the JS verifier. */
    const verifyAtOrigin = (seen, origin = us, verifier = new Verifier({ jwks, gatewayId: 'https://gw.fwd.test',
      claimHeaders: ['x-edgeward-sub', 'x-tenant'] })) =>
      verifier.verify({ method: seen.method, targetUri: `${origin.url}${seen.url}`, headers: seen.headers });

    test('the gateway publishes its public key set', () => {
      assert.equal(jwks.keys.length, 1);
      assert.equal(jwks.keys[0].kid, 'gw-1');
      assert.equal(jwks.keys[0].d, undefined);
    });

    test('the origin verifies the assertion and the RFC 9421 signature of an untouched request', async () => {
      const { res, seen } = await call('/orders/1', await mint(), { 'x-edgeward-sub': 'mallory', 'x-tenant': 'evil' });
      assert.equal(res.status, 200);
      assert.equal(seen.headers['x-edgeward-sub'], 'alice', 'the spoofed claim header was replaced');
      assert.equal(seen.headers['x-tenant'], 'acme');
      assert.match(seen.headers.traceparent, /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
      const verified = await verifyAtOrigin(seen);
      assert.equal(verified.claims.sub, 'alice');
      assert.equal(verified.claims.tenant, 'acme');
      assert.ok(verified.covered.includes('x-edgeward-sub'));
    });

    test('the origin verifier rejects a tampered header, a replay, and another key', async () => {
      const { seen } = await call('/orders/2', await mint());
      const tampered = { ...seen, headers: { ...seen.headers, 'x-tenant': 'other' } };
      await assert.rejects(verifyAtOrigin(tampered));
      const verifier = new Verifier({ jwks, gatewayId: 'https://gw.fwd.test', claimHeaders: ['x-edgeward-sub', 'x-tenant'] });
      await verifyAtOrigin(seen, us, verifier);
      await assert.rejects(verifyAtOrigin(seen, us, verifier), /Replay/i);
      const other = await jose.generateKeyPair('ES256', { extractable: true });
      const wrongJwks = { keys: [{ ...(await jose.exportJWK(other.publicKey)), kid: 'gw-1' }] };
      await assert.rejects(verifyAtOrigin(seen, us, new Verifier({ jwks: wrongJwks, gatewayId: 'https://gw.fwd.test' })));
      const later = new Verifier({ jwks, gatewayId: 'https://gw.fwd.test' });
      await assert.rejects(later.verify({ method: seen.method, targetUri: `${us.url}${seen.url}`,
        headers: seen.headers, now: Math.floor(Date.now() / 1000) + 600 }));
    });

    test('spoofed claim headers are stripped on anonymous routes too', async () => {
      const { res, seen } = await call('/public/x', undefined, { 'x-tenant': 'evil', 'x-edgeward-sub': 'root' });
      assert.equal(res.status, 200);
      assert.equal(seen.headers['x-tenant'], undefined);
      assert.equal(seen.headers['x-edgeward-sub'], undefined);
    });

    test('a missing scope is 403 insufficient_scope naming the scope; origin not called', async () => {
      const { res, seen } = await call('/orders/3', await mint({ scope: 'profile' }));
      assert.equal(res.status, 403);
      assert.match(res.headers.get('www-authenticate'), /error="insufficient_scope"/);
      assert.match(res.headers.get('www-authenticate'), /scope="orders:read"/);
      assert.equal(seen, undefined);
    });

    test('claim rules: another tenant is 403', async () => {
      assert.equal((await call('/admin/x', await mint({ scope: 'admin', tenant: 'globex' }))).res.status, 403);
      assert.equal((await call('/admin/x', await mint({ scope: 'admin' }))).res.status, 200);
    });

    test('step-up (RFC 9470): a token without the acr is 401 insufficient_user_authentication', async () => {
      const now = Math.floor(Date.now() / 1000);
      const { res, seen } = await call('/payments/1', await mint({ acr: 'urn:pwd', auth_time: now }));
      assert.equal(res.status, 401);
      const challenge = res.headers.get('www-authenticate');
      assert.match(challenge, /error="insufficient_user_authentication"/);
      assert.match(challenge, /acr_values="urn:mfa"/);
      assert.equal(seen, undefined);
      const stale = await call('/payments/1', await mint({ acr: 'urn:mfa', auth_time: now - 3600 }));
      assert.equal(stale.res.status, 401);
      assert.match(stale.res.headers.get('www-authenticate'), /max_age="300"/);
      assert.equal((await call('/payments/1', await mint({ acr: 'urn:mfa', auth_time: now }))).res.status, 200);
    });

    test('claim-based routing sends each user to their home region', async () => {
      const toEu = await call('/profile/me', await mint({ region: 'eu' }), {}, eu);
      assert.equal(toEu.res.status, 200);
      assert.ok(toEu.seen, 'the EU origin was called');
      const toUs = await call('/profile/me', await mint({ region: 'us' }), {}, us);
      assert.ok(toUs.seen, 'the US origin was called');
      const fallback = await call('/profile/me', await mint({ region: 'mars' }), {}, us);
      assert.ok(fallback.seen, 'unknown regions go to the default');
    });
  });
}
