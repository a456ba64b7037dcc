// A small single-page app for the token handler (the gateway's OAuth agent + OAuth proxy): static
// HTML and plain JavaScript from scripts/lib/spa/, no build step. It holds no token: the gateway keeps
// them in HttpOnly cookies, and the page only calls the agent and the API with credentials.
// Usage: node spa.mjs PORT GATEWAY_URL [AGENT_BASE_PATH (default /oauth-agent)] [API_PATH (default /api/orders)]
// Serves the app at http://localhost:PORT/ (and /callback, where the AS sends the browser back);
// GET /config.json tells the page where the gateway is. Prints one JSON line when ready: { url }.
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const [port = '8090', gateway = 'http://localhost:8787', agentBasePath = '/oauth-agent', apiPath = '/api/orders'] = process.argv.slice(2);
const dir = join(dirname(fileURLToPath(import.meta.url)), 'spa');
const files = {
  '/': ['index.html', 'text/html; charset=utf-8'],
  '/callback': ['index.html', 'text/html; charset=utf-8'],
  '/app.js': ['app.js', 'text/javascript; charset=utf-8'],
  '/app.css': ['app.css', 'text/css; charset=utf-8'],
};
const config = JSON.stringify({ gateway, agentBasePath, apiPath });
// The page may talk to itself and to the gateway only; no inline script or style, no framing.
const csp = `default-src 'self'; connect-src 'self' ${new URL(gateway).origin}; frame-ancestors 'none'; base-uri 'none'; form-action 'none'`;

createServer((req, res) => {
  const path = new URL(req.url, 'http://spa').pathname;
  const headers = { 'cache-control': 'no-store', 'content-security-policy': csp, 'x-content-type-options': 'nosniff' };
  if (req.method !== 'GET') {
    res.writeHead(405, headers);
    return res.end();
  }
  if (path === '/config.json') {
    res.writeHead(200, { ...headers, 'content-type': 'application/json' });
    return res.end(config);
  }
  const file = files[path];
  if (!file) {
    res.writeHead(404, { ...headers, 'content-type': 'text/plain' });
    return res.end('not found\n');
  }
  res.writeHead(200, { ...headers, 'content-type': file[1] });
  return res.end(readFileSync(join(dir, file[0])));
}).listen(Number(port), '127.0.0.1', () => console.log(JSON.stringify({ url: `http://localhost:${port}/` })));
