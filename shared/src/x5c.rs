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

/// Extracts a [`PublicKey`] from a DER `SubjectPublicKeyInfo` (RFC 5280 §4.1.2.7).
///
/// Supported: id-ecPublicKey with namedCurve P-256 or P-384 and an uncompressed point
/// (RFC 5480 §2), rsaEncryption with NULL parameters (RFC 3279 §2.3.1), Ed25519 with absent
/// parameters (RFC 8410 §3). Anything else, including explicit curve parameters and
/// id-RSASSA-PSS keys, is [`ChainError::Unsupported`]. RSA key size is enforced by the verifier.
pub fn public_key_from_spki(spki_der: &[u8]) -> Result<PublicKey, ChainError> {
    key_from_spki(&SubjectPublicKeyInfoOwned::from_der(spki_der)?)
}

fn key_from_spki(spki: &SubjectPublicKeyInfoOwned) -> Result<PublicKey, ChainError> {
    let bits = spki
        .subject_public_key
        .as_bytes()
        .ok_or(ChainError::Malformed)?;
    let params = spki.algorithm.parameters.as_ref();
    match spki.algorithm.oid {
        rfc5912::ID_EC_PUBLIC_KEY => {
            let curve = params
                .ok_or(ChainError::Malformed)?
                .decode_as::<ObjectIdentifier>()
                .map_err(|_| ChainError::Unsupported)?;
            let (len, key): (usize, fn(Vec<u8>) -> PublicKey) = match curve {
                rfc5912::SECP_256_R_1 => (65, PublicKey::P256),
                rfc5912::SECP_384_R_1 => (97, PublicKey::P384),
                _ => return Err(ChainError::Unsupported),
            };
            if bits.len() != len || bits.first() != Some(&0x04) {
                return Err(ChainError::Unsupported);
            }
            Ok(key(bits.to_vec()))
        }
        rfc5912::RSA_ENCRYPTION => {
            if !is_null(params) {
                return Err(ChainError::Malformed);
            }
            // RFC 8017 §A.1.1: RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }
            let (n, e) = two_uints(bits)?;
            Ok(PublicKey::Rsa {
                n: n.as_bytes().to_vec(),
                e: e.as_bytes().to_vec(),
            })
        }
        rfc8410::ID_ED_25519 => {
            if params.is_some() {
                return Err(ChainError::Malformed);
            }
            let key: [u8; 32] = bits.try_into().map_err(|_| ChainError::Malformed)?;
            Ok(PublicKey::Ed25519(key))
        }
        _ => Err(ChainError::Unsupported),
    }
}

/// Decodes `SEQUENCE { INTEGER, INTEGER }` of non-negative integers, strict DER, nothing after.
fn two_uints(der: &[u8]) -> Result<(UintRef<'_>, UintRef<'_>), ChainError> {
    let mut reader = SliceReader::new(der)?;
    let pair = reader.sequence(|r| Ok((UintRef::decode(r)?, UintRef::decode(r)?)))?;
    Ok(reader.finish(pair)?)
}

/// Converts an X.509 ECDSA signature (`Ecdsa-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER }`,
/// RFC 3279 §2.2.3) into the fixed-width IEEE P1363 form `r || s`, each `width` bytes.
///
/// Strict DER: minimal length and integer encodings, no negative integers, no trailing bytes,
/// and each integer must fit `width`. Whether `r` and `s` lie in `[1, n-1]` is NOT checked here;
/// the verifier rejects them.
pub fn ecdsa_der_to_p1363(der: &[u8], width: usize) -> Result<Vec<u8>, ChainError> {
    let (r, s) = two_uints(der)?;
    let mut out = vec![0u8; width * 2];
    for (int, start) in [(r, 0), (s, width)] {
        let bytes = int.as_bytes();
        let pad = width
            .checked_sub(bytes.len())
            .ok_or(ChainError::Malformed)?;
        out.get_mut(start + pad..start + width)
            .ok_or(ChainError::Malformed)?
            .copy_from_slice(bytes);
    }
    Ok(out)
}

fn is_null(params: Option<&der::Any>) -> bool {
    params.is_some_and(|p| p.tag() == Tag::Null && p.value().is_empty())
}

fn absent_or_null(params: Option<&der::Any>) -> bool {
    params.is_none() || is_null(params)
}

/// The ECDSA scheme for a hash and the issuer key's curve (RFC 5758 §3.2 leaves the curve to the key).
fn ecdsa_scheme(hash_384: bool, issuer_key: &PublicKey) -> Result<Scheme, ChainError> {
    match (issuer_key, hash_384) {
        (PublicKey::P256(_), false) => Ok(Scheme::EcdsaP256Sha256),
        (PublicKey::P256(_), true) => Ok(Scheme::EcdsaP256Sha384),
        (PublicKey::P384(_), false) => Ok(Scheme::EcdsaP384Sha256),
        (PublicKey::P384(_), true) => Ok(Scheme::EcdsaP384Sha384),
        _ => Err(ChainError::Unsupported),
    }
}

