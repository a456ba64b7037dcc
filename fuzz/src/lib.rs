//! Shared pieces of the fuzz targets: a tiny executor, a fake platform whose fetch answers are
//! fuzz data, the fixed keys and trust anchor, and the gateway configuration the pipeline-level
//! targets run under. Nothing here is used by the gateway itself.

use edgeward::crypto::RustCrypto;
use edgeward::platform::{FetchError, FetchRequest, FetchResponse, LogLevel, Platform};
use edgeward::Gateway;
use serde_json::{json, Value};
use std::future::Future;
use std::pin::pin;
use std::sync::OnceLock;
use std::task::{Context, Poll, Waker};

/// 2030-03-17: inside the validity of the interop tokens (iat 2023, exp 2100) and of the x5c
/// fixtures in `shared/tests/data/x5c` (2026–2035).
pub const NOW: u64 = 1_900_000_000;
/// `iss` of the interop tokens (`shared/tests/data/interop/jwcrypto.json`).
pub const INTEROP_ISS: &str = "https://issuer.example";
/// `aud` of the interop tokens.
pub const INTEROP_AUD: &str = "edgeward";
/// The authorization server of the introspection targets.
pub const AS: &str = "https://as.test";
/// Public half of the AS key (P-256 scalar `[9; 32]`, as in `shared/tests/introspection.rs`);
/// `fuzz/gen-seeds.py` signs the RFC 9701 seeds with it.
pub const AS_X: &str = "cTX6T9k6Cdzpi79oG0v89Q58DWNU5ir7C_8qNClheGU";
/// See [`AS_X`].
pub const AS_Y: &str = "7UwfAt25Aj7lalV-UV1qncZsEfIglg3llDNN9Yh3ZyQ";
/// The opaque token the introspection target presents.
pub const OPAQUE_TOKEN: &str = "opaque-fuzz-token";

/// Drives a future that never waits on I/O (the fake platform and RustCrypto are always ready).
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
    }
}

/// One interop vector: algorithm name, public JWK, a valid token and a tampered one.
pub struct Vector {
    /// JWS `alg`.
    pub alg: String,
    /// The public JWK (JSON object).
    pub jwk: Value,
    /// A valid token.
    pub token: String,
    /// The same token with one claim changed (bad signature).
    pub tampered: String,
}

/// The jwcrypto interop vectors, parsed once.
pub fn vectors() -> &'static [Vector] {
    static V: OnceLock<Vec<Vector>> = OnceLock::new();
    V.get_or_init(|| {
        let doc: Value = serde_json::from_str(include_str!(
            "../../shared/tests/data/interop/jwcrypto.json"
        ))
        .unwrap();
        doc["vectors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| Vector {
                alg: v["alg"].as_str().unwrap().to_owned(),
                jwk: v["jwk"].clone(),
                token: v["token"].as_str().unwrap().to_owned(),
                tampered: v["tampered"].as_str().unwrap().to_owned(),
            })
            .collect()
    })
}

/// The test root CA (`shared/tests/data/x5c/root.pem`) as the only trust anchor.
pub fn anchors() -> &'static [&'static [u8]] {
    static A: OnceLock<&'static [&'static [u8]]> = OnceLock::new();
    A.get_or_init(|| {
        let pem = include_str!("../../shared/tests/data/x5c/root.pem");
        let (_, der) = der::pem::decode_vec(pem.as_bytes()).unwrap();
        let der: &'static [u8] = Box::leak(der.into_boxed_slice());
        Box::leak(vec![der].into_boxed_slice())
    })
}

/// A platform whose clock is fixed and whose fetches get scripted answers: `jwks` for any URL
/// containing `/jwks`, `introspection` for everything else.
pub struct Fake {
    /// What `now` returns.
    pub now: u64,
    /// Answer to JWKS fetches.
    pub jwks: Result<FetchResponse, FetchError>,
    /// Answer to introspection calls.
    pub introspection: Result<FetchResponse, FetchError>,
}

impl Fake {
    /// A platform at [`NOW`] whose fetches all fail.
    pub fn offline() -> Fake {
        Fake {
            now: NOW,
            jwks: Err(FetchError::Unreachable),
            introspection: Err(FetchError::Unreachable),
        }
    }
}

