// OAuth 2.0 Token Exchange (RFC 8693) for the test authorization server (auth-server.mjs), which
// registers it through oidc-provider's grant-type API (`provider.registerGrantType`; oidc-provider
// has no built-in token exchange). The client is already authenticated by oidc-provider when the
// handler runs, and only clients whose `grant_types` list the grant reach it.
//
// What it does (RFC 8693 §2.1–2.3):
// - subject_token: a JWT access token of this AS (ES256 signature with the AS key, `iss`, `exp`),
//   or an opaque access token it issued (looked up in its store); anything else is invalid_grant.
//   subject_token_type must be the access-token type.
// - audience / resource: each may repeat (§2.1); every one must be one of `exchangeTargets` (an
//   audience by name or URI, a resource by URI), else invalid_target.
// - scope: down-scoped: the requested scopes (default: the subject's that every target allows) must
//   all be held by the subject token and allowed for every target, else invalid_scope.
// - actor_token: a JWT signed by a key of EDGEWARD_AS_ACTOR_JWKS (a JWK Set), `typ`
//   edgeward-actor+jwt, unexpired; its `sub` becomes the `act` claim (§4.1). Invalid: invalid_grant.
// - answer: a new ES256 JWT access token (`typ` at+jwt): `sub` kept, `aud` the target, the reduced
//   `scope` (`aud` a list when there are several targets), `client_id` the requesting client, `exp` at most the subject's, plus `act`.
// Every call the handler sees is counted in `stats.exchanges`.
import { createPrivateKey, createPublicKey, randomUUID, sign, verify } from 'node:crypto';

export const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';
const JWT = 'urn:ietf:params:oauth:token-type:jwt';
/** Parameters oidc-provider passes through to the handler. */
export const EXCHANGE_PARAMS = ['subject_token', 'subject_token_type', 'actor_token', 'actor_token_type',
  'requested_token_type', 'audience', 'resource', 'scope'];
/** Parameters that may repeat (RFC 8693 §2.1): oidc-provider then hands the handler a list. */
export const EXCHANGE_REPEATABLE = ['audience', 'resource'];

/** The APIs a token can be exchanged for: name → audience URI and the scopes allowed there. */
export const exchangeTargets = {
  'orders-api': { aud: 'https://orders.exchange.edgeward.test', scopes: ['orders:read'] },
  'billing-api': { aud: 'https://billing.exchange.edgeward.test', scopes: ['orders:read', 'orders:write'] },
};

/** Lifetime of an exchanged token, seconds (never past the subject token's `exp`). */
const EXCHANGED_TTL = 300;

const b64json = (part) => JSON.parse(Buffer.from(part, 'base64url').toString());

/** The claims of a compact ES256 JWS verified with one of `keys` (KeyObjects), or undefined. */
function verifyJws(token, keys, typ) {
  const parts = String(token).split('.');
  if (parts.length !== 3) return undefined;
  let header, claims;
  try { [header, claims] = [b64json(parts[0]), b64json(parts[1])]; } catch { return undefined; }
  if (header.alg !== 'ES256' || (typ && header.typ !== typ)) return undefined;
  const input = Buffer.from(`${parts[0]}.${parts[1]}`);
  const signature = Buffer.from(parts[2], 'base64url');
  const ok = keys.some((key) => verify('sha256', input, { key, dsaEncoding: 'ieee-p1363' }, signature));
  return ok ? claims : undefined;
}

function signJws(privateKey, header, claims) {
  const enc = (v) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const input = `${enc(header)}.${enc(claims)}`;
  const signature = sign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' });
  return `${input}.${signature.toString('base64url')}`;
}

/** The targets named by every `audience` (a name or a URI) and `resource` (a URI), without
 *  repeats; undefined when none is named or any is unknown. */
