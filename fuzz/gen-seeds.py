#!/usr/bin/env python3
"""Write the seed corpora under fuzz/corpus/<target>/seed-* (run from anywhere; needs `cryptography`).

Seeds are a handful of valid and near-valid inputs per target, made from the repository's own test
data: the jwcrypto interop vectors, the x5c fixture certificates, the README configuration and
introspection answers signed with the fuzz crate's fixed AS key (P-256 scalar [9; 32], public half in
fuzz/src/lib.rs). Deterministic (RFC 6979 ECDSA): rerunning rewrites every seed-* file identically.
"""
import base64
import hashlib
import hmac
import json
import pathlib
import random
import struct

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509 import load_pem_x509_certificate
from cryptography.hazmat.primitives.serialization import Encoding

ROOT = pathlib.Path(__file__).resolve().parent.parent
CORPUS = ROOT / "fuzz/corpus"
NOW = 1_900_000_000
AS = "https://as.test"


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def js(value) -> str:
    return json.dumps(value, separators=(",", ":"))


def write(target: str, name: str, data) -> None:
    if isinstance(data, str):
        data = data.encode()
    path = CORPUS / target / f"seed-{name}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def der(name: str) -> bytes:
    pem = (ROOT / f"shared/tests/data/x5c/{name}.pem").read_bytes()
    return load_pem_x509_certificate(pem).public_bytes(Encoding.DER)


def unsigned(header: dict, claims: dict, sig: bytes = b"\0" * 64) -> str:
    return f"{b64u(js(header).encode())}.{b64u(js(claims).encode())}.{b64u(sig)}"


def as_jwt(claims: dict, typ: str = "token-introspection+jwt") -> str:
    key = ec.derive_private_key(int.from_bytes(bytes([9]) * 32, "big"), ec.SECP256R1())
    header = {"alg": "ES256", "kid": "as1", "typ": typ}
    signing_input = f"{b64u(js(header).encode())}.{b64u(js(claims).encode())}"
    r, s = decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256(), deterministic_signing=True)))
    return f"{signing_input}.{b64u(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


vectors = json.loads((ROOT / "shared/tests/data/interop/jwcrypto.json").read_text())["vectors"]
claims = {"iss": "https://issuer.example", "aud": "edgeward", "sub": "s", "exp": NOW + 600, "iat": NOW}

# jws: the interop tokens, a tampered one, and near-valid shapes.
for v in vectors:
    write("jws", f"interop-{v['alg']}", v["token"])
write("jws", "tampered-ES256", vectors[0]["tampered"])
write("jws", "crit", unsigned({"alg": "ES256", "crit": ["ext"], "ext": 1}, claims))
write("jws", "x5c", unsigned({"alg": "ES256", "x5c": [base64.b64encode(der("leaf")).decode()]}, claims))
write("jws", "alg-none", unsigned({"alg": "none"}, claims, b"x"))
write("jws", "huge-times", unsigned({"alg": "ES256", "typ": "at+jwt"},
                                     dict(claims, exp=1.7e308, nbf=-1.7e308, iat=18446744073709551615)))

# jwk: every interop key, a set of all, and refusals.
for v in vectors:
    write("jwk", f"interop-{v['alg']}", js(v["jwk"]))
