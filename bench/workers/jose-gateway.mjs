// The peer: the checks a careful JavaScript gateway makes with panva `jose` 6, then forward.
// Bundled with esbuild by scripts/bench. Bindings: MODE (jwks | x5c | dpop), JWKS, ISS, AUD, ORIGIN.
//
// What it checks, per mode (and what it does NOT, compared with edgeward):
//   jwks: Bearer token; jwtVerify against the inline JWK Set (kid), alg ES256, typ at+jwt, iss, aud,
//         exp/nbf (jose defaults). Same checks as edgeward's inline-JWKS path.
//   x5c:  the x5c[0] leaf certificate is imported with importX509 (cached per leaf) and the token
//         verified with it, plus typ/iss/aud/exp. jose does NOT validate the chain: no signature
//         from the intermediates, no trust anchor, no validity period, basicConstraints, keyUsage or
//         path length. edgeward validates the whole chain to its compiled-in anchors (RFC 5280), so
//         it does strictly more work here.
//   dpop: x5c as above, with the DPoP scheme, plus RFC 9449 §4.3: proof is a JWS with typ
//         dpop+jwt and an embedded public jwk (EmbeddedJWK), htm, htu, iat within ±300 s, ath =
//         SHA-256 of the token, cnf.jkt = the proof key's thumbprint, jti not seen before
//         (an in-memory replay map per isolate, pruned by iat).
import { jwtVerify, createLocalJWKSet, importX509, EmbeddedJWK, calculateJwkThumbprint, base64url } from 'jose';

const opts = (env) => ({ issuer: env.ISS, audience: env.AUD, typ: 'at+jwt', algorithms: ['ES256'] });
const deny = (status, code) => new Response(JSON.stringify({ error: 'invalid_token', code }), { status, headers: { 'content-type': 'application/json' } });

let localJwks;
const leafKeys = new Map();
const seenJti = new Map();

async function leafKey(header) {
  const der = header.x5c?.[0];
  if (typeof der !== 'string') throw new Error('no x5c');
  let key = leafKeys.get(der);
  if (!key) {
    key = await importX509(`-----BEGIN CERTIFICATE-----\n${der}\n-----END CERTIFICATE-----`, 'ES256');
    if (leafKeys.size > 100) leafKeys.clear();
    leafKeys.set(der, key);
  }
  return key;
}

async function checkDpop(request, token, payload) {
  const proof = request.headers.get('dpop');
  if (!proof) throw new Error('no proof');
  const { payload: p, protectedHeader: h } = await jwtVerify(proof, EmbeddedJWK, { typ: 'dpop+jwt', algorithms: ['ES256'] });
  const url = new URL(request.url);
  const now = Math.floor(Date.now() / 1000);
  if (p.htm !== request.method || p.htu !== url.origin + url.pathname) throw new Error('htm/htu');
  if (typeof p.iat !== 'number' || Math.abs(now - p.iat) > 300) throw new Error('iat');
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(token));
  if (p.ath !== base64url.encode(new Uint8Array(digest))) throw new Error('ath');
  if (payload.cnf?.jkt !== (await calculateJwkThumbprint(h.jwk))) throw new Error('jkt');
  if (typeof p.jti !== 'string' || seenJti.has(p.jti)) throw new Error('replay');
  seenJti.set(p.jti, p.iat);
  if (seenJti.size > 500_000) for (const [jti, iat] of seenJti) if (now - iat > 300) seenJti.delete(jti);
}

export default {
  async fetch(request, env) {
    const [scheme, token] = (request.headers.get('authorization') || '').split(' ');
    const mode = env.MODE;
    if (!token || scheme !== (mode === 'dpop' ? 'DPoP' : 'Bearer')) return deny(401, 'ERR_CREDENTIAL_MISSING');
    try {
      let payload;
      if (mode === 'jwks') {
        localJwks ??= createLocalJWKSet(JSON.parse(env.JWKS));
        ({ payload } = await jwtVerify(token, localJwks, opts(env)));
      } else {
        ({ payload } = await jwtVerify(token, (header) => leafKey(header), opts(env)));
        if (mode === 'dpop') await checkDpop(request, token, payload);
      }
    } catch (e) {
      return deny(401, e.code || String(e.message));
    }
    const url = new URL(request.url);
    const headers = new Headers(request.headers);
    headers.delete('authorization');
    headers.delete('dpop');
    return fetch(env.ORIGIN + url.pathname + url.search, { method: request.method, headers });
  },
};
