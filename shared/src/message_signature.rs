//! HTTP Message Signatures (RFC 9421) for requests the gateway forwards, and the checks an origin
//! runs on them (used by the `edgeward-verifier` crate).
//!
//! Implemented: the signature base (§2.5) over derived components (§2.2: `@method`,
//! `@target-uri`, `@authority`, `@scheme`, `@request-target`, `@path`, `@query`, and `@status` for
//! responses) and header fields (§2.1: values trimmed of surrounding whitespace, multiple field
//! lines joined with `", "`); the `Signature-Input` and `Signature` fields (§4.1, §4.2) as
//! Structured Field Dictionaries (RFC 8941 §3.2, parsed by the `sfv` crate); the algorithms `ecdsa-p256-sha256` (§3.3.4: the
//! signature is `r || s`, 64 bytes, not DER) and `hmac-sha256` (§3.3.3).
//!
//! Not implemented, and refused when met: component parameters (`;sf`, `;key`, `;bs`, `;req`,
//! `;tr`, `@query-param;name=`), Boolean or Token signature parameters, and algorithms other than
//! the two above. Field values are never re-serialised as structured fields (no `;sf`): they are
//! covered as sent, so the origin must receive the same bytes. Not checked here: freshness
//! (`created` / `expires`), nonce replay and which components a verifier requires; those are the
//! verifier's policy.

use crate::crypto::{self, PublicKey, Scheme};
use crate::http::Headers;
use base64ct::{Base64, Encoding};
use hmac::{Hmac, Mac};
use sfv::{BareItem, InnerList, Item, ListEntry};
use sha2::Sha256;
use std::fmt::Write as _;
use url::Url;

/// Most components a signature may cover. The gateway covers about ten; 32 bounds the work a
/// hostile `Signature-Input` can cause a verifier.
pub const MAX_COVERED_COMPONENTS: usize = 32;
/// Largest combined `Signature-Input` or `Signature` field accepted by [`parse_signature_input`] /
/// [`parse_signature`], in bytes. A dozen signatures fit; bounds parsing.
pub const MAX_SIGNATURE_FIELD_BYTES: usize = 8 * 1024;

/// Why a signature could not be produced or checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureError {
    /// A field is not a well-formed Structured Field, or over its budget.
    Malformed,
    /// A construct this module deliberately does not implement (see the module documentation).
    Unsupported,
    /// A covered component is missing from the message, or covered twice (§2.5).
    MissingComponent,
    /// No signature with the expected label.
    NoSuchLabel,
    /// The signature does not verify.
    BadSignature,
}

/// The two algorithms of RFC 9421 §3.3 the gateway uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// `ecdsa-p256-sha256` (§3.3.4).
    EcdsaP256Sha256,
    /// `hmac-sha256` (§3.3.3).
    HmacSha256,
}

impl Algorithm {
    /// The registered name (§6.2.2).
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::EcdsaP256Sha256 => "ecdsa-p256-sha256",
            Algorithm::HmacSha256 => "hmac-sha256",
        }
    }

    /// The algorithm with this registered name.
    pub fn from_name(name: &str) -> Option<Algorithm> {
        match name {
            "ecdsa-p256-sha256" => Some(Algorithm::EcdsaP256Sha256),
            "hmac-sha256" => Some(Algorithm::HmacSha256),
            _ => None,
        }
    }
}

/// The message a signature covers, as plain data.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    /// The request method (`@method`), as sent.
    pub method: &'a str,
    /// The absolute target URI (`@target-uri`; the other derived components come from it).
    pub target_uri: &'a str,
    /// The header fields.
    pub headers: &'a Headers,
    /// The status code, for responses (`@status`).
    pub status: Option<u16>,
}

/// A signature parameter value (RFC 9421 §2.3): Integer or String.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Param {
    /// `created`, `expires`.
    Integer(i64),
    /// `nonce`, `alg`, `keyid`, `tag`.
    String(String),
}

/// The covered components and signature parameters (`@signature-params`, §2.3), in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignatureParams {
    /// Component identifiers, lower-case: `@method`, `content-type`, …
    pub components: Vec<String>,
    /// Parameters in the order they are serialised.
    pub params: Vec<(String, Param)>,
}

impl SignatureParams {
    /// An integer parameter (`created`, `expires`).
    pub fn integer(&self, name: &str) -> Option<i64> {
        self.params.iter().find_map(|(n, v)| match v {
            Param::Integer(i) if n == name => Some(*i),
            _ => None,
        })
    }

    /// A string parameter (`nonce`, `keyid`, `alg`, `tag`).
    pub fn string(&self, name: &str) -> Option<&str> {
        self.params.iter().find_map(|(n, v)| match v {
            Param::String(s) if n == name => Some(s.as_str()),
            _ => None,
        })
    }