/// Maps a certificate's `signatureAlgorithm` to a [`Scheme`], checking parameters:
/// absent for ECDSA (RFC 5758 §3.2) and Ed25519 (RFC 8410 §3); NULL or absent for
/// sha{256,384,512}WithRSAEncryption (RFC 4055 §5: "the parameters MUST be NULL.
/// Implementations MUST accept the parameters being absent as well as present"); for
/// RSASSA-PSS (RFC 4055 §3.1) only SHA-256/384/512 with MGF1 over the same hash, a salt as long
/// as the hash and the default trailer field. SHA-1, SHA-224 and everything else are rejected.
pub fn signature_scheme(
    alg: &AlgorithmIdentifierOwned,
    issuer_key: &PublicKey,
) -> Result<Scheme, ChainError> {
    let params = alg.parameters.as_ref();
    let scheme = match alg.oid {
        rfc5912::ECDSA_WITH_SHA_256 | rfc5912::ECDSA_WITH_SHA_384 => {
            if params.is_some() {
                return Err(ChainError::Malformed);
            }
            return ecdsa_scheme(alg.oid == rfc5912::ECDSA_WITH_SHA_384, issuer_key);
        }
        rfc8410::ID_ED_25519 => {
            if params.is_some() {
                return Err(ChainError::Malformed);
            }
            Scheme::Ed25519
        }
        rfc5912::SHA_256_WITH_RSA_ENCRYPTION
        | rfc5912::SHA_384_WITH_RSA_ENCRYPTION
        | rfc5912::SHA_512_WITH_RSA_ENCRYPTION => {
            if !absent_or_null(params) {
                return Err(ChainError::Malformed);
            }
            match alg.oid {
                rfc5912::SHA_256_WITH_RSA_ENCRYPTION => Scheme::RsaPkcs1Sha256,
                rfc5912::SHA_384_WITH_RSA_ENCRYPTION => Scheme::RsaPkcs1Sha384,
                _ => Scheme::RsaPkcs1Sha512,
            }
        }
        rfc5912::ID_RSASSA_PSS => pss_scheme(params.ok_or(ChainError::Malformed)?)?,
        _ => return Err(ChainError::Unsupported),
    };
    // The key family must fit the scheme; the verifier would refuse too, this gives a clearer error.
    match (scheme, issuer_key) {
        (Scheme::Ed25519, PublicKey::Ed25519(_)) => Ok(scheme),
        (Scheme::Ed25519, _) => Err(ChainError::Unsupported),
        (_, PublicKey::Rsa { .. }) => Ok(scheme),
        _ => Err(ChainError::Unsupported),
    }
}

fn pss_scheme(params: &der::Any) -> Result<Scheme, ChainError> {
    use pkcs1::{RsaPssParams, TrailerField};
    let der = params.to_der()?;
    let pss = RsaPssParams::from_der(&der)?;
    let (scheme, salt) = match pss.hash.oid {
        rfc5912::ID_SHA_256 => (Scheme::RsaPssSha256, 32),
        rfc5912::ID_SHA_384 => (Scheme::RsaPssSha384, 48),
        rfc5912::ID_SHA_512 => (Scheme::RsaPssSha512, 64),
        _ => return Err(ChainError::Unsupported),
    };
    let hash_params_ok =
        |p: Option<der::AnyRef<'_>>| p.is_none_or(|p| p.tag() == Tag::Null && p.value().is_empty());
    let mgf_hash = pss.mask_gen.parameters.ok_or(ChainError::Unsupported)?;
    if !hash_params_ok(pss.hash.parameters)
        || pss.mask_gen.oid != rfc5912::ID_MGF_1
        || mgf_hash.oid != pss.hash.oid
        || !hash_params_ok(mgf_hash.parameters)
        || pss.salt_len != salt
        || pss.trailer_field != TrailerField::BC
    {
        return Err(ChainError::Unsupported);
    }
    Ok(scheme)
}

/// A parsed certificate with the facts path validation needs.
struct Cert<'a> {
    der: &'a [u8],
    /// The DER `tbsCertificate`, exactly as signed.
    tbs: &'a [u8],
    cert: Certificate,
    subject: Vec<u8>,
    issuer: Vec<u8>,
    subject_empty: bool,
    not_before: u64,
    not_after: u64,
    key: Result<PublicKey, ChainError>,
    basic: Option<BasicConstraints>,
    key_usage: Option<KeyUsage>,
    eku: Option<Vec<ObjectIdentifier>>,
    ski: Option<Vec<u8>>,
    aki: Option<Vec<u8>>,
    /// Carries an extension whose semantics we do not implement and must therefore not be
    /// trusted as an issuer or leaf (nameConstraints, policy constraints/mappings/inhibit).
    unsupported_constraint: bool,
}

impl Cert<'_> {
    fn self_issued(&self) -> bool {
        self.subject == self.issuer
    }

    fn valid_at(&self, now: u64) -> bool {
        self.not_before <= now && now <= self.not_after
    }
}

