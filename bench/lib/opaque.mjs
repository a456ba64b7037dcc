// Mints opaque access tokens at the bench's authorization server (scripts/lib/auth-server.mjs):
//   node opaque.mjs AS_URL COUNT OUT_FILE
// client_credentials for the opaque resource, 16 requests in flight; one token per line.
import { writeFileSync } from 'node:fs';

const [, , base, count, outFile] = process.argv;
const wanted = Number(count);
const auth = `Basic ${Buffer.from('demo-app:demo-app-secret').toString('base64')}`;
const tokens = [];
let asked = 0;

async function mint() {
  while (asked < wanted) {
    asked += 1;
    const res = await fetch(`${base}/token`, {
      method: 'POST',
      headers: { authorization: auth, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', resource: 'https://api.opaque.edgeward.test', scope: 'orders:read' }),
    });
    const body = await res.json();
    if (!res.ok || !body.access_token) throw new Error(`token endpoint answered ${res.status}: ${JSON.stringify(body)}`);
    tokens.push(body.access_token);
  }
}

await Promise.all(Array.from({ length: 16 }, mint));
writeFileSync(outFile, `${tokens.join('\n')}\n`);
