//! `inspect`: decode a token, then verify it offline with the gateway's own verify stage
//! ([`edgeward::verify_token`], the code `Gateway` runs): the flags become a one-issuer gateway
//! configuration, so key selection, algorithms, chain validation and claim checks are the gateway's,
//! not a copy. Prints `VALID` or `INVALID: <the failing check>`; the reason is worded from the
//! core's error, with the numbers and certificates that decided it.

use crate::{failed, files, keys, usage, Failure, Result};
use base64ct::{Base64UrlUnpadded, Encoding};
use clap::Args;
use edgeward::claims::DEFAULT_LEEWAY;
use edgeward::crypto::RustCrypto;
use edgeward::error::TokenFault;
use edgeward::jws::{self, Alg};
use edgeward::platform::{FetchError, FetchRequest, FetchResponse, LogLevel, Platform};
use edgeward::x5c::{self, ChainError, ChainPolicy};
use edgeward::Error;
use futures_executor::block_on;
use serde_json::{json, Map, Value};
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

/// Every JWS algorithm the gateway supports: `inspect` judges the token, not an issuer's list.
const ALGORITHMS: [&str; 5] = ["ES256", "ES384", "RS256", "PS256", "EdDSA"];

/// The gateway offline: the clock is `--now`, nothing is fetched (keys come from the flags), and
/// signatures are checked with RustCrypto.
struct Offline {
    now: u64,
}

impl Platform for Offline {
    type Verifier = RustCrypto;
    fn verifier(&self) -> &RustCrypto {
        &RustCrypto
    }
    fn now(&self) -> u64 {
        self.now
    }
    fn log(&self, _: LogLevel, _: &str) {}
    fn random(&self, buf: &mut [u8]) {
        use rand_core::{OsRng, RngCore};
        OsRng.fill_bytes(buf);
    }
    async fn fetch(&self, _: FetchRequest) -> std::result::Result<FetchResponse, FetchError> {
        Err(FetchError::Unreachable)
    }
}

/// Where the key comes from, for the words of the verdict.
#[derive(Clone, Copy)]
enum KeySource {
    X5c,
    Jwks,
}

impl KeySource {
    fn name(self) -> &'static str {
        match self {
            KeySource::X5c => "x5c leaf",
            KeySource::Jwks => "JWKS",
        }
    }
}

/// The verdict: `Ok(Ok(note))` valid, `Ok(Err(reason))` invalid, `Err` a usage problem.
fn verify(args: &InspectArgs, token: &str) -> Result<std::result::Result<String, String>> {
    let now = args.now.unwrap_or_else(keys::now);
    let claims = decoded_claims(token);
    let (issuer, audiences) = expectations(args, &claims);
    let mut entry = json!({
        "issuer": issuer,
        "audiences": audiences,
        "algorithms": ALGORITHMS,
        "leeway_seconds": args.leeway,
    });
    if let Some(typ) = &args.typ {
        entry["require_typ"] = json!(typ);
    }
    let (anchors, source): (&'static [&'static [u8]], _) = if let Some(path) = &args.trust_anchors {
        entry["x5c"] = json!({});
        // One run, one verification: the anchors live as long as the process.
        let anchors: Vec<&'static [u8]> = load_anchors(path)?
            .into_iter()
            .map(|der| &*Box::leak(der.into_boxed_slice()))
            .collect();
        (Box::leak(anchors.into_boxed_slice()), KeySource::X5c)
    } else if let Some(path) = &args.jwks {
        let text = files::read_text(path)?;
        let set: Value = serde_json::from_str(&text)
            .map_err(|e| usage(format!("{}: not a JWK Set: {e}", path.display())))?;
        entry["jwks"] = set;
        (&[], KeySource::Jwks)
    } else {
        return Err(usage("no key source"));
    };
    let config = json!({
        // Never contacted: inspect stops after the verify stage.
        "origin": "http://127.0.0.1:9",
        "issuers": [entry],
    });
    let platform = Offline { now };
    match block_on(edgeward::verify_token(
        &config.to_string(),
        anchors,
        &platform,
        token,
    )) {
        Ok(_) => {
            let mut note = format!(" (signature by the {} key", source.name());
            if args.iss.is_none() || args.aud.is_none() {
                note.push_str("; iss/aud not pinned: pass --iss and --aud");
            }
            note.push(')');
            Ok(Ok(note))
        }
        Err(Error::InvalidToken(fault)) => {
            let expected = Expected {
                issuer: &issuer,
                audiences: &audiences,
                leeway: args.leeway,
                typ: args.typ.as_deref(),
            };
            Ok(Err(reason(
                fault, token, &claims, &expected, source, anchors, now,
            )))
        }
        Err(Error::Config(e)) => {
            let what = args.jwks.as_deref().or(args.trust_anchors.as_deref());
            let what = what.map_or(String::new(), |p| format!("{}: ", p.display()));
            Err(usage(format!("{what}{}: {}", e.field, e.message)))
        }
        Err(other) => Ok(Err(format!(
            "{}: {}",
            other.code(),
            String::from_utf8_lossy(&other.to_response().body)
        ))),
    }
}

