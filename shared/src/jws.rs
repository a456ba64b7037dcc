//! Strict compact JWS (RFC 7515 §7.1) for JWT access tokens, with the RFC 8725 hardening.
//!
//! [`parse`] checks, in this order: the size budget (before any decoding), exactly three segments,
//! canonical unpadded base64url in each (RFC 7515 §2), a JOSE header and a payload that are JSON
//! objects without duplicate member names at any depth (RFC 7515 §5.2, RFC 8725 §3.4), an allowed
//! `alg` (RFC 8725 §3.1–3.2), well-formed `kid` / `typ` / `x5c` / `jwk`, and `crit`
//! (RFC 7515 §4.1.11). [`Jws::verify`] then checks the signature with a caller-chosen key.
//!
//! [`HeaderMemo`] keeps parsed headers by their exact base64url text: one issuer's tokens share
//! a header (the same `alg`, `kid`, `typ` and, with x5c, the same ≈ 3 KB certificate chain), so a
//! token verified in full — the verified-token cache off, or a new token — decodes and parses only
//! its payload and signature. Parsing is a pure function of the text, so a hit is exactly what
//! parsing would give; only headers that parsed are kept.
//!
//! Not checked here: claims (see [`claims`](crate::claims)), `cty` / nested JWTs, JWE, the
//! unencoded payload option (RFC 7797, which needs `crit` and is therefore rejected), and the
//! contents of `x5c` certificates (DER bytes are only decoded from base64 here).

use crate::crypto::{PublicKey, SignatureVerifier};
use crate::error::TokenFault;
pub use crate::jwa::Alg;
use crate::lru::Lru;
use crate::strict;
use serde_json::{Map, Value};
use std::sync::{Arc, Mutex};

/// Most certificates accepted in an `x5c` header. A leaf, at most three intermediates and an
/// optional root make five; real issuers send one to three. Bounds decoding and later path building.
pub const MAX_X5C_CERTS: usize = 5;

/// Header parameter names registered by RFC 7515 §4.1 and RFC 7518 §4.1 / §7.1 (JWS and JWE).
/// RFC 7515 §4.1.11: `crit` must not list these.
const REGISTERED_HEADER_PARAMS: &[&str] = &[
    "alg", "jku", "jwk", "kid", "x5u", "x5c", "x5t", "x5t#S256", "typ", "cty", "crit", "enc",
    "zip", "epk", "apu", "apv", "iv", "tag", "p2s", "p2c",
];

/// The JOSE header of a JWS (RFC 7515 §4).
///
/// `jku`, `x5u` and `jwk` are **never** key sources: the verification key always comes from the
/// caller's configuration (RFC 8725 §3.10). `jwk` is kept only so a DPoP proof (RFC 9449 §4.2) can
/// read it; `jku` and `x5u` stay in [`raw`](Header::raw) untouched. `kid` is only a lookup string.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    /// `alg` (RFC 7515 §4.1.1), already restricted to the allowed set.
    pub alg: Alg,
    /// `kid` (RFC 7515 §4.1.4): an opaque lookup string, never a path, URL or query.
    pub kid: Option<String>,
    /// `typ` (RFC 7515 §4.1.9), as sent.
    pub typ: Option<String>,
    /// `x5c` (RFC 7515 §4.1.6): DER certificates, decoded from standard padded base64 (not
    /// base64url), at most [`MAX_X5C_CERTS`]. The chain is not validated here.
    pub x5c: Option<Vec<Vec<u8>>>,
    /// [`list_digest`](crate::crypto::list_digest) of `x5c` (label [`X5C_DIGEST_LABEL`]), taken
    /// when the header is parsed: the chain's part of the x5c chain-cache key, so a header from
    /// [`HeaderMemo`] does not hash its certificates again. Headers are shared read-only (`Arc`)
    /// once parsed, so it always describes `x5c`.
    pub x5c_digest: Option<[u8; 32]>,
    /// `jwk` (RFC 7515 §4.1.3), kept for DPoP only; never used as a key for access tokens.
    pub jwk: Option<Map<String, Value>>,
    /// The whole header as parsed.
    pub raw: Map<String, Value>,
}