impl Platform for Fake {
    type Verifier = RustCrypto;
    fn verifier(&self) -> &RustCrypto {
        &RustCrypto
    }
    fn now(&self) -> u64 {
        self.now
    }
    fn log(&self, _level: LogLevel, message: &str) {
        // The core promises never to log a credential.
        assert!(
            !message.contains(OPAQUE_TOKEN),
            "a token reached the log: {message}"
        );
    }
    fn random(&self, buf: &mut [u8]) {
        buf.fill(7);
    }
    async fn fetch(&self, request: FetchRequest) -> Result<FetchResponse, FetchError> {
        let answer = if request.url.contains("/jwks") {
            &self.jwks
        } else {
            &self.introspection
        };
        let answer = answer.clone()?;
        // The shells enforce max_body_bytes; a fake must too, or the core sees what no shell gives.
        if answer.body.len() > request.max_body_bytes {
            return Err(FetchError::TooLarge);
        }
        Ok(answer)
    }
}

/// A `200` answer with this content type and body.
pub fn answer(content_type: &str, body: &[u8]) -> FetchResponse {
    FetchResponse {
        status: 200,
        headers: vec![("content-type".into(), content_type.into())],
        body: body.to_vec(),
    }
}

/// The gateway configuration of the pipeline-level targets: inline interop keys, an x5c issuer
/// (anchored at the test root), a remote-JWKS issuer and introspection in `mode`.
pub fn config(mode: &str) -> String {
    let interop_keys: Vec<Value> = vectors().iter().map(|v| v.jwk.clone()).collect();
    let all_algs = json!(["ES256", "ES384", "RS256", "PS256", "EdDSA"]);
    json!({
        "origin": "http://origin.test/base",
        "routes": [
            { "path": "/public/*", "anonymous": true },
            { "path": "/api/*", "methods": ["GET", "POST"] },
        ],
        "unmatched": "require_token",
        "issuers": [
            { "issuer": INTEROP_ISS, "audiences": [INTEROP_AUD], "algorithms": all_algs,
              "jwks": { "keys": interop_keys }, "require_typ": "at+jwt" },
            { "issuer": "https://x5c.example", "audiences": [INTEROP_AUD], "algorithms": all_algs,
              "x5c": {} },
            { "issuer": "https://remote.example", "audiences": [INTEROP_AUD],
              "algorithms": all_algs, "jwks_uri": "https://remote.example/jwks" },
            { "issuer": AS, "audiences": ["gw"],
              "jwks": { "keys": [{ "kty": "EC", "crv": "P-256", "kid": "as1", "x": AS_X, "y": AS_Y }] } },
        ],
        "introspection": { "endpoint": "https://as.test/introspect", "issuer": AS, "client_id": "gw",
            "client_secret_name": "GW_SECRET", "response": mode, "max_ttl": 300, "negative_ttl": 10 },
    })
    .to_string()
}

/// A gateway for [`config`].
pub fn gateway(mode: &str) -> Gateway {
    gateway_from(&config(mode))
}

/// The lighter configuration of the `introspection` target: only the AS as an issuer, so that
/// building a gateway per input does not validate the five interop keys each time.
pub fn introspection_config(mode: &str) -> String {
    json!({
        "origin": "http://origin.test/base",
        "routes": [{ "path": "/*" }],
        "issuers": [
            { "issuer": AS, "audiences": ["gw"],
              "jwks": { "keys": [{ "kty": "EC", "crv": "P-256", "kid": "as1", "x": AS_X, "y": AS_Y }] } },
        ],
        "introspection": { "endpoint": "https://as.test/introspect", "issuer": AS, "client_id": "gw",
            "client_secret_name": "GW_SECRET", "response": mode, "max_ttl": 300, "negative_ttl": 10 },
    })
    .to_string()
}

/// A gateway for any configuration text (an invalid one answers every request with 500).
pub fn gateway_from(text: &str) -> Gateway {
    let secrets = |name: &str| (name == "GW_SECRET").then(|| "s3cret".to_owned());
    Gateway::with_trust_anchors(Some(text), &secrets, "fuzz", anchors())
}

/// Private scalar of the DPoP client key of the `dpop` target (P-256, `[5; 32]`); `fuzz/gen-seeds.py`
/// puts its public half in the seed proofs' `jwk`.
pub const DPOP_KEY: [u8; 32] = [5; 32];
/// Private scalar of the issuer key that signs the `dpop` target's DPoP-bound access token.
pub const DPOP_ISSUER_KEY: [u8; 32] = [6; 32];
/// `iss` of that access token.
pub const DPOP_ISS: &str = "https://dpop-issuer.test";
/// Header of that access token, byte for byte (`fuzz/gen-seeds.py` signs the same bytes).
pub const DPOP_TOKEN_HEADER: &str = r#"{"alg":"ES256","kid":"iss1","typ":"at+jwt"}"#;

