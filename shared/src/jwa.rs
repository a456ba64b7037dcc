//! JSON Web Algorithms (RFC 7518) the gateway knows: the signature algorithms, and sets of them.
//! A leaf: the JWS, DPoP and error modules all name algorithms.

use crate::crypto::{PublicKey, Scheme};
use std::fmt;

/// The signature algorithms accepted (RFC 7518 §3.1, RFC 8037 §3.1). Everything else — `none`, the
/// HMAC algorithms `HS256`/`HS384`/`HS512` (RFC 8725 §2.1: a public key must never become an HMAC
/// secret) and any unknown name — is not an [`Alg`] (the JWS stage refuses it as
/// `AlgorithmNotAllowed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Alg {
    /// ECDSA P-256 with SHA-256, signature `r || s` of 64 bytes (RFC 7518 §3.4).
    ES256,
    /// ECDSA P-384 with SHA-384, signature `r || s` of 96 bytes (RFC 7518 §3.4).
    ES384,
    /// RSASSA-PKCS1-v1_5 with SHA-256 (RFC 7518 §3.3).
    RS256,
    /// RSASSA-PSS with SHA-256 and MGF1-SHA-256 (RFC 7518 §3.5).
    PS256,
    /// EdDSA; only the Ed25519 curve is accepted (RFC 8037 §3.1).
    EdDSA,
}

impl Alg {
    /// The algorithm named by a JWS `alg` value (case-sensitive, RFC 7515 §4.1.1).
    pub fn from_name(name: &str) -> Option<Alg> {
        match name {
            "ES256" => Some(Alg::ES256),
            "ES384" => Some(Alg::ES384),
            "RS256" => Some(Alg::RS256),
            "PS256" => Some(Alg::PS256),
            "EdDSA" => Some(Alg::EdDSA),
            _ => None,
        }
    }

    /// The registered `alg` name.
    pub fn name(self) -> &'static str {
        match self {
            Alg::ES256 => "ES256",
            Alg::ES384 => "ES384",
            Alg::RS256 => "RS256",
            Alg::PS256 => "PS256",
            Alg::EdDSA => "EdDSA",
        }
    }

    /// The signature scheme the verifier runs.
    pub fn scheme(self) -> Scheme {
        match self {
            Alg::ES256 => Scheme::EcdsaP256Sha256,
            Alg::ES384 => Scheme::EcdsaP384Sha384,
            Alg::RS256 => Scheme::RsaPkcs1Sha256,
            Alg::PS256 => Scheme::RsaPssSha256,
            Alg::EdDSA => Scheme::Ed25519,
        }
    }

    /// True when `key` belongs to the family this algorithm needs (ES256 ↔ P-256, ES384 ↔ P-384,
    /// RS256/PS256 ↔ RSA, EdDSA ↔ Ed25519). RFC 8725 §3.1: the key decides the algorithm family.
    pub fn fits(self, key: &PublicKey) -> bool {
        matches!(
            (self, key),
            (Alg::ES256, PublicKey::P256(_))
                | (Alg::ES384, PublicKey::P384(_))
                | (Alg::RS256 | Alg::PS256, PublicKey::Rsa { .. })
                | (Alg::EdDSA, PublicKey::Ed25519(_))
        )
    }

    /// The exact signature length in bytes, where the algorithm fixes it: IEEE P1363 `r || s` for
    /// ECDSA (RFC 7518 §3.4; a DER-encoded signature is therefore rejected) and 64 for Ed25519.
    pub fn signature_len(self) -> Option<usize> {
        match self {
            Alg::ES256 | Alg::EdDSA => Some(64),
            Alg::ES384 => Some(96),
            Alg::RS256 | Alg::PS256 => None,
        }
    }
}

/// A set of JWS algorithms (e.g. the DPoP allow-list), rendered as the RFC 9449 §7.1 `algs` value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AlgSet(u8);

const ALL: [Alg; 5] = [Alg::ES256, Alg::ES384, Alg::RS256, Alg::PS256, Alg::EdDSA];

fn bit(alg: Alg) -> u8 {
    match alg {
        Alg::ES256 => 1,
        Alg::ES384 => 2,
        Alg::RS256 => 4,
        Alg::PS256 => 8,
        Alg::EdDSA => 16,
    }
}

impl AlgSet {
    /// The set of these algorithms.
    pub fn new(algs: impl IntoIterator<Item = Alg>) -> AlgSet {
        AlgSet(algs.into_iter().fold(0, |set, alg| set | bit(alg)))
    }

    /// True when `alg` is in the set.
    pub fn contains(self, alg: Alg) -> bool {
        self.0 & bit(alg) != 0
    }
}

impl fmt::Display for AlgSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = ALL
            .iter()
            .filter(|alg| self.contains(**alg))
            .map(|alg| alg.name())
            .collect();
        f.write_str(&names.join(" "))
    }
}
