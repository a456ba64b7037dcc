// bench/lib/fixtures.mjs OUT_DIR CA_DIR CHAINS_DIR GATEWAY_URL
// Makes everything the load runs send, with panva `jose` (the same library as the peer worker):
//   x5c token (dev CA leaf + intermediate in the header), JWKS token (kid, inline JWK Set),
//   padded JWKS tokens of ≈1…16 KiB, x5c tokens with chains of 1…4 certificates,
//   a DPoP-bound x5c token (cnf.jkt) and its proof key (dpop-key.json, for bench/lib/proofs.mjs).
// Writes OUT_DIR/fixtures.json and OUT_DIR/dpop-key.json.
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';


const [out, caDir, chainsDir, gatewayUrl] = process.argv.slice(2);
const jose = await import(pathToFileURL(join(process.env.EDGEWARD_NPM, 'jose/dist/webapi/index.js')).href);
const ISS = 'https://issuer.bench.test';
const AUD = 'https://api.bench.test';
const PATH = '/api/orders';
const now = Math.floor(Date.now() / 1000);
const LIFETIME = 48 * 3600; // outlives any run; tokens are remade on every scripts/bench
const claims = (extra = {}) => ({ iss: ISS, aud: AUD, sub: 'bench-user', scope: 'orders:read', iat: now, exp: now + LIFETIME, ...extra });
const derOf = (pem) => [...pem.matchAll(/-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g)]
  .map((m) => m[1].replace(/\s/g, ''));
const pkcs8 = (file) => jose.importPKCS8(readFileSync(file, 'utf8'), 'ES256');
const sign = (key, header, payload) => new jose.SignJWT(payload).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', ...header }).sign(key);

// x5c: the dev CA's signer, chain leaf + intermediate (what scripts/lib/mint.mjs makes).
const devKey = await pkcs8(join(caDir, 'signing.key'));
const devChain = [...derOf(readFileSync(join(caDir, 'signing.pem'), 'utf8')), ...derOf(readFileSync(join(caDir, 'intermediate.pem'), 'utf8'))];
const x5c = await sign(devKey, { x5c: devChain }, claims());

// JWKS: a fresh key, published inline in the configuration under kid "bench-1".
const { publicKey, privateKey } = await jose.generateKeyPair('ES256', { extractable: true });
const jwk = { ...(await jose.exportJWK(publicKey)), kid: 'bench-1', use: 'sig', alg: 'ES256' };
const jwks = await sign(privateKey, { kid: 'bench-1' }, claims());

// Token size: pad a claim until the compact token is just under the target.
async function padded(target) {
  let pad = Math.max(0, Math.floor(((target - jwks.length) * 3) / 4));
  for (;;) {
    const t = await sign(privateKey, { kid: 'bench-1' }, claims({ pad: 'x'.repeat(pad) }));
    if (t.length <= target) return t;
    pad -= Math.ceil(((t.length - target) * 3) / 4) + 1;
  }
}
const sizes = [];
for (const target of [1024, 2048, 4096, 8192, 16384]) {
  const token = target <= jwks.length ? jwks : await padded(target);
  sizes.push({ target, bytes: token.length, token });
}

// Chain length: leaf + N-1 intermediates under the dev root (bench/lib/chains.sh).
const chains = [];
for (const n of [1, 2, 3, 4]) {
  const key = await pkcs8(join(chainsDir, String(n), 'leaf.key'));
  const chain = derOf(readFileSync(join(chainsDir, String(n), 'chain.pem'), 'utf8'));
  chains.push({ certs: n, token: await sign(key, { x5c: chain }, claims()) });
}

// DPoP (RFC 9449): an x5c token bound to a proof key by cnf.jkt, and one fresh proof per request.
const dpopKeys = await jose.generateKeyPair('ES256', { extractable: true });
const dpopJwk = await jose.exportJWK(dpopKeys.publicKey);
const jkt = await jose.calculateJwkThumbprint(dpopJwk);
const dpopToken = await sign(devKey, { x5c: devChain }, claims({ cnf: { jkt } }));
const htu = new URL(PATH, gatewayUrl).href;
// The proofs themselves are minted by bench/lib/proofs.mjs (again before each DPoP scenario, so
// their iat stays inside the gateways' ±300 s window however long the run is).
writeFileSync(join(out, 'dpop-key.json'), JSON.stringify({
  private_jwk: await jose.exportJWK(dpopKeys.privateKey), public_jwk: dpopJwk, token: dpopToken, htu,
}));

writeFileSync(join(out, 'fixtures.json'), JSON.stringify({
  iss: ISS, aud: AUD, path: PATH, htu, created: now,
  jwks: { keys: [jwk] },
  tokens: { x5c, jwks, dpop: dpopToken },
  sizes, chains,
}, null, 1));
