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

function toHeaders(flat) {
  const headers = new Headers();
  if (flat !== "") {
    const fields = flat.split("\n");
    for (let i = 0; i + 1 < fields.length; i += 2) headers.append(fields[i], fields[i + 1]);
  }
  return headers;
}

// The origin fetch: the client's method, the given fields, the client's body streamed through.
// Resolves to the origin's response, with `extra` fields added when there are any, or to the
// core's answer for an origin that could not be reached, or gave no response head within
// `timeoutMs` (set once by setOriginFailure); after a response head the body streams without one.
//
// The timeout races the fetch rather than aborting it: an AbortSignal handed to fetch costs ≈40 µs
// of CPU per request in workerd (measured, scripts/bench A0 variants), a third of the gateway's own
// cost. The fetch that lost is not left running: workerd cancels a request's outstanding
// subrequests when its response is done (tests/e2e/faults.test.mjs checks the origin sees it).
export function forward(request, url, flat, streamBody, extra, timeoutMs) {
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
      return extra === "" ? response : withHeaders(response, extra);
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

// The origin's response with the given fields added; they replace origin fields of the same name.
// The rule is the core's (`Forward::client_response_fields`, which the Spin shell calls); it is
// mirrored here so that an origin response never crosses into Wasm, and workerd itself drops the
// connection-specific fields. tests/e2e/dpop.test.mjs holds both runtimes to it (DPoP-Nonce).
function withHeaders(response, flat) {
  const headers = toHeaders(flat);
  for (const [name, value] of response.headers) if (!headers.has(name)) headers.append(name, value);
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
