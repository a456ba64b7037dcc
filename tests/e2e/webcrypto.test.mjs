// The WebCrypto backend inside workerd against RustCrypto and the vectors: Wycheproof ECDSA P-256
// (P1363) with its reasons file (an entry that is stale, unknown or unexplained fails, as in
// shared/tests/wycheproof.rs), plus RSA PKCS#1 v1.5 / PSS, ECDSA P-384 and Ed25519 cases made here
// with node:crypto. Every case goes through the shell's self-test endpoint (EDGEWARD_SELFTEST=1),
// which answers both backends' verdicts. Workers only: Spin has no WebCrypto backend.
// The token-handler function's AES-256-GCM opening (cookies) is held to a NIST vector and cases made
// here with node:crypto the same way, through its own self-test path.
import { describe, before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import crypto from 'node:crypto';
import { ROOT, RUNTIMES, startGateway } from './lib/harness.mjs';

const SELFTEST = '/.well-known/edgeward/selftest/verify';
const AES_SELFTEST = '/.well-known/edgeward/selftest/aes-gcm';
const WYCHEPROOF = join(ROOT, 'shared', 'tests', 'data', 'wycheproof');
const FILE = 'ecdsa_secp256r1_sha256_p1363_test.json';
const BATCH = 100; // the endpoint takes at most 512 items

const hex = (b) => Buffer.from(b).toString('hex');
const b64hex = (s) => Buffer.from(s, 'base64url').toString('hex');
const config = { origin: 'http://127.0.0.1:9', routes: [{ path: '/public/*', anonymous: true }] };

async function verdicts(gateway, items) {
  const out = [];
  for (let i = 0; i < items.length; i += BATCH) {
    const batch = items.slice(i, i + BATCH).map(({ scheme, key, msg, sig }) => ({ scheme, key, msg, sig }));
    const res = await fetch(`${gateway.url}${SELFTEST}`, { method: 'POST', body: JSON.stringify(batch) });
    assert.equal(res.status, 200, await res.clone().text());
    out.push(...(await res.json()));
  }
  assert.equal(out.length, items.length);
  return out;
}

/**
 * Our verdict for each Wycheproof case: the file's, unless the exceptions list (exceptions.json's
 * entries for this file) says otherwise. As in shared/tests/wycheproof.rs, the list cannot go stale:
 * an entry naming a tcId the file does not have, one that agrees with the file's plain verdict,
 * one without a reason or with a verdict other than accept/reject, a tcId listed twice, and an
 * unlisted case that is neither valid nor invalid are all problems, returned for the test to fail on.
 */
function wycheproofCases(doc, exceptions) {
  const problems = [];
  const listed = new Map();
  for (const entry of exceptions) {
    if (listed.has(entry.tcId)) problems.push(`tcId ${entry.tcId} listed twice`);
    if (!['accept', 'reject'].includes(entry.verdict)) problems.push(`tcId ${entry.tcId}: verdict must be accept or reject, got ${entry.verdict}`);
    if (!String(entry.reason ?? '').trim()) problems.push(`tcId ${entry.tcId}: exception without a reason`);
    listed.set(entry.tcId, entry.verdict === 'accept');
  }
  const seen = new Set();
  const cases = [];
  for (const group of doc.testGroups) {
    const key = { kty: 'P256', x: group.publicKey.uncompressed };
    for (const t of group.tests) {
      const plain = { valid: true, invalid: false }[t.result];
      let expected = plain;
      if (listed.has(t.tcId)) {
        seen.add(t.tcId);
        expected = listed.get(t.tcId);
        if (plain === expected) problems.push(`tcId ${t.tcId}: listed in exceptions.json but agrees with Wycheproof (${t.result})`);
      } else if (plain === undefined) {
        problems.push(`tcId ${t.tcId}: ${t.result} case not in exceptions.json`);
        continue;
      }
      cases.push({ name: `tcId ${t.tcId} (${t.comment})`, scheme: 'EcdsaP256Sha256', key, msg: t.msg, sig: t.sig, expected });
    }
  }
  for (const id of listed.keys()) {
    if (!seen.has(id)) problems.push(`exceptions.json names tcId ${id}, which is not in ${FILE}`);
  }
  return { cases, problems };
}

/** The vector file and its exceptions, as stored. */
function storedWycheproof() {
  const doc = JSON.parse(readFileSync(join(WYCHEPROOF, FILE), 'utf8'));
  const exceptions = JSON.parse(readFileSync(join(WYCHEPROOF, 'exceptions.json'), 'utf8')).files[FILE];
  assert.ok(Array.isArray(exceptions), `exceptions.json has no list for ${FILE}`);
  return { doc, exceptions };
}

function tamper(sigHex) {
  const b = Buffer.from(sigHex, 'hex');
  b[b.length - 1] ^= 1;
  return hex(b);
}

/** Known-good and tampered cases for every scheme, signed here. */
function generatedCases() {
  const msg = Buffer.from('edgeward webcrypto conformance');
  const other = hex(Buffer.from('edgeward webcrypto conformancf'));
  const cases = [];
  const add = (name, scheme, key, sig, expected, m = hex(msg)) => cases.push({ name, scheme, key, msg: m, sig, expected });
  const family = (name, scheme, key, sig) => {
    add(`${name} good`, scheme, key, sig, true);
    add(`${name} tampered signature`, scheme, key, tamper(sig), false);
    add(`${name} other message`, scheme, key, sig, false, other);
  };

  const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = rsa.publicKey.export({ format: 'jwk' });
  const rsaKey = { kty: 'RSA', n: b64hex(jwk.n), e: b64hex(jwk.e) };
  const pss = (hash, saltLength) => hex(crypto.sign(hash, msg, { key: rsa.privateKey, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength }));
  for (const [bits, hash, salt] of [[256, 'sha256', 32], [384, 'sha384', 48], [512, 'sha512', 64]]) {
    const pkcs1 = hex(crypto.sign(hash, msg, rsa.privateKey));
    family(`RSA-2048 PKCS1 SHA-${bits}`, `RsaPkcs1Sha${bits}`, rsaKey, pkcs1);
    family(`RSA-2048 PSS SHA-${bits}`, `RsaPssSha${bits}`, rsaKey, pss(hash, salt));
    add(`RSA PSS SHA-${bits} with a 0-byte salt`, `RsaPssSha${bits}`, rsaKey, pss(hash, 0), false);
    add(`RSA PKCS1 signature checked as PSS SHA-${bits}`, `RsaPssSha${bits}`, rsaKey, pkcs1, false);
    add(`RSA PSS signature checked as PKCS1 SHA-${bits}`, `RsaPkcs1Sha${bits}`, rsaKey, pss(hash, salt), false);
  }
  const pkcs1 = hex(crypto.sign('sha256', msg, rsa.privateKey));
  add('RSA signature one byte short', 'RsaPkcs1Sha256', rsaKey, pkcs1.slice(2), false);
  add('RSA signature with a leading zero byte', 'RsaPkcs1Sha256', rsaKey, `00${pkcs1}`, false);
  add('RSA modulus with a leading zero byte', 'RsaPkcs1Sha256', { ...rsaKey, n: `00${rsaKey.n}` }, pkcs1, true);
  add('RSA even exponent', 'RsaPkcs1Sha256', { ...rsaKey, e: '010000' }, pkcs1, false);
  const e17 = crypto.generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 17 });
  const e17Jwk = e17.publicKey.export({ format: 'jwk' });
  family('RSA-2048 e=17 PKCS1 SHA-256', 'RsaPkcs1Sha256', { kty: 'RSA', n: b64hex(e17Jwk.n), e: b64hex(e17Jwk.e) },
    hex(crypto.sign('sha256', msg, e17.privateKey)));
  const small = crypto.generateKeyPairSync('rsa', { modulusLength: 1024 });
  const smallJwk = small.publicKey.export({ format: 'jwk' });
  add('RSA-1024 is below the size bound', 'RsaPkcs1Sha256', { kty: 'RSA', n: b64hex(smallJwk.n), e: b64hex(smallJwk.e) },
    hex(crypto.sign('sha256', msg, small.privateKey)), false);

  const ed = crypto.generateKeyPairSync('ed25519');
  const edKey = { kty: 'Ed25519', x: b64hex(ed.publicKey.export({ format: 'jwk' }).x) };
  family('Ed25519', 'Ed25519', edKey, hex(crypto.sign(null, msg, ed.privateKey)));
  // A = R = the identity and s = 0 satisfy [s]B = R + [k]A for every message: BoringSSL alone would
  // accept; verify_strict refuses small-order keys and R, and so must WebCrypto here.
  const identity = `01${'00'.repeat(31)}`;
  add('Ed25519 small-order key and R', 'Ed25519', { kty: 'Ed25519', x: identity }, identity + '00'.repeat(32), false);
  add('Ed25519 signature too short', 'Ed25519', edKey, hex(crypto.sign(null, msg, ed.privateKey)).slice(2), false);

  const ec = (curve, kty, hash, scheme) => {
    const pair = crypto.generateKeyPairSync('ec', { namedCurve: curve });
    const j = pair.publicKey.export({ format: 'jwk' });
    const point = `04${b64hex(j.x)}${b64hex(j.y)}`;
    const sig = hex(crypto.sign(hash, msg, { key: pair.privateKey, dsaEncoding: 'ieee-p1363' }));
    return { key: { kty, x: point }, sig, point };
  };
  const p384 = ec('P-384', 'P384', 'sha384');
  family('ECDSA P-384 SHA-384', 'EcdsaP384Sha384', p384.key, p384.sig);
  add('ECDSA P-384 signature with a trailing byte', 'EcdsaP384Sha384', p384.key, `${p384.sig}00`, false);
  const p256x384 = ec('P-256', 'P256', 'sha384');
  family('ECDSA P-256 SHA-384 (any SHA-2 with any curve)', 'EcdsaP256Sha384', p256x384.key, p256x384.sig);
  const p384x256 = ec('P-384', 'P384', 'sha256');
  family('ECDSA P-384 SHA-256 (any SHA-2 with any curve)', 'EcdsaP384Sha256', p384x256.key, p384x256.sig);
  const p256 = ec('P-256', 'P256', 'sha256');
  family('ECDSA P-256 SHA-256', 'EcdsaP256Sha256', p256.key, p256.sig);
  const compressed = crypto.ECDH.convertKey(p256.point, 'prime256v1', 'hex', 'hex', 'compressed');
  family('ECDSA P-256 compressed point (RustCrypto fallback)', 'EcdsaP256Sha256', { kty: 'P256', x: compressed }, p256.sig);
  add('ECDSA P-256 signature one byte short', 'EcdsaP256Sha256', p256.key, p256.sig.slice(2), false);
  add('ECDSA P-256 point off the curve', 'EcdsaP256Sha256', { kty: 'P256', x: p256.point.slice(0, -2) + (p256.point.endsWith('00') ? '01' : '00') }, p256.sig, false);
  add('ECDSA P-256 key used for RSA', 'RsaPkcs1Sha256', p256.key, pkcs1, false);
  add('RSA key used for ECDSA', 'EcdsaP256Sha256', rsaKey, p256.sig, false);
  return cases;
}