    /// The serialisation of §2.3: an Inner List of sf-strings with parameters.
    pub fn serialize(&self) -> String {
        let mut out = String::from("(");
        for (i, component) in self.components.iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            push_sf_string(&mut out, component);
        }
        out.push(')');
        for (name, value) in &self.params {
            out.push(';');
            out.push_str(name);
            out.push('=');
            match value {
                Param::Integer(i) => {
                    let _ = write!(out, "{i}");
                }
                Param::String(s) => push_sf_string(&mut out, s),
            }
        }
        out
    }
}

/// RFC 8941 §4.1.6: a String is `"` … `"` with `\` and `"` escaped. Callers pass printable ASCII.
fn push_sf_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

/// The signature base (§2.5) for `message` and `params`: one line per covered component, then the
/// `@signature-params` line, joined with `\n` and without a trailing newline.
pub fn signature_base(
    message: &Message<'_>,
    params: &SignatureParams,
) -> Result<String, SignatureError> {
    if params.components.len() > MAX_COVERED_COMPONENTS {
        return Err(SignatureError::Malformed);
    }
    let url = crate::http::parse_url(message.target_uri).map_err(|_| SignatureError::Malformed)?;
    let mut base = String::new();
    for (i, component) in params.components.iter().enumerate() {
        if params.components.iter().take(i).any(|c| c == component) {
            return Err(SignatureError::MissingComponent);
        }
        let value = component_value(message, &url, component)?;
        push_sf_string(&mut base, component);
        base.push_str(": ");
        base.push_str(&value);
        base.push('\n');
    }
    base.push_str("\"@signature-params\": ");
    base.push_str(&params.serialize());
    Ok(base)
}

/// The value of one component (§2.1, §2.2).
fn component_value(message: &Message<'_>, url: &Url, id: &str) -> Result<String, SignatureError> {
    let value = match id {
        "@method" => message.method.to_owned(),
        "@target-uri" => message.target_uri.to_owned(),
        "@authority" => {
            let host = url.host_str().ok_or(SignatureError::MissingComponent)?;
            match url.port() {
                Some(port) => format!("{host}:{port}"),
                None => host.to_owned(),
            }
        }
        "@scheme" => url.scheme().to_owned(),
        "@request-target" => match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        },
        "@path" => url.path().to_owned(),
        "@query" => format!("?{}", url.query().unwrap_or("")),
        "@status" => {
            let status = message.status.ok_or(SignatureError::MissingComponent)?;
            format!("{status:03}")
        }
        "@signature-params" => return Err(SignatureError::Malformed),
        derived if derived.starts_with('@') => return Err(SignatureError::Unsupported),
        field => {
            if !field.bytes().all(is_sf_key_byte) {
                return Err(SignatureError::Malformed);
            }
            let mut values = message.headers.get_all(field).peekable();
            values.peek().ok_or(SignatureError::MissingComponent)?;
            let trimmed: Vec<&str> = values.map(|v| v.trim_matches([' ', '\t'])).collect();
            trimmed.join(", ")
        }
    };
    if value.bytes().any(|b| b == b'\n' || b == b'\r') {
        return Err(SignatureError::Malformed);
    }
    Ok(value)
}

/// A key the gateway signs with.
pub enum SigningKey<'a> {
    /// `ecdsa-p256-sha256` with this private key.
    EcdsaP256(&'a p256::ecdsa::SigningKey),
    /// `hmac-sha256` with this secret.
    Hmac(&'a [u8]),
}

/// Signs a signature base: ECDSA P-256 with SHA-256 (deterministic, RFC 6979), `r || s`; or
/// HMAC-SHA256.
pub fn sign(key: &SigningKey<'_>, base: &str) -> Vec<u8> {
    match key {
        SigningKey::EcdsaP256(key) => {
            use p256::ecdsa::signature::Signer;
            let signature: p256::ecdsa::Signature = key.sign(base.as_bytes());
            signature.to_bytes().to_vec()
        }
        SigningKey::Hmac(secret) => hmac_sha256(secret, base.as_bytes()),
    }
}

fn hmac_sha256(secret: &[u8], message: &[u8]) -> Vec<u8> {
    // HMAC takes keys of any length (RFC 2104 §3), so this cannot fail.
    match <Hmac<Sha256> as Mac>::new_from_slice(secret) {
        Ok(mut mac) => {
            mac.update(message);
            mac.finalize().into_bytes().to_vec()
        }
        Err(_) => Vec::new(),
    }
}

/// A key an origin verifies with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyingKey {
    /// A P-256 public key (`ecdsa-p256-sha256`).
    EcdsaP256(PublicKey),
    /// A shared secret (`hmac-sha256`).
    Hmac(Vec<u8>),
}

