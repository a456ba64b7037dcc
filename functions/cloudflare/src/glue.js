// Translation between the Fetch API objects and flat strings, for src/glue.rs: one Wasm<->JS
// crossing per direction instead of one (or several) per header field. Types only, no decisions.
//
// A flat header list is "name\nvalue\nname\nvalue..." ("" when empty). Field names are tokens and
// the Fetch standard rejects CR, LF and NUL in values, so "\n" never occurs inside a field; the
// Rust side refuses to flatten one that would contain it.

// "<fingerprint>\n<verified>\n<revoked>\n<method>\n<url>[\n<name>\n<value>]...": the client
// certificate's tlsClientAuth certFingerprintSHA256, certVerified and certRevoked as Cloudflare
// gives them (line breaks, which never occur in them, become spaces), all three empty when no
// certificate was presented. The core reads them (ClientCert::from_tls_client_auth).
export function requestHead(request) {
  const auth = request.cf?.tlsClientAuth;
  const presented = auth?.certPresented === "1";
  const field = (value) => (presented ? String(value ?? "").replace(/[\r\n]/g, " ") : "");
  let head = field(auth?.certFingerprintSHA256) + "\n" + field(auth?.certVerified) + "\n" +
    field(auth?.certRevoked) + "\n" + request.method + "\n" + request.url;
  for (const [name, value] of request.headers) head += "\n" + name + "\n" + value;
  return head;
}

// Appends the fields of a flat list to `headers`, in order (repeated names stay repeated).
function appendFlat(headers, flat) {
  if (flat === "") return headers;
  const fields = flat.split("\n");
  for (let i = 0; i + 1 < fields.length; i += 2) headers.append(fields[i], fields[i + 1]);
  return headers;
}

export function toHeaders(flat) {
  return appendFlat(new Headers(), flat);
}

// The origin fetch: the client's method, the given fields, the client's body streamed through.
// Resolves to the origin's response, edited as the core said (`remove`, `add`: see editResponse;
// both empty when the core leaves the response as it is), or to the
// core's answer for an origin that could not be reached, or gave no response head within
// `timeoutMs` (set once by setOriginFailure); after a response head the body streams without one.
//
// The timeout races the fetch rather than aborting it: an AbortSignal handed to fetch costs ≈40 µs
// of CPU per request in workerd (measured, scripts/bench A0 variants), a third of the gateway's own
// cost. The fetch that lost is not left running: workerd cancels a request's outstanding
// subrequests when its response is done (tests/e2e/faults.test.mjs checks the origin sees it).
export function forward(request, url, flat, streamBody, remove, add, timeoutMs) {
  // redirect "manual": an origin's 3xx goes back to the client as is (fetch would follow it, sending
  // the gateway's forwarded fields to wherever Location points).
  const init = { method: request.method, headers: toHeaders(flat), redirect: "manual" };
  if (streamBody) init.body = request.body;
  let timer;
  const timeout = new Promise((resolve) => {
    timer = setTimeout(resolve, timeoutMs);
  }).then(() => originFailure("timeout"));
  const origin = fetch(url, init).then(
    (response) => {
      clearTimeout(timer);
      return remove === "" && add === "" ? response : editResponse(response, remove, add);
    },
    () => {
      clearTimeout(timer);
      return originFailure("unreachable");
    },
  );
  return Promise.race([origin, timeout]);
}

const failures = {};
export function setOriginFailure(kind, status, flat, body) {
  failures[kind] = { status, flat, body: body.slice() };
}
function originFailure(kind) {
  const failure = failures[kind];
  return new Response(failure.body, { status: failure.status, headers: toHeaders(failure.flat) });
}

// The origin's response with the core's edit (`Forward::response_edit`) carried out: every field
// named in `remove` ("name\nname...") deleted, then the flat fields `add` appended. The origin's
// response never crosses into Wasm; tests/e2e/dpop.test.mjs holds both runtimes to the same
// result (the gateway's DPoP-Nonce replaces the origin's).
export function editResponse(response, remove, add) {
  const headers = new Headers(response.headers);
  if (remove !== "") for (const name of remove.split("\n")) headers.delete(name);
  appendFlat(headers, add);
  return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
}

// A response made by the core. `body` is a view into Wasm memory: copied before it can change.
export function respond(status, flat, body) {
  return new Response(body.slice(), { status, headers: toHeaders(flat) });
}

// Tasks of src/entry.rs: the fetch handler's futures that wait, and the promises they wait on.
// `poll(id)` and `settled(id, value, fulfilled)` are Rust callbacks, handed over once per isolate.
let poll, settled;
const pending = new Map();
const now = Promise.resolve();

export function startTasks(pollTask, promiseSettled) {
  poll = pollTask;
  settled = promiseSettled;
}

// The request's result: settled by taskDone, or rejected if polling the task throws.
export function taskPromise(id) {
  return new Promise((resolve, reject) => pending.set(id, { resolve, reject }));
}

