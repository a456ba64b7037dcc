//! Certificate path validation for the JWS `x5c` header (RFC 7515 §4.1.6) against trust anchors
//! compiled into the gateway (the "browser model": the token brings its chain, we bring the roots).
//!
//! RFC 7515 §4.1.6: "The certificate containing the public key corresponding to the key used to
//! digitally sign the JWS MUST be the first certificate. This MAY be followed by additional
//! certificates, with each subsequent certificate being the one used to certify the previous one."
//! We treat everything after the first certificate as *candidate* intermediates in any order and
//! build a path from the leaf to an anchor ourselves, as RFC 5280 §6 leaves path construction to
//! the relying party.
//!
//! What is checked, following the basic path validation of RFC 5280 §6.1:
//! - every signature on the path, through the caller's [`SignatureVerifier`] (so the WebCrypto
//!   backend verifies chain signatures too); the anchor's self-signature is not checked, since the
//!   anchor is trusted by configuration (§6.1.1(d));
//! - §6.1.3(a)(2): the validity period of every certificate, anchor included: `notBefore <= now <=
//!   notAfter`, at one-second resolution;
//! - §6.1.3(a)(4) and §6.1.4(a): name chaining by exact DER comparison of issuer and subject, and
//!   where the child has an authorityKeyIdentifier the issuer's subjectKeyIdentifier must equal it;
//! - §6.1.4(k): basicConstraints with `cA` TRUE on every issuer (critical or not), §6.1.4(m)
//!   pathLenConstraint (self-issued intermediates do not count, §6.1.4(l));
//! - §6.1.4(n), §4.2.1.3: keyUsage, where present, must assert keyCertSign on issuers and
//!   digitalSignature on the leaf;
//! - §6.1.4(o): a critical extension we do not process rejects the certificate;
//! - §4.2.1.1, §4.2.1.2: issuers carry a subjectKeyIdentifier, certificates that are not
//!   self-issued carry an authorityKeyIdentifier with a keyIdentifier, and neither is critical;
//! - §4.1.2.1: version 3 only (stricter than "v3 when extensions are present"), §4.1.2.2: positive
//!   serial of at most 20 octets, §4.1.1.2: the TBS `signature` equals `signatureAlgorithm`,
//!   §4.2: no extension appears twice, §4.2.1.9: keyCertSign only with cA TRUE;
//! - beyond RFC 5280: the leaf must not be a CA (cA TRUE), since a CA key must not sign tokens;
//!   optional pins on the leaf subject and EKU ([`ChainPolicy`]).
//!
//! What is NOT checked (fail closed where a certificate asks for it):
//! - name constraints (§4.2.1.10): any nameConstraints extension on a certificate in the path
//!   rejects that path, critical or not;
//! - certificate policies (§6.1.3(d)-(f)): certificatePolicies is ignored unless critical; a
//!   policyConstraints, policyMappings or inhibitAnyPolicy extension anywhere in the path rejects it;
//! - revocation (CRL, OCSP): not consulted; keep leaf lifetimes short;
//! - names in the leaf (subjectAltName is parsed for well-formedness only); bind identity with
//!   [`ChainPolicy::leaf_subject`] and the JWT's own claims;
//! - name comparison is binary (no RFC 4518 string preparation), which can only reject more;
//! - the anchors' own signatures. Anchors are re-parsed on every call (a [`ChainCache`] hit
//!   avoids it), so keep the compiled-in set small.

use crate::crypto::{PublicKey, Scheme, SignatureVerifier};
use crate::error::{Error, TokenFault};
use const_oid::db::{rfc5912, rfc8410};
use der::asn1::{ObjectIdentifier, UintRef};
use der::{Decode, Encode, Header, Reader, SliceReader, Tag, Tagged};
use spki::SubjectPublicKeyInfoOwned;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use x509_cert::ext::pkix::{
    AuthorityInfoAccessSyntax, AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage,
    KeyUsage, KeyUsages, SubjectAltName, SubjectKeyIdentifier,
};
use x509_cert::spki::AlgorithmIdentifierOwned;
use x509_cert::{Certificate, Version};

