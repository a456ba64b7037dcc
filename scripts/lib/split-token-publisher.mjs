// The split-token publisher of the test authorization server (auth-server.mjs): Curity's pattern,
// where an event listener of the AS keeps a JWT's header and payload on the server side and the
// client receives only its signature part.
//
// A Koa middleware for `provider.use`: after the token endpoint answered 200 with a JWT access token
// whose `aud` is the split resource, it publishes `header.payload` to the gateway's warm-up push
// endpoint (entry kind `signature_hash` / `header_payload`, kept by the gateway until the token's
// `exp`), then replaces `access_token` in the answer with the signature part. The push is a compact
// JWS (`typ` edgeward-warmup+jwt, `iss` = the publisher, `aud` = the gateway's name, `iat` now)
// signed with the publisher's private key; the gateway checks it with that issuer's keys
// (`split_token.publisher`). A push the gateway refuses (or cannot be made) leaves the client with
// a `server_error` instead of a token that could never work.
import { createHash, createPrivateKey, sign } from 'node:crypto';

const enc = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');

/**
 * The middleware. `url`: the gateway's warm-up endpoint; `resource`: the audience whose JWTs are
 * split; `issuer`, `signingJwk` (a private JWK with `kid`): who signs the pushes; `audience`: the
 * push's `aud` (the gateway's `split_token.audience`); `stats.split_published` counts pushes.
 */
export function splitTokenPublisher({ url, resource, issuer, signingJwk, audience, stats }) {
  const key = createPrivateKey({ key: signingJwk, format: 'jwk' });

  async function publish(headerPayload, signature) {
    const now = Math.floor(Date.now() / 1000);
    const input = `${enc({ alg: 'ES256', kid: signingJwk.kid, typ: 'edgeward-warmup+jwt' })}.${enc({
      iss: issuer, aud: audience, iat: now,
      entries: [{ signature_hash: createHash('sha256').update(signature).digest('base64url'), header_payload: headerPayload }],
    })}`;
    const sig = sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' }).toString('base64url');
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/jwt' },
      body: `${input}.${sig}`, signal: AbortSignal.timeout(5000) });
    const answer = await res.json().catch(() => ({}));
    return res.status === 200 && answer.stored === 1;
  }

  return async function splitTokens(ctx, next) {
    await next();
    const token = ctx.path === '/token' && ctx.status === 200 ? ctx.body?.access_token : undefined;
    const parts = typeof token === 'string' ? token.split('.') : [];
    if (parts.length !== 3) return;
    let claims;
    try { claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString()); } catch { return; }
    const audiences = [claims.aud].flat();
    if (!audiences.includes(resource)) return;
    const published = await publish(`${parts[0]}.${parts[1]}`, parts[2]).catch(() => false);
    if (!published) {
      ctx.status = 500;
      ctx.body = { error: 'server_error', error_description: 'the split token could not be published' };
      return;
    }
    stats.split_published += 1;
    ctx.body = { ...ctx.body, access_token: parts[2] };
  };
}
