// scripts/serve hands the configuration and the secrets to every runtime without a command line:
// `ps` shows every process's arguments to every user, so neither may appear in them. A secret with
// the characters shells, dotenv files and wrangler's $-expansion care about must still arrive
// unchanged: here it is the introspection client secret, which the gateway sends to the
// authorization server in HTTP Basic credentials, where this test reads it back.
import { describe, before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { readdirSync, readFileSync } from 'node:fs';
import { RUNTIMES, freePort, startOrigin, startGateway } from './lib/harness.mjs';

const SECRET = `it's a $HOME and \${PATH} "secret" \\$x \\n # not a comment\nsecond line`;
const MARKER = 'edgeward-serve-test-config-marker';

/** An introspection endpoint that records the Basic credentials and says every token is active. */
async function startRecordingAs() {
  const seen = [];
  const server = createServer((req, res) => {
    seen.push(req.headers.authorization ?? '');
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ active: true, sub: 'alice', aud: 'https://api.e2e.test', exp: Math.floor(Date.now() / 1000) + 60 }));
    });
  });
  const port = await freePort();
  await new Promise((r) => server.listen(port, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${port}/introspect`, seen, close: () => new Promise((r) => server.close(r)) };
}

/** The command lines of every process in process group `pgid` (scripts/serve and what it runs). */
function commandLines(pgid) {
  const lines = [];
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      // Field 5 of /proc/PID/stat is the process group; the name in field 2 may contain spaces.
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const pgrp = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
      if (pgrp === pgid) lines.push(readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' '));
    } catch {
      // the process ended meanwhile
    }
  }
  return lines;
}

const targets = RUNTIMES.flatMap((r) => (r === 'workers' ? [[r, 'workerd'], [r, 'wrangler']] : [[r]]));

for (const [runtime, engine] of targets) {
  describe(`scripts/serve secrets on ${runtime}${engine ? ` (${engine})` : ''}`, () => {
    let as, origin, gateway;

    before(async () => {
      [as, origin] = await Promise.all([startRecordingAs(), startOrigin()]);
      const config = {
        origin: origin.url,
        routes: [{ path: '/orders/*' }],
        forwarding: { gateway_id: MARKER },
        introspection: { endpoint: as.url, issuer: 'https://as.e2e.test', client_id: 'edgeward-gateway',
          client_secret_name: 'EDGEWARD_TEST_SECRET', timeout_ms: 2000, audiences: ['https://api.e2e.test'] },
      };
      gateway = await startGateway(runtime, config, { engine, vars: { EDGEWARD_TEST_SECRET: SECRET } });
    });

    after(async () => {
      await gateway?.stop();
      await Promise.all([as?.close(), origin?.close()]);
    });

    test('the secret arrives unchanged: $, quotes, backslashes, # and a line break', async () => {
      const res = await fetch(`${gateway.url}/orders/1`, { headers: { authorization: 'Bearer opaque-serve-test' } });
      assert.equal(res.status, 200, await res.text());
      assert.equal(as.seen.length, 1);
      const basic = Buffer.from(as.seen[0].replace(/^Basic /, ''), 'base64').toString();
      // RFC 6749 §2.3.1: client id and secret are form-urlencoded inside the Basic credentials.
      const [id, secret] = basic.split(':').map((part) => decodeURIComponent(part.replaceAll('+', ' ')));
      assert.equal(id, 'edgeward-gateway');
      assert.equal(secret, SECRET);
    });

    test('neither the configuration nor the secret is on any command line of the runtime', () => {
      const lines = commandLines(gateway.pid);
      assert.ok(lines.length > 0, 'the runtime runs in scripts/serve\'s process group');
      for (const line of lines) {
        assert.ok(!line.includes(MARKER), `the configuration is on a command line: ${line.slice(0, 200)}`);
        assert.ok(!line.includes('second line') && !line.includes('$HOME'), `the secret is on a command line: ${line.slice(0, 200)}`);
      }
      assert.ok(!gateway.log().includes('second line'), 'the secret is in the log');
    });
  });
}
