//! The verified token: what the verify stage (a JWT, RFC 9068) or introspection (an opaque token,
//! RFC 7662) hands every later stage — bind, policy, forward — and the verified-token cache keeps.
//! A leaf, so that those stages depend on it rather than on each other.

use serde_json::{Map, Value};

/// The kinds of access token: what a route can demand, and how a token was resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// A JWT access token verified locally (RFC 9068).
    Jwt,
    /// An opaque token resolved by introspection (RFC 7662).
    Opaque,
}

crate::by_name::deserialize_by_name!(TokenKind {
    "jwt" => TokenKind::Jwt,
    "opaque" => TokenKind::Opaque,
});

/// A token whose signature and claims have been verified.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedToken {
    /// The issuer's `iss`, as configured.
    pub issuer: String,
    /// The verified claims (for an opaque token: the introspection answer).
    pub claims: Map<String, Value>,
    /// How the token was resolved.
    pub kind: TokenKind,
    /// The JWT sent to the origin as `Authorization: Bearer` in place of the client's credential:
    /// for an opaque token answered in `application_jwt` mode, the AS's JWT (the phantom-token
    /// pattern); for a split token, the reassembled JWT.
    pub phantom_jwt: Option<String>,
    /// For a DPoP-bound JWT (`cnf.jkt`): its RFC 9449 `ath`, computed once when it is verified,
    /// so the proofs that come with it while it is cached are checked without hashing the token
    /// again. `None`: computed per request.
    pub ath: Option<String>,
}
