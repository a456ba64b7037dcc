// bench/lib/proofs.mjs OUT_DIR WARM_PROOFS RUN_PROOFS
// Fresh DPoP proofs (RFC 9449) for the token and key in OUT_DIR/dpop-key.json (bench/lib/fixtures.mjs):
// one per request, unique jti, iat now, in three files: dpop-probe.txt (1), dpop-warm.txt
// (WARM_PROOFS), dpop-run.txt (RUN_PROOFS), so the probe, the warm-up and the measured run against
// one gateway process never replay a proof. scripts/bench remints them before each DPoP scenario.
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createHash, randomUUID } from 'node:crypto';

const [out, warmProofs = '1000', runProofs = '10000'] = process.argv.slice(2);
const jose = await import(pathToFileURL(join(process.env.EDGEWARD_NPM, 'jose/dist/webapi/index.js')).href);
const { private_jwk: privateJwk, public_jwk: publicJwk, token, htu } = JSON.parse(readFileSync(join(out, 'dpop-key.json'), 'utf8'));
const key = await jose.importJWK(privateJwk, 'ES256');
const ath = createHash('sha256').update(token).digest('base64url');
const now = Math.floor(Date.now() / 1000);
const proof = () => new jose.SignJWT({ htm: 'GET', htu, iat: now, jti: randomUUID(), ath })
  .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: publicJwk })
  .sign(key);
async function proofFile(name, count) { // written in batches: a full run needs ~290k proofs
  writeFileSync(join(out, name), '');
  for (let i = 0; i < count; i += 1000) {
    const batch = await Promise.all(Array.from({ length: Math.min(1000, count - i) }, proof));
    appendFileSync(join(out, name), batch.join('\n') + '\n');
  }
}
await proofFile('dpop-probe.txt', 1);
await proofFile('dpop-warm.txt', Number(warmProofs));
await proofFile('dpop-run.txt', Number(runProofs));