/// Compact ES256 JWS over the exact `header` and `claims` bytes, signed with the P-256 `scalar`
/// (RFC 6979 deterministic, like Python's `deterministic_signing=True`).
pub fn es256(scalar: &[u8; 32], header: &[u8], claims: &[u8]) -> String {
    use base64ct::{Base64UrlUnpadded, Encoding};
    use p256::ecdsa::{signature::Signer, Signature, SigningKey};
    let key = SigningKey::from_slice(scalar).unwrap();
    let input = format!(
        "{}.{}",
        Base64UrlUnpadded::encode_string(header),
        Base64UrlUnpadded::encode_string(claims)
    );
    let signature: Signature = key.sign(input.as_bytes());
    format!(
        "{input}.{}",
        Base64UrlUnpadded::encode_string(&signature.to_bytes())
    )
}

/// Public JWK (`kty`, `crv`, `x`, `y`) of a P-256 scalar.
pub fn p256_jwk(scalar: &[u8; 32]) -> Value {
    use base64ct::{Base64UrlUnpadded, Encoding};
    let key = p256::ecdsa::SigningKey::from_slice(scalar).unwrap();
    let point = key.verifying_key().to_encoded_point(false);
    json!({
        "kty": "EC", "crv": "P-256",
        "x": Base64UrlUnpadded::encode_string(point.x().unwrap()),
        "y": Base64UrlUnpadded::encode_string(point.y().unwrap()),
    })
}

/// RFC 7638 thumbprint of the DPoP client key ([`DPOP_KEY`]): the `cnf.jkt` of the access token.
pub fn dpop_jkt() -> &'static str {
    static JKT: OnceLock<String> = OnceLock::new();
    JKT.get_or_init(|| {
        let jwk = p256_jwk(&DPOP_KEY);
        edgeward::jwk::Jwk::from_object(jwk.as_object().unwrap())
            .unwrap()
            .thumbprint_sha256()
    })
}

/// The DPoP-bound access token of the `dpop` target: [`DPOP_TOKEN_HEADER`] and the claims below,
/// signed with [`DPOP_ISSUER_KEY`]. `fuzz/gen-seeds.py` builds the same bytes for the seeds' `ath`.
pub fn dpop_access_token() -> &'static str {
    static TOKEN: OnceLock<String> = OnceLock::new();
    TOKEN.get_or_init(|| {
        let claims = format!(
            r#"{{"aud":"gw","cnf":{{"jkt":"{}"}},"exp":4102444800,"iat":{NOW},"iss":"{DPOP_ISS}","sub":"alice"}}"#,
            dpop_jkt()
        );
        es256(&DPOP_ISSUER_KEY, DPOP_TOKEN_HEADER.as_bytes(), claims.as_bytes())
    })
}

/// Gateway configuration of the `dpop` target: the DPoP issuer inline, `/api/*` with DPoP
/// `required` or `optional`, an optional nonce secret (`DPOP_NONCE`) and public base URL.
pub fn dpop_config(required: bool, nonce: bool, public_base: bool) -> String {
    let mut issuer_key = p256_jwk(&DPOP_ISSUER_KEY);
    issuer_key["kid"] = json!("iss1");
    let mut config = json!({
        "origin": "http://origin.test/base",
        "routes": [{ "path": "/api/*", "dpop": if required { "required" } else { "optional" } }],
        "issuers": [{ "issuer": DPOP_ISS, "audiences": ["gw"], "algorithms": ["ES256"],
            "jwks": { "keys": [issuer_key] } }],
        "dpop": {},
    });
    if nonce {
        config["dpop"]["nonce_secret"] = json!("DPOP_NONCE");
    }
    if public_base {
        config["public_base_url"] = json!("https://api.example/v1");
    }
    config.to_string()
}

/// A gateway for [`dpop_config`]; the nonce secret is 32 bytes of `n`.
pub fn dpop_gateway(required: bool, nonce: bool, public_base: bool) -> Gateway {
    let secrets = |name: &str| (name == "DPOP_NONCE").then(|| "n".repeat(32));
    Gateway::with_trust_anchors(
        Some(&dpop_config(required, nonce, public_base)),
        &secrets,
        "fuzz",
        anchors(),
    )
}
