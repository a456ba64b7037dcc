#!/usr/bin/env python3
"""Generate interop vectors for shared/tests/interop.rs with jwcrypto (`pip install jwcrypto`).

For each JWS algorithm edgeward accepts, create a fresh key pair, sign one JWT, and write the
public JWK, jwcrypto's RFC 7638 thumbprint, the token and a tampered copy (one payload character
changed, signature kept) to shared/tests/data/interop/jwcrypto.json. Private keys are discarded:
only public data is written.
"""
import base64
import importlib.metadata
import json
import pathlib
import sys

from jwcrypto import jwk, jwt

OUT = pathlib.Path(__file__).resolve().parent.parent / "shared/tests/data/interop/jwcrypto.json"

KEYS = {
    "ES256": dict(kty="EC", crv="P-256"),
    "ES384": dict(kty="EC", crv="P-384"),
    "RS256": dict(kty="RSA", size=2048),
    "PS256": dict(kty="RSA", size=3072),
    "EdDSA": dict(kty="OKP", crv="Ed25519"),
}


def tamper(token: str) -> str:
    """Change one claim value (still a valid JSON object, canonical base64url) and keep the signature."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = claims["sub"] + "x"
    body = json.dumps(claims, separators=(",", ":")).encode()
    forged = base64.urlsafe_b64encode(body).rstrip(b"=").decode()
    return ".".join([header, forged, signature])


def main() -> int:
    vectors = []
    for alg, params in KEYS.items():
        kid = f"interop-{alg.lower()}"
        key = jwk.JWK.generate(kid=kid, **params)
        claims = {
            "iss": "https://issuer.example",
            "aud": "edgeward",
            "sub": f"interop-{alg}",
            "iat": 1700000000,
            "exp": 4102444800,
        }
        token = jwt.JWT(header={"alg": alg, "typ": "at+jwt", "kid": kid}, claims=claims)
        token.make_signed_token(key)
        serialized = token.serialize()
        public = json.loads(key.export_public())
        assert not any(k in public for k in ("d", "p", "q", "dp", "dq", "qi", "k"))
        vectors.append(
            {
                "alg": alg,
                "jwk": public,
                "thumbprint": key.thumbprint(),
                "token": serialized,
                "tampered": tamper(serialized),
            }
        )
    doc = {
        "generator": f"jwcrypto {importlib.metadata.version('jwcrypto')}",
        "script": "scripts/gen-interop-vectors.py",
        "vectors": vectors,
    }
    OUT.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {len(vectors)} vectors to {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
