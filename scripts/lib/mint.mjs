// Mints a demo access token with panva/jose: ES256, the signing certificate chain in `x5c`.
// Usage: node mint.mjs CA_DIR ISSUER AUDIENCE [EXPIRES_IN_SECONDS] [SUB]
// (The edgeward CLI will replace this; see issue "developer experience".)
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [dir, iss, aud, expiresIn = '3600', sub = 'demo-user'] = process.argv.slice(2);
const jose = await import(pathToFileURL(join(process.env.EDGEWARD_NPM, 'jose/dist/webapi/index.js')).href);
const der = (f) => readFileSync(join(dir, f), 'utf8').replace(/-----[A-Z ]+-----|\s/g, '');
const key = await jose.importPKCS8(readFileSync(join(dir, 'signing.key'), 'utf8'), 'ES256');
const now = Math.floor(Date.now() / 1000);
const token = await new jose.SignJWT({ iss, aud, sub, scope: 'orders:read', iat: now, exp: now + Number(expiresIn) })
  .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', x5c: [der('signing.pem'), der('intermediate.pem')] })
  .sign(key);
process.stdout.write(token);
