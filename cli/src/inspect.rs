//! `inspect`: decode a token, then verify it offline with the gateway core, in the gateway's order:
//! strict JWS parse → key (x5c chain to the given anchors, or JWKS by `kid`) → signature → claims.
//! Prints `VALID` or `INVALID: <the failing check>`.

use crate::{failed, files, keys, usage, Failure, Result};
use base64ct::{Base64UrlUnpadded, Encoding};
use clap::Args;
use edgeward::claims::{self, ClaimRules, DEFAULT_LEEWAY};
use edgeward::crypto::{PublicKey, RustCrypto};
use edgeward::error::TokenFault;
use edgeward::jwk::JwkSet;
use edgeward::jws::{self, Jws};
use edgeward::x5c::{self, ChainError, ChainPolicy};
use futures_executor::block_on;
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};
use x509_cert::der::{Decode, Encode};
use x509_cert::Certificate;

/// `edgeward inspect`.
#[derive(Args)]
pub struct InspectArgs {
    /// The compact JWS, or `-` to read it from stdin.
    token: String,
    /// PEM trust anchors to validate the token's `x5c` chain against.
    #[arg(long, conflicts_with = "jwks")]
    trust_anchors: Option<PathBuf>,
    /// A JWK Set file to find the key by `kid`.
    #[arg(long)]
    jwks: Option<PathBuf>,
    /// Required `iss` (default: whatever the token says, only its type is checked).
    #[arg(long)]
    iss: Option<String>,
    /// Required audience (default: any audience the token names).
    #[arg(long)]
    aud: Option<String>,
    /// Required `typ` header, e.g. `at+jwt` (as an issuer's `require_typ`).
    #[arg(long)]
    typ: Option<String>,
    /// Verify as of this Unix time (default: now).
    #[arg(long)]
    now: Option<u64>,
    /// Clock-skew leeway for exp, nbf and iat, in seconds.
    #[arg(long, default_value_t = DEFAULT_LEEWAY)]
    leeway: u64,
}

/// Decodes, verifies and prints the verdict: `Ok` for VALID, [`Failure::Failed`] for INVALID.
pub fn run(args: &InspectArgs) -> Result<()> {
    let token = if args.token == "-" {
        std::io::read_to_string(std::io::stdin())
            .map_err(|e| usage(format!("cannot read the token from stdin: {e}")))?
    } else {
        args.token.clone()
    };
    let token = token.trim();
    print_decoded(token);
    if args.trust_anchors.is_none() && args.jwks.is_none() {
        return Err(usage(
            "not verified: give --trust-anchors (x5c) or --jwks to check the signature",
        ));
    }
    match verify(args, token)? {
        Ok(note) => {
            println!("VALID{note}");
            Ok(())
        }
        Err(reason) => {
            println!("INVALID: {reason}");
            Err(Failure::Failed(String::new()))
        }
    }
}

/// Prints the header and the claims as pretty JSON, as far as they decode (a malformed token is
/// still shown as much as possible; the verdict then names the problem).
fn print_decoded(token: &str) {
    for (label, segment) in ["header", "claims"].iter().zip(token.split('.')) {
        let shown = Base64UrlUnpadded::decode_vec(segment)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
            .and_then(|value| serde_json::to_string_pretty(&value).ok())
            .unwrap_or_else(|| "(not base64url JSON)".into());
        println!("{label}:\n{shown}");
    }
    // The x5c certificates, readable: subject, issuer and validity of each.
    if let Ok(jws) = jws::parse(token, edgeward::config::DEFAULT_MAX_TOKEN_BYTES) {
        for (i, der) in jws.header.x5c.iter().flatten().enumerate() {
            match Certificate::from_der(der) {
                Ok(cert) => {
                    let tbs = &cert.tbs_certificate;
                    println!(
                        "x5c[{i}]: subject {}, issuer {}, valid {} .. {}",
                        tbs.subject, tbs.issuer, tbs.validity.not_before, tbs.validity.not_after
                    );
                }
                Err(e) => println!("x5c[{i}]: not a certificate ({e})"),
            }
        }
    }
}