/// A parsed, not yet verified, compact JWS.
///
/// The token never supplies its own verification key: `jku`, `x5u` and `jwk` are not key sources
/// (RFC 8725 §3.10), and `kid` is only a string to look up in configured keys. [`Jws::verify`] takes
/// the key as an argument.
#[derive(Debug, Clone, PartialEq)]
pub struct Jws<'a> {
    /// The JOSE header (shared with [`HeaderMemo`] when it came from there).
    pub header: Arc<Header>,
    /// The payload, a JSON object (the JWT claims set, RFC 7519 §7.2 step 10).
    pub claims: Map<String, Value>,
    /// `BASE64URL(header) '.' BASE64URL(payload)`: the bytes the signature covers (RFC 7515 §5.1).
    pub signing_input: &'a str,
    /// The decoded signature.
    pub signature: Vec<u8>,
}

/// Parses a compact JWS, accepting no `crit` extension. See [`parse_with_critical`].
pub fn parse(token: &str, max_bytes: usize) -> Result<Jws<'_>, TokenFault> {
    parse_with_critical(token, max_bytes, &[])
}

/// Parses a compact JWS (RFC 7515 §5.2), where `understood` names the `crit` extensions the caller
/// processes (RFC 7515 §4.1.11). The size limit is checked before anything is decoded.
///
/// Errors: [`TokenFault::TooLarge`]; [`TokenFault::Malformed`] for structure, base64url, JSON,
/// duplicate members and badly typed header parameters (including a malformed `crit`);
/// [`TokenFault::AlgorithmNotAllowed`]; [`TokenFault::UnsupportedCritical`] when `crit` names an
/// extension not in `understood`.
pub fn parse_with_critical<'a>(
    token: &'a str,
    max_bytes: usize,
    understood: &[&str],
) -> Result<Jws<'a>, TokenFault> {
    parse_parts(token, max_bytes, |header_b64| {
        parse_header(header_b64, understood).map(Arc::new)
    })
}

/// [`parse`] with headers taken from (and added to) `memo`.
pub fn parse_memoized<'a>(
    token: &'a str,
    max_bytes: usize,
    memo: &HeaderMemo,
) -> Result<Jws<'a>, TokenFault> {
    parse_parts(token, max_bytes, |header_b64| memo.header(header_b64))
}

/// The header of `BASE64URL(header)`: decoded, a JSON object without duplicate members, then
/// [`Header::from_raw`].
fn parse_header(header_b64: &str, understood: &[&str]) -> Result<Header, TokenFault> {
    let header_bytes = strict::b64url(header_b64).ok_or(TokenFault::Malformed)?;
    let raw = strict::object(&header_bytes).ok_or(TokenFault::Malformed)?;
    Header::from_raw(raw, understood)
}

/// The compact serialization's checks, with the header's text handed to `header`.
fn parse_parts<'a>(
    token: &'a str,
    max_bytes: usize,
    header: impl FnOnce(&str) -> Result<Arc<Header>, TokenFault>,
) -> Result<Jws<'a>, TokenFault> {
    if token.len() > max_bytes {
        return Err(TokenFault::TooLarge);
    }
    let mut segments = token.split('.');
    let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) = (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) else {
        return Err(TokenFault::Malformed);
    };
    let header = header(header_b64)?;
    let payload = strict::b64url(payload_b64).ok_or(TokenFault::Malformed)?;
    let claims = strict::object(&payload).ok_or(TokenFault::Malformed)?;
    let signature = strict::b64url(signature_b64).ok_or(TokenFault::Malformed)?;
    if signature.is_empty() {
        return Err(TokenFault::Malformed);
    }
    let signing_input = token
        .get(..header_b64.len() + 1 + payload_b64.len())
        .ok_or(TokenFault::Malformed)?;
    Ok(Jws {
        header,
        claims,
        signing_input,
        signature,
    })
}

/// The label of [`Header::x5c_digest`].
pub const X5C_DIGEST_LABEL: &[u8] = b"edgeward x5c chain";

