// A real OAuth 2.0 authorization server for the demo and the end-to-end tests: panva's
// oidc-provider (a certified OpenID provider), fully offline on loopback.
// Usage: node auth-server.mjs PORT
// Prints one JSON line on stdout when ready: { issuer, jwks_uri, token_endpoint,
// introspection_endpoint, revocation_endpoint, clients: {...}, resources: {...} }.
// Features: client_credentials, introspection (RFC 7662), JWT introspection (RFC 9701), DPoP
// (RFC 9449), revocation (RFC 7009), resource indicators (RFC 8707) with JWT access tokens (RFC 9068)
// for one resource and opaque ones for another, token exchange (RFC 8693, registered through
// oidc-provider's grant-type API: scripts/lib/token-exchange-grant.mjs). Counters at GET /_stats
// (introspection calls, token endpoint calls, token exchanges); GET /_spa_tokens lists the tokens
// issued to edgeward-spa (for the browser test).
// Browser sign-in for the token handler's client `edgeward-spa` (a confidential web client):
// authorization code + PKCE, refresh tokens rotated on every use, the built-in development login
// and consent pages (any login and password), RFC 9207 `iss` in the authorization response and
// RP-initiated logout. EDGEWARD_AS_SPA_ORIGIN (default http://localhost:8090) is the SPA's origin:
// its redirect URI is `{origin}/callback`, its post-logout redirect URI `{origin}/`.
// EDGEWARD_AS_SPA_TOKEN_TTL: lifetime of the access tokens issued to edgeward-spa (default:
// EDGEWARD_AS_TOKEN_TTL), short in the browser test so that a refresh is needed.
// EDGEWARD_AS_STORE=map: keep every token until it expires (oidc-provider's development store keeps
// only the newest 1000, which a benchmark issuing tens of thousands of opaque tokens outruns).
// Split tokens (scripts/lib/split-token-publisher.mjs): with EDGEWARD_AS_SPLIT_TOKEN_PUBLISH (a
// gateway's warm-up push URL), every JWT access token for the resource `split` is published there
// as `header.payload` and the client receives only its signature part. The pushes are signed with
// EDGEWARD_AS_SPLIT_TOKEN_KEY (a private JWK with `kid`: an event listener's own key, its issuer
// name EDGEWARD_AS_SPLIT_TOKEN_ISSUER), else with the AS's own key as the AS; their `aud` is
// EDGEWARD_AS_SPLIT_TOKEN_AUDIENCE (default edgeward-gateway). EDGEWARD_AS_SPLIT_TOKEN_TTL: lifetime
// of the tokens for `split` (default: EDGEWARD_AS_TOKEN_TTL).
import { createServer } from 'node:http';
import { generateKeyPairSync } from 'node:crypto';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { splitTokenPublisher } from './split-token-publisher.mjs';
import { TOKEN_EXCHANGE, EXCHANGE_PARAMS, EXCHANGE_REPEATABLE, exchangeTargets, tokenExchangeGrant } from './token-exchange-grant.mjs';

// Access token lifetime in seconds (EDGEWARD_AS_TOKEN_TTL; scripts/bench needs its tokens for a whole run).
const TOKEN_TTL = Number(process.env.EDGEWARD_AS_TOKEN_TTL) || 600;
const SPA_TOKEN_TTL = Number(process.env.EDGEWARD_AS_SPA_TOKEN_TTL) || TOKEN_TTL;
const SPLIT_TOKEN_TTL = Number(process.env.EDGEWARD_AS_SPLIT_TOKEN_TTL) || TOKEN_TTL;
const SPA_ORIGIN = process.env.EDGEWARD_AS_SPA_ORIGIN || 'http://localhost:8090';
const port = Number(process.argv[2] || 9000);
const { default: Provider, errors } = await import(pathToFileURL(join(process.env.EDGEWARD_NPM, 'oidc-provider/lib/index.js')).href);

const issuer = `http://127.0.0.1:${port}`;
// `other`: opaque tokens for an API the gateway does not protect (they must not pass it); `split`:
// JWTs that are split when a publisher is configured.
const resources = { jwt: 'https://api.jwt.edgeward.test', opaque: 'https://api.opaque.edgeward.test',
  other: 'https://api.other.edgeward.test', split: 'https://api.split.edgeward.test' };