/// The verdict: `Ok(Ok(note))` valid, `Ok(Err(reason))` invalid, `Err` a usage problem.
fn verify(args: &InspectArgs, token: &str) -> Result<std::result::Result<String, String>> {
    let now = args.now.unwrap_or_else(keys::now);
    let jws = match jws::parse(token, edgeward::config::DEFAULT_MAX_TOKEN_BYTES) {
        Ok(jws) => jws,
        Err(fault) => return Ok(Err(format!("jws: {}", fault.description()))),
    };
    let key_and_source = if let Some(path) = &args.trust_anchors {
        chain_key(&jws, &load_anchors(path)?, now)
    } else if let Some(path) = &args.jwks {
        let set = JwkSet::parse(files::read_text(path)?.as_bytes())
            .map_err(|e| usage(format!("{}: not a JWK Set: {e:?}", path.display())))?;
        jwks_key(&jws, &set)
    } else {
        return Err(usage("no key source"));
    };
    let (key, source) = match key_and_source {
        Ok(found) => found,
        Err(reason) => return Ok(Err(reason)),
    };
    match block_on(jws.verify(&key, &RustCrypto)) {
        Ok(()) => {}
        Err(TokenFault::AlgorithmNotAllowed) => {
            return Ok(Err(format!(
                "alg: {} does not fit the {source} key",
                jws.header.alg.name()
            )))
        }
        Err(_) => {
            return Ok(Err(format!(
                "signature: does not verify with the {source} key"
            )))
        }
    }
    let rules = rules(args, &jws.claims);
    if let Err(fault) = claims::check(&jws.header, &jws.claims, &rules, now) {
        return Ok(Err(claim_reason(
            fault,
            &jws.header,
            &jws.claims,
            &rules,
            now,
        )));
    }
    let mut note = format!(" (signature by the {source} key");
    if args.iss.is_none() || args.aud.is_none() {
        note.push_str("; iss/aud not pinned: pass --iss and --aud");
    }
    note.push(')');
    Ok(Ok(note))
}

