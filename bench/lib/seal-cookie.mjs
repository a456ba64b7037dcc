// Seals a value as the token handler's cookies are sealed (shared/src/cookie.rs): AES-256-GCM,
// a random 96-bit nonce, the cookie's name as associated data, the plaintext prefixed by its expiry
// (8 bytes, Unix seconds, big-endian); the result is `v{version}.base64url(nonce ‖ ciphertext ‖ tag)`.
// Usage: node seal-cookie.mjs NAME VERSION TTL_SECONDS < value   (the key, 64 hex digits, in
// EDGEWARD_COOKIE_KEY: never on a command line). Prints the cookie value.
import { createCipheriv, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';

const [name, version, ttl] = process.argv.slice(2);
const key = Buffer.from(process.env.EDGEWARD_COOKIE_KEY || '', 'hex');
if (key.length !== 32 || !name || !version || !ttl) {
  console.error('usage: EDGEWARD_COOKIE_KEY=<64 hex> node seal-cookie.mjs NAME VERSION TTL_SECONDS < value');
  process.exit(2);
}
const expiry = Buffer.alloc(8);
expiry.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 1000) + Number(ttl)));
const nonce = randomBytes(12);
const cipher = createCipheriv('aes-256-gcm', key, nonce);
cipher.setAAD(Buffer.from(name));
const sealed = Buffer.concat([cipher.update(Buffer.concat([expiry, readFileSync(0)])), cipher.final(), cipher.getAuthTag()]);
process.stdout.write(`v${version}.${Buffer.concat([nonce, sealed]).toString('base64url')}`);
