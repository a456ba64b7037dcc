#!/usr/bin/env python3
"""Write the seed corpora under fuzz/corpus/<target>/seed-* (run from anywhere; needs `cryptography`).

Seeds are a handful of valid and near-valid inputs per target, made from the repository's own test
data: the jwcrypto interop vectors, the x5c fixture certificates, the README configuration and
introspection answers signed with the fuzz crate's fixed AS key (P-256 scalar [9; 32], public half in
fuzz/src/lib.rs). Deterministic (RFC 6979 ECDSA): rerunning rewrites every seed-* file identically.
"""
import base64
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
print(f"seeds written under {CORPUS}")