/** AES-256-GCM cases: `expected` is the plaintext (hex) or null for a refusal. */
function aesGcmCases() {
  const cases = [];
  const add = (name, item, expected) => cases.push({ name, item, expected });
  // NIST SP 800-38D test vector (gcmDecrypt256.rsp, 96-bit IV, 408-bit PT, 160-bit AAD, Count 0).
  add('NIST gcmDecrypt256 vector', {
    key: '463b412911767d57a0b33969e674ffe7845d313b88c6fe312f3d724be68e1fca',
    nonce: '611ce6f9a6880750de7da6cb',
    sealed: '8886e196010cb3849d9c1a182abe1eeab0a5f3ca423c3669a4a8703c0f146e8e956fb122e0d721b869d2b6fcd4216d7d4d3758'
      + '2469cecd70fd98fec9264f71df1aee9a',
    aad: '0a682fbc6192e1b47a5e0868787ffdafe5a50cead3575849990cdd2ea9b3597749403efb4a56684f0c6bde352d4aeec5',
  }, 'e7d1dcf668e2876861940e012fe52a98dacbd78ab63c08842cc9801ea581682ad54af0c34d0d7f6f59e8ee0bf4900e0fd85042');
  const seal = (key, nonce, plaintext, aad) => {
    const cipher = crypto.createCipheriv('aes-256-gcm', key, nonce);
    cipher.setAAD(aad);
    return Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
  };
  const key = crypto.randomBytes(32);
  const nonce = crypto.randomBytes(12);
  const aad = Buffer.from('__Host-ew-at');
  const plaintext = crypto.randomBytes(2048);
  const sealed = seal(key, nonce, plaintext, aad);
  const item = (over = {}) => ({ key: hex(key), nonce: hex(nonce), sealed: hex(sealed), aad: hex(aad), ...over });
  const flip = (b, i) => { const c = Buffer.from(b); c[i] ^= 1; return hex(c); };
  add('2 KiB valid', item(), hex(plaintext));
  add('2 KiB valid (imported key reused)', item(), hex(plaintext));
  add('empty plaintext', item({ sealed: hex(seal(key, nonce, Buffer.alloc(0), aad)) }), '');
  add('tampered tag', item({ sealed: flip(sealed, sealed.length - 1) }), null);
  add('tampered ciphertext', item({ sealed: flip(sealed, 0) }), null);
  add('wrong AAD (another cookie name)', item({ aad: hex(Buffer.from('__Host-ew-id')) }), null);
  add('empty AAD', item({ aad: '' }), null);
  add('other nonce', item({ nonce: flip(nonce, 0) }), null);
  add('other key', item({ key: hex(crypto.randomBytes(32)) }), null);
  add('truncated by one byte', item({ sealed: hex(sealed.subarray(0, -1)) }), null);
  add('truncated to the tag', item({ sealed: hex(sealed.subarray(-16)) }), null);
  add('shorter than a tag', item({ sealed: hex(sealed.subarray(0, 15)) }), null);
  add('empty', item({ sealed: '' }), null);
  return cases;
}

