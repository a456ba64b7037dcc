//! Certificate-bound access tokens (RFC 8705 §3): a token whose `cnf` claim carries `x5t#S256`
//! is accepted only with the TLS client certificate of that SHA-256 thumbprint.
//!
//! The certificate comes from the platform ([`Request::client_cert`](crate::http::Request), e.g.
//! Workers' `request.cf.tlsClientAuth.certFingerprintSHA256`) or, only when
//! `mtls.client_cert_header` is configured, from a header a TLS terminator in front of the gateway
//! sets ([`from_header`]). Not checked: the certificate chain, validity dates or revocation (RFC 8705
//! §2.2 allows self-signed certificates; the binding is the check) — the TLS terminator owns the
//! handshake, and the gateway trusts it to have seen the private key.

use crate::config::CertEncoding;
use crate::error::TokenFault;
use crate::http::ClientCert;
use crate::strict;
use base64ct::{Base64UrlUnpadded, Encoding};
use serde_json::{Map, Value};

/// Reads a client certificate forwarded by a TLS terminator. `None` when the value is not in the
/// configured encoding.
///
/// - [`CertEncoding::Rfc9440`]: RFC 9440 §2.2 `Client-Cert`, a structured-field byte sequence
///   `:<standard base64 of the DER>:`.
/// - [`CertEncoding::PemUrlEncoded`]: one URL-encoded PEM `CERTIFICATE` block (nginx
///   `$ssl_client_escaped_cert`; Envoy XFCC's `Cert=` value once extracted).
pub fn from_header(value: &str, encoding: CertEncoding) -> Option<ClientCert> {
    let der = match encoding {
        CertEncoding::Rfc9440 => {
            let inner = value.trim().strip_prefix(':')?.strip_suffix(':')?;
            strict::b64_std(inner)?
        }
        CertEncoding::PemUrlEncoded => {
            let pem = percent_decode(value.trim())?;
            let body = pem
                .trim()
                .strip_prefix("-----BEGIN CERTIFICATE-----")?
                .trim_end()
                .strip_suffix("-----END CERTIFICATE-----")?;
            let base64: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
            strict::b64_std(&base64)?
        }
    };
    (!der.is_empty()).then(|| ClientCert::from_der(&der))
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let high = crate::http::hex_digit(*bytes.get(i + 1)?)?;
            let low = crate::http::hex_digit(*bytes.get(i + 2)?)?;
            out.push(high << 4 | low);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The `x5t#S256` confirmation method of a `cnf` claim (RFC 8705 §3.1), if the token has one.
/// A `cnf` that is not an object, or an `x5t#S256` that is not a string, is malformed.
pub fn bound_thumbprint(claims: &Map<String, Value>) -> Result<Option<&str>, TokenFault> {
    match claims.get("cnf") {
        None => Ok(None),
        Some(Value::Object(cnf)) => match cnf.get("x5t#S256") {
            None => Ok(None),
            Some(Value::String(x5t)) => Ok(Some(x5t)),
            Some(_) => Err(TokenFault::Malformed),
        },
        Some(_) => Err(TokenFault::Malformed),
    }
}

/// RFC 8705 §3: the client certificate's SHA-256 thumbprint (base64url) must equal the token's
/// `x5t#S256`. [`TokenFault::CertificateMissing`] without a certificate,
/// [`TokenFault::CertificateMismatch`] for another one.
pub fn check(x5t_s256: &str, cert: Option<&ClientCert>) -> Result<(), TokenFault> {
    let cert = cert.ok_or(TokenFault::CertificateMissing)?;
    if Base64UrlUnpadded::encode_string(&cert.sha256) == x5t_s256 {
        Ok(())
    } else {
        Err(TokenFault::CertificateMismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc9440_and_pem_encodings_give_the_same_thumbprint() {
        let der = [0x30u8, 0x03, 0x02, 0x01, 0x01];
        let from_der = ClientCert::from_der(&der);
        assert_eq!(
            from_header(":MAMCAQE=:", CertEncoding::Rfc9440),
            Some(from_der)
        );
        let pem = "-----BEGIN%20CERTIFICATE-----%0AMAMCAQE%3D%0A-----END%20CERTIFICATE-----%0A";
        assert_eq!(
            from_header(pem, CertEncoding::PemUrlEncoded),
            Some(from_der)
        );
        for bad in ["MAMCAQE=", "::", ":MAMC AQE=:", ":%%:"] {
            assert_eq!(from_header(bad, CertEncoding::Rfc9440), None, "{bad}");
        }
        assert_eq!(from_header("%zz", CertEncoding::PemUrlEncoded), None);
        assert_eq!(from_header(":MAMCAQE=:", CertEncoding::PemUrlEncoded), None);
    }

    #[test]
    fn hex_fingerprints() {
        let cert = ClientCert::from_der(b"x");
        let hex: String = cert.sha256.iter().map(|b| format!("{b:02X}")).collect();
        assert_eq!(ClientCert::from_sha256_hex(&hex), Some(cert));
        assert_eq!(ClientCert::from_sha256_hex(&hex.to_lowercase()), Some(cert));
        assert_eq!(ClientCert::from_sha256_hex(""), None);
        assert_eq!(ClientCert::from_sha256_hex(&"+f".repeat(32)), None);
    }

    #[test]
    fn binding_check() {
        let cert = ClientCert::from_der(b"cert");
        let x5t = Base64UrlUnpadded::encode_string(&cert.sha256);
        assert_eq!(check(&x5t, Some(&cert)), Ok(()));
        assert_eq!(
            check(&x5t, Some(&ClientCert::from_der(b"other"))),
            Err(TokenFault::CertificateMismatch)
        );
        assert_eq!(check(&x5t, None), Err(TokenFault::CertificateMissing));
    }
}
