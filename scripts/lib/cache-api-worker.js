// A minimal Cache API backend for bare workerd (scripts/serve --cache-api): the service a Worker's
// `cacheApiOutbound` names, so that several isolates (the gateway and its --replica-port copies)
// share one `caches.default`, as isolates of one Cloudflare location do. Tests only: one in-memory
// map, lost when workerd stops; no Range, no conditional requests, no Vary.
//
// What workerd sends here (its Cache API as a client; miniflare's cache worker serves the same):
//   match:  GET <key URL>; answer with the stored response and `cf-cache-status: HIT`, or any
//           response with `cf-cache-status: MISS`.
//   put:    PUT <key URL>, the body a serialised HTTP/1.1 response (status line, header fields, a
//           blank line, the body); answer 204 (stored) or 413 (not stored).
//   delete: PURGE <key URL>; answer 200 when something was deleted, else 404.
// `cf-cache-namespace` names a cache of `caches.open(name)`. A response is kept only with a
// positive `s-maxage` or `max-age` and no `no-store`/`private`, until that many seconds from now.
// Entries are keyed by namespace and the key URL's path and query: the same entry is reachable on
// the admin socket (`scripts/serve --cache-api-port`), e.g. `curl -X PURGE 127.0.0.1:N/<path>`.

const entries = new Map();

const keyOf = (request) => {
  const url = new URL(request.url);
  return `${request.headers.get('cf-cache-namespace') ?? ''} ${url.pathname}${url.search}`;
};

/** The lifetime `cache-control` allows a shared cache, in seconds (0: do not store). */
function lifetime(cacheControl) {
  const directives = new Map((cacheControl ?? '').toLowerCase().split(',').map((d) => {
    const [name, value] = d.trim().split('=');
    return [name, value];
  }));
  if (directives.has('no-store') || directives.has('private')) return 0;
  const seconds = Number(directives.get('s-maxage') ?? directives.get('max-age'));
  return Number.isInteger(seconds) && seconds > 0 ? seconds : 0;
}

/** Reads a serialised HTTP/1.1 response: `{ status, headers, body }`, or undefined. */
function parse(bytes) {
  let end = -1;
  for (let i = indexOfCrlf(bytes, 0); i >= 0; i = indexOfCrlf(bytes, i + 2)) {
    if (bytes[i + 2] === 13 && bytes[i + 3] === 10) { end = i; break; }
  }
  if (end < 0) return undefined;
  const text = String.fromCharCode(...bytes.subarray(0, end));
  const [statusLine, ...fields] = text.split('\r\n');
  const status = Number(/^HTTP\/\d(?:\.\d)? (\d{3})/.exec(statusLine)?.[1]);
  if (!status) return undefined;
  const headers = fields.map((f) => [f.slice(0, f.indexOf(':')).trim(), f.slice(f.indexOf(':') + 1).trim()]);
  let body = bytes.slice(end + 4);
  if (headers.some(([n, v]) => n.toLowerCase() === 'transfer-encoding' && /chunked/i.test(v))) {
    body = unchunk(body);
    if (!body) return undefined;
  }
  return { status, headers: headers.filter(([n]) => !/^(transfer-encoding|content-length)$/i.test(n)), body };
}

/** The payload of a chunked body (RFC 9112 §7.1), trailers ignored; undefined when malformed. */
function unchunk(bytes) {
  const parts = [];
  let at = 0;
  for (;;) {
    const lineEnd = indexOfCrlf(bytes, at);
    if (lineEnd < 0) return undefined;
    const size = parseInt(new TextDecoder().decode(bytes.slice(at, lineEnd)).split(';')[0], 16);
    if (!Number.isInteger(size)) return undefined;
    if (size === 0) break;
    parts.push(bytes.slice(lineEnd + 2, lineEnd + 2 + size));
    at = lineEnd + 2 + size + 2;
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) { out.set(part, offset); offset += part.length; }
  return out;
}

function indexOfCrlf(bytes, from) {
  for (let i = from; i + 1 < bytes.length; i++) if (bytes[i] === 13 && bytes[i + 1] === 10) return i;
  return -1;
}

const miss = () => new Response(null, { status: 504, headers: { 'cf-cache-status': 'MISS' } });

export default {
  async fetch(request) {
    const key = keyOf(request);
    switch (request.method) {
      case 'GET': {
        const entry = entries.get(key);
        if (!entry) return miss();
        if (entry.until <= Date.now()) { entries.delete(key); return miss(); }
        const headers = new Headers(entry.headers);
        headers.set('cf-cache-status', 'HIT');
        return new Response(entry.body, { status: entry.status, headers });
      }
      case 'PUT': {
        const stored = parse(new Uint8Array(await request.arrayBuffer()));
        const seconds = stored ? lifetime(new Headers(stored.headers).get('cache-control')) : 0;
        if (!seconds) return new Response(null, { status: 413 });
        entries.set(key, { ...stored, until: Date.now() + seconds * 1000 });
        return new Response(null, { status: 204 });
      }
      case 'PURGE':
        return new Response(null, { status: entries.delete(key) ? 200 : 404 });
      default:
        return new Response(null, { status: 405 });
    }
  },
};
