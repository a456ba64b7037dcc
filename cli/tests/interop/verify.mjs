// Independent verification of what `edgeward` mints, with panva/jose (the pinned npm package) and
// node:crypto's X509Certificate. Run by cli/tests/interop.rs; exits non-zero on any mismatch.
// Usage: node verify.mjs DIR ISS AUD HTM HTU
//   DIR holds token.txt (x5c access token bound with cnf.jkt), proof.txt (DPoP proof for it),
//   chain.pem (leaf first), root.pem (the trust anchor) and jkt.txt (`edgeward dpop thumbprint`).
import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [dir, iss, aud, htm, htu] = process.argv.slice(2);
const jose = await import(pathToFileURL(join(process.env.EDGEWARD_NPM, 'jose/dist/webapi/index.js')).href);
const read = (f) => readFileSync(join(dir, f), 'utf8').trim();
const token = read('token.txt');
const proof = read('proof.txt');

// 1. The access token: x5c is standard base64 DER, leaf first; the leaf key verifies the JWS.
const header = jose.decodeProtectedHeader(token);
assert.equal(header.alg, 'ES256');
assert.equal(header.typ, 'at+jwt');
assert.ok(Array.isArray(header.x5c) && header.x5c.length === 2, 'x5c: leaf + intermediate');
const certs = header.x5c.map((b64) => {
  assert.match(b64, /^[A-Za-z0-9+/]+={0,2}$/, 'x5c entries are standard base64');
  return new X509Certificate(Buffer.from(b64, 'base64'));
});
const pemChain = read('chain.pem').match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g);
assert.equal(certs[0].toString(), new X509Certificate(pemChain[0]).toString(), 'x5c[0] is chain.pem leaf');
// The chain, checked by OpenSSL through node:crypto: leaf ← intermediate ← root.
const root = new X509Certificate(read('root.pem'));
assert.ok(certs[0].checkIssued(certs[1]) && certs[0].verify(certs[1].publicKey), 'leaf signed by intermediate');
assert.ok(certs[1].checkIssued(root) && certs[1].verify(root.publicKey), 'intermediate signed by root');
assert.ok(certs[1].ca && root.ca && !certs[0].ca, 'basicConstraints');
const leafPem = certs[0].toString();
const key = await jose.importX509(leafPem, 'ES256');
const { payload } = await jose.jwtVerify(token, key, {
  issuer: iss,
  audience: aud,
  typ: 'at+jwt',
  algorithms: ['ES256'],
  requiredClaims: ['exp', 'iat', 'jti'],
});
assert.equal(payload.sub, 'interop-user');

// 2. The DPoP proof (RFC 9449 §4.3), verified with the key it embeds.
const { payload: p, protectedHeader: ph } = await jose.jwtVerify(proof, jose.EmbeddedJWK, {
  typ: 'dpop+jwt',
  algorithms: ['ES256'],
});
assert.equal(ph.jwk.kty, 'EC');
assert.equal(ph.jwk.crv, 'P-256');
assert.equal(ph.jwk.d, undefined, 'the embedded jwk is public');
assert.equal(p.htm, htm);
assert.equal(p.htu, htu);
assert.equal(p.ath, createHash('sha256').update(token).digest('base64url'));
assert.ok(typeof p.jti === 'string' && p.jti.length >= 16, 'jti');
assert.ok(Math.abs(Math.floor(Date.now() / 1000) - p.iat) < 300, 'iat is now');

// 3. The binding: cnf.jkt = RFC 7638 thumbprint of the proof key = `edgeward dpop thumbprint`.
const jkt = await jose.calculateJwkThumbprint(ph.jwk, 'sha256');
assert.equal(payload.cnf.jkt, jkt);
assert.equal(read('jkt.txt'), jkt);
console.log('interop: jose verified the x5c token, its chain and the DPoP proof');
