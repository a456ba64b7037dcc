// Unit tests of the Workers shell's JavaScript glue (src/glue.js) on Node's Fetch API objects, which
// follow the same standard as workerd's. The glue translates; these tests pin that it carries out
// the core's data exactly: request head, flat field lists, the response edit, origin failures.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import {
  requestHead, toHeaders, editResponse, forward, setOriginFailure, respond, fetchBytes, cacheGet, cachePut, replayCheck,
  envText, envNamespace, log, internalError, sqlExec,
} from '../src/glue.js';

test('requestHead: certificate facts, method, URL, then every field in order', () => {
  const request = new Request('https://gw.test/a?b=1', { method: 'POST', headers: [['x-a', '1'], ['x-b', '2']] });
  request.cf = { tlsClientAuth: { certPresented: '1', certFingerprintSHA256: 'ab\ncd', certVerified: 'SUCCESS', certRevoked: '0' } };
  assert.equal(requestHead(request), 'ab cd\nSUCCESS\n0\nPOST\nhttps://gw.test/a?b=1\nx-a\n1\nx-b\n2');
});

test('requestHead: no certificate facts unless one was presented', () => {
  const request = new Request('https://gw.test/');
  request.cf = { tlsClientAuth: { certPresented: '0', certFingerprintSHA256: 'ff', certVerified: 'NONE', certRevoked: '0' } };
  assert.equal(requestHead(request), '\n\n\nGET\nhttps://gw.test/');
  assert.equal(requestHead(new Request('https://gw.test/')), '\n\n\nGET\nhttps://gw.test/');
});

test('toHeaders: repeated names stay repeated, the empty list is no field', () => {
  const headers = toHeaders('set-cookie\na=1\nset-cookie\nb=2\nx\n');
  assert.deepEqual(headers.getSetCookie(), ['a=1', 'b=2']);
  assert.equal(headers.get('x'), '');
  assert.deepEqual([...toHeaders('')], []);
});

test('editResponse: removes every field named, then adds the core\'s, keeping status and body', async () => {
  const origin = new Response('body', {
    status: 201, statusText: 'Made',
    headers: [['dpop-nonce', 'origin'], ['set-cookie', 'o=1'], ['set-cookie', 'o=2'], ['etag', '"x"']],
  });
  const edited = editResponse(origin, 'dpop-nonce\nset-cookie', 'dpop-nonce\ngw\nset-cookie\na=1\nset-cookie\nb=2');
  assert.equal(edited.status, 201);
  assert.equal(edited.statusText, 'Made');
  assert.equal(edited.headers.get('dpop-nonce'), 'gw');
  assert.deepEqual(edited.headers.getSetCookie(), ['a=1', 'b=2']);
  assert.equal(edited.headers.get('etag'), '"x"');
  assert.equal(await edited.text(), 'body');
});

test('respond: the core\'s response, its body copied out of (Wasm) memory', async () => {
  const memory = new Uint8Array([104, 105]);
  const response = respond(401, 'www-authenticate\nBearer', memory);
  memory[0] = 0;
  assert.equal(response.status, 401);
  assert.equal(response.headers.get('www-authenticate'), 'Bearer');
  assert.equal(await response.text(), 'hi');
});

