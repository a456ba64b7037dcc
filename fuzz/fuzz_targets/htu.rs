//! `htu` normalisation (RFC 9449 §4.3 check 9, RFC 3986 §6.2.2 and §6.2.3): `dpop::normalize_htu`
//! and `dpop::public_htu`, differentially. The result must be in normal form (normalising it again
//! changes nothing), carry no query, fragment or user information, and an equivalent spelling of
//! the same URI (upper-case scheme and host, the default port written out, unreserved characters
//! percent-encoded with either hex case) must normalise to the same string.
//!
//! Input: two flag bytes (which path characters to encode, hex case, which spelling changes to
//! make), then the URI as UTF-8.
#![no_main]

use edgeward::internal::dpop::{normalize_htu, parse_public_base, public_htu};
use libfuzzer_sys::fuzz_target;
use url::Url;

fuzz_target!(|data: &[u8]| {
    let [mask, style, rest @ ..] = data else {
        return;
    };
    let Ok(uri) = std::str::from_utf8(rest) else {
        return;
    };
    let Some(normal) = normalize_htu(uri) else {
        return;
    };
    assert_eq!(
        normalize_htu(&normal).as_deref(),
        Some(normal.as_str()),
        "not idempotent: {uri:?}"
    );
    assert!(normal.starts_with("http://") || normal.starts_with("https://"));
    assert!(!normal.contains(['?', '#']), "{normal}");
    let authority = normal.split('/').nth(2).unwrap_or_default();
    assert!(!authority.contains('@'), "{normal}");
    assert_eq!(authority, authority.to_ascii_lowercase(), "{normal}");

    if let Some(variant) = equivalent_spelling(uri, *mask, *style) {
        assert_eq!(
            normalize_htu(&variant).as_deref(),
            Some(normal.as_str()),
            "{uri:?} and {variant:?} are the same URI"
        );
    }

    // The public form: with no base it is the normal form of the request URL; with a base, it
    // starts with the base and ends with the request path.
    let Ok(url) = Url::parse(uri) else {
        return;
    };
    assert_eq!(public_htu(&url, None).as_deref(), Some(normal.as_str()));
    let base = parse_public_base("https://API.example:443/v1/").unwrap();
    if let Some(public) = public_htu(&url, Some(&base)) {
        assert!(public.starts_with("https://api.example/v1"), "{public}");
        assert_eq!(normalize_htu(&public).as_deref(), Some(public.as_str()));
    }
});

/// The same URI spelled differently (RFC 3986 §6.2.2): scheme and host upper-cased, the default
/// port added, and the unreserved path characters picked by `mask` percent-encoded. `None` when
/// the URI is not simple enough to respell safely.
fn equivalent_spelling(uri: &str, mask: u8, style: u8) -> Option<String> {
    let url = Url::parse(uri).ok()?;
    let default_port = match url.scheme() {
        "http" => 80,
        "https" => 443,
        _ => return None,
    };
    if url.port().is_some() || !url.username().is_empty() || url.password().is_some() {
        return None;
    }
    let host = url.host_str()?;
    if !host.is_ascii() || host.starts_with('[') {
        return None;
    }
    let scheme = if style & 1 != 0 {
        url.scheme().to_ascii_uppercase()
    } else {
        url.scheme().to_owned()
    };
    let host = if style & 2 != 0 {
        host.to_ascii_uppercase()
    } else {
        host.to_owned()
    };
    let port = if style & 4 != 0 {
        format!(":{default_port}")
    } else {
        String::new()
    };
    let mut path = String::new();
    let mut chars = url.path().char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let unreserved = c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~');
        if c == '%' && is_triplet(url.path(), i) {
            // An existing %XX stays as it is: its digits are not characters of the path.
            path.push(c);
            path.extend(chars.next().map(|(_, c)| c));
            path.extend(chars.next().map(|(_, c)| c));
        } else if unreserved && mask & (1 << (i % 8)) != 0 {
            if style & 8 != 0 {
                path.push_str(&format!("%{:02x}", c as u32));
            } else {
                path.push_str(&format!("%{:02X}", c as u32));
            }
        } else {
            path.push(c);
        }
    }
    Some(format!("{scheme}://{host}{port}{path}"))
}

fn is_triplet(path: &str, at: usize) -> bool {
    let digits = path.as_bytes().get(at + 1..at + 3);
    digits.is_some_and(|d| d.iter().all(u8::is_ascii_hexdigit))
}
