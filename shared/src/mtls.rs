//! Certificate-bound access tokens (RFC 8705 §3): a token whose `cnf` claim carries `x5t#S256`
//! is accepted only with the TLS client certificate of that SHA-256 thumbprint.
//!
//! The certificate comes from the platform ([`Request::client_cert`](crate::http::Request), e.g.
//! Workers' `request.cf.tlsClientAuth`) or, only when `mtls.client_cert_header` is configured, from
//! a header a TLS terminator in front of the gateway sets ([`from_header`]). The TLS layer owns the
//! handshake: the gateway trusts it to have seen the private key, and takes its word on the chain
//! and revocation ([`usable`]):
//!
//! - a certificate the TLS layer reports **revoked** never satisfies `x5t#S256`;
//! - one whose chain it did **not validate** (RFC 8705 §2.1, PKI method) satisfies it only when
//!   `mtls.accept_unverified_client_certs` is set: RFC 8705 §2.2, self-signed certificates, where
//!   the binding to the token is the whole check.
//!
//! Not checked here: the chain, validity dates or revocation themselves (no CRL or OCSP fetch).

use crate::error::TokenFault;
use crate::http::{ChainCheck, ClientCert};
use crate::strict;
use base64ct::{Base64UrlUnpadded, Encoding};
use serde::Deserialize;
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

/// The certificate if it may satisfy a `cnf["x5t#S256"]` binding under `config`, else `None`, as
/// if none had been presented. The decision table:
///
/// | `revoked` | `chain` | `accept_unverified_client_certs` | usable |
/// |---|---|---|---|
/// | true | any | any | no: a revoked certificate never binds |
/// | false | [`ChainCheck::Passed`] | any | yes (RFC 8705 §2.1) |
/// | false | [`ChainCheck::NotPassed`] | false (default) | no |
/// | false | [`ChainCheck::NotPassed`] | true | yes (RFC 8705 §2.2, self-signed) |
pub fn usable<'c>(cert: Option<&'c ClientCert>, config: &Mtls) -> Option<&'c ClientCert> {
    cert.filter(|cert| match (cert.revoked, cert.chain) {
        (true, _) => false,
        (false, ChainCheck::Passed) => true,
        (false, ChainCheck::NotPassed) => config.accept_unverified_client_certs,
    })
}

/// RFC 8705 §3: the client certificate's SHA-256 thumbprint (base64url) must equal the token's
/// `x5t#S256`. [`TokenFault::CertificateMissing`] without a certificate,
/// [`TokenFault::CertificateMismatch`] for another one. Pass the certificate through [`usable`]
/// first.
pub fn check(x5t_s256: &str, cert: Option<&ClientCert>) -> Result<(), TokenFault> {
    let cert = cert.ok_or(TokenFault::CertificateMissing)?;
    if Base64UrlUnpadded::encode_string(&cert.sha256) == x5t_s256 {
        Ok(())
    } else {
        Err(TokenFault::CertificateMismatch)
    }
}

/// Where the TLS client certificate comes from (RFC 8705).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Mtls {
    /// Header set by a TLS terminator in front of the gateway, e.g. `client-cert`. Trusted only
    /// when named here; always stripped before forwarding. Default: none (platform data only).
    pub client_cert_header: Option<String>,
    /// How that header encodes the certificate.
    pub client_cert_encoding: CertEncoding,
    /// Accept a client certificate whose chain the platform did not validate (Workers:
    /// `certVerified` other than `"SUCCESS"`): RFC 8705 §2.2 self-signed certificates, where the
    /// binding to the token is the only check. Default `false`: only certificates the platform
    /// validated (RFC 8705 §2.1). A revoked certificate is refused either way
    /// ([`crate::mtls::usable`]).
    pub accept_unverified_client_certs: bool,
}

crate::bake::bake_struct!(Mtls {
    client_cert_header,
    client_cert_encoding,
    accept_unverified_client_certs,
});

/// Encodings of a forwarded client certificate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CertEncoding {
    /// RFC 9440 `Client-Cert`: a structured-field byte sequence, `:<base64 DER>:`.
    #[default]
    Rfc9440,
    /// URL-encoded PEM, as nginx's `$ssl_client_escaped_cert` and Envoy's XFCC `Cert=` give it.
    PemUrlEncoded,
}

crate::by_name::deserialize_by_name!(CertEncoding {
    "rfc9440" => CertEncoding::Rfc9440,
    "pem_url_encoded" => CertEncoding::PemUrlEncoded,
});

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
    fn workers_tls_client_auth_fields() {
        let cert = ClientCert::from_der(b"x");
        let hex: String = cert.sha256.iter().map(|b| format!("{b:02X}")).collect();
        let read =
            |hex: &str, verified, revoked| ClientCert::from_tls_client_auth(hex, verified, revoked);
        assert_eq!(read(&hex, "SUCCESS", "0"), Some(cert));
        assert_eq!(read(&hex.to_lowercase(), "SUCCESS", "0"), Some(cert));
        assert_eq!(read("", "SUCCESS", "0"), None);
        assert_eq!(read(&"+f".repeat(32), "SUCCESS", "0"), None);
        // Only "SUCCESS" passes and only "0" is not revoked: unknown or missing values count
        // against the certificate.
        for verified in [
            "NONE",
            "FAILED:self signed certificate",
            "",
            "success",
            "SUCCESS ",
        ] {
            let got = read(&hex, verified, "0").unwrap();
            assert_eq!(
                (got.chain, got.revoked),
                (ChainCheck::NotPassed, false),
                "{verified:?}"
            );
        }
        for revoked in ["1", "", "true", "00"] {
            let got = read(&hex, "SUCCESS", revoked).unwrap();
            assert_eq!(
                (got.chain, got.revoked),
                (ChainCheck::Passed, true),
                "{revoked:?}"
            );
        }
    }

    #[test]
    fn usable_decision_table() {
        let cert = |chain, revoked| ClientCert {
            sha256: [7; 32],
            chain,
            revoked,
        };
        let strict = Mtls::default();
        assert!(
            !strict.accept_unverified_client_certs,
            "the default is strict"
        );
        let lenient = Mtls {
            accept_unverified_client_certs: true,
            ..Mtls::default()
        };
        use ChainCheck::{NotPassed, Passed};
        for (chain, revoked, config, expected) in [
            (Passed, false, &strict, true),
            (Passed, false, &lenient, true),
            (NotPassed, false, &strict, false),
            (NotPassed, false, &lenient, true),
            (Passed, true, &strict, false),
            (Passed, true, &lenient, false),
            (NotPassed, true, &strict, false),
            (NotPassed, true, &lenient, false),
        ] {
            let c = cert(chain, revoked);
            let allowed = config.accept_unverified_client_certs;
            assert_eq!(
                usable(Some(&c), config).is_some(),
                expected,
                "{chain:?} revoked={revoked} accept_unverified={allowed}"
            );
        }
        assert_eq!(usable(None, &lenient), None);
        // A header certificate is the terminator's: passed, not revoked.
        assert!(usable(Some(&ClientCert::from_der(b"c")), &strict).is_some());
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
