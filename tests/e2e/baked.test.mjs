// A configuration baked into the function at build time (scripts/build with EDGEWARD_BAKE_CONFIG;
// docs/configuration.md, "A configuration baked into the function"): the function constructs its
// document from compiled code instead of reading JSON. It verifies and refuses as the same document
// read at run time does, takes an unset EDGEWARD_CONFIG as the baked one, refuses any other
// document (it has no reader for one), and reads the platform secrets the document names when it
// starts, never at build time.
import { describe, before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  ROOT, RUNTIMES, es256Issuer, getJson as get, startOrigin, startGateway, startRecordingPdp,
} from './lib/harness.mjs';

const ISSUER = 'https://issuer.baked.test';
const AUDIENCE = 'https://api.baked.test';
const SECRET = 'pdp-token-baked-value';

// The function's artefact, as scripts/build names a baked gateway.
function artefact(runtime) {
  if (runtime === 'workers') return join(ROOT, 'functions', 'cloudflare', 'build-baked', 'index_bg.wasm');
  const target = process.env.CARGO_TARGET_DIR || join(ROOT, 'target');
  return join(target, 'wasm32-wasip2', 'release', 'edgeward-spin-gateway-baked.wasm');
}

for (const runtime of RUNTIMES) {
  describe(`${runtime}: a gateway with its configuration baked in`, () => {
    let mint, origin, pdp, config, same, unset, other, noSecret;

    before(async () => {
      const issuer = await es256Issuer(ISSUER, AUDIENCE);
      mint = issuer.mint;
      origin = await startOrigin();
      // An OPA Data API decision point that allows and records the token the gateway sent it.
      pdp = await startRecordingPdp();
      config = {
        origin: origin.url,
        routes: [
          { path: '/open/*', anonymous: true },
          { path: '/pdp/*', authorize: 'pdp' },
          { path: '/*', scopes_all: [] },
        ],
        issuers: [{ issuer: ISSUER, audiences: [AUDIENCE], algorithms: ['ES256'], jwks: { keys: [issuer.jwk] } }],
        forwarding: { claim_headers: { sub: 'x-user' } },
        authorization: { decision_points: { pdp: {
          kind: 'opa', base: pdp.url, path: 'x/allow',
          authorization_secret: 'EDGEWARD_PDP_TOKEN',
        } } },
      };
      // Bare workerd whatever EDGEWARD_E2E_WORKERS says: wrangler dev builds wrangler.toml's gateway.
      const options = { bake: config, engine: 'workerd' };
      const vars = { EDGEWARD_PDP_TOKEN: SECRET };
      // One baked build per runtime serves all four: one gateway after another (see startGateway).
      same = await startGateway(runtime, config, { ...options, vars });
      unset = await startGateway(runtime, null, { ...options, vars });
      other = await startGateway(runtime, { origin: origin.url, routes: [{ path: '/*', anonymous: true }] },
        { ...options, vars });
      noSecret = await startGateway(runtime, config, options);
    });

    after(async () => {
      await Promise.all([same, unset, other, noSecret].filter(Boolean).map((g) => g.stop()));
      await origin?.close();
      pdp?.close();
    });

    test('the baked document verifies, refuses and forwards as configured', async () => {
      for (const gateway of [same, unset]) {
        const ok = await get(gateway, '/orders/1', await mint());
        assert.equal(ok.status, 200, JSON.stringify(ok.body));
        assert.equal(ok.body.url, '/orders/1');
        assert.equal(ok.body.headers['x-user'], 'alice');
        const missing = await get(gateway, '/orders/1');
        assert.equal(missing.status, 401, JSON.stringify(missing.body));
        assert.match(missing.auth, /^Bearer/);
        const bad = await get(gateway, '/orders/1', `${(await mint()).slice(0, -4)}AAAA`);
        assert.equal(bad.status, 401, JSON.stringify(bad.body));
        assert.equal((await get(gateway, '/open/doc')).status, 200);
      }
    });

    test('the platform secret the document names is read when the function starts', async () => {
      const before = pdp.saw.length;
      const ok = await get(same, '/pdp/orders', await mint());
      assert.equal(ok.status, 200, JSON.stringify(ok.body));
      assert.deepEqual(pdp.saw.slice(before), [`Bearer ${SECRET}`]);
      // Without it: the configuration error naming the field, fail closed, the PDP never called.
      const missing = await get(noSecret, '/pdp/orders', await mint());
      assert.equal(missing.status, 500, JSON.stringify(missing.body));
      assert.equal(missing.body.code, 'ERR_CONFIG_INVALID');
      assert.equal(missing.body.field, 'authorization.decision_points.pdp.authorization_secret');
      assert.equal(pdp.saw.length, before + 1);
      // The build ran with the secret in its environment; the artefact holds its name only.
      const wasm = readFileSync(artefact(runtime));
      assert.equal(wasm.indexOf(SECRET), -1);
      assert.notEqual(wasm.indexOf('EDGEWARD_PDP_TOKEN'), -1);
    });

    test('another configuration at run time is refused: the function has no reader for it', async () => {
      const seen = origin.requests.length;
      for (const path of ['/orders/1', '/open/doc', '/.well-known/edgeward/health']) {
        const res = await get(other, path);
        assert.equal(res.status, 500, JSON.stringify(res.body));
        assert.equal(res.body.code, 'ERR_CONFIG_INVALID');
        assert.match(res.body.problem, /EDGEWARD_CONFIG is not the configuration baked into this function/);
      }
      // Its own document would have let both requests through to the origin.
      assert.equal(origin.requests.length, seen);
    });
  });
}