fn parse(der: &[u8]) -> Result<Cert<'_>, ChainError> {
    if der.len() > MAX_CERT_BYTES {
        return Err(ChainError::OverBudget);
    }
    let cert = Certificate::from_der(der)?;
    let tbs = {
        let mut reader = SliceReader::new(der)?;
        Header::decode(&mut reader)?.tag.assert_eq(Tag::Sequence)?;
        reader.tlv_bytes()?
    };
    let t = &cert.tbs_certificate;
    // §4.1.2.1: extensions require v3; we accept v3 only (JWT signing PKIs have no v1 certs).
    if t.version != Version::V3 {
        return Err(ChainError::Unsupported);
    }
    // §4.1.2.2: "The serial number MUST be a positive integer ... no longer than 20 octets."
    let serial = t.serial_number.as_bytes();
    if serial.len() > 20
        || serial.iter().all(|b| *b == 0)
        || serial.first().is_some_and(|b| *b >= 0x80)
    {
        return Err(ChainError::Malformed);
    }
    // §4.1.1.2: signatureAlgorithm "MUST contain the same algorithm identifier as the signature
    // field in the sequence tbsCertificate".
    if t.signature != cert.signature_algorithm {
        return Err(ChainError::Malformed);
    }
    // §4.1.2.4: "The issuer field MUST contain a non-empty distinguished name".
    if t.issuer.0.is_empty() {
        return Err(ChainError::Malformed);
    }
    let mut parsed = Cert {
        der,
        tbs,
        subject: t.subject.to_der()?,
        issuer: t.issuer.to_der()?,
        subject_empty: t.subject.0.is_empty(),
        not_before: t.validity.not_before.to_unix_duration().as_secs(),
        not_after: t.validity.not_after.to_unix_duration().as_secs(),
        key: key_from_spki(&t.subject_public_key_info),
        basic: None,
        key_usage: None,
        eku: None,
        ski: None,
        aki: None,
        unsupported_constraint: false,
        cert: cert.clone(),
    };
    let mut seen: Vec<ObjectIdentifier> = Vec::new();
    for ext in cert.tbs_certificate.extensions.iter().flatten() {
        // §4.2: "A certificate MUST NOT include more than one instance of a particular extension."
        if seen.contains(&ext.extn_id) {
            return Err(ChainError::Malformed);
        }
        seen.push(ext.extn_id);
        let value = ext.extn_value.as_bytes();
        match ext.extn_id {
            rfc5912::ID_CE_BASIC_CONSTRAINTS => {
                parsed.basic = Some(BasicConstraints::from_der(value)?);
            }
            rfc5912::ID_CE_KEY_USAGE => parsed.key_usage = Some(KeyUsage::from_der(value)?),
            rfc5912::ID_CE_EXT_KEY_USAGE => {
                let eku = ExtendedKeyUsage::from_der(value)?.0;
                // §4.2.1.12: ExtKeyUsageSyntax ::= SEQUENCE SIZE (1..MAX) OF KeyPurposeId
                if eku.is_empty() {
                    return Err(ChainError::Malformed);
                }
                parsed.eku = Some(eku);
            }
            rfc5912::ID_CE_SUBJECT_ALT_NAME => {
                let san = SubjectAltName::from_der(value)?;
                if san.0.is_empty() {
                    return Err(ChainError::Malformed);
                }
            }
            // §4.2.1.2 / §4.2.1.1: "Conforming CAs MUST mark this extension as non-critical."
            rfc5912::ID_CE_SUBJECT_KEY_IDENTIFIER => {
                if ext.critical {
                    return Err(ChainError::Constraint);
                }
                parsed.ski = Some(SubjectKeyIdentifier::from_der(value)?.0.as_bytes().to_vec());
            }
            rfc5912::ID_CE_AUTHORITY_KEY_IDENTIFIER => {
                let aki = AuthorityKeyIdentifier::from_der(value)?;
                // We chain by keyIdentifier only; issuer+serial identification is not supported.
                if ext.critical
                    || aki.authority_cert_issuer.is_some()
                    || aki.authority_cert_serial_number.is_some()
                {
                    return Err(ChainError::Constraint);
                }
                let id = aki.key_identifier.ok_or(ChainError::Constraint)?;
                parsed.aki = Some(id.as_bytes().to_vec());
            }
            rfc5912::ID_PE_AUTHORITY_INFO_ACCESS if !ext.critical => {
                // Not used (no fetching), but must be well-formed.
                AuthorityInfoAccessSyntax::from_der(value)?;
            }
            rfc5912::ID_CE_CERTIFICATE_POLICIES if !ext.critical => {}
            rfc5912::ID_CE_NAME_CONSTRAINTS
            | rfc5912::ID_CE_POLICY_CONSTRAINTS
            | rfc5912::ID_CE_POLICY_MAPPINGS
            | rfc5912::ID_CE_INHIBIT_ANY_POLICY => parsed.unsupported_constraint = true,
            // §6.1.4(o): an unrecognized critical extension rejects the certificate.
            _ if ext.critical => return Err(ChainError::Unsupported),
            _ => {}
        }
    }
    // §4.2.1.9: "If the cA boolean is not asserted, then the keyCertSign bit in the key usage
    // extension MUST NOT be asserted."
    let ca = parsed.basic.as_ref().is_some_and(|b| b.ca);
    if !ca
        && parsed
            .key_usage
            .as_ref()
            .is_some_and(|ku| ku.0.contains(KeyUsages::KeyCertSign))
    {
        return Err(ChainError::Constraint);
    }
    Ok(parsed)
}

/// RFC 5280 checks on a certificate acting as an issuer (anchor or intermediate), given the
/// number of non-self-issued intermediates below it on the path.
fn check_issuer(cert: &Cert<'_>, intermediates_below: usize) -> Result<(), ChainError> {
    if cert.unsupported_constraint {
        return Err(ChainError::Unsupported);
    }
    // §6.1.4(k): basicConstraints present with cA TRUE.
    let basic = cert.basic.as_ref().ok_or(ChainError::Constraint)?;
    if !basic.ca {
        return Err(ChainError::Constraint);
    }
    // §6.1.4(m): pathLenConstraint bounds the non-self-issued intermediates that follow.
    if let Some(max) = basic.path_len_constraint {
        if intermediates_below > usize::from(max) {
            return Err(ChainError::Constraint);
        }
    }
    // §6.1.4(n): keyUsage, if present, must assert keyCertSign.
    if let Some(ku) = &cert.key_usage {
        if !ku.0.contains(KeyUsages::KeyCertSign) {
            return Err(ChainError::Constraint);
        }
    }
    // §4.2.1.2: "this extension MUST appear in all conforming CA certificates".
    // §4.1.2.6: a CA's subject "MUST be populated".
    if cert.ski.is_none() || cert.subject_empty {
        return Err(ChainError::Constraint);
    }
    Ok(())
}

/// Checks that apply to the leaf only, plus the policy pins. Returns the leaf key.
fn check_leaf(leaf: &Cert<'_>, policy: &ChainPolicy) -> Result<PublicKey, ChainError> {
    if leaf.unsupported_constraint {
        return Err(ChainError::Unsupported);
    }
    // A JWT signing key is an end entity: a CA certificate must not sign tokens (separation of
    // duties; CA/B and webpki agree, RFC 5280 itself does not forbid it).
    if leaf.basic.as_ref().is_some_and(|b| b.ca) {
        return Err(ChainError::Constraint);
    }
    // §4.2.1.3: digitalSignature is the bit for verifying signatures on anything but
    // certificates and CRLs.
    if let Some(ku) = &leaf.key_usage {
        if !ku.0.contains(KeyUsages::DigitalSignature) {
            return Err(ChainError::Constraint);
        }
    }
    if let Some(pin) = &policy.leaf_subject {
        if subject_string(&leaf.cert.tbs_certificate.subject).as_deref() != Some(pin.as_str()) {
            return Err(ChainError::PinMismatch);
        }
    }
    if let Some(pin) = &policy.leaf_eku {
        let oid = ObjectIdentifier::new(pin).map_err(|_| ChainError::PinMismatch)?;
        // A leaf that also lists anyExtendedKeyUsage is not purpose-bound; with a pin
        // configured the operator asked for one that is.
        let any = const_oid::db::rfc5280::ANY_EXTENDED_KEY_USAGE;
        if !leaf
            .eku
            .as_ref()
            .is_some_and(|eku| eku.contains(&oid) && !eku.contains(&any))
        {
            return Err(ChainError::PinMismatch);
        }
    }
    leaf.key.clone()
}

