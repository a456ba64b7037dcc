//! `dpop keygen | proof | thumbprint`: DPoP proofs (RFC 9449 §4.2) signed with ES256.
//!
//! A proof's header is `typ` = `dpop+jwt`, `alg` = `ES256` and `jwk` = the public key only; its
//! claims are `jti` (random), `htm`, `htu` (without query and fragment), `iat` (now), and
//! optionally `ath` = base64url(SHA-256(access token)) and `nonce`.

use crate::files::{check_absent, read_text, write_private};
use crate::{failed, keys, usage, Result};
use clap::Args;
use p256::SecretKey;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// `edgeward dpop keygen`.
#[derive(Args)]
pub struct KeygenArgs {
    /// Where to write the private JWK (mode 0600).
    #[arg(long)]
    out: PathBuf,
    /// Replace an existing key file.
    #[arg(long)]
    force: bool,
}

/// `edgeward dpop proof`.
#[derive(Args)]
pub struct ProofArgs {
    /// The private JWK from `dpop keygen`.
    #[arg(long)]
    key: PathBuf,
    /// HTTP method of the request (`htm`).
    #[arg(long)]
    htm: String,
    /// Target URI of the request (`htu`); query and fragment are removed.
    #[arg(long)]
    htu: String,
    /// The access token the proof accompanies (sets `ath`).
    #[arg(long)]
    ath_token: Option<String>,
    /// A server-provided nonce (`nonce`).
    #[arg(long)]
    nonce: Option<String>,
}

/// Writes a fresh P-256 private JWK and prints its thumbprint.
pub fn keygen(args: &KeygenArgs) -> Result<()> {
    check_absent(&args.out, args.force)?;
    let key = keys::generate();
    write_private(&args.out, key.to_jwk_string().as_bytes())?;
    println!(
        "DPoP key: {} (0600), thumbprint {}",
        args.out.display(),
        thumbprint_of(&key)?
    );
    Ok(())
}

/// Prints a proof JWT.
pub fn proof(args: &ProofArgs) -> Result<()> {
    let key = load_key(&args.key)?;
    let htu = htu(&args.htu)?;
    if args.htm.is_empty() || !args.htm.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(usage("--htm must be an upper-case HTTP method, e.g. POST"));
    }
    let mut header = Map::new();
    header.insert("typ".into(), "dpop+jwt".into());
    header.insert("alg".into(), "ES256".into());
    header.insert("jwk".into(), public_jwk(&key)?);
    let mut claims = Map::new();
    claims.insert(
        "jti".into(),
        keys::b64url(&keys::random_bytes::<16>()).into(),
    );
    claims.insert("htm".into(), args.htm.clone().into());
    claims.insert("htu".into(), htu.into());
    claims.insert("iat".into(), keys::now().into());
    if let Some(token) = &args.ath_token {
        claims.insert("ath".into(), ath(token).into());
    }
    if let Some(nonce) = &args.nonce {
        claims.insert("nonce".into(), nonce.clone().into());
    }
    println!("{}", keys::sign_compact(&key, &header, &claims)?);
    Ok(())
}

/// Prints the RFC 7638 thumbprint of the key in a JWK file.
pub fn thumbprint(path: &Path) -> Result<()> {
    println!("{}", thumbprint_of(&load_key(path)?)?);
    Ok(())
}

/// RFC 9449 §4.2: `ath` is base64url(SHA-256(ASCII(access token))).
pub fn ath(token: &str) -> String {
    keys::b64url(&Sha256::digest(token.as_bytes()))
}

/// Loads a P-256 private JWK.
pub fn load_key(path: &Path) -> Result<SecretKey> {
    SecretKey::from_jwk_str(read_text(path)?.trim()).map_err(|_| {
        usage(format!(
            "{}: not a P-256 private JWK (make one with `edgeward dpop keygen`)",
            path.display()
        ))
    })
}

/// The RFC 7638 thumbprint, computed by the gateway core from the public part.
pub fn thumbprint_of(key: &SecretKey) -> Result<String> {
    let public = key.public_key().to_jwk_string();
    let jwk = edgeward::jwk::Jwk::parse(public.as_bytes())
        .map_err(|e| failed(format!("the core refused the public JWK: {e:?}")))?;
    Ok(jwk.thumbprint_sha256())
}

fn public_jwk(key: &SecretKey) -> Result<Value> {
    serde_json::from_str(&key.public_key().to_jwk_string())
        .map_err(|e| failed(format!("cannot encode the public JWK: {e}")))
}

/// RFC 9449 §4.2: the target URI "without query and fragment parts".
fn htu(given: &str) -> Result<String> {
    let mut url = edgeward::http::parse_url(given)
        .map_err(|e| usage(format!("--htu {given}: not an absolute URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(usage("--htu must be an http or https URL"));
    }
    url.set_query(None);
    url.set_fragment(None);
    Ok(url.into())
}