write("jwk", "set", js({"keys": [v["jwk"] for v in vectors]}))
write("jwk", "private", js(dict(vectors[0]["jwk"], d="AAAA")))
write("jwk", "x5c", js(dict(vectors[0]["jwk"], x5c=[base64.b64encode(der("leaf")).decode()])))
write("jwk", "oct", js({"keys": [{"kty": "oct", "k": "AAAA"}, {"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}]}))

# config: the README example, the wrangler default and the fuzz crate's own configurations.
write("config", "readme", js({
    "origin": "https://api.internal.example",
    "routes": [{"path": "/health", "anonymous": True}, {"path": "/api/*", "methods": ["GET", "POST"]}],
    "issuers": [{"issuer": "https://login.example", "audiences": ["https://api.example"],
                 "algorithms": ["ES256"], "require_typ": "at+jwt", "x5c": {}}],
}))
write("config", "wrangler", '{"origin":"https://origin.example","routes":[{"path":"/*"}]}')
full = {
    "origin": "http://origin.test/base",
    "routes": [{"path": "/public/*", "anonymous": True}, {"path": "/api/*", "methods": ["GET"]}],
    "unmatched": "require_token",
    "max_token_bytes": 4096,
    "issuers": [
        {"issuer": "https://issuer.example", "audiences": ["edgeward"],
         "algorithms": ["ES256", "ES384", "RS256", "PS256", "EdDSA"],
         "jwks": {"keys": [v["jwk"] for v in vectors]}, "leeway_seconds": 18446744073709551615,
         "max_age_seconds": 18446744073709551615, "required_claims": ["sub"]},
        {"issuer": "https://remote.example", "audiences": ["edgeward"], "jwks_uri": "https://remote.example/jwks",
         "jwks_cache": {"min_ttl": 10, "max_ttl": 5, "default_ttl": 1, "refresh_cooldown": 0,
                        "max_stale": 18446744073709551615, "timeout_ms": 1}},
    ],
    "introspection": {"endpoint": "https://as.test/introspect", "issuer": "https://remote.example",
                      "client_id": "gw", "client_secret_name": "GW_SECRET", "response": "jwt",
                      "max_ttl": 18446744073709551615, "negative_ttl": 0, "capacity": 1},
}
write("config", "full", js(full))

# introspection: RFC 7662 JSON answers and RFC 9701 signed answers from the fixed AS key.
active = {"active": True, "sub": "alice", "scope": "a b", "client_id": "app", "exp": NOW + 600, "iss": AS}
write("introspection", "json-active", js(active))
write("introspection", "json-inactive", js({"active": False}))
write("introspection", "json-expired", js(dict(active, exp=NOW - 1)))
write("introspection", "json-huge-exp", js(dict(active, exp=18446744073709551615)))
write("introspection", "json-duplicate", '{"active":true,"active":false}')
rfc9701 = {"iss": AS, "aud": "gw", "iat": NOW, "token_introspection": active}
write("introspection", "jwt-active", as_jwt(rfc9701))
write("introspection", "jwt-inactive", as_jwt(dict(rfc9701, token_introspection={"active": False})))
write("introspection", "jwt-wrong-typ", as_jwt(rfc9701, typ="JWT"))
write("introspection", "jwt-wrong-aud", as_jwt(dict(rfc9701, aud="other")))


# x5c: 8-byte now, flags, then length-prefixed DER certificates.
def chain(now: int, flags: int, *names: str) -> bytes:
    out = struct.pack(">QB", now, flags)
    for name in names:
        data = der(name)
        out += struct.pack(">H", len(data)) + data
    return out


write("x5c", "leaf-int", chain(NOW, 0, "leaf", "int"))
write("x5c", "leaf-int-root-pinned", chain(NOW, 3, "leaf", "int", "root"))
write("x5c", "leaf-int-tight", chain(NOW, 4, "leaf", "int"))
write("x5c", "leaf-alone", chain(NOW, 0, "leaf"))
write("x5c", "expired", chain(2_200_000_000, 0, "leaf", "int"))
write("x5c", "cross", chain(NOW, 0, "leaf", "int-a", "int-b", "int-c", "other-root"))
write("x5c", "pathlen", chain(NOW, 0, "leaf-pathlen", "int-below-pathlen0", "int-pathlen0"))
write("x5c", "not-ca", chain(NOW, 0, "leaf-under-not-ca", "int-not-ca"))
write("x5c", "unknown-crit", chain(NOW, 0, "leaf-unknown-crit", "int"))

# pipeline: arbitrary-decoded, so seeds are just varied bytes; the fuzzer finds the structure.
rng = random.Random(9421)
for n, size in enumerate([16, 64, 256, 1024]):
    write("pipeline", f"random-{n}", bytes(rng.randrange(256) for _ in range(size)))
write("pipeline", "interop-token", b"\x00" * 4 + b"\x01" * 60)
# dpop: flag byte, "METHOD URL NOW", then a proof (raw) or header JSON + newline + claims JSON (the
# target signs them with the client key, P-256 scalar [5; 32]). The access token is the target's own
# (fuzz/src/lib.rs dpop_access_token: the same header and claims bytes, signed with [6; 32]).
def p256_key(byte: int):
    return ec.derive_private_key(int.from_bytes(bytes([byte]) * 32, "big"), ec.SECP256R1())


def public_jwk(key) -> dict:
    numbers = key.public_key().public_numbers()
    return {"kty": "EC", "crv": "P-256", "x": b64u(numbers.x.to_bytes(32, "big")),
            "y": b64u(numbers.y.to_bytes(32, "big"))}


def es256(key, header: bytes, claims: bytes) -> str:
    signing_input = f"{b64u(header)}.{b64u(claims)}"
    r, s = decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256(), deterministic_signing=True)))
    return f"{signing_input}.{b64u(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def sha256_b64u(data: bytes) -> str:
    digest = hashes.Hash(hashes.SHA256())
    digest.update(data)
    return b64u(digest.finalize())


client = p256_key(5)
client_jwk = public_jwk(client)
jkt = sha256_b64u(js({k: client_jwk[k] for k in ("crv", "kty", "x", "y")}).encode())
token_claims = (f'{{"aud":"gw","cnf":{{"jkt":"{jkt}"}},"exp":4102444800,"iat":{NOW},'
                f'"iss":"https://dpop-issuer.test","sub":"alice"}}')
access_token = es256(p256_key(6), b'{"alg":"ES256","kid":"iss1","typ":"at+jwt"}', token_claims.encode())
ath = sha256_b64u(access_token.encode())


def nonce(secret: bytes, now: int) -> str:
    mac = hmac.new(secret, b"edgeward/dpop/nonce/v1\0" + struct.pack(">Q", now // 300), hashlib.sha256)
    return b64u(mac.digest())


def dpop(name: str, flags: int, method: str, url: str, header: dict, claims: dict, now: int = NOW) -> None:
    write("dpop", name, bytes([flags]) + f"{method} {url} {now}\n{js(header)}\n{js(claims)}".encode())


proof_header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": client_jwk}
api = "https://gw.test/api/orders"
proof = {"jti": "j1", "htm": "GET", "htu": api, "iat": NOW, "ath": ath}
dpop("signed", 1 | 2, "GET", api, proof_header, proof)
dpop("gateway-optional", 1 | 2 | 4, "GET", api, proof_header, proof)
dpop("gateway-required", 1 | 2 | 4 | 32, "POST", api, proof_header, dict(proof, htm="POST"))
dpop("gateway-twice", 1 | 4 | 8, "GET", api, proof_header, proof)
dpop("gateway-nonce", 1 | 4 | 16, "GET", api, proof_header, dict(proof, nonce=nonce(b"n" * 32, NOW)))
dpop("gateway-public-base", 1 | 4 | 64, "GET", "http://10.0.0.7:8080/api/orders?x=1", proof_header,
     dict(proof, htu="https://api.example/v1/api/orders"))
dpop("htu-normalised", 1 | 2, "GET", "https://gw.test/api/%7Eorders", proof_header,
     dict(proof, htu="HTTPS://GW.test:443/api/./%7eorders?q#f"))
dpop("nonce-standalone", 1, "GET", api, proof_header, dict(proof, nonce=nonce(bytes([1]) * 32, NOW)))
dpop("private-jwk", 1, "GET", api, dict(proof_header, jwk=dict(client_jwk, d="AAAA")), proof)
dpop("alg-hs256", 1, "GET", api, dict(proof_header, alg="HS256"), proof)
dpop("typ-jwt", 1, "GET", api, dict(proof_header, typ="JWT"), proof)
dpop("iat-float", 1, "GET", api, proof_header, dict(proof, iat=1.9e9))
raw = es256(client, js(proof_header).encode(), js(proof).encode())
write("dpop", "raw-gateway", bytes([2 | 4]) + f"GET {api} {NOW}\n{raw}".encode())
# RFC 9449 §4.1 Figure 2 and §7.1 Figure 13, at their own times.
write("dpop", "rfc9449-token-request", b"\x00POST https://server.example.com/token 1562262616\n" + (
    b"eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpD"
    b"a0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6"
    b"IlAtMjU2In19.eyJqdGkiOiItQndDM0VTYzZhY2MybFRjIiwiaHRtIjoiUE9TVCIsImh0dSI6Imh0dHBzOi8vc2VydmVyLmV4YW1wbGUu"
    b"Y29tL3Rva2VuIiwiaWF0IjoxNTYyMjYyNjE2fQ.2-GxA6T8lP4vfrg8v-FdWP0A0zdrj8igiMLvqRMUvwnQg4PtFLbdLXiOSsX0x7NVY-"
    b"FNyJK70nfbV37xRZT3Lg"))

# htu: two flag bytes (which path characters to percent-encode, spelling changes), then the URI.
for n, uri in enumerate([
    "https://gw.test/api/orders",
    "HTTPS://Example.COM:443/a/./b/../c?q=1#frag",
    "http://example.com:80/%7euser/%41%2f%2F",
    "https://example.com:8443/a%20b/~x_y-z.w",
    "http://[::1]:8080/x",
    "https://user:pw@example.com/",
    "http://10.0.0.7",
    "https://xn--bcher-kva.example/b%C3%BCcher",
    "https://example.com/%zz/%4",
]):
    write("htu", f"uri-{n}", bytes([0xA5, 0x0F]) + uri.encode())

# rfc9421: flag byte, "METHOD TARGET-URI", then header lines: the requests the gateway forwarded in
# verifier/js/test/fixture.json (ECDSA and HMAC), as is and re-signed, and RFC 9421 §B.2.5.
fixture = json.loads((ROOT / "verifier/js/test/fixture.json").read_text())
for kind in ("ecdsa", "hmac"):
    case = fixture[kind]
    text = f"{case['method']} {case['target_uri']}\n" + "\n".join(f"{n}: {v}" for n, v in case["headers"])
    write("rfc9421", f"gateway-{kind}", b"\x00" + text.encode())
    write("rfc9421", f"gateway-{kind}-resigned", b"\x01" + text.encode())
write("rfc9421", "rfc9421-b25", b"\x02POST https://example.com/foo?param=Value&Pet=dog\n"
      b"host: example.com\ndate: Tue, 20 Apr 2021 02:07:55 GMT\ncontent-type: application/json\n"
      b'signature-input: sig-b25=("date" "@authority" "content-type");created=1618884473;keyid="test-shared-secret"\n'
      b"signature: sig-b25=:pxcQw6G3AjtMBQjwo8XzkZf/bws5LelbaMk5rGIGtE8=:")
write("rfc9421", "many-members", b"\x03GET https://o.test/p?q\nx-a: 1\n"
      b'signature-input: edgeward=("@method" "@target-uri" "@authority" "@scheme" "@request-target" "@path" "@query" "x-a");'
      b'created=1800000000;expires=1800000030;nonce="n";keyid="edgeward-hmac";alg="hmac-sha256", b=();tag="t"\n'
      b"signature: edgeward=:AAAA:, b=:/w==:")

print(f"seeds written under {CORPUS}")
