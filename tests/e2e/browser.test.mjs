// The token handler (issue #16) in a real browser, on both runtimes: headless Debian Chromium driven
// by puppeteer-core, the SPA of scripts/lib/spa.mjs at http://localhost:SPA, the gateway (OAuth agent +
// OAuth proxy) at http://localhost:GW — same site, so its SameSite=Strict cookies go along — and
// oidc-provider with its own login and consent pages. Checked: the whole login through the AS's pages;
// an API call with the cookie reaches the origin as the right user; no token is visible to the page
// (cookies, storage, every response body the page received); refresh after the access token expired;
// a tampered cookie; a page on another site (http://127.0.0.1:OTHER) can call neither the API nor the
// agent; logout (cookies cleared, the AS's session ended); a replayed `state`.
// Chromium missing is a failure, never a skip (scripts/setup installs it).
import { describe, before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { randomBytes } from 'node:crypto';
import { mkdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { RUNTIMES, ROOT, freePort, startAuthServer, startOrigin, startGateway } from './lib/harness.mjs';
import { launchBrowser } from './lib/browser.mjs';

const AGENT = '/oauth-agent';
/** Access-token lifetime at the AS for the SPA: short, so that the test sees one expire. */
const ACCESS_TOKEN_TTL = 4;
const COOKIES = { at: '__Host-ew-at', id: '__Host-ew-id', rt: '__Secure-ew-rt', login: '__Host-ew-login' };
/** Where the screenshot of the logged-in SPA goes (docs/img/token-handler.png when the docs' copy is
 *  renewed: EDGEWARD_E2E_SCREENSHOT=docs/img/token-handler.png). */
const SCREENSHOT = process.env.EDGEWARD_E2E_SCREENSHOT
  ? join(ROOT, process.env.EDGEWARD_E2E_SCREENSHOT) : join(tmpdir(), 'edgeward-token-handler.png');

/** Starts scripts/lib/spa.mjs on a port, talking to the gateway at `gateway`. */
async function startSpa(port, gateway) {
  const child = spawn(process.execPath, [join(ROOT, 'scripts', 'lib', 'spa.mjs'), String(port), gateway],
    { stdio: ['ignore', 'pipe', 'inherit'] });
  const kill = () => child.kill('SIGKILL');
  process.on('exit', kill); // even when a hook failed half-way
  await new Promise((resolve, reject) => {
    child.stdout.on('data', (d) => { if (String(d).includes('"url"')) resolve(); });
    child.on('exit', (code) => reject(new Error(`spa.mjs exited with ${code}`)));
  });
  return { stop: () => new Promise((r) => { process.off('exit', kill); child.once('exit', r); child.kill('SIGTERM'); }) };
}

/** A page on another site (127.0.0.1 is not the same site as localhost). */
async function startOtherSite(port) {
  const server = createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end('<!DOCTYPE html><title>another site</title><p>another site</p>');
  });
  await new Promise((r) => server.listen(port, '127.0.0.1', r));
  return { stop: () => new Promise((r) => { server.closeAllConnections(); server.close(r); }) };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const jwtPayload = (jwt) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString());

