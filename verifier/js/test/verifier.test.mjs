// The JS verifier against the gateway's real output. The fixture is written by the Rust test
// verifier/tests/gateway.rs (which also fails when the committed copy is out of date):
//   EDGEWARD_VERIFIER_FIXTURE=verifier/js/test/fixture.json cargo test -p edgeward-verifier
// Run: node --test verifier/js/test/verifier.test.mjs   (Node >= 20). EDGEWARD_VERIFIER_FIXTURE overrides the path.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Verifier, VerifyError, findSignature, signatureBase } from "../edgeward-verifier.mjs";

const path = process.env.EDGEWARD_VERIFIER_FIXTURE ?? fileURLToPath(new URL("./fixture.json", import.meta.url));
const fx = JSON.parse(readFileSync(path, "utf8"));
const secret = Uint8Array.from(atob(fx.hmac_secret), (c) => c.charCodeAt(0));

function verifier(jwks, overrides = {}) {
  return new Verifier({
    jwks,
    hmac: { keyid: fx.hmac_keyid, secret },
    maxSkew: fx.max_skew,
    replayWindow: fx.replay_window,
    label: fx.label,
    gatewayId: fx.gateway_id,
    claimHeaders: fx.claim_headers,
    ...overrides,
  });
}

const request = (c, changes = {}) => ({ method: c.method, targetUri: c.target_uri, headers: c.headers, now: fx.now, ...changes });
const withHeader = (headers, name, value) => headers.map(([n, v]) => [n, n === name ? value : v]);

async function rejects(promise, code) {
  await assert.rejects(promise, (e) => e instanceof VerifyError && e.code === code);
}

for (const kind of ["ecdsa", "hmac"]) {
  const c = fx[kind];

  test(`${kind}: untouched request verifies and yields the claims`, async () => {
    const out = await verifier(c.jwks).verify(request(c));
    assert.equal(out.claims.sub, "alice");
    assert.equal(out.claims.tenant, "acme");
    assert.ok(out.covered.includes("x-tenant"));
    // A WHATWG Headers object works too.
    await verifier(c.jwks).verify(request(c, { headers: new Headers(c.headers) }));
  });

  test(`${kind}: tampered request fails`, async () => {
    const v = verifier(c.jwks);
    await rejects(v.verify(request(c, { headers: withHeader(c.headers, "x-tenant", "victim") })), "BadSignature");
    await rejects(v.verify(request(c, { method: "DELETE" })), "BadSignature");
    await rejects(v.verify(request(c, { targetUri: c.target_uri.replace("id=7", "id=8") })), "BadSignature");
  });

  test(`${kind}: stale or replayed request fails`, async () => {
    await rejects(verifier(c.jwks).verify(request(c, { now: fx.now + 120 })), "Stale");
    await rejects(verifier(c.jwks).verify(request(c, { now: fx.now - 30 })), "Stale");
    const v = verifier(c.jwks);
    await v.verify(request(c));
    await rejects(v.verify(request(c, { now: fx.now + 1 })), "Replayed");
  });

  test(`${kind}: wrong key fails`, async () => {
    const pair = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"]);
    const { kty, crv, x, y } = await crypto.subtle.exportKey("jwk", pair.publicKey);
    const other = { keys: [{ kty, crv, x, y, kid: c.jwks.keys[0].kid, use: "sig", alg: "ES256" }] };
    await rejects(verifier(other).verify(request(c)), "BadSignature");
    if (kind === "hmac") {
      const wrong = new Uint8Array(32).fill(8);
      await rejects(verifier(c.jwks, { hmac: { keyid: fx.hmac_keyid, secret: wrong } }).verify(request(c)), "BadSignature");
    }
  });
}

test("RFC 9421 B.2.5 signature base and HMAC reproduce", async () => {
  const headers = [
    ["date", "Tue, 20 Apr 2021 02:07:55 GMT"],
    ["content-type", "application/json"],
    ["signature-input", 'sig-b25=("date" "@authority" "content-type");created=1618884473;keyid="test-shared-secret"'],
    ["signature", "sig-b25=:pxcQw6G3AjtMBQjwo8XzkZf/bws5LelbaMk5rGIGtE8=:"],
  ];
  const { params, signature } = findSignature(headers, "sig-b25");
  const base = signatureBase({ method: "POST", targetUri: "https://example.com/foo?param=Value&Pet=dog", headers }, params);
  assert.equal(
    base,
    '"date": Tue, 20 Apr 2021 02:07:55 GMT\n"@authority": example.com\n"content-type": application/json\n' +
      '"@signature-params": ("date" "@authority" "content-type");created=1618884473;keyid="test-shared-secret"',
  );
  const key = Uint8Array.from(
    atob("uzvJfB4u3N0Jy4T7NZ75MDVcr8zSTInedJtkgcu46YW4XByzNJjxBdtjUkdJPBtbmHhIDi6pcl8jsasjlTMtDQ=="),
    (ch) => ch.charCodeAt(0),
  );
  const hmac = await crypto.subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", hmac, new TextEncoder().encode(base)));
  assert.deepEqual(mac, signature);
});

// Phantom tokens: the origin's `Authorization` carries the gateway-minted JWT, and a signature
// that covers `authorization` signs exactly that (the forward stage sets it before signing).
test("phantom: the covered Authorization with the phantom JWT verifies; a swapped one fails", async () => {
  const c = fx.phantom;
  const out = await verifier(c.jwks).verify(request(c));
  assert.ok(out.covered.includes("authorization"));
  const authorization = c.headers.find(([n]) => n === "authorization")[1];
  assert.match(authorization, /^Bearer [\w-]+\.[\w-]+\.[\w-]+$/);
  await rejects(
    verifier(c.jwks).verify(request(c, { headers: withHeader(c.headers, "authorization", "Bearer opaque-token-for-the-phantom-case") })),
    "BadSignature",
  );
});
