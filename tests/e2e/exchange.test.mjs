// Token exchange (RFC 8693) against the real authorization server (oidc-provider with the grant
// registered through its grant-type API, scripts/lib/token-exchange-grant.mjs), on both runtimes:
// the origin receives a token the AS issued for the origin's own audience with reduced scopes,
// never the client's; exchanges are cached per route (per isolate on Workers; in the shared
// key-value store on Spin, where every request is a fresh instance); the gateway named as actor
// (`act`); refusals are 403 and an AS that is down is 503 with the origin not called.
import { describe, before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import { RUNTIMES, npm, startAuthServer, CLOSED_ORIGIN, startOrigin, startGateway } from './lib/harness.mjs';

const payload = (jwt) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString());

for (const runtime of RUNTIMES) {
  describe(`token exchange on ${runtime}`, () => {
    let as, origin, gateway, down, keyAuth;

    const config = (tokenEndpoint) => ({
      origin: origin.url,
      routes: [
        { path: '/orders/*', exchange: { audience: 'orders-api', scope: 'orders:read' } },
        { path: '/billing/*', exchange: { resource: as.exchange_targets['billing-api'].aud, actor: 'gateway' } },
        { path: '/elsewhere/*', exchange: { audience: 'no-such-api' } },
        // RFC 8693 §2.1: audience and resource may repeat.
        { path: '/both/*', exchange: { audience: ['orders-api', 'billing-api'] } },
        { path: '/mixed/*', exchange: { audience: 'orders-api', resource: [as.exchange_targets['billing-api'].aud] } },
        { path: '/partly/*', exchange: { audience: ['orders-api', 'no-such-api'] } },
        { path: '/greedy/*', exchange: { audience: 'orders-api', scope: 'orders:write' } },
      ],
      issuers: [{ issuer: as.issuer, audiences: [as.resources.jwt], jwks_uri: as.jwks_uri }],
      token_exchange: { token_endpoint: tokenEndpoint, client_id: as.clients.gateway.client_id,
        client_secret_name: 'EDGEWARD_EXCHANGE_SECRET', timeout_ms: 1000 },
      forwarding: { signing_key_secret: 'EDGEWARD_SIGNING_KEY', claim_headers: { sub: 'x-edgeward-sub', scope: 'x-edgeward-scope' } },
    });

    before(async () => {
      const jose = await npm('jose', 'dist/webapi/index.js');
      const gatewayKey = await jose.generateKeyPair('ES256', { extractable: true });
      const signingKey = JSON.stringify({ ...(await jose.exportJWK(gatewayKey.privateKey)), kid: 'gw-1' });
      // The AS trusts the gateway's key for actor tokens and private_key_jwt (the kid is the one
      // the gateway's JWS headers name).
      const gatewayJwks = { keys: [{ ...(await jose.exportJWK(gatewayKey.publicKey)), kid: 'gw-1' }] };
      as = await startAuthServer({ env: { EDGEWARD_AS_ACTOR_JWKS: JSON.stringify(gatewayJwks) } });
      origin = await startOrigin();
      const vars = { EDGEWARD_EXCHANGE_SECRET: as.clients.gateway.client_secret, EDGEWARD_SIGNING_KEY: signingKey };
      const keyAuthConfig = config(as.token_endpoint);
      keyAuthConfig.token_exchange = { token_endpoint: as.token_endpoint, client_id: as.clients.gatewayJwt.client_id,
        client_auth: 'private_key_jwt' };
      [gateway, down, keyAuth] = await Promise.all([
        startGateway(runtime, config(as.token_endpoint), { vars }),
        startGateway(runtime, config(`${CLOSED_ORIGIN}/token`), { vars }),
        startGateway(runtime, keyAuthConfig, { vars: { EDGEWARD_SIGNING_KEY: signingKey } }),
      ]);
    });

    after(async () => {
      await Promise.all([gateway, down, keyAuth].filter(Boolean).map((g) => g.stop()));
      await Promise.all([origin?.close(), as?.stop()]);
    });

    async function call(gw, path, token) {
      const before = origin.requests.length;
      const res = await fetch(`${gw.url}${path}`, { headers: { authorization: `Bearer ${token}` } });
      const text = await res.text();
      let body;
      try { body = JSON.parse(text); } catch {
        throw new Error(`not JSON (${res.status}): ${text}\n--- gateway log ---\n${gw.log().slice(-3000)}`);
      }
      return { res, body, originCalls: origin.requests.length - before };
    }

    const exchanges = async () => (await as.stats()).exchanges;

    test('the origin gets a token for its own audience with reduced scopes, never the client\'s', async () => {
      const { access_token: token } = await as.token(as.resources.jwt, 'orders:read orders:write');
      const { res, body, originCalls } = await call(gateway, '/orders/1', token);
      assert.equal(res.status, 200, JSON.stringify(body));
      assert.equal(originCalls, 1);
      const forwarded = body.headers.authorization.replace(/^Bearer /, '');
      assert.notEqual(forwarded, token);
      assert.ok(!JSON.stringify(body.headers).includes(token), 'the client token reaches the origin nowhere');
      const claims = payload(forwarded);
      const client = payload(token);
      assert.equal(claims.aud, as.exchange_targets['orders-api'].aud);
      assert.equal(claims.scope, 'orders:read');
      assert.equal(claims.sub, client.sub);
      assert.equal(claims.iss, as.issuer);
      assert.equal(claims.act, undefined);
      // Claim headers describe the client's verified token, not the exchanged one.
      assert.equal(decodeURIComponent(body.headers['x-edgeward-scope']), 'orders:read orders:write');
    });

    test('the same client token to two routes gives two different exchanged tokens', async () => {
      const { access_token: token } = await as.token(as.resources.jwt, 'orders:read orders:write');
      const orders = await call(gateway, '/orders/1', token);
      const billing = await call(gateway, '/billing/1', token);
      assert.equal(orders.res.status, 200, JSON.stringify(orders.body));
      assert.equal(billing.res.status, 200, JSON.stringify(billing.body));
      const a = orders.body.headers.authorization;
      const b = billing.body.headers.authorization;
      assert.notEqual(a, b);
      assert.equal(payload(b.replace(/^Bearer /, '')).aud, as.exchange_targets['billing-api'].aud);
    });

    test('actor: gateway puts the gateway in the act claim', async () => {
      const { access_token: token } = await as.token(as.resources.jwt, 'orders:read');
      const { res, body } = await call(gateway, '/billing/2', token);
      assert.equal(res.status, 200, JSON.stringify(body));
      const claims = payload(body.headers.authorization.replace(/^Bearer /, ''));
      assert.deepEqual(claims.act, { sub: 'edgeward' });
      assert.equal(claims.scope, 'orders:read', 'never more than the subject token holds');
    });

    test('the gateway can authenticate to the token endpoint with private_key_jwt (its own key)', async () => {
      const { access_token: token } = await as.token(as.resources.jwt, 'orders:read');
      const { res, body } = await call(keyAuth, '/orders/1', token);
      assert.equal(res.status, 200, JSON.stringify(body));
      const claims = payload(body.headers.authorization.replace(/^Bearer /, ''));
      assert.equal(claims.client_id, as.clients.gatewayJwt.client_id);
      assert.equal(claims.aud, as.exchange_targets['orders-api'].aud);
    });

    test('a second request with the same token costs no exchange (isolate cache; key-value store on Spin)', async () => {
      const { access_token: token } = await as.token(as.resources.jwt, 'orders:read');
      const before = await exchanges();
      const first = await call(gateway, '/orders/1', token);
      assert.equal(first.res.status, 200, JSON.stringify(first.body));
      assert.equal(await exchanges() - before, 1);
      const again = await call(gateway, '/orders/2', token);
      assert.equal(again.res.status, 200);
      assert.equal(again.body.headers.authorization, first.body.headers.authorization);
      assert.equal(await exchanges() - before, 1, 'answered from the cache');
    });

    test('64 parallel requests with one fresh token cost one exchange per isolate', async (t) => {
      const { access_token: token } = await as.token(as.resources.jwt, 'orders:read');
      const before = await exchanges();
      const results = await Promise.all(Array.from({ length: 64 }, () => call(gateway, '/orders/1', token)));
      assert.ok(results.every((r) => r.res.status === 200), JSON.stringify(results.map((r) => r.res.status)));
      const calls = await exchanges() - before;
      t.diagnostic(`${runtime}: ${calls} exchange(s) for 64 parallel requests`);
      // A Worker isolate shares one cache and single-flight. Spin starts a fresh instance per
      // request and shares only the key-value store: instances that start before the first
      // exchanged token is stored each exchange; once stored, no instance does.
      if (runtime === 'workers') assert.equal(calls, 1);
      else assert.ok(calls >= 1 && calls <= 64, `${calls} exchanges`);
      const settled = await exchanges();
      assert.equal((await call(gateway, '/orders/9', token)).res.status, 200);
      assert.equal(await exchanges(), settled, 'after the burst every instance finds the stored token');
    });

    test('several audiences and resources: one token for all of them, the scopes every one allows', async () => {
      const { access_token: token } = await as.token(as.resources.jwt, 'orders:read orders:write');
      const targets = [as.exchange_targets['orders-api'].aud, as.exchange_targets['billing-api'].aud];
      const seen = [];
      for (const path of ['/both/1', '/mixed/1']) {
        const { res, body, originCalls } = await call(gateway, path, token);
        assert.equal(res.status, 200, JSON.stringify(body));
        assert.equal(originCalls, 1);
        const claims = payload(body.headers.authorization.replace(/^Bearer /, ''));
        assert.deepEqual(claims.aud, targets);
        assert.equal(claims.scope, 'orders:read', 'orders-api allows only orders:read');
        seen.push(body.headers.authorization);
      }
      assert.notEqual(seen[0], seen[1], 'audience twice and audience + resource are two exchanges');
    });

    for (const [path, why] of [['/elsewhere/1', 'invalid_target'], ['/partly/1', 'invalid_target (one of two)'], ['/greedy/1', 'invalid_scope']]) {
      test(`the AS refusing the exchange (${why}) is 403 ERR_EXCHANGE_REFUSED, origin not called`, async () => {
        const { access_token: token } = await as.token(as.resources.jwt, 'orders:read');
        const { res, body, originCalls } = await call(gateway, path, token);
        assert.equal(res.status, 403, JSON.stringify(body));
        assert.equal(body.code, 'ERR_EXCHANGE_REFUSED');
        assert.match(res.headers.get('www-authenticate'), /error="insufficient_scope"/);
        assert.equal(originCalls, 0);
      });
    }

    test('an AS that is down fails closed: 503 with Retry-After, origin not called', async () => {
      const { access_token: token } = await as.token(as.resources.jwt, 'orders:read');
      const { res, body, originCalls } = await call(down, '/orders/1', token);
      assert.equal(res.status, 503, JSON.stringify(body));
      assert.equal(body.code, 'ERR_UPSTREAM_UNAVAILABLE');
      assert.ok(res.headers.get('retry-after'));
      assert.equal(originCalls, 0);
    });
  });
}