function targets(params) {
  const list = (value) => [value].flat().filter((v) => typeof v === 'string' && v);
  const byUri = (uri) => Object.values(exchangeTargets).find((t) => t.aud === uri);
  const found = [...list(params.audience).map((a) => byUri(a) || exchangeTargets[a]), ...list(params.resource).map(byUri)];
  if (found.length === 0 || found.some((t) => !t)) return undefined;
  return [...new Set(found)];
}

/**
 * The grant handler for `provider.registerGrantType(TOKEN_EXCHANGE, handler, EXCHANGE_PARAMS)`.
 * `signing` is the AS's private JWK, `actorKeys` the JSON of a JWK Set trusted for actor tokens,
 * `errors` oidc-provider's error classes (`Provider.errors`).
 */
export function tokenExchangeGrant({ issuer, signing, stats, actorKeys, errors }) {
  const privateKey = createPrivateKey({ key: signing, format: 'jwk' });
  const asKey = createPublicKey(privateKey);
  const actors = actorKeys ? JSON.parse(actorKeys).keys.map((k) => createPublicKey({ key: k, format: 'jwk' })) : [];

  return async function tokenExchange(ctx) {
    stats.exchanges += 1;
    const { provider, client, params } = ctx.oidc;
    const { InvalidGrant, InvalidTarget, InvalidScope, InvalidRequest } = errors;
    const now = Math.floor(Date.now() / 1000);
    if (params.subject_token_type !== ACCESS_TOKEN) throw new InvalidRequest('unsupported subject_token_type');
    const requestedType = params.requested_token_type || ACCESS_TOKEN;
    if (![ACCESS_TOKEN, JWT].includes(requestedType)) throw new InvalidRequest('unsupported requested_token_type');

    const subject = await subjectClaims(provider, params.subject_token, now);
    if (!subject) throw new InvalidGrant('subject_token is not an active access token of this issuer');

    const to = targets(params);
    if (!to) throw new InvalidTarget('no such audience or resource for token exchange');
    const allowed = (s) => to.every((t) => t.scopes.includes(s));
    const held = new Set(String(subject.scope || '').split(' ').filter(Boolean));
    const wanted = params.scope ? params.scope.split(' ') : [...held].filter(allowed);
    if (wanted.length === 0 || wanted.some((s) => !held.has(s) || !allowed(s))) {
      throw new InvalidScope('scope not held by the subject token or not allowed for the target');
    }

    let act;
    if (params.actor_token) {
      const actor = params.actor_token_type === JWT ? verifyJws(params.actor_token, actors, 'edgeward-actor+jwt') : undefined;
      if (!actor || typeof actor.exp !== 'number' || actor.exp <= now || !actor.sub) {
        throw new InvalidGrant('actor_token not trusted');
      }
      act = { sub: actor.sub };
    }

    const exp = Math.min(now + EXCHANGED_TTL, subject.exp);
    const claims = {
      iss: issuer, sub: subject.sub ?? subject.client_id, aud: to.length === 1 ? to[0].aud : to.map((t) => t.aud), client_id: client.clientId,
      scope: wanted.join(' '), iat: now, exp, jti: randomUUID(), ...(act ? { act } : {}),
    };
    const token = signJws(privateKey, { alg: 'ES256', typ: 'at+jwt', kid: 'as-es256' }, claims);
    ctx.body = { access_token: token, issued_token_type: requestedType, token_type: 'Bearer',
      expires_in: exp - now, scope: claims.scope };
  };

  /** The claims of an active access token of this AS: a JWT it signed, or an opaque one it stores. */
  async function subjectClaims(provider, token, now) {
    if (!token) return undefined;
    if (token.split('.').length === 3) {
      const claims = verifyJws(token, [asKey]);
      return claims && claims.iss === issuer && claims.exp > now ? claims : undefined;
    }
    const stored = await provider.ClientCredentials.find(token).catch(() => undefined);
    if (!stored || stored.isExpired) return undefined;
    return { sub: stored.clientId, client_id: stored.clientId, scope: stored.scope, exp: stored.exp };
  }
}