/// `candidate` may have issued `child` (§6.1.4(a) name chaining, AKI/SKI where both present).
fn may_issue(candidate: &Cert<'_>, child: &Cert<'_>) -> bool {
    if candidate.subject != child.issuer {
        return false;
    }
    match (&child.aki, &candidate.ski) {
        (Some(aki), Some(ski)) => aki == ski,
        _ => true,
    }
}

/// §4.2.1.1: "The keyIdentifier field of the authorityKeyIdentifier extension MUST be included
/// in all certificates generated by conforming CAs", except self-signed ones. Anchors are
/// trusted by configuration, so an anchor need not carry one (we never look for its issuer); but
/// a self-issued anchor whose AKI names a key other than its own is not the self-signed root it
/// claims to be.
fn check_aki(cert: &Cert<'_>, is_anchor: bool) -> Result<(), ChainError> {
    match (&cert.aki, &cert.ski) {
        (None, _) if !is_anchor && !cert.self_issued() => Err(ChainError::Constraint),
        (Some(aki), Some(ski)) if is_anchor && cert.self_issued() && aki != ski => {
            Err(ChainError::Constraint)
        }
        _ => Ok(()),
    }
}

async fn verify_link<V: SignatureVerifier>(
    child: &Cert<'_>,
    issuer: &Cert<'_>,
    verifier: &V,
) -> Result<(), ChainError> {
    let key = issuer.key.as_ref().map_err(|e| *e)?;
    let scheme = signature_scheme(&child.cert.signature_algorithm, key)?;
    let raw = child
        .cert
        .signature
        .as_bytes()
        .ok_or(ChainError::Malformed)?;
    let signature = match key {
        PublicKey::P256(_) => ecdsa_der_to_p1363(raw, 32)?,
        PublicKey::P384(_) => ecdsa_der_to_p1363(raw, 48)?,
        _ => raw.to_vec(),
    };
    verifier
        .verify(scheme, key, child.tbs, &signature)
        .await
        .map_err(|_| ChainError::BadSignature)
}

