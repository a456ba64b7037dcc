//! The extract stage: the access token from the `Authorization` header, `Bearer` (RFC 6750 §2.1)
//! or `DPoP` (RFC 9449 §7.1). The `DPoP` proof header itself is read by the bind stage.
//!
//! Only the header form is accepted: the form-encoded body (§2.2) and URI query (§2.3) methods
//! leak tokens into logs and caches, and RFC 9700 §4.3.2 advises against them. Not checked here:
//! anything about the token itself, which is the verify stage's job.

use crate::error::Error;
use crate::http::Headers;

/// The credential a request carries, before verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential<'a> {
    /// No `Authorization` header.
    None,
    /// `Authorization: Bearer <token>`.
    Bearer(&'a str),
    /// `Authorization: DPoP <token>` (RFC 9449 §7.1), to be checked with a `DPoP` proof.
    Dpop(&'a str),
}

impl<'a> Credential<'a> {
    /// The access token, whatever the scheme.
    pub fn token(self) -> Option<&'a str> {
        match self {
            Credential::None => None,
            Credential::Bearer(token) | Credential::Dpop(token) => Some(token),
        }
    }
}

/// Reads the `Authorization` header. More than one header field, a scheme other than `Bearer` or
/// `DPoP` (both case-insensitive), or a value that is not RFC 6750 `b64token` syntax (the same as
/// RFC 9110 `token68`, which RFC 9449 uses) is `invalid_request` (400).
pub fn extract(headers: &Headers) -> Result<Credential<'_>, Error> {
    let value = match headers.get_single("authorization") {
        Err(()) => return Err(Error::InvalidRequest("more than one Authorization header")),
        Ok(None) => return Ok(Credential::None),
        Ok(Some(value)) => value,
    };
    let (scheme, token) = value
        .split_once(' ')
        .ok_or(Error::InvalidRequest("malformed Authorization header"))?;
    let dpop = scheme.eq_ignore_ascii_case("dpop");
    if !dpop && !scheme.eq_ignore_ascii_case("bearer") {
        return Err(Error::InvalidRequest("unsupported authorization scheme"));
    }
    let token = token.trim_start_matches(' ');
    if !is_b64token(token) {
        return Err(Error::InvalidRequest("malformed access token"));
    }
    Ok(if dpop {
        Credential::Dpop(token)
    } else {
        Credential::Bearer(token)
    })
}

/// True when the (single) `Authorization` field uses the `DPoP` scheme (RFC 9449 §7.1), whether
/// or not the rest of it is well formed: the client's scheme decides its challenges.
pub fn scheme_is_dpop(headers: &Headers) -> bool {
    match headers.get_single("authorization") {
        Ok(Some(value)) => value
            .split_once(' ')
            .is_some_and(|(scheme, _)| scheme.eq_ignore_ascii_case("dpop")),
        _ => false,
    }
}

/// RFC 6750 §2.1: `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
fn is_b64token(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty()
        && body.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> Headers {
        values.iter().map(|v| ("Authorization", *v)).collect()
    }

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        assert_eq!(
            extract(&headers(&["bearer abc.def-_~"])),
            Ok(Credential::Bearer("abc.def-_~"))
        );
        assert_eq!(
            extract(&headers(&["BEARER a=="])),
            Ok(Credential::Bearer("a=="))
        );
    }

    #[test]
    fn dpop_scheme_is_accepted() {
        // RFC 9449 §7.1 example token.
        assert_eq!(
            extract(&headers(&[
                "DPoP Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"
            ])),
            Ok(Credential::Dpop(
                "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"
            ))
        );
        assert_eq!(
            extract(&headers(&["dpop a.b"])),
            Ok(Credential::Dpop("a.b"))
        );
        assert!(extract(&headers(&["DPoP"])).is_err());
    }

    #[test]
    fn missing_header_is_no_credential() {
        assert_eq!(extract(&Headers::new()), Ok(Credential::None));
    }

    #[test]
    fn malformed_headers_are_invalid_requests() {
        for bad in [
            "Bearer",
            "Bearer ",
            "Basic dXNlcg==",
            "Bearer a b",
            "Bearer =",
            "Bearer a\"b",
            "Token",
        ] {
            assert!(
                matches!(extract(&headers(&[bad])), Err(Error::InvalidRequest(_))),
                "{bad:?}"
            );
        }
        assert!(matches!(
            extract(&headers(&["Bearer a", "Bearer b"])),
            Err(Error::InvalidRequest(_))
        ));
    }
}