/// Largest DER certificate accepted, in bytes. A P-256 or RSA-4096 certificate with the usual
/// extensions is 0.5–2 KiB; 8 KiB leaves room for long names and SAN lists while bounding what
/// an attacker can make us parse per certificate.
pub const MAX_CERT_BYTES: usize = 8 * 1024;

/// Why a chain was rejected. Kept small: clients only ever see
/// [`TokenFault::UntrustedChain`]; the variant is for logs and tests.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainError {
    /// Not a DER certificate, or a field is malformed.
    Malformed,
    /// A budget was exceeded: certificate bytes, number of certificates, path length or
    /// signature checks.
    OverBudget,
    /// An algorithm, key type or critical extension we do not support.
    Unsupported,
    /// A certificate is outside its validity period at `now`.
    Expired,
    /// An RFC 5280 constraint is violated (basicConstraints, keyUsage, pathLen, AKI/SKI ...).
    Constraint,
    /// The leaf does not match the configured subject or EKU pin.
    PinMismatch,
    /// A signature on the path does not verify.
    BadSignature,
    /// No path from the leaf to a trust anchor was found.
    NoPath,
}

impl From<ChainError> for TokenFault {
    fn from(_: ChainError) -> Self {
        TokenFault::UntrustedChain
    }
}

impl From<ChainError> for Error {
    fn from(e: ChainError) -> Self {
        Error::InvalidToken(e.into())
    }
}

impl From<der::Error> for ChainError {
    fn from(_: der::Error) -> Self {
        ChainError::Malformed
    }
}

/// What a chain must satisfy beyond RFC 5280, and the budgets that bound the work.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ChainPolicy {
    /// Longest path accepted, counting the leaf and the anchor. Default 4 (leaf, two
    /// intermediates, root): the deepest public PKI hierarchies in use; private JWT signing PKIs
    /// are usually 2–3.
    pub max_path_len: usize,
    /// Most certificates accepted in `x5c`, leaf included. Default 10: a path of
    /// [`max_path_len`](Self::max_path_len) plus room for cross-signed alternatives; together
    /// with [`MAX_CERT_BYTES`] it bounds parsing work per token.
    pub max_chain_certs: usize,
    /// Most issuer candidates tried during path building, each costing at most one signature
    /// check. Default 16: a straight path of 4 needs 3; the rest allows a few dead ends
    /// (expired or cross-signed intermediates). Exhausting it rejects the chain.
    pub max_signature_checks: usize,
    /// Pin: the leaf's subject must be exactly this RFC 4514 string, as `x509-cert` renders it
    /// (e.g. `CN=signer,O=Example`); attribute types outside the usual certificate set (CN, O,
    /// OU, C, L, ST, SERIALNUMBER, DC, UID, EMAIL and the rest of RFC 5280 §4.1.2.4) are written
    /// as `dotted.oid=#hex-der` (RFC 4514 §2.4). `None`: not checked.
    pub leaf_subject: Option<String>,
    /// Pin: dotted OID the leaf's extendedKeyUsage must list. A leaf without the extension, or
    /// one that also lists anyExtendedKeyUsage, fails. `None`: EKU is not checked at all.
    pub leaf_eku: Option<String>,
}

impl Default for ChainPolicy {
    fn default() -> Self {
        Self {
            max_path_len: 4,
            max_chain_certs: 10,
            max_signature_checks: 16,
            leaf_subject: None,
            leaf_eku: None,
        }
    }
}

/// The outcome of a successful validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatedLeaf {
    /// The leaf's public key: the key that must verify the JWS.
    pub key: PublicKey,
    /// Earliest `notAfter` over the path, anchor included, in Unix seconds.
    pub not_after: u64,
    /// Latest `notBefore` over the path, anchor included, in Unix seconds.
    pub not_before: u64,
}

mod cache;
mod cert;
mod names;
mod path;
mod signed;
#[cfg(test)]
mod tests;

pub use cache::{validate_cached, ChainCache, ANCHORS_DIGEST_LABEL, DEFAULT_CACHE_CAPACITY};
pub use path::validate;
pub use signed::{ecdsa_der_to_p1363, public_key_from_spki, signature_scheme};
