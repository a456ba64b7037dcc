// Certificate-bound tokens (RFC 8705) on Workers with Cloudflare's word on the client certificate
// (issue #13, defect 4): `request.cf.tlsClientAuth` reports the fingerprint, whether the chain was
// verified (`certVerified`: "SUCCESS", "NONE" or "FAILED:<reason>") and whether it is revoked
// (`certRevoked`: "1" / "0"). Bare workerd fills `request.cf` from the JSON in a test-only header
// (scripts/serve --cf-blob-header), which stands in for Cloudflare's edge here. Workers only: Spin
// (wasi:http) sees no client certificate at all, only the configured header path.
import { describe, before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { RUNTIMES, npm, startOrigin, startGateway } from './lib/harness.mjs';

const ISSUER = 'https://mtls-issuer.e2e.test';
const AUDIENCE = 'api://orders';
const CF_BLOB = 'x-test-cf-blob';

// A client certificate, as far as the gateway sees one on Workers: its SHA-256 fingerprint.
const certDer = Buffer.from('edgeward e2e client certificate (stands in for DER)');
const fingerprint = crypto.createHash('sha256').update(certDer).digest();
const otherFingerprint = crypto.createHash('sha256').update('another certificate').digest('hex');

/** Cloudflare's tlsClientAuth for a presented certificate, with these fields changed. */
function tlsClientAuth(fields = {}) {
  return {
    certPresented: '1',
    certFingerprintSHA256: fingerprint.toString('hex'),
    certVerified: 'SUCCESS',
    certRevoked: '0',
    certSubjectDN: 'CN=client',
    certIssuerDN: 'CN=client CA',
    ...fields,
  };
}

if (RUNTIMES.includes('workers')) {
  describe('certificate-bound tokens with cf.tlsClientAuth on workers', () => {
    let jose, origin, strict, lenient, token;

    before(async () => {
      jose = await npm('jose', 'dist/webapi/index.js');
      const pair = await jose.generateKeyPair('ES256', { extractable: true });
      const jwk = { ...(await jose.exportJWK(pair.publicKey)), kid: 'k1', use: 'sig', alg: 'ES256' };
      const now = Math.floor(Date.now() / 1000);
      token = await new jose.SignJWT({
        iss: ISSUER, aud: AUDIENCE, sub: 'device-7', iat: now, exp: now + 600,
        cnf: { 'x5t#S256': fingerprint.toString('base64url') },
      }).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).sign(pair.privateKey);
      origin = await startOrigin();
      const config = (mtls) => ({
        origin: origin.url,
        routes: [{ path: '/orders/*' }],
        issuers: [{ issuer: ISSUER, audiences: [AUDIENCE], jwks: { keys: [jwk] } }],
        mtls,
      });
      [strict, lenient] = await Promise.all([
        startGateway('workers', config({}), { cfBlobHeader: CF_BLOB }),
        startGateway('workers', config({ accept_unverified_client_certs: true }), { cfBlobHeader: CF_BLOB }),
      ]);
    });

    after(async () => {
      await Promise.all([strict?.stop(), lenient?.stop()]);
      await origin?.close();
    });

    /** A request with the bound token and this `request.cf.tlsClientAuth` (none if null). */
    async function call(gateway, auth) {
      const before = origin.requests.length;
      const headers = { authorization: `Bearer ${token}` };
      if (auth) headers[CF_BLOB] = JSON.stringify({ tlsClientAuth: auth });
      const res = await fetch(`${gateway.url}/orders/7`, { headers });
      const body = await res.json();
      return { status: res.status, code: body.code, body, originCalls: origin.requests.length - before };
    }

    const refused = (got, code, what) => {
      assert.equal(got.status, 401, `${what}: ${JSON.stringify(got.body)}`);
      assert.equal(got.code, code, what);
      assert.equal(got.originCalls, 0, `${what}: the origin must not be called`);
    };

    test('a verified, unrevoked certificate of the bound thumbprint reaches the origin', async () => {
      for (const gateway of [strict, lenient]) {
        const got = await call(gateway, tlsClientAuth());
        assert.equal(got.status, 200, JSON.stringify(got.body));
        assert.equal(got.originCalls, 1);
        // workerd consumed the test header: it is not passed on.
        assert.equal(got.body.headers[CF_BLOB], undefined);
      }
    });

    test('a revoked certificate never satisfies x5t#S256', async () => {
      for (const [name, gateway] of [['strict', strict], ['accept_unverified_client_certs', lenient]]) {
        refused(await call(gateway, tlsClientAuth({ certRevoked: '1' })), 'ERR_MTLS_CERT_MISSING', `${name}, revoked`);
        refused(await call(gateway, tlsClientAuth({ certRevoked: '1', certVerified: 'FAILED:self signed certificate' })),
          'ERR_MTLS_CERT_MISSING', `${name}, revoked and unverified`);
        // A missing revocation flag counts against the certificate.
        refused(await call(gateway, tlsClientAuth({ certRevoked: undefined })), 'ERR_MTLS_CERT_MISSING', `${name}, no certRevoked`);
      }
    });

    test('an unverified certificate satisfies x5t#S256 only with accept_unverified_client_certs', async () => {
      for (const certVerified of ['FAILED:self signed certificate', 'FAILED:unable to get local issuer certificate', 'NONE']) {
        refused(await call(strict, tlsClientAuth({ certVerified })), 'ERR_MTLS_CERT_MISSING', `strict, ${certVerified}`);
        const got = await call(lenient, tlsClientAuth({ certVerified }));
        assert.equal(got.status, 200, `accept_unverified_client_certs, ${certVerified}: ${JSON.stringify(got.body)}`);
        assert.equal(got.originCalls, 1);
      }
    });

    test('no certificate is missing; another certificate is a mismatch, whatever its status', async () => {
      refused(await call(strict, null), 'ERR_MTLS_CERT_MISSING', 'no cf at all');
      refused(await call(strict, tlsClientAuth({ certPresented: '0' })), 'ERR_MTLS_CERT_MISSING', 'certPresented 0');
      refused(await call(lenient, tlsClientAuth({ certFingerprintSHA256: otherFingerprint })),
        'ERR_MTLS_CERT_MISMATCH', 'another certificate');
    });
  });
}