async function origin(handler) {
  const server = createServer(handler);
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${server.address().port}/`, close: () => new Promise((r) => { server.closeAllConnections(); server.close(r); }) };
}

setOriginFailure('unreachable', 502, 'content-type\napplication/json', new TextEncoder().encode('{"code":"ERR_ORIGIN_UNREACHABLE"}'));
setOriginFailure('timeout', 504, 'content-type\napplication/json', new TextEncoder().encode('{"code":"ERR_ORIGIN_TIMEOUT"}'));

// The origin's DPoP-Nonce and the forwarded x-fwd field, through `forward` with the given edit.
async function nonceThrough(remove, add) {
  const server = await origin((req, res) => { res.setHeader('dpop-nonce', 'origin'); res.end(req.headers['x-fwd'] ?? 'none'); });
  try {
    const response = await forward(new Request('https://gw.test/'), server.url, 'x-fwd\nyes', false, remove, add, 2000);
    return [response.headers.get('dpop-nonce'), await response.text()];
  } finally { await server.close(); }
}

test('forward: without an edit the origin\'s response is returned as it came', async () => {
  assert.deepEqual(await nonceThrough('', ''), ['origin', 'yes']);
});

test('forward: with an edit the client gets the core\'s fields in place of the origin\'s', async () => {
  assert.deepEqual(await nonceThrough('dpop-nonce', 'dpop-nonce\ngw'), ['gw', 'yes']);
});

test('forward: an unreachable origin and a silent one get the core\'s failure answers', async () => {
  const down = await forward(new Request('https://gw.test/'), 'http://127.0.0.1:1/', '', false, '', '', 2000);
  assert.equal(down.status, 502);
  assert.match(await down.text(), /ERR_ORIGIN_UNREACHABLE/);
  const server = await origin(() => { /* never answers */ });
  try {
    const slow = await forward(new Request('https://gw.test/'), server.url, '', false, '', '', 100);
    assert.equal(slow.status, 504);
    assert.match(await slow.text(), /ERR_ORIGIN_TIMEOUT/);
  } finally { await server.close(); }
});

test('forward: a 3xx from the origin is passed back, not followed', async () => {
  const server = await origin((_req, res) => { res.writeHead(302, { location: 'http://127.0.0.1:1/elsewhere' }); res.end(); });
  try {
    const response = await forward(new Request('https://gw.test/'), server.url, '', false, '', '', 2000);
    assert.equal(response.status, 302);
    assert.equal(response.headers.get('location'), 'http://127.0.0.1:1/elsewhere');
  } finally { await server.close(); }
});

test('editResponse: a field the core adds without removing joins the origin\'s list (Vary)', () => {
  const origin = new Response('', { headers: [['vary', 'accept-encoding']] });
  const edited = editResponse(origin, '', 'vary\norigin\naccess-control-allow-origin\nhttps://app.test');
  assert.equal(edited.headers.get('vary'), 'accept-encoding, origin');
  assert.equal(edited.headers.get('access-control-allow-origin'), 'https://app.test');
});

// fetchBytes' outcome as [kind, value]: ['ok', answer] or ['refused', reason].
async function fetched(...args) {
  try {
    return ['ok', await fetchBytes(...args)];
  } catch (reason) {
    return ['refused', reason];
  }
}

test('fetchBytes: method, fields and body go out; status, every field and the whole body come back', async () => {
  let seen;
  const server = await origin((req, res) => {
    let body = '';
    req.on('data', (chunk) => { body += chunk; });
    req.on('end', () => {
      seen = [req.method, req.headers['content-type'], body];
      res.writeHead(201, [['content-type', 'application/json'], ['set-cookie', 'a=1'], ['set-cookie', 'b=2']]);
      res.end('{"ok":true}');
    });
  });
  try {
    const memory = new TextEncoder().encode('token=abc');
    const pending = fetched('POST', server.url, 'content-type\napplication/x-www-form-urlencoded', memory, 2000, 1024);
    memory[0] = 0; // Wasm memory may change once the call returns: the body was copied.
    const [kind, answer] = await pending;
    assert.equal(kind, 'ok');
    assert.deepEqual(seen, ['POST', 'application/x-www-form-urlencoded', 'token=abc']);
    assert.equal(answer.status, 201);
    const fields = answer.fields.split('\n');
    assert.deepEqual(fields.slice(fields.indexOf('content-type'), fields.indexOf('content-type') + 2), ['content-type', 'application/json']);
    assert.equal(fields.filter((f) => f === 'set-cookie').length, 2, 'repeated fields stay repeated');
    assert.equal(new TextDecoder().decode(answer.body), '{"ok":true}');
  } finally { await server.close(); }
});

test('fetchBytes: a body over the limit is refused, by its length field or by what arrives', async () => {
  const server = await origin((req, res) => {
    if (req.url === '/declared') { res.setHeader('content-length', '11'); res.end('0123456789a'); return; }
    res.write('01234'); res.end('56789a'); // chunked: no length field
  });
  try {
    assert.deepEqual(await fetched('GET', server.url + 'declared', '', new Uint8Array(), 2000, 10), ['refused', 'too-large']);
    assert.deepEqual(await fetched('GET', server.url + 'chunked', '', new Uint8Array(), 2000, 10), ['refused', 'too-large']);
    const [kind, answer] = await fetched('GET', server.url + 'declared', '', new Uint8Array(), 2000, 11);
    assert.equal(kind, 'ok');
    assert.equal(answer.body.length, 11, 'exactly the limit is accepted');
  } finally { await server.close(); }
});

test('fetchBytes: unreachable, silent and slow-bodied servers fail as such; a 3xx is the answer', async () => {
  assert.deepEqual(await fetched('GET', 'http://127.0.0.1:1/', '', new Uint8Array(), 2000, 10), ['refused', 'unreachable']);
  const server = await origin((req, res) => {
    if (req.url === '/silent') return;
    if (req.url === '/slow') { res.writeHead(200); res.write('{'); return; } // the head, never the whole body
    res.writeHead(302, { location: 'http://127.0.0.1:1/elsewhere' }); res.end();
  });
  try {
    assert.deepEqual(await fetched('GET', server.url + 'silent', '', new Uint8Array(), 100, 10), ['refused', 'timeout']);
    assert.deepEqual(await fetched('GET', server.url + 'slow', '', new Uint8Array(), 100, 10), ['refused', 'timeout']);
    const [kind, answer] = await fetched('GET', server.url + 'moved', '', new Uint8Array(), 2000, 10);
    assert.equal(kind, 'ok');
    assert.equal(answer.status, 302);
  } finally { await server.close(); }
});

test('cacheGet / cachePut: entries by URL with their Cache-Control; a failing cache is a miss', async () => {
  const stored = new Map();
  globalThis.caches = {
    default: {
      match: async (url, options) => {
        assert.deepEqual(options, { ignoreMethod: true });
        return stored.get(url)?.clone();
      },
      put: async (url, response) => { stored.set(url, response); },
    },
  };
  try {
    const memory = new Uint8Array([1, 2, 3]);
    const put = cachePut('https://edgeward-cache.invalid/k', memory, 'max-age=60');
    memory[0] = 9;
    await put;
    assert.equal(stored.get('https://edgeward-cache.invalid/k').headers.get('cache-control'), 'max-age=60');
    assert.deepEqual([...await cacheGet('https://edgeward-cache.invalid/k')], [1, 2, 3]);
    assert.equal(await cacheGet('https://edgeward-cache.invalid/other'), undefined);
    globalThis.caches = { default: { match: async () => { throw new Error('down'); }, put: async () => { throw new Error('down'); } } };
    assert.equal(await cacheGet('https://edgeward-cache.invalid/k'), undefined);
    await cachePut('https://edgeward-cache.invalid/k', memory, 'max-age=60'); // no rejection
  } finally { delete globalThis.caches; }
});

test('replayCheck: the named object\'s status; a failing or silent store is unreachable or a timeout', async () => {
  const asked = [];
  const namespace = (answer) => ({
    idFromName: (name) => ({ name }),
    get: (id) => ({ fetch: async (url, init) => { asked.push([id.name, url, init.method, [...init.body]]); return answer(); } }),
  });
  const body = new Uint8Array([7, 8]);
  const status = replayCheck(namespace(() => new Response(null, { status: 201 })), 'replay-3', body, 1000);
  body[0] = 0;
  assert.equal(await status, 201);
  assert.deepEqual(asked, [['replay-3', 'https://replay-store/', 'POST', [7, 8]]]);
  await assert.rejects(replayCheck(namespace(() => { throw new Error('gone'); }), 'replay-1', body, 1000), (r) => r === 'unreachable');
  await assert.rejects(replayCheck(namespace(() => new Promise(() => {})), 'replay-1', body, 50), (r) => r === 'timeout');
});

test('envText / envNamespace: text variables and secrets, Durable Object namespaces, nothing else', () => {
  const namespace = { idFromName() {}, get() {} };
  const env = { EDGEWARD_CONFIG: '{"origin":"x"}', EMPTY: '', NUMBER: 7, KV: { get() {} }, EDGEWARD_REPLAY: namespace };
  assert.equal(envText(env, 'EDGEWARD_CONFIG'), '{"origin":"x"}');
  assert.equal(envText(env, 'EMPTY'), '', 'an empty variable is still text');
  for (const name of ['NUMBER', 'KV', 'EDGEWARD_REPLAY', 'MISSING']) assert.equal(envText(env, name), undefined, name);
  assert.equal(envText(undefined, 'EDGEWARD_CONFIG'), undefined);
  assert.equal(envNamespace(env, 'EDGEWARD_REPLAY'), namespace);
  for (const name of ['KV', 'EDGEWARD_CONFIG', 'MISSING']) assert.equal(envNamespace(env, name), undefined, name);
});

test('log: each level to its console method', (t) => {
  const lines = [];
  for (const method of ['error', 'warn', 'log']) t.mock.method(console, method, (line) => lines.push([method, line]));
  log(2, 'e'); log(1, 'w'); log(0, 'i');
  assert.deepEqual(lines, [['error', 'e'], ['warn', 'w'], ['log', 'i']]);
});

test('internalError: a bare 500', async () => {
  const response = internalError('INTERNAL SERVER ERROR');
  assert.equal(response.status, 500);
  assert.equal(await response.text(), 'INTERNAL SERVER ERROR');
});

test('sqlExec: the statement with its bindings in order; rows written back; storage errors thrown', () => {
  const calls = [];
  const sql = {
    exec(query, ...bindings) {
      if (query === 'BAD') throw new Error('SQLITE_ERROR');
      calls.push([query, bindings]);
      return { rowsWritten: bindings.length };
    },
  };
  const key = new Uint8Array([1, 2, 3]);
  assert.equal(sqlExec(sql, 'INSERT ?, ?', [key, 1700000000000]), 2);
  assert.equal(sqlExec(sql, 'CREATE', []), 0);
  assert.deepEqual(calls, [['INSERT ?, ?', [key, 1700000000000]], ['CREATE', []]]);
  assert.throws(() => sqlExec(sql, 'BAD', []), /SQLITE_ERROR/);
});