const clients = {
  app: { client_id: 'demo-app', client_secret: 'demo-app-secret' },
  gateway: { client_id: 'edgeward-gateway', client_secret: 'edgeward-gateway-secret' },
  spa: { client_id: 'edgeward-spa', client_secret: 'edgeward-spa-secret',
    redirect_uri: `${SPA_ORIGIN}/callback`, post_logout_redirect_uri: `${SPA_ORIGIN}/` },
};
// EDGEWARD_AS_ACTOR_JWKS (a JWK Set, the gateway's public key): trusted for token-exchange actor
// tokens, and registered as the keys of a third client that authenticates with private_key_jwt.
const gatewayKeys = process.env.EDGEWARD_AS_ACTOR_JWKS;
if (gatewayKeys) clients.gatewayJwt = { client_id: 'edgeward-gateway-jwt' };
/** Access-token lifetime for a client: the SPA's own when it asked (the browser test's refresh). */
const tokenTtl = (client) => (client?.clientId === clients.spa.client_id ? SPA_TOKEN_TTL : TOKEN_TTL);
const signing = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });

/** oidc-provider's adapter interface over one Map, entries dropped when read after expiry. */
class MapAdapter {
  static store = new Map();
  constructor(model) { this.model = model; }
  key(id) { return `${this.model}:${id}`; }
  async upsert(id, payload, expiresIn) {
    MapAdapter.store.set(this.key(id), { payload, until: expiresIn ? Date.now() + expiresIn * 1000 : Infinity });
  }
  async find(id) {
    const entry = MapAdapter.store.get(this.key(id));
    if (!entry) return undefined;
    if (entry.until <= Date.now()) { MapAdapter.store.delete(this.key(id)); return undefined; }
    return entry.payload;
  }
  async findByUid() { return undefined; }
  async findByUserCode() { return undefined; }
  async consume(id) { const p = await this.find(id); if (p) p.consumed = Math.floor(Date.now() / 1000); }
  async destroy(id) { MapAdapter.store.delete(this.key(id)); }
  async revokeByGrantId(grantId) {
    for (const [k, v] of MapAdapter.store) if (v.payload.grantId === grantId) MapAdapter.store.delete(k);
  }
}

const provider = new Provider(issuer, {
  ...(process.env.EDGEWARD_AS_STORE === 'map' ? { adapter: MapAdapter } : {}),
  clients: [
    { ...clients.app, grant_types: ['client_credentials'], redirect_uris: [], response_types: [],
      token_endpoint_auth_method: 'client_secret_basic', id_token_signed_response_alg: 'ES256', introspection_signed_response_alg: 'ES256', scope: 'orders:read orders:write' },
    { ...clients.gateway, grant_types: [TOKEN_EXCHANGE], redirect_uris: [], response_types: [],
      token_endpoint_auth_method: 'client_secret_basic', id_token_signed_response_alg: 'ES256', introspection_signed_response_alg: 'ES256' },
    ...(gatewayKeys ? [{ ...clients.gatewayJwt, grant_types: [TOKEN_EXCHANGE], redirect_uris: [], response_types: [],
      token_endpoint_auth_method: 'private_key_jwt', jwks: JSON.parse(gatewayKeys),
      id_token_signed_response_alg: 'ES256', introspection_signed_response_alg: 'ES256' }] : []),
    { client_id: clients.spa.client_id, client_secret: clients.spa.client_secret,
      grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'],
      redirect_uris: [clients.spa.redirect_uri], post_logout_redirect_uris: [clients.spa.post_logout_redirect_uri],
      token_endpoint_auth_method: 'client_secret_basic', id_token_signed_response_alg: 'ES256',
      introspection_signed_response_alg: 'ES256', scope: 'openid profile offline_access orders:read' },
  ],
  jwks: { keys: [{ ...signing, kid: 'as-es256', use: 'sig', alg: 'ES256' }] },
  scopes: ['orders:read', 'orders:write', 'offline_access'],
  // Development accounts: any login is an account whose `sub` is that login (dev interactions).
  // `profile` is a scope with a `name` claim; ID tokens carry the claims their scopes name.
  claims: { acr: null, sid: null, auth_time: null, iss: null, openid: ['sub'], profile: ['name'] },
  conformIdTokenClaims: false,
  findAccount: (_ctx, sub) => ({ accountId: sub, claims: () => ({ sub, name: `${sub} (test user)` }) }),
  // PKCE (S256) for every authorization request, not only public clients'.
  pkce: { required: () => true },
  // The SPA's client gets refresh tokens without `prompt=consent` (oidc-provider drops
  // offline_access otherwise) and a new one on every use (rotation, the old one is consumed).
  issueRefreshToken: (_ctx, client, code) => client.grantTypeAllowed('refresh_token')
    && (code.scopes.has('offline_access') || client.clientId === clients.spa.client_id),
  rotateRefreshToken: () => true,
  features: {
    // The built-in login and consent pages; only the authorization endpoint leads to them, which
    // only edgeward-spa may use (the other clients have no redirect URIs or response types).
    devInteractions: { enabled: true },
    rpInitiatedLogout: { enabled: true },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    jwtIntrospection: { enabled: true },
    revocation: { enabled: true },
    dPoP: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => resources.jwt,
      useGrantedResource: () => true,
      getResourceServerInfo: (_ctx, resource, client) => {
        if (resource === resources.jwt) {
          return { scope: 'orders:read orders:write', audience: resource, accessTokenTTL: tokenTtl(client),
            accessTokenFormat: 'jwt', jwt: { sign: { alg: 'ES256' } } };
        }
        if (resource === resources.split) {
          return { scope: 'orders:read orders:write', audience: resource, accessTokenTTL: SPLIT_TOKEN_TTL,
            accessTokenFormat: 'jwt', jwt: { sign: { alg: 'ES256' } } };
        }
        if (resource === resources.opaque || resource === resources.other) {
          return { scope: 'orders:read orders:write', audience: resource, accessTokenTTL: TOKEN_TTL, accessTokenFormat: 'opaque' };
        }
        throw new errors.InvalidTarget();
      },
    },
  },
  // The resource's own lifetime where it names one (the split resource's), else TOKEN_TTL.
  ttl: { ClientCredentials: (_ctx, token) => token.resourceServer?.accessTokenTTL || TOKEN_TTL },
});
provider.proxy = false;