/// Headers of access tokens that parsed, by their exact base64url text ([`parse_memoized`]; module
/// documentation). Holds at most [`HeaderMemo::ENTRIES`]; no `crit` extension is understood.
#[derive(Debug, Default)]
pub struct HeaderMemo {
    parsed: Mutex<Lru<Box<str>, Arc<Header>>>,
}

impl HeaderMemo {
    /// An isolate sees the headers of a few issuers and their key rotations; a header is at most
    /// the token size limit, so 64 of them hold well under 1 MiB.
    pub const ENTRIES: usize = 64;

    fn header(&self, header_b64: &str) -> Result<Arc<Header>, TokenFault> {
        if let Some(hit) = self
            .parsed
            .lock()
            .ok()
            .and_then(|mut m| m.get(header_b64).cloned())
        {
            return Ok(hit);
        }
        let header = Arc::new(parse_header(header_b64, &[])?);
        if let Ok(mut parsed) = self.parsed.lock() {
            parsed.insert(header_b64.into(), header.clone(), Self::ENTRIES);
        }
        Ok(header)
    }
}

impl Header {
    /// Interprets a parsed JOSE header object.
    pub fn from_raw(raw: Map<String, Value>, understood: &[&str]) -> Result<Header, TokenFault> {
        let alg = match raw.get("alg") {
            Some(Value::String(name)) => {
                Alg::from_name(name).ok_or(TokenFault::AlgorithmNotAllowed)?
            }
            _ => return Err(TokenFault::Malformed),
        };
        let kid = optional_string(&raw, "kid")?;
        let typ = optional_string(&raw, "typ")?;
        let x5c = match raw.get("x5c") {
            None => None,
            Some(value) => Some(x5c_certs(value).ok_or(TokenFault::Malformed)?),
        };
        let x5c_digest = x5c
            .as_deref()
            .map(|certs| crate::crypto::list_digest(X5C_DIGEST_LABEL, certs));
        let jwk = match raw.get("jwk") {
            None => None,
            Some(Value::Object(map)) => Some(map.clone()),
            Some(_) => return Err(TokenFault::Malformed),
        };
        check_critical(&raw, understood)?;
        Ok(Header {
            alg,
            kid,
            typ,
            x5c,
            x5c_digest,
            jwk,
            raw,
        })
    }
}

fn optional_string(raw: &Map<String, Value>, name: &str) -> Result<Option<String>, TokenFault> {
    match raw.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(TokenFault::Malformed),
    }
}

/// RFC 7515 §4.1.6: a non-empty array of standard base64 DER certificates.
pub(crate) fn x5c_certs(value: &Value) -> Option<Vec<Vec<u8>>> {
    let items = value.as_array()?;
    if items.is_empty() || items.len() > MAX_X5C_CERTS {
        return None;
    }
    items
        .iter()
        .map(|item| {
            let der = strict::b64_std(item.as_str()?)?;
            (!der.is_empty()).then_some(der)
        })
        .collect()
}

/// RFC 7515 §4.1.11: `crit` is a non-empty array of distinct strings, each naming a header parameter
/// that is present and not registered by RFC 7515 / RFC 7518; every name must be understood.
fn check_critical(raw: &Map<String, Value>, understood: &[&str]) -> Result<(), TokenFault> {
    let Some(crit) = raw.get("crit") else {
        return Ok(());
    };
    let names = crit.as_array().ok_or(TokenFault::Malformed)?;
    if names.is_empty() {
        return Err(TokenFault::Malformed);
    }
    for (i, name) in names.iter().enumerate() {
        let name = name.as_str().ok_or(TokenFault::Malformed)?;
        let repeated = names
            .iter()
            .take(i)
            .any(|earlier| earlier.as_str() == Some(name));
        if repeated || REGISTERED_HEADER_PARAMS.contains(&name) || !raw.contains_key(name) {
            return Err(TokenFault::Malformed);
        }
        if !understood.contains(&name) {
            return Err(TokenFault::UnsupportedCritical);
        }
    }
    Ok(())
}

