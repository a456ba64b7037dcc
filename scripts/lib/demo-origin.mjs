// A demo origin API: prints every request it receives (method, path, the headers the gateway
// forwarded) and answers with a small JSON echo. Usage: node demo-origin.mjs PORT
import { createServer } from 'node:http';

const port = Number(process.argv[2] || 8081);
createServer((req, res) => {
  const forwarded = Object.entries(req.headers)
    .filter(([name]) => !['host', 'connection', 'accept-encoding', 'user-agent', 'accept'].includes(name))
    .map(([name, value]) => `${name}: ${value}`);
  console.log(`[origin] ${req.method} ${req.url}${forwarded.length ? '\n         ' + forwarded.join('\n         ') : ''}`);
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ origin: 'demo', method: req.method, path: req.url, received_headers: req.headers }) + '\n');
  });
}).listen(port, '127.0.0.1', () => console.log(`[origin] listening on http://127.0.0.1:${port}`));