export function taskDone(id, value) {
  const task = pending.get(id);
  pending.delete(id);
  task?.resolve(value);
}

// One poll of task `id`, from a promise reaction (cheaper in workerd than queueMicrotask).
export function schedulePoll(id) {
  now.then(() => {
    try {
      poll(id);
    } catch (error) {
      const task = pending.get(id);
      pending.delete(id);
      task?.reject(error);
    }
  });
}

export function watchPromise(promise, id) {
  promise.then(
    (value) => settled(id, value, true),
    (reason) => settled(id, reason, false),
  );
}

// The platform services of src/lib.rs (Platform::fetch, sleep, the shared cache, the replay store's
// client), as promises src/entry.rs waits on. workers-rs' Fetch, Delay and Cache made the same calls
// through its own Request/Headers/Response wrappers, an AbortController per fetch (≈ 40 µs of CPU in
// workerd) and a ReadableStream read chunk by chunk from Rust.

// The core's own fetches (key sets, introspection, decision points, token exchange). Resolves to
// { status, fields (a flat list), body (Uint8Array) } once the whole body is read; rejects with
// "timeout" (no whole answer within `timeoutMs`), "too-large" (a body over `maxBytes`: refused by its
// Content-Length before it is read, or after) or "unreachable" (anything else). Redirects are not
// followed: a 3xx is the answer, and the core fails closed on it. The fetch that lost the race is not
// aborted: workerd cancels a request's outstanding subrequests when the request ends.
export function fetchBytes(method, url, flat, body, timeoutMs, maxBytes) {
  const init = { method, headers: toHeaders(flat), redirect: "manual" };
  if (body.length > 0) init.body = body.slice();
  return withTimeout(exchange(url, init, maxBytes), timeoutMs);
}

// `promise`, or a rejection with "timeout" if it has not settled within `ms`; the timer is cleared
// either way.
function withTimeout(promise, ms) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject("timeout"), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function exchange(url, init, maxBytes) {
  let response;
  try {
    response = await fetch(url, init);
  } catch {
    throw "unreachable";
  }
  if (Number(response.headers.get("content-length")) > maxBytes) {
    response.body?.cancel().catch(() => {});
    throw "too-large";
  }
  let body;
  try {
    body = new Uint8Array(await response.arrayBuffer());
  } catch {
    throw "unreachable";
  }
  if (body.length > maxBytes) throw "too-large";
  const fields = [];
  for (const [name, value] of response.headers) fields.push(name, value);
  return { status: response.status, fields: fields.join("\n"), body };
}

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// The shared cache tier (the Cache API). A failing cache is a miss (undefined), never an error.
export async function cacheGet(url) {
  try {
    const response = await caches.default.match(url, { ignoreMethod: true });
    return response ? new Uint8Array(await response.arrayBuffer()) : undefined;
  } catch {
    return undefined;
  }
}

// Stores `body` under `url` with the given Cache-Control; a failure is ignored (the entry is absent).
export async function cachePut(url, body, cacheControl) {
  const copy = body.slice();
  try {
    await caches.default.put(url, new Response(copy, { headers: { "cache-control": cacheControl } }));
  } catch {
    // A cache that refuses is a cache that misses.
  }
}

// One check of the DPoP replay store (src/replay.rs): POSTs `body` to the Durable Object named
// `name` of `namespace`. Resolves to the object's status; rejects with "timeout" after `timeoutMs`
// or "unreachable".
export function replayCheck(namespace, name, body, timeoutMs) {
  const copy = body.slice();
  const ask = (async () => {
    try {
      const stub = namespace.get(namespace.idFromName(name));
      const response = await stub.fetch("https://replay-store/", { method: "POST", body: copy });
      return response.status;
    } catch {
      throw "unreachable";
    }
  })();
  return withTimeout(ask, timeoutMs);
}

// The Worker's environment as src/lib.rs reads it once per isolate: a text variable or secret
// (undefined when absent or not text), and a Durable Object namespace (undefined when not bound).
export function envText(env, name) {
  const value = env?.[name];
  return typeof value === "string" ? value : undefined;
}

export function envNamespace(env, name) {
  const value = env?.[name];
  return typeof value?.idFromName === "function" ? value : undefined;
}

// One console line: level 2 error, 1 warn, else log.
export function log(level, message) {
  if (level === 2) console.error(message);
  else if (level === 1) console.warn(message);
  else console.log(message);
}

// The answer to a request the shell could not translate.
export function internalError(body) {
  return new Response(body, { status: 500 });
}

// One statement of the replay store's SQLite storage (src/replay.rs), its `?`s bound to the array
// `bindings`: the rows it wrote. Throws what the storage throws.
export function sqlExec(sql, query, bindings) {
  return sql.exec(query, ...bindings).rowsWritten;
}