const stats = { introspections: 0, token_requests: 0, exchanges: 0, split_published: 0 };
if (process.env.EDGEWARD_AS_SPLIT_TOKEN_PUBLISH) {
  const own = process.env.EDGEWARD_AS_SPLIT_TOKEN_KEY;
  provider.use(splitTokenPublisher({
    url: process.env.EDGEWARD_AS_SPLIT_TOKEN_PUBLISH,
    resource: resources.split,
    issuer: own ? process.env.EDGEWARD_AS_SPLIT_TOKEN_ISSUER : issuer,
    signingJwk: own ? JSON.parse(own) : { ...signing, kid: 'as-es256' },
    audience: process.env.EDGEWARD_AS_SPLIT_TOKEN_AUDIENCE || 'edgeward-gateway',
    stats,
  }));
}
provider.registerGrantType(TOKEN_EXCHANGE,
  tokenExchangeGrant({ issuer, signing, stats, actorKeys: gatewayKeys, errors }),
  EXCHANGE_PARAMS, EXCHANGE_REPEATABLE);
// Every token issued to edgeward-spa, for the browser test to prove that none reaches the page.
const spaTokens = [];
provider.on('grant.success', (ctx) => {
  if (ctx.oidc.client?.clientId !== clients.spa.client_id) return;
  for (const name of ['access_token', 'id_token', 'refresh_token']) if (ctx.body?.[name]) spaTokens.push(ctx.body[name]);
});
const callback = provider.callback();
const server = createServer((req, res) => {
  if (req.url === '/_stats') {
    res.writeHead(200, { 'content-type': 'application/json' });
    return res.end(JSON.stringify(stats));
  }
  if (req.url === '/_spa_tokens') {
    res.writeHead(200, { 'content-type': 'application/json' });
    return res.end(JSON.stringify(spaTokens));
  }
  if (req.url.startsWith('/token/introspection')) stats.introspections += 1;
  if (req.url === '/token') stats.token_requests += 1;
  return callback(req, res);
});
server.listen(port, '127.0.0.1', () => {
  console.log(JSON.stringify({
    issuer,
    jwks_uri: `${issuer}/jwks`,
    token_endpoint: `${issuer}/token`,
    introspection_endpoint: `${issuer}/token/introspection`,
    revocation_endpoint: `${issuer}/token/revocation`,
    clients,
    resources,
    exchange_targets: exchangeTargets,
  }));
});