/** Checks WebCrypto against the expected verdicts and, where this build has RustCrypto for the
 *  scheme (P-256 with SHA-256; the Workers function leaves P-256 with SHA-384, P-384, RSA and
 *  Ed25519 to WebCrypto and answers `rustcrypto: null`), against RustCrypto. Returns how many
 *  were cross-checked. */
function check(cases, got) {
  const wrong = [];
  let crossChecked = 0;
  cases.forEach((c, i) => {
    const { webcrypto, rustcrypto } = got[i];
    if (webcrypto !== c.expected) wrong.push(`${c.name}: WebCrypto said ${webcrypto}, expected ${c.expected}`);
    if (rustcrypto === null && c.scheme !== 'EcdsaP256Sha256') return;
    crossChecked++;
    if (webcrypto !== rustcrypto) wrong.push(`${c.name}: WebCrypto ${webcrypto} != RustCrypto ${rustcrypto}`);
  });
  assert.deepEqual(wrong, []);
  return crossChecked;
}

// The reasons-file rules themselves, on made-up files: no runtime needed.
test('the Wycheproof harness fails on stale, unknown and unexplained exceptions', () => {
  const doc = { testGroups: [{ publicKey: { uncompressed: '04' }, tests: [
    { tcId: 1, comment: 'valid', msg: '', sig: '', result: 'valid' },
    { tcId: 2, comment: 'invalid', msg: '', sig: '', result: 'invalid' },
    { tcId: 3, comment: 'acceptable', msg: '', sig: '', result: 'acceptable' },
  ] }] };
  const run = (exceptions) => wycheproofCases(doc, exceptions).problems;
  const acceptable = { tcId: 3, verdict: 'reject', reason: 'we are strict' };
  assert.deepEqual(run([acceptable]), []);
  assert.deepEqual(wycheproofCases(doc, [acceptable]).cases.map((c) => c.expected), [true, false, false]);
  // A deliberate divergence with a reason is fine.
  assert.deepEqual(run([acceptable, { tcId: 2, verdict: 'accept', reason: 'known' }]), []);
  const fails = (exceptions, pattern) => {
    const problems = run(exceptions);
    assert.ok(problems.some((p) => pattern.test(p)), `expected ${pattern}, got ${JSON.stringify(problems)}`);
  };
  fails([], /tcId 3: acceptable case not in exceptions.json/);
  fails([acceptable, { tcId: 1, verdict: 'accept', reason: 'stale' }], /tcId 1: listed in exceptions.json but agrees/);
  fails([acceptable, { tcId: 99, verdict: 'reject', reason: 'gone' }], /names tcId 99, which is not in/);
  fails([{ tcId: 3, verdict: 'reject', reason: ' ' }], /tcId 3: exception without a reason/);
  fails([{ tcId: 3, verdict: 'maybe', reason: 'x' }], /verdict must be accept or reject/);
  fails([acceptable, acceptable], /tcId 3 listed twice/);
});