fn load_anchors(path: &Path) -> Result<Vec<Vec<u8>>> {
    let text = files::read_text(path)?;
    let certs = Certificate::load_pem_chain(text.as_bytes())
        .map_err(|e| usage(format!("{}: not PEM certificates: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(usage(format!("{}: no certificates", path.display())));
    }
    certs
        .iter()
        .map(|c| c.to_der().map_err(|e| failed(e.to_string())))
        .collect()
}

fn chain_key(
    jws: &Jws<'_>,
    anchors: &[Vec<u8>],
    now: u64,
) -> std::result::Result<(PublicKey, &'static str), String> {
    let Some(chain) = &jws.header.x5c else {
        return Err("x5c: the token has no x5c header (use --jwks for kid tokens)".into());
    };
    let anchors: Vec<&[u8]> = anchors.iter().map(Vec::as_slice).collect();
    let policy = ChainPolicy::default();
    match block_on(x5c::validate(chain, &anchors, now, &policy, &RustCrypto)) {
        Ok(leaf) => Ok((leaf.key, "x5c leaf")),
        Err(e) => Err(format!(
            "x5c chain: {}",
            chain_reason(e, chain, &anchors, now)
        )),
    }
}

/// Words for a [`ChainError`]; for validity problems, which certificate and when.
fn chain_reason(error: ChainError, chain: &[Vec<u8>], anchors: &[&[u8]], now: u64) -> String {
    match error {
        ChainError::Expired => {
            let certs = chain
                .iter()
                .map(Vec::as_slice)
                .chain(anchors.iter().copied());
            for cert in certs.filter_map(|der| Certificate::from_der(der).ok()) {
                let validity = &cert.tbs_certificate.validity;
                let subject = &cert.tbs_certificate.subject;
                if now > validity.not_after.to_unix_duration().as_secs() {
                    return format!(
                        "certificate expired ({subject}, notAfter {})",
                        validity.not_after
                    );
                }
                if now < validity.not_before.to_unix_duration().as_secs() {
                    return format!(
                        "certificate not yet valid ({subject}, notBefore {})",
                        validity.not_before
                    );
                }
            }
            "certificate outside its validity period".into()
        }
        ChainError::NoPath => "no path to a trust anchor (issued by another CA?)".into(),
        ChainError::BadSignature => "a certificate signature does not verify".into(),
        ChainError::Malformed => "malformed certificate".into(),
        ChainError::OverBudget => "over budget (too many certificates or too long a path)".into(),
        ChainError::Unsupported => "unsupported algorithm, key or critical extension".into(),
        ChainError::Constraint => {
            "RFC 5280 constraint violated (basicConstraints, keyUsage, pathLen, AKI/SKI)".into()
        }
        ChainError::PinMismatch => "leaf subject or EKU pin mismatch".into(),
        other => format!("{other:?}"),
    }
}

fn jwks_key(jws: &Jws<'_>, set: &JwkSet) -> std::result::Result<(PublicKey, &'static str), String> {
    let kid = jws.header.kid.as_deref();
    let alg = jws.header.alg;
    let candidates: Vec<_> = set.find(kid, alg).collect();
    // The core verifies one key; with several candidates (no kid) the first that verifies wins.
    let key = match candidates.as_slice() {
        [] => {
            return Err(format!(
                "jwks: no usable {} key for kid {}",
                alg.name(),
                kid.map_or("(none)".into(), |k| format!("{k:?}"))
            ))
        }
        [one] => one.public_key().clone(),
        many => many
            .iter()
            .map(|k| k.public_key())
            .find(|k| block_on(jws.verify(k, &RustCrypto)).is_ok())
            .unwrap_or_else(|| many[0].public_key())
            .clone(),
    };
    Ok((key, "JWKS"))
}

/// Rules from the flags; without `--iss` / `--aud` the token's own values are accepted.
fn rules(args: &InspectArgs, claims: &Map<String, Value>) -> ClaimRules {
    let issuer = args.iss.clone().unwrap_or_else(|| {
        claims
            .get("iss")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    });
    let audiences = match &args.aud {
        Some(aud) => vec![aud.clone()],
        None => match claims.get("aud") {
            Some(Value::String(aud)) => vec![aud.clone()],
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        },
    };
    let mut rules = ClaimRules::new(issuer, audiences);
    rules.leeway = args.leeway;
    rules.require_typ = args.typ.clone();
    rules
}

/// Names the exact failing claim check, with the numbers that decided it.
fn claim_reason(
    fault: TokenFault,
    header: &edgeward::jws::Header,
    claims: &Map<String, Value>,
    rules: &ClaimRules,
    now: u64,
) -> String {
    let number = |name: &str| claims.get(name).and_then(Value::as_f64);
    let now_f = now as f64;
    match fault {
        TokenFault::Expired => match number("exp") {
            Some(exp) => format!("claim exp: expired {} s ago", (now_f - exp).round()),
            None => "claim exp: missing".into(),
        },
        TokenFault::NotYetValid => match (number("nbf"), number("iat")) {
            (Some(nbf), _) if nbf > now_f + rules.leeway as f64 => {
                format!(
                    "claim nbf: not valid for another {} s",
                    (nbf - now_f).round()
                )
            }
            (_, Some(iat)) => format!(
                "claim iat: issued {} s in the future",
                (iat - now_f).round()
            ),
            _ => "claim nbf/iat: in the future".into(),
        },
        TokenFault::UnknownIssuer => format!(
            "claim iss: {} is not {:?}",
            claims.get("iss").map_or("missing".into(), Value::to_string),
            rules.issuer
        ),
        TokenFault::WrongAudience => format!(
            "claim aud: {} does not contain {:?}",
            claims.get("aud").map_or("missing".into(), Value::to_string),
            rules.audiences.join(" ")
        ),
        TokenFault::MissingClaim => {
            let missing: Vec<_> = ["iss", "aud"]
                .into_iter()
                .filter(|name| !claims.contains_key(*name))
                .collect();
            format!("claim {}: missing", missing.join(", "))
        }
        TokenFault::Malformed => "claims: iss, aud, exp, nbf or iat has the wrong JSON type".into(),
        TokenFault::WrongType => format!(
            "header typ: {} is not {:?}",
            header
                .typ
                .as_deref()
                .map_or("missing".into(), |t| format!("{t:?}")),
            rules.require_typ.as_deref().unwrap_or_default()
        ),
        other => format!("claims: {}", other.description()),
    }
}