/// Validates an `x5c` chain (DER, leaf first, RFC 7515 §4.1.6) against `anchors` at `now`
/// (Unix seconds), building a path through the supplied certificates (RFC 5280 §6.1) within the
/// budgets of `policy`. See the module documentation for what is and is not checked.
pub async fn validate<V: SignatureVerifier>(
    chain: &[Vec<u8>],
    anchors: &[&[u8]],
    now: u64,
    policy: &ChainPolicy,
    verifier: &V,
) -> Result<ValidatedLeaf, ChainError> {
    if chain.len() > policy.max_chain_certs {
        return Err(ChainError::OverBudget);
    }
    let (leaf_der, rest) = chain.split_first().ok_or(ChainError::Malformed)?;
    let leaf = parse(leaf_der)?;
    let key = check_leaf(&leaf, policy)?;
    check_aki(&leaf, false)?;
    if !leaf.valid_at(now) {
        return Err(ChainError::Expired);
    }

    // The pool of issuer candidates: supplied intermediates (minus copies of anchors and
    // duplicates), then anchors. Certificates that fail to parse or fail intrinsic checks are
    // dropped here: an unusable unrelated certificate must not poison a good path.
    let mut pool: Vec<(Cert<'_>, bool)> = Vec::new();
    for der in rest {
        let der = der.as_slice();
        if der == leaf_der.as_slice()
            || anchors.contains(&der)
            || pool.iter().any(|(c, _)| c.der == der)
        {
            continue;
        }
        if let Ok(cert) = parse(der) {
            if check_aki(&cert, false).is_ok() {
                pool.push((cert, false));
            }
        }
    }
    for der in anchors {
        if let Ok(cert) = parse(der) {
            if check_aki(&cert, true).is_ok() {
                pool.push((cert, true));
            }
        }
    }

    let mut budget = policy.max_signature_checks;
    let mut last_error = ChainError::NoPath;
    // Depth-first search with an explicit stack: `path` holds pool indices above the leaf,
    // `cursors[d]` the next candidate to try for the certificate at depth `d`.
    let mut path: Vec<usize> = Vec::new();
    let mut cursors: Vec<usize> = vec![0];
    while let Some(cursor) = cursors.last_mut() {
        let child = match path.last() {
            Some(&i) => pool.get(i).map(|(c, _)| c).ok_or(ChainError::NoPath)?,
            None => &leaf,
        };
        let start = *cursor;
        let next = pool
            .iter()
            .enumerate()
            .skip(start)
            .find(|(i, (c, _))| !path.contains(i) && may_issue(c, child))
            .map(|(i, _)| i);
        let Some(index) = next else {
            path.pop();
            cursors.pop();
            continue;
        };
        *cursor = index + 1;
        let Some((candidate, is_anchor)) = pool.get(index) else {
            break;
        };
        // Non-self-issued intermediates already on the path, below the candidate.
        let below = path
            .iter()
            .filter_map(|&i| pool.get(i))
            .filter(|(c, _)| !c.self_issued())
            .count();
        // Path length counts the leaf, those intermediates, this candidate and, if it is not the
        // anchor, the anchor still needed above it. Self-issued intermediates do not count
        // (as for pathLenConstraint, §4.2.1.9); `max_chain_certs` bounds them.
        let counted = below + 2 + usize::from(!is_anchor && !candidate.self_issued());
        if counted > policy.max_path_len {
            last_error = ChainError::OverBudget;
            continue;
        }
        if let Err(e) = check_issuer(candidate, below) {
            last_error = e;
            continue;
        }
        if !candidate.valid_at(now) {
            last_error = ChainError::Expired;
            continue;
        }
        budget = budget.checked_sub(1).ok_or(ChainError::OverBudget)?;
        if let Err(e) = verify_link(child, candidate, verifier).await {
            last_error = e;
            continue;
        }
        if *is_anchor {
            let certs = path
                .iter()
                .filter_map(|&i| pool.get(i))
                .map(|(c, _)| c)
                .chain([&leaf, candidate]);
            let (not_before, not_after) = certs.fold((0, u64::MAX), |(nb, na), c| {
                (nb.max(c.not_before), na.min(c.not_after))
            });
            return Ok(ValidatedLeaf {
                key,
                not_after,
                not_before,
            });
        }
        path.push(index);
        cursors.push(0);
    }
    Err(last_error)
}

/// Default [`ChainCache`] capacity. An isolate serves a handful of signing PKIs, each with a
/// few live leaf certificates; 256 entries of ~150 bytes (key, point, times) is about 40 KiB,
/// small against the Workers 128 MB isolate limit yet far above the expected working set.
pub const DEFAULT_CACHE_CAPACITY: usize = 256;

/// A per-isolate cache of validated chains, so a warm request costs no chain signature checks.
///
/// Keyed by SHA-256 over the policy, the anchors and the chain, each certificate length-prefixed
/// so that concatenation is unambiguous; an entry therefore only answers for the exact same
/// trust inputs. Entries are served only while `not_before <= now <= not_after` (over the whole
/// path). Eviction is oldest-inserted first. A `std::sync::Mutex` gives interior mutability; the
/// gateway is single-threaded per isolate, so it is never contended, and it is never held across
/// an `.await`. A poisoned lock behaves as an empty cache.
#[derive(Debug)]
pub struct ChainCache {
    capacity: usize,
    inner: Mutex<CacheInner>,
}

#[derive(Debug, Default)]
struct CacheInner {
    entries: HashMap<[u8; 32], ValidatedLeaf>,
    order: VecDeque<[u8; 32]>,
}

impl Default for ChainCache {
    fn default() -> Self {
        Self::new(DEFAULT_CACHE_CAPACITY)
    }
}

impl ChainCache {
    /// An empty cache holding at most `capacity` entries.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            inner: Mutex::new(CacheInner::default()),
        }
    }

    /// The cache key for validating `chain` against `anchors` under `policy`.
    pub fn key(chain: &[Vec<u8>], anchors: &[&[u8]], policy: &ChainPolicy) -> [u8; 32] {
        use sha2::Digest;
        let mut hash = sha2::Sha256::new();
        let mut item = |bytes: &[u8]| {
            hash.update((bytes.len() as u64).to_be_bytes());
            hash.update(bytes);
        };
        item(b"edgeward x5c chain cache v1");
        for n in [
            policy.max_path_len,
            policy.max_chain_certs,
            policy.max_signature_checks,
        ] {
            item(&(n as u64).to_be_bytes());
        }
        for pin in [&policy.leaf_subject, &policy.leaf_eku] {
            match pin {
                Some(s) => item(format!("+{s}").as_bytes()),
                None => item(b"-"),
            }
        }
        item(&(anchors.len() as u64).to_be_bytes());
        for der in anchors {
            item(der);
        }
        item(&(chain.len() as u64).to_be_bytes());
        for der in chain {
            item(der);
        }
        hash.finalize().into()
    }

    /// The cached result for `key`, if any and still valid at `now`.
    pub fn get(&self, key: &[u8; 32], now: u64) -> Option<ValidatedLeaf> {
        let inner = self.inner.lock().ok()?;
        inner
            .entries
            .get(key)
            .filter(|leaf| leaf.not_before <= now && now <= leaf.not_after)
            .cloned()
    }

    /// Stores `leaf` under `key`, evicting the oldest entry when full.
    pub fn insert(&self, key: [u8; 32], leaf: ValidatedLeaf) {
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        if self.capacity == 0 {
            return;
        }
        if inner.entries.insert(key, leaf).is_none() {
            inner.order.push_back(key);
        }
        while inner.order.len() > self.capacity {
            if let Some(old) = inner.order.pop_front() {
                inner.entries.remove(&old);
            }
        }
    }

    /// Number of entries held.
    pub fn len(&self) -> usize {
        self.inner.lock().map(|i| i.entries.len()).unwrap_or(0)
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// [`validate`] with a [`ChainCache`] in front: a hit costs one SHA-256 and no signature checks.
/// Failures are not cached (a bad chain costs the attacker as much as it costs us, bounded by
/// the budgets).
pub async fn validate_cached<V: SignatureVerifier>(
    cache: &ChainCache,
    chain: &[Vec<u8>],
    anchors: &[&[u8]],
    now: u64,
    policy: &ChainPolicy,
    verifier: &V,
) -> Result<ValidatedLeaf, ChainError> {
    let key = ChainCache::key(chain, anchors, policy);
    if let Some(hit) = cache.get(&key, now) {
        return Ok(hit);
    }
    let leaf = validate(chain, anchors, now, policy, verifier).await?;
    cache.insert(key, leaf.clone());
    Ok(leaf)
}

/// Attribute types the subject pin writes by name, with the names `x509-cert`'s RFC 4514
/// renderer gives them (const-oid's database, shortest name, upper-cased; a test holds the two
/// together): RFC 5280 §4.1.2.4's standard attribute types, RFC 4519's `DC`, `UID`, `STREET`,
/// `POSTALCODE` and `BUSINESSCATEGORY`, and PKCS #9 `emailAddress` (§4.1.2.6). Rendering the
/// subject with this table instead of `Display` keeps const-oid's whole name database (≈ 20 KiB
/// gzip) out of the Wasm functions.
const SUBJECT_ATTRIBUTE_NAMES: &[(ObjectIdentifier, &str)] = &[
    (ObjectIdentifier::new_unwrap("2.5.4.3"), "CN"),
    (ObjectIdentifier::new_unwrap("2.5.4.4"), "SN"),
    (ObjectIdentifier::new_unwrap("2.5.4.5"), "SERIALNUMBER"),
    (ObjectIdentifier::new_unwrap("2.5.4.6"), "C"),
    (ObjectIdentifier::new_unwrap("2.5.4.7"), "L"),
    (ObjectIdentifier::new_unwrap("2.5.4.8"), "ST"),
    (ObjectIdentifier::new_unwrap("2.5.4.9"), "STREET"),
    (ObjectIdentifier::new_unwrap("2.5.4.10"), "O"),
    (ObjectIdentifier::new_unwrap("2.5.4.11"), "OU"),
    (ObjectIdentifier::new_unwrap("2.5.4.12"), "TITLE"),
    (ObjectIdentifier::new_unwrap("2.5.4.15"), "BUSINESSCATEGORY"),
    (ObjectIdentifier::new_unwrap("2.5.4.17"), "POSTALCODE"),
    (ObjectIdentifier::new_unwrap("2.5.4.42"), "GIVENNAME"),
    (ObjectIdentifier::new_unwrap("2.5.4.43"), "INITIALS"),
    (
        ObjectIdentifier::new_unwrap("2.5.4.44"),
        "GENERATIONQUALIFIER",
    ),
    (ObjectIdentifier::new_unwrap("2.5.4.46"), "DNQUALIFIER"),
    (ObjectIdentifier::new_unwrap("2.5.4.65"), "PSEUDONYM"),
    (
        ObjectIdentifier::new_unwrap("0.9.2342.19200300.100.1.1"),
        "UID",
    ),
    (
        ObjectIdentifier::new_unwrap("0.9.2342.19200300.100.1.25"),
        "DC",
    ),
    (
        ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.1"),
        "EMAIL",
    ),
];

/// The subject as [`ChainPolicy::leaf_subject`] compares it: RFC 4514 §2, exactly as
/// `x509-cert` 0.2's `Display` writes it for the attribute types of
/// [`SUBJECT_ATTRIBUTE_NAMES`] (RDNs last to first, `,` between RDNs and `+` inside one, string
/// values escaped as x509-cert does). Any other attribute type, and values that are not
/// PrintableString, UTF8String, IA5String or TeletexString, are written in the §2.4 form
/// `1.2.3=#<hex of the DER value>`. `None` if a value cannot be re-encoded (the pin then fails).
fn subject_string(name: &x509_cert::name::Name) -> Option<String> {
    use der::asn1::{Ia5StringRef, PrintableStringRef, TeletexStringRef, Utf8StringRef};
    let mut out = String::new();
    for (i, rdn) in name.0.iter().rev().enumerate() {
        if i > 0 {
            out.push(',');
        }
        for (j, atv) in rdn.0.iter().enumerate() {
            if j > 0 {
                out.push('+');
            }
            let value = &atv.value;
            let text = match value.tag() {
                Tag::PrintableString => {
                    PrintableStringRef::try_from(value).ok().map(|s| s.as_str())
                }
                Tag::Utf8String => Utf8StringRef::try_from(value).ok().map(|s| s.as_str()),
                Tag::Ia5String => Ia5StringRef::try_from(value).ok().map(|s| s.as_str()),
                Tag::TeletexString => TeletexStringRef::try_from(value).ok().map(|s| s.as_str()),
                _ => None,
            };
            let key = SUBJECT_ATTRIBUTE_NAMES
                .iter()
                .find(|(oid, _)| *oid == atv.oid)
                .map(|(_, key)| *key);
            match (key, text) {
                (Some(key), Some(text)) => {
                    out.push_str(key);
                    out.push('=');
                    let mut chars = text.char_indices().peekable();
                    while let Some((at, c)) = chars.next() {
                        match c {
                            '#' if at == 0 => out.push_str("\\#"),
                            ' ' if at == 0 || chars.peek().is_none() => out.push_str("\\ "),
                            '"' | '+' | ',' | ';' | '<' | '>' | '\\' => {
                                out.push('\\');
                                out.push(c);
                            }
                            '\x00'..='\x1f' | '\x7f' => {
                                out.push('\\');
                                out.push_str(&base16ct::lower::encode_string(&[c as u8]));
                            }
                            _ => out.push(c),
                        }
                    }
                }
                _ => {
                    out.push_str(&atv.oid.to_string());
                    out.push_str("=#");
                    out.push_str(&base16ct::lower::encode_string(&value.to_der().ok()?));
                }
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{verify_sync, BadSignature, RustCrypto};
    use std::cell::Cell;
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    fn block_on<F: Future>(future: F) -> F::Output {
        let mut future = pin!(future);
        let mut cx = Context::from_waker(Waker::noop());
        loop {
            if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
                return out;
            }
        }
    }

    macro_rules! fixture {
        ($name:literal) => {
            der::pem::decode_vec(
                include_str!(concat!("../tests/data/x5c/", $name, ".pem")).as_bytes(),
            )
            .unwrap()
            .1
        };
    }

    /// Counts signature checks, delegating to RustCrypto.
    #[derive(Default)]
    struct Counting(Cell<usize>);

    impl SignatureVerifier for Counting {
        async fn verify(
            &self,
            scheme: Scheme,
            key: &PublicKey,
            message: &[u8],
            signature: &[u8],
        ) -> Result<(), BadSignature> {
            self.0.set(self.0.get() + 1);
            verify_sync(scheme, key, message, signature)
        }
    }

    /// A time inside every fixture's validity: an hour after the leaf was issued.
    fn now() -> u64 {
        parse(&fixture!("leaf")).unwrap().not_before + 3600
    }

    fn run(
        chain: &[Vec<u8>],
        anchor: &[u8],
        now: u64,
        policy: &ChainPolicy,
    ) -> Result<ValidatedLeaf, ChainError> {
        block_on(validate(chain, &[anchor], now, policy, &RustCrypto))
    }

    fn good_chain() -> Vec<Vec<u8>> {
        vec![fixture!("leaf"), fixture!("int")]
    }

    #[test]
    fn good_chain_validates_and_returns_leaf_key() {
        let root = fixture!("root");
        let leaf = run(&good_chain(), &root, now(), &ChainPolicy::default()).unwrap();
        let leaf_der = fixture!("leaf");
        let parsed = parse(&leaf_der).unwrap();
        assert_eq!(leaf.key, parsed.key.unwrap());
        assert!(leaf.not_after <= parsed.not_after);
        // Order of intermediates does not matter, and an extra copy of the anchor is ignored.
        let chain = vec![fixture!("leaf"), root.clone(), fixture!("int")];
        assert!(run(&chain, &root, now(), &ChainPolicy::default()).is_ok());
    }

    #[test]
    fn expired_and_not_yet_valid() {
        let root = fixture!("root");
        let leaf_der = fixture!("leaf");
        let leaf = parse(&leaf_der).unwrap();
        let policy = ChainPolicy::default();
        assert_eq!(
            run(&good_chain(), &root, leaf.not_after + 1, &policy),
            Err(ChainError::Expired)
        );
        assert_eq!(
            run(&good_chain(), &root, leaf.not_before - 1, &policy),
            Err(ChainError::Expired)
        );
        assert!(run(&good_chain(), &root, leaf.not_after, &policy).is_ok());
    }

    #[test]
    fn wrong_anchor_same_name() {
        let other = fixture!("other-root");
        assert!(run(&good_chain(), &other, now(), &ChainPolicy::default()).is_err());
        // No anchors at all: fail closed.
        let none: &[&[u8]] = &[];
        let result = block_on(validate(
            &good_chain(),
            none,
            now(),
            &ChainPolicy::default(),
            &RustCrypto,
        ));
        assert_eq!(result, Err(ChainError::NoPath));
    }

    #[test]
    fn issuer_without_ca_bit() {
        let chain = vec![fixture!("leaf-under-not-ca"), fixture!("int-not-ca")];
        assert_eq!(
            run(&chain, &fixture!("root"), now(), &ChainPolicy::default()),
            Err(ChainError::Constraint)
        );
    }

    #[test]
    fn path_len_exceeded() {
        let chain = vec![
            fixture!("leaf-pathlen"),
            fixture!("int-below-pathlen0"),
            fixture!("int-pathlen0"),
        ];
        assert_eq!(
            run(&chain, &fixture!("root"), now(), &ChainPolicy::default()),
            Err(ChainError::Constraint)
        );
    }

    #[test]
    fn leaf_key_usage_without_digital_signature() {
        let chain = vec![fixture!("leaf-ku-agreement"), fixture!("int")];
        assert_eq!(
            run(&chain, &fixture!("root"), now(), &ChainPolicy::default()),
            Err(ChainError::Constraint)
        );
    }

    #[test]
    fn unknown_critical_extension() {
        let chain = vec![fixture!("leaf-unknown-crit"), fixture!("int")];
        assert_eq!(
            run(&chain, &fixture!("root"), now(), &ChainPolicy::default()),
            Err(ChainError::Unsupported)
        );
    }

    #[test]
    fn chain_too_long_for_budget() {
        let chain = vec![
            fixture!("leaf-long"),
            fixture!("int-c"),
            fixture!("int-b"),
            fixture!("int-a"),
        ];
        let root = fixture!("root");
        assert_eq!(
            run(&chain, &root, now(), &ChainPolicy::default()),
            Err(ChainError::OverBudget)
        );
        let roomy = ChainPolicy {
            max_path_len: 5,
            ..ChainPolicy::default()
        };
        assert!(run(&chain, &root, now(), &roomy).is_ok());
        let few_certs = ChainPolicy {
            max_chain_certs: 3,
            ..roomy.clone()
        };
        assert_eq!(
            run(&chain, &root, now(), &few_certs),
            Err(ChainError::OverBudget)
        );
        let few_checks = ChainPolicy {
            max_signature_checks: 3,
            ..roomy
        };
        assert_eq!(
            run(&chain, &root, now(), &few_checks),
            Err(ChainError::OverBudget)
        );
    }

    #[test]
    fn tampered_signature() {
        let mut leaf = fixture!("leaf");
        // The last byte is inside the ECDSA `s` integer.
        if let Some(byte) = leaf.last_mut() {
            *byte ^= 0x01;
        }
        let chain = vec![leaf, fixture!("int")];
        assert_eq!(
            run(&chain, &fixture!("root"), now(), &ChainPolicy::default()),
            Err(ChainError::BadSignature)
        );
    }

    #[test]
    fn eku_and_subject_pins() {
        let root = fixture!("root");
        let pinned = |subject: Option<&str>, eku: Option<&str>| ChainPolicy {
            leaf_subject: subject.map(str::to_owned),
            leaf_eku: eku.map(str::to_owned),
            ..ChainPolicy::default()
        };
        let ok = pinned(Some("CN=signer,O=Edgeward Test"), Some("1.3.6.1.5.5.7.3.2"));
        assert!(run(&good_chain(), &root, now(), &ok).is_ok());
        let wrong_eku = pinned(None, Some("1.3.6.1.5.5.7.3.1"));
        assert_eq!(
            run(&good_chain(), &root, now(), &wrong_eku),
            Err(ChainError::PinMismatch)
        );
        let wrong_subject = pinned(Some("CN=signer"), None);
        assert_eq!(
            run(&good_chain(), &root, now(), &wrong_subject),
            Err(ChainError::PinMismatch)
        );
        let garbage = pinned(None, Some("not an oid"));
        assert_eq!(
            run(&good_chain(), &root, now(), &garbage),
            Err(ChainError::PinMismatch)
        );
    }

    #[test]
    fn cache_hit_costs_no_signature_checks() {
        let root = fixture!("root");
        let anchors: &[&[u8]] = &[&root];
        let cache = ChainCache::default();
        let verifier = Counting::default();
        let policy = ChainPolicy::default();
        let first = block_on(validate_cached(
            &cache,
            &good_chain(),
            anchors,
            now(),
            &policy,
            &verifier,
        ))
        .unwrap();
        assert_eq!(verifier.0.get(), 2);
        let second = block_on(validate_cached(
            &cache,
            &good_chain(),
            anchors,
            now(),
            &policy,
            &verifier,
        ))
        .unwrap();
        assert_eq!(verifier.0.get(), 2, "warm request must not verify");
        assert_eq!(first, second);
        // A different policy is a different key.
        let pinned = ChainPolicy {
            leaf_eku: Some("1.3.6.1.5.5.7.3.1".into()),
            ..ChainPolicy::default()
        };
        assert!(block_on(validate_cached(
            &cache,
            &good_chain(),
            anchors,
            now(),
            &pinned,
            &verifier
        ))
        .is_err());
    }

    #[test]
    fn cache_miss_after_not_after() {
        let cache = ChainCache::new(4);
        let key = [1u8; 32];
        let leaf = ValidatedLeaf {
            key: PublicKey::Ed25519([0; 32]),
            not_after: 100,
            not_before: 10,
        };
        cache.insert(key, leaf.clone());
        assert_eq!(cache.get(&key, 100), Some(leaf));
        assert_eq!(cache.get(&key, 101), None);
        assert_eq!(cache.get(&key, 9), None);
        assert_eq!(cache.get(&[2u8; 32], 50), None);
    }

    #[test]
    fn cache_evicts_oldest_at_capacity() {
        let cache = ChainCache::new(2);
        let leaf = ValidatedLeaf {
            key: PublicKey::Ed25519([0; 32]),
            not_after: 100,
            not_before: 0,
        };
        for k in 1..=3u8 {
            cache.insert([k; 32], leaf.clone());
        }
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.get(&[1; 32], 50), None);
        assert!(cache.get(&[2; 32], 50).is_some());
        assert!(cache.get(&[3; 32], 50).is_some());
        // Re-inserting an existing key does not grow the cache or change its age.
        cache.insert([2; 32], leaf.clone());
        cache.insert([4; 32], leaf);
        assert_eq!(cache.get(&[2; 32], 50), None);
        assert!(cache.get(&[4; 32], 50).is_some());
    }

    #[test]
    fn ecdsa_der_conversion_is_strict() {
        // r = 1, s = 2
        assert_eq!(
            ecdsa_der_to_p1363(&[0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x02], 2).unwrap(),
            vec![0, 1, 0, 2]
        );
        // Trailing byte, non-minimal integer, negative integer, too wide.
        for bad in [
            &[0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x02, 0x00][..],
            &[0x30, 0x07, 0x02, 0x02, 0x00, 0x01, 0x02, 0x01, 0x02],
            &[0x30, 0x06, 0x02, 0x01, 0x81, 0x02, 0x01, 0x02],
            &[0x30, 0x08, 0x02, 0x03, 0x01, 0x01, 0x01, 0x02, 0x01, 0x02],
        ] {
            assert_eq!(
                ecdsa_der_to_p1363(bad, 2),
                Err(ChainError::Malformed),
                "{bad:02x?}"
            );
        }
    }

    #[test]
    fn spki_extraction() {
        let cert = Certificate::from_der(&fixture!("root")).unwrap();
        let spki = cert
            .tbs_certificate
            .subject_public_key_info
            .to_der()
            .unwrap();
        assert!(matches!(public_key_from_spki(&spki), Ok(PublicKey::P256(p)) if p.len() == 65));
        assert_eq!(public_key_from_spki(&spki[1..]), Err(ChainError::Malformed));
    }

    /// The pin's table gives every attribute type the name x509-cert's `Display` gives it.
    #[test]
    fn subject_attribute_names_are_x509_certs() {
        for (oid, name) in SUBJECT_ATTRIBUTE_NAMES {
            let shortest = const_oid::db::DB
                .find_names_for_oid(*oid)
                .fold(None::<&str>, |best, n| match best {
                    Some(b) if n.len() >= b.len() => Some(b),
                    _ => Some(n),
                })
                .unwrap();
            assert_eq!(shortest.to_ascii_uppercase(), *name, "{oid}");
        }
    }

    /// The pin renders subjects exactly as x509-cert's `Display` did for the attribute types of
    /// its table and for types const-oid has no name for; other named types are written as a
    /// dotted OID with the DER value (RFC 4514 §2.4).
    #[test]
    fn subject_string_matches_x509_cert_display() {
        use der::asn1::{Any, SetOfVec};
        use proptest::prelude::*;
        use x509_cert::attr::AttributeTypeAndValue;
        use x509_cert::name::{Name, RelativeDistinguishedName};

        let oids: Vec<ObjectIdentifier> = SUBJECT_ATTRIBUTE_NAMES
            .iter()
            .map(|(oid, _)| *oid)
            .chain(
                [
                    "2.5.4.13",
                    "2.5.4.41",
                    "1.2.3.4",
                    "1.3.6.1.4.1.311.60.2.1.3",
                ]
                .map(ObjectIdentifier::new_unwrap),
            )
            .collect();
        let tags = [
            Tag::PrintableString,
            Tag::Utf8String,
            Tag::Ia5String,
            Tag::TeletexString,
            Tag::OctetString,
            Tag::BmpString,
        ];
        let value = proptest::collection::vec(
            prop::sample::select(vec![
                'a', 'Z', '0', ' ', '#', '"', '+', ',', ';', '<', '>', '\\', '=', '\x00', '\x1f',
                '\x7f', 'é', '€', '.',
            ]),
            0..6,
        )
        .prop_map(|chars| chars.into_iter().collect::<String>());
        let atv = (0..oids.len(), 0..tags.len(), value);
        let rdn = proptest::collection::vec(atv, 0..3);
        let name = proptest::collection::vec(rdn, 0..4);
        proptest!(ProptestConfig::with_cases(2000), |(spec in name)| {
            let mut rdns = Vec::new();
            for atvs in &spec {
                let mut set = Vec::new();
                for (o, t, v) in atvs {
                    let value = Any::new(tags[*t], v.as_bytes()).unwrap();
                    set.push(AttributeTypeAndValue { oid: oids[*o], value });
                }
                let Ok(set) = SetOfVec::try_from(set) else { return Ok(()) };
                rdns.push(RelativeDistinguishedName(set));
            }
            let name = Name::from(rdns);
            let ours = subject_string(&name).unwrap();
            let mut named_elsewhere = false;
            for atv in name.0.iter().flat_map(|rdn| rdn.0.iter()) {
                if const_oid::db::DB.by_oid(&atv.oid).is_some()
                    && !SUBJECT_ATTRIBUTE_NAMES.iter().any(|(oid, _)| *oid == atv.oid)
                {
                    named_elsewhere = true;
                    let dotted = format!("{}=#", atv.oid);
                    prop_assert!(ours.contains(&dotted), "{}", ours);
                }
            }
            if !named_elsewhere {
                prop_assert_eq!(ours, name.to_string());
            }
        });
    }

    #[test]
    fn subject_string_examples() {
        let leaf = Certificate::from_der(&fixture!("leaf")).unwrap();
        assert_eq!(
            subject_string(&leaf.tbs_certificate.subject).unwrap(),
            leaf.tbs_certificate.subject.to_string()
        );
    }
}