for (const runtime of RUNTIMES) {
  describe(`token handler in Chromium on ${runtime}`, () => {
    let as, origin, gateway, spa, other, chrome, page, cdp;
    let gw, spaUrl, otherUrl, callbackUrl;
    // Every response body the SPA's page received: [{ url, text }] (promises). Two sources: the
    // browser's response events (documents, scripts, fetches), and a wrapper around the page's own
    // fetch that hands each body it read to the test before the page goes on (the response events
    // lose a body when the page navigates away right after reading it, as login and logout do).
    const bodies = [];
    const pageErrors = []; // uncaught errors in the SPA (a CSP refusal of its own script would show here)

    before(async () => {
      const [spaPort, otherPort] = [await freePort(), await freePort()];
      spaUrl = `http://localhost:${spaPort}`;
      otherUrl = `http://127.0.0.1:${otherPort}`;
      as = await startAuthServer({ env: { EDGEWARD_AS_SPA_ORIGIN: spaUrl, EDGEWARD_AS_SPA_TOKEN_TTL: String(ACCESS_TOKEN_TTL) } });
      origin = await startOrigin();
      const config = {
        origin: origin.url,
        routes: [{ path: '/api/*', scopes_any: ['orders:read'], credential_cookie: true }],
        issuers: [{ issuer: as.issuer, audiences: [as.resources.jwt], jwks_uri: as.jwks_uri, leeway_seconds: 0 }],
        forwarding: { claim_headers: { sub: 'x-edgeward-sub' } },
        token_handler: {
          base_path: AGENT,
          issuer: as.issuer,
          client_id: as.clients.spa.client_id,
          client_auth: 'client_secret_basic',
          client_secret_name: 'EDGEWARD_AGENT_CLIENT_SECRET',
          redirect_uri: as.clients.spa.redirect_uri,
          post_logout_redirect_uri: as.clients.spa.post_logout_redirect_uri,
          scope: 'openid profile offline_access orders:read',
          authorization_params: { resource: as.resources.jwt },
          trusted_web_origins: [spaUrl],
          cookie_keys: [{ version: 1, secret: 'EDGEWARD_COOKIE_KEY' }],
          cookie_name_prefix: 'ew',
          csrf_header: 'token-handler-version',
          cors_max_age_seconds: 600,
        },
      };
      gateway = await startGateway(runtime, config, { vars: {
        EDGEWARD_AGENT_CLIENT_SECRET: as.clients.spa.client_secret,
        EDGEWARD_COOKIE_KEY: randomBytes(32).toString('hex'),
      }, fn: 'token-handler' });
      // The browser must reach the gateway by the SPA's host name, localhost (same site).
      gw = gateway.url.replace('127.0.0.1', 'localhost');
      spa = await startSpa(spaPort, gw);
      other = await startOtherSite(otherPort);
      chrome = await launchBrowser();
      page = await chrome.browser.newPage();
      cdp = await page.createCDPSession();
      page.on('request', (req) => {
        if (req.url().startsWith(`${spaUrl}/callback?`)) callbackUrl = req.url();
      });
      page.on('pageerror', (e) => pageErrors.push(String(e)));
      await page.exposeFunction('edgewardTestRead', (url, text) => { bodies.push(Promise.resolve({ url, text })); });
      await page.evaluateOnNewDocument(() => {
        const fetch = window.fetch.bind(window);
        window.fetch = async (...args) => {
          const res = await fetch(...args);
          await window.edgewardTestRead(res.url, await res.clone().text());
          return res;
        };
      });
      page.on('response', (res) => {
        if (res.request().method() === 'OPTIONS' || (res.status() >= 300 && res.status() < 400)) return;
        bodies.push(res.text().then((text) => ({ url: res.url(), text }), () => ({ url: res.url(), text: '' })));
      });
    });

    after(async () => {
      await chrome?.close();
      await Promise.all([gateway?.stop(), spa?.stop(), other?.stop(), origin?.close(), as?.stop()]);
    });

    /** The browser's cookies for the gateway, by name (HttpOnly ones included: read through CDP). */
    async function gatewayCookies() {
      const { cookies } = await cdp.send('Storage.getCookies');
      return Object.fromEntries(cookies.filter((c) => c.domain === 'localhost' && c.name.includes('-ew-')).map((c) => [c.name, c]));
    }

    async function setGatewayCookie(cookie, value) {
      const { name, path, expires } = cookie;
      const { success } = await cdp.send('Network.setCookie', {
        name, value, url: `${gw}${path}`, path, secure: true, httpOnly: true, sameSite: 'Strict',
        ...(expires > 0 ? { expires } : {}),
      });
      assert.ok(success, `Chromium refused to set ${name}`);
    }

    /** Clicks one of the SPA's buttons and waits for the result it reports. */
    async function click(id) {
      const seq = await page.$eval('#message', (m) => m.dataset.seq ?? '0');
      await page.click(`#${id}`);
      await page.waitForFunction((s) => document.getElementById('message').dataset.seq !== s, { timeout: 15_000 }, seq);
      return page.$eval('#message', (m) => ({ status: Number(m.dataset.status), text: m.textContent }));
    }

    /** A fetch made by the page itself (its origin, cookies and CORS rules); never throws. */
    function pageFetch(target, path, { method = 'GET', json, header = true, mode } = {}) {
      return target.evaluate(async (url, method, json, header, mode) => {
        const headers = header ? { 'token-handler-version': '1' } : {};
        if (json !== null) headers['content-type'] = 'application/json';
        try {
          const res = await fetch(url, { method, credentials: 'include', headers, mode,
            body: json === null ? undefined : JSON.stringify(json) });
          const text = await res.text();
          return { status: res.status, type: res.type, text };
        } catch (e) {
          return { status: 0, error: String(e) };
        }
      }, `${gw}${path}`, method, json ?? null, header, mode ?? 'cors');
    }

    async function waitReady() {
      await page.waitForSelector('body[data-ready="true"]', { timeout: 15_000 });
      return page.$eval('#logged-in', (e) => e.textContent);
    }

    test('login through the AS login and consent pages: HttpOnly Secure SameSite=Strict cookies, claims shown', async () => {
      await page.goto(`${spaUrl}/`);
      assert.equal(await waitReady(), 'no');
      await Promise.all([page.waitForNavigation(), page.click('#login')]);
      assert.ok(page.url().startsWith(`${as.issuer}/interaction/`), `not the AS login page: ${page.url()}`);
      await page.type('input[name=login]', 'alice');
      await page.type('input[name=password]', 'any password');
      await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
      assert.match(await page.content(), /name="prompt" value="consent"/, 'the consent page follows the login page');
      await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
      assert.equal(await waitReady(), 'yes', `login end failed: ${await page.$eval('#message', (m) => m.textContent)}`);
      // The AS sent the browser back with code, state and (RFC 9207) iss; the SPA dropped them.
      const back = new URL(callbackUrl);
      assert.ok(back.searchParams.get('code') && back.searchParams.get('state'), callbackUrl);
      assert.equal(back.searchParams.get('iss'), as.issuer);
      assert.equal(page.url(), `${spaUrl}/`);
      const claims = JSON.parse(await page.$eval('#claims', (e) => e.textContent));
      assert.equal(claims.sub, 'alice');
      assert.equal(claims.aud, 'edgeward-spa');
      assert.equal(claims.iss, as.issuer);

      const cookies = await gatewayCookies();
      for (const name of [COOKIES.at, COOKIES.id, COOKIES.rt]) {
        const c = cookies[name];
        assert.ok(c, `${name} missing; cookies: ${Object.keys(cookies)}`);
        assert.ok(c.httpOnly && c.secure, `${name} must be HttpOnly and Secure`);
        assert.equal(c.sameSite, 'Strict', name);
        assert.ok(/^v1\./.test(c.value), `${name} is not an encrypted cookie: ${c.value.slice(0, 12)}…`);
      }
      assert.equal(cookies[COOKIES.at].path, '/');
      assert.equal(cookies[COOKIES.rt].path, `${AGENT}/refresh`, 'the refresh token goes to the refresh endpoint only');
      assert.equal(cookies[COOKIES.login], undefined, 'the login cookie is cleared after login end');
    });

    test('an API call with credentials reaches the origin as alice, without the cookie field', async () => {
      const before = origin.requests.length;
      const result = await click('call-api');
      assert.equal(result.status, 200, result.text);
      assert.equal(origin.requests.length, before + 1);
      const seen = origin.requests.at(-1);
      assert.equal(seen.url, '/api/orders');
      assert.equal(seen.headers['x-edgeward-sub'], 'alice');
      assert.equal(seen.headers.cookie, undefined, 'the cookie field must not reach the origin');
      assert.equal(seen.headers.authorization, undefined);
      const shown = JSON.parse(await page.$eval('#api-result', (e) => e.textContent));
      assert.equal(shown.headers['x-edgeward-sub'], 'alice');
      mkdirSync(dirname(SCREENSHOT), { recursive: true });
      await page.screenshot({ path: SCREENSHOT, fullPage: true });
      assert.ok(statSync(SCREENSHOT).size > 10_000, 'screenshot written');
    });

    test('no token is visible to the page: document.cookie, storage, response bodies', async () => {
      const seen = await page.evaluate(() => ({
        cookie: document.cookie, local: localStorage.length, session: sessionStorage.length,
      }));
      assert.deepEqual(seen, { cookie: '', local: 0, session: 0 });
      const tokens = await (await fetch(`${as.issuer}/_spa_tokens`)).json();
      assert.ok(tokens.length >= 3, 'the AS issued an access, an ID and a refresh token');
      const cookieValues = Object.values(await gatewayCookies()).map((c) => c.value);
      const read = await Promise.all(bodies);
      assert.ok(read.some((b) => b.url.startsWith(`${gw}${AGENT}/claims`)), 'the page read the claims');
      assert.ok(read.some((b) => b.url.startsWith(`${gw}/api/`)), 'the page read the API answer');
      for (const { url, text } of read) {
        for (const secret of [...tokens, ...cookieValues]) {
          assert.ok(!text.includes(secret), `a token or cookie value reached the page in ${url}`);
        }
        assert.doesNotMatch(text, /eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+/, `a JWT reached the page in ${url}`);
      }
    });

    test('the access token expires; refresh (the refresh token rotated) makes the API answer again', async () => {
      const tokens = await (await fetch(`${as.issuer}/_spa_tokens`)).json();
      const exp = jwtPayload(tokens.find((t) => jwtPayload(t).aud === as.resources.jwt)).exp;
      await sleep(Math.max(0, (exp + 1) * 1000 - Date.now()));
      const before = origin.requests.length;
      const expired = await click('call-api');
      assert.equal(expired.status, 401, expired.text);
      assert.match(expired.text, /ERR_JWT_EXPIRED/, 'the page can read why (CORS fields on the refusal)');
      assert.equal(origin.requests.length, before, 'an expired token never reaches the origin');

      const old = await gatewayCookies();
      const asCalls = (await as.stats()).token_requests;
      const refreshed = await click('refresh');
      assert.equal(refreshed.status, 204, refreshed.text);
      assert.equal((await as.stats()).token_requests, asCalls + 1);
      const now = await gatewayCookies();
      assert.notEqual(now[COOKIES.at].value, old[COOKIES.at].value, 'a new access-token cookie');
      assert.notEqual(now[COOKIES.rt].value, old[COOKIES.rt].value, 'a new refresh-token cookie (rotation)');
      const again = await click('call-api');
      assert.equal(again.status, 200, again.text);
      assert.equal(origin.requests.at(-1).headers['x-edgeward-sub'], 'alice');
    });

    test('a page on another site can call neither the API nor the agent', async () => {
      const before = origin.requests.length;
      const foreign = await chrome.browser.newPage();
      try {
        await foreign.goto(`${otherUrl}/`);
        for (const path of ['/api/orders', `${AGENT}/session`, `${AGENT}/claims`]) {
          const r = await pageFetch(foreign, path);
          assert.equal(r.status, 0, `${path} answered a foreign page: ${JSON.stringify(r)}`);
        }
        for (const path of [`${AGENT}/refresh`, `${AGENT}/logout`, `${AGENT}/login/start`]) {
          const r = await pageFetch(foreign, path, { method: 'POST', json: {} });
          assert.equal(r.status, 0, `${path} answered a foreign page: ${JSON.stringify(r)}`);
        }
        // Requests that need no preflight: the browser sends them, the page cannot read the answer,
        // and they change nothing (a cross-site POST does not log the user out).
        const simple = await pageFetch(foreign, `${AGENT}/logout`, { method: 'POST', header: false, mode: 'no-cors' });
        assert.equal(simple.type, 'opaque');
        await pageFetch(foreign, '/api/orders', { header: false, mode: 'no-cors' });
      } finally {
        await foreign.close();
      }
      assert.equal(origin.requests.length, before, 'no request from the other site reached the origin');
      const session = await pageFetch(page, `${AGENT}/session`);
      assert.equal(session.status, 200);
      assert.equal(JSON.parse(session.text).isLoggedIn, true, 'the session survived the other site');

      // The gateway itself refuses the foreign origin, even with valid cookies (not only the browser).
      const preflight = await fetch(`${gateway.url}/api/orders`, { method: 'OPTIONS', headers: {
        origin: otherUrl, 'access-control-request-method': 'GET', 'access-control-request-headers': 'token-handler-version' } });
      await preflight.arrayBuffer();
      assert.equal(preflight.status, 403);
      assert.equal(preflight.headers.get('access-control-allow-origin'), null);
      const trusted = await fetch(`${gateway.url}/api/orders`, { method: 'OPTIONS', headers: {
        origin: spaUrl, 'access-control-request-method': 'GET', 'access-control-request-headers': 'token-handler-version' } });
      await trusted.arrayBuffer();
      assert.equal(trusted.status, 204);
      assert.equal(trusted.headers.get('access-control-allow-origin'), spaUrl);
      assert.equal(trusted.headers.get('access-control-allow-credentials'), 'true');
      const cookie = Object.values(await gatewayCookies()).filter((c) => c.path === '/').map((c) => `${c.name}=${c.value}`).join('; ');
      for (const [from, header, code] of [[otherUrl, true, 'ERR_ORIGIN_UNTRUSTED'], [undefined, true, 'ERR_ORIGIN_UNTRUSTED'],
        [spaUrl, false, 'ERR_CSRF_HEADER_MISSING']]) {
        const res = await fetch(`${gateway.url}/api/orders`, { headers: {
          cookie, ...(from ? { origin: from } : {}), ...(header ? { 'token-handler-version': '1' } : {}) } });
        const body = await res.json();
        assert.equal(res.status, 403, `origin ${from}, header ${header}: ${JSON.stringify(body)}`);
        assert.equal(body.code, code);
        assert.equal(res.headers.get('access-control-allow-origin'), from === spaUrl ? spaUrl : null);
      }
      assert.equal(origin.requests.length, before, 'the refused requests never reached the origin');
    });

    test('a tampered or truncated access-token cookie is 401, never the origin; the real one still works', async () => {
      const real = (await gatewayCookies())[COOKIES.at];
      const at = 20 + (real.value.length - 24) / 2 | 0;
      const flipped = real.value.slice(0, at) + (real.value[at] === 'A' ? 'B' : 'A') + real.value.slice(at + 1);
      const before = origin.requests.length;
      for (const [value, code] of [[flipped, /ERR_COOKIE_INVALID/], [real.value.slice(0, -10), /ERR_COOKIE_(INVALID|MALFORMED)/]]) {
        await setGatewayCookie(real, value);
        const result = await click('call-api');
        assert.equal(result.status, 401, result.text);
        assert.match(result.text, code);
        assert.ok(!gateway.log().includes(value), 'the gateway logs no cookie value');
      }
      assert.equal(origin.requests.length, before);
      await setGatewayCookie(real, real.value);
      assert.equal((await click('call-api')).status, 200);
    });

    test('logout clears every cookie and ends the AS session; the API is then 401', async () => {
      const beforeLogout = await gatewayCookies();
      await Promise.all([page.waitForNavigation(), page.click('#logout')]);
      // The AS's RP-initiated logout page (end_session_endpoint), then back to the SPA.
      assert.ok(page.url().startsWith(`${as.issuer}/session/end`), page.url());
      assert.ok(new URL(page.url()).searchParams.get('id_token_hint'), 'the logout URL carries id_token_hint');
      await Promise.all([page.waitForNavigation(), page.click('button[name=logout][value=yes]')]);
      assert.equal(await waitReady(), 'no');
      assert.equal(page.url(), `${spaUrl}/`);
      const left = await gatewayCookies();
      for (const name of [COOKIES.at, COOKIES.id, COOKIES.rt]) assert.equal(left[name], undefined, `${name} still set`);
      const before = origin.requests.length;
      const api = await pageFetch(page, '/api/orders');
      assert.equal(api.status, 401, api.text);
      assert.equal(origin.requests.length, before);
      const session = await pageFetch(page, `${AGENT}/session`);
      assert.equal(JSON.parse(session.text).isLoggedIn, false);
      assert.equal((await pageFetch(page, `${AGENT}/claims`)).status, 401);
      assert.equal((await pageFetch(page, `${AGENT}/refresh`, { method: 'POST' })).status, 401, 'no refresh cookie');
      // A refresh token used before (rotated away by the refresh above) is refused too.
      await setGatewayCookie(beforeLogout[COOKIES.rt], beforeLogout[COOKIES.rt].value);
      const replayed = await pageFetch(page, `${AGENT}/refresh`, { method: 'POST' });
      assert.equal(replayed.status, 401, replayed.text);
      assert.equal(JSON.parse(replayed.text).code, 'ERR_SESSION_EXPIRED');
      assert.equal(JSON.parse((await pageFetch(page, `${AGENT}/session`)).text).isLoggedIn, false);
      // Since login, the one token the page ever received is the ID token as the logout URL's
      // id_token_hint (for the AS); never an access or a refresh token.
      const tokens = await (await fetch(`${as.issuer}/_spa_tokens`)).json();
      const isIdToken = (t) => t.split('.').length === 3 && jwtPayload(t).aud === as.clients.spa.client_id;
      let hints = 0;
      for (const { url, text } of await Promise.all(bodies)) {
        for (const token of tokens.filter((t) => text.includes(t))) {
          assert.ok(url === `${gw}${AGENT}/logout` && isIdToken(token), `a token reached the page in ${url}`);
          hints += 1;
        }
      }
      assert.ok(hints >= 1, 'the logout answer was seen, with its ID token hint');
    });

    test('a replayed state is 400 and never a session; the AS is not asked', async () => {
      const asCalls = (await as.stats()).token_requests;
      const replay = await pageFetch(page, `${AGENT}/login/end`, { method: 'POST', json: { pageUrl: callbackUrl } });
      assert.equal(replay.status, 400, replay.text);
      assert.equal(JSON.parse(replay.text).code, 'ERR_INVALID_STATE');
      // With a fresh login under way (a new login cookie, a new state), the old answer is foreign.
      const start = await pageFetch(page, `${AGENT}/login/start`, { method: 'POST', json: {} });
      assert.equal(start.status, 200, start.text);
      assert.ok((await gatewayCookies())[COOKIES.login], 'login start sets the login cookie');
      const foreign = await pageFetch(page, `${AGENT}/login/end`, { method: 'POST', json: { pageUrl: callbackUrl } });
      assert.equal(foreign.status, 400, foreign.text);
      assert.equal(JSON.parse(foreign.text).code, 'ERR_INVALID_STATE');
      assert.equal((await as.stats()).token_requests, asCalls, 'no code was exchanged');
      assert.equal(JSON.parse((await pageFetch(page, `${AGENT}/session`)).text).isLoggedIn, false);
      assert.equal((await pageFetch(page, '/api/orders')).status, 401);
      assert.deepEqual(pageErrors, [], 'the SPA ran without an uncaught error');
    });
  });
}
