// With a real authorization server (panva oidc-provider): RFC 9068 JWT access tokens issued by the
// client_credentials grant are verified through the AS's JWKS on both runtimes.
import { describe, before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import { RUNTIMES, startAuthServer, startOrigin, startGateway } from './lib/harness.mjs';

for (const runtime of RUNTIMES) {
  describe(`oidc-provider JWT access tokens on ${runtime}`, () => {
    let as, origin, gateway;

    before(async () => {
      as = await startAuthServer();
      origin = await startOrigin();
      gateway = await startGateway(runtime, {
        origin: origin.url,
        routes: [{ path: '/orders/*' }],
        issuers: [{ issuer: as.issuer, audiences: [as.resources.jwt], algorithms: ['ES256'],
          require_typ: 'at+jwt', jwks_uri: as.jwks_uri }],
      });
    });

    after(async () => {
      await gateway?.stop();
      await Promise.all([origin?.close(), as?.stop()]);
    });

    test('a client_credentials access token from the AS reaches the origin', async () => {
      const { access_token: token } = await as.token(as.resources.jwt);
      const res = await fetch(`${gateway.url}/orders/1`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(res.status, 200, await res.clone().text());
      assert.equal((await res.json()).url, '/orders/1');
    });

    test('a token for another resource (audience) is 401 and not forwarded', async () => {
      const before = origin.requests.length;
      const { access_token: token } = await as.token(as.resources.opaque);
      const res = await fetch(`${gateway.url}/orders/1`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(res.status, 401);
      assert.equal(origin.requests.length, before);
    });
  });
}
