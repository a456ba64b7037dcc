//! The forward stage: what the origin receives. Headers a client could use to spoof the gateway
//! are always stripped, whether or not the request carries a token.

use crate::http::{Forward, Headers};
use url::Url;

/// Prefix of the header names the gateway owns. Incoming fields with this prefix are always
/// removed so that a client can never forge what the gateway asserts.
pub const NAMESPACE: &str = "x-edgeward-";

/// Hop-by-hop fields (RFC 9110 §7.6.1) and fields the platform sets itself.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
];

/// Credentials that are not forwarded: the origin trusts the gateway's assertion instead.
const CREDENTIALS: &[&str] = &["authorization", "dpop"];

/// Client-certificate fields TLS terminators commonly set (RFC 9440 `Client-Cert` /
/// `Client-Cert-Chain`, Envoy's XFCC, nginx / HAProxy conventions, Cloudflare's forwarding header).
/// Always stripped: the origin must never take a client-supplied one for the terminator's.
const CLIENT_CERT_FIELDS: &[&str] = &[
    "client-cert",
    "client-cert-chain",
    "x-client-cert",
    "x-forwarded-client-cert",
    "x-ssl-client-cert",
    "ssl-client-cert",
    "cf-client-cert-der-base64",
];

/// Builds the request for the origin: the origin base URL joined with the request's path and
/// query, and the incoming headers minus hop-by-hop fields, credentials, client-certificate
/// fields (the well-known ones and `cert_field`, the configured `mtls.client_cert_header`) and
/// the gateway namespace.
pub fn to_origin(
    origin: &Url,
    request_url: &Url,
    incoming: &Headers,
    cert_field: Option<&str>,
) -> Forward {
    let mut headers = incoming.clone();
    headers.retain(|name| {
        !name.starts_with(NAMESPACE)
            && !HOP_BY_HOP.contains(&name)
            && !CREDENTIALS.contains(&name)
            && !CLIENT_CERT_FIELDS.contains(&name)
            && !cert_field.is_some_and(|field| field.eq_ignore_ascii_case(name))
    });
    Forward {
        url: origin_url(origin, request_url),
        headers,
        response_headers: Headers::new(),
    }
}

fn origin_url(origin: &Url, request_url: &Url) -> String {
    let base = origin.as_str().trim_end_matches('/');
    let mut url = format!("{base}{}", request_url.path());
    if let Some(query) = request_url.query() {
        url.push('?');
        url.push_str(query);
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn joins_origin_base_path_and_query() {
        let headers = Headers::new();
        let fwd = to_origin(
            &url("http://o:9/base/"),
            &url("https://gw/a/b?x=1"),
            &headers,
            None,
        );
        assert_eq!(fwd.url, "http://o:9/base/a/b?x=1");
        let fwd = to_origin(&url("http://o:9"), &url("https://gw/"), &headers, None);
        assert_eq!(fwd.url, "http://o:9/");
    }

    #[test]
    fn strips_namespace_credentials_and_hop_by_hop_fields() {
        let headers: Headers = [
            ("X-Edgeward-Sub", "admin"),
            ("Authorization", "Bearer t"),
            ("DPoP", "p"),
            ("Connection", "close"),
            ("Host", "gw"),
            ("Accept", "text/plain"),
            ("Client-Cert", ":AAAA:"),
            ("X-Forwarded-Client-Cert", "Hash=00"),
            ("X-My-Cert", "x"),
        ]
        .into_iter()
        .collect();
        let fwd = to_origin(
            &url("http://o"),
            &url("http://gw/"),
            &headers,
            Some("X-My-Cert"),
        );
        let names: Vec<_> = fwd.headers.iter().map(|(n, _)| n.to_owned()).collect();
        assert_eq!(names, vec!["accept"]);
        let fwd = to_origin(&url("http://o"), &url("http://gw/"), &headers, None);
        let names: Vec<_> = fwd.headers.iter().map(|(n, _)| n.to_owned()).collect();
        assert_eq!(names, vec!["accept", "x-my-cert"]);
    }
}
