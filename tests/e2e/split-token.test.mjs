// The split-token pattern (Curity's) on both runtimes. The real AS (oidc-provider) publishes: its
// token endpoint, for the resource `split`, pushes a JWT's `header.payload` through the signed
// warm-up push under base64url(SHA-256(signature part)) and hands the client only the signature
// part (scripts/lib/split-token-publisher.mjs, signing with the publisher key this test gives it).
// The test also plays the publisher itself, for entries a real AS would never publish (forged,
// short-lived, signed by another key). The gateway reassembles the JWT from the shared tier
// (Workers: Cache API; Spin: key-value store), verifies it like any JWT (the real AS's JWKS) and
// forwards the whole JWT to the origin.
import { describe, before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { RUNTIMES, npm, freePort, startAuthServer, startOrigin, startGateway } from './lib/harness.mjs';

const PUBLISHER = 'https://publisher.e2e.test';
const LOCAL_API = 'https://api.split.e2e.test';
const WARM_UP = '/.well-known/edgeward/introspection/warm';
/** Lifetime of the AS's split tokens, seconds: short, to see one expire. */
const SPLIT_TTL = 5;
const hash = (signature) => createHash('sha256').update(signature).digest('base64url');
const split = (jwt) => {
  const cut = jwt.lastIndexOf('.');
  return { headerPayload: jwt.slice(0, cut), signature: jwt.slice(cut + 1) };
};

for (const runtime of RUNTIMES) {
  describe(`split token on ${runtime}`, () => {
    let as, origin, gateway, jose, publisherKey, otherKey;

    before(async () => {
      jose = await npm('jose', 'dist/webapi/index.js');
      [publisherKey, otherKey] = await Promise.all([
        jose.generateKeyPair('ES256', { extractable: true }), jose.generateKeyPair('ES256')]);
      const publisherJwk = { ...(await jose.exportJWK(publisherKey.publicKey)), kid: 'publisher' };
      const signingJwk = { ...(await jose.exportJWK(publisherKey.privateKey)), kid: 'publisher' };
      const port = await freePort();
      as = await startAuthServer({ env: {
        EDGEWARD_AS_SPLIT_TOKEN_PUBLISH: `http://127.0.0.1:${port}${WARM_UP}`,
        EDGEWARD_AS_SPLIT_TOKEN_KEY: JSON.stringify(signingJwk),
        EDGEWARD_AS_SPLIT_TOKEN_ISSUER: PUBLISHER,
        EDGEWARD_AS_SPLIT_TOKEN_TTL: String(SPLIT_TTL),
      } });
      origin = await startOrigin();
      gateway = await startGateway(runtime, {
        origin: origin.url,
        routes: [{ path: '/orders/*' }],
        issuers: [
          { issuer: as.issuer, audiences: [as.resources.jwt, as.resources.split], jwks_uri: as.jwks_uri },
          // The publisher also issues short-lived tokens here, to see expiry end to end.
          { issuer: PUBLISHER, audiences: [LOCAL_API], jwks: { keys: [publisherJwk] }, leeway_seconds: 0 },
        ],
        split_token: { publisher: PUBLISHER, audience: 'edgeward-gateway' },
        forwarding: { claim_headers: { sub: 'x-edgeward-sub' } },
      }, { port });
    });

    after(async () => {
      await gateway?.stop();
      await Promise.all([origin?.close(), as?.stop()]);
    });

    /** Publishes entries as the AS's event listener would: a push signed with `key`. */
    async function publish(entries, key = publisherKey.privateKey) {
      const body = await new jose.SignJWT({ entries })
        .setProtectedHeader({ alg: 'ES256', kid: 'publisher', typ: 'edgeward-warmup+jwt' })
        .setIssuer(PUBLISHER).setAudience('edgeward-gateway').setIssuedAt()
        .sign(key);
      const res = await fetch(`${gateway.url}${WARM_UP}`, {
        method: 'POST', headers: { 'content-type': 'application/jwt' }, body });
      return { status: res.status, body: await res.json() };
    }

    const entry = (headerPayload, signature) => ({ signature_hash: hash(signature), header_payload: headerPayload });

    async function call(credential) {
      const before = origin.requests.length;
      const res = await fetch(`${gateway.url}/orders/1`, { headers: { authorization: `Bearer ${credential}` } });
      const body = await res.json();
      return { res, body, originCalls: origin.requests.length - before };
    }

    test('the AS publishes: its client holds only the signature part, the origin gets the whole JWT', async () => {
      const published = (await as.stats()).split_published;
      const { access_token: credential } = await as.token(as.resources.split, 'orders:read');
      assert.match(credential, /^[A-Za-z0-9_-]{80,90}$/, 'an ES256 signature part, no header or payload');
      assert.equal((await as.stats()).split_published, published + 1);
      const { res, body, originCalls } = await call(credential);
      assert.equal(res.status, 200, JSON.stringify(body));
      assert.equal(originCalls, 1);
      const jwt = body.headers.authorization.replace(/^Bearer /, '');
      assert.ok(jwt.endsWith(`.${credential}`));
      const { payload } = await jose.jwtVerify(jwt, jose.createRemoteJWKSet(new URL(as.jwks_uri)),
        { issuer: as.issuer, audience: as.resources.split });
      assert.equal(payload.scope, 'orders:read');
      assert.equal(body.headers['x-edgeward-sub'], payload.sub);
      // The AS leaves its other resources' JWTs whole.
      assert.equal((await as.token(as.resources.jwt)).access_token.split('.').length, 3);
    });

    test('the AS publishes: an altered or unknown signature part is 401, origin not called', async () => {
      const { access_token: credential } = await as.token(as.resources.split, 'orders:read');
      const altered = credential.slice(0, 5) + (credential[5] === 'A' ? 'B' : 'A') + credential.slice(6);
      const unknown = Buffer.alloc(64, 7).toString('base64url');
      for (const bad of [altered, unknown]) {
        const { res, body, originCalls } = await call(bad);
        assert.equal(res.status, 401, JSON.stringify(body));
        assert.equal(body.code, 'ERR_TOKEN_INACTIVE');
        assert.match(res.headers.get('www-authenticate'), /error="invalid_token"/);
        assert.equal(originCalls, 0);
      }
      assert.equal((await call(credential)).res.status, 200);
    });

    test('the AS publishes: its split token stops working at its exp', async () => {
      const { access_token: credential, expires_in } = await as.token(as.resources.split, 'orders:read');
      assert.ok(expires_in <= SPLIT_TTL, String(expires_in));
      assert.equal((await call(credential)).res.status, 200);
      await new Promise((r) => setTimeout(r, (expires_in + 1.5) * 1000));
      const { res, body, originCalls } = await call(credential);
      assert.equal(res.status, 401, JSON.stringify(body));
      assert.ok(['ERR_TOKEN_INACTIVE', 'ERR_JWT_EXPIRED'].includes(body.code), body.code);
      assert.equal(originCalls, 0);
    });

    test('a client holding only the signature part reaches the origin, which gets the whole JWT', async () => {
      const { access_token: jwt } = await as.token(as.resources.jwt, 'orders:read');
      const { headerPayload, signature } = split(jwt);
      assert.deepEqual(await publish([entry(headerPayload, signature)]), { status: 200, body: { stored: 1 } });
      const { res, body, originCalls } = await call(signature);
      assert.equal(res.status, 200, JSON.stringify(body));
      assert.equal(originCalls, 1);
      assert.equal(body.headers.authorization, `Bearer ${jwt}`);
      assert.equal(body.headers['x-edgeward-sub'], JSON.parse(Buffer.from(headerPayload.split('.')[1], 'base64url')).sub);
    });

    test('an unknown or altered signature part is 401 invalid_token, origin not called', async () => {
      const { access_token: jwt } = await as.token(as.resources.jwt, 'orders:read');
      const { headerPayload, signature } = split(jwt);
      const unknown = await call(signature);
      assert.equal(unknown.res.status, 401);
      assert.equal(unknown.body.code, 'ERR_TOKEN_INACTIVE');
      assert.match(unknown.res.headers.get('www-authenticate'), /error="invalid_token"/);
      assert.equal((await publish([entry(headerPayload, signature)])).status, 200);
      const altered = signature.slice(0, 5) + (signature[5] === 'A' ? 'B' : 'A') + signature.slice(6);
      const result = await call(altered);
      assert.equal(result.res.status, 401);
      assert.equal(result.originCalls, 0);
    });

    test('a header.payload published under another token\'s signature does not verify (401)', async () => {
      const { access_token: mine } = await as.token(as.resources.jwt, 'orders:read');
      const { access_token: other } = await as.token(as.resources.jwt, 'orders:write');
      const forged = entry(split(other).headerPayload, split(mine).signature);
      assert.equal((await publish([forged])).status, 200);
      const { res, body, originCalls } = await call(split(mine).signature);
      assert.equal(res.status, 401);
      assert.equal(body.code, 'ERR_JWS_SIGNATURE_INVALID');
      assert.equal(originCalls, 0);
    });

    test('a split token stops working at its exp', async () => {
      const now = Math.floor(Date.now() / 1000);
      const jwt = await new jose.SignJWT({ sub: 'short-lived' })
        .setProtectedHeader({ alg: 'ES256', kid: 'publisher' })
        .setIssuer(PUBLISHER).setAudience(LOCAL_API).setIssuedAt(now).setExpirationTime(now + 3)
        .sign(publisherKey.privateKey);
      const { headerPayload, signature } = split(jwt);
      assert.equal((await publish([entry(headerPayload, signature)])).status, 200);
      assert.equal((await call(signature)).res.status, 200);
      await new Promise((r) => setTimeout(r, 4500));
      const { res, body, originCalls } = await call(signature);
      assert.equal(res.status, 401, JSON.stringify(body));
      assert.ok(['ERR_TOKEN_INACTIVE', 'ERR_JWT_EXPIRED'].includes(body.code), body.code);
      assert.equal(originCalls, 0);
    });

    test('a push not signed by the publisher is refused (401) and publishes nothing', async () => {
      const { access_token: jwt } = await as.token(as.resources.jwt, 'orders:read');
      const { headerPayload, signature } = split(jwt);
      assert.equal((await publish([entry(headerPayload, signature)], otherKey.privateKey)).status, 401);
      assert.equal((await call(signature)).res.status, 401);
    });
  });
}

// Workers only: the shared tier across isolates. Bare workerd keeps nothing in the Cache API by
// default; with scripts/serve --cache-api the gateway and its replica (another isolate) share one.
// An entry published through one isolate is found by the other only through that shared tier.
if (RUNTIMES.includes('workers')) {
  describe('split token across isolates on workers (shared Cache API)', () => {
    const ISOLATE_TTL = 2;
    let as, origin, gateway, jose, publisherKey;

    before(async () => {
      jose = await npm('jose', 'dist/webapi/index.js');
      publisherKey = await jose.generateKeyPair('ES256');
      const publisherJwk = { ...(await jose.exportJWK(publisherKey.publicKey)), kid: 'publisher' };
      [as, origin] = await Promise.all([startAuthServer(), startOrigin()]);
      gateway = await startGateway('workers', {
        origin: origin.url,
        routes: [{ path: '/orders/*' }],
        issuers: [
          { issuer: as.issuer, audiences: [as.resources.jwt], jwks_uri: as.jwks_uri },
          { issuer: PUBLISHER, audiences: [LOCAL_API], jwks: { keys: [publisherJwk] }, leeway_seconds: 0 },
        ],
        split_token: { publisher: PUBLISHER, audience: 'edgeward-gateway', isolate_ttl_seconds: ISOLATE_TTL },
      }, { replicas: 1, cacheApi: true });
    });

    after(async () => {
      await gateway?.stop();
      await Promise.all([origin?.close(), as?.stop()]);
    });

    async function publishThroughFirst(jwt) {
      const { headerPayload, signature } = split(jwt);
      const body = await new jose.SignJWT({ entries: [{ signature_hash: hash(signature), header_payload: headerPayload }] })
        .setProtectedHeader({ alg: 'ES256', kid: 'publisher', typ: 'edgeward-warmup+jwt' })
        .setIssuer(PUBLISHER).setAudience('edgeward-gateway').setIssuedAt()
        .sign(publisherKey.privateKey);
      const res = await fetch(`${gateway.urls[0]}${WARM_UP}`, {
        method: 'POST', headers: { 'content-type': 'application/jwt' }, body });
      assert.deepEqual({ status: res.status, body: await res.json() }, { status: 200, body: { stored: 1 } });
      return signature;
    }

    async function statusAt(url, credential) {
      const res = await fetch(`${url}/orders/1`, { headers: { authorization: `Bearer ${credential}` } });
      const body = await res.json();
      return res.status === 200 ? { status: 200, authorization: body.headers.authorization } : { status: res.status, code: body.code };
    }

    test('published through one isolate, the split token works on the replica, then a deleted entry is refused on both', async () => {
      const { access_token: jwt } = await as.token(as.resources.jwt, 'orders:read');
      const signature = await publishThroughFirst(jwt);
      const [first, replica] = gateway.urls;
      // The replica never saw the push: its only source is the shared Cache API.
      assert.deepEqual(await statusAt(replica, signature), { status: 200, authorization: `Bearer ${jwt}` });
      assert.deepEqual(await statusAt(first, signature), { status: 200, authorization: `Bearer ${jwt}` });
      // Revocation: the entry is deleted from the shared tier; each isolate's copy (and its
      // verified-token cache entry) lasts at most isolate_ttl_seconds.
      const purge = await fetch(`${gateway.cacheUrl}/edgeward/split/${hash(signature)}`, { method: 'PURGE' });
      assert.equal(purge.status, 200);
      await new Promise((r) => setTimeout(r, (ISOLATE_TTL + 1) * 1000));
      for (const url of [first, replica]) {
        assert.deepEqual(await statusAt(url, signature), { status: 401, code: 'ERR_TOKEN_INACTIVE' });
      }
    });

    test('an entry expires at its exp on both isolates', async () => {
      const now = Math.floor(Date.now() / 1000);
      const jwt = await new jose.SignJWT({ sub: 'short-lived' })
        .setProtectedHeader({ alg: 'ES256', kid: 'publisher' })
        .setIssuer(PUBLISHER).setAudience(LOCAL_API).setIssuedAt(now).setExpirationTime(now + 3)
        .sign(publisherKey.privateKey);
      const signature = await publishThroughFirst(jwt);
      assert.equal((await statusAt(gateway.urls[1], signature)).status, 200);
      await new Promise((r) => setTimeout(r, 4500));
      for (const url of gateway.urls) {
        const answer = await statusAt(url, signature);
        assert.equal(answer.status, 401, JSON.stringify(answer));
        assert.ok(['ERR_TOKEN_INACTIVE', 'ERR_JWT_EXPIRED'].includes(answer.code), answer.code);
      }
    });
  });
}
