// The demo origin API: prints every request it receives (method, path, the edgeward headers) and
// checks the gateway's signed assertion and RFC 9421 signature with the JavaScript origin verifier
// (verifier/js). Usage: node demo-origin.mjs PORT GATEWAY_JWKS_URL
import { createServer } from 'node:http';
import { join, dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const [port = '8081', jwksUrl] = process.argv.slice(2);
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const { Verifier } = await import(pathToFileURL(join(root, 'verifier', 'js', 'edgeward-verifier.mjs')).href);
let verifier;

async function check(req) {
  if (!jwksUrl) return 'not checked (no gateway JWKS given)';
  try {
    verifier ??= new Verifier({ jwks: await (await fetch(jwksUrl)).json(), gatewayId: 'edgeward-demo',
      claimHeaders: ['x-edgeward-sub', 'x-edgeward-scope'] });
    const { claims } = await verifier.verify({ method: req.method, targetUri: `http://127.0.0.1:${port}${req.url}`, headers: req.headers });
    return `VERIFIED (gateway signature and assertion; sub=${claims.sub ?? '-'})`;
  } catch (e) {
    return `REJECTED (${e.code ?? e.message})`;
  }
}

createServer(async (req, res) => {
  const shown = Object.entries(req.headers).filter(([n]) => n.startsWith('x-edgeward-') && n !== 'x-edgeward-assertion');
  const verdict = await check(req);
  console.log(`[origin] ${req.method} ${req.url}  ${verdict}` + shown.map(([n, v]) => `\n         ${n}: ${v}`).join(''));
  req.resume();
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ origin: 'demo', path: req.url, gateway_signature: verdict,
    edgeward_headers: Object.fromEntries(shown) }) + '\n');
}).listen(Number(port), '127.0.0.1', () => console.log(`[origin] listening on http://127.0.0.1:${port}`));