if (RUNTIMES.includes('workers')) {
  describe('WebCrypto backend on workers', () => {
    let gateway, plain;

    before(async () => {
      [gateway, plain] = await Promise.all([
        startGateway('workers', config, { vars: { EDGEWARD_SELFTEST: '1' } }),
        startGateway('workers', config, { vars: { EDGEWARD_CRYPTO: 'rustcrypto' } }),
      ]);
    });

    after(async () => {
      await Promise.all([gateway, plain].filter(Boolean).map((g) => g.stop()));
    });

    test('Wycheproof ECDSA P-256 P1363: WebCrypto matches the vectors and RustCrypto', async (t) => {
      const { doc, exceptions } = storedWycheproof();
      const { cases, problems } = wycheproofCases(doc, exceptions);
      assert.deepEqual(problems, [], 'exceptions.json must list exactly the divergences');
      assert.equal(cases.length, doc.numberOfTests, 'every case must run');
      const got = await verdicts(gateway, cases);
      check(cases, got);
      const accepted = got.filter((v) => v.webcrypto).length;
      t.diagnostic(`${cases.length} cases: ${accepted} accepted, ${cases.length - accepted} rejected, by both backends`);
      // Twice: the second pass runs on imported keys from the cache (and its evictions: 112 keys > 64).
      check(cases, await verdicts(gateway, cases));
    });

    test('RSA PKCS1/PSS, ECDSA P-384, Ed25519 and fallbacks: known-good and tampered', async (t) => {
      const cases = generatedCases();
      const crossChecked = check(cases, await verdicts(gateway, cases));
      t.diagnostic(`${cases.length} generated cases as expected, ${crossChecked} of them also by RustCrypto in Wasm`);
    });

    test('the self-test refuses malformed and oversized batches', async () => {
      const post = (body) => fetch(`${gateway.url}${SELFTEST}`, { method: 'POST', body });
      assert.equal((await post('{}')).status, 400);
      assert.equal((await post(JSON.stringify([{ scheme: 'Nope', key: {}, msg: '', sig: '' }]))).status, 400);
      const item = { scheme: 'Ed25519', key: { kty: 'Ed25519', x: '00'.repeat(32) }, msg: '', sig: '00'.repeat(64) };
      assert.equal((await post(JSON.stringify(Array(513).fill(item)))).status, 413);
    });

    test('without EDGEWARD_SELFTEST the path belongs to the core', async () => {
      const res = await fetch(`${plain.url}${SELFTEST}`, { method: 'POST', body: '[]' });
      const body = await res.text();
      assert.notEqual(res.status, 200, body);
      assert.match(res.headers.get('content-type') ?? '', /application\/json/);
      assert.ok(!body.startsWith('['), body);
    });

    test('the gateway function has no AES-GCM self-test', async () => {
      const res = await fetch(`${gateway.url}${AES_SELFTEST}`, { method: 'POST', body: '[]' });
      assert.notEqual(res.status, 200, await res.text());
    });

    test('after a Rust panic (a Wasm trap) the next request gets a fresh instance', async () => {
      const trap = '/.well-known/edgeward/selftest/trap';
      for (let round = 0; round < 3; round += 1) {
        const trapped = await fetch(`${gateway.url}${trap}`, { method: 'POST', body: '[]' });
        assert.equal(trapped.status, 500, 'workerd answers the trapped request with an error');
        await trapped.arrayBuffer();
        const health = await fetch(`${gateway.url}/.well-known/edgeward/health`);
        assert.equal(health.status, 200, `round ${round}: ${await health.clone().text()}`);
        assert.equal((await health.json()).status, 'ok');
        const item = generatedCases()[0];
        const [verdict] = await verdicts(gateway, [item]);
        assert.equal(verdict.webcrypto, item.expected, `round ${round}: the new instance verifies`);
      }
    });

    test('EDGEWARD_CRYPTO=rustcrypto serves health as usual', async () => {
      const res = await fetch(`${plain.url}/.well-known/edgeward/health`);
      assert.equal(res.status, 200);
      assert.equal((await res.json()).status, 'ok');
    });
  });
}

