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
use edgeward::Response;
use serde_json::{json, Value};

/// Where the signature self-test listens.
pub const PATH: &str = "/.well-known/edgeward/selftest/verify";
/// Where the AES-GCM self-test listens (token-handler builds).
#[cfg(feature = "token-handler")]
pub const AES_GCM_PATH: &str = "/.well-known/edgeward/selftest/aes-gcm";

/// Where the self-test panics on purpose: tests/e2e/webcrypto.test.mjs checks that the next request
/// gets a fresh Wasm instance (the recovery in src/worker.js) rather than an isolate that answers
/// errors from then on.
pub const TRAP_PATH: &str = "/.well-known/edgeward/selftest/trap";

/// The self-test `request` asks for, if its path is one of the self-test's.
pub fn answers(request: &edgeward::Request) -> Option<Test> {
    let url = edgeward::http::parse_url(&request.url).ok()?;
    match url.path() {
        TRAP_PATH => Some(Test::Trap),
        PATH => Some(Test::Verify),
        #[cfg(feature = "token-handler")]
        AES_GCM_PATH => Some(Test::AesGcm),
        _ => None,
    }
}

/// What the self-test was asked to do.
pub enum Test {
    Verify,
    #[cfg(feature = "token-handler")]
    AesGcm,
    Trap,
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

/// Runs every item of `request` (whose core view is `core`) through both backends.
pub async fn handle(
    test: Test,
    request: &web_sys::Request,
    core: &edgeward::Request,
) -> Result<Response, crate::glue::ShellError> {
    if let Test::Trap = test {
        panic!("selftest: a trap on purpose");
    }
    let declared = core.headers.get_all("content-length").next();
    if declared.and_then(|n| n.parse::<usize>().ok()) > Some(MAX_BODY_BYTES) {
        return Ok(error(413, "selftest: body too large"));
    }
    let body = crate::glue::body(request).await?;
    if body.len() > MAX_BODY_BYTES {
        return Ok(error(413, "selftest: body too large"));
    }
    let Ok(Value::Array(items)) = serde_json::from_slice::<Value>(&body) else {
        return Ok(error(400, "selftest: expected a JSON array"));
    };
    if items.len() > MAX_ITEMS {
        return Ok(error(413, "selftest: too many items"));
    }
    #[cfg(feature = "token-handler")]
    if let Test::AesGcm = test {
        return Ok(aes_gcm(&items).await);
    }
    let mut verdicts = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let Some((scheme, key, msg, sig)) = parse(item) else {
            let error = json!({"error": "unreadable item", "index": index});
            return Ok(Response::json(400, &error));
        };
        let web = WebCrypto.verify(scheme, &key, &msg, &sig).await.is_ok();
        let rust =
            rustcrypto_verifies(scheme).then(|| verify_sync(scheme, &key, &msg, &sig).is_ok());
        verdicts.push(json!({"webcrypto": web, "rustcrypto": rust}));
    }
    Ok(Response::json(200, &Value::Array(verdicts)))
}

/// A plain-text refusal.
fn error(status: u16, text: &str) -> Response {
    let mut headers = edgeward::Headers::new();
    headers.append("content-type", "text/plain");
    Response {
        status,
        headers,
        body: text.as_bytes().to_vec(),
    }
}

/// The AES-GCM items: the plaintext each backend opens, or `null`.
#[cfg(feature = "token-handler")]
async fn aes_gcm(items: &[Value]) -> Response {
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
            return Response::json(400, &error);
        };
        let web = crate::aead::open(&key, &nonce, &sealed, &aad).await;
        let rust = key.open(&nonce, &sealed, &aad);
        let text = |r: std::result::Result<Vec<u8>, _>| r.ok().map(|p| to_hex(&p));
        answers.push(json!({"webcrypto": text(web), "rustcrypto": text(rust)}));
    }
    Response::json(200, &Value::Array(answers))
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