impl Jws<'_> {
    /// Verifies the signature with `key` (RFC 7515 §5.2 step 8), which must come from configuration
    /// or a configured JWKS / trust anchor — never from the token itself.
    ///
    /// A key of the wrong family for `alg` is [`TokenFault::AlgorithmNotAllowed`]; an ECDSA or Ed25519
    /// signature of the wrong length (e.g. DER) or one that does not verify is
    /// [`TokenFault::BadSignature`]. Claims are not looked at.
    pub async fn verify<V: SignatureVerifier>(
        &self,
        key: &PublicKey,
        verifier: &V,
    ) -> Result<(), TokenFault> {
        let alg = self.header.alg;
        if !alg.fits(key) {
            return Err(TokenFault::AlgorithmNotAllowed);
        }
        if alg
            .signature_len()
            .is_some_and(|len| len != self.signature.len())
        {
            return Err(TokenFault::BadSignature);
        }
        verifier
            .verify(
                alg.scheme(),
                key,
                self.signing_input.as_bytes(),
                &self.signature,
            )
            .await
            .map_err(|_| TokenFault::BadSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64ct::{Base64UrlUnpadded, Encoding};

    fn b64(s: &str) -> String {
        Base64UrlUnpadded::encode_string(s.as_bytes())
    }

    fn token(header: &str, payload: &str) -> String {
        format!("{}.{}.AAAA", b64(header), b64(payload))
    }

    #[test]
    fn parses_a_minimal_token() {
        let t = token(
            r#"{"alg":"ES256","kid":"k1","typ":"at+jwt"}"#,
            r#"{"sub":"a"}"#,
        );
        let jws = parse(&t, 1000).unwrap();
        assert_eq!(jws.header.alg, Alg::ES256);
        assert_eq!(jws.header.kid.as_deref(), Some("k1"));
        assert_eq!(jws.claims.get("sub"), Some(&Value::from("a")));
        assert_eq!(jws.signature, vec![0, 0, 0]);
        assert!(t.starts_with(jws.signing_input));
    }

    #[test]
    fn memoized_headers_parse_as_parse_does_and_are_shared() {
        let memo = HeaderMemo::default();
        let header = r#"{"alg":"ES256","kid":"k1","x5c":["AQ=="]}"#;
        let (first, second) = (
            token(header, r#"{"sub":"a"}"#),
            token(header, r#"{"sub":"b"}"#),
        );
        let a = parse_memoized(&first, 1000, &memo).unwrap();
        let b = parse_memoized(&second, 1000, &memo).unwrap();
        assert_eq!(a, parse(&first, 1000).unwrap());
        assert_eq!(b, parse(&second, 1000).unwrap());
        assert!(
            Arc::ptr_eq(&a.header, &b.header),
            "the second token's header is the memo's"
        );
        assert_eq!(
            b.claims.get("sub"),
            Some(&Value::from("b")),
            "the payload is its own"
        );
        // Every refusal is the same as without the memo, and a refused header is not kept.
        let refused = [
            token(r#"{"alg":"none"}"#, "{}"),
            token(r#"{"alg":"ES256","alg":"ES256"}"#, "{}"),
            token(r#"{"alg":"ES256","crit":["exp"],"exp":1}"#, "{}"),
            token(r#"{"alg":"ES256","x5c":["AQ-_"]}"#, "{}"),
        ];
        for t in &refused {
            for _ in 0..2 {
                assert_eq!(
                    parse_memoized(t, 1000, &memo),
                    parse(t, 1000).map(|_| unreachable!())
                );
            }
        }
        assert_eq!(memo.parsed.lock().unwrap().len(), 1);
        // Size is checked before the memo is asked.
        assert_eq!(parse_memoized(&first, 10, &memo), Err(TokenFault::TooLarge));
    }

    #[test]
    fn the_header_memo_is_bounded() {
        let memo = HeaderMemo::default();
        for i in 0..HeaderMemo::ENTRIES + 10 {
            let t = token(&format!(r#"{{"alg":"ES256","kid":"k{i}"}}"#), "{}");
            assert!(parse_memoized(&t, 1000, &memo).is_ok());
        }
        assert_eq!(memo.parsed.lock().unwrap().len(), HeaderMemo::ENTRIES);
    }

    #[test]
    fn segments_and_types() {
        let good = token(r#"{"alg":"ES256"}"#, "{}");
        assert!(parse(&good, 1000).is_ok());
        assert_eq!(
            parse(&format!("{good}.AAAA"), 1000),
            Err(TokenFault::Malformed)
        );
        assert_eq!(parse("a.b", 1000), Err(TokenFault::Malformed));
        let no_sig = format!("{}.{}.", b64(r#"{"alg":"ES256"}"#), b64("{}"));
        assert_eq!(parse(&no_sig, 1000), Err(TokenFault::Malformed));
        for (h, p) in [
            (r#"["alg"]"#, "{}"),
            (r#"{"alg":"ES256"}"#, "[]"),
            (r#"{"alg":"ES256"}"#, "\"x\""),
            (r#"{"alg":1}"#, "{}"),
            (r#"{}"#, "{}"),
            (r#"{"alg":"ES256","kid":1}"#, "{}"),
            (r#"{"alg":"ES256","typ":null}"#, "{}"),
            (r#"{"alg":"ES256","jwk":"x"}"#, "{}"),
            (r#"{"alg":"ES256","x5c":[]}"#, "{}"),
            (r#"{"alg":"ES256","x5c":["AQ"]}"#, "{}"),
            (r#"{"alg":"ES256","x5c":["AQ-_"]}"#, "{}"),
        ] {
            assert_eq!(
                parse(&token(h, p), 1000),
                Err(TokenFault::Malformed),
                "{h} {p}"
            );
        }
    }

    #[test]
    fn x5c_is_standard_base64_and_bounded() {
        let ok = token(r#"{"alg":"ES256","x5c":["AQ==","+/8="]}"#, "{}");
        let jws = parse(&ok, 1000).unwrap();
        assert_eq!(jws.header.x5c, Some(vec![vec![1], vec![0xfb, 0xff]]));
        let five = token(
            r#"{"alg":"ES256","x5c":["AQ==","AQ==","AQ==","AQ==","AQ=="]}"#,
            "{}",
        );
        assert!(parse(&five, 1000).is_ok());
        let six = token(
            r#"{"alg":"ES256","x5c":["AQ==","AQ==","AQ==","AQ==","AQ==","AQ=="]}"#,
            "{}",
        );
        assert_eq!(parse(&six, 1000), Err(TokenFault::Malformed));
    }

    #[test]
    fn algorithm_names() {
        for alg in [Alg::ES256, Alg::ES384, Alg::RS256, Alg::PS256, Alg::EdDSA] {
            assert_eq!(Alg::from_name(alg.name()), Some(alg));
        }
        for name in [
            "none", "None", "HS256", "HS384", "HS512", "es256", "ES512", "RS384", "",
        ] {
            assert_eq!(Alg::from_name(name), None);
        }
    }

    #[test]
    fn crit_rules() {
        let case = |h: &str, understood: &[&str]| {
            parse_with_critical(&token(h, "{}"), 1000, understood).map(|_| ())
        };
        let ext = r#"{"alg":"ES256","crit":["ext"],"ext":1}"#;
        assert_eq!(case(ext, &[]), Err(TokenFault::UnsupportedCritical));
        assert_eq!(case(ext, &["ext"]), Ok(()));
        for bad in [
            r#"{"alg":"ES256","crit":[]}"#,
            r#"{"alg":"ES256","crit":"ext","ext":1}"#,
            r#"{"alg":"ES256","crit":[1]}"#,
            r#"{"alg":"ES256","crit":["ext"]}"#,
            r#"{"alg":"ES256","crit":["alg"]}"#,
            r#"{"alg":"ES256","crit":["ext","ext"],"ext":1}"#,
        ] {
            assert_eq!(case(bad, &["ext"]), Err(TokenFault::Malformed), "{bad}");
        }
    }

    #[test]
    fn size_limit_is_inclusive() {
        let t = token(r#"{"alg":"ES256"}"#, "{}");
        assert!(parse(&t, t.len()).is_ok());
        assert_eq!(parse(&t, t.len() - 1), Err(TokenFault::TooLarge));
    }
}
