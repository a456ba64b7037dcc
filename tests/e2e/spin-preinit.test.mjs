// Build-time pre-initialisation of the Spin component (issue #19, functions/spin/src/preinit.rs):
// the component is snapshotted with the build's configuration loaded: the whole gateway, or, for a
// configuration that names platform secrets, the configuration parsed, its secrets bound by each
// instance from its own environment. An instance uses the snapshot only when its own
// EDGEWARD_CONFIG is the same text; otherwise it loads its configuration as without
// pre-initialisation.
import { describe, before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  ROOT, RUNTIMES, es256Issuer, getJson as get, startOrigin, startGateway, startRecordingPdp,
} from './lib/harness.mjs';

const ISSUER = 'https://issuer.preinit.test';
const AUDIENCE = 'https://api.preinit.test';

if (RUNTIMES.includes('spin')) {
  describe('Spin: a pre-initialised component', () => {
    let mint, origin, same, other, secret, unset, jwtConfig, pdp;

    before(async () => {
      const issuer = await es256Issuer(ISSUER, AUDIENCE);
      mint = issuer.mint;
      origin = await startOrigin();
      // A route of its own per run, so the build pre-initialises again (and says so) every time.
      jwtConfig = {
        origin: origin.url,
        routes: [{ path: `/open-${randomUUID()}/*`, anonymous: true }, { path: '/*' }],
        issuers: [{ issuer: ISSUER, audiences: [AUDIENCE], algorithms: ['ES256'], jwks: { keys: [issuer.jwk] } }],
      };
      // An OPA Data API decision point that allows and records the token the gateway sent it.
      pdp = await startRecordingPdp();
      const withSecret = {
        ...jwtConfig,
        routes: [{ path: '/pdp/*', authorize: 'pdp' }, ...jwtConfig.routes],
        authorization: { decision_points: { pdp: {
          kind: 'opa', base: pdp.url, path: 'x/allow',
          authorization_secret: 'EDGEWARD_PDP_TOKEN',
        } } },
      };
      // One pre-initialised file per function: one gateway after another (see startGateway).
      same = await startGateway('spin', jwtConfig, { preinit: jwtConfig });
      other = await startGateway('spin', { origin: origin.url, routes: [{ path: '/*', anonymous: true }] },
        { preinit: jwtConfig });
      secret = await startGateway('spin', withSecret,
        { preinit: withSecret, vars: { EDGEWARD_PDP_TOKEN: 'pdp-token-value' } });
      unset = await startGateway('spin', withSecret, { preinit: withSecret });
    });

    after(async () => {
      await Promise.all([same, other, secret, unset].filter(Boolean).map((g) => g.stop()));
      await origin?.close();
      pdp?.close();
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

    test('a configuration naming a platform secret is kept parsed; each instance binds the secret', async () => {
      assert.match(secret.log(), /pre-initialised: the configuration is parsed; the platform secrets it names are bound per instance/);
      const ok = await get(secret, '/pdp/orders', await mint());
      assert.equal(ok.status, 200, JSON.stringify(ok.body));
      assert.deepEqual(pdp.saw, ['Bearer pdp-token-value']);
      // The same artefact in an instance without the secret: the configuration error, fail closed.
      const missing = await get(unset, '/pdp/orders', await mint());
      assert.equal(missing.status, 500, JSON.stringify(missing.body));
      assert.equal(missing.body.field, 'authorization.decision_points.pdp.authorization_secret');
      assert.equal(pdp.saw.length, 1);
      // The artefact holds no secret value.
      const target = process.env.CARGO_TARGET_DIR || join(ROOT, 'target');
      const wasm = readFileSync(join(target, 'wasm32-wasip2', 'release', 'edgeward-spin-gateway-preinit.wasm'));
      assert.equal(wasm.indexOf('pdp-token-value'), -1);
    });
  });
}
