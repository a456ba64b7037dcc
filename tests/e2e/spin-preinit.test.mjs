// Build-time pre-initialisation of the Spin component (issue #19, functions/spin/src/preinit.rs):
// the component is snapshotted with the gateway loaded from the build's configuration. An instance
// uses that gateway only when its own EDGEWARD_CONFIG is the same text and the configuration names
// no platform secret; otherwise it loads its configuration as without pre-initialisation.
import { describe, before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, RUNTIMES, npm, startOrigin, startGateway } from './lib/harness.mjs';

const ISSUER = 'https://issuer.preinit.test';
const AUDIENCE = 'https://api.preinit.test';

if (RUNTIMES.includes('spin')) {
  describe('Spin: a pre-initialised component', () => {
    let jose, signer, origin, same, other, secret, jwtConfig;

    const mint = async () => {
      const now = Math.floor(Date.now() / 1000);
      return new jose.SignJWT({ iss: ISSUER, aud: AUDIENCE, sub: 'alice', iat: now, exp: now + 120 })
        .setProtectedHeader({ alg: 'ES256', kid: 'k1' }).sign(signer);
    };
    const get = async (gateway, path, token) => {
      const headers = token ? { authorization: `Bearer ${token}` } : {};
      const res = await fetch(`${gateway.url}${path}`, { headers, signal: AbortSignal.timeout(30_000) });
      return { status: res.status, body: await res.json(), auth: res.headers.get('www-authenticate') };
    };

    before(async () => {
      jose = await npm('jose', 'dist/webapi/index.js');
      const key = await jose.generateKeyPair('ES256');
      signer = key.privateKey;
      const jwk = { ...(await jose.exportJWK(key.publicKey)), kid: 'k1', alg: 'ES256' };
      origin = await startOrigin();
      // A route of its own per run, so the build pre-initialises again (and says so) every time.
      jwtConfig = {
        origin: origin.url,
        routes: [{ path: `/open-${randomUUID()}/*`, anonymous: true }, { path: '/*' }],
        issuers: [{ issuer: ISSUER, audiences: [AUDIENCE], algorithms: ['ES256'], jwks: { keys: [jwk] } }],
      };
      const withSecret = {
        ...jwtConfig,
        routes: [...jwtConfig.routes, { path: '/never/*', authorize: 'pdp' }],
        authorization: { decision_points: { pdp: {
          kind: 'opa', base: 'http://127.0.0.1:9', path: 'x/allow', authorization_secret: 'EDGEWARD_PDP_TOKEN',
        } } },
      };
      // One pre-initialised file per function: one gateway after another (see startGateway).
      same = await startGateway('spin', jwtConfig, { preinit: jwtConfig });
      other = await startGateway('spin', { origin: origin.url, routes: [{ path: '/*', anonymous: true }] },
        { preinit: jwtConfig });
      secret = await startGateway('spin', withSecret,
        { preinit: withSecret, vars: { EDGEWARD_PDP_TOKEN: 'pdp-token-value' } });
    });

    after(async () => {
      await Promise.all([same, other, secret].filter(Boolean).map((g) => g.stop()));
      await origin?.close();
    });

    test("the build's own configuration: the snapshot's gateway verifies and refuses as configured", async () => {
      assert.match(same.log(), /pre-initialised: the gateway is loaded from the build's configuration/);
      const ok = await get(same, '/orders/1', await mint());
      assert.equal(ok.status, 200, JSON.stringify(ok.body));
      assert.equal(ok.body.url, '/orders/1');
      const missing = await get(same, '/orders/1');
      assert.equal(missing.status, 401, JSON.stringify(missing.body));
      assert.match(missing.auth, /^Bearer/);
      const bad = await get(same, '/orders/1', `${(await mint()).slice(0, -4)}AAAA`);
      assert.equal(bad.status, 401, JSON.stringify(bad.body));
      const open = jwtConfig.routes[0].path.replace('*', 'doc');
      assert.equal((await get(same, open)).status, 200);
    });

    test('another configuration at run time is the one that decides', async () => {
      // The build's configuration would answer 401 here; the instance's own lets it through.
      const res = await get(other, '/orders/1');
      assert.equal(res.status, 200, JSON.stringify(res.body));
    });

    test('a configuration naming a platform secret is not kept: loaded per instance, with the secret', async () => {
      assert.match(secret.log(), /not pre-initialised: the configuration names a platform secret/);
      const ok = await get(secret, '/orders/1', await mint());
      assert.equal(ok.status, 200, JSON.stringify(ok.body));
      // The artefact holds no secret value.
      const target = process.env.CARGO_TARGET_DIR || join(ROOT, 'target');
      const wasm = readFileSync(join(target, 'wasm32-wasip2', 'release', 'edgeward-spin-gateway-preinit.wasm'));
      assert.equal(wasm.indexOf('pdp-token-value'), -1);
    });
  });
}
