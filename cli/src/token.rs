//! `token mint`: an ES256 JWT access token (RFC 9068) as a compact JWS, with the signing chain in
//! `x5c` (RFC 7515 §4.1.6: standard base64 DER, leaf first) or a `kid`, and an optional DPoP
//! binding `cnf.jkt` (RFC 9449 §6.1).

use crate::{dpop, files, keys, usage, Result};
use base64ct::{Base64, Encoding};
use clap::{ArgGroup, Args};
use der::Encode;
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};
use x509_cert::Certificate;

/// `edgeward token mint`.
#[derive(Args)]
#[command(group(ArgGroup::new("key_id").required(true).args(["x5c", "kid"])))]
pub struct MintArgs {
    /// The signing key (PKCS#8 PEM such as signing.key from `cert issue`, or a private JWK).
    #[arg(long)]
    key: PathBuf,
    /// PEM chain to send in `x5c`, leaf first (chain.pem from `cert issue`).
    #[arg(long)]
    x5c: Option<PathBuf>,
    /// Key ID to put in `kid` (for JWKS verification) instead of `x5c`.
    #[arg(long)]
    kid: Option<String>,
    /// `iss` claim.
    #[arg(long)]
    iss: String,
    /// `aud` claim (repeat for an array).
    #[arg(long, required = true)]
    aud: Vec<String>,
    /// `sub` claim.
    #[arg(long)]
    sub: Option<String>,
    /// `scope` claim, space-separated (RFC 9068 §2.2.3).
    #[arg(long)]
    scope: Option<String>,
    /// Lifetime in seconds from now; negative mints an already expired token.
    #[arg(long, default_value_t = 3600, allow_negative_numbers = true)]
    exp_in: i64,
    /// Extra claims as a JSON object, applied last (may override any claim above).
    #[arg(long)]
    claims: Option<String>,
    /// Bind to a DPoP key by its RFC 7638 thumbprint (`cnf.jkt`).
    #[arg(long, conflicts_with = "dpop_key")]
    jkt: Option<String>,
    /// Bind to the DPoP key in this JWK file (`cnf.jkt` = its thumbprint).
    #[arg(long)]
    dpop_key: Option<PathBuf>,
    /// `typ` header.
    #[arg(long, default_value = "at+jwt")]
    typ: String,
}

/// Mints the token and prints it (and nothing else) on stdout.
pub fn mint(args: &MintArgs) -> Result<()> {
    let key = keys::load_private(&args.key)?;
    let mut header = Map::new();
    header.insert("alg".into(), "ES256".into());
    header.insert("typ".into(), args.typ.clone().into());
    if let Some(kid) = &args.kid {
        header.insert("kid".into(), kid.clone().into());
    }
    if let Some(path) = &args.x5c {
        header.insert("x5c".into(), x5c_header(path, &key)?);
    }

    let now = keys::now();
    let exp = now.saturating_add_signed(args.exp_in);
    let mut claims = Map::new();
    claims.insert("iss".into(), args.iss.clone().into());
    claims.insert(
        "aud".into(),
        match args.aud.as_slice() {
            [one] => one.clone().into(),
            many => json!(many),
        },
    );
    if let Some(sub) = &args.sub {
        claims.insert("sub".into(), sub.clone().into());
    }
    if let Some(scope) = &args.scope {
        claims.insert("scope".into(), scope.clone().into());
    }
    claims.insert("iat".into(), now.into());
    claims.insert("exp".into(), exp.into());
    claims.insert(
        "jti".into(),
        keys::b64url(&keys::random_bytes::<16>()).into(),
    );
    let jkt = match (&args.jkt, &args.dpop_key) {
        (Some(jkt), _) => Some(jkt.clone()),
        (None, Some(path)) => Some(dpop::thumbprint_of(&dpop::load_key(path)?)?),
        (None, None) => None,
    };
    if let Some(jkt) = jkt {
        claims.insert("cnf".into(), json!({ "jkt": jkt }));
    }
    if let Some(extra) = &args.claims {
        let Ok(Value::Object(extra)) = serde_json::from_str::<Value>(extra) else {
            return Err(usage("--claims must be a JSON object"));
        };
        claims.extend(extra);
    }
    println!("{}", keys::sign_compact(&key, &header, &claims)?);
    Ok(())
}

/// The `x5c` array for a PEM chain, after checking that the leaf holds the signing key (a token
/// whose leaf does not match its key could never verify).
fn x5c_header(path: &Path, key: &p256::SecretKey) -> Result<Value> {
    let text = files::read_text(path)?;
    let certs = Certificate::load_pem_chain(text.as_bytes()).map_err(|e| {
        usage(format!(
            "{}: not a PEM certificate chain: {e}",
            path.display()
        ))
    })?;
    let leaf = certs
        .first()
        .ok_or_else(|| usage(format!("{}: no certificate", path.display())))?;
    let point = key.public_key().to_sec1_bytes();
    if leaf
        .tbs_certificate
        .subject_public_key_info
        .subject_public_key
        .as_bytes()
        != Some(&point[..])
    {
        return Err(usage(format!(
            "the first certificate in {} does not hold the --key key",
            path.display()
        )));
    }
    let encoded = certs
        .iter()
        .map(|cert| {
            cert.to_der()
                .map(|der| Value::from(Base64::encode_string(&der)))
                .map_err(|e| usage(format!("{}: {e}", path.display())))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Value::Array(encoded))
}
