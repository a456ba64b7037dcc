//! Backend conformance inside workerd (tests/e2e/webcrypto.test.mjs), off unless
//! `EDGEWARD_SELFTEST=1`. Not gateway logic: the shell answers it before the core sees the request.
//!
//! `POST /.well-known/edgeward/selftest/verify` with a JSON array of
//! `{"scheme":"EcdsaP256Sha256","key":{...},"msg":"<hex>","sig":"<hex>"}`, where `key` is
//! `{"kty":"P256"|"P384"|"Ed25519","x":"<hex>"}` (SEC1 point or raw Ed25519 key) or
//! `{"kty":"RSA","n":"<hex>","e":"<hex>"}`. Answers one `{"webcrypto":bool,"rustcrypto":bool}` per
//! item, in order (`rustcrypto` is `null` for a scheme this build leaves to WebCrypto); 400 with
//! `{"error","index"}` for an item it cannot read.
//!
//! With the `token-handler` feature, also `POST /.well-known/edgeward/selftest/aes-gcm` with a JSON
//! array of `{"key":"<hex, 32 bytes>","nonce":"<hex, 12 bytes>","sealed":"<hex>","aad":"<hex>"}`
//! (`sealed` is `ciphertext ‖ tag`): one `{"webcrypto":"<hex>"|null,"rustcrypto":"<hex>"|null}`
//! per item, the plaintext or `null` for a refusal, same limits.

use crate::webcrypto::WebCrypto;
use edgeward::crypto::{rustcrypto_verifies, verify_sync, PublicKey, Scheme, SignatureVerifier};
use serde_json::{json, Value};
use worker::{Request, Response, Result};

/// Where the signature self-test listens.
pub const PATH: &str = "/.well-known/edgeward/selftest/verify";
/// Where the AES-GCM self-test listens (token-handler builds).
#[cfg(feature = "token-handler")]
pub const AES_GCM_PATH: &str = "/.well-known/edgeward/selftest/aes-gcm";

/// Where the self-test panics on purpose: tests/e2e/webcrypto.test.mjs checks that the next request
/// gets a fresh Wasm instance (the entry made by scripts/lib/worker-entry.mjs keeps worker-build's
/// recovery) rather than an isolate that answers errors from then on.
pub const TRAP_PATH: &str = "/.well-known/edgeward/selftest/trap";

/// True for the paths the self-test answers.
pub fn answers(path: &str) -> bool {
    if path == TRAP_PATH {
        return true;
    }
    #[cfg(feature = "token-handler")]
    if path == AES_GCM_PATH {
        return true;
    }
    path == PATH
}
/// Items per request: a Wycheproof file in a few requests, without unbounded work per request.
const MAX_ITEMS: usize = 512;
/// Request body bound: 512 RSA-8192 items in hex fit in ≈ 2 MiB.
const MAX_BODY_BYTES: usize = 4 << 20;

const SCHEMES: [Scheme; 11] = [
    Scheme::EcdsaP256Sha256,
    Scheme::EcdsaP256Sha384,
    Scheme::EcdsaP384Sha384,
    Scheme::EcdsaP384Sha256,
    Scheme::RsaPkcs1Sha256,
    Scheme::RsaPkcs1Sha384,
    Scheme::RsaPkcs1Sha512,
    Scheme::RsaPssSha256,
    Scheme::RsaPssSha384,
    Scheme::RsaPssSha512,
    Scheme::Ed25519,
];

/// Runs every item through both backends.
pub async fn handle(mut req: Request) -> Result<Response> {
    if req.path() == TRAP_PATH {
        panic!("selftest: a trap on purpose");
    }
    let declared = req.headers().get("content-length")?;
    if declared.and_then(|n| n.parse::<usize>().ok()) > Some(MAX_BODY_BYTES) {
        return Response::error("selftest: body too large", 413);
    }
    let body = req.bytes().await?;
    if body.len() > MAX_BODY_BYTES {
        return Response::error("selftest: body too large", 413);
    }
    let Ok(Value::Array(items)) = serde_json::from_slice::<Value>(&body) else {
        return Response::error("selftest: expected a JSON array", 400);
    };
    if items.len() > MAX_ITEMS {
        return Response::error("selftest: too many items", 413);
    }
    #[cfg(feature = "token-handler")]
    if req.path() == AES_GCM_PATH {
        return aes_gcm(&items).await;
    }
    let mut verdicts = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let Some((scheme, key, msg, sig)) = parse(item) else {
            let error = json!({"error": "unreadable item", "index": index});
            return Ok(Response::from_json(&error)?.with_status(400));
        };
        let web = WebCrypto.verify(scheme, &key, &msg, &sig).await.is_ok();
        let rust =
            rustcrypto_verifies(scheme).then(|| verify_sync(scheme, &key, &msg, &sig).is_ok());
        verdicts.push(json!({"webcrypto": web, "rustcrypto": rust}));
    }
    Response::from_json(&verdicts)
}

/// The AES-GCM items: the plaintext each backend opens, or `null`.
#[cfg(feature = "token-handler")]
async fn aes_gcm(items: &[Value]) -> Result<Response> {
    use edgeward::aead::AesKey;
    let mut answers = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let field = |name: &str| item[name].as_str().and_then(hex);
        let key = field("key")
            .and_then(|k| k.try_into().ok())
            .map(AesKey::new);
        let nonce = field("nonce").and_then(|n| <[u8; 12]>::try_from(n).ok());
        let (Some(key), Some(nonce), Some(sealed), Some(aad)) =
            (key, nonce, field("sealed"), field("aad"))
        else {
            let error = json!({"error": "unreadable item", "index": index});
            return Ok(Response::from_json(&error)?.with_status(400));
        };
        let web = crate::aead::open(&key, &nonce, &sealed, &aad).await;
        let rust = key.open(&nonce, &sealed, &aad);
        let text = |r: std::result::Result<Vec<u8>, _>| r.ok().map(|p| to_hex(&p));
        answers.push(json!({"webcrypto": text(web), "rustcrypto": text(rust)}));
    }
    Response::from_json(&answers)
}

#[cfg(feature = "token-handler")]
fn to_hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn parse(item: &Value) -> Option<(Scheme, PublicKey, Vec<u8>, Vec<u8>)> {
    let name = item["scheme"].as_str()?;
    let scheme = SCHEMES.into_iter().find(|s| format!("{s:?}") == name)?;
    let field = |v: &Value, name: &str| v[name].as_str().and_then(hex);
    let key = &item["key"];
    let key = match key["kty"].as_str()? {
        "P256" => PublicKey::P256(field(key, "x")?),
        "P384" => PublicKey::P384(field(key, "x")?),
        "Ed25519" => PublicKey::Ed25519(field(key, "x")?.try_into().ok()?),
        "RSA" => PublicKey::Rsa {
            n: field(key, "n")?,
            e: field(key, "e")?,
        },
        _ => return None,
    };
    Some((scheme, key, field(item, "msg")?, field(item, "sig")?))
}

fn hex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}