impl VerifyingKey {
    /// The algorithm this key is for.
    pub fn algorithm(&self) -> Algorithm {
        match self {
            VerifyingKey::EcdsaP256(_) => Algorithm::EcdsaP256Sha256,
            VerifyingKey::Hmac(_) => Algorithm::HmacSha256,
        }
    }
}

/// Verifies `signature` over `base`. ECDSA signatures must be exactly 64 bytes (`r || s`); the HMAC
/// comparison is constant-time.
pub fn verify(key: &VerifyingKey, base: &str, signature: &[u8]) -> Result<(), SignatureError> {
    match key {
        VerifyingKey::EcdsaP256(public) => {
            if signature.len() != 64 {
                return Err(SignatureError::BadSignature);
            }
            crypto::verify_sync(Scheme::EcdsaP256Sha256, public, base.as_bytes(), signature)
                .map_err(|_| SignatureError::BadSignature)
        }
        VerifyingKey::Hmac(secret) => {
            let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret)
                .map_err(|_| SignatureError::BadSignature)?;
            mac.update(base.as_bytes());
            mac.verify_slice(signature)
                .map_err(|_| SignatureError::BadSignature)
        }
    }
}

/// The `Signature-Input` dictionary member `label=(…);…` (§4.1).
pub fn signature_input_member(label: &str, params: &SignatureParams) -> String {
    format!("{label}={}", params.serialize())
}

/// The `Signature` dictionary member `label=:base64:` (§4.2).
pub fn signature_member(label: &str, signature: &[u8]) -> String {
    format!("{label}=:{}:", Base64::encode_string(signature))
}

/// The signature labelled `label` in a message: its parameters (from `Signature-Input`) and bytes
/// (from `Signature`). Several field lines are combined with `", "` first (RFC 9110 §5.3).
pub fn find(headers: &Headers, label: &str) -> Result<(SignatureParams, Vec<u8>), SignatureError> {
    let inputs = combined(headers, "signature-input")?;
    let signatures = combined(headers, "signature")?;
    let params = parse_signature_input(&inputs)?
        .into_iter()
        .rev() // RFC 8941 §3.2: a repeated key keeps its last value.
        .find(|(l, _)| l == label)
        .map(|(_, p)| p)
        .ok_or(SignatureError::NoSuchLabel)?;
    let signature = parse_signature(&signatures)?
        .into_iter()
        .rev()
        .find(|(l, _)| l == label)
        .map(|(_, s)| s)
        .ok_or(SignatureError::NoSuchLabel)?;
    Ok((params, signature))
}

fn combined(headers: &Headers, name: &str) -> Result<String, SignatureError> {
    let joined = headers.get_all(name).collect::<Vec<_>>().join(", ");
    if joined.len() > MAX_SIGNATURE_FIELD_BYTES {
        return Err(SignatureError::Malformed);
    }
    Ok(joined)
}

/// Parses a `Signature-Input` field value: a Dictionary (RFC 8941 §3.2, parsed by the `sfv`
/// crate) of Inner Lists of Strings (no item parameters) with Integer or String parameters. A
/// repeated key or parameter keeps its last value (RFC 8941 §4.2.2, §4.2.3.2).
pub fn parse_signature_input(
    value: &str,
) -> Result<Vec<(String, SignatureParams)>, SignatureError> {
    dictionary(value)?
        .into_iter()
        .map(|(label, entry)| match entry {
            ListEntry::InnerList(list) => Ok((label.as_str().to_owned(), signature_params(list)?)),
            ListEntry::Item(_) => Err(SignatureError::Unsupported),
        })
        .collect()
}

/// Parses a `Signature` field value: a Dictionary of Byte Sequences (`:base64:`) without parameters.
pub fn parse_signature(value: &str) -> Result<Vec<(String, Vec<u8>)>, SignatureError> {
    dictionary(value)?
        .into_iter()
        .map(|(label, entry)| match entry {
            ListEntry::Item(Item {
                bare_item: BareItem::ByteSequence(bytes),
                params,
            }) if params.is_empty() => Ok((label.as_str().to_owned(), bytes)),
            _ => Err(SignatureError::Unsupported),
        })
        .collect()
}

/// A field name as a component identifier: lower case, the bytes of an RFC 8941 key.
fn is_sf_key_byte(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-' | b'.' | b'*')
}

/// RFC 8941 §4.2.2 through `sfv` (RFC 8941 rules: no Dates or Display Strings).
fn dictionary(value: &str) -> Result<sfv::Dictionary, SignatureError> {
    sfv::Parser::new(value)
        .with_version(sfv::Version::Rfc8941)
        .parse_dictionary()
        .map_err(|_| SignatureError::Malformed)
}

