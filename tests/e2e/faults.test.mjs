// Origin faults, on both runtimes: an origin slower than `origin_timeout_ms` (504), one that resets
// the connection, one that answers something that is not HTTP, and one that stops while the
// gateway runs (502). Each answer is the gateway's JSON error shape, and the gateway keeps serving.
import { describe, before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { RUNTIMES, freePort, startOrigin, startGateway } from './lib/harness.mjs';

const ORIGIN_TIMEOUT_MS = 1000;

/** An origin that misbehaves by path: /slow never answers, /reset resets the TCP connection,
 *  /garbage writes bytes that are not an HTTP response, /redirect answers 302 to /moved (which
 *  would answer 200), anything else is a 200 JSON echo. */
async function startFaultyOrigin() {
  const seen = [], dropped = [];
  const server = createServer((req, res) => {
    seen.push(req.url);
    req.resume();
    if (req.url.startsWith('/slow')) { // held open until the test ends, or until the gateway drops it
      res.on('close', () => dropped.push(req.url));
      return;
    }
    if (req.url.startsWith('/reset')) return req.socket.resetAndDestroy();
    if (req.url.startsWith('/garbage')) return req.socket.end('SSH-2.0-not-http\r\n\r\n');
    if (req.url.startsWith('/redirect')) {
      res.writeHead(302, { location: '/moved', 'content-type': 'application/json' });
      return res.end('{"redirect":true}');
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    return res.end(JSON.stringify({ ok: true, url: req.url }));
  });
  const port = await freePort();
  await new Promise((r) => server.listen(port, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    dropped,
    close: () => new Promise((r) => { server.closeAllConnections(); server.close(r); }),
  };
}

/** GET through the gateway; the client gives up after 20 s, far beyond what any answer needs. */
async function get(gateway, path) {
  const started = Date.now();
  const res = await fetch(`${gateway.url}${path}`, { signal: AbortSignal.timeout(20_000) });
  const text = await res.text();
  const ms = Date.now() - started;
  let body;
  try { body = JSON.parse(text); } catch {
    throw new Error(`not JSON (${res.status}): ${text}\n--- gateway log ---\n${gateway.log().slice(-3000)}`);
  }
  return { res, body, ms };
}

/** The JSON error shape of shared/src/error.rs. */
function assertError({ res, body }, status, error, code) {
  assert.equal(res.status, status, JSON.stringify(body));
  assert.match(res.headers.get('content-type'), /^application\/json/);
  assert.equal(body.error, error);
  assert.equal(body.code, code);
  assert.equal(typeof body.error_description, 'string');
}

for (const runtime of RUNTIMES) {
  describe(`origin faults on ${runtime}`, () => {
    let faulty, stoppable, gateway, orphaned;

    before(async () => {
      [faulty, stoppable] = await Promise.all([startFaultyOrigin(), startOrigin()]);
      const config = (origin) => ({
        origin, origin_timeout_ms: ORIGIN_TIMEOUT_MS, routes: [{ path: '/*', anonymous: true }],
      });
      [gateway, orphaned] = await Promise.all([
        startGateway(runtime, config(faulty.url)),
        startGateway(runtime, config(stoppable.url)),
      ]);
    });

    after(async () => {
      await Promise.all([gateway, orphaned].filter(Boolean).map((g) => g.stop()));
      await Promise.all([faulty?.close(), stoppable?.close()]);
    });

    test('an origin slower than origin_timeout_ms gets 504 ERR_ORIGIN_TIMEOUT', async () => {
      const answer = await get(gateway, '/slow/1');
      assertError(answer, 504, 'gateway_timeout', 'ERR_ORIGIN_TIMEOUT');
      assert.ok(faulty.seen.includes('/slow/1'), 'the request did reach the origin');
      // Not before the timeout, and not much after it (the origin would have held it forever).
      assert.ok(answer.ms >= ORIGIN_TIMEOUT_MS - 50, `answered after ${answer.ms} ms`);
      assert.ok(answer.ms < 15_000, `answered after ${answer.ms} ms`);
      // The gateway does not keep the origin request open after answering.
      for (let i = 0; i < 50 && !faulty.dropped.includes('/slow/1'); i++) await new Promise((r) => setTimeout(r, 100));
      assert.ok(faulty.dropped.includes('/slow/1'), 'the origin request was closed');
    });

    test('an origin that resets the connection gets 502 ERR_ORIGIN_UNREACHABLE', async () => {
      assertError(await get(gateway, '/reset/1'), 502, 'bad_gateway', 'ERR_ORIGIN_UNREACHABLE');
      assert.ok(faulty.seen.includes('/reset/1'));
    });

    test('an origin that does not speak HTTP gets 502 ERR_ORIGIN_UNREACHABLE', async () => {
      assertError(await get(gateway, '/garbage/1'), 502, 'bad_gateway', 'ERR_ORIGIN_UNREACHABLE');
    });

    test("an origin's redirect goes back to the client as is; the gateway does not follow it", async () => {
      const before = faulty.seen.length;
      const res = await fetch(`${gateway.url}/redirect/1`, { redirect: 'manual', signal: AbortSignal.timeout(20_000) });
      assert.equal(res.status, 302);
      assert.equal(res.headers.get('location'), '/moved');
      assert.deepEqual(await res.json(), { redirect: true });
      assert.deepEqual(faulty.seen.slice(before), ['/redirect/1'], 'the redirect target was not fetched');
    });

    test('after each fault the gateway still serves the healthy origin', async () => {
      for (const path of ['/slow/2', '/reset/2', '/ok/after']) {
        const answer = await get(gateway, path);
        if (path === '/ok/after') {
          assert.equal(answer.res.status, 200);
          assert.deepEqual(answer.body, { ok: true, url: '/ok/after' });
        } else {
          assert.ok([502, 504].includes(answer.res.status), `${path}: ${answer.res.status}`);
        }
      }
    });

    test('an origin that stops while the gateway runs gets 502 JSON, also on a kept-alive connection', async () => {
      const up = await get(orphaned, '/before');
      assert.equal(up.res.status, 200, 'the origin was up');
      await stoppable.close();
      stoppable = null;
      for (const path of ['/after/1', '/after/2']) {
        assertError(await get(orphaned, path), 502, 'bad_gateway', 'ERR_ORIGIN_UNREACHABLE');
      }
    });
  });
}