if (RUNTIMES.includes('workers')) {
  describe('WebCrypto AES-256-GCM on workers (token-handler function)', () => {
    let gateway;

    before(async () => {
      gateway = await startGateway('workers', config, { fn: 'token-handler', vars: { EDGEWARD_SELFTEST: '1' } });
    });

    after(async () => {
      await gateway?.stop();
    });

    test('valid, tampered, wrong AAD and truncated: WebCrypto and RustCrypto as expected', async (t) => {
      const cases = aesGcmCases();
      const res = await fetch(`${gateway.url}${AES_SELFTEST}`, { method: 'POST', body: JSON.stringify(cases.map((c) => c.item)) });
      assert.equal(res.status, 200, await res.clone().text());
      const got = await res.json();
      assert.equal(got.length, cases.length);
      const wrong = [];
      cases.forEach((c, i) => {
        for (const backend of ['webcrypto', 'rustcrypto']) {
          if (got[i][backend] !== c.expected) wrong.push(`${c.name}: ${backend} gave ${String(got[i][backend]).slice(0, 40)}, expected ${String(c.expected).slice(0, 40)}`);
        }
      });
      assert.deepEqual(wrong, []);
      t.diagnostic(`${cases.length} AES-GCM cases as expected by both backends (${cases.filter((c) => c.expected !== null).length} opened)`);
    });

    test('the AES-GCM self-test refuses unreadable items', async () => {
      const post = (items) => fetch(`${gateway.url}${AES_SELFTEST}`, { method: 'POST', body: JSON.stringify(items) });
      const good = { key: '00'.repeat(32), nonce: '00'.repeat(12), sealed: '', aad: '' };
      assert.equal((await post([{ ...good, key: '00'.repeat(16) }])).status, 400);
      assert.equal((await post([{ ...good, nonce: '00'.repeat(16) }])).status, 400);
      assert.equal((await post([{ ...good, sealed: 'zz' }])).status, 400);
      assert.equal((await post([good])).status, 200);
    });
  });
}
