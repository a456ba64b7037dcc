// A real OAuth 2.0 authorization server for the demo and the end-to-end tests: panva's
// oidc-provider (a certified OpenID provider), fully offline on loopback.
// Usage: node auth-server.mjs PORT
// Prints one JSON line on stdout when ready: { issuer, jwks_uri, token_endpoint,
// introspection_endpoint, revocation_endpoint, clients: {...}, resources: {...} }.
// Features: client_credentials, introspection (RFC 7662), JWT introspection (RFC 9701), DPoP
// (RFC 9449), revocation (RFC 7009), resource indicators (RFC 8707) with JWT access tokens (RFC 9068)
// for one resource and opaque ones for another, token exchange (RFC 8693, registered through
// oidc-provider's grant-type API: scripts/lib/token-exchange-grant.mjs). Counters at GET /_stats
// (introspection calls, token exchanges).
// EDGEWARD_AS_STORE=map: keep every token until it expires (oidc-provider's development store keeps
// only the newest 1000, which a benchmark issuing tens of thousands of opaque tokens outruns).
import { createServer } from 'node:http';
import { generateKeyPairSync } from 'node:crypto';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { TOKEN_EXCHANGE, EXCHANGE_PARAMS, exchangeTargets, tokenExchangeGrant } from './token-exchange-grant.mjs';

// Access token lifetime in seconds (EDGEWARD_AS_TOKEN_TTL; scripts/bench needs its tokens for a whole run).
const TOKEN_TTL = Number(process.env.EDGEWARD_AS_TOKEN_TTL) || 600;
const port = Number(process.argv[2] || 9000);
const { default: Provider, errors } = await import(pathToFileURL(join(process.env.EDGEWARD_NPM, 'oidc-provider/lib/index.js')).href);

const issuer = `http://127.0.0.1:${port}`;
// `other`: opaque tokens for an API the gateway does not protect (they must not pass it).
const resources = { jwt: 'https://api.jwt.edgeward.test', opaque: 'https://api.opaque.edgeward.test', other: 'https://api.other.edgeward.test' };
const clients = {
  app: { client_id: 'demo-app', client_secret: 'demo-app-secret' },
  gateway: { client_id: 'edgeward-gateway', client_secret: 'edgeward-gateway-secret' },
};
// EDGEWARD_AS_ACTOR_JWKS (a JWK Set, the gateway's public key): trusted for token-exchange actor
// tokens, and registered as the keys of a third client that authenticates with private_key_jwt.
const gatewayKeys = process.env.EDGEWARD_AS_ACTOR_JWKS;
if (gatewayKeys) clients.gatewayJwt = { client_id: 'edgeward-gateway-jwt' };
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
  ],
  jwks: { keys: [{ ...signing, kid: 'as-es256', use: 'sig', alg: 'ES256' }] },
  scopes: ['orders:read', 'orders:write'],
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    jwtIntrospection: { enabled: true },
    revocation: { enabled: true },
    dPoP: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => resources.jwt,
      useGrantedResource: () => true,
      getResourceServerInfo: (_ctx, resource) => {
        if (resource === resources.jwt) {
          return { scope: 'orders:read orders:write', audience: resource, accessTokenTTL: TOKEN_TTL,
            accessTokenFormat: 'jwt', jwt: { sign: { alg: 'ES256' } } };
        }
        if (resource === resources.opaque || resource === resources.other) {
          return { scope: 'orders:read orders:write', audience: resource, accessTokenTTL: TOKEN_TTL, accessTokenFormat: 'opaque' };
        }
        throw new errors.InvalidTarget();
      },
    },
  },
  ttl: { ClientCredentials: TOKEN_TTL },
});
provider.proxy = false;

const stats = { introspections: 0, exchanges: 0 };
provider.registerGrantType(TOKEN_EXCHANGE,
  tokenExchangeGrant({ issuer, signing, stats, actorKeys: gatewayKeys, errors }),
  EXCHANGE_PARAMS);
const callback = provider.callback();
const server = createServer((req, res) => {
  if (req.url === '/_stats') {
    res.writeHead(200, { 'content-type': 'application/json' });
    return res.end(JSON.stringify(stats));
  }
  if (req.url.startsWith('/token/introspection')) stats.introspections += 1;
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
