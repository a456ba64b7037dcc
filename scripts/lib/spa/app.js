// The token handler demo SPA: no token ever reaches this code. Every call to the gateway (its OAuth
// agent and the API) sends the cookies it set (`credentials: "include"`) and the custom header that
// makes the browser send a CORS preflight first (the gateway's CSRF defence).
const config = await (await fetch('/config.json')).json();
const agent = config.gateway + config.agentBasePath;
const $ = (id) => document.getElementById(id);
let reports = 0;

/** One call to the gateway; resolves with { status, body } (body parsed when it is JSON). */
async function call(method, url, json) {
  const headers = { 'token-handler-version': '1' };
  if (json !== undefined) headers['content-type'] = 'application/json';
  try {
    const res = await fetch(url, {
      method, credentials: 'include', headers, body: json === undefined ? undefined : JSON.stringify(json),
    });
    const text = await res.text();
    let body = text;
    try { body = text ? JSON.parse(text) : null; } catch { /* not JSON: shown as text */ }
    return { status: res.status, body };
  } catch (e) {
    return { status: 0, body: { error: 'network', error_description: String(e) } };
  }
}

const show = (value) => (value == null ? '' : typeof value === 'string' ? value : JSON.stringify(value, null, 2));

function report(what, result) {
  const ok = result.status >= 200 && result.status < 300;
  const detail = ok ? '' : ` ${result.body?.code ?? result.body?.error ?? ''}`;
  $('message').textContent = `${what}: ${result.status || 'failed'}${detail}`;
  $('message').dataset.status = String(result.status);
  $('message').dataset.seq = String(++reports);
  return ok;
}

function setLoggedIn(loggedIn) {
  $('logged-in').textContent = loggedIn ? 'yes' : 'no';
  $('logged-in').className = loggedIn ? 'yes' : 'no';
  $('login').disabled = loggedIn;
  for (const id of ['call-api', 'refresh', 'logout']) $(id).disabled = !loggedIn;
}

async function showClaims() {
  const result = await call('GET', `${agent}/claims`);
  $('claims').textContent = result.status === 200 ? show(result.body) : '';
}

async function login() {
  const result = await call('POST', `${agent}/login/start`, {});
  if (report('login start', result)) location.assign(result.body.authorizationRequestUrl);
}

async function callApi() {
  const result = await call('GET', config.gateway + config.apiPath);
  report('API', result);
  $('api-result').textContent = show(result.body);
}

async function refresh() {
  const result = await call('POST', `${agent}/refresh`);
  report('refresh', result);
  if (result.status === 401) setLoggedIn(false);
}

async function logout() {
  const result = await call('POST', `${agent}/logout`);
  if (!report('logout', result)) return;
  setLoggedIn(false);
  $('claims').textContent = '';
  $('api-result').textContent = '';
  // The AS ends its own session too (RP-initiated logout) and sends the browser back here.
  if (result.body?.url) location.assign(result.body.url);
}

/** On /callback: hands the whole page URL (code, state, iss — or the AS's error) to the agent,
 *  then drops them from the address bar and history. Elsewhere: asks whether there is a session. */
async function start() {
  let loggedIn;
  if (location.pathname === '/callback') {
    const result = await call('POST', `${agent}/login/end`, { pageUrl: location.href });
    history.replaceState(null, '', '/');
    report('login end', result);
    loggedIn = result.status === 200 && result.body?.isLoggedIn === true;
  } else {
    const result = await call('GET', `${agent}/session`);
    loggedIn = result.status === 200 && result.body?.isLoggedIn === true;
  }
  setLoggedIn(loggedIn);
  if (loggedIn) await showClaims();
  document.body.dataset.ready = 'true';
}

$('login').addEventListener('click', login);
$('call-api').addEventListener('click', callApi);
$('refresh').addEventListener('click', refresh);
$('logout').addEventListener('click', logout);
await start();
