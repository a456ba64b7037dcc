// The token handler (issue #16) without a browser, on both runtimes, against the real
// oidc-provider: plain fetch drives the OAuth agent (login start → the AS's own login and consent
// forms → login end), then cookie-authenticated API calls, refresh after the access token expired,
// logout, and the refusals the contract names (tampered cookie, replayed state, untrusted origin,
// preflights, AS down, client refused). Every Set-Cookie is read with getSetCookie(): several
// fields must survive each shell as separate fields. The browser test (th-web) covers the page side.
import { describe, before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { RUNTIMES, CLOSED_ORIGIN, freePort, startAuthServer, startOrigin, startGateway } from './lib/harness.mjs';

const TOKEN_TTL = 4;
const BASE = '/oauth-agent';

/** A cookie jar for one site: name → { value, path }, from Set-Cookie fields. */
class Jar {
  constructor(entries = []) { this.cookies = new Map(entries); }
  clone() { return new Jar([...this.cookies].map(([n, c]) => [n, { ...c }])); }
  take(res) {
    const fields = res.headers.getSetCookie();
    for (const field of fields) {
      const [pair, ...attributes] = field.split(';').map((s) => s.trim());
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      const path = attributes.find((a) => a.toLowerCase().startsWith('path='))?.slice(5) || '/';
      if (attributes.some((a) => a.toLowerCase() === 'max-age=0')) this.cookies.delete(name);
      else this.cookies.set(name, { value, path, attributes });
    }
    return fields;
  }
  header(path) {
    return [...this.cookies].filter(([, c]) => path.startsWith(c.path)).map(([n, c]) => `${n}=${c.value}`).join('; ');
  }
  get(name) { return this.cookies.get(name)?.value; }
}

for (const runtime of RUNTIMES) {
  describe(`token handler API on ${runtime}`, () => {
    let as, origin, gateway, wrongSecret, asDown, pushed, spa;
    const bodies = [];

    before(async () => {
      spa = `http://localhost:${await freePort()}`;
      process.env.EDGEWARD_AS_SPA_ORIGIN = spa;
      process.env.EDGEWARD_AS_SPA_TOKEN_TTL = String(TOKEN_TTL);
      as = await startAuthServer();
      origin = await startOrigin();
      const config = (issuer, extra = {}) => ({
        origin: origin.url,
        routes: [{ path: '/orders/*', credential_cookie: true }],
        issuers: [{ issuer: as.issuer, audiences: [as.resources.jwt], jwks_uri: as.jwks_uri, leeway_seconds: 0 }],
        forwarding: { claim_headers: { sub: 'x-edgeward-sub' } },
        token_handler: {
          base_path: BASE,
          issuer,
          client_id: 'edgeward-spa',
          client_secret_name: 'EDGEWARD_AGENT_CLIENT_SECRET',
          redirect_uri: `${spa}/callback`,
          post_logout_redirect_uri: `${spa}/`,
          scope: 'openid profile offline_access orders:read',
          authorization_params: { resource: as.resources.jwt },
          trusted_web_origins: [spa],
          cookie_keys: [{ version: 1, secret: 'EDGEWARD_COOKIE_KEY' }],
          ...extra,
        },
      });
      const key = randomBytes(32).toString('hex');
      const vars = (secret) => ({ EDGEWARD_AGENT_CLIENT_SECRET: secret, EDGEWARD_COOKIE_KEY: key });
      [gateway, wrongSecret, asDown, pushed] = await Promise.all([
        startGateway(runtime, config(as.issuer), { vars: vars('edgeward-spa-secret'), fn: 'token-handler' }),
        startGateway(runtime, config(as.issuer), { vars: vars('not-the-secret'), fn: 'token-handler' }),
        startGateway(runtime, config(CLOSED_ORIGIN), { vars: vars('edgeward-spa-secret'), fn: 'token-handler' }),
        startGateway(runtime, config(as.issuer, { par: true }), { vars: vars('edgeward-spa-secret'), fn: 'token-handler' }),
      ]);
    });

    after(async () => {
      await Promise.all([gateway, wrongSecret, asDown, pushed].filter(Boolean).map((g) => g.stop()));
      await Promise.all([origin?.close(), as?.stop()]);
      delete process.env.EDGEWARD_AS_SPA_ORIGIN;
      delete process.env.EDGEWARD_AS_SPA_TOKEN_TTL;
    });

    /** A request as the SPA's fetch sends it: its Origin, the CSRF header, the jar's cookies. */
    async function call(gw, method, path, jar, { body, headers = {} } = {}) {
      const fields = { origin: spa, 'token-handler-version': '1', ...headers };
      const cookie = jar?.header(path);
      if (cookie) fields.cookie = cookie;
      if (body !== undefined) fields['content-type'] = 'application/json';
      for (const [name, value] of Object.entries(fields)) if (value === null) delete fields[name];
      const res = await fetch(`${gw.url}${path}`, { method, headers: fields, body: body === undefined ? undefined : JSON.stringify(body) });
      const text = await res.text();
      bodies.push(text);
      let json = null;
      try { json = text ? JSON.parse(text) : null; } catch {
        throw new Error(`not JSON (${res.status}): ${text}\n--- gateway log ---\n${gw.log().slice(-3000)}`);
      }
      return { res, json };
    }

    /** Follows the AS from the authorization URL through its login and consent forms (dev
     *  interactions: any login, any password) to the redirect back to the SPA. */
    async function authorize(url, login = 'alice') {
      const cookies = new Map();
      let next = url, method = 'GET', form;
      for (let step = 0; step < 12; step++) {
        const headers = { cookie: [...cookies].map(([n, v]) => `${n}=${v}`).join('; ') };
        if (form) headers['content-type'] = 'application/x-www-form-urlencoded';
        const res = await fetch(next, { method, headers, body: form, redirect: 'manual' });
        for (const field of res.headers.getSetCookie()) {
          const [pair] = field.split(';');
          const eq = pair.indexOf('=');
          cookies.set(pair.slice(0, eq), pair.slice(eq + 1));
        }
        if (res.status >= 300 && res.status < 400) {
          await res.arrayBuffer();
          next = new URL(res.headers.get('location'), next).href;
          if (next.startsWith(spa)) return next;
          method = 'GET';
          form = undefined;
          continue;
        }
        const html = await res.text();
        assert.equal(res.status, 200, html);
        const action = html.match(/<form[^>]*action="([^"]+)"[^>]*method="post"/)?.[1];
        assert.ok(action, `no form on ${next}: ${html.slice(0, 500)}`);
        const prompt = html.match(/name="prompt" value="([^"]+)"/)?.[1];
        const fields = prompt === 'login' ? { prompt, login, password: 'any' } : { prompt };
        next = new URL(action.replace(/&amp;/g, '&'), next).href;
        method = 'POST';
        form = new URLSearchParams(fields).toString();
      }
      throw new Error('the authorization server never redirected back');
    }

    /** login/start → the AS → the callback page URL, with the jar holding the login cookie. */
    async function startLogin(gw, jar) {
      const start = await call(gw, 'POST', `${BASE}/login/start`, jar, { body: {} });
      assert.equal(start.res.status, 200, JSON.stringify(start.json));
      jar.take(start.res);
      assert.ok(jar.get('__Host-ew-login'));
      return authorize(start.json.authorizationRequestUrl);
    }

    async function login(gw = gateway) {
      const jar = new Jar();
      const pageUrl = await startLogin(gw, jar);
      const end = await call(gw, 'POST', `${BASE}/login/end`, jar, { body: { pageUrl } });
      assert.equal(end.res.status, 200, JSON.stringify(end.json));
      assert.deepEqual(end.json, { handled: true, isLoggedIn: true });
      const fields = jar.take(end.res);
      return { jar, fields, pageUrl };
    }

    test('full login: four separate Set-Cookie fields, an API call with only cookies reaches the origin as the user', async () => {
      const { jar, fields, pageUrl } = await login();
      assert.match(pageUrl, /[?&]iss=/, 'RFC 9207 iss in the authorization response');
      assert.equal(fields.length, 4, fields.join('\n'));
      for (const field of fields) assert.match(field, /; HttpOnly; Secure; SameSite=Strict$/);
      assert.ok(fields.some((f) => f.startsWith('__Secure-ew-rt=v1.') && f.includes(`Path=${BASE}/refresh;`)));
      assert.ok(fields.some((f) => f.startsWith('__Host-ew-login=;') && f.includes('Max-Age=0')));
      for (const name of ['__Host-ew-at', '__Host-ew-id']) assert.match(jar.get(name), /^v1\./);
      const session = await call(gateway, 'GET', `${BASE}/session`, jar);
      assert.deepEqual(session.json, { isLoggedIn: true });
      const claims = await call(gateway, 'GET', `${BASE}/claims`, jar);
      assert.equal(claims.json.sub, 'alice');
      const before = origin.requests.length;
      const api = await call(gateway, 'GET', '/orders/1', jar);
      assert.equal(api.res.status, 200, JSON.stringify(api.json));
      assert.equal(origin.requests.length, before + 1);
      const seen = origin.requests.at(-1);
      assert.equal(seen.headers['x-edgeward-sub'], 'alice');
      assert.equal(seen.headers.cookie, undefined, 'the cookie field is never forwarded');
      assert.equal(api.res.headers.get('access-control-allow-origin'), spa);
      assert.equal(api.res.headers.get('access-control-allow-credentials'), 'true');
    });

    test('refresh after the access token expired: 401, then refresh (rotated), then the API works again', async () => {
      const { jar } = await login();
      await new Promise((r) => setTimeout(r, (TOKEN_TTL + 1.5) * 1000));
      const expired = await call(gateway, 'GET', '/orders/2', jar);
      assert.equal(expired.res.status, 401);
      assert.equal(expired.json.code, 'ERR_JWT_EXPIRED');
      assert.equal(expired.res.headers.get('access-control-allow-origin'), spa, 'the page can read the refusal');
      const old = jar.clone();
      const refresh = await call(gateway, 'POST', `${BASE}/refresh`, jar);
      assert.equal(refresh.res.status, 204, JSON.stringify(refresh.json));
      const fields = jar.take(refresh.res);
      assert.equal(fields.length, 3, fields.join('\n'));
      assert.notEqual(jar.get('__Secure-ew-rt'), old.get('__Secure-ew-rt'));
      const api = await call(gateway, 'GET', '/orders/2', jar);
      assert.equal(api.res.status, 200, JSON.stringify(api.json));
      assert.equal(origin.requests.at(-1).headers['x-edgeward-sub'], 'alice');
      // Rotation: the old refresh token was consumed; replaying its cookie ends that session.
      const replay = await call(gateway, 'POST', `${BASE}/refresh`, old);
      assert.equal(replay.res.status, 401);
      assert.equal(replay.json.code, 'ERR_SESSION_EXPIRED');
    });

    test('logout clears every cookie and returns the RP-initiated logout URL', async () => {
      const { jar } = await login();
      const logout = await call(gateway, 'POST', `${BASE}/logout`, jar);
      assert.equal(logout.res.status, 200);
      const url = new URL(logout.json.url);
      assert.equal(`${url.origin}${url.pathname}`, `${as.issuer}/session/end`);
      const issued = await (await fetch(`${as.issuer}/_spa_tokens`)).json();
      assert.ok(issued.includes(url.searchParams.get('id_token_hint')), 'id_token_hint is the session\'s ID token');
      assert.equal(url.searchParams.get('post_logout_redirect_uri'), `${spa}/`);
      assert.equal(url.searchParams.get('client_id'), 'edgeward-spa');
      const cleared = jar.take(logout.res);
      assert.equal(cleared.length, 4);
      assert.equal(jar.cookies.size, 0);
      // The AS accepts the logout request (its confirmation page, not an error).
      const page = await fetch(url, { redirect: 'manual' });
      assert.equal(page.status, 200, await page.text());
      const after = await call(gateway, 'GET', '/orders/3', jar);
      assert.equal(after.res.status, 401);
      const session = await call(gateway, 'GET', `${BASE}/session`, jar);
      assert.deepEqual(session.json, { isLoggedIn: false });
    });

    test('a tampered, truncated or foreign cookie is 401, never 500', async () => {
      const { jar } = await login();
      const good = jar.get('__Host-ew-at');
      const flip = good.slice(0, -2) + (good.at(-2) === 'A' ? 'B' : 'A') + good.at(-1);
      for (const [bad, code] of [
        [flip, 'ERR_COOKIE_INVALID'],
        // Truncated: the tag fails, or (by where the cut falls) the base64url no longer decodes.
        [good.slice(0, -12), /^ERR_COOKIE_(INVALID|MALFORMED)$/],
        [jar.get('__Host-ew-id'), 'ERR_COOKIE_INVALID'],
        ['v1.AAAA', 'ERR_COOKIE_MALFORMED'],
        [good.replace(/^v1\./, 'v9.'), 'ERR_COOKIE_KEY_UNKNOWN'],
      ]) {
        const tampered = jar.clone();
        tampered.cookies.get('__Host-ew-at').value = bad;
        const api = await call(gateway, 'GET', '/orders/4', tampered);
        assert.equal(api.res.status, 401, bad);
        if (code instanceof RegExp) assert.match(api.json.code, code);
        else assert.equal(api.json.code, code);
      }
      assert.ok(!gateway.log().includes(good.slice(3, 40)), 'no cookie value in the log');
    });

    test('a replayed or foreign state is 400 and never a session', async () => {
      const jar = new Jar();
      const pageUrl = await startLogin(gateway, jar);
      const loginJar = jar.clone();
      const foreign = pageUrl.replace(/state=[^&]+/, 'state=forged');
      const forged = await call(gateway, 'POST', `${BASE}/login/end`, jar, { body: { pageUrl: foreign } });
      assert.equal(forged.res.status, 400);
      assert.equal(forged.json.code, 'ERR_INVALID_STATE');
      assert.equal(forged.res.headers.getSetCookie().length, 0);
      const first = await call(gateway, 'POST', `${BASE}/login/end`, jar, { body: { pageUrl } });
      assert.equal(first.res.status, 200);
      jar.take(first.res);
      // The browser's own replay: the login cookie is gone.
      const replay = await call(gateway, 'POST', `${BASE}/login/end`, jar, { body: { pageUrl } });
      assert.equal(replay.res.status, 400);
      assert.equal(replay.json.code, 'ERR_INVALID_STATE');
      // An attacker who kept the login cookie: the AS refuses the spent code.
      const kept = await call(gateway, 'POST', `${BASE}/login/end`, loginJar, { body: { pageUrl } });
      assert.equal(kept.res.status, 400);
      assert.equal(kept.json.code, 'ERR_GRANT_INVALID');
      assert.equal(kept.res.headers.getSetCookie().length, 0);
    });

    test('an untrusted Origin or a missing CSRF header is refused, without CORS fields', async () => {
      const { jar } = await login();
      for (const [headers, code] of [
        [{ origin: 'http://evil.localhost:1234' }, 'ERR_ORIGIN_UNTRUSTED'],
        [{ origin: null }, 'ERR_ORIGIN_UNTRUSTED'],
        [{ 'token-handler-version': null }, 'ERR_CSRF_HEADER_MISSING'],
      ]) {
        for (const [method, path] of [['GET', '/orders/5'], ['GET', `${BASE}/session`], ['POST', `${BASE}/refresh`], ['POST', `${BASE}/logout`]]) {
          const before = origin.requests.length;
          const res = await call(gateway, method, path, jar, { headers });
          assert.equal(res.res.status, 403, `${method} ${path} ${JSON.stringify(headers)}`);
          assert.equal(res.json.code, code);
          assert.equal(res.res.headers.getSetCookie().length, 0, 'the session is left alone');
          assert.equal(origin.requests.length, before);
          if (headers.origin !== undefined) assert.equal(res.res.headers.get('access-control-allow-origin'), null);
        }
      }
    });

    test('preflights are answered for the trusted origin only', async () => {
      for (const path of [`${BASE}/login/start`, '/orders/6']) {
        const ok = await fetch(`${gateway.url}${path}`, {
          method: 'OPTIONS',
          headers: { origin: spa, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,token-handler-version' },
        });
        assert.equal(ok.status, 204);
        assert.equal(ok.headers.get('access-control-allow-origin'), spa);
        assert.equal(ok.headers.get('access-control-allow-credentials'), 'true');
        assert.match(ok.headers.get('access-control-allow-headers'), /token-handler-version/);
        assert.match(ok.headers.get('access-control-allow-methods'), /POST/);
        assert.equal(ok.headers.get('access-control-max-age'), '600');
        assert.match(ok.headers.get('vary'), /origin/i);
        const refused = await fetch(`${gateway.url}${path}`, {
          method: 'OPTIONS',
          headers: { origin: 'http://evil.localhost:1234', 'access-control-request-method': 'POST' },
        });
        assert.equal(refused.status, 403);
        assert.equal((await refused.json()).code, 'ERR_ORIGIN_UNTRUSTED');
        assert.equal(refused.headers.get('access-control-allow-origin'), null);
      }
    });

    test('AS down is 503; a client the AS refuses is 400', async () => {
      const down = await call(asDown, 'POST', `${BASE}/login/start`, new Jar(), { body: {} });
      assert.equal(down.res.status, 503);
      assert.equal(down.json.code, 'ERR_UPSTREAM_UNAVAILABLE');
      const jar = new Jar();
      const pageUrl = await startLogin(wrongSecret, jar);
      const end = await call(wrongSecret, 'POST', `${BASE}/login/end`, jar, { body: { pageUrl } });
      assert.equal(end.res.status, 400);
      assert.equal(end.json.code, 'ERR_AGENT_CLIENT_REJECTED');
      assert.equal(end.res.headers.getSetCookie().length, 0);
    });

    test('PAR (RFC 9126): the authorization URL carries only a request_uri, and the login completes', async () => {
      const start = await call(pushed, 'POST', `${BASE}/login/start`, new Jar(), { body: {} });
      assert.equal(start.res.status, 200, JSON.stringify(start.json));
      const url = new URL(start.json.authorizationRequestUrl);
      assert.deepEqual([...url.searchParams.keys()].sort(), ['client_id', 'request_uri']);
      assert.match(url.searchParams.get('request_uri'), /^urn:ietf:params:oauth:request_uri:/);
      const { jar } = await login(pushed);
      const api = await call(pushed, 'GET', '/orders/7', jar);
      assert.equal(api.res.status, 200, JSON.stringify(api.json));
      assert.equal(origin.requests.at(-1).headers['x-edgeward-sub'], 'alice');
    });

    test('no token issued to the SPA appears in any response body', async () => {
      const tokens = await (await fetch(`${as.issuer}/_spa_tokens`)).json();
      assert.ok(tokens.length >= 6, `tokens issued: ${tokens.length}`);
      assert.ok(bodies.length > 20);
      for (const body of bodies) {
        for (const token of tokens) {
          // The logout URL carries the ID token as id_token_hint, addressed to the AS.
          if (body.includes('"url"') && body.includes('id_token_hint')) continue;
          assert.ok(!body.includes(token), `a token in a response body: ${body.slice(0, 200)}`);
        }
      }
    });
  });
}