/// One signature's covered components and parameters (RFC 9421 §2.3).
fn signature_params(list: InnerList) -> Result<SignatureParams, SignatureError> {
    if list.items.len() > MAX_COVERED_COMPONENTS {
        return Err(SignatureError::Malformed);
    }
    let components = list
        .items
        .into_iter()
        .map(|item| match item.bare_item {
            BareItem::String(component) if item.params.is_empty() => Ok(component.into()),
            _ => Err(SignatureError::Unsupported),
        })
        .collect::<Result<Vec<String>, _>>()?;
    let params = list
        .params
        .into_iter()
        .map(|(name, value)| {
            let value = match value {
                BareItem::Integer(n) => Param::Integer(n.into()),
                BareItem::String(text) => Param::String(text.into()),
                _ => return Err(SignatureError::Unsupported),
            };
            Ok((name.as_str().to_owned(), value))
        })
        .collect::<Result<_, _>>()?;
    Ok(SignatureParams { components, params })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_reserialises_signature_input() {
        let text = r#"sig1=("@method" "x-a\"b");created=1;keyid="k", sig2=();nonce="n";expires=-5"#;
        let parsed = parse_signature_input(text).unwrap();
        assert_eq!(parsed.len(), 2);
        assert_eq!(
            signature_input_member(&parsed[0].0, &parsed[0].1),
            r#"sig1=("@method" "x-a\"b");created=1;keyid="k""#
        );
        assert_eq!(parsed[1].1.integer("expires"), Some(-5));
        assert_eq!(parsed[1].1.string("nonce"), Some("n"));
        for bad in [
            r#"sig=("@method";sf)"#,
            r#"sig=("@method");created=1.5"#,
            r#"sig=("@method");alg=tok"#,
            r#"sig=(@method)"#,
            r#"Sig=("@method")"#,
            r#"sig=("@method"),"#,
            r#"sig=("@method")x"#,
        ] {
            assert!(parse_signature_input(bad).is_err(), "{bad}");
        }
        // RFC 8941 §4.2.3.2: a repeated parameter keeps its last value. The re-serialised
        // `@signature-params` then differs from what was signed, so such a signature never verifies.
        let twice = r#"sig=("@method");created=1;created=2"#;
        let parsed = parse_signature_input(twice).unwrap();
        assert_eq!(parsed[0].1.integer("created"), Some(2));
        assert_ne!(signature_input_member("sig", &parsed[0].1), twice);
    }

    #[test]
    fn parses_signature_byte_sequences() {
        let parsed = parse_signature("a=:AQID:, b=:/w==:").unwrap();
        assert_eq!(
            parsed,
            vec![("a".into(), vec![1, 2, 3]), ("b".into(), vec![255])]
        );
        assert!(parse_signature("a=:AQ-_:").is_err());
        assert!(parse_signature("a=:AQID:;p=1").is_err());
    }

    #[test]
    fn derived_components_and_field_canonicalisation() {
        let headers: Headers = [("X-List", " a "), ("x-list", "\tb"), ("x-e", "")]
            .into_iter()
            .collect();
        let message = Message {
            method: "GET",
            target_uri: "https://Example.COM:8443/p/a%20th?q=1&r",
            headers: &headers,
            status: None,
        };
        let params = SignatureParams {
            components: [
                "@method",
                "@target-uri",
                "@authority",
                "@scheme",
                "@request-target",
                "@path",
                "@query",
                "x-list",
                "x-e",
            ]
            .map(String::from)
            .to_vec(),
            params: vec![("created".into(), Param::Integer(1))],
        };
        let base = signature_base(&message, &params).unwrap();
        assert_eq!(
            base,
            "\"@method\": GET\n\"@target-uri\": https://Example.COM:8443/p/a%20th?q=1&r\n\
             \"@authority\": example.com:8443\n\"@scheme\": https\n\
             \"@request-target\": /p/a%20th?q=1&r\n\"@path\": /p/a%20th\n\"@query\": ?q=1&r\n\
             \"x-list\": a, b\n\"x-e\": \n\
             \"@signature-params\": (\"@method\" \"@target-uri\" \"@authority\" \"@scheme\" \
             \"@request-target\" \"@path\" \"@query\" \"x-list\" \"x-e\");created=1"
        );
        let missing = SignatureParams {
            components: vec!["x-missing".into()],
            params: vec![],
        };
        assert_eq!(
            signature_base(&message, &missing),
            Err(SignatureError::MissingComponent)
        );
        let twice = SignatureParams {
            components: vec!["@method".into(), "@method".into()],
            params: vec![],
        };
        assert_eq!(
            signature_base(&message, &twice),
            Err(SignatureError::MissingComponent)
        );
        let no_query = Message {
            target_uri: "https://example.com/",
            ..message
        };
        let query = SignatureParams {
            components: vec!["@query".into()],
            params: vec![],
        };
        assert!(signature_base(&no_query, &query)
            .unwrap()
            .starts_with("\"@query\": ?\n"));
    }
}