/// The claims as far as they decode (an empty map otherwise): only to fill in `--iss` / `--aud`
/// when they are not given, and for the numbers in a verdict.
fn decoded_claims(token: &str) -> Map<String, Value> {
    token
        .split('.')
        .nth(1)
        .and_then(|segment| Base64UrlUnpadded::decode_vec(segment).ok())
        .and_then(|bytes| serde_json::from_slice::<Map<String, Value>>(&bytes).ok())
        .unwrap_or_default()
}

/// The issuer and audiences the verdict is against: the flags, else the token's own values. A
/// configuration needs a non-empty issuer and audience, so a token without them is checked against
/// a placeholder and fails on the missing claim, as in the gateway.
fn expectations(args: &InspectArgs, claims: &Map<String, Value>) -> (String, Vec<String>) {
    let issuer = args.iss.clone().unwrap_or_else(|| {
        claims
            .get("iss")
            .and_then(Value::as_str)
            .filter(|iss| !iss.is_empty())
            .unwrap_or("(no iss in the token)")
            .to_owned()
    });
    let mut audiences: Vec<String> = match &args.aud {
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
    audiences.retain(|aud| !aud.is_empty());
    if audiences.is_empty() {
        audiences.push("(no aud in the token)".into());
    }
    (issuer, audiences)
}

/// What the token was checked against, for the words of a claim failure.
struct Expected<'a> {
    issuer: &'a str,
    audiences: &'a [String],
    leeway: u64,
    typ: Option<&'a str>,
}

/// Words for the core's verdict: which stage failed, with the details that decided it.
fn reason(
    fault: TokenFault,
    token: &str,
    claims: &Map<String, Value>,
    expected: &Expected<'_>,
    source: KeySource,
    anchors: &[&[u8]],
    now: u64,
) -> String {
    let max = edgeward::config::DEFAULT_MAX_TOKEN_BYTES;
    let parsed = jws::parse(token, max);
    let jws = match &parsed {
        Ok(jws) => jws,
        // The core refused the token before its claims: say what the parser says.
        Err(parse_fault) => return format!("jws: {}", parse_fault.description()),
    };
    let alg = jws.header.alg;
    match fault {
        TokenFault::UnknownKey => match (source, &jws.header.x5c) {
            (KeySource::X5c, None) => {
                "x5c: the token has no x5c header (use --jwks for kid tokens)".into()
            }
            _ => no_key(alg, jws.header.kid.as_deref()),
        },
        TokenFault::UntrustedChain => {
            let chain = jws.header.x5c.as_deref().unwrap_or_default();
            // The core says only "untrusted"; its own validator names why, for the reader.
            let why = block_on(x5c::validate(
                chain,
                anchors,
                now,
                &ChainPolicy::default(),
                &RustCrypto,
            ));
            match why {
                Err(e) => format!("x5c chain: {}", chain_reason(e, chain, anchors, now)),
                Ok(_) => "x5c chain: not trusted".into(),
            }
        }
        TokenFault::AlgorithmNotAllowed => {
            format!("alg: {} does not fit the {} key", alg.name(), source.name())
        }
        TokenFault::BadSignature => {
            format!("signature: does not verify with the {} key", source.name())
        }
        other => claim_reason(other, &jws.header, claims, expected, now),
    }
}

fn no_key(alg: Alg, kid: Option<&str>) -> String {
    format!(
        "jwks: no usable {} key for kid {}",
        alg.name(),
        kid.map_or("(none)".into(), |k| format!("{k:?}"))
    )
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

/// Names the exact failing claim check, with the numbers that decided it.
fn claim_reason(
    fault: TokenFault,
    header: &edgeward::jws::Header,
    claims: &Map<String, Value>,
    expected: &Expected<'_>,
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
            (Some(nbf), _) if nbf > now_f + expected.leeway as f64 => {
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
            expected.issuer
        ),
        TokenFault::WrongAudience => format!(
            "claim aud: {} does not contain {:?}",
            claims.get("aud").map_or("missing".into(), Value::to_string),
            expected.audiences.join(" ")
        ),
        TokenFault::MissingClaim => {
            let missing: Vec<_> = ["iss", "aud"]
                .into_iter()
                .filter(|name| !claims.contains_key(*name))
                .collect();
            match missing.is_empty() {
                true => format!("claims: {}", fault.description()),
                false => format!("claim {}: missing", missing.join(", ")),
            }
        }
        TokenFault::Malformed => "claims: iss, aud, exp, nbf or iat has the wrong JSON type".into(),
        TokenFault::WrongType => format!(
            "header typ: {} is not {:?}",
            header
                .typ
                .as_deref()
                .map_or("missing".into(), |t| format!("{t:?}")),
            expected.typ.unwrap_or_default()
        ),
        other => format!("claims: {}", other.description()),
    }
}
